"""Opcity (realtor.com's referral concierge) live-transfer referrals."""

from __future__ import annotations

import re

from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.common import Layout, from_domain_in, parse_layout, seller_home

_DOMAINS = ("opcity.com", "opcity.io")
_LAYOUT = Layout(
    source="Opcity",
    parser="opcity",
    # realtor.com's own addresses appear in Opcity mail too; neither is ever the client.
    domains=_DOMAINS + ("realtor.com", "move.com"),
    subjects=(
        re.compile(r"(?i)opcity (?:referral|lead|client)[^:]*:\s*(?:(?:buyer|seller)\s*[-:]\s*)?"
                   r"(?P<name>[^,|\-–]+?)\s*(?:[-–|,].*)?$"),
    ),
    keep_unknown=True,
    # The concierge who made the transfer is Opcity staff, with an ordinary local phone.
    skip_labels=frozenset({"concierge", "opcity concierge", "concierge phone", "concierge email",
                           "transfer time", "call recording"}),
)
_MARKER = re.compile(r"(?i)\bopcity\b")


class OpcityParser:
    """An Opcity referral: the concierge's client, with price range, timeframe and notes."""

    name = "Opcity"

    def claims(self, mail: Mail) -> bool:
        """From Opcity, or a subject naming an Opcity referral."""
        return from_domain_in(mail, _DOMAINS) or bool(_MARKER.search(mail.subject))

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        """Labelled client fields; "Lead Type: Seller" makes the home the client's own."""
        ex = parse_layout(mail, ctx, _LAYOUT)
        kind = str(ex.custom_fields.get("inquiry_type", "")) + " " + mail.subject
        if re.search(r"(?i)\bseller\b", kind):
            ex.segment = "Seller"
            seller_home(ex)
        elif re.search(r"(?i)\bbuyer\b", kind):
            ex.segment = "Buyer"
        return ex
