"""Stages and deals: every change recorded with who and when, so time-in-stage is known.

A lead's Stage (Lead → Potential → Active → Inactive / Lost) moves with its contact. With
`[followup] deal_on_potential`, reaching Potential opens a Deal in the first stage of the
lead's team pipeline (`[[teams]] stages`, in config order, so reordering is an edit of the
list: deals keep their stage by name). A deal moved to a won or lost stage is closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from leadmail.clock import must, now
from leadmail.config import LEAD_STAGES, DealStageConfig, Settings, TeamConfig
from leadmail.db import session_scope
from leadmail.followup import activity, campaigns, steps
from leadmail.followup.access import ADMIN, Principal, can_see, locked_row, team_of
from leadmail.models import Contact, Deal, Lead, StageChange

DEFAULT_TEAM = TeamConfig(name="(no team)")


@dataclass(frozen=True)
class Changed:
    """Result of a stage change: status changed, unchanged, not_found, not_allowed, invalid."""

    status: str
    lead: Lead | None = None
    deal: Deal | None = None
    detail: str | None = None

    @property
    def ok(self) -> bool:
        """True when something changed (or was already so)."""
        return self.status in ("changed", "unchanged")


def deal_stages_of(settings: Settings, team: str | None) -> list[DealStageConfig]:
    """The team's pipeline stages, in order (the built-in pipeline for no team)."""
    found = next((t for t in settings.teams if t.name == team), None)
    return list((found or DEFAULT_TEAM).stages)


def set_stage(engine: Engine, settings: Settings, lead_id: int, stage: str, by: str, *,
              who: Principal = ADMIN, value: int | None = None,
              expected_close: date | None = None) -> Changed:
    """Move a lead (and its contact) to a Stage; Potential may open a Deal."""
    if stage not in LEAD_STAGES:
        return Changed("invalid", detail=f"{stage!r} is not one of {', '.join(LEAD_STAGES)}")
    at = now()
    with session_scope(engine) as session:
        lead = session.exec(select(Lead).where(Lead.id == lead_id).with_for_update()).first()
        if lead is None or not can_see(who, lead):
            return Changed("not_found")
        if not who.can_read:
            return Changed("not_allowed", lead)
        if lead.stage == stage:
            return Changed("unchanged", lead)
        previous = lead.stage
        contact = session.get(Contact, lead.contact_id) if lead.contact_id else None
        session.add(StageChange(at=at, lead_id=lead_id, contact_id=lead.contact_id,
                                from_stage=previous, to_stage=stage, by=by))
        lead.stage = stage
        session.add(lead)
        if contact is not None:
            contact.stage, contact.last_activity_at = stage, at
            session.add(contact)
        activity.record(session, lead, "stage", by, text=f"{previous} → {stage}", at=at,
                        contact=False)
        steps.on_stage(session, settings, lead, at)
        campaigns.on_stage(session, settings, lead, at, by)
        deal = None
        if stage == "Potential" and settings.followup.deal_on_potential:
            deal = open_deal(session, settings, lead, by, at, value, expected_close)
        if stage == "Lost":  # the lead is lost: so are its open deals
            for open_one in session.exec(select(Deal).where(Deal.lead_id == lead_id,
                                                            Deal.outcome == "open")).all():
                lost = next(s.name for s in deal_stages_of(settings, open_one.team)
                            if s.outcome == "lost")
                session.add(StageChange(at=at, lead_id=lead_id, contact_id=lead.contact_id,
                                        deal_id=open_one.id, kind="deal",
                                        from_stage=open_one.stage, to_stage=lost, by=by))
                open_one.stage, open_one.outcome, open_one.closed_at = lost, "lost", at
                session.add(open_one)
        return Changed("changed", lead, deal)


def open_deal(session: Session, settings: Settings, lead: Lead, by: str, at: datetime,
              value: int | None = None, expected_close: date | None = None) -> Deal:
    """The lead's open deal, or a new one in the first stage of its team's pipeline."""
    existing = session.exec(
        select(Deal).where(Deal.lead_id == lead.id, Deal.outcome == "open")).first()
    if existing is not None:
        return existing
    team = team_of(settings, lead)
    first = deal_stages_of(settings, team.name if team else None)[0].name
    close = expected_close or (at + timedelta(minutes=settings.followup.deal_close_after)).date()
    assert lead.id is not None
    deal = Deal(lead_id=lead.id, contact_id=lead.contact_id, team=team.name if team else None,
                stage=first, value=value if value is not None else lead.price,
                expected_close=close, created_at=at, by=by)
    session.add(deal)
    session.flush()
    session.add(StageChange(at=at, lead_id=lead.id, contact_id=lead.contact_id, deal_id=deal.id,
                            kind="deal", from_stage=None, to_stage=first, by=by))
    activity.record(session, lead, "deal", by, text=f"deal opened in {first}", at=at,
                    contact=False, deal=deal.id)
    return deal


