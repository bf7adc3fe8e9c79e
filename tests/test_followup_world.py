"""Issue 7's must-shows on a simulated brokerage (tests/world.py): 3 agents, 2 teams,
200 leads over four simulated weeks.

- every report matches numbers this test computes on its own from what the world did;
- a manager's API key and pages never return an agent-origin lead, by any endpoint or filter,
  even after the agent has left;
- schemathesis runs against the served OpenAPI document, as an admin and as a manager (with a
  check that no response of the manager's carries anything of an agent-origin lead).
"""

from __future__ import annotations

import math
import re
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from sqlmodel import Session, select

from leadmail import config
from leadmail.analytics import output, reports
from leadmail.clock import use
from leadmail.followup import access
from leadmail.followup.access import ADMIN, Principal
from leadmail.models import Deal, Lead, Step
from leadmail.web.app import create_app, make_server
from tests import world as worlds
from tests.conftest import PG_ADMIN_URL, free_port, wait_for
from tests.world import MANAGERS, TEAMS, Truth, World, email, key_of


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    """The world, built once per database."""
    tmp = tmp_path_factory.mktemp("world")
    if request.param == "sqlite":
        w = worlds.build(f"sqlite:///{tmp / 'world.db'}", tmp)
        yield w
        w.engine.dispose()
        return
    import psycopg

    name = f"leadmail_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    w = worlds.build(f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}", tmp)
    yield w
    w.engine.dispose()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manager(w: World, name: str) -> Principal:
    return access.as_user(w.settings, email(name))


def sees(p: Principal, t: Truth) -> bool:
    """The privacy rule, stated again independently of leadmail.followup.access."""
    if p.role == "admin":
        return True
    if p.role == "agent":
        return t.agent == p.user
    team = MANAGERS[p.user.split("@")[0]]  # type: ignore[union-attr]
    return t.origin == "company" and t.agent in {email(a) for a in TEAMS[team]}


def nearest_rank(values: list[float], p: int) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * p / 100) - 1)]


# ---------------------------------------------------------------------------------------------
# Reports = numbers computed here


VIEWERS = ["admin", "max", "mia", "ana"]


def viewer(w: World, name: str) -> Principal:
    return ADMIN if name == "admin" else access.as_user(w.settings, email(name))


def report(w: World, name: str, who: Principal) -> reports.Report:
    with Session(w.engine) as session:
        return reports.build(name, session, w.settings, who, w.end)


@pytest.mark.parametrize("name", VIEWERS)
def test_engagement_report_matches_the_world(world: World, name: str) -> None:
    who = viewer(world, name)
    mine = [t for t in world.truth.values() if sees(who, t)]
    open_ = [t for t in mine if t.stage in ("Lead", "Potential", "Active")]
    stale_before = world.end - timedelta(days=7)
    states: dict[int, str] = {}
    for t in open_:
        last = max(t.contacts) if t.contacts else None
        states[t.lead] = ("untouched" if last is None else
                          "stale" if last < stale_before else "engaged")
    by_source: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_age: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for t in open_:
        by_source[t.source][states[t.lead]] += 1
        days = (world.end - t.received) / timedelta(days=1)
        bucket = "<1d" if days < 1 else "1-7d" if days < 7 else "7-30d" if days < 30 else "30d+"
        by_age[bucket][states[t.lead]] += 1

    got = report(world, "engagement", who)
    assert got.summary["open_leads"] == len(open_) > 0
    for state in ("untouched", "stale", "engaged"):
        assert got.summary[state] == sum(s == state for s in states.values()), state
    assert {r["lead"]: r["state"] for r in got.table} == states
    for source, counts in got.charts["by_source"].items():
        assert {k: v for k, v in counts.items() if v} == dict(by_source[source]), source
    for bucket, counts in got.charts["by_age"].items():
        assert {k: v for k, v in counts.items() if v} == dict(by_age.get(bucket, {})), bucket
    for row in got.table:  # last contact, to the second
        t = world.truth[row["lead"]]
        assert row["last_contact"] == (max(t.contacts).isoformat() if t.contacts else None)


@pytest.mark.parametrize("name", VIEWERS)
def test_speed_report_matches_the_world(world: World, name: str) -> None:
    who = viewer(world, name)
    groups: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(
        lambda: {"alert": [], "claim": [], "contact": []})
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for t in world.truth.values():
        if not sees(who, t):
            continue
        times = {"alert": min(t.alerts) if t.alerts else None, "claim": t.claim,
                 "contact": min(t.contacts) if t.contacts else None}
        for key in (("all", "all"), ("agent", t.agent or "(unassigned)"), ("source", t.source),
                    ("strategy", t.strategy)):
            counts[key] += 1
            for metric, when in times.items():
                if when is not None:
                    groups[key][metric].append((when - t.received).total_seconds())
    got = {(r["by"], r["group"]): r for r in report(world, "speed", who).table}
    assert set(got) == set(counts)
    for key, metrics in groups.items():
        row = got[key]
        assert row["leads"] == counts[key], key
        for metric, values in metrics.items():
            assert row[f"{metric}_n"] == len(values), (key, metric)
            assert row[f"{metric}_p50"] == nearest_rank(values, 50), (key, metric)
            assert row[f"{metric}_p90"] == nearest_rank(values, 90), (key, metric)
    assert got[("all", "all")]["contact_n"] > 100 or who.role != "admin"


