"""Time, in one place: every datetime leadmail makes or reads back is aware and in UTC.

- `now()`: the time the rules read (routing windows, working hours, leave, timers, follow-up,
  link expiry). It asks the process-wide clock, the system's unless a test installed another
  with `use()`; routing entry points also take `clock=`.
- `utcnow()`: the system's time, which rows are stamped with (received_at, created_at, leases,
  retries). It never moves with a test's clock, so stamps stay ordered.
- `aware()`: a datetime read back from SQLite (which drops the zone) or typed without a zone
  is UTC.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol, overload


def utcnow() -> datetime:
    """The system's time, aware, in UTC."""
    return datetime.now(UTC)


@overload
def aware(at: datetime) -> datetime: ...
@overload
def aware(at: None) -> None: ...
def aware(at: datetime | None) -> datetime | None:
    """A naive datetime is UTC (SQLite hands them back naive); an aware one is kept."""
    if at is not None and at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    return at


class Clock(Protocol):
    """Something that says what time it is (aware, UTC)."""

    def now(self) -> datetime:
        """The current time."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        """utcnow()."""
        return utcnow()


class ManualClock:
    """A clock that only moves when told to (tests, simulations)."""

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The time it was set to."""
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> datetime:
        """Move forward by timedelta(**delta); the new time."""
        with self._lock:
            self._now += timedelta(**delta)
            return self._now

    def set(self, at: datetime) -> None:
        """Jump to a time."""
        with self._lock:
            self._now = at.astimezone(UTC)


SYSTEM = SystemClock()
_current: Clock = SYSTEM


def current() -> Clock:
    """The process-wide default clock."""
    return _current


def now() -> datetime:
    """The current time on the process-wide clock."""
    return _current.now()


@contextmanager
def use(clock: Clock) -> Iterator[Clock]:
    """Make `clock` the default inside the block (for code paths that take no clock argument)."""
    global _current
    previous, _current = _current, clock
    try:
        yield clock
    finally:
        _current = previous


def must(at: datetime | None) -> datetime:
    """aware() for a value that is never None (a NOT NULL column, typed as optional)."""
    assert at is not None
    return aware(at)
