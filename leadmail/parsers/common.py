"""What labelled lead layouts share: label synonyms, distractor filters, the lead's identity."""

from __future__ import annotations

import dataclasses
import email.utils
import re
from dataclasses import dataclass, field
from functools import lru_cache

from leadmail import leadfields, normalize
from leadmail.parsers import fields as engine
from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.text import (
    LISTING_HEADING,
    PERSON_HEADING,
    Folded,
    form_pairs,
    glued_label,
    html_table_pairs,
    label_key,
    strip_footer,
)

# Label spellings (in text.label_key form) per Extracted field.
FIELD_LABELS: dict[str, frozenset[str]] = {
    "full_name": frozenset({
        "name", "full name", "fullname", "contact name", "lead name", "client name",
        "customer name", "buyer name", "seller name", "contact", "from", "sender",
        "submitted by", "renter", "prospect", "prospect name", "lead", "names", "client",
        "renter name", "tenant name", "shopper name", "guest name", "requester name",
        "inquirer name", "consumer name", "visitor name", "resident name", "member name",
        "borrower", "borrower name", "applicant", "applicant name", "insured", "insured name",
        "customer",
    }),
    "first_name": frozenset({"first name", "firstname", "first", "fname", "given name"}),
    "last_name": frozenset({"last name", "lastname", "last", "lname", "surname", "family name"}),
    "email": frozenset({
        "email", "e mail", "email address", "e mail address", "mail", "contact email",
        "lead email", "buyer email", "email id", "emailaddress", "client email",
        "customer email", "borrower email", "work email",
    }),
    "phone": frozenset({
        "phone", "phone number", "phonenumber", "telephone", "tel", "mobile", "mobile phone",
        "mobile number", "cell", "cell phone", "contact number", "contact phone", "phone no",
        "lead phone", "buyer phone", "home phone", "work phone", "primary phone", "best phone",
        "client phone", "customer phone", "day phone", "evening phone", "borrower phone",
        "caller", "caller id", "caller number", "caller phone", "from number", "phone lead",
    }),
    "message": frozenset({
        "message", "comments", "comment", "message body", "question", "questions", "notes",
        "note", "inquiry", "enquiry", "additional comments", "additional information",
        "details", "how can we help", "how can we help you", "lead message", "request",
        "what can we help you with", "message from lead", "client notes",
        "comment or message", "your message", "comments or questions",
    }),
    "property_address": frozenset({
        "property", "property address", "listing", "listing address", "address of interest",
        "interested in", "regarding", "in regards to property", "property of interest",
        "subject property", "property interested in", "listing of interest", "inquiry about",
        "home of interest", "viewed property", "last viewed property", "rental property",
        "viewed listing", "listing viewed", "property viewed", "last viewed listing",
        "rental address", "rental property address",
        # the home a seller wants valued
        "valuation address", "valuation property", "home to value", "property to value",
        "address to value", "home to sell", "property to sell",
    }),
    "address": frozenset({
        "address", "street address", "mailing address", "home address", "current address",
        "street", "street address line 1", "owner address", "owner mailing address",
        "billing address", "residential address", "postal address", "permanent address",
        "garaging address",
    }),
    "price": frozenset({
        "price", "list price", "listing price", "asking price", "budget", "price range",
        "max price", "home price", "vehicle price", "purchase price", "home value",
        "estimated home value", "estimated value", "property value", "estimated property value",
        "what is your budget", "what is your price range",
        "estimate range", "realestimate range", "value range", "estimated range",
        "estimated value range", "price estimate",
    }),
}
FIELD_LABELS = {k: v | frozenset(engine.EXTRA_LABELS.get(k, ())) for k, v in FIELD_LABELS.items()}
_ADDRESS_PARTS = frozenset({"city", "state", "zip", "zip code", "zipcode", "postal code",
                            "postcode", "region"}) | frozenset(engine.EXTRA_PARTS)
# Provider extras kept as custom fields, by canonical key.
CUSTOM_LABELS: dict[str, frozenset[str]] = {
    "timeframe": frozenset({
        "timeframe", "time frame", "timeline", "when do you want to move", "move in",
        "move in date", "moving timeline", "when are you looking to buy", "buying timeframe",
        "when do you plan to buy", "when are you planning to move", "selling timeframe",
    }),
    "pre_approved": frozenset({
        "pre approved", "preapproved", "are you pre approved", "prequalified", "pre qualified",
    }),
    "financing": frozenset({"financing", "financing needed", "need financing", "mortgage"}),
    "lead_id": frozenset({"lead id", "leadid", "id", "reference", "reference id", "inquiry id",
                          "contact id", "lead number", "request id", "referral id"}),
    "mls": frozenset({"mls", "mls #", "mls#", "mls number", "mls id", "listing id", "listing #",
                      "listing#", "listing number", "mlsid"}),
    "bedrooms": frozenset({"bedrooms", "beds", "number of bedrooms"}),
    "property_type": frozenset({"property type", "home type"}),
    # A referral service's own notes on the client: not the person's words (the message).
    "notes": frozenset({"concierge notes", "referral notes", "notes from your client specialist",
                        "notes from your concierge", "client specialist notes", "agent notes",
                        "specialist notes", "staff notes", "notes from our team",
                        "internal notes", "concierge note", "notes from the concierge"}),
    "inquiry_type": frozenset({"inquiry type", "lead type", "request type", "client type",
                               "referral type"}),
}
AGENT_LABELS = frozenset({"agent", "agent name", "agent email", "assigned agent", "to agent",
                          "your agent", "sent to", "recipient", "lead delivered to",
                          "delivered to", "assigned to"})
IDENTITY_FIELDS = leadfields.names("identity")
_CUSTOM_KNOWN = frozenset().union(*CUSTOM_LABELS.values())
_KNOWN = frozenset().union(*FIELD_LABELS.values(), *CUSTOM_LABELS.values(), _ADDRESS_PARTS,
                           AGENT_LABELS)

_NOREPLY = re.compile(
    r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer[-_.]?daemon|postmaster|bounces?|"
    r"notifications?|notify|alerts?|automated|zapier|leads?[-_.]?noreply|wordpress|www-data|"
    r"webmaster|forms?$|mailer$|system$)", re.I)
_NOREPLY_IN = re.compile(r"(?:^|[-_.+])(?:no[-_.]?reply|do[-_.]?not[-_.]?reply)(?:$|[-_.+])")
# A service's role mailboxes (RFC 2142 and the lead services' own): no person's address.
_ROLE_BOXES = frozenset({
    "voicemail", "voicemails", "voice", "fax", "sms", "texts", "calls",
    "leads", "lead", "newleads", "new-leads", "team", "messages", "message", "messaging",
    "service", "services", "notification", "notifications", "alert", "alerts", "updates",
    "support", "mailer", "notify", "inquiries", "enquiries", "robot", "bot", "reply",
    "replies", "connect", "concierge",
    # a chat service's and a scheduler's own boxes
    "transcript", "transcripts", "chat", "chats", "livechat", "conversation", "conversations",
    "bookings", "appointments", "scheduling"})
# A role mailbox with a word of the service's own before or after it: "pro-leads@",
# "leads.team@", "new-inquiries@".
_ROLE_PARTS = frozenset({"leads", "notifications", "alerts", "inquiries", "enquiries",
                         "noreply", "donotreply"})
_RELAY_HOSTS = frozenset({"messages", "message", "reply", "replies", "relay", "inbound",
                          "conversations", "reply-to", "msg", "convo", "conversation"})
_RELAY_PREFIX = re.compile(r"^(?:reply|relay|msg|message|conv|r)[-+_.]")
_RELAY_TOKEN = re.compile(r"^[0-9a-f][0-9a-f._+-]{7,63}$")
# A gateway's box is the sender's number: "5125550143@vtext.example", or a text relay's
# "<caller>.<own number>.<token>@" ("17375550124.15125550100.kq8xz2lmpa@txt.voice.google.com").
_PHONE_BOX = re.compile(r"^(\+?1?\d{10})(?:\.\+?1?\d{10}\.[\w-]{4,40})?$")
# The provider's own help lines and links, never a fact about the lead.
_NOT_CUSTOM = re.compile(r"\b(support|help|customer care|customer service|unsubscribe|privacy)\b")
_TOLL_FREE = re.compile(r"^\+18(00|33|44|55|66|77|88)\d{7}$")
# Numbers that look like phones but are ids: "Lead ID: 5125550143999", "MLS# 2234567890".
_ID_NUMBER = re.compile(
    r"(?i)\b((?:lead|listing|mls|order|ref(?:erence)?|inquiry|request|contact|ticket|"
    r"confirmation|record|property|invoice|inv|receipt|transaction|txn|account|acct|claim|"
    r"booking|reservation|policy|application|tracking|payment|stock|vin)"
    r"\s*(?:id|#|no\.?|number)?\s*[:#]?\s*)([A-Z0-9-]{5,})")
# An id that spells its kind in capitals before its digits: "INV-2026-118204", "TK-5125550143".
_PREFIXED_ID = re.compile(r"\b((?!(?:TEL|PH|FAX|CELL|MOB|TOLL)-)[A-Z]{2,5}-)(\d[\d-]{5,})")
# The same in other languages: "Código do anúncio: 2718336451", "Réf. annonce : LY-2291",
# "Scout-ID: 152837465", "Referencia del anuncio: 1093384572".
_ID_NUMBER_INTL = re.compile(
    r"(?i)\b((?:c[oó]digo|refer[eê]ncia|referencia|référence|réf|referenz|anuncio|anúncio|"
    r"annonce|inserat|objekt|scout|id|code|kode|zoekertje|inzerát|ogłoszenie)\b[^:\n\d]{0,25}:"
    r"\s*)([A-Z0-9-]{5,})")
_LONG_DIGITS = re.compile(r"(?<![\d+])(\d{12,}|[02-9]\d{10})(?!\d)")

SELLER = Folded(
    r"\b(what'?s my (home|house|property) worth|home (valuation|value|estimate)|valuation|"
    r"what (it|our (home|house|place|condo)|my (home|house|place|condo)) (might|could|would) "
    r"be worth|what (our|my) (home|house|place|condo) is worth|"
    r"market analysis|\bcma\b|sell(ing)? my (home|house|condo|property)|list my "
    r"(home|house|condo|property)|(thinking|thought) (of|about) selling|want(ed)? to sell|"
    r"seller (lead|referral|client|inquiry|enquiry|introduction)|new seller|homeowner|"
    r"(instant )?cash offer|sell (my|your|their|our) (car|vehicle|truck)|looking to sell|"
    r"whether (to sell|selling)|(should|could) (we|i) sell|"
    # ("we're also selling our condo": a buyer's side remark)
    r"(?<!also )selling (now|soon|this (year|spring|summer|fall)|our|my)|"
    r"vender (mi|nuestra|la) (casa|propiedad|piso)|vendre (ma|notre|mon)|verkaufen|"
    r"vender (meu|minha|o meu)|estimation|"
    r"avaliação|tasación|bewertung|home value|what.?s my home worth|"
    r"(?<!also )(like|wish|plan(ning)?|hoping|ready|need) to sell|"
    # "thinking about listing this summer", "looking to list before June", "the home you're
    # selling", "help buying something smaller after we sell"
    r"(thinking|thought) (of|about) listing|looking to list|"
    r"(home|house|property|condo) (you're|you’re|you are) (thinking of )?selling|"
    r"(before|after|once|when|until) (we|i) sell\b|"
    r"(want|like|plan(ning)?|ready|hoping) to list|list (our|it)\b|seller consultation|"
    r"new (\w+ )?seller\b|évaluation|"
    r"(aimerions|aimerais|voudrions|voudrais|souhaitons|souhaiterions|souhaite|voulons|veux|"
    r"désirons|allons) vendre|(queremos|quisiéramos|quisiera|quiero|gustaría|deseamos|"
    r"necesitamos|vamos a) vender|(vorrei|vorremmo|vogliamo) vendere|(quero|queremos|gostaria "
    r"de|gostaríamos de) vender|(wollen|möchten|möchte) (\w+ ){0,3}verkaufen|"
    r"(vehicle|car|truck) to sell|trade-?in (inquiry|enquiry|request|"
    r"offer|appraisal))")
BUYER = Folded(
    r"\b(tour|showing|schedule a (visit|viewing|showing)|interested in (the |this |your )?"
    r"(home|property|listing|house|condo|apartment|townhome)|buy(ing|er)?|purchase|"
    r"pre-?approved|open house|requesting information about|request(ed)? information|"
    r"see (the|this|it|your) ?(home|house|property|listing)?|viewing|still (for sale|available)|"
    r"buyers|test drive|visite[rz]?|visita[rs]?|besichtig\w*|comprar|compra|achat|acheter|"
    r"kaufen|kaufinteresse|me interesa\w*|interesad[oa]s?|intéressée?s?|interessad[oa]|"
    r"tenho interesse|interessiere|agendar|ver (el|la) (piso|casa)|viewing|view(ing)? the|"
    r"for sale|à venda|en venta|à vendre|zu verkaufen|in vendita|buscando casa|the sellers?|"
    r"los vendedores|relocat\w+|\d(?:-\d)? ?(?:bed(?:room)?s?|br)\b|"
    r"looking for an? (?:[\w-]+ ){0,4}(?:home|house|condo|townhome)|new listings?|showings|"
    r"pre-?qualified|pre-?aprobad[oa]s?|preaprobaci\w+|(?:nos|le|les) interesa\w*|"
    r"listing details)\b")