@pytest.mark.parametrize("name", VIEWERS)
def test_sources_report_matches_the_world(world: World, name: str) -> None:
    who = viewer(world, name)
    cells: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for t in world.truth.values():
        if sees(who, t):
            cell = cells[(t.source, t.received.strftime("%Y-%m"))]
            cell[0] += 1
            cell[1] += t.qualified
            cell[2] += bool(t.deal and t.deal["outcome"] == "won")
    got = report(world, "sources", who)
    assert {(r["source"], r["month"]): [r["leads"], r["qualified"], r["won"]]
            for r in got.table} == dict(cells)
    if who.role == "admin":
        assert sum(c[2] for c in cells.values()) >= 5  # the world won some deals


@pytest.mark.parametrize("name", VIEWERS)
def test_forecast_report_matches_the_world(world: World, name: str) -> None:
    who = viewer(world, name)
    months: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for t in world.truth.values():
        if sees(who, t) and t.deal and t.deal["outcome"] == "open":
            month = months[t.deal["expected_close"].strftime("%Y-%m")]
            month[0] += 1
            month[1] += t.deal["value"]
    got = report(world, "forecast", who)
    assert {r["month"]: [r["deals"], r["value"]] for r in got.table} == dict(months)
    assert got.summary["value"] == sum(v for _, v in months.values())


def test_reports_print_as_text_json_and_csv(world: World) -> None:
    speed = report(world, "speed", ADMIN)
    text = output.as_text(speed)
    assert text.splitlines()[1].split()[:3] == ["BY", "GROUP", "LEADS"]
    assert '"report": "speed"' in output.as_json(speed)
    csv_lines = output.as_csv(speed).splitlines()
    assert csv_lines[0].startswith("by,group,leads,alert_n,alert_p50")
    assert len(csv_lines) == len(speed.table) + 1


# ---------------------------------------------------------------------------------------------
# Lead-origin privacy


class Served:
    """The daemon's app on uvicorn in a thread, on a free port: real HTTP requests."""

    def __init__(self, w: World, settings: config.Settings | None = None) -> None:
        port = free_port()
        app = create_app(w.engine, lambda: {}, settings or w.settings)
        self.server = make_server(app, "127.0.0.1", port)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{port}"
        wait_for(lambda: self.server.started, timeout=10)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def serve() -> Iterator[Any]:
    """serve(world, settings=None) -> an httpx.Client on the served app."""
    made: list[tuple[Served, httpx.Client]] = []

    def make(w: World, settings: config.Settings | None = None) -> httpx.Client:
        served = Served(w, settings)
        made.append((served, httpx.Client(base_url=served.base, timeout=30)))
        return made[-1][1]

    yield make
    for served, web in made:
        web.close()
        served.close()


def agent_origin(w: World) -> list[Truth]:
    return [t for t in w.truth.values() if t.origin == "agent"]


def leaks(w: World, text: str, theirs: list[Truth]) -> list[str]:
    """Anything of an agent-origin lead in a response body."""
    found = [t.email for t in theirs if t.email in text]
    found += [s for s in ("Ana's site", "Ana&#39;s site", "Cara's referrals",
                          "Cara&#39;s referrals") if s in text]
    return found


def test_sql_and_python_privacy_rules_agree(world: World) -> None:
    with Session(world.engine) as session:
        leads = session.exec(select(Lead)).all()
        for name in ["admin", "max", "mia", "ana", "ben", "cara"]:
            who = viewer(world, name)
            by_sql = set(session.exec(access.visible_ids(who)).all())
            assert by_sql == {lead.id for lead in leads if access.can_see(who, lead)}, name
            assert by_sql == {t.lead for t in world.truth.values() if sees(who, t)}, name


FILTERS: list[dict[str, Any]] = [
    {}, {"origin": "agent"}, {"origin": "company"}, {"agent": email("ana")},
    {"agent": email("cara")}, {"source": "Ana's site"}, {"source": "Cara's referrals"},
    {"tag": "hot"}, {"custom": "timeline=now"}, {"stage": "Lead"}, {"stage": "Potential"},
    {"segment": "Buyer"}, {"status": "assigned"}, {"limit": 500},
    {"received_after": "2000-01-01T00:00:00Z", "limit": 500}, {"offset": 5, "limit": 500},
]


