"""Activity: what people did with a lead, and when the lead was last contacted.

Notes, calls, texts and meetings are logged through the API or the CLI; steps done and stage
changes are recorded by their modules; an agent's own email to a lead is seen by intake (the
agent BCCs the leads address, or an [[imap]] mailbox watches their Sent folder) and becomes a
"reply" here instead of a lead, at the time leadmail received it, once a trusted path vouches
for the agent as its sender (vouched_by). Kinds marked as contact set the lead's first and last
contact.
"""

from __future__ import annotations

from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import Any

import structlog
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from leadmail.authres import vouched_by
from leadmail.clock import aware, now
from leadmail.config import Settings
from leadmail.db import session_scope
from leadmail.models import Activity, CampaignStep, Contact, Event, Lead, Message, Outbox

log = structlog.get_logger("leadmail.activity")
# Kinds a person logs; all but "note" mean the lead was contacted.
LOGGED = ("note", "call", "email", "text", "meeting")
CONTACT_KINDS = frozenset({"call", "email", "text", "meeting", "reply"})


def record(
    session: Session,
    lead: Lead,
    kind: str,
    by: str | None,
    *,
    text: str | None = None,
    at: datetime | None = None,
    contact: bool | None = None,
    message_pk: int | None = None,
    **data: Any,
) -> Activity:
    """Add one activity row (in the caller's transaction)."""
    assert lead.id is not None
    row = Activity(
        lead_id=lead.id,
        kind=kind,
        by=by,
        at=at or now(),
        contact=kind in CONTACT_KINDS if contact is None else contact,
        text=text,
        message_pk=message_pk,
        data=data,
    )
    session.add(row)
    return row


def add(engine: Engine, lead_id: int, kind: str, by: str, text: str) -> Activity | None:
    """Log what a person did with a lead (`leadmail note`); None when there is no such lead."""
    with session_scope(engine) as session:
        lead = session.get(Lead, lead_id)
        if lead is None:
            return None
        return record(session, lead, kind, by, text=text)


def contact_times(session: Session, lead_ids: list[int]) -> dict[int, tuple[datetime, datetime]]:
    """lead id -> (first contact, last contact), for leads that were contacted."""
    if not lead_ids:
        return {}
    rows = session.exec(
        select(Activity.lead_id, func.min(Activity.at), func.max(Activity.at))
        .where(col(Activity.lead_id).in_(lead_ids), col(Activity.contact).is_(True))
        .group_by(col(Activity.lead_id))
    ).all()
    return {lead: (aware(first), aware(last)) for lead, first, last in rows}


def timeline(session: Session, lead_id: int) -> list[dict[str, Any]]:
    """The lead's activity, oldest first, with routing's events (alerts, claims) merged in."""
    items: list[dict[str, Any]] = []
    for a in session.exec(select(Activity).where(Activity.lead_id == lead_id)).all():
        items.append({"at": aware(a.at), "kind": a.kind, "by": a.by, "text": a.text,
                      "contact": a.contact, "data": dict(a.data or {})})
    routing_kinds = ("offered", "assigned", "claimed", "accepted", "declined", "reassigned",
                     "expired", "to_manager", "unassigned")
    for e in session.exec(
        select(Event).where(Event.lead_id == lead_id, col(Event.kind).in_(routing_kinds))
    ).all():
        who = (e.data or {}).get("agent") or (e.data or {}).get("manager")
        items.append({"at": aware(e.at), "kind": e.kind, "by": who, "text": None,
                      "contact": False, "data": {}})
    for o in session.exec(
        select(Outbox).where(Outbox.lead_id == lead_id, col(Outbox.sent_at).is_not(None))
    ).all():
        if o.idempotency_key.startswith(("assignment-", "offer-")):  # alerts, not reminders
            items.append({"at": aware(o.sent_at), "kind": "alert_sent", "by": o.recipient,
                          "text": o.subject, "contact": False, "data": {}})
    for s in session.exec(select(CampaignStep).where(CampaignStep.lead_id == lead_id)).all():
        # a campaign's steps: sent (queued to the outbox), skipped with why; stops are activity
        if s.status in ("sent", "skipped"):
            items.append({"at": aware(s.sent_at or s.due_at), "kind": f"campaign_{s.status}",
                          "by": "campaign", "contact": False, "data": {},
                          "text": f"{s.campaign} step {s.position + 1} ({s.channel})"
                                  + (f": {s.reason}" if s.reason else "")})
    return sorted(items, key=lambda i: (i["at"], i["kind"]))


