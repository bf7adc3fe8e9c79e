"""Direct: the rule, a source rule or script (`set agent`), or the email itself names the agent."""

from __future__ import annotations

from leadmail.routing.base import Choice, Context, unavailable


class Direct:
    """The named agent, when configured (by email or alias), active and not on leave."""

    name = "direct"

    def choose(self, ctx: Context) -> Choice | None:
        """Route to the agent the rule names, else the one the lead asked for."""
        named, by = (
            (ctx.rule.agent, "the routing rule")
            if ctx.rule.agent
            else (ctx.lead.requested_agent, "the lead (provider, source rule or script)")
        )
        if not named:
            ctx.why = "no agent named by the rule or the lead"
            return None
        agent = ctx.settings.find_agent(named)
        if agent is None:
            ctx.why = f"{named} (named by {by}) is not a configured agent"
            return None
        why = unavailable(agent, ctx.now) or (
            "already had this lead" if agent.email in ctx.exclude else None
        )
        if why:
            ctx.skip(agent.email, why)
            return None
        return Choice("assign", [agent], f"direct: {by} names {named}")
