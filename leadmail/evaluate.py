"""`leadmail eval DIR`: compare what leadmail reads with hand-checked expected JSON, per field."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leadmail import pipeline
from leadmail.errors import Quarantine

SEGMENT_DEFAULT = "Customers"


def _squash(value: Any) -> Any:
    return re.sub(r"\s+", " ", value).strip() if isinstance(value, str) else value


def field_matches(key: str, expected: Any, got: dict[str, Any]) -> bool:
    """One field: messages compare whitespace-collapsed, custom_fields as a subset."""
    actual = got.get(key)
    if key == "message":
        return _squash(expected) == _squash(actual)
    if key == "custom_fields":
        have = actual or {}
        return all(have.get(k) == v for k, v in expected.items())
    if key == "tags":
        return set(expected) <= set(actual or [])
    return bool(expected == actual)


@dataclass
class Report:
    """Per-field tallies and the mismatches."""

    files: int = 0
    right: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    total: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    mismatches: list[dict[str, Any]] = field(default_factory=list)

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
        for key, want in expected.items():
            report.total[key] += 1
            if field_matches(key, want, got):
                report.right[key] += 1
            else:
                report.mismatches.append(
                    {"file": str(eml), "field": key, "expected": want, "got": got.get(key)}
                )
        if expected.get("is_lead", True) and "segment" not in expected:
            # An unstated segment means the default: a guess here is a mismatch too.
            report.total["segment"] += 1
            if got.get("segment") == SEGMENT_DEFAULT:
                report.right["segment"] += 1
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
