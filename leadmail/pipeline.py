"""The pipeline: a stored message becomes a lead, a duplicate, a non-lead, or a quarantine record.

    intake → store raw → parse → match source rule → extract → normalize → classify
           → merge contact → route → outbox → deliver

`read` runs the pure steps (parse … classify) and is all `leadmail extract` does. `process`
claims a stored message, runs `read`, then merges, routes and queues the alert in ONE
transaction, so a crash at any point leaves either nothing or everything; the message is then
simply processed again. The lead's unique dedup key makes a second lead impossible.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import structlog
from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from leadmail import classify as classify_step
from leadmail import contacts, normalize, parsers, routing, scripts, workers
from leadmail.config import Settings
from leadmail.db import session_scope
from leadmail.draft import Draft, build
from leadmail.errors import Quarantine, ReadFailed
from leadmail.followup import activity, steps
from leadmail.intake import api as api_intake
from leadmail.metrics import ASSIGNMENTS, PROCESSED, STEP_SECONDS
from leadmail.models import Contact, Event, Lead, Message, MessageStatus, utcnow
from leadmail.normalize import storable
from leadmail.notify import outbox
from leadmail.parsers.base import Extracted, ParseContext
from leadmail.parsers.mime import parse_mail
from leadmail.routing import replies
from leadmail.rules import Rule, apply_extractions, load_rules, match_rule
from leadmail.store import content_sha

STAGES = (
    "store",
    "reply",  # an answer to one of our alerts acts (routing.replies) and stops here
    "activity",  # an agent's own email to a lead is contact (followup.activity), not a lead
    "parse",
    "match_rule",
    "extract",
    "normalize",
    "classify",
    "merge_contact",
    "route",
    "outbox",
    "deliver",
)
LEASE = timedelta(seconds=60)
log = structlog.get_logger("leadmail.pipeline")


worker_id = workers.worker_id


@dataclass(frozen=True)
class Runtime:
    """Everything the pipeline reads besides the message: loaded at start and on SIGHUP."""

    settings: Settings
    rules: list[Rule]
    parse_ctx: ParseContext

    @classmethod
    def load(cls, settings: Settings) -> Runtime:
        """Load rules and agent knowledge; raises ConfigErrors on a bad rule file."""
        rules = load_rules(
            settings.rules.dir, settings.classify.all_segments(), {p.name for p in parsers.PARSERS}
        )
        for rule in rules:
            if rule.script:
                try:
                    scripts.check(rule.script)
                except Quarantine as exc:
                    from leadmail.errors import ConfigError, ConfigErrors

                    raise ConfigErrors([ConfigError(f"{rule.path}: script", exc.reason)]) from None
        ctx = ParseContext(
            agent_emails=frozenset(a.email for a in settings.agents),
            agent_phones=frozenset(a.phone for a in settings.agents if a.phone),
            agent_names=frozenset(a.name.lower() for a in settings.agents),
            default_region=settings.pipeline.default_region,
            nlp_model=settings.pipeline.nlp_model,
        )
        return cls(settings, rules, ctx)


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
    draft.trace[:0] = [
        {
            "step": "parse",
            "message_id": mail.message_id,
            "subject": mail.subject,
            "from": mail.from_addr,
            "defects": mail.defects,
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
    """The read step for a lead posted to the API (intake "api", stored by intake.api as a
    small message with the JSON as its body): JSON → normalize → classify. Pure: no database."""
    msg = message_from_bytes(raw, policy=policy.default)
    name = str(msg.get(api_intake.HEADER, "")).strip()
    key = next((k for k in rt.settings.api_keys if k.name == name), None)
    if key is None:
        raise Quarantine(f"API key {name!r} that posted this lead is not configured any more")
    assert isinstance(msg, EmailMessage)
    try:
        data = api_intake.LeadIn.model_validate_json(msg.get_content())
    except ValueError as exc:
        raise Quarantine(f"the posted JSON is not a lead: {exc}") from None
    given = data.model_dump(exclude_none=True)
    ext = Extracted(
        parser="api",
        source=key.source or data.source or key.name,
        first_name=data.first_name,
        last_name=data.last_name,
        full_name=data.full_name,
        email=data.email,
        phone=data.phone,
        address=data.address,
        property_address=data.property_address,
        price=data.price,
        message=data.message,
        stage=data.stage,
        segment=data.segment,
        tags=list(data.tags),
        custom_fields=dict(data.custom_fields),
        agent_email=key.agent,
        confidence={k: 1.0 for k in given if k not in ("tags", "custom_fields", "source")},
    )
    draft = build(ext, rt.settings.pipeline.default_region)
    draft.origin = key.origin
    draft.trace[:0] = [{"step": "parse", "intake": "api", "integration": key.name,
                        "message_id": str(msg.get("Message-ID", ""))},
                       {"step": "extract", "parser": "api", "fields": sorted(given)}]
    return classify_step.classify(draft, None, rt.settings)


# ---------------------------------------------------------------------------------------------
# Claiming stored messages


def claimable(engine: Engine, limit: int = 20) -> list[int]:
    """Ids of stored messages ready to process, oldest first (incl. expired claims)."""
    now = utcnow()
    with session_scope(engine) as session:
        rows = session.exec(
            select(Message.id)
            .where(
                or_(
                    (col(Message.status) == MessageStatus.RECEIVED)
                    & (col(Message.lease_until).is_(None) | (col(Message.lease_until) <= now)),
                    (col(Message.status) == MessageStatus.PROCESSING)
                    & (col(Message.lease_until) <= now),
                )
            )
            .order_by(col(Message.id))
            .limit(limit)
        ).all()
    return [r for r in rows if r is not None]


def release_dead_claims(engine: Engine, at_start: bool = False) -> int:
    """Messages claimed by a process of this host that no longer runs are free again (without
    waiting for their lease). Peers on other hosts are covered by the lease."""
    released = 0
    with session_scope(engine) as session:
        rows = session.exec(select(Message).where(Message.status == MessageStatus.PROCESSING)).all()
        for msg in rows:
            if workers.claim_is_dead(msg.claimed_by, at_start):
                msg.status, msg.lease_until = MessageStatus.RECEIVED, None
                session.add(msg)
                released += 1
    return released


def _claimable_now(now: datetime) -> Any:
    """Received and not waiting out a retry backoff, or processing under an expired lease."""
    return or_(
        (col(Message.status) == MessageStatus.RECEIVED)
        & (col(Message.lease_until).is_(None) | (col(Message.lease_until) <= now)),
        (col(Message.status) == MessageStatus.PROCESSING) & (col(Message.lease_until) <= now),
    )


def _claim(engine: Engine, msg_id: int, me: str) -> bool:
    now = utcnow()
    with session_scope(engine) as session:
        # Lock the row if it is claimable; a row another worker is claiming right now is
        # skipped instead of waited for (PostgreSQL SKIP LOCKED; SQLite serializes writers).
        free = session.exec(
            select(Message.id)
            .where(col(Message.id) == msg_id, _claimable_now(now))
            .with_for_update(skip_locked=True)
        ).first()
        if free is None:
            return False
        result = session.execute(
            update(Message)
            .where(col(Message.id) == msg_id, _claimable_now(now))
            .values(
                status=MessageStatus.PROCESSING,
                claimed_by=me,
                lease_until=now + LEASE,
                attempts=Message.attempts + 1,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# Processing one message


@dataclass
class Outcome:
    """How one message ended (one JSON line of `leadmail ingest`)."""

    message: int
    status: str
    lead_id: int | None = None
    agent: str | None = None
    reason: str | None = None
    duplicate_of: int | None = None
    source: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return dict(self.__dict__)


def _finish(
    engine: Engine,
    msg_id: int,
    status: str,
    *,
    reason: str | None = None,
    error: str | None = None,
    duplicate_of: int | None = None,
) -> None:
    reason = storable(reason)  # the message row and its event both keep it
    with session_scope(engine) as session:
        msg = session.get(Message, msg_id)
        assert msg is not None
        msg.status, msg.reason, msg.error = status, reason, storable(error)
        msg.duplicate_of, msg.processed_at, msg.lease_until = duplicate_of, utcnow(), None
        session.add(msg)
        session.add(
            Event(
                kind=status,
                message_pk=msg_id,
                data={"reason": reason, "duplicate_of": duplicate_of},
            )
        )


Reader = Callable[[bytes, str], Draft]


def process(
    rt: Runtime,
    engine: Engine,
    msg_id: int,
    me: str | None = None,
    reader: Reader | None = None,
) -> Outcome | None:
    """Run the pipeline on one stored message; None when another worker holds it. `reader`
    runs the read step (the daemon's: sandbox.ReadPool.read, in a child process); by
    default it runs here."""
    started = time.perf_counter()
    # Every log line of every step for this message carries msg=ID (the correlation id),
    # including those of parsers, scripts, routing and the outbox enqueue.
    with structlog.contextvars.bound_contextvars(msg=msg_id):
        outcome = _process(rt, engine, msg_id, me, reader)
    if outcome is not None:
        STEP_SECONDS.labels("total").observe(time.perf_counter() - started)
        PROCESSED.labels(outcome.status, outcome.source or "").inc()
    return outcome


def _process(
    rt: Runtime, engine: Engine, msg_id: int, me: str | None, reader: Reader | None
) -> Outcome | None:
    me = me or worker_id()
    bound = log.bind(msg=msg_id)
    if not _claim(engine, msg_id, me):
        return None
    with session_scope(engine) as session:
        msg = session.get(Message, msg_id)
        assert msg is not None
        raw, key, attempts, intake = msg.raw, msg.dedup_key, msg.attempts, msg.intake
        first = session.exec(select(func.min(Message.id)).where(Message.dedup_key == key)).one()
    max_attempts = rt.settings.pipeline.max_attempts
    if attempts > max_attempts:
        reason = f"gave up after {max_attempts} attempts (the process died while working on it)"
        _finish(engine, msg_id, MessageStatus.QUARANTINED, reason=reason)
        bound.error("quarantined", reason=reason)
        return Outcome(msg_id, MessageStatus.QUARANTINED, reason=reason)
    if first is not None and first < msg_id and key.startswith("mid:"):
        # One Message-ID, other content: another message (a forged or careless Message-ID
        # must not erase a lead). It gets a key of its own and is read; the link stays.
        key, first = _rekey_if_other_content(engine, msg_id, first, key, raw)
    if first is not None and first < msg_id:
        reason = f"same message as #{first} ({key[:80]})"
        _finish(engine, msg_id, MessageStatus.DUPLICATE, reason=reason, duplicate_of=first)
        bound.info("duplicate", duplicate_of=first)
        return Outcome(msg_id, MessageStatus.DUPLICATE, reason=reason, duplicate_of=first)

    try:  # an agent answering an alert (CLAIM, ACCEPT, DECLINE) acts and is not read as a lead
        reply = replies.handle(rt.settings, engine, msg_id, raw)
    except Exception:
        bound.exception("could not act on a reply to an alert; will retry")
        return _retry_later(engine, msg_id, attempts, max_attempts)
    if reply is not None:
        _finish(engine, msg_id, MessageStatus.NON_LEAD, reason=reply)
        bound.info("reply to an alert", outcome=reply)
        return Outcome(msg_id, MessageStatus.NON_LEAD, reason=reply, source="reply")

    try:  # an agent's own email to a lead (BCC, Sent folder): last contact, not a new lead
        noted = None if intake == "api" else activity.from_intake(rt.settings, engine, msg_id, raw)
    except Exception:
        bound.exception("could not record an agent's email to a lead; will retry")
        return _retry_later(engine, msg_id, attempts, max_attempts)
    if noted is not None:
        _finish(engine, msg_id, MessageStatus.NON_LEAD, reason=noted)
        return Outcome(msg_id, MessageStatus.NON_LEAD, reason=noted, source="activity")

    try:
        draft = reader(raw, intake) if reader else read_any(raw, intake, rt)
    except ReadFailed as exc:  # killed at the time limit, or died: one attempt used
        bound.error("reading failed", reason=exc.reason, attempt=attempts)
        if attempts >= max_attempts:
            reason = f"{exc.reason}; gave up after {attempts} attempts"
            _finish(engine, msg_id, MessageStatus.QUARANTINED, reason=reason)
            return Outcome(msg_id, MessageStatus.QUARANTINED, reason=reason)
        return _retry_later(engine, msg_id, attempts, max_attempts, error=exc.reason)
    except Quarantine as exc:
        _finish(
            engine,
            msg_id,
            MessageStatus.QUARANTINED,
            reason=exc.reason,
            error=getattr(exc, "traceback", None),
        )
        bound.warning("quarantined", reason=exc.reason)
        return Outcome(msg_id, MessageStatus.QUARANTINED, reason=exc.reason)
    except Exception as exc:  # a bug met this input: keep the message and say where it broke
        reason = f"internal error while reading the message: {type(exc).__name__}: {exc}"
        _finish(
            engine, msg_id, MessageStatus.QUARANTINED, reason=reason, error=traceback.format_exc()
        )
        bound.exception("quarantined", reason=reason)
        return Outcome(msg_id, MessageStatus.QUARANTINED, reason=reason)

    if not draft.is_lead:
        reason = draft.not_lead_reason or "not a lead"
        _finish(engine, msg_id, MessageStatus.NON_LEAD, reason=reason)
        bound.info("not a lead", reason=reason)
        return Outcome(msg_id, MessageStatus.NON_LEAD, reason=reason, source=draft.source)

    try:
        return _commit_lead(rt, engine, msg_id, key, draft)
    except IntegrityError:
        # Another copy of this message made the lead first (two workers, same dedup key).
        with session_scope(engine) as session:
            lead = session.exec(select(Lead).where(Lead.dedup_key == key)).first()
        if lead is not None and lead.message_pk != msg_id:
            reason = f"same message as #{lead.message_pk}"
            _finish(
                engine, msg_id, MessageStatus.DUPLICATE, reason=reason, duplicate_of=lead.message_pk
            )
            return Outcome(
                msg_id, MessageStatus.DUPLICATE, reason=reason, duplicate_of=lead.message_pk
            )
        return _retry_later(engine, msg_id, attempts, max_attempts)
    except Exception:  # database down, locked, or full: the message stays stored; try later
        bound.exception("could not store the lead; will retry")
        return _retry_later(engine, msg_id, attempts, max_attempts)


def _rekey_if_other_content(
    engine: Engine, msg_id: int, first: int, key: str, raw: bytes
) -> tuple[str, int | None]:
    """(key, earliest message with it): the Message-ID key when the content is the earlier
    message's, else the key with this content's hash, for this message and its redeliveries."""
    with session_scope(engine) as session:
        earlier = session.get(Message, first)
        if earlier is None or content_sha(earlier.raw) == (mine := content_sha(raw)):
            return key, first
        own = f"{key}#{mine[:32]}"
        same = session.exec(select(func.min(Message.id)).where(Message.dedup_key == own)).one()
        if same is not None and same < msg_id:
            return own, same
        msg = session.get(Message, msg_id)
        assert msg is not None
        msg.dedup_key = own
        session.add(msg)
        session.add(Event(kind="message_id_reused", message_pk=msg_id,
                          data={"earlier": first, "message_id": key[4:][:200]}))
    log.warning("same Message-ID as an earlier message, other content: read as a message of "
                "its own", msg=msg_id, earlier=first)
    return own, None


def _retry_later(
    engine: Engine, msg_id: int, attempts: int, max_attempts: int, error: str | None = None
) -> Outcome:
    error = error or traceback.format_exc()
    if attempts >= max_attempts:
        reason = f"could not store the lead after {attempts} attempts: {error.splitlines()[-1]}"
        _finish(engine, msg_id, MessageStatus.QUARANTINED, reason=reason, error=error)
        return Outcome(msg_id, MessageStatus.QUARANTINED, reason=reason)
    with session_scope(engine) as session:
        msg = session.get(Message, msg_id)
        assert msg is not None
        msg.status, msg.error = MessageStatus.RECEIVED, storable(error)
        msg.lease_until = utcnow() + timedelta(seconds=outbox.backoff_seconds(attempts))
        session.add(msg)
    return Outcome(msg_id, MessageStatus.RECEIVED, reason="will retry")


def _commit_lead(rt: Runtime, engine: Engine, msg_id: int, key: str, draft: Draft) -> Outcome:
    """merge contact → route → outbox, and the message's final status: one transaction."""
    settings = rt.settings
    with session_scope(engine) as session:
        existing = session.exec(select(Lead).where(Lead.dedup_key == key)).first()
        if existing is not None:  # this very message made its lead before a crash: done
            msg = session.get(Message, msg_id)
            assert msg is not None
            msg.status, msg.lead_id, msg.processed_at = MessageStatus.LEAD, existing.id, utcnow()
            session.add(msg)
            return Outcome(msg_id, MessageStatus.LEAD, existing.id, existing.agent)
        lead = Lead(message_pk=msg_id, dedup_key=key, **_lead_fields(draft))
        session.add(lead)
        session.flush()
        assert lead.id is not None
        contact, merged = contacts.merge(session, draft, lead.id)
        lead.contact_id = contact.id
        draft.note("merge_contact", contact=contact.id, merged=merged)
        session.add_all(
            [
                Event(
                    kind="lead_created",
                    message_pk=msg_id,
                    lead_id=lead.id,
                    data={"source": draft.source, "rule": draft.rule, "parser": draft.parser},
                ),
                Event(
                    kind="contact_merged" if merged else "contact_created",
                    lead_id=lead.id,
                    data={"contact": contact.id},
                ),
            ]
        )
        reason = review_reason(draft, settings)
        if reason:
            # Not routed blind: a person checks it (`leadmail review`), then it is routed.
            lead.status, lead.review_reason = "review", reason
            draft.note("review", reason=reason)
            session.add(Event(kind="review", lead_id=lead.id, data={"reason": reason}))
            route_name = "review"
        else:
            decision = assign(
                session,
                settings,
                lead,
                contact,
                draft.trace,
                owner=contact.owner if merged else None,
            )
            route_name = decision.rule
        lead.trace = list(draft.trace)
        session.add(lead)
        session.add(contact)
        msg = session.get(Message, msg_id)
        assert msg is not None
        msg.status, msg.lead_id, msg.processed_at = MessageStatus.LEAD, lead.id, utcnow()
        msg.lease_until, msg.reason = None, None
        session.add(msg)
        outcome = Outcome(msg_id, MessageStatus.LEAD, lead.id, lead.agent, source=draft.source)
    log.info(
        "lead",
        msg=msg_id,
        lead=outcome.lead_id,
        source=draft.source,
        agent=outcome.agent,
        route=route_name,
    )
    return outcome


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
        if k in ("first_name", "last_name", "full_name", "email", "phone") and v < threshold
    }
    if low:
        fields = ", ".join(f"{k} {v:.2f}" for k, v in sorted(low.items()))
        return f"low confidence (below {threshold:g}): {fields}"
    return None


