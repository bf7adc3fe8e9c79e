"""A colleague forwarding a lead: unwrap the forwarded block; the forwarder is not the lead."""

from __future__ import annotations

import dataclasses
import email.utils
import re

from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.common import phones_in

MARKER = re.compile(
    r"^[ \t>]*(-{4,}[ \t]*Forwarded message[ \t]*-{4,}|Begin forwarded message:|"
    r"-{3,}[ \t]*Original Message[ \t]*-{3,}|-{3,}[ \t]*Forwarded by .{1,80}-{3,}|"
    r"_{10,}(?=[ \t]*\n[ \t>]*\*?From:))[ \t]*$",
    re.I | re.M)
_HEADER = re.compile(r"^[ \t>]*\*?(From|Sent|Date|Subject|To|Cc|Reply-To)\*?:[ \t]*(.*)$", re.I)
# Inner parsers that read a forwarded lead as the provider's: the lead keeps that source.
_GENERIC = {"Website", "Direct", "Referral"}


class ReferralParser:
    """Forwarded mail: the innermost forwarded block is read as if it had arrived itself."""

    name = "Referral"

    def claims(self, mail: Mail) -> bool:
        """A forward marker in the body ("---------- Forwarded message ----------", ...)."""
        return bool(MARKER.search(mail.text))

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        """Unwrap, keep the forwarder out of the lead, and read the inner mail."""
        from leadmail.parsers import PARSERS  # the registry imports this module

        note, inner = unwrap(mail)
        forwarders = {mail.from_addr} - {""}
        names = {mail.from_name.lower()} - {""}
        inner_ctx = dataclasses.replace(
            ctx,
            agent_emails=ctx.agent_emails | forwarders,
            agent_names=ctx.agent_names | names,
            agent_phones=ctx.agent_phones | set(phones_in(note, ctx)),
        )
        parser = next(p for p in PARSERS if p.name != "Referral" and p.claims(inner))
        ex = parser.parse(inner, inner_ctx)
        ex.custom_fields.setdefault("forwarded_by", mail.from_addr)
        if note.strip():
            ex.custom_fields.setdefault("referral_note", note.strip()[:500])
        if "forwarded" not in ex.tags:
            ex.tags.append("forwarded")
        if parser.name in _GENERIC:
            ex.parser, ex.source = "referral", "Referral"
        return ex


def unwrap(mail: Mail) -> tuple[str, Mail]:
    """(forwarder's note, the innermost forwarded mail), unwrapping up to three levels."""
    text = mail.text
    note = ""
    inner = mail
    for depth in range(3):
        m = MARKER.search(text)
        if not m:
            break
        if depth == 0:
            note = text[: m.start()]
        headers, body = _split_headers(text[m.end():])
        inner = _inner_mail(mail, headers, body)
        text = body
    return note, inner


def _split_headers(block: str) -> tuple[dict[str, str], str]:
    headers: dict[str, str] = {}
    lines = block.lstrip("\n").split("\n")
    i = 0
    while i < len(lines):
        m = _HEADER.match(lines[i])
        if m:
            headers.setdefault(m.group(1).lower(), m.group(2).strip())
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
        headers={},
        text=body,
        html="",
        content_type="text/plain",
    )
