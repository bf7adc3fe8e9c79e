"""SQLModel tables: what leadmail stores. Schema changes go through Alembic migrations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from leadmail.clock import utcnow
from leadmail.statuses import (
    CampaignStatus,
    CampaignStepStatus,
    MessageStatus,
    OfferStatus,
    StepStatus,
    TimerStatus,
)


class Message(SQLModel, table=True):
    """A raw message exactly as received, stored before anything else happens to it."""

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow, index=True)
    intake: str = "smtp"  # smtp, lmtp, imap, file, api
    # Who intake vouches for (an agent's own mail to a lead counts only then): the login of an
    # SMTP/LMTP session that said AUTH, or the IMAP account (USERNAME@HOST) and folder.
    auth_user: str | None = Field(default=None, max_length=320)
    imap_account: str | None = Field(default=None, max_length=300)
    imap_folder: str | None = Field(default=None, max_length=300)
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
    # When the provider says the inquiry happened (leadmail.provider_clock), beside the intake
    # time (the message's received_at), and which clock said so: body, date or received.
    provider_at: datetime | None = None
    provider_clock: str | None = Field(default=None, max_length=20)


def full_name(lead: Lead) -> str:
    """The lead's first and last name as one string ("" when it has neither)."""
    return " ".join(p for p in (lead.first_name, lead.last_name) if p)


def display_name(lead: Lead) -> str:
    """The lead's name, else its email or phone, else 'lead #N'."""
    return full_name(lead) or lead.email or lead.phone or f"lead #{lead.id}"


class Assignment(SQLModel, table=True):
    """A lead given to an agent, and by which route and strategy."""

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    agent: str = Field(index=True)  # indexed: daily caps count an agent's assignments per day
    pond: str
    strategy: str
    rule: str | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)


class RoutingState(SQLModel, table=True):
    """Persisted rotation position per pond, so a restart continues the rotation."""

    pond: str = Field(primary_key=True, max_length=200)
    position: int = 0
    last_agent: str | None = None
    updated_at: datetime = Field(default_factory=utcnow)
    # Smooth weighted round-robin: each agent's credit (leadmail.routing.round_robin).
    credits: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class LeadRoute(SQLModel, table=True):
    """How a lead is being routed: the rule in force (a snapshot), its pond, and the round.

    Every (re)dispatch starts a new round; offers and timers of an older round are stale.
    """

    lead_id: int = Field(foreign_key="lead.id", primary_key=True)
    rule: str
    pond: str
    strategy: str
    round: int = 0
    route: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)


class Offer(SQLModel, table=True):
    """One ask to one agent about one lead: claim it, accept it, or (a manager) pick for it."""

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    round: int = 0
    kind: str = Field(max_length=20)  # claim, accept, pick
    agent: str = Field(index=True)
    strategy: str
    # open; then won/lost/claimed (claim), accepted/declined (accept), done (pick); or expired
    status: str = Field(default=OfferStatus.OPEN, max_length=20)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    answered_at: datetime | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Timer(SQLModel, table=True):
    """Something due at a time (a claim or accept window closing), kept across restarts."""

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    kind: str = Field(max_length=20)  # claim_window, accept_window
    round: int = 0
    offer_id: int | None = None
    due_at: datetime = Field(index=True)
    status: str = Field(default=TimerStatus.PENDING, index=True, max_length=20)
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    fired_at: datetime | None = None


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
    claimed_by: str | None = Field(default=None, max_length=200)  # host:pid sending it now
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


class ImapLease(SQLModel, table=True):
    """Which instance watches an IMAP folder now: one at a time, taken over when it expires."""

    account: str = Field(primary_key=True, max_length=300)
    folder: str = Field(primary_key=True, max_length=300)
    holder: str = Field(max_length=200)  # host:pid
    expires_at: datetime
    acquired_at: datetime = Field(default_factory=utcnow)


class ImapCursor(SQLModel, table=True):
    """How far an IMAP folder has been read: UIDs up to last_uid are stored and flagged/moved.

    Valid only while the folder's UIDVALIDITY stays the same (RFC 3501 2.3.1.1).
    """

    account: str = Field(primary_key=True, max_length=300)
    folder: str = Field(primary_key=True, max_length=300)
    uidvalidity: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_uid: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)


# ---------------------------------------------------------------------------------------------
# Follow-up (leadmail.followup): Next Steps, stage changes, deals, activity, saved audiences.


class Step(SQLModel, table=True):
    """One Next Step of a lead's checklist (plan = Stage/Segment), set for the lead's agent."""

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    agent: str = Field(index=True)
    plan: str  # "Lead/Buyer": the plan's stage and segment ("*" for any)
    position: int = 0  # index of the step in the plan
    name: str
    contact: bool = False  # done means the lead was contacted
    template: str | None = None
    due_at: datetime = Field(index=True)
    remind_at: datetime | None = Field(default=None, index=True)
    reminded_at: datetime | None = None
    status: str = Field(default=StepStatus.OPEN, index=True, max_length=20)
    created_at: datetime = Field(default_factory=utcnow)
    done_at: datetime | None = None
    done_by: str | None = None
    via: str | None = Field(default=None, max_length=20)  # api, cli, link, page


