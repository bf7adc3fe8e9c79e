"""The classify step: Stage, Segment, Lead Source, Lead Origin, tags, custom field types (pure)."""

from __future__ import annotations

from typing import Any

import structlog

from leadmail import leadfields, normalize
from leadmail.config import LEAD_STAGES, ORIGINS, CustomFieldConfig, Settings
from leadmail.draft import Draft
from leadmail.errors import Quarantine
from leadmail.rules import Rule

DEFAULT_SEGMENT = "Customers"
log = structlog.get_logger("leadmail.classify")


def lead_value(draft: Draft, name: str) -> Any:
    """A lead field by name for rule conditions: draft fields, custom_fields.X, city/state/zip."""
    if name.startswith("custom_fields."):
        return draft.custom_fields.get(name.split(".", 1)[1])
    if name in ("city", "state", "zip"):
        for where in (draft.address, draft.property_address):
            if where:
                value = normalize.parse_address(where).get(name)
                if value:
                    return value
        return None
    return getattr(draft, leadfields.attr(name), None)


def apply_sets(draft: Draft, sets: dict[str, Any]) -> None:
    """A rule's `set` table: tags add, custom fields merge, everything else replaces."""
    for key, value in sets.items():
        if key == "tags":
            draft.tags = list(dict.fromkeys([*draft.tags, *value]))
        elif key == "custom_fields":
            draft.custom_fields = {**draft.custom_fields, **value}
        else:
            setattr(draft, leadfields.attr(key), value)


def classify(draft: Draft, rule: Rule | None, settings: Settings) -> Draft:
    """Fill stage/segment/source/origin/tags: the rule's `set` (then its matching `when`s) win,
    then the parser or script, then the configured defaults. A value outside the known lists is
    an error, not a guess."""
    draft.rule = rule.name if rule else None
    if rule is not None:
        draft.source = rule.source or draft.source
        apply_sets(draft, rule.sets)
        for when in rule.when:
            if all(c.holds(lead_value(draft, c.field)) for c in when.conditions):
                apply_sets(draft, when.sets)
                draft.note("when", rule=rule.name, matched=when.label, set=when.sets)
    draft.source = draft.source or "Unknown"
    draft.stage = draft.stage or settings.classify.default_stage
    draft.segment = draft.segment or DEFAULT_SEGMENT
    draft.origin = draft.origin or settings.classify.default_origin

    if draft.stage not in LEAD_STAGES:
        raise Quarantine(f"stage {draft.stage!r} is not one of {', '.join(LEAD_STAGES)}")
    if draft.segment not in settings.classify.all_segments():
        raise Quarantine(f"segment {draft.segment!r} is not known (add it to classify.segments)")
    if draft.origin not in ORIGINS:
        raise Quarantine(f"origin {draft.origin!r} is not one of {', '.join(ORIGINS)}")
    _type_custom_fields(draft, settings.custom_fields)
    draft.note(
        "classify",
        source=draft.source,
        stage=draft.stage,
        segment=draft.segment,
        origin=draft.origin,
        rule=draft.rule,
    )
    return draft


def _type_custom_fields(draft: Draft, declared: list[CustomFieldConfig]) -> None:
    """Coerce declared custom fields to their type; a misfit is reported, not crashed on."""
    problems: dict[str, str] = {}
    for spec in declared:
        if spec.name not in draft.custom_fields:
            continue
        raw = draft.custom_fields[spec.name]
        try:
            draft.custom_fields[spec.name] = spec.coerce(raw)
        except ValueError as exc:
            problems[spec.name] = f"{raw!r}: {exc}"
            draft.custom_fields.pop(spec.name)
    if problems:
        draft.note("custom_fields", invalid=problems)
        log.warning("custom field values do not fit their type", fields=problems)
