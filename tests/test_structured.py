"""Structured data first: JSON bodies, XML lead documents, JSON-LD and microdata, ADF attached
under a short text body; bounded and safe XML; structured mail never reaches NER."""

from __future__ import annotations

import json
import time
from email.message import EmailMessage

import pytest

from leadmail import parsers
from leadmail.parsers import nlp, structured
from leadmail.parsers.base import ParseContext
from leadmail.parsers.mime import parse_mail

CTX = ParseContext(agent_emails=frozenset({"ana@brokerage.example"}),
                   agent_names=frozenset({"ana agent"}))


@pytest.fixture(autouse=True)
def no_ner(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_a: object, **_k: object) -> list[str]:
        raise AssertionError("structured mail reached NER")

    monkeypatch.setattr(nlp, "ner_names", boom)


def _mail(sender: str, subject: str, body: str | None = None, subtype: str = "plain",
          attach: tuple[bytes, str, str, str] | None = None, ctype: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "leads@brokerage.example", subject
    if ctype:
        maintype, _, sub = ctype.partition("/")
        msg.set_content((body or "").encode(), maintype=maintype, subtype=sub)
    else:
        msg.set_content(body or "", subtype=subtype)
    if attach:
        data, maintype, sub, name = attach
        msg.add_attachment(data, maintype=maintype, subtype=sub, filename=name)
    return msg.as_bytes()


def read(raw: bytes, parser: str | None = None):
    return parsers.extract(parse_mail(raw), CTX, parser)


def test_json_body_maps_keys_through_the_label_vocabulary() -> None:
    body = json.dumps({
        "form": "listing-inquiry",
        "fields": {"firstName": "Naledi", "lastName": "Dlamini", "email": "N.D@example.com",
                   "phone": "+1 (404) 555-0125", "intent": "buy",
                   "message": "Is the price firm?",
                   "listing": {"address": "880 Peachtree St NE #1205", "city": "Atlanta",
                               "state": "GA", "zip": "30308", "price": 415000}},
        "assignedAgent": {"name": "Jordan Blake", "email": "jb@brokerage.example",
                          "phone": "+14045550100"},
        "meta": {"ip": "198.51.100.23"},
    })
    ex = read(_mail("Forms <forms@site.example>", "New submission", body,
                    ctype="application/json"))
    assert (ex.first_name, ex.last_name, ex.email) == ("Naledi", "Dlamini", "n.d@example.com")
    assert ex.phone == "+14045550125"
    assert ex.property_address == "880 Peachtree St NE #1205, Atlanta, GA 30308"
    assert str(ex.price) == "415000" and ex.message == "Is the price firm?"
    assert ex.segment == "Buyer"
    assert ex.trace["document"]["kind"] == "json"
    assert ex.trace["document"]["fields"]["email"] == "fields/email"


LEADLIST = b"""<?xml version="1.0"?>
<LeadList xmlns="http://www.ihomefinder.com/schema/lead"><Lead><LeadId>77</LeadId>
<Subscriber><SubscriberId>5125550137</SubscriberId><FirstName>Renee</FirstName>
<LastName>Castillo</LastName><Email>renee@example.com</Email>
<PhoneList><Phone type="Mobile">5125550176</Phone><Phone type="Home"/></PhoneList></Subscriber>
<Comments>We love the backyard.</Comments>
<Listing><ListingNumber>4418290</ListingNumber><StreetAddress>2417 Elm Ridge Ct</StreetAddress>
<City>Round Rock</City><State>TX</State><Zip>78681</Zip><ListPrice>459000</ListPrice></Listing>
<AssignedAgent><Name>Marcus Ellery</Name><Email>marcus@brokerage.example</Email>
<PhoneList><Phone>5125550100</Phone></PhoneList></AssignedAgent></Lead></LeadList>"""


def test_leadlist_xml_attachment_under_a_short_html_body() -> None:
    raw = _mail("iHomefinder <leads@ihomefinder.com>", "New Lead: More Info Request",
                "<p>The lead details are attached.</p>", subtype="html",
                attach=(LEADLIST, "text", "xml", "lead.xml"))
    ex = read(raw)
    assert (ex.first_name, ex.last_name, ex.email) == ("Renee", "Castillo", "renee@example.com")
    assert ex.phone == "+15125550176"
    assert ex.property_address == "2417 Elm Ridge Ct, Round Rock, TX 78681"
    assert str(ex.price) == "459000" and ex.message == "We love the backyard."
    assert ex.custom_fields["mls"] == "4418290"


def test_json_ld_person_and_offer_in_html() -> None:
    ld = {"@context": "https://schema.org", "@type": "EmailMessage",
          "about": {"@type": "Person", "givenName": "Hannah", "familyName": "Osei",
                    "email": "hannah@example.com", "telephone": "+1-720-555-0129"},
          "mentions": {"@type": "SingleFamilyResidence", "name": "6045 S Elm Ct",
                       "address": {"@type": "PostalAddress", "streetAddress": "6045 S Elm Ct",
                                   "addressLocality": "Centennial", "addressRegion": "CO",
                                   "postalCode": "80121", "addressCountry": "US"},
                       "offers": {"@type": "Offer", "price": "685000"}},
          "publisher": {"@type": "Organization", "name": "Portal", "email": "x@portal.example"}}
    html = (f'<html><head><script type="application/ld+json">{json.dumps(ld)}</script></head>'
            "<body><p>You have a new lead.</p></body></html>")
    ex = read(_mail("Portal <leads@portal.example>", "New lead", html, subtype="html"))
    assert (ex.first_name, ex.last_name, ex.email) == ("Hannah", "Osei", "hannah@example.com")
    assert ex.phone == "+17205550129"
    assert ex.property_address == "6045 S Elm Ct, Centennial, CO 80121"
    assert str(ex.price) == "685000"
    assert ex.trace["document"]["kind"] == "json-ld"


def test_microdata_itemprops() -> None:
    html = ('<html><body><div itemscope itemtype="https://schema.org/Person">'
            '<span itemprop="name">Tamika Bell</span> '
            '<a itemprop="email" href="mailto:tamika@example.com">write</a> '
            '<span itemprop="telephone">(512) 555-0142</span></div>'
            '<div itemscope itemtype="https://schema.org/Offer">'
            '<meta itemprop="price" content="512000"></div>'
            '<div itemscope itemtype="https://schema.org/RealEstateAgent">'
            '<span itemprop="telephone">(512) 555-0100</span></div></body></html>')
    ex = read(_mail("Portal <leads@portal.example>", "New lead", html, subtype="html"))
    assert ex.full_name == "Tamika Bell" and ex.email == "tamika@example.com"
    assert ex.phone == "+15125550142" and str(ex.price) == "512000"


ADF = b"""<?xml version="1.0"?><?adf version="1.0"?><adf><prospect><customer><contact>
<name part="first">Latoya</name><name part="last">Jenkins</name>
<email>latoya@example.net</email><phone>512-555-0107</phone></contact>
<comments>Is this home still available?</comments></customer>
<vehicle interest="buy"><comments>listing</comments></vehicle></prospect></adf>"""


def test_adf_as_application_xml_attachment_under_short_text() -> None:
    raw = _mail("Some Portal <robot@portal.example>", "Lead", "See the attached lead.",
                attach=(ADF, "application", "xml", "lead.xml"))
    ex = read(raw)
    assert ex.is_lead and (ex.first_name, ex.last_name) == ("Latoya", "Jenkins")
    assert ex.phone == "+15125550107" and ex.message == "Is this home still available?"


def test_inline_xml_part_is_kept_as_a_document() -> None:
    raw = _mail("Portal <robot@portal.example>", "Lead", LEADLIST.decode(), ctype="text/xml")
    mail = parse_mail(raw)
    assert any("xml" in a.content_type for a in mail.attachments)
    assert read(raw).email == "renee@example.com"


def test_unsafe_or_huge_xml_is_refused() -> None:
    bomb = ('<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><Lead><Email>&b;</Email></Lead>')
    assert structured.parse_xml(bomb, "t") is None
    assert structured.parse_xml("<a>" + "x" * (structured.MAX_DOC + 1) + "</a>", "t") is None
    deep = "<a>" * 5000 + "<Email>x@example.com</Email>" + "</a>" * 5000
    doc = structured.parse_xml(deep, "t")
    assert doc is None or all(len(leaf.path) <= structured.MAX_DEPTH for leaf in doc.leaves)


def test_deep_json_is_bounded() -> None:
    deep = '{"a":' * 100000 + "1" + "}" * 100000
    doc = structured.parse_json(deep, "json", "t")
    assert doc is None or all(len(leaf.path) <= structured.MAX_DEPTH for leaf in doc.leaves)


@pytest.mark.parametrize("unit", ["{", '{"a":', "<Lead>", '<a itemprop="name">',
                                  '<script type="application/ld+json">{', "[1,"])
def test_structured_readers_are_linear(unit: str) -> None:
    def cost(n: int) -> float:
        body = unit * (n // len(unit))
        raw = _mail("Some One <some.one@example.com>", "Lead", f"<html>{body}</html>",
                    subtype="html")
        started = time.perf_counter()
        structured.documents(parse_mail(raw))
        return time.perf_counter() - started

    cost(1000)
    small, large = cost(3000), cost(12000)
    assert large < 0.25 or large / max(small, 1e-4) < 8.0


def test_attached_adf_under_robot_headers_is_no_auto_reply_or_newsletter() -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = ("Dealer Feed <noreply@feed.example>",
                                              "leads@brokerage.example", "Lead 4411")
    msg["Auto-Submitted"] = "auto-generated"
    msg["List-Unsubscribe"] = "<mailto:unsub@feed.example>"
    msg["Precedence"] = "bulk"
    msg.set_content("See attached.")
    msg.add_attachment(ADF, maintype="application", subtype="xml", filename="lead.xml")
    ex = read(msg.as_bytes())
    assert ex.is_lead and ex.email == "latoya@example.net"
