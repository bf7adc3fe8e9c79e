"""The clock routing reads: windows, hours, leave and timers all ask it, so tests can move time.

Every routing entry point takes `clock=`; when omitted they use `current()`, the system clock
unless a test installed another with `use()`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that says what time it is (aware, UTC)."""

    def now(self) -> datetime:
        """The current time."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        """datetime.now(UTC)."""
        return datetime.now(UTC)


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


@contextmanager
def use(clock: Clock) -> Iterator[Clock]:
    """Make `clock` the default inside the block (for code paths that take no clock argument)."""
    global _current
    previous, _current = _current, clock
    try:
        yield clock
    finally:
        _current = previous
