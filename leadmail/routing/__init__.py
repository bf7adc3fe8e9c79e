"""The route step: pick a routing rule, then let its strategy (and fallbacks) decide.

    rule (first match wins) → returning contact? → strategy → fallback … → the pond's manager

Strategies are registered in STRATEGIES (name -> object with `choose`). A Decision records
which rule matched and why the rules above it did not, every strategy tried and what it found,
and why each skipped agent was skipped; `trace_of` turns it into the lead's trace entry.
routing.dispatch writes the outcome (assignment, offers, timers, alerts, events).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session

from leadmail import clock as clocks
from leadmail.config import AgentConfig, RouteConfig, Settings
from leadmail.routing.base import Choice, Context, Decision, Ledger, Strategy, unavailable
from leadmail.routing.best_relationship import BestRelationship
from leadmail.routing.direct import Direct
from leadmail.routing.dispatch import apply as dispatch
from leadmail.routing.jump_ball import ClaimAndAssign, FirstToClaim
from leadmail.routing.ledger import DbLedger
from leadmail.routing.manager import Manager
from leadmail.routing.match import Facts, check
from leadmail.routing.round_robin import RoundRobin

__all__ = [
    "STRATEGIES",
    "Choice",
    "Context",
    "Decision",
    "Strategy",
    "decide",
    "dispatch",
    "pick_route",
    "route",
    "trace_of",
]

STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Direct(),
        Manager(),
        RoundRobin(),
        FirstToClaim(),
        ClaimAndAssign(),
        BestRelationship(),
    )
}
DEFAULT_RULE = "default (no route matched)"


def pick_route(
    settings: Settings, lead: Any, at: datetime
) -> tuple[str, RouteConfig, str, list[dict[str, str]]]:
    """(name, rule, why it matched, rules above that did not and why) — first match wins.

    A source rule that set the lead's pond limits the choice to routes of that pond (else that
    pond by round-robin).
    """
    facts = Facts(lead, at)
    tz = settings.routing.timezone
    misses: list[dict[str, str]] = []
    for i, rule in enumerate(settings.routes):
        name = rule.name or f"routes[{i}]"
        if lead.pond and rule.pond != lead.pond:
            misses.append(
                {"rule": name, "why": f"pond {rule.pond!r}; the source rule set {lead.pond!r}"}
            )
            continue
        ok, why = check(rule.match, facts, tz)
        if ok:
            return name, rule, why, misses
        misses.append({"rule": name, "why": why})
    if lead.pond:
        return (
            f"source rule {lead.rule!r} set pond {lead.pond!r}",
            RouteConfig(pond=lead.pond),
            "pond set by the source rule",
            misses,
        )
    return DEFAULT_RULE, RouteConfig(pond="default"), "no route matched", misses


def decide(
    session: Session | None,
    settings: Settings,
    lead: Any,
    *,
    now: datetime,
    ledger: Ledger,
    owner: str | None = None,
    rule: RouteConfig | None = None,
    rule_name: str | None = None,
    plan: Sequence[tuple[str, str]] | None = None,
    exclude: frozenset[str] = frozenset(),
) -> Decision:
    """Decide for a lead: its rule (or the given one), the owner, the strategies in `plan`
    (default: the rule's strategy then its fallbacks), and last the pond's manager."""
    matched, misses = "", list[dict[str, str]]()
    if rule is None:
        rule_name, rule, matched, misses = pick_route(settings, lead, now)
    name = rule_name or rule.name or "route"

    def made(
        action: str,
        strategy: str,
        pond: str,
        reason: str,
        agents: list[AgentConfig],
        skipped: list[dict[str, str]],
        steps: list[dict[str, str]],
    ) -> Decision:
        return Decision(
            agent=agents[0] if action == "assign" else None,
            pond=pond,
            strategy=strategy,
            rule=name,
            skipped=skipped,
            reason=reason,
            action=action,
            offered=agents if action != "assign" else [],
            route=rule,
            matched=matched,
            not_matched=misses,
            steps=steps,
        )

    skipped: list[dict[str, str]] = []
    steps: list[dict[str, str]] = []
    origin = getattr(lead, "origin", None)
    own = getattr(lead, "requested_agent", None) if origin == "agent" else None
    if own and plan is None and "origin" not in rule.match:
        # An agent's own lead is theirs whatever the pond's strategy: a colleague must not
        # get it (and read it). Only a route that matches on origin explicitly decides else.
        agent = settings.find_agent(own)
        if agent is not None:
            reason = f"agent-origin lead: {agent.email}'s own"
            away = unavailable(agent, now)
            if away:
                reason += f" (assigned although {away})"
            steps.append({"pond": rule.pond, "strategy": "own", "result": reason})
            return made("assign", "own", rule.pond, reason, [agent], skipped, steps)
        skipped.append({"agent": own, "why": "named by an agent-origin lead: not a configured "
                                              "agent"})
    if owner and rule.returning_to_owner:
        agent = settings.find_agent(owner)
        why = (
            "not a configured agent"
            if agent is None
            else unavailable(agent, now)
            or ("already had this lead" if agent.email in exclude else None)
        )
        if agent is not None and why is None:
            reason = f"returning contact, owned by {agent.email}"
            steps.append({"pond": rule.pond, "strategy": "returning", "result": reason})
            return made("assign", "returning", rule.pond, reason, [agent], skipped, steps)
        skipped.append({"agent": owner, "why": f"owner of the contact: {why}"})
    if plan is None:
        plan = [(rule.pond, str(rule.strategy))] + [
            (s.pond or rule.pond, str(s.strategy)) for s in rule.fallback
        ]
    for pond, strategy in plan:
        ctx = Context(session, settings, lead, rule, pond, now, ledger, exclude, skipped)
        choice = STRATEGIES[strategy].choose(ctx)
        found = choice.reason if choice else (ctx.why or "nobody eligible")
        steps.append({"pond": pond, "strategy": strategy, "result": found})
        if choice is not None:
            return made(choice.action, strategy, pond, choice.reason, choice.agents, skipped, steps)
    manager = settings.manager_of(rule.pond)
    if manager is not None and all(s != "manager" for _, s in plan):
        reason = f"nobody eligible; to {manager.email}, manager of {rule.pond!r}, to assign"
        steps.append({"pond": rule.pond, "strategy": "manager", "result": reason})
        return made("manager", "manager", rule.pond, reason, [manager], skipped, steps)
    first = plan[0][1] if plan else rule.strategy
    return made("none", first, rule.pond, "no eligible agent", [], skipped, steps)


def route(
    session: Session,
    settings: Settings,
    lead: Any,
    owner: str | None = None,
    *,
    clock: clocks.Clock | None = None,
) -> Decision:
    """Decide who gets a new lead (live: round-robin credits are locked and saved)."""
    now = (clock or clocks.current()).now()
    return decide(session, settings, lead, now=now, ledger=DbLedger.of(session), owner=owner)


def trace_of(decision: Decision) -> dict[str, Any]:
    """The decision as a trace entry."""
    return {
        "step": "route",
        "rule": decision.rule,
        "matched": decision.matched,
        "not_matched": decision.not_matched,
        "pond": decision.pond,
        "strategy": decision.strategy,
        "action": decision.action,
        "agent": decision.agent.email if decision.agent else None,
        "offered": [a.email for a in decision.offered],
        "reason": decision.reason,
        "steps": decision.steps,
        "skipped": decision.skipped,
    }
