"""Automotive ADF/XML leads, in the body or attached; broken XML is read with regexes."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

from leadmail import normalize
from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.common import not_lead_email, not_lead_phone

_ADF = re.compile(r"<adf\b.*?(?:</adf\s*>|\Z)", re.I | re.S)
_ATTACHED_XML = (".xml", ".adf")


class AdfParser:
    """ADF 1.0: customer contact, vehicle of interest, price, vendor and provider."""

    name = "ADF"

    def claims(self, mail: Mail) -> bool:
        """An <adf> document in the body or in an attachment."""
        return find_adf(mail) is not None

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        """Parse the XML; when it is broken, fall back to tag regexes."""
        return parse_adf(find_adf(mail) or "", mail, ctx)


def find_adf(mail: Mail) -> str | None:
    """The ADF document text, from the body (plain or HTML-escaped) or an attachment."""
    return find_xml(mail, _ADF)


def find_xml(mail: Mail, pattern: re.Pattern[str]) -> str | None:
    """The first match of `pattern` in an XML attachment or in the body (maybe HTML-escaped)."""
    for att in mail.attachments:
        if att.filename.lower().endswith(_ATTACHED_XML) or "xml" in att.content_type:
            m = pattern.search(att.payload.decode("utf-8", errors="replace"))
            if m:
                return m.group(0)
    for body in (mail.text, mail.html):
        if "&lt;" in body:
            body = html.unescape(re.sub(r"<[^>]+>", "", body))
        m = pattern.search(body)
        if m:
            return m.group(0)
    return None


def _clean(value: str | None) -> str:
    return re.sub(r"\s+", " ", html.unescape(value or "")).strip()


def parse_adf(doc: str, mail: Mail, ctx: ParseContext) -> Extracted:
    """One Extracted from an ADF document."""
    try:
        fields = _from_tree(ET.fromstring(doc))
        conf = 1.0
    except ET.ParseError:
        fields = _from_regex(doc)
        conf = 0.8
    ex = Extracted(parser="adf", source="ADF", segment="Buyer")
    for key in ("first_name", "last_name", "full_name", "address", "property_address",
                "price", "message"):
        if fields.get(key):
            setattr(ex, key, fields[key])
            ex.confidence[key] = conf
    for addr in fields.get("emails", []):
        if "@" in addr and not not_lead_email(addr, mail, ctx, ()):
            ex.email, ex.confidence["email"] = addr, conf
            break
    for raw in fields.get("phones", []):
        e164 = normalize.phone(raw, ctx.default_region)
        if e164 and not not_lead_phone(e164, ctx):
            ex.phone, ex.confidence["phone"] = e164, conf
            break
    for key in ("vendor", "provider", "timeframe", "trade_in", "request_date"):
        if fields.get(key):
            ex.custom_fields[key] = fields[key]
    return ex


def _local(tag: str) -> str:
    return tag.rpartition("}")[2].lower()


def _find(node: ET.Element | None, *path: str) -> ET.Element | None:
    for step in path:
        if node is None:
            return None
        node = next((c for c in node if _local(c.tag) == step), None)
    return node


def _all(node: ET.Element | None, name: str) -> list[ET.Element]:
    return [] if node is None else [c for c in node.iter() if _local(c.tag) == name]


def _vehicle_label(v: ET.Element) -> str:
    parts = [_clean(getattr(_find(v, k), "text", "")) for k in ("year", "make", "model", "trim")]
    return " ".join(p for p in parts if p)


_HOME_TAGS = frozenset({"property", "home", "listing", "realestate"})


def _text_of(node: ET.Element, *names: str) -> str:
    """The first of the named descendants' text, cleaned ("" when none)."""
    for name in names:
        found = next((e for e in _all(node, name) if e.text and e.text.strip()), None)
        if found is not None:
            return _clean(found.text)
    return ""


def _home_label(home: ET.Element) -> str | None:
    """A home's postal address from its parts: "1408 Ashbury Ln, Matthews, NC 28105"."""
    street = _text_of(home, "street", "address", "streetaddress", "address1")
    unit = _text_of(home, "apartment", "unit")
    if not street or not any(ch.isdigit() for ch in street):
        return None
    city = _text_of(home, "city")
    region = " ".join(p for p in (_text_of(home, "regioncode", "state"),
                                  _text_of(home, "postalcode", "zip", "zipcode")) if p)
    first = f"{street} #{unit.lstrip('#')}" if unit else street
    return ", ".join(p for p in (first, city, region) if p)


