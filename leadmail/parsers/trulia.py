"""Trulia lead notifications (Zillow Group, same shapes)."""

from __future__ import annotations

import re

from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.common import Layout, from_domain_in, parse_layout

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


class TruliaParser:
    """Trulia inquiries: labelled fields plus the subject."""

    name = "Trulia"

    def claims(self, mail: Mail) -> bool:
        """From Trulia, or a subject naming Trulia."""
        return from_domain_in(mail, _DOMAINS) or bool(re.search(r"(?i)\btrulia\b", mail.subject))

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        """Same reading as Zillow's."""
        return parse_layout(mail, ctx, _LAYOUT)
