"""Facebook Lead Ads, as forwarded by Zapier, LeadsBridge and similar "key: value" relays."""

from __future__ import annotations

import re

from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.common import Layout, from_domain_in, parse_layout

# Connectors that relay an ad platform's lead form "key: value"; the lead is the platform's.
_AD_CONNECTORS = ("zapier.com", "zapiermail.com", "leadsbridge.com", "leadsync.me", "pabbly.com",
                  "make.com", "integromat.com")
CONNECTORS = (*_AD_CONNECTORS, "leadconnectorhq.com", "msgsndr.com")  # and a CRM's relay
_RELAYS = (*_AD_CONNECTORS, "facebookmail.com", "facebook.com")
_LAYOUT = Layout(
    source="Facebook",
    parser="facebook",
    domains=_RELAYS,
    keep_unknown=True,
    # Relay metadata: ids and timestamps, never the lead's identity or a phone.
    # ("Field | Value" is the header row of LeadsBridge's table.)
    skip_labels=frozenset({"created time", "created at", "platform", "is organic", "field"}),
)
# Ad platforms with lead forms, as a connector names them.
_PLATFORMS = (
    ("Facebook", re.compile(r"(?i)\bfacebook\b|\bmeta (?:lead|ads?|instant)\b")),
    ("Instagram", re.compile(r"(?i)\binstagram\b")),
    ("TikTok", re.compile(r"(?i)\btik ?tok\b")),
    ("LinkedIn", re.compile(r"(?i)\blinked ?in\b")),
    ("Snapchat", re.compile(r"(?i)\bsnap(?:chat)?\b(?= lead| ads?\b|chat)")),
    ("Pinterest", re.compile(r"(?i)\bpinterest\b")),
    ("Microsoft Advertising", re.compile(r"(?i)\bmicrosoft (?:ads|advertising)\b|\bbing ads\b")),
    ("Google Ads", re.compile(r"(?i)\bgoogle ads\b|\badwords\b|\bgoogle lead form")),
    ("Reddit", re.compile(r"(?i)\breddit (?:ads?|lead)")),
)


def ad_platform(mail: Mail) -> str | None:
    """The ad platform a connector's notification names first: in its subject, else in its
    opening ("New TikTok Instant Form lead", "Source: Snapchat Lead Generation")."""
    for text in (mail.subject[:300], mail.text[:1500]):
        found = [(m.start(), name) for name, pattern in _PLATFORMS
                 if (m := pattern.search(text))]
        if found:
            return min(found)[1]
    return None


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
