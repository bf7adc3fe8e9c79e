"""Structured lead documents, read before any text: XML lead documents other than ADF (an
iHomefinder-style LeadList with <Subscriber>/<PhoneList>, any "<Lead>" export), JSON bodies
(a form posting a JSON object), and in HTML the JSON-LD blocks (schema.org Person,
ContactPoint, Offer, Residence) and microdata (itemprop).

Every document is flattened to (path, key, value) leaves, and each key is mapped through the
same label vocabulary the field engine uses for "Label: value" lines (common.field_of), so a
JSON "firstName", an XML <FirstName> and a "First name:" line are one label. A leaf's
ancestors decide whose it is: under an agent, vendor or publisher it is never the lead's;
under a listing, offer or vehicle an address or price is the property's.

XML is parsed with defusedxml (no entities, no external references); every document is
bounded in size (MAX_DOC), depth (MAX_DEPTH) and leaves (MAX_LEAVES). The winning document,
flattened, goes to the trace.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

from leadmail import normalize
from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.common import (
    CUSTOM_LABELS,
    FIELD_LABELS,
    field_of,
    join_address,
    not_lead_email,
    not_lead_name,
    not_lead_phone,
)
from leadmail.parsers.fields import VEHICLE_PART_LABEL
from leadmail.parsers.text import label_key

MAX_DOC = 1_000_000  # characters of one document, at most
MAX_DEPTH = 24  # nesting levels read; deeper nodes are ignored
MAX_LEAVES = 2000  # leaves read from one document
MAX_DOCS = 8  # documents looked at in one mail

# schema.org and common API spellings, in label_key form, mapped to the vocabulary's labels.
_ALIASES = {
    "givenname": "first name", "given name": "first name", "familyname": "last name",
    "family name": "last name", "telephone": "phone", "streetaddress": "street address",
    "address locality": "city", "addresslocality": "city", "locality": "city",
    "address region": "state", "addressregion": "state", "postal code": "postal code",
    "postalcode": "postal code", "zip5": "zip", "zipcode": "zip", "first": "first name",
    "last": "last name", "mobile phone": "phone", "phone1": "phone", "email1": "email",
    "low price": None, "high price": "price", "price max": "price", "max price": "price",
    "comment": "comments", "note": "notes", "message text": "message",
    "street 1": "street address", "address 1": "street address", "address line 1":
    "street address", "line 1": "street address", "street1": "street address",
}
_COUNTRY_KEYS = frozenset({"country", "address country", "addresscountry", "country code"})
_HOME_COUNTRIES = frozenset({"us", "usa", "united states", "united states of america"})
_ZIP_KEYS = re.compile(r"zip|postal|postcode|post code|plz|cep|^cp$|code postal|^cap$")
_STATE_KEYS = re.compile(r"state|region|province|provincia|estado|bundesland")
# Whose a subtree is, by its key or its @type (label_key spelling, spaces removed).
_AGENT = re.compile(
    r"agent|realtor|broker|vendor|provider|publisher|organi[sz]ation|office|recipient|"
    r"assigned|dealer|company|business|team|owner|author|sender|account|site")
_SKIP = re.compile(r"^(meta|metadata|tracking|utm|analytics|device|browser|headers?|request|"
                   r"potentialaction|action|links?|images?|media|photos?|context|session)")
_PROPERTY = re.compile(
    r"listing|property|residence|house|home|apartment|accommodation|vehicle|car|offer|"
    r"itemoffered|product|place|unit|mentions|realestate")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_LEAD_ROOT = re.compile(r"(?i)<(\w+:)?(leadlist|leads?|subscriber|contact|prospect|customer|"
                        r"inquiry|enquiry|submission|form)\b")


@dataclass
class Leaf:
    path: tuple[str, ...]  # the ancestors' keys (label_key spelling)
    key: str
    value: str
    role: str  # "person", "property", "agent" or "skip"


@dataclass
class Document:
    kind: str  # "xml", "json", "json-ld", "microdata"
    where: str  # the part it came from
    leaves: list[Leaf] = field(default_factory=list)

    def summary(self) -> dict:
        return {"kind": self.kind, "part": self.where,
                "leaves": {"/".join((*lf.path, lf.key)): lf.value[:120]
                           for lf in self.leaves[:80]}}


def canonical(key: str) -> str:
    """A document key in label_key spelling: "firstName" and "First_Name" give "first name"."""
    return label_key(_CAMEL.sub(" ", key.rpartition("}")[2].rpartition(":")[2][:80]))


def _role(key: str, parent: str) -> str:
    squashed = key.replace(" ", "")
    if _SKIP.match(squashed):
        return "skip"
    if squashed == "location" and parent == "booking":
        return "agent"  # a booked service's or event's place: the business's own
    if _AGENT.search(squashed):
        return "agent"
    if _PROPERTY.search(squashed):
        return "property"
    if squashed in ("reservationfor", "event", "appointment", "booking"):
        return "booking"
    return parent


# --------------------------------------------------------------------------- flattening


def _flatten_json(node: Any, path: tuple[str, ...], role: str, out: list[Leaf]) -> None:
    if len(out) >= MAX_LEAVES or len(path) > MAX_DEPTH:
        return
    if isinstance(node, dict):
        kind = node.get("@type")
        if isinstance(kind, list):
            kind = kind[0] if kind else None
        if isinstance(kind, str) and kind and role != "agent":
            # (a business's own node stays its own whatever its type: "Place", "Residence")
            role = _role(canonical(kind), role)
        for key, value in list(node.items())[:500]:
            if not isinstance(key, str) or key.startswith("@"):
                continue
            ckey = canonical(key)
            sub = _role(ckey, role)
            if isinstance(value, (dict, list)):
                _flatten_json(value, (*path, ckey), sub, out)
            elif value is not None and not isinstance(value, bool):
                # A scalar takes its parent's role: "listingId" in a form is no listing.
                out.append(Leaf(path, ckey, str(value).strip(), role))
    elif isinstance(node, list):
        key = path[-1] if path else ""
        for item in node[:100]:
            if isinstance(item, (dict, list)):
                _flatten_json(item, path, role, out)
            elif item is not None and not isinstance(item, bool):
                out.append(Leaf(path[:-1], key, str(item).strip(), role))


def _flatten_xml(node: Any, path: tuple[str, ...], role: str, out: list[Leaf]) -> None:
    # Iterative, so a hostile document's depth costs no recursion.
    stack = [(node, path, role)]
    while stack and len(out) < MAX_LEAVES:
        elem, where, who = stack.pop()
        if len(where) > MAX_DEPTH:
            continue
        key = canonical(elem.tag if isinstance(elem.tag, str) else "")
        kids = list(elem)
        text = (elem.text or "").strip()
        if not kids:
            if text:
                out.append(Leaf(where, key, text, who))
            continue
        sub = _role(key, who)
        stack.extend((kid, (*where, key), sub) for kid in reversed(kids))


def parse_json(text: str, kind: str, where: str) -> Document | None:
    """A JSON document's leaves; None when it is no JSON object (or too big, too deep)."""
    if len(text) > MAX_DOC:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, (dict, list)):
        return None
    doc = Document(kind, where)
    _flatten_json(_answers_flat(data), (), "person", doc.leaves)
    return doc


