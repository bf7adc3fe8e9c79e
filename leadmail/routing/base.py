"""What every strategy works with: the Context it reads, the Choice it returns, and eligibility.

A strategy only chooses; it never writes assignments or offers (routing.dispatch does that),
so the same strategy serves the live pipeline, escalations and `route simulate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlmodel import Session

from leadmail.config import AgentConfig, RouteConfig, Settings
from leadmail.hours import hours, local_day_start, zone

# assign: to agents[0]; offer: to all, first claim wins; collect: to all, the manager picks among
# the claimants; manager: to agents[0], the manager, to assign by hand.
Action = Literal["assign", "offer", "collect", "manager"]


@dataclass
class Choice:
    """What a strategy decided."""

    action: Action
    agents: list[AgentConfig]
    reason: str


class Ledger(Protocol):
    """What strategies read besides config: rotation credits, agents' load, relationships."""

    def credits(self, pond: str) -> dict[str, float]:
        """The pond's round-robin credits (locks the pond's row until the transaction ends)."""
        ...

    def save_credits(self, pond: str, credits: dict[str, float], agent: str, now: datetime) -> None:
        """Store the credits after `agent` was picked."""
        ...

    def assigned_since(self, agent: str, since: datetime) -> int:
        """Leads given to the agent since a moment."""
        ...

    def open_leads(self, agent: str) -> int:
        """Leads the agent holds that are not closed."""
        ...

    def relationships(self, lead: Any) -> dict[str, tuple[int, list[str]]]:
        """agent -> (score, reasons) from past leads of the same person or company."""
        ...


def on_leave(agent: AgentConfig, now: datetime) -> str | None:
    """'on leave until 2026-12-03' when today (agent's timezone) is in a leave range."""
    today = now.astimezone(zone(agent.timezone)).date()
    for leave in agent.leave:
        if leave.start <= today <= leave.end:
            note = f" ({leave.note})" if leave.note else ""
            return f"on leave until {leave.end.isoformat()}{note}"
    return None


def unavailable(agent: AgentConfig, now: datetime) -> str | None:
    """Inactive or on leave: reasons that hold even for leads that name the agent."""
    if not agent.active:
        return "inactive"
    return on_leave(agent, now)


def why_not(
    agent: AgentConfig, now: datetime, ledger: Ledger, exclude: frozenset[str] = frozenset()
) -> str | None:
    """Why the agent cannot take a new lead now (None: they can). Cheapest checks first."""
    if agent.email in exclude:
        return "already had this lead"
    away = unavailable(agent, now)
    if away:
        return away
    spec = hours(agent.hours, agent.timezone)
    if not spec.is_open(now):
        return f"outside working hours ({spec.describe(now)})"
    if agent.daily_cap is not None:
        today = ledger.assigned_since(agent.email, local_day_start(now, agent.timezone))
        if today >= agent.daily_cap:
            return f"daily cap reached ({today}/{agent.daily_cap})"
    if agent.open_cap is not None:
        held = ledger.open_leads(agent.email)
        if held >= agent.open_cap:
            return f"open-lead cap reached ({held}/{agent.open_cap})"
    return None


@dataclass
class Context:
    """One routing attempt: the lead, the rule, the pond, the time, and who was skipped why."""

    session: Session | None
    settings: Settings
    lead: Any
    rule: RouteConfig
    pond: str
    now: datetime
    ledger: Ledger
    exclude: frozenset[str] = frozenset()
    skipped: list[dict[str, str]] = field(default_factory=list)
    why: str = ""  # set by a strategy that found nobody for a reason other than skips

    @property
    def agents(self) -> list[AgentConfig]:
        """The pond's agents in config order."""
        return [a for a in self.settings.agents if self.pond in a.ponds]

    def skip(self, email: str, why: str) -> None:
        """Record why an agent was passed over (once per agent and reason)."""
        entry = {"agent": email, "why": why}
        if entry not in self.skipped:
            self.skipped.append(entry)

    def eligible(self, agents: list[AgentConfig] | None = None) -> list[AgentConfig]:
        """The agents (default: the pond's) who can take the lead now; the rest are skipped."""
        out = []
        for agent in self.agents if agents is None else agents:
            why = why_not(agent, self.now, self.ledger, self.exclude)
            if why:
                self.skip(agent.email, why)
            else:
                out.append(agent)
        return out


class Strategy(Protocol):
    """A routing strategy: a name and one method."""

    name: str

    def choose(self, ctx: Context) -> Choice | None:
        """Decide for the lead in ctx; None when nobody fits (the rule's fallback runs next)."""
        ...


@dataclass
class Decision:
    """Who gets the lead, or who is asked, and why."""

    agent: AgentConfig | None  # the agent it is assigned to (action "assign")
    pond: str
    strategy: str
    rule: str
    skipped: list[dict[str, str]] = field(default_factory=list)
    reason: str = ""
    action: str = "none"  # assign, offer, collect, manager, none
    offered: list[AgentConfig] = field(default_factory=list)  # offer/collect: asked; manager
    route: RouteConfig | None = None
    matched: str = ""  # why the rule matched
    not_matched: list[dict[str, str]] = field(default_factory=list)  # rules above, and why not
    steps: list[dict[str, str]] = field(default_factory=list)  # strategies tried, in order
