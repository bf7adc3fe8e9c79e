"""Realtor.com lead notifications."""

from __future__ import annotations

import re

from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.common import Layout, from_domain_in, parse_layout

_DOMAINS = ("realtor.com", "move.com", "moveinc.com")
_LAYOUT = Layout(
    source="Realtor.com",
    parser="realtor",
    domains=_DOMAINS + ("opcity.com",),  # Opcity's referrals have their own parser
    address_is_property=True,
    subjects=(
        re.compile(r"(?i)new realtor\.com lead\s*[:\-]\s*(?P<name>[^,|]+?)\s*$"),
        re.compile(
            r"(?i)^(?P<name>[^:]+?) (?:is requesting information about|wants to (?:tour|see)|"
            r"is interested in)\s+(?P<prop>.+)$"),
    ),
    default_segment="Buyer",
)


class RealtorParser:
    """Realtor.com "New realtor.com lead" mails: First/Last Name, Comments, Property Address."""

    name = "Realtor.com"

    def claims(self, mail: Mail) -> bool:
        """From Realtor.com (Move), or a subject naming realtor.com."""
        return from_domain_in(mail, _DOMAINS) or "realtor.com" in mail.subject.lower()

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        """Labelled fields; a "Seller" inquiry type overrides the buyer default."""
        ex = parse_layout(mail, ctx, _LAYOUT)
        kind = str(ex.custom_fields.get("inquiry_type", "")) + " " + mail.subject
        if re.search(r"(?i)seller|valuation|home value", kind):
            ex.segment = "Seller"
        return ex
