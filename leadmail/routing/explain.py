"""`route explain` (why did this lead go to Bob?) and `route simulate` (what would change?).

Both only read. simulate replays past leads through the same rules and strategies as live
routing, with a SimLedger: round-robin credits and caps are kept in memory, so a dry run
neither writes nor locks a pond's rotation.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from leadmail.clock import aware
from leadmail.config import Settings
from leadmail.models import Assignment, Event, Lead, LeadRoute, Offer, Timer, display_name
from leadmail.routing import decide
from leadmail.routing.base import Decision
from leadmail.routing.dispatch import rule_of
from leadmail.routing.ledger import SimLedger
from leadmail.routing.match import Facts
from leadmail.statuses import LeadStatus, OfferStatus, TimerStatus


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def explain(engine: Engine, settings: Settings, lead_id: int) -> dict[str, Any] | None:
    """Everything that decided the lead's fate, as data (None: no such lead)."""
    with Session(engine) as session:
        lead = session.get(Lead, lead_id)
        if lead is None:
            return None
        lr = session.get(LeadRoute, lead_id)
        events = session.exec(
            select(Event).where(Event.lead_id == lead_id).order_by(col(Event.at), col(Event.id))
        ).all()
        current = lr.round if lr else -1  # older rounds' timers and offers are stale
        timers = session.exec(
            select(Timer).where(
                Timer.lead_id == lead_id, Timer.status == TimerStatus.PENDING,
                Timer.round == current
            )
        ).all()
        open_offers = session.exec(
            select(Offer).where(
                Offer.lead_id == lead_id, Offer.status == OfferStatus.OPEN, Offer.round == current
            )
        ).all()
        due = {t.kind.split("_")[0]: _when(t.due_at) for t in timers}
        facts = Facts(lead, lead.created_at)
        routes = [t for t in lead.trace if t.get("step") == "route"]
        rule = rule_of(lr) if lr else None
        return {
            "lead": lead_id,
            "name": display_name(lead),
            "email": lead.email,
            "phone": lead.phone,
            "facts": {
                "source": lead.source,
                "segment": lead.segment,
                "stage": lead.stage,
                "origin": lead.origin,
                "price": lead.price,
                "tags": lead.tags,
                "place": " ".join(
                    facts.geography.get(k, "") for k in ("city", "state", "zip")
                ).strip(),
                "quality": facts.quality,
            },
            "status": lead.status,
            "agent": lead.agent,
            "rule": lr.rule if lr else (routes[0]["rule"] if routes else None),
            "pond": lr.pond if lr else None,
            "windows": rule
            and {
                "claim_window": rule.claim_window,
                "accept_window": rule.accept_window,
                "accept_business_hours": rule.accept_business_hours,
                "max_reassign": rule.max_reassign,
            },
            "routes": routes,
            "timeline": [
                {"at": _when(e.at), "kind": e.kind, **_event_data(e.data)} for e in events
            ],
            "waiting": [
                {"kind": o.kind, "agent": o.agent, "due": due.get(o.kind)} for o in open_offers
            ],
        }


def _event_data(data: dict[str, Any]) -> dict[str, Any]:
    keep = ("agent", "manager", "holder", "reason", "claimants", "accept_by", "claim_by", "by")
    out = {k: data[k] for k in keep if data.get(k)}
    for k in ("accept_by", "claim_by"):
        if k in out:
            out[k] = _when(datetime.fromisoformat(out[k]))
    return out


