"""Reminders and daily agendas, queued in the outbox; the follow-up worker's one pass.

A reminder goes out once per step (outbox key `step-ID-reminder`), at its remind time. Each
agent with open steps due by the end of their day gets one agenda a day (key
`agenda-EMAIL-DATE`, their local date) from `[followup] agenda_hour` in their timezone. The
keys are unique in the outbox, so several daemons never send one twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from leadmail.clock import must, now
from leadmail.config import AgentConfig, Settings
from leadmail.db import session_scope
from leadmail.followup import links, steps
from leadmail.followup.access import ADMIN
from leadmail.hours import zone
from leadmail.models import Lead, Outbox, Step, display_name
from leadmail.notify import render
from leadmail.notify.alert import lead_view
from leadmail.notify.outbox import enqueue_email

log = structlog.get_logger("leadmail.followup")
STEP_TEMPLATES = Path(__file__).parent / "templates"


def run_pass(engine: Engine, settings: Settings, at: datetime | None = None) -> int:
    """Catch up steps, queue due reminders and agendas; the number of emails queued."""
    at = at or now()
    steps.catch_up(engine, settings, at)
    return reminders(engine, settings, at) + agendas(engine, settings, at)


def draft(settings: Settings, step: Step, lead: Lead, agent: AgentConfig) -> str | None:
    """The step's email to the lead, from its template (None without one or when it fails)."""
    if not step.template:
        return None
    dirs = [d for d in (settings.followup.templates, str(STEP_TEMPLATES)) if d]
    env = SandboxedEnvironment(loader=ChoiceLoader([FileSystemLoader(d) for d in dirs]),
                               undefined=StrictUndefined, autoescape=False)
    try:
        return env.get_template(f"{step.template}.txt.j2").render(
            lead=lead_view(lead), agent=agent, step=step)
    except Exception as exc:  # an admin's template: the reminder still goes out without it
        log.error("step template failed", template=step.template, error=f"{exc}")
        return None


def _item(settings: Settings, step: Step, lead: Lead, agent: AgentConfig,
          at: datetime) -> dict[str, Any]:
    http = settings.http
    done_url = None
    if http.base_url and http.secret:
        expires = at + timedelta(seconds=settings.followup.link_ttl)
        done_url = links.step_url(http.base_url, http.secret, step.id or 0, agent.email, expires)
    due = must(step.due_at)
    local = due.astimezone(zone(agent.timezone))
    return {"id": step.id, "name": step.name, "due": local.strftime("%a %d %b %H:%M"),
            "overdue": due < at, "lead": lead_view(lead), "lead_name": display_name(lead),
            "done_url": done_url, "draft": draft(settings, step, lead, agent)}


def _queue(engine: Engine, key: str, build: Any) -> bool:
    """Insert one outbox row unless its key exists; True when queued."""
    try:
        with session_scope(engine) as session:
            if session.exec(select(Outbox.id).where(Outbox.idempotency_key == key)).first():
                return False
            return bool(build(session))
    except IntegrityError:  # another daemon queued it first
        return False


def reminders(engine: Engine, settings: Settings, at: datetime) -> int:
    """Queue a reminder for each open step whose remind time has come."""
    with Session(engine) as session:
        due = session.exec(
            select(Step.id).where(Step.status == steps.OPEN, col(Step.reminded_at).is_(None),
                                  col(Step.remind_at).is_not(None), col(Step.remind_at) <= at)
            .order_by(col(Step.remind_at)).limit(200)
        ).all()
    queued = 0
    for step_id in due:
        def build(session: Session, step_id: int | None = step_id) -> bool:
            step = session.get(Step, step_id)
            lead = session.get(Lead, step.lead_id) if step else None
            agent = settings.find_agent(step.agent) if step else None
            if step is None or lead is None or step.status != steps.OPEN or step.reminded_at:
                return False
            step.reminded_at = at
            session.add(step)
            if agent is None or not agent.active:
                return False
            context = {"agent": agent, "item": _item(settings, step, lead, agent, at)}
            rendered = render.render("reminder", context, settings.notify.templates,
                                     source=lead.source, parts=("subject", "text", "html"))
            enqueue_email(session, settings, agent, rendered, f"step-{step.id}-reminder",
                          lead.id)
            return True

        queued += _queue(engine, f"step-{step_id}-reminder", build)
    return queued


def agendas(engine: Engine, settings: Settings, at: datetime) -> int:
    """Queue today's agenda for each agent whose agenda hour has come and who has steps."""
    hour = settings.followup.agenda_hour
    if hour is None or not settings.followup.plans:
        return 0
    queued = 0
    for agent in settings.agents:
        if not agent.active:
            continue
        local = at.astimezone(zone(agent.timezone))
        if local.hour < hour:
            continue
        key = f"agenda-{agent.email}-{local.date().isoformat()}"
        day_end = (local.replace(hour=0, minute=0, second=0, microsecond=0)
                   + timedelta(days=1))

        def build(session: Session, agent: AgentConfig = agent, day_end: datetime = day_end,
                  day: str = local.strftime("%A %d %B"), key: str = key) -> bool:
            mine = [(s, lead) for s, lead in steps.open_steps(session, ADMIN, agent=agent.email,
                                                              due_before=day_end)
                    if lead.agent == agent.email]
            if not mine:
                return False
            items = [_item(settings, s, lead, agent, at) for s, lead in mine]
            context = {"agent": agent, "items": items, "day": day,
                       "overdue": sum(1 for i in items if i["overdue"])}
            rendered = render.render("agenda", context, settings.notify.templates,
                                     parts=("subject", "text", "html"))
            enqueue_email(session, settings, agent, rendered, key)
            return True

        queued += _queue(engine, key, build)
    return queued


def due_steps(engine: Engine, agent: str, until: datetime) -> list[tuple[Step, Lead]]:
    """An agent's open steps due by `until` (the CLI's agenda)."""
    with Session(engine) as session:
        return [(s, lead) for s, lead in steps.open_steps(session, ADMIN, agent=agent,
                                                          due_before=until)]

