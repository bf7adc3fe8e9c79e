"""Parse raw bytes into a Mail (mail-parser does the MIME work)."""

from __future__ import annotations

import base64
import email.utils
import re

import mailparser

from leadmail.errors import Quarantine
from leadmail.normalize import storable
from leadmail.parsers.base import Attachment, Mail
from leadmail.parsers.text import html_to_text, normalize_space

# What the readers look at, at most (characters): a lead fits in a small fraction of this, and
# every heuristic's cost is bounded by it. Beyond it the body is cut, and the cut is recorded
# as a defect (in the trace). The raw message is stored whole either way.
MAX_TEXT = 200_000
MAX_HTML = 1_000_000
STUB_TEXT = 400  # a plain part shorter than this may be a stub of its HTML alternative
# A line holding three rows or more ("... Name: Hannah Brooks Phone: (720) 555-0158 Email: ...");
# and a row's label at the start of a line.
_MID_ROW = re.compile(r"\S\s+[A-Z][\w/()-]*(?: [\w/()-]+){0,2}:\s")
_ROW_START = re.compile(r"(?m)^[ \t]*[^\W\d_][\w /'’()-]{0,30}:[ \t]")

# Defects after which an empty body means the message is broken, not merely empty.
_STRUCTURAL = {
    "NoBoundaryInMultipartDefect",
    "StartBoundaryNotFoundDefect",
    "MultipartInvariantViolationDefect",
    "MissingHeaderBodySeparatorDefect",
    "CloseBoundaryNotFoundDefect",
}


def _addresses(value: list[tuple[str, str]] | None) -> list[tuple[str, str]]:
    return [(name or "", (addr or "").strip().lower()) for name, addr in (value or []) if addr]


def _first(value: object) -> str:
    """mail-parser gives a list for a repeated header (Subject, Message-ID): take the first."""
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value or "")


# Body parts mail-parser drops ("Email content 'json' not handled"): a form posting a JSON
# object, an XML lead document sent inline. Kept as unnamed attachments, so the structured
# readers (parsers.structured, parsers.adf) see them like any attached document.
STRUCTURED_TYPES = ("application/json", "text/json", "application/ld+json", "application/xml",
                    "text/xml", "application/adf+xml")
MAX_PART = 1_000_000
_REPORT_TYPES = ("message/feedback-report", "message/disposition-notification")
# An inline iCalendar part (a meeting request sent without an .ics attachment) is kept the
# same way: parsers.nonlead reads its METHOD and ORGANIZER.
_KEPT_TYPES = (*STRUCTURED_TYPES, "text/calendar")


def _structured_parts(message: object) -> list[Attachment]:
    out: list[Attachment] = []
    seen: set[bytes] = set()
    walk = getattr(message, "walk", None)
    if walk is None:
        return out
    for count, part in enumerate(walk()):
        if count > 200:
            break
        ctype = part.get_content_type()
        if ctype in _REPORT_TYPES:
            # The email package reads these as header blocks: kept as "Name: value" lines.
            blocks = part.get_payload() if isinstance(part.get_payload(), list) else []
            text = "\n".join(f"{k}: {v}" for sub in blocks[:5] for k, v in sub.items()[:50])
            if text:
                out.append(Attachment("", ctype, text.encode("utf-8", errors="replace")))
            continue
        if part.is_multipart() or not (
            ctype in _KEPT_TYPES or ctype.endswith(("+json", "+xml"))
        ) or part.get_filename():  # the type first: a filename costs a header parse
            continue
        try:
            data = part.get_payload(decode=True) or b""
        except Exception:  # a broken transfer encoding: nothing to read
            continue
        if data and len(data) <= MAX_PART and data not in seen:
            seen.add(data)
            out.append(Attachment("", ctype, data))
    return out


_UNQUOTED_LAST_FIRST = re.compile(
    r"^\s*([^\W\d_][\w'’-]{1,40}),\s*([^\W\d_][\w'’.-]{0,40}(?: [^\W\d_]\.?)?)\s*"
    r"<([^<>@\s]{1,64}@[^<>\s]{1,255})>\s*$")
_ISO2022 = re.compile("\x1b[$(][@ABDJ]")  # ISO-2022-JP/KR/CN's shift sequences


def _decoded_parts(message: object, subtype: str) -> str:
    """The text/<subtype> parts decoded with their declared charset by the email package."""
    out: list[str] = []
    walk = getattr(message, "walk", None)
    for count, part in enumerate(walk() if walk else ()):
        if count > 200:
            break
        if part.get_content_type() != f"text/{subtype}" or part.get_filename():
            continue
        data = part.get_payload(decode=True) or b""
        charset = part.get_content_charset() or "utf-8"
        try:
            out.append(data[:MAX_PART].decode(charset, errors="replace"))
        except LookupError:  # an unknown charset name
            out.append(data[:MAX_PART].decode("utf-8", errors="replace"))
    return "\n".join(out)


