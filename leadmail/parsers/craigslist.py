"""Craigslist relay replies: a person answering a posting through craigslist's anonymizing relay."""

from __future__ import annotations

import dataclasses
import re

from leadmail.parsers import fields as engine
from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.common import domain_of, segment_hint
from leadmail.parsers.nlp import read_person

_DOMAINS = ("craigslist.org",)
# Where craigslist's own text starts under the writer's message.
_RELAY_FOOTER = re.compile(
    r"(?im)^\s*(-{8,}|original (craigslist )?post(ing)?:|this (e-?mail|message) (was|is being) "
    r"(sent|relayed)|about craigslist mail|please flag unwanted|craigslist (mail|relay) "
    r"(help|notice))")
_POST_URL = re.compile(r"https?://[\w.-]*craigslist\.org/(?:[\w/-]*/)?(?P<cat>[a-z]{3})/"
                       r"(?:d/)?[\w./-]*?(?P<id>\d{8,12})\.html")
_RENTAL = frozenset({"apa", "roo", "sub", "vac", "prk", "off", "sha", "swp"})
# Categories of things for sale (cars and trucks, motorcycles, boats, RVs, homes): whoever
# answers the ad wants to buy.
_FOR_SALE = frozenset({"cta", "cto", "ctd", "mca", "mcy", "mco", "mcd", "boa", "boo", "bod",
                       "rva", "rvs", "rvo", "rvd", "rea", "reo", "reb"})
# "2016 Mazda MX-5 Miata Club - $17,900 (Round Rock)": a for-sale ad's subject, price last.
_SUBJECT_TAIL_PRICE = re.compile(r"\s[-–]\s(\$\d[\d,]{0,12})\s*(?:\([^()]{0,60}\))?\s*$")
_SUBJECT_PRICE = re.compile(
    r"^\s*(?:(?:re|fwd?)\s*:\s*)*(?P<price>\$[\d,]+)?\s*/?\s*(?P<title>.*)$", re.I)


def _is_relay(addr: str) -> bool:
    dom = domain_of(addr)
    return any(dom == d or dom.endswith("." + d) for d in _DOMAINS)


class CraigslistParser:
    """The writer's identity hides behind the relay: Reply-To, the relay's display name, the
    text. The posting (title, price, id, category) comes from the subject and footer."""

    name = "Craigslist"

    def claims(self, mail: Mail) -> bool:
        """From, Reply-To or Sender at a craigslist relay address."""
        addrs = [mail.from_addr, *(a for _, a in mail.reply_to), mail.header("sender")]
        return any(_is_relay(a.strip("<> ")) for a in addrs if a)

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        """The writer's own words (relay footer cut) read as free text; the posting as fields."""
        footer = _RELAY_FOOTER.search(mail.text)
        own_text = mail.text[: footer.start()] if footer else mail.text
        ex = read_person(dataclasses.replace(mail, text=own_text), ctx, _DOMAINS)
        ex.parser, ex.source = "craigslist", "Craigslist"
        m = _SUBJECT_PRICE.match(mail.subject)
        tail = _SUBJECT_TAIL_PRICE.search(mail.subject[:300])
        if m and m.group("price"):
            ex.price, ex.confidence["price"] = m.group("price"), 0.9
        elif tail:
            ex.price, ex.confidence["price"] = tail.group(1), 0.9
        if m and m.group("title").strip():
            ex.custom_fields["posting"] = m.group("title").strip()
        url = _POST_URL.search(mail.text)
        if url:
            ex.custom_fields["posting_url"] = url.group(0)
            ex.custom_fields["posting_id"] = url.group("id")
        rental = bool(url and url.group("cat") in _RENTAL)
        if rental:
            ex.custom_fields["posting_category"] = "rental"
        # A renter answering an apartment ad is a customer, not a buyer.
        ex.segment = None if rental else segment_hint(mail.subject, own_text)
        if ex.segment is None and url and url.group("cat") in _FOR_SALE:
            ex.segment = "Buyer"
        posting = _posting_lines(mail.text, footer.end() if footer else None)
        if posting and not ex.property_address:
            win = engine.best(engine.address_candidates(posting, len(posting), set()))
            if win:  # "$1850 / 2br - house with yard (1620 Elm St, Reno, NV 89503)"
                ex.property_address, ex.confidence["property_address"] = win.value, 0.8
                ex.trace["property_address"] = {"won": win.why(), "in": "posting"}
        if posting and not ex.price:
            win = engine.best(engine.price_candidates(posting, len(posting), free_text=False))
            if win:
                ex.price, ex.confidence["price"] = win.value, 0.8
                ex.trace["price"] = {"won": win.why(), "in": "posting"}
        return ex


def _posting_lines(text: str, below: int | None) -> list[str]:
    """The posting the person answers: the original quoted under their reply ("> ...") and
    craigslist's copy under the relay footer."""
    quoted = [ln.lstrip()[1:].strip() for ln in text[:20000].split("\n")
              if ln.lstrip().startswith(">")]
    copy = text[below:below + 4000].split("\n") if below is not None else []
    return [ln[:engine.LINE_MAX] for ln in [*quoted, *copy][:200]]
