"""Jump balls: the lead is offered to every eligible agent of the pond at once.

first_to_claim: the first claim wins (routing.actions.claim, atomic under a row lock).
claim_and_assign: agents claim during the window; then the manager picks among the claimants.
Either way, when the window closes with no taker, the rule's fallback runs (routing.timers).
"""

from __future__ import annotations

from leadmail.routing.base import Choice, Context


class FirstToClaim:
    """Offer to all eligible agents; first claim wins."""

    name = "first_to_claim"

    def choose(self, ctx: Context) -> Choice | None:
        """Everyone eligible in the pond."""
        agents = ctx.eligible()
        if not agents:
            return None
        return Choice(
            "offer",
            agents,
            f"offered to {len(agents)} agents of {ctx.pond!r}; "
            f"first claim within {ctx.rule.claim_window} min wins",
        )


class ClaimAndAssign:
    """Offer to all eligible agents; the manager picks among those who claim."""

    name = "claim_and_assign"

    def choose(self, ctx: Context) -> Choice | None:
        """Everyone eligible in the pond."""
        agents = ctx.eligible()
        if not agents:
            return None
        return Choice(
            "collect",
            agents,
            f"offered to {len(agents)} agents of {ctx.pond!r}; "
            f"claims for {ctx.rule.claim_window} min, then the manager picks",
        )
