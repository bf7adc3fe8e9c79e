"""A colleague forwarding a lead: unwrap the forwarded block; the forwarder is not the lead."""

from __future__ import annotations

import base64
import dataclasses
import email.utils
import re

from leadmail.parsers.base import Attachment, Extracted, Mail, ParseContext
from leadmail.parsers.common import domain_of, has_identity, is_notifier, phones_in

MARKER = re.compile(
    r"^[ \t>]*(-{4,}[ \t]*Forwarded message[ \t]*-{4,}|Begin forwarded message:|"
    r"-{3,}[ \t]*Original Message[ \t]*-{3,}|-{3,}[ \t]*Forwarded by .{1,80}-{3,}|"
    r"_{10,}(?=[ \t]*\n[ \t>]*\*?From:))[ \t]*$",
    re.I | re.M)
_HEADER = re.compile(
    r"^[ \t>]*\*?(From|Sent|Date|Subject|To|Cc|Reply-To|De|Von|Da|Van|Från|Fra|Envoyé le|"
    r"Envoyé|Gesendet am|Gesendet|Enviado el|Enviada el|Enviado|Enviada|Inviato|Verzonden|"
    r"Skickat|Sendt|Datum|Fecha|Data|À|A|An|Para|Aan|Till|"
    r"Til|Objet|Betreff|Asunto|Assunto|Oggetto|Onderwerp|Ämne|Emne)\*?[ \t]?:[ \t]*(.*)$", re.I)


# Outlook's header block with no rule line above it ("From: ..." then "Sent: ..."), in the
# languages Outlook writes it. Only the From line is matched here; the block is checked below.
_OUTLOOK_FROM = re.compile(r"^[ \t>]*\*?(From|De|Von|Da|Van|Från|Fra)\*?[ \t]?:[ \t]*"
                           r"\S[^\n]{0,200}$",
                           re.I | re.M)
_OUTLOOK_SENT = re.compile(r"^[ \t>]*\*?(Sent|Envoyé(?: le)?|Gesendet(?: am)?|Enviad[oa](?: el)?|"
                           r"Inviato|Verzonden|"
                           r"Skickat|Sendt|Date|Datum|Fecha|Data)\*?[ \t]?:", re.I)
_OUTLOOK_REST = re.compile(r"^[ \t>]*\*?(To|À|A|An|Para|Aan|Till|Til|Subject|Objet|Betreff|"
                           r"Asunto|Assunto|Oggetto|Onderwerp|Ämne|Emne|Cc)\*?[ \t]?:", re.I)
# Localized header names, to the English ones _split_headers keeps.
_HEADER_NAMES = {"de": "from", "von": "from", "da": "from", "van": "from", "från": "from",
                 "fra": "from", "envoyé": "sent", "gesendet": "sent", "enviado": "sent",
                 "envoyé le": "sent", "gesendet am": "sent", "enviado el": "sent",
                 "enviada el": "sent",
                 "enviada": "sent", "inviato": "sent", "verzonden": "sent", "skickat": "sent",
                 "sendt": "sent", "datum": "date", "fecha": "date", "data": "date", "à": "to",
                 "a": "to", "an": "to", "para": "to", "aan": "to", "till": "to", "til": "to",
                 "objet": "subject", "betreff": "subject", "asunto": "subject",
                 "assunto": "subject", "oggetto": "subject", "onderwerp": "subject",
                 "ämne": "subject", "emne": "subject"}
MAX_DEPTH = 4  # forwards unwrapped, at most (text blocks and attached messages alike)
_RFC822 = ("message/rfc822", "message/global")


def attached_message(mail: Mail) -> Attachment | None:
    """A forwarded mail attached whole (message/rfc822, or an .eml file)."""
    for att in mail.attachments[:20]:
        if att.content_type.lower() in _RFC822 or att.filename.lower().endswith(".eml"):
            return att
    return None


def marker(text: str) -> tuple[int, int] | None:
    """(start, end) of the first forward marker: a client's separator line, or the start of an
    Outlook header block (From/Sent/To-or-Subject lines) standing on its own."""
    found = MARKER.search(text)
    best = (found.start(), found.end()) if found else None
    for m in _OUTLOOK_FROM.finditer(text, 0, found.start() if found else len(text)):
        lines = text[m.end():m.end() + 600].split("\n")[1:5]
        if lines and _OUTLOOK_SENT.match(lines[0]) and any(_OUTLOOK_REST.match(x)
                                                            for x in lines[1:]):
            return (m.start(), m.start())
    return best


