"""The lead's fields, defined once: what a lead says about a person and what it is about.

Every place that lists the lead's fields derives its list from `FIELDS` below: the parsers'
`Extracted`, the normalized `Draft`, the rules' `[extract]`, `[set]` and `[[when]]` keys, the
script API (and `leadmail review fix`, which goes through it), `leadmail extract --json`, the
alert view, and the Lead API's `LeadIn` and `LeadOut`. The `Lead` and `Contact` tables are
declared by hand (a column is a migration); tests/test_leadfields.py fails when they, or any
place above, drift from this definition.

The bookkeeping of each step (`parser`, `is_lead`, `rule`, `confidence`, `trace`, a lead's
`status`, ...) is not a lead field: each class declares its own.

This module is a leaf: it imports nothing of leadmail, so every part may use it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

# The types a field may have, by their annotation (FIELDS writes them as annotations).
TYPES: dict[str, Any] = {
    "str | None": str | None,
    "int | None": int | None,
    "str | int | None": str | int | None,
    "list[str]": list[str],
    "dict[str, Any]": dict[str, Any],
}


@dataclass(frozen=True)
class LeadField:
    """One field of a lead, and which places take it."""

    name: str  # as rules, scripts, the API and `extract --json` call it
    type: str  # the normalized value's type (Draft), as an annotation
    read_type: str | None = None  # as a parser reads it (Extracted), when not `type`
    attr: str | None = None  # the attribute on Draft and Lead, when not `name`
    read_attr: str | None = None  # the attribute on Extracted, when not `name`
    lead_default: str | None = None  # the Lead column is not null and defaults to this
    read: bool = True  # a parser may fill it (Extracted)
    stored: bool = True  # normalized onto the Draft and stored on the Lead
    identity: bool = False  # says who the person is: low confidence sends the lead to review
    contact: bool = False  # a new lead fills the contact's gap (contacts.merge)
    extract: bool = False  # a rule's [extract] may take it from the mail
    rule_set: bool = False  # a rule's [set] (and [[when]] set) may set it
    condition: bool = False  # a rule's [[when]] may test it
    script: bool = False  # an admin script may set it (`lead.NAME = ...`), and review fix
    api_in: bool = False  # POST /api/v1/leads takes it (LeadIn)
    api_out: bool = False  # the API shows it (LeadOut)
    shown: bool = False  # in `leadmail extract --json` and the alert view (notify.alert)
    max_length: int | None = None  # of the posted value (LeadIn)
    multiline: bool = False  # the posted value may hold tabs and line breaks
    description: str | None = None  # in the API's schema
    # How a script's value is normalized (scripts/view.py): name, email, phone, address, price,
    # message, or plain (kept as a string).
    normalize: str = "plain"

    @property
    def draft_attr(self) -> str:
        """Its attribute on Draft and Lead."""
        return self.attr or self.name

    @property
    def extracted_attr(self) -> str:
        """Its attribute on Extracted."""
        return self.read_attr or self.name

    @property
    def stored_type(self) -> Any:
        """The type of its Lead column (not null when it has a default there)."""
        return str if self.lead_default is not None else TYPES[self.type]

    @property
    def factory(self) -> Callable[[], Any] | None:
        """The default factory of a list or dict field (None: the default is None)."""
        return {"list": list, "dict": dict}.get(self.type.split("[")[0])


_PERSON: dict[str, Any] = dict(read=True, stored=True, identity=True, contact=True, extract=True,
               condition=True, script=True, api_in=True, api_out=True, shown=True)
_TEXT: dict[str, Any] = dict(extract=True, condition=True, script=True, api_in=True,
                             api_out=True, shown=True)
_CLASS: dict[str, Any] = dict(rule_set=True, condition=True, script=True)

# In this order wherever the order is not a contract of its own.
FIELDS: tuple[LeadField, ...] = (
    LeadField("first_name", "str | None", max_length=200, normalize="name", **_PERSON),
    LeadField("last_name", "str | None", max_length=200, normalize="name", **_PERSON),
    # Only as read or posted: normalize splits it into first_name and last_name.
    LeadField("full_name", "str | None", stored=False, identity=True, extract=True,
              api_in=True, max_length=400),
    LeadField("email", "str | None", max_length=320, normalize="email", **_PERSON),
    LeadField("phone", "str | None", max_length=50, normalize="phone", **_PERSON),
    LeadField("address", "str | None", contact=True, max_length=500, multiline=True,
              normalize="address", **_TEXT),  # the lead's own address
    # The listing, property or vehicle of interest.
    LeadField("property_address", "str | None", max_length=500, multiline=True,
              normalize="address", **_TEXT),
    LeadField("price", "int | None", read_type="str | int | None", normalize="price", **_TEXT),
    LeadField("message", "str | None", max_length=20000, multiline=True, normalize="message",
              **_TEXT),
    # Extracted declares `source` itself, next to `parser` (its place there is older).
    LeadField("source", "str | None", api_in=True, api_out=True, shown=True, max_length=200,
              description="used when the API key names no source", **_CLASS),
    LeadField("stage", "str | None", lead_default="Lead", api_in=True, api_out=True,
              shown=True, max_length=200, **_CLASS),
    # A parser's segment is a hint; classify has the last word.
    LeadField("segment", "str | None", lead_default="Customers", api_in=True, api_out=True,
              shown=True, max_length=200, **_CLASS),
    LeadField("tags", "list[str]", rule_set=True, condition=True, api_in=True, api_out=True,
              shown=True),
    LeadField("custom_fields", "dict[str, Any]", rule_set=True, api_in=True, api_out=True,
              shown=True),  # [[when]] tests one as custom_fields.NAME
    LeadField("origin", "str | None", read=False, lead_default="company", rule_set=True,
              condition=True, api_out=True, shown=True),
    LeadField("pond", "str | None", read=False, **_CLASS),  # set by a rule; else routing's
    LeadField("location", "str | None", read=False, **_CLASS),
    LeadField("team", "str | None", read=False, api_out=True, **_CLASS),
    # The agent the provider, a rule or a script named (not the agent the lead is assigned).
    LeadField("agent", "str | None", attr="requested_agent", read_attr="agent_email",
              normalize="email", **_CLASS),
)
BY_NAME: dict[str, LeadField] = {f.name: f for f in FIELDS}


def attr(name: str) -> str:
    """The attribute on Draft and Lead of the field `name` (`agent` is `requested_agent`);
    any other name as it is."""
    f = BY_NAME.get(name)
    return f.draft_attr if f else name


def having(flag: str) -> tuple[LeadField, ...]:
    """The fields with `flag` set, in FIELDS order."""
    if not isinstance(getattr(FIELDS[0], flag, None), bool):
        raise AttributeError(f"LeadField has no flag {flag!r}")
    return tuple(f for f in FIELDS if getattr(f, flag))


def names(flag: str, first: tuple[str, ...] = (), last: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The names of the fields with `flag`, in FIELDS order but `first` first and `last` last
    (for a place whose order is a contract of its own)."""
    middle = [f.name for f in having(flag) if f.name not in first + last]
    return (*first, *middle, *last)


