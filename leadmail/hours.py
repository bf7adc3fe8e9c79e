"""Working hours ("mon-fri 09:00-18:00"), business-time arithmetic and leave dates (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPEC = re.compile(
    r"^\s*(?:(?P<days>[a-z]{3}(?:\s*-\s*[a-z]{3})?(?:\s*,\s*[a-z]{3}(?:\s*-\s*[a-z]{3})?)*)\s+)?"
    r"(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Window:
    """On these weekdays (0 = Monday), from start to end minutes after midnight.

    An end at or before the start runs past midnight into the next day ("22:00-06:00").
    """

    days: frozenset[int]
    start: int
    end: int

    @property
    def overnight(self) -> bool:
        """True when the window ends the next day."""
        return self.end <= self.start


def _minutes(text: str, spec: str) -> int:
    hh, mm = (int(p) for p in text.split(":"))
    if not (0 <= hh <= 24 and 0 <= mm < 60) or (hh == 24 and mm):
        raise ValueError(f"{spec!r}: {text} is not a time of day (00:00-24:00)")
    return hh * 60 + mm


def _days(text: str | None, spec: str) -> frozenset[int]:
    if not text:
        return frozenset(range(7))
    out: set[int] = set()
    for part in text.lower().split(","):
        first, _, last = (p.strip() for p in part.partition("-"))
        for name in (first, last or first):
            if name not in DAYS:
                raise ValueError(f"{spec!r}: {name!r} is not a day (use {', '.join(DAYS)})")
        i, j = DAYS.index(first), DAYS.index(last or first)
        out.update((i + k) % 7 for k in range(((j - i) % 7) + 1))  # "fri-mon" wraps the weekend
    return frozenset(out)


def parse_window(spec: str) -> Window:
    """'mon-fri 09:00-18:00', 'sat,sun 10:00-14:00', '22:00-06:00' (every day) -> Window."""
    m = _SPEC.match(spec)
    if not m:
        raise ValueError(f"{spec!r}: expected like 'mon-fri 09:00-18:00' or '18:00-23:00'")
    start = _minutes(m["start"], spec)
    if start == 1440:
        raise ValueError(f"{spec!r}: a window starts at 00:00-23:59, not 24:00")
    return Window(_days(m["days"], spec), start, _minutes(m["end"], spec) % 1440)


@dataclass(frozen=True)
class Hours:
    """A set of weekly windows in one timezone; no windows means always open."""

    windows: tuple[Window, ...]
    tz: ZoneInfo

    @property
    def always(self) -> bool:
        """True when no windows were given: every minute counts."""
        return not self.windows

    def is_open(self, at: datetime) -> bool:
        """True when `at` falls inside a window (in this timezone)."""
        if self.always:
            return True
        local = at.astimezone(self.tz)
        minute = local.hour * 60 + local.minute
        today, yesterday = local.weekday(), (local.weekday() - 1) % 7
        for w in self.windows:
            if not w.overnight:
                if today in w.days and w.start <= minute < w.end:
                    return True
            elif (today in w.days and minute >= w.start) or (
                yesterday in w.days and minute < w.end
            ):
                return True
        return False

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open intervals starting on a local day, as aware UTC datetimes."""
        out = []
        for w in self.windows:
            if day.weekday() not in w.days:
                continue
            start = datetime.combine(day, time(w.start // 60, w.start % 60), self.tz)
            end_day = day + timedelta(days=1) if w.overnight else day
            end = datetime.combine(end_day, time(w.end // 60, w.end % 60), self.tz)
            out.append((start.astimezone(UTC), end.astimezone(UTC)))
        return sorted(out)

    def add(self, start: datetime, minutes: float) -> datetime:
        """The moment `minutes` of open time after `start` (plain addition when always open)."""
        if self.always:
            return start + timedelta(minutes=minutes)
        left = timedelta(minutes=minutes)
        day = start.astimezone(self.tz).date() - timedelta(days=1)
        for _ in range(3 * 366):  # a window exists at least once a week, so this ends early
            for begin, end in self.intervals(day):
                begin = max(begin, start)
                if end <= begin:
                    continue
                if end - begin >= left:
                    return begin + left
                left -= end - begin
            day += timedelta(days=1)
        raise ValueError("the working hours have no open time")  # unreachable with valid windows

    def describe(self, at: datetime) -> str:
        """'Sat 07:12 America/Chicago': the local time, for skip reasons."""
        local = at.astimezone(self.tz)
        return f"{DAYS[local.weekday()].title()} {local:%H:%M} {self.tz.key}"


@lru_cache(maxsize=128)
def zone(name: str) -> ZoneInfo:
    """A timezone by IANA name; ValueError naming it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA timezone (like America/Chicago)") from None


def hours(specs: list[str] | str | None, tz: str = "UTC") -> Hours:
    """Parse hour specs in a timezone; ValueError naming the bad spec."""
    if isinstance(specs, str):
        specs = [specs]
    return _hours(tuple(specs or ()), tz)


@lru_cache(maxsize=512)
def _hours(specs: tuple[str, ...], tz: str) -> Hours:
    return Hours(tuple(parse_window(s) for s in specs), zone(tz))


def local_day_start(at: datetime, tz: str) -> datetime:
    """Midnight of `at`'s local day in tz, as an aware UTC datetime."""
    z = zone(tz)
    local = at.astimezone(z)
    return datetime.combine(local.date(), time(0), z).astimezone(UTC)
