"""Text helpers shared by parsers: HTML to text, and "Label: value" pairs."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable
from functools import lru_cache
from html.parser import HTMLParser


class Folded:
    """A case-insensitive pattern written in lower case, searched over lower-cased text.

    Under IGNORECASE the regex engine tries every alternative at every position of the text;
    over lower-cased text it skips ahead to the alternatives' first letters, several times
    faster for a long list of words. For a yes/no answer: offsets are the lowered text's."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        letters = re.sub(r"\\.", "", pattern)  # escapes such as \S and \W are no letters
        if letters != letters.lower():
            raise ValueError(f"a folded pattern is written in lower case: {pattern[:60]!r}")
        self.pattern = pattern
        self._regex = re.compile(pattern, flags)

    def search(self, text: str) -> re.Match[str] | None:
        """The first match in the lower-cased text, or None."""
        return self._regex.search(text.lower())


_BLOCK = {
    "p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "section",
    "article", "header", "footer", "ul", "ol", "dl", "dt", "dd", "blockquote", "hr", "title",
}
_SKIP = {"style", "script", "head"}
# A table cell that is a label: words, not a number, an amount or a sentence.
_PAIR_LABEL_CELL = re.compile(r"^(?=[^\W\d_])[^.!?\n]{1,40}$")


class _Reader(HTMLParser):
    """One pass over an HTML body: its text (blocks become lines, table cells in a row join
    with ': ') and its table rows as lists of cell texts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.cells_in_row = 0
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None
        self.seps: list[int] = []  # where in `out` the current row's cell separators are

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag == "tr":
            self._end_row()
            self.cells_in_row = 0
            self.out.append("\n")
            self.rows.append([])
        elif tag in ("td", "th"):
            if self.cells_in_row:
                self.seps.append(len(self.out))
                self.out.append(" :: ")
            self.cells_in_row += 1
            self.cell = []
        elif tag in _BLOCK:
            self.out.append("\n")
            if self.cell is not None and (tag == "br" or (self.cell and self.cell[-1] != "\n")):
                # a block inside a cell is a line of the cell's text: "<p>What's your
                # name?</p><p>Jasmine Odom</p>" is a question over its answer, not one label
                self.cell.append("\n")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            if href.startswith("mailto:"):
                self.out.append(" ")

    def _end_row(self) -> None:
        """A row of two label/value pairs ("First Name | Darnell | Last Name | Hughes") reads
        as two lines, one pair each, not as one label with the rest for its value."""
        cells = self.rows[-1] if self.rows else []
        if (len(cells) in (4, 6) and len(self.seps) == len(cells) - 1
                and all(_PAIR_LABEL_CELL.match(c) for c in cells[0::2]) and all(cells[1::2])):
            for at in self.seps[1::2]:
                self.out[at] = "\n"
        self.seps = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._end_row()
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in ("td", "th"):
            if self.cell is not None:
                if not self.rows:
                    self.rows.append([])
                self.rows[-1].append(normalize_space("".join(self.cell)))
                self.cell = None
        elif tag in _BLOCK:
            self.out.append("\n")
            if self.cell and tag != "br" and self.cell[-1] != "\n":  # (<br/>: start and end)
                self.cell.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(data)
            if self.cell is not None:
                self.cell.append(data)


@lru_cache(maxsize=4)  # the reader, the table pairs and the brand's tail read the same body
def _read_html(html: str) -> tuple[str, tuple[tuple[str, ...], ...]] | None:
    """(text, table rows) of an HTML body in one parse; None for garbage html.parser gives up
    on."""
    reader = _Reader()
    try:
        reader.feed(html)
        reader.close()
    except Exception:  # html.parser is lenient; this is a last resort for garbage
        return None
    text = "".join(reader.out)
    # A cell separator " :: " right after a label that already ends in ":" is noise.
    text = _CELL_AFTER_COLON.sub(": ", text)
    text = text.replace(" :: ", ": ")
    return normalize_space(text), tuple(tuple(row) for row in reader.rows)


_CELL_AFTER_COLON = re.compile(r":\s*::\s*")


def html_to_text(html: str) -> str:
    """Render an HTML body as readable text (one block per line, &nbsp; as a space)."""
    read = _read_html(html)
    if read is None:
        return normalize_space(re.sub(r"<[^<>]*>", " ", html_lib.unescape(html)))
    return read[0]


_SPACE_RUN = re.compile(r"[ \t\f\v]+")
_NEEDS_SPACING = re.compile(r"[\t\f\v\n\r\xa0\u200b]|  ")


def normalize_space(text: str) -> str:
    """Collapse spaces (incl. non-breaking) inside lines, trim lines, squeeze blank lines."""
    if not _NEEDS_SPACING.search(text):
        return text.strip()  # one line with single spaces (most table cells): nothing to do
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ").replace("\u200b", "")
    lines = [line.strip() for line in _SPACE_RUN.sub(" ", text).split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


_LABEL_LINE = re.compile(r"^\s*[*\-•]?\s*([A-Za-z][A-Za-z0-9 /&'().#_-]{0,40}?)\s*[:=]\s*(.*)$")


def label_values(text: str) -> list[tuple[str, str]]:
    """Pairs from "Label: value" lines, labels lower-cased; a label alone on a line takes the
    next non-empty line as its value (the layout of many HTML forms)."""
    pairs: list[tuple[str, str]] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = _LABEL_LINE.match(lines[i])
        if m and not re.match(r"^\s*(https?|mailto|tel)\s*:", lines[i], re.I):
            label = re.sub(r"\s+", " ", m.group(1)).strip().lower()
            value = m.group(2).strip()
            if not value and i + 1 < len(lines) and lines[i + 1].strip():
                nxt = lines[i + 1]
                if not _LABEL_LINE.match(nxt):
                    value = nxt.strip()
                    i += 1
            pairs.append((label, value))
        i += 1
    return pairs


def first_value(pairs: list[tuple[str, str]], *labels: str) -> str | None:
    """The first non-empty value whose label is one of `labels` (exact, lower-case)."""
    wanted = set(labels)
    for label, value in pairs:
        if label in wanted and value:
            return value
    return None


# Looser than _LABEL_LINE: form builders and Zapier keep "?" and long questions as labels.
# Labels in any script's letters: "Correo electrónico:", "Téléphone :", "Straße/Nr.:".
_FORM_LINE = re.compile(r"^\s*[*\-•]?\s*(?:\d{1,2}[.)]\s+)?([^\W\d_][\w /&'’().#?,（）-]{0,60}?)"
                        r"\s*[:=：]\s*(.*)$")
_ROW_SEP = re.compile(r"\s+[·|]\s+")
# A machine key with dots ("contact.name: Óscar Beltrán", "listing.price = 689000").
_MACHINE_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9]*(?:[._-][A-Za-z0-9]+){1,6})\s*[:=]\s*(.*)$")


# A machine key: "contact.name", "lead.phoneNumber", "field_123", "transcript.first_message".
_MACHINE_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[._-][A-Za-z0-9]+)+$|"
                          r"^[a-z]+(?:[A-Z][a-z0-9]+)+$")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NAME_PART = re.compile(r"\((姓|名|せい|めい)\)\s*$")
_FULLWIDTH_PARENS = str.maketrans({"（": "(", "）": ")", "　": " "})


@lru_cache(maxsize=4096)  # labels repeat from mail to mail ("Name", "Email", "Phone")
def label_key(label: str) -> str:
    """A label in one canonical spelling: "Your E-mail*" and "your_email" both give "e mail".
    A machine key reads as its words: "phoneNumber" is "phone number", "contact.name" is
    "contact name", and a deeper path keeps its last two parts ("lead.contact.email" is
    "contact email")."""
    label = label.translate(_FULLWIDTH_PARENS).strip()
    if len(label) <= 80 and _MACHINE_KEY.match(label):
        label = _CAMEL.sub(" ", label)
        if "." in label:
            label = " ".join(label.split(".")[-2:])
    # "Zestimate®"; "■ご質問・ご要望", "▶ Message": a bullet before the label
    key = re.sub(r"[_\-*?®™℠©■□◆◇●○▶▷►•]+", " ", label.lower())
    if ")" in key and (part := _NAME_PART.search(key)):
        return part.group(1)  # "お名前（姓）": the family name's part of a name
    if ")" in key:  # "Estimated value (RealEstimate℠)", "Credit score (self-reported)"
        key = re.sub(r"\s*\([^()]{1,40}\)", " ", key)
    key = re.sub(r"['’]s\b", "", key) if "s" in key else key  # "Buyer's message"
    key = re.sub(r"\s+", " ", key).strip(" .:")
    return key[5:] if key.startswith("your ") else key


# "Name ............ Gabriel Moreno": a label, a dot leader, the value.
_LEADER_LINE = re.compile(r"^\s*([^\W\d_][\w /&'’()#?,-]{0,60}?)\s*(?:\.{3,}|…+)\s*(\S.*)$")
# "What is your budget? $500,000 - $600,000": a question and its answer on one line.
# The answer is a form's answer, short and not a sentence: "Is it available? I'd love to
# see it." in a person's message is no pair.
_QUESTION_LINE = re.compile(r"^\s*([^\W\d_][^?\n]{2,100}\?)[ \t]+(\S[^?.!\n]{0,59})$")


# "NameChioma Adebayo-Lewis", "Emailchioma.al@example.org": a label run into its value, as a
# careless HTML-to-text conversion leaves a bold label span and the text after it.
_GLUED = re.compile(
    r"^\s*(?:(Full [Nn]ame|Name|E-?mail|Email [Aa]ddress|Phone|Phone [Nn]umber|Mobile|Telephone|"
    r"Lead type|"
    r"Address|Message|Comments|Price|Budget|Search|Timeframe|City/State/Zip)(?=[A-Z(+\d]|"
    r"[a-z0-9._-]+@)|"
    # a vehicle's rows: "Year2026", "MakeToyota", "ModelRAV4 Hybrid", "TrimXLE Premium"
    r"(Year)(?=(?:19|20)\d\d\s*$)|(Make|Model|Trim)(?=[A-Z0-9][\w-]*(?: [\w-]+){0,4}\s*$)|"
    # the same in capitals ("NAMEAlexander Papadakis", "PROPERTY3 Ridgecrest Way")
    r"(FULL NAME|NAME|E-?MAIL|EMAIL ADDRESS|PHONE|PHONE NUMBER|MOBILE|TELEPHONE|ADDRESS|"
    r"PROPERTY|MESSAGE|COMMENTS|PRICE|BUDGET)(?=[A-Z][a-z]|[A-Z]\s|[(+\d$€£]|[a-z0-9._-]+@))"
    r"(\S.{0,300})$")


def glued_label(line: str) -> bool:
    """True for a label run into its value ("Year2026", "NAMEAlexander Papadakis")."""
    return bool(_GLUED.match(line[:400]))


# Labels whose value is a person's words, set a blank line below them.
_WORDS_LABEL = re.compile(r"(?i)message|comment|question|note|mensaje|nachricht|messaggio|"
                          r"mensagem|bericht|commentaire")


# A section heading over a form's rows: the listing's ("Property", "Listing Details",
# "Imóvel") or the person's ("Contact Information", "Prospect"). Under a listing heading a
# bare "Address" is the listing's. form_pairs and html_table_pairs give a heading as a pair
# with one of these keys (and no value), for the reader to scope the rows under it.
LISTING_HEADING = "\x00listing"
PERSON_HEADING = "\x00person"
_LISTING_WORDS = (r"property|listing|home|house|rental|unit|apartment|community|building|"
                  r"imóvel|imovel|inmueble|propiedad|immobile|immobilie|objekt|bien|logement|"
                  r"annonce|woning|vivienda|inmóvel")
_HEADING_LINE = re.compile(
    rf"(?i)^(?:the |this |la |le |el |o |a )?(?P<listing>{_LISTING_WORDS})"
    r"(?: (?:information|info|details?|of interest|summary|inquired about|interest|"
    r"detalles|datos|dados|détails|informations|informationen|angaben|dettagli))?$|"
    r"^(?P<person>(?:lead|prospect|contact|renter|tenant|buyer|seller|customer|client|consumer|"
    r"applicant|personal|sender|guest|transferee|requester|inquirer|your|user|visitor)"
    r"(?: (?:information|info|details?|contact|contact information|contact info))?|"
    r"datos de contacto|dados de contato|dados do contato|coordonnées|kontaktdaten|contatto|"
    r"datos del interesado|interessent|interesado)$")


def heading_of(line: str) -> str | None:
    """LISTING_HEADING or PERSON_HEADING for a section heading line ("Property Information",
    "PROSPECT"), else None."""
    raw = line.strip().strip(":").strip()
    if not raw or len(raw) > 40:
        return None
    m = _HEADING_LINE.match(raw.lower())
    if not m:
        return None
    return LISTING_HEADING if m.group("listing") else PERSON_HEADING


# "Name * Russell Tanaka": a form's required-field mark between the label and its value.
_REQUIRED_MARK = re.compile(r"^\s*([A-Z][\w'’/&-]*(?: [\w'’/&-]+){0,3}) \* (\S.{0,300})$")


# A form's open question and the person's words after it on the same line ("Anything else we
# should know? Lake access is a must, ideally with a dock.").
_QUESTION_WORDS = re.compile(r"^\s*([^\W\d_][^?\n\d*]{2,100}\?)[ \t]+(\S.{0,2000})$")


def _asked_for_words(line: str) -> re.Match[str] | None:
    from leadmail.parsers.fields import keyword_field  # fields reads this module's helpers

    m = _QUESTION_WORDS.match(line)
    if m and keyword_field(label_key(m.group(1))) == "message":
        return m
    return None


def form_pairs(text: str) -> list[tuple[str, str]]:
    """Like label_values, with labels in label_key spelling and question-style labels kept;
    dot-leader rows and a question with its answer on the same line read as pairs too; a
    section heading right above a "Label: value" row is a heading pair (heading_of)."""
    pairs: list[tuple[str, str]] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i][:400]
        if ":" not in line and len(line) <= 60 and (head := heading_of(line)):
            j = i + 1
            while j < len(lines) and not lines[j].strip() and j - i <= 2:
                j += 1
            if j < len(lines) and _FORM_LINE.match(lines[j][:400]):
                pairs.append((head, ""))
                i += 1
                continue
        m = _FORM_LINE.match(line)
        if not m:
            other = (_MACHINE_LINE.match(line) or _LEADER_LINE.match(line)
                     or _QUESTION_LINE.match(line) or _GLUED.match(line)
                     or _REQUIRED_MARK.match(line) or _asked_for_words(line))
            if other:
                groups = [g for g in other.groups() if g is not None]
                pairs.append((label_key(groups[0]), groups[1].strip()))
            i += 1
            continue
        if m and not re.match(r"^\s*(https?|mailto|tel)\s*:", lines[i], re.I):
            value = m.group(2).strip()
            j = i + 1
            while (not value and j < len(lines) and not lines[j].strip() and j - i <= 2
                   and _WORDS_LABEL.search(m.group(1))):
                j += 1  # "Message:" / "" / "Can we see it Thursday?"
            if not value and j < len(lines) and lines[j].strip():
                if not _FORM_LINE.match(lines[j]):
                    value = lines[j].strip()
                    i = j
            if not value and (head := heading_of(m.group(1))):
                pairs.append((head, ""))  # "PROPERTY:" over the listing's rows
            if " · " in value or " | " in value:
                # "Project type: Interior Design · Location: San Mateo · Budget: $25,000":
                # several rows set on one line
                parts = _ROW_SEP.split(value)[:12]
                more = [_FORM_LINE.match(p) for p in parts[1:]]
                if all(more):
                    pairs.append((label_key(m.group(1)), parts[0].strip()))
                    pairs.extend((label_key(x.group(1)), x.group(2).strip()) for x in more if x)
                    i += 1
                    continue
            pairs.append((label_key(m.group(1)), value))
        i += 1
    return pairs


def html_table_pairs(html: str, is_label: Callable[[str], bool] | None = None
                     ) -> list[tuple[str, str]]:
    """(label_key, value) from HTML tables: "label | value" rows, and the Gravity Forms layout
    where a row holding only the label is followed by a row holding only the value."""
    read = _read_html(html)
    if read is None:  # a garbage table simply yields nothing
        return []
    rows = [[c for c in row if c] for row in read[1]]
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(rows):
        row = rows[i]
        if len(row) == 1 and (head := heading_of(row[0])) and i + 1 < len(rows) and (
                len(rows[i + 1]) == 2 or (is_label is not None and len(rows[i + 1]) == 1
                                          and is_label(label_key(rows[i + 1][0])))):
            pairs.append((head, ""))  # "Property" over "Address | 901 E 5th St"
        elif len(row) == 2 and len(row[0]) <= 60 and "\n" not in row[0]:
            pairs.append((label_key(row[0]), row[1]))
        elif len(row) == 1 and len(row[0]) <= 60 and "\n" not in row[0] and i + 1 < len(rows):
            nxt = rows[i + 1]
            if len(nxt) == 1 and not row[0].endswith((".", "!")):
                pairs.append((label_key(row[0]), nxt[0]))
                i += 1
        i += 1
    return pairs


_FOOTER = re.compile(
    r"^(--\s*$|_{5,}|unsubscribe|to unsubscribe|privacy policy|this (e-?mail|message) was sent"
    r"|you (are )?receiv(ed|ing) this|©|copyright|\(c\) \d{4}|manage (your )?(email )?preferences"
    r"|sent from my (iphone|ipad|android)|questions\? call|need help\?|report spam"
    r"|sent from outlook|get outlook for|inviato da (outlook|il mio)|enviado desde mi"
    r"|enviado do meu"
    r"|envoyé de mon|von meinem \w+ gesendet"
    r"|\(sent via )",
    re.I,
)


@lru_cache(maxsize=8)  # several readers cut the same mail's text
def strip_footer(text: str, signature: bool = True) -> str:
    """The text above the first footer or unsubscribe line (and "-- " signature separator,
    unless `signature` is False: a person's own signature holds their phone)."""
    out = []
    for line in text.split("\n"):
        if _FOOTER.match(line.strip()) and (signature or not line.strip().startswith("--")):
            break
        out.append(line)
    return "\n".join(out).strip()


# "On ... wrote:" as mail clients write it in several languages.
_WROTE_LINE = re.compile(r"^(?:On|Em|El|Le|Am|Il|Op|Den) .{5,200}(?:wrote|escreveu|escribió|"
                         r"a écrit|schrieb|ha scritto|schreef|skrev)\s?:\s*$")


def strip_quoted(text: str) -> str:
    """The text above a quoted reply ("On ... wrote:", "> ..." lines)."""
    out = []
    for line in text.split("\n"):
        if _WROTE_LINE.match(line) or line.startswith(">"):
            break
        out.append(line)
    return "\n".join(out).strip()
