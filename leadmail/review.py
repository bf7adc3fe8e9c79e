"""The review queue: leads without a usable contact or with low confidence wait for a person."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from leadmail import leadfields
from leadmail.config import Settings
from leadmail.db import session_scope
from leadmail.draft import Draft
from leadmail.models import Contact, Event, Lead
from leadmail.pipeline import assign
from leadmail.scripts.view import LeadApi
from leadmail.statuses import LeadStatus

FIXABLE = LeadApi.FIELDS  # what `leadmail review fix` may correct: what a script may set


def pending(engine: Engine) -> list[Lead]:
    """Leads waiting in review, oldest first."""
    with Session(engine) as session:
        return list(session.exec(select(Lead).where(Lead.status == LeadStatus.REVIEW)
                                 .order_by(col(Lead.id))).all())


def fix(engine: Engine, settings: Settings, lead_id: int, values: dict[str, str]) -> Lead:
    """Correct fields of a lead in review (normalized like parser output)."""
    with session_scope(engine) as session:
        lead = _in_review(session, lead_id)
        fixable = leadfields.having("script")
        draft = Draft(**{f.draft_attr: getattr(lead, f.draft_attr) for f in fixable})
        api = LeadApi(draft, settings.pipeline.default_region)
        for name, value in values.items():
            api.set(name, value)
        changed: dict[str, Any] = {}
        for name in values:
            attr = leadfields.attr(name)
            setattr(lead, attr, getattr(draft, attr))
            changed[attr] = getattr(draft, attr)
        lead.trace = [*lead.trace, {"step": "review_fix", "set": changed}]
        session.add(lead)
        session.add(Event(kind="review_fixed", lead_id=lead_id, data=changed))
        return lead


def approve(engine: Engine, settings: Settings, lead_id: int) -> Lead:
    """Route a reviewed lead now: assignment and alert in one transaction."""
    with session_scope(engine) as session:
        lead = _in_review(session, lead_id)
        contact = session.get(Contact, lead.contact_id) if lead.contact_id else None
        if contact is None:
            raise ValueError(f"lead #{lead_id} has no contact")
        trace = [*lead.trace, {"step": "review_approved"}]
        assign(session, settings, lead, contact, trace)
        lead.trace, lead.review_reason = trace, None
        session.add(lead)
        session.add(Event(kind="review_approved", lead_id=lead_id, data={"agent": lead.agent}))
        return lead


def _in_review(session: Session, lead_id: int) -> Lead:
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise ValueError(f"no lead #{lead_id}")
    if lead.status != LeadStatus.REVIEW:
        raise ValueError(f"lead #{lead_id} is not in review (status: {lead.status})")
    return lead
