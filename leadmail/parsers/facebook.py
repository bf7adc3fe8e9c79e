"""Facebook Lead Ads, as forwarded by Zapier, LeadsBridge and similar "key: value" relays."""

from __future__ import annotations

import re

from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.common import Layout, from_domain_in, parse_layout

_RELAYS = ("zapier.com", "zapiermail.com", "leadsbridge.com", "facebookmail.com", "facebook.com",
           "leadsync.me", "pabbly.com", "make.com", "integromat.com")
_LAYOUT = Layout(
    source="Facebook",
    parser="facebook",
    domains=_RELAYS,
    keep_unknown=True,
    # Relay metadata: ids and timestamps, never the lead's identity or a phone.
    # ("Field | Value" is the header row of LeadsBridge's table.)
    skip_labels=frozenset({"created time", "created at", "platform", "is organic", "field"}),
)
_MARKERS = re.compile(r"(?i)facebook|lead ?ads?|leadgen|\bfull_name\b|\bphone_number\b|\bfb\b")


class FacebookParser:
    """Lead Ads fields (full_name, phone_number, email, custom questions) from a relay mail."""

    name = "Facebook"

    def claims(self, mail: Mail) -> bool:
        """A relay or Facebook sender with Lead Ads markers, or a subject naming Facebook leads."""
        head = mail.subject + "\n" + mail.text[:3000]
        if from_domain_in(mail, _RELAYS) and _MARKERS.search(head):
            return True
        return bool(re.search(r"(?i)facebook.{0,40}lead|lead.{0,40}facebook", mail.subject))

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        """Labelled keys; unknown keys (form questions, ad/campaign names) go to custom_fields."""
        ex = parse_layout(mail, ctx, _LAYOUT)
        # A Lead Ads form has no free-text message; its questions live in custom_fields.
        return ex
