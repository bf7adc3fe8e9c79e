"""Store raw: the exact bytes, envelope, Message-ID and SHA-256, committed before any reply:
one message (`store_raw`: IMAP, the API, `leadmail mail`) or several in one transaction
(`store_many`: SMTP/LMTP intake's group commit, leadmail/groupcommit.py).
And read back what is stored: a message, the quarantined ones, a lead, the latest leads."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Incoming:
    """One message to store: its exact bytes and what intake knows of it (see `store_raw`)."""

    raw: bytes
    mail_from: str = ""
    rcpt_to: list[str] = field(default_factory=list)
    intake: str = "smtp"
    auth_user: str | None = None
    imap_account: str | None = None
    imap_folder: str | None = None
    dedup: str | None = None


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
    item = Incoming(raw, mail_from, list(rcpt_to or []), intake, auth_user, imap_account,
                    imap_folder, dedup)
    return store_many(engine, [item])[0]


def store_many(engine: Engine, items: Sequence[Incoming]) -> list[int]:
    """Commit the messages in ONE transaction, each with its `received` event; their ids, in
    order (so the first of two copies in one batch has the lower id, as if stored apart).
    All or nothing: one message that cannot be stored fails the lot (the group commit then
    stores them one by one). Each message is stored as `store_raw` would: no dedup here, the
    pipeline's duplicate step decides."""
    msgs = [_message(item) for item in items]
    with session_scope(engine) as session:
        session.add_all(msgs)
        session.flush()
        session.add_all(
            Event(kind="received", message_pk=msg.id,
                  data={"intake": msg.intake, "size": msg.size, "message_id": msg.message_id})
            for msg in msgs
        )
    for msg in msgs:
        RECEIVED.labels(msg.intake).inc()
    ids = [msg.id for msg in msgs if msg.id is not None]
    assert len(ids) == len(msgs)
    return ids


def _message(item: Incoming) -> Message:
    sha = hashlib.sha256(item.raw).hexdigest()
    mid = message_id_of(item.raw)
    return Message(
        intake=item.intake,
        auth_user=item.auth_user,
        imap_account=item.imap_account,
        imap_folder=item.imap_folder,
        mail_from=storable(item.mail_from),
        rcpt_to=storable(list(item.rcpt_to)),
        message_id=mid,
        sha256=sha,
        dedup_key=item.dedup or dedup_key(mid, sha),
        size=len(item.raw),
        raw=item.raw,
    )


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