def format_explain(info: dict[str, Any]) -> str:
    """The explanation as text for people."""
    f = info["facts"]
    facts = [f["source"], f["segment"], f["stage"], f["origin"]]
    if f["price"]:
        facts.append(f"${f['price']:,}")
    if f["place"]:
        facts.append(f["place"])
    facts.append(f"quality {f['quality']}")
    contact = " ".join(
        x for x in (f"<{info['email']}>" if info["email"] else "", info["phone"] or "") if x
    )
    out = [
        f"Lead #{info['lead']}: {info['name']} {contact}".rstrip(),
        "  " + " · ".join(str(x) for x in facts if x),
        f"  status: {info['status']}" + (f", agent {info['agent']}" if info["agent"] else ""),
    ]
    for i, step in enumerate(info["routes"]):
        out += ["", "Routing rule" + (f" (routing #{i + 1})" if len(info["routes"]) > 1 else "")]
        for miss in step.get("not_matched", []):
            out.append(f"  {miss['rule']}: not matched: {miss['why']}")
        out.append(f"  {step['rule']}: matched: {step.get('matched') or 'yes'}")
        out.append(f"  → pond {step['pond']!r}, strategy {step['strategy']}")
        windows = info["windows"]
        if windows and windows["accept_window"]:
            hours = " business" if windows["accept_business_hours"] else ""
            out.append(
                f"    accept within {windows['accept_window']}{hours} min, else the next "
                f"agent (at most {windows['max_reassign']} reassignment(s)), then the manager"
            )
        for s in step.get("steps", []):
            out.append(f"  tried {s['strategy']} in {s['pond']!r}: {s['result']}")
        for skip in step.get("skipped", []):
            out.append(f"  skipped {skip['agent']}: {skip['why']}")
    out += ["", "Timeline (UTC)"]
    labels = {
        "holder": "held by",
        "claimants": "claimants",
        "accept_by": "accept by",
        "claim_by": "claim by",
    }
    for e in info["timeline"]:
        who = e.get("agent") or e.get("manager") or ""
        extra = [f"{label} {e[k]}" for k, label in labels.items() if e.get(k)]
        if e.get("reason") and e["kind"] != "offered":
            extra.insert(0, e["reason"])
        line = f"  {e['at']}  {e['kind']:<20} {who}".rstrip()
        if extra:
            line += f"  ({'; '.join(str(x) for x in extra)})"
        out.append(line)
    if info["waiting"]:
        out += ["", "Waiting for"]
        asks = {"accept": "to accept", "claim": "to claim", "pick": "(manager) to assign it"}
        for w in info["waiting"]:
            due = f" by {w['due']}" if w.get("due") else ""
            out.append(f"  {w['agent']} {asks.get(w['kind'], w['kind'])}{due}")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# simulate


def parse_since(text: str, now: datetime) -> datetime:
    """'30d', '12h', '2w', '90m' before now, or an ISO date/time."""
    m = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", text)
    if m:
        unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[m[2]]
        return now - timedelta(**{unit: int(m[1])})
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--since {text!r}: use like 30d, 12h, 2w or 2026-10-01") from None
    return aware(at)


def _outcome(action: str, agent: str | None, offered: list[str]) -> str:
    if action == "assign":
        return f"→ {agent}"
    if action in ("offer", "collect"):
        return f"offer to {len(offered)}"
    if action == "manager":
        return f"manager {offered[0] if offered else ''}".strip()
    return "unassigned"


def _was(session: Session, lead: Lead) -> tuple[str, str, str]:
    """(rule, outcome, agent or "(action)") of the lead's original routing."""
    step = next((t for t in lead.trace if t.get("step") == "route"), None)
    lr = session.get(LeadRoute, lead.id)
    first = session.exec(
        select(Assignment.agent).where(Assignment.lead_id == lead.id).order_by(col(Assignment.id))
    ).first()
    if step is None:  # routed before routing kept traces
        return (
            (lr.rule if lr else "?"),
            (f"→ {first}" if first else lead.status),
            (first or f"({lead.status})"),
        )
    action = step.get("action") or ("assign" if step.get("agent") else "none")
    who = str(step.get("agent")) if action == "assign" else f"({action})"
    return step["rule"], _outcome(action, step.get("agent"), step.get("offered") or []), who


