"""The outbox: alerts written in the assignment's transaction, delivered at least once.

One row per alert and channel (email, or a webhook the agent chose), each with a stable
idempotency key: the email's Message-ID and the webhook's Idempotency-Key are made of it, so a
receiver that sees a retry of something it already has can drop it.

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

from leadmail import workers
from leadmail.config import AgentConfig, Settings, WebhookConfig
from leadmail.db import session_scope
from leadmail.metrics import ALERTS
from leadmail.models import Lead, Outbox, utcnow
from leadmail.notify import PermanentFailure, render, webhook
from leadmail.notify import email as email_channel
from leadmail.notify.alert import compose
from leadmail.notify.vcard import vcard

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
    """Compose and queue an alert on each of the agent's channels (in the caller's
    transaction); the email row, else the first. Email rows use `key` (the Message-ID is made
    of it, replies are matched by it); other channels `key.CHANNEL`."""
    view = compose(session, settings, lead, agent, context)
    rendered = render.render(
        "alert", view, settings.notify.templates, source=lead.source, strategy=view["strategy"]
    )
    rows = []
    for channel in agent.channels:
        if channel == "email":
            cfg = settings.notify.email
            card = vcard(view["lead"]) if cfg.attach_vcard else None
            row = Outbox(
                kind="email",
                idempotency_key=key,
                lead_id=lead.id,
                recipient=agent.email,
                subject=rendered["subject"],
                payload={
                    **rendered,
                    "lead_id": lead.id,
                    "recipient_name": agent.name,
                    "vcard": card,
                },
                deadline=utcnow() + timedelta(seconds=cfg.retry_for),
            )
        else:
            hook = _webhook(settings, channel)
            assert hook is not None  # config validation checked every agent's channels
            row = Outbox(
                kind="webhook",
                idempotency_key=f"{key}.{channel}",
                lead_id=lead.id,
                recipient=agent.email,
                subject=rendered["subject"],
                payload=webhook.build(hook, view, rendered, f"{key}.{channel}"),
                deadline=utcnow() + timedelta(seconds=hook.retry_for),
            )
        session.add(row)
        rows.append(row)
    return next((r for r in rows if r.kind == "email"), rows[0])


def enqueue_email(
    session: Session,
    settings: Settings,
    recipient: AgentConfig,
    rendered: dict[str, str],
    key: str,
    lead_id: int | None = None,
) -> Outbox:
    """Queue one email that is not an alert (a digest, an answer to a reply)."""
    row = Outbox(
        kind="email",
        idempotency_key=key,
        lead_id=lead_id,
        recipient=recipient.email,
        subject=rendered["subject"],
        payload={**rendered, "lead_id": lead_id, "recipient_name": recipient.name},
        deadline=utcnow() + timedelta(seconds=settings.notify.email.retry_for),
    )
    session.add(row)
    return row


def _webhook(settings: Settings, name: str) -> WebhookConfig | None:
    return next((w for w in settings.notify.webhooks if w.name == name), None)


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
            .values(next_attempt_at=now + LEASE, attempts=Outbox.attempts + 1,
                    claimed_by=workers.worker_id())
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def release_dead_claims(engine: Engine, at_start: bool = False) -> int:
    """At start: alerts a dead local process was sending are due again at once (not after the
    lease). The receiver may see one twice; the stable Message-ID / idempotency key lets it
    drop the copy."""
    now = utcnow()
    released = 0
    with session_scope(engine) as session:
        rows = session.exec(select(Outbox).where(Outbox.status == "pending",
                                                 Outbox.next_attempt_at > now,
                                                 col(Outbox.claimed_by).is_not(None))).all()
        for row in rows:
            if workers.claim_is_dead(row.claimed_by, at_start):
                row.next_attempt_at, row.claimed_by = now, None
                session.add(row)
                released += 1
    return released


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
        kind, payload, recipient, key = row.kind, row.payload, row.recipient, row.idempotency_key
    error: str | None = None
    permanent = False
    try:
        _send(settings, kind, payload, recipient, key)
    except PermanentFailure as exc:
        error, permanent = str(exc), True
    except Exception as exc:  # refused connection, timeout, 4xx: try again later
        error = f"{type(exc).__name__}: {exc}"
    with session_scope(engine) as session:
        row = session.get(Outbox, row_id)
        assert row is not None
        now = utcnow()
        channel = str(row.payload.get("channel") or row.kind)
        ALERTS.labels(
            channel, "sent" if error is None else ("failed" if permanent else "retry")
        ).inc()
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


def _send(settings: Settings, kind: str, payload: dict[str, Any], recipient: str, key: str) -> None:
    """One attempt on the row's channel; PermanentFailure when retrying cannot help."""
    if kind == "webhook":
        hook = _webhook(settings, payload["channel"])
        if hook is None:
            raise PermanentFailure(f"no [[notify.webhooks]] named {payload['channel']!r} any more")
        webhook.send(hook, payload, key)
        return
    cfg = settings.notify.email
    email_channel.send(cfg, email_channel.build_message(cfg, recipient, payload, key), recipient)
