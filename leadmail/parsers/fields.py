"""The generic field engine every layout parser shares.

For each field it gathers candidates from every layout a notification uses ("Label: value",
a label alone on a line with its value under it, table rows, structured documents, a listing
line such as "$749,000 | 4 bd | 3 ba", a street line with its "City, ST ZIP" line, a quoted
paragraph), gives each a score (its kind's base weight plus feature adjustments, both kept in
weights.json), and keeps the best with its confidence. `Extracted.custom_fields` is not the
place for the trace: the winners and their reasons go to `Extracted.trace`.

Every pattern here runs on one line at a time (lines are cut to LINE_MAX) or on a bounded
value, so the cost stays linear in the text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from leadmail import normalize
from leadmail.parsers.text import Folded, label_key, strip_footer

LINE_MAX = 400  # characters of one line any pattern here reads
_DATA = Path(__file__).with_name("weights.json")
_PROVIDERS = Path(__file__).with_name("providers.json")


@cache
def weights() -> dict:
    """The engine's weights (weights.json)."""
    return json.loads(_DATA.read_text())


def score(kind: str, *features: str) -> float:
    """A candidate's score: its kind's base weight plus its features' adjustments."""
    w = weights()
    return w["kind"].get(kind, 0.5) + sum(w["feature"].get(f, 0.0) for f in features)


@dataclass
class Candidate:
    """One possible value of a field, with where it came from."""

    field: str
    value: str
    kind: str
    features: tuple[str, ...] = ()
    line: int = 0

    @property
    def score(self) -> float:
        return score(self.kind, *self.features)

    def why(self) -> dict:
        return {"value": self.value[:120], "kind": self.kind, "features": list(self.features),
                "score": round(self.score, 3), "line": self.line}


def best(cands: list[Candidate]) -> Candidate | None:
    """The highest-scoring candidate (the first on ties), if it clears min_score."""
    floor = weights()["min_score"]
    ok = [c for c in cands if c.score >= floor]
    return max(ok, key=lambda c: (c.score, -c.line)) if ok else None


# --------------------------------------------------------------------------- label vocabulary

# Labels in other languages, in label_key spelling, per field (added to common.FIELD_LABELS).
EXTRA_LABELS: dict[str, set[str]] = {
    "full_name": {"nom", "nombre", "nombre completo", "nome", "nome completo", "nom complet",
                  "name des interessenten", "interessent", "nominativo", "your full name",
                  "contact", "renter", "shopper", "buyer", "applicant name", "tenant name",
                  "nombre y apellidos", "vor und nachname", "vollständiger name",
                  "nome e cognome", "nom et prénom", "prénom et nom", "nom prénom",
                  "naam", "volledige naam", "navn", "namn",
                  # the person's role in the notification: "Seller: Curtis Lam"
                  "seller", "tenant", "homeowner", "enquirer", "inquirer", "consumer",
                  "shopper name", "consumer name", "lead contact name",
                  "requester", "requested by", "lead contact", "interesado", "interessado",
                  "invitee", "invitee name", "attendee", "attendee name", "visitor", "bidder",
                  "homeowner name", "owner name", "client's name", "von", "de",
                  "bidder name",
                  "open house visitor", "registrant", "member",
                  "guest name", "booked by", "client name",
                  "prospect name", "visitor name", "imię i nazwisko", "imie i nazwisko",
                  "jméno", "jméno a příjmení", "jmeno a prijmeni", "nimi", "ad soyad",
                  "nome do cliente", "nom du client", "nombre del cliente", "kundenname",
                  "cliente", "locataire", "acheteur", "acquirente", "comprador", "mieter",
                  "käufer", "kaufinteressent",
                  # Japanese, Chinese, Arabic, Korean
                  "氏名", "お名前", "名前", "ご氏名", "お客様名", "姓名", "名称",
                  "联系人", "聯絡人", "客户姓名", "客戶姓名",
                  "الاسم", "الاسم الكامل", "اسم", "성명"},
    "first_name": {"prénom", "prenom", "vorname", "primeiro nome", "nome proprio", "first",
                   # Japanese, Chinese, Arabic, Korean: the given name
                   "名", "めい", "الاسم الأول", "이름"},
    "last_name": {"nachname", "familienname", "nom de famille", "apellido", "apellidos",
                  "sobrenome", "cognome",
                  "姓", "せい", "姓氏", "اسم العائلة", "الكنية", "성"},
    "email": {"courriel", "adresse e mail", "adresse électronique", "correo", "correo electrónico",
              "correo electronico", "e mail adresse", "email adresse", "endereço de e mail",
              "e mail do contato", "posta elettronica",
              "メール", "メールアドレス", "eメール", "電子メール", "邮箱", "电子邮箱", "电子邮件",
              "郵箱", "電子郵件", "电邮", "البريد", "البريد الإلكتروني", "البريد الالكتروني",
              "الإيميل", "이메일"},
    "phone": {"téléphone", "telephone", "tél", "portable", "numéro de téléphone", "telefon",
              "telefoon", "telefoonnummer", "gsm", "mobiel", "mobiele nummer", "puhelin",
              "telefon komórkowy", "telefonnummer mobil", "matkapuhelin", "cep telefonu",
              "telefonnummer", "handy", "mobil", "teléfono", "telefono", "móvil", "celular",
              "telefone", "whatsapp", "cellulare", "phone number", "mobile phone number",
              "numero de telefono", "número de teléfono", "número de telefone",
              "電話", "電話番号", "携帯電話", "携帯", "ご連絡先", "电话", "電話號碼", "电话号码",
              "手机", "手机号", "手机号码", "手機", "联系电话", "الهاتف", "رقم الهاتف", "الجوال",
              "رقم الجوال", "الموبايل", "전화", "전화번호", "휴대폰"},
    "message": {"son message", "votre message", "message du contact", "nachricht",
                "customer note", "customer notes", "client note", "buyer note", "lead note",
                "homeowner note", "homeowner notes", "homeowner comments", "homeowner message",
                "notes from homeowner", "notes from the homeowner", "message from homeowner",
                "consumer note", "shopper note", "renter note", "seller note", "note to agent",
                "note to dealer", "note for the agent",
                "what they said", "what she said", "what he said", "their message",
                "bericht", "opmerking", "opmerkingen", "vraag", "meddelande", "besked",
                "text dotazu", "dotaz", "zpráva", "wiadomość", "treść wiadomości", "viesti",
                "mesaj", "сообщение", "tekst wiadomości", "zapytanie",
                "mensagem do interessado", "messaggio dell'utente", "kommentar",
                "ihre nachricht", "nachricht des interessenten", "mensaje", "su mensaje",
                "mensagem", "sua mensagem", "messaggio", "commentaire", "commentaires",
                "comentarios", "comentario", "observaciones", "anmerkungen", "bemerkung",
                "shopper message", "renter message", "buyer message", "message from the renter",
                "borrower comments", "client comments", "applicant comments", "tenant comments",
                "message from renter", "customer comments", "buyer comments", "lead comments",
                "additional notes", "anything else", "remarks", "inquiry message",
                "additional details", "additional info", "tell us more",
                "anything you'd like us to know", "anything else we should know",
                "anything we should know", "anything else you'd like us to know",
                "their note", "their notes", "their comments", "their question",
                "project description", "job description", "describe your project",
                "project notes", "job notes", "consumer comments", "consumer comment",
                "customer comment", "shopper comments", "visitor comments", "visitor message",
                # a chat's or an automation's machine keys ("transcript.first_message")
                "first message", "initial message", "chat message", "last message",
                "transcript", "chat transcript", "transcription", "voicemail transcription",
                "voicemail transcript", "voice message transcript", "text message",
                "お問い合わせ内容", "お問い合わせ", "ご質問", "メッセージ", "備考", "ご要望",
                "ご質問・ご要望", "ご質問 ご要望",
                "留言", "咨询内容", "諮詢內容", "备注", "內容", "内容",
                "الرسالة", "رسالتك", "ملاحظات", "استفسار", "문의 내용", "메시지"},
    "property_address": {"所在地", "objekt", "objektadresse", "bien", "adresse du bien", "annonce",
                         "bostad", "nemovitost", "nieruchomość", "boat", "yacht", "rv",
                         "motorcycle", "camper", "motorhome", "boat of interest",
                         "inmueble", "dirección del inmueble", "imóvel", "endereço do imóvel",
                         "immobile", "propiedad", "woning", "object", "logement",
                         "property interested in", "listing address",
                         "home address of interest", "vehicle",
                         "vehicle of interest", "property of interest", "listing",
                         "requested vehicle", "vehicle interested in", "car of interest",
                         "interested vehicle", "year make model", "vehicle info",
                         "vehicle requested", "vehicle details", "selected vehicle",
                         "model of interest",
                         "unit interested in", "unit of interest", "apartment of interest",
                         "home to sell", "property to sell", "home to value",
                         "property to value", "home being sold", "address of home to sell",
                         "物件", "物件名", "物件所在地", "ご希望の物件", "房源", "物业", "物業",
                         "房产地址", "العقار", "عنوان العقار"},
    "address": {"住所", "ご住所", "地址", "联系地址", "العنوان", "주소",
                "adresse", "dirección", "direccion", "endereço", "endereco", "indirizzo",
                "straße nr", "straße/nr", "strasse nr", "strasse", "straße", "street address",
                "straße, nr", "strasse, nr", "straße, hausnummer", "straße und hausnummer",
                "straße, hausnr", "strasse, hausnr", "straße hausnr", "straße/hausnr",
                "anschrift", "calle y número", "rue et numéro", "via e numero civico",
                "current address", "home address", "adresa", "adres", "adress", "osoite",
                "moving from",  # a move's origin: where the person lives now
                "lokalizacja", "localisation", "ubicación", "ubicacion",
                # where a job is done: the customer's own place
                "service address", "service location", "job address", "job location",
                "job site", "jobsite", "jobsite address", "work address", "work location",
                "project address", "project location", "installation address",
                "site address", "location of service", "location of the job"},
    "price": {"kaufpreis", "preis", "miete", "kaltmiete", "warmmiete", "prix", "loyer",
              "cena", "utgångspris", "pris", "hinta", "fiyat", "prijs", "opening bid",
              "starting bid", "minimum bid", "current bid", "pre approval amount",
              "preapproval amount", "pre approved amount", "approved amount", "approval amount",
              "koopprijs", "huurprijs", "mietzins", "nettomiete", "bruttomiete",
              "precio", "preço", "preco", "valor", "prezzo", "listed price", "list price",
              "listprice", "rent", "monthly rent", "desired price range", "max rent",
              "price range", "budget range", "asking", "sale price", "listing price",
              "presupuesto", "orçamento", "budget max", "max budget", "target price",
              "purchase budget", "buying budget", "home budget", "total budget",
              "approximate budget", "estimated budget", "rental budget", "monthly budget",
              "desired rent", "rent range", "prix de vente", "precio de venta",
              "prix demandé", "prix de location", "loyer demandé", "precio solicitado",
              "market rent", "rent amount", "asking rent", "list rent",
              "zestimate", "redfin estimate", "realestimate", "estimated price",
              "estimated sale price", "home estimate",
              "estimated value", "price guide", "guide price", "offers over", "offers in excess of",
              "offers in the region of", "asking price", "vraagprijs",
              "prezzo richiesto", "preço de venda", "valor de venda", "valor do aluguel",
              "loyer mensuel", "miete monatlich", "rent per month", "weekly rent",
              "rent per week", "hyra", "månadshyra", "husleie", "leje", "huurprijs per maand",
              "czynsz", "vuokra", "buy it now", "buy it now price", "home value",
              "estimated home value", "offer amount",
              "cash offer", "instant cash offer", "your offer", "dealer price", "truecar price",
              "msrp", "internet price", "our price", "selling price",
              "価格", "ご予算", "予算", "価格帯", "价格", "價格", "预算", "預算",
              "السعر", "الميزانية", "가격", "예산"},
}
EXTRA_PARTS = {"plz ort", "plz/ort", "plz", "ort", "stadt", "ville", "code postal", "ciudad",
               "cp", "código postal", "codigo postal", "cep", "province", "provincia",
               "bundesland", "city state zip", "city, state zip", "postcode", "post code",
               "city st zip", "city state", "state zip", "city state postal code",
               "cidade", "estado", "localidad", "città", "cap", "town", "town city",
               "city town", "suburb", "locality", "woonplaats", "postal town",
               "localité", "commune", "gemeente",
               # label_key keeps a label's comma: "PLZ, Ort", "CP, Ville"
               "plz, ort", "wohnort", "cp, ville", "code postal, ville", "cap, città",
               "postcode, plaats"}

# Notes a provider's staff wrote about the person: no words of the person's.
_STAFF_NOTE = re.compile(
    r"\bnotes? (?:from|by) (?:your|our|the (?:agent|team|concierge|coordinator))\b|"
    r"\bnotes?\b.*\b(?:manager|concierge|coordinator|isa|assistant|specialist|advisor|adviser|"
    r"staff|success team)\b|\b(?:agent|concierge|coordinator|staff|internal) notes?\b")
def _a_provider(words: str) -> bool:
    """True when the words name a known provider: providers.json's or a built-in reader's."""
    from leadmail.parsers import PARSERS  # the registry imports this module

    return brand_named(words, tuple(p.name for p in PARSERS)) is not None


_NOTES_FROM = re.compile(r"\bnotes? from ([\w.]+(?: [\w.]+)?)$")
# A role and the words it wrote: "buyer question" (label_key of "Buyer's question").
_ROLE_WORDS = re.compile(
    r"^(?:buyer|client|customer|renter|tenant|seller|lead|consumer|visitor|guest|shopper|"
    r"prospect|homeowner|caller|applicant|inquirer|sender|borrower|patient|member|requester|"
    r"enquirer|attendee|invitee|owner|user) (?:question|questions|comment|"
    r"comments|message|note|notes|remarks|inquiry|request|says|said|wrote)$")
