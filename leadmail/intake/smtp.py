"""SMTP and LMTP intake (aiosmtpd): check recipients, store the raw message, then answer 250.

Intake does no parsing: it stores and replies. 250 is sent only after the message is
committed; if the store fails the sender gets 451 and keeps the message (RFC 5321 4.2.5).
Sessions whose DATA ends while a commit is in flight share the next commit (group commit,
leadmail/groupcommit.py); a lone message is committed at once, and the pipeline is woken
once per commit.
After SIGTERM every new command and connection gets 421 (RFC 5321 3.8) while messages
already being received are stored and answered.

Limits (docs/operators.md, "Security model"): sessions in all and per client address
(421 beyond), a timeout for each command and a deadline for the whole session (421), AUTH
closed after a few failures with a growing delay. DATA is read here, not by aiosmtpd: lines
up to [smtp] max_line_length are kept byte for byte (longer ones are split, as Postfix does),
a bare LF is kept as content, and only <CRLF>.<CRLF> ends the data, so a bare-LF "end of
data" cannot smuggle a second message (CVE-2024-27305). Only the size refuses a message.
"""

from __future__ import annotations

import asyncio
import collections
import resource
import socket
import ssl
import time
import weakref
from collections.abc import Callable
from typing import Any

import structlog
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session, syntax
from sqlalchemy.engine import Engine

from leadmail import tokens
from leadmail.config import SmtpConfig
from leadmail.errors import ConfigError, ConfigErrors
from leadmail.groupcommit import GroupCommit
from leadmail.store import Incoming, store_many

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
TOO_MANY_SESSIONS = "421 4.7.0 Too many connections; try again later"
TOO_MANY_FROM_YOU = "421 4.7.0 Too many connections from your address; try again later"
COMMAND_TIMEOUT = "421 4.4.2 Timeout waiting for your command; closing"
DATA_TIMEOUT = "421 4.4.2 Timeout in DATA; end the data with <CRLF>.<CRLF>; closing"
BARE_LF_TIMEOUT = ("421 4.5.2 Timeout in DATA: <LF>.<LF> is not an end of data; "
                   "end it with <CRLF>.<CRLF>; closing")
SESSION_TIMEOUT = "421 4.4.2 Session time limit reached; closing"
TOO_BIG = "552 5.3.4 Message too big (limit {} octets)"
AUTH_INVALID = "535 5.7.8 Authentication credentials invalid"
AUTH_TOO_MANY = "421 4.7.0 Too many authentication failures; closing"

OPEN_FILES_RESERVE = 128  # descriptors beside SMTP sessions: database, HTTP, IMAP, relay, logs
READ_LIMIT = 64 * 1024  # octets the stream reader buffers before handing over a piece
AUTH_WINDOW = 900.0  # seconds a failed AUTH counts towards its address's delay
AUTH_DELAY_MAX = 30.0


