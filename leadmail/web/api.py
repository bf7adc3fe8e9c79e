"""The Lead API: /api/v1, authenticated by API keys, lead-origin privacy in every query.

    POST /api/v1/leads                    a lead as JSON → the same pipeline as email
    GET  /api/v1/leads                    list and filter (stage, segment, source, tag, custom
                                          field, agent, origin, status, dates, saved audience)
    GET  /api/v1/leads/{id}               one lead with its steps, activity, stages, deals
    POST /api/v1/leads/{id}/stage         move it to a Stage (Potential may open a deal)
    POST /api/v1/leads/{id}/notes         log a note, call, email, text or meeting
    GET  /api/v1/steps                    open Next Steps
    POST /api/v1/steps/{id}/complete      mark one done; the next is set
    GET  /api/v1/deals, POST /api/v1/deals/{id}/stage
    GET  /api/v1/audiences, POST /api/v1/audiences
    GET  /api/v1/reports/{name}           engagement, speed, sources, forecast
    GET  /api/v1/me                       who the key is

Keys go in `X-API-Key` or `Authorization: Bearer`. A lead the key may not see answers 404,
exactly like a lead that does not exist.
"""

import asyncio
import time
from collections.abc import Callable, Coroutine
from datetime import date, datetime
from typing import Annotated, Any, Literal

import structlog
from fastapi import (
    APIRouter,
    Depends,
    Header,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    Security,
)
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, create_model
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from leadmail import leadfields, pipeline
from leadmail.analytics import reports
from leadmail.clock import aware, now
from leadmail.config import STAGES, Settings
from leadmail.db import session_scope
from leadmail.followup import access, activity, stages, steps
from leadmail.followup.access import Principal
from leadmail.intake import api as api_intake
from leadmail.models import Audience, Deal, Lead, Message, MessageStatus, Step
from leadmail.store import store_raw

log = structlog.get_logger("leadmail.api")
_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                           description="An API key from [[api_keys]]")
_bearer = HTTPBearer(auto_error=False, description="The same API key as a bearer token")
NOT_FOUND: dict[str, Any] = {"description": "No such lead, or not one this key may see"}
AUTH: dict[int | str, dict[str, Any]] = {401: {"description": "No valid API key"},
                                         403: {"description": "Not for this key's role"}}


# ---------------------------------------------------------------------------------------------
# Shapes


class _LeadKeys(BaseModel):
    id: int
    received_at: datetime


# The lead's fields the API shows (leadmail.leadfields), typed as the Lead table stores them.
_OUT_FIELDS: dict[str, Any] = {f.name: (f.stored_type, ...) for f in leadfields.having("api_out")}
_LeadOutFields: Any = create_model("_LeadOutFields", __base__=_LeadKeys, **_OUT_FIELDS)


class LeadOut(_LeadOutFields):
    """A lead as the API shows it."""

    status: str
    agent: str | None
    last_contact_at: datetime | None = None


class StepOut(BaseModel):
    """A Next Step."""

    id: int
    lead_id: int
    agent: str
    plan: str
    name: str
    due_at: datetime
    status: str
    contact: bool
    done_at: datetime | None
    done_by: str | None


class ActivityOut(BaseModel):
    """One entry of a lead's activity."""

    at: datetime
    kind: str
    by: str | None
    text: str | None
    contact: bool


class DealOut(BaseModel):
    """A deal."""

    id: int
    lead_id: int
    team: str | None
    stage: str
    outcome: str
    value: int | None
    expected_close: date | None
    created_at: datetime
    closed_at: datetime | None


class StagePeriod(BaseModel):
    """A stretch of time a lead spent in one Stage."""

    stage: str
    since: datetime
    until: datetime | None
    seconds: float
    by: str


class LeadDetail(LeadOut):
    """A lead with its follow-up."""

    steps: list[StepOut]
    activity: list[ActivityOut]
    stages: list[StagePeriod]
    deals: list[DealOut]


