"""The four reports, each computed from the leads a principal may see (access.lead_filter).

Definitions (docs/followup.md has them with examples):
- engagement: open leads (Stage Lead, Potential or Active). Untouched: never contacted.
  Stale: last contact older than `[followup] stale_after`. Engaged: contacted since.
- speed: per lead, seconds from receipt (the stored message) to the first alert sent, to the
  first claim or accept, and to the first contact; p50 and p90 by nearest rank. And from the
  provider's own time of the inquiry (Lead.provider_at) to receipt, to the first alert and to
  the first contact; a source whose mail reaches us a median LATE or more after the inquiry
  is named.
- sources: per source and month (UTC) of receipt: leads, qualified (reached Potential or
  Active), won (a won deal).
- forecast: open deals by expected close month: count and value.
- campaigns: per campaign and step: sent, delivered, replied, unsubscribed, bounced, reply
  rate, median time to reply (a reply or unsubscribe counts for the last step sent before it).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, func, select

from leadmail.clock import aware, must
from leadmail.config import Settings
from leadmail.followup import activity
from leadmail.followup import campaigns as campaign_runs
from leadmail.followup.access import Principal, lead_filter, visible_ids
from leadmail.models import (
    Assignment,
    Deal,
    Event,
    Lead,
    Message,
    Outbox,
    StageChange,
    Step,
    display_name,
)
from leadmail.statuses import StepStatus

OPEN_STAGES = ("Lead", "Potential", "Active")
QUALIFIED = ("Potential", "Active")
STATES = ("untouched", "stale", "engaged")
AGES = (("<1d", 1), ("1-7d", 7), ("7-30d", 30), ("30d+", None))
METRICS = ("alert", "claim", "contact")
# From the provider's clock: to receipt (intake), to the first alert, to the first contact.
PROVIDER_METRICS = ("provider_intake", "provider_alert", "provider_contact")
LATE = 300.0  # seconds: a source whose mail comes this late (median) is named
LATE_MIN_LEADS = 3  # leads with a provider time a source needs before it is named
REPORTS = ("engagement", "speed", "sources", "forecast", "campaigns")


@dataclass
class Report:
    """A computed report: a summary, a table (one dict per row) and chart series."""

    name: str
    at: datetime
    summary: dict[str, Any]
    table: list[dict[str, Any]]
    charts: dict[str, Any] = field(default_factory=dict)
    detail: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"report": self.name, "at": self.at.isoformat(), "summary": self.summary,
                "table": self.table, "detail": self.detail}


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least p% of values at or below."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _age_bucket(days: float) -> str:
    for label, limit in AGES:
        if limit is None or days < limit:
            return label
    return AGES[-1][0]


def state_of(last_contact: datetime | None, stale_before: datetime) -> str:
    """A lead's engagement state: untouched (never contacted), stale, or engaged."""
    if last_contact is None:
        return "untouched"
    return "stale" if last_contact < stale_before else "engaged"


def engagement(session: Session, settings: Settings, who: Principal, at: datetime) -> Report:
    """Untouched, stale and engaged open leads; by source and age; next step of each."""
    leads = session.exec(
        select(Lead).where(lead_filter(who), col(Lead.stage).in_(OPEN_STAGES))
        .order_by(col(Lead.id))).all()
    ids = [lead.id for lead in leads if lead.id is not None]
    contacts = activity.contact_times(session, ids)
    nexts: dict[int, Step] = {}
    if ids:
        for step in session.exec(select(Step).where(col(Step.lead_id).in_(ids),
                                                    Step.status == StepStatus.OPEN)
                                 .order_by(col(Step.due_at))).all():
            nexts.setdefault(step.lead_id, step)
    stale_before = at - timedelta(minutes=settings.followup.stale_after)
    rows: list[dict[str, Any]] = []
    by_source: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATES, 0))
    by_age = {label: dict.fromkeys(STATES, 0) for label, _ in AGES}
    for lead in leads:
        assert lead.id is not None
        last = contacts.get(lead.id, (None, None))[1]
        state = state_of(last, stale_before)
        age = (at - must(lead.created_at)).total_seconds() / 86400
        next_step = nexts.get(lead.id)
        due = aware(next_step.due_at) if next_step else None
        by_source[lead.source or "Unknown"][state] += 1
        by_age[_age_bucket(age)][state] += 1
        rows.append({
            "lead": lead.id, "name": display_name(lead), "source": lead.source, "agent": lead.agent,
            "stage": lead.stage, "received": must(lead.created_at).isoformat(),
            "age_days": round(age, 1), "last_contact": last.isoformat() if last else None,
            "state": state, "next_step": next_step.name if next_step else None,
            "next_due": due.isoformat() if due else None,
            "overdue": bool(due and due < at),
        })
    summary = {"open_leads": len(rows), **{s: sum(r["state"] == s for r in rows) for s in STATES},
               "overdue_steps": sum(r["overdue"] for r in rows),
               "stale_after_days": round(settings.followup.stale_after / 1440, 2)}
    table = sorted(rows, key=lambda r: (STATES.index(r["state"]), r["received"]))
    charts = {"by_source": dict(sorted(by_source.items())), "by_age": by_age}
    return Report("engagement", at, summary, table, charts)


