"""What the steps pass along: the message's context, and how a message ended (Outcome)."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.engine import Engine

from leadmail.draft import Draft
from leadmail.errors import Ended, NotALead, Review, Taken, Transient
from leadmail.pipeline.runtime import Runtime

Reader = Callable[[bytes, str], Draft]  # runs the read step: (raw, intake) -> Draft


@dataclass
class Outcome:
    """How one message ended (one JSON line of `leadmail ingest`)."""

    message: int
    status: str
    lead_id: int | None = None
    agent: str | None = None
    reason: str | None = None
    duplicate_of: int | None = None
    source: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return dict(self.__dict__)


@dataclass
class Context:
    """One message on its way through the steps. The claim step fills in the stored
    message; the read step the draft; the loop `held` when a step ended it as Review; the
    commit step the outcome."""

    rt: Runtime
    engine: Engine
    msg_id: int
    me: str
    reader: Reader | None
    log: Any  # a structlog logger bound to the message
    raw: bytes = b""
    key: str = ""  # the dedup key (the duplicate step may give the message one of its own)
    attempts: int = 0  # this one included
    intake: str = ""
    draft: Draft | None = None
    held: Review | None = None  # a step ended it as Review: the last step holds its lead
    route: str | None = None  # the route the commit step took (for its log line)
    outcome: Outcome | None = None

    @property
    def max_attempts(self) -> int:
        """[pipeline] max_attempts."""
        return self.rt.settings.pipeline.max_attempts

    def the_draft(self) -> Draft:
        """The draft, for the steps after the read step."""
        assert self.draft is not None, "the read step runs before this one"
        return self.draft


@dataclass
class Ran:
    """What a step did with one message of a batch: its context goes on (`end` None), or
    `end` ended it (Taken, an Ended outcome, or Transient)."""

    ctx: Context
    end: Exception | None = None

    @classmethod
    def of(cls, run: Callable[[Context], Context], ctx: Context) -> Ran:
        """`run(ctx)`, with the outcome it raised, if any. Log lines carry msg=ID."""
        with structlog.contextvars.bound_contextvars(msg=ctx.msg_id):
            try:
                return cls(run(ctx))
            except (Taken, Ended, Transient) as end:
                return cls(ctx, end)

    def get(self) -> Context:
        """The context, or the outcome raised again (a step's `run` on one message)."""
        if self.end is not None:
            raise self.end
        return self.ctx


def something_else(ctx: Context, look: Callable[[], str | None], *, source: str,
                   failed: str, said: str | None = None) -> Context:
    """For a step that tells a message which is something else than a lead (and deals with
    it): `look()` says what it was, or None (then the context goes on). Ends the message as
    NotALead from `source`; a failure of `look` as Transient, logged as `failed`."""
    try:
        found = look()
    except Exception:
        ctx.log.exception(failed)
        raise Transient(traceback.format_exc()) from None
    if found is None:
        return ctx
    if said:
        ctx.log.info(said, outcome=found)
    raise NotALead(found, source=source)