# "Applicant mobile", "Buyer email": the person's own contact under a two-word label.
_ROLE_CONTACT = re.compile(
    r"^(?:buyer|client|customer|renter|tenant|seller|lead|consumer|visitor|shopper|prospect|"
    r"homeowner|caller|applicant|borrower|requester|enquirer|inquirer) "
    r"(?:(?P<full_name>name|full name)|(?P<phone>phone|mobile|cell|telephone)|"
    r"(?P<email>email|e mail))$")
# Another person's row: "Co-Applicant Mobile", "Spouse phone", "Emergency contact name".
_OTHER_PERSON = re.compile(
    r"^(?:co (?:applicant|borrower|buyer|signer|owner|tenant|purchaser|driver)|spouse|"
    r"emergency contact|second (?:applicant|borrower|driver|owner))\b")
# Question-style labels ("What's the best email to reach you?"): a keyword decides, in order.
_AGENT_WORDS = re.compile(r"(?i)\b(agent|agente|makler|concierge|realtor|lender|loan officer)\b")
_KEYWORDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # ("First, what's your name?" asks for the whole name: "your name" below)
    ("first_name", re.compile(r"(?i)\bfirst (?:[\w'’-]+ )?name\b|\bgiven name\b|\bprénom\b|"
                              r"\bvorname\b")),
    ("last_name", re.compile(r"(?i)\blast\b.{0,12}\bname\b|\bsurname\b|\bnachname\b|"
                             r"\bapellidos?\b|\bsobrenome\b")),
    ("email", re.compile(r"(?i)\be[ -]?mail\b|\bcourriel\b|\bcorreo\b")),
    ("phone", re.compile(r"(?i)\bphone\b|\btelephone\b|\btéléphone\b|\btelefon\w*\b|"
                         r"\bteléfono\b|\bmobile\b|\bcell\b")),
    ("price", re.compile(r"(?i)\bbudget\b|\bprice range\b|\bpresupuesto\b|\bhow much\b.{0,30}"
                         r"\b(spend|afford)\b|\b(offer|sale|list|listing|asking|purchase|vehicle|"
                         r"home|property|cash offer) (amount|price|value)\b|"
                         r"\b(automated |home |value |price )?estimates?\b|"
                         r"\bestimated (home |property |market )?(value|price)\b|"
                         r"\bmarket value\b|\bapproved (for |up to |amount)|\bworth$|"
                         r"\bexpected (sale |selling )?price\b|"
                         r"^(\w+ )?(cash )?offer$|\bprice offer$")),
    ("message", re.compile(r"(?i)\banything else\b|\bmessage\b|\bcomments?\b|\bnotes? from\b|"
                           r"\basked a question\b|\bwrote\b|\b(?:message|question|note|comments?|"
                           r"mensaje|nachricht|messaggio|mensagem|bericht|pregunta)s? "
                           r"(?:from|de|von|da|di|van)\b|"
                           r"\bnachricht von\b|\bmensaje de\b|\blike to discuss\b|"
                           r"\bwant to discuss\b|\bquestions?\b"
                           r".{0,20}\b(have|for us)\b|\btell us\b|\bnachricht\b|\bmensaje\b|"
                           # a service form's question about the job
                           r"\bwhat(?:'?s| is)? (going on|wrong|happening)\b|\bdescribe (the|your) "
                           r"(problem|issue|project|job|request|needs?|situation)\b|"
                           r"\bwhat (do you need|can we (do|help))\b|"
                           r"\b(problem|issue|project|job) (description|details)\b|"
                           # a scheduler's or a form's open question ("What prompted you to
                           # book?", "Please share anything that will help prepare for our
                           # meeting."); "Keisha Morgan says:"
                           r"\bwhat prompted you\b|\bwhat brings you\b|\bplease share\b|"
                           # "Anything we should know about your dog?", "describe_what_happened"
                           r"\banything (?:else )?(?:we|i) should know\b|\bwhat happened\b|"
                           r"\bsays$|\bwhat [\w'’]+ (?:said|says|asked|wrote)$|"
                           r"\b(?:client|buyer|customer|lead|renter|tenant|seller|consumer|"
                           r"shopper|homeowner|visitor|prospect|they|he|she) (?:said|says|asked|"
                           r"asks)$")),
    ("full_name", re.compile(r"(?i)\bfull name\b|\byour name\b|\bwhat'?s your name\b|"
                             r"\bwho are you\b")),
    ("property_address", re.compile(r"(?i)\b(which|what) (vehicle|car|truck|suv|model|trim)\b|"
                                    r"\b(model|vehicle|car) (of interest|are you interested)\b|"
                                    r"\b(adresse|dirección|direccion|endereço|endereco|"
                                    r"indirizzo|anschrift)\b.{0,12}\b(propriété|propriete|bien|"
                                    r"logement|inmueble|propiedad|imóvel|imovel|immobile|"
                                    r"immobilie|objekts?|woning)\b|"
                                    r"\baddress of the (property|home|house|listing|unit)\b|"
                                    r"\b(property|listing|rental) address\b")),
    ("address", re.compile(r"(?i)\b(street )?address\b|\bdirección\b|\badresse\b|"
                           r"\bendereço\b|\bindirizzo\b")),
    # "The following lead is interested in" / "The Cove at Tiburon: 1 Bed 1 Bath"
    ("property_address", re.compile(r"(?i)\b(is|are) interested in\b|\binquir(y|ing) about\b|"
                                    r"\b(?:home|house|property|listing) you(?:'re|’re| are) "
                                    r"interested in\b|"
                                    r"\basking about\b")),
)


# The notification's own sentence, never a question to the person: "You have a new message
# from your website", "Yusuf Demir sent you a message".
_NOTICE_KEY = re.compile(r"^(?:you|you've|you’ve|we|this|there|new|a new)\b|\bsent (?:you|a)\b|"
                         # "Vous avez reçu un nouveau message concernant votre annonce :"
                         r"^(?:vous avez|tu as|has recibido|ha recibido|hai ricevuto|"
                         r"ha ricevuto|sie haben|du hast|recebeu|você recebeu|u heeft|je hebt|"
                         r"nouveau|nuevo|nuovo|novo|neue)\b")


@lru_cache(maxsize=4096)  # labels repeat from mail to mail
def keyword_field(key: str) -> str | None:
    """The field a question-style label asks for, by keyword; None for anything else."""
    if len(key) > 100:
        return None
    if _STAFF_NOTE.search(key) or ((m := _NOTES_FROM.search(key)) and _a_provider(m.group(1))):
        # "Notes from your HomeLight client success manager", "Notes from Zillow", "Redfin
        # agent notes"
        return "notes"
    if _AGENT_WORDS.search(key) or _NOTICE_KEY.search(key) or _OTHER_PERSON.match(key):
        return None
    if role := _ROLE_CONTACT.match(key):
        return role.lastgroup
    words = key.split()
    if len(words) < 3 and not key.endswith("?"):
        # "Buyer's question", "Client comments": the person's words under a two-word label
        return "message" if _ROLE_WORDS.match(key) else None
    for name, pattern in _KEYWORDS:
        if pattern.search(key):
            return name
    return None


# --------------------------------------------------------------------------- text pairs

_LABEL_COLON = re.compile(r"^\s*[*\-•]?\s*([^\W\d_][\w /&'’().#?,-]{0,80}?)\s*[:=]\s*(.*)$")
_BOILER = re.compile(
    r"(?i)^(reply|to respond|respond|you can (also )?reply|view (this|in|lead|the)|click|"
    r"confirm (tour|time)|see all|this (lead|email|message|tour|request) (was|is)|"
    r"pour répondre|sie können|para responder|para responder|per rispondere|"
    r"manage (your )?(listings|notifications|preferences)|questions\?|need help|"
    r"log ?in|sign in|open in|to reply|hit reply|simply reply|reply directly)")
_RULE_LINE = re.compile(r"^[-_=*~·•━─═┄┈—–]{2,}\s*$")


def _is_quoted_open(line: str) -> bool:
    return line[:1] in "\"“«„"


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) > 2 and value[0] in "\"“«„":
        value = value[1:]
        if value[-1:] in "\"”»“":
            value = value[:-1]
    return value.strip()


def paragraph(lines: list[str], start: int) -> tuple[str, int]:
    """The paragraph (consecutive non-blank lines) from `start`, and the index after it."""
    out = []
    i = start
    while i < len(lines) and lines[i].strip():
        if _RULE_LINE.match(lines[i].strip()) or _BOILER.match(lines[i].strip()):
            break
        out.append(lines[i].strip())
        i += 1
    return " ".join(out) if len(out) > 1 and not _is_quoted_open(out[0]) else "\n".join(out), i


def _after_greeting(lines: list[str], value: str, end: int) -> tuple[str, int]:
    """A greeting and the paragraphs under it, up to a label line (at most 12 paragraphs)."""
    out = [value]
    i = end
    for _ in range(12):
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i >= len(lines) or _LABEL_COLON.match(lines[i]) or _RULE_LINE.match(lines[i].strip()):
            break
        start = i
        while i < len(lines) and lines[i].strip():
            i += 1
        out.append("\n".join(ln.strip() for ln in lines[start:i]))
    return "\n\n".join(out), i


# A vehicle's part as a label names it: rows stacked under its heading ("Vehicle" / "Year" /
# "2019" / "Make" / "Mazda"), a document's keys ("year", "vehicle make").
VEHICLE_PART_LABEL = re.compile(r"(?i)^(?:vehicle |car )?(year|make|model|trim)$")


def _question_line(line: str) -> bool:
    """One question alone on its line ("Which property would you like to tour?")."""
    return 3 <= len(line) <= 100 and line.endswith("?") and "?" not in line[:-1]


def _stacked_label(line: str) -> bool:
    """A form's question on a line of its own ("Anything else?", "Preferred contact time?"),
    not the person's own ("Can I see it Saturday?")."""
    return _question_line(line) and not _FIRST_PERSON.search(line)


def next_line_pairs(text: str, field_of) -> list[tuple[str, str, int]]:
    """(label_key, value, line) for a label alone on its line with the value under it
    ("Name" / "Tamika Bell"; <dt>/<dd> and stacked table cells render so too). A label is
    one the vocabulary knows (`field_of`) or a question ending in "?"; message labels take
    the whole paragraph under them."""
    lines = [ln[:LINE_MAX] for ln in text.split("\n")]
    out: list[tuple[str, str, int]] = []
    i = 0
    while i < len(lines):
        raw = lines[i].strip()
        if (not raw or len(raw) > 100 or raw.endswith((".", "!")) or _LABEL_COLON.match(raw)
                or "?" in raw[:-1] or "..." in raw):
            # (a question with its answer, or a dot-leader row, is a pair on its own line)
            i += 1
            continue
        key = label_key(raw)
        target = field_of(key)
        if target is None and not raw.endswith("?") and not VEHICLE_PART_LABEL.match(raw):
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not lines[j].strip() and j - i <= 2:
            j += 1
        if j >= len(lines) or not lines[j].strip():
            i += 1
            continue
        nxt = lines[j].strip()
        if (field_of(label_key(nxt)) is not None or _LABEL_COLON.match(nxt)
                or VEHICLE_PART_LABEL.match(nxt) or "..." in nxt) and target not in (
                "message", "notes"):
            # two labels in a row: this one has no value ("Imóvel" / "Tipo: Casa"; a
            # dot-leader row "Est. value ..... $486,000" is a pair of its own)
            i += 1
            continue
        if target in ("message", "notes") or raw.endswith("?"):
            value, end = paragraph(lines, j)
            if target == "message" and value.endswith(",") and "\n" not in value:
                # "Comments" / "Good afternoon," / "" / "We would like ...": a greeting is
                # no whole message; the paragraphs under it are the person's too (the
                # notification's own lines after them are cut by tidy_message)
                value, end = _after_greeting(lines, value, end)
            if target == "message" and any(street_of(ln) for ln in value.split("\n")[:6]):
                i += 1  # "Wendell Obi sent you a message" / "about 1415 Saddle Horn Trl ..."
                continue
            if target not in ("message", "notes"):
                # "When are you thinking of selling?" / "3-6 months" / "Anything else?": the
                # answer ends where the form's next question begins
                cut = next((k for k in range(j + 1, end) if _stacked_label(lines[k].strip())),
                           None)
                if cut is not None:
                    value, end = paragraph(lines[:cut], j)
        else:
            value, end = nxt, j + 1
        value = value.lstrip(": ").strip()
        if value:
            out.append((key, value, i))
        i = end
    return out


# --------------------------------------------------------------------------- prices

_AMOUNT = re.compile(
    r"(?i)(?P<pre>R\$|US\$|C\$|CA\$|A\$|[$€£]|\b(?:usd|eur|gbp|cad|brl|zar|chf)\b|"
    r"(?-i:\bR)(?=\s?\d{1,3}(?:[ ,]\d{3})+))?\s?"
    # "$1,650", "465 000 €", "485.000 EUR", "CHF 2'480.-"
    r"(?P<num>\d{1,3}(?:[ ,.'’\u00a0\u202f]\d{3})+|\d+)(?:[.,](?P<cents>\d{1,2}))?(?!\d)"
    r"(?:\s?(?P<mult>k|m|mm|million|mil|crores?|cr|lakhs?|lacs?)\b(?!\.\w)|\s?(?P<wan>万|萬))?"
    r"(?:\s?(?P<post>[$€£₹¥]|円|元|美元|dollars?|دولار|درهم|\b(?:eur|usd|gbp|cad|mxn|zar|euros?|"
    r"dollari|dólares|reais|kr|sek|nok|dkk|zł|pln|kč|czk|aed|sgd|inr|rs|chf)\b))?")
