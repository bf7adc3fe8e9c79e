"""The parser registry: every lead parser, in match order, and the one entry point."""

from __future__ import annotations

import dataclasses
import re

from leadmail.parsers import fields as engine
from leadmail.parsers import structured
from leadmail.parsers.adf import AdfParser
from leadmail.parsers.base import Extracted, Mail, ParseContext, Parser
from leadmail.parsers.common import (
    POLICY_KEY,
    SERVICE_ASK,
    SERVICE_NOUN,
    SERVICE_TITLE,
    all_pairs,
    from_domain_in,
    gateway_phone,
    is_notifier,
    is_rental,
    is_vehicle,
    lives_elsewhere,
    policy_keyed,
    segment_hint,
    seller_home,
    snake,
    vehicle_named,
)
from leadmail.parsers.craigslist import CraigslistParser
from leadmail.parsers.everquote import EverQuoteParser
from leadmail.parsers.facebook import CONNECTORS, FacebookParser, ad_platform
from leadmail.parsers.google_ads import GoogleAdsParser
from leadmail.parsers.homelight import HomeLightParser
from leadmail.parsers.homes import HomesParser
from leadmail.parsers.idx import IdxParser
from leadmail.parsers.lendingtree import LendingTreeParser
from leadmail.parsers.nlp import DirectParser, hold_for_review
from leadmail.parsers.nonlead import non_lead_reason, notice_reason
from leadmail.parsers.opcity import OpcityParser
from leadmail.parsers.realtor import RealtorParser
from leadmail.parsers.redfin import RedfinParser
from leadmail.parsers.referral import ReferralParser
from leadmail.parsers.transcript import TranscriptParser
from leadmail.parsers.trulia import TruliaParser
from leadmail.parsers.website import WebsiteParser
from leadmail.parsers.website import brand as website_brand
from leadmail.parsers.zillow import ZillowParser

__all__ = ["PARSERS", "extract", "get", "module_name", "non_lead_reason", "read_claimed"]

# Match order: structured formats, then forwards (unwrapped and re-matched), then providers
# by sender (Trulia before Zillow and Opcity before Realtor.com: each shares its parent's
# domains), then relays (Google Ads before Facebook: both come through Zapier), then generic
# forms; the NLP fallback claims everything and must stay last.
PARSERS: list[Parser] = [
    AdfParser(),
    ReferralParser(),
    TruliaParser(),
    ZillowParser(),
    OpcityParser(),
    RealtorParser(),
    RedfinParser(),
    HomesParser(),
    HomeLightParser(),
    LendingTreeParser(),
    EverQuoteParser(),
    CraigslistParser(),
    GoogleAdsParser(),
    FacebookParser(),
    TranscriptParser(),
    IdxParser(),
    WebsiteParser(),
    DirectParser(),
]


def module_name(parser: Parser) -> str:
    """The short name a result records: the parser's module ("zillow", "nlp")."""
    return type(parser).__module__.rpartition(".")[2]


def get(name: str) -> Parser:
    """The parser by canonical source name or module name, case-insensitive."""
    wanted = name.strip().lower()
    for parser in PARSERS:
        if wanted in (parser.name.lower(), module_name(parser)):
            return parser
    known = ", ".join(p.name for p in PARSERS)
    raise KeyError(f"unknown parser {name!r}; known: {known}")


# Parsers that read any mail's text: no provider is named by them.
_GENERIC = (WebsiteParser, DirectParser, ReferralParser, IdxParser)


def _adf_with_text(mail: Mail, ctx: ParseContext) -> Extracted:
    """An ADF document with the notification around it (an attachment under a provider's
    text body): the document's values win; the provider parser that claims the text names
    the source and fills what the document leaves out (a real-estate listing in a <vehicle>
    comment). Free text never goes to NER for this: the Direct fallback is not asked."""
    adf = PARSERS[0].parse(mail, ctx)
    adf.trace["document"] = {"kind": "adf", "fields": sorted(adf.confidence)}
    text_parser = next((p for p in PARSERS[1:] if not isinstance(p, DirectParser)
                        and p.claims(mail)), None)
    if text_parser is None or not mail.text.strip():
        return _home_source(adf)
    text = text_parser.parse(mail, dataclasses.replace(ctx, structured=True))
    if isinstance(text_parser, _GENERIC):
        for name in ("address", "property_address", "price", "message"):
            if not getattr(adf, name) and getattr(text, name):
                setattr(adf, name, getattr(text, name))
                adf.confidence[name] = min(0.8, text.confidence.get(name, 0.8))
        return _home_source(adf)
    for name, conf in adf.confidence.items():
        setattr(text, name, getattr(adf, name))
        text.confidence[name] = conf
    if adf.first_name or adf.last_name:
        text.full_name = None
        text.confidence.pop("full_name", None)
    for key, value in adf.custom_fields.items():
        text.custom_fields.setdefault(key, value)
    text.trace["document"] = adf.trace["document"]
    text.segment = text.segment or adf.segment
    return text