class LeadPage(BaseModel):
    """A page of leads."""

    total: int
    items: list[LeadOut]


class Posted(BaseModel):
    """What happened to a posted lead: status lead, duplicate, review, non_lead, quarantined,
    or received (still being processed)."""

    message: int
    status: str
    lead_id: int | None = None
    reason: str | None = None


class StageIn(BaseModel):
    """Move a lead to a Stage; value and expected close are used if a deal opens."""

    model_config = ConfigDict(extra="forbid")
    stage: Literal["Lead", "Potential", "Active", "Inactive", "Lost"]
    value: int | None = Field(default=None, ge=0, le=10**12)
    expected_close: date | None = None


class DealStageIn(BaseModel):
    """Move a deal along its team's pipeline."""

    model_config = ConfigDict(extra="forbid")
    stage: str = Field(min_length=1, max_length=200)
    value: int | None = Field(default=None, ge=0, le=10**12)
    expected_close: date | None = None


class NoteIn(BaseModel):
    """A note, or a logged call, email, text or meeting (these count as contact)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["note", "call", "email", "text", "meeting"] = "note"
    text: str = Field(min_length=1, max_length=20000)


class CompleteIn(BaseModel):
    """Completing a step, optionally with a note."""

    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=20000)


class LeadFilter(BaseModel):
    """The filters of GET /leads, as saved in an audience."""

    model_config = ConfigDict(extra="forbid")
    stage: list[str] = Field(default_factory=list)
    segment: list[str] = Field(default_factory=list)
    source: list[str] = Field(default_factory=list)
    tag: list[str] = Field(default_factory=list)
    custom: list[str] = Field(default_factory=list, description="NAME=VALUE")
    agent: list[str] = Field(default_factory=list)
    origin: list[Literal["company", "agent"]] = Field(default_factory=list)
    status: list[str] = Field(default_factory=list)
    received_after: datetime | None = None
    received_before: datetime | None = None


class AudienceIn(BaseModel):
    """A saved filter."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, pattern=r"^[\w .-]+$")
    filters: LeadFilter


class AudienceOut(AudienceIn):
    """A saved filter and how many leads it matches now."""

    id: int
    matches: int


class Me(BaseModel):
    """The key's holder."""

    name: str
    role: str
    user: str | None
    teams: list[str]


class ReportOut(BaseModel):
    """A report: its summary and table (docs/followup.md defines each)."""

    report: str
    at: datetime
    summary: dict[str, Any]
    table: list[dict[str, Any]]
    detail: list[dict[str, Any]]


# ---------------------------------------------------------------------------------------------


def lead_out(lead: Lead, last_contact: datetime | None = None) -> LeadOut:
    """LeadOut of a row."""
    assert lead.id is not None
    shown = {f.name: getattr(lead, f.draft_attr) for f in leadfields.having("api_out")}
    return LeadOut(
        id=lead.id, received_at=aware(lead.created_at), status=lead.status, agent=lead.agent,
        last_contact_at=last_contact, **{**shown, "tags": list(lead.tags),
                                         "custom_fields": dict(lead.custom_fields)})


def step_out(step: Step) -> StepOut:
    """StepOut of a row."""
    assert step.id is not None
    return StepOut(id=step.id, lead_id=step.lead_id, agent=step.agent, plan=step.plan,
                   name=step.name, due_at=aware(step.due_at),
                   status=step.status, contact=step.contact, done_at=aware(step.done_at),
                   done_by=step.done_by)


def deal_out(deal: Deal) -> DealOut:
    """DealOut of a row."""
    assert deal.id is not None
    return DealOut(id=deal.id, lead_id=deal.lead_id, team=deal.team, stage=deal.stage,
                   outcome=deal.outcome, value=deal.value, expected_close=deal.expected_close,
                   created_at=aware(deal.created_at),
                   closed_at=aware(deal.closed_at))


