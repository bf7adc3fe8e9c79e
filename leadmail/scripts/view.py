"""What an admin script sees: `mail` (read-only view of the email) and `lead` (setters).

Every value a script sets goes through the same normalization as parser output (phones to
E.164, emails lower-cased, names cased, prices to integers), so scripts may write values as
they find them in the mail.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from leadmail import leadfields, normalize
from leadmail.draft import Draft
from leadmail.parsers.base import Mail
from leadmail.parsers.common import all_pairs
from leadmail.parsers.text import label_key


class MailView:
    """The email, read-only: subject, sender, headers, text, html and "Label: value" pairs."""

    def __init__(self, mail: Mail) -> None:
        self._mail = mail

    subject = property(lambda self: self._mail.subject)
    from_addr = property(lambda self: self._mail.from_addr)
    from_name = property(lambda self: self._mail.from_name)
    reply_to = property(lambda self: list(self._mail.reply_to))
    to = property(lambda self: list(self._mail.to))
    text = property(lambda self: self._mail.text)
    html = property(lambda self: self._mail.html)
    message_id = property(lambda self: self._mail.message_id)
    attachments = property(
        lambda self: [(a.filename, a.content_type) for a in self._mail.attachments]
    )

    @property
    def headers(self) -> dict[str, str]:
        """All headers, names lower-cased."""
        return dict(self._mail.headers)

    def header(self, name: str, default: str = "") -> str:
        """One header by case-insensitive name."""
        return self._mail.header(name, default)

    @cached_property
    def tables(self) -> list[tuple[str, str]]:
        """(label, value) pairs from "Label: value" lines and HTML tables, labels canonical."""
        return all_pairs(self._mail)

    def field(self, label: str) -> str | None:
        """The value of a labelled field ("Phone", "Your e-mail", "Budget"), or None."""
        key = label_key(label)
        return next((v for k, v in self.tables if k == key), None)


_NORMALIZERS: dict[str, Any] = {  # by LeadField.normalize; "name" and "phone" below
    "email": normalize.email,
    "address": normalize.address,
    "price": normalize.price,
    "message": normalize.message,
}


class LeadApi:
    """The lead, as a script may change it. Unknown attribute names are errors, not no-ops."""

    # The fields a script may set (leadmail.leadfields), in the order its errors name them.
    FIELDS = leadfields.names("script", last=("source", "agent"))
    # set() takes a field by its name or by its attribute on the Draft (agent, requested_agent).
    _SETTABLE = {key: f for f in leadfields.having("script") for key in (f.name, f.draft_attr)}

    def __init__(self, draft: Draft, region: str) -> None:
        object.__setattr__(self, "_draft", draft)
        object.__setattr__(self, "_region", region)

    def __getattr__(self, name: str) -> Any:
        if name in self.FIELDS:
            return getattr(self._draft, leadfields.attr(name))
        raise AttributeError(f"lead has no field {name!r}; fields: {', '.join(self.FIELDS)}")

    def __setattr__(self, name: str, value: Any) -> None:
        self.set(name, value)

    def set(self, name: str, value: Any) -> None:
        """Set a field; the value is normalized like a parser's."""
        if name in ("tags", "custom_fields"):
            raise AttributeError(f"change lead.{name} in place (add_tag, custom_fields[...])")
        if name not in self._SETTABLE:
            raise AttributeError(f"lead has no field {name!r}; fields: {', '.join(self.FIELDS)}")
        how, name = self._SETTABLE[name].normalize, self._SETTABLE[name].draft_attr
        if not value and how != "plain":
            normalized = None
        elif how == "name":
            normalized = normalize.case_name(str(value))
        elif how == "phone":
            normalized = normalize.phone(str(value), self._region)
        elif how == "plain":
            normalized = str(value) if value is not None else None
        else:
            normalized = _NORMALIZERS[how](value)
        setattr(self._draft, name, normalized)
        self._draft.confidence[name] = 1.0

    def set_name(self, full: str) -> None:
        """Split and case a full name into first and last name."""
        self._draft.first_name, self._draft.last_name = normalize.split_name(full)
        self._draft.confidence.update(first_name=1.0, last_name=1.0)

    @property
    def tags(self) -> list[str]:
        """The lead's tags (a list you may append to)."""
        return self._draft.tags

    def add_tag(self, tag: str) -> None:
        """Add a tag once."""
        if tag and tag not in self._draft.tags:
            self._draft.tags.append(tag)

    def remove_tag(self, tag: str) -> None:
        """Remove a tag if present."""
        if tag in self._draft.tags:
            self._draft.tags.remove(tag)

    @property
    def custom_fields(self) -> dict[str, Any]:
        """The lead's custom fields (a dict you may change)."""
        return self._draft.custom_fields

    def set_custom(self, name: str, value: Any) -> None:
        """Set one custom field (its declared type is checked when the lead is classified)."""
        self._draft.custom_fields[name] = value
