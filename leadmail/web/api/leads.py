"""GET /leads (filtered, or a saved audience), GET /leads/{id} with its follow-up, and what a
reader does to one lead: move it to a Stage, log a note."""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from leadmail.clock import aware
from leadmail.config import Settings
from leadmail.db import session_scope
from leadmail.followup import access, activity, campaigns, stages
from leadmail.followup.access import Principal
from leadmail.models import Audience, Lead, Step
from leadmail.web.api.filters import LeadFilter, filtered, matches
from leadmail.web.api.keys import Keys
from leadmail.web.api.schemas import (
    AUTH,
    NOT_FOUND,
    ActivityOut,
    CampaignStepOut,
    DealStageIn,
    LeadDetail,
    LeadId,
    LeadPage,
    NoteIn,
    StageIn,
    StagePeriod,
    deal_out,
    lead_out,
    step_out,
)


def moved(change: Callable[..., stages.Changed], engine: Engine, settings: Settings, row_id: int,
          body: StageIn | DealStageIn, p: Principal, what: str) -> stages.Changed:
    """`change` (stages.set_stage or stages.move_deal) made by `p` as `body` asks, or 404 when
    there is no such `what` (lead or deal) that `p` may see."""
    result = change(engine, settings, row_id, body.stage, p.user or p.name, who=p,
                    value=body.value, expected_close=body.expected_close)
    if result.status == "not_found":
        raise HTTPException(404, f"no such {what}")
    return result


def router(engine: Engine, settings: Settings, k: Keys) -> APIRouter:
    """GET /leads, GET /leads/{id}, POST /leads/{id}/stage and /notes."""
    r = k.router()
    Reader = Annotated[Principal, Depends(k.reader)]

    def visible(session: Session, p: Principal, lead_id: int) -> Lead:
        lead = session.get(Lead, lead_id)
        if lead is None or not access.can_see(p, lead):
            raise HTTPException(404, "no such lead")
        return lead

    @r.get("/leads", responses={**AUTH, 404: {"description": "No saved audience of that name"}})
    def list_leads(
        p: Reader,
        stage: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI reads defaults)
        segment: Annotated[list[str], Query()] = [],  # noqa: B006
        source: Annotated[list[str], Query()] = [],  # noqa: B006
        tag: Annotated[list[str], Query()] = [],  # noqa: B006
        custom: Annotated[list[str], Query(description="NAME=VALUE")] = [],  # noqa: B006
        agent: Annotated[list[str], Query()] = [],  # noqa: B006
        origin: Annotated[list[Literal["company", "agent"]], Query()] = [],  # noqa: B006
        status: Annotated[list[str], Query()] = [],  # noqa: B006
        received_after: datetime | None = None,
        received_before: datetime | None = None,
        audience: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=10**6)] = 0,
    ) -> LeadPage:
        """Leads this key may see, newest first, filtered; `audience` adds a saved filter."""
        f = LeadFilter(stage=stage, segment=segment, source=source, tag=tag, custom=custom,
                       agent=agent, origin=origin, status=status, received_after=received_after,
                       received_before=received_before)
        with Session(engine) as session:
            found = filtered(session, p, f)
            if audience is not None:
                saved = session.exec(select(Audience).where(Audience.owner == p.name,
                                                            Audience.name == audience)).first()
                if saved is None:
                    raise HTTPException(404, f"no audience {audience!r}")
                extra = LeadFilter.model_validate(saved.filters)
                found = [lead for lead in found if matches(lead, extra)]
            page = found[offset:offset + limit]
            contacts = activity.contact_times(session, [lead.id for lead in page if lead.id])
        return LeadPage(total=len(found), items=[
            lead_out(lead, contacts.get(lead.id or 0, (None, None))[1]) for lead in page])

    @r.get("/leads/{lead_id}", responses={**AUTH, 404: NOT_FOUND})
    def get_lead(lead_id: LeadId, p: Reader) -> LeadDetail:
        """One lead with its steps, activity, time in each stage and deals."""
        with Session(engine) as session:
            lead = visible(session, p, lead_id)
            last = activity.contact_times(session, [lead_id]).get(lead_id, (None, None))[1]
            return LeadDetail(
                **lead_out(lead, last).model_dump(),
                steps=[step_out(s) for s in session.exec(
                    select(Step).where(Step.lead_id == lead_id).order_by(col(Step.id))).all()],
                activity=[ActivityOut(**{k: i[k] for k in ("at", "kind", "by", "text",
                                                           "contact")})
                          for i in activity.timeline(session, lead_id)],
                stages=[StagePeriod(**s) for s in stages.time_in_stage(session, lead)],
                deals=[deal_out(d) for d in stages.deals_of(session, lead_id)],
                campaign_steps=[CampaignStepOut(**s) for s in campaigns.steps_of(session,
                                                                                 lead_id)],
            )

    @r.post("/leads/{lead_id}/stage", responses={**AUTH, 404: NOT_FOUND})
    def set_stage(lead_id: LeadId, body: StageIn, p: Reader) -> LeadDetail:
        """Move the lead (and its contact) to a Stage; recorded with who and when."""
        result = moved(stages.set_stage, engine, settings, lead_id, body, p, "lead")
        if result.status == "not_allowed":
            raise HTTPException(403, "this key may not change stages")
        return get_lead(lead_id, p)

    @r.post("/leads/{lead_id}/notes", status_code=201, responses={**AUTH, 404: NOT_FOUND})
    def add_note(lead_id: LeadId, body: NoteIn, p: Reader) -> ActivityOut:
        """Log a note (or a call, email, text, meeting: those count as contact)."""
        with session_scope(engine) as session:
            lead = visible(session, p, lead_id)
            row = activity.record(session, lead, body.kind, p.user or p.name, text=body.text)
            return ActivityOut(at=aware(row.at), kind=row.kind, by=row.by,
                               text=row.text, contact=row.contact)

    return r
