"""The outbox: alerts written in the assignment's transaction, delivered at least once.

A row is claimed by pushing its next_attempt_at past a lease, so concurrent senders skip it;
success marks it sent; a temporary failure schedules a retry with capped exponential backoff
(tenacity's wait) until the row's deadline; a permanent failure marks it failed.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from tenacity import RetryCallState, wait_exponential

from leadmail.config import AgentConfig, Settings
from leadmail.db import session_scope
from leadmail.metrics import ALERTS
from leadmail.models import Lead, Outbox, utcnow
from leadmail.notify import email as email_channel

log = structlog.get_logger("leadmail.outbox")
LEASE = timedelta(seconds=60)
_backoff = wait_exponential(multiplier=1, min=1, max=300)


def backoff_seconds(attempt: int) -> float:
    """Seconds to wait after the n-th failed attempt: 1, 2, 4, ... capped at 5 minutes."""
    state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
    state.attempt_number = attempt
    return float(_backoff(state))


def enqueue_alert(
    session: Session,
    settings: Settings,
    lead: Lead,
    agent: AgentConfig,
    context: dict[str, Any],
    key: str,
) -> Outbox:
    """Render and queue the alert email for an assignment (same transaction as the caller)."""
    rendered = email_channel.render_alert(context)
    row = Outbox(
        kind="email",
        idempotency_key=key,
        lead_id=lead.id,
        recipient=agent.email,
        subject=rendered["subject"],
        payload={**rendered, "lead_id": lead.id, "recipient_name": agent.name},
        deadline=utcnow() + timedelta(seconds=settings.notify.email.retry_for),
    )
    session.add(row)
    return row


def _claim(engine: Engine, row_id: int) -> bool:
    now = utcnow()
    with session_scope(engine) as session:
        result = session.execute(
            update(Outbox)
            .where(
                col(Outbox.id) == row_id,
                col(Outbox.status) == "pending",
                col(Outbox.next_attempt_at) <= now,
            )
            .values(next_attempt_at=now + LEASE, attempts=Outbox.attempts + 1)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def deliver_due(engine: Engine, settings: Settings, limit: int = 50) -> int:
    """Try every due row once; the number delivered."""
    with session_scope(engine) as session:
        due = session.exec(
            select(Outbox.id)
            .where(Outbox.status == "pending", Outbox.next_attempt_at <= utcnow())
            .order_by(col(Outbox.next_attempt_at))
            .limit(limit)
        ).all()
    sent = 0
    for row_id in due:
        if row_id is None or not _claim(engine, row_id):
            continue
        sent += _deliver_one(engine, settings, row_id)
    return sent


def _deliver_one(engine: Engine, settings: Settings, row_id: int) -> int:
    with session_scope(engine) as session:
        row = session.get(Outbox, row_id)
        assert row is not None
        payload, recipient, key = row.payload, row.recipient, row.idempotency_key
    cfg = settings.notify.email
    error: str | None = None
    permanent = False
    try:
        email_channel.send(
            cfg, email_channel.build_message(cfg, recipient, payload, key), recipient
        )
    except email_channel.PermanentFailure as exc:
        error, permanent = str(exc), True
    except Exception as exc:  # refused connection, timeout, 4xx: try again later
        error = f"{type(exc).__name__}: {exc}"
    with session_scope(engine) as session:
        row = session.get(Outbox, row_id)
        assert row is not None
        now = utcnow()
        ALERTS.labels(row.kind, "sent" if error is None else
                      ("failed" if permanent else "retry")).inc()
        if error is None:
            row.status, row.sent_at, row.last_error = "sent", now, None
            log.info("alert sent", outbox=row_id, lead=row.lead_id, attempts=row.attempts)
        elif permanent or (row.deadline is not None and now >= row.deadline):
            row.status, row.last_error = "failed", error
            log.error("alert failed for good", outbox=row_id, lead=row.lead_id, error=error)
        else:
            row.next_attempt_at = now + timedelta(seconds=backoff_seconds(row.attempts))
            row.last_error = error
            level = logging.WARNING if row.attempts == 1 else logging.INFO
            log.log(
                level,
                "alert delivery failed, will retry",
                outbox=row_id,
                error=error,
                retry_at=row.next_attempt_at.isoformat(),
            )
        session.add(row)
    return 1 if error is None else 0