# What marks an amount as money in _AMOUNT (a currency sign or word, a multiplier after a
# digit): a line with none of these has no marked amount.
_MONEY_MARK = Folded(r"[$€£₹¥]|円|元|万|萬|دولار|درهم|\b(?:usd|eur|gbp|cad|brl|mxn|zar|euros?|"
                     r"dollars?|dollari|dólares|reais|kr|sek|nok|dkk|zł|pln|kč|czk|aed|sgd|inr|"
                     r"crores?|cr|lakhs?)\b|"
                     r"\d\s?(?:k|m|mm|million|mil)\b|\br ?\d{1,3}(?:[ ,]\d{3})+")
_RANGE_SEP = re.compile(r"^\s*(?:-|–|—|to|à|a|bis|até|hasta)\s*$", re.I)
_LISTING_CONTEXT = re.compile(
    r"(?i)\b(bd|bds|beds?|bedrooms?|ba|baths?|bathrooms?|sq\.? ?ft|sqft|square feet|zimmer|"
    r"pièces|pieces|habitaciones|hab|quartos|dormitorios|chambres|acres?)\b|m²|"
    # a commercial listing's floor area, a vehicle's mileage: "18,400 SF", "51,340 mi"
    r"\d\s?(?:sf|mi|km)\b|"
    r"/\s?(?:mo(?:nth)?|mois|mese?|mês|monat|week|wk|semana|semaine|woche)\b|\d\s?br\b|"
    r"\bper (?:month|week)\b|\bpcm\b|\bpw\b|\bp/[mw]\b|\bmonthly\b|\bweekly\b|"
    r"\bper maand\b|\bpor m[eê]s\b|\bal mese?\b|\bpar mois\b|\bpro monat\b|\bim monat\b")
# A word right before an amount that makes it the listing's price in a notification's own
# lines ("Listed at $374,500", "Asking price $1,150,000", "Vraagprijs € 595.000").
_PRICE_BEFORE = Folded(r"\b(listed at|listed for|list price|listing price|asking( price)?|"
                       r"offered at|priced at|price( range)?|vraagprijs|prix|precio|preço|prezzo|"
                       r"kaufpreis|(pre-?)?approved( for)?( up to)?|approved amount|budget|"
                       r"(estimated |est\.? )?market value|"
                       r"(opening|starting|minimum|current) bid)\W{0,3}$")
# A separator right before an amount that follows the listing's street on its line
# ("10455 Scenic Ridge Ave, Las Vegas, NV 89135 ($649,000)", "... FL 32814 · $735,000").
_SEP_BEFORE = re.compile(r"(?:[·|•(—–]|\s-)\s*$")


def listing_context(text: str) -> bool:
    """True when the text holds a listing's rooms, area, mileage or monthly rent."""
    return bool(_LISTING_CONTEXT.search(text[:LINE_MAX]))


_PRICE_WORDS = Folded(
    r"\b(budget|price[ds]?|listed|listing|asking|up to|pre-?approved|approved for|around|"
    # "would the owners take $420,000?", "we could offer $395k"
    r"take|offer(?:ing)?|pay|"
    # "list at about $725,000", "still available at $459,000"
    r"list (?:it )?(?:at|for)|available at|priced at|"
    r"max(imum)?|rent|presupuesto|precio|listada|prix|preis|kaufpreis|preço|valor|"
    r"afford|spend|under|below|no more than|less than|at most|"
    # a price or rent and "up to" in the languages of direct mail
    r"prezzo|huur|huurprijs|koopprijs|loyer|miete|affitto|aluguel|alquiler|renta|"
    r"até|hasta|jusqu.a|bis zu|fino a|tot|"
    r"预算|預算|价格|價格|予算|価格|بسعر|السعر|الميزانية|cena|cenu|pris|utgångspris|"
    # "affiché à 895 000 $", "publicado en $689,000", "标价 $689,000"
    r"affichée?|annoncée?|publicad[oa]|anunciad[oa]|listad[oa]|ofertad[oa]|"
    # "in vendita a 139.900 $", "que tienen en $23,800"
    r"zum verkauf|in vendita|à venda|a venda|en venta|à vendre|for sale|tienen en|"
    r"te koop|till salu|til salgs|na sprzedaż|"
    r"标价|售价|挂牌价|掛牌價|販売価格)\b")
# After an amount, the words that make it the listing's: "für 735.000 $ angeboten wird".
_PRICE_AFTER = Folded(r"(?:^|\d\W{0,3})\W{0,3}(?:\w+ ){0,1}(?:angeboten|anbieten|anbietet|"
                      r"inseriert|listed|"
                      # "Is the $615K price firm?" (not "a $20K price drop")
                      r"(?:asking |list )?price(?! (?:drop|cut|reduction|difference|change|"
                      r"increase|decrease|gap|improvement))|"
                      r"advertised|annoncée?|affichée?|anunciad[oa]|publicad[oa]|in vendita)\b")
_NOT_PRICE = Folded(r"\b(hoa|fee|fees|deposit|tax|taxes|parking|dues|mileage|miles|bills?|"
                        r"premiums?|"
                        r"electric|electricity|utility|utilities|"
                        r"km|down payment|income|salary|credit)\b")


@dataclass
class Money:
    value: int
    marked: bool  # a currency sign or word, or a multiplier
    start: int
    end: int


def amounts(text: str) -> list[Money]:
    """Money amounts in a bounded text ("$1,650", "465 000 €", "485.000 EUR", "$450k")."""
    found = []
    for m in _AMOUNT.finditer(text[:LINE_MAX]):
        num = re.sub(r"[ ,.'’\u00a0\u202f]", "", m.group("num"))
        if not num:
            continue
        mult = (m.group("mult") or "").lower()
        # "US$ 420 mil" (Portuguese, Spanish: thousand) and "$1.2 mil" (million)
        thousand = mult == "k" or (mult == "mil" and not m.group("cents") and int(num) >= 20)
        factor = 1000 if thousand else 1_000_000 if mult else 1
        if mult.startswith("cr"):
            factor = 10_000_000  # "₹1.25 Cr": a crore is ten million
        elif mult.startswith(("lakh", "lac")):
            factor = 100_000
        elif m.group("wan"):
            factor, mult = 10_000, "wan"  # "180 万美元": 万 is ten thousand
        cents = m.group("cents") or ""
        value = round((int(num) + (int(cents) / 10 ** len(cents) if cents else 0)) * factor)
        marked = bool(m.group("pre") or m.group("post") or mult)
        grouped = m.group("num") != num
        if not (marked or grouped):
            continue
        found.append(Money(value, marked, m.start(), m.end()))
    return found


def price_value(text: str) -> int | None:
    """The price a value states: a range gives its upper bound ("$1,650 - $1,900" -> 1900,
    "$300k - $400k" -> 400000, "300 to 400k" -> 400000); otherwise the first amount. A
    machine value's underscores are spaces ("$1.5m_-_$2m"); a zero ("$0.00") is no price."""
    found = [m for m in amounts(text.replace("_", " ")) if m.value > 0]
    text = text.replace("_", " ")
    if not found:
        return None
    first = found[0]
    if len(found) >= 2 and _RANGE_SEP.match(text[first.end:found[1].start]):
        upper = found[1]
        if first.value < 1000 <= upper.value and first.value * 1000 <= upper.value * 1.5:
            return upper.value  # "300 - 400k"
        return max(first.value, upper.value)
    marked = [m for m in found if m.marked]
    return (marked or found)[0].value


def _clause(before: str) -> str:
    """The words before an amount in its own sentence: "... a parking spot. Budget is under"
    keeps "Budget is under"."""
    return re.split(r"[.!?;]\s", before)[-1]


def stored_price(raw: str | int | float | None) -> int | None:
    """The price a lead stores: a range's upper bound ("$1,650 - $1,900" -> 1900; what the
    person can reach), European and Canadian spellings ("465 000 €", "485.000 EUR"), else
    normalize.price."""
    if isinstance(raw, str):
        found = price_value(raw)
        if found is not None:
            return found if 0 <= found <= 10**10 else None
    return normalize.price(raw)


# A notice's listing line saying what it is offered for: "Retail Building For Sale - $2,950,000"
# (in a person's words, "... sold for 740.000 Dollar" is a neighbour's, not the price).
_OFFERED = re.compile(r"(?i)\b(?:for sale|for lease|en venta|à vendre|zu verkaufen|in vendita|"
                      r"te koop|à venda)\b")


def price_candidates(lines: list[str], footer_at: int, free_text: bool) -> list[Candidate]:
    """Unlabelled prices: a listing line ("$749,000 | 4 bd | 3 ba", "$2,150/mo") or, in a
    person's text, an amount next to a price word ("pre-approved up to $540,000")."""
    out = []
    for i, line in enumerate(lines[:footer_at]):
        line = line[:LINE_MAX]
        if not _DIGIT.search(line) or not _MONEY_MARK.search(line):
            continue  # no marked amount without a digit and a currency or a multiplier
        if not free_text and _NOT_PRICE.search(line) and not _LISTING_CONTEXT.search(line):
            continue
        found = [m for m in amounts(line) if m.marked and m.value >= 100]
        if not found:
            continue
        near = _clause(line[max(0, found[0].start - 40):found[0].start]) + \
            line[found[0].start:found[0].end + 14]
        if free_text and _NOT_PRICE.search(near) and not _LISTING_CONTEXT.search(near):
            # a person's long line: only words near the amounts say what it is ("a down
            # payment program ... hoping to buy something under 350k" is the budget)
            continue
        if not free_text and _NOT_PRICE.search(line[:found[0].start]):
            continue  # "Monthly income: $6,200", "HOA: $250/mo": an amount, not the price
        alone = len(line.strip()) <= len(line[found[0].start:found[0].end]) + 8 or (
            len(found) == 2 and not line[:found[0].start].strip()
            and not line[found[1].end:].strip()
            and _RANGE_SEP.match(line[found[0].end:found[1].start]))  # "$1.2m - $1.3m" alone
        # (": $24,500 · 2015 Jeep Wrangler": a label's colon left over from its empty label)
        first_part = _PRICE_SEGMENT.split(line.strip(" \t:"), maxsplit=1)
        if len(first_part) == 2 and len(first_part[0]) <= found[0].end - found[0].start + 2 \
                and found[0].start <= len(line) - len(line.lstrip(" \t:")) + 1:
            alone = True  # "$29,500 · New Braunfels, TX": the listing's price, then its place
        if free_text and (said := _price_in_words(line, found, i)):
            out.append(said)  # "Budget is under $400,000" in a person's words
        elif alone and not free_text and _asked_other(lines, i):
            continue  # "Roughly what is your average monthly electric bill?" / "$210"
        elif _LISTING_CONTEXT.search(line) or alone or (not free_text and _OFFERED.search(line)):
            value = price_value(line)
            out.append(Candidate("price", str(value), "listing_line", ("money_marked",), i))
        elif _PRICE_BEFORE.search(line[max(0, found[0].start - 30):found[0].start]):
            # "Austin, TX 78704 · Budget: $8,000 - $12,000 · Within 1 month": the amount's own
            # segment of the line, so that a range gives its upper bound
            part = next((p for p in re.split(rf"{SEGMENT.pattern}| {{3,}}", line)
                         if line[found[0].start:found[0].end] in p), line[found[0].start:])
            value = price_value(part) or found[0].value
            out.append(Candidate("price", str(value), "listing_line",
                                 ("money_marked", "context_word"), i))
        elif not free_text and _after_street(line[:found[0].start]):
            amount = line[found[0].start:found[0].end].strip()  # as written: "$489,900"
            out.append(Candidate("price", amount, "listing_line", ("money_marked",), i))
    return out


# A listing line's parts: "$29,500 · New Braunfels, TX", "420 000 € – réf. AFI-7788".
_PRICE_SEGMENT = re.compile(r"\s+[·|•–—.]\s+")  # (" . ": a bullet as plain text renders it)


def _asked_other(lines: list[str], at: int) -> bool:
    """An amount alone on its line answers the question just above it, and that question
    asks for something other than a price (a bill, an income, a deposit)."""
    above = next((ln.strip() for ln in reversed(lines[max(0, at - 3):at]) if ln.strip()), "")
    return (above.endswith("?") and len(above) <= 120 and not _PRICE_ASKED.search(above)
            and keyword_field(label_key(above.rstrip("?"))) != "price")


# A question whose answer is a price: "What price are you hoping for?", "What do you hope to
# list it for?", "How much would you like to spend?".
_PRICE_ASKED = re.compile(r"(?i)\b(?:price|list|listing|sell|sale|worth|budget|value|offer|pay|"
                          r"spend|afford|cost|asking|rent|how much)\b")


def _price_in_words(line: str, found: list[Money], at: int) -> Candidate | None:
    """An amount a person's sentence names as a price ("pre-approved up to $540,000"), or sets
    right after what is for sale: "die Sie für 29.900 $ anbieten", "por US$ 689.000", "価格は
    $8,999", "the 2023 RAV4（在庫番号 T3391、$36,800）"."""
    if not (_PRICE_WORDS.search(line) or _PRICE_AFTER.search(line) or _PRICE_CJK.search(line)
            or _PREP_WORD.search(line) or "(" in line or "（" in line):
        return None
    for k, m in enumerate(found):
        window = _clause(line[max(0, m.start - 40):m.start])
        if (_PRICE_WORDS.search(window) or _PRICE_AFTER.search(line[m.end:m.end + 30])
                or _PRICE_CJK.search(line[max(0, m.start - 8):m.start])
                or _PRICE_PREP.search(line[max(0, m.start - 12):m.start])
                or (m.value >= 1000 and _in_brackets(line, m))) \
                and not _NOT_PRICE.search(window) and not _SOLD.search(window):
            value = m.value
            if k + 1 < len(found) and _RANGE_SEP.match(line[m.end:found[k + 1].start]):
                value = price_value(line[m.start:found[k + 1].end]) or value  # "$550k to $650k"
            return Candidate("price", str(value), "free_text", ("money_marked", "context_word"),
                             at)
    return None