def _from_tree(root: ET.Element) -> dict:
    prospect = _find(root, "prospect") if _local(root.tag) == "adf" else root
    contact = _find(prospect, "customer", "contact")
    out: dict = {"emails": [], "phones": []}
    for name in _all(contact, "name"):
        part = (name.get("part") or "full").lower()
        key = {"first": "first_name", "last": "last_name"}.get(part, "full_name")
        out.setdefault(key, _clean(name.text))
    out["emails"] = [_clean(e.text) for e in _all(contact, "email") if e.text]
    phones = [p for p in _all(contact, "phone") if p.text and (p.get("type") or "voice") != "fax"]
    out["phones"] = [_clean(p.text) for p in phones]
    address = _find(contact, "address")
    if address is not None:
        lines = [_clean(s.text) for s in _all(address, "street") if s.text and s.text.strip()]
        lines += [_clean(a.text) for a in _all(address, "apartment") if a.text and a.text.strip()]
        city = _clean(getattr(_find(address, "city"), "text", ""))
        region = " ".join(_clean(getattr(_find(address, k), "text", ""))
                          for k in ("regioncode", "postalcode")).strip()
        country = _clean(getattr(_find(address, "country"), "text", ""))
        if country.lower() in ("us", "usa", "united states"):
            country = ""  # the home country is no part of a US postal address
        out["address"] = ", ".join(p for p in [*lines, city, region, country] if p)
    vehicles = _all(prospect, "vehicle")
    buy = [v for v in vehicles if (v.get("interest") or "buy").lower() != "trade-in"]
    if buy:
        out["property_address"] = _vehicle_label(buy[0])
        price = _find(buy[0], "price")
        if price is not None and price.text:
            out["price"] = _clean(price.text)
    home = next((c for c in prospect or [] if _local(c.tag) in _HOME_TAGS), None)
    if not buy and home is not None:
        # A real-estate ADF: the home asked about, "<property><address>1408 Ashbury Ln</address>
        # <city>Matthews</city><state>NC</state><zip>28105</zip><price>529000</price>"
        out["property_address"] = _home_label(home)
        if asked := _text_of(home, "price", "listprice"):
            out["price"] = asked
    trade = [v for v in vehicles if (v.get("interest") or "").lower() == "trade-in"]
    if trade:
        out["trade_in"] = _vehicle_label(trade[0])
    comments = _find(prospect, "customer", "comments")
    out["message"] = _clean(comments.text) if comments is not None else None
    timeframe = _find(prospect, "customer", "timeframe", "description")
    out["timeframe"] = _clean(timeframe.text) if timeframe is not None else None
    for key in ("vendor", "provider"):
        candidates = (_find(prospect, key, "vendorname"), _find(prospect, key, "name"),
                      _find(prospect, key, "contact", "name"))
        given = next((c for c in candidates if c is not None and c.text), None)
        out[key] = _clean(given.text) if given is not None else None
    date = _find(prospect, "requestdate")
    out["request_date"] = _clean(date.text) if date is not None else None
    return out


def _tag(doc: str, name: str, attr: str = "") -> list[str]:
    pattern = rf"<{name}\b[^>]*{attr}[^>]*>(.*?)</\s*\w*\s*>"
    found = re.findall(pattern, doc, re.I | re.S)
    return [_clean(re.sub(r"<!\[CDATA\[|\]\]>", "", v)) for v in found]


def _from_regex(doc: str) -> dict:
    """Tolerant reading of broken ADF: each tag's first occurrence inside <customer>."""
    m = re.search(r"<customer\b.*?(?:</customer>|<vendor\b|<provider\b|\Z)", doc, re.I | re.S)
    customer = m.group(0) if m else doc
    out: dict = {
        "emails": _tag(customer, "email"),
        "phones": [p for p in _tag(customer, "phone") if p],
    }
    for part, key in (("first", "first_name"), ("last", "last_name"), ("full", "full_name")):
        found = _tag(customer, "name", rf'part=["\']?{part}')
        if found:
            out[key] = found[0]
    v = re.search(r"<vehicle\b(?![^>]*trade-in).*?(?:</vehicle>|\Z)", doc, re.I | re.S)
    if v:
        parts = [(_tag(v.group(0), k) or [""])[0] for k in ("year", "make", "model", "trim")]
        out["property_address"] = " ".join(p for p in parts if p)
        price = _tag(v.group(0), "price")
        out["price"] = price[0] if price else None
    comments = _tag(customer, "comments")
    out["message"] = comments[0] if comments else None
    vendor = re.search(r"<vendor\b.*?(?:</vendor>|\Z)", doc, re.I | re.S)
    if vendor:
        names = _tag(vendor.group(0), "vendorname") or _tag(vendor.group(0), "name")
        out["vendor"] = names[0] if names else None
    return out
