"""The lead as a vCard 3.0 (RFC 2426), attached to alerts: one tap adds it to the phone."""

from __future__ import annotations

from typing import Any


def _esc(value: str) -> str:
    """RFC 2426 5.2 / RFC 6350 3.4: backslash, comma, semicolon and newlines escaped."""
    return (
        value.replace("\\", "\\\\")
        .replace(",", "\\,")
        .replace(";", "\\;")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space (RFC 2425 5.8.1)."""
    out, current = [], ""
    for char in line:
        if len((current + char).encode()) > 75:
            out.append(current)
            current = " "
        current += char
    out.append(current)
    return "\r\n".join(out)


def vcard(lead: dict[str, Any]) -> str | None:
    """A vCard for the lead view (see notify.alert.lead_view); None when there is nobody to save."""
    first, last = lead.get("first_name") or "", lead.get("last_name") or ""
    full = " ".join(p for p in (first, last) if p) or lead.get("email") or lead.get("phone")
    if not full:
        return None
    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        f"N:{_esc(last)};{_esc(first)};;;",
        f"FN:{_esc(full)}",
    ]
    if lead.get("phone"):
        lines.append(f"TEL;TYPE=CELL:{_esc(lead['phone'])}")
    if lead.get("email"):
        lines.append(f"EMAIL;TYPE=INTERNET:{_esc(lead['email'])}")
    if lead.get("address"):
        lines.append(f"ADR;TYPE=HOME:;;{_esc(lead['address'])};;;;")
    note = [f"Lead #{lead.get('id')} from {lead.get('source') or 'unknown source'}"]
    if lead.get("property_address"):
        note.append(f"property: {lead['property_address']}")
    if lead.get("price"):
        note.append(f"price: ${lead['price']:,}")
    lines.append(f"NOTE:{_esc('; '.join(note))}")
    if lead.get("source"):
        lines.append(f"CATEGORIES:{_esc(str(lead['source']))}")
    lines.append("END:VCARD")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