# What another home sold for: "The house two doors down sold in January for around $710k" is
# a neighbour's sale, not this home's price.
_SOLD = Folded(r"\b(?:sold|went for|closed at|verkauft|vendu|vendid[oa]|venduto)\b")
# A price's word in Chinese and Japanese, with no word boundary after it ("価格は$8,999").
_PRICE_CJK = re.compile(r"预算|預算|价格|價格|予算|価格|标价|售价|挂牌价|掛牌價|販売価格|金額|値段")
# The preposition that sets a price right before it, in the languages of direct mail ("für
# 29.900 $", "por US$ 689.000", "en $27,900", "pour 480 000 €").
_PREPS = r"(?i)\b(?:por|pour|für|voor|en|per|à)"
_PRICE_PREP = re.compile(_PREPS + r"\s+(?:us|r|ca|au)?\s?$")
_PREP_WORD = re.compile(_PREPS + r"\s")  # the cheap test of the line first
_OPEN_BRACKET = re.compile(r"[(（][^()（）]{0,40}$")


def _in_brackets(line: str, m: Money) -> bool:
    """The amount closes a bracket opened just before it: "(480 000 €)", "（5,980万円）"."""
    return bool(_OPEN_BRACKET.search(line[max(0, m.start - 41):m.start])) and \
        line[m.end:m.end + 3].lstrip()[:1] in (")", "）")


def _after_street(prefix: str) -> bool:
    """True when the text before an amount is a street address ending in a separator."""
    if not _SEP_BEFORE.search(prefix) or not _DIGIT.search(prefix):
        return False
    head = _SEP_BEFORE.sub("", prefix).split(": ", 1)[-1].strip()
    if head and (street_of(head) or postal_line(head)):
        return True
    # "... contacted you about 2033 Lakeview Terrace, Madison, WI 53704 ($449,000)": a street
    # that runs to the separator, at the end of a sentence
    from leadmail.parsers.nlp import street_spans

    for start, _ in street_spans(head[-160:], limit=3):
        tail = head[-160:][start:].strip()
        street = street_of(tail)
        if street and len(street) >= len(tail) - 1 and "," in street:
            return True
    return False


# --------------------------------------------------------------------------- addresses

_CITY_LINE = re.compile(
    r"^\s*(?P<city>[^\W\d_][\w .'’-]{1,40}?),?\s+(?P<state>[A-Z]{2})\s+(?P<zip>\d{5}(?:-\d{4})?)"
    r"\s*$")
_CITY_PREFIX = re.compile(
    r"^\s*[^\W\d_][\w .'’-]{1,40}?,?\s+[A-Z]{2},?\s+\d{5}(?:-\d{4})?\b")
_STATE_COMMA_ZIP = re.compile(r"\b([A-Z]{2}),\s+(\d{5})\b")  # "Round Rock, TX, 78664"
_UK_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b")
_EU_ZIP_CITY = re.compile(
    r"^\s*(\d{4,5}(?: [A-Z]{2})?|\d{4}-\d{3})\s+([^\W\d_][\w .'’()-]{1,40})\s*$")
_EU_STREET = re.compile(
    r"(?i)^\s*((?:\d{1,5}[a-z]?,?\s+(?:rue|avenue|av\.|boulevard|bd\.?(?=\s+[^\W\d_]{3})|chemin|allée|place|impasse|"
    r"quai|route|calle|avenida|av|paseo|plaza|camino|carrer|rua|travessa|via|viale|piazza|corso)"
    r"\b[^,\n]{2,60})|(?:(?:rue|calle|avenida|rua|via|paseo|carrer)\b[^,\n\d]{2,50}\d{1,5}[a-z]?)"
    r"|(?:[^\W\d_][\w.-]*(?:straße|strasse|str\.|weg|allee|platz|gasse|ring|damm|ufer|"
    r"straat|laan|plein|kade|gracht|singel|dijk|steeg|markt|gade|vej|gatan|vägen)"
    r"\s+\d{1,4}[a-z]?))")
_PROVIDER_WORDS = Folded(
    r"\b(inc|llc|ltd|limited|gmbh|s\.?a\.?|plc|corp|company|part of|a [\w.]+ company|"
    r"s\.r\.l|s\.p\.a|b\.v|s\.l|sp\. z o\.o|pty ltd|a\.s|s\.r\.o|"
    r"headquarters|floor \d+|all rights reserved|sent by|on behalf of|powered by)\b|©|\(c\)")


def provider_line(line: str) -> bool:
    """A company's own line ("Google LLC, 1600 Amphitheatre Parkway, ...", "Powered by ...")."""
    return bool(_PROVIDER_WORDS.search(line))


# "Surry Hills, NSW 2010", "Mairangi Bay, Auckland 0630", "Toronto, ON M5J 0C3", "Leeds,
# LS6 1BJ", "Porto, 4000-442": a town and a postcode after a street, outside the US.
_INTL_TAIL = re.compile(
    r"^[^\W\d_][^,\d·|]{1,40}(?:,\s*[^\W\d_][^,\d·|]{1,30})?,?\s+(?:(?:[A-Z]{2,3}\s+)?"
    r"\d{4}(?:-\d{3})?\b|"
    r"[A-Z]\d[A-Z] ?\d[A-Z]\d\b|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b|\d{4}-\d{3}\b)")
_CA_POSTCODE = re.compile(r"\b[A-Z]\d[A-Z] ?\d[A-Z]\d\s*$")
# A postcode that ends an address line: US ZIP, UK, Canadian, "05409-010", "10627 Berlin".
_POSTAL_END = re.compile(
    r"(?:\b\d{5}(?:-\d{3,4})?|\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|\b[A-Z]\d[A-Z] ?\d[A-Z]\d|"
    # a town after its postcode, of up to three words ("10123 Torino", "06700 Ciudad de
    # México", "20144 Milano (MI)")
    r"\b\d{4,5} [^\W\d_][^\W\d_ -]+(?: (?:de|del|di|la|le|am|sur|an der) [^\W\d_]+| "
    r"[^\W\d_]+){0,2}(?: \([A-Z]{2}\))?|"
    # an Eircode ("D06 X2F3"), an Australian state and postcode ("Bondi NSW 2026"), a Swedish
    # or Czech one ("118 26 Stockholm", "130 00 Praha 3"), a Polish one ("02-715 Warszawa"),
    # Singapore's ("Singapore 528583")
    r"\b[AC-FHKNPRTV-Y]\d{2}[\dW]? ?[0-9AC-FHKNPRTV-Y]{4}|"
    r"\b(?:NSW|VIC|QLD|WA|SA|TAS|ACT|NT) \d{4}|\b\d{3} \d{2} [^\W\d_]+(?: \d{1,2})?|"
    r"\b\d{2}-\d{3} [^\W\d_]+|\bSingapore \d{6})\s*$")
SEGMENT = re.compile(r"\s+[·|•]\s+")
# A company's office address: "475 Brannan St, Suite 410", "Level 5, 100 Harris St".
# (not "FL 33604": Florida and its ZIP; a floor is "Fl 3", "Floor 12")
_OFFICE = re.compile(r"(?i)\b(suite|ste\.?|floor|level)\s+\d+\b|\bfl\.?\s+\d{1,3}\b")
_LEAD_IN = re.compile(r"(?i)^.{0,120}?\b(?:for|about|on|regarding|re|in|en|em|à|a|au|zu|per|at|"
                      r"by|of|to|tour|see|view|visit|de la|del|ad:)\s+"
                      r"(?=\d{1,6}(?:/\d{1,6})?[a-z]?,? [^\W\d_]|(?:calle|rua|via|avenida|avenue|"
                      r"rue|paseo|carrer|viale|piazza|corso|travessa)\b)")


def led_in(line: str) -> bool:
    """True when a street follows a sentence's lead-in ("... wants to learn more about 9921
    N Oak St, ..."): the notice speaks of a listing, not of its own office."""
    return bool(_LEAD_IN.match(line[:LINE_MAX]))


# An address inside a sentence that ends in its postcode and town: "... en el chalet de la
# Calle del Pinar, 14, 28220 Majadahonda y quería ...", "... Casa en venta - Av. Paseo de la
# Reforma 1520, Lomas de Chapultepec, 11000 Ciudad de México".
_POSTCODE_TOWN = re.compile(
    r"\b(?:\d{5}|\d{4} ?[A-Z]{2}|\d{3} \d{2}|\d{2}-\d{3}|\d{4}-\d{3}) [A-ZÀ-Þ][\w'’-]+"
    r"(?: (?:de |del |la |am |an der )?[A-ZÀ-Þ][\w'’-]+){0,3}|"
    r"\b[AC-FHKNPRTV-Y]\d{2}[\dW]? ?[0-9AC-FHKNPRTV-Y]{4}\b")
_STREET_START = re.compile(
    r"(?i)\b(?:calle|avenida|av\.|avda\.|rua|via|viale|rue|avenue|boulevard|paseo|plaza|"
    r"carrer|apartment|apt\.?|flat|ul\.|piazza|corso)\s|(?<![\d,.])\b\d{1,5}[a-z]? (?=[A-ZÀ-Þ])")


def address_in_sentence(line: str) -> str | None:
    """A postal address a sentence holds, from its street to its postcode and town."""
    line = line[:LINE_MAX]
    for end in _POSTCODE_TOWN.finditer(line):
        window_start = max(0, end.start() - 90)
        for start in _STREET_START.finditer(line, window_start, end.start()):
            candidate = line[start.start():end.end()].strip(" ,")
            first = candidate.split(",", 1)[0]
            if start.group(0)[:1].isdigit() and not (len(first.split()) >= 3
                                                     and street_of(first)):
                continue  # "12000 Dollars, ...": a number, no street
            if "," in candidate and postal_line(candidate):
                return candidate
    return None


def city_line(line: str) -> bool:
    """A "City, ST 12345" line (or "Bristol BS6 5UE", "10627 Berlin", "Montréal (Québec)
    H2J 2L4")."""
    line = line.strip()
    if len(line) > 60:
        return False
    return bool(_CITY_LINE.match(line) or _EU_ZIP_CITY.match(line)
                or ((_UK_POSTCODE.search(line) or _CA_POSTCODE.search(line))
                    and len(line.split()) <= 5))


# One row of an address set out over several ("22 Gloucester Road" / "Bristol" / "BS7 8AB",
# "908 Linden Ave" / "Oak Park" / "IL" / "60302"): a postcode, a state code or a town.
_POSTCODE_ROW = re.compile(r"^(?:\d{4,5}(?:-\d{3,4})?|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|"
                           r"[A-Z]\d[A-Z] ?\d[A-Z]\d|\d{4} ?[A-Z]{2})$")
_STATE_ROW = re.compile(r"^[A-Z]{2}$")
_TOWN_ROW = re.compile(r"^[^\W\d_][^\W\d_'’.-]*(?:[ '’.-]{1,2}[^\W\d_]+){0,3}$")


def address_rows(lines: list[str], start: int, field_of) -> list[str]:
    """The rows that continue an address from line `start`: towns, a state code, ending in
    the postcode (none unless a postcode ends them); a label or a blank line ends the run."""
    rows: list[str] = []
    for line in lines[start:start + 4]:
        row = line.strip()
        if _POSTCODE_ROW.match(row):
            return [*rows, row]
        if not row or len(row) > 40 or field_of(label_key(row)) is not None or not (
                _STATE_ROW.match(row) or _TOWN_ROW.match(row)):
            return []
        rows.append(row)
    return []


def postal_line(line: str) -> str | None:
    """A whole line that is an address and ends in its postcode, with no house number first
    ("Apartment 1408, Deansgate Square, Manchester M15 4ZJ", "Beech House, 41 Otley Road,
    Harrogate, HG2 0DJ"): at least two comma-separated parts, no sentence in it."""
    line = line.strip().rstrip(". ")
    parts = [p.strip() for p in line.split(",")]
    if len(parts) > 2 and _LISTING_TITLE.search(parts[0]) and re.match(r"\d", parts[1]):
        parts = parts[1:]
        line = ", ".join(parts)
    if not 2 <= len(parts) <= 6 or len(line) > 120 or not _POSTAL_END.search(line):
        return None
    if any(len(p) > 40 or not p or re.search(r"[!?;:@]", p) for p in parts):
        return None
    if not any(re.search(r"\d", p) for p in parts[:-1]) and len(parts) < 3:
        return None  # "Bristol, BS6 5UE": a town, no address
    if _US_END.search(line) or _DOMAIN_WORD.search(line) or not re.search(r"[^\W\d_]{3}",
                                                                           parts[0]):
        return None  # US lines are street_of's; "Apartments.com, 1331 L St"; "78731, 78746"
    return line


_DIGIT = re.compile(r"\d")
# A unit written before the house number, as Canada writes it: "2305 - 88 Harbour St".
_UNIT_FIRST = re.compile(r"^\s*(\d{1,5}[A-Z]?)\s*[-–]\s*$")
_US_END = re.compile(r"\b[A-Z]{2},? \d{5}(?:-\d{4})?\s*$")
_DOMAIN_WORD = re.compile(r"(?i)\w\.(?:com|net|org|co|io|de|fr|es|it|ca|uk|au|nz|nl|br|pt|cz|pl|"
                          r"se|no|dk|fi|ie|ch|at|be|mx|ar|cl|sg|in|ae|jp|cn|hk)\b")