# What the person wants, in a form's own words: "Interest: Selling", "What are you looking
# for? Buying", "Loan type: Refinance", "How can we help? Property management". The answer
# decides the segment before any word of the message; "Customers" is a renter or a client of
# a service (insurance, a loan on a home they keep, property management).
INTENT_LABELS = frozenset({
    "interest", "interested in", "i am interested in", "i'm interested in", "im interested in",
    "what are you interested in", "what are you looking for", "what are you looking to do",
    "i am looking to", "i'm looking to", "looking to", "i want to", "i would like to",
    "i'd like to", "how can we help", "how can we help you", "what can we help you with",
    "how can i help", "reason for inquiry", "reason for contact", "inquiry reason",
    "type of inquiry", "loan type", "loan purpose", "purpose of loan", "service",
    "service needed", "service requested", "service type", "type of service",
    "insurance type", "type of insurance", "coverage type", "intent", "intention",
    "intérêt", "votre projet", "projet", "je souhaite", "interés", "tipo de consulta",
    "motivo", "motivo de contacto", "quiero", "anliegen", "ich möchte", "interesse",
    "objetivo", "o que procura", "buying or selling", "are you buying or selling",
    # a CRM's or a form's own word for the lead: "Lead Type: Seller"
    "lead type", "client type", "type of lead", "lead category", "contact type",
})
_INTENT_VALUES: tuple[tuple[str, Folded], ...] = (
    ("Seller", Folded(r"\b(sell|selling|seller|sale of (my|our)|list(ing)? (my|our)|vend(er|re|"
                      r"ere|o|a)|verkauf\w*|valuation|home value|appraisal|trade-?in)\b")),
    ("Customers", Folded(r"\b(rent|renting|rental|lease|leasing|tenant|letting|alquil\w+|louer|"
                         r"location|mieten|affitt\w+|alugar|arrendar|insurance|seguro|"
                         r"assurance|versicherung|refinanc\w*|refi|cash-?out|heloc|"
                         r"home equity|property management|gestion locative)\b")),
    ("Buyer", Folded(r"\b(buy|buying|buyer|purchas\w*|comprar|compra|acheter|achat|kaufen|"
                     r"kauf|acquist\w+|first home)\b")),
)
# Insurance in the languages of the forms and mails read: a policy is a service.
_INSURANCE = (r"seguro|assurance|versicherung|assicurazion\w*|verzekering|försäkring|"
              r"forsikring|ubezpieczen\w*")
# A form for a service on a home the person keeps: its title, not a listing, says so.
_SERVICE_FORM = Folded(r"\b(insurance|" + _INSURANCE + r"|refinanc\w*|refi|"
                       r"cash-?out|heloc|home equity|property management|"
                       # a home-service job: a quote for work on the person's home
                       r"remodel\w*|renovation|roofing|roof (repair|replacement)|plumb\w*|hvac|"
                       r"house ?cleaning|handyman|landscaping|pest control|water heater|"
                       r"project request)\b")
# Of those, the ones about the home the person lives in (not one they let to others).
# A job or a policy on a home or a car the person keeps: a service's customer, not a buyer or
# a seller. SERVICE_TITLE is the notification's or the form's own word for it ("Water Heater
# Replacement", "Home Insurance Quote"); in a person's words a service needs a request in the
# same sentence ("need a move-out deep clean"), since buyers ask about roofs and kitchens too.
SERVICE_TITLE = Folded(
    r"\b(repairs?|replacement|install(ation)?|remodel(ing|ling)?|renovations?|landscap\w+|"
    r"lawn care|roofing|roof (repair|replacement|inspection|estimate|leak)|hvac|furnace|"
    r"water heater|plumbing|plumber|electrician|cleaning|house ?cleaners?|painting|painters?|"
    r"handyman|pest control|solar (quote|installation|estimate|panels|assessment)|gutters?|"
    r"fencing|"
    r"flooring|insurance|coverage|refinanc\w*|refi|heloc|cash-?out|home equity|"
    r"property management|movers|moving quote|" + _INSURANCE + r"|"
    r"service (request|call|appointment)|servicing|boiler|emergency service|"
    r"free (estimate|quote)|estimate request|request (a|an) (free )?estimate|"
    # a vehicle's service, in the languages of direct mail
    r"brakes?|brake (job|inspection|repair)|oil change|tune-?up|wheel alignment|"
    r"tire rotation|inspektion|reparatur|werkstatttermin|révision|réparation|reparación|"
    r"mantenimiento|revisão|tagliando|"
    # a home's service, in the same languages
    r"pintura|pintar|peinture|malerarbeiten|limpieza|limpeza|plomería|fontanería|encanamento|"
    r"plomberie|telhado|tejado|toiture|dachdecker|jardinería|jardinagem)\b")
_SERVICE_NOUNS = (
    r"remodel\w*|renovat\w+|repairs?|landscap\w+|landscaper|lawn|sod|xeriscap\w+|roofing|"
    r"roof (?:repair|replacement|leak|inspection)|hvac|furnace|a/?c|air condition\w*|"
    r"water heaters?|tankless|plumb\w+|leak\w*|clean(?:ing)?|paint(?:ing|er)?|pest|"
    r"solar panels?|gutters?|fence|flooring|insurance|insure|coverage|refinanc\w*|heloc|"
    r"property manag\w+|rent it out|manage (?:it|our house|my house)|"
    # a vehicle's service or repair
    r"brakes?|brake (?:jobs?|pads?)|pads|rotors|oil change|tune-?up|alignment|bumper|"
    r"collision|body ?work|dent|transmission|check engine light|detailing")
SERVICE_NOUN = Folded(r"\b(?:" + _SERVICE_NOUNS + r")\b")  # the cheap test first
# A request, then the service within a few words: "need a move-out deep clean", "do you
# service tankless water heaters", "getting a quote to replace the fence".
SERVICE_ASK = Folded(
    r"\b(?:need|needs|want|wants|looking for|get|getting|would like|'d like|request\w*|quote|"
    r"estimate|fix|install|replace|help with|someone to|come out|take a look|look at|"
    r"do you(?: guys| all)? (?:do|service|offer|handle|install|repair|clean|insure|cover|fix))\W+"
    r"(?:[\w'’-]+\W+){0,4}?(?:" + _SERVICE_NOUNS + r")\b")
_KEPT_HOME = Folded(r"\b(home ?owners?|home insurance|insurance|" + _INSURANCE + r"|"
                    r"refinanc\w*|refi|cash-?out|heloc|home equity)\b")


@dataclass(frozen=True)
class Layout:
    """How one provider's notification reads: its own domains and subject shapes."""

    source: str
    parser: str
    domains: tuple[str, ...] = ()  # the provider's mail domains: never the lead's
    subjects: tuple[re.Pattern[str], ...] = ()  # groups "name" and/or "prop"
    address_is_property: bool = False  # a bare "Address:" is the listing, not the lead's home
    keep_unknown: bool = False  # unknown "key: value" pairs go to custom_fields
    default_segment: str | None = None
    skip_labels: frozenset[str] = field(default_factory=frozenset)


def snake(label: str) -> str:
    """A label as a custom_fields key: "Pre-approved?" -> "pre_approved"."""
    return re.sub(r"[\W_]+", "_", label.lower()).strip("_")[:60]


# The site's own domain marks its robot sender; a free-mail domain marks nothing.
FREEMAIL = frozenset({"gmail.com", "googlemail.com", "yahoo.com", "outlook.com", "hotmail.com",
                      "icloud.com", "aol.com", "live.com", "msn.com", "proton.me",
                      "protonmail.com", "me.com", "comcast.net",
                      # the documentation domains (RFC 2606): everyone's, like free mail
                      "example.com", "example.net", "example.org"})


def domain_of(addr: str) -> str:
    """The domain part of an address, lower-case."""
    return addr.rpartition("@")[2].lower()


def is_provider_addr(addr: str, domains: tuple[str, ...]) -> bool:
    """An address of the provider itself, of any known provider (providers.json), a no-reply
    robot anywhere, a service's role mailbox ("leads@", "team@", "messages@") or a reply relay
    ("reply-8c21f7a0e3@messages.houzz.com"): never the lead's."""
    dom = domain_of(addr)
    if any(dom == d or dom.endswith("." + d) for d in domains):
        return True
    if engine.domain_brand([addr]):
        return True
    local = addr.partition("@")[0].lower()
    return bool(_NOREPLY.match(local) or _NOREPLY_IN.search(local)) or local in _ROLE_BOXES \
        or bool(_ROLE_PARTS & set(re.split(r"[-_.+]", local[:64]))) or is_relay_addr(addr)


def is_relay_addr(addr: str) -> bool:
    """A per-conversation reply relay: a token for a local part ("321-3120457-9987712@",
    "reply-8c21f7a0e3@") or a messaging host ("@messages.homeaway.com"). The person behind it
    is reached only through the provider: it is no one's own address."""
    local, _, dom = addr.lower().rpartition("@")
    if dom.split(".")[0] in _RELAY_HOSTS and dom.count(".") >= 2:
        return True
    token = _RELAY_PREFIX.sub("", local[:80])
    return bool(_RELAY_TOKEN.match(token)) and sum(ch.isdigit() for ch in token) >= 4


def gateway_phone(addr: str) -> str | None:
    """The digits of an SMS or fax gateway's address ("5125550143@vtext.example"): the
    sender's phone number, never an address of theirs."""
    m = _PHONE_BOX.match(addr.partition("@")[0])
    return m.group(1) if m else None


_TELEPHONY = re.compile(r"(?i)\b(voice ?mail|voice message|missed call|text message|new sms|"
                        r"sms from|transcription|inbound call|incoming call|answered call|"
                        r"call activity|caller id)\b")


def telephony_relay(mail: Mail) -> bool:
    """A phone system's relay of a call or a text (a voicemail transcript, an SMS gateway): the
    person contacted the business directly; the words are theirs, free text."""
    head = _PREFERENCE_ROW.sub("", f"{mail.subject}\n{mail.text[:400]}")
    return gateway_phone(mail.from_addr) is not None or bool(_TELEPHONY.search(head))


# "Preferred Contact: Text message": how the person would be reached, not how they wrote.
_PREFERENCE_ROW = re.compile(r"(?im)^[^:\n]{0,40}\b(?:prefer\w*|contact method|best way|"
                             r"how to reach)\b[^:\n]{0,20}:[^\n]*$")


def is_notifier(mail: Mail) -> bool:
    """True when the From is a service's robot, role mailbox or relay, or a gateway, not a
    person: its display name and address are the notifier's, never the lead's."""
    return is_provider_addr(mail.from_addr, ()) or gateway_phone(mail.from_addr) is not None


def not_lead_email(addr: str, mail: Mail, ctx: ParseContext, domains: tuple[str, ...]) -> bool:
    """True for the agent's, the receiving mailbox's and the provider's addresses."""
    addr = addr.lower()
    recipients = {a for _, a in mail.to + mail.cc}
    return addr in ctx.agent_emails or addr in recipients or is_provider_addr(addr, domains)


def not_lead_phone(e164: str, ctx: ParseContext) -> bool:
    """True for the agents' phones and toll-free numbers (provider support lines)."""
    return e164 in ctx.agent_phones or bool(_TOLL_FREE.match(e164))


def not_lead_name(name: str, ctx: ParseContext) -> bool:
    """True for an agent's name, or for text that is no person's name."""
    low = re.sub(r"\s+", " ", name).strip().lower()
    if not low or low in ctx.agent_names or "@" in low or any(ch.isdigit() for ch in low):
        return True
    return any(low == a.split(" ")[0] for a in ctx.agent_names) and " " not in low


_URL = re.compile(r"(?i)\b(?:https?://|www\.)[^\s<>\"']{1,500}")


def mask_ids(text: str) -> str:
    """Replace the digits of ids (lead id, MLS#, long digit runs) so no phone is read in them."""
    text = _URL.sub(lambda m: re.sub(r"\d", "X", m.group(0)), text)  # ".../item/5625550139/"
    text = _ID_NUMBER.sub(lambda m: m.group(1) + re.sub(r"\d", "X", m.group(2)), text)
    text = _ID_NUMBER_INTL.sub(lambda m: m.group(1) + re.sub(r"\d", "X", m.group(2)), text)
    text = _PREFIXED_ID.sub(lambda m: m.group(1) + re.sub(r"\d", "X", m.group(2)), text)
    return _LONG_DIGITS.sub(lambda m: "X" * len(m.group(1)), text)


def phones_in(text: str, ctx: ParseContext) -> list[str]:
    """E.164 phones in free text, ids masked, agents and toll-free lines left out."""
    masked = mask_ids(text)
    found = normalize.find_phones(masked, ctx.default_region)
    own = {p for m in _YOUR_NUMBER.finditer(masked[:20000])
           for p in normalize.find_phones(m.group(1) or m.group(2), ctx.default_region)}
    # "on your Grasshopper number (512) 555-0119": the receiving business's own line,
    # wherever else the mail repeats it
    return [p for p in found if not not_lead_phone(p, ctx) and p not in own]


_YOUR_NUMBER = re.compile(r"(?i)\byour\b[^.\n]{0,40}?\b(?:number|line)\W{0,5}"
                          r"([+(]?\d[\d ().-]{8,18}\d)|"
                          # a call tracker's row for the business's own number that was
                          # called or texted: "Tracking Number: (720) 555-0191 (Google Ads)"
                          r"(?m:^)[ \t]*(?:tracking (?:number|line|phone)|"
                          r"(?:called|dialed|dialled|receiving|destination|business) "
                          r"(?:number|line|phone)|number (?:called|dialed|texted))"
                          r"[ \t]*[:=][ \t]*([+(]?\d[\d ().-]{8,18}\d)")


def emails_in(text: str, mail: Mail, ctx: ParseContext, domains: tuple[str, ...]) -> list[str]:
    """Addresses in free text that may be the lead's."""
    return [e for e in normalize.find_emails(text) if not not_lead_email(e, mail, ctx, domains)]


def split_addr(value: str) -> tuple[str, str | None]:
    """("Maria Lopez", "maria@x.example") from "Maria Lopez <maria@x.example>"."""
    if "@" in value and "<" in value:
        name, addr = email.utils.parseaddr(value)
        return name.strip().strip('"'), addr or None
    return value, None


def reply_to_identity(
    mail: Mail, ctx: ParseContext, domains: tuple[str, ...]
) -> tuple[str | None, str | None]:
    """(name, email) from Reply-To, unless it points at the provider, a robot or the agent."""
    for name, addr in mail.reply_to:
        relay = is_relay_addr(addr)
        if relay or not not_lead_email(addr, mail, ctx, domains):
            name = re.sub(r"(?i)\s+(via|from|through)\s+\S.*$", "", name or "").strip()
            name = name if name and not not_lead_name(name, ctx) and not (
                relay and _NOT_A_NAME.search(name)) else ""
            # A relay carries the person's name ("Sophie L." <321-...@messages.homeaway.com>)
            # but reaches them only through the provider: the name, not the address.
            return (name or None), (None if relay else addr)
    return None, None


