"""One queue: claim, lease, release, backoff and requeue, for stored messages and the outbox.

A row waits in its `waiting` status until its `due` column is past. A worker claims it in a
short transaction: the row is locked if it is free (PostgreSQL's SKIP LOCKED: a row another
worker is claiming right now is skipped, not waited for; SQLite serializes writers), then
updated only if it is still free, so exactly one worker wins. The claim records the worker
(`claimed_by`, host:pid), counts one attempt, and pushes `due` one lease ahead; a worker that
dies leaves a lease that expires, or a claim that `release_dead_claims` frees at once.

Messages move to a `working` status while claimed (`processing`); outbox rows stay `pending`
and are held by the lease alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import or_, update
from sqlalchemy.engine import CursorResult, Engine
from sqlmodel import Session, col, select

from leadmail import liveness
from leadmail.clock import utcnow
from leadmail.db import session_scope
from leadmail.models import Event, Message, Outbox
from leadmail.statuses import MessageStatus, OutboxStatus

LEASE = timedelta(seconds=60)
BACKOFF_CAP = 300.0  # seconds: five minutes


def backoff_seconds(attempt: int, cap: float = BACKOFF_CAP) -> float:
    """Seconds to wait after the n-th failed attempt: 1, 2, 4, ... capped at `cap`."""
    exponent = min(max(1, attempt) - 1, 64)
    return float(min(cap, max(min(1.0, cap), 2.0**exponent)))


@dataclass(frozen=True)
class Queue:
    """A table worked as a queue. `due` names the column that says when a row may be
    claimed, `error` the one that keeps the last failure; `cleared` columns are emptied when
    a row is put back in line by hand."""

    model: Any
    waiting: str
    working: str | None
    due: str
    error: str
    cleared: tuple[str, ...] = ()
    lease: timedelta = LEASE

    def _col(self, name: str) -> Any:
        return col(getattr(self.model, name))

    def free(self, now: datetime) -> Any:
        """Waiting and due, or claimed under a lease that has run out."""
        status, due = self._col("status"), self._col(self.due)
        waiting = (status == self.waiting) & (due.is_(None) | (due <= now))
        if self.working is None:  # held by the lease alone: an expired one is simply due
            return waiting
        return or_(waiting, (status == self.working) & (due <= now))

    def _held(self, now: datetime) -> Any:
        """Rows some worker holds right now."""
        status = self._col("status")
        if self.working is not None:
            return status == self.working
        return (status == self.waiting) & (self._col(self.due) > now) & self._col(
            "claimed_by").is_not(None)

    def due_ids(self, engine: Engine, limit: int, *where: Any, order_by: str = "id") -> list[int]:
        """Ids of rows free now (and matching `where`), in `order_by` order."""
        with session_scope(engine) as session:
            rows = session.exec(
                select(self.model.id)
                .where(self.free(utcnow()), *where)
                .order_by(self._col(order_by))
                .limit(limit)
            ).all()
        return [r for r in rows if r is not None]

    def claim(self, engine: Engine, row_id: int, me: str | None = None) -> bool:
        """Take one row for a lease; False when it is not free (another worker has it)."""
        return bool(self.claim_many(engine, [row_id], me))

    def claim_many(self, engine: Engine, row_ids: Sequence[int], me: str | None = None,
                   session: Session | None = None) -> list[int]:
        """Take the rows of `row_ids` that are free for a lease, in one transaction (the
        caller's `session`, else one of its own); the ids taken, in ascending order."""
        if not row_ids:
            return []
        if session is None:
            with session_scope(engine) as own:
                return self.claim_many(engine, row_ids, me, own)
        now = utcnow()
        ident = self._col("id").in_(list(row_ids))
        values: dict[str, Any] = {
            "claimed_by": me or liveness.worker_id(),
            self.due: now + self.lease,
            "attempts": self.model.attempts + 1,
        }
        if self.working is not None:
            values["status"] = self.working
        free = [i for i in session.exec(
            select(self.model.id).where(ident, self.free(now)).with_for_update(skip_locked=True)
        ).all() if i is not None]
        if not free:
            return []
        # Locked (PostgreSQL) or under the one writer lock (SQLite): still free, so all change.
        session.execute(update(self.model).where(self._col("id").in_(free), self.free(now))
                        .values(**values))
        return sorted(free)

    def _freed(self, now: datetime) -> dict[str, Any]:
        """The values that make a held row free again, due now."""
        values: dict[str, Any] = {self.due: now, "claimed_by": None}
        if self.working is not None:
            values["status"] = self.waiting
        return values

    def release(self, engine: Engine, row_id: int, me: str | None = None,
                untried: bool = False) -> None:
        """Give back a row this worker holds (a job cut short): due again now, for anyone.
        `untried`: claimed but never worked on, so its claim's attempt is taken back."""
        now = utcnow()
        values = self._freed(now)
        if untried:
            values["attempts"] = self.model.attempts - 1
        with session_scope(engine) as session:
            session.execute(
                update(self.model)
                .where(self._col("id") == row_id,
                       self._col("status") == (self.working or self.waiting),
                       self._col("claimed_by") == (me or liveness.worker_id()))
                .values(**values)
            )

    def release_dead_claims(self, engine: Engine, at_start: bool = False) -> int:
        """Rows claimed by a process of this host that no longer runs are free again at once
        (without waiting for their lease); the number freed. Peers on other hosts are covered
        by the lease."""
        now = utcnow()
        released = 0
        with session_scope(engine) as session:
            for row in session.exec(select(self.model).where(self._held(now))).all():
                if liveness.claim_is_dead(row.claimed_by, at_start):
                    for name, value in self._freed(now).items():
                        setattr(row, name, value)
                    session.add(row)
                    released += 1
        return released

    def retry_later(self, row: Any, error: str | None) -> datetime:
        """A failed attempt on a loaded row (in the caller's session): waiting again, due after
        the backoff of its attempts so far. When it is due."""
        at = utcnow() + timedelta(seconds=backoff_seconds(row.attempts))
        row.status = self.waiting
        setattr(row, self.due, at)
        setattr(row, self.error, error)
        return at

    def requeue(self, engine: Engine, row_id: int, was: str, event: Event | None = None) -> bool:
        """Back in line as new (attempts from zero), only if it is still in status `was`;
        `event` is recorded with it. False when the row is not (or no longer) in `was`."""
        values: dict[str, Any] = {"status": self.waiting, "attempts": 0, self.due: utcnow(),
                                  **dict.fromkeys(self.cleared)}
        with session_scope(engine) as session:
            if not _changed(session.execute(
                update(self.model)
                .where(self._col("id") == row_id, self._col("status") == was)
                .values(**values)
            )):
                return False
            if event is not None:
                session.add(event)
            return True


def _changed(result: Any) -> bool:
    """Whether an UPDATE changed a row (its CursorResult's rowcount)."""
    return bool(cast(CursorResult[Any], result).rowcount)


MESSAGES = Queue(Message, waiting=MessageStatus.RECEIVED, working=MessageStatus.PROCESSING,
                 due="lease_until", error="error", cleared=("reason",))
OUTBOX = Queue(Outbox, waiting=OutboxStatus.PENDING, working=None, due="next_attempt_at",
               error="last_error")
