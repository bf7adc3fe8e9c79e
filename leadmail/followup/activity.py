"""Activity: what people did with a lead, and when the lead was last contacted.

Notes, calls, texts and meetings are logged through the API or the CLI; steps done and stage
changes are recorded by their modules; an agent's own email to a lead is seen by intake (the
agent BCCs the leads address, or an [[imap]] mailbox watches their Sent folder) and becomes a
"reply" here instead of a lead. Kinds marked as contact set the lead's first and last contact.
"""

from __future__ import annotations

from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

import structlog
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from leadmail.config import Settings
from leadmail.db import session_scope
from leadmail.followup.when import aware, now
from leadmail.models import Activity, Contact, Lead, Message

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


def contact_times(session: Session, lead_ids: list[int]) -> dict[int, tuple[datetime, datetime]]:
    """lead id -> (first contact, last contact), for leads that were contacted."""
    if not lead_ids:
        return {}
    rows = session.exec(
        select(Activity.lead_id, func.min(Activity.at), func.max(Activity.at))
        .where(col(Activity.lead_id).in_(lead_ids), col(Activity.contact).is_(True))
        .group_by(col(Activity.lead_id))
    ).all()
    return {lead: (aware(first), aware(last)) for lead, first, last in rows}  # type: ignore[misc]


def timeline(session: Session, lead_id: int) -> list[dict[str, Any]]:
    """The lead's activity, oldest first, with routing's events (alerts, claims) merged in."""
    from leadmail.models import Event, Outbox

    items: list[dict[str, Any]] = []
    for a in session.exec(select(Activity).where(Activity.lead_id == lead_id)).all():
        items.append({"at": aware(a.at), "kind": a.kind, "by": a.by, "text": a.text,
                      "contact": a.contact})
    routing_kinds = ("offered", "assigned", "claimed", "accepted", "declined", "reassigned",
                     "expired", "to_manager", "unassigned")
    for e in session.exec(
        select(Event).where(Event.lead_id == lead_id, col(Event.kind).in_(routing_kinds))
    ).all():
        who = (e.data or {}).get("agent") or (e.data or {}).get("manager")
        items.append({"at": aware(e.at), "kind": e.kind, "by": who, "text": None,
                      "contact": False})
    for o in session.exec(
        select(Outbox).where(Outbox.lead_id == lead_id, col(Outbox.sent_at).is_not(None))
    ).all():
        if o.idempotency_key.startswith(("assignment-", "offer-")):  # alerts, not reminders
            items.append({"at": aware(o.sent_at), "kind": "alert_sent", "by": o.recipient,
                          "text": o.subject, "contact": False})
    return sorted(items, key=lambda i: (i["at"], i["kind"]))


# ---------------------------------------------------------------------------------------------
# The intake step: an agent writing to a lead


def _addresses(headers: Any, *names: str) -> list[str]:
    values = [str(v) for n in names for v in (headers.get_all(n) or [])]
    return [a.strip().lower() for _, a in getaddresses(values) if a and "@" in a]


def from_intake(settings: Settings, engine: Engine, msg_id: int, raw: bytes) -> str | None:
    """An agent's own email to a known lead → a "reply" activity (and not a lead): what was
    recorded, or None when the message is something else."""
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
        received = aware(msg.received_at) if msg else None
        at = received or now()
        try:
            sent = aware(parsedate_to_datetime(str(headers.get("Date", ""))))
            if sent is not None and sent <= at:
                at = sent  # a Sent folder is read later than the mail was written
        except (TypeError, ValueError):
            pass
        subject = " ".join(str(headers.get("Subject", "")).split())[:300]
        for lead in leads:
            record(session, lead, "reply", agent.email, text=subject, at=at, message_pk=msg_id)
    ids = ", ".join(f"#{lead.id}" for lead in leads)
    log.info("agent email to a lead recorded", agent=agent.email, leads=ids, msg=msg_id)
    return f"{agent.email} wrote to lead {ids}: recorded as contact, not a lead"
