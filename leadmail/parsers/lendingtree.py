"""LendingTree-style mortgage leads (purchase and refinance), also from resellers of the format."""

from __future__ import annotations

import re

from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.common import Layout, LayoutReader, parse_layout

_DOMAINS = ("lendingtree.com", "lendingtreemail.com", "tree.com")
_LAYOUT = Layout(
    source="LendingTree",
    parser="lendingtree",
    domains=_DOMAINS,
    keep_unknown=True,
    skip_labels=frozenset({"qf name", "qform name", "filter name", "lender id"}),
)
_PROPERTY_PARTS = ("property_address", "property_city", "property_state", "property_zip")
# (property_address is a known label; the other parts arrive as custom fields.)


class LendingTreeParser(LayoutReader):
    """A mortgage lead: the borrower, the loan they ask for and the property it is for."""

    name = "LendingTree"
    domains = _DOMAINS
    marker = re.compile(r"(?i)\blending ?tree\b")
    layout = _LAYOUT

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        """Labelled fields; a purchase is a buyer, the subject property assembled from parts."""
        ex = parse_layout(mail, ctx, _LAYOUT)
        cf = ex.custom_fields
        if ex.property_address and ex.confidence.get("address") == 0.8:
            # "Property Address" then bare City/State/Zip: the parts are the property's, and
            # the borrower lives there (a refinance names no other address).
            ex.property_address = f"{ex.property_address}, {ex.address}"
            ex.address = ex.property_address
        elif ex.property_address:
            parts = [str(cf.pop(k)) for k in _PROPERTY_PARTS[1:] if k in cf]
            ex.property_address = ", ".join([ex.property_address, *parts])
        purpose = str(cf.get("loan_purpose") or cf.get("loan_type") or "") + " " + mail.subject
        if re.search(r"(?i)\bpurchase\b", purpose):
            ex.segment = "Buyer"
        else:
            ex.segment = None  # a refinance or a home-equity loan: a customer, not a buyer
            # The loan is on the home they live in: their own address, no listing asked about.
            if ex.property_address and not ex.address:
                ex.address = ex.property_address
                ex.confidence["address"] = 0.8
            if ex.property_address == ex.address:
                ex.property_address = None
        return ex