def simulate(
    engine: Engine, settings: Settings, since: datetime, until: datetime | None = None
) -> dict[str, Any]:
    """Replay leads received since `since` against the current rules; nothing is written."""
    rows: list[dict[str, Any]] = []
    was_count: Counter[str] = Counter()
    would_count: Counter[str] = Counter()
    with Session(engine) as session:
        query = select(Lead).where(col(Lead.created_at) >= since, Lead.status != LeadStatus.REVIEW)
        if until is not None:
            query = query.where(col(Lead.created_at) < until)
        leads = session.exec(query.order_by(col(Lead.created_at), col(Lead.id))).all()
        ledger = SimLedger(session)
        owners: dict[int, str] = {}
        for lead in leads:
            ledger.before = lead.created_at
            owner = _owner_before(session, lead, owners)
            decision: Decision = decide(
                session, settings, lead, now=lead.created_at, ledger=ledger, owner=owner
            )
            agent = decision.agent.email if decision.agent else None
            if agent:
                ledger.record(agent, lead.created_at)
                if lead.contact_id is not None:
                    owners[lead.contact_id] = agent
            was_rule, was, first = _was(session, lead)
            would = _outcome(decision.action, agent, [a.email for a in decision.offered])
            was_count[first] += 1
            would_count[agent or f"({decision.action})"] += 1
            rows.append(
                {
                    "lead": lead.id,
                    "received": _when(lead.created_at),
                    "source": lead.source,
                    "was_rule": was_rule,
                    "was": was,
                    "rule": decision.rule,
                    "strategy": decision.strategy,
                    "would": would,
                    "rule_changed": was_rule != decision.rule,
                    "changed": was != would,
                }
            )
        session.rollback()  # belt and braces: nothing above writes
    return {"since": _when(since), "rows": rows, "was": dict(was_count), "would": dict(would_count)}


def _owner_before(session: Session, lead: Lead, owners: dict[int, str]) -> str | None:
    """Who owned the lead's contact when it arrived: as simulated so far, else as it was."""
    if lead.contact_id is None:
        return None
    if lead.contact_id in owners:
        return owners[lead.contact_id]
    return session.exec(
        select(Lead.agent)
        .where(
            Lead.contact_id == lead.contact_id,
            col(Lead.id) < (lead.id or 0),
            col(Lead.agent).is_not(None),
        )
        .order_by(col(Lead.id).desc())
    ).first()


def format_simulation(result: dict[str, Any], show_all: bool = False) -> str:
    """The simulation as text: changed leads (or all), then counts per agent."""
    rows = result["rows"]
    changed = [r for r in rows if r["changed"] or r["rule_changed"]]
    out = [
        f"Replayed {len(rows)} leads received since {result['since']} against the current "
        "rules (dry run: nothing was written)."
    ]
    shown = rows if show_all else changed
    if shown:
        width = max(len(f"{r['was_rule']}: {r['was']}") for r in shown)
        out += ["", f"  {'LEAD':>5}  {'RECEIVED':19}  {'SOURCE':10}  {'WAS':{width}}  WOULD BE"]
        for r in shown:
            was = f"{r['was_rule']}: {r['was']}"
            mark = "  *" if (r["changed"] or r["rule_changed"]) else ""
            out.append(
                f"  {r['lead']:>5}  {r['received']:19}  {(r['source'] or '')[:10]:10}  "
                f"{was:{width}}  {r['rule']}: {r['would']}{mark}"
            )
    rules = sum(1 for r in rows if r["rule_changed"])
    outcomes = sum(1 for r in rows if r["changed"])
    out += [
        "",
        f"{len(changed)} of {len(rows)} leads would change "
        f"({rules} by rule, {outcomes} by outcome).",
    ]
    agents = sorted(set(result["was"]) | set(result["would"]))
    if agents:
        width = max(len(a) for a in agents)
        out += ["", f"  {'AGENT':{width}}  {'WAS':>4}  {'WOULD':>5}"]
        for a in agents:
            out.append(
                f"  {a:{width}}  {result['was'].get(a, 0):>4}  {result['would'].get(a, 0):>5}"
            )
    return "\n".join(out)
