"""Zillow Premier Agent contact and tour requests."""

from __future__ import annotations

import re

from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.common import Layout, from_domain_in, parse_layout

_DOMAINS = ("zillow.com", "zillowmail.com", "zillowgroup.com", "hotpads.com")
_LAYOUT = Layout(
    source="Zillow",
    parser="zillow",
    domains=_DOMAINS,
    address_is_property=True,
    subjects=(
        re.compile(
            r"(?i)^(?:new (?:contact|lead|zillow lead)\s*[:\-]\s*)?(?P<name>[^:]+?) "
            r"(?:is requesting information about|wants to tour|requested a tour of|"
            r"is interested in|has a question about|wants to see|requested a showing of)\s+"
            r"(?P<prop>.+)$"),
        re.compile(r"(?i)^new (?:contact|lead)\s*[:\-]\s*(?P<name>[^,]+?)\s*$"),
    ),
    default_segment="Buyer",
)


class ZillowParser:
    """Zillow's "New Contact" / tour request notifications (text or HTML tables)."""

    name = "Zillow"

    def claims(self, mail: Mail) -> bool:
        """From a Zillow domain, or a subject/body that names Premier Agent."""
        if from_domain_in(mail, ("trulia.com",)):
            return False
        return from_domain_in(mail, _DOMAINS) or bool(
            re.search(r"(?i)zillow premier agent|premier agent lead", mail.text[:3000])
            or re.search(r"(?i)\bzillow\b", mail.subject)
        )

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        """Labelled fields first, then the subject's "X wants to tour Y", then Reply-To."""
        ex = parse_layout(mail, ctx, _LAYOUT)
        if not ex.message:
            quoted = re.search(r"[\"“](.{10,2000}?)[\"”]", mail.text, re.S)
            if quoted:
                ex.message = quoted.group(1).strip()
                ex.confidence["message"] = 0.8
        return ex