def _fields_of(view: str) -> Iterator[tuple[str, str, LeadField]]:
    """(attribute, annotation, field) of each field a dataclass view holds."""
    if view == "read":
        for f in having("read"):
            yield f.extracted_attr, f.read_type or f.type, f
    elif view == "stored":
        for f in having("stored"):
            yield f.draft_attr, f.type, f
    else:
        raise ValueError(f"no dataclass view {view!r} (read, stored)")


def dataclass_of(view: str, after: str) -> Callable[[type[T]], type[T]]:
    """A dataclass decorator that adds the lead's fields of `view` ("read": Extracted,
    "stored": Draft) after the class's own field `after`, every one defaulting to None (or
    an empty list or dict). A field the class declares itself keeps its place; its annotation
    and default must be the definition's (checked here, so it cannot drift)."""

    def wrap(cls: type[T]) -> type[T]:
        own: dict[str, Any] = dict(cls.__dict__.get("__annotations__", {}))
        if after not in own:
            raise TypeError(f"{cls.__name__} has no field {after!r} to put the lead's after")
        added: dict[str, str] = {}
        for attr, annotation, f in _fields_of(view):
            if attr in own:
                if own[attr] != annotation or cls.__dict__.get(attr) is not None:
                    raise TypeError(f"{cls.__name__}.{attr} must be `{annotation} = None` "
                                    "(leadmail.leadfields)")
                continue
            added[attr] = annotation
            factory = f.factory
            setattr(cls, attr, dataclasses.field(default_factory=factory) if factory else None)
        ordered: dict[str, Any] = {}
        for name, annotation in own.items():
            ordered[name] = annotation
            if name == after:
                ordered.update(added)
        cls.__annotations__ = ordered
        return dataclasses.dataclass(cls)

    return wrap
