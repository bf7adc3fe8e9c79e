"""Step: an agent's answer to one of our alerts (CLAIM, ACCEPT, DECLINE) acts, and is no lead.

Reads: In-Reply-To/References, `Outbox` rows, the reply tag. Writes, in `routing.actions`' own
transactions: assignment, offers, events, the answer email in `Outbox` (`routing.replies`).
Ends the message: NotALead with what the answer did. A failure: Transient (tried again; the
lead's state decides what a second try does).
"""

from __future__ import annotations

from leadmail.pipeline.context import Context, something_else
from leadmail.routing import replies


def run(ctx: Context) -> Context:
    return something_else(
        ctx, lambda: replies.handle(ctx.rt.settings, ctx.engine, ctx.msg_id, ctx.raw),
        source="reply", failed="could not act on a reply to an alert; will retry",
        said="reply to an alert")