class StoreHandler:
    """aiosmtpd handler: RCPT, DATA, EHLO and AUTH hooks; everything else is aiosmtpd's."""

    def __init__(
        self,
        engine: Engine,
        cfg: SmtpConfig,
        on_stored: Callable[[list[int]], None],
        intake: str | None = None,
    ) -> None:
        self.engine = engine  # read for each commit
        self.cfg = cfg
        self.on_stored = on_stored  # the ids of one commit, once per commit
        # Every DATA stores through it: one transaction for the messages that are waiting.
        self.writer: GroupCommit[Incoming, int] = GroupCommit(
            lambda: self.engine, store_many, on_stored, size=lambda item: len(item.raw))
        self.intake = intake or ("lmtp" if cfg.lmtp else "smtp")
        self.stopping = False
        self.inflight = 0  # DATA transactions being received or stored right now
        self.quiet = asyncio.Event()  # set while inflight == 0
        self.quiet.set()
        self.sessions: weakref.WeakSet[IntakeSMTP] = weakref.WeakSet()
        self._users = {k.encode(): v.encode() for k, v in cfg.users().items()}
        self.open_sessions = 0  # admitted sessions now open
        self.per_client: collections.Counter[str] = collections.Counter()
        # client address -> times of its recent AUTH failures (for the growing delay)
        self._auth_failures: dict[str, collections.deque[float]] = {}

    def admit(self, client: str) -> str | None:
        """Count a new session in; None when it may start, else the 421 to answer."""
        if self.open_sessions >= self.cfg.max_sessions:
            return TOO_MANY_SESSIONS
        if self.per_client[client] >= self.cfg.max_sessions_per_ip:
            return TOO_MANY_FROM_YOU
        self.open_sessions += 1
        self.per_client[client] += 1
        return None

    def release(self, client: str) -> None:
        """An admitted session ended."""
        self.open_sessions -= 1
        self.per_client[client] -= 1
        if self.per_client[client] <= 0:
            del self.per_client[client]

    def auth_failed(self, client: str) -> tuple[int, float]:
        """Note a failed AUTH; (failures from this address lately, seconds to wait)."""
        now = time.monotonic()
        if len(self._auth_failures) > 10_000:  # forget addresses whose failures are old
            for addr in [a for a, q in self._auth_failures.items() if now - q[-1] > AUTH_WINDOW]:
                del self._auth_failures[addr]
        recent = self._auth_failures.setdefault(client, collections.deque(maxlen=32))
        while recent and now - recent[0] > AUTH_WINDOW:
            recent.popleft()
        recent.append(now)
        base = self.cfg.auth_failure_delay
        return len(recent), min(base * 2 ** (len(recent) - 1), max(AUTH_DELAY_MAX, base))

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
        """Commit the exact bytes (in the writer's next commit), then 250; 451 when the store
        is unavailable or this message cannot be stored."""
        raw = envelope.original_content or b""
        item = Incoming(raw, envelope.mail_from or "", list(envelope.rcpt_tos), self.intake,
                        session.auth_data if session.authenticated else None)
        try:
            msg_id = await self.writer.submit(item)  # returns once committed
        except Exception as exc:
            log.error("store failed; answered 451", error=f"{type(exc).__name__}: {exc}")
            if self.cfg.lmtp:
                return "\r\n".join(LMTP_STORE_FAILED.format(r) for r in envelope.rcpt_tos)
            return STORE_FAILED
        log.info("stored", msg=msg_id, size=len(raw), intake=self.intake)
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
            if expected is not None and tokens.same(expected, auth_data.password):
                # session.auth_data: the login, stored with each message of the session
                return AuthResult(success=True, auth_data=auth_data.login.decode(errors="replace"))
        if isinstance(server, IntakeSMTP):  # it answers, after the delay (handled=True)
            server.auth_failed_now = mechanism
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False)

    def close_sessions(self) -> int:
        """Say 421 to every open connection and close it; how many there were."""
        closed = 0
        for proto in list(self.sessions):
            transport = proto.transport
            # a stream's transport (plain or TLS) writes; aiosmtpd types it as BaseTransport
            if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
                transport.write(SHUTTING_DOWN.encode() + b"\r\n")
                transport.close()
                closed += 1
        return closed


