"""Opcity (realtor.com's referral concierge) live-transfer referrals."""

from __future__ import annotations

import re

from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.common import Layout, LayoutReader

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


class OpcityParser(LayoutReader):
    """An Opcity referral: the concierge's client, with price range, timeframe and notes."""

    name = "Opcity"
    domains = _DOMAINS
    marker = re.compile(r"(?i)\bopcity\b")
    layout = _LAYOUT
    # "Lead Type: Seller" makes the home the client's own
    seller = re.compile(r"(?i)\bseller\b")
    buyer = re.compile(r"(?i)\bbuyer\b")

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        """As LayoutReader; since Opcity became realtor.com's "Connections Plus", mail sent
        under that name ("Realtor.com Connections Plus <connections@opcity.com>") is
        realtor.com's lead."""
        ex = super().parse(mail, ctx)
        if _REALTOR_BRAND.search(mail.from_name):
            ex.source = "Realtor.com"
        return ex


_REALTOR_BRAND = re.compile(r"(?i)\brealtor\.com\b")