def _answers_flat(data: Any) -> Any:
    """A form webhook's answers list as label -> value ("answers": [{"type": "email", "email":
    "a@b.org", "field": {"id": "f3", "ref": "email"}}], titles under "definition"), the way
    Typeform and the form tools modelled on it send them; any other document as it is."""
    root = data.get("form_response", data) if isinstance(data, dict) else None
    if not isinstance(root, dict):
        return data
    answers = root.get("answers")
    if not isinstance(answers, list) or not answers:
        return data
    titles: dict[str, str] = {}
    definition = root.get("definition")
    if isinstance(definition, dict) and isinstance(definition.get("fields"), list):
        for f in definition["fields"][:200]:
            if isinstance(f, dict) and isinstance(f.get("id"), str):
                titles[f["id"]] = str(f.get("title") or "")[:200]
    flat: dict[str, Any] = {}
    for item in answers[:200]:
        if not isinstance(item, dict) or not isinstance(item.get("field"), dict):
            return data  # no answers list of this shape
        kind, field = item.get("type"), item["field"]
        value = item.get(kind) if isinstance(kind, str) else None
        if isinstance(value, dict):  # "choice": {"label": "$450,000 - $525,000"}
            value = value.get("label") or value.get("other")
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value[:20])
        if value is None or isinstance(value, (bool, dict)):
            continue
        title = titles.get(str(field.get("id")), "") or str(field.get("title") or "")
        for label in (title, str(field.get("ref") or "")):
            if label and label not in flat:
                flat[label] = str(value)
    rest = {k: v for k, v in data.items() if k != "form_response"} if isinstance(data, dict) \
        else {}
    return {**rest, **flat} if flat else data


