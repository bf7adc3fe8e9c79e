"""Step: read the message. Pure: no database, no transaction; in the daemon it runs in a
reader process (`sandbox.ReadPool`), under its time and memory limits.

parse → match source rule → extract (the parser, then the rule's `[extract]` and its script)
→ normalize → classify, for mail (`read`); JSON → normalize → classify for a lead posted to
the API (`read_api`). Writes: the context's `Draft`, with what each part did in its trace.
Ends the message: NotALead (read fine, not a lead), Quarantine (cannot be read as it is, or a
bug met it), Transient (the reader ran out of time or died: one attempt used).
"""

from __future__ import annotations

import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from email import message_from_bytes, policy
from email.message import EmailMessage

from leadmail import classify as classify_step
from leadmail import leadfields, normalize, parsers, scripts
from leadmail.draft import Draft, build
from leadmail.errors import NotALead, Quarantine, ReadFailed, Transient
from leadmail.intake import posted
from leadmail.metrics import STEP_SECONDS
from leadmail.parsers.base import Extracted
from leadmail.parsers.mime import parse_mail
from leadmail.parsers.provider_time import provider_time
from leadmail.pipeline.context import Context, Ran
from leadmail.pipeline.runtime import Runtime
from leadmail.rules import apply_extractions, match_rule

# Threads that wait on reader processes (a pipe each, without the GIL); the reader pool
# bounds how many reads really run at once.
_READS = ThreadPoolExecutor(max_workers=64, thread_name_prefix="leadmail-read")


def run_batch(ctxs: list[Context]) -> list[Ran]:
    """The batch's messages read side by side, one per reader process (the daemon's
    `reader`); read here, they go one after another."""
    if len(ctxs) < 2 or ctxs[0].reader is None:
        return [Ran.of(run, ctx) for ctx in ctxs]
    return list(_READS.map(lambda ctx: Ran.of(run, ctx), ctxs))


def run(ctx: Context) -> Context:
    try:
        draft = ctx.reader(ctx.raw, ctx.intake) if ctx.reader else read_any(
            ctx.raw, ctx.intake, ctx.rt)
    except ReadFailed as exc:  # killed at the time limit, or died: one attempt used
        ctx.log.error("reading failed", reason=exc.reason, attempt=ctx.attempts)
        if ctx.attempts >= ctx.max_attempts:
            raise Quarantine(f"{exc.reason}; gave up after {ctx.attempts} attempts") from None
        raise Transient(exc.reason) from None
    except Quarantine as exc:
        ctx.log.warning("quarantined", reason=exc.reason)
        raise
    except Exception as exc:  # a bug met this input: keep the message and say where it broke
        reason = f"internal error while reading the message: {type(exc).__name__}: {exc}"
        ctx.log.exception("quarantined", reason=reason)
        raise Quarantine(reason, traceback.format_exc()) from None
    if not draft.is_lead:
        reason = draft.not_lead_reason or "not a lead"
        ctx.log.info("not a lead", reason=reason)
        raise NotALead(reason, source=draft.source)
    ctx.draft = draft
    return ctx


def read_any(raw: bytes, intake: str, rt: Runtime) -> Draft:
    """The read step for a stored message of any intake: JSON posted to the API, else mail.
    What it returns is storable: no NUL or other control characters in any field."""
    draft = read_api(raw, rt) if intake == "api" else read(raw, rt)
    for f in fields(Draft):
        setattr(draft, f.name, normalize.storable(getattr(draft, f.name)))
    return draft


def read(raw: bytes, rt: Runtime) -> Draft:
    """parse → match source rule → extract → normalize → classify. Pure: no database."""
    with STEP_SECONDS.labels("parse").time():
        mail = parse_mail(raw)
    rule = match_rule(rt.rules, mail)
    forced = rule.parser if rule else None
    with STEP_SECONDS.labels("extract").time():
        ext = parsers.extract(mail, rt.parse_ctx, forced)
    taken = apply_extractions(rule, mail, ext) if rule and ext.is_lead else []
    region = rt.settings.pipeline.default_region
    draft = build(ext, region)
    clock = provider_time(mail)
    if clock is not None:
        draft.provider_at, draft.provider_clock = clock
    draft.trace[:0] = [
        {
            "step": "parse",
            "message_id": mail.message_id,
            "subject": mail.subject,
            "from": mail.from_addr,
            "defects": mail.defects,
            "provider_time": clock[0].isoformat() if clock else None,
            "provider_clock": clock[1] if clock else None,
        },
        {
            "step": "match_rule",
            "rule": rule.name if rule else None,
            "file": rule.path if rule else None,
        },
        {
            "step": "extract",
            "parser": ext.parser,
            "forced": forced,
            "rule_fields": taken,
            "script": str(rule.script) if rule and rule.script else None,
            "confidence": dict(ext.confidence),
        },
    ]
    if rule and rule.script and draft.is_lead:
        scripts.run(rule.script, mail, draft, region, rt.settings.pipeline.script_time_limit)
    if not draft.is_lead:
        draft.rule = rule.name if rule else None
        return draft
    with STEP_SECONDS.labels("classify").time():
        return classify_step.classify(draft, rule, rt.settings)


def read_api(raw: bytes, rt: Runtime) -> Draft:
    """The read step for a lead posted to the API (intake "api", stored by intake.posted as a
    small message with the JSON as its body): JSON → normalize → classify. Pure: no database."""
    msg = message_from_bytes(raw, policy=policy.default)
    name = str(msg.get(posted.HEADER, "")).strip()
    key = next((k for k in rt.settings.api_keys if k.name == name), None)
    if key is None:
        raise Quarantine(f"API key {name!r} that posted this lead is not configured any more")
    assert isinstance(msg, EmailMessage)
    try:
        data = posted.LeadIn.model_validate_json(msg.get_content())
    except ValueError as exc:
        raise Quarantine(f"the posted JSON is not a lead: {exc}") from None
    given = data.model_dump(exclude_none=True)
    given_fields = {f.extracted_attr: getattr(data, f.name) for f in leadfields.having("api_in")
                    if f.name != "source"}  # the API key's source wins over the posted one
    ext = Extracted(
        **{**given_fields, "tags": list(data.tags), "custom_fields": dict(data.custom_fields)},
        parser="api",
        source=key.source or data.source or key.name,
        agent_email=key.agent,
        confidence={k: 1.0 for k in given if k not in ("tags", "custom_fields", "source")},
    )
    draft = build(ext, rt.settings.pipeline.default_region)
    draft.origin = key.origin
    draft.trace[:0] = [{"step": "parse", "intake": "api", "integration": key.name,
                        "message_id": str(msg.get("Message-ID", ""))},
                       {"step": "extract", "parser": "api", "fields": sorted(given)}]
    return classify_step.classify(draft, None, rt.settings)
