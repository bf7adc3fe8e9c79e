"""Step: claim the stored message for a lease, and load it. Its own short transaction.

Reads: the `Message` row. Writes: `processing`, `claimed_by`, the lease, `attempts + 1`
(`leadmail.queue`). Ends the message: Taken (another worker has it: nothing happens), or
Quarantine when the claim is past `[pipeline] max_attempts` (a process died on it each time).
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from leadmail.db import session_scope
from leadmail.errors import Quarantine, Taken
from leadmail.models import Event, Message, MessageStatus
from leadmail.pipeline.context import Context, Ran
from leadmail.queue import MESSAGES


def run(ctx: Context) -> Context:
    return run_batch([ctx])[0].get()


def run_batch(ctxs: list[Context]) -> list[Ran]:
    """The batch's messages that are free are claimed and loaded in ONE short transaction;
    the others end as Taken."""
    taken = _load(ctxs)
    return [Ran.of(_checked, ctx) if ctx.msg_id in taken else Ran(ctx, Taken()) for ctx in ctxs]


def _load(ctxs: list[Context]) -> set[int]:
    """Claim and load the free ones; their ids."""
    if not ctxs:
        return set()
    engine, me = ctxs[0].engine, ctxs[0].me
    by_id = {ctx.msg_id: ctx for ctx in ctxs}
    with session_scope(engine) as session:
        taken = MESSAGES.claim_many(engine, list(by_id), me, session)
        if taken:
            rows = session.execute(
                select(Message).where(col(Message.id).in_(taken)).with_only_columns(
                    col(Message.id), col(Message.raw), col(Message.dedup_key),
                    col(Message.intake), col(Message.attempts))).all()
            for msg_id, raw, key, intake, attempts in rows:
                ctx = by_id[msg_id]
                ctx.raw, ctx.key, ctx.intake, ctx.attempts = raw, key, intake, attempts
    return set(taken)


def _checked(ctx: Context) -> Context:
    """Past `[pipeline] max_attempts`: a process died on it each time."""
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
