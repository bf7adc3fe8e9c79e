"""The database side of routing: rotation credits under a row lock, agents' load, relationships.

DbLedger serves live routing inside the caller's transaction. SimLedger serves
`route simulate`: it reads history the same way but keeps credits and counts in memory, so a
dry run never locks or writes anything.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, func, select

from leadmail.clock import utcnow
from leadmail.models import Assignment, Lead, RoutingState
from leadmail.statuses import LeadStatus

OPEN_STATUSES = (LeadStatus.ASSIGNED, LeadStatus.ACCEPTED)
CLOSED_STAGES = ("Inactive", "Lost")
# Mailbox providers: a shared domain here says nothing about a shared company.
FREEMAIL = frozenset(
    """gmail.com googlemail.com yahoo.com ymail.com hotmail.com outlook.com live.com msn.com
    icloud.com me.com mac.com aol.com proton.me protonmail.com gmx.com gmx.net mail.com
    yandex.com yandex.ru zoho.com fastmail.com comcast.net att.net verizon.net sbcglobal.net
    cox.net charter.net earthlink.net bellsouth.net hey.com""".split()
)
# How much one past lead says about a relationship, by what it shares with this one.
WEIGHTS = {"contact": 4, "email": 3, "phone": 3, "company": 1}


class DbLedger:
    """Reads and writes in the caller's session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._states: dict[str, RoutingState] = {}

    @classmethod
    def of(cls, session: Session) -> DbLedger:
        """The ledger of the session's transaction: a pond's row is locked and read once
        per transaction, and every lead routed in it (a batch) reads the credits the one
        before it saved."""
        transaction = session.get_transaction()
        held = session.info.get("ledger")
        if held is not None and held[0] is transaction and held[0] is not None:
            return held[1]
        ledger = cls(session)
        session.info["ledger"] = (transaction, ledger)
        return ledger

    def _state(self, pond: str) -> RoutingState:
        if pond in self._states:
            return self._states[pond]
        # Create the row if missing without racing another worker into a duplicate key, then
        # lock it: every worker routing into this pond waits here for the one before it.
        dialect = self.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        self.session.execute(
            insert(RoutingState)
            .values(pond=pond, position=0, credits={}, updated_at=utcnow())
            .on_conflict_do_nothing(index_elements=["pond"])
        )
        state = self.session.exec(
            select(RoutingState)
            .where(RoutingState.pond == pond)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
        self._states[pond] = state
        return state

    def credits(self, pond: str) -> dict[str, float]:
        """The pond's credits; the row stays locked until the caller's transaction ends."""
        return dict(self._state(pond).credits or {})

    def save_credits(self, pond: str, credits: dict[str, float], agent: str, now: datetime) -> None:
        """Store credits and the last agent served."""
        state = self._state(pond)
        state.credits = dict(credits)
        state.position += 1
        state.last_agent = agent
        state.updated_at = now
        self.session.add(state)

    def assigned_since(self, agent: str, since: datetime) -> int:
        """Assignments to the agent since a moment."""
        return int(
            self.session.exec(
                select(func.count())
                .select_from(Assignment)
                .where(Assignment.agent == agent, col(Assignment.created_at) >= since)
            ).one()
        )

    def open_leads(self, agent: str) -> int:
        """Leads the agent holds (assigned or accepted) whose stage is not closed."""
        return int(
            self.session.exec(
                select(func.count())
                .select_from(Lead)
                .where(
                    Lead.agent == agent,
                    col(Lead.status).in_(OPEN_STATUSES),
                    col(Lead.stage).not_in(CLOSED_STAGES),
                )
            ).one()
        )

    def relationships(self, lead: Any) -> dict[str, tuple[int, list[str]]]:
        """agent -> (score, reasons): past leads of the same contact, email, phone or company."""
        return score_history(self._history(lead), lead)

    def _history(self, lead: Any, before: datetime | None = None) -> list[Lead]:
        domain = company_domain(lead.email)
        terms = []
        if lead.contact_id is not None:
            terms.append(col(Lead.contact_id) == lead.contact_id)
        if lead.email:
            terms.append(col(Lead.email) == lead.email)
        if lead.phone:
            terms.append(col(Lead.phone) == lead.phone)
        if domain:
            terms.append(col(Lead.email).like(f"%@{domain}"))
        if not terms:
            return []
        query = select(Lead).where(col(Lead.agent).is_not(None), or_(*terms))
        if lead.id is not None:
            query = query.where(col(Lead.id) != lead.id)
        if before is not None:
            query = query.where(col(Lead.created_at) < before)
        return list(self.session.exec(query.order_by(col(Lead.id).desc()).limit(500)).all())


def company_domain(email: str | None) -> str | None:
    """The email's domain when it names a company (not a mailbox provider)."""
    domain = (email or "").rpartition("@")[2].lower()
    return domain if domain and domain not in FREEMAIL else None


def score_history(past: list[Any], lead: Any) -> dict[str, tuple[int, list[str]]]:
    """Sum, per agent, what each past lead shares with this one (its strongest tie only)."""
    scores: dict[str, int] = defaultdict(int)
    reasons: dict[str, list[str]] = defaultdict(list)
    domain = company_domain(lead.email)
    for old in past:
        ties = []
        if lead.contact_id is not None and old.contact_id == lead.contact_id:
            ties.append("contact")
        if lead.email and old.email == lead.email:
            ties.append("email")
        if lead.phone and old.phone == lead.phone:
            ties.append("phone")
        if domain and company_domain(old.email) == domain:
            ties.append("company")
        if not ties:
            continue
        best = max(ties, key=WEIGHTS.__getitem__)
        scores[old.agent] += WEIGHTS[best]
        reasons[old.agent].append(f"lead #{old.id} ({best})")
    return {agent: (scores[agent], reasons[agent]) for agent in scores}


class SimLedger(DbLedger):
    """For dry runs: history from the database, credits and counts in memory only."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.rotation: dict[str, dict[str, float]] = {}
        self.given: list[tuple[str, datetime]] = []
        self.before: datetime | None = None

    def credits(self, pond: str) -> dict[str, float]:
        """Credits as the simulation left them (starting from none)."""
        return dict(self.rotation.get(pond, {}))

    def save_credits(self, pond: str, credits: dict[str, float], agent: str, now: datetime) -> None:
        """Keep the credits in memory."""
        self.rotation[pond] = dict(credits)

    def record(self, agent: str, at: datetime) -> None:
        """A simulated assignment, for caps."""
        self.given.append((agent, at))

    def assigned_since(self, agent: str, since: datetime) -> int:
        """Simulated assignments since a moment."""
        return sum(1 for a, at in self.given if a == agent and at >= since)

    def open_leads(self, agent: str) -> int:
        """0: a replay cannot know when past leads closed, so open-lead caps do not apply."""
        return 0

    def relationships(self, lead: Any) -> dict[str, tuple[int, list[str]]]:
        """Relationships from leads before the simulated one."""
        return score_history(self._history(lead, before=self.before), lead)
