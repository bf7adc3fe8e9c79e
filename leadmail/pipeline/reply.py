"""Step: an agent's answer to one of our alerts (CLAIM, ACCEPT, DECLINE) acts, and is no lead.

Reads: In-Reply-To/References, `Outbox` rows, the reply tag. Writes, in `routing.actions`' own
transactions: assignment, offers, events, the answer email in `Outbox` (`routing.replies`).
Ends the message: NotALead with what the answer did. A failure: Transient (tried again; the
lead's state decides what a second try does).
"""

from __future__ import annotations

import traceback

from leadmail.errors import NotALead, Transient
from leadmail.pipeline.context import Context
from leadmail.routing import replies


def run(ctx: Context) -> Context:
    try:
        answer = replies.handle(ctx.rt.settings, ctx.engine, ctx.msg_id, ctx.raw)
    except Exception:
        ctx.log.exception("could not act on a reply to an alert; will retry")
        raise Transient(traceback.format_exc()) from None
    if answer is not None:
        ctx.log.info("reply to an alert", outcome=answer)
        raise NotALead(answer, source="reply")
    return ctx
