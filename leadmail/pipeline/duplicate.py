"""Step: is this the same message as an earlier one? Its own short transactions.

Reads: other `Message` rows with the dedup key (and, when they share only a Message-ID, their
content). Writes: a key of its own for a message that reuses a Message-ID with other content
(`message_id_reused` event). Ends the message: Duplicate, pointing at the earliest copy.
"""

from __future__ import annotations

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from leadmail.db import session_scope
from leadmail.errors import Duplicate
from leadmail.models import Event, Message
from leadmail.pipeline.context import Context, Ran
from leadmail.store import content_sha

log = structlog.get_logger("leadmail.pipeline")


def run(ctx: Context) -> Context:
    return _judged(ctx, _earliest(ctx.engine, [ctx.key]).get(ctx.key))


def run_batch(ctxs: list[Context]) -> list[Ran]:
    """The earliest copy of every key of the batch, in one read."""
    if not ctxs:
        return []
    firsts = _earliest(ctxs[0].engine, [ctx.key for ctx in ctxs])
    return [Ran.of(lambda c: _judged(c, firsts.get(c.key)), ctx) for ctx in ctxs]


def _judged(ctx: Context, first: int | None) -> Context:
    if first is not None and first < ctx.msg_id and ctx.key.startswith("mid:"):
        # One Message-ID, other content: another message (a forged or careless Message-ID
        # must not erase a lead). It gets a key of its own and is read; the link stays.
        ctx.key, first = _rekey_if_other_content(ctx.engine, ctx.msg_id, first, ctx.key, ctx.raw)
    if first is not None and first < ctx.msg_id:
        ctx.log.info("duplicate", duplicate_of=first)
        raise Duplicate(f"same message as #{first} ({ctx.key[:80]})", first)
    return ctx


def _earliest(engine: Engine, keys: list[str]) -> dict[str, int]:
    """key -> the id of the earliest message stored with it."""
    with Session(engine) as session:  # a read: no write lock
        rows = session.exec(select(Message.dedup_key, func.min(Message.id))
                            .where(col(Message.dedup_key).in_(set(keys)))
                            .group_by(Message.dedup_key)).all()
    return {key: first for key, first in rows if first is not None}


def _rekey_if_other_content(
    engine: Engine, msg_id: int, first: int, key: str, raw: bytes
) -> tuple[str, int | None]:
    """(key, earliest message with it): the Message-ID key when the content is the earlier
    message's, else the key with this content's hash, for this message and its redeliveries."""
    with session_scope(engine) as session:
        earlier = session.get(Message, first)
        if earlier is None or content_sha(earlier.raw) == (mine := content_sha(raw)):
            return key, first
        own = f"{key}#{mine[:32]}"
        same = session.exec(select(func.min(Message.id)).where(Message.dedup_key == own)).one()
        if same is not None and same < msg_id:
            return own, same
        msg = session.get(Message, msg_id)
        assert msg is not None
        msg.dedup_key = own
        session.add(msg)
        session.add(Event(kind="message_id_reused", message_pk=msg_id,
                          data={"earlier": first, "message_id": key[4:][:200]}))
    log.warning("same Message-ID as an earlier message, other content: read as a message of "
                "its own", msg=msg_id, earlier=first)
    return own, None
