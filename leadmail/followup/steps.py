"""Next Steps: a checklist per Stage × Segment, set for the lead's agent one step at a time.

The first step is set when a lead is assigned (the pipeline calls `on_assigned` in its own
transaction; leads that reach an agent later, by a claim or a reassignment, are caught up by
the follow-up worker). Completing a step sets the next one, due its offset after completion.
A new agent takes over the open step; a new Stage starts that stage's checklist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import and_, exists, or_, true
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from leadmail.clock import aware, now
from leadmail.config import PlanConfig, Settings, StepConfig
from leadmail.db import session_scope
from leadmail.followup import activity
from leadmail.followup.access import ADMIN, Principal, lead_filter, locked_row
from leadmail.models import Assignment, Lead, Step
from leadmail.statuses import LeadStatus, StepStatus

log = structlog.get_logger("leadmail.steps")
OPEN, DONE, CANCELLED = StepStatus.OPEN, StepStatus.DONE, StepStatus.CANCELLED
HOLDING = (LeadStatus.ASSIGNED, LeadStatus.ACCEPTED)  # lead statuses in which an agent has the lead


def plan_for(settings: Settings, stage: str, segment: str) -> tuple[str, PlanConfig] | None:
    """(key, plan) for a Stage × Segment: the exact segment's plan, else the stage's "*"."""
    plans = settings.followup.plans
    for wanted in (segment, "*"):
        for plan in plans:
            if plan.stage == stage and plan.segment == wanted:
                return f"{plan.stage}/{plan.segment}", plan
    return None


def _make(lead: Lead, agent: str, key: str, position: int, spec: StepConfig,
          start: datetime) -> Step:
    assert lead.id is not None
    due = start + timedelta(minutes=spec.due)
    remind = None if spec.remind is None else due - timedelta(minutes=spec.remind)
    return Step(lead_id=lead.id, agent=agent, plan=key, position=position, name=spec.name,
                contact=spec.contact, template=spec.template, due_at=due, remind_at=remind,
                created_at=start)


def _next_position(done: set[int], plan: PlanConfig, after: int = -1) -> int | None:
    for position in range(after + 1, len(plan.steps)):
        if position not in done:
            return position
    return None


def on_assigned(session: Session, settings: Settings, lead: Lead,
                at: datetime | None = None) -> Step | None:
    """The lead has an agent: make sure they have its open step (idempotent); the step."""
    if lead.id is None or not lead.agent or lead.status not in HOLDING:
        return None
    found = plan_for(settings, lead.stage, lead.segment)
    if found is None:
        return None
    key, plan = found
    start = at or now()
    steps = session.exec(select(Step).where(Step.lead_id == lead.id, Step.plan == key)).all()
    current = None
    for step in steps:
        if step.status != OPEN:
            continue
        if step.agent == lead.agent:
            current = step
        else:  # the lead moved on: the new agent takes the step over
            step.agent = lead.agent
            session.add(step)
            current = current or step
    if current is not None:
        return current
    position = _next_position({s.position for s in steps if s.status == DONE}, plan)
    if position is None:
        return None
    step = _make(lead, lead.agent, key, position, plan.steps[position], start)
    session.add(step)
    session.flush()
    log.info("step set", lead=lead.id, agent=lead.agent, step=step.name)
    return step


def on_stage(session: Session, settings: Settings, lead: Lead, at: datetime) -> Step | None:
    """The lead's Stage changed: close the old checklist's open steps, start the new one."""
    for step in session.exec(select(Step).where(Step.lead_id == lead.id, Step.status == OPEN)):
        step.status, step.done_at = CANCELLED, at
        session.add(step)
    return on_assigned(session, settings, lead, at)


def catch_up(engine: Engine, settings: Settings, at: datetime | None = None,
             limit: int = 200) -> int:
    """Leads an agent got outside the pipeline (claims, reassignments, manual assignment)
    whose checklist has no step for that agent yet; the number of steps set."""
    pairs = [(p.stage, p.segment) for p in settings.followup.plans]
    if not pairs:
        return 0
    wanted = or_(*[
        and_(col(Lead.stage) == stage, true() if segment == "*" else col(Lead.segment) == segment)
        for stage, segment in pairs
    ])
    theirs = exists().where(col(Step.lead_id) == col(Lead.id), col(Step.agent) == col(Lead.agent))
    made = 0
    with session_scope(engine) as session:
        leads = session.exec(
            select(Lead).where(col(Lead.agent).is_not(None), col(Lead.status).in_(HOLDING),
                               wanted, ~theirs).order_by(col(Lead.id)).limit(limit)
        ).all()
        for lead in leads:
            since = session.exec(
                select(Assignment.created_at).where(Assignment.lead_id == lead.id,
                                                    Assignment.agent == lead.agent)
                .order_by(col(Assignment.id).desc())
            ).first()
            if on_assigned(session, settings, lead, aware(since) or at or now()) is not None:
                made += 1
    return made


@dataclass(frozen=True)
class Done:
    """What completing a step did: status is done, already_done, not_found or not_allowed."""

    status: str
    step: Step | None = None
    next: Step | None = None

    @property
    def ok(self) -> bool:
        """True when the step was completed now."""
        return self.status == "done"


def complete(engine: Engine, settings: Settings, step_id: int, by: str, *, via: str,
             who: Principal = ADMIN, note: str | None = None) -> Done:
    """Mark a step done (by its agent, or an admin) and set the next one."""
    at = now()
    with session_scope(engine) as session:
        found = locked_row(session, Step, step_id, who)
        if found is None:
            return Done("not_found")
        step, lead = found
        if who.role not in ("admin", "agent"):
            return Done("not_allowed", step)
        if step.status != OPEN:
            return Done("already_done" if step.status == DONE else step.status, step)
        step.status, step.done_at, step.done_by, step.via = DONE, at, by, via
        session.add(step)
        activity.record(session, lead, "step", by, text=step.name, at=at, contact=step.contact,
                        step=step.id, note=note)
        planned = plan_for(settings, lead.stage, lead.segment)
        following = None
        if planned is not None and planned[0] == step.plan and lead.agent:
            key, plan = planned
            done = {s.position for s in session.exec(
                select(Step).where(Step.lead_id == lead.id, Step.plan == key,
                                   Step.status == DONE)).all()} | {step.position}
            position = _next_position(done, plan, step.position)
            if position is not None:
                following = _make(lead, lead.agent, key, position, plan.steps[position], at)
                session.add(following)
                session.flush()
        log.info("step done", step=step.id, lead=lead.id, by=by, via=via,
                 next=following.name if following else None)
        return Done("done", step, following)


def open_steps(session: Session, who: Principal, *, agent: str | None = None,
               due_before: datetime | None = None) -> list[tuple[Step, Lead]]:
    """Open steps of leads `who` may see, soonest due first."""
    query = (select(Step, Lead).join(Lead, col(Lead.id) == col(Step.lead_id))
             .where(Step.status == OPEN, lead_filter(who)).order_by(col(Step.due_at)))
    if agent:
        query = query.where(Step.agent == agent)
    if due_before is not None:
        query = query.where(col(Step.due_at) <= due_before)
    return [(s, lead) for s, lead in session.exec(query).all()]
