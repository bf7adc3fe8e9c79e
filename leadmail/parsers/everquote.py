"""EverQuote-style insurance leads (home, auto, renters), also from resellers of the format."""

from __future__ import annotations

import re

from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.common import Layout, LayoutReader, parse_layout

_DOMAINS = ("everquote.com", "everquotemail.com")
_LAYOUT = Layout(
    source="EverQuote",
    parser="everquote",
    domains=_DOMAINS,
    keep_unknown=True,
    skip_labels=frozenset({"campaign id", "tcpa consent text", "jornaya leadid", "trusted form",
                           "trustedform", "trustedform cert url", "universal leadid"}),
)
_VEHICLE = re.compile(r"^vehicle(_\d+)?$")


class EverQuoteParser(LayoutReader):
    """An insurance lead: the shopper, their address, and the home or vehicle to insure."""

    name = "EverQuote"
    domains = _DOMAINS
    marker = re.compile(r"(?i)\bever ?quote\b")
    layout = _LAYOUT

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        """Labelled fields; the first vehicle (auto) or the home (home) is the property."""
        ex = parse_layout(mail, ctx, _LAYOUT)
        vehicle = next((k for k in ex.custom_fields if _VEHICLE.match(k)), None)
        if vehicle:
            # "2018 Mazda CX-5 Touring (commute, 12,000 mi/yr)": the vehicle, not its use
            ex.property_address = re.sub(r"\s*\([^)]*\)\s*$", "", str(ex.custom_fields[vehicle]))
            ex.confidence["property_address"] = 1.0
        elif not ex.property_address and ex.address:
            ex.property_address = ex.address  # home insurance covers the home they live in
        ex.segment = None  # an insurance shopper is a customer, whatever the words say
        return ex
