"""Google Ads lead form (lead form asset) leads: Google's notification, a relay's "key: value"
mail with Google's column ids, or the webhook JSON forwarded as mail."""

from __future__ import annotations

import json
import re

from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.common import (
    Layout,
    apply_pairs,
    fill_identity,
    from_domain_in,
    parse_layout,
    segment_hint,
)
from leadmail.parsers.text import label_key

_GOOGLE = ("google.com", "googleads.com")
_LAYOUT = Layout(
    source="Google Ads",
    parser="google_ads",
    domains=(*_GOOGLE, "googlemail.com", "zapier.com", "zapiermail.com", "make.com"),
    keep_unknown=True,
    skip_labels=frozenset({"gcl id", "gclid", "campaign id", "adgroup id", "ad group id",
                           "creative id", "form id", "api version", "google key", "is test",
                           "asset id", "lead submit time"}),
)
# Google's own column ids (user_column_data[].column_id), as Google and relays print them.
_COLUMN_IDS = re.compile(
    r"(?m)^\s*(FULL_NAME|FIRST_NAME|LAST_NAME|EMAIL|PHONE_NUMBER|POSTAL_CODE|STREET_ADDRESS|"
    r"CITY|REGION|COUNTRY|WORK_EMAIL|WORK_PHONE|COMPANY_NAME|JOB_TITLE)\s*[:=]")
_NAMED = re.compile(r"(?i)\bgoogle ads\b|\badwords\b|\blead form (extension|asset)\b")
_GOOGLE_ID = re.compile(r"^[A-Z][A-Z_]+$")  # FULL_NAME...; custom questions have other ids
_WEBHOOK = re.compile(r"\{.*\"user_column_data\".*\}", re.S)


class GoogleAdsParser:
    """Claims only what is plainly Google Ads: Google's sender with a lead form named, Google's
    column ids next to a Google Ads mention, or the webhook's user_column_data JSON."""

    name = "Google Ads"

    def claims(self, mail: Mail) -> bool:
        """Google's webhook JSON; or a Google Ads mention plus Google's sender or column ids."""
        head = mail.from_name + "\n" + mail.subject + "\n" + mail.text[:3000]
        if '"user_column_data"' in mail.text:
            return True
        if not _NAMED.search(head):
            return False
        return from_domain_in(mail, _GOOGLE) or len(_COLUMN_IDS.findall(mail.text)) >= 2

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        """The webhook JSON when present, else labelled fields."""
        doc = _WEBHOOK.search(mail.text)
        if doc:
            try:
                data = json.loads(doc.group(0))
            except ValueError:
                data = None  # a relay mangled it: the "key": "value" lines still read as labels
            if isinstance(data, dict) and isinstance(data.get("user_column_data"), list):
                return _webhook(data, mail, ctx)
        ex = parse_layout(mail, ctx, _LAYOUT)
        ex.segment = segment_hint(mail.subject, ex.message, _answers(ex))
        return ex


def _answers(ex: Extracted) -> str:
    """The form's custom question answers and form name, which say what the lead wants."""
    return "\n".join(f"{k}: {v}" for k, v in ex.custom_fields.items())


def _webhook(data: dict, mail: Mail, ctx: ParseContext) -> Extracted:
    """One lead from Google's lead form webhook payload: Google's column ids read as labels,
    custom questions by their wording (so "What is your budget?" is still the price)."""
    ex = Extracted(parser="google_ads", source="Google Ads")
    pairs = []
    for col in data["user_column_data"]:
        if isinstance(col, dict) and str(col.get("string_value") or "").strip():
            cid = str(col.get("column_id") or "")
            label = cid if _GOOGLE_ID.match(cid) else str(col.get("column_name") or cid)
            pairs.append((label_key(label), str(col["string_value"]).strip()))
    apply_pairs(ex, pairs, mail, ctx, _LAYOUT)
    for key in ("lead_id", "campaign_id", "form_id", "adgroup_id"):
        if data.get(key) not in (None, ""):
            ex.custom_fields[key] = str(data[key])
    if data.get("is_test"):
        ex.tags.append("test")
    fill_identity(ex, mail, ctx, _LAYOUT.domains)
    ex.segment = segment_hint(mail.subject, _answers(ex))
    return ex