def _home_source(adf: Extracted) -> Extracted:
    """A real-estate ADF (its property a street, not a vehicle) is its provider's lead: "ADF"
    names a car portal's format, a home's lead is Real Geeks' or Sierra Interactive's, as the
    document's <provider> says."""
    provider = str(adf.custom_fields.get("provider") or "").strip()
    home = str(adf.property_address or "")
    if (adf.source == "ADF" and 2 <= len(provider) <= 60 and engine.street_of(home)
            and not vehicle_named(home)):  # ("... Silverado 1500 LT Trail Boss" is no street)
        adf.source = provider
        adf.trace["source"] = {"won": provider, "why": "a home's ADF names its <provider>"}
    return adf


# Country-code TLDs sold as generic names: no country is meant by them.
_GENERIC_TLDS = frozenset({"io", "co", "me", "tv", "ai", "ly", "fm", "to", "cc", "ws", "gg",
                           "sh", "so", "app", "dev", "xyz", "am", "im", "la", "nu",
                           "vc", "gl", "md", "ms", "st", "eu"})


def sender_region(addr: str) -> str | None:
    """The phone region a sender's country-code domain names (".de" -> "DE", ".co.uk" ->
    "GB", ".com.br" -> "BR"), or None for a generic domain."""
    import phonenumbers

    tld = addr.rpartition("@")[2].rpartition(".")[2].lower()
    if len(tld) != 2 or tld in _GENERIC_TLDS:
        return None
    region = "GB" if tld == "uk" else tld.upper()
    return region if region in phonenumbers.SUPPORTED_REGIONS else None


# A UK postcode after a town: "Bristol BS6 6AF", "Sheffield, S17 3QG".
_UK_PLACE = re.compile(r"[^\W\d_]{3,}\,? (?:[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2})\b")
# A US street's "City, ST ZIP", with a state's own code.
_US_PLACE = re.compile(
    r"\d{1,6} [^\n,]{2,40}, [^\W\d_][^\n,]{1,30},? (?:A[KLRZ]|C[AOT]|D[CE]|FL|GA|HI|I[ADLN]|"
    r"K[SY]|LA|M[ADEINOST]|N[CDEHJMVY]|O[HKR]|PA|RI|S[CD]|T[NX]|UT|V[AT]|W[AIVY]) \d{5}\b")
# Where a person has two surnames (father's, mother's): "Ana Ortega Ruiz" is Ana, Ortega Ruiz.
_TWO_SURNAMES = frozenset({"ES", "MX", "AR", "CO", "CL", "PE", "VE", "EC", "GT", "CU", "BO", "DO",
                           "HN", "PY", "SV", "NI", "CR", "PA", "UY", "PR"})


