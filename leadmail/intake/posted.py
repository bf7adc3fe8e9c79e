"""API intake: a lead POSTed as JSON takes the same pipeline as a lead that came by email.

The HTTP handler (leadmail.web.api.posting) stores it as a Message with intake "api": a small
RFC 5322 message naming the integration (X-Leadmail-Integration) with the JSON as its body, so
it is stored first, deduplicated (Idempotency-Key → Message-ID), replayable, and visible in
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
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints, create_model

from leadmail import leadfields
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
Tag = Annotated[str, StringConstraints(max_length=MAX_TAG, pattern=LINE)]
CustomScalar = Annotated[str, StringConstraints(max_length=MAX_CUSTOM_TEXT, pattern=TEXT)] | \
    Annotated[int, Field(ge=-10**15, le=10**15)] | \
    Annotated[float, Field(ge=-1e15, le=1e15, allow_inf_nan=False)] | bool | None
CustomLeaf = CustomScalar | Annotated[list[CustomScalar], Field(max_length=MAX_CUSTOM_ITEMS)]
CustomValue = CustomLeaf | Annotated[dict[CustomKey, CustomLeaf],
                                     Field(max_length=MAX_CUSTOM_ITEMS)]


def _posted(f: leadfields.LeadField) -> tuple[Any, Any]:
    """The type and bounds of one field of a posted lead."""
    if f.type == "list[str]":  # tags
        return list[Tag], Field(default_factory=list, max_length=MAX_TAGS)
    if f.type == "dict[str, Any]":  # custom_fields
        return dict[CustomKey, CustomValue], Field(default_factory=dict,
                                                   max_length=MAX_CUSTOM_FIELDS)
    if f.type == "int | None":  # price
        return int | None, Field(default=None, ge=0, le=10**12)
    if f.type != "str | None":
        raise TypeError(f"no posted form for {f.name}: {f.type}")
    return str | None, Field(default=None, max_length=f.max_length,
                             pattern=TEXT if f.multiline else LINE, description=f.description)


# The fields an integration may post (leadmail.leadfields), in their order.
_IN_FIELDS: dict[str, Any] = {f.name: _posted(f) for f in leadfields.having("api_in")}
_LeadInFields: Any = create_model("_LeadInFields", **_IN_FIELDS)


class LeadIn(_LeadInFields):
    """A lead as an integration posts it; every field optional but an email or a phone."""

    model_config = ConfigDict(extra="forbid")


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
