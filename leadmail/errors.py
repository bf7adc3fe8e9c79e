"""Exceptions named for what happens next to the message or the process."""

from __future__ import annotations


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


class Quarantine(LeadmailError):
    """This message cannot be processed as it is: keep it with the reason; retry by hand."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotALead(LeadmailError):
    """The message was read fine and is not a lead (bounce, auto-reply, newsletter)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Transient(LeadmailError):
    """A temporary failure (database locked, relay down): try again later."""


class ReadFailed(LeadmailError):
    """The reader process did not answer: it ran past its time limit or died. `reason` says
    which; the message is retried (one attempt used), and quarantined with it at the last."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