@lru_cache(maxsize=16)  # a reader and the registry ask about the same texts
def segment_hint(*texts: str | None) -> str | None:
    """ "Seller" for valuation/sell requests, "Buyer" for tours and listing inquiries."""
    blob = "\n".join(t for t in texts if t)
    if SELLER.search(blob):
        return "Seller"
    if BUYER.search(blob):
        return "Buyer"
    if not blob.isascii():  # words of scripts without spaces between them: no \b to match on
        if _SELLER_NO_SPACES.search(blob):
            return "Seller"
        if _BUYER_NO_SPACES.search(blob):
            return "Buyer"
    return None


# Selling and buying in Chinese, Japanese, Korean and Arabic, matched without word bounds.
_SELLER_NO_SPACES = re.compile(
    r"卖房|賣房|出售我|售房|估价|估價|売却|査定|売りたい|売る予定|매도|팔고|시세|"
    r"بيع (?:منزلي|بيتي|شقتي|عقاري)|تقييم")
_BUYER_NO_SPACES = re.compile(
    r"买房|買房|购房|購房|购买|購買|看房|找房|独立屋|獨立屋|学区房|學區房|内覧|內覽|販売中|購入|"
    r"買いたい|매수|구매|집을 사|شراء|للبيع")


def message_block(text: str, start_label: str) -> str | None:
    """The value of a message-like label, with the lines that follow it up to the next known
    label or footer (messages span lines; form_pairs keeps only the first)."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        m = re.match(r"^\s*([^:]{1,60}?)\s*:\s*(.*)$", line)
        if not m:
            continue
        key = label_key(m.group(1))  # spelled as all_pairs spells it
        if key != start_label and _CANONICAL.get(engine.keyword_field(key) or "") != start_label:
            continue
        out = [m.group(2).strip()]
        rest = lines[i + 1:]
        for j, nxt in enumerate(rest):
            if _is_label_line(nxt) or strip_footer(nxt) != nxt.strip():
                break
            # After a blank line, any "Label: value" line or a bare street address is the
            # layout again (a staff signature, the listing), not more of the message.
            after_blank = j and not rest[j - 1].strip()
            if after_blank and (_ANY_LABEL.match(nxt) or _STREET.match(nxt)
                                or _PROVIDER_LINE.search(nxt)):
                break
            # A section heading ("Property Information") right above more labels ends it too.
            following = next((x for x in rest[j + 1:] if x.strip()), "")
            if _HEADING.match(nxt.strip()) and _is_label_line(following):
                break
            out.append(nxt.rstrip())
        body = "\n".join(out).strip()
        return body or None
    return None


_LABEL = re.compile(r"^\s*([^:]{1,60}?)\s*:")
_ANY_LABEL = re.compile(r"^\s*[A-Z][\w'&/#.-]*(?: [\w'&/#.-]+){0,4}\s*:\s*\S")
_STREET = re.compile(r"^\s*\d{1,6} [\w .'#-]{2,60}, [\w .'-]{2,40}(, [A-Z]{2})?( \d{5})?\s*$")
# A provider's sign-off line: "EverQuote, Inc. | Agent Support 1-855-555-0178".
_PROVIDER_LINE = re.compile(r"(?i)\b(inc|llc|ltd)\b\.?\s*(\||$)|\bsupport\b.*\d|"
                            r"\b1[-. ]?8(00|33|44|55|66|77|88)[-. ]\d{3}[-. ]\d{4}\b")
_HEADING = re.compile(r"^[A-Z][\w&/-]*(?: [A-Z&][\w&/-]*){0,4}$")


def _is_label_line(line: str) -> bool:
    m = re.match(r"^\s*([^:]{1,60}?)\s*:\s*(.*)$", line)
    return m is not None and label_key(m.group(1)) in _KNOWN


_SPLIT_LABEL = re.compile(r"\s*/\s*")
_OWNER = re.compile(r"^(?:property|listing|subject property|home for sale)\s+(.+)$")
_OWN = re.compile(r"^(?:mailing|current|home|contact|your)\s+(.+)$")


def address_label(key: str) -> str:
    """An address label in the vocabulary's spelling: "City/State/Zip" is "city state zip",
    "property street" the listing's street ("property address"), "property city" a part
    of the listing's address ("property city"), "mailing city" a part of the person's."""
    if "/" in key:
        split = _SPLIT_LABEL.sub(" ", key)  # only for an address's parts: not "question/comments"
        if split in _ADDRESS_PARTS or _OWNER.match(split) or _OWN.match(split) or split in _KNOWN:
            key = split  # "City/State/Zip", "Year/Make/Model"
        elif key not in _KNOWN:  # "Question/Comments", "Phone/Mobile": the first part known
            key = next((p for p in _SPLIT_LABEL.split(key) if p in _KNOWN), key)
    m = _OWNER.match(key)
    if m:
        rest = m.group(1)
        if rest in ("street", "address", "street address", "address line 1", "street 1"):
            return "property address"
        if rest in _ADDRESS_PARTS:
            return f"property {rest}"
    m = _OWN.match(key)
    if m and m.group(1) in _ADDRESS_PARTS:
        return m.group(1)
    return key


# A vehicle's sticker price, and the price a dealer or a portal actually offers it at: the
# offer is the price ("MSRP: $32,615" / "TrueCar Price Offer: $30,870").
_STICKER = re.compile(r"\b(?:msrp|sticker|retail)\b")
_DEAL_PRICE = re.compile(r"\b(?:offer|internet|e ?price|sale|selling|special|our|your|dealer|"
                         r"discount\w*|final|out the door|best)\b")
_NOT_DEAL = re.compile(r"\b(?:msrp|sticker|retail|invoice|trade|monthly|payment|down|rebate)\b")


def _deal_key(key: str) -> bool:
    """A price row after the sticker that names what the car actually goes for: a dealer's
    or a portal's offer ("Internet Price", "TrueCar Price", "Price Promise")."""
    return bool(_DEAL_PRICE.search(key) or ("price" in key.split()
                                             and not _NOT_DEAL.search(key)))


# A word that qualifies a price label without changing what it names.
_PRICE_QUALIFIERS = frozenset({
    "listed", "listing", "maximum", "max", "minimum", "min", "monthly", "weekly", "desired",
    "target", "approximate", "approx", "estimated", "asking", "total", "preferred", "ideal",
    "expected", "current", "advertised", "starting", "requested", "proposed"})


def _qualified_price(key: str) -> str | None:
    """The price label a qualified one names: "listed rent" -> "rent"; else None."""
    head = key.split(" ", 1)
    if len(head) == 2 and head[0] in _PRICE_QUALIFIERS and head[1] in FIELD_LABELS["price"]:
        return head[1]
    return None


@lru_cache(maxsize=4096)  # labels repeat from line to line and mail to mail
def field_of(key: str) -> str | None:
    """The field a label (label_key spelling) names: the vocabulary, then question keywords."""
    for name, labels in FIELD_LABELS.items():
        if key in labels:
            return name
    if _qualified_price(key):
        return "price"  # "Listed rent", "Maximum budget", "Ideal price"
    if key in _ADDRESS_PARTS:
        return "address_part"
    if key in AGENT_LABELS:
        return "agent"
    if key in CUSTOM_LABELS["notes"]:
        return "notes"
    if key in _CUSTOM_KNOWN:
        return "custom"
    return engine.keyword_field(key)


_CANONICAL = {"full_name": "name", "first_name": "first name", "last_name": "last name",
              "email": "email", "phone": "phone", "message": "message", "price": "price",
              "address": "address", "property_address": "property"}


_MAKES = (r"Toyota|Honda|Ford|Chevrolet|Chevy|Nissan|Hyundai|Kia|Subaru|Mazda|Volkswagen|VW|BMW|"
          r"Mercedes-Benz|Mercedes|Audi|Lexus|Jeep|Ram|GMC|Dodge|Chrysler|Buick|Cadillac|Lincoln|"
          r"Tesla|Volvo|Acura|Infiniti|Porsche|Mitsubishi|Mini|MINI|Land Rover|Jaguar|Genesis|"
          r"Alfa Romeo|Fiat|Rivian|Lucid|Polestar|Maserati|Ferrari|Bentley|Scion|Pontiac|Suzuki|"
          r"Isuzu|Harley-Davidson|Yamaha|Ducati|Kawasaki|Triumph|KTM|Can-Am|Sea-Doo|Ski-Doo|"
          r"Aprilia|Vespa|Royal Enfield|Hummer|Saab|Peugeot|Renault|Citroën|Citroen|Škoda|Skoda|"
          r"Opel|Dacia|BYD|Lotus|Aston Martin|McLaren|Lamborghini|Rolls-Royce|Plymouth|"
          r"Oldsmobile|Freightliner|Winnebago|Airstream|Jayco|Bayliner|Sea Ray|Boston Whaler")
_AFTER_ID = re.compile(r"^[^–—-]{1,40}\s[–—-]\s(.+)$")
_VEHICLE_LINE = re.compile(
    rf"^\s*((?:19|20)\d\d (?:{_MAKES}) [A-Z0-9][\w-]*(?: [A-Z0-9][\w.-]*){{0,4}})\s*[.!]?"
    # "2018 Jeep Wrangler Unlimited Sahara - $27,500": the vehicle, then its price
    r"(?:\s*[-–—|·]\s*(?P<price>(?:US\$|C\$|[$€£])\s?\d[\d,.]{2,12}))?\s*$")
_VEHICLE = re.compile(r"^\s*(?:19|20)\d\d\s+[A-Z][\w-]+\s+\S")  # "2022 Honda CR-V EX-L"
VEHICLE = _VEHICLE
# Makes that are also words, names or streets ("Lincoln Ave", "a Ram", "Mini", "Genesis"):
# named without a year they are no vehicle.
_WORD_MAKES = frozenset({"Ram", "Lincoln", "Mini", "MINI", "Genesis", "Lotus", "Triumph",
                         "Lucid", "Mercury", "Smart", "Seat", "Indian", "Jaguar"})
# A make, then a model of capitalised or numbered words ("Toyota Tacoma", "Ford F-150",
# "Fiat 500 1.0 Hybrid Dolcevita"), with the year before it, among them or none.
_YEAR = r"(?:19|20)\d\d"
_MODEL_WORD = (rf"(?:[A-Z][\w-]*(?:\.\d+)?|"  # "ID.4"
               rf"(?!{_YEAR}(?![\w.-]))\d+(?:\.\d)?[A-Za-z-]*[A-Za-z0-9]*)")
_NAMED_VEHICLE = re.compile(
    rf"(?<![A-Za-z0-9-])(?:(?P<year>{_YEAR}) ?)?(?P<make>{_MAKES}) "
    rf"(?P<model>{_MODEL_WORD}(?: (?:{_MODEL_WORD}|{_YEAR}(?![\w.-]))){{0,5}})(?![\w-])")
# Best-selling models, whose make a person often leaves out ("the silver 2019 Accord"); with
# their year only, since "Civic", "Pilot" and "Explorer" are words too.
_MODEL_MAKE = {
    "Accord": "Honda", "Civic": "Honda", "CR-V": "Honda", "Pilot": "Honda", "Odyssey": "Honda",
    "HR-V": "Honda", "Camry": "Toyota", "Corolla": "Toyota", "RAV4": "Toyota",
    "Tacoma": "Toyota", "Tundra": "Toyota", "Highlander": "Toyota", "4Runner": "Toyota",
    "Prius": "Toyota", "Sienna": "Toyota", "F-150": "Ford", "F-250": "Ford",
    "Mustang": "Ford", "Bronco": "Ford", "Escape": "Ford", "Explorer": "Ford",
    "Silverado": "Chevrolet", "Tahoe": "Chevrolet", "Equinox": "Chevrolet",
    "Malibu": "Chevrolet", "Corvette": "Chevrolet", "Wrangler": "Jeep",
    "Cherokee": "Jeep", "Altima": "Nissan", "Rogue": "Nissan", "Sentra": "Nissan",
    "Outback": "Subaru", "Forester": "Subaru", "Crosstrek": "Subaru", "Elantra": "Hyundai",
    "Tucson": "Hyundai", "Santa Fe": "Hyundai", "Sorento": "Kia", "Telluride": "Kia",
    "Sportage": "Kia", "CX-5": "Mazda", "Mazda3": "Mazda", "Jetta": "Volkswagen",
    "Golf": "Volkswagen", "Tiguan": "Volkswagen", "Sierra": "GMC", "Model 3": "Tesla",
    "Model Y": "Tesla",
}
_MODEL_ONLY = re.compile(
    rf"(?<![A-Za-z0-9-])(?:(?P<year>{_YEAR}) (?P<model>"
    + "|".join(re.escape(m) for m in _MODEL_MAKE) + rf")(?P<rest>(?: {_MODEL_WORD}){{0,3}})|"
    rf"(?P<model2>" + "|".join(re.escape(m) for m in _MODEL_MAKE) + rf") (?P<year2>{_YEAR}))"
    r"(?![\w-])")
# What is no model: a street's or a place's word ("Ford Rd", "Lincoln Park"), a company's.
_NOT_MODEL = re.compile(r"(?i)^(?:rd|road|st|street|ave|avenue|blvd|dr|drive|ln|lane|ct|way|pl|"
                        r"park|center|centre|city|county|heights|hills|square|plaza|group|"
                        r"motors?|dealership|dealer|financial|credit|of|and|the|dealers?|"
                        r"service|parts)\b")
# Trading in: the person's own vehicle, not the one they ask about.
_TRADED = re.compile(r"(?i)\b(?:trade|trading|trade-in|trade in|swap)\b[\w\s'’-]{0,20}$")


def vehicle_named(text: str) -> str | None:
    """The vehicle a person's words ask about: a known make and its model, with its year
    ("I saw your ad for the silver Ford F-150", "una Ducati Monster 2023" -> "2023 Ducati
    Monster"), or a best-selling model with its year ("the 2019 Accord" -> "2019 Honda
    Accord"); a make that is also a word needs its year. The one traded in is skipped."""
    found: list[tuple[int, str]] = []
    for m in _NAMED_VEHICLE.finditer(text[:4000]):
        words = m.group("model").split()
        if _NOT_MODEL.match(words[0]) and (len(words) == 1 or _NOT_MODEL.match(words[-1])):
            continue  # "Ford Rd", "Lincoln Park Drive"; not "Harley-Davidson Street Glide"
        years = [w for w in words if re.fullmatch(_YEAR, w)]
        year = m.group("year") or (years[0] if years else None)
        if not year and m.group("make") in _WORD_MAKES:
            continue
        model = " ".join(w for w in words if w not in years)
        found.append((m.start(), " ".join(x for x in (year, m.group("make"), model) if x)))
    for m in _MODEL_ONLY.finditer(text[:4000]):
        model = m.group("model") or m.group("model2")
        year = m.group("year") or m.group("year2")
        rest = (m.group("rest") or "").strip() if m.group("model") else ""
        if not any(start <= m.start() < start + len(v) + 8 for start, v in found):
            found.append((m.start(), " ".join(x for x in (year, _MODEL_MAKE[model], model, rest)
                                              if x)))
    for start, value in sorted(found):
        if not _TRADED.search(text[max(0, start - 40):start]):
            return value
    return None


