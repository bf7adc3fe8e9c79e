"""Google Ads lead form extension notifications."""

from __future__ import annotations

import re

from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.common import Layout, parse_layout

_LAYOUT = Layout(
    source="Google Ads",
    parser="google_ads",
    domains=("google.com", "googleads.com", "googlemail.com"),
    keep_unknown=True,
    skip_labels=frozenset({"gcl id", "gclid", "campaign id", "adgroup id", "creative id",
                           "form id", "api version", "google key", "is test"}),
)


class GoogleAdsParser:
    """Google Ads lead form mails (FULL_NAME, EMAIL, PHONE_NUMBER, POSTAL_CODE...)."""

    name = "Google Ads"

    def claims(self, mail: Mail) -> bool:
        """A subject or body naming a Google Ads lead form."""
        head = mail.subject + "\n" + mail.text[:2000]
        return bool(re.search(r"(?i)google ads?\b.{0,60}lead|lead form (extension|asset)", head))

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        """Labelled fields; campaign and question fields go to custom_fields."""
        return parse_layout(mail, ctx, _LAYOUT)
