"""Step: an agent's own email to a lead (BCC, Sent folder) is contact with it, not a new lead.

Reads: From/To, `Lead`, the authentication results. Writes, in a transaction of its own: an
`Activity` ("reply") and the lead's last contact (`followup.activity`). Not for leads posted
to the API. Ends the message: NotALead. A failure: Transient.
"""

from __future__ import annotations

from leadmail.followup import activity
from leadmail.pipeline.context import Context, something_else


def run(ctx: Context) -> Context:
    if ctx.intake == "api":
        return ctx
    return something_else(
        ctx, lambda: activity.from_intake(ctx.rt.settings, ctx.engine, ctx.msg_id, ctx.raw),
        source="activity", failed="could not record an agent's email to a lead; will retry")
