"""HomeLight agent-match referrals (sellers and buyers)."""

from __future__ import annotations

import re

from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.common import Layout, from_domain_in, parse_layout, seller_home

_DOMAINS = ("homelight.com",)
_LAYOUT = Layout(
    source="HomeLight",
    parser="homelight",
    domains=_DOMAINS,
    keep_unknown=True,
    # HomeLight's own staff sign every referral with a local number and a homelight.com address.
    skip_labels=frozenset({"homelight contact", "client success manager", "referral manager",
                           "your referral manager", "transaction coordinator", "hl contact"}),
)


class HomeLightParser:
    """A HomeLight referral: the matched client, their home (sellers) or budget (buyers)."""

    name = "HomeLight"

    def claims(self, mail: Mail) -> bool:
        """From HomeLight, or a subject naming a HomeLight referral or match."""
        return from_domain_in(mail, _DOMAINS) or bool(
            re.search(r"(?i)\bhomelight\b.{0,40}(referral|match|client|lead)", mail.subject))

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        """Labelled fields; a seller's home address is both their address and the property."""
        ex = parse_layout(mail, ctx, _LAYOUT)
        kind = str(ex.custom_fields.get("inquiry_type", "")) + " " + mail.subject
        if re.search(r"(?i)\bsell(er|ing)?\b", kind):
            ex.segment = "Seller"
            seller_home(ex)
        elif re.search(r"(?i)\bbuy(er|ing)?\b", kind):
            ex.segment = "Buyer"
        return ex
