"""IDX website registrations and showing requests (iHomefinder, IDX Broker, kvCORE...)."""

from __future__ import annotations

import re

from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.common import Layout, from_domain_in, parse_layout

_DOMAINS = ("ihomefinder.com", "idxbroker.com", "showcaseidx.com", "kvcore.com",
            "boomtownroi.com", "realgeeks.com", "sierrainteractivedev.com", "idxhome.com")
_LAYOUT = Layout(
    source="IDX",
    parser="idx",
    domains=_DOMAINS,
    subjects=(
        re.compile(r"(?i)(?:showing request|schedule a showing|more info request)\s*[:\-]\s*"
                   r"(?P<prop>.+)$"),
    ),
    default_segment="Buyer",
)
_SUBJECT = re.compile(r"(?i)\bIDX\b|new (site |website )?registration|showing request|"
                      r"schedule a showing|new lead from your website|property inquiry from")


class IdxParser:
    """IDX vendor mails: a registered visitor and the listing they asked about."""

    name = "IDX"

    def claims(self, mail: Mail) -> bool:
        """From an IDX vendor, or an IDX-style subject."""
        return from_domain_in(mail, _DOMAINS) or bool(_SUBJECT.search(mail.subject))

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        """Labelled fields."""
        return parse_layout(mail, ctx, _LAYOUT)