def assign(
    session: Session,
    settings: Settings,
    lead: Lead,
    contact: Contact,
    trace: list[dict[str, Any]],
    owner: str | None = None,
) -> routing.Decision:
    """route → assignment → outbox alert, inside the caller's transaction."""
    decision = routing.route(session, settings, lead, owner=owner)
    if decision.agent is not None:
        ASSIGNMENTS.labels(decision.strategy).inc()
    trace.append(routing.trace_of(decision))
    # Assignment, offers, timers, alerts and events: routing.dispatch writes them all.
    routing.dispatch(session, settings, lead, decision, trace=trace)
    steps.on_assigned(session, settings, lead)  # Next Steps: the agent's first step
    return decision


def _lead_fields(draft: Draft) -> dict[str, Any]:
    """Every Draft field the Lead table stores (the trace is written once routing is done)."""
    names = [f.name for f in fields(Draft) if f.name in Lead.model_fields and f.name != "trace"]
    return {n: getattr(draft, n) for n in names}


def _display_name(lead: Lead) -> str:
    name = " ".join(p for p in (lead.first_name, lead.last_name) if p)
    return name or lead.email or lead.phone or f"lead #{lead.id}"


def requeue(engine: Engine, msg_id: int) -> bool:
    """Put a quarantined message back in line (after a fix); True when it was quarantined."""
    with session_scope(engine) as session:
        msg = session.get(Message, msg_id)
        if msg is None or msg.status != MessageStatus.QUARANTINED:
            return False
        msg.status, msg.attempts, msg.lease_until, msg.reason = (
            MessageStatus.RECEIVED,
            0,
            None,
            None,
        )
        session.add(msg)
        session.add(Event(kind="requeued", message_pk=msg_id))
        return True
