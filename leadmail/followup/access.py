"""Roles and lead-origin privacy: the one place that says which leads a principal may see.

    admin        every lead
    manager      company-origin leads of their teams (a team's agents, or leads set to the
                 team); never an agent-origin lead, whoever holds it and whether or not that
                 agent is still configured
    agent        the leads assigned to them
    integration  none (it may only post leads)

Every query of the API, the reports and the pages starts from `leads(principal)` or filters
with `lead_filter(principal)` / `visible_ids(principal)`; `can_see` is the same rule in Python
for a single row and is checked against the SQL form in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import and_, false, or_, true
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from leadmail import tokens
from leadmail.config import ApiKeyConfig, Settings, TeamConfig
from leadmail.models import Deal, Lead, Step

_Row = TypeVar("_Row", Deal, Step)

ROLES = ("integration", "agent", "manager", "admin")


@dataclass(frozen=True)
class Principal:
    """Who is asking: an API key's holder, a signed page link's, or the CLI (admin)."""

    name: str
    role: str
    user: str | None = None
    teams: tuple[str, ...] = ()
    team_agents: frozenset[str] = field(default_factory=frozenset)
    key: ApiKeyConfig | None = None

    @property
    def can_read(self) -> bool:
        """Integrations post leads; everyone else reads (their share of) them."""
        return self.role != "integration"


ADMIN = Principal("cli", "admin")


def teams_managed(settings: Settings, email: str) -> list[TeamConfig]:
    """The teams this person manages."""
    return [t for t in settings.teams if email in t.managers]


def team_of(settings: Settings, lead: Lead) -> TeamConfig | None:
    """The lead's team: named by its source rule, else its agent's first team."""
    if lead.team:
        named = next((t for t in settings.teams if t.name == lead.team), None)
        if named is not None:
            return named
    return next((t for t in settings.teams if lead.agent and lead.agent in t.agents), None)


def principal(settings: Settings, key: ApiKeyConfig) -> Principal:
    """The principal an API key stands for."""
    if key.role == "manager":
        teams = teams_managed(settings, key.user or "")
        return Principal(key.name, "manager", key.user, tuple(t.name for t in teams),
                         frozenset(a for t in teams for a in t.agents), key)
    if key.role == "agent":
        agent = settings.find_agent(key.user or "")
        return Principal(key.name, "agent", agent.email if agent else key.user, key=key)
    return Principal(key.name, key.role, key.user, key=key)


def as_user(settings: Settings, who: str | None) -> Principal:
    """The CLI's view: an administrator, or (--as EMAIL) what that manager or agent sees."""
    if not who:
        return ADMIN
    email = who.strip().lower()
    teams = teams_managed(settings, email)
    if teams:
        return Principal(f"as:{email}", "manager", email, tuple(t.name for t in teams),
                         frozenset(a for t in teams for a in t.agents))
    agent = settings.find_agent(email)
    if agent is not None:
        return Principal(f"as:{email}", "agent", agent.email)
    raise ValueError(f"{who} is neither a configured agent nor a team manager")


def for_email(settings: Settings, email: str | None) -> Principal | None:
    """The person signed in by email (the web app): an administrator (an `[[agents]]` entry
    with role = "admin", or the `user` of a role = "admin" API key), else a team's manager,
    else a configured agent; None for any other address. The role is worked out from the
    config at each request, so a change of config takes effect on the next page."""
    address = (email or "").strip().lower()
    if not address or len(address) > 320:
        return None
    agent = settings.find_agent(address)
    if (agent is not None and agent.role == "admin") or any(
            k.role == "admin" and k.user == address for k in settings.api_keys):
        return Principal(f"web:{address}", "admin", address)
    try:
        found = as_user(settings, address)
    except ValueError:
        return None
    return Principal(f"web:{address}", found.role, found.user, found.teams, found.team_agents)


def authenticate(settings: Settings, presented: str | None) -> Principal | None:
    """The principal of a presented API key (compared as SHA-256, in constant time)."""
    if not presented:
        return None
    digest = tokens.key_digest(presented.strip())
    found = None
    for key in settings.api_keys:
        if tokens.same(digest, key.digest):
            found = key  # no early exit: the time taken says nothing about which key
    return principal(settings, found) if found is not None else None


def by_name(settings: Settings, name: str) -> Principal | None:
    """The principal of the key with this name (signed page links carry the name)."""
    key = next((k for k in settings.api_keys if k.name == name), None)
    return principal(settings, key) if key is not None else None


def lead_filter(p: Principal) -> ColumnElement[bool]:
    """The SQL condition on Lead for what `p` may see."""
    if p.role == "admin":
        return true()
    if p.role == "agent" and p.user:
        return col(Lead.agent) == p.user
    if p.role == "manager":
        return and_(
            col(Lead.origin) == "company",
            or_(col(Lead.agent).in_(sorted(p.team_agents)), col(Lead.team).in_(list(p.teams))),
        )
    return false()


def can_see(p: Principal, lead: Lead) -> bool:
    """lead_filter for one loaded lead."""
    if p.role == "admin":
        return True
    if p.role == "agent":
        return bool(p.user) and lead.agent == p.user
    if p.role == "manager":
        return lead.origin == "company" and (
            (lead.agent is not None and lead.agent in p.team_agents) or lead.team in p.teams)
    return False


def locked_row(
    session: Session, model: type[_Row], row_id: int, who: Principal
) -> tuple[_Row, Lead] | None:
    """A deal's or a step's row, locked until the transaction ends, with its lead; None when
    either is missing or `who` may not see the lead."""
    row = session.exec(select(model).where(model.id == row_id).with_for_update()).first()
    lead = session.get(Lead, row.lead_id) if row else None
    if row is None or lead is None or not can_see(who, lead):
        return None
    return row, lead


def leads(p: Principal) -> SelectOfScalar[Lead]:
    """select(Lead) limited to what `p` may see."""
    return select(Lead).where(lead_filter(p))


def visible_ids(p: Principal) -> SelectOfScalar[int | None]:
    """A subquery of the lead ids `p` may see (for steps, activity, deals, events)."""
    return select(col(Lead.id)).where(lead_filter(p))
