"""Homes.com lead notifications."""

from __future__ import annotations

import re

from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.common import Layout, from_domain_in, parse_layout

_DOMAINS = ("homes.com",)
_LAYOUT = Layout(
    source="Homes.com",
    parser="homes",
    domains=_DOMAINS,
    address_is_property=True,
    subjects=(
        re.compile(r"(?i)homes\.com.*?lead\s*(?:for|:|-)\s*(?P<prop>.+)$"),
    ),
    default_segment="Buyer",
)


class HomesParser:
    """Homes.com inquiries: labelled fields."""

    name = "Homes.com"

    def claims(self, mail: Mail) -> bool:
        """From Homes.com, or a subject naming it."""
        named = re.search(r"(?i)\bhomes\.com\b", mail.subject)
        return from_domain_in(mail, _DOMAINS) or bool(named)

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        """Labelled fields."""
        return parse_layout(mail, ctx, _LAYOUT)
