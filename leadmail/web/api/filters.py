"""The filters of GET /leads (also saved as audiences, and used by the report pages)."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col

from leadmail.clock import aware
from leadmail.followup import access
from leadmail.followup.access import Principal
from leadmail.models import Lead


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
