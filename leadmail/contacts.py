"""The merge-contact step: a lead whose email or phone is known updates that contact."""

from __future__ import annotations

from sqlalchemy import case, false, or_, text
from sqlmodel import Session, col, select

from leadmail import leadfields
from leadmail.clock import utcnow
from leadmail.draft import Draft
from leadmail.models import Contact

_STAGE_ORDER = {"Lead": 0, "Potential": 1, "Active": 2, "Inactive": 3, "Lost": 3}


def find_contact(
    session: Session, email: str | None, phone: str | None, lock: bool = False
) -> Contact | None:
    """The known contact with this normalized email, else this phone (oldest first): one
    query."""
    if not email and not phone:
        return None
    by_email = col(Contact.email) == email if email else false()
    query = (select(Contact)
             .where(or_(by_email, col(Contact.phone) == phone) if phone else by_email)
             .order_by(case((by_email, 0), else_=1), col(Contact.id)).limit(1))
    return session.exec(query.with_for_update() if lock else query).first()


def lock_identity(session: Session, email: str | None, phone: str | None) -> None:
    """Make concurrent merges of one person wait for each other until commit.

    Without this, two workers handling two leads of the same new person at once would each
    find no contact and create one. PostgreSQL: transaction-level advisory locks on the email
    and the phone, taken in a fixed order so two merges never deadlock. SQLite: writers are
    already serialized by BEGIN IMMEDIATE.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted(
        k for k in (email and f"contact:email:{email}", phone and f"contact:phone:{phone}") if k
    )
    for key in keys:
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
        )


def merge(session: Session, draft: Draft, lead_id: int) -> tuple[Contact, bool]:
    """Create or update the contact for a lead; True when it merged into an existing one."""
    now = utcnow()
    entry = {"source": draft.source, "lead_id": lead_id, "at": now.isoformat()}
    lock_identity(session, draft.email, draft.phone)
    contact = find_contact(session, draft.email, draft.phone, lock=True)
    if contact is None:
        contact = Contact(
            **{name: getattr(draft, name) for name in leadfields.names("contact")},
            stage=draft.stage or "Lead",
            segment=draft.segment or "Customers",
            origin=draft.origin or "company",
            tags=list(draft.tags),
            custom_fields=dict(draft.custom_fields),
            sources=[entry],
            lead_count=1,
            created_at=now,
            last_activity_at=now,
        )
        session.add(contact)
        session.flush()
        return contact, False
    # Keep what we knew; fill gaps; never move a contact back down the pipeline by a new inquiry.
    for name in leadfields.names("contact"):
        if not getattr(contact, name) and getattr(draft, name):
            setattr(contact, name, getattr(draft, name))
    if draft.stage and _STAGE_ORDER.get(draft.stage, 0) > _STAGE_ORDER.get(contact.stage, 0):
        contact.stage = draft.stage
    contact.tags = list(dict.fromkeys([*contact.tags, *draft.tags]))
    contact.custom_fields = {**contact.custom_fields, **draft.custom_fields}
    contact.sources = [*contact.sources, entry]
    contact.lead_count += 1
    contact.last_activity_at = now
    session.add(contact)
    session.flush()
    return contact, True