def _firsts(session: Session, ids: list[int]) -> dict[str, dict[int, datetime]]:
    out: dict[str, dict[int, datetime]] = {m: {} for m in METRICS}
    if not ids:
        return out
    alerts = session.exec(
        select(Outbox.lead_id, func.min(Outbox.sent_at))
        .where(col(Outbox.lead_id).in_(ids), col(Outbox.sent_at).is_not(None),
               col(Outbox.idempotency_key).startswith("assignment-")
               | col(Outbox.idempotency_key).startswith("offer-"))
        .group_by(col(Outbox.lead_id))).all()
    out["alert"] = {lead: must(at) for lead, at in alerts if lead is not None}
    claims = session.exec(
        select(Event.lead_id, func.min(Event.at))
        .where(col(Event.lead_id).in_(ids), col(Event.kind).in_(("claimed", "accepted")))
        .group_by(col(Event.lead_id))).all()
    out["claim"] = {lead: must(at) for lead, at in claims if lead is not None}
    out["contact"] = {lead: first for lead, (first, _) in
                      activity.contact_times(session, ids).items()}
    return out


def speed(session: Session, settings: Settings, who: Principal, at: datetime) -> Report:
    """Receipt → first alert, → claim/accept, → first contact: p50/p90 overall and by agent,
    source and strategy."""
    rows = session.exec(
        select(Lead, Message.received_at).join(Message, col(Message.id) == col(Lead.message_pk))
        .where(lead_filter(who)).order_by(col(Lead.id))).all()
    ids = [lead.id for lead, _ in rows if lead.id is not None]
    firsts = _firsts(session, ids)
    strategies: dict[int, str] = {}
    if ids:
        for lead_id, strategy in session.exec(
            select(Assignment.lead_id, Assignment.strategy)
            .where(col(Assignment.lead_id).in_(ids)).order_by(col(Assignment.id).desc())
        ).all():
            strategies[lead_id] = strategy  # descending: the first assignment wins
    detail = []
    groups: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(
        lambda: {m: [] for m in (*METRICS, *PROVIDER_METRICS)})
    for lead, received in rows:
        assert lead.id is not None
        start = must(received)
        item: dict[str, Any] = {"lead": lead.id, "source": lead.source or "Unknown",
                                "agent": lead.agent or "(unassigned)",
                                "strategy": strategies.get(lead.id, "(none)"),
                                "received": start.isoformat()}
        keys = [("all", "all"), ("agent", item["agent"]), ("source", item["source"]),
                ("strategy", item["strategy"])]
        for metric in METRICS:
            when = firsts[metric].get(lead.id)
            seconds = None if when is None else max(0.0, (when - start).total_seconds())
            item[f"{metric}_seconds"] = seconds
            if seconds is not None:
                for key in keys:
                    groups[key][metric].append(seconds)
        said = aware(lead.provider_at)
        item["provider_at"] = said.isoformat() if said else None
        ends = {"provider_intake": start, "provider_alert": firsts["alert"].get(lead.id),
                "provider_contact": firsts["contact"].get(lead.id)}
        for metric, end in ends.items():
            seconds = None if said is None or end is None else max(
                0.0, (end - said).total_seconds())
            item[f"{metric}_seconds"] = seconds
            if seconds is not None:
                for key in keys:
                    groups[key][metric].append(seconds)
        for key in keys:
            groups.setdefault(key, {m: [] for m in (*METRICS, *PROVIDER_METRICS)})
        detail.append(item)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for item in detail:
        for key in (("all", "all"), ("agent", item["agent"]), ("source", item["source"]),
                    ("strategy", item["strategy"])):
            counts[key] += 1
    order = {"all": 0, "agent": 1, "source": 2, "strategy": 3}
    table = []
    for (by, name), values in sorted(groups.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
        row: dict[str, Any] = {"by": by, "group": name, "leads": counts[(by, name)]}
        for metric in (*METRICS, *PROVIDER_METRICS):
            row[f"{metric}_n"] = len(values[metric])
            row[f"{metric}_p50"] = percentile(values[metric], 50)
            row[f"{metric}_p90"] = percentile(values[metric], 90)
        table.append(row)
    overall = next((r for r in table if r["by"] == "all"), None)
    summary = {"leads": len(detail), **({k: v for k, v in overall.items()
                                         if k not in ("by", "group", "leads")} if overall else {})}
    summary["late_sources"] = late_sources(table)
    return Report("speed", at, summary, table, {}, detail)


def late_sources(table: list[dict[str, Any]]) -> dict[str, str]:
    """source -> "Realtor.com mails reach you a median 14 min after the inquiry", for each
    source whose mail comes LATE or more after the provider's own time (median)."""
    out = {}
    for row in table:
        median = row.get("provider_intake_p50")
        if (row["by"] == "source" and median is not None and median >= LATE
                and row["provider_intake_n"] >= LATE_MIN_LEADS):
            minutes = round(median / 60)
            when = f"{minutes} min" if minutes < 120 else f"{median / 3600:.1f} h"
            out[row["group"]] = f"{row['group']} mails reach you a median {when} after the inquiry"
    return out


def sources(session: Session, settings: Settings, who: Principal, at: datetime) -> Report:
    """Leads, qualified and won per source and month of receipt."""
    leads = session.exec(select(Lead).where(lead_filter(who)).order_by(col(Lead.id))).all()
    ids = [lead.id for lead in leads]
    qualified = set(session.exec(
        select(StageChange.lead_id).where(col(StageChange.lead_id).in_(visible_ids(who)),
                                          StageChange.kind == "stage",
                                          col(StageChange.to_stage).in_(QUALIFIED))).all())
    won = set(session.exec(select(Deal.lead_id).where(col(Deal.lead_id).in_(visible_ids(who)),
                                                      Deal.outcome == "won")).all())
    cells: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: {"leads": 0, "qualified": 0, "won": 0})
    for lead in leads:
        key = (lead.source or "Unknown", must(lead.created_at).strftime("%Y-%m"))
        cells[key]["leads"] += 1
        cells[key]["qualified"] += lead.id in qualified or lead.stage in QUALIFIED
        cells[key]["won"] += lead.id in won
    table: list[dict[str, Any]] = [{"source": s, "month": m, **v}
                                   for (s, m), v in sorted(cells.items())]
    totals: dict[str, dict[str, int]] = defaultdict(lambda: {"leads": 0, "qualified": 0, "won": 0})
    for row in table:
        for k in ("leads", "qualified", "won"):
            totals[row["source"]][k] += row[k]
    summary = {"leads": len(ids), "qualified": sum(t["qualified"] for t in totals.values()),
               "won": sum(t["won"] for t in totals.values()), "by_source": dict(totals)}
    months = sorted({row["month"] for row in table})
    charts = {"months": months, "sources": sorted(totals),
              "leads": {s: [cells.get((s, m), {}).get("leads", 0) for m in months]
                        for s in sorted(totals)}}
    return Report("sources", at, summary, table, charts)


