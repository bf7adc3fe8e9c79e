"""IDX website registrations and showing requests (iHomefinder, IDX Broker, kvCORE...)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from leadmail import normalize
from leadmail.parsers.adf import find_xml
from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.common import Layout, from_domain_in, not_lead_phone, parse_layout
from leadmail.parsers.nlp import find_address

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
_LEADLIST = re.compile(r"<LeadList\b.*?(?:</LeadList\s*>|\Z)", re.S)
_SUBJECT = re.compile(r"(?i)\bIDX\b|new (site |website )?registration|showing request|"
                      r"schedule a showing|new lead from your website|property inquiry from")


class IdxParser:
    """IDX vendor mails: a registered visitor and the listing they asked about."""

    name = "IDX"

    def claims(self, mail: Mail) -> bool:
        """From an IDX vendor, or an IDX-style subject."""
        if from_domain_in(mail, _DOMAINS) or _SUBJECT.search(mail.subject):
            return True
        return find_xml(mail, _LEADLIST) is not None

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        """iHomefinder LeadList XML when present, else labelled fields."""
        doc = find_xml(mail, _LEADLIST)
        if doc:
            try:
                return _leadlist(ET.fromstring(doc), ctx)
            except ET.ParseError:
                pass  # a broken export: the labelled-text reading below still gets something
        return parse_layout(mail, ctx, _LAYOUT)


def _text(node: ET.Element, path: str) -> str | None:
    found = node.find(path)
    return (found.text or "").strip() or None if found is not None else None


def _leadlist(root: ET.Element, ctx: ParseContext) -> Extracted:
    """The first <Lead> of an iHomefinder LeadList export."""
    lead = root.find("Lead")
    ex = Extracted(parser="idx", source="iHomefinder", segment="Buyer")  # its export format
    if lead is None:
        return ex
    ex.first_name = _text(lead, "Contact/Name/First")
    ex.last_name = _text(lead, "Contact/Name/Last")
    ex.email = _text(lead, "Contact/Email")
    for number in lead.iterfind("Contact/PhoneList/Phone/Number"):
        e164 = normalize.phone(number.text or "", ctx.default_region)
        if e164 and not not_lead_phone(e164, ctx):
            ex.phone = e164
            break
    ex.message = _text(lead, "Contact/Note")
    ex.property_address = find_address(ex.message or "")[0]
    for key, path in (("mls", "ListingNumber"), ("lead_source", "LeadSource"),
                      ("lead_id", "ThisDataProvider/Snapshot/RecordID")):
        value = _text(lead, path)
        if value:
            ex.custom_fields[key] = value
    ex.confidence = {k: 1.0 for k in ("first_name", "last_name", "email", "phone", "message")}
    ex.confidence["property_address"] = 0.6
    return ex
