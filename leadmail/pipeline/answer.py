"""Step: a lead's answer to one of its campaign mails (or a bounce of one) stops the campaign.

Reads: In-Reply-To/References (a campaign mail's Message-ID), From (a lead whose campaign
runs), a delivery report's Status. Writes, in a transaction of its own
(`followup.campaigns.from_intake`): a "lead_replied" activity, the run stopped with its
reason, the "answered your campaign" alert to the agent in `Outbox`; for a hard bounce the
address on the suppression list. Ends the message: NotALead. A failure: Transient.
"""

from __future__ import annotations

from leadmail.followup import campaigns
from leadmail.pipeline.context import Context, something_else


def run(ctx: Context) -> Context:
    if ctx.intake == "api" or not ctx.rt.settings.followup.campaigns:
        return ctx
    return something_else(
        ctx, lambda: campaigns.from_intake(ctx.rt.settings, ctx.engine, ctx.msg_id, ctx.raw),
        source="campaign", failed="could not record a lead's answer to a campaign; will retry",
        said="answer to a campaign")
