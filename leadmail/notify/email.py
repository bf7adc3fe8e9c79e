"""Alert emails: render (Jinja2) when the outbox row is written, send when it is delivered.

Sending goes through `Relay`, one SMTP session kept open across messages (the outbox keeps
`[notify.email] connections` of them); smtplib waits for each reply, so commands are not
pipelined (RFC 2920): reusing the session saves the connect, EHLO, STARTTLS and AUTH of each
message instead."""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
import tempfile
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

from leadmail import perms
from leadmail.clock import utcnow
from leadmail.config import EmailNotifyConfig
from leadmail.headers import header_value
from leadmail.notify import PermanentFailure, render
from leadmail.notify.render import TEMPLATES, _env

__all__ = [
    "TEMPLATES", "Aborted", "PermanentFailure", "Relay", "_env", "build_message", "render_alert",
    "send",
]


# Headers an outbox row may add (a campaign mail's RFC 2369 / RFC 8058 unsubscribe).
EXTRA_HEADERS = frozenset({"List-Unsubscribe", "List-Unsubscribe-Post"})


def render_alert(context: dict[str, Any], template_dir: str | None = None) -> dict[str, str]:
    """Subject, text, HTML (and the short line) of an alert."""
    return render.render("alert", context, template_dir)


def message_id(idempotency_key: str, domain: str, tag: str | None = None) -> str:
    """An alert's Message-ID: `<leadmail.KEY.TAG@domain>`, TAG the reply tag (tokens) that
    lets an answer act; without a tag (no secret, or reply actions off) `<leadmail.KEY@...>`."""
    return f"<leadmail.{idempotency_key}.{tag}@{domain}>" if tag else (
        f"<leadmail.{idempotency_key}@{domain}>")


def build_message(
    cfg: EmailNotifyConfig,
    recipient: str,
    payload: dict[str, Any],
    idempotency_key: str,
    tag: str | None = None,
) -> EmailMessage:
    """The MIME message for an outbox row; its Message-ID is stable across retries."""
    msg = EmailMessage()
    domain = cfg.sender.rpartition("@")[2]
    # A campaign mail to a lead is from its agent (by name, at our sender address).
    msg["From"] = formataddr((header_value(payload.get("from_name")) or "leadmail", cfg.sender))
    msg["To"] = formataddr((header_value(payload.get("recipient_name")), recipient))
    msg["Subject"] = header_value(payload["subject"])
    msg["Date"] = format_datetime(utcnow())
    # Same key, same Message-ID: a receiver (or our own sink) can drop a retried duplicate.
    # (A campaign mail names its own, fixed when it was queued: followup.campaigns.)
    msg["Message-ID"] = header_value(payload.get("message_id")) or message_id(
        idempotency_key, domain, tag)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: auto-responders must not answer
    msg["X-Leadmail-Lead"] = str(payload.get("lead_id", ""))
    # Replies (CLAIM / ACCEPT / DECLINE) must reach one of our intakes: see routing.replies.
    msg["Reply-To"] = header_value(payload.get("reply_to")) or cfg.reply_to or cfg.sender
    for name, value in (payload.get("headers") or {}).items():  # List-Unsubscribe and -Post
        if name in EXTRA_HEADERS:
            msg[name] = header_value(value)
    if payload.get("in_reply_to"):  # an answer to an agent's reply: keep the thread
        msg["In-Reply-To"] = msg["References"] = payload["in_reply_to"]
    msg.set_content(payload["text"])
    msg.add_alternative(payload["html"], subtype="html")
    if payload.get("vcard"):
        name = f"lead-{payload.get('lead_id') or 'contact'}.vcf"
        msg.add_attachment(
            payload["vcard"].encode(), maintype="text", subtype="vcard", filename=name
        )
    return msg


def send(cfg: EmailNotifyConfig, msg: EmailMessage, recipient: str) -> None:
    """Deliver one message on a connection of its own (opened, used, closed)."""
    relay = Relay(cfg)
    try:
        relay.send(msg, recipient)
    finally:
        relay.close()


class Aborted(Exception):
    """The relay connection was cut by `Relay.abort` (a stop): the message's fate is unknown,
    and it is to be sent again."""