def matches(lead: Lead, f: LeadFilter) -> bool:
    """The filters on one lead (also what SQL cannot say portably: tags, custom fields)."""
    def one_of(values: list[str], value: str | None) -> bool:
        return not values or (value is not None and value.lower() in {v.lower() for v in values})

    created = aware(lead.created_at)
    assert created is not None
    if not (one_of(f.stage, lead.stage) and one_of(f.segment, lead.segment)
            and one_of(f.source, lead.source) and one_of(f.agent, lead.agent)
            and one_of(list(f.origin), lead.origin) and one_of(f.status, lead.status)):
        return False
    if f.received_after and created < aware(f.received_after):
        return False
    if f.received_before and created >= aware(f.received_before):
        return False
    tags = {t.lower() for t in lead.tags}
    if any(t.lower() not in tags for t in f.tag):
        return False
    for item in f.custom:
        name, _, value = item.partition("=")
        have = lead.custom_fields.get(name.strip())
        values = have if isinstance(have, list) else [have]
        if have is None or value.strip().lower() not in {str(v).lower() for v in values}:
            return False
    return True


def filtered(session: Session, who: Principal, f: LeadFilter) -> list[Lead]:
    """The leads `who` may see that pass the filters, newest first."""
    query = access.leads(who).order_by(col(Lead.id).desc())
    if f.stage:
        query = query.where(col(Lead.stage).in_(f.stage))
    if f.source:
        query = query.where(col(Lead.source).in_(f.source))
    if f.agent:
        query = query.where(col(Lead.agent).in_([a.lower() for a in f.agent]))
    if f.origin:
        query = query.where(col(Lead.origin).in_(list(f.origin)))
    return [lead for lead in session.exec(query).all() if matches(lead, f)]


