"""Realtor.com lead notifications."""

from __future__ import annotations

import re

from leadmail.parsers.common import Layout, LayoutReader

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


class RealtorParser(LayoutReader):
    """Realtor.com "New realtor.com lead" mails: First/Last Name, Comments, Property Address."""

    name = "Realtor.com"
    domains = _DOMAINS
    marker = re.compile(r"(?i)realtor\.com")
    layout = _LAYOUT
    seller = re.compile(r"(?i)seller|valuation|home value")  # overrides the buyer default
    seller_home = False