# ---------------------------------------------------------------------------------------------
# The intake step: an agent writing to a lead


def _addresses(headers: Any, *names: str) -> list[str]:
    values = [str(v) for n in names for v in (headers.get_all(n) or [])]
    return [a.strip().lower() for _, a in getaddresses(values) if a and "@" in a]


def from_intake(settings: Settings, engine: Engine, msg_id: int, raw: bytes) -> str | None:
    """An agent's own email to a known lead → a "reply" activity (and not a lead): what was
    recorded, or why nothing was; None when the message is something else.

    It counts only when a trusted path vouches for the agent as its sender (vouched_by), and
    its time is when leadmail received it, never the Date header the sender wrote, and never
    before the lead existed. One that is not vouched for changes nothing: it is logged, and
    the message and the lead's events keep the reason.
    """
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    except Exception:  # unreadable headers: let the parsers have their say
        return None
    senders = _addresses(headers, "From")
    agent = settings.find_agent(senders[0]) if senders else None
    if agent is None:
        return None
    ours = {a.email for a in settings.agents} | {x for a in settings.agents for x in a.aliases}
    recipients = [a for a in _addresses(headers, "To", "Cc")
                  if a not in ours and not settings.smtp.accepts(a)]
    if not recipients:
        return None
    with session_scope(engine) as session:
        if session.exec(select(Activity.id).where(Activity.message_pk == msg_id)).first():
            return f"{agent.email} wrote to a lead: recorded before"
        contacts = session.exec(select(Contact).where(col(Contact.email).in_(recipients))).all()
        leads: list[Lead] = []
        for contact in contacts:
            theirs = session.exec(
                select(Lead).where(Lead.contact_id == contact.id)
                .order_by((col(Lead.agent) == agent.email).desc(), col(Lead.id).desc())
            ).first()
            if theirs is not None:
                leads.append(theirs)
        if not leads:
            return None
        msg = session.get(Message, msg_id)
        at = (aware(msg.received_at) if msg else None) or now()  # intake time, not Date:
        via, refused = vouched_by(settings, msg, headers, agent, senders)
        if via is not None:  # a mail received before the lead was made was not about it
            early = [lead for lead in leads if at < (aware(lead.created_at) or at)]
            if len(early) == len(leads):
                refused = "it arrived before the lead existed"
            else:
                leads = [lead for lead in leads if lead not in early]
        ids = ", ".join(f"#{lead.id}" for lead in leads)
        if via is None or refused:
            reason = f"{agent.email} to lead {ids}: not recorded as contact: {refused}"
            noted = session.exec(select(Event.lead_id).where(
                Event.message_pk == msg_id, Event.kind == "contact_refused")).all()
            for lead in leads:
                if lead.id not in noted:  # once, however often the message is processed
                    session.add(Event(kind="contact_refused", message_pk=msg_id,
                                      lead_id=lead.id, data={"agent": agent.email,
                                                             "reason": refused}))
            log.warning("agent email to a lead not recorded", agent=agent.email, leads=ids,
                        reason=refused, msg=msg_id)
            return reason
        subject = " ".join(str(headers.get("Subject", "")).split())[:300]
        date = " ".join(str(headers.get("Date", "")).split())[:100]
        for lead in leads:
            record(session, lead, "reply", agent.email, text=subject, at=at, message_pk=msg_id,
                   via=via, date_header=date)
    log.info("agent email to a lead recorded", agent=agent.email, leads=ids, via=via, msg=msg_id)
    return f"{agent.email} wrote to lead {ids}: recorded as contact, not a lead"


# ---------------------------------------------------------------------------------------------
# Who vouches for the agent as the sender: a From header alone is anyone's to write.


