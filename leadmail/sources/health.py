"""Source health: rolling figures per lead source, and the drift alarm.

Every mail a source sends is one `SourceSample` row (the last WINDOW per source are kept) and
counts in its `SourceDay` row; both are written in the transaction that ends the message (the
commit step for a lead, the pipeline's close for a non-lead or a quarantine), so the figures
hold across instances and a crash leaves no half-count.

A source turns `drifting` (its `SourceHealth` row, locked while judged, so two instances never
both turn it) when:

- a field it usually fills (in >= USUAL of the BASELINE leads before its last RECENT) is
  missing in MISSING of its last RECENT leads;
- MISSING of its last RECENT leads went to the Direct fallback, where the BASELINE before
  rarely did (<= 1 - USUAL);
- it sends daily and has been silent for twice its usual gap (`check_silence`, a periodic
  pass).

Each turn starts a new episode; the admins' email is queued in the same transaction with the
key `source-drift-SOURCE-EPISODE-RECIPIENT`, so it goes out exactly once whatever the number
of instances. The state clears by itself: when at most one of the last RECENT leads misses the
field (or went to the fallback), or, for silence, when the source sends again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import structlog
from sqlalchemy import delete, func, insert
from sqlalchemy import select as core_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from leadmail.clock import aware, utcnow
from leadmail.config import AgentConfig, Settings
from leadmail.db import session_scope
from leadmail.models import Outbox, SourceDay, SourceHealth, SourceSample
from leadmail.notify import render
from leadmail.notify.outbox import enqueue_email

log = structlog.get_logger("leadmail.sources.health")

# What the fill rates are of, and where each is read from a lead.
FIELDS = ("name", "email", "phone", "property", "price", "message")
_ATTRS = {"name": ("first_name", "last_name"), "email": ("email",), "phone": ("phone",),
          "property": ("property_address",), "price": ("price",), "message": ("message",)}
RECENT = 5  # the last leads judged
MISSING = 3  # of RECENT: this many without a field (or at the fallback) is drift
BASELINE = 50  # the leads before the RECENT ones: what the source usually does
MIN_BASELINE = 10  # fewer leads before the RECENT ones: too early to say what is usual
USUAL = 0.9  # a field "usually filled": in this share of the BASELINE
WINDOW = 200  # samples kept per source
PRUNE_EVERY = 16  # the window is trimmed on one mail in this many
SILENT_MIN_SPAN = timedelta(days=3)  # a source "sends daily" only once seen that long
SILENT_FLOOR = timedelta(hours=1)  # never silent for less than this
OK, DRIFTING = "ok", "drifting"
LEAD_KINDS = ("lead", "review")
FALLBACK_PARSER = "nlp"  # the Direct fallback's module name (leadmail.parsers.nlp)
MAX_SOURCE = 200


def filled_fields(values: dict[str, Any]) -> list[str]:
    """The FIELDS a lead (its attribute values) has."""
    return [f for f in FIELDS if any(values.get(a) not in (None, "") for a in _ATTRS[f])]


def is_fallback(source: str | None, parser: str | None) -> bool:
    """Read by the Direct fallback although the mail names another source."""
    return parser == FALLBACK_PARSER and (source or "Direct") != "Direct"


@dataclass(frozen=True)
class Drift:
    """Why a source drifts: the kind (field, fallback, silent), in words, and the messages."""

    kind: str
    reason: str
    last_good: str | None = None
    first_bad: str | None = None
    field: str | None = None


def _ident(s: Any) -> str:
    return s.message_id or (f"#{s.message_pk}" if s.message_pk else f"sample {s.id}")


def _order(s: Any) -> tuple[int, int]:
    """Samples go in the order their messages arrived (not the order batches committed)."""
    return (s.message_pk or 0, s.id if s.id is not None else 2**62)  # (just written: newest)


def judge(window: list[Any]) -> Drift | None:
    """The drift a source's leads show (newest first, by arrival), or None."""
    recent, before = window[:RECENT], window[RECENT:RECENT + BASELINE]
    if len(recent) < RECENT or len(before) < MIN_BASELINE:
        return None
    tests: list[tuple[str, Any]] = [(f, lambda s, f=f: f not in (s.filled or [])) for f in FIELDS]
    tests.append(("fallback", lambda s: s.fallback))
    for name, bad in tests:
        missing = [s for s in recent if bad(s)]
        usual = sum(not bad(s) for s in before) / len(before)
        if usual >= USUAL and len(missing) >= MISSING:
            first_bad = missing[-1]  # the oldest of the recent bad ones
            good = next((s for s in window if not bad(s) and _order(s) < _order(first_bad)), None)
            if name == "fallback":
                reason = (f"{len(missing)} of its last {RECENT} mails went to the Direct "
                          f"fallback instead of its parser ({1 - usual:.0%} of the "
                          f"{len(before)} before)")
            else:
                reason = (f"{name} missing in {len(missing)} of its last {RECENT} leads "
                          f"(filled in {usual:.0%} of the {len(before)} before)")
            return Drift("fallback" if name == "fallback" else "field", reason,
                         _ident(good) if good else None, _ident(first_bad), name)
    return None


