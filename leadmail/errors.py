"""Exceptions named for what happens next to the message or the process."""

from __future__ import annotations

from typing import ClassVar

from leadmail.statuses import MessageStatus


class LeadmailError(Exception):
    """Base class."""


class ConfigError(LeadmailError):
    """Bad configuration: start-up stops, naming the key at fault."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


class ConfigErrors(LeadmailError):
    """Several configuration errors, reported together."""

    def __init__(self, errors: list[ConfigError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


class Ended(LeadmailError):
    """A step of the pipeline ended the message: it gets `status`, with the reason (and the
    traceback, for a quarantine) on its row and its event. The typed outcomes are below."""

    status: ClassVar[MessageStatus]

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.source: str | None = None  # what the message turned out to be from, if known
        self.duplicate_of: int | None = None
        self.traceback: str | None = None


class Quarantine(Ended):
    """This message cannot be processed as it is: keep it with the reason; retry by hand."""

    status = MessageStatus.QUARANTINED

    def __init__(self, reason: str, traceback: str | None = None) -> None:
        super().__init__(reason)
        self.traceback = traceback


class NotALead(Ended):
    """The message was read fine and is not a lead (bounce, auto-reply, newsletter), or it was
    something else that has been dealt with (an agent's answer to an alert, their own mail)."""

    status = MessageStatus.NON_LEAD

    def __init__(self, reason: str, source: str | None = None) -> None:
        super().__init__(reason)
        self.source = source


class Review(Ended):
    """A person must check this lead before it is routed. It is still made, held in review
    (`Lead.status = review`, the reason beside it) instead of routed; `leadmail review`
    routes it later. The message's own status is `lead`."""

    status = MessageStatus.LEAD


class Duplicate(Ended):
    """The same message as an earlier one, which is the one that counts."""

    status = MessageStatus.DUPLICATE

    def __init__(self, reason: str, duplicate_of: int) -> None:
        super().__init__(reason)
        self.duplicate_of = duplicate_of


class Transient(LeadmailError):
    """A temporary failure (database locked, down or full): the message waits out a backoff
    and is tried again; at the last attempt it is quarantined. `error` is what went wrong
    (a traceback), kept on the message."""

    def __init__(self, error: str) -> None:
        super().__init__(error.splitlines()[-1] if error.strip() else error)
        self.error = error


class Taken(LeadmailError):
    """Another worker holds the message (or it is not waiting any more): not ours to process."""


class ReadFailed(LeadmailError):
    """The reader process did not answer: it ran past its time limit or died. `reason` says
    which; the message is retried (one attempt used), and quarantined with it at the last."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
