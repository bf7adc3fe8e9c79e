"""`leadmail status`: what an operator on the box wants to know first."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from leadmail.clock import utcnow
from leadmail.config import Settings
from leadmail.models import Lead, Message, Outbox
from leadmail.sources import health
from leadmail.statuses import LeadStatus, MessageStatus, OutboxStatus


def counts(engine: Engine) -> dict[str, dict[str, int]]:
    """Messages and outbox rows by status (also the daemon's /metrics and /readyz)."""
    with Session(engine) as session:
        msgs = session.exec(select(Message.status, func.count()).group_by(Message.status)).all()
        rows = session.exec(select(Outbox.status, func.count()).group_by(Outbox.status)).all()
    return {"messages": dict(msgs), "outbox": dict(rows)}


def gather(settings: Settings, engine: Engine) -> dict[str, Any]:
    """Counts from the database and the daemon's /readyz (on [http] admin_listen or listen)."""
    problems: list[str] = []
    data = counts(engine)
    with Session(engine) as session:
        last = session.exec(select(func.max(Message.received_at))).one()
        since = utcnow() - timedelta(hours=24)
        leads_24h = session.exec(select(func.count()).select_from(Lead)
                                 .where(col(Lead.created_at) >= since)).one()
        review = session.exec(select(func.count()).select_from(Lead)
                              .where(Lead.status == LeadStatus.REVIEW)).one()
    if data["messages"].get(MessageStatus.QUARANTINED):
        problems.append(f"{data['messages']['quarantined']} quarantined message(s): "
                        "leadmail quarantine list")
    if data["outbox"].get(OutboxStatus.FAILED):
        problems.append(f"{data['outbox']['failed']} alert(s) failed for good: "
                        "leadmail outbox list --status failed")
    if review:
        problems.append(f"{review} lead(s) wait in review: leadmail review list")
    drifting = health.drifting(engine)
    for d in drifting:
        problems.append(f"source {d['source']} is drifting: {d['reason']} (leadmail sources)")
    daemon: Any = "no [http] listen configured; cannot ask the daemon"
    listen = settings.http.status_listen  # admin_listen, else listen if it serves /readyz
    if settings.http.listen and not listen:
        daemon = "[http] public leaves out readyz and there is no admin_listen to ask"
    if listen:
        try:
            resp = httpx.get(f"http://{listen}/readyz", timeout=5)
            daemon = resp.json()
            if not daemon.get("ready"):
                problems.append("the daemon is not ready: " + ", ".join(
                    f"{k} {v}" for k, v in daemon.get("checks", {}).items() if v != "ok"))
        except httpx.HTTPError as exc:
            daemon = f"not answering on {listen} ({type(exc).__name__})"
            problems.append(daemon)
    url = engine.url.render_as_string(hide_password=True)
    return {"ok": not problems, "database": url, "messages": data["messages"],
            "outbox": data["outbox"], "last_received": last.isoformat() if last else None,
            "leads_24h": leads_24h, "review": review, "drifting_sources": drifting,
            "daemon": daemon, "problems": problems}
