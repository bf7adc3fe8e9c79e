"""The managers' digest: what needed a second try in their ponds (escalations), every period.

Periods are fixed slices of `[notify] digest_every` seconds. A digest is an outbox row keyed
`digest-MANAGER-END` (END: the period's end, Unix seconds), so several daemons never send one
twice; it covers everything since the previous digest's end (or one period), so downtime
loses nothing. No escalations: no digest.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from leadmail.clock import aware, utcnow
from leadmail.config import AgentConfig, Settings
from leadmail.db import session_scope
from leadmail.models import Event, Lead, LeadRoute, Outbox, display_name
from leadmail.notify import render
from leadmail.notify.outbox import enqueue_email

log = structlog.get_logger("leadmail.digest")
ESCALATIONS = (
    "expired",
    "declined",
    "reassigned",
    "to_manager",
    "claim_window_closed",
    "unassigned",
    "timer_failed",
)


def managers(settings: Settings) -> dict[str, tuple[AgentConfig, list[str]]]:
    """manager email -> (the manager, the ponds they manage)."""
    ponds = sorted({p for a in settings.agents for p in a.ponds} | {p.name for p in settings.ponds})
    out: dict[str, tuple[AgentConfig, list[str]]] = {}
    for pond in ponds:
        manager = settings.manager_of(pond)
        if manager is not None:
            out.setdefault(manager.email, (manager, []))[1].append(pond)
    return out


def _describe(event: Event) -> str:
    data = event.data or {}
    who = data.get("agent") or data.get("manager")
    text = {
        "expired": f"{who} did not accept in time",
        "declined": f"{who} declined" + (f" ({data['reason']})" if data.get("reason") else ""),
        "reassigned": f"reassigned to {who}",
        "to_manager": "came to you to assign",
        "claim_window_closed": "nobody claimed it in time",
        "unassigned": "nobody could take it: unassigned",
        "timer_failed": f"a timer failed: {data.get('error')}",
    }.get(event.kind, event.kind)
    return text


def _when(at: datetime) -> str:
    return aware(at).strftime("%Y-%m-%d %H:%M UTC")


def enqueue_due(engine: Engine, settings: Settings, now: datetime | None = None) -> int:
    """Queue the digests of the period that just ended; the number queued."""
    every = settings.notify.digest_every
    if not every:
        return 0
    now = now or utcnow()
    end = datetime.fromtimestamp(int(now.timestamp()) // every * every, UTC)
    queued = 0
    for email, (manager, ponds) in managers(settings).items():
        key = f"digest-{email}-{int(end.timestamp())}"
        with Session(engine) as session:
            if session.exec(select(Outbox.id).where(Outbox.idempotency_key == key)).first():
                continue
            last = session.exec(
                select(Outbox)
                .where(col(Outbox.idempotency_key).startswith(f"digest-{email}-"))
                .order_by(col(Outbox.id).desc())
            ).first()
            start = (
                datetime.fromtimestamp(int(last.payload["period_end"]), UTC)
                if last
                else end - timedelta(seconds=every)
            )
            rows = session.exec(
                select(Event, Lead)
                .join(LeadRoute, col(LeadRoute.lead_id) == col(Event.lead_id))
                .join(Lead, col(Lead.id) == col(Event.lead_id))
                .where(
                    col(Event.kind).in_(ESCALATIONS),
                    col(Event.at) >= start,
                    col(Event.at) < end,
                    col(LeadRoute.pond).in_(ponds),
                )
                .order_by(col(Event.at), col(Event.id))
            ).all()
        if not rows:
            continue
        events: list[dict[str, Any]] = [
            {
                "at": _when(e.at),
                "lead_id": e.lead_id,
                "lead_name": display_name(lead),
                "source": lead.source or "unknown",
                "what": _describe(e),
                "kind": e.kind,
            }
            for e, lead in rows
        ]
        context = {
            "agent": manager,
            "ponds": ponds,
            "events": events,
            "period_start": _when(start),
            "period_end": _when(end),
            "base_url": settings.http.base_url,
        }
        rendered = render.render("digest", context, settings.notify.templates)
        try:
            with session_scope(engine) as session:
                row = enqueue_email(session, settings, manager, rendered, key)
                row.payload = {
                    **row.payload,
                    "period_end": int(end.timestamp()),
                    "period_start": int(start.timestamp()),
                }
        except IntegrityError:
            continue  # another daemon queued it first
        log.info("digest queued", manager=email, count=len(events))
        queued += 1
    return queued