def parse_xml(text: str, where: str) -> Document | None:
    """An XML document's leaves (defusedxml); None when it is broken, too big or unsafe."""
    if len(text) > MAX_DOC:
        return None
    try:
        root = DET.fromstring(text.strip().encode("utf-8", errors="replace"),
                              forbid_dtd=True)
    except (DET.ParseError, DefusedXmlException, ValueError, RecursionError):
        return None
    doc = Document("xml", where)
    _flatten_xml(root, (), "person", doc.leaves)
    return doc


class _HtmlData(HTMLParser):
    """One pass over an HTML body: JSON-LD script texts and microdata (itemprop) values."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []
        self.in_ld: list[str] | None = None
        self.items: list[Leaf] = []
        self.scopes: list[tuple[str, str, int]] = []  # (key, role, depth)
        self.depth = 0
        self.open_prop: tuple[str, int, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            if "ld+json" in (a.get("type") or "").lower():
                self.in_ld = []
            return
        if tag in ("br", "img", "meta", "link", "input", "hr"):
            self._prop(a, void=True)
            return
        self.depth += 1
        if self.depth > 200:
            return
        self._prop(a, void=False)

    def _prop(self, a: dict, void: bool) -> None:
        prop = a.get("itemprop")
        if "itemscope" in a:
            kind = canonical((a.get("itemtype") or "").rstrip("/").rpartition("/")[2])
            parent = self.scopes[-1][1] if self.scopes else "person"
            role = _role(canonical(prop or ""), parent) if prop else parent
            role = _role(kind, role) if kind else role
            self.scopes.append((canonical(prop or kind or "item"), role, self.depth))
            return
        if not prop or len(self.items) >= MAX_LEAVES:
            return
        value = a.get("content") or a.get("value") or a.get("datetime")
        href = a.get("href") or ""
        if value is None and href.startswith(("mailto:", "tel:")):
            value = href.partition(":")[2]
        if value is not None or void:
            self._leaf(prop, value or "")
        elif self.open_prop is None:
            self.open_prop = (prop, self.depth, [])

    def _leaf(self, prop: str, value: str) -> None:
        if not value.strip():
            return
        path = tuple(s[0] for s in self.scopes)
        role = self.scopes[-1][1] if self.scopes else "person"
        self.items.append(Leaf(path, canonical(prop), value.strip(), role))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            if self.in_ld is not None:
                self.scripts.append("".join(self.in_ld))
                self.in_ld = None
            return
        if tag in ("br", "img", "meta", "link", "input", "hr"):
            return
        if self.open_prop and self.open_prop[1] == self.depth:
            prop, _, parts = self.open_prop
            self.open_prop = None
            self._leaf(prop, re.sub(r"\s+", " ", "".join(parts))[:2000])
        while self.scopes and self.scopes[-1][2] == self.depth:
            self.scopes.pop()
        self.depth = max(0, self.depth - 1)

    def handle_data(self, data: str) -> None:
        if self.in_ld is not None:
            if sum(map(len, self.in_ld)) < MAX_DOC:
                self.in_ld.append(data)
        elif self.open_prop is not None:
            self.open_prop[2].append(data)


_EMBEDDED_JSON = re.compile(r"(?m)^\{\s*$")


def embedded_span(text: str) -> tuple[int, int] | None:
    """Where a JSON object set on lines of its own sits inside a notice's text."""
    found = _EMBEDDED_JSON.search(text[:MAX_DOC])
    if found is None:
        return None
    end = text.rfind("\n}", found.start(), MAX_DOC)
    return (found.start(), end + 2) if end > 0 else None


