"""Time for follow-up: routing's clock (tests move it) and UTC-aware values from any database."""

from __future__ import annotations

from datetime import UTC, datetime

from leadmail.routing import clock as clocks


def now() -> datetime:
    """The current time on the process-wide clock (leadmail.routing.clock)."""
    return clocks.current().now()


def aware(at: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; they are UTC."""
    if at is not None and at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    return at


def must(at: datetime | None) -> datetime:
    """aware() for a value that is never None."""
    assert at is not None
    return aware(at)  # type: ignore[return-value]
