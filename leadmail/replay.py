"""Replay: run a stored message through the pipeline again, for instance after a rule fix.

Replay never makes a second lead:
- a message that made no lead (not a lead, quarantined, or still waiting) is put back in line
  and processed like a new one; the dedup key still decides whether it is a duplicate;
- a message that made a lead is read again and compared with the stored lead; with
  `update=True` the lead's extracted fields take the new values, and the change is recorded in
  its trace and as a `replayed` event. Its assignment and alert stay as they are;
- a duplicate points at the message to replay instead; a message in the worker's hands is left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from leadmail import pipeline
from leadmail.clock import utcnow
from leadmail.db import session_scope
from leadmail.errors import Quarantine
from leadmail.models import Event, Lead, Message, MessageStatus
from leadmail.queue import MESSAGES

# Statuses a message may be replayed from as if new: it made no lead.
REPROCESS = (MessageStatus.NON_LEAD, MessageStatus.QUARANTINED, MessageStatus.RECEIVED)
NOT_COMPARED = ("confidence",)  # updated, but too noisy to report


@dataclass
class Replayed:
    """What replaying one message did (one JSON line of `leadmail replay`)."""

    message: int
    action: str  # processed, queued, compared, updated, skipped
    status: str | None = None
    lead_id: int | None = None
    reason: str | None = None
    changes: dict[str, list[Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return dict(self.__dict__)


def replay(rt: pipeline.Runtime, engine: Engine, msg_id: int, update: bool = False) -> Replayed:
    """Replay one stored message; see the module docstring for what happens to each kind."""
    with session_scope(engine) as session:
        msg = session.get(Message, msg_id)
        if msg is None:
            return Replayed(msg_id, "skipped", reason=f"no message #{msg_id}")
        status, lead_id, duplicate_of, raw = msg.status, msg.lead_id, msg.duplicate_of, msg.raw
    if status == MessageStatus.DUPLICATE:
        return Replayed(
            msg_id,
            "skipped",
            status,
            reason=f"a duplicate of #{duplicate_of}: replay #{duplicate_of} instead",
        )
    if status == MessageStatus.LEAD and lead_id is not None:
        return _reread(rt, engine, msg_id, lead_id, raw, update)
    if status not in REPROCESS:
        return Replayed(msg_id, "skipped", status, reason="being processed right now; try later")
    if not _requeue(engine, msg_id, status):
        return Replayed(msg_id, "skipped", reason="its status changed meanwhile; try again")
    outcome = pipeline.process(rt, engine, msg_id)
    if outcome is None:
        reason = "the running daemon took it"
        return Replayed(msg_id, "queued", MessageStatus.RECEIVED, reason=reason)
    return Replayed(msg_id, "processed", outcome.status, outcome.lead_id, outcome.reason)


def _requeue(engine: Engine, msg_id: int, status: str) -> bool:
    """Back in line as received, only if nobody changed it since we looked."""
    return MESSAGES.requeue(engine, msg_id, status,
                            Event(kind="replayed", message_pk=msg_id, data={"was": status}))


def _reread(
    rt: pipeline.Runtime, engine: Engine, msg_id: int, lead_id: int, raw: bytes, update: bool
) -> Replayed:
    """Read a message that made a lead again; compare, and update the lead if asked."""
    try:
        draft = pipeline.read(raw, rt)
    except Quarantine as exc:
        return Replayed(msg_id, "compared", MessageStatus.LEAD, lead_id, f"now: {exc.reason}")
    except Exception as exc:  # a bug met this input: report it, keep the lead as it is
        reason = f"now fails to read: {type(exc).__name__}: {exc}"
        return Replayed(msg_id, "compared", MessageStatus.LEAD, lead_id, reason)
    if not draft.is_lead:
        reason = f"now reads as not a lead ({draft.not_lead_reason}); lead #{lead_id} is kept"
        return Replayed(msg_id, "compared", MessageStatus.LEAD, lead_id, reason)
    fresh = pipeline._lead_fields(draft)
    with session_scope(engine) as session:
        lead = session.get(Lead, lead_id)
        assert lead is not None
        changes = {
            name: [getattr(lead, name), value]
            for name, value in fresh.items()
            if getattr(lead, name) != value
        }
        shown = {k: v for k, v in changes.items() if k not in NOT_COMPARED}
        if not update or not changes:
            return Replayed(msg_id, "compared", MessageStatus.LEAD, lead_id, changes=shown)
        for name, (_old, new) in changes.items():
            setattr(lead, name, new)
        lead.trace = [
            *lead.trace,
            {
                "step": "replay",
                "at": utcnow().isoformat(),
                "rule": draft.rule,
                "parser": draft.parser,
                "changed": sorted(shown),
            },
        ]
        session.add(lead)
        session.add(
            Event(kind="replayed", message_pk=msg_id, lead_id=lead_id, data={"changes": shown})
        )
    return Replayed(msg_id, "updated", MessageStatus.LEAD, lead_id, changes=shown)
