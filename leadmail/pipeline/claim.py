"""Step: claim the stored message for a lease, and load it. Its own short transaction.

Reads: the `Message` row. Writes: `processing`, `claimed_by`, the lease, `attempts + 1`
(`leadmail.queue`). Ends the message: Taken (another worker has it: nothing happens), or
Quarantine when the claim is past `[pipeline] max_attempts` (a process died on it each time).
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from leadmail.db import session_scope
from leadmail.errors import Quarantine, Taken
from leadmail.models import Event, Message, MessageStatus
from leadmail.pipeline.context import Context
from leadmail.queue import MESSAGES


def run(ctx: Context) -> Context:
    if not _claim(ctx.engine, ctx.msg_id, ctx.me):
        raise Taken()
    with session_scope(ctx.engine) as session:
        msg = session.get(Message, ctx.msg_id)
        assert msg is not None
        ctx.raw, ctx.key, ctx.intake = msg.raw, msg.dedup_key, msg.intake
        ctx.attempts = msg.attempts
    if ctx.attempts > ctx.max_attempts:
        reason = f"gave up after {ctx.max_attempts} attempts (the process died while working on it)"
        ctx.log.error("quarantined", reason=reason)
        raise Quarantine(reason)
    return ctx


def _claim(engine: Engine, msg_id: int, me: str) -> bool:
    return MESSAGES.claim(engine, msg_id, me)


def claimable(engine: Engine, limit: int = 20) -> list[int]:
    """Ids of stored messages ready to process, oldest first (incl. expired claims)."""
    return MESSAGES.due_ids(engine, limit)


def release_dead_claims(engine: Engine, at_start: bool = False) -> int:
    """Messages claimed by a process of this host that no longer runs are free again (without
    waiting for their lease). Peers on other hosts are covered by the lease."""
    return MESSAGES.release_dead_claims(engine, at_start)


def requeue(engine: Engine, msg_id: int) -> bool:
    """Put a quarantined message back in line (after a fix); True when it was quarantined."""
    return MESSAGES.requeue(engine, msg_id, MessageStatus.QUARANTINED,
                            Event(kind="requeued", message_pk=msg_id))
