"""Round-robin: even or weighted rotation over a pond's eligible agents, persisted per pond.

Smooth weighted round-robin (the scheme nginx uses): each pick, every eligible agent earns its
weight in credit, the richest agent gets the lead and pays back the total weight earned. Equal
weights give A, B, C, A, ...; weights 2, 1, 1 give A, B, C, A. Only eligible agents earn, so
an agent on leave, off shift or at a cap builds no backlog: on return they rejoin with the
credit they left with (at most about one extra lead), not a flood of catch-up leads.
"""

from __future__ import annotations

from leadmail.config import AgentConfig
from leadmail.routing.base import Choice, Context


def rotate(
    credits: dict[str, float], candidates: list[AgentConfig]
) -> tuple[AgentConfig, dict[str, float]]:
    """Pick among candidates (config order breaks ties); the pick and the new credits."""
    total = sum(a.weight for a in candidates)
    new = dict(credits)
    for agent in candidates:
        new[agent.email] = new.get(agent.email, 0.0) + agent.weight
    pick = max(candidates, key=lambda a: new[a.email])  # max() keeps the first of equals
    new[pick.email] -= total
    return pick, new


class RoundRobin:
    """The next eligible agent of the pond in (weighted) turn."""

    name = "round_robin"

    def choose(self, ctx: Context, among: list[AgentConfig] | None = None) -> Choice | None:
        """Rotate over the eligible agents (or `among`, already filtered)."""
        candidates = ctx.eligible() if among is None else among
        if not candidates:
            return None
        credits = ctx.ledger.credits(ctx.pond)  # locks the pond's row: one pick at a time
        pick, credits = rotate(credits, candidates)
        # Credits of agents no longer configured are dropped; the rest are bounded so a config
        # change (weights, agents) cannot leave anyone with an ever-growing backlog.
        bound = float(sum(a.weight for a in ctx.agents) or 1)
        known = {a.email for a in ctx.agents}
        credits = {k: max(-bound, min(bound, v)) for k, v in credits.items() if k in known}
        ctx.ledger.save_credits(ctx.pond, credits, pick.email, ctx.now)
        shown = ", ".join(a.email for a in candidates)
        return Choice("assign", [pick], f"round_robin in pond {ctx.pond!r} among {shown}")