def move_deal(engine: Engine, settings: Settings, deal_id: int, stage: str, by: str, *,
              who: Principal = ADMIN, value: int | None = None,
              expected_close: date | None = None) -> Changed:
    """Move a deal along its team's pipeline; a won or lost stage closes it."""
    at = now()
    with session_scope(engine) as session:
        found = locked_row(session, Deal, deal_id, who)
        if found is None:
            return Changed("not_found")
        deal, lead = found
        if not who.can_read:
            return Changed("not_allowed", lead, deal)
        stages = {s.name: s for s in deal_stages_of(settings, deal.team)}
        if stage not in stages:
            return Changed("invalid", lead, deal,
                           f"{stage!r} is not a stage of {deal.team or 'the default'} pipeline "
                           f"({', '.join(stages)})")
        if value is not None:
            deal.value = value
        if expected_close is not None:
            deal.expected_close = expected_close
        if deal.stage == stage:
            session.add(deal)
            return Changed("unchanged", lead, deal)
        session.add(StageChange(at=at, lead_id=deal.lead_id, contact_id=lead.contact_id,
                                deal_id=deal.id, kind="deal", from_stage=deal.stage,
                                to_stage=stage, by=by))
        activity.record(session, lead, "deal", by, text=f"deal {deal.stage} → {stage}", at=at,
                        contact=False, deal=deal.id)
        deal.stage, deal.outcome = stage, stages[stage].outcome
        deal.closed_at = at if deal.outcome != "open" else None
        session.add(deal)
        return Changed("changed", lead, deal)


def time_in_stage(session: Session, lead: Lead, until: datetime | None = None
                  ) -> list[dict[str, Any]]:
    """Each Stage the lead was in: from, to (None: still), seconds, and who moved it there."""
    end = until or now()
    changes = session.exec(
        select(StageChange).where(StageChange.lead_id == lead.id, StageChange.kind == "stage")
        .order_by(col(StageChange.at), col(StageChange.id))
    ).all()
    first = changes[0].from_stage if changes else lead.stage
    starts: list[tuple[str, datetime, str]] = [
        (first or lead.stage, must(lead.created_at), "intake")]
    starts += [(c.to_stage, must(c.at), c.by) for c in changes]
    out = []
    for i, (stage, since, by) in enumerate(starts):
        stop = starts[i + 1][1] if i + 1 < len(starts) else None
        seconds = ((stop or end) - since).total_seconds()
        out.append({"stage": stage, "since": since, "by": by, "until": stop,
                    "seconds": max(0.0, seconds)})
    return out


def periods(engine: Engine, lead: Lead) -> list[dict[str, Any]]:
    """time_in_stage in a session of its own (`leadmail leads show`)."""
    with Session(engine) as session:
        return time_in_stage(session, lead)


def stage_since(session: Session, leads: list[Lead]) -> dict[int, datetime]:
    """lead id -> when the lead came to its current Stage (its latest stage change, else when
    it was made): what the board's "time in stage" counts from."""
    ids = [lead.id for lead in leads if lead.id is not None]
    latest: dict[int, datetime] = {}
    if ids:
        for lead_id, at in session.exec(
                select(StageChange.lead_id, func.max(StageChange.at))
                .where(col(StageChange.lead_id).in_(ids), StageChange.kind == "stage")
                .group_by(col(StageChange.lead_id))).all():
            latest[lead_id] = must(at)
    return {lead.id: latest.get(lead.id) or must(lead.created_at)
            for lead in leads if lead.id is not None}


def deal_since(session: Session, deals: list[Deal]) -> dict[int, datetime]:
    """deal id -> when the deal came to its current pipeline stage."""
    ids = [d.id for d in deals if d.id is not None]
    latest: dict[int, datetime] = {}
    if ids:
        for deal_id, at in session.exec(
                select(StageChange.deal_id, func.max(StageChange.at))
                .where(col(StageChange.deal_id).in_(ids), StageChange.kind == "deal")
                .group_by(col(StageChange.deal_id))).all():
            if deal_id is not None:
                latest[deal_id] = must(at)
    return {d.id: latest.get(d.id) or must(d.created_at) for d in deals if d.id}


def deals_of(session: Session, lead_id: int) -> list[Deal]:
    """A lead's deals, oldest first."""
    return list(session.exec(select(Deal).where(Deal.lead_id == lead_id)
                             .order_by(col(Deal.id))).all())


def every_deal(engine: Engine) -> list[Deal]:
    """All deals, oldest first (`leadmail deals list`)."""
    with Session(engine) as session:
        return list(session.exec(select(Deal).order_by(col(Deal.id))).all())