def router(engine: Engine, settings: Settings, rt_factory: Any = None) -> APIRouter:
    """The /api/v1 routes."""
    class AuthFirst(APIRoute):
        """Checks the API key before the body is read: a request without a valid key gets its
        401 at once, whatever it sends (`who` below then names the principal)."""

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def checked(request: Request) -> Response:
                if access.authenticate(settings, _presented(request)) is None:
                    raise HTTPException(401, "a valid API key is needed (X-API-Key or Bearer)",
                                        headers={"WWW-Authenticate": "Bearer"})
                return await handler(request)

            return checked

    r = APIRouter(prefix="/api/v1", tags=["leads"], route_class=AuthFirst)
    runtime: dict[str, Any] = {}

    def rt() -> Any:
        if "rt" not in runtime:
            runtime["rt"] = rt_factory() if rt_factory else pipeline.Runtime.load(settings)
        return runtime["rt"]

    def who(key: Annotated[str | None, Security(_key_header)] = None,
            bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None
            ) -> Principal:
        found = access.authenticate(settings, key or (bearer.credentials if bearer else None))
        if found is None:
            raise HTTPException(401, "a valid API key is needed (X-API-Key or Bearer)",
                                headers={"WWW-Authenticate": "Bearer"})
        return found

    def reader(p: Annotated[Principal, Depends(who)]) -> Principal:
        if not p.can_read:
            raise HTTPException(403, "this key may only post leads")
        return p

    Reader = Annotated[Principal, Depends(reader)]
    LeadId = Annotated[int, Path(ge=1, le=2**31 - 1)]

    def visible(session: Session, p: Principal, lead_id: int) -> Lead:
        lead = session.get(Lead, lead_id)
        if lead is None or not access.can_see(p, lead):
            raise HTTPException(404, "no such lead")
        return lead

    @r.get("/me", responses=AUTH)
    def me(p: Annotated[Principal, Depends(who)]) -> Me:
        """Who this key is, and what it sees."""
        return Me(name=p.name, role=p.role, user=p.user, teams=list(p.teams))

    @r.post("/leads", status_code=201, responses={
        **AUTH, 200: {"model": Posted, "description": "A duplicate of a lead posted before"},
        202: {"model": Posted, "description": "Stored; still being processed"},
        422: {"description": "Not a lead this brokerage knows how to take"}})
    async def post_lead(
        lead: api_intake.LeadIn, response: Response,
        p: Annotated[Principal, Depends(who)],
        idempotency_key: Annotated[str | None, Header(max_length=200,
                                                      pattern=r"^[A-Za-z0-9_.-]+$")] = None,
    ) -> Posted:
        """Post a lead (a web form, Zapier): stored, then read, merged, routed and alerted
        exactly like a lead that came by email. Same Idempotency-Key, same lead."""
        if p.role not in ("integration", "admin") or p.key is None:
            raise HTTPException(403, "only integration and admin keys post leads")
        problems = _check_lead(settings, lead)
        if problems:
            raise _invalid(*problems)
        raw = api_intake.synthesize(p.key, lead, now(), idempotency_key)
        # Idempotency lives in the API's own namespace: no mail's Message-ID can reach it.
        dedup = f"api:{p.key.name}:{idempotency_key}" if idempotency_key else None
        msg_id = await asyncio.to_thread(store_raw, engine, raw, mail_from=p.key.name,
                                         intake="api", dedup=dedup)
        posted = await asyncio.to_thread(_process, engine, rt(), msg_id)
        response.status_code = {"lead": 201, "review": 201, "duplicate": 200}.get(
            posted.status, 202)
        log.info("lead posted", key=p.name, message=msg_id, status=posted.status,
                 lead=posted.lead_id)
        return posted

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
            )

    @r.post("/leads/{lead_id}/stage", responses={**AUTH, 404: NOT_FOUND})
    def set_stage(lead_id: LeadId, body: StageIn, p: Reader) -> LeadDetail:
        """Move the lead (and its contact) to a Stage; recorded with who and when."""
        result = stages.set_stage(engine, settings, lead_id, body.stage, p.user or p.name,
                                  who=p, value=body.value, expected_close=body.expected_close)
        if result.status == "not_found":
            raise HTTPException(404, "no such lead")
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

    @r.get("/steps", responses=AUTH)
    def list_steps(
        p: Reader,
        agent: Annotated[str | None, Query(max_length=320)] = None,
        due_before: datetime | None = None,
    ) -> list[StepOut]:
        """Open Next Steps of the leads this key may see, soonest due first."""
        with Session(engine) as session:
            due = aware(due_before) if due_before else None
            return [step_out(s) for s, _ in steps.open_steps(
                session, p, agent=agent.lower() if agent else None, due_before=due)]

    @r.post("/steps/{step_id}/complete", responses={
        **AUTH, 404: {"description": "No such step, or not one this key may see"},
        409: {"description": "Already done or cancelled"}})
    def complete_step(step_id: LeadId, p: Reader, body: CompleteIn | None = None) -> list[StepOut]:
        """Mark a step done; the answer is the step and the next one set (if any)."""
        done = steps.complete(engine, settings, step_id, p.user or p.name, via="api", who=p,
                              note=body.note if body else None)
        if done.status == "not_found":
            raise HTTPException(404, "no such step")
        if done.status == "not_allowed":
            raise HTTPException(403, "only the lead's agent or an admin completes its steps")
        if not done.ok:
            raise HTTPException(409, f"this step is {done.status.replace('_', ' ')}")
        assert done.step is not None
        return [step_out(done.step), *([step_out(done.next)] if done.next else [])]

    @r.get("/deals", responses=AUTH)
    def list_deals(p: Reader, outcome: Literal["open", "won", "lost"] | None = None
                   ) -> list[DealOut]:
        """Deals of the leads this key may see."""
        with Session(engine) as session:
            query = select(Deal).where(col(Deal.lead_id).in_(access.visible_ids(p)))
            if outcome:
                query = query.where(Deal.outcome == outcome)
            return [deal_out(d) for d in session.exec(query.order_by(col(Deal.id))).all()]

    @r.post("/deals/{deal_id}/stage", responses={
        **AUTH, 404: {"description": "No such deal, or not one this key may see"}})
    def move_deal(deal_id: LeadId, body: DealStageIn, p: Reader) -> DealOut:
        """Move a deal to another stage of its team's pipeline (won/lost close it)."""
        result = stages.move_deal(engine, settings, deal_id, body.stage, p.user or p.name,
                                  who=p, value=body.value, expected_close=body.expected_close)
        if result.status == "not_found":
            raise HTTPException(404, "no such deal")
        if result.status == "invalid":
            raise _invalid("stage", result.detail or "not a stage of this pipeline")
        assert result.deal is not None
        return deal_out(result.deal)

    @r.get("/audiences", responses=AUTH)
    def list_audiences(p: Reader) -> list[AudienceOut]:
        """This key's saved audiences."""
        with Session(engine) as session:
            out = []
            for a in session.exec(select(Audience).where(Audience.owner == p.name)
                                  .order_by(col(Audience.name))).all():
                f = LeadFilter.model_validate(a.filters)
                out.append(AudienceOut(id=a.id or 0, name=a.name, filters=f,
                                       matches=len(filtered(session, p, f))))
            return out

    @r.post("/audiences", status_code=201, responses={
        **AUTH, 409: {"description": "This key has an audience of that name"}})
    def save_audience(body: AudienceIn, p: Reader) -> AudienceOut:
        """Save a filter under a name (per key); GET /leads?audience=NAME uses it."""
        try:
            with session_scope(engine) as session:
                row = Audience(owner=p.name, name=body.name,
                               filters=body.filters.model_dump(mode="json"), created_at=now())
                session.add(row)
                session.flush()
                count = len(filtered(session, p, body.filters))
                return AudienceOut(id=row.id or 0, name=row.name, filters=body.filters,
                                   matches=count)
        except IntegrityError:
            raise HTTPException(409, f"an audience {body.name!r} exists") from None

    @r.get("/reports/{name}", responses=AUTH)
    def report(name: Literal["engagement", "speed", "sources", "forecast"], p: Reader
               ) -> ReportOut:
        """A report over the leads this key may see."""
        with Session(engine) as session:
            built = reports.build(name, session, settings, p, now())
        return ReportOut.model_validate(built.as_dict())

    return r