def _recovered(health: SourceHealth, window: list[Any]) -> bool:
    """A drifting source is well again: at most one of its last RECENT leads is bad."""
    if health.kind == "silent":
        return True  # it sent again
    recent = window[:RECENT]
    if health.kind == "fallback":
        return len(recent) >= RECENT and sum(s.fallback for s in recent) <= MISSING - 2
    name = (health.kind or "").removeprefix("field:")
    return len(recent) >= RECENT and sum(name not in (s.filled or [])
                                         for s in recent) <= MISSING - 2


def _insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _locked(session: Session, source: str, now: datetime) -> SourceHealth:
    """The source's health row, created if missing, locked until the transaction ends."""
    session.execute(_insert(session)(SourceHealth).values(
        source=source, state=OK, episode=0, updated_at=now)
        .on_conflict_do_nothing(index_elements=["source"]))
    return session.exec(select(SourceHealth).where(SourceHealth.source == source)
                        .with_for_update().execution_options(populate_existing=True)).one()


def _count_day(session: Session, source: str, day: date, **add: int) -> None:
    ins = _insert(session)(SourceDay).values(
        source=source, day=day, **{k: add.get(k, 0) for k in
                                   ("mails", "leads", "review", "fallback", "quarantined")})
    session.execute(ins.on_conflict_do_update(
        index_elements=["source", "day"],
        set_={k: getattr(SourceDay, k) + v for k, v in add.items()}))


@dataclass(frozen=True)
class Seen:
    """One mail of a source, to be counted: its kind (lead, review, nonlead, quarantine), its
    message, and for a lead its values and the parser that read it."""

    source: str | None
    kind: str
    message_pk: int | None
    message_id: str | None
    values: dict[str, Any] | None = None
    parser: str | None = None


class _Row(NamedTuple):
    """A sample as judge() reads it (a row of `_window`, or one just written)."""

    id: int | None
    message_pk: int | None
    message_id: str | None
    fallback: bool
    filled: list[str]
    at: datetime


def observe(session: Session, settings: Settings, *, source: str | None, kind: str,
            message_pk: int | None, message_id: str | None, values: dict[str, Any] | None = None,
            parser: str | None = None) -> Drift | None:
    """Count one mail of `source` (kind: lead, review, nonlead, quarantine) in the caller's
    transaction, judge the source, and on a turn to drifting queue the admins' email. The
    drift it turned to, if it did."""
    turned = observe_many(session, settings,
                          [Seen(source, kind, message_pk, message_id, values, parser)])
    return turned[0] if turned else None


