"""What agents and managers do with a lead: claim, accept, decline, assign.

The API the CLI, the HTTP links and reply-to-act share. Each call is one transaction that
first locks the lead's row, so concurrent calls on one lead (twenty agents claiming the same
jump ball from twenty processes) are decided one at a time by the database: exactly one wins.

Every call returns a Result, a (status, holder) tuple: `holder` names who has the lead when
it is someone else ("already_claimed", "bob@…"); `result.message` is a sentence for people.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import NamedTuple

from sqlalchemy.engine import Engine
from sqlmodel import Session

from leadmail import clock as clocks
from leadmail.config import AgentConfig, Settings
from leadmail.db import session_scope
from leadmail.models import Event, Lead, LeadRoute, Offer
from leadmail.routing import dispatch
from leadmail.routing.base import Decision
from leadmail.routing.dispatch import rule_of
from leadmail.routing.escalation import (
    close_claims,
    escalate,
    give_to_claimant,
    lock_lead,
    offers,
)
from leadmail.statuses import LeadStatus, OfferStatus

ACTIONS = ("claim", "accept", "decline")
_MESSAGES = {
    "claimed": "You have claimed this lead.",
    "registered": "Your claim is in; the manager picks among the claimants when the window closes.",
    "already_claimed": "Already claimed by {holder}.",
    "already_yours": "This lead is already yours.",
    "accepted": "You have accepted this lead.",
    "already_accepted": "You have already accepted this lead.",
    "declined": "You have declined this lead.",
    "assigned": "The lead is now assigned to {holder}.",
    "expired": "This offer has expired.",
    "not_offered": "This lead was not offered to you.",
    "not_yours": "This lead is assigned to {holder}, not to you.",
    "not_allowed": "Only the pond's manager can assign this lead.",
    "in_review": "This lead waits in review; approve it first (leadmail review).",
    "unknown_agent": "{holder} is not a configured agent.",
    "not_found": "There is no such lead.",
}
SUCCESS = frozenset({"claimed", "registered", "accepted", "declined", "assigned"})


class Result(NamedTuple):
    """(status, holder): holder is who has the lead when it is not the caller (else None)."""

    status: str
    holder: str | None = None

    @property
    def ok(self) -> bool:
        """True when the action did what was asked."""
        return self.status in SUCCESS

    @property
    def message(self) -> str:
        """A sentence for the agent ("Lead #12 was already claimed by bob@…")."""
        return _MESSAGES[self.status].format(holder=self.holder or "nobody")


def _event(session: Session, lead: Lead, kind: str, now: datetime, **data: object) -> None:
    session.add(Event(kind=kind, lead_id=lead.id, at=now, data=data))
    lead.trace = [*lead.trace, {"step": kind, "at": now.isoformat(), **data}]
    session.add(lead)


def _who(settings: Settings, agent: str) -> tuple[str, AgentConfig | None]:
    found = settings.find_agent(agent)
    return (found.email if found else agent.strip().lower()), found


class _Call(NamedTuple):
    now: datetime
    email: str
    config: AgentConfig | None
    session: Session
    lead: Lead | None
    lr: LeadRoute | None


@contextmanager
def _locked(
    engine: Engine, settings: Settings, lead_id: int, agent: str, clock: clocks.Clock | None
) -> Iterator[_Call]:
    """One call's transaction: the time, who acts, and the lead's row (locked) and route."""
    now = (clock or clocks.current()).now()
    email, config = _who(settings, agent)
    with session_scope(engine) as session:
        lead = lock_lead(session, lead_id)
        yield _Call(now, email, config, session, lead, session.get(LeadRoute, lead_id))


def claim(
    engine: Engine,
    settings: Settings,
    lead_id: int,
    agent: str,
    *,
    clock: clocks.Clock | None = None,
) -> Result:
    """Claim a jump-ball lead: ("claimed", None) for the first, ("already_claimed", winner)
    after; under claim_and_assign ("registered", None) until the manager picks."""
    with _locked(engine, settings, lead_id, agent, clock) as call:
        now, email, config, session, lead, lr = call
        if lead is None or lr is None:
            return Result("not_found", None)
        if lead.status != LeadStatus.OFFERED:
            if lead.agent == email:
                return Result("already_yours", None)
            if lead.agent:
                _event(session, lead, "claim_refused", now, agent=email, holder=lead.agent)
                return Result("already_claimed", lead.agent)
            mine = offers(session, lead_id, kind="claim", agent=email)
            return Result("expired" if mine else "not_offered", None)
        mine = offers(session, lead_id, kind="claim", agent=email, round=lr.round)
        if not mine or config is None:
            return Result("not_offered", None)
        offer = mine[0]
        if offer.status == OfferStatus.CLAIMED:
            return Result("registered", None)
        if offer.status != OfferStatus.OPEN or (offer.expires_at and now >= offer.expires_at):
            return Result("expired", None)
        offer.status, offer.answered_at = OfferStatus.CLAIMED, now
        session.add(offer)
        if offer.strategy == "claim_and_assign":
            _event(session, lead, "claimed", now, agent=email, waiting_for="manager")
            return Result("registered", None)
        offer.status = OfferStatus.WON
        for other in offers(session, lead_id, kind="claim", round=lr.round):
            if other.id != offer.id and other.status == OfferStatus.OPEN:
                other.status = OfferStatus.LOST
                session.add(other)
        why = f"first to claim, within the {rule_of(lr).claim_window} min window"
        give_to_claimant(session, settings, lead, lr, config, now, why, "claimed")
        lead.status = LeadStatus.ACCEPTED  # claiming is taking it: no separate accept step
        return Result("claimed", None)


def accept(
    engine: Engine,
    settings: Settings,
    lead_id: int,
    agent: str,
    *,
    clock: clocks.Clock | None = None,
) -> Result:
    """Accept a lead assigned to you, within its accept window."""
    with _locked(engine, settings, lead_id, agent, clock) as call:
        now, email, _, session, lead, lr = call
        if lead is None:
            return Result("not_found", None)
        if lead.agent != email:
            return Result("not_yours", lead.agent)
        if lead.status == LeadStatus.ACCEPTED:
            return Result("already_accepted", None)
        pending = [
            o
            for o in offers(
                session, lead_id, kind="accept", agent=email, round=lr.round if lr else 0
            )
            if o.status == OfferStatus.OPEN
        ]
        for offer in pending:
            if offer.expires_at and now >= offer.expires_at:
                return Result("expired", None)  # the timer hands it on
            offer.status, offer.answered_at = OfferStatus.ACCEPTED, now
            session.add(offer)
        lead.status = LeadStatus.ACCEPTED
        _event(session, lead, "accepted", now, agent=email)
        return Result("accepted", None)


def decline(
    engine: Engine,
    settings: Settings,
    lead_id: int,
    agent: str,
    *,
    reason: str | None = None,
    clock: clocks.Clock | None = None,
) -> Result:
    """Decline an offer or an assignment; an assignment moves on to the next agent at once."""
    with _locked(engine, settings, lead_id, agent, clock) as call:
        now, email, _, session, lead, lr = call
        if lead is None or lr is None:
            return Result("not_found", None)
        if lead.status == LeadStatus.OFFERED:
            mine = [
                o
                for o in offers(session, lead_id, kind="claim", agent=email, round=lr.round)
                if o.status in (OfferStatus.OPEN, OfferStatus.CLAIMED)
            ]
            if not mine:
                return Result("not_offered", None)
            mine[0].status, mine[0].answered_at = "declined", now
            session.add(mine[0])
            _event(session, lead, "declined", now, agent=email, reason=reason)
            pending = offers(session, lead_id, kind="claim", round=lr.round,
                             status=OfferStatus.OPEN)
            if not pending:  # everyone has answered: no point waiting out the window
                close_claims(session, settings, lead, lr, now)
            return Result("declined", None)
        if lead.agent != email:
            return Result("not_yours", lead.agent)
        if lead.status == LeadStatus.ACCEPTED:
            return Result("already_accepted", None)
        for offer in offers(session, lead_id, kind="accept", agent=email, round=lr.round):
            if offer.status == OfferStatus.OPEN:
                offer.status, offer.answered_at = OfferStatus.DECLINED, now
                session.add(offer)
        _event(session, lead, "declined", now, agent=email, reason=reason)
        escalate(session, settings, lead, lr, now, f"declined by {email}")
        return Result("declined", None)


def assign(
    engine: Engine,
    settings: Settings,
    lead_id: int,
    agent: str,
    *,
    by: str | None = None,
    clock: clocks.Clock | None = None,
) -> Result:
    """A manager (or, with by=None, an administrator) gives the lead to an agent."""
    with _locked(engine, settings, lead_id, agent, clock) as call:
        now, email, target, session, lead, lr = call
        if lead is None:
            return Result("not_found", None)
        if target is None:
            return Result("unknown_agent", email)
        if lead.status == LeadStatus.REVIEW:
            return Result("in_review", None)
        pond = lr.pond if lr else "default"
        if by is not None:
            manager = settings.manager_of(pond)
            boss = settings.find_agent(by)
            allowed = {
                m.email for m in (manager, settings.find_agent(settings.routing.manager or "")) if m
            }
            if boss is None or boss.email not in allowed:
                return Result("not_allowed", lead.agent)
        if lead.agent == email and lead.status in (LeadStatus.ASSIGNED, LeadStatus.ACCEPTED):
            return Result("assigned", email)
        for offer in offers(session, lead_id, status=OfferStatus.OPEN):
            offer.status = OfferStatus.DONE if offer.kind == "pick" else OfferStatus.WITHDRAWN
            offer.answered_at = now
            session.add(offer)
        who = by or "an administrator"
        decision = Decision(
            agent=target,
            pond=pond,
            strategy="manager",
            rule=lr.rule if lr else "manual",
            reason=f"assigned by {who}",
            action="assign",
            route=rule_of(lr) if lr else None,
        )
        dispatch(session, settings, lead, decision, now=now, accept=False, by=by or "admin")
        return Result("assigned", email)


def act(
    engine: Engine,
    settings: Settings,
    lead_id: int,
    agent: str,
    action: str,
    *,
    clock: clocks.Clock | None = None,
) -> Result:
    """claim / accept / decline by name (reply-to-act: the first word of the reply)."""
    actions = {"claim": claim, "accept": accept, "decline": decline}
    if action.lower() not in actions:
        raise ValueError(f"{action!r} is not one of {', '.join(ACTIONS)}")
    return actions[action.lower()](engine, settings, lead_id, agent, clock=clock)


def open_offers(engine: Engine, lead_id: int) -> list[Offer]:
    """The lead's offers still waiting for an answer (for links and pages)."""
    with Session(engine) as session:
        return [o for o in offers(session, lead_id) if o.status == OfferStatus.OPEN]