def read_claimed(mail: Mail, ctx: ParseContext, parser_name: str | None = None,
                 skip: tuple[Parser, ...] = ()) -> tuple[Extracted, Parser]:
    """The named parser's (or the first claiming one's) reading, structured data first."""
    region = sender_region(mail.from_addr) or engine.provider_region(mail.from_addr)
    if region is None and _UK_PLACE.search(mail.text[:20000]) and not _US_PLACE.search(
            mail.text[:20000]):
        # a .com service's job in Bristol ("BS8 4BP", "07700 900123"): the UK's phones
        region = "GB"
    if region and region != "US" and _US_PLACE.search(mail.text[:20000]):
        # A person writing from a German address about their home in Texas ("Unsere Adresse:
        # 612 W Main St, Fredericksburg, TX 78624", "Telefon: (830) 555-0126"): the place they
        # give, not their mail domain, names the country of their phone.
        region = None
    if region and region != ctx.default_region:
        # A notification from a country's portal writes that country's phones nationally
        # ("Telefon: 0151 55501470" from immobilienscout24.de).
        ctx = dataclasses.replace(ctx, default_region=region)
    parser = get(parser_name) if parser_name else next(
        p for p in PARSERS if p not in skip and p.claims(mail))
    # Structured data first: a JSON or XML lead document in any part, JSON-LD or microdata in
    # the HTML. Its values win; the claiming parser's reading of the text fills the rest. ADF
    # has its own parser, and a forward is unwrapped first (its inner mail is read so too).
    doc = None if isinstance(parser, (AdfParser, ReferralParser)) else structured.find(mail, ctx)
    if isinstance(parser, AdfParser) and not parser_name:
        result = _adf_with_text(mail, ctx)
    elif doc is not None and isinstance(parser, DirectParser):
        # A document is no person's free text: it never reaches NER.
        result = structured.standalone(doc, mail)
    else:
        text_mail = structured.without_document(mail) if doc else mail
        result = parser.parse(text_mail, dataclasses.replace(ctx, structured=True) if doc else ctx)
        if doc is not None:
            structured.merge(result, doc, mail)
    result.parser = result.parser or module_name(parser)
    result.source = result.source or parser.name
    if isinstance(parser, IdxParser) and result.source == IdxParser.name:
        # An IDX-style notice that names no IDX vendor ("Showing request" from remax.com or
        # from a brokerage's own form): the site's own lead, or the brand its sender names.
        found, why = website_brand(mail)
        result.source = found or "Website"
        result.trace["source"] = {"won": result.source, "why": why, "reader": IdxParser.name}
    if not isinstance(parser, (AdfParser, ReferralParser)):
        # A sender that is a known provider names the source, whichever reader claimed the
        # mail: a kvCORE registration read by the IDX reader is kvCORE's, a HotPads inquiry
        # read by the Zillow reader is HotPads'.
        own = engine.domain_brand([mail.from_addr, mail.header("sender")])
        if own and own[0] not in (result.source, "Website"):
            result.trace["source"] = {"won": own[0], "why": own[1], "reader": result.source}
            result.source = own[0]
    if engine.brand_kind(result.source) == "crm":
        # A CRM or an IDX site relaying a lead from elsewhere ("Source: Zillow", "Lead came
        # from: Facebook Lead Ads"): the lead is that provider's.
        relayed = relayed_source(mail, result.source)
        if relayed:
            result.trace["source"] = {"won": relayed[0], "why": relayed[1],
                                      "reader": result.source}
            result.source = relayed[0]
    if from_domain_in(mail, CONNECTORS) and (platform := ad_platform(mail)) and (
            platform != result.source):
        # Zapier, LeadsBridge, Make relaying a lead form: the lead is the ad platform's
        result.trace["source"] = {"won": platform, "why": "the ad platform a connector names",
                                  "reader": result.source}
        result.source = platform
    name = (result.full_name or " ".join(filter(None, (result.first_name, result.last_name))))
    head, newline, rest = (result.message or "").strip().partition("\n")
    if name and newline and head.strip().lower() == name.strip().lower():
        # "Alexis Rivera" / "Hi! Is this still available?": the name a chat prints above
        result.message = rest.strip()
    if result.message and engine.is_placeholder(result.message.strip()[:80]):
        # "(no message)", "None provided": whichever reader found it, no one's words
        result.message = None
        result.confidence.pop("message", None)
    if isinstance(parser, DirectParser) and result.source == DirectParser.name and (
            is_notifier(mail)) and not parser_name:  # (a rule forcing Direct means Direct)
        # A phone system's or a service's relay of someone's words (a voicemail, a text) is
        # that service's lead, never "Direct": a person's own mail comes from the person.
        found, why = website_brand(mail)
        if not found and gateway_phone(mail.from_addr) is None:
            found = "Website"  # a robot no brand names: a site's own (a brokerage's); a
            # carrier's SMS gateway carries the person's own text ("Direct")
        if found:
            result.trace["source"] = {"won": found, "why": why, "reader": result.source}
            result.source = found
    if result.full_name and (via := _VIA_BRAND.search(result.full_name)):
        result.full_name = result.full_name[:via.start()]  # "Stephanie Moore from Zillow"
    words = (result.full_name or "").split()
    if len(words) == 2 and (signed := re.search(
            rf"\(({re.escape(words[1])}) ({re.escape(words[0])})\)", mail.text[-600:])):
        # "From: Wang Li" signs "王丽 (Li Wang)": the order the writer gives in Latin letters
        result.full_name = f"{signed.group(1)} {signed.group(2)}"
    initial = _INITIAL_ONLY.match(result.full_name or "")
    if initial:
        # "Daniel K." signs "Thanks, Daniel Kowalski": the surname the initial stands for
        surname = rf"{initial.group(2)}[a-zà-ÿ]+(?:-[A-Z][a-zà-ÿ]+)?"
        whole = re.search(rf"\b{re.escape(initial.group(1))} ({surname})\b",
                          (result.message or "")[:4000]) or _name_line(initial.group(1), surname,
                                                                       mail.text)
        if whole:
            result.full_name = f"{initial.group(1)} {whole.group(1)}"
    one = (result.full_name or "").strip()
    if one and " " not in one and not result.last_name and re.fullmatch(r"[A-ZÀ-Þ][a-zà-ÿ]+", one):
        # "Megan is interested in ..." above a contact block whose line reads "Megan Ortiz":
        # the whole name, on a line of its own
        whole = _name_line(one, r"[A-ZÀ-Þ][a-zà-ÿ]+(?:-[A-ZÀ-Þ][a-zà-ÿ]+)?", mail.text)
        if whole:
            result.full_name = f"{one} {whole.group(1)}"
    if region in _TWO_SURNAMES and result.full_name and not (result.first_name
                                                            or result.last_name):
        words = result.full_name.split()
        if len(words) == 3:  # "Lucía Salinas Beltrán": a given name and two surnames
            result.first_name, result.last_name = words[0], " ".join(words[1:])
    if not result.property_address and (vehicle := vehicle_named(result.message or "") or (
            vehicle_named(mail.subject))):
        # "I saw your ad for the silver Ford F-150", "New message about your 2014 Jeep
        # Wrangler Unlimited Sahara": the vehicle the person asks about
        if not re.match(r"(?:19|20)\d\d ", vehicle) and (
                built := _MODEL_YEAR.search(mail.text[:6000]) or _NENSHIKI.search(
                    mail.text[:6000])):
            vehicle = f"{built.group(1)} {vehicle}"  # "Erstzulassung 03/2021": its year
        result.property_address = vehicle
        result.confidence["property_address"] = 0.5
        result.trace["property_address"] = {"won": vehicle, "why": "a vehicle named"}
    elif (prop := str(result.property_address or "")) and not re.match(r"(?:19|20)\d\d ", prop) \
            and vehicle_named(prop) and (built := _MODEL_YEAR.search(mail.text[:6000])
                                         or _NENSHIKI.search(mail.text[:6000])):
        # "mein VW Golf 1.4 TSI (Baujahr 2016, ...)": the vehicle with its model year
        result.property_address = f"{built.group(1)} {prop}"
    kind = engine.brand_kind(result.source)
    if ((kind == "insurance" or (kind == "mortgage" and _REFINANCE.search(
            f"{mail.subject}\n{mail.text[:3000]}"))) and not result.address
            and result.property_address and engine.street_of(str(result.property_address))
            and not lives_elsewhere(result)):
        # Insurance or a refinance on a home: the person's own home, unless they say they
        # live elsewhere ("Property Address" on a home-insurance quote). A purchase loan's
        # home is the one they buy.
        result.address = result.property_address
    if not result.message and (said := _said_by_name(result)):
        result.message = said  # "Dana: Hi! Is this still available?": the person's words
        result.trace["message"] = {"won": said[:60], "why": "a row headed by the person's name"}
    if result.price is not None and (_refinance(mail) or (
            (engine.brand_kind(result.source) == "insurance" or policy_keyed(all_pairs(mail)))
            and _valued(mail, result.price))):
        # A refinance or a home-equity loan buys nothing, nor does a policy on a home: the
        # home's value is no price (it stays with the lead's custom fields). A policy on a
        # home being bought keeps its "Purchase price".
        result.custom_fields.setdefault("home_value", str(result.price))
        result.trace["price"] = {"won": None, "why": "a refinance or a policy: the home's "
                                                     "value, no price"}
        result.price = None
    if engine.brand_kind(result.source) == "services" and not result.address:
        # A home-services job (Thumbtack, Angi, Yelp) is at the customer's own home.
        result.address, result.property_address = result.property_address, None
    elif engine.brand_kind(result.source) == "services" and (
            result.property_address == result.address):
        result.property_address = None  # the job's place, read twice: no listing
    decided = "segment" in result.trace  # the form said what the person wants
    if (result.segment is None and not decided and isinstance(parser, (WebsiteParser, IdxParser,
                                                                         TranscriptParser))
            and (result.property_address or _sum(result.price) >= _PURCHASE_FLOOR)
            and engine.brand_kind(result.source) not in ("insurance", "mortgage", "services")):
        # A notification about a listing or a vehicle, with no word on what the person wants:
        # they ask about something for sale (a renter is caught just below, a service's
        # customer after that). A budget alone buys a home or a car only at a purchase's
        # size: "Estimated Budget: $6,500" on a catering form is a customer's.
        result.segment = "Buyer"
    elif (result.segment is None and not decided
          and isinstance(parser, (DirectParser, FacebookParser))
          and engine.brand_kind(result.source) not in ("insurance", "mortgage", "services")
          and (_sum(result.price) >= _PURCHASE_FLOOR
               or is_vehicle(result.property_address))):
        # A person's own mail or an ad lead naming a purchase's sum (a listing's price, a
        # budget): they ask about something for sale ("budget maximal de 700 000 $").
        result.segment = "Buyer"
    if (result.segment == "Buyer" and engine.brand_kind(result.source) in ("insurance", "services")
            and segment_hint(mail.subject) != "Buyer"):
        # A service's customer ("3 bedrooms" to paint, to clean, to move), unless the
        # notification itself is about buying ("Buyer consultation").
        result.segment = None
    if result.segment == "Buyer" and not decided and not is_vehicle(
            result.property_address) and (engine.rental_brand(result.source)
                                          or is_rental(mail, result) or _monthly_sum(result)):
        # A renter is a customer, not a buyer, however a reader or a document labelled them
        # (a vehicle's "$389/mo" is its payment, not a rent).
        result.segment = "Seller" if segment_hint(result.message) == "Seller" else None
    if (result.segment in ("Buyer", "Seller") or (
            result.segment is None and result.property_address and not result.address
            and not _MANAGED.search(f"{mail.subject}\n{mail.text[:2000]}"))) and (
            service_job(mail, result)):
        # A job or a policy on what the person keeps (a water heater, a roof, a car's
        # insurance, a refinance): a service's customer, unless their own words buy or sell.
        if result.segment is not None:
            result.trace["segment"] = {"won": "Customers", "why": "a service job or policy"}
        result.segment = None
        prop = str(result.property_address or "")
        if not result.address and prop and not is_vehicle(prop) and engine.street_of(prop):
            # The job's place is the customer's own home, not a listing.
            result.address, result.property_address = result.property_address, None
        elif result.address and prop == result.address:
            result.property_address = None  # the job's place, read twice: no listing
    elif (result.segment is None and result.address and result.property_address == result.address
          and service_job(mail, result)):
        # A loan or a policy on the home they live in, read as both: their address, no listing.
        result.property_address = None
    elif (result.segment is None and not result.address and not result.property_address
          and result.message and service_job(mail, result)):
        # The job's place in the customer's own sentence: "We're at 5510 Ridgeoak Dr, Austin,
        # TX 78731."
        for sentence in _SENTENCE_END.split(result.message[:2000])[:30]:
            street = engine.street_in(sentence)
            if street:
                result.address = street
                result.confidence["address"] = 0.6
                break
    if isinstance(parser, (DirectParser, WebsiteParser)):
        # a seller's own mail about the home they live in; a form or notice that says they
        # live there ("owner-occupied", "Do you live in this home? Yes")
        seller_home(result)
    if (result.is_lead and is_notifier(mail) and "review" not in result.trace
            and not (result.full_name or result.first_name or result.last_name or result.email)):
        # A service's notification that names nobody ("New phone lead", "Caller: ..."): never
        # a lead made of the notifier; what it gives is held for a person to look at.
        hold_for_review(result, "a notification that names no person")
    return result, parser


