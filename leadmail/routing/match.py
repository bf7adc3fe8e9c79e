"""Route conditions: does this lead match a route's `match`, and if not, which condition failed.

Conditions are data (config `routes[].match`); each answers with a short reason so the trace
can say both why a rule matched and why the rules above it did not.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any

from leadmail import leadfields, normalize
from leadmail.hours import hours as parse_hours


class Facts:
    """The lead's values that conditions test, computed once per routing."""

    def __init__(self, lead: Any, at: datetime) -> None:
        self.lead = lead
        self.at = at

    @cached_property
    def geography(self) -> dict[str, str]:
        """city/state/zip of the property the lead asks about, else of the lead's own address."""
        for where in (self.lead.property_address, self.lead.address):
            if where:
                parts = normalize.parse_address(where)
                if parts.get("city") or parts.get("state") or parts.get("zip"):
                    return parts
        # A lead that gave only its ZIP or town has it in custom_fields (draft.build).
        custom = self.lead.custom_fields or {}
        return {k: str(custom[k]) for k in ("city", "state", "zip") if custom.get(k)}

    @cached_property
    def quality(self) -> int:
        """The lead's quality score, 0-100 (see quality_score)."""
        return quality_score(self.lead)

    def text(self, key: str) -> list[str]:
        """The lead's values for a text condition, lower-cased (a missing value: [])."""
        if key == "tags":
            return [str(t).lower() for t in self.lead.tags or ()]
        if key in ("city", "state", "zip"):
            value: Any = self.geography.get(key)
        elif key == "email_domain":
            value = (self.lead.email or "").rpartition("@")[2] or None
        elif key.startswith("custom_fields."):
            value = (self.lead.custom_fields or {}).get(key.split(".", 1)[1])
        else:
            value = getattr(self.lead, leadfields.attr(key), None)
        if value is None or value == "":
            return []
        items = value if isinstance(value, list) else [value]
        return [str(v).strip().lower() for v in items]


def quality_score(lead: Any) -> int:
    """custom_fields.quality_score when a provider, rule or script set one (0-100), else a score
    from what the lead gave: phone 30, email 20, name 15, an address 15, price 10, message 10."""
    given = (lead.custom_fields or {}).get("quality_score")
    if given is not None and not isinstance(given, bool):
        try:
            return max(0, min(100, round(float(given))))
        except (TypeError, ValueError):
            pass
    score = 30 if lead.phone else 0
    score += 20 if lead.email else 0
    score += 15 if (lead.first_name or lead.last_name) else 0
    score += 15 if (lead.property_address or lead.address) else 0
    score += 10 if lead.price else 0
    score += 10 if lead.message else 0
    return score


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _zip_ok(have: str, wanted: list[str]) -> str | None:
    for w in wanted:
        if (w.endswith("*") and have.startswith(w[:-1])) or have == w:
            return w
    return None


def condition(key: str, wanted: Any, facts: Facts, tz: str) -> tuple[bool, str]:
    """One condition: (holds, why) where why reads well in a trace either way."""
    if key in ("price_min", "price_max", "quality_min", "quality_max"):
        name = key.split("_")[0]
        have = facts.lead.price if name == "price" else facts.quality
        if have is None:
            return False, f"no {name}"
        ok = have >= wanted if key.endswith("_min") else have <= wanted
        sign = (">=" if ok else "<") if key.endswith("_min") else ("<=" if ok else ">")
        return ok, f"{name} {_num(have)} {sign} {_num(wanted)}"
    if key == "hours":
        spec = parse_hours(wanted, tz)
        ok = spec.is_open(facts.at)
        where = "inside" if ok else "outside"
        return ok, f"received {spec.describe(facts.at)}, {where} {' / '.join(wanted)}"
    if key in ("zip", "zip_prefix"):
        have = facts.text("zip")
        if not have:
            return False, "no ZIP in the lead's addresses"
        pattern = [w if key == "zip" else w.rstrip("*") + "*" for w in wanted]
        hit = _zip_ok(have[0], pattern)
        return (
            (True, f"zip {have[0]} ~ {hit}")
            if hit
            else (False, f"zip {have[0]} not in {', '.join(pattern)}")
        )
    have = facts.text(key)
    lowered = [str(w).lower() for w in wanted]
    hit = next((h for h in have if h in lowered), None)
    if hit is not None:
        return True, f"{key} {hit}"
    shown = ", ".join(have) if have else "empty"
    return False, f"{key} is {shown}, wanted {' or '.join(wanted)}"


def check(match: dict[str, Any], facts: Facts, tz: str) -> tuple[bool, str]:
    """All conditions hold: (True, what matched); else (False, the first that failed)."""
    held = []
    for key, wanted in match.items():
        ok, why = condition(key, wanted, facts, tz)
        if not ok:
            return False, why
        held.append(why)
    return True, "; ".join(held) or "matches every lead"