@pytest.mark.parametrize("name", list(MANAGERS))
def test_a_managers_key_never_returns_an_agent_origin_lead(
    world: World, serve: Any, name: str
) -> None:
    """Every endpoint, every filter: nothing of an agent-origin lead, not even its existence."""
    web = serve(world)
    key = {"X-API-Key": key_of(name)}
    theirs = agent_origin(world)
    assert len(theirs) >= 30
    who = manager(world, name)
    visible = {t.lead for t in world.truth.values() if sees(who, t)}
    assert visible and all(world.truth[i].origin == "company" for i in visible)

    for params in FILTERS:
        r = web.get("/api/v1/leads", params={"limit": 500, **params}, headers=key)
        assert r.status_code == 200, (params, r.text)
        ids = {item["id"] for item in r.json()["items"]}
        assert ids <= visible and not leaks(world, r.text, theirs), params
        if not params or params == {"limit": 500}:
            assert ids == visible and r.json()["total"] == len(visible)

    with Session(world.engine) as session:
        their_steps = session.exec(select(Step.id).where(
            Step.lead_id.in_([t.lead for t in theirs]))).all()  # type: ignore[attr-defined]
        their_deals = session.exec(select(Deal.id).where(
            Deal.lead_id.in_([t.lead for t in theirs]))).all()  # type: ignore[attr-defined]
    assert their_steps and their_deals
    for t in theirs:
        for method, path, body in (
            ("GET", f"/api/v1/leads/{t.lead}", None),
            ("POST", f"/api/v1/leads/{t.lead}/stage", {"stage": "Inactive"}),
            ("POST", f"/api/v1/leads/{t.lead}/notes", {"kind": "note", "text": "peek"}),
            ("GET", f"/app/leads/{t.lead}", None),
        ):
            r = web.request(method, path, json=body, headers=key)
            assert r.status_code == 404, (method, path, r.status_code)
            assert not leaks(world, r.text, theirs)
    for step_id in their_steps:
        r = web.post(f"/api/v1/steps/{step_id}/complete", json={}, headers=key)
        assert r.status_code == 404
    for deal_id in their_deals:
        r = web.post(f"/api/v1/deals/{deal_id}/stage", json={"stage": "Lost"}, headers=key)
        assert r.status_code == 404

    r = web.post("/api/v1/audiences", headers=key, json={
        "name": f"own-{name}", "filters": {"origin": ["agent"]}})
    assert r.status_code == 201 and r.json()["matches"] == 0
    r = web.get("/api/v1/leads", params={"audience": f"own-{name}"}, headers=key)
    assert r.json() == {"total": 0, "items": []}

    for path in ["/api/v1/steps", "/api/v1/deals", "/api/v1/audiences", "/api/v1/me",
                 *[f"/api/v1/reports/{n}" for n in reports.REPORTS]]:
        r = web.get(path, headers=key)
        assert r.status_code == 200, path
        assert not leaks(world, r.text, theirs), path
    for row in web.get("/api/v1/steps", headers=key).json():
        assert row["lead_id"] in visible
    for row in web.get("/api/v1/deals", headers=key).json():
        assert row["lead_id"] in visible
    detail = web.get("/api/v1/reports/speed", headers=key).json()["detail"]
    assert {d["lead"] for d in detail} == visible

    pages = ["/app/engagement", "/app/speed", "/app/sources", "/app/forecast", "/app/steps",
             "/app/leads", "/app/leads?origin=agent", "/app/leads?source=Ana%27s+site",
             f"/app/leads?agent={email('cara')}"]
    for path in pages:
        r = web.get(path, headers=key)
        assert r.status_code == 200, path
        assert not leaks(world, r.text, theirs), path
        assert not any(f'href="/app/leads/{t.lead}"' in r.text for t in theirs), path


def test_still_private_after_the_agent_leaves(world: World, serve: Any, tmp_path: Path) -> None:
    """Cara leaves: her own leads stay out of every manager's view; an admin still sees them."""
    data = worlds.world_config(world.settings.database.url, tmp_path)
    data["agents"] = [a for a in data["agents"] if a["email"] != email("cara")]
    data["teams"] = [{**t, "agents": [a for a in t["agents"] if a != email("cara")]}
                     for t in data["teams"]]
    data["api_keys"] = [k for k in data["api_keys"]
                        if email("cara") not in (k.get("agent"), k.get("user"))]
    data["routes"] = data["routes"]
    left = config.validate(data, env={})
    web = serve(world, left)
    caras = [t for t in agent_origin(world) if t.agent == email("cara")]
    assert caras
    for name in MANAGERS:
        r = web.get("/api/v1/leads", params={"limit": 500}, headers={"X-API-Key": key_of(name)})
        assert not {i["id"] for i in r.json()["items"]} & {t.lead for t in caras}
        assert not leaks(world, r.text, agent_origin(world))
        for t in caras:
            got = web.get(f"/api/v1/leads/{t.lead}", headers={"X-API-Key": key_of(name)})
            assert got.status_code == 404
    r = web.get("/api/v1/leads", params={"limit": 500, "origin": "agent", "agent": email("cara")},
                headers={"X-API-Key": key_of("admin")})
    assert {i["id"] for i in r.json()["items"]} == {t.lead for t in caras}


