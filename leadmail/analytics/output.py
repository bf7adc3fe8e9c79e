"""Reports as text (a table for people), JSON (everything) or CSV (the table)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from leadmail.analytics.reports import Report


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _cell(value: Any, column: str = "") -> str:
    if value is not None and column.endswith(("_p50", "_p90", "_seconds")):
        return _duration(float(value))
    if isinstance(value, str) and column in ("received", "last_contact", "next_due"):
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M")
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() else f"{value:.1f}"
    if isinstance(value, bool):
        return "yes" if value else ""
    return str(value)


def as_json(report: Report) -> str:
    """The whole report as one JSON document."""
    return json.dumps(report.as_dict(), ensure_ascii=False, default=str, indent=2)


def as_csv(report: Report) -> str:
    """The report's table as CSV with a header row."""
    out = io.StringIO()
    if report.table:
        writer = csv.DictWriter(out, fieldnames=list(report.table[0]), lineterminator="\n")
        writer.writeheader()
        for row in report.table:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def as_text(report: Report, columns: list[str] | None = None) -> str:
    """A summary line and an aligned table."""
    summary = ", ".join(f"{k} {v}" for k, v in report.summary.items()
                        if not isinstance(v, dict))
    lines = [f"{report.name} at {report.at:%Y-%m-%d %H:%M} UTC: {summary}"]
    if not report.table:
        return "\n".join([*lines, "(nothing to show)"])
    columns = columns or TEXT_COLUMNS.get(report.name) or list(report.table[0])
    cells = [[_cell(row.get(c), c) for c in columns] for row in report.table]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    head = [c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)]
    lines.append("  ".join(head).rstrip())
    for row in cells:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    for sentence in (report.summary.get("late_sources") or {}).values():
        lines.append(f"LATE  {sentence}")
    return "\n".join(lines)


TEXT_COLUMNS = {
    "engagement": ["lead", "name", "source", "agent", "age_days", "last_contact", "state",
                   "next_step", "next_due"],
    "speed": ["by", "group", "leads", "alert_p50", "alert_p90", "claim_p50", "claim_p90",
              "contact_p50", "contact_p90", "provider_alert_p50", "provider_alert_p90",
              "provider_contact_p50", "provider_contact_p90"],
}