def without_document(mail: Mail) -> Mail:
    """The mail with an embedded JSON object cut out of its text: read once, as a document;
    its lines are no label/value pairs."""
    span = embedded_span(mail.text)
    if span is None:
        return mail
    return dataclasses.replace(mail, text=mail.text[:span[0]] + mail.text[span[1]:])


def documents(mail: Mail) -> list[Document]:
    """Every structured document in the mail: JSON and XML parts or attachments (ADF aside:
    parsers.adf reads it), a JSON object as the whole text body, JSON-LD and microdata."""
    docs: list[Document] = []
    for att in mail.attachments[:20]:
        name, ctype = att.filename.lower(), att.content_type.lower()
        if len(docs) >= MAX_DOCS or len(att.payload) > MAX_DOC:
            continue
        if "json" in ctype or name.endswith(".json"):
            doc = parse_json(att.payload.decode("utf-8", errors="replace"), "json",
                             att.filename or ctype)
        elif "xml" in ctype or name.endswith(".xml"):
            text = att.payload.decode("utf-8", errors="replace")
            if re.search(r"(?i)<adf\b", text[:2000]):
                continue
            doc = parse_xml(text, att.filename or ctype)
        else:
            continue
        if doc:
            docs.append(doc)
    body = mail.text.strip()
    if body[:1] in "{[" and body[-1:] in "}]":
        doc = parse_json(body, "json", "text body")
        if doc:
            docs.append(doc)
    elif (span := embedded_span(body)) is not None:
        # 'Lead data (JSON):' then an object on lines of its own, inside a short notice
        doc = parse_json(body[span[0]:span[1]], "json", "text body")
        if doc:
            docs.append(doc)
    elif body[:1] == "<" and _LEAD_ROOT.search(body[:2000]) and not re.search(
            r"(?i)<adf\b", body[:2000]):
        doc = parse_xml(body, "text body")
        if doc:
            docs.append(doc)
    html = mail.html
    if html and ("ld+json" in html or "itemprop" in html):
        reader = _HtmlData()
        try:
            reader.feed(html[:MAX_DOC])
            reader.close()
        except Exception:  # html.parser is lenient; garbage yields nothing
            return docs
        for i, script in enumerate(reader.scripts[:MAX_DOCS]):
            doc = parse_json(script.strip(), "json-ld", f"html script {i + 1}")
            if doc:
                docs.append(doc)
        if reader.items:
            docs.append(Document("microdata", "html itemprop", reader.items))
    return docs


# --------------------------------------------------------------------------- reading


def _target(key: str) -> str | None:
    alias = _ALIASES.get(key, key) if key in _ALIASES else key
    if alias is None:
        return None
    key = alias
    squashed = key.replace(" ", "")
    found = field_of(key) or field_of(squashed)
    if found is None and key.endswith((" name", " email", " phone")):
        if key.split()[0] in _NOT_PERSON:
            return None  # "page name", "form name", "company phone": not the person's
        found = field_of(key.rpartition(" ")[2])
    return found


_NOT_PERSON = frozenset({"page", "form", "campaign", "ad", "adset", "company", "business", "site",
                         "list", "listing", "property", "agent", "office", "brokerage", "event",
                         "product", "plan", "file", "dealer", "store", "team", "account"})


