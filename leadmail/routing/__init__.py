"""The route step: pick a routing rule, then let its strategy pick an agent.

Strategies are registered in STRATEGIES (name -> object with `assign`). Every decision is
recorded on the lead's trace: which rule matched, which agents were skipped and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlmodel import Session

from leadmail.config import AgentConfig, RouteConfig, Settings
from leadmail.draft import Draft
from leadmail.routing.round_robin import RoundRobin


@dataclass
class Decision:
    """Who gets the lead and why."""

    agent: AgentConfig | None
    pond: str
    strategy: str
    rule: str
    skipped: list[dict[str, str]] = field(default_factory=list)
    reason: str = ""


class Strategy(Protocol):
    """A routing strategy: one name, one method."""

    name: str

    def assign(
        self, session: Session, pond: str, agents: list[AgentConfig], skipped: list[dict[str, str]]
    ) -> AgentConfig | None:
        """Pick an agent among the pond's agents (appending to `skipped` why others were not)."""
        ...


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (RoundRobin(),)}


def _lead_values(draft: Draft, key: str) -> list[str]:
    if key == "tags":
        return [t.lower() for t in draft.tags]
    if key.startswith("custom_fields."):
        value = draft.custom_fields.get(key.split(".", 1)[1])
    else:
        value = getattr(draft, key, None)
    return [] if value is None else [str(value).lower()]


def route_matches(route: RouteConfig, draft: Draft) -> bool:
    """Every key of the route's `match` holds for the lead (a list: any of its values)."""
    for key, wanted in route.match.items():
        options = [wanted] if isinstance(wanted, str) else wanted
        have = _lead_values(draft, key)
        if not any(str(o).lower() in have for o in options):
            return False
    return True


def pick_route(settings: Settings, draft: Draft) -> tuple[str, RouteConfig]:
    """The rule that decides: a source rule's pond, else the first matching route, else default."""
    if draft.pond:
        return f"source rule {draft.rule!r} set pond", RouteConfig(pond=draft.pond)
    for i, route in enumerate(settings.routes):
        if route_matches(route, draft):
            return route.name or f"routes[{i}]", route
    return "default (no route matched)", RouteConfig(pond="default")


def pond_agents(settings: Settings, pond: str) -> list[AgentConfig]:
    """The pond's agents in config order."""
    return [a for a in settings.agents if pond in a.ponds]


def route(session: Session, settings: Settings, draft: Draft, owner: str | None = None) -> Decision:
    """Decide who gets a lead. A returning contact goes back to its active owner."""
    rule_name, rule = pick_route(settings, draft)
    if owner:
        agent = settings.agent(owner)
        if agent and agent.active:
            return Decision(
                agent,
                rule.pond,
                "returning",
                rule_name,
                reason=f"returning contact, owned by {agent.email}",
            )
    strategy = STRATEGIES[rule.strategy]
    skipped: list[dict[str, str]] = []
    if owner:
        skipped.append({"agent": owner, "why": "owner of the contact is inactive or unknown"})
    agent = strategy.assign(session, rule.pond, pond_agents(settings, rule.pond), skipped)
    reason = f"{strategy.name} in pond {rule.pond!r}" if agent else "no eligible agent"
    return Decision(agent, rule.pond, strategy.name, rule_name, skipped, reason)


def trace_of(decision: Decision) -> dict[str, Any]:
    """The decision as a trace entry."""
    return {
        "step": "route",
        "rule": decision.rule,
        "pond": decision.pond,
        "strategy": decision.strategy,
        "agent": decision.agent.email if decision.agent else None,
        "reason": decision.reason,
        "skipped": decision.skipped,
    }