class Relay:
    """One SMTP session with the relay, kept open across messages (a `file:` relay writes
    files instead). Messages go one after another: after a 250 the next MAIL follows; after a
    refusal smtplib sends RSET. STARTTLS and AUTH are done once, when the session opens.

    A session that the relay dropped, or closed with a 421, is opened again and the message
    tried once more on the new one (a freshly opened session that fails is a temporary failure
    of the message). `send` raises PermanentFailure on 5xx; any other exception is temporary.
    Used from one thread at a time; `abort` may be called from another."""

    def __init__(self, cfg: EmailNotifyConfig) -> None:
        self.cfg = cfg
        self.smtp: smtplib.SMTP | None = None
        self.opened = 0  # sessions opened so far
        self.aborted = False

    def send(self, msg: EmailMessage, recipient: str) -> None:
        if self.cfg.relay.startswith("file:"):
            _write_file(Path(self.cfg.relay[len("file:") :]), msg)
            return
        while True:
            if self.aborted:
                raise Aborted("the relay connection was cut")
            fresh = self.smtp is None
            smtp = self.smtp = self.smtp or self._open()
            try:
                if self.aborted:  # cut while the session was opening
                    raise Aborted("the relay connection was cut")
                smtp.send_message(msg, from_addr=self.cfg.sender, to_addrs=[recipient])
                return
            except Exception as exc:
                if self.aborted:
                    self.close()
                    raise Aborted("the relay connection was cut") from exc
                if not _refusal(exc):  # the session is gone or in doubt: never reused
                    self.close()
                    if not fresh and _dropped(exc):
                        continue  # a kept session the relay closed: once more on a new one
                if (permanent := _permanent(exc)) is not None:
                    raise permanent from exc
                raise

    def _open(self) -> smtplib.SMTP:
        host, _, port = self.cfg.relay.rpartition(":")
        smtp: smtplib.SMTP | None = None
        try:  # a 5xx greeting, STARTTLS or AUTH answer is permanent, as ever
            smtp = smtplib.SMTP(host.strip("[]"), int(port), timeout=self.cfg.timeout)
            if self.cfg.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.cfg.username and self.cfg.password:
                smtp.login(self.cfg.username, self.cfg.password)
        except Exception as exc:
            if smtp is not None:
                smtp.close()
            if (permanent := _permanent(exc)) is not None:
                raise permanent from exc
            raise
        self.opened += 1
        return smtp

    def close(self) -> None:
        """QUIT and close the session, if one is open."""
        smtp, self.smtp = self.smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except Exception:  # gone already: closing is all that is left
            smtp.close()

    def abort(self) -> None:
        """Cut the session from another thread: a send in progress ends with Aborted, and no
        new session is opened."""
        self.aborted = True
        sock = getattr(self.smtp, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _codes(exc: BaseException) -> list[int]:
    """The SMTP reply codes an exception carries (none for a lost connection)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return [code for code, _ in exc.recipients.values()]
    if isinstance(exc, smtplib.SMTPResponseException):
        return [exc.smtp_code]
    return []


def _dropped(exc: BaseException) -> bool:
    """The relay went away (a dropped connection, or a 421: it is closing the channel)."""
    return isinstance(exc, smtplib.SMTPServerDisconnected | ConnectionError) or 421 in _codes(exc)


def _refusal(exc: BaseException) -> bool:
    """The relay refused this message and the session goes on (smtplib sent RSET)."""
    codes = _codes(exc)
    return bool(codes) and 421 not in codes


def _permanent(exc: Exception) -> PermanentFailure | None:
    """The PermanentFailure a 5xx (every recipient refused with a 5xx) makes; None for the
    rest, which is temporary."""
    codes = _codes(exc)
    if not codes or not all(500 <= c < 600 for c in codes):
        return None
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return PermanentFailure(f"recipient refused: {exc.recipients}")
    assert isinstance(exc, smtplib.SMTPResponseException)
    return PermanentFailure(f"{exc.smtp_code} {exc.smtp_error!r}")


def _write_file(directory: Path, msg: EmailMessage) -> None:
    """Write atomically, named by Message-ID, so a retry overwrites instead of doubling."""
    perms.private_dir(directory)  # alerts hold leads' details: 0750 when leadmail makes it
    name = str(msg["Message-ID"]).strip("<>").replace("/", "_") + ".eml"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(msg.as_bytes())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, directory / name)
