"""API intake: a lead POSTed as JSON takes the same pipeline as a lead that came by email.

The HTTP handler (leadmail.web.api) stores it as a Message with intake "api": a small RFC 5322
message naming the integration (X-Leadmail-Integration) with the JSON as its body, so it is
stored first, deduplicated (Idempotency-Key → Message-ID), replayable, and visible in
`leadmail quarantine`. The pipeline reads such a message with `pipeline.read_api` instead of
with the mail parsers (only the API stores intake "api", so no email can pose as one), then
merges, routes and alerts exactly as for email. The integration's config decides Lead Source
and Lead Origin.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from leadmail.config import ApiKeyConfig

HEADER = "X-Leadmail-Integration"
DOMAIN = "api.leadmail.invalid"  # RFC 6761: never a real mail domain


# Bounds of a posted lead, so that no field can carry more than a lead needs; a lead over any
# of them is refused with 422 before it is stored. custom_fields nest at most two levels:
# {"name": value}, value a scalar, a list of scalars, or {"key": scalar or list of scalars}.
# No string holds NUL (PostgreSQL cannot store it: the lead would be stored, then fail), and
# one-line fields (names, email, phone, tags, keys) hold no control characters at all.
MAX_TAGS, MAX_TAG = 50, 100
MAX_CUSTOM_FIELDS, MAX_CUSTOM_KEY, MAX_CUSTOM_TEXT, MAX_CUSTOM_ITEMS = 50, 100, 2000, 50
LINE = r"^[^\x00-\x1f\x7f]*$"
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # tabs and line breaks allowed
CustomKey = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CUSTOM_KEY,
                                             pattern=LINE)]
CustomScalar = Annotated[str, StringConstraints(max_length=MAX_CUSTOM_TEXT, pattern=TEXT)] | \
    Annotated[int, Field(ge=-10**15, le=10**15)] | \
    Annotated[float, Field(ge=-1e15, le=1e15, allow_inf_nan=False)] | bool | None
CustomLeaf = CustomScalar | Annotated[list[CustomScalar], Field(max_length=MAX_CUSTOM_ITEMS)]
CustomValue = CustomLeaf | Annotated[dict[CustomKey, CustomLeaf],
                                     Field(max_length=MAX_CUSTOM_ITEMS)]


class LeadIn(BaseModel):
    """A lead as an integration posts it; every field optional but an email or a phone."""

    model_config = ConfigDict(extra="forbid")

    first_name: str | None = Field(default=None, max_length=200, pattern=LINE)
    last_name: str | None = Field(default=None, max_length=200, pattern=LINE)
    full_name: str | None = Field(default=None, max_length=400, pattern=LINE)
    email: str | None = Field(default=None, max_length=320, pattern=LINE)
    phone: str | None = Field(default=None, max_length=50, pattern=LINE)
    address: str | None = Field(default=None, max_length=500, pattern=TEXT)
    property_address: str | None = Field(default=None, max_length=500, pattern=TEXT)
    price: int | None = Field(default=None, ge=0, le=10**12)
    message: str | None = Field(default=None, max_length=20000, pattern=TEXT)
    source: str | None = Field(default=None, max_length=200, pattern=LINE,
                               description="used when the API key names no source")
    stage: str | None = Field(default=None, max_length=200, pattern=LINE)
    segment: str | None = Field(default=None, max_length=200, pattern=LINE)
    tags: list[Annotated[str, StringConstraints(max_length=MAX_TAG, pattern=LINE)]] = Field(
        default_factory=list, max_length=MAX_TAGS)
    custom_fields: dict[CustomKey, CustomValue] = Field(default_factory=dict,
                                                        max_length=MAX_CUSTOM_FIELDS)


def synthesize(key: ApiKeyConfig, lead: LeadIn, at: datetime, idempotency: str | None) -> bytes:
    """The message stored for a posted lead (same Idempotency-Key, same Message-ID)."""
    msg = EmailMessage()
    token = "".join(c for c in (idempotency or uuid.uuid4().hex) if c.isalnum() or c in "-_.")
    msg["From"] = f"{key.name} <{key.name.lower()}@{DOMAIN}>"
    msg["Subject"] = f"Lead via the API ({key.name})"
    msg["Date"] = format_datetime(at)
    msg["Message-ID"] = f"<api.{key.name}.{token[:200]}@{DOMAIN}>"
    msg[HEADER] = key.name
    body = json.dumps(lead.model_dump(exclude_none=True), ensure_ascii=False, indent=1)
    msg.set_content(body.encode(), maintype="application", subtype="json")
    return msg.as_bytes()
