"""Write a routing decision, inside the caller's transaction: the lead's status and agent, the
assignment, offers, timers, alert outbox rows, events and trace entries.

This is the only place routing writes. The pipeline calls it for new leads; actions (claim,
accept, decline, assign) and timers (windows closing) call it for what happens next. Each
dispatch starts a new round on the lead's LeadRoute, which makes older offers and timers stale.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from leadmail import clock as clocks
from leadmail.config import AgentConfig, RouteConfig, Settings
from leadmail.hours import hours
from leadmail.models import (
    Assignment,
    Contact,
    Event,
    Lead,
    LeadRoute,
    Offer,
    Timer,
    display_name,
)
from leadmail.notify import outbox
from leadmail.routing.base import Decision
from leadmail.statuses import LeadStatus


def rule_of(lr: LeadRoute) -> RouteConfig:
    """The routing rule as it was when the lead was first routed.

    The snapshot outlives upgrades: keys a later RouteConfig no longer knows are dropped, and
    a snapshot that no longer validates falls back to the pond's defaults.
    """
    known = {k: v for k, v in (lr.route or {}).items() if k in RouteConfig.model_fields}
    try:
        return RouteConfig.model_validate(known)
    except ValueError:
        return RouteConfig(name=lr.rule, pond=lr.pond)


def accept_due(settings: Settings, rule: RouteConfig, start: datetime) -> datetime | None:
    """When an assignment made at `start` must be accepted by (None: no acceptance needed)."""
    if not rule.accept_window:
        return None
    if rule.accept_business_hours:
        office = hours(settings.routing.business_hours, settings.routing.timezone)
        return office.add(start, rule.accept_window)
    return start + timedelta(minutes=rule.accept_window)


ANY_OPEN = object()  # an assignment alert: the agent's open accept offer, looked up


def _alert(
    session: Session,
    settings: Settings,
    lead: Lead,
    agent: AgentConfig,
    decision: Decision,
    key: str,
    notes: list[dict[str, Any]],
    offer: Offer | None = None,
    accept_offer: Offer | None | object = None,
) -> None:
    context = {
        "lead": lead,
        "agent": agent,
        "decision": decision,
        "lead_name": display_name(lead),
        "offer": offer,
    }
    if accept_offer is not ANY_OPEN:  # the assignment's own accept offer, known: not looked up
        context["accept_offer"] = accept_offer
    row = outbox.enqueue_alert(session, settings, lead, agent, context, key=key)
    notes.append(
        {"step": "outbox", "channel": "email", "to": agent.email, "key": row.idempotency_key}
    )


def _offer(
    session: Session,
    lead: Lead,
    lr: LeadRoute,
    decision: Decision,
    kind: str,
    agent: AgentConfig,
    now: datetime,
    **fields: Any,
) -> Offer:
    """A new offer of the lead's current round, flushed so that it has its id."""
    assert lead.id is not None  # a stored lead
    offer = Offer(
        lead_id=lead.id,
        round=lr.round,
        kind=kind,
        agent=agent.email,
        strategy=decision.strategy,
        created_at=now,
        **fields,
    )
    session.add(offer)
    session.flush()
    return offer


def _happened(
    session: Session,
    lead: Lead,
    notes: list[dict[str, Any]],
    kind: str,
    now: datetime,
    data: dict[str, Any],
) -> None:
    """The event, and the same step in the trace."""
    session.add(Event(kind=kind, lead_id=lead.id, at=now, data=data))
    notes.append({"step": kind, "at": now.isoformat(), **data})


