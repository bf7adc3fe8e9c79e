"""The pipeline: a stored message becomes a lead, a duplicate, a non-lead, or a quarantine record.

`STEPS` is the pipeline: `process` claims nothing, reads nothing and writes nothing itself; it
runs these steps in order on the message's `Context`. Each step is a module with
`run(ctx) -> ctx`; it either hands the context on or ends the message by raising a typed
outcome (`leadmail.errors`): NotALead, Quarantine or Duplicate (the message gets that status,
with the reason), Review (no step after it runs but the last, which makes its lead held for a
person instead of routed), Transient (it waits out a backoff and is tried again; quarantined
at the last attempt), Taken (another worker has it). The last step makes the lead and the outcome.

    claim → duplicate → reply → answer → activity → read → review → commit

`read` (the read step's pure part: parse … classify) is all `leadmail extract` does. The
commit step merges, routes and queues the alert in ONE transaction, so a crash at any point
leaves either nothing or everything; the message is then simply processed again.
docs/architecture.md says what each step reads and writes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

import structlog
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from leadmail import liveness
from leadmail.clock import utcnow
from leadmail.db import session_scope
from leadmail.errors import Ended, NotALead, Quarantine, Review, Taken, Transient
from leadmail.metrics import PROCESSED, STEP_SECONDS
from leadmail.models import Event, Message, MessageStatus
from leadmail.normalize import storable
from leadmail.pipeline import activity, answer, claim, commit, duplicate, reader, reply, review
from leadmail.pipeline.claim import _claim, claimable, release_dead_claims, requeue
from leadmail.pipeline.commit import _lead_fields, assign
from leadmail.pipeline.context import Context, Outcome, Ran, Reader
from leadmail.pipeline.reader import read, read_any, read_api
from leadmail.pipeline.review import review_reason
from leadmail.pipeline.runtime import Runtime
from leadmail.queue import LEASE, MESSAGES
from leadmail.sources import health


class Step(Protocol):
    """A step: a module (or any object) with run(ctx) -> ctx."""

    def run(self, ctx: Context, /) -> Context: ...


STEPS: tuple[Step, ...] = (claim, duplicate, reply, answer, activity, reader, review, commit)

__all__ = [
    "LEASE", "STEPS", "Context", "Outcome", "Reader", "Runtime", "Step", "_claim",
    "_lead_fields", "assign", "claimable", "process", "process_batch", "read", "read_any",
    "read_api", "release_dead_claims", "requeue", "review_reason", "run", "worker_id",
]
log = structlog.get_logger("leadmail.pipeline")
worker_id = liveness.worker_id


def process(
    rt: Runtime,
    engine: Engine,
    msg_id: int,
    me: str | None = None,
    reader: Reader | None = None,
    steps: Sequence[Step] = STEPS,
) -> Outcome | None:
    """Run the pipeline on one stored message; None when another worker holds it. `reader`
    runs the read step (the daemon's: sandbox.ReadPool.read, in a child process); by
    default it runs here."""
    return process_batch(rt, engine, [msg_id], me, reader, steps)[0]


def process_batch(
    rt: Runtime,
    engine: Engine,
    msg_ids: Sequence[int],
    me: str | None = None,
    reader: Reader | None = None,
    steps: Sequence[Step] = STEPS,
) -> list[Outcome | None]:
    """Run the pipeline on a batch of stored messages, in id order; each one's outcome (None
    where another worker holds it). Steps with a `run_batch` work on the whole batch at once
    (the claim, the reads, the commit: one transaction for all the batch's leads); the
    others message by message. Each lead is made, and routed, as if alone, in id order."""
    started = time.perf_counter()
    me = me or worker_id()
    ctxs = [Context(rt, engine, m, me, reader, log.bind(msg=m)) for m in sorted(set(msg_ids))]
    outcomes = run(ctxs, steps)
    done = [o for o in outcomes.values() if o is not None]
    for outcome in done:  # the batch's time, shared among its messages
        STEP_SECONDS.labels("total").observe((time.perf_counter() - started) / len(done))
        PROCESSED.labels(outcome.status, outcome.source or "").inc()
    return [outcomes[m] for m in msg_ids]


def run(ctxs: Sequence[Context], steps: Sequence[Step] = STEPS) -> dict[int, Outcome | None]:
    """The loop: each step in turn over the messages still going, until a step ends a
    message or the last makes its lead. A message a step ended as Review skips the steps
    after it but the last, which makes its lead held for a person, in id order with the
    others. Messages ended on the way are recorded together, in one transaction, once every
    step has run."""
    live, ended, held = list(ctxs), list[Ran](), list[Context]()
    last = len(steps) - 1
    for at, step in enumerate(steps):
        if at == last and held:  # the last step makes the leads: the held ones too, in order
            live = sorted(live + held, key=lambda ctx: ctx.msg_id)
        batch = getattr(step, "run_batch", None)
        results: list[Ran] = batch(live) if batch else [Ran.of(step.run, c) for c in live]
        live = [r.ctx for r in results if r.end is None]
        for r in results:
            if isinstance(r.end, Review) and at < last:
                r.ctx.held = r.end
                held.append(r.ctx)
            elif r.end is not None:
                ended.append(r)
    outcomes: dict[int, Outcome | None] = {}
    for ctx in live:
        assert ctx.outcome is not None, "the last step did not say how the message ended"
        outcomes[ctx.msg_id] = ctx.outcome
    closing = [r for r in ended if not isinstance(r.end, Taken)]
    outcomes.update({r.ctx.msg_id: None for r in ended if isinstance(r.end, Taken)})
    if closing:
        with session_scope(closing[0].ctx.engine) as session:
            for r in closing:
                outcomes[r.ctx.msg_id] = _close(session, r.ctx, r.end)
    return outcomes


def _close(session: Session, ctx: Context, end: Exception | None) -> Outcome:
    if isinstance(end, Transient):
        return _retry_later(session, ctx, end.error)
    assert isinstance(end, Ended)
    return _finish(session, ctx, end)


def _finish(session: Session, ctx: Context, end: Ended) -> Outcome:
    """The message's final status, with the reason on its row and its event."""
    reason = storable(end.reason)  # the message row and its event both keep it
    session.execute(update(Message).where(col(Message.id) == ctx.msg_id).values(
        status=end.status, reason=reason, error=storable(end.traceback),
        duplicate_of=end.duplicate_of, processed_at=utcnow(), lease_until=None,
    ))  # one statement: the message's bytes are not loaded again
    if isinstance(end, NotALead | Quarantine) and end.source:  # the source's figures count it
        health.observe(session, ctx.rt.settings, source=end.source,
                       kind="quarantine" if isinstance(end, Quarantine) else "nonlead",
                       message_pk=ctx.msg_id, message_id=None)
    session.add(
        Event(
            kind=end.status,
            message_pk=ctx.msg_id,
            data={"reason": reason, "duplicate_of": end.duplicate_of},
        )
    )
    return Outcome(ctx.msg_id, end.status, reason=end.reason, duplicate_of=end.duplicate_of,
                   source=end.source)


def _retry_later(session: Session, ctx: Context, error: str) -> Outcome:
    """Back in line after the backoff; at the last attempt, quarantined with the error."""
    if ctx.attempts >= ctx.max_attempts:
        reason = (f"could not store the lead after {ctx.attempts} attempts: "
                  f"{error.splitlines()[-1]}")
        return _finish(session, ctx, Quarantine(reason, error))
    msg = session.get(Message, ctx.msg_id)
    assert msg is not None
    MESSAGES.retry_later(msg, storable(error))
    session.add(msg)
    return Outcome(ctx.msg_id, MessageStatus.RECEIVED, reason="will retry")
