"""Normalise the messy, human-typed fields of a lead (phones, emails, names, addresses, prices)."""

import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import phonenumbers
import usaddress
from nameparser import HumanName
from phonenumbers import Leniency, PhoneNumberMatcher

__all__ = [
    "address",
    "case_name",
    "email",
    "find_emails",
    "find_phones",
    "message",
    "parse_address",
    "phone",
    "price",
    "split_name",
]

# --------------------------------------------------------------------------- phones

# A field that is only a phone number (optionally with an extension) is handed to
# phonenumbers.parse; anything wordier goes through the matcher instead, because parse()
# treats letters as a vanity number and "512 555 0143 mobile" would become digits.
_PHONE_SHAPED_RE = re.compile(
    r"[+(\d][\d\s().\-/]*\d\)?\s*(?:(?:,|;)?\s*(?:ext\.?|extension|x|#)\s*\d{1,6})?",
    re.IGNORECASE,
)
_TEL_PREFIX_RE = re.compile(r"^\s*(?:tel|callto|phone)\s*:\s*", re.IGNORECASE)
# NANP area and exchange codes never start with 0 or 1 (555 exchanges are fine: fictional
# 555-01xx numbers must still pass for test leads).
_NANP_RE = re.compile(r"[2-9]\d{2}[2-9]\d{6}")
_MIN_NATIONAL_DIGITS = 7


def _acceptable_phone(number: phonenumbers.PhoneNumber) -> bool:
    """Whether a parsed number is plausible enough to store as a lead's phone."""
    # LOCAL_ONLY (e.g. a US number without area code) cannot be written in E.164 truthfully.
    if phonenumbers.is_possible_number_with_reason(number) != (
        phonenumbers.ValidationResult.IS_POSSIBLE
    ):
        return False
    national = phonenumbers.national_significant_number(number)
    if len(national) < _MIN_NATIONAL_DIGITS or len(set(national)) == 1:
        return False
    return number.country_code != 1 or bool(_NANP_RE.fullmatch(national))


def _e164(number: phonenumbers.PhoneNumber) -> str:
    """Format a number as E.164 (extensions are dropped, E.164 has no place for them)."""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# The numbers phone() read last, and what it made of them: a reader reads "(512) 555-0143"
# and the normalize step then reads the "+15125550143" it gave; an E.164 number reads back as
# itself (in any region), so the second reading costs nothing. A few entries: one mail's.
_RECENT_PHONES: dict[tuple[str, str], str | None] = {}
_E164 = re.compile(r"\+\d{6,15}")


def phone(raw: str | None, region: str = "US") -> str | None:
    """Return a human-written phone number as E.164, or None when it is not a usable number."""
    if not raw:
        return None
    key = (raw, "" if _E164.fullmatch(raw) else region)  # "+..." means the same everywhere
    if key in _RECENT_PHONES:
        return _RECENT_PHONES[key]
    found = _read_phone(raw, region)
    if len(_RECENT_PHONES) >= 32:
        _RECENT_PHONES.clear()
    _RECENT_PHONES[key] = found
    if found:
        _RECENT_PHONES[(found, "")] = found
    return found


def _read_phone(raw: str, region: str) -> str | None:
    text = _TEL_PREFIX_RE.sub("", raw.strip())
    if not text:
        return None
    if _PHONE_SHAPED_RE.fullmatch(text):
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            pass  # e.g. "512-555-0143 / 512-555-0199" is too long as one number
        else:
            if _acceptable_phone(number):
                return _e164(_nanp_written(number, text, region))
    # Wordy or multi-number field ("Cell: 512-555-0143 (preferred)"): take the first number.
    found = find_phones(text, region)
    return found[0] if found else None


# A number written the North American way: "(949) 555-0118", "949-555-0118".
_NANP_SHAPE = re.compile(r"\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}")
_NANP_PARENS = re.compile(r"\(\s?[2-9]\d{2}\s?\)\s?\d{3}[ .-]\d{4}")
# Where a bracketed three-digit area code may be a national one ("(601) 234 5678", Bogotá;
# "(222) 123 4567", Puebla). Not Brazil, Chile, Peru or Ecuador: their area codes have one or
# two digits ("(11) 98765-4321"), so "(512) 555-0146" there is a North American number.
_AMERICAS = frozenset({"MX", "CO", "AR", "VE", "UY", "PY", "BO", "CR",
                       "PA", "GT", "HN", "SV", "NI", "DO", "PR", "CU"})


def _nanp_written(number: phonenumbers.PhoneNumber, raw: str, region: str
                  ) -> phonenumbers.PhoneNumber:
    """The number as a North American one when it is written so, has no country code, and is
    no valid number of the region it was read in (a person from a ".cn" address writing their
    US number "(949) 555-0118")."""
    if region in ("US", "CA") or not _NANP_SHAPE.fullmatch(raw.strip()[:20]):
        return number
    if phonenumbers.is_valid_number(number) and not (
            _NANP_PARENS.fullmatch(raw.strip()[:20]) and region not in _AMERICAS):
        # "(512) 555-0129" in a German mail: an area code in brackets with no trunk 0 is how
        # North America writes it; Europe and Asia bracket "(0151)", "(030)"
        return number
    try:
        us = phonenumbers.parse(raw, "US")
    except phonenumbers.NumberParseException:
        return number
    return us if phonenumbers.is_valid_number(us) else number