def _others_subtrees(doc: Document, mail: Mail, ctx: ParseContext) -> list[tuple[str, ...]]:
    """The subtrees whose email is the recipient's or an agent's: a lead
    seller's `"buyer": {"name": "Riverside Insurance", "email": "leads@riverside..."}` (the
    business buying the lead) is the receiving business, and its phone no lead's either."""
    ours = {a for _, a in mail.to + mail.cc} | set(ctx.agent_emails)
    out = []
    for leaf in doc.leaves:
        if leaf.path and leaf.role == "person" and _target(leaf.key) == "email":
            found = normalize.find_emails(leaf.value)
            if found and found[0].lower() in ours:  # (a relay's address is the person's)
                out.append(leaf.path)
    return out


def read(doc: Document, mail: Mail, ctx: ParseContext) -> Extracted:
    """One Extracted from a document's leaves: the first lead value of each field."""
    ex = Extracted(parser="structured")
    where: dict[str, str] = {}
    parts: dict[str, dict[str, str]] = {"person": {}, "property": {}}
    vehicle: dict[str, str] = {}  # "vehicle": {"year": 2025, "make": "Kia", "model": ...}
    sticker: str | None = None  # an MSRP: the price only where no other price is given
    theirs = _others_subtrees(doc, mail, ctx)
    for leaf in doc.leaves:
        if leaf.role in ("agent", "skip") or not leaf.value:
            continue
        if theirs and any(leaf.path[:len(p)] == p for p in theirs):
            continue
        key = _ALIASES.get(leaf.key, leaf.key)
        if key is None:
            continue
        part = VEHICLE_PART_LABEL.match(key)
        if part and len(leaf.value) <= 40 and (leaf.role == "property" or key != part.group(1)):
            vehicle.setdefault(part.group(1), leaf.value.strip())
            continue
        if key == "msrp":
            sticker = sticker or leaf.value
            continue
        target = _target(leaf.key)
        prop = leaf.role == "property"
        here = "/".join((*leaf.path, leaf.key))
        value = leaf.value[:4000]
        if key in _COUNTRY_KEYS:
            parts["property" if prop else "person"].setdefault("country", value)
            continue
        if key.startswith("property ") and field_of(key[9:]) == "address_part":
            prop, target, key = True, "address_part", key[9:]  # "property_city": the listing's
        elif key.startswith("property ") and key[9:] in ("street", "street address", "address"):
            prop, target = True, "property_address"
        if target == "address_part":
            slot = "zip" if _ZIP_KEYS.search(key) else "state" if _STATE_KEYS.search(key) \
                else "city"
            parts["property" if prop else "person"].setdefault(slot, value)
            continue
        if target in ("address", "property_address"):
            side = "property" if prop or target == "property_address" else "person"
            if target == "property_address" and not re.search(r"\d", value):
                continue  # "listing: Sunny 2BR" is no address
            parts[side].setdefault("street", value)
            where.setdefault("property_address" if side == "property" else "address", here)
            continue
        if prop and target in ("full_name", "first_name", "last_name", "email", "phone",
                               "message"):
            continue  # a listing's name, its office phone: not the lead's
        if target in ("full_name", "first_name", "last_name"):
            if not getattr(ex, target) and not not_lead_name(value, ctx) and len(value) <= 80:
                setattr(ex, target, value)
                where[target] = here
        elif target == "email":
            found = normalize.find_emails(value)
            if found and not ex.email and not not_lead_email(found[0], mail, ctx, ()):
                ex.email, where["email"] = found[0], here
        elif target == "phone":
            e164 = normalize.phone(value, ctx.default_region)
            if e164 and not ex.phone and not not_lead_phone(e164, ctx):
                ex.phone, where["phone"] = e164, here
        elif target == "message":
            if not ex.message and len(value) >= 2:
                ex.message, where["message"] = value, here
        elif target == "price":
            if not ex.price and re.search(r"\d", value):
                ex.price, where["price"] = value, here
        else:
            custom = next((c for c, labels in CUSTOM_LABELS.items() if key in labels), None)
            if custom and len(value) <= 200:
                ex.custom_fields.setdefault(custom, value)
    if not ex.price and sticker and re.search(r"\d", sticker):
        ex.price, where["price"] = sticker, "msrp"
    if {"year", "make", "model"} <= set(vehicle) and not parts["property"].get("street"):
        ex.property_address = " ".join(vehicle[k] for k in ("year", "make", "model", "trim")
                                       if k in vehicle)
        where["property_address"] = "vehicle"
    if parts["property"].get("street") and not parts["person"].get("street"):
        # "property_address", then "city", "state", "zip" beside it: the listing's parts
        for slot, value in list(parts["person"].items()):
            parts["property"].setdefault(slot, value)
    for side, target in (("person", "address"), ("property", "property_address")):
        got = parts[side]
        if not got.get("street"):
            continue
        country = got.get("country", "")
        if country.lower() in _HOME_COUNTRIES or country.upper() == ctx.default_region:
            country = ""
        region = " ".join(p for p in (got.get("state", ""), got.get("zip", "")) if p)
        street = got["street"]
        extra = [p for p in (got.get("city", ""), region, country) if p and p not in street]
        setattr(ex, target, join_address([street, *extra]))
    if ex.full_name and (ex.first_name or ex.last_name):
        ex.full_name = None
    for name in ("first_name", "last_name", "full_name", "email", "phone", "address",
                 "property_address", "price", "message"):
        if getattr(ex, name):
            ex.confidence[name] = 1.0
    ex.trace["document"] = {**doc.summary(), "fields": where}
    return ex


