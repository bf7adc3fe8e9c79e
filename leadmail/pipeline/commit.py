"""Step: merge contact → review or route → dispatch → outbox → the message's `lead` status,
in ONE transaction. A crash anywhere in it leaves nothing, and the message is simply
processed again; the lead's unique dedup key makes a second lead impossible.

Reads: `Lead` by dedup key, `Contact` by email or phone (locked), the routes, agents and the
ledger. Writes: the `Lead`, the `Contact`, `lead_created`/`contact_*`/`review` events, the
assignment or offers, timers, the first Next Step, the alert's `Outbox` rows, and the message
row (`lead`). Makes the context's outcome. Ends the message: Duplicate (another worker made
this lead first), or Transient (the database failed: tried again later).
"""

from __future__ import annotations

import traceback
from dataclasses import fields
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from leadmail import contacts, routing
from leadmail.clock import utcnow
from leadmail.config import Settings
from leadmail.db import session_scope
from leadmail.draft import Draft
from leadmail.errors import Duplicate, Transient
from leadmail.followup import steps
from leadmail.metrics import ASSIGNMENTS
from leadmail.models import Contact, Event, Lead, Message, MessageStatus
from leadmail.pipeline.context import Context, Outcome
from leadmail.statuses import LeadStatus


def run(ctx: Context) -> Context:
    try:
        ctx.outcome = _commit_lead(ctx, ctx.the_draft())
    except IntegrityError:
        # Another copy of this message made the lead first (two workers, same dedup key).
        error = traceback.format_exc()
        with session_scope(ctx.engine) as session:
            lead = session.exec(select(Lead).where(Lead.dedup_key == ctx.key)).first()
        if lead is not None and lead.message_pk != ctx.msg_id:
            raise Duplicate(f"same message as #{lead.message_pk}", lead.message_pk) from None
        raise Transient(error) from None
    except Exception:  # database down, locked, or full: the message stays stored; try later
        ctx.log.exception("could not store the lead; will retry")
        raise Transient(traceback.format_exc()) from None
    return ctx


def _commit_lead(ctx: Context, draft: Draft) -> Outcome:
    settings, msg_id, key = ctx.rt.settings, ctx.msg_id, ctx.key
    with session_scope(ctx.engine) as session:
        existing = session.exec(select(Lead).where(Lead.dedup_key == key)).first()
        if existing is not None:  # this very message made its lead before a crash: done
            msg = session.get(Message, msg_id)
            assert msg is not None
            msg.status, msg.lead_id, msg.processed_at = MessageStatus.LEAD, existing.id, utcnow()
            session.add(msg)
            return Outcome(msg_id, MessageStatus.LEAD, existing.id, existing.agent)
        lead = Lead(message_pk=msg_id, dedup_key=key, **_lead_fields(draft))
        session.add(lead)
        session.flush()
        assert lead.id is not None
        contact, merged = contacts.merge(session, draft, lead.id)
        lead.contact_id = contact.id
        draft.note("merge_contact", contact=contact.id, merged=merged)
        session.add_all(
            [
                Event(
                    kind="lead_created",
                    message_pk=msg_id,
                    lead_id=lead.id,
                    data={"source": draft.source, "rule": draft.rule, "parser": draft.parser},
                ),
                Event(
                    kind="contact_merged" if merged else "contact_created",
                    lead_id=lead.id,
                    data={"contact": contact.id},
                ),
            ]
        )
        if ctx.review:
            # Not routed blind: a person checks it (`leadmail review`), then it is routed.
            lead.status, lead.review_reason = LeadStatus.REVIEW, ctx.review
            draft.note("review", reason=ctx.review)
            session.add(Event(kind="review", lead_id=lead.id, data={"reason": ctx.review}))
            route_name = "review"
        else:
            decision = assign(
                session,
                settings,
                lead,
                contact,
                draft.trace,
                owner=contact.owner if merged else None,
            )
            route_name = decision.rule
        lead.trace = list(draft.trace)
        session.add(lead)
        session.add(contact)
        msg = session.get(Message, msg_id)
        assert msg is not None
        msg.status, msg.lead_id, msg.processed_at = MessageStatus.LEAD, lead.id, utcnow()
        msg.lease_until, msg.reason = None, None
        session.add(msg)
        outcome = Outcome(msg_id, MessageStatus.LEAD, lead.id, lead.agent, source=draft.source)
    ctx.log.info(
        "lead",
        lead=outcome.lead_id,
        source=draft.source,
        agent=outcome.agent,
        route=route_name,
    )
    return outcome


def assign(
    session: Session,
    settings: Settings,
    lead: Lead,
    contact: Contact,
    trace: list[dict[str, Any]],
    owner: str | None = None,
) -> routing.Decision:
    """route → assignment → outbox alert, inside the caller's transaction."""
    decision = routing.route(session, settings, lead, owner=owner)
    if decision.agent is not None:
        ASSIGNMENTS.labels(decision.strategy).inc()
    trace.append(routing.trace_of(decision))
    # Assignment, offers, timers, alerts and events: routing.dispatch writes them all.
    routing.dispatch(session, settings, lead, decision, trace=trace)
    steps.on_assigned(session, settings, lead)  # Next Steps: the agent's first step
    return decision


def _lead_fields(draft: Draft) -> dict[str, Any]:
    """Every Draft field the Lead table stores (the trace is written once routing is done)."""
    names = [f.name for f in fields(Draft) if f.name in Lead.model_fields and f.name != "trace"]
    return {n: getattr(draft, n) for n in names}