PHONE_SCAN = 50_000  # characters of free text searched for phone numbers
PHONE_TRIES = 500  # candidate numbers tried per text


def find_phones(text: str, region: str = "US") -> list[str]:
    """Return every phone number in free text as E.164, in order of appearance, deduplicated."""
    if not text:
        return []
    result: list[str] = []
    # POSSIBLE (not VALID) so phone() and find_phones() agree on what counts as a phone;
    # _acceptable_phone and the digit-run check below keep ids and dates out.
    # Bounded: a lead's phone is in the first PHONE_SCAN characters, and a text of nothing but
    # digit groups makes the matcher try each one (max_tries).
    matcher = PhoneNumberMatcher(text[:PHONE_SCAN], region, leniency=Leniency.POSSIBLE,
                                 max_tries=PHONE_TRIES)
    for match in matcher:
        before = text[match.start - 1] if match.start > 0 else ""
        after = text[match.end] if match.end < len(text) else ""
        if before.isdigit() or after.isdigit():
            continue  # a slice of a longer id such as "Lead ID 5125550143999"
        if not _acceptable_phone(match.number):
            continue
        formatted = _e164(_nanp_written(match.number, match.raw_string, region))
        if formatted not in result:
            result.append(formatted)
    return result


# --------------------------------------------------------------------------- emails

_EMAIL_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL_DOMAIN = r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]+)"
_EMAIL_RE = re.compile(rf"{_EMAIL_ATOM}(?:\.{_EMAIL_ATOM})*@{_EMAIL_DOMAIN}")
# Narrower local part for free text, so "url=bob@x.com" or "'bob@x.com'" do not drag the
# surrounding punctuation into the address.
_EMAIL_FIND_RE = re.compile(
    r"(?<![a-z0-9._%+])[a-z0-9_][a-z0-9_%+-]*(?:[.'][a-z0-9_%+-]+)*@"
    r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,63}(?![a-z0-9-])",
    re.IGNORECASE,
)
_MAILTO_RE = re.compile(r"^\s*mailto:\s*", re.IGNORECASE)
_EMAIL_EDGE_JUNK = " \t\r\n<>\"'()[]{},;:."


def email(raw: str | None) -> str | None:
    """Return a cleaned, lower-cased email address, or None unless it is local@domain.tld."""
    if not raw:
        return None
    text = raw.strip()
    # "Jane Doe <jane@x.com>": the address is what sits inside the angle brackets.
    bracketed = re.search(r"<([^<>]*@[^<>]*)>", text)
    if bracketed:
        text = bracketed.group(1)
    text = _MAILTO_RE.sub("", text.strip(_EMAIL_EDGE_JUNK))
    text = text.split("?", 1)[0]  # mailto: links may carry ?subject=...
    text = text.strip(_EMAIL_EDGE_JUNK).lower()
    if _EMAIL_RE.fullmatch(text):
        return text
    # A field like "jane@x.com (work)" still holds exactly one usable address.
    found = find_emails(text)
    return found[0] if len(found) == 1 else None


def find_emails(text: str) -> list[str]:
    """Return every email address in free text, lower-cased, deduplicated, in order.

    Linear in the text: the pattern is tried only in a bounded window around each "@" (a
    local part has at most 64 characters, a domain 255), never from every position of a long
    run such as "1-1-1-…", where a plain scan is quadratic."""
    if not text:
        return []
    result: list[str] = []
    done = 0  # matches never overlap: an "@" inside the last match starts nothing
    at = text.find("@")
    while at != -1:
        if at >= done:
            match = _EMAIL_FIND_RE.search(text, max(done, at - 64), at + 256)
            if match is not None and match.start() <= at:
                address_ = match.group(0).lower()
                if address_ not in result:
                    result.append(address_)
                done = match.end()
        at = text.find("@", max(at + 1, done))
    return result


# --------------------------------------------------------------------------- names

_PARTICLES = frozenset(
    {
        "van", "der", "den", "de", "da", "di", "del", "della", "von", "la", "le", "du",
        "dos", "das", "ten", "ter", "bin", "al",
    }
)  # fmt: skip
# "Mac" is only re-cased for names where MacX is the usual spelling; Mack, Macy, Mace,
# Macias, Machado... are ordinary names and a blanket rule would mangle them.
_MAC_NAMES = {
    name.lower(): name
    for name in (
        "MacArthur", "MacDonald", "MacDougall", "MacGregor", "MacKenzie", "MacLean",
        "MacLeod", "MacNeil", "MacPherson",
    )
}  # fmt: skip
_ROMAN_SUFFIXES = frozenset({"ii", "iii", "iv"})
_GENERATIONAL = frozenset({"jr", "sr", "ii", "iii", "iv", "v"})
# Words nameparser reads as titles; a name starting with one goes the slow way.
_TITLE_WORDS = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam", "rev",
                          "herr", "frau", "sr", "sra", "srta", "m", "mme", "mlle", "don", "dona"})
