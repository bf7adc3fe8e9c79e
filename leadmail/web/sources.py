"""/app/sources: each lead source's health (admins), its leads, qualified and won, and the
campaigns' results per step.

A thin render: the health figures are `leadmail.sources.health.figures`, the same that
`leadmail sources --json` prints; each field's recent fill is an inline SVG sparkline drawn
here (no script). The viewer is known as on every /app page (pages.Gate).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.engine import Engine

from leadmail.analytics import reports
from leadmail.config import Settings
from leadmail.followup.access import Principal
from leadmail.sources import health
from leadmail.web.pages import Gate, _bar, _duration, _percent_of_leads, _stacked

FILLED, MISSING = "#2da44e", "#cf222e"


def sparkline(marks: list[int], width: int = 3, height: int = 14) -> Markup:
    """One bar per recent lead, oldest first: green where the field was filled, red where
    it was missing (an SVG of numbers and fixed colours only)."""
    bars = "".join(
        f'<rect x="{i * width}" y="{0 if m else height // 2}" width="{width - 1}" '
        f'height="{height if m else height - height // 2}" fill="{FILLED if m else MISSING}"/>'
        for i, m in enumerate(marks[-health.BASELINE:]))
    total = max(1, len(marks[-health.BASELINE:])) * width
    return Markup(f'<svg class="spark" width="{total}" height="{height}" role="img" '
                  f'viewBox="0 0 {total} {height}" xmlns="http://www.w3.org/2000/svg">'
                  f"{bars}</svg>")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def health_rows(figures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The figures as the page shows them."""
    return [{**f, "fill_text": {k: _pct(v) for k, v in f["fill"].items()},
             "spark": {k: sparkline(v) for k, v in f["history"].items()},
             "review_text": _pct(f["review_share"]), "fallback_text": _pct(f["fallback_share"]),
             "last_seen_text": (f["last_seen"] or "never")[:16].replace("T", " ")}
            for f in figures]


def _campaign_tables(rep: reports.Report) -> list[dict[str, Any]]:
    """The campaigns report as a table of the sources page (none without campaigns)."""
    if not rep.table:
        return []
    columns = ["Campaign", "Step", "Channel", "Sent", "Delivered", "Replied", "Unsubscribed",
               "Bounced", "Reply rate", "Median time to reply"]
    rows = [[r["campaign"], r["step"], r["channel"], r["sent"], r["delivered"], r["replied"],
             r["unsubscribed"], r["bounced"], f"{r['reply_rate'] * 100:.0f}%",
             _duration(r["median_reply_seconds"]) if r["median_reply_seconds"] is not None
             else "-"] for r in rep.table]
    return [{"title": "Campaigns", "columns": columns, "rows": rows}]


def router(engine: Engine, settings: Settings) -> APIRouter:
    """GET /app/sources."""
    r = APIRouter(include_in_schema=False)
    gate = Gate(engine, settings)

    @r.get("/app/sources")
    def sources(request: Request) -> Response:
        def build(who: Principal) -> Response:
            rep = gate.report(reports.sources, who)
            ch = rep.charts
            charts = {"leads": _stacked(
                ch["months"], [(s, ch["leads"][s]) for s in ch["sources"]], "leads")}
            totals = rep.summary["by_source"]
            charts["rates"] = _bar(list(totals), [
                {"label": "qualified %", "backgroundColor": "#8250df",
                 "data": _percent_of_leads(totals, "qualified")},
                {"label": "won %", "backgroundColor": "#1a7f37",
                 "data": _percent_of_leads(totals, "won")}], y_title="% of leads")
            rows = [{"cells": [r["source"], r["month"], r["leads"], r["qualified"], r["won"]],
                     "href": None} for r in rep.table]
            s = rep.summary
            # Source health is the admin's: who runs the rules and gets the drift alarm.
            shown = health_rows(health.figures(engine)) if who.role == "admin" else None
            return gate.render("sources", request, who, title="Sources", health=shown,
                               fields=health.FIELDS,
                               cards=[("leads", s["leads"]), ("qualified", s["qualified"]),
                                      ("won", s["won"])],
                               chart_titles=[("leads", "Leads per month"),
                                             ("rates", "Qualified and won, by source")],
                               columns=["Source", "Month", "Leads", "Qualified", "Won"],
                               rows=rows, charts=charts,
                               extra_tables=_campaign_tables(gate.report(reports.campaigns, who)))
        return gate.page(request, build)

    return r