class StageChange(SQLModel, table=True):
    """A lead's Stage (kind "stage") or its deal's pipeline stage (kind "deal") changed."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    contact_id: int | None = None
    deal_id: int | None = None
    kind: str = Field(default="stage", max_length=20)
    from_stage: str | None = None
    to_stage: str
    by: str


class Deal(SQLModel, table=True):
    """A deal opened when a contact became Potential: value, expected close, pipeline stage."""

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    contact_id: int | None = None
    team: str | None = None
    stage: str
    outcome: str = Field(default="open", index=True, max_length=20)  # open, won, lost
    value: int | None = None
    expected_close: date | None = None
    created_at: datetime = Field(default_factory=utcnow)
    closed_at: datetime | None = None
    by: str | None = None


class Activity(SQLModel, table=True):
    """Something a person did with a lead: a note, a call, an email to the lead, a step done."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    kind: str = Field(max_length=20)  # note, call, email, text, meeting, reply, step
    by: str | None = None
    contact: bool = False  # the lead was contacted (counts for first/last contact)
    text: str | None = None
    message_pk: int | None = None  # the stored message it was seen in (an agent's reply)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Audience(SQLModel, table=True):
    """A saved lead filter, owned by the API key that saved it."""

    __table_args__ = (UniqueConstraint("owner", "name", name="uq_audience_owner_name"),)

    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(max_length=200)
    name: str = Field(max_length=200)
    filters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


# ---------------------------------------------------------------------------------------------
# Source health (leadmail.sources.health): rolling figures per lead source, for every instance.


class SourceHealth(SQLModel, table=True):
    """One lead source's state: ok or drifting (and why), and its drift episodes so far."""

    source: str = Field(primary_key=True, max_length=200)
    state: str = Field(default="ok", max_length=20)  # ok, drifting
    reason: str | None = None  # what changed, in words
    kind: str | None = Field(default=None, max_length=20)  # field:NAME, fallback, silent
    episode: int = 0  # drift episodes so far: the admin email's idempotency key has it
    since: datetime | None = None
    last_good_message: str | None = Field(default=None, max_length=998)
    first_bad_message: str | None = Field(default=None, max_length=998)
    last_seen: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class SourceSample(SQLModel, table=True):
    """One mail of a source in its rolling window (the last health.WINDOW are kept)."""

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=200, index=True)
    at: datetime = Field(default_factory=utcnow)
    message_pk: int | None = None
    message_id: str | None = Field(default=None, max_length=998)
    kind: str = Field(max_length=20)  # lead, review, quarantine, nonlead
    fallback: bool = False  # read by the Direct fallback instead of the source's parser
    filled: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class SourceDay(SQLModel, table=True):
    """A source's counts for one UTC day."""

    source: str = Field(primary_key=True, max_length=200)
    day: date = Field(primary_key=True)
    mails: int = 0
    leads: int = 0
    review: int = 0
    fallback: int = 0
    quarantined: int = 0


# The web app's sign-in (leadmail.sessions): one-time email links and the sessions they open.
# Only SHA-256 digests of the link and cookie tokens are stored.


class LoginLink(SQLModel, table=True):
    """A sign-in link emailed to a person; used at most once, within its 15 minutes."""

    __tablename__ = "login_link"

    id: int | None = Field(default=None, primary_key=True)
    digest: str = Field(max_length=64, unique=True)
    email: str = Field(max_length=320, index=True)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    expires_at: datetime
    used_at: datetime | None = None


class WebSession(SQLModel, table=True):
    """A signed-in browser: the cookie's digest, whose it is, until when; revocable."""

    __tablename__ = "web_session"

    id: int | None = Field(default=None, primary_key=True)
    digest: str = Field(max_length=64, unique=True)
    email: str = Field(max_length=320, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    last_seen_at: datetime | None = None
    revoked_at: datetime | None = None
    user_agent: str | None = Field(default=None, max_length=200)


# Campaigns (leadmail.followup.campaigns): automatic follow-up to the lead itself.


class CampaignRun(SQLModel, table=True):
    """A lead's run of one campaign (at most one run per lead and campaign, one active)."""

    __table_args__ = (UniqueConstraint("lead_id", "campaign", name="uq_campaignrun_lead"),)

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    campaign: str = Field(max_length=100)
    agent: str | None = None  # the owner agent the mail is from
    status: str = Field(default=CampaignStatus.ACTIVE, index=True, max_length=20)
    started_at: datetime = Field(default_factory=utcnow)
    stopped_at: datetime | None = None
    stop_reason: str | None = Field(default=None, max_length=50)  # reply, stage, contact, ...
    stop_detail: str | None = Field(default=None, max_length=500)


class CampaignStep(SQLModel, table=True):
    """One step of a lead's campaign: scheduled with the run, then sent, skipped or stopped."""

    __table_args__ = (
        UniqueConstraint("lead_id", "campaign", "position", name="uq_campaignstep_lead"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="campaignrun.id", index=True)
    lead_id: int = Field(index=True)
    campaign: str = Field(max_length=100)
    position: int = 0  # index of the step in the campaign (shown as step position + 1)
    channel: str = Field(default="email", max_length=20)
    template: str = Field(max_length=100)
    due_at: datetime = Field(index=True)
    status: str = Field(default=CampaignStepStatus.SCHEDULED, index=True, max_length=20)
    reason: str | None = Field(default=None, max_length=500)  # why skipped, stopped, waiting
    outbox_key: str | None = Field(default=None, max_length=200)
    sent_at: datetime | None = None  # when it was queued in the outbox
    created_at: datetime = Field(default_factory=utcnow)


class Suppression(SQLModel, table=True):
    """An address or phone that gets no campaign mail or text again (unsubscribe, bounce)."""

    __table_args__ = (UniqueConstraint("kind", "value", name="uq_suppression_value"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)  # email, phone
    value: str = Field(max_length=320)  # lower-cased email, E.164 phone
    reason: str = Field(max_length=50)  # unsubscribe, stop, bounce
    lead_id: int | None = None
    at: datetime = Field(default_factory=utcnow)
