"""The classify step: Stage, Segment, Lead Source, Lead Origin and tags (pure)."""

from __future__ import annotations

from leadmail.config import ORIGINS, STAGES, Settings
from leadmail.draft import Draft
from leadmail.errors import Quarantine
from leadmail.rules import Rule

DEFAULT_SEGMENT = "Customers"


def classify(draft: Draft, rule: Rule | None, settings: Settings) -> Draft:
    """Fill stage/segment/source/origin/tags: the rule's `set` wins, then the parser or script,
    then the configured defaults. A value outside the known lists is an error, not a guess."""
    sets = rule.sets if rule else {}
    draft.rule = rule.name if rule else None
    draft.source = (
        sets.get("source") or (rule.source if rule else None) or draft.source or "Unknown"
    )
    draft.stage = sets.get("stage") or draft.stage or settings.classify.default_stage
    draft.segment = sets.get("segment") or draft.segment or DEFAULT_SEGMENT
    draft.origin = sets.get("origin") or draft.origin or settings.classify.default_origin
    draft.pond = sets.get("pond") or draft.pond
    draft.tags = list(dict.fromkeys([*draft.tags, *sets.get("tags", [])]))
    draft.custom_fields = {**draft.custom_fields, **sets.get("custom_fields", {})}

    if draft.stage not in STAGES:
        raise Quarantine(f"stage {draft.stage!r} is not one of {', '.join(STAGES)}")
    if draft.segment not in settings.classify.all_segments():
        raise Quarantine(f"segment {draft.segment!r} is not known (add it to classify.segments)")
    if draft.origin not in ORIGINS:
        raise Quarantine(f"origin {draft.origin!r} is not one of {', '.join(ORIGINS)}")
    draft.note(
        "classify",
        source=draft.source,
        stage=draft.stage,
        segment=draft.segment,
        origin=draft.origin,
        rule=draft.rule,
    )
    return draft