_SOURCE_KEYS = frozenset({"source", "lead source", "lead came from", "came from", "origin",
                          "lead origin", "source name", "referral source", "lead provider",
                          "provider", "lead source name", "registered via", "via"})
# The sources a parser names, which providers.json does not list.
_PARSER_SOURCES = tuple(p.name for p in PARSERS if not isinstance(p, _GENERIC)
                        and p.name not in ("ADF", "IDX", "Chat"))


def relayed_source(mail: Mail, relay: str) -> tuple[str, str] | None:
    """(source, why) when a relay's notification names where the lead came from."""
    for key, value in all_pairs(mail)[:80]:
        if key in _SOURCE_KEYS and value.strip():
            found = engine.brand_named(value, _PARSER_SOURCES)
            if found and found != relay:
                return found, f"{key}: {value[:40]}"
    return None


_REFINANCE = re.compile(r"(?i)\b(refinanc\w*|refi|heloc|cash-?out|home equity)\b")
# A home someone lets out and wants managed is a property, not where they live.
_MANAGED = re.compile(r"(?i)\bproperty manag\w*|\bmanage (?:my|our|the) (?:rental|property|"
                      r"properties|duplex|units?)\b")
def _said_by_name(result: Extracted) -> str | None:
    """A row whose label is the person's own name ("Dana: Hi! Is this still available?"): a
    messaging service printing their words under their name, read as a custom field."""
    given = result.full_name.split()[0] if result.full_name else None
    names = {snake(n) for n in (result.first_name, result.full_name, given) if n}
    for key in names & set(result.custom_fields):
        value = str(result.custom_fields[key])
        if len(value) >= 10 and " " in value:
            del result.custom_fields[key]
            return value
    return None