class IntakeSMTP(SMTP):
    """aiosmtpd's SMTP, plus: after stop every command but QUIT is refused with 421; session
    caps, a command timeout and a session deadline (421); AUTH failures delayed and capped;
    DATA read by _read_data (long lines, bare LF, only <CRLF>.<CRLF> ends it)."""

    def __init__(self, handler: StoreHandler, **kwargs: Any) -> None:
        # aiosmtpd sizes its stream reader from this; _read_data copes with longer lines.
        self.line_length_limit = READ_LIMIT
        super().__init__(handler, **kwargs)
        self._smtp_methods = {
            name: self._guarded(name, method) for name, method in self._smtp_methods.items()
        }
        handler.sessions.add(self)
        self.client = "unknown"  # the peer's address, once connected
        self.auth_failed_now: str | None = None  # set by StoreHandler.authenticate
        self._auth_failures = 0  # on this connection
        self._admitted = False
        self._refused = False
        self._lost = False
        self._deadline: asyncio.TimerHandle | None = None
        self._in_data = False
        self._storing = False
        self._data_tail = b""  # the last octets of DATA, to explain a timeout

    # -- sessions: caps, command timeout, whole-session deadline --------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is None and not (self._admitted or self._refused):  # not STARTTLS
            handler: StoreHandler = self.event_handler
            peer = transport.get_extra_info("peername")
            self.client = str(peer[0]) if peer else "unknown"
            refusal = handler.admit(self.client)
            if refusal is not None:
                self._refused = True
                reason = "max_sessions" if refusal == TOO_MANY_SESSIONS else "max_sessions_per_ip"
                log.warning("smtp connection refused", client=self.client, reason=reason)
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(refusal.encode() + b"\r\n")
                transport.close()
                return
            self._admitted = True
            self._deadline = self.loop.call_later(
                handler.cfg.session_timeout, self._expire, SESSION_TIMEOUT, "session_timeout"
            )
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused or self._lost:
            return
        self._lost = True
        if self._deadline is not None:
            self._deadline.cancel()
        if self._admitted:
            self.event_handler.release(self.client)
        super().connection_lost(error)

    def eof_received(self) -> bool | None:
        if self._refused:
            return False
        return super().eof_received()

    def _timeout_cb(self) -> None:
        # aiosmtpd's timer, restarted by each command (and here by each line of DATA).
        reply = COMMAND_TIMEOUT
        if self._in_data:
            bare = self._data_tail.endswith((b"\n.\n", b"\n.\r\n", b"\r\n.\n"))
            reply = BARE_LF_TIMEOUT if bare else DATA_TIMEOUT
        self._expire(reply, "command_timeout")

    def _expire(self, reply: str, limit: str) -> None:
        """A time limit is up: say 421 and hang up (RFC 5321 4.5.3.2, 3.8)."""
        transport = self.transport
        if transport is None or transport.is_closing() or self._lost:
            return
        if self._storing:  # the message is in: the wait is ours; answer it first
            if limit == "command_timeout":
                self._reset_timeout()
            else:
                self.loop.call_later(0.5, self._expire, reply, limit)
            return
        log.info("smtp session timed out", client=self.client, limit=limit)
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(reply.encode() + b"\r\n")
        transport.close()
        # A client that does not read would keep the socket open while close() waits to flush.
        self.loop.call_later(5.0, self._abort_if_open, transport)

    def _abort_if_open(self, transport: asyncio.WriteTransport) -> None:
        if not self._lost:
            transport.abort()

    # -- AUTH: delayed failures, closed after auth_max_failures ----------------------------

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg: str) -> None:
        """aiosmtpd's AUTH; a failure is answered after a delay that doubles with each recent
        failure from the client's address, and the connection closes after a few."""
        self.auth_failed_now = None
        await super().smtp_AUTH(arg)
        mechanism, self.auth_failed_now = self.auth_failed_now, None
        if mechanism is None:
            return
        handler: StoreHandler = self.event_handler
        self._auth_failures += 1
        recent, delay = handler.auth_failed(self.client)
        # The line fail2ban reads (docs/operators.md, "Security model").
        log.warning("smtp auth failed", client=self.client, mechanism=mechanism,
                    failures=self._auth_failures, recent=recent, delay=delay)
        await asyncio.sleep(delay)
        if self._auth_failures >= handler.cfg.auth_max_failures:
            log.warning("smtp auth: too many failures; closed", client=self.client,
                        failures=self._auth_failures)
            await self.push(AUTH_TOO_MANY)
            if self.transport is not None:
                self.transport.close()
            return
        await self.push(AUTH_INVALID)

    # -- DATA ------------------------------------------------------------------------------

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA command around leadmail's reader: 552 only for the size."""
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        self._in_data = True
        try:
            content = await self._read_data()
        finally:
            self._in_data = False
        if content is None:  # LMTP (RFC 2033 4.2): a reply for each recipient, even this one
            count = len(self.envelope.rcpt_tos) if isinstance(self, LMTP) else 1
            await self.push("\r\n".join([TOO_BIG.format(self.data_size_limit)] * count))
            self._set_post_data_state()
            return
        self.envelope.content = content
        self.envelope.original_content = content
        self._storing = True  # received whole: a time limit now waits for the 250
        try:
            status = await self._call_handler_hook("DATA")
        finally:
            self._storing = False
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    async def _read_data(self) -> bytes | None:
        """The message up to <CRLF>.<CRLF>, as received but for the transparency dots (RFC
        5321 4.5.2); None when it is larger than data_size_limit (read to its end anyway).

        Only a line that began after a CRLF can be the end or lose a leading dot: a bare LF
        is content, so <LF>.<LF>, <LF>.<CRLF> and <CRLF>.<LF> end nothing (no smuggling). A
        line, bare LF or CRLF ended, longer than max_line_length is split by inserting CRLFs.
        """
        handler: StoreHandler = self.event_handler
        limit = self.data_size_limit
        max_line = handler.cfg.max_line_length
        data = bytearray()
        line = bytearray()  # the line being received, since the last LF
        line_start = True  # the previous line ended with CRLF (or DATA just began)
        fresh = True  # nothing of this line kept yet
        size = 0
        too_big = False
        splits = 0
        self._data_tail = b""

        def keep(chunk: bytes | bytearray) -> None:
            nonlocal size, too_big
            size += len(chunk)
            if limit and size > limit:
                too_big = True
                data.clear()  # what is over the limit is not kept in memory
            if not too_big:
                data.extend(chunk)

        def split_long() -> None:
            nonlocal splits, fresh
            while len(line) > max_line:  # keep max_line octets, CRLF included, per line
                cut = max_line - 2
                keep(line[:cut] + b"\r\n")
                del line[:cut]
                splits += 1
                fresh = False

        while True:
            try:
                piece = await self._reader.readuntil(b"\n")
            except asyncio.LimitOverrunError as exc:  # no LF in the buffer yet: take it
                piece = await self._reader.read(exc.consumed)
            # (eof_received cancels this task, as in aiosmtpd: no IncompleteReadError here)
            self._reset_timeout()
            self._data_tail = (self._data_tail + piece[-8:])[-8:]
            line += piece
            complete = line.endswith(b"\n")
            if fresh and line_start and line[:1] == b"." and (complete or len(line) > max_line):
                if line == b".\r\n":
                    break
                del line[0]  # the transparency dot
                fresh = False
            if not complete:
                split_long()
                continue
            split_long()
            line_start = line.endswith(b"\r\n")
            keep(line)
            line.clear()
            fresh = True
        if splits:
            log.warning("long lines split", client=self.client, lines=splits,
                        max_line_length=max_line)
        if too_big:
            log.info("message over max_message_size refused", client=self.client, size=size)
            return None
        return bytes(data)

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


def ensure_open_files(cfg: SmtpConfig) -> int:
    """Room for max_sessions sessions: the soft RLIMIT_NOFILE is raised towards the hard one
    when it is lower than max_sessions + OPEN_FILES_RESERVE; still too low: ConfigErrors
    naming smtp.max_sessions (a cap above the limit would let idle clients exhaust it)."""
    need = cfg.max_sessions + OPEN_FILES_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    unlimited = resource.RLIM_INFINITY
    if soft != unlimited and soft < need:
        target = need if hard == unlimited else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != unlimited and soft < need:
        raise ConfigErrors([ConfigError(
            "smtp.max_sessions",
            f"{cfg.max_sessions} sessions need {need} open files (max_sessions + "
            f"{OPEN_FILES_RESERVE}) but the limit is {soft} (ulimit -n, systemd LimitNOFILE=); "
            "lower max_sessions or raise the limit",
        )])
    return int(soft)


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
            timeout=cfg.command_timeout,
            **auth,
        )

    return factory