def is_vehicle(value: object) -> bool:
    """Whether a property value names a vehicle: a year and a model, or a known make's model."""
    text = str(value or "")
    if (m := _NAMED_VEHICLE.match(text)) and not _NOT_MODEL.match(m.group("model")):
        return True  # a known make's model
    # a year and a model of a make the list does not know ("2021 Grand Design Imagine"), never
    # a street whose number reads as a year ("1901 Aldrich St, Austin, TX 78723")
    return bool(_VEHICLE.match(text)) and (vehicle_named(text[:200]) is not None
                                           or not engine.street_of(text[:200]))
# A year and a make and model of capitalised or numbered words, alone on a line or ending one
# after "for", "on your", "about" or a dash.
_ANY_VEHICLE = re.compile(
    r"(?:^\s*|\b(?:for|on your|on|about|regarding|in your|in the)\s+|\s[-–—:]\s|:\s)"
    r"((?:19|20)\d\d(?: (?:[A-Z][\w-]*|\d+[A-Za-z]*)){2,6})\s*[.!]?\s*$")
# A notice about a vehicle, a boat, an RV or a powersports machine.
_VEHICLE_WORDS = re.compile(
    r"(?i)\b(boats?|yachts?|rvs?|trailers?|motorhomes?|campers?|fifth wheel|vin|stock ?#|"
    r"mileage|odometer|trade-?in|test drive|dealers?|dealership|powersports|motorcycles?|"
    r"atvs?|utvs?|outboards?|vehicles?)\b")
_PRICE_TAIL = re.compile(r"\s*(?:[-–—|·]|\(|,)\s*((?:US\$|C\$|A\$|[$€£])\s?\d[\d,. ]{0,14}\d"
                         r"(?:\s?[kKmM])?)(?:\s*(?:/\s?mo(?:nth)?|pcm|per month))?\b.*$")
# A vehicle's condition around it ("New 2025 Toyota RAV4", "2024 Hyundai Tucson SEL (New)")
# and its identifiers after it ("... VIN 2HKRW2H5XKH601234", "... Stock #T1234"): no part of
# the vehicle's name.
_VEHICLE_CONDITION = re.compile(r"(?i)^(?:brand[- ]new|new|used|pre-?owned|"
                                r"certified(?: pre-?owned)?|cpo)\s+(?=(?:19|20)\d\d\s)")
_VEHICLE_TAIL = re.compile(r"(?i)\s*(?:\((?:new|used|pre-?owned|certified(?: pre-?owned)?|cpo)\)"
                           r"|[,;(-]?\s*\b(?:vin|stock)\b\s*(?:#|no\.?|number)?\s*:?\s*[A-Z0-9-]{4,17}\)?)"
                           r"\s*$")
# A listing's title before its street ("Casa en venta en Av. Coyoacán 1520, ...",
# "Apartamento à venda, Rua Oscar Freire 1200, ...", "Maison à vendre - 12 rue ...").
_TITLE_BEFORE = Folded(
    r"^[^\d,:]{2,40}?\b(?:for sale|for rent|for lease|en venta|en renta|en alquiler|à venda|"
    r"para alugar|para venda|à vendre|à louer|zu verkaufen|zu vermieten|in vendita|in affitto|"
    r"te koop|te huur)\b(?:\s+(?:en|in|at|na|no|em|à|a)\b)?\s*[,:–—-]?\s+(?=\S)")
# A listing's title of its rooms before its street: "4.5-Zimmer-Wohnung, Seefeldstrasse 112, ...",
# "3 bed flat, 41 Otley Rd, Leeds", "Mieszkanie 3-pokojowe, ul. ...", "Trilocale via Roma 15".
_ROOMS_TITLE = Folded(
    r"^\s*(?:[^\W\d_]{3,20}\s+)?(?:(?:t\d\s+de\s+)?\d{1,2}(?:[.,]5)?[ -]?(?:zimmer|rooms?|"
    r"bed(?:room)?s?|bd|br|pi[eè]ces?|locali|kamers?|habitaci[oó]n(?:es)?|hab\.|quartos?|pokoj\w*|"
    r"rum|v[æa]relser)\b[^,\d\n]{0,30},\s+(?=\S)|(?:mono|bi|tri|quadri|penta)locale\s+(?=via\b|"
    r"viale\b|piazza\b|corso\b))")
# After a whole street, what a listing line runs on with: " – 450 000 € – Réf. LYO-2231"
# (a separator and the listing's other facts), or the town given again (", Leander").
_AFTER_STREET = re.compile(r"^\s*(?:[–—|·]|\s-)\s|^,\s*([^\W\d_][\w .'-]{1,40})\s*$")


# A home's kind and tenure, with no street in it: "Single family home, owned", "Condo",
# "Home/Residence".
_HOME_KIND = re.compile(r"(?i)^\s*(?:single[- ]family|multi[- ]family|condo(?:minium)?|"
                        r"town ?house|townhome|mobile home|manufactured home|duplex|apartment|"
                        r"home|house|residence|residential|commercial)"
                        r"\b[^\d]{0,40}$")
_OWNER_OCCUPIED = re.compile(r"(?i)\(\s*owner[- ]occupied\s*\)")


def _tidy_listing(value: str, ex: Extracted) -> str:
    """A listing or vehicle without the words a notification sets around it."""
    if _VEHICLE.match(_VEHICLE_CONDITION.sub("", value[:engine.LINE_MAX])):
        value = _VEHICLE_CONDITION.sub("", value[:engine.LINE_MAX])
        return _VEHICLE_TAIL.sub("", value).strip() or value
    if (title := _TITLE_BEFORE.search(value[:engine.LINE_MAX])) and title.end() < len(value):
        value = value[title.end():]
    elif (rooms := _ROOMS_TITLE.search(value[:engine.LINE_MAX])) and rooms.end() < len(value):
        value = value[rooms.end():]
    head, sep, _ = value[:engine.LINE_MAX].partition(" – ")
    if not sep:
        head, sep, _ = value[:engine.LINE_MAX].partition(" — ")
    street = engine.street_of(head) if sep and _has_postcode(head) else engine.street_of(value)
    if street and street != head.strip():
        street = engine.street_of(value)
    if street and value.startswith(street) and len(street) < len(value) and (
            after := _AFTER_STREET.match(value[len(street):])):
        town = after.group(1)
        if town is None or town.strip().lower() in street.lower():
            rest = value[len(street):]
            marked = [m for m in engine.amounts(rest) if m.marked] if town is None else []
            if not ex.price and marked:
                _set(ex, "price", str(marked[0].value), 0.7)
            value = street
    return value


_HEADER_KEYS = frozenset({"question", "questions", "field", "label", "name", "item"})
_HEADER_VALUES = frozenset({"answer", "answers", "value", "values", "response", "responses"})


def all_pairs(mail: Mail) -> list[tuple[str, str]]:
    """Label/value pairs from the text and from HTML tables, first occurrence per label: the
    "Label: value" lines, table rows, and labels alone on a line with the value under them. A
    question-style label ("What's the best email to reach you?") is read as its field."""
    return list(_pairs_of(mail.text, mail.html))


@lru_cache(maxsize=4)  # a reader's claims() and parse() read the same mail's pairs
def _pairs_of(text: str, html: str) -> tuple[tuple[str, str], ...]:
    mail = _TextOnly(text, html)
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    text = strip_footer(mail.text)
    table = html_table_pairs(mail.html, _is_known) if mail.html else []
    stacked = [(k, v) for k, v, _ in engine.next_line_pairs(text, field_of)
               if not glued_label(v)]  # "Vehicle of Interest" / "Year2026": a heading
    listing_values: set[str] = set()  # rows a heading made the listing's, in one rendering
    for key, value in _unglued(_scoped(form_pairs(text)) + _scoped(table) + stacked):
        if key in _HEADER_KEYS and value.strip().lower() in _HEADER_VALUES:
            continue  # a table's header row ("Question: Answer"), no field
        first_line = value.strip().split("\n")[0].strip()
        inner = _INNER_LABEL.match(first_line[:engine.LINE_MAX])
        if inner and (inner_field := field_of(label_key(inner.group(1)))) in _SAME_ROW.get(
                field_of(key) or "", ()):
            # "Name: First Name: Olumide", "Current Address: Address: 918 ...": a builder's
            # sub-field label repeated inside the row's value
            value = inner.group(2) + value.strip()[len(first_line):]
            first_line = inner.group(2)
            if inner_field in ("first_name", "last_name"):
                key = label_key(inner.group(1))
        if key.startswith("property "):
            listing_values.add(first_line)
        elif first_line in listing_values and field_of(key) in ("address", "address_part"):
            continue  # the same row in the HTML, where the heading sits outside the table
        if key not in _KNOWN and (owned := address_label(key)) in _KNOWN:
            key = owned  # "Property Street Address" is the listing's, not a bare "address"
        if key not in _KNOWN and (price_key := _qualified_price(key)):
            key = price_key
        if key not in _KNOWN:
            target = engine.keyword_field(key)
            key = _CANONICAL.get(target or "", key)
        if key not in seen and value.strip():
            seen.add(key)
            out.append((key, value.strip()))
    return tuple(out)


_INNER_LABEL = re.compile(r"^([^\W\d_][\w' -]{0,30}):\s+(\S.*)$")
# The next row run onto a person's row: "First Name: Sofia Last Name: Lindqvist".
_NEXT_ROW = re.compile(r"\s+([A-Z][\w' -]{1,30}?):\s+(\S.*)$")