def observe_many(session: Session, settings: Settings, seen: list[Seen]) -> list[Drift]:
    """Count a batch's mails (in the order given: the order they were processed) in the
    caller's transaction, exactly as `observe` would one after the other: each source's
    health row is locked and its window read once, the samples are written in one statement
    and the day's counts in one, and the window is judged after each lead in memory. The
    drifts the sources turned to."""
    by_source: dict[str, list[Seen]] = {}
    for one in seen:
        if one.source:
            by_source.setdefault(one.source[:MAX_SOURCE], []).append(one)
    now = utcnow()
    turned: list[Drift] = []
    for source, items in sorted(by_source.items()):  # locked in one order: no deadlock
        # (a lead first counts all that follow: the row is looked up only for a non-lead first)
        known = items[0].kind in LEAD_KINDS or session.get(SourceHealth, source) is not None
        rows: list[dict[str, Any]] = []
        counted: list[Seen] = []
        for one in items:
            if one.kind not in LEAD_KINDS and not known:
                continue  # a non-lead names a source only once that source has sent leads
            known = known or one.kind in LEAD_KINDS
            counted.append(one)
        if not counted:
            continue
        health = _locked(session, source, now)
        health.last_seen = now
        health.updated_at = now
        window = _window(session, source) if any(o.kind in LEAD_KINDS for o in counted) else []
        add = dict.fromkeys(("mails", "leads", "review", "fallback", "quarantined"), 0)
        for one in counted:
            lead = one.kind in LEAD_KINDS
            fallback = lead and is_fallback(source, one.parser)
            filled = filled_fields(one.values or {}) if lead else []
            message_id = (one.message_id or "")[:998] or None
            rows.append({"source": source, "at": now, "message_pk": one.message_pk,
                         "message_id": message_id, "kind": one.kind, "fallback": fallback,
                         "filled": filled})
            add["mails"] += 1
            add["leads"] += int(lead)
            add["review"] += int(one.kind == "review")
            add["fallback"] += int(fallback)
            add["quarantined"] += int(one.kind == "quarantine")
            if not lead:
                continue
            window = _placed(window, _Row(None, one.message_pk, message_id, fallback, filled,
                                          now))
            if health.state == DRIFTING and _recovered(health, window):
                log.info("source recovered", source=source, was=health.reason)
                health.state, health.reason, health.kind, health.since = OK, None, None, None
            if health.state == OK and (drift := judge(window)) is not None:
                _turn(session, settings, health, drift, now)
                turned.append(drift)
        session.execute(insert(SourceSample), rows)
        _count_day(session, source, now.date(), **{k: v for k, v in add.items() if v})
        pruned = [o.message_pk for o in counted if o.kind in LEAD_KINDS]
        if any(pk is None or pk % PRUNE_EVERY == 0 for pk in pruned):
            _prune(session, source)
        session.add(health)
    return turned


def _placed(window: list[Any], row: _Row) -> list[Any]:
    """The window (newest first, by arrival) with one more sample in its place, as long as
    `_window` reads it."""
    at = next((i for i, s in enumerate(window) if _order(s) < _order(row)), len(window))
    return [*window[:at], row, *window[at:]][:RECENT + BASELINE]


def _window(session: Session, source: str) -> list[Any]:
    """The source's last RECENT + BASELINE lead samples, newest first: plain rows of the
    columns judge() reads, not ORM objects."""
    return list(session.execute(
        core_select(col(SourceSample.id), col(SourceSample.message_pk),
                    col(SourceSample.message_id), col(SourceSample.fallback),
                    col(SourceSample.filled), col(SourceSample.at))
        .where(col(SourceSample.source) == source, col(SourceSample.kind).in_(LEAD_KINDS))
        .order_by(col(SourceSample.message_pk).desc(), col(SourceSample.id).desc())
        .limit(RECENT + BASELINE)).all())


def _prune(session: Session, source: str) -> None:
    """Keep WINDOW samples per source (checked on one lead in PRUNE_EVERY, so a source holds
    at most WINDOW + PRUNE_EVERY rows between checks)."""
    oldest = session.exec(select(SourceSample.id).where(SourceSample.source == source)
                          .order_by(col(SourceSample.id).desc()).offset(WINDOW).limit(1)).first()
    if oldest is not None:
        session.execute(delete(SourceSample).where(col(SourceSample.source) == source,
                                                   col(SourceSample.id) <= oldest))