def forecast(session: Session, settings: Settings, who: Principal, at: datetime) -> Report:
    """Open deals by expected close month: how many, and their value."""
    deals = session.exec(select(Deal).where(col(Deal.lead_id).in_(visible_ids(who)),
                                            Deal.outcome == "open")
                         .order_by(col(Deal.expected_close), col(Deal.id))).all()
    months: dict[str, dict[str, int]] = defaultdict(lambda: {"deals": 0, "value": 0})
    stages: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for deal in deals:
        month = deal.expected_close.strftime("%Y-%m") if deal.expected_close else "(none)"
        months[month]["deals"] += 1
        months[month]["value"] += deal.value or 0
        stages[deal.stage][month] += deal.value or 0
    table: list[dict[str, Any]] = [{"month": m, **v} for m, v in sorted(months.items())]
    summary = {"open_deals": len(deals), "value": sum(d.value or 0 for d in deals)}
    charts = {"months": [r["month"] for r in table],
              "by_stage": {s: [v.get(r["month"], 0) for r in table] for s, v in stages.items()}}
    return Report("forecast", at, summary, table, charts)


def campaigns(session: Session, settings: Settings, who: Principal, at: datetime) -> Report:
    """Per campaign and step: sent, delivered, replied, unsubscribed, bounced, reply rate,
    median time to reply."""
    table = campaign_runs.report(session, settings, visible_ids(who))
    sent = sum(r["sent"] for r in table)
    replied = sum(r["replied"] for r in table)
    summary = {"campaigns": len(settings.followup.campaigns), "sent": sent, "replied": replied,
               "unsubscribed": sum(r["unsubscribed"] for r in table),
               "bounced": sum(r["bounced"] for r in table),
               "reply_rate": round(replied / sent, 3) if sent else 0.0}
    return Report("campaigns", at, summary, table)


def build(name: str, session: Session, settings: Settings, who: Principal,
          at: datetime) -> Report:
    """One report by name."""
    functions = {"engagement": engagement, "speed": speed, "sources": sources,
                 "forecast": forecast, "campaigns": campaigns}
    return functions[name](session, settings, who, at)
