"""Step: must a person check this lead before it is routed? Pure: no database.

Reads: the draft's contact fields, their confidence, and what the readers noted. Ends the
message with the typed outcome Review(reason) when a person must check the lead first: the
loop then makes the lead held in review (`Lead.status = review`; `leadmail review` routes it
later) instead of routing it. Otherwise the context goes on to the commit step.
"""

from __future__ import annotations

from leadmail import leadfields
from leadmail.config import Settings
from leadmail.draft import Draft
from leadmail.errors import Review
from leadmail.pipeline.context import Context

CONTACT_FIELDS = leadfields.names("identity")


def run(ctx: Context) -> Context:
    reason = review_reason(ctx.the_draft(), ctx.rt.settings)
    if reason is not None:
        raise Review(reason)
    return ctx


def review_reason(draft: Draft, settings: Settings) -> str | None:
    """Why a lead must be checked by a person before routing (None: route it now)."""
    if not draft.email and not draft.phone:
        return "no usable contact: neither an email nor a phone"
    held = next((t["review"] for t in draft.trace if t.get("step") == "fields" and t.get(
        "review")), None)
    if held:  # a reader kept the mail as a lead for a person to look at (parsers.nlp)
        return str(held)
    threshold = settings.pipeline.review_below
    low = {
        k: v
        for k, v in draft.confidence.items()
        if k in CONTACT_FIELDS and v < threshold
    }
    if low:
        fields = ", ".join(f"{k} {v:.2f}" for k, v in sorted(low.items()))
        return f"low confidence (below {threshold:g}): {fields}"
    return None