_APOSTROPHE_NAME_RE = re.compile(r"^(\w)(['\u2019])(\w)(.*)$")
_JUNK_NAMES = frozenset(
    {
        "na", "none", "null", "nil", "unknown", "notprovided", "notgiven", "noname",
        "notapplicable", "undefined", "anonymous",
    }
)  # fmt: skip
# Tokens made only of punctuation are left-overs of a stripped phone number or email.
_PUNCT_TOKEN_RE = re.compile(r"^[-()\[\]{}<>|/\\:;.*_+=~#@!?\"']+$")


def _upper_first_letter(text: str) -> str:
    """Upper-case the first letter of already lower-cased text, skipping leading punctuation."""
    for index, char in enumerate(text):
        if char.isalpha():
            return text[:index] + char.upper() + text[index + 1 :]
    return text


def _case_segment(segment: str) -> str:
    """Case one hyphen-free piece of a name; mixed-case input is trusted as deliberate."""
    if not (segment.islower() or segment.isupper()):
        return segment  # "McKenzie", "DeShawn", "LaToya", or no letters at all
    if re.fullmatch(r"(?:[^\W\d_]\.){2,}", segment):
        return segment.upper()  # initials: "T.J."
    lower = segment.lower()
    if lower in _MAC_NAMES:
        return _MAC_NAMES[lower]
    if lower.startswith("mc") and len(lower) > 2 and lower[2].isalpha():
        return "Mc" + lower[2].upper() + lower[3:]
    apostrophe = _APOSTROPHE_NAME_RE.match(lower)
    if apostrophe:  # O'Brien, D'Angelo: a one-letter prefix is an elided article
        head, mark, first, rest = apostrophe.groups()
        return f"{head.upper()}{mark}{first.upper()}{rest}"
    return _upper_first_letter(lower)


def case_name(part: str, *, given: bool = False) -> str:
    """Properly case a name written all-lower or all-upper; deliberate mixed case is kept."""
    words = part.split()
    cased: list[str] = []
    for index, word in enumerate(words):
        lower = word.lower()
        single_case = word.islower() or word.isupper()
        is_last_word = index == len(words) - 1
        # Particles are lower-case only inside a surname ("van der Berg"); a lone "De" or
        # "Della", or any word of a given name, is a name in its own right.
        if not given and not is_last_word and single_case and lower in _PARTICLES:
            cased.append(lower)
        elif index > 0 and single_case and lower in _ROMAN_SUFFIXES:
            cased.append(lower.upper())
        elif any(not (p.islower() or p.isupper()) for p in word.split("-")):
            cased.append(word)  # "Hye-jin", "McKenzie-smith": written so on purpose
        else:
            cased.append("-".join(_case_segment(piece) for piece in word.split("-")))
    return " ".join(cased)


def _clean_name_field(raw: str | None) -> str | None:
    """Strip emails, phone numbers and junk placeholders from a name field."""
    if not raw:
        return None
    text = _EMAIL_FIND_RE.sub(" ", raw)
    text = re.sub(r"[\d+]", " ", text)
    tokens = [token for token in text.split() if not _PUNCT_TOKEN_RE.match(token)]
    text = " ".join(tokens).replace(" ,", ",").strip(" ,;:-")
    # "Hana Kowalczyk's contact details": the possessive is no part of the name
    text = re.sub(r"(?<=[^\W\d_])['’]s$", "", text)
    letters = "".join(char for char in text.lower() if char.isalpha())
    if not letters or letters in _JUNK_NAMES:
        return None
    return text


def _case_suffix(suffix: str) -> str:
    """Case a generational suffix: roman numerals upper, "JR." -> "Jr."."""
    bare = suffix.rstrip(".").lower()
    if bare in _ROMAN_SUFFIXES or bare == "v":
        return suffix.upper()
    return case_name(suffix)


# "Harold & Joan Petrakis", "Harold and Joan": a couple; the lead is the first named.
_COUPLE = re.compile(r"(?i)^(\S+(?: \S+)?)\s+(?:&|and|y|et|und|e)\s+\S+(?=\s|$)")


_PLAIN_WORD = re.compile(r"^[^\W\d_]{2,}(?:['’-][^\W\d_]+)?$")