def _unglued(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Pairs with a person's row split where the next person's row runs onto it on one line
    ("First Name: Sofia Last Name: Lindqvist" is two rows)."""
    out: list[tuple[str, str]] = []
    for key, value in pairs:
        first, sep, rest = value.partition("\n")
        while (field_of(key) in _PERSON_FIELDS and (m := _NEXT_ROW.search(first[:engine.LINE_MAX]))
               and field_of(label_key(m.group(1))) in _PERSON_FIELDS
               # ("First Name: Olumide" is one label, not "First" and a row "Name")
               and label_key(f"{first[:m.start()]} {m.group(1)}") not in _KNOWN):
            out.append((key, first[:m.start()]))
            key, first = label_key(m.group(1)), m.group(2)
        out.append((key, first + sep + rest))
    return out
# A row's field, and the fields whose label may open its value as a sub-field's.
_SAME_ROW = {"full_name": ("full_name", "first_name", "last_name"),
             "first_name": ("first_name",), "last_name": ("last_name",),
             "address": ("address",), "property_address": ("property_address", "address"),
             "email": ("email",), "phone": ("phone",)}
_TRIM_KEYS = frozenset({"trim", "trim level", "vehicle trim"})
_VEHICLE_PART = re.compile(r"^(?:vehicle |car |auto )?(year|make|model|trim)(?: level)?$")


_UNIT_KEYS = frozenset({"unit", "item", "product", "ad", "ad title", "listing title", "title",
                        "stock unit", "inventory", "inventory item"})
_YES_NO = re.compile(r"(?i)^\s*(?:yes|no|y|n|true|false|oui|non|sí|si|não|nao|nein|ja)\s*[.!]?\s*$")
_FROM_KEYS = frozenset({"from", "sender", "contact", "de", "von"})
_SAME_AS = re.compile(r"(?i)^\s*(?:the )?same(?: as)?\b.{0,40}$|^\s*see above\b")


def _is_choice(value: str) -> bool:
    """A form's picked option ("Property management", "Buying"): a few words, no sentence."""
    return len(value) <= 40 and not re.search(r"[.?!]", value)


# The words a listing's row holds besides its numbers: "$539,000 | 2 bd | 2 ba | 1,410 sqft".
_LISTING_UNITS = {"bd", "ba", "bds", "bed", "beds", "bath", "baths", "sqft", "sq", "ft", "mo",
                  "acres", "acre", "br"}
_LOWER_WORD = re.compile(r"\b[a-zà-ÿ]{2,}\b")


def _no_sentence(value: str) -> bool:
    """A row that holds no sentence: a listing's street and price ("4012 Spicewood Springs Rd
    #7, Austin, TX 78759 - $435,000"), its rooms, a tour's date; fewer than three words in
    lower case besides a listing's units."""
    words = [w for w in _LOWER_WORD.findall(value[:300]) if w not in _LISTING_UNITS]
    return len(words) < 3


def known_label(key: str) -> bool:
    """True for a label (in label_key spelling) the field vocabulary knows."""
    return key in _KNOWN


def _is_known(key: str) -> bool:
    return field_of(key) is not None


# Rows only a listing notification has (a seller's form describes their home with beds,
# baths and square feet too): an address row next to one of these is the listing's.
_LISTING_KEYS = frozenset({
    "price", "list price", "listing price", "asking price", "rent", "monthly rent", "mls",
    "mls #", "mls number", "mls id", "mls no", "property name", "property phone",
    "property id", "listing id", "listing number", "listing #", "floor plan", "community"})
_OWN_ADDRESS = frozenset({"mailing address", "home address", "current address", "owner address",
                          "owner mailing address", "billing address", "residential address",
                          "postal address", "permanent address"})
# Where the person lives now, never the home a notice is about ("Current address:" on a
# buyer's referral). A seller's "Home address" (an owner's) is the home they sell.
_WHERE_THEY_LIVE = _OWN_ADDRESS - {"home address", "owner address"}


# A label no listing has: its value is a person's words under any heading.
_WORDS_KEY = re.compile(r"\b(?:comments?|message|questions?|inquiry|enquiry)\b")


_BUSINESS_KEY = re.compile(r"^(?:dealer|dealership|store|office|brokerage|business|company)"
                           r"(?: name)?$")


def _scoped(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Pairs with their section headings applied and dropped: under a listing heading, or
    next to a row only a listing has ("Price", "MLS #", "Property Name"), a bare address row
    is the listing's ("property address"; its city/state/ZIP rows follow it); a person's
    heading ("Contact Information") ends the listing's section."""
    out: list[tuple[str, str]] = []
    listing = False
    business = False  # under "Dealer: Lone Star Toyota": its address and phone are its own
    for key, value in pairs:
        if key in (LISTING_HEADING, PERSON_HEADING):
            listing = key == LISTING_HEADING
            business = False
            continue
        if _BUSINESS_KEY.match(key):
            business = True
        elif business and (key in _ADDRESS_PARTS or field_of(key) in ("address", "phone")):
            continue
        elif field_of(key) in ("full_name", "first_name", "last_name", "email", "message"):
            business = False
        if listing and key in _ADDRESS_PARTS:
            key = f"property {key}"
        elif listing and field_of(key) == "address" and key not in _OWN_ADDRESS:
            key = "property address"
        elif listing and field_of(key) == "message" and not _WORDS_KEY.search(key):
            key = "listing details"  # "Home" / "Details: 1 bd · 1 ba": the listing's, not words
        elif field_of(key) == "message":
            listing = False  # "Comments:" under "Listing Info:": the person's words again
        out.append((key, value))
    for i, (key, value) in enumerate(out):
        if field_of(key) != "address" or key in _OWN_ADDRESS or _OWN.match(key):
            continue
        j = i + 1
        while j < len(out) and out[j][0] in _ADDRESS_PARTS:
            j += 1
        before = out[i - 1][0] if i else ""
        after = out[j][0] if j < len(out) else ""
        if before in _LISTING_KEYS or after in _LISTING_KEYS:
            out[i] = ("property address", value)
    return out


@dataclasses.dataclass(frozen=True)
class _TextOnly:
    text: str
    html: str


def _set(ex: Extracted, name: str, value: str | None, conf: float) -> None:
    if value and getattr(ex, name) in (None, ""):
        setattr(ex, name, value)
        ex.confidence[name] = conf


_DIGIT_RUN = re.compile(r"\d{3}")
_EMAIL_IN = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,4}")
_US_TAIL = re.compile(r"^(.{4,80}?,\s*[A-Z]{2}\s+\d{5}(?:-\d{4})?)\b")


def _street_after(text: str) -> str | None:
    """The street address that follows a contact's phone on one line, through its ZIP."""
    for number in _HOUSE_NUMBER.finditer(text[:engine.LINE_MAX]):
        start = number.start()
        m = _US_TAIL.match(text[start:start + 120])
        if m and engine.street_of(m.group(1)):
            return m.group(1).strip()
        street = engine.street_of(text[start:])
        if street and "," in street:
            return street
    return None


_HOUSE_NUMBER = re.compile(r"(?<![\d-])\d{1,6} (?=[A-Z][a-z])")


def _said_again(word: str, mail: Mail) -> bool:
    """A lone first name a marketplace gives ("From: Ravi") that the notice names again (its
    subject, "respond to Ravi"): a person's, where "From: website" is no one's."""
    if not re.fullmatch(r"[A-ZÀ-Þ][^\W\d_]{1,30}", word) or word.lower() in _NOBODY:
        return False
    pattern = re.compile(rf"\b{re.escape(word)}\b")
    return bool(pattern.search(mail.subject)) or len(pattern.findall(mail.text[:6000])) >= 2
_CONTACT_SEP = re.compile(r"\s+[·|•]\s+|\s*,\s+|\s+[-–—]\s+|\s+/\s+")
_NOT_NAME_PART = re.compile(r"@|\d")


def apply_pairs(
    ex: Extracted, pairs: list[tuple[str, str]], mail: Mail, ctx: ParseContext, layout: Layout
) -> None:
    """Fill ex from labelled pairs, skipping anything that belongs to the agent or provider."""
    parts: list[str] = []
    prop_parts: list[str] = []  # City/State/ZIP rows right under a property's street row
    listing_parts: list[tuple[str, str]] = []  # "Property City", "property_zip"
    withheld: set[str] = set()  # identity fields labelled but left empty by the provider
    vehicle: dict[str, str] = {}  # a vehicle's year, make, model and trim rows
    price_key = ""  # the label the price was read under
    last_street: str | None = None
    first_identity = next((i for i, (k, _) in enumerate(pairs)
                           if field_of(k) in ("full_name", "first_name", "email", "phone")),
                          len(pairs))
    for index, (key, value) in enumerate(pairs):
        if key in layout.skip_labels:
            continue
        key = address_label(key)
        part = _VEHICLE_PART.match(key)
        if part and value.strip() and len(value) <= 30:
            vehicle.setdefault(part.group(1), value.strip())  # "Vehicle Year: 2019", "Make"
        if key in _TRIM_KEYS and ex.property_address and _VEHICLE.match(ex.property_address):
            if value.lower() not in ex.property_address.lower() and len(value) <= 30:
                ex.property_address = f"{ex.property_address} {value}"  # "Trim: Premium"
            continue
        if key.startswith("property ") and key[9:] in _ADDRESS_PARTS:
            listing_parts.append((key, value))  # "property_city=Seattle": the listing's
            continue
        if key in AGENT_LABELS:
            addrs = normalize.find_emails(value)
            if addrs:
                ex.agent_email = ex.agent_email or addrs[0].lower()
            name = re.sub(r"[(<].*$", "", value).strip()
            if name and "@" not in name:
                ex.custom_fields.setdefault("agent_name", name)
            continue
        target = next((f for f, labels in FIELD_LABELS.items() if key in labels), None)
        if (target is None and ex.price and _STICKER.search(price_key)
                and _deal_key(key) and (field_of(key) == "price"
                                                 or "price" in key.split())):
            target = "price"  # "MSRP: $32,615" then "TrueCar Price Offer: $30,870"
        if target == "address" and key not in _WHERE_THEY_LIVE and (
                layout.address_is_property or index < first_identity):
            # A bare "Address:" above the person's details is the listing's, not theirs.
            target = "property_address"
        if target == "full_name" and ex.first_name and not ex.last_name and " " not in value:
            target = "last_name"  # "Prénom: Camille" then "Nom: ROUSSEAU"
        if target in ("full_name", "first_name", "last_name"):
            name, addr = split_addr(value)
            if addr and not not_lead_email(addr, mail, ctx, layout.domains):
                _set(ex, "email", addr, 1.0)
            elif addr and key in _FROM_KEYS:
                continue  # "De: Imovirtual <noreply@imovirtual.com>": a provider's header
            # "Aroha Te Whata (aroha_tw)", "SSgt Marcus Bell (USAF, active duty)": a handle or
            # a note after the name
            name = re.sub(r"\s*\([^()]{1,60}\)\s*$", "", name) if name.endswith(")") else name
            at = _EMAIL_IN.search(name) if "@" in name and not addr else None
            if at and not _NOT_NAME_PART.search(name[:at.start()]):
                # "Customer: Wesley Harmon wes.harmon@example.com (254) 555-0166 1407 Lake Air
                # Dr Waco, TX 76710": the name, then the email, phone and address after it
                rest = name[at.end():]
                if not not_lead_email(at.group(0).lower(), mail, ctx, layout.domains):
                    _set(ex, "email", at.group(0).lower(), 0.95)
                street = _street_after(rest)
                if street:
                    _set(ex, "address", street, 0.8)
                    rest = rest[:rest.find(street)]  # the phone is before the street
                phones = phones_in(rest, ctx)
                if phones:
                    _set(ex, "phone", phones[0], 0.95)
                name = name[:at.start()].strip(" ,·|-–(")
            pieces = _CONTACT_SEP.split(name)
            if len(pieces) > 1 and not _NOT_NAME_PART.search(pieces[0]) and any(
                    _NOT_NAME_PART.search(p) for p in pieces[1:]):
                # "Contact: Nadia Petrova · nadia.petrova@example.com · (512) 555-0121"
                rest = " , ".join(pieces[1:])
                name = pieces[0].strip()
                found = normalize.find_emails(rest)
                if found and not not_lead_email(found[0], mail, ctx, layout.domains):
                    _set(ex, "email", found[0], 0.95)
                phones = phones_in(rest, ctx)
                if phones:
                    _set(ex, "phone", phones[0], 0.95)
            if key in _FROM_KEYS and not addr and (
                    " " not in name.strip()) and not _said_again(name.strip(), mail):
                continue  # "From: website" is no name; "From: Ravi" ("respond to Ravi") is
            if not not_lead_name(name, ctx):
                _set(ex, target, name, 1.0)
        elif target == "email":
            found = normalize.find_emails(value)
            if found and not not_lead_email(found[0], mail, ctx, layout.domains):
                _set(ex, "email", found[0], 1.0)
            elif not found:
                withheld.add("email")  # "Email: hidden - reply to this email"
        elif target == "phone":
            e164 = normalize.phone(value, ctx.default_region)
            if e164 and not not_lead_phone(e164, ctx):
                _set(ex, "phone", e164, 1.0)
            elif not re.search(r"\d{3}", value) and index >= first_identity - 1:
                withheld.add("phone")  # "Phone: --", "not provided": none to look for
        elif target == "message" and len(value) <= 40 and field_of(label_key(value)) not in (
                None, "message", "custom", "notes"):
            continue  # "Questions:" / "Phone number" / "+1 617 ...": the next row's label
        elif (target is None and key in _UNIT_KEYS and not ex.property_address
              and (named := _NAMED_VEHICLE.match(value.strip())) and named.group("year")):
            # "Unit: 2019 Harley-Davidson Street Glide Special": a dealer's unit is a vehicle
            _set(ex, "property_address", value.strip(), 1.0)
        elif target == "message" and _no_sentence(value) and engine.listing_context(value):
            # "Details: 4 beds, 2.75 baths, 2,310 sqft": the listing's, no one's words
            ex.custom_fields.setdefault("listing_details", value.strip())
        elif target == "message":
            if ex.message and (_is_choice(ex.message) and not _is_choice(value)
                               or _no_sentence(ex.message) and not _no_sentence(value)):
                # "How can we help?: Property management", then "Message:"; "Inquiry: 4012
                # Spicewood Springs Rd #7, ... - $435,000", then "Lead's message:"
                ex.message = None
            _set(ex, "message", message_block(mail.text, key) or value, 1.0)
        elif target == "price":
            if engine.price_value(value) is not None or _DIGIT_RUN.search(value):
                # as written: draft.build reads ranges and "465 000 €"; "Price Range: n/a"
                # gives none, and a later "List Price: $299,999" still can
                if ex.price and _STICKER.search(price_key) and _deal_key(key):
                    ex.price = None  # "MSRP: $32,615" then "TrueCar Price Offer: $30,870"
                if not ex.price:
                    price_key = key
                _set(ex, "price", value, 1.0)
        elif target in ("property_address", "address") and _SAME_AS.match(value):
            continue  # "Subject Property: Same as current address": the row above says where
        elif target in ("property_address", "address") and _YES_NO.match(value):
            # "I live at this address: Yes": an answer about the address, no address
            ex.custom_fields.setdefault("lives_at_address", value.strip())
        elif target in ("property_address", "address") and _HOME_KIND.match(value):
            # "Property: Single family home, owned": what kind of home, not where
            ex.custom_fields.setdefault("property_type", value)
        elif target in ("property_address", "address"):
            have = getattr(ex, target)
            if have and not engine.street_of(have) and (engine.street_of(value)
                                                        or engine.postal_line(value)
                                                        or engine.named_listing(value)):
                setattr(ex, target, None)  # "Property: 2 bed flat" then "Address: 41 Otley Rd"
            _set(ex, target, value, 1.0)
            last_street = target
        elif key in _ADDRESS_PARTS:
            # The parts belong to the street row above them: "property_address: 2914 Maple
            # Grove Rd" then "city: Durham", "state: NC", "zip: 27707".
            vehicle_row = bool(ex.property_address and _VEHICLE.match(ex.property_address))
            (prop_parts if last_street == "property_address" and not vehicle_row
             else parts).append(value)  # a vehicle has no ZIP: "ZIP: 78745" is the shopper's
        elif (target is None and len(value) >= 15 and value[:1] in "\"“«„" and not ex.message
              and key not in _CUSTOM_KNOWN and "search" not in key
              and field_of(key) not in ("notes", "agent")):
            # "Ana Lucía: "Hi, is this still available? ..."": a chat line, the person's words
            _set(ex, "message", value, 0.8)
        else:
            custom = next((c for c, labels in CUSTOM_LABELS.items() if key in labels), None) or (
                "notes" if engine.keyword_field(key) == "notes" else None)  # "Redfin agent notes"
            if custom == "notes":  # they span lines, as a message does
                notes = message_block(mail.text, key) or value
                ex.custom_fields.setdefault(custom, " ".join(notes.split()))
            elif custom:
                ex.custom_fields.setdefault(custom, value)
            elif layout.keep_unknown and not _NOT_CUSTOM.search(key) and not re.match(
                r"(?i)^(https?://|www\.)", value
            ):
                ex.custom_fields.setdefault(snake(key), value)
    have = str(ex.property_address or "")
    if {"year", "make", "model"} <= set(vehicle) and not (
            have and (is_vehicle(have) or engine.street_of(have))):
        # a vehicle given in parts: "Vehicle Year 2019" / "Make Honda" / "Model CR-V" / "Trim EX"
        # (over a heading's stray word: "Vehicle" / "Year" / "2019" is no vehicle "Year")
        _set(ex, "property_address", " ".join(
            vehicle[k] for k in ("year", "make", "model", "trim") if k in vehicle), 1.0)
    if listing_parts and ex.property_address and not _has_postcode(ex.property_address):
        ex.property_address = join_address([ex.property_address, *(v for _, v in listing_parts)])
    elif listing_parts and layout.keep_unknown:  # a town to buy in, no listing: kept as is
        for key, value in listing_parts:
            ex.custom_fields.setdefault(snake(key), value)
    if prop_parts and ex.property_address and not _has_postcode(ex.property_address):
        ex.property_address = join_address([ex.property_address, *prop_parts])
    elif prop_parts:
        parts = prop_parts + parts
    if withheld:
        ex.trace["withheld"] = sorted(withheld)
    if parts:
        if ex.address and not layout.address_is_property:
            ex.address = join_address([ex.address, *parts])
        elif not ex.address:
            _set(ex, "address", join_address(parts), 0.8)


_POSTCODE = re.compile(r"\d{4,5}(?:-\d{4})?\s*$|[A-Z]\d[A-Z] ?\d[A-Z]\d\s*$|"
                      r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\s*$|,\s*\d{4,5} [^\W\d_][^\d,]*$")


def _has_postcode(value: str) -> bool:
    """True when an address already ends in its city's postcode (US, CA, UK, EU styles); a
    street with no comma has no city yet."""
    return "," in value and bool(_POSTCODE.search(value[-60:]))


def join_address(parts: list[str]) -> str:
    """Address lines and City/State/ZIP as one line: "1 Main St, Austin, TX 78701"."""
    out: list[str] = []
    for part in (p.strip() for p in parts):
        if out and re.fullmatch(r"\d{5}(-\d{4})?", part) and re.search(r"\b[A-Z]{2}$", out[-1]):
            out[-1] = f"{out[-1]} {part}"  # the ZIP goes with the state, not after a comma
        elif part and not (out and not re.search(r"\d", part) and any(
                seg.lower() == part.lower() or seg.lower().startswith(part.lower() + " ")
                for seg in ", ".join(out).split(", ")[1:])):
            out.append(part)  # (a town given again after the whole address is left out)
    return ", ".join(out)


def parse_layout(mail: Mail, ctx: ParseContext, layout: Layout) -> Extracted:
    """Read a labelled provider notification: labels, then subject, Reply-To, free text."""
    ex = Extracted(parser=layout.parser, source=layout.source)
    pairs = all_pairs(mail)
    apply_pairs(ex, pairs, mail, ctx, layout)
    for pattern in layout.subjects:
        m = pattern.search(mail.subject)
        if m:
            groups = m.groupdict()
            name = _name_words(groups.get("name") or "")
            if name and not not_lead_name(name, ctx):
                if not (ex.full_name or ex.first_name):
                    _set(ex, "full_name", name, 0.9)
            prop = (groups.get("prop") or "").strip(" .")
            if re.search(r"\d", prop):  # a street's number: "Nguyen, Linh — Buyer in Boise,
                _set(ex, "property_address", prop, 0.9)  # ID" names no property
            break
    complete(ex, mail, ctx, layout)
    fill_identity(ex, mail, ctx, layout.domains, layout.skip_labels)
    kind = ex.custom_fields.get("inquiry_type")
    intent = form_intent(mail, pairs)
    if intent:
        ex.segment = None if intent[0] == "Customers" else intent[0]
        ex.trace["segment"] = {"won": intent[0], "why": intent[1]}
    else:
        ex.segment = (segment_hint(str(kind) if kind else None)
                      or segment_hint(mail.subject, ex.message,
                                      *(str(v).replace("_", " ")  # "seller_valuation_q4"
                                        for k, v in ex.custom_fields.items()
                                        if k in ("lead_form", "form", "campaign", "ad_group",
                                                 "utm_campaign", "form_name", "page")))
                      or layout.default_segment)
    if ex.segment == "Buyer" and not intent and is_rental(mail, ex):
        ex.segment = segment_hint(ex.message) if segment_hint(ex.message) == "Seller" else None
    if (intent and intent[0] == "Customers" and _KEPT_HOME.search(intent[1])
            and ex.property_address and not ex.address and not lives_elsewhere(ex)):
        # Insurance or a loan on a home the person keeps: the home is theirs too.
        _set(ex, "address", ex.property_address, 0.7)
    seller_home(ex, pairs)
    return ex


# A word stem each of SELLER's phrases holds: a line with none of them needs no search (a
# plain alternation of words is several times faster than SELLER's phrases).
_SELLER_STEM = re.compile(r"worth|valu|estimat|analysis|cma|sell|list|homeowner|offer|vend|"
                          r"verkauf|avalia|tasaci|bewert|trade")
_LABEL_AT_START = re.compile(r"(?m)^[ \t]*([^\W\d_][^:\n]{2,80}?)[ \t]*:")


# A service job's own rows: the person hires someone for work, they buy or sell nothing.
_JOB_LABELS = frozenset({"project type", "job type", "type of project", "type of job",
                         "service category", "job category", "project category"})


# A policy's own rows: no buyer is asked who insures them now.
POLICY_KEY = re.compile(r"(?i)(?:current |your )?(?:insurer|insurance carrier|carrier|"
                        r"currently insured|coverage(?: wanted| type| level| needed)?|"
                        r"policy(?: type| renewal| renewal date| number)?|deductible|"
                        r"current insurance)")
# The SELLER words a policy's form uses too ("Estimated home value", "Homeowners policy").
_VALUE_WORD = re.compile(r"home (?:valuation|value|estimate)|valuation|homeowner")


def policy_keyed(pairs: list[tuple[str, str]]) -> bool:
    """A row of the form's first 60 is a policy's own ("Current insurer", "Coverage wanted")."""
    return any(POLICY_KEY.search(k) for k, _ in pairs[:60])


_NO_ANSWER = re.compile(r"(?i)\s*(no|n/a|none|false|nope|not yet|non|nein|não|nao)\b")
_PERSON_FIELDS = frozenset({"full_name", "first_name", "last_name", "email", "phone"})


def form_intent(mail: Mail, pairs: list[tuple[str, str]]) -> tuple[str, str] | None:
    """(segment, why) when the form itself says what the person wants: the answer to an
    intent question, a label about the home to sell, a service form's title, or a seller
    heading at the top of the notification. None leaves it to the person's words."""
    for key, value in pairs:
        if key in INTENT_LABELS:
            for segment, pattern in _INTENT_VALUES:
                if pattern.search(value[:80]):
                    return segment, f"{key}: {value[:40]}"
    job = next((k for k, v in pairs if k in _JOB_LABELS and v.strip()), None)
    if job:
        return "Customers", f"a job's {job!r}"  # "Project type: Interior Design": a service
    # A label about the home to sell ("Address of the property you'd like to sell"), as the
    # form spells it (a pair's key is already the field it asks for), or a seller heading
    # above the labels ("New seller referral"): one search over both.
    kept = strip_footer(mail.text[:6000])
    head: list[str] = []
    for line in kept[:1500].split("\n"):
        if ":" in line or len(head) >= 8:
            break  # the labels begin: the heading is above them
        if line.strip() and len(line) <= 100:
            head.append(line)
    # A label is the form's word on what the person wants, unless it is the person's own row
    # ("Homeowner: Hana Kobayashi") or a question they answered no ("Do you need to sell a
    # home first?: No").
    said_no = {k for k, v in pairs if _NO_ANSWER.match(v[:20])}
    labels = [*(k[:80] for k, _ in pairs
                if k not in said_no and field_of(k) not in _PERSON_FIELDS),
              *(m.group(1) for m in _LABEL_AT_START.finditer(kept)
                if label_key(m.group(1)) not in said_no
                and field_of(label_key(m.group(1))) not in _PERSON_FIELDS)]
    hits = [x for x in "\n".join([*labels, *head]).lower().split("\n") if _SELLER_STEM.search(x)]
    seller = SELLER.search("\n".join(hits)) if hits else None
    if seller and not (policy_keyed(pairs) and _VALUE_WORD.fullmatch(seller.group(0).lower())):
        # ("Estimated home value" on a home-insurance quote is the policy's, not a seller's)
        return "Seller", f"a label or heading saying {seller.group(0)!r}"
    title = "\n".join([mail.subject, *(v[:80] for k, v in pairs if k in ("form", "lead form"))])
    if _SERVICE_FORM.search(title):
        return "Customers", f"a service form's title {title[:60]!r}"
    return None


_RENTAL = Folded(
    r"\b(for rent|to rent|rentals?|renters?|tenants?|leasing|lettings?|to let|per month|pcm|"
    r"move-?in date|move date|lease length|à louer|alquiler|se alquila|aluguel|zu vermieten|"
    r"mietwohnung|affitto|arrendar|arrendamento|para alugar|te huur|huurwoning|per week|"
    r"(kalt|warm)?miete|en renta|loyer|monthly (budget|rent)|(rent|rental) budget|max rent|"
    r"desired rent)\b|"
    r"\d(?:\s?[a-z€$£]{1,3})?\s?/\s?(?:mo|month|mes|mois|monat|week|wk)\b")
# A listing for rent named in the person's own words (not "we are renting now").
_FOR_RENT = Folded(r"\b(for rent|for lease|to let|en renta|en alquiler|se alquila|se renta|"
                   r"para rentar|à louer|a louer|zu vermieten|in affitto|para alugar|te huur)\b")
_FEE = re.compile(r"(?i)\b(hoa|fee|fees|dues|parking|utilities)\b")


def is_rental(mail: Mail, ex: Extracted) -> bool:
    """A rental inquiry (the listing is for rent, not the person's words about renting now):
    a renter is a customer, not a buyer."""
    return _rental_text(mail.subject, mail.from_name, strip_footer(mail.text)[:4000],
                        ex.message or "")


@lru_cache(maxsize=8)  # the reader and the registry ask about the same mail
def _rental_text(subject: str, from_name: str, kept: str, message: str) -> bool:
    if _FOR_RENT.search(message[:4000]):
        return True  # "Me interesa el departamento en renta": the person asks about a rental
    whole = "\n".join([subject, from_name, kept])
    if "/" not in whole and not _RENTAL.search(whole):
        return False  # leaving lines out below joins no words into a match ("/mo" aside)
    probes = [p.strip()[:40] for p in message.split("\n") if len(p.strip()) > 8]
    lines = [ln for ln in kept.split("\n")
             if ln.strip() and not _FEE.search(ln) and not any(p in ln for p in probes)]
    head = "\n".join([subject, from_name, *lines])
    return bool(_RENTAL.search(head))


def _text_line_of(lines: list[str], value: str) -> int | None:
    """The index of the line that holds `value` (or its start)."""
    probe = value.split("\n")[0].strip()[:60]
    if not probe:
        return None
    return next((i for i, line in enumerate(lines) if probe in line), None)


def _squashed(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def _sender_line(line: str, mail: Mail) -> bool:
    """True when a line's first part (before "|" or "·") is the sender's name: its display
    name or its first word ("Clever Real Estate", "BoomTown"), or its domain's name."""
    line = line[:engine.LINE_MAX]
    head = _squashed(engine.SEGMENT.split(line.strip(), maxsplit=1)[0])
    if len(head) < 3 or head[0].isdigit() or len(head) > 40 or head == line.strip():
        return False
    name = mail.from_name or ""
    stems = {_squashed(name), _squashed(name.split(" ")[0]),
             domain_of(mail.from_addr).split(".")[-2] if "." in domain_of(mail.from_addr) else ""}
    return any(len(s) >= 3 and (head == s or (len(head) >= 4 and s.startswith(head)))
               for s in stems)


def _staff_above(lines: list[str], at: int, mail: Mail) -> bool:
    """True when the line above a street is a staff contact line at the sender's own domain
    ("Brian Keogh | Cartus | (203) 555-0161 | brian.keogh@cartus.com"): its office."""
    dom = domain_of(mail.from_addr)
    if not dom or at == 0 or dom in FREEMAIL:
        return False
    above = lines[at - 1][:engine.LINE_MAX].lower()
    return f"@{dom}" in above or any(f"@{d}" in above for d in _parent_domains(dom))


def _parent_domains(dom: str) -> list[str]:
    """"mail.zumper.com" -> ["zumper.com"]: the sender's organisation's own domain."""
    parts = dom.split(".")
    return [".".join(parts[i:]) for i in range(1, len(parts) - 1)]


# An ad platform's or a form's own name for where the lead came from (a portal's "Ad:" is its
# listing, so not that one).
_FORM_KEYS = frozenset({"form", "form name", "lead form", "page", "campaign", "campaign name",
                        "ad set", "adset", "zap"})


def complete(ex: Extracted, mail: Mail, ctx: ParseContext, layout: Layout) -> None:
    """The generic engine's pass over what the labels left: a price from the listing line, the
    property's full street address from the body (beating a shortened subject or label), the
    person's message as a quoted paragraph. Each winner and its rivals go to the trace."""
    lines = [line[:engine.LINE_MAX] for line in mail.text.split("\n")]
    footer_at = engine.footer_start(lines)
    trace: dict = {}
    if not ex.price:
        cands = engine.price_candidates(lines, footer_at, free_text=False)
        win = engine.best(cands)
        if win:
            _set(ex, "price", win.value, min(1.0, win.score))
            trace["price"] = {"won": win.why(), "candidates": len(cands)}
    skip: set[int] = set()
    if ex.address:
        at = _text_line_of(lines, ex.address)
        if at is not None:
            skip |= {at, at + 1}
    for i, line in enumerate(lines[:footer_at]):
        m = _LABEL.match(line)
        if not m:
            continue
        key = label_key(m.group(1))
        named = field_of(key)
        # An agent's row; the person's own address row, unless the layout's address is the
        # listing's; a form's own name ("Form: Spring 2025 Buyer Guide - Austin"): no listing.
        if named == "agent" or key in _FORM_KEYS or (
                named in ("address", "address_part") and not layout.address_is_property):
            skip.add(i)
    cands = engine.address_candidates(lines, footer_at, skip)
    brand = (ex.source or layout.source or "").lower()
    if brand and brand not in ("website", "direct", "idx"):
        # "idealista - Plaza de las Cortes 2, Madrid": the provider's own office, not a listing
        # ("An Estately user wants to learn more about 9921 N Oak St, ...": a sentence about
        # the listing that names the provider is no office line)
        cands = [c for c in cands if brand not in lines[c.line].lower()
                 or engine.led_in(lines[c.line])]
    # "BoomTown | 1040 Morrison Dr, ...", "Rent. · 950 East Paces Ferry Rd NE": a line that
    # opens with the sender's own name is its office, whatever reader took the mail.
    cands = [c for c in cands if not _sender_line(lines[c.line], mail)
             and not _staff_above(lines, c.line, mail)
             # "Unit: 2022 Harley-Davidson Street Glide Special": a vehicle, not a street
             and not _NAMED_VEHICLE.match(lines[c.line].split(":", 1)[-1].strip())]
    have = ex.property_address
    if have and not engine.street_of(have) and not _VEHICLE.match(have) and not (
            is_vehicle(_VEHICLE_CONDITION.sub("", have[:engine.LINE_MAX]))) and (
            win := engine.best(cands)):
        # A label's value that is no street ("2 bed terraced house to rent"): the body's street
        # address is the property.
        ex.property_address = win.value
        trace["property_address"] = {"won": win.why(), "replaced": have}
    elif have:
        # The labelled value continued on the next line ("Address: 6045 S Elm Ct" /
        # "Centennial, CO 80121"), or the same street given in full in the body.
        longer = [c for c in cands if engine.same_street(have, c.value)]
        win = engine.best(longer)
        if win and "," in win.value and win.value.count(",") > have.count(","):
            ex.property_address = win.value
            trace["property_address"] = {"won": win.why(), "replaced": have}
    elif cands and not (ex.address and layout.address_is_property is False and not cands):
        ranked = [c for c in cands if not (ex.address and engine.same_street(c.value, ex.address)
                                           or ex.address == c.value)]
        win = engine.best(ranked)
        if win:
            win = engine.fuller(win, ranked)
            _set(ex, "property_address", win.value, min(1.0, win.score))
            trace["property_address"] = {"won": win.why(), "candidates": len(ranked)}
    if not ex.property_address:
        # A vehicle on a line of its own, or after the subject's colon: "2020 Subaru Outback
        # Premium" under "VEHICLE", "New Trade-In Inquiry: 2018 Honda CR-V EX-L".
        parts = re.split(r"[:\-–] ", mail.subject[:200])[::-1]  # the subject's parts, last first
        for line in [*parts, *lines[:min(footer_at, 80)]]:
            m = _VEHICLE_LINE.match(line)
            if m:
                _set(ex, "property_address", m.group(1).strip(), 0.6)
                if m.group("price"):
                    _set(ex, "price", m.group("price"), 0.6)
                trace["property_address"] = {"won": {"kind": "vehicle_line", "value": m.group(1)}}
                break
    if not ex.property_address and _VEHICLE_WORDS.search(
            f"{mail.subject}\n{mail.from_name}\n" + "\n".join(lines[:min(footer_at, 80)])):
        # A make the list does not know, in a vehicle's, boat's or RV's notice: "2019 Boston
        # Whaler 230 Outrage" on a line of its own or ending the subject ("New inquiry on your
        # 2019 Boston Whaler 230 Outrage", "New lead for 2021 Grand Design Imagine 2500RL").
        for line in [mail.subject[:200], *lines[:min(footer_at, 80)]]:
            m = _ANY_VEHICLE.search(line[:engine.LINE_MAX])
            if m:
                _set(ex, "property_address", m.group(1).strip(), 0.5)
                trace["property_address"] = {"won": {"kind": "vehicle_line", "value": m.group(1)}}
                break
    if ex.property_address:
        value = ex.property_address
        head = engine.SEGMENT.split(value)[0]
        if head != value and engine.street_of(head):
            ex.property_address = head  # "12/45 Bondi Rd, Bondi NSW 2026 · 2 bed apartment"
        elif not engine.street_of(value) and (after := _AFTER_ID.match(value)) and \
                engine.street_of(after.group(1)):
            ex.property_address = after.group(1)  # "MLS# A11567890 – 2600 Bayshore Dr #1802"
        elif (named := engine.named_listing(value)) is not None:
            ex.property_address = named  # "Eastside Flats, 1401 E 6th St, Austin, TX 78702"
        elif (titled := engine.after_listing_title(value)) is not None:
            ex.property_address = titled  # "2 bed flat to rent – Abbeville Road, London ..."
    if ex.property_address:
        # "Listing: 1607 Juniper Ct, Boise, ID 83702 - $489,900": the price is no part of
        # the address; it is the listing's price.
        cut = _PRICE_TAIL.search(ex.property_address[:engine.LINE_MAX])
        if cut and cut.start() > 8:
            if not ex.price:
                _set(ex, "price", cut.group(1).strip(), 0.9)
            ex.property_address = ex.property_address[:cut.start()].strip()
    if ex.property_address:
        ex.property_address = _tidy_listing(ex.property_address, ex)
        at = _text_line_of(lines, ex.property_address)
        if at is not None and _OWNER_OCCUPIED.search(lines[at]):
            # "1739 Bay Ridge Ave, Annapolis, MD 21403 (owner-occupied)": kept where
            # lives_there() reads it
            ex.custom_fields.setdefault("owner_occupied", "yes")
    for name in ("address", "property_address"):
        # A labelled street whose "City, ST ZIP" is on the next line ("Listing: 245 East 72nd
        # Street, Unit 9C" / "New York, NY 10021").
        value = getattr(ex, name)
        if not value or _has_postcode(value) or (name == "address" and layout.address_is_property):
            continue
        at = _text_line_of(lines, value)
        nxt = at + 1 if at is not None else len(lines)
        while nxt < len(lines) and not lines[nxt].strip() and nxt - (at or 0) <= 2:
            nxt += 1  # "250 W 89th St #7C" / "" / "New York, NY 10024"
        below = engine.SEGMENT.split(lines[nxt].strip())[0] if nxt < len(lines) else ""
        if below and engine.city_line(below) and below not in value:
            setattr(ex, name, f"{value}, {below}")
        elif at is not None and (rows := engine.address_rows(lines, at + 1, field_of)):
            setattr(ex, name, join_address([value, *rows]))  # "Bristol" / "BS7 8AB"
    if not ex.message and (relayed := _after_sent_message(lines, footer_at)):
        # "Kenji sent you a message" / "" / "Do you have any ...": the relay's words for it, then
        # the person's (past any rows of the layout set between them)
        _set(ex, "message", relayed, 0.7)
        trace["message"] = {"won": {"kind": "after_sent_message"}}
    if not ex.message:
        win = engine.quoted_message(lines, footer_at) or engine.human_paragraph(lines, footer_at)
        if win:
            _set(ex, "message", win.value, 0.8 if win.kind == "quoted" else 0.6)
            trace["message"] = {"won": win.why()}
    if ex.message and "\n" in ex.message:
        # "... What utilities are included?" / "" / "Rent. | Redfin Rentals · 950 East ...":
        # the sender's own line ends the person's words
        kept = ex.message.split("\n")[:200]
        end = next((k for k, ln in enumerate(kept) if k and _sender_line(ln, mail)), None)
        if end is not None:
            ex.message = "\n".join(kept[:end]).strip() or ex.message
    if ex.message and "\n" in ex.message:
        # "Casa en renta · 3 rec" / "$2,100/mes" / "5120 Cameron Rd" / "\"Hola, ...\"": the
        # listing's lines run into the message, then the person's words in quotation marks
        words = ex.message.split("\n")[:60]
        quoted = engine.quoted_message(words, len(words))
        if quoted and quoted.line and any(
                engine.street_of(w.strip()) or engine.amounts(w) for w in words[:quoted.line]):
            ex.message = quoted.value
    if ex.message:
        ex.message = None if engine.is_placeholder(ex.message) else (
            engine.tidy_message(ex.message) or None)
    if ex.message and not ex.price:
        # "pre-approved up to $485,000", "homes under $800k": a budget in the person's words
        words = ex.message.split("\n")[:60]
        win = engine.best(engine.price_candidates(words, len(words), free_text=True))
        if win and win.kind == "free_text":
            _set(ex, "price", win.value, min(0.6, win.score))
            trace["price"] = {"won": win.why(), "in": "message"}
    if trace:
        ex.trace.update(trace)


_SENT_MESSAGE = re.compile(r"(?i)\bsent (?:you )?(?:a )?(?:new )?message\s*[:.!]?\s*$")


def _is_row(line: str) -> bool:
    """A layout's "Label: value" row, not a sentence with a colon in it ("We're looking to
    fully remodel a 1990s kitchen: new cabinets, ...")."""
    m = _LABEL.match(line)
    return m is not None and len(m.group(1).split()) <= 5 and not engine.first_person(m.group(1))


def _after_sent_message(lines: list[str], footer_at: int) -> str | None:
    """The paragraphs under a relay's "X sent you a message" line, skipping the layout's rows
    ("Project type: ... · Location: ..."), up to the notification's own lines."""
    at = next((i for i, ln in enumerate(lines[:min(footer_at, 60)])
               if _SENT_MESSAGE.search(ln[:200])), None)
    if at is None:
        return None
    j = at + 1
    while j < min(footer_at, at + 40):
        line = lines[j].strip()[:engine.LINE_MAX]
        if line and not (_is_row(line) or engine.SEGMENT.search(line)
                         or engine.street_in(line) or engine.street_of(line)):
            break  # past the layout's rows and the listing's lines
        j += 1
    body = "\n".join(lines[j:footer_at][:120]).strip()
    if not body:
        return None
    value = engine.tidy_message(body)
    return value if len(value) >= 10 else None


_NOT_THEIR_HOME = re.compile(
    r"(?i)\b(?:rental (?:property|condo|home|house|unit|i own)|(?:our|my) rental\b|tenants?\b|"
    r"vacant\b|(?:my|our) (?:late )?(?:mother|father|parents|mom|dad|grandmother|"
    r"grandfather)'?s? (?:house|home|place)|i live (?:up |down |out |over )?in\b|"
    r"investment property|not (?:my|our) (?:primary|main) (?:residence|home))")
_LIVES_THERE = re.compile(r"(?i)primary residence|lives? (?:in|at) (?:the |this )?(?:home|house|"
                          r"property|address|residence)|owner occupied|occupied by|currently live|"
                          r"same as property")


def lives_elsewhere(ex: Extracted) -> bool:
    """True when the person says the home they sell is not where they live ("it's a rental I
    own", "Do you live in this home? No")."""
    if _NOT_THEIR_HOME.search((ex.message or "")[:4000]):
        return True
    for key, value in ex.custom_fields.items():
        text = str(value)[:200]
        if _LIVES_THERE.search(key.replace("_", " ")) and re.match(r"(?i)\s*no\b", text):
            return True
        if _NOT_THEIR_HOME.search(text):
            return True
    return False


def lives_there(ex: Extracted, pairs: list[tuple[str, str]] | None = None) -> bool:
    """True when the person says they live in the home they sell ("Owner occupied: Yes")."""
    for key, value in [*ex.custom_fields.items(), *(pairs or [])]:
        if _LIVES_THERE.search(key.replace("_", " ")) and re.match(r"(?i)\s*(yes|y|true)\b",
                                                                   str(value)[:20]):
            return True
    return bool(_LIVES_HERE.search((ex.message or "")[:4000]))


# The person's own words that they live in the home they write about, in a few languages.
_LIVES_HERE = re.compile(
    r"(?i)\b(we|i) (currently |still )?live (in|at) (the|this|our|my) (home|house|condo|place)|"
    r"\b(we|i) (still |currently )?live (there|here|in it)\b|"
    r"\b(we|i)(?:'ve| have) (?:lived|owned) (?:at|in) (?:\d|the|this|our|my)|"
    r"\b(we|i)(?:'ve|’ve| have) (?:lived|been living) (?:here|there)\b|"
    r"\b(our|my) (current )?home\b|\bwhat ours\b|"
    r"\b(nous habitons|j'habite|j’habite|vivimos en|vivo en|wir wohnen|ich wohne|moramos|"
    r"moro|abitiamo|abito)\b")


def seller_home(ex: Extracted, pairs: list[tuple[str, str]] | None = None) -> None:
    """A seller asks about their own home: it is the property, and their address only where
    the mail says they live there; one they say they live elsewhere from is the property."""
    if ex.segment != "Seller":
        return
    if lives_elsewhere(ex):  # the home they sell is the property; where they live is unknown
        if ex.address and ex.address == ex.property_address:
            ex.address = None
        elif ex.address and not ex.property_address:
            ex.property_address, ex.address = ex.address, None
        return
    # The home to sell is the property. It is the person's address only where the mail gives
    # it as theirs ("Address:" on a valuation form, "Do you live in this home? Yes").
    if ex.address and not ex.property_address:
        _set(ex, "property_address", ex.address, 0.8)
    elif ex.property_address and not ex.address and lives_there(ex, pairs):
        _set(ex, "address", ex.property_address, 0.8)


def without_relayed_business(text: str, mail: Mail) -> str:
    """The text without the lines that name the business a relay writes for ("Marco Bianchi
    via Cedar Park Property Management"): "Cedar Park Property Management - (512) 555-0107"
    is its own phone, not the person's."""
    business = (engine.relayed_by(mail.from_name) or "").lower()
    if not 4 <= len(business) <= 81:
        return text
    return "\n".join(ln for ln in text.split("\n") if business not in ln.lower())


def without_own_office(text: str, mail: Mail) -> str:
    """The text without the sender's own office line ("Autolist · 2 Embarcadero Center, ... ·
    dealer support (415) 555-0129"): its phone is the notifier's, not the person's."""
    brand = (mail.from_name or "").strip().lower()
    if len(brand) < 3:
        return text
    return "\n".join(ln for ln in text.split("\n")
                     if not (ln.strip().lower().startswith(brand)
                             and engine.office_line(ln[:engine.LINE_MAX])))


def fill_identity(
    ex: Extracted,
    mail: Mail,
    ctx: ParseContext,
    domains: tuple[str, ...],
    skip_labels: frozenset[str] = frozenset(),
) -> None:
    """Fill missing name/email/phone from Reply-To, then the From (if a person), then the body
    (less the lines labelled as the agent's or the provider staff's)."""
    name, addr = reply_to_identity(mail, ctx, domains)
    _set(ex, "email", addr, 0.9)
    if not (ex.full_name or ex.first_name):
        _set(ex, "full_name", name, 0.8)
    if not not_lead_email(mail.from_addr, mail, ctx, domains):
        _set(ex, "email", mail.from_addr, 0.8)
        if not (ex.full_name or ex.first_name) and not not_lead_name(mail.from_name, ctx):
            _set(ex, "full_name", mail.from_name or None, 0.7)
    greeted = _greeted(mail.text)
    body = "\n".join(
        line for line in strip_footer(mail.text).split("\n")
        if not ((m := _LABEL.match(line)) and label_key(m.group(1)) in skip_labels | AGENT_LABELS)
        and not (greeted and greeted in line and not _GREETING_LINE.match(line))
    )
    reach = without_own_office(without_relayed_business(body, mail), mail)
    if not (ex.full_name or ex.first_name or ex.last_name):
        found_name = named_in(mail.subject, body, ctx)
        if found_name:
            _set(ex, "full_name", found_name, 0.7)
    elif ex.full_name and " " not in ex.full_name.strip() and not (ex.first_name or ex.last_name):
        # A relay's first name ("Chelsea via Yelp") where the notice names them in full
        # ("Chelsea Whitaker sent a Request a Quote"): the full name.
        found_name = named_in(mail.subject, body, ctx)
        if found_name and found_name.split()[0].lower() == ex.full_name.strip().lower():
            ex.full_name = found_name
    withheld = ex.trace.get("withheld", ())
    if not ex.email and "email" not in withheld:
        found = emails_in(reach, mail, ctx, domains)
        _set(ex, "email", found[0] if found else None, 0.6)
    if not ex.phone and "phone" not in withheld:
        found = phones_in(reach, ctx)
        _set(ex, "phone", found[0] if found else None, 0.6)


_NAME_WORDS = r"[A-ZÀ-Þ][\w'’.-]*(?: (?:de |da |van |von |del |di )?[A-ZÀ-Þ][\w'’.-]*){1,3}"
# What a notification says the person did: "Wendell Obi sent you a message", "... asked
# about your listing", "... wants House Cleaning" (the verbs of a relay's sentence about them).
_DID = (
    r"(?i:sent (?:you |your (?:business|company|page|shop|team|store) )?an? (?:new )?(?:message|"
    r"request a quote|quote request|quote|request|inquiry|enquiry)|is interested in|"
    r"sent (?-i:[A-ZÀ-Þ][\w&'’.-]*)(?: [\w&'’.-]+){0,5} an? message|"
    r"selected you|chose you|picked you|hired you|"
    r"is (?:shopping|selling|buying|moving|relocating|ready to)|"
    r"te envió un mensaje|le envió un mensaje|vous a envoyé un message|vous a écrit|"
    r"ti ha inviato un messaggio|enviou uma mensagem|hat (?:Ihnen|dir) (?:eine Nachricht|"
    r"geschrieben)|heeft je een bericht gestuurd|est intéressée? par|está interesad[oa] en|"
    # answered the agent's advert, in the portals' languages
    r"har svarat på din annons|har svarat på annonsen|har skickat ett meddelande|"
    r"har svart på annonsen din|har svaret på din annonce|hat auf Ihre Anzeige geantwortet|"
    r"a répondu à votre annonce|ha risposto al tuo annuncio|ha respondido a tu anuncio|"
    r"respondeu ao seu anúncio|heeft gereageerd op (?:je|uw) advertentie|"
    r"odpowiedział[a]? na (?:twoje|Twoje) ogłoszenie|replied to your (?:ad|listing|post)|"
    r"wants to (?:see|tour|know|buy|rent|sell|connect)|requested (?:a|an|more|to)|has requested|"
    r"wants (?:your|some) help|needs (?:your|some) help|"
    # "Priya wants House Cleaning": the service they want, as the relay titles it
    r"wants (?-i:[A-ZÀ-Þ][a-zà-ÿ]+)|"
    r"sent you a (?:request|quote request|message request|project)|"
    r"would like to|would like (?:more )?(?:information|info|details)|asked about|"
    r"asked a question|has a question|has contacted you|"
    r"contacted you|wrote|says:|enquired|inquired|is looking for|requested info\w*|"
    # the general shape: the name, then what they did ("Priya Raman is asking about ...",
    # "Sara Al Qasimi has shown interest in ...", "Kevin Marlowe (kevin@..., 512-...) was
    # chatting with ...")
    r"wants? an? (?:quote|estimate|price|callback|call back|consultation)|"
    r"(?:\([^()]{3,80}\) )?(?:is|has|was|just) (?:asking|shown|looking|interested|"
    r"requested|submitted|scheduled|booked|sent|chatting|inquiring|enquiring|viewing|"
    r"registered|signed|contacted|searching|requesting|been matched)|"
    r"(?:\([^()]{3,80}\) )?(?:asked|requested|submitted|scheduled|booked|replied|responded|"
    r"registered|signed up|messaged|texted|called|left (?:a|you) (?:message|voicemail)))"
)
# A notification's sentence about the person: "Wendell Obi sent you a message", "New lead
# from Homesnap: Wendell Obi", "Message from Jalen Whitaker".
_NAME_PHRASE = re.compile(
    # ("Homeowner Victor Almeida selected you": the person's role before the name)
    rf"^\s*(?:(?:Homeowner|Buyer|Seller|Client|Customer|Renter|Tenant|Lead|Shopper) )?"
    rf"(?P<a>{_NAME_WORDS}) "
    # "Tomás Herrera from Mueller sent a message", "Tom Becker · Crestview sent ...": the
    # neighbourhood a network shows
    rf"(?:(?:from|·) [A-ZÀ-Þ][\w'’-]*(?: [A-ZÀ-Þ][\w'’-]*){{0,2}} )?"
    rf"{_DID}\b|"
    # "Great news - you've got Oliver Pemberton's contact details"
    rf"(?P<c>{_NAME_WORDS})['’]s (?i:contact details|contact info(?:rmation)?|details|"
    rf"phone number|request|enquiry|inquiry)\b|"
    rf"\b(?i:lead|inquiry|enquiry|message|request|quote|contact) (?i:from) "
    rf"(?:[\w.&'-]+(?: [\w.&'-]+)?: )?(?P<b>{_NAME_WORDS})"
    rf"(?: (?i:for|about|re|on) [^,]{{2,60}})?\s*$")
# A relay's sentence naming a person by one name: "Kenji sent you a message", "New message
# from Kenji" (a chat or a map listing shows first names only).
_ONE_NAME_PHRASE = re.compile(
    r"^\s*([A-ZÀ-Þ][^\W\d_]{1,30})(?: from [A-ZÀ-Þ][\w'’-]*(?: [A-ZÀ-Þ][\w'’-]*){0,2})? "
    r"(?i:sent you an? (?:new )?(?:message|request|quote request|request a quote|project)|"
    r"sent a message|"
    r"wants an? (?:quote|estimate)|wants (?-i:[A-ZÀ-Þ][a-zà-ÿ]+)|asked about|asked a question|"
    r"has a question|(?:is|was) (?:asking|inquiring|enquiring)|"
    r"requested an? (?:quote|estimate|call|callback)|"
    r"is interested in|wants to (?:see|tour|know|buy|rent)|is looking (?:for|to)|"
    r"replied to your|responded to your|needs an? |"
    r"vous a envoyé un message|te ha enviado un mensaje|le ha enviado un mensaje|"
    r"ti ha inviato un messaggio|hat (?:Ihnen|dir) eine Nachricht gesendet|"
    r"enviou uma mensagem)\b|"
    r"^\s*(?i:(?:new )?(?:message|inquiry|enquiry|chat|request a quote|quote request) from) "
    r"([A-ZÀ-Þ][^\W\d_]{1,30})\s*$")
_PARTICLES = frozenset({"de", "da", "das", "do", "dos", "del", "della", "di", "du", "van", "von",
                        "der", "den", "la", "le", "bin", "al", "y", "e"})


def _name_words(text: str) -> str:
    """A subject's name without the words after it: "Lauren Whitfield wants to connect" is
    "Lauren Whitfield" (a name's words are capitalised, but for its particles)."""
    words = text.strip().split()
    for i, word in enumerate(words):
        if i and word[:1].islower() and word not in _PARTICLES:
            return " ".join(words[:i])
    return " ".join(words)


_NOBODY = frozenset({"someone", "somebody", "customer", "user", "visitor", "guest", "a",
                     "anonymous", "unknown", "google", "facebook", "you"})
# A contact block with no labels: the name on its own line above a phone or email line.
_CONTACT_LINE = re.compile(r"(?i)^\s*(?:phone|tel|telephone|mobile|cell|e-?mail)\b|"
                           # "(619) 555-0112 · elaine.foster@example.com"
                           r"^\s*[+(]?\d[\d ().-]{8,}\d\s*(?:$|[·|/,]\s*\S+@)|"
                           r"^\s*\S+@\S+\.\w+\s*$")
_BARE_NAME = re.compile(rf"^\s*({_NAME_WORDS})\s*$")


_GREETING_LINE = re.compile(r"(?i)^\s*(?:dear|hi|hello|hey|good (?:morning|afternoon|evening)|"
                            r"congratulations|great news|bonjour|hola|hallo|ciao|olá)\b[ ,!]*"
                            r"(?P<name>[A-ZÀ-Þ][\w'’.-]*(?: [A-ZÀ-Þ][\w'’.-]*){0,2})\s*[,!:.]")


def _greeted(text: str) -> str | None:
    """The agent a notification greets ("Dear Omar Haddad,", "Hi Monica,"): a line of the
    body that names them ("Monica Alvarez | Keller Williams | (608) 555-0106") is theirs."""
    for line in text.split("\n")[:12]:
        m = _GREETING_LINE.match(line[:120])
        if m and m.group("name").lower() not in _NOBODY | {"there", "team", "all"}:
            return m.group("name")
    return None


def named_in(subject: str, body: str, ctx: ParseContext) -> str | None:
    """The person a notification names without a label: in a sentence about them (subject or
    body), or as a contact block's first line. None when nothing names a person."""
    lines = body.split("\n")[:80]
    names = []
    single = []
    for line in [*lines, subject]:
        m = _NAME_PHRASE.search(line[:200])
        if m:
            name = (m.group("a") or m.group("b") or m.group("c") or "").strip(" .")
            if _person_name(name, ctx):
                names.append(name)
            continue
        m = _ONE_NAME_PHRASE.search(line[:200])
        one = (m.group(1) or m.group(2)) if m else ""
        if one and not _NOT_A_NAME.search(one) and one.lower() not in _NOBODY \
                and not not_lead_name(one, ctx):
            single.append(one)  # "Kenji sent you a message": a first name only
    if not names and single:
        return single[0]
    if names:  # the fullest spelling: "Ana Lucía Ferreira" in the body, "Ana Lucía" in the subject
        return max(names, key=lambda n: (len(n.split()), -names.index(n)))
    for i, line in enumerate(lines[:-1]):
        m = _BARE_NAME.match(line)
        below = next((x for x in lines[i + 1:i + 3] if x.strip()), "")
        if m and _CONTACT_LINE.match(below) and _person_name(m.group(1), ctx):
            return m.group(1).strip()
        if (m and below and engine.street_of(below) == below.strip()
                and any(_CONTACT_LINE.match(x) for x in lines[i + 2:i + 5])
                and _person_name(m.group(1), ctx)):
            return m.group(1).strip()  # "Robert Halvorsen" / "1907 Kenwood Ave" / ... / "Phone:"
        parts = engine.SEGMENT.split(line.strip()[:200], maxsplit=1)
        if len(parts) == 2 and (m := _BARE_NAME.match(parts[0])) and _CONTACT_LINE.match(
                parts[1]) and _person_name(m.group(1), ctx):
            return m.group(1).strip()  # "Valeria Montoya · +1 786-555-0123"
    for line in [subject, *lines[:20]]:
        m = _LEAD_HEADING.search(line[:200])
        if m and _person_name(m.group(1), ctx):
            return m.group(1).strip()  # "New Lead: Priya Raghunathan (Seller)"
    return None


# A notification's heading naming the lead: "New Lead: Priya Raghunathan (Seller)", "New auto
# insurance lead: Marcus Oyelaran (Austin, TX)".
_LEAD_HEADING = re.compile(
    rf"(?i:\b(?:new )?(?:[a-z]+ ){{0,3}}(?:lead|connection|referral|prospect))\s*[:–—-]\s*"
    rf"({_NAME_WORDS})"
    rf"\s*(?:\([^()]{{1,40}}\))?"
    # "New Lead: Ashley Romero - Property Inquiry": what the lead asked for, after a dash
    rf"(?:\s[-–—|]\s[^\n]{{1,40}})?\s*$")


_NOT_A_NAME = re.compile(r"(?i)\b(lead|leads|new|team|realty|group|homes?|inc|llc|messages?|"
                         r"notifications?|support|services|"
                         r"request|reply|inquiry|enquiry|contact|details|information|agent|"
                         r"property|listing|phone|email|the|you|your|"
                         # a job's words ("New Request a Quote from Marisol: Garage Door Repair")
                         r"repairs?|cleaning|installation|replacement|removal|moving|painting|"
                         r"plumbing|roofing|landscaping|remodel\w*|inspection|estimate|quote|"
                         r"garage|door|doors|windows?|gutters?|hvac)\b")


def _person_name(name: str, ctx: ParseContext) -> bool:
    words = name.split()
    return (2 <= len(words) <= 4 and not _NOT_A_NAME.search(name)
            and not not_lead_name(name, ctx))


@lru_cache(maxsize=8)  # every reader's claims() asks about the same header
def _address_in(header: str) -> str:
    return email.utils.parseaddr(header)[1].lower()


def has_identity(ex: Extracted) -> bool:
    """True when anything says who the lead is."""
    return any(getattr(ex, f) for f in IDENTITY_FIELDS)


def from_domain_in(mail: Mail, domains: tuple[str, ...]) -> bool:
    """True when the From (or Sender) address belongs to one of `domains`."""
    senders = [domain_of(s) for s in (mail.from_addr, _address_in(mail.header("sender"))) if s]
    return any(dom == d or dom.endswith("." + d) for dom in senders for d in domains)


class LayoutReader:
    """A provider read through its Layout: it claims mail from its own domains, or whose
    subject names it (`marker`), and reads it with parse_layout. A provider module sets the
    four attributes and adds only its real quirks to parse()."""

    name: str
    domains: tuple[str, ...]
    marker: re.Pattern[str]
    layout: Layout
    # A referral's own word for its client, in its lead-type field or its subject: `seller`
    # makes a seller (with `seller_home`, their home is the property, and their address where
    # they live there), `buyer` a buyer; neither leaves the segment as read.
    seller: re.Pattern[str] | None = None
    buyer: re.Pattern[str] | None = None
    seller_home: bool = True

    def claims(self, mail: Mail) -> bool:
        """From one of the provider's domains, or a subject naming it."""
        return from_domain_in(mail, self.domains) or bool(self.marker.search(mail.subject))

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        """The layout's labelled fields, and the segment the referral names."""
        ex = parse_layout(mail, ctx, self.layout)
        if self.seller is None:
            return ex
        kind = str(ex.custom_fields.get("inquiry_type", "")) + " " + mail.subject
        if self.seller.search(kind):
            ex.segment = "Seller"
            if self.seller_home:
                seller_home(ex)
        elif self.buyer and self.buyer.search(kind):
            ex.segment = "Buyer"
        return ex
