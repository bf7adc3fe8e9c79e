"""SMTP and LMTP intake (aiosmtpd): check recipients, store the raw message, then answer 250.

Intake does no parsing: it stores and replies. 250 is sent only after the message is
committed; if the store fails the sender gets 451 and keeps the message (RFC 5321 4.2.5).
After SIGTERM every new command and connection gets 421 (RFC 5321 3.8) while messages
already being received are stored and answered.
"""

from __future__ import annotations

import asyncio
import hmac
import socket
import ssl
import weakref
from collections.abc import Callable
from typing import Any

import structlog
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from sqlalchemy.engine import Engine

from leadmail.config import SmtpConfig
from leadmail.store import store_raw

log = structlog.get_logger("leadmail.smtp")

# Replies, with RFC 3463 enhanced status codes.
OK_RCPT = "250 2.1.5 Recipient OK"
REJECT_RCPT = "550 5.1.1 <{}>: recipient not accepted here"
STORE_FAILED = "451 4.3.0 Could not store the message; try again later"
SHUTTING_DOWN = "421 4.3.2 Service shutting down; try again later"
INTERNAL_ERROR = "451 4.3.0 Internal error; try again later"
STORED = "250 2.0.0 Stored as #{}"
# LMTP (RFC 2033 4.2): one reply per accepted recipient, each naming it.
LMTP_STORED = "250 2.0.0 <{}> stored as #{}"
LMTP_STORE_FAILED = "451 4.3.0 <{}> could not store the message; try again later"


class StoreHandler:
    """aiosmtpd handler: RCPT, DATA, EHLO and AUTH hooks; everything else is aiosmtpd's."""

    def __init__(
        self,
        engine: Engine,
        cfg: SmtpConfig,
        on_stored: Callable[[int], None],
        intake: str | None = None,
    ) -> None:
        self.engine = engine
        self.cfg = cfg
        self.on_stored = on_stored
        self.intake = intake or ("lmtp" if cfg.lmtp else "smtp")
        self.stopping = False
        self.inflight = 0  # DATA transactions being received or stored right now
        self.quiet = asyncio.Event()  # set while inflight == 0
        self.quiet.set()
        self.sessions: weakref.WeakSet[IntakeSMTP] = weakref.WeakSet()
        self._users = {k.encode(): v.encode() for k, v in cfg.users().items()}

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """Offer AUTH only when there are users to log in as."""
        session.host_name = hostname
        if not self._users:
            responses = [r for r in responses if not r.startswith("250-AUTH")]
        return responses

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Accept only configured addresses or domains: never an open relay."""
        if not self.cfg.accepts(address):
            log.info("recipient rejected", rcpt_domain=address.rpartition("@")[2])
            return REJECT_RCPT.format(address)
        envelope.rcpt_tos.append(address)
        return OK_RCPT

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Commit the exact bytes, then 250; 451 when the store is unavailable."""
        raw = envelope.original_content or b""
        try:
            msg_id = await asyncio.to_thread(
                store_raw,
                self.engine,
                raw,
                mail_from=envelope.mail_from or "",
                rcpt_to=list(envelope.rcpt_tos),
                intake=self.intake,
            )
        except Exception as exc:
            log.error("store failed; answered 451", error=f"{type(exc).__name__}: {exc}")
            if self.cfg.lmtp:
                return "\r\n".join(LMTP_STORE_FAILED.format(r) for r in envelope.rcpt_tos)
            return STORE_FAILED
        log.info("stored", msg=msg_id, size=len(raw), intake=self.intake)
        self.on_stored(msg_id)
        if self.cfg.lmtp:
            return "\r\n".join(LMTP_STORED.format(r, msg_id) for r in envelope.rcpt_tos)
        return STORED.format(msg_id)

    async def handle_exception(self, error: Exception) -> str:
        """A bug met this session: a temporary failure, so the sender keeps the message."""
        log.error("smtp session error", error=f"{type(error).__name__}: {error}")
        return INTERNAL_ERROR

    def authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        """AUTH PLAIN/LOGIN against the configured users (constant-time compare)."""
        if isinstance(auth_data, LoginPassword):
            expected = self._users.get(auth_data.login)
            if expected is not None and hmac.compare_digest(expected, auth_data.password):
                return AuthResult(success=True)
        log.warning("smtp auth failed", mechanism=mechanism)
        return AuthResult(success=False, handled=False)

    def close_sessions(self) -> int:
        """Say 421 to every open connection and close it; how many there were."""
        closed = 0
        for proto in list(self.sessions):
            transport = proto.transport
            if transport is not None and not transport.is_closing():
                transport.write(SHUTTING_DOWN.encode() + b"\r\n")
                transport.close()
                closed += 1
        return closed


class IntakeSMTP(SMTP):
    """aiosmtpd's SMTP, plus: after stop every command but QUIT is refused with 421."""

    def __init__(self, handler: StoreHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._smtp_methods = {
            name: self._guarded(name, method) for name, method in self._smtp_methods.items()
        }
        handler.sessions.add(self)

    def _guarded(self, name: str, method: Callable[[str], Any]) -> Callable[[str], Any]:
        handler: StoreHandler = self.event_handler

        async def guarded(arg: str) -> Any:
            if handler.stopping and name != "QUIT":
                await self.push(SHUTTING_DOWN)
                if self.transport is not None:
                    self.transport.close()
                return None
            if name != "DATA":
                return await method(arg)
            handler.inflight += 1
            handler.quiet.clear()
            try:
                return await method(arg)
            finally:
                handler.inflight -= 1
                if not handler.inflight:
                    handler.quiet.set()

        return guarded


class IntakeLMTP(IntakeSMTP, LMTP):
    """The same, speaking LMTP (LHLO; one reply per recipient after DATA)."""


class _Refuse(asyncio.Protocol):
    """A connection made while stopping: greet with 421 and hang up (RFC 5321 3.8)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(SHUTTING_DOWN.encode() + b"\r\n")
        transport.close()


def tls_context(cfg: SmtpConfig) -> ssl.SSLContext | None:
    """The server context for STARTTLS, or None when no certificate is configured."""
    if not (cfg.tls_cert and cfg.tls_key):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    return context


def make_server(handler: StoreHandler, cfg: SmtpConfig) -> Callable[[], asyncio.Protocol]:
    """A protocol factory for loop.create_server."""
    server_class = IntakeLMTP if cfg.lmtp else IntakeSMTP
    hostname = socket.getfqdn()  # once: aiosmtpd would look it up for every connection
    context = tls_context(cfg)
    auth: dict[str, Any] = {"auth_required": cfg.auth_required, "auth_require_tls": True}
    if cfg.users():
        auth["authenticator"] = handler.authenticate

    def factory() -> asyncio.Protocol:
        if handler.stopping:
            return _Refuse()
        return server_class(
            handler,
            data_size_limit=cfg.max_message_size,
            enable_SMTPUTF8=True,
            hostname=hostname,
            ident="leadmail LMTP" if cfg.lmtp else "leadmail ESMTP",
            tls_context=context,
            require_starttls=cfg.require_tls,
            timeout=300,
            **auth,
        )

    return factory