# Common Spanish surnames: "Ana Moreno Salgado" is Ana with two surnames (her father's and her
# mother's), where "Ana Maria Lopez" has a middle name that goes with neither.
_SPANISH_SURNAMES = frozenset("""
garcía garcia rodríguez rodriguez martínez martinez hernández hernandez lópez lopez gonzález
gonzalez pérez perez sánchez sanchez ramírez ramirez torres flores rivera gómez gomez díaz diaz
cruz morales reyes gutiérrez gutierrez ortiz chávez chavez ruiz moreno jiménez jimenez álvarez
alvarez romero vargas castillo mendoza ramos herrera medina aguilar vásquez vasquez castro ortega
salazar delgado soto contreras guerrero luna ríos rios ibarra castañeda castaneda salgado
villalobos quintero navarro molina silva rojas cabrera campos vega fuentes carrillo espinoza
sandoval lara robles salinas cortez cortés cortes beltrán beltran domínguez dominguez vázquez
vazquez márquez marquez fernández fernandez suárez suarez blanco muñoz munoz iglesias santos
rubio marín marin sanz núñez nunez calvo gallego prieto cano durán duran peña pena león leon
nieto vidal pascual caballero herrero mora montero hidalgo lozano cuevas serrano villa ochoa
valdez valencia acosta padilla ávila avila estrada rosales mejía mejia cárdenas cardenas
velázquez velazquez zamora orozco solís solis tapia villanueva trujillo bravo barrera
restrepo villaseñor villasenor arango echeverría echeverria montoya osorio cardona zapata uribe
henao giraldo quiroga paredes guzmán guzman sepúlveda sepulveda figueroa aguirre espinosa
escobar pacheco maldonado cordero rivas meza cisneros bustamante carrasco arias peralta vallejo
ponce galindo cervantes toledo palacios saldaña saldana zúñiga zuniga salas rosas ojeda
olivares tovar barrios montes salcedo quintana rincón rincon camacho correa jaramillo castaño
castano londoño londono betancourt ocampo gil lozada marroquín marroquin
ferreira
""".split())
# A patronymic ending ("Méndez", "Benítez", "Velásquez"): a Spanish surname, not a given name
# (the given names so spelt are few).
_SURNAME_ENDING = re.compile(r"(?i)^[^\W\d_]{2,}[eéiío]z$")
_GIVEN_IN_Z = frozenset({"inez", "inéz", "ines", "inés", "beatriz", "luz", "cruz", "queiroz"})


def _two_surnames(words: list[str]) -> bool:
    """Given names and two surnames: the second of the last two words' pair is preceded by a
    common Spanish surname ("Ana Moreno Salgado", "Lucía Beatriz Moreno Salgado")."""
    second = words[-2].lower() if len(words) >= 2 else ""
    return (len(words) in (3, 4) and (second in _SPANISH_SURNAMES or (
        _SURNAME_ENDING.match(second) is not None and second not in _GIVEN_IN_Z))
            and not words[-1].endswith("."))


# Han, kana and Hangul: scripts whose names are written family name first.
_CJK = re.compile(r"^[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af\u1100-\u11ff]+$")
_CJK_TWO_CHAR_SURNAMES = frozenset({
    "欧阳", "歐陽", "司马", "司馬", "诸葛", "諸葛", "上官", "东方", "東方", "皇甫", "令狐", "慕容",
    "宇文", "尉迟", "長孫", "长孙", "南宫", "夏侯", "公孙", "轩辕", "端木", "独孤", "西门",
    "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田",
    "山田", "佐々木", "山口", "松本", "井上", "木村", "清水", "山崎", "森田", "池田", "橋本",
    "石川", "前田", "藤田", "後藤", "岡田", "長谷川", "村上", "近藤", "坂本", "遠藤", "青木"})


def _cjk_name(words: list[str]) -> tuple[str, str] | None:
    """(given, family) of a name in Chinese, Japanese or Korean script, written family name
    first: "佐藤 健" is Ken Sato, "王丽华" is Lihua Wang (a one-character surname unless it is a
    known longer one)."""
    if not words or len(words) > 2 or not all(_CJK.match(w) for w in words):
        return None
    if len(words) == 2:
        return words[1], words[0]
    name = words[0]
    if not 2 <= len(name) <= 5:
        return None
    cut = next((len(s) for s in sorted(_CJK_TWO_CHAR_SURNAMES, key=len, reverse=True)
                if name.startswith(s) and len(name) > len(s)), 1)
    return name[cut:], name[:cut]


# Vietnamese names are written family name first, with a middle name such as Thi or Van:
# "Nguyen Thi Mai" is Mai Nguyen.
_VIETNAMESE_SURNAMES = frozenset("""
nguyen nguyễn tran trần le lê pham phạm hoang hoàng huynh huỳnh phan vu vũ vo võ dang đặng
bui bùi do đỗ ho hồ ngo ngô duong dương ly lý truong trương dinh đinh lam lâm
""".split())
_VIETNAMESE_MIDDLE = frozenset({"thi", "thị", "van", "văn"})


