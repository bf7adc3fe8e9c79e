"""Redfin partner-agent referrals."""

from __future__ import annotations

import re

from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.common import Layout, from_domain_in, parse_layout

_DOMAINS = ("redfin.com",)
_LAYOUT = Layout(
    source="Redfin",
    parser="redfin",
    domains=_DOMAINS,
    address_is_property=True,
    subjects=(
        re.compile(r"(?i)(?:new )?redfin (?:partner )?referral\s*[:\-]\s*(?P<name>[^,|]+?)"
                   r"(?:\s*[,|]\s*(?P<prop>.+))?$"),
    ),
    default_segment="Buyer",
)


class RedfinParser:
    """Redfin Partner Program referrals: labelled client fields."""

    name = "Redfin"

    def claims(self, mail: Mail) -> bool:
        """From Redfin, or a subject with "Redfin" and "referral"."""
        subject = mail.subject.lower()
        return from_domain_in(mail, _DOMAINS) or ("redfin" in subject and "referral" in subject)

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        """Labelled client fields."""
        return parse_layout(mail, ctx, _LAYOUT)
