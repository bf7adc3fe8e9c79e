"""Step: merge contact → review or route → dispatch → outbox → the message's `lead` status,
in ONE transaction. A crash anywhere in it leaves nothing, and the message is simply
processed again; the lead's unique dedup key makes a second lead impossible.

Reads: `Lead` by dedup key, `Contact` by email or phone (locked), the routes, agents and the
ledger. Writes: the `Lead`, the `Contact`, `lead_created`/`contact_*`/`review` events, the
assignment or offers, timers, the first Next Step, the alert's `Outbox` rows, and the message
row (`lead`). Makes the context's outcome. Ends the message: Duplicate (another worker made
this lead first), or Transient (the database failed: tried again later).
A message the review step ended (Review, on `ctx.held`) comes here too: its lead is made in
the same way and place, in id order with the others, but held in review instead of routed.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import fields
from typing import Any

import structlog
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from leadmail import contacts, routing
from leadmail.clock import utcnow
from leadmail.config import Settings
from leadmail.db import serialize_commits, session_scope
from leadmail.draft import Draft
from leadmail.errors import Duplicate, Transient
from leadmail.followup import campaigns, steps
from leadmail.metrics import ASSIGNMENTS
from leadmail.models import Contact, Event, Lead, Message, MessageStatus
from leadmail.pipeline.context import Context, Outcome, Ran
from leadmail.sources import health
from leadmail.statuses import LeadStatus

# Seconds one transaction of a batch may go on adding leads before it commits (and the next
# begins): the writer's lock is never held much longer, so intake and delivery never wait
# longer than that for it.
HOLD = 0.05


def run(ctx: Context) -> Context:
    try:
        with session_scope(ctx.engine) as session:
            serialize_commits(session)
            outcome, seen = _write(session, ctx, ctx.the_draft())
            health.observe_many(session, ctx.rt.settings, [seen] if seen else [])
        ctx.outcome = _logged(ctx, outcome)
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


def run_batch(ctxs: list[Context]) -> list[Ran]:
    """The batch's leads in as few transactions as fit in HOLD seconds each (one, for a
    batch of simple leads), in id order, each lead in a savepoint of its own, so each is
    merged and routed exactly as if it were alone (the round-robin credits, caps and
    contacts the one before it wrote are what it reads). A lead whose savepoint fails
    (another worker made it first), or the leads of a transaction that fails, go through
    `run` on their own."""
    if len(ctxs) < 2:
        return [Ran.of(run, ctx) for ctx in ctxs]
    ran: dict[int, Ran] = {}
    rest = list(ctxs)
    while rest:
        done, rest = _transaction(rest)
        ran.update(done)
    return [ran[ctx.msg_id] for ctx in ctxs]


def _transaction(ctxs: list[Context]) -> tuple[dict[int, Ran], list[Context]]:
    """One transaction over the first leads of `ctxs`, until HOLD seconds have gone (the
    writer's lock is held that long at most, so intake and delivery wait no longer): what
    became of them, and the leads left for the next."""
    written: list[tuple[Context, Outcome]] = []
    seen: list[health.Seen] = []  # the source figures' mails, counted once all are written
    alone: list[Context] = []
    traces: dict[int, list[dict[str, Any]]] = {}  # each lead's trace before its attempt

    def on_its_own(ctx: Context) -> Ran:  # as it was before the batch's attempt
        ctx.the_draft().trace[:] = traces[ctx.msg_id]
        ctx.route = None
        return Ran.of(run, ctx)

    taken = 0
    try:
        with session_scope(ctxs[0].engine) as session:
            serialize_commits(session)
            until = time.monotonic() + HOLD
            for ctx in ctxs:
                taken += 1
                traces[ctx.msg_id] = list(ctx.the_draft().trace)
                with structlog.contextvars.bound_contextvars(msg=ctx.msg_id):
                    try:
                        with session.begin_nested():
                            outcome, one = _write(session, ctx, ctx.the_draft())
                        written.append((ctx, outcome))
                        seen += [one] if one else []
                    except IntegrityError:
                        alone.append(ctx)
                if time.monotonic() > until:
                    break
            health.observe_many(session, ctxs[0].rt.settings, seen)
    except Exception:
        ctxs[0].log.warning("a batch's transaction failed; its leads go one by one",
                            leads=taken, exc_info=True)
        return {ctx.msg_id: on_its_own(ctx) for ctx in ctxs[:taken]}, ctxs[taken:]
    for ctx, outcome in written:
        ctx.outcome = _logged(ctx, outcome)
    done = {ctx.msg_id: Ran(ctx) for ctx, _ in written}
    done.update({ctx.msg_id: on_its_own(ctx) for ctx in alone})
    return done, ctxs[taken:]


def _write(session: Session, ctx: Context, draft: Draft) -> tuple[Outcome, health.Seen | None]:
    """The lead, its contact, its routing and alerts (for a lead held for review, no
    routing), and the message's `lead` status, in the caller's transaction; and the mail as
    its source's health figures count it (None for a lead made before a crash: counted
    then)."""
    settings, msg_id, key = ctx.rt.settings, ctx.msg_id, ctx.key
    review = ctx.held.reason if ctx.held else None
    existing = session.exec(select(Lead).where(Lead.dedup_key == key)).first()
    if existing is not None:  # this very message made its lead before a crash: done
        msg = session.get(Message, msg_id)
        assert msg is not None
        msg.status, msg.lead_id, msg.processed_at = MessageStatus.LEAD, existing.id, utcnow()
        session.add(msg)
        return Outcome(msg_id, MessageStatus.LEAD, existing.id, existing.agent), None
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
    if review:
        # Not routed blind: a person checks it (`leadmail review`), then it is routed.
        lead.status, lead.review_reason = LeadStatus.REVIEW, review
        draft.note("review", reason=review)
        session.add(Event(kind="review", lead_id=lead.id, data={"reason": review}))
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
    # The source's health figures, in this transaction: counted once, with the lead.
    seen = health.Seen(lead.source, "review" if review else "lead", msg_id, _message_id(draft),
                       _lead_fields(draft), draft.parser)
    lead.trace = list(draft.trace)
    session.add(lead)
    session.add(contact)
    session.execute(update(Message).where(col(Message.id) == msg_id).values(
        status=MessageStatus.LEAD, lead_id=lead.id, processed_at=utcnow(), lease_until=None,
        reason=None).execution_options(synchronize_session=False))  # one statement: the
    # message's bytes are not loaded again, nor is any message of the session to be matched
    ctx.route = route_name
    return Outcome(msg_id, MessageStatus.LEAD, lead.id, lead.agent, source=draft.source), seen


def _message_id(draft: Draft) -> str | None:
    """The mail's Message-ID, as the read step's trace has it."""
    return next((str(t["message_id"]) for t in draft.trace
                 if t.get("step") == "parse" and t.get("message_id")), None)


def _logged(ctx: Context, outcome: Outcome) -> Outcome:
    """Once committed: the lead's log line."""
    if ctx.route:
        ctx.log.info("lead", lead=outcome.lead_id, source=outcome.source, agent=outcome.agent,
                     route=ctx.route)
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
    routing.dispatch(session, settings, lead, decision, trace=trace, first=True)
    steps.on_assigned(session, settings, lead)  # Next Steps: the agent's first step
    campaigns.on_assigned(session, settings, lead, trace)  # the lead's own follow-up, if any
    return decision


def _lead_fields(draft: Draft) -> dict[str, Any]:
    """Every Draft field the Lead table stores (the trace is written once routing is done)."""
    names = [f.name for f in fields(Draft) if f.name in Lead.model_fields and f.name != "trace"]
    return {n: getattr(draft, n) for n in names}