def _parse_full_name(full: str) -> tuple[str | None, str | None]:
    """Split a cleaned full name into (given names, surname) with nameparser; a plain "Given
    Family" pair (most names) without it."""
    words = full.split()
    cjk = _cjk_name(words)
    if cjk:
        return cjk
    if (len(words) == 3 and words[0].lower() in _VIETNAMESE_SURNAMES
            and words[1].lower() in _VIETNAMESE_MIDDLE):
        return case_name(words[2], given=True), case_name(words[0])
    if _two_surnames(words) and all(_PLAIN_WORD.match(w) for w in words):
        return case_name(words[0], given=True), case_name(" ".join(words[-2:]))
    if (len(words) == 2 and all(_PLAIN_WORD.match(w) for w in words)
            and words[0].lower().strip(".") not in _TITLE_WORDS
            and words[1].lower() not in _GENERATIONAL | _PARTICLES):
        return case_name(words[0], given=True), case_name(words[1])
    couple = _COUPLE.match(full)
    if couple and len(full.split()) > 3:
        full = couple.group(1) + full[couple.end():]
    parsed = HumanName(full)
    given = parsed.first  # the first given name: a middle name goes with neither ("Dana Marie
    # Whitaker" is Dana Whitaker); a form's own First Name field keeps what it says
    family = parsed.last
    # Jr./III are part of the legal surname; credentials (PhD, MD, Esq.) are not.
    suffixes = [
        _case_suffix(suffix)
        for suffix in parsed.suffix_list
        if suffix.rstrip(".").lower() in _GENERATIONAL
    ]
    first_name = case_name(given, given=True) if given else None
    last_name = " ".join([case_name(family), *suffixes]) if family else None
    return first_name, last_name


def split_name(
    full: str | None, first: str | None = None, last: str | None = None
) -> tuple[str | None, str | None]:
    """Return (first_name, last_name), properly cased, from separate fields or a full name."""
    first_clean = _clean_name_field(first)
    last_clean = _clean_name_field(last)
    couple = _COUPLE.match(first_clean or "")
    if couple:
        first_clean = couple.group(1)
    first_name = case_name(first_clean, given=True) if first_clean else None
    last_name = case_name(last_clean) if last_clean else None
    if first_name and last_name:
        return first_name, last_name
    full_clean = _clean_name_field(full)
    if full_clean and first_name and not last_name and " " not in full_clean.strip() and (
            full_clean.strip().lower() != first_name.lower()):
        return first_name, case_name(full_clean.strip())  # "Nom: Fournier-Lacroix", "Prénom: ..."
    if full_clean:
        # Explicit fields win; the full name only fills in whichever one is missing.
        words = full_clean.split()
        if len(words) == 2 and re.fullmatch(r"[^\W\d_]\.?", words[1]) and not _cjk_name(words):
            return first_name or case_name(words[0], given=True), last_name  # "Fatima A."
        parsed_first, parsed_last = _parse_full_name(full_clean)
        first_name = first_name or parsed_first
        last_name = last_name or parsed_last
    return first_name, last_name


# --------------------------------------------------------------------------- addresses

_ADDRESS_EDGE_JUNK = " \t,;:|-*\u2022"
# usaddress labels that make up the CRM's street; tokens keep the order they had in the text.
_STREET_LABELS = frozenset(
    {
        "AddressNumberPrefix", "AddressNumber", "AddressNumberSuffix",
        "StreetNamePreDirectional", "StreetNamePreModifier", "StreetNamePreType",
        "StreetName", "StreetNamePostType", "StreetNamePostDirectional",
        "StreetNamePostModifier", "IntersectionSeparator", "SecondStreetNamePreDirectional",
        "SecondStreetNamePreModifier", "SecondStreetNamePreType", "SecondStreetName",
        "SecondStreetNamePostType", "SecondStreetNamePostDirectional",
        "SecondStreetNamePostModifier", "USPSBoxType", "USPSBoxID", "USPSBoxGroupType",
        "USPSBoxGroupID",
    }
)  # fmt: skip
_UNIT_LABELS = frozenset(
    {"OccupancyType", "OccupancyIdentifier", "SubaddressType", "SubaddressIdentifier"}
)
_FIELD_LABELS = {"city": "PlaceName", "state": "StateName", "zip": "ZipCode"}


_PART_LABEL = re.compile(
    r"(?i)(?<![^\s,;])(?:street address(?: line \d)?|address line \d|city|state(?: / province)?|"
    r"province|(?:postal|zip)(?: / (?:zip|postal))?(?: code)?|country)\s*:\s*")
_ADDRESS_TAIL = re.compile(
    # the listing's number after it: "(MLS 8813072)", "(MLS# 2498811)", "(ID 4471)"
    r"(?i)\s*\((?:mls|id|ref|listing)\b[\s#:.]*[\w-]{2,20}\)$|"
    r"(?i:(?:,?\s*\b(?:map it|view map|get directions|show on map|\(map\))\s*)+$)|"
    r",\s*(?:united states(?: of america)?|usa|u\.s\.a\.|us)\s*$")


