"""When the provider says the inquiry happened: its own clock, beside leadmail's intake time.

In this order: a timestamp in the body (an ADF `<requestdate>`, a form's "Submitted" row), the
Date header, the earliest Received hop. A body time without a zone is read in the zone of
the Date header (the provider's own), else as UTC. A time more than MAX_AHEAD after now is
a wrong clock and is not taken. Pure: reads the mail only.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from leadmail.parsers.base import Mail
from leadmail.parsers.common import all_pairs
from leadmail.parsers.text import label_key

MAX_AHEAD = timedelta(minutes=10)  # a provider clock this far in the future is wrong
MAX_BEHIND = timedelta(days=366)  # nor is one over a year old
MAX_HOPS = 50  # Received headers looked at
# Labels of a form's own timestamp row (canonical: leadmail.parsers.text.label_key).
LABELS = ("submitted", "submitted on", "submitted at", "date submitted", "submission date",
          "submission time", "inquiry date", "inquiry time", "request date", "requested at",
          "lead date", "lead time", "created", "created at", "received at", "logged at",
          "date of inquiry", "time of inquiry", "sent at")
_REQUESTDATE = re.compile(r"<requestdate>\s*([^<]{4,60}?)\s*</requestdate>", re.I)
_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %I:%M:%S %p",
            "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%B %d, %Y %I:%M %p", "%b %d, %Y %I:%M %p",
            "%B %d, %Y at %I:%M %p", "%b %d, %Y at %I:%M %p", "%d %B %Y %H:%M")
_ZONE_WORDS = {"utc": 0, "gmt": 0, "z": 0, "est": -5, "edt": -4, "cst": -6, "cdt": -5,
               "mst": -7, "mdt": -6, "pst": -8, "pdt": -7}


def _header_time(value: str) -> datetime | None:
    try:
        at = parsedate_to_datetime(value.strip()[:200])
    except (TypeError, ValueError, IndexError):
        return None
    return at if at is not None and at.tzinfo is not None else None


def parse_time(value: str, zone: timedelta | None = None) -> datetime | None:
    """A timestamp as forms and ADF write it, aware; naive ones in `zone` (else UTC)."""
    text = re.sub(r"\s+", " ", value.strip()[:80])
    offset = None
    words = text.rsplit(" ", 1)
    if len(words) == 2 and words[1].lower() in _ZONE_WORDS:
        text, offset = words[0], timedelta(hours=_ZONE_WORDS[words[1].lower()])
    at: datetime | None = None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _FORMATS:
            try:
                at = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if at is None:
        return _header_time(value)
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone(offset if offset is not None else zone or timedelta(0)))
    return at


def _body_time(mail: Mail, zone: timedelta | None) -> datetime | None:
    for source in (mail.text, *(a.payload[:200_000].decode("utf-8", "replace")
                                for a in mail.attachments[:10]
                                if "xml" in a.content_type or "text" in a.content_type)):
        m = _REQUESTDATE.search(source[:500_000])
        if m:
            at = parse_time(m.group(1), zone)
            if at is not None:
                return at
    wanted = set(LABELS)
    for key, value in all_pairs(mail)[:500]:
        if label_key(key) in wanted:
            at = parse_time(value, zone)
            if at is not None:
                return at
    return None


def provider_time(mail: Mail, now: datetime | None = None) -> tuple[datetime, str] | None:
    """(the provider's time, which clock: body, date or received), in UTC; or None."""
    now = now or datetime.now(UTC)
    date = _header_time(mail.header("date")) if mail.header("date") else None
    zone = date.utcoffset() if date is not None else None
    hops = [_header_time(h.rpartition(";")[2])
            for h in mail.header("received").split("\n")[:MAX_HOPS] if ";" in h]
    earliest = min((h for h in hops if h is not None), default=None)
    for at, clock in ((_body_time(mail, zone), "body"), (date, "date"), (earliest, "received")):
        if at is not None and now - MAX_BEHIND <= at <= now + MAX_AHEAD:
            return at.astimezone(UTC), clock
    return None