def find(mail: Mail, ctx: ParseContext) -> Extracted | None:
    """The lead a structured document in the mail gives (the richest one), or None when no
    document names a lead's email or phone."""
    best: Extracted | None = None
    for doc in documents(mail):
        ex = read(doc, mail, ctx)
        if not (ex.email or ex.phone):
            continue
        if best is None or len(ex.confidence) > len(best.confidence):
            best = ex
    return best


def merge(into: Extracted, doc: Extracted, mail: Mail | None = None) -> Extracted:
    """Structured values first: the document's fields replace what the text gave; the text
    keeps what the document does not say."""
    for name, conf in doc.confidence.items():
        setattr(into, name, getattr(doc, name))
        into.confidence[name] = conf
    if doc.first_name or doc.last_name:
        if not doc.full_name:
            into.full_name = None
            into.confidence.pop("full_name", None)
    elif doc.full_name:
        into.first_name = into.last_name = None
        into.confidence.pop("first_name", None)
        into.confidence.pop("last_name", None)
    for key, value in doc.custom_fields.items():
        into.custom_fields.setdefault(key, value)
    into.trace["document"] = doc.trace["document"]
    if into.segment is None and mail is not None:
        into.segment = _segment(doc, mail)
    return into


def _segment(doc: Extracted, mail: Mail) -> str | None:
    from leadmail.parsers.common import segment_hint

    values = [lf for lf in doc.trace["document"]["leaves"].values() if len(lf) <= 40]
    found = segment_hint(mail.subject, doc.message, *values)
    return found or ("Buyer" if doc.property_address else None)


__all__ = ["FIELD_LABELS", "Document", "documents", "find", "merge", "read"]


def standalone(doc: Extracted, mail: Mail) -> Extracted:
    """A document no provider parser claims (a form posting JSON): the lead as the document
    gives it, the source named by the sender's brand, else "Website"."""
    from leadmail.parsers.website import brand

    found, why = brand(mail)
    doc.source = found or "Website"
    doc.parser = "structured"
    doc.trace["source"] = {"won": doc.source, "why": why}
    doc.segment = _segment(doc, mail)
    return doc