def _uncap(text: str) -> str:
    """An all-capitals address in normal case; words of one or two letters (TX, NE, #B) stay
    capitals."""
    def word(m: re.Match[str]) -> str:
        w = m.group(0)
        state = len(w) == 2 and re.match(r"\s+\d{5}\b|\s*$", text[m.end():])  # "TX 78701"
        if w in _DIRECTIONS or state or text[:m.start()].endswith("#"):
            return w
        return w.capitalize()

    return re.sub(r"\d*[^\W\d_]{2,}", word, text)


_DIRECTIONS = frozenset({"N", "S", "E", "W", "NE", "NW", "SE", "SW"})


_PLACE_ONLY = re.compile(
    r"^(?:\d{4,5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|[A-Z]\d[A-Z] ?\d[A-Z]\d|"
    r"[^\W\d_][^\W\d_ .'’-]*(?:[ .'’-]+[^\W\d_]+){0,3}(?:,? [A-Z]{2})?"
    r"(?:,? (?:\d{5}(?:-\d{4})?|[A-Z]\d[A-Z] ?\d[A-Z]\d))?)$")


def place_only(value: str | None) -> dict[str, str]:
    """{"zip": ..} or {"city": .., "state": .., "zip": ..} when an address is a place and no
    street ("78704", "Pflugerville", "Denver, CO 80210"); {} for a real address."""
    if not value or not _PLACE_ONLY.match(value.strip()):
        return {}
    zip_code = re.search(r"(\d{4,5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|"
                         r"[A-Z]\d[A-Z] ?\d[A-Z]\d)$", value.strip())
    rest = value.strip()[: zip_code.start()] if zip_code else value.strip()
    state = re.search(r",? ([A-Z]{2})$", rest.strip())
    city = (rest.strip()[: state.start()] if state else rest).strip(" ,")
    out = {"city": city, "state": state.group(1) if state else "",
           "zip": zip_code.group(1) if zip_code else ""}
    return {k: v for k, v in out.items() if v}


# US states and Canadian provinces by name (English and French), for the code a postal
# address writes before its ZIP or postcode: "Milwaukee, Wisconsin 53211" is "..., WI 53211",
# "Toronto, Ontario M5J 0C3" is "Toronto, ON M5J 0C3".
REGION_CODES = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA",
    "colorado": "CO", "connecticut": "CT", "delaware": "DE", "district of columbia": "DC",
    "florida": "FL", "georgia": "GA", "hawaii": "HI", "idaho": "ID", "illinois": "IL",
    "indiana": "IN", "iowa": "IA", "kansas": "KS", "kentucky": "KY", "louisiana": "LA",
    "maine": "ME", "maryland": "MD", "massachusetts": "MA", "michigan": "MI",
    "minnesota": "MN", "mississippi": "MS", "missouri": "MO", "montana": "MT",
    "nebraska": "NE", "nevada": "NV", "new hampshire": "NH", "new jersey": "NJ",
    "new mexico": "NM", "new york": "NY", "north carolina": "NC", "north dakota": "ND",
    "ohio": "OH", "oklahoma": "OK", "oregon": "OR", "pennsylvania": "PA",
    "rhode island": "RI", "south carolina": "SC", "south dakota": "SD", "tennessee": "TN",
    "texas": "TX", "utah": "UT", "vermont": "VT", "virginia": "VA", "washington": "WA",
    "west virginia": "WV", "wisconsin": "WI", "wyoming": "WY",
    "alberta": "AB", "british columbia": "BC", "colombie-britannique": "BC", "manitoba": "MB",
    "new brunswick": "NB", "nouveau-brunswick": "NB", "newfoundland and labrador": "NL",
    "terre-neuve-et-labrador": "NL", "nova scotia": "NS", "nouvelle-écosse": "NS",
    "ontario": "ON", "prince edward island": "PE", "île-du-prince-édouard": "PE",
    "quebec": "QC", "québec": "QC", "saskatchewan": "SK", "northwest territories": "NT",
    "nunavut": "NU", "yukon": "YT",
}
_REGION_NAME = "|".join(sorted((re.escape(n) for n in REGION_CODES), key=len, reverse=True))
# "..., Wisconsin 53211", "Toronto, Ontario M5J 0C3", Québec's "Montréal (Québec) H2J 2L4":
# a state or province by name right before the ZIP or postcode that ends the address.
_REGION_BEFORE_CODE = re.compile(rf"(?i)(?:,\s*|\s+)\(?({_REGION_NAME})\)?,?\s+"
                                 r"(\d{5}(?:-\d{4})?|[A-Z]\d[A-Z] ?\d[A-Z]\d)$")
# A French street's civic number is set off by a comma ("4521, rue Saint-Denis"); Canada
# Post's own form, like every other street here, has none: "4521 rue Saint-Denis".
_CIVIC_COMMA = re.compile(r"(?i)^(\d{1,6}[a-z]?), (?=(?:rue|avenue|av\.?|boulevard|boul\.?|"
                          r"bd|chemin|ch\.|place|rang|route|montée|côte|cours|allée|impasse|"
                          r"quai|promenade|terrasse|croissant|carré)\s)")