# A listing's title before its street ("2 Bed Apartment to Rent, 14 Ashfield Road, ..."): no
# part of the address.
_LISTING_TITLE = re.compile(r"(?i)\b(?:\d+ ?(?:bed|beds|bedroom|bedrooms|br|bhk)|studio|"
                            r"(?:to|for) (?:rent|let|sale)|apartment|house|villa|condo)\b")


def _after_title(line: str) -> str:
    """A listing line without the title before its street: "Trilocale in affitto, Via Tortona
    27" is "Via Tortona 27"."""
    cut = line.find(", ", 0, 80)
    return line[cut + 2:] if cut > 0 else line


_CLOCK = re.compile(r"(?i)^\s*\d{1,2}(?::\d{2})?\s?(?:am|pm|a\.m\.|p\.m\.)(?!\w)")


@lru_cache(maxsize=128)  # one mail's lines, asked about by several passes
def street_of(line: str) -> str | None:
    """The street address that begins a line ("4410 Oak Hollow Dr, Austin, TX 78745 · ..."),
    through its city/state/zip when they are on the same line."""
    from leadmail.parsers.nlp import street_spans

    line = line[:LINE_MAX]
    if not _DIGIT.search(line) or _CLOCK.match(line):
        return None  # every street shape here has a house number; "10 AM CT" is a time
    spans = street_spans(line, limit=2)
    if spans and spans[0][0] <= 12:
        start, end = spans[0]
        rest = line[end:]
        unit_first = _UNIT_FIRST.match(line[:start])
        unit = re.match(r"^\s*,?\s*((?:#|apt\.?|apartment|unit|suite|ste\.?)\s*[\w-]{1,6})", rest,
                        re.I)
        if unit:
            end += unit.end()
            rest = line[end:]
        tail = re.match(r"^\s*,\s*", rest)
        street = line[start:end].strip()
        if unit_first:  # "2305 - 88 Harbour St": the unit, then the building's number
            street = f"{street} #{unit_first.group(1)}"
        if tail:
            m = _CITY_PREFIX.match(rest[tail.end():]) or _INTL_TAIL.match(rest[tail.end():])
            if m:
                return f"{street}, {_town(m.group(0))}"
        return street
    m = _EU_STREET.match(line) or _EU_STREET.match(_after_title(line))
    if m:
        line = line if _EU_STREET.match(line) else _after_title(line)
        street = m.group(1).strip().rstrip(",")
        rest = line[m.end():]
        town = re.match(r"^\s*,\s*", rest)
        if town and (us := _CITY_PREFIX.match(rest[town.end():])):
            return f"{street}, {_town(us.group(0))}"  # "4006 Avenue G, Austin, TX 78751"
        intl = _INTL_TAIL.match(rest[town.end():]) if town else None
        if intl:  # "4520 Rue Saint-Denis, Montréal, QC H2J 2L3", "..., Porto, 4000-442"
            return f"{street}, {intl.group(0).strip()}"
        tail = re.match(r"^\s*,\s*([^,·|]{2,40})", rest)
        if tail and (re.search(r"\d{4,5}", tail.group(1)) or _UK_POSTCODE.search(tail.group(1))):
            return f"{street}, {tail.group(1).strip()}"
        # "Rua de Cedofeita 212, Cedofeita, Porto": the district and town after it.
        places = re.match(r"^((?:\s*,\s*[^\W\d_][^,·|!?:;\d]{1,30}){1,3}"
                          r"(?:\s*,\s*\d{4,5}(?:-\d{3})?)?)\s*$", rest)
        if places:
            return street + places.group(1)
        return street
    return None


def _town(tail: str) -> str:
    """A street's "City, ST ZIP" as addresses are written: "Round Rock, TX, 78664" loses the
    comma between state and ZIP."""
    return _STATE_COMMA_ZIP.sub(r"\1 \2", tail.strip().rstrip(","))


def street_in(line: str) -> str | None:
    """The street a sentence names after a lead-in word, in the forms usaddress does not
    read ("Nous habitons au 4520 Rue Saint-Denis, Montréal, QC H2J 2L3 depuis ...")."""
    line = line[:LINE_MAX]
    body = _LEAD_IN.sub("", line, count=1)
    if body == line:
        return None
    # the street's own sentence: "au 1840 chemin du Lac à Sainte-Adèle. Est-ce que ..."
    street = street_of(_SENTENCE_STOP.split(body, maxsplit=1)[0])
    if street and "," in street:
        # a clause after the town is no part of it: "..., en Nueva Andalucía (Marbella), y me
        # ha encantado"
        parts = street.split(", ")
        first = 2 if parts[0].isdigit() else 1  # "1250, rue Saint-Denis": the street's own comma
        cut = next((i for i, p in enumerate(parts) if i >= first and p[:1].islower()),
                   len(parts))
        street = ", ".join(parts[:cut])
    return street if street and "," in street else None  # with its town: no "12,000 sq"


_SENTENCE_STOP = re.compile(r"(?<=[a-zà-ÿ]{3})[.!?](?:\s|$)")


# A listing's title: its rooms, or its kind of home for rent or sale ("2 bed flat to rent",
# "Helle 2-Zimmer-Mietwohnung", "Einfamilienhaus", "2 Bedroom Apartment", "Casa en renta").
_ROOMS = re.compile(r"(?i)\b\d+[ -]?(?:bed(?:room)?s?|br|bhk|zimmer|pièces?|habitaciones|"
                    r"quartos|camere|kamers?)\b|\bT\d\b")
_HOME_FOR_LET = Folded(
    r"\b(?:\w+wohnung|einfamilienhaus|reihenhaus|doppelhaushälfte|appartement|piso|casa|"
    r"departamento|apartamento|appartamento|trilocale|bilocale|quadrilocale|monolocale|"
    r"woning|to rent|for sale|for rent|to let|zu vermieten|zu verkaufen|à louer|à vendre|"
    r"en venta|en renta|en alquiler|in affitto|in vendita|te huur|te koop)\b")


def after_listing_title(value: str) -> str | None:
    """The address after a listing's title ("2 bed flat to rent – Abbeville Road, London SW4
    9JX" is "Abbeville Road, London SW4 9JX"); None where the value opens on no such title
    (a flat's number or a house's name is part of the address: "Flat 3, 14 Elm Road")."""
    for sep in (" – ", " — ", " - ", ", "):
        title, found, rest = value.partition(sep)
        if not found or len(title) > 60 or not (_ROOMS.search(title)
                                                or _HOME_FOR_LET.search(title)):
            continue
        if re.search(r"\d", _ROOMS.sub("", title)) or not rest.strip():
            return None  # a number that is no room count: the street, a flat's number
        if street_of(rest) or postal_line(rest) or _UK_POSTCODE.search(rest) or re.search(
                r"\b\d{4,5}\b", rest):
            return rest.strip()
    return None


def named_listing(value: str) -> str | None:
    """The street address after a listing's name ("Eastside Flats, 1401 E 6th St, Austin, TX
    78702": a community's name, no number in it, then a US street line to its ZIP); else None."""
    name, sep, rest = value.partition(", ")
    if not sep or _DIGIT.search(name) or len(name) > 60 or not _US_END.search(rest):
        return None
    return rest.strip() if street_of(rest) else None


# A flat or unit written before the house number, as the UK writes it: "Flat 12, 45 Tib St".
_FLAT_FIRST = re.compile(r"(?i)^\s*((?:flat|apartment|apt\.?|unit|maisonette)\s+\w{1,5}),?\s+"
                         r"(?=\d)")
_TITLE_DASH = re.compile(r"\s[-–—]\s")  # a listing's title, then its street
_PAREN_END = re.compile(r"\(([^()]{6,100})\)\s*$")


# A listing's reference after its street: " - ref. 104882731", " (Réf. AFI-7788)".
_REF_TAIL = re.compile(r"(?i)\s*[-–—|·,(]?\s*\b(?:ref|réf|refs|referencia|référence|rif|"
                       r"riferimento|kenmerk|objekt-?nr|listing id|mls)\b\.?\s*(?:#|no\.?|nr\.?)?"
                       r"\s*[:.]?\s*[A-Z0-9][\w-]{2,20}\)?\s*$")


def address_candidates(lines: list[str], footer_at: int, skip: set[int]) -> list[Candidate]:
    """Street addresses in the layout: a street line, with the "City, ST ZIP" line under it."""
    out = []
    for i, line in enumerate(lines[:footer_at]):
        # A street (street_of) and a postal line (postal_line) both hold a number.
        if (i in skip or not _DIGIT.search(line) or _PROVIDER_WORDS.search(line[:LINE_MAX])
                or _OFFICE.search(line[:LINE_MAX]) or office_line(line[:LINE_MAX])):
            continue
        # "Label: value" loses its label; "... 06:52 PM CT" is no label (a time's colon).
        body = re.sub(r"^\s*[^:\d]{1,40}:\s*", "", line) if ":" in line[:40] else line
        body = _LEAD_IN.sub("", body)  # "New inquiry for 915 W 22nd St #B"
        body = re.sub(r"^(?:\s*>)+\s*", "", body)  # the listing quoted under a reply
        street = None
        for segment in SEGMENT.split(body.strip())[:6]:  # "Apartamento T2 · Rua de ..."
            if _DOMAIN_WORD.search(segment):
                break  # "Cars.com · 300 S Riverside Plaza ...": a provider's own address
            street = street_of(segment)
            whole = postal_line(segment)
            if whole and (not street or len(whole) > len(street)):
                # "12/38 Milson Road, Cremorne Point NSW 2090", "Götgatan 45, 118 26 Stockholm":
                # the whole line, where the street reader keeps only its first part
                street = whole
            if street:
                break
        if street and (flat := _FLAT_FIRST.match(body)) and not street.lower().startswith(
                flat.group(1).lower()) and body[flat.end():].startswith(street[:8]):
            street = f"{flat.group(1)}, {street}"  # "Flat 12, 45 Tib Street": the flat stays
        if not street and (dash := _TITLE_DASH.search(body[:80])):
            after = street_of(body[dash.end():])  # "T2 para arrendar - Rua de Santa ..."
            street = after if after and "," in after else None
        if not street and (paren := _PAREN_END.search(body[:LINE_MAX])):
            street = street_of(paren.group(1))  # "2br house with yard (1620 Elm St, Reno, NV)"
        if not street:
            street = address_in_sentence(body)
        if not street:
            continue
        street = _REF_TAIL.sub("", street) or street  # "..., Chamberí - ref. 104882731"
        feats: list[str] = []
        if "," not in street:
            j = i + 1
            while j < len(lines) and not lines[j].strip() and j - i <= 2:
                j += 1
            below = SEGMENT.split(lines[j].strip())[0] if j < len(lines) else ""
            if below and city_line(below) and not _PROVIDER_WORDS.search(lines[j]):
                street = f"{street}, {below}"  # "Chicago, IL 60608 · $1,595/mo · 2 bd"
        if "," in street:
            feats.append("full_address")
        out.append(Candidate("property_address", street, "street_block", tuple(feats), i))
    return out


def same_street(short: str, full: str) -> bool:
    """True when `full` is `short` made longer ("4410 Oak Hollow Dr" in "4410 Oak Hollow Dr,
    Austin, TX 78745"): the same house number and first street word."""
    a = re.findall(r"\w+", short.lower())[:2]
    b = re.findall(r"\w+", full.lower())[:2]
    return len(a) == 2 and a == b and len(full) > len(short)


def fuller(win: Candidate, cands: list[Candidate]) -> Candidate:
    """The same street given more fully elsewhere in the layout ("Trilocale in affitto in Via
    Po 18, Torino" above "Via Po 18, 10123 Torino"): the one with its postcode, or with more
    of its parts; else the winner."""
    has_code = bool(_POSTAL_END.search(win.value))
    for c in cands:
        if c is not win and same_street(win.value, c.value) and (
                c.value.count(",") > win.value.count(",")
                or (not has_code and _POSTAL_END.search(c.value))):
            return c
    return win


# --------------------------------------------------------------------------- messages


_FIRST_PERSON = re.compile(r"(?i)\b(i|i'm|i'd|i've|i’m|i’d|we|we're|we'd|we'll|we’re|my|our|"
                           r"me|us)\b")
def first_person(text: str) -> bool:
    """True when the text speaks as I or we: a person's sentence, not a layout's label."""
    return bool(_FIRST_PERSON.search(text))


_NOTICE_WORDS = Folded(
    r"\b(you have (received|a new)|this (message|email|e-mail|entry) was (sent|submitted)|"
    r"hit reply|reply to (this|respond)|unsubscribe|manage (your )?(leads|notifications)|"
    r"report spam|privacy|terms of|all rights reserved|you('re| are) receiving|"
    r"(please )?do not reply|view (all )?(responses|entries|submissions)|sent (from|via) \w+|"
    r"has been (added|sent|forwarded) to|rispondi|responda|rispondere|antworten sie|"
    r"beantwoord|svara|vous recevez|se désabonner|désinscri|darse de baja|abmelden|"
    r"vous pouvez répondre|pour répondre|puede responder|pode responder|reply directly|"
    r"recibes este|ricevi questa|u ontvangt|you(?:'ve| have) got a new|"
    r"recomendamos (?:responder|contactar)|responder lo antes posible|répondez rapidement|"
    r"rispondi al più presto|"
    # "You were just connected with a buyer by phone. Here are the details we collected"
    r"you(?:'ve| have| were)? (?:just )?(?:been )?connected with|here are the details)|"
    # the provider speaking of the person: "We matched this renter with your property",
    # "Meet your new Clever seller. We've told them to expect your call"
    r"\b(?:this|your new(?: [\w.]+)?) (?:renter|buyer|seller|lead|consumer|customer|prospect|"
    r"shopper|tenant|client)\b|\bwe(?:'ve| have) told them\b|\bsomeone (?:submitted|filled out|"
    r"completed|sent)\b")
