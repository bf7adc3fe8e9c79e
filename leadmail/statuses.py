"""Every status a row can be in, as StrEnums: the values are the strings the database stores.

A StrEnum member is a str (`MessageStatus.LEAD == "lead"`), so queries, JSON and the database
see exactly the values they always saw.
"""

from __future__ import annotations

from enum import StrEnum, nonmember


class MessageStatus(StrEnum):
    """Where a stored message is in its life; every message ends in one of FINAL."""

    RECEIVED = "received"
    PROCESSING = "processing"
    LEAD = "lead"
    DUPLICATE = "duplicate"
    NON_LEAD = "non_lead"
    QUARANTINED = "quarantined"
    FINAL = nonmember(("lead", "duplicate", "non_lead", "quarantined"))


class LeadStatus(StrEnum):
    """Where a lead stands with the agents (routing writes it, actions move it)."""

    NEW = "new"
    REVIEW = "review"  # held for a person (`leadmail review`) before routing
    ASSIGNED = "assigned"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    MANAGER = "manager"
    UNASSIGNED = "unassigned"


class OutboxStatus(StrEnum):
    """An alert or email waiting to go, gone, or given up on."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class OfferStatus(StrEnum):
    """An offer of a lead to an agent: open until answered, expired or withdrawn."""

    OPEN = "open"
    CLAIMED = "claimed"  # first to claim: waiting to be confirmed as the winner
    WON = "won"
    LOST = "lost"  # another agent's claim won
    ACCEPTED = "accepted"
    DECLINED = "declined"
    DONE = "done"  # a manager's pick, made
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class TimerStatus(StrEnum):
    """A routing timer (an offer's or an assignment's deadline)."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class StepStatus(StrEnum):
    """A Next Step of the follow-up."""

    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class CampaignStatus(StrEnum):
    """A lead's run of a campaign: active until it ends, is stopped or paused."""

    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"  # the lead engaged, unsubscribed, bounced (stop_reason says which)
    DONE = "done"  # every step went out or was skipped


class CampaignStepStatus(StrEnum):
    """One step of a lead's campaign."""

    SCHEDULED = "scheduled"
    SENT = "sent"  # queued in the outbox in the transaction that marked it (delivery follows)
    SKIPPED = "skipped"  # not sent, and never will be (no address, unsubscribed, ...)
    STOPPED = "stopped"  # the campaign stopped before it was due
