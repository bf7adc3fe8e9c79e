"""HTML pages with charts (Chart.js, vendored in web/static), as the viewer's key sees them.

    /app/engagement  /app/speed  /app/sources  /app/forecast   the reports, with charts
    /app/leads, /app/steps                                      leads, open steps
    /s/{token}                                                  "mark done" from an email

A page knows its viewer as every page of the web app does (web.session: the sign-in session,
an API key header, a `?t=` view token of `leadmail apikey link`, or the cookie it set).
Every page reads through the same lead filter as the API, so a manager never sees an
agent-origin lead here either. The web app's own pages (sign-in, pipeline, a lead, agenda)
are leadmail.web.signin and leadmail.web.workspace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.engine import Engine
from sqlmodel import Session

from leadmail.analytics import reports
from leadmail.clock import aware, now
from leadmail.config import Settings
from leadmail.followup import activity, links, steps
from leadmail.followup.access import Principal
from leadmail.models import Lead, Step, display_name
from leadmail.statuses import StepStatus
from leadmail.web import session
from leadmail.web.api.filters import LeadFilter, filtered

STATIC = Path(__file__).parent / "static"
_env = Environment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
                   undefined=StrictUndefined, autoescape=select_autoescape(["html.j2"]))
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' "
                               "'unsafe-inline'; img-src 'self' data:; form-action 'self'",
}
NAV = [("/app/pipeline", "Pipeline"), ("/app/agenda", "Agenda"),
       ("/app/engagement", "Engagement"), ("/app/speed", "Speed to lead"),
       ("/app/sources", "Sources"), ("/app/forecast", "Forecast"), ("/app/leads", "Leads"),
       ("/app/steps", "Next steps")]
STATE_COLORS = {"untouched": "#cf222e", "stale": "#d4a72c", "engaged": "#2da44e"}
METRIC_COLORS = {"alert": "#0969da", "claim": "#8250df", "contact": "#1a7f37"}
METRICS = [("alert", "Alert"), ("claim", "Claim/accept"), ("contact", "First contact")]
# From the provider's own time of the inquiry (Lead.provider_at).
PROVIDER_METRICS = [("provider_intake", "Mail reached us"), ("provider_alert", "Alert"),
                    ("provider_contact", "First contact")]
PALETTE = ["#0969da", "#1a7f37", "#8250df", "#bf3989", "#d4a72c", "#cf222e", "#1b7c83",
           "#6e7781"]


def _when(at: datetime | None) -> str:
    return aware(at).strftime("%Y-%m-%d %H:%M") if at else "—"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _bar(labels: list[str], datasets: list[dict[str, Any]], stacked: bool = False,
         horizontal: bool = False, y_title: str | None = None) -> dict[str, Any]:
    """A Chart.js bar chart config."""
    scales: dict[str, Any] = {"x": {"stacked": stacked}, "y": {"stacked": stacked,
                                                              "beginAtZero": True}}
    if y_title:
        scales["x" if horizontal else "y"]["title"] = {"display": True, "text": y_title}
    return {"type": "bar", "data": {"labels": labels, "datasets": datasets},
            "options": {"responsive": True, "maintainAspectRatio": False, "animation": False,
                        "indexAxis": "y" if horizontal else "x", "scales": scales,
                        "plugins": {"legend": {"position": "bottom"}}}}


def _stacked(labels: list[str], series: Iterable[tuple[str, list[Any]]], y_title: str,
             colors: Callable[[int, str], str] = lambda i, _: PALETTE[i % 8],
             horizontal: bool = False) -> dict[str, Any]:
    """A stacked bar chart of (name, values) series, coloured by colors(index, name)."""
    return _bar(labels, [{"label": name, "data": data, "backgroundColor": colors(i, name)}
                         for i, (name, data) in enumerate(series)], stacked=True,
                horizontal=horizontal, y_title=y_title)


def _by_state(grid: dict[str, dict[str, int]], y_title: str,
              horizontal: bool = False) -> dict[str, Any]:
    """Open leads of each row of the grid, stacked by engagement state."""
    series = [(s, [grid[k][s] for k in grid]) for s in reports.STATES]
    return _stacked(list(grid), series, y_title, lambda _, s: STATE_COLORS[s], horizontal)


def _percent_of_leads(totals: dict[str, dict[str, int]], key: str) -> list[float]:
    """totals[x][key] as a percentage of totals[x]["leads"] (0 without leads)."""
    return [round(100 * t[key] / t["leads"], 1) if t["leads"] else 0 for t in totals.values()]


class Gate:
    """Who views a page (API key header, `?t=` view token or the sign-in cookie) and the page
    as they may see it: shared by every /app page (leadmail.web.sources too)."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine, self.settings = engine, settings

    def report(self, make: Callable[..., Any], who: Principal,
               at: datetime | None = None) -> Any:
        """One of the analytics reports, as `who` may see it, at `at` (default: now)."""
        with Session(self.engine) as session:
            return make(session, self.settings, who, at or now())

    def render(self, template: str, request: Request, who: Principal | None, status: int = 200,
               **context: Any) -> HTMLResponse:
        html = _env.get_template(f"followup/{template}.html.j2").render(
            nav=NAV if who else [], here=request.url.path, who=who,
            charts=context.pop("charts", None), **context)
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def viewer(self, request: Request) -> tuple[Principal | None, str | None]:
        """(principal, a fresh view token to set as cookie)."""
        found = session.viewer_of(request)
        return (found.who, found.fresh_view) if found else (None, None)

    def page(self, request: Request, build: Any) -> Response:
        """`build(who)` for a signed-in viewer; else to the sign-in page."""
        who, fresh = self.viewer(request)
        if who is None or not who.can_read:
            return RedirectResponse("/app/login", status_code=303)
        response: Response = build(who)
        if fresh:
            response.set_cookie(session.VIEW_COOKIE, fresh, httponly=True, samesite="strict",
                                secure=request.url.scheme == "https", max_age=12 * 3600)
        return response