def _turn(session: Session, settings: Settings, health: SourceHealth, drift: Drift,
          now: datetime) -> None:
    """The source turns drifting: a new episode, and its email to each admin, once."""
    health.state, health.reason, health.since = DRIFTING, drift.reason, now
    health.kind = f"field:{drift.field}" if drift.kind == "field" else drift.kind
    health.episode += 1
    health.last_good_message, health.first_bad_message = drift.last_good, drift.first_bad
    log.warning("source drifting", source=health.source, reason=drift.reason,
                last_good=drift.last_good, first_bad=drift.first_bad, episode=health.episode)
    _queue_alarm(session, settings, health)


def admins(settings: Settings) -> list[AgentConfig]:
    """Who gets the alarm: [[agents]] with role = "admin", then [sources] alert_to."""
    out = [a for a in settings.agents if a.role == "admin"]
    seen = {a.email for a in out}
    for email in settings.sources.alert_to:
        if email not in seen:
            seen.add(email)
            out.append(settings.agent(email) or AgentConfig(name=email, email=email))
    return out


def alarm_key(source: str, episode: int, recipient: str) -> str:
    """The outbox idempotency key of one admin's email about one drift episode."""
    key = f"source-drift-{source}-{episode}-{recipient}"
    if len(key) > 200 or not key.isprintable():
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        key = f"source-drift-{digest}-{episode}"
    return key


def _queue_alarm(session: Session, settings: Settings, health: SourceHealth) -> None:
    recipients = admins(settings)
    if not recipients:
        log.warning("source drifting and nobody to tell: set [sources] alert_to or an "
                    "[[agents]] role = \"admin\"", source=health.source)
        return
    context = {"source": health.source, "reason": health.reason, "kind": health.kind,
               "since": aware(health.since).strftime("%Y-%m-%d %H:%M UTC") if health.since
               else "", "last_good": health.last_good_message,
               "first_bad": health.first_bad_message, "episode": health.episode}
    rendered = render.render("source_drift", context, settings.notify.templates,
                             parts=("subject", "text", "html"))
    for admin in recipients:
        key = alarm_key(health.source, health.episode, admin.email)
        if session.exec(select(Outbox.id).where(Outbox.idempotency_key == key)).first():
            continue  # queued already (the row lock makes this a belt and braces)
        enqueue_email(session, settings, admin, rendered, key)


def check_silence(engine: Engine, settings: Settings, at: datetime | None = None) -> int:
    """A periodic pass: sources that send daily and have been silent for twice their usual
    gap turn drifting. The number that turned."""
    now = at or utcnow()
    turned = 0
    with session_scope(engine) as session:
        rows = session.exec(select(SourceHealth).where(SourceHealth.state == OK)).all()
        candidates = [h.source for h in rows if h.last_seen is not None]
    for source in candidates:
        with session_scope(engine) as session:
            health = _locked(session, source, now)
            if health.state != OK or health.last_seen is None:
                continue
            window = _window(session, source)
            drift = silence(window, now)
            if drift is not None:
                _turn(session, settings, health, drift, now)
                session.add(health)
                turned += 1
    return turned


def silence(window: list[SourceSample], now: datetime) -> Drift | None:
    """A daily source's silence of over twice its usual gap (the 90th percentile of the gaps
    between its last leads), or None."""
    times = sorted(aware(s.at) for s in window)
    if len(times) < MIN_BASELINE or times[-1] - times[0] < SILENT_MIN_SPAN:
        return None
    gaps = sorted(b - a for a, b in zip(times, times[1:], strict=False))
    usual = gaps[min(len(gaps) - 1, int(len(gaps) * 0.9))]
    if usual > timedelta(days=1):
        return None  # not a daily source
    quiet = now - times[-1]
    if quiet <= max(2 * usual, SILENT_FLOOR):
        return None
    hours = quiet.total_seconds() / 3600
    newest = max(window, key=_order)
    return Drift("silent", f"silent for {hours:.1f} h (it usually sends every "
                 f"{usual.total_seconds() / 3600:.1f} h or sooner)", _ident(newest), None)


