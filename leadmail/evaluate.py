"""`leadmail eval DIR`: compare what leadmail reads with hand-checked expected JSON, per field."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leadmail import leadfields, normalize, pipeline
from leadmail.errors import Quarantine
from leadmail.parsers.fields import strip_greeting, strip_signoff

SEGMENT_DEFAULT = "Customers"
# The fields that say who the person is, as `leadmail extract --json` shows them.
IDENTITY = tuple(f.name for f in leadfields.having("identity") if f.shown)


def _squash(value: Any) -> Any:
    return re.sub(r"\s+", " ", value).strip() if isinstance(value, str) else value


def _brand_key(value: Any) -> Any:
    return re.sub(r"\W+", "", value).lower() if isinstance(value, str) else value


_UNIT = re.compile(r"(?i)(?:\b(?:apt|apartment|unit|suite|ste)\.?\s*#?\s*|#\s*)(?=\w)")


def _address_key(value: Any) -> Any:
    """An address as the multiset of its words: the same address in another layout ("10969
    Berlin" / "Berlin 10969", "Bristol, BS8 2LY" / "Bristol BS8 2LY", "Apt 1204" / "#1204",
    "Montréal (Québec)" / "Montréal, QC", "calle" / "Calle") compares equal; another street,
    number or town does not."""
    if not isinstance(value, str):
        return value
    words = re.findall(r"[^\W_]+(?:['’.-][^\W_]+)*", _UNIT.sub("#", value))
    # letter case is the writer's ("calle de Sueca" / "Calle de Sueca"), not the address's
    return sorted(_REGION_WORD.get(w.lower(), w).casefold() for w in words)


# A province or state written by name is its code: "(Québec)" is "QC", "Ontario" "ON".
_REGION_WORD = {name: code for name, code in normalize.REGION_CODES.items() if " " not in name}


def _words(message: str) -> str:
    return strip_greeting(strip_signoff(message))


def field_matches(key: str, expected: Any, got: dict[str, Any]) -> bool:
    """One field: messages compare whitespace-collapsed, custom_fields as a subset."""
    actual = got.get(key)
    if key == "message":  # a greeting ("Hello,") and a sign-off ("Thanks,\nDana") are kept
        # or not as writers differ; the words between them must be the same
        return _squash(expected) == _squash(actual) or (
            isinstance(expected, str) and isinstance(actual, str)
            and (_squash(strip_signoff(expected)) == _squash(strip_signoff(actual))
                 or _squash(_words(expected)) == _squash(_words(actual))))
    if key == "custom_fields":
        have = actual or {}
        return all(have.get(k) == v for k, v in expected.items())
    if key == "source":  # "Autotrader" is "AutoTrader", "ApartmentList" "Apartment List"
        return _brand_key(expected) == _brand_key(actual)
    if key in ("address", "property_address"):
        return _address_key(expected) == _address_key(actual)
    if key == "tags":
        return set(expected) <= set(actual or [])
    return bool(expected == actual)


def _distractor(key: str, want: Any, have: Any) -> bool:
    """An identity field filled where none is expected, or with someone else's value (a name
    sharing no word with the expected one; any other email or phone)."""
    if have in (None, ""):
        return False
    if want in (None, ""):
        return True
    if key in ("first_name", "last_name"):
        return not set(str(want).lower().split()) & set(str(have).lower().split())
    return bool(want != have)


@dataclass
class Report:
    """Per-field tallies and the mismatches."""

    files: int = 0
    right: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    total: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    # Per expected source (or "(non-lead)"): fields right and total.
    source_right: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    source_total: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # An identity field filled where the expected JSON has none, or with another value.
    distractors: list[dict[str, Any]] = field(default_factory=list)

    def source_table(self) -> str:
        """A per-source accuracy table."""
        lines = [f"{'source':18} {'right':>6} {'total':>6} {'accuracy':>9}"]
        for key in sorted(self.source_total):
            acc = self.source_right[key] / self.source_total[key]
            lines.append(f"{key[:18]:18} {self.source_right[key]:>6} "
                         f"{self.source_total[key]:>6} {acc:>8.1%}")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        """The report for CI: overall, per field, per source, distractors, mismatches."""
        return {
            "files": self.files,
            "accuracy": self.accuracy(),
            "fields": {k: self.accuracy(k) for k in sorted(self.total)},
            "field_counts": {k: {"right": self.right[k], "total": self.total[k]}
                             for k in sorted(self.total)},
            "sources": {k: {"right": self.source_right[k], "total": self.source_total[k],
                            "accuracy": self.source_right[k] / self.source_total[k]}
                        for k in sorted(self.source_total)},
            "distractors": len(self.distractors),
            "distractor_list": self.distractors,
            "mismatches": self.mismatches,
        }

    def accuracy(self, key: str | None = None) -> float:
        """Share of fields right (one field, or all)."""
        if key is not None:
            return self.right[key] / self.total[key] if self.total[key] else 1.0
        total = sum(self.total.values())
        return sum(self.right.values()) / total if total else 1.0

    def table(self) -> str:
        """A per-field accuracy table."""
        lines = [f"{'field':18} {'right':>6} {'total':>6} {'accuracy':>9}"]
        for key in sorted(self.total):
            lines.append(
                f"{key:18} {self.right[key]:>6} {self.total[key]:>6} {self.accuracy(key):>8.1%}"
            )
        lines.append(
            f"{'all':18} {sum(self.right.values()):>6} {sum(self.total.values()):>6} "
            f"{self.accuracy():>8.1%}"
        )
        return "\n".join(lines)


def evaluate(directory: Path, rt: pipeline.Runtime) -> Report:
    """Read every X.eml that has X.expected.json beside it and compare field by field."""
    report = Report()
    for expected_path in sorted(directory.rglob("*.expected.json")):
        eml = expected_path.with_name(expected_path.name.removesuffix(".expected.json") + ".eml")
        if not eml.exists():
            continue
        expected = json.loads(expected_path.read_text())
        try:
            got = pipeline.read(eml.read_bytes(), rt).public()
        except Quarantine as exc:
            got = {"is_lead": False, "quarantine": exc.reason}
        report.files += 1
        src = str(expected.get("source") or "(non-lead)")
        for key, want in expected.items():
            report.total[key] += 1
            report.source_total[src] += 1
            if key in IDENTITY and _distractor(key, want, got.get(key)):
                report.distractors.append({"file": str(eml), "field": key, "expected": want,
                                           "got": got.get(key)})
            if field_matches(key, want, got):
                report.right[key] += 1
                report.source_right[src] += 1
            else:
                report.mismatches.append(
                    {"file": str(eml), "field": key, "expected": want, "got": got.get(key)}
                )
        if expected.get("is_lead", True) and "segment" not in expected:
            # An unstated segment means the default: a guess here is a mismatch too.
            report.total["segment"] += 1
            report.source_total[src] += 1
            if got.get("segment") == SEGMENT_DEFAULT:
                report.right["segment"] += 1
                report.source_right[src] += 1
            else:
                report.mismatches.append(
                    {
                        "file": str(eml),
                        "field": "segment",
                        "expected": SEGMENT_DEFAULT,
                        "got": got.get("segment"),
                    }
                )
    return report