# A provider's own line: "SmartFinancial Insurance Agency | Agent Services (855) 555-0171",
# "Immobiliare.it · Via Lorenteggio 240, 20147 Milano".
_COMPANY_LINE = re.compile(r"^[^.!?]{2,80}\s[|·•]\s.*\d|^\S+\.(?:com|it|fr|de|es|nl|co\.uk|ca|au)"
                           r"\b.{0,80}[|·•]")


_STACKED_LABEL = re.compile(r"^[^\W\d_][^.!:\n]{1,58}(?:[^\W_]|\?)$")


def human_paragraph(lines: list[str], footer_at: int) -> Candidate | None:
    """The first paragraph a person wrote, in a notification that does not label it: a few
    sentences in the first person, no label, no link, no notice wording."""
    paras: list[list[str]] = [[]]
    for line in lines[:footer_at][:400]:
        if line.strip() and not (paras[-1] and _LABEL_COLON.match(line)):
            paras[-1].append(line.strip())
        elif paras[-1]:
            paras.append([])  # a blank line, or a "Move In: 1 Sept" row, ends a paragraph
            if line.strip():
                paras[-1].append(line.strip())
    # A form set as stacked rows ("Monthly budget" / "$2,500", "Email" / "a@b.org"): there the
    # first line of a paragraph is its label ("Anything you'd like us to know?",
    # "Additional details"), not the person's words.
    stacked = sum(1 for p in paras if len(p) == 2 and _STACKED_LABEL.match(p[0]))
    for i, para in enumerate(paras):
        if stacked >= 3 and len(para) > 1 and _STACKED_LABEL.match(para[0]):
            label, para = para[0], para[1:]
            text = " ".join(para)
            if (len(text) >= 10 and len(text) <= 3000 and not _NOTICE_WORDS.search(text)
                    and not re.search(r"(?i)https?://|www\.|@", text)
                    and _FIRST_PERSON.search(f"{label} {text}")):
                return Candidate("message", "\n".join(para), "human_paragraph",
                                 ("first_person", "under_label"), i)
            continue
        text = " ".join(para)
        if (len(text) < 40 or len(text) > 3000 or _LABEL_COLON.match(para[0])
                or re.search(r"(?i)https?://|www\.|@", text) or _NOTICE_WORDS.search(text)
                or not re.search(r"[.?!]", text)):
            continue
        if _FIRST_PERSON.search(text):
            return Candidate("message", "\n".join(para), "human_paragraph", ("first_person",), i)
        if _ASKED.match(text) and not _TO_READER.search(text):
            # "Does this home sit in a flood zone? Is flood insurance required by the
            # lender?": a person's questions about the listing (a notice asks its reader,
            # "you")
            return Candidate("message", "\n".join(para), "human_paragraph", ("questions",), i)
    return None


# Only questions ("...?" sentences), and none to the notice's reader ("you").
_ASKED = re.compile(r"^[^.!?]{8,300}\?(?:\s*[^.!?\s][^.!?]{3,300}\?)*$")
_TO_READER = re.compile(r"(?i)\byou(?:r|'re|’re)?\b")


_VALEDICTION = re.compile(
    r"(?i)^(best|all the best|thanks|many thanks|thanks again|thanks so much|thank you|"
    r"regards|kind regards|best regards|warm regards|warmly|cheers|sincerely|respectfully|"
    r"cordialement|bien à vous|salutations|saludos(?: cordiales)?|un saludo|atentamente|"
    r"mit freundlichen grüßen|viele grüße|beste grüße|atenciosamente|obrigad[oa]|abraços|"
    r"grazie|cordiali saluti|distinti saluti|met vriendelijke groet(?:en)?|groeten|"
    r"best wishes|take care|talk soon|yours truly|thank you again|with thanks|thx|"
    r"merci(?: beaucoup| d'avance)?|bien cordialement|gracias|muchas gracias|un abrazo|"
    r"danke|vielen dank|(?:mit )?freundlichen? gr(?:ü|ue)(?:ß|ss)(?:e|en)|"
    r"liebe gr(?:ü|ue)(?:ß|ss)e|"
    r"cumprimentos|saluti|un saluto|(?:hartelijke|vriendelijke) groet(?:en)?|ngā mihi|"
    r"s pozdravem|děkuji|pozdrawiam|mvh|med vänlig hälsning|"
    # Japanese, Chinese and Korean closings
    r"(?:どうぞ)?よろしくお願い(?:いた)?します|敬具|以上|谢谢|謝謝|此致敬礼|此致|감사합니다)"
    r"[,.!。！、]*$")
# A closing line that opens on a valediction and runs on a little ("Merci d'avance et bonne
# journée,", "Thanks so much for your help!").
_CLOSING_LEAD = re.compile(
    r"(?i)^(?:thanks|thank you|many thanks|merci|best|regards|kind regards|warm regards|"
    r"cheers|sincerely|all the best|saludos|gracias|un saludo|cordialement|bien à vous|"
    r"mit freundlichen|viele grüße|liebe grüße|grazie|cordiali saluti|obrigad[oa]|"
    r"atenciosamente|abraços|met vriendelijke|groeten|děkuji|pozdrawiam|hälsningar)\b"
    r"[^.?!\n]{0,40}[,!]\s*$")
_SIGNATURE_LINE = re.compile(
    r"(?i)^(?:[+(]?\d[\d ().-]{8,}\d|\S+@\S+\.\w+|(?:m|c|o|t|cell|mobile|phone|tel|mobil|handy|"
    r"tél|telefon|telefone|teléfono|telefono|celular|cellulare|portable|whatsapp)\.?\s?"
    r"(?:[:.]\s*\S.*|\s*[+(]?\d[\d ().-]{8,}\d)|"
    r"(?:[-–—] ?)?[^\W\d_][\w'’.-]*(?:(?: (?:&|and|y|et|und|e))? [^\W\d_][\w'’.-]*){0,3}|"
    r"\d{1,6} [\w .'#-]{2,40}|"
    r"[^\W\d_][\w .'-]{1,30},? [A-Z]{2} \d{5}(?:-\d{4})?|[^.!?]{2,60}\|[^.!?]{2,60})$")


_CONTACT_ONLY = re.compile(
    r"(?i)^(?:[+(]?\d[\d ().-]{8,}\d|\S+@\S+\.\w+|"
    r"(?:携帯|電話|手机|电话|手機|電話番号)\s*[:：]\s*\S.*|"
    r"(?:m|c|o|t|cell|mobile|phone|tel|mobil|handy|"
    r"tél|telefon|telefone|teléfono|telefono|celular|cellulare|portable|whatsapp)\.?\s?"
    r"(?:[:.]\s*\S.*|\s*[+(]?\d[\d ().-]{8,}\d)|"
    r"\d{1,6} [\w .'#-]{2,40}|[^\W\d_][\w .'-]{1,30},? [A-Z]{2} \d{5}(?:-\d{4})?|"
    r"[^.!?]{2,60}\|[^.!?]{2,60})$")


# A company's legal notice under a signature: no one's words.
_DISCLAIMER = re.compile(
    r"(?i)^\s*(?:confidentiality notice|confidential(?:ity)?\s*:|disclaimer\s*:|"
    r"this (?:e-?mail|message)(?: and any (?:attachments?|files)[\w ]{0,30})? (?:is|are|may "
    r"(?:be|contain)) (?:confidential|privileged|intended)|the information (?:contained )?in "
    r"this (?:e-?mail|message)|avis de confidentialité|aviso de confidencialidad|"
    r"vertraulichkeitshinweis)")


def strip_signature(text: str) -> str:
    """A person's mail without its signature: from a "-- " line, and the contact lines (phone,
    email, postal address) that close it. The sign-off ("Thanks,\nDana") stays: their words."""
    lines = text.split("\n")
    cut = next((i for i, ln in enumerate(lines) if ln.strip() in ("--", "-- ", "—", "__")
                or (i and _DISCLAIMER.match(ln[:LINE_MAX]))), None)
    if cut is not None and cut > 0:
        lines = lines[:cut]
    while lines and (not lines[-1].strip() or _CONTACT_ONLY.match(lines[-1].strip()[:120])):
        lines.pop()
    return "\n".join(lines).strip()


def strip_signoff(text: str) -> str:
    """A person's words without anything after them: the signature (strip_signature), then a
    sign-off ("Best,\nNatalie Brennan") and a lone name. A closing sentence ("Thank you so
    much!") stays. `leadmail eval` compares messages so too when they differ only there."""
    lines = strip_signature(text).split("\n")
    # The last closing line ("Thank you,", "Merci d'avance et bonne journée,") with only a
    # signature under it (a name, a title, a company, an address: short lines, no sentence).
    for idx in range(len(lines) - 1, max(-1, len(lines) - 14), -1):
        closing = lines[idx].strip()[:LINE_MAX]
        if not (_VALEDICTION.match(closing) or _CLOSING_LEAD.match(closing)):
            continue
        rest = [ln.strip() for ln in lines[idx + 1:] if ln.strip()]
        if idx > 0 and len(rest) <= 8 and all(
                len(ln) <= 80 and len(ln.split()) <= 10 and not ln.endswith((".", "?"))
                for ln in rest):
            return "\n".join(lines[:idx]).strip()
        break
    for _ in range(3):  # "Saludos cordiales," / "" / "Javier de la Cruz": blocks, from the end
        end = len(lines)
        start = end
        while start > 0 and lines[start - 1].strip():
            start -= 1
        block = [ln.strip() for ln in lines[start:end]]
        if not block or start == 0 or len(block) > 7:
            break
        sign = next((k for k, ln in enumerate(block) if _VALEDICTION.match(ln)), None)
        if sign is not None and all(_SIGNATURE_LINE.match(ln) for ln in block[sign + 1:]):
            lines = lines[:start] + lines[start:start + sign]  # the words before "Thanks,"
        elif all(_SIGNATURE_LINE.match(ln) and len(ln) <= 60 for ln in block) and (
                len(block) > 1 or _VALEDICTION.match(lines[start - 2].strip() if start > 1
                                                     else "")):
            lines = lines[:start]
        elif len(block) == 1 and _SIGNATURE_LINE.match(block[0]) and len(block[0]) <= 30:
            lines = lines[:start]  # a lone name under the last paragraph
        else:
            break
        while lines and not lines[-1].strip():
            lines.pop()
    return "\n".join(lines).strip()


_GREETING = re.compile(
    r"(?i)^(?:hi|hello|hey|hiya|dear|good (?:morning|afternoon|evening|day)|greetings|"
    r"bonjour|bonsoir|salut|madame|monsieur|hola|buenos d[ií]as|buenas(?: tardes| noches)?|"
    r"estimad[oa]s?|querid[oa]|ol[aá]|bom dia|boa tarde|boa noite|prezad[oa]s?|hallo|"
    r"guten (?:tag|morgen|abend)|sehr geehrte[rs]?|liebe[rs]?|moin|servus|gr[üu](?:ß|ss) gott|"
    r"buongiorno|buonasera|ciao|salve|gentil[ei]|goedemiddag|goedemorgen|goedenavond|beste|"
    r"dobr[ýy] den|dzie[ńn] dobry|kia ora|hej|god dag)\b[^.?\n]{0,50}$|^ご担当者様|^您好|^你好")


def strip_greeting(text: str) -> str:
    """A person's words without the salutation line that opens them ("Hello,", "Sehr geehrte
    Damen und Herren,"): writers of expected messages keep it or not, as they keep a sign-off."""
    first, sep, rest = text.strip().partition("\n")
    if sep and rest.strip() and len(first) <= 60 and _GREETING.match(first.strip()):
        return rest.strip()
    return text.strip()


def quoted_message(lines: list[str], footer_at: int) -> Candidate | None:
    """A paragraph set in quotation marks: how many portals show the person's own words."""
    for i, line in enumerate(lines[:footer_at]):
        s = line.strip()
        if _is_quoted_open(s) and len(s) >= 20:
            above = next((ln.strip() for ln in reversed(lines[max(0, i - 3):i]) if ln.strip()), "")
            if above.endswith(":") and keyword_field(label_key(above[:-1])) == "notes":
                continue  # "Notes from your HomeLight concierge (Tasha):" / "“Jamie ...”"
            value, _ = paragraph(lines, i)
            return Candidate("message", _unquote(value), "quoted", (), i)
    return None


_PLACEHOLDER = re.compile(
    r"(?i)^[(\[]?\s*(?:none|n/?a|no (?:message|comments?|notes?|questions?)"
    r"(?: (?:were|was|has been|have been))?(?: (?:provided|left|given|entered|included|submitted)"
    r"(?: by (?:the )?(?:consumer|customer|user|lead|buyer|renter|prospect|shopper|client|"
    r"homeowner))?)?|not provided|none (?:provided|given|entered|left)|nothing|empty|[-–—]+|"
    r"message|"
    r"schedule a tour|request a tour|view listing|reply now|call now|contact (?:buyer|lead)|"
    r"(?:request|schedule|book) a (?:showing|viewing)|"
    r"\(?blank\)?|(?:the )?(?:consumer|customer|user|lead|buyer|renter|prospect|shopper|client) "
    r"(?:did not|didn't) "
    r"(?:include|leave|write|provide) (?:a |any )?(?:message|comments?))\s*[.)\]]?\s*$")


def is_placeholder(value: str) -> bool:
    """A form's word for nothing: "(none)", "N/A", "(The consumer did not include a message)"."""
    first = value.strip().split("\n\n", 1)[0]
    return len(first) <= 80 and bool(_PLACEHOLDER.match(first))