# ---------------------------------------------------------------------------------------------
# The figures, for `leadmail sources`, /app/sources, /metrics, /readyz and `leadmail status`.


def states(engine: Engine) -> dict[str, str]:
    """source -> ok/drifting."""
    with Session(engine) as session:
        return dict(session.exec(select(SourceHealth.source, SourceHealth.state)).all())


def figures(engine: Engine, days: int = 14, at: datetime | None = None) -> list[dict[str, Any]]:
    """One dict per source: state and why, mails and leads per day, last seen, fill rate
    per field (and its recent history for a sparkline), review, fallback and quarantine
    shares. The same for `leadmail sources --json` and the /app/sources page."""
    now = at or utcnow()
    since = (now - timedelta(days=days - 1)).date()
    with Session(engine) as session:
        healths = {h.source: h for h in session.exec(select(SourceHealth)).all()}
        day_rows = session.exec(select(SourceDay).where(col(SourceDay.day) >= since)).all()
        samples = session.exec(select(SourceSample).order_by(col(SourceSample.id))).all()
        totals = {s: (m, q) for s, m, q in session.exec(
            select(SourceDay.source, func.sum(SourceDay.mails), func.sum(SourceDay.quarantined))
            .group_by(SourceDay.source)).all()}
    by_source: dict[str, list[SourceSample]] = {}
    for s in samples:
        by_source.setdefault(s.source, []).append(s)
    out = []
    for source in sorted(set(healths) | set(by_source)):
        h = healths.get(source)
        mine = by_source.get(source, [])
        leads = [s for s in mine if s.kind in LEAD_KINDS]
        per_day = {(since + timedelta(days=i)).isoformat(): {"mails": 0, "leads": 0}
                   for i in range(days)}
        for row in day_rows:
            if row.source == source and row.day.isoformat() in per_day:
                per_day[row.day.isoformat()] = {"mails": row.mails, "leads": row.leads}
        n = len(leads)
        fill = {f: (sum(f in (s.filled or []) for s in leads) / n if n else None) for f in FIELDS}
        history = {f: [int(f in (s.filled or [])) for s in leads[-BASELINE:]] for f in FIELDS}
        mails_all, quarantined_all = totals.get(source, (0, 0))
        out.append({
            "source": source,
            "state": h.state if h else OK,
            "reason": h.reason if h else None,
            "since": aware(h.since).isoformat() if h and h.since else None,
            "episode": h.episode if h else 0,
            "last_good_message": h.last_good_message if h else None,
            "first_bad_message": h.first_bad_message if h else None,
            "last_seen": aware(h.last_seen).isoformat() if h and h.last_seen else None,
            "leads_in_window": n,
            "mails_per_day": round(sum(d["mails"] for d in per_day.values()) / days, 2),
            "leads_per_day": round(sum(d["leads"] for d in per_day.values()) / days, 2),
            "days": per_day,
            "fill": fill,
            "history": history,
            "review_share": (sum(s.kind == "review" for s in leads) / n) if n else None,
            "fallback_share": (sum(s.fallback for s in leads) / n) if n else None,
            "quarantined": int(quarantined_all or 0),
            "quarantine_share": (int(quarantined_all or 0) / int(mails_all))
            if mails_all else None,
        })
    return out


def drifting(engine: Engine) -> list[dict[str, Any]]:
    """The drifting sources, with why: for /readyz detail and `leadmail status`."""
    with Session(engine) as session:
        rows = session.exec(select(SourceHealth).where(SourceHealth.state == DRIFTING)
                            .order_by(col(SourceHealth.source))).all()
    return [{"source": h.source, "reason": h.reason,
             "since": aware(h.since).isoformat() if h.since else None} for h in rows]
