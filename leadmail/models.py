"""SQLModel tables: what leadmail stores. Schema changes go through Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Timezone-aware now, stored as UTC."""
    return datetime.now(UTC)


class MessageStatus:
    """Where a stored message is in its life; every message ends in one of the last four."""

    RECEIVED = "received"
    PROCESSING = "processing"
    LEAD = "lead"
    DUPLICATE = "duplicate"
    NON_LEAD = "non_lead"
    QUARANTINED = "quarantined"
    FINAL = (LEAD, DUPLICATE, NON_LEAD, QUARANTINED)


class Message(SQLModel, table=True):
    """A raw message exactly as received, stored before anything else happens to it."""

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow, index=True)
    intake: str = "smtp"  # smtp, lmtp, imap, file, api
    mail_from: str = ""
    rcpt_to: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    message_id: str | None = Field(default=None, max_length=998)
    sha256: str = Field(max_length=64, index=True)
    dedup_key: str = Field(max_length=1000, index=True)
    size: int = 0
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status: str = Field(default=MessageStatus.RECEIVED, index=True, max_length=20)
    attempts: int = 0
    claimed_by: str | None = Field(default=None, max_length=200)
    lease_until: datetime | None = None
    reason: str | None = None  # why it was quarantined / not a lead / a duplicate
    error: str | None = None  # traceback of the last failure
    lead_id: int | None = Field(default=None, foreign_key="lead.id")
    duplicate_of: int | None = None
    processed_at: datetime | None = None


class Contact(SQLModel, table=True):
    """A person leadmail knows; leads with the same email or phone merge into one contact."""

    id: int | None = Field(default=None, primary_key=True)
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = Field(default=None, index=True)
    phone: str | None = Field(default=None, index=True)
    address: str | None = None
    stage: str = "Lead"
    segment: str = "Customers"
    origin: str = "company"
    owner: str | None = None  # agent email
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    custom_fields: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    sources: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    lead_count: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    last_activity_at: datetime = Field(default_factory=utcnow)


class Lead(SQLModel, table=True):
    """One lead made from one message (dedup_key is unique: a message makes at most one lead)."""

    __table_args__ = (UniqueConstraint("dedup_key", name="uq_lead_dedup_key"),)

    id: int | None = Field(default=None, primary_key=True)
    message_pk: int = Field(index=True)
    dedup_key: str = Field(max_length=1000)
    contact_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
    source: str | None = Field(default=None, index=True)
    parser: str | None = None
    rule: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    property_address: str | None = None
    price: int | None = None
    message: str | None = None
    stage: str = "Lead"
    segment: str = "Customers"
    origin: str = "company"
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    custom_fields: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    confidence: dict[str, float] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    trace: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    pond: str | None = None  # set by a source rule; routing otherwise picks one
    location: str | None = None
    team: str | None = None
    requested_agent: str | None = None  # named by the provider, a rule or a script
    review_reason: str | None = None  # why it waits in the review queue
    agent: str | None = Field(default=None, index=True)  # assigned agent email
    status: str = Field(default="new", max_length=20)  # new, assigned, unassigned, review
    created_at: datetime = Field(default_factory=utcnow, index=True)


class Assignment(SQLModel, table=True):
    """A lead given to an agent, and by which route and strategy."""

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    agent: str
    pond: str
    strategy: str
    rule: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class RoutingState(SQLModel, table=True):
    """Persisted rotation position per pond, so a restart continues the rotation."""

    pond: str = Field(primary_key=True, max_length=200)
    position: int = 0
    last_agent: str | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class Outbox(SQLModel, table=True):
    """An alert to deliver, written in the same transaction as the assignment it announces."""

    __table_args__ = (UniqueConstraint("idempotency_key", name="uq_outbox_idempotency_key"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = "email"
    idempotency_key: str = Field(max_length=200)
    lead_id: int | None = Field(default=None, index=True)
    recipient: str
    subject: str = ""
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", index=True, max_length=20)  # pending, sent, failed
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, index=True)
    deadline: datetime | None = None
    last_error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


class Event(SQLModel, table=True):
    """Something that happened to a message or a lead, with when: the audit trail."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    kind: str = Field(max_length=50)
    message_pk: int | None = Field(default=None, index=True)
    lead_id: int | None = Field(default=None, index=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