def test_an_agent_sees_only_their_own_leads(world: World, serve: Any) -> None:
    web = serve(world)
    r = web.get("/api/v1/leads", params={"limit": 500}, headers={"X-API-Key": key_of("ben")})
    mine = {t.lead for t in world.truth.values() if t.agent == email("ben")}
    assert {i["id"] for i in r.json()["items"]} == mine
    other = next(t for t in world.truth.values() if t.agent == email("ana"))
    assert web.get(f"/api/v1/leads/{other.lead}",
                   headers={"X-API-Key": key_of("ben")}).status_code == 404


def test_pages_draw_charts_with_chart_js(world: World, serve: Any) -> None:
    web = serve(world)
    token = web.get("/api/v1/me", headers={"X-API-Key": key_of("max")})
    assert token.json()["role"] == "manager"
    assert web.get("/app/engagement", follow_redirects=False).status_code == 303  # sign in first
    form = web.get("/app/login?key=1")  # the form's CSRF token is bound to a cookie it sets
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf and web.post("/app/login", data={"key": key_of("max")},
                             follow_redirects=False).status_code == 403
    r = web.post("/app/login", data={"key": key_of("max"), "csrf": csrf.group(1)},
                 follow_redirects=False)
    assert r.status_code == 303 and "leadmail_view" in r.headers["set-cookie"]
    web.cookies.set("leadmail_view", r.cookies["leadmail_view"])
    for page in ("engagement", "speed", "sources", "forecast"):
        html = web.get(f"/app/{page}").text  # the cookie from the sign-in
        assert '<script src="/static/chart.umd.min.js"></script>' in html
        assert 'data-chart="' in html and '"type": "bar"' in html, page
    lead = next(t for t in world.truth.values() if sees(manager(world, "max"), t) and t.contacts)
    page = web.get(f"/app/leads/{lead.lead}")
    assert page.status_code == 200 and "Time in stage" in page.text and lead.email in page.text
    assert web.get("/app/steps").status_code == 200
    js = web.get("/static/chart.umd.min.js")
    assert js.status_code == 200 and js.text.startswith("/*!\n * Chart.js v4.6.1")


# ---------------------------------------------------------------------------------------------
# schemathesis against the served OpenAPI document


@pytest.fixture(scope="module")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("small")
    w = worlds.build(f"sqlite:///{tmp / 'small.db'}", tmp, n=40, seed=3)
    yield w
    w.engine.dispose()


def _fuzz(w: World, served: Served, key: str, checks: Any, extra: Any = None) -> int:
    """Every /api/v1 operation of the served OpenAPI document with generated inputs; the
    number of operations run."""
    import schemathesis

    schema = schemathesis.openapi.from_url(served.base + "/openapi.json")
    ran = 0
    for result in schema.include(path_regex=r"^/api/v1/").get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @FUZZ
        def run(case: Any) -> None:
            response = case.call(headers={"X-API-Key": key_of(key)})
            case.validate_response(response, checks=checks)
            if extra is not None:
                extra(response)

        with use(w.clock):
            run()
        ran += 1
    return ran


FUZZ = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck),
                database=None)


def test_api_conforms_to_its_openapi_document(small_world: World) -> None:
    """schemathesis as an admin: no server error, every answer as documented."""
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )

    served = Served(small_world)
    try:
        ran = _fuzz(small_world, served, "admin", [
            not_a_server_error, status_code_conformance, content_type_conformance,
            response_schema_conformance])
    finally:
        served.close()
    assert ran >= 12


def test_api_fuzzed_as_a_manager_never_leaks(small_world: World) -> None:
    """schemathesis as a manager: whatever it sends, nothing of an agent-origin lead."""
    from schemathesis.checks import not_a_server_error

    theirs = agent_origin(small_world)
    assert theirs

    def private(response: Any) -> None:
        found = leaks(small_world, response.text, theirs)
        assert not found, f"agent-origin lead data in a manager's response: {found}"

    served = Served(small_world)
    try:
        assert _fuzz(small_world, served, "max", [not_a_server_error], private) >= 12
    finally:
        served.close()
