"""Trulia lead notifications (Zillow Group, same shapes)."""

from __future__ import annotations

import re

from leadmail.parsers.common import Layout, LayoutReader

_DOMAINS = ("trulia.com", "truliamail.com")
_LAYOUT = Layout(
    source="Trulia",
    parser="trulia",
    domains=_DOMAINS + ("zillow.com",),
    address_is_property=True,
    subjects=(
        re.compile(
            r"(?i)^(?:new trulia lead\s*[:\-]\s*)?(?P<name>[^:]+?) (?:is requesting information "
            r"about|wants to tour|is interested in|has a question about)\s+(?P<prop>.+)$"),
    ),
    default_segment="Buyer",
)


class TruliaParser(LayoutReader):
    """Trulia inquiries: labelled fields plus the subject (the same reading as Zillow's)."""

    name = "Trulia"
    domains = _DOMAINS
    marker = re.compile(r"(?i)\btrulia\b")
    layout = _LAYOUT