def apply(
    session: Session,
    settings: Settings,
    lead: Lead,
    decision: Decision,
    *,
    now: datetime | None = None,
    trace: list[dict[str, Any]] | None = None,
    event: str = "assigned",
    accept: bool = True,
    by: str | None = None,
    first: bool = False,
) -> LeadRoute:
    """Carry out a decision. `trace`: the list to note steps in (default: the lead's own);
    `event`: the kind recorded for an assignment (assigned, reassigned, claimed);
    `accept`: False when the assignment needs no acceptance (a claim, a manager's pick);
    `first`: the lead was made in this transaction (it has no route yet, nor offers)."""
    now = now or clocks.current().now()
    assert lead.id is not None
    lr = None if first else session.get(LeadRoute, lead.id)
    if lr is None:
        rule = decision.route or RouteConfig(pond=decision.pond)
        lr = LeadRoute(
            lead_id=lead.id,
            rule=decision.rule,
            pond=decision.pond,
            strategy=decision.strategy,
            route=rule.model_dump(mode="json"),
        )
    lr.round += 1
    lr.pond, lr.strategy, lr.updated_at = decision.pond, decision.strategy, now
    session.add(lr)
    notes = trace if trace is not None else list(lead.trace)
    base = {
        "pond": decision.pond,
        "strategy": decision.strategy,
        "rule": decision.rule,
        "reason": decision.reason,
    }
    if by:
        base["by"] = by

    if decision.action == "assign" and decision.agent is not None:
        agent = decision.agent
        previous = lead.agent
        lead.agent, lead.status = agent.email, LeadStatus.ASSIGNED
        contact = session.get(Contact, lead.contact_id) if lead.contact_id else None
        if contact is not None and contact.owner in (None, previous):
            contact.owner = agent.email  # the owner follows the lead until someone keeps it
            session.add(contact)
        assignment = Assignment(
            lead_id=lead.id,
            agent=agent.email,
            pond=decision.pond,
            strategy=decision.strategy,
            rule=decision.rule,
            created_at=now,
        )
        session.add(assignment)
        session.flush()
        due = accept_due(settings, rule_of(lr), now) if accept else None
        data: dict[str, Any] = {"agent": agent.email, **base}
        accept_offer: Offer | None = None
        if due is not None:
            offer = accept_offer = _offer(session, lead, lr, decision, "accept", agent, now,
                                          expires_at=due)
            session.add(
                Timer(
                    lead_id=lead.id,
                    kind="accept_window",
                    round=lr.round,
                    offer_id=offer.id,
                    due_at=due,
                    created_at=now,
                )
            )
            data["accept_by"] = due.isoformat()
        if event != "claimed":  # the claimer knows already: the claim page told them
            _alert(session, settings, lead, agent, decision, f"assignment-{assignment.id}", notes,
                   accept_offer=accept_offer if first else ANY_OPEN)
        _happened(session, lead, notes, event, now, data)

    elif decision.action in ("offer", "collect"):
        lead.agent, lead.status = None, LeadStatus.OFFERED
        due = now + timedelta(minutes=rule_of(lr).claim_window)
        for agent in decision.offered:
            offer = _offer(session, lead, lr, decision, "claim", agent, now, expires_at=due)
            _alert(session, settings, lead, agent, decision, f"offer-{offer.id}", notes, offer)
            session.add(
                Event(
                    kind="offered",
                    lead_id=lead.id,
                    at=now,
                    data={"agent": agent.email, "claim_by": due.isoformat(), **base},
                )
            )
        session.add(
            Timer(lead_id=lead.id, kind="claim_window", round=lr.round, due_at=due, created_at=now)
        )
        notes.append(
            {
                "step": "offered",
                "at": now.isoformat(),
                "claim_by": due.isoformat(),
                "agents": [a.email for a in decision.offered],
                **base,
            }
        )

    elif decision.action == "manager" and decision.offered:
        manager = decision.offered[0]
        lead.agent, lead.status = None, LeadStatus.MANAGER
        claimants = [a.email for a in decision.offered[1:]]
        offer = _offer(
            session,
            lead,
            lr,
            decision,
            "pick",
            manager,
            now,
            data={"claimants": claimants} if claimants else {},
        )
        _alert(session, settings, lead, manager, decision, f"offer-{offer.id}", notes, offer)
        data = {"manager": manager.email, **base}
        if claimants:
            data["claimants"] = claimants
        _happened(session, lead, notes, "to_manager", now, data)

    else:
        lead.agent, lead.status = None, LeadStatus.UNASSIGNED
        data = {"skipped": decision.skipped, **base}
        session.add(Event(kind="unassigned", lead_id=lead.id, at=now, data=data))
        notes.append({"step": "unassigned", "at": now.isoformat(), **base})

    if trace is None:
        lead.trace = notes
    session.add(lead)
    return lr
