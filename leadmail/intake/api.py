"""API intake: a lead POSTed as JSON takes the same pipeline as a lead that came by email.

The HTTP handler (leadmail.web.api) stores it as a Message with intake "api": a small RFC 5322
message naming the integration (X-Leadmail-Integration) with the JSON as its body, so it is
stored first, deduplicated (Idempotency-Key → Message-ID), replayable, and visible in
`leadmail quarantine`. The pipeline reads such a message here instead of with the mail parsers
(only the API stores intake "api", so no email can pose as one), then merges, routes and alerts
exactly as for email. The integration's config decides Lead Source and Lead Origin.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from leadmail import classify
from leadmail.config import ApiKeyConfig
from leadmail.draft import Draft, build
from leadmail.errors import Quarantine
from leadmail.parsers.base import Extracted

if TYPE_CHECKING:
    from leadmail.pipeline import Runtime

HEADER = "X-Leadmail-Integration"
DOMAIN = "api.leadmail.invalid"  # RFC 6761: never a real mail domain


class LeadIn(BaseModel):
    """A lead as an integration posts it; every field optional but an email or a phone."""

    model_config = ConfigDict(extra="forbid")

    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    full_name: str | None = Field(default=None, max_length=400)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=50)
    address: str | None = Field(default=None, max_length=500)
    property_address: str | None = Field(default=None, max_length=500)
    price: int | None = Field(default=None, ge=0, le=10**12)
    message: str | None = Field(default=None, max_length=20000)
    source: str | None = Field(default=None, max_length=200,
                               description="used when the API key names no source")
    stage: str | None = None
    segment: str | None = None
    tags: list[str] = Field(default_factory=list, max_length=50)
    custom_fields: dict[str, Any] = Field(default_factory=dict)


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


def read(raw: bytes, rt: Runtime) -> Draft:
    """The pipeline's read step for an API message: JSON → normalize → classify."""
    msg = message_from_bytes(raw, policy=policy.default)
    name = str(msg.get(HEADER, "")).strip()
    key = next((k for k in rt.settings.api_keys if k.name == name), None)
    if key is None:
        raise Quarantine(f"API key {name!r} that posted this lead is not configured any more")
    assert isinstance(msg, EmailMessage)
    try:
        data = LeadIn.model_validate_json(msg.get_content())
    except ValueError as exc:
        raise Quarantine(f"the posted JSON is not a lead: {exc}") from None
    given = data.model_dump(exclude_none=True)
    ext = Extracted(
        parser="api",
        source=key.source or data.source or key.name,
        first_name=data.first_name,
        last_name=data.last_name,
        full_name=data.full_name,
        email=data.email,
        phone=data.phone,
        address=data.address,
        property_address=data.property_address,
        price=data.price,
        message=data.message,
        stage=data.stage,
        segment=data.segment,
        tags=list(data.tags),
        custom_fields=dict(data.custom_fields),
        agent_email=key.agent,
        confidence={k: 1.0 for k in given if k not in ("tags", "custom_fields", "source")},
    )
    draft = build(ext, rt.settings.pipeline.default_region)
    draft.origin = key.origin
    draft.trace[:0] = [{"step": "parse", "intake": "api", "integration": key.name,
                        "message_id": str(msg.get("Message-ID", ""))},
                       {"step": "extract", "parser": "api", "fields": sorted(given)}]
    return classify.classify(draft, None, rt.settings)