_HEADING_LINE = re.compile(r"^[^\Wa-z\d_][^a-z.!?:]{2,40}$")  # capitals only, no sentence
# A message label set on its own line above the words, without a colon ("Homeowner comments",
# "Message from the buyer", "Nachricht des Interessenten").
_MESSAGE_HEADING = re.compile(
    r"(?i)^(?:[^\W\d_][\w' ]{0,30}\b)?(comments?|message|questions?|notes?|mensaje|nachricht|"
    r"messaggio|mensagem|commentaires?|bericht)\b[\w' ]{0,30}$")


def _answer_of_questions(value: str) -> str | None:
    """Under a "Questions:" heading, a scheduler's or a form's questions, each over its
    answer ("Which property would you like to tour?" / "3806 Avenue F, ..." / "" /
    "Anything we should know?" / "I'll bring my pre-approval letter."): the person's words
    are the answer to the open question, not the whole block. None when the value is not
    such a block."""
    paras = [p.strip().split("\n") for p in _PARAGRAPH_BREAK.split(value.strip())]
    if len(paras) < 2 or len(paras) > 12 or not all(
            len(p) > 1 and _question_line(p[0].strip()) for p in paras):
        return None
    answers = [(keyword_field(label_key(p[0].strip())), "\n".join(p[1:]).strip()) for p in paras]
    free = [a for field, a in answers if field in (None, "message", "notes") and len(a) >= 10
            and not any(street_of(ln) for ln in a.split("\n")[:3])
            and not re.fullmatch(r"[\d\s$€£.,:/+()-]+", a)]
    asked = [a for field, a in answers if field == "message"]
    picked = asked or free
    return picked[-1] if picked else None


def tidy_message(value: str) -> str:
    """A message without its wrapping quotes and without layout lines that trail it (a rule
    line, a label of the next section), and without the form's own prompt above the words
    ("Please share anything that will help prepare for our meeting." / "We have ...")."""
    lines = value.split("\n")
    prompt = lines[0].strip()
    if (len(lines) > 1 and "\n".join(lines[1:]).strip() and 10 <= len(prompt) <= 100
            and not re.search(r"[.!?]\s", prompt)  # one sentence: no person's "Interested."
            and keyword_field(label_key(prompt.rstrip(":"))) == "message"):
        lines = lines[1:]
        while lines and not lines[0].strip():
            lines = lines[1:]
    if (answer := _answer_of_questions("\n".join(lines))) is not None:
        lines = answer.split("\n")
    if lines[0].lstrip().startswith(">"):
        # Set as an email quotation ("> Hi! I'm relocating..."): the quoted lines only.
        quoted = []
        for line in lines:
            if not line.lstrip().startswith(">"):
                break
            quoted.append(line.lstrip()[1:].removeprefix(" "))
        lines = quoted
    while len(lines) > 1 and (not lines[0].strip() or _RULE_LINE.match(lines[0].strip())
                              or _HEADING_LINE.match(lines[0].strip())
                              or _MESSAGE_HEADING.match(lines[0].strip())):
        # "WHAT BRIAN SAID" / "We're relocating ...", "MESSAGE" / "-----" / "Could we ...":
        # the heading and its rule are no message
        lines = lines[1:]
    while lines and (not lines[-1].strip() or _RULE_LINE.match(lines[-1].strip())
                     or lines[-1].strip().startswith(":")):
        lines.pop()
    for i, line in enumerate(lines):
        if i and _RULE_LINE.match(line.strip()):
            lines = lines[:i]
            break
    text = "\n".join(lines).strip()
    if _PROVIDER_NOTICE.search(strip_greeting(text).split("\n", 1)[0][:LINE_MAX]):
        # an empty "Comments:" row and the provider's own paragraph under it, or its
        # announcement under the greeting to the agent ("Hi Megan," / "Great news - ...")
        return ""
    if _TRAILER.match(strip_greeting(text)[:LINE_MAX]):
        return ""  # "You can also reply directly to this email.": the notice, not the person
    text = _cut_trailer(text)
    if text[:1] in "\"“«„":
        # '"Thinking of downsizing ..." \n\n Call within 5 minutes ...': the quotation only
        close = re.search(r"[\"”»“][ \t]*(?:\n[ \t]*\n|$)", text[1:])
        return _unquote(text[: close.end() + 1] if close else text)
    return text


# The provider speaking, where a message was expected: its form's links ("View all responses
# · Open spreadsheet"), its word for the person ("The customer has been presented with ..."),
# its own announcement ("You've got a new lead from your landing page").
_PROVIDER_NOTICE = Folded(
    r"^(?:view all (?:your )?(?:responses|submissions|entries|leads)|open (?:the )?spreadsheet)\b|"
    r"\bthe (?:customer|consumer|prospect|shopper|lead|client) (?:has|was|is|will|did)\b|"
    r"\byou(?:'ve| have) (?:got|received) (?:a )?new (?:lead|submission|inquiry|enquiry|"
    r"response|message|prospect)\b|\blog ?in to (?:the |your )?[\w .]{0,30}\bportal\b|"
    # the provider announcing the lead, or describing the person in the third person
    r"^(?:great|good) news\b|^congratulations\b|\bwe have (?:a |an )?new (?:referral|lead|match|"
    r"client)\b|\byou(?:'ve| have) been matched\b|\bwe (?:just )?connected you\b|"
    r"^an? (?:homeowner|buyer|seller|renter|consumer|shopper|customer|visitor|user) (?:in your "
    r"area )?(?:tracked|asked|requested|has|is|wants|viewed|saved|submitted)\b|"
    r"\b(?:concierge|our team|our agent) (?:spoke|talked|connected|called)\b|"
    r"\b(?:lender|agent|customer|dealer) support\b.{0,40}\d{3}|"
    r"^(?:new )?lead (?:added|created|assigned|imported) (?:to|in)\b|"
    r"\b(?:this|the) (?:consumer|customer|lead|borrower) (?:has )?consented\b")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_TRAILER = re.compile(
    r"(?i)^(please (reply|respond)|reply (directly|to this)|to (reply|respond)|pour répondre|"
    # the notice's record of the person and of where it went: "The user has also asked to be
    # contacted by: Email", "Signed in Sunday, May 18 ...", "Contato enviado para ..."
    r"the (user|visitor|customer|consumer|prospect|shopper|lead|client|buyer|renter|sender) "
    r"(has|have|was|is|will|did)\b|"
    r"(signed|checked) in (on |at )?(mon|tue|wed|thu|fri|sat|sun|today|yesterday|\d)|"
    r"(contato|contacto|mensagem|mensaje|message|messaggio|nachricht|anfrage|demande) "
    r"(enviad[oa]|envoyée?|inviat[oa]|gesendet|sent|transmise?) (para|a|à|to|an|al)\b|"
    r"the (audio|voice) (message|file|recording) is attached|contact \w+ now\b|"
    r"call (now|today|them|him|her) ?[-–—!.,:]|thank(s| you) for using\b|"
    r"(customers|leads|homeowners|buyers|clients) (who are |that are )?(contacted|called|"
    r"reached)\b|"
    r"respond first\b|entry id\b|submission id\b|entry #|"
    r"na dotaz můžete odpovědět|odpowiedz|svara (på|direkt)|vastaa|yanıtla|"
    r"sie können|puedes responder|pode responder|para responder|antworten sie|"
    r"répondez|responda|view in\b|open in\b|property of interest$|listing details$|"
    r"this (e-?mail|message) was sent|you('re| are) receiving|"
    # what the notification tells the agent to do next, and its buttons, in a few languages
    r"(please )?(call|contact|phone|email|reach) (this|the) (customer|lead|client|homeowner|"
    r"buyer|seller|renter|consumer|applicant|tenant)\b|"
    r"you can (also )?(edit|view|manage|reply|respond|see)\b|"
    r"[\w.-]+ is (a |an )?(division|subsidiary|part|member|brand) of\b|"
    # a form's consent and subscription lines, and its submitter block
    r"i (agree|consent|accept|acknowledge|authori[sz]e)\b|by (submitting|checking|clicking|"
    r"providing)\b|sign me up\b|opt-?in\b|sign-?up source|subscribe\b|user information$|"
    r"j'accepte\b|acepto\b|autorizo\b|ich (stimme|willige)\b|concordo\b|"
    r"(please )?(reach out|respond|follow up) within \d|"
    # a form's own record of the entry under the answers, and what the agent must do next
    r"submitted (at|on|from|via)\b|utm_\w+\s*:|sent automatically\b|automatically sent\b|"
    r"this (inquiry|lead|request|message|notification) was (sent|generated|delivered)\b|"
    r"(open|view) (the )?(contact|lead|inquiry|conversation)$|"
    r"(view|see) all (your )?(responses|submissions|entries|leads)\b|"
    r"open (the )?spreadsheet\b|(please )?(call|contact|reach|follow up with) \S+ within \d|"
    r"your\b[^:\n]{0,40}\b(loan officer|agent|advisor|concierge|specialist)\s*:|"
    r"voir (dans|les|la|le|sur)\b|afficher (les|la|le|dans)\b|ver (en|las|la|el|respuestas)\b|"
    r"visualizar (no|na|as|a|o)\b|bekijk (in|de|het)\b|ansehen\b)")


_BARE_LINK = re.compile(r"(?i)^<?(https?://|www\.)\S+>?$")  # "View all responses:" / a link


_LISTING_LINE = re.compile(r"(?i)^\s*[:$€£]?\s*[\d$€£][\d,. ]*(?:\s*[$€£])?\s*[·|]|"
                           r"^\s*\d+\s*(?:beds?|bd|bedrooms?)\b.{0,40}\b(?:baths?|ba)\b")
_IN_LINE_NOTICE = re.compile(r"(?i)^_?\w+: |https?://|^(?:vous pouvez|you can|puede|pode|sie "
                             r"können)\b|:\s*(?:checked|unchecked|yes|no|true|false|oui|non|"
                             r"sí|si|ja|nein|sim|não)\s*$")


def _cut_lines(para: str) -> str:
    """A paragraph without the notice lines run on under the person's words, with no blank
    line between ("...Pflugerville." / "_subject: Website contact")."""
    lines = para.split("\n")
    for i, line in enumerate(lines[1:], 1):
        s = line.strip()[:LINE_MAX]
        if (_IN_LINE_NOTICE.search(s) or _NOTICE_WORDS.search(s) or _COMPANY_LINE.search(s)
                or _TRAILER.match(s) or business_line(s) or _ID_ROW.match(s)):
            return "\n".join(lines[:i]).strip()
    return para


_URL_IN = re.compile(r"(?i)\bhttps?://\S")
_NAMED_ADDRESS = re.compile(r"^[^\d,]{2,60},\s*\d{1,6} [^\W\d_][^,]{2,50},\s*[^,]{2,40}"
                            r"(?:,\s*[A-Z]{2})?\s+\d{5}(?:-\d{4})?\s*$")


_BUSINESS_SPLIT = re.compile(r",\s+|\s+[-–—|·]\s+")


def business_line(line: str) -> bool:
    """A company's name and its postal address on one line ("Domain Group, Level 5, 100 Harris
    Street, Pyrmont NSW 2009", "SeLoger - 10 rue de la Paix, 75002 Paris"): a footer, never
    the person's words."""
    if len(line) > 160:
        return False
    parts = _BUSINESS_SPLIT.split(line.strip(), maxsplit=1)
    if len(parts) != 2 or not parts[0] or len(parts[0]) > 60 or parts[0][:1].isdigit() or (
            street_of(parts[0])):  # a name may hold a number ("Route 66 Harley-Davidson")
        return False
    if len(parts[0].split()) > 5 or not parts[0][:1].isupper():
        return False
    # "... TN 37203 | (615) 555-0116", "... AZ 85282 - (480) 555-0119": the street part
    rest = re.split(r"\s+[-–—|·•]\s+", parts[1].strip())[0].strip().rstrip(".")
    if not _ADDRESS_OPENING.match(rest) or _GREETING.match(parts[0]):
        return False  # "Hi Dana, we live at 12 Elm St, ...": a person's sentence
    # ("2 Embarcadero Center, 8th Floor, San Francisco, CA 94111": a number, then a US town
    # and ZIP, where the street reader knows no "Center")
    return bool(postal_line(rest) or (_US_END.search(rest) and (street_of(rest)
                                                                or rest[:1].isdigit())))


_ADDRESS_OPENING = re.compile(r"(?i)^(?:\d|level\b|suite\b|floor\b|unit\b|p\.?\s?o\.? box\b|"
                              r"(?-i:[A-ZÀ-Þ])[\w'’.-]+(?: [\w'’.-]+){0,3} \d)")


_ROW = re.compile(r"^[^\W\d][\w .'’/-]{0,40}:[ \t]+\S")


_SITE_NAME = re.compile(r"(?i)[a-z][\w-]{1,30}(?:\.[a-z][\w-]{1,30})?\.(?:com|net|org|io|ai|app|co|"
                        r"us|biz|[a-z]{2})")
_COMPANY_WORD = re.compile(r"(?i)\b(?:co|inc|llc|ltd|corp|company|group|gmbh|s\.?a|pty)\b\.?")
_PHONE_IN = re.compile(r"(?:\+?\d[\d ().-]{8,}\d)")


def office_line(line: str) -> bool:
    """A business's name, street and phone on one line ("Music City Painting Co. | 600 8th Ave
    S, Nashville, TN 37203 | (615) 555-0116"): the office of whoever sent or received the mail,
    never the lead's place or the listing."""
    head = _BUSINESS_SPLIT.split(line.strip(), maxsplit=1)[0]
    # ("Smith.ai, 2625 Middlefield Rd #604, ...": a name that is a web address is a business's)
    return business_line(line) and bool(_PHONE_IN.search(line) or _COMPANY_WORD.search(head)
                                        or _SITE_NAME.fullmatch(head.strip()))


