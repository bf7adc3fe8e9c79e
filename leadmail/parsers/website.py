"""Website contact forms: Contact Form 7, Gravity Forms, WPForms, Wix, Squarespace, any
"Label: value" form in text or in an HTML table."""

from __future__ import annotations

import re

from leadmail.parsers import fields as engine
from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.common import (
    FIELD_LABELS,
    FREEMAIL,
    IDENTITY_FIELDS,
    Layout,
    all_pairs,
    domain_of,
    is_notifier,
    is_provider_addr,
    parse_layout,
    telephony_relay,
)
from leadmail.parsers.text import Folded, html_to_text

_BUILDERS = Folded(
    r"contact form 7|sent from a contact form|gravity ?forms|wpforms|ninja forms|"
    r"formidable|wix\.com|squarespace|new (form )?submission|form submission|"
    r"jotform|typeform|hubspot form|elementor")
_NOTICE = re.compile(r"(?i)\b(lead|leads|inquiry|enquiry|on behalf of|via)\b")
# What a relayed inquiry says of itself: a new lead, message, inquiry, request or call.
_ASKS = re.compile(r"(?i)\b(new (?:\w+ )?(?:lead|message|inquiry|enquiry|request|contact|"
                   r"submission|booking|quote)|leads?\b|inquiry|enquiry|sent you|"
                   r"is interested|wants to|requested|message from|quote request)")


class WebsiteParser:
    """A form's labelled fields; the site's own sender and recipients are never the lead."""

    name = "Website"

    def claims(self, mail: Mail) -> bool:
        """A known form builder's marks, or at least two labelled identity fields."""
        if telephony_relay(mail):
            return False  # a call or a text the phone system relays: the person's own words
        if _BUILDERS.search(mail.subject + "\n" + mail.text[-3000:] + mail.text[:500]):
            return True
        if engine.domain_brand([mail.from_addr, mail.header("sender")]):
            return True  # a known provider's own notification, however it sets out the person
        if _NOTICE.search(f"{mail.subject}\n{mail.from_name}") and engine.brand_of(
                "", "", [], f"{mail.subject}\n{mail.text[:300]}", "")[0]:
            # "PadMapper tenant lead for ...", "You have received a PadMapper lead.": a named
            # provider's notice, even with the person's details set out without labels.
            return True
        if is_notifier(mail) and not telephony_relay(mail) and _ASKS.search(
                f"{mail.subject}\n{mail.text[:3000]}"):
            # A service's robot relaying someone's inquiry (a message, a call, a form): the
            # person is in the body, however it sets them out; the robot is never the lead.
            return True
        keys = {k for k, _ in all_pairs(mail)}
        kinds = {f for f in IDENTITY_FIELDS if keys & FIELD_LABELS[f]}
        named = bool(kinds & {"full_name", "first_name", "last_name"})
        if named and is_provider_addr(mail.from_addr, ()):
            return True  # a robot's notice naming a person ("From" / "Eleanor ..." / her email)
        if is_provider_addr(mail.from_addr, ()) and keys & FIELD_LABELS["message"]:
            return True  # a robot's notice carrying a person's words ("Meddelande:" / "Hej, ...")
        return named + ("email" in kinds) + ("phone" in kinds) >= 2

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        """Labelled fields; the From is the site's robot when it shares the recipients' domain."""
        own = {domain_of(a) for _, a in mail.to + mail.cc} - FREEMAIL
        own |= {"wordpress.com", "wix.com", "squarespace.com", "squarespace.info", "wixforms.com"}
        found, why = brand(mail)
        if found and found != "Website" and domain_of(mail.from_addr) not in FREEMAIL:
            own |= {domain_of(mail.from_addr)}  # the provider's robot, never a free-mail box
        layout = Layout(source=found or "Website", parser="website", domains=tuple(sorted(own)))
        ex = parse_layout(mail, ctx, layout)
        ex.trace["source"] = {"won": found or "Website", "why": why}
        return ex


def brand(mail: Mail) -> tuple[str | None, str]:
    """The provider a notification comes from: a known provider by domain or mark, else the
    company's own display name, else None (a brokerage's own site form: "Website")."""
    extra = [a for _, a in mail.reply_to]
    sender = mail.header("sender")
    if "@" in sender:
        extra.append(sender.strip("<> ").lower())
    found, why = engine.brand_of(mail.from_addr, mail.from_name, extra,
                                 f"{mail.subject}\n{mail.text[:600]}", mail.text[-1500:])
    if found:
        return found, why
    if mail.html:
        tail = html_to_text(mail.html[-20000:])[-1500:]
        found, why = engine.brand_of("", "", [], "", tail)
        if found:
            return found, why
    recipients = {domain_of(a) for _, a in mail.to + mail.cc}
    dom = domain_of(mail.from_addr)
    if dom in FREEMAIL or any(dom == r or dom.endswith("." + r) for r in recipients if r):
        return None, "the site's own sender"
    name = engine.fallback_brand(mail.from_name)
    if name:
        return name, "sender display name"
    shown = (mail.from_name or "").strip().strip('"')
    if 2 <= len(shown) <= 40 and not _BROKERAGE.search(shown) and re.match(
            re.escape(shown) + _SELF_ANNOUNCED, mail.subject.strip(), re.I):
        # "Rocket Homes Referral: ...", "Homes & Land Lead: ...": a provider announcing its
        # own lead, though its name reads like a brokerage's
        return shown, "sender announcing its lead"
    return None, "brokerage sender"


# A brokerage's, a franchise's or a landlord's own name, or a site's address: its own form.
_BROKERAGE = re.compile(r"(?i)\b(" + engine.BROKERAGE_WORDS + r")\b|\.(?:com|net|org|co)\b")
# A provider's subject after its own name: "<Name> Lead:", "<Name> Referral", "<Name> Sign-In".
_SELF_ANNOUNCED = (r"\s*(?:buyer |seller |new )?(?:lead|referral|sign-?in|match|connection|"
                   r"introduction)s?\b")
