"""Due timers: claim windows and accept windows closing, processed by the daemon's timer task.

Timers are rows, so a restart loses none. Each is taken with SELECT ... FOR UPDATE SKIP LOCKED
(PostgreSQL; SQLite's BEGIN IMMEDIATE serializes instead), then the lead is locked and the
timer fired in that same transaction: several daemons never fire one timer twice, and a crash
mid-way rolls back to a timer that is still due. A timer whose round is over (the lead was
claimed, accepted, declined or reassigned since) is closed without effect.
"""

from __future__ import annotations

import traceback
from datetime import datetime, timedelta

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from leadmail import clock as clocks
from leadmail.config import Settings
from leadmail.db import session_scope
from leadmail.models import Event, LeadRoute, Offer, Timer
from leadmail.routing.escalation import close_claims, escalate, lock_lead
from leadmail.statuses import LeadStatus, OfferStatus, TimerStatus

log = structlog.get_logger("leadmail.routing.timers")
MAX_ATTEMPTS = 5


def _fire(session: Session, settings: Settings, timer: Timer, now: datetime) -> str:
    """Do what the timer is for; a short description of what happened."""
    lead = lock_lead(session, timer.lead_id)
    lr = session.get(LeadRoute, timer.lead_id)
    if lead is None or lr is None or lr.round != timer.round:
        return "stale: the lead moved on"
    if timer.kind == "accept_window":
        offer = session.get(Offer, timer.offer_id) if timer.offer_id else None
        if offer is None or offer.status != OfferStatus.OPEN or lead.agent != offer.agent:
            return "stale: answered"
        offer.status, offer.answered_at = OfferStatus.EXPIRED, now
        session.add(offer)
        window = (offer.expires_at - offer.created_at) if offer.expires_at else None
        data = {
            "agent": offer.agent,
            "reason": f"not accepted within {window}",
            "offered_at": offer.created_at.isoformat(),
        }
        session.add(Event(kind="expired", lead_id=lead.id, at=now, data=data))
        lead.trace = [*lead.trace, {"step": "expired", "at": now.isoformat(), **data}]
        decision = escalate(session, settings, lead, lr, now, f"{offer.agent} did not accept")
        return f"accept window of {offer.agent} closed: {decision.action} {decision.reason}"
    if timer.kind == "claim_window":
        if lead.status != LeadStatus.OFFERED:
            return "stale: claimed"
        session.add(Event(kind="claim_window_closed", lead_id=lead.id, at=now, data={}))
        lead.trace = [*lead.trace, {"step": "claim_window_closed", "at": now.isoformat()}]
        decision = close_claims(session, settings, lead, lr, now)
        return f"claim window closed: {decision.action} {decision.reason}"
    return f"unknown timer kind {timer.kind!r}"


def process_due(
    engine: Engine, settings: Settings, *, clock: clocks.Clock | None = None, limit: int = 200
) -> int:
    """Fire timers that are due, one transaction each; the number fired."""
    clock = clock or clocks.current()
    fired = 0
    while fired < limit:
        now = clock.now()
        timer_id = None
        try:
            with session_scope(engine) as session:
                timer = session.exec(
                    select(Timer)
                    .where(Timer.status == TimerStatus.PENDING, col(Timer.due_at) <= now)
                    .order_by(col(Timer.due_at), col(Timer.id))
                    .limit(1)
                    .with_for_update(skip_locked=True)
                ).first()
                if timer is None:
                    return fired
                timer_id = timer.id
                what = _fire(session, settings, timer, now)
                timer.status, timer.fired_at = TimerStatus.DONE, now
                session.add(timer)
            log.info("timer", timer=timer_id, lead=timer.lead_id, kind=timer.kind, what=what)
        except Exception:  # a bug or a lost database: keep the timer, retry it later
            if timer_id is None:
                raise
            _failed(engine, timer_id, now)
        fired += 1
    return fired


def _failed(engine: Engine, timer_id: int, now: datetime) -> None:
    error = traceback.format_exc()
    log.error("timer failed", timer=timer_id, error=error.splitlines()[-1])
    with session_scope(engine) as session:
        timer = session.get(Timer, timer_id)
        if timer is None:
            return
        timer.attempts += 1
        timer.last_error = error
        if timer.attempts >= MAX_ATTEMPTS:
            timer.status = TimerStatus.FAILED
            session.add(
                Event(
                    kind="timer_failed",
                    lead_id=timer.lead_id,
                    at=now,
                    data={"timer": timer_id, "kind": timer.kind, "error": error.splitlines()[-1]},
                )
            )
        else:
            timer.due_at = now + timedelta(seconds=30 * 2**timer.attempts)
        session.add(timer)


def next_due(engine: Engine) -> datetime | None:
    """When the next pending timer is due (for the daemon's sleep)."""
    with Session(engine) as session:
        return session.exec(
            select(Timer.due_at).where(Timer.status == TimerStatus.PENDING)
            .order_by(col(Timer.due_at))
        ).first()
