"""The Lead API's shapes: what it takes and what it answers, the rows turned into answers, and
the responses every route shares (401/403, 404, 422)."""

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field, create_model

from leadmail import leadfields
from leadmail.clock import aware
from leadmail.models import Deal, Lead, Step
from leadmail.web.api.filters import LeadFilter

NOT_FOUND: dict[str, Any] = {"description": "No such lead, or not one this key may see"}
AUTH: dict[int | str, dict[str, Any]] = {401: {"description": "No valid API key"},
                                         403: {"description": "Not for this key's role"}}
LeadId = Annotated[int, Path(ge=1, le=2**31 - 1)]


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


class CampaignStepOut(BaseModel):
    """One step of the lead's campaign: scheduled, sent, skipped or stopped, and why."""

    campaign: str
    step: int
    channel: str
    template: str
    status: str
    due_at: datetime
    sent_at: datetime | None
    reason: str | None
    run_status: str | None
    stop_reason: str | None


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
    campaign_steps: list[CampaignStepOut] = []


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


def invalid(field: str, msg: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors (one schema for all 422s)."""
    return HTTPException(422, [{"loc": ["body", field], "msg": msg, "type": "value_error"}])
