"""Store raw: the exact bytes, envelope, Message-ID and SHA-256, committed before any reply.
And read back what is stored: a message, the quarantined ones, a lead, the latest leads."""

from __future__ import annotations

import hashlib
from email.parser import BytesHeaderParser
from email.policy import compat32

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from leadmail.db import session_scope
from leadmail.metrics import RECEIVED
from leadmail.models import Event, Lead, Message, MessageStatus
from leadmail.normalize import storable


def message_id_of(raw: bytes) -> str | None:
    """The Message-ID header, read from the headers only (cheap; the body is parsed later)."""
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
        value = headers.get("Message-ID") or headers.get("Message-Id")
    except Exception:  # a header block too broken to read has no usable Message-ID
        return None
    if not value:
        return None
    value = " ".join(storable(str(value)).split())
    return value[:998] or None


def dedup_key(message_id: str | None, sha256: str) -> str:
    """Two deliveries are the same message when their Message-IDs match, else their bytes.
    A shared Message-ID with other content is not enough (see `content_sha`)."""
    return f"mid:{message_id[:900]}" if message_id else f"sha256:{sha256}"


def content_sha(raw: bytes) -> str:
    """What two deliveries of one message share, whatever the hops added (Received,
    Delivered-To, DKIM results): From, To, Subject, Date, Message-ID and the body bytes. Two
    mails with one Message-ID and different content are different messages."""
    cut = raw.find(b"\r\n\r\n")
    cut = raw.find(b"\n\n") if cut < 0 else cut
    head, body = (raw, b"") if cut < 0 else (raw[:cut], raw[cut:])
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(head + b"\n\n")
        fields = [" ".join(str(headers.get(k, "")).split()) for k in _CONTENT_HEADERS]
    except Exception:
        fields = []
    digest = hashlib.sha256("\0".join(fields).encode(errors="replace"))
    digest.update(b"\0" + body.replace(b"\r\n", b"\n").strip())
    return digest.hexdigest()


_CONTENT_HEADERS = ("from", "to", "subject", "date", "message-id")


def store_raw(
    engine: Engine,
    raw: bytes,
    *,
    mail_from: str = "",
    rcpt_to: list[str] | None = None,
    intake: str = "smtp",
    auth_user: str | None = None,
    imap_account: str | None = None,
    imap_folder: str | None = None,
    dedup: str | None = None,
) -> int:
    """Commit the raw message (durably: SQLite synchronous=FULL / PostgreSQL commit); its id.
    `dedup` replaces the Message-ID key: the API's `api:KEY:IDEMPOTENCY-KEY`, a namespace no
    mail can reach."""
    sha = hashlib.sha256(raw).hexdigest()
    mid = message_id_of(raw)
    with session_scope(engine) as session:
        msg = Message(
            intake=intake,
            auth_user=auth_user,
            imap_account=imap_account,
            imap_folder=imap_folder,
            mail_from=storable(mail_from),
            rcpt_to=storable(list(rcpt_to or [])),
            message_id=mid,
            sha256=sha,
            dedup_key=dedup or dedup_key(mid, sha),
            size=len(raw),
            raw=raw,
        )
        session.add(msg)
        session.flush()
        session.add(
            Event(
                kind="received",
                message_pk=msg.id,
                data={"intake": intake, "size": len(raw), "message_id": mid},
            )
        )
        assert msg.id is not None
    RECEIVED.labels(intake).inc()
    return msg.id


def message(engine: Engine, msg_id: int) -> Message | None:
    """A stored message, raw bytes included."""
    with Session(engine) as session:
        return session.get(Message, msg_id)


def quarantined(engine: Engine) -> list[Message]:
    """The quarantined messages, oldest first."""
    with Session(engine) as session:
        query = select(Message).where(Message.status == MessageStatus.QUARANTINED)
        return list(session.exec(query.order_by(col(Message.id))).all())


def lead(engine: Engine, lead_id: int) -> Lead | None:
    """A stored lead."""
    with Session(engine) as session:
        return session.get(Lead, lead_id)


def latest_leads(engine: Engine, limit: int) -> list[Lead]:
    """The `limit` latest leads, newest first."""
    with Session(engine) as session:
        return list(session.exec(select(Lead).order_by(col(Lead.id).desc()).limit(limit)).all())