def _provider_paragraph(para: str) -> bool:
    """A later paragraph that is not the person's: the form's own rows ("ip_address: ..." /
    "date_submitted: ..."), or the provider speaking of itself with no word of the writer's
    ("Replies to this address will be forwarded by CarGurus.")."""
    lines = [ln.strip() for ln in para.strip().split("\n") if ln.strip()]
    if lines and all(_ROW.match(ln) for ln in lines):
        return True
    return not _FIRST_PERSON.search(para) and brand_named(para) is not None


# The person spoken of in the third person, by the word a notification uses for them.
_ROLE_WORD = re.compile(r"(?i)\b(?:prospect|lead|shopper|consumer|customer|renter|tenant|applicant|"
                        r"homeowner|borrower|visitor|caller|client|enquirer|inquirer)s?\b")
# An office's line: a street, then its phone last ("..., 250 Smith St, Collingwood VIC 3066,
# (03) 9000 0000", "..., 22 Whiteladies Road, Bristol BS8 2LG, 0117 496 0123.").
_OFFICE_TAIL = re.compile(r"\b\d{1,6}[A-Za-z]? [A-Z][\w'’.-]*[^\n]{0,120}?[,·|•]\s*"
                          r"[+(]?\d[\d ().-]{7,}\d\.?\s*$")
_ATTACHED = re.compile(r"(?i)\battached to this (?:e-?mail|message)\b"
                       # the notice's deadline for the agent: "Please confirm within 1 hour"
                       r"|\bwithin (?:\d{1,3}|an?|one|two|five|ten) "
                       r"(?:minutes?|mins?|hours?|hrs?)\b")
_ID_ROW = re.compile(r"(?i)^[^\W\d][\w .'/-]{0,30}(?:#|\bid\b|\bno\.|\bnumber\b|\bref\b)\s*:\s*"
                     r"[\w-]{0,20}\d")
_POSTAL_TAIL = re.compile(r"\b[A-Z]{2},? \d{5}(?:-\d{4})?(?:\s*[,·|•–-]\s*[+(]?\d[\d ().-]{8,}\d)?"
                          r"\.?\s*$")
_BARE_ROW = re.compile(r"^[^\W\d][\w .'’/()#-]{0,40}\s?:[ \t]+\S")
_US_ROAD = re.compile(r"\bUS(?= (?:Hwy|Highway|Route|Rte|Rt\.?|\d))")
_AREA = re.compile(r"\d\s?(?:m²|m2|sq\.? ?ft|sqft|ft²)(?!\w)")


def not_the_persons(para: str) -> bool:
    """A later paragraph under the person's words that speaks with no word of theirs (no "I",
    no "we", no question): of the person in the third person ("Please contact the prospect
    within 24 hours", "Seller leads convert best ..."), of an attachment, or as a record: rows
    under a heading ("VEHICLE INFORMATION" / "Year: 2021"), a line ending in a postal code or
    a phone ("Hosted by Lena Park, ..., Walnut Creek, CA 94596 · (925) 555-0110")."""
    # ("1450 US Hwy 19 N": a highway, no "us")
    if _FIRST_PERSON.search(_US_ROAD.sub("", para)) or "?" in para:
        return False
    lines = [ln.strip() for ln in para.strip().split("\n") if ln.strip()]
    if not lines:
        return False
    if _ROLE_WORD.search(para) or _ATTACHED.search(para):
        return True
    if any(_AREA.search(ln) or postal_line(ln[:LINE_MAX]) for ln in lines):
        return True  # the listing again: "Casa à venda - 3 quartos - 180 m²" / its street
    if len(lines) > 1 and all(_BARE_ROW.match(ln) for ln in lines[1:]):
        return True  # a heading and its rows
    return any(_POSTAL_TAIL.search(ln[:LINE_MAX]) or _OFFICE_TAIL.search(ln[:LINE_MAX])
               for ln in lines)


def _cut_trailer(text: str) -> str:
    """The message without what a notification prints after it: from the first later
    paragraph that is a reply instruction, a footer or the provider's sign-off line."""
    paras = _PARAGRAPH_BREAK.split(text)
    kept = [_cut_lines(paras[0])]
    if len(paras) < 2 or kept[0] != paras[0]:
        return kept[0]
    for para in paras[1:]:
        head = para.strip().split("\n", 2)
        first = head[0].strip()[:LINE_MAX]
        link = next((x.strip() for x in head[1:2]), first)
        if (_TRAILER.match(first) or _BARE_LINK.match(link) or _BOILER.match(first)
                or _NOTICE_WORDS.search(first) or _COMPANY_LINE.search(first)
                or re.match(r"^[^\W\d_][\w /&'’()-]{0,50}:\s*$", first) or first.startswith(": ")
                # a form's next row: "How did you hear about us?: Nextdoor"
                or re.match(r"^[^\W\d_][^:\n]{0,80}\?:\s*\S", first)
                or any(street_of(ln) or _LISTING_LINE.search(ln) for ln in para.split("\n")[:8])
                or strip_footer(first) != first
                or (_PROVIDER_WORDS.search(first) and re.search(r"\d", first))
                # "Follow up from the app: https://...", a business's own address line
                # ("Music City Honda, 1500 Gallatin Pike, Nashville, TN 37206")
                or _URL_IN.search(first) or (_NAMED_ADDRESS.search(first)
                                             and len(first) <= 140)
                or (_DOMAIN_WORD.search(first) and re.search(r"\d", first))
                or business_line(first) or _provider_paragraph(para)
                or not_the_persons(para)):
            break
        kept.append(para)
    return "\n\n".join(kept).strip()


# --------------------------------------------------------------------------- brands


@cache
def providers() -> list[dict]:
    """The known lead providers without a parser of their own (providers.json)."""
    return json.loads(_PROVIDERS.read_text())["providers"]


def provider_region(addr: str) -> str | None:
    """The phone region of a known provider's country ("region" in providers.json)."""
    found = provider_of(addr.rpartition("@")[2])
    return found.get("region") if found else None


def rental_brand(brand: str | None) -> bool:
    """True for a rental portal's brand (kind "rental" in providers.json)."""
    return brand_kind(brand) == "rental"


def brand_named(text: str, extra: tuple[str, ...] = ()) -> str | None:
    """The known provider a short value names first ("Zillow", "Facebook Lead Ads" ->
    "Facebook", "realtor.com® Connections" -> "Realtor.com"): a brand of providers.json, one
    of its marks, or one of `extra` (the parsers' own sources)."""
    low = text[:200].lower()
    first: tuple[int, int, str] | None = None
    for word, brand, pattern in _brand_patterns(extra):
        if word not in low:  # the cheap test first
            continue
        m = pattern.search(low)
        if m and (first is None or (m.start(), -len(word)) < (first[0], -first[1])):
            first = (m.start(), len(word), brand)
    return first[2] if first else None


@lru_cache(maxsize=4)
def _brand_patterns(extra: tuple[str, ...]) -> list[tuple[str, str, re.Pattern[str]]]:
    names = [(b, b) for b in extra] + [(p["brand"], p["brand"]) for p in providers()] + [
        (m, p["brand"]) for p in providers() for m in p["marks"]]
    return [(w.lower(), b, re.compile(r"(?<![\w.])" + re.escape(w.lower()) + r"(?![\w])"))
            for w, b in names if b not in ("Website", "Direct") and len(w) >= 3]


def brand_kind(brand: str | None) -> str | None:
    """A known provider's kind (providers.json): "rental", "insurance", "mortgage",
    "services", or None."""
    return _brand_kinds().get(brand or "")


@cache
def _brand_kinds() -> dict[str, str | None]:
    kinds: dict[str, str | None] = {}
    for p in providers():  # the first entry of a brand says its kind
        kinds.setdefault(p["brand"], p.get("kind"))
    return kinds


_GENERIC_NAME = re.compile(
    r"(?i)\s*\b(lead notifications?|lead alerts?|lead delivery|notifications?|leads?|alerts?|"
    r"no-?reply|"
    r"for business|partner program|broker network|team|support|mailer|forms?|inquiries|"
    r"enquiries|pro|(agent |dealer )?partners(hips?)?|referrals?|for agents|for dealers|"
    r"receptionists?|answering service)\b\s*")
# A brokerage's, a franchise's or a landlord's own name: its own site's form ("Website").
BROKERAGE_WORDS = (
    r"realty|real estate|realtors?|brokerage|"
    r"sotheby'?s|coldwell|compass|elliman|keller williams|kw|century 21|re/?max|berkshire|"
    r"exp realty|corcoran|howard hanna|weichert|engel|christie'?s|long & foster|raveis|"
    r"windermere|command|immobilier|inmobiliaria|imobiliária|immobilien|bhhs|"
    # a company's own lead router or a landlord's own site: "BHHS Lead Router",
    # "Capital City Leasing", "Sunset Ridge Apartments"
    r"(?:lead )?router|leasing|property management|apartments")
# ... and the words a brokerage's name shares with some providers' ("Bluebonnet Home",
# "Hill Country Homes", "Rocket Homes").
# A franchise's name run together in a site's name: "CENTURY21.com", "ColdwellBankerHomes.com".
_BROKERAGE_GLUED = re.compile(r"century21|coldwellbanker|sothebys|kellerwilliams|remax|"
                              r"berkshirehathaway|howardhanna|longandfoster|longfoster|"
                              r"douglaselliman|exprealty|bhhs")
_SITE_WORDS = re.compile(r"(?i)\b(homes|properties|property group|group|home|agent sites?|"
                         + BROKERAGE_WORDS
                         + r")\b")


@cache
def _brand_domains() -> dict[str, dict]:
    """Each known provider domain -> its provider (providers.json)."""
    return {d: p for p in reversed(providers()) for d in p["domains"]}


@lru_cache(maxsize=256)  # senders' domains recur: the same providers write every day
def provider_of(dom: str) -> dict | None:
    """The known provider whose domain `dom` is, or is under ("mail.zumper.com")."""
    table = _brand_domains()
    parts = dom.lower().split(".")
    return next((table[".".join(parts[i:])] for i in range(len(parts) - 1)
                 if ".".join(parts[i:]) in table), None)


def domain_brand(addrs: list[str]) -> tuple[str, str] | None:
    """(brand, why) of the first address whose domain is a known provider's."""
    for addr in addrs:
        dom = addr.strip("<> ").rpartition("@")[2].lower()
        found = provider_of(dom) if dom else None
        if found:
            return found["brand"], f"sender domain {dom}"
    return None


def brand_of(from_addr: str, from_name: str, extra_addrs: list[str], head: str,
             tail: str) -> tuple[str | None, str]:
    """(brand, why) of a notification from a provider without a parser: a known provider by
    its domain, then by its marks (display name, subject, "Powered by ..." in the body);
    "Website" for a form on the brokerage's own site; None when nothing says."""
    found = domain_brand([from_addr, *extra_addrs])
    if found:
        return found
    # The mark named first wins: the subject and the body's head, then the display name, then
    # the footer ("PadMapper tenant lead" from "Zumper on behalf of ...": PadMapper).
    blob = f"{head}\n{from_name}\n{tail}".lower()
    first: tuple[int, str, str] | None = None
    for p in providers():
        for mark in p["marks"]:
            if mark.lower() not in blob:  # the cheap test first: most marks are not there
                continue
            m = re.search(rf"(?<![\w.]){re.escape(mark.lower())}(?![\w])", blob)
            if m and (first is None or m.start() < first[0]):
                first = (m.start(), p["brand"], mark)
    if first:
        return first[1], f"mark {first[2]!r}"
    return None, "no provider named"


_VIA = re.compile(r"\svia\s+(\S.*)$")


def relayed_by(from_name: str | None) -> str | None:
    """The service or business a display name says relays the mail ("Mehmet Ecirli via ABODO"
    -> "ABODO"), or None."""
    via = _VIA.search((from_name or "")[:300])
    return via.group(1).strip() if via else None


def fallback_brand(from_name: str) -> str | None:
    """A company's own display name as its brand ("Cartus Broker Network" -> "Cartus"), unless
    it is a brokerage (its own site form: "Website")."""
    via = relayed_by(from_name)
    if via:  # "Mehmet Ecirli via ABODO", "Brokerage Example via Wix": the service relays
        name = _GENERIC_NAME.sub(" ", via).strip(" -|:\"")
        return name if 2 <= len(name) <= 40 and not _SITE_WORDS.search(name) else None
    name = (from_name or "").strip().strip('"')
    if not name or _SITE_WORDS.search(name) or _BROKERAGE_GLUED.search(
            re.sub(r"[\W_]+", "", name.lower())):
        return None  # ("CENTURY21.com", "ColdwellBankerHomes.com": a franchise's own site)
    name = _GENERIC_NAME.sub(" ", name).strip(" -|:")
    # "SUUMO（スーモ）": the brand's reading (or its place) after it in brackets is no part of it
    name = re.sub(r"\s*[（(][^（）()]{1,30}[）)]$", "", name) or name
    product = _PRODUCT_TIER.search(name[:60])
    if product and product.start() >= 2:
        name = name[:product.start()]  # "WhatsApp Business", "Snapchat Ads": the brand
    return name if 2 <= len(name) <= 40 else None


# A product line after a brand in its sender name: "Pinterest Business", "Snapchat Ads",
# "Pabbly Connect", "GoDaddy Websites + Marketing".
_PRODUCT_TIER = re.compile(r"(?i)\s+(?:business|ads|connect|websites?(?:\s*[+&]\s*marketing)?|"
                           r"marketing)\s*$")


def footer_start(lines: list[str]) -> int:
    """The index of the first footer line (len(lines) when none)."""
    text = "\n".join(lines)
    kept = strip_footer(text)
    return kept.count("\n") + 1 if kept != text.strip() else len(lines)
