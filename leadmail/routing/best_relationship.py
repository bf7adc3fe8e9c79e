"""Best relationship: the agent who already knows this person or company gets the lead."""

from __future__ import annotations

from leadmail.routing.base import Choice, Context
from leadmail.routing.round_robin import RoundRobin


class BestRelationship:
    """Strongest history (same contact, email, phone, company domain); ties: round-robin."""

    name = "best_relationship"

    def choose(self, ctx: Context) -> Choice | None:
        """Score eligible agents by past leads; no history or a tie goes to round-robin."""
        eligible = ctx.eligible()
        if not eligible:
            return None
        history = ctx.ledger.relationships(ctx.lead)
        scored = [(history[a.email][0], a) for a in eligible if a.email in history]
        for email, (score, _) in history.items():
            if email not in {a.email for a in eligible}:
                ctx.skip(email, f"has history (score {score}) but is not eligible in this pond now")
        if not scored:
            rr = RoundRobin().choose(ctx, among=eligible)
            return rr and Choice("assign", rr.agents, f"no past relationship; {rr.reason}")
        top = max(score for score, _ in scored)
        tied = [a for score, a in scored if score == top]
        if len(tied) > 1:
            rr = RoundRobin().choose(ctx, among=tied)
            names = ", ".join(a.email for a in tied)
            return rr and Choice("assign", rr.agents, f"tie at score {top} ({names}); {rr.reason}")
        best = tied[0]
        why = ", ".join(history[best.email][1][:5])
        return Choice("assign", [best], f"best relationship: score {top} from {why}")
