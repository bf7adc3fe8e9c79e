"""Store raw: the exact bytes, envelope, Message-ID and SHA-256, committed before any reply."""

from __future__ import annotations

import hashlib
from email.parser import BytesHeaderParser
from email.policy import compat32

from sqlalchemy.engine import Engine

from leadmail.db import session_scope
from leadmail.metrics import RECEIVED
from leadmail.models import Event, Message


def message_id_of(raw: bytes) -> str | None:
    """The Message-ID header, read from the headers only (cheap; the body is parsed later)."""
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
        value = headers.get("Message-ID") or headers.get("Message-Id")
    except Exception:  # a header block too broken to read has no usable Message-ID
        return None
    if not value:
        return None
    value = " ".join(str(value).split())
    return value[:998] or None


def dedup_key(message_id: str | None, sha256: str) -> str:
    """Two deliveries are the same message when their Message-IDs match, else their bytes."""
    return f"mid:{message_id}" if message_id else f"sha256:{sha256}"


def store_raw(
    engine: Engine,
    raw: bytes,
    *,
    mail_from: str = "",
    rcpt_to: list[str] | None = None,
    intake: str = "smtp",
) -> int:
    """Commit the raw message (durably: SQLite synchronous=FULL / PostgreSQL commit); its id."""
    sha = hashlib.sha256(raw).hexdigest()
    mid = message_id_of(raw)
    with session_scope(engine) as session:
        msg = Message(
            intake=intake,
            mail_from=mail_from,
            rcpt_to=list(rcpt_to or []),
            message_id=mid,
            sha256=sha,
            dedup_key=dedup_key(mid, sha),
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