_VALUE_KEY = re.compile(r"(?i)\b(?:value|worth|dwelling|replacement cost)\b")


def _valued(mail: Mail, price: object) -> bool:
    """The price is the one a row gives as what the home or car is worth ("Home Value:
    $610,000"), not what it sells for."""
    amount = engine.price_value(str(price))
    return amount is not None and any(
        _VALUE_KEY.search(key) and engine.price_value(value) == amount
        for key, value in all_pairs(mail)[:80])


_LOAN_KEY = re.compile(r"(?i)\b(?:loan|product|purpose|lead form|form|request|type)\b")


def _refinance(mail: Mail) -> bool:
    """The mail is about refinancing a home the person owns: its subject says so, or a row
    naming the loan ("Loan purpose: Cash-out refinance", "Product: Mortgage Refinance")."""
    if _REFINANCE.search(mail.subject[:300]):
        return True
    return any(_LOAN_KEY.search(key) and _REFINANCE.search(value[:200])
               for key, value in all_pairs(mail)[:80])


_VIA_BRAND = re.compile(r"\s+(?:from|via|through|vía)\s+[A-Z][\w.&'-]*(?:\s[A-Z][\w.&'-]*)?"
                        r"\s*$")
_INITIAL_ONLY = re.compile(r"^([A-ZÀ-Þ][a-zà-ÿ]+) ([A-ZÀ-Þ])\.?$")
# A vehicle's year as a listing's row gives it: its model year or first registration.
_MODEL_YEAR = re.compile(r"(?i)\b(?:model year|year|first registration|registration|"
                         r"erstzulassung|baujahr|ez|immatricolazione|anno|mise en circulation|"
                         r"año|ano|matriculación|bouwjaar)\b[ \t]*[:#]?[ \t]*(?:\d{1,2}[/.-])?"
                         r"((?:19|20)\d\d)\b")
