"""Alert emails: render (Jinja2) when the outbox row is written, send when it is delivered."""

from __future__ import annotations

import os
import smtplib
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

__all__ = ["TEMPLATES", "PermanentFailure", "_env", "build_message", "render_alert", "send"]


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
    msg["From"] = formataddr(("leadmail", cfg.sender))
    msg["To"] = formataddr((header_value(payload.get("recipient_name")), recipient))
    msg["Subject"] = header_value(payload["subject"])
    msg["Date"] = format_datetime(utcnow())
    # Same key, same Message-ID: a receiver (or our own sink) can drop a retried duplicate.
    msg["Message-ID"] = message_id(idempotency_key, domain, tag)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: auto-responders must not answer
    msg["X-Leadmail-Lead"] = str(payload.get("lead_id", ""))
    # Replies (CLAIM / ACCEPT / DECLINE) must reach one of our intakes: see routing.replies.
    msg["Reply-To"] = cfg.reply_to or cfg.sender
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
    """Deliver through the relay, or into a directory for `file:` relays.

    Raises PermanentFailure on 5xx; any other exception is temporary.
    """
    if cfg.relay.startswith("file:"):
        _write_file(Path(cfg.relay[len("file:") :]), msg)
        return
    host, _, port = cfg.relay.rpartition(":")
    try:
        with smtplib.SMTP(host.strip("[]"), int(port), timeout=cfg.timeout) as smtp:
            if cfg.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if cfg.username and cfg.password:
                smtp.login(cfg.username, cfg.password)
            smtp.send_message(msg, from_addr=cfg.sender, to_addrs=[recipient])
    except smtplib.SMTPResponseException as exc:
        if 500 <= exc.smtp_code < 600:
            raise PermanentFailure(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
        raise
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if all(500 <= c < 600 for c in codes):
            raise PermanentFailure(f"recipient refused: {exc.recipients}") from exc
        raise


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
