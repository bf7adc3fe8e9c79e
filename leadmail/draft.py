"""The normalize step: an Extracted (as the mail said it) becomes a Draft (as we store it)."""

from __future__ import annotations

from dataclasses import asdict, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from leadmail import leadfields, normalize
from leadmail.leadfields import dataclass_of
from leadmail.parsers.base import Extracted

# The lead's price, as the parsers read it too (one reader: see fields.stored_price).
from leadmail.parsers.fields import stored_price as lead_price

# The keys of `leadmail extract --json`, in this order (a contract admins' tooling relies on).
EXTRACT_KEYS = ("is_lead", *leadfields.names("shown", first=("source",)))


@dataclass_of("stored", after="rule")
class Draft:
    """A normalized, classified lead that is not stored yet.

    Besides its own fields below, it has the lead's fields that are stored, normalized: those
    of leadmail.leadfields.FIELDS with `stored` set (the agent a provider, rule or script
    named as `requested_agent`)."""

    is_lead: bool = True
    not_lead_reason: str | None = None
    parser: str | None = None
    rule: str | None = None
    confidence: dict[str, float] = field(default_factory=dict)
    trace: list[dict[str, Any]] = field(default_factory=list)
    # The provider's own time of the inquiry, and which clock said it (body, date, received).
    provider_at: datetime | None = None
    provider_clock: str | None = None

    if TYPE_CHECKING:  # the lead's fields are added by dataclass_of
        def __init__(self, **values: Any) -> None: ...
        def __getattr__(self, name: str) -> Any: ...
        def __setattr__(self, name: str, value: Any) -> None: ...
        __dataclass_fields__: ClassVar[dict[str, Any]]

    def note(self, step: str, **data: Any) -> None:
        """Record what a pipeline step decided (kept on the lead: "why did this happen?")."""
        self.trace.append({"step": step, **data})

    def public(self) -> dict[str, Any]:
        """The extract --json view: EXTRACT_KEYS only, absent values as null."""
        data = asdict(self)
        return {key: data[key] for key in EXTRACT_KEYS}


def build(ext: Extracted, region: str) -> Draft:
    """Normalize every field of an Extracted lead (pure)."""
    first, last = normalize.split_name(ext.full_name, ext.first_name, ext.last_name)
    draft = Draft(
        is_lead=ext.is_lead,
        not_lead_reason=ext.not_lead_reason,
        source=ext.source,
        parser=ext.parser,
        first_name=first,
        last_name=last,
        email=normalize.email(ext.email),
        phone=normalize.phone(ext.phone, region) if ext.phone else None,
        address=normalize.address(ext.address),
        property_address=normalize.address(ext.property_address, listing=True),
        price=lead_price(ext.price),
        message=normalize.message(ext.message),
        stage=ext.stage,
        segment=ext.segment,
        requested_agent=normalize.email(ext.agent_email),
        tags=list(dict.fromkeys(t.strip() for t in ext.tags if t and t.strip())),
        custom_fields=dict(ext.custom_fields),
        confidence=dict(ext.confidence),
    )
    place = normalize.place_only(draft.address)
    if place:
        # A ZIP or a town is no postal address; it is kept for routing by area.
        for key, value in place.items():
            draft.custom_fields.setdefault(key, value)
        draft.note("normalize", moved_address=draft.address, to=sorted(place))
        draft.address = None
    if ext.trace:
        draft.note("fields", **ext.trace)
    if ext.phone and not draft.phone:
        draft.note("normalize", dropped_phone=ext.phone, reason="not a possible phone number")
    if ext.email and not draft.email:
        draft.note("normalize", dropped_email=ext.email, reason="not an email address")
    return draft