def _presented(request: Request) -> str | None:
    """The key a request presents, read as `_key_header` and `_bearer` read it."""
    key = request.headers.get("x-api-key")
    if key:
        return key
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None


def _invalid(field: str, msg: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors (one schema for all 422s)."""
    return HTTPException(422, [{"loc": ["body", field], "msg": msg, "type": "value_error"}])


def _check_lead(settings: Settings, lead: api_intake.LeadIn) -> tuple[str, str] | None:
    if lead.stage is not None and lead.stage not in STAGES:
        return "stage", f"{lead.stage!r} is not one of {', '.join(STAGES)}"
    if lead.segment is not None and lead.segment not in settings.classify.all_segments():
        return "segment", f"{lead.segment!r} is not a known segment"
    if not (lead.email or lead.phone):
        return "email", "a lead needs an email or a phone"
    return None


def _process(engine: Engine, rt: Any, msg_id: int, wait: float = 10.0) -> Posted:
    """Run the pipeline on the stored lead now; if a worker got to it first, wait for it."""
    outcome = pipeline.process(rt, engine, msg_id)
    deadline = time.monotonic() + wait
    while True:
        with Session(engine) as session:
            msg = session.get(Message, msg_id)
            assert msg is not None
            status, lead_id, reason = msg.status, msg.lead_id, msg.reason
            if status == MessageStatus.DUPLICATE and msg.duplicate_of:
                lead_id = session.exec(select(func.min(Lead.id)).where(
                    Lead.message_pk == msg.duplicate_of)).one()
            review = lead_id is not None and session.exec(
                select(Lead.status).where(Lead.id == lead_id)).one() == "review"
        if status in MessageStatus.FINAL or outcome is not None or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return Posted(message=msg_id, status="review" if review else status, lead_id=lead_id,
                  reason=reason)