class ReferralParser:
    """Forwarded mail: the innermost forwarded mail is read as if it had arrived itself."""

    name = "Referral"

    def claims(self, mail: Mail) -> bool:
        """A forward marker in the body, or a mail attached whole."""
        return marker(mail.text) is not None or attached_message(mail) is not None

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        """Unwrap, keep every forwarder out of the lead, and read the inner mail."""
        from leadmail.parsers import read_claimed  # the registry imports this module

        note, inner, forwarders = unwrap(mail)
        emails = {a for a, _ in forwarders} - {""}
        names = {n.lower() for _, n in forwarders} - {""}
        inner_ctx = dataclasses.replace(
            ctx,
            agent_emails=ctx.agent_emails | emails,
            agent_names=ctx.agent_names | names,
            agent_phones=ctx.agent_phones | set(phones_in(note, ctx)),
        )
        ex, parser = read_claimed(inner, inner_ctx, skip=(self,))
        if not has_identity(ex) and _own_notice(mail, inner, forwarders):
            # no one else in it: the forwarder is the customer ("Your Carvana offer is ready")
            return self._own(mail, note, inner, ex, ctx)
        ex.custom_fields.setdefault("forwarded_by", mail.from_addr)
        if note.strip():
            ex.custom_fields.setdefault("referral_note", note.strip()[:500])
        if "forwarded" not in ex.tags:
            ex.tags.append("forwarded")
        # The lead keeps the source of the mail that was forwarded (a person's own mail is
        # "Direct", a portal's notification that portal's); the forward shows in its tag,
        # "forwarded_by" and the trace. A person's mail or a form is read as a forward.
        if parser.name in ("Website", "Direct"):
            ex.parser = "referral"
        ex.trace["forward"] = {"depth": len(forwarders), "forwarders": sorted(emails),
                               "inner_from": inner.from_addr}
        return ex

    def _own(self, mail: Mail, note: str, inner: Mail, notice: Extracted,
             ctx: ParseContext) -> Extracted:
        """A person forwarding a service's notice to themselves ("Your Carvana offer is
        ready", a quote they got): their own mail to the business, whose words are the note
        and whose car, home or price is the notice's (`notice`, as the inner mail read)."""
        from leadmail.parsers import read_claimed  # the registry imports this module

        person, _ = read_claimed(dataclasses.replace(mail, text=note, html="", attachments=[]),
                                 ctx, skip=(self,))
        for name in ("property_address", "price"):
            if not getattr(person, name) and getattr(notice, name):
                setattr(person, name, getattr(notice, name))
                person.confidence[name] = notice.confidence.get(name, 0.5)
        person.source = "Direct"
        if "forwarded" not in person.tags:
            person.tags.append("forwarded")
        person.custom_fields.setdefault("forwarded_notice_from", inner.from_addr)
        person.trace["forward"] = {"depth": 1, "own_notice": True, "inner_from": inner.from_addr}
        return person


def _own_notice(mail: Mail, inner: Mail, forwarders: list[tuple[str, str]]) -> bool:
    """The forwarded mail is a service's notice to the forwarder themselves (its To is their
    address), and the forwarder is no colleague of the business they write to (not of its
    domain): a customer passing on what a service told them."""
    sender = mail.from_addr
    if len(forwarders) != 1 or not sender or not is_notifier(inner):
        return False
    if sender not in inner.header("to").lower():
        return False
    domain = domain_of(sender)
    return all(domain_of(addr) != domain for _, addr in mail.to + mail.cc)


def _message_bytes(payload: bytes) -> bytes:
    """An attached message as RFC 5322 bytes; some clients base64 it, against the RFC."""
    head = payload.lstrip()[:200]
    if b":" not in head.split(b"\n", 1)[0]:
        try:
            return base64.b64decode(payload, validate=False)
        except (ValueError, TypeError):
            return payload
    return payload


def unwrap(mail: Mail) -> tuple[str, Mail, list[tuple[str, str]]]:
    """(the first forwarder's note, the innermost forwarded mail, every forwarder as
    (address, name)), through text blocks and attached messages, up to MAX_DEPTH levels."""
    from leadmail.errors import Quarantine
    from leadmail.parsers.mime import parse_mail

    note = ""
    inner = mail
    forwarders = [(mail.from_addr, mail.from_name)]
    for depth in range(MAX_DEPTH):
        at = marker(inner.text)
        att = attached_message(inner) if at is None else None
        if at is None and att is None:
            break
        if att is not None:
            try:
                nxt = parse_mail(_message_bytes(att.payload))
            except Quarantine:
                break
            if depth == 0:
                # mail-parser renders the attached mail's text into the outer text too: the
                # note is what comes before it.
                probe = nxt.text.strip()[:40]
                cut = inner.text.find(probe) if probe else -1
                note = inner.text[:cut] if cut > 0 else inner.text
        elif at is not None:  # always, here: there is a marker when there is no attachment
            if depth == 0:
                note = inner.text[: at[0]]
            headers, body = _split_headers(inner.text[at[1]:])
            nxt = _inner_mail(inner, headers, body)
        if depth and inner.from_addr:
            forwarders.append((inner.from_addr, inner.from_name))
        inner = nxt
    return note, inner, forwarders


def _split_headers(block: str) -> tuple[dict[str, str], str]:
    headers: dict[str, str] = {}
    lines = block.lstrip("\n").split("\n")
    i = 0
    while i < len(lines):
        m = _HEADER.match(lines[i])
        if m:
            name = m.group(1).lower()
            headers.setdefault(_HEADER_NAMES.get(name, name), m.group(2).strip())
        elif lines[i].strip() or headers:
            break
        i += 1
    body = "\n".join(re.sub(r"^>[ \t]?", "", line) for line in lines[i:])
    return headers, body.strip()


def _inner_mail(outer: Mail, headers: dict[str, str], body: str) -> Mail:
    # Outlook writes "Name [mailto:addr]"; parseaddr wants "Name <addr>".
    raw_from = re.sub(r"\[mailto:([^\]]+)\]", r"<\1>", headers.get("from", ""))
    name, addr = email.utils.parseaddr(raw_from)
    reply = email.utils.parseaddr(headers.get("reply-to", ""))
    return dataclasses.replace(
        outer,
        subject=re.sub(r"(?i)^((fwd?|fw|tr|wg)\s*:\s*)+", "", headers.get("subject", "")),
        from_addr=addr.lower(),
        from_name=name.strip().strip('"*'),
        reply_to=[(reply[0], reply[1].lower())] if reply[1] else [],
        date=headers.get("date") or headers.get("sent") or outer.date,
        headers={"to": headers.get("to", "")},  # whom the forwarded mail was sent to
        text=body,
        html="",
        content_type="text/plain",
    )
