"""Manager: the pond's manager gets the lead and assigns it (CLI, link or email reply)."""

from __future__ import annotations

from leadmail.routing.base import Choice, Context


class Manager:
    """Hand the lead to the pond's manager (else routing.manager)."""

    name = "manager"

    def choose(self, ctx: Context) -> Choice | None:
        """The manager, to assign by hand."""
        manager = ctx.settings.manager_of(ctx.pond)
        if manager is None:
            ctx.why = f"pond {ctx.pond!r} has no manager"
            return None
        return Choice(
            "manager", [manager], f"to {manager.email}, manager of {ctx.pond!r}, to assign"
        )