# A Brazilian address as the portals write it: "Rua Harmonia, 455 - Apto 81 - Vila Madalena,
# São Paulo - SP, 05435-000" (street, number, unit, district, city - state, CEP). Kept as
# "Rua Harmonia 455 #81, São Paulo, SP 05435-000": the district is no part of the postal line.
_BR_ADDRESS = re.compile(r"""^
    (?P<street>[^\W\d_][^,\d]{1,60}) ,\s* (?P<number>\d{1,6}[A-Za-z]?)
    (?:\s+-\s+ (?i:apto|apt|ap|apartamento|sala|conj(?:unto)?)\.?\s* (?P<unit>[\w-]{1,6}) )?
    (?:\s+-\s+ [^\W\d_][^,\d]{1,40} )?   # the district (bairro)
    ,\s* (?P<city>[^\W\d_][^,\d-]{1,40}?) \s+-\s+ (?P<uf>[A-Z]{2}) ,?\s+ (?P<cep>\d{5}-\d{3})
    $""", re.X)


def _brazilian(joined: str) -> str:
    m = _BR_ADDRESS.match(joined)
    if not m:
        return joined
    unit = f" #{m.group('unit')}" if m.group("unit") else ""
    return (f"{m.group('street').strip()} {m.group('number')}{unit}, {m.group('city').strip()}, "
            f"{m.group('uf')} {m.group('cep')}")


def _region_code(joined: str) -> str:
    """The state or province before the address's postcode as its code ("..., WI 53211")."""
    m = _REGION_BEFORE_CODE.search(joined[-80:])
    if not m:
        return joined
    start = len(joined) - len(joined[-80:]) + m.start()
    return f"{joined[:start]}, {REGION_CODES[m.group(1).lower()]} {m.group(2)}"


_AMOUNT_LINE = re.compile(r"\s*(?:[$€£]|CHF |EUR |USD )\s?\d")


def address(raw: str | None, listing: bool = False) -> str | None:
    """Return an address as one clean line with comma-separated parts, or None when empty.
    `listing`: a property's address, its unit written the portals' way ("St #3")."""
    if not raw:
        return None
    parts: list[str] = []
    # A form that prints its address parts' labels in the value: "Street Address: 88 Mesa
    # Verde Ct, City: El Paso, State / Province: TX, Postal / Zip Code: 79912".
    raw = _PART_LABEL.sub("", raw[:1000])
    # Line breaks, semicolons and pipes all separate address lines in forms and emails.
    for line in re.split(r"[\r\n;|]+", raw):
        if _AMOUNT_LINE.match(line):
            break  # "$2,150/mo | 1 bd | 1 ba" under the street: the listing's facts, not its place
        line = re.sub(r"\s+", " ", line)
        line = re.sub(r"\s*,[\s,]*", ", ", line).strip(_ADDRESS_EDGE_JUNK)
        if line:
            parts.append(line)
    joined = ", ".join(parts)
    joined = re.sub(r"(?<=\d)\.$", "", joined)  # "TX 78701." - a sentence stop, not an abbrev
    # What forms print after an address: the country of a US form, a map link's words.
    joined = re.sub(r"(?<=\b[A-Z]{2}), (?=\d{5}(?:-\d{4})?$)", " ", joined)  # "TX, 79912"
    while (cut := _ADDRESS_TAIL.sub("", joined).strip(_ADDRESS_EDGE_JUNK)) != joined:
        joined = cut
    if sum(c.isupper() for c in joined) > 6 and not any(c.islower() for c in joined):
        joined = _uncap(joined)  # "4127 ALDER CREEK WAY, ROSEVILLE, CA 95747" from a feed
    joined = _region_code(_brazilian(_CIVIC_COMMA.sub(r"\1 ", joined)))
    # One spelling of a unit: "78 Pine St # 3", "88 Greenwich St, Apt 1504", "St Unit 9C" are
    # all "... St #3" / "#1504" / "#9C", on the street.
    if listing:
        joined = re.sub(r"(?i)(?:,\s*|\s+)(?:(?:apt\.?|apartment|unit|app\.?)(?![a-z])|#)\s*#?\s*"
                        r"([0-9][\w-]{0,5}|[a-z](?=,|$))(?=,|$)", r" #\1", joined)
    # European "ZIP City" last: "24 rue Duquesne, 69006 Lyon" -> "24 rue Duquesne, Lyon 69006".
    joined = re.sub(r"(?<=, )(\d{4,5}) (?![A-Z]{2}\b)([^\W\d_][^,\d]{1,40})$", r"\2 \1", joined)
    # A UK postcode goes with its town: "Reading, RG1 5PL" -> "Reading RG1 5PL".
    joined = re.sub(r"(?<=[a-z]), ([A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2})$", r" \1", joined)
    return joined or None


def _join_tokens(tokens: list[str]) -> str:
    """Join usaddress tokens, dropping the commas it leaves attached."""
    text = " ".join(token.strip(" ,") for token in tokens)
    return re.sub(r"#\s+", "#", re.sub(r"\s+", " ", text)).strip()