_NENSHIKI = re.compile(r"((?:19|20)\d\d)\s?年(?:式|型|モデル)")  # "2023年式": a Japanese model year
_PURCHASE_FLOOR = 20000  # a sum below this is a rent, a deposit or a job's budget


def _sum(price: str | int | None) -> int:
    """A price as the lead will store it ("USD 185.000" is 185000), 0 for none."""
    return engine.stored_price(price) or 0


def _name_line(first: str, surname: str, text: str) -> re.Match[str] | None:
    """A line of the mail that is only `first` and a surname matching `surname` (group 1)."""
    return re.search(rf"(?m)^[ \t]*{re.escape(first)} ({surname})[ \t]*$", text[:8000])


def _monthly_sum(result: Extracted) -> bool:
    """A home whose price is a month's rent ("Price: $2,100.00", "CHF 2'480.- / Monat"): no
    home sells for so little, so the listing is for rent. A vehicle is not a home."""
    price = engine.price_value(str(result.price)) if result.price else None  # "485.000 €"
    prop = str(result.property_address or "")
    return bool(price and 300 <= price < 15000 and prop and not is_vehicle(prop)
                and engine.street_of(prop.split(" · ")[0]) is not None)


def service_job(mail: Mail, result: Extracted) -> bool:
    """A notification of a job or a policy: the subject or the form's name says so, or the
    person asks for one in a sentence of their own ("Want sod plus a small flagstone patio")
    and does not say they buy or sell a home or a car."""
    named = " ".join(str(result.custom_fields.get(k) or "") for k in (
        "lead_form", "form", "form_name", "campaign", "project", "service", "coverage",
        "coverage_wanted", "insurance_type", "loan_purpose", "loan_type", "job_type"))
    # The form's own rows about the job ("Project: Bathroom Remodeling", "Coverage wanted"):
    # their labels and short answers, never the person's longer words.
    pairs = all_pairs(mail)[:60]
    if policy_keyed(pairs) or _POLICY_ROW.search(mail.text[:3000]):
        return True  # "Current insurer: none", "Coverage wanted" / "Full coverage": a policy
    if any(_PROJECT_KEY.search(k) for k, _ in pairs) and not _BUY_WISH.search(
            (result.message or "")[:2000]):
        return True  # "Project budget", "Project details", "What type of project is this?"
    rows = [f"{k}: {v[:60]}" for k, v in pairs if _JOB_KEY.search(k)]
    named = "\n".join([named, *rows])
    said = (result.message or "")[:2000]
    # A listing's inquiry ("would want to rent it out occasionally") is a buyer's question
    # about that listing: the person's words decide only where no listing is named.
    listing = bool(result.property_address) and not is_vehicle(result.property_address)
    asked = not listing and SERVICE_NOUN.search(said) is not None and (any(
        SERVICE_ASK.search(s) for s in re.split(r"(?<=[.?!])\s+|\n+", said))
        or bool(_JOB_FIRST.match(said)))
    if not (SERVICE_TITLE.search(f"{mail.subject}\n{named}") or asked):
        return False
    own = segment_hint(said) if said else None
    # "We just bought the house" is a customer's history; "want to sell" is a seller's wish.
    return own != "Seller" and not (own == "Buyer" and _BUY_WISH.search(said))


