"""Jump balls: the lead is offered to every eligible agent of the pond at once.

first_to_claim: the first claim wins (routing.actions.claim, atomic under a row lock).
claim_and_assign: agents claim during the window; then the manager picks among the claimants.
Either way, when the window closes with no taker, the rule's fallback runs (routing.timers).
"""

from __future__ import annotations

from leadmail.routing.base import Action, Choice, Context


def offer_to_everyone_eligible(ctx: Context, action: Action, terms: str) -> Choice | None:
    """A jump ball: every eligible agent of the pond at once (None when nobody is); `terms`
    says how the lead is then decided among them."""
    agents = ctx.eligible()
    if not agents:
        return None
    return Choice(action, agents, f"offered to {len(agents)} agents of {ctx.pond!r}; {terms}")


class FirstToClaim:
    """Offer to all eligible agents; first claim wins."""

    name = "first_to_claim"

    def choose(self, ctx: Context) -> Choice | None:
        """Everyone eligible in the pond."""
        return offer_to_everyone_eligible(
            ctx, "offer", f"first claim within {ctx.rule.claim_window} min wins"
        )


class ClaimAndAssign:
    """Offer to all eligible agents; the manager picks among those who claim."""

    name = "claim_and_assign"

    def choose(self, ctx: Context) -> Choice | None:
        """Everyone eligible in the pond."""
        return offer_to_everyone_eligible(
            ctx, "collect", f"claims for {ctx.rule.claim_window} min, then the manager picks"
        )