def router(engine: Engine, settings: Settings) -> APIRouter:
    """The page routes (/app/sources: leadmail.web.sources; sign-in: leadmail.web.signin)."""
    r = APIRouter(include_in_schema=False)
    secret = settings.http.secret
    gate = Gate(engine, settings)
    report, render, page = gate.report, gate.render, gate.page

    @r.get("/app")
    def home() -> Response:
        return RedirectResponse("/app/pipeline", status_code=303)

    @r.get("/app/engagement")
    def engagement(request: Request) -> Response:
        def build(who: Principal) -> Response:
            at = now()
            rep = report(reports.engagement, who, at)
            by_source, by_age = rep.charts["by_source"], rep.charts["by_age"]
            charts = {
                "by_source": _by_state(by_source, "open leads", horizontal=True),
                "by_age": _by_state(by_age, "open leads"),
            }
            rows = [{**row, "last_contact_text": _when(_parse(row["last_contact"])),
                     "next_due_text": _when(_parse(row["next_due"]))} for row in rep.table[:100]]
            return render("engagement", request, who, title="Lead engagement", s=rep.summary,
                          rows=rows, more=max(0, len(rep.table) - 100), charts=charts,
                          at=_when(at))
        return page(request, build)

    @r.get("/app/speed")
    def speed(request: Request) -> Response:
        def build(who: Principal) -> Response:
            rep = report(reports.speed, who)
            charts: dict[str, Any] = {}
            for by in ("agent", "source", "strategy"):
                rows = [row for row in rep.table if row["by"] == by]
                charts[by] = _bar([row["group"] for row in rows], [
                    {"label": label, "backgroundColor": METRIC_COLORS[m],
                     "data": [round((row[f"{m}_p50"] or 0) / 60, 1) for row in rows]}
                    for m, label in METRICS], y_title="minutes")
            buckets = [("<5m", 300), ("5-15m", 900), ("15-60m", 3600), ("1-4h", 14400),
                       ("4-24h", 86400), (">1d", None)]
            counts = dict.fromkeys([b for b, _ in buckets], 0)
            never = 0
            for item in rep.detail:
                seconds = item["contact_seconds"]
                if seconds is None:
                    never += 1
                    continue
                label = next(b for b, limit in buckets if limit is None or seconds < limit)
                counts[label] += 1
            charts["histogram"] = _bar([*counts, "not yet"], [
                {"label": "leads", "data": [*counts.values(), never],
                 "backgroundColor": [*([METRIC_COLORS["contact"]] * len(counts)), "#cf222e"]}],
                y_title="leads")
            charts["histogram"]["options"]["plugins"]["legend"] = {"display": False}
            return render("speed", request, who, title="Speed to lead", s=rep.summary,
                          rows=rep.table, metrics=METRICS, fmt=_duration, charts=charts,
                          provider=PROVIDER_METRICS,
                          late=list(rep.summary.get("late_sources", {}).values()))
        return page(request, build)

    @r.get("/app/forecast")
    def forecast(request: Request) -> Response:
        def build(who: Principal) -> Response:
            rep = report(reports.forecast, who)
            ch = rep.charts
            charts = {"value": _stacked(
                ch["months"], sorted(ch["by_stage"].items()), "deal value")}
            rows = [{"cells": [r["month"], r["deals"], f"{r['value']:,}"], "href": None}
                    for r in rep.table]
            return render("table", request, who, title="Forecast from open deals",
                          cards=[("open deals", rep.summary["open_deals"]),
                                 ("value", f"{rep.summary['value']:,}")],
                          chart_titles=[("value", "Value by expected close month")],
                          columns=["Expected close", "Deals", "Value"], rows=rows,
                          charts=charts)
        return page(request, build)

    @r.get("/app/leads")
    def leads(request: Request) -> Response:
        def build(who: Principal) -> Response:
            q = request.query_params
            f = LeadFilter.model_validate({
                **{k: q.getlist(k) for k in
                   ("stage", "segment", "source", "tag", "custom", "agent", "status")},
                "origin": [o for o in q.getlist("origin") if o in ("company", "agent")]})
            with Session(engine) as session:
                found = filtered(session, who, f)[:200]
                contacts = activity.contact_times(session, [x.id for x in found if x.id])
            rows = [{"cells": [f"#{x.id}", display_name(x), x.source, x.stage, x.segment,
                               x.agent or "—", _when(x.created_at),
                               _when(contacts.get(x.id or 0, (None, None))[1])],
                     "href": f"/app/leads/{x.id}"} for x in found]
            return render("table", request, who, title="Leads", cards=[("shown", len(rows))],
                          chart_titles=[], columns=["Lead", "Name", "Source", "Stage",
                                                    "Segment", "Agent", "Received",
                                                    "Last contact"], rows=rows)
        return page(request, build)

    @r.get("/app/steps")
    def open_steps(request: Request) -> Response:
        def build(who: Principal) -> Response:
            at = now()
            with Session(engine) as session:
                found = steps.open_steps(session, who)[:300]
            rows = [{"cells": [f"#{x.id}", s.name, display_name(x), s.agent, _when(s.due_at),
                               "overdue" if aware(s.due_at) < at else ""],
                     "href": f"/app/leads/{x.id}"} for s, x in found]
            return render("table", request, who, title="Open next steps",
                          cards=[("open", len(rows)),
                                 ("overdue", sum(1 for row in rows if row["cells"][-1]))],
                          chart_titles=[], columns=["Lead", "Step", "Name", "Agent", "Due",
                                                    ""], rows=rows)
        return page(request, build)

    # "Mark done" links from reminder and agenda emails: GET shows, POST acts.

    def step_link(token: str) -> tuple[dict[str, Any] | None, str | None]:
        if not secret:
            return None, "forged"
        try:
            return links.verify(secret, "step", token, now()), None
        except links.BadToken as exc:
            return None, exc.reason

    def refused(request: Request, reason: str | None) -> Response:
        title = "This link has expired" if reason == "expired" else "This link is not valid"
        return render("message", request, None, 403, title=title,
                      detail="Open your latest agenda email, or use `leadmail steps done`.",
                      button=None, action="", field=None)

    @r.get("/s/{token}")
    def step_confirm(request: Request, token: str) -> Response:
        body, bad = step_link(token)
        if body is None:
            return refused(request, bad)
        with Session(engine) as session:
            step = session.get(Step, int(body.get("s", 0)))
            row = session.get(Lead, step.lead_id) if step else None
        if step is None or row is None:
            return render("message", request, None, 404, title="There is no such step",
                          detail=None, button=None, action="", field=None)
        detail = f"{display_name(row)} (lead #{row.id}), due {_when(step.due_at)}."
        if step.status != StepStatus.OPEN:
            return render("message", request, None, title=f"“{step.name}” is {step.status}",
                          detail=detail, button=None, action="", field=None)
        return render("message", request, None, title=f"Mark “{step.name}” done?",
                      detail=detail, button="Mark done", action=f"/s/{token}", field=None)

    @r.post("/s/{token}")
    def step_done(request: Request, token: str) -> Response:
        body, bad = step_link(token)
        if body is None:
            return refused(request, bad)
        agent = str(body.get("a", ""))
        who = Principal("link", "agent", agent)
        done = steps.complete(engine, settings, int(body.get("s", 0)), agent, via="link",
                              who=who)
        if done.status == "not_found":
            return render("message", request, None, 409, title="This lead has moved on",
                          detail="It is not yours any more.", button=None, action="",
                          field=None)
        if not done.ok:
            return render("message", request, None, 409,
                          title=f"Already {done.status.replace('already_', '')}", detail=None,
                          button=None, action="", field=None)
        nxt = done.next
        detail = (f"Next: “{nxt.name}”, due {_when(nxt.due_at)}." if nxt else
                  "That was the last step of this checklist.")
        assert done.step is not None
        return render("message", request, None, title=f"Done: {done.step.name}", detail=detail,
                      button=None, action="", field=None)

    return r


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