def _run_together(text: str) -> bool:
    """A line of the text holds three rows or more, run together."""
    return any(len(_MID_ROW.findall(line)) >= 3 for line in text[:20000].split("\n"))


def _has_attached_message(message: object) -> bool:
    """A message/rfc822 part is attached: its HTML is the attached mail's, not an alternative
    of the outer text."""
    walk = getattr(message, "walk", None)
    return any(part.get_content_type() == "message/rfc822"
               for count, part in enumerate(walk() if walk else ()) if count <= 200)


def parse_mail(raw: bytes) -> Mail:
    """Parse raw RFC 5322 bytes; raise Quarantine when nothing readable can be made of them."""
    if not raw.strip():
        raise Quarantine("empty message")
    try:
        parsed = mailparser.parse_from_bytes(raw)
    except Exception as exc:  # mail-parser raises many types on garbage
        raise Quarantine(f"unparseable MIME: {type(exc).__name__}: {exc}") from exc

    headers: dict[str, str] = {}
    for key, value in parsed.message.items():
        text = str(value)
        low = key.lower()
        headers[low] = f"{headers[low]}\n{text}" if low in headers else text

    defects = sorted(parsed.defects_categories)
    html = "\n".join(parsed.text_html)
    if len(html) > MAX_HTML:
        html, defects = html[:MAX_HTML], [*defects, f"HtmlTruncated({MAX_HTML})"]
    plain = "\n".join(parsed.text_plain)
    if _ISO2022.search(plain[:MAX_TEXT]) or _ISO2022.search(html[:MAX_HTML]):
        # mail-parser hands a 7bit ISO-2022 part (Japanese, Korean mail) over undecoded: its
        # escape sequences would be dropped as control characters below, and the text lost.
        plain = _decoded_parts(parsed.message, "plain") or plain
        html = _decoded_parts(parsed.message, "html") or html
    if len(plain) > MAX_TEXT:
        plain, defects = plain[:MAX_TEXT], [*defects, f"TextTruncated({MAX_TEXT})"]
    # NUL and other control characters are nobody's words: dropped before anything reads.
    html, plain = storable(html), storable(plain)
    text = normalize_space(plain) or (html_to_text(html)[:MAX_TEXT] if html else "")
    if html and plain and (len(text) < STUB_TEXT or _run_together(text)) and (
            not _has_attached_message(parsed.message)):
        # A plain part that only points at the HTML one ("New response to Free Consultation
        # Request. View in Typeform."), or that runs its rows together on one line ("List
        # Price: $625,000 Name: Hannah Brooks Phone: ... Email: ..."): the HTML holds the mail.
        rendered = html_to_text(html)[:MAX_TEXT]
        if len(rendered) > 2 * len(text) + 80 or (
                len(_ROW_START.findall(rendered)) >= len(_ROW_START.findall(text)) + 3):
            text = rendered
    subject = normalize_space(storable(_first(parsed.subject)))
    extra = _structured_parts(parsed.message)
    if not text and not subject and not parsed.attachments and not extra:
        detail = f" (MIME defects: {', '.join(defects)})" if defects else ""
        raise Quarantine("no readable content" + detail)
    if not text and _STRUCTURAL.intersection(defects) and not (parsed.attachments or extra):
        raise Quarantine(f"malformed MIME, no readable body (defects: {', '.join(defects)})")

    from_list = _addresses(parsed.from_)
    from_name, from_addr = from_list[0] if from_list else ("", "")
    flipped = _UNQUOTED_LAST_FIRST.match(headers.get("from", "")[:300])
    if flipped:
        # "From: Marchetti, Linda <linda@...>": a directory's "Last, First" left unquoted,
        # which reads as two mailboxes; it is one person, Linda Marchetti.
        from_name = f"{flipped.group(2).strip()} {flipped.group(1).strip()}"
        from_addr = flipped.group(3).lower()
    if not from_addr:
        # mail-parser drops an unparseable From; fall back to the stdlib's reading of it.
        name, addr = email.utils.parseaddr(headers.get("from", ""))
        from_name, from_addr = name, addr.lower()

    attachments = []
    for att in parsed.attachments:
        payload = att.get("payload") or ""
        try:
            data = base64.b64decode(payload) if att.get("binary") else str(payload).encode()
        except (ValueError, TypeError):
            data = str(payload).encode(errors="replace")
        attachments.append(
            Attachment(att.get("filename") or "", att.get("mail_content_type") or "", data)
        )

    named = {a.payload for a in attachments}
    attachments += [a for a in extra if a.payload not in named]

    return Mail(
        message_id=_first(parsed.message_id).strip() or None,
        subject=subject,
        from_addr=from_addr,
        from_name=storable(from_name).strip().strip('"'),
        reply_to=_addresses(getattr(parsed, "reply_to", None)),
        to=_addresses(parsed.to),
        cc=_addresses(getattr(parsed, "cc", None)),
        date=parsed.date.isoformat() if parsed.date else None,
        headers=headers,
        text=text,
        html=html,
        content_type=parsed.message.get_content_type(),
        attachments=attachments,
        defects=defects,
    )