def parse_address(raw: str) -> dict[str, str]:
    """Split an address into street/city/state/zip (and unit) with usaddress; {} if unsure."""
    line = address(raw)
    if not line:
        return {}
    try:
        tagged, _kind = usaddress.tag(line)
    except usaddress.RepeatedLabelError:
        return {}  # two streets or two cities: guessing would put garbage in the CRM
    except Exception:  # a CRF model fed untrusted text must never take intake down
        return {}
    street = _join_tokens([value for label, value in tagged.items() if label in _STREET_LABELS])
    if not street:
        return {}
    result = {"street": street}
    unit = _join_tokens([value for label, value in tagged.items() if label in _UNIT_LABELS])
    if unit:
        result["unit"] = unit
    for key, label in _FIELD_LABELS.items():
        value = _join_tokens([tagged[label]]) if label in tagged else ""
        if value:
            result[key] = value.upper() if key == "state" and len(value) == 2 else value
    return result


# --------------------------------------------------------------------------- prices

_MAX_PRICE = 10**10
_MULTIPLIERS = {
    "k": 10**3,
    "thousand": 10**3,
    "m": 10**6,
    "mm": 10**6,
    "mil": 10**6,
    "million": 10**6,
    "b": 10**9,
    "bn": 10**9,
    "billion": 10**9,
}
# European thousands ("1.200.000") must be tried before the plain decimal form.
_NUMBER = r"(\d{1,3}(?:\.\d{3}){2,}(?![\d.])|\d[\d,]*(?:\.\d+)?|\.\d+)"
_MULT = r"(?:\s*(million|mil|mm|thousand|billion|bn|k|m|b)\b)?"
# An amount, optionally followed by the upper end of a range ("$300k - $400k", "300 to 400k").
_PRICE_RE = re.compile(
    rf"(\$\s*)?{_NUMBER}{_MULT}(?:\s*(?:-|\u2013|\u2014|to)\s*(\$\s*)?{_NUMBER}{_MULT})?",
    re.IGNORECASE,
)
# "-$5,000", "$-5,000" and accounting-style "(5,000)" are refunds or typos, not budgets.
_NEGATIVE_RE = re.compile(r"^\s*(?:[-\u2212]\s*\$?|\$\s*[-\u2212]|\(\s*\$?\s*\d)")


def _to_decimal(number: str) -> Decimal | None:
    """Parse "1,234.5" or European "1.234.567" into a Decimal."""
    if re.fullmatch(r"\d{1,3}(?:\.\d{3}){2,}", number):
        number = number.replace(".", "")
    try:
        return Decimal(number.replace(",", ""))
    except InvalidOperation:
        return None


def _bounded(value: Decimal) -> int | None:
    """Round to whole currency units and drop negative or absurd amounts."""
    rounded = int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return rounded if 0 <= rounded <= _MAX_PRICE else None


def price(raw: str | int | float | None) -> int | None:
    """Return a price or budget as whole currency units; the lower bound of a range."""
    if raw is None or isinstance(raw, bool):  # bool is an int, but never a price
        return None
    if isinstance(raw, int):
        return raw if 0 <= raw <= _MAX_PRICE else None
    if isinstance(raw, float):
        return _bounded(Decimal(repr(raw))) if math.isfinite(raw) else None
    text = raw.strip()
    if not text or _NEGATIVE_RE.match(text):
        return None
    matches = list(_PRICE_RE.finditer(text))
    # Prefer an amount marked as money ("2-3 beds, $450k") over the first bare number.
    marked = [m for m in matches if any(m.group(i) for i in (1, 3, 4, 6))]
    candidates = marked or matches
    if not candidates:
        return None
    _dollar, low, low_mult, _high_dollar, high, high_mult = candidates[0].groups()
    # "300-400k": a multiplier written once, on the upper end, applies to both ends.
    multiplier = low_mult or (high_mult if high else None)
    amount = _to_decimal(low)
    if amount is None:
        return None
    if multiplier:
        amount *= _MULTIPLIERS[multiplier.lower()]
    return _bounded(amount)


# --------------------------------------------------------------------------- free text


def message(raw: str | None) -> str | None:
    """Tidy a free-text message: trimmed lines, single spaces, at most one blank line."""
    if not raw:
        return None
    lines = [
        re.sub(r"[^\S\n]+", " ", line).strip()
        for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    ]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return text or None


# --------------------------------------------------------------------------- storable text

# NUL and the other C0/C1 controls but tab, LF and CR, and lone surrogates: PostgreSQL refuses
# NUL in text and surrogates in UTF-8, and none of them belongs in a lead.
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def storable(value: Any) -> Any:
    """`value` with every string in it (nested in lists and dicts, keys too) stripped of
    characters no database column or JSON document should hold."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("", value)
    if isinstance(value, list | tuple):
        return type(value)(storable(v) for v in value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    return value
