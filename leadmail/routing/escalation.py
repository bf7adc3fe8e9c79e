"""What happens when nobody takes a lead in time: the next agent, the fallback, the manager.

Called by timers (a window closed) and by actions (a decline), always with the lead's row
locked in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from leadmail.config import AgentConfig, Settings
from leadmail.models import Assignment, Contact, Lead, LeadRoute, Offer
from leadmail.routing import decide, dispatch
from leadmail.routing.base import Decision
from leadmail.routing.dispatch import rule_of
from leadmail.routing.ledger import DbLedger
from leadmail.statuses import OfferStatus


def lock_lead(session: Session, lead_id: int) -> Lead | None:
    """The lead, row-locked until the transaction ends: every action on a lead goes through
    here first, so claims, accepts, declines and timers on one lead happen one at a time.

    Its contact is locked next, before any pond's rotation row: the pipeline takes contact
    then pond too, so the two never wait for each other in opposite order (no deadlock).
    """
    lead = session.exec(
        select(Lead)
        .where(col(Lead.id) == lead_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if lead is not None and lead.contact_id is not None:
        session.exec(
            select(Contact)
            .where(col(Contact.id) == lead.contact_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
    return lead


def offers(session: Session, lead_id: int, **where: object) -> list[Offer]:
    """The lead's offers matching column=value filters, oldest first."""
    query = select(Offer).where(Offer.lead_id == lead_id)
    for name, value in where.items():
        query = query.where(getattr(Offer, name) == value)
    return list(session.exec(query.order_by(col(Offer.id))).all())


def escalate(
    session: Session, settings: Settings, lead: Lead, lr: LeadRoute, now: datetime, why: str
) -> Decision:
    """An assigned agent did not accept (expired or declined): the next eligible agent of the
    pond by round-robin, at most `max_reassign` times, then the pond's manager."""
    rule = rule_of(lr)
    given = session.exec(select(Assignment.agent).where(Assignment.lead_id == lead.id)).all()
    missed = len(given)  # every agent it was given to so far let it go
    tried = frozenset(given) | ({lead.agent} if lead.agent else set())
    ledger = DbLedger(session)
    if missed <= rule.max_reassign:
        decision = decide(
            session,
            settings,
            lead,
            now=now,
            ledger=ledger,
            rule=rule,
            rule_name=lr.rule,
            plan=[(lr.pond, "round_robin")],
            exclude=tried,
        )
        decision.reason = f"{why}; reassignment {missed} of {rule.max_reassign}: {decision.reason}"
    else:
        decision = to_manager(
            settings, lr, f"{why}; not accepted after {missed - 1} reassignment(s)"
        )
    dispatch(
        session,
        settings,
        lead,
        decision,
        now=now,
        event="reassigned" if decision.action == "assign" else "assigned",
    )
    return decision


def to_manager(
    settings: Settings, lr: LeadRoute, why: str, claimants: list[AgentConfig] | None = None
) -> Decision:
    """A decision giving the lead to the pond's manager (or leaving it unassigned without one)."""
    manager = settings.manager_of(lr.pond)
    if manager is None:
        reason, action, offered = f"{why}; pond {lr.pond!r} has no manager: unassigned", "none", []
    else:
        reason, action = f"{why}; to {manager.email}, the manager", "manager"
        offered = [manager, *(claimants or [])]
    return Decision(
        agent=None,
        pond=lr.pond,
        strategy="manager",
        rule=lr.rule,
        reason=reason,
        action=action,
        offered=offered,
        route=rule_of(lr),
    )


def give_to_claimant(
    session: Session,
    settings: Settings,
    lead: Lead,
    lr: LeadRoute,
    agent: AgentConfig,
    now: datetime,
    reason: str,
    event: str,
) -> Decision:
    """The jump ball goes to one who claimed it, with no accept step: claiming was the yes."""
    decision = Decision(
        agent=agent,
        pond=lr.pond,
        strategy=lr.strategy,
        rule=lr.rule,
        reason=reason,
        action="assign",
        route=rule_of(lr),
    )
    dispatch(session, settings, lead, decision, now=now, event=event, accept=False)
    return decision


def close_claims(
    session: Session, settings: Settings, lead: Lead, lr: LeadRoute, now: datetime
) -> Decision:
    """A jump ball ends with no winner (its window closed, or everyone declined):
    claim_and_assign claimants go to the manager to pick from (no manager: the first
    claimant); otherwise the rule's fallback runs, without the agents who declined."""
    rule = rule_of(lr)
    current = offers(session, lead.id or 0, kind="claim", round=lr.round)
    claimants = [o for o in current if o.status == "claimed"]
    for offer in current:
        if offer.status == OfferStatus.OPEN:
            offer.status = OfferStatus.EXPIRED
            session.add(offer)
    if claimants:
        agents = [a for a in (settings.find_agent(o.agent) for o in claimants) if a]
        if settings.manager_of(lr.pond) is not None:
            decision = to_manager(
                settings, lr, f"claim window closed with {len(agents)} claimant(s)", agents
            )
            dispatch(session, settings, lead, decision, now=now)
            return decision
        if agents:
            first = agents[0]
            why = f"no manager, so the first claimant {first.email} gets it"
            return give_to_claimant(session, settings, lead, lr, first, now, why, "assigned")
    plan = [(s.pond or rule.pond, s.strategy) for s in rule.fallback]
    decision = decide(
        session,
        settings,
        lead,
        now=now,
        ledger=DbLedger(session),
        rule=rule,
        rule_name=lr.rule,
        plan=plan,
        exclude=frozenset(o.agent for o in current if o.status == "declined"),
    )
    decision.reason = f"jump ball unclaimed; fallback: {decision.reason}"
    dispatch(session, settings, lead, decision, now=now)
    return decision