_POLICY_ROW = re.compile(r"(?im)^[ \t]*(?:" + POLICY_KEY.pattern.removeprefix("(?i)") +
                         r")[ \t]*:?[ \t]*$")
# A form's row about the job: homes and cars are bought, projects are done.
_PROJECT_KEY = re.compile(r"(?i)\bproject\b")
# Where a message's sentences end: each is looked at for the job's street on its own.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
# The person's words open on the job: "Gut remodel of a 1970s kitchen", "Roof repair after ..."
_JOB_FIRST = re.compile(r"(?i)^\s*(?:[\w'’-]+\s+){0,3}?(?:remodel\w*|renovat\w+|repairs?|"
                        r"replacement|install\w*|deep clean\w*|move-?out clean\w*|repaint\w*)\b")
_JOB_KEY = re.compile(r"(?i)\b(project|service|job|work|repair|coverage|insur\w*|insurer|carrier|"
                      r"policy|deductible|loan purpose|type of (work|loan|insurance))\b")
_BUY_WISH = re.compile(r"(?i)\b(looking to buy|want(ing)? to buy|plan(ning)? to buy|buy(ing)? "
                       r"(a|our|my|the) (home|house|condo|car|truck)|tour|showing|"
                       r"pre-?approv\w*)\b")


def extract(mail: Mail, ctx: ParseContext, parser_name: str | None = None) -> Extracted:
    """Non-leads first; then the named parser (a source rule may force one) or the first that
    claims the mail."""
    reason = non_lead_reason(mail)
    if reason:
        return Extracted(parser="nonlead", is_lead=False, not_lead_reason=reason)
    result = read_claimed(mail, ctx, parser_name)[0]
    reason = notice_reason(mail, result)  # a provider's notice that names no person
    if reason:
        return Extracted(parser="nonlead", is_lead=False, not_lead_reason=reason)
    return result
