"""Routing (issue 5): rules, strategies, claims, escalation, concurrency; SQLite and PostgreSQL.

Time is a ManualClock the tests move; leads are made the way the pipeline makes them (lead
row, contact merge, pipeline.assign) without parsing mail, so each test reads as a scenario.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlmodel import Session, col, select

from leadmail import config, contacts, db, pipeline
from leadmail.clock import ManualClock, use
from leadmail.db import session_scope
from leadmail.draft import Draft
from leadmail.errors import ConfigErrors
from leadmail.hours import hours
from leadmail.models import Assignment, Contact, Event, Lead, Message, Offer, Outbox, Timer
from leadmail.routing import actions, explain, timers
from leadmail.routing.match import Facts, check, quality_score
from leadmail.store import store_raw

MONDAY = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 09:00 in Chicago
MAX = {"name": "Max Manager", "email": "max@brokerage.example", "ponds": []}


def agent(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name.title(), "email": f"{name}@brokerage.example", **extra}


def email(name: str) -> str:
    return f"{name}@brokerage.example"


World = tuple[config.Settings, Any, ManualClock]


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[Callable[..., World]]:
    """make(agents, routes, **sections) -> (settings, engine, clock) on a migrated database."""
    db.upgrade(db_url)
    engines = []

    def make(
        agents: list[dict[str, Any]], routes: list[dict[str, Any]] | None = None, **extra: Any
    ) -> World:
        (tmp_path / "no-rules").mkdir(exist_ok=True)  # empty (a missing rules dir is an error)
        settings = config.validate(
            {
                "database": {"url": db_url},
                "notify": {"email": {"relay": f"file:{tmp_path / 'alerts'}"}},
                "rules": {"dir": str(tmp_path / "no-rules")},
                "agents": agents,
                "routes": routes or [],
                **extra,
            },
            env={},
        )
        engine = db.make_engine(db_url)
        engines.append(engine)
        return settings, engine, ManualClock(MONDAY)

    yield make
    for engine in engines:
        engine.dispose()


def new_lead(w: World, n: int, **fields: Any) -> int:
    """A lead made as the pipeline makes one: row, contact merge, route + dispatch."""
    settings, engine, clock = w
    values: dict[str, Any] = {
        "email": f"p{n}@buyers.example",
        "first_name": "Pat",
        "last_name": f"Person{n}",
        "source": "Website",
        **fields,
    }
    with use(clock), session_scope(engine) as s:
        lead = Lead(
            message_pk=0, dedup_key=f"test:{uuid.uuid4()}", created_at=clock.now(), **values
        )
        s.add(lead)
        s.flush()
        assert lead.id is not None
        draft = Draft(**{k: v for k, v in values.items() if hasattr(Draft, k)})
        contact, merged = contacts.merge(s, draft, lead.id)
        lead.contact_id = contact.id
        trace: list[dict[str, Any]] = []
        pipeline.assign(s, settings, lead, contact, trace, owner=contact.owner if merged else None)
        lead.trace = trace
        return lead.id


def get(engine: Any, lead_id: int) -> Lead:
    with Session(engine) as s:
        lead = s.get(Lead, lead_id)
        assert lead is not None
        return lead


def kinds(engine: Any, lead_id: int, *only: str) -> list[tuple[str, str | None]]:
    """(kind, agent-or-manager) of the lead's routing events, in order."""
    skip = {"lead_created", "contact_created", "contact_merged"}
    with Session(engine) as s:
        events = s.exec(
            select(Event).where(Event.lead_id == lead_id).order_by(col(Event.at), col(Event.id))
        ).all()
    return [
        (e.kind, e.data.get("agent") or e.data.get("manager"))
        for e in events
        if e.kind not in skip and (not only or e.kind in only)
    ]


def route_step(engine: Any, lead_id: int) -> dict[str, Any]:
    return next(t for t in get(engine, lead_id).trace if t["step"] == "route")


# ---------------------------------------------------------------------------------------------
# Pure parts: hours, conditions, config


def test_working_hours_and_business_minutes() -> None:
    office = hours(["mon-fri 09:00-17:00"], "America/Chicago")
    assert office.is_open(MONDAY)  # 09:00 CST
    assert not office.is_open(MONDAY - timedelta(minutes=1))
    friday_late = datetime(2026, 11, 27, 22, 30, tzinfo=UTC)  # Fri 16:30 CST
    # 60 business minutes from Friday 16:30: 30 on Friday, 30 on Monday from 09:00.
    assert office.add(friday_late, 60) == datetime(2026, 11, 30, 15, 30, tzinfo=UTC)
    night = hours("22:00-06:00", "UTC")  # every day, across midnight
    assert night.is_open(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    assert not night.is_open(datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    weekend = hours("fri-sun 10:00-14:00", "UTC")  # wraps: fri, sat, sun
    assert weekend.is_open(datetime(2026, 11, 29, 11, 0, tzinfo=UTC))  # Sunday
    assert not weekend.is_open(datetime(2026, 11, 30, 11, 0, tzinfo=UTC))  # Monday
    assert hours([], "UTC").add(MONDAY, 5) == MONDAY + timedelta(minutes=5)


def test_route_conditions_of_every_kind() -> None:
    lead = SimpleNamespace(
        source="Zillow",
        parser="Zillow",
        rule="zillow",
        segment="Buyer",
        stage="Lead",
        origin="company",
        location="North",
        team=None,
        pond=None,
        requested_agent=None,
        email="kim@acme.example",
        phone="+15125550123",
        first_name="Kim",
        last_name="Lee",
        message="Tour please",
        tags=["portal", "Hot"],
        custom_fields={"timeframe": "0-3 months"},
        price=450_000,
        address=None,
        property_address="12 Oak St, Austin, TX 78701",
    )
    facts = Facts(lead, MONDAY)
    assert quality_score(lead) == 100

    def ok(match: dict[str, Any]) -> bool:
        return check(config.RouteConfig(match=match).match, facts, "America/Chicago")[0]

    assert ok({"source": "zillow", "segment": ["Seller", "Buyer"], "tags": "hot"})
    assert ok({"city": "austin", "state": "TX", "zip": ["78701"]})
    assert ok({"zip": "787*"}) and ok({"zip_prefix": ["786", "787"]}) and not ok({"zip": "786*"})
    assert ok({"price_min": 300_000, "price_max": 500_000}) and not ok({"price_min": 500_000})
    assert ok({"quality_min": 80}) and not ok({"quality_max": 50})
    assert ok({"custom_fields.timeframe": "0-3 months", "origin": "company"})
    assert ok({"email_domain": "acme.example", "location": "north"})
    assert ok({"hours": "mon-fri 08:00-18:00"}) and not ok({"hours": "sat-sun 00:00-24:00"})
    held, why = check(config.RouteConfig(match={"segment": "Seller"}).match, facts, "UTC")
    assert not held and why == "segment is buyer, wanted Seller"
    lead.custom_fields["quality_score"] = 12  # a provider's or script's own score wins
    assert quality_score(lead) == 12


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"routes": [{"match": {"colour": "red"}}]}, "routes[0].match"),
        ({"routes": [{"match": {"price_min": "lots"}}]}, "routes[0].match.price_min"),
        ({"routes": [{"match": {"hours": "mon-fry 9:00-17:00"}}]}, "routes[0].match.hours"),
        ({"routes": [{"strategy": "lottery"}]}, "routes[0].strategy"),
        ({"routes": [{"strategy": "manager"}]}, "routes[0].strategy"),
        ({"routes": [{"strategy": "direct", "agent": "nobody@x.example"}]}, "routes[0].agent"),
        (
            {"routes": [{"fallback": [{"strategy": "round_robin", "pond": "nope"}]}]},
            "routes[0].fallback",
        ),
        ({"ponds": [{"name": "default", "manager": "ghost@x.example"}]}, "ponds[0].manager"),
        ({"routing": {"timezone": "Mars/Olympus"}}, "routing.timezone"),
    ],
)
def test_config_errors_name_the_routing_key(data: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigErrors) as exc:
        config.validate({"agents": [agent("ana")], **data}, env={})
    assert [e.key for e in exc.value.errors] == [key]


def test_agent_schedule_keys_are_checked() -> None:
    for extra, key in (
        ({"hours": ["9-5"]}, "agents[0].hours"),
        ({"timezone": "Nowhere/Land"}, "agents[0].timezone"),
        ({"leave": [{"start": "2026-12-05", "end": "2026-12-01"}]}, "agents[0].leave[0].end"),
    ):
        with pytest.raises(ConfigErrors) as exc:
            config.validate({"agents": [agent("ana", **extra)]}, env={})
        assert exc.value.errors[0].key == key


# ---------------------------------------------------------------------------------------------
# Rules and strategies


def test_first_match_wins_and_the_trace_says_why(world: Callable[..., World]) -> None:
    w = world(
        [
            agent("ana", ponds=["austin"]),
            agent("ben", ponds=["default"]),
            agent("cara", ponds=["luxury"]),
        ],
        [
            {"name": "sellers", "match": {"segment": "Seller"}, "pond": "default"},
            {"name": "luxury", "match": {"price_min": 1_000_000}, "pond": "luxury"},
            {"name": "austin", "match": {"zip": "787*"}, "pond": "austin"},
            {"name": "everyone-else", "pond": "default"},
        ],
    )
    lux = new_lead(
        w, 1, segment="Buyer", price=2_500_000, property_address="1 Lake Dr, Austin, TX 78746"
    )
    austin = new_lead(
        w, 2, segment="Buyer", price=400_000, property_address="12 Oak St, Austin, TX 78701"
    )
    other = new_lead(w, 3, segment="Buyer")
    assert [get(w[1], i).agent for i in (lux, austin, other)] == [
        email("cara"),
        email("ana"),
        email("ben"),
    ]
    step = route_step(w[1], austin)
    assert step["rule"] == "austin" and step["matched"] == "zip 78701 ~ 787*"
    assert step["not_matched"] == [
        {"rule": "sellers", "why": "segment is buyer, wanted Seller"},
        {"rule": "luxury", "why": "price 400000 < 1000000"},
    ]
    assert route_step(w[1], other)["not_matched"][2] == {
        "rule": "austin",
        "why": "no ZIP in the lead's addresses",
    }


def test_weighted_round_robin_is_smooth_and_exact(world: Callable[..., World]) -> None:
    names = ["a1", "a2", "a3", "a4", "b1", "b2"]
    w = world([agent(n, weight=2 if n.startswith("b") else 1) for n in names])
    got = Counter()
    for n in range(80):  # ten full rounds of 8
        got[get(w[1], new_lead(w, n)).agent] += 1
        for name in names:  # never more than one lead away from the weights' share
            share = (n + 1) * (2 if name.startswith("b") else 1) / 8
            assert abs(got[email(name)] - share) <= 1
    assert [got[email(n)] for n in names] == [10, 10, 10, 10, 20, 20]


def test_leave_means_nothing_and_no_flood_on_return(world: Callable[..., World]) -> None:
    leave = {"start": "2026-11-24", "end": "2026-11-30", "note": "vacation"}
    w = world([agent("ana"), agent("ben"), agent("cara", leave=[leave])])
    settings, engine, clock = w

    def batch(first: int, count: int) -> Counter[str]:
        out = Counter(get(engine, new_lead(w, first + i)).agent for i in range(count))
        clock.advance(minutes=1)
        return out

    assert batch(0, 9) == {email("ana"): 3, email("ben"): 3, email("cara"): 3}
    clock.set(datetime(2026, 11, 25, 15, 0, tzinfo=UTC))  # Cara is away
    during = batch(100, 30)
    assert during[email("cara")] == 0 and during[email("ana")] == during[email("ben")] == 15
    step = route_step(engine, new_lead(w, 199))
    assert {"agent": email("cara"), "why": "on leave until 2026-11-30 (vacation)"} in (
        step["skipped"]
    )
    clock.set(datetime(2026, 12, 1, 15, 0, tzinfo=UTC))  # back: her share, not a backlog
    after = batch(200, 30)
    assert 9 <= after[email("cara")] <= 11
    assert all(9 <= after[email(n)] <= 11 for n in ("ana", "ben"))


def test_working_hours_per_agent_timezone(world: Callable[..., World]) -> None:
    w = world(
        [agent("ana"), agent("dan", hours=["mon-fri 09:00-17:00"], timezone="America/Chicago")]
    )
    settings, engine, clock = w
    assert {get(engine, new_lead(w, n)).agent for n in range(4)} == {email("ana"), email("dan")}
    clock.set(MONDAY.replace(hour=23, minute=30))  # 17:30 in Chicago
    late = [new_lead(w, n) for n in range(10, 14)]
    assert {get(engine, i).agent for i in late} == {email("ana")}
    assert {"agent": email("dan"), "why": "outside working hours (Mon 17:30 America/Chicago)"} in (
        route_step(engine, late[0])["skipped"]
    )


def test_daily_and_open_lead_caps(world: Callable[..., World]) -> None:
    w = world([agent("ana", daily_cap=2), agent("ben", open_cap=3), agent("cara")])
    settings, engine, clock = w
    got = Counter(get(engine, new_lead(w, n)).agent for n in range(12))
    assert got[email("ana")] == 2 and got[email("ben")] == 3 and got[email("cara")] == 7
    skipped = route_step(engine, new_lead(w, 50))["skipped"]
    assert {"agent": email("ana"), "why": "daily cap reached (2/2)"} in skipped
    assert {"agent": email("ben"), "why": "open-lead cap reached (3/3)"} in skipped
    with session_scope(engine) as s:  # Ben closes a lead: room for one more
        lead = s.exec(select(Lead).where(Lead.agent == email("ben"))).first()
        assert lead is not None
        lead.stage = "Lost"
        s.add(lead)
    clock.advance(days=1)  # a new day in Ana's timezone: her cap resets
    nxt = Counter(get(engine, new_lead(w, 60 + n)).agent for n in range(6))
    assert nxt == {email("ana"): 2, email("ben"): 1, email("cara"): 3}


def test_direct_names_the_agent_and_falls_back(world: Callable[..., World]) -> None:
    w = world(
        [
            agent("ana", aliases=["ana.sells@gmail.com"]),
            agent("ben"),
            agent("cara", leave=[{"start": "2026-11-01", "end": "2026-12-31"}]),
        ],
        [
            {"name": "vip", "match": {"tags": "vip"}, "strategy": "direct", "agent": email("ben")},
            {"name": "named", "strategy": "direct", "fallback": ["round_robin"]},
        ],
    )
    vip = new_lead(w, 0, tags=["VIP"], requested_agent=email("ana"))
    assert get(w[1], vip).agent == email("ben")
    assert route_step(w[1], vip)["reason"] == f"direct: the routing rule names {email('ben')}"
    by_alias = new_lead(w, 1, requested_agent="ana.sells@gmail.com")
    assert get(w[1], by_alias).agent == email("ana")
    assert route_step(w[1], by_alias)["reason"] == (
        "direct: the lead (provider, source rule or script) names ana.sells@gmail.com"
    )
    away = new_lead(w, 2, requested_agent=email("cara"))
    step = route_step(w[1], away)
    assert step["strategy"] == "round_robin" and get(w[1], away).agent != email("cara")
    assert {"agent": email("cara"), "why": "on leave until 2026-12-31"} in step["skipped"]
    nobody = route_step(w[1], new_lead(w, 3))
    assert nobody["steps"][0]["result"] == "no agent named by the rule or the lead"


def test_returning_contact_unless_the_rule_says_otherwise(world: Callable[..., World]) -> None:
    w = world(
        [agent("ana"), agent("ben")],
        [
            {"name": "rotate-always", "match": {"tags": "rotate"}, "returning_to_owner": False},
            {"name": "default"},
        ],
    )
    first = new_lead(w, 1, email="same@buyers.example")
    again = new_lead(w, 2, email="same@buyers.example")
    assert get(w[1], first).agent == get(w[1], again).agent == email("ana")
    assert route_step(w[1], again)["strategy"] == "returning"
    rotated = new_lead(w, 3, email="same@buyers.example", tags=["rotate"])
    assert route_step(w[1], rotated)["strategy"] == "round_robin"


def test_best_relationship_by_contact_and_company(world: Callable[..., World]) -> None:
    w = world(
        [agent("ana"), agent("ben"), agent("cara")],
        [{"name": "known", "strategy": "best_relationship", "returning_to_owner": False}],
    )
    settings, engine, clock = w
    firsts = [new_lead(w, n, email=f"p{n}@gmail.com") for n in range(3)]  # ana, ben, cara
    assert [get(engine, i).agent for i in firsts] == [email(n) for n in ("ana", "ben", "cara")]
    # Ben's earlier lead came from acme.example: a colleague of that person goes to Ben.
    with session_scope(engine) as s:
        s.get(Lead, firsts[1]).email = "bob@acme.example"  # type: ignore[union-attr]
    colleague = new_lead(w, 10, email="carol@acme.example")
    assert get(engine, colleague).agent == email("ben")
    assert route_step(engine, colleague)["reason"].startswith("best relationship: score 1 from")
    # Same person again (same contact + email) outweighs the company tie.
    repeat = new_lead(w, 11, email="p2@gmail.com")
    assert get(engine, repeat).agent == email("cara")
    # No history: round-robin (a shared gmail.com says nothing).
    fresh = route_step(engine, new_lead(w, 12, email="new@gmail.com"))
    assert fresh["reason"].startswith("no past relationship; round_robin")


def test_manager_strategy_and_who_may_assign(world: Callable[..., World]) -> None:
    w = world(
        [agent("ana"), agent("ben"), MAX],
        [{"strategy": "manager"}],
        ponds=[{"name": "default", "manager": MAX["email"]}],
    )
    settings, engine, clock = w
    lead_id = new_lead(w, 1)
    lead = get(engine, lead_id)
    assert (lead.status, lead.agent) == ("manager", None)
    assert kinds(engine, lead_id) == [("to_manager", MAX["email"])]
    assert actions.assign(engine, settings, lead_id, email("ben"), by=email("ana")) == (
        "not_allowed",
        None,
    )
    assert actions.assign(engine, settings, lead_id, "ghost@x.example", by=MAX["email"]) == (
        "unknown_agent",
        "ghost@x.example",
    )
    res = actions.assign(engine, settings, lead_id, email("ben"), by=MAX["email"], clock=clock)
    assert res == ("assigned", email("ben")) and res.ok
    assert get(engine, lead_id).agent == email("ben")
    assert actions.accept(engine, settings, lead_id, email("ana")) == ("not_yours", email("ben"))
    assert actions.accept(engine, settings, lead_id, email("ben")) == ("accepted", None)
    with Session(engine) as s:
        assert {o.recipient for o in s.exec(select(Outbox)).all()} == {MAX["email"], email("ben")}


# ---------------------------------------------------------------------------------------------
# Jump balls


def test_first_to_claim_wins_and_expiry_runs_the_fallback(world: Callable[..., World]) -> None:
    w = world(
        [
            agent("ana"),
            agent("ben"),
            agent("cara", leave=[{"start": "2026-11-01", "end": "2026-11-30"}]),
        ],
        [{"strategy": "first_to_claim", "claim_window": 5, "fallback": ["round_robin"]}],
    )
    settings, engine, clock = w
    ball = new_lead(w, 1)
    assert get(engine, ball).status == "offered"
    assert kinds(engine, ball) == [("offered", email("ana")), ("offered", email("ben"))]
    assert actions.claim(engine, settings, ball, email("cara"), clock=clock) == (
        "not_offered",
        None,
    )
    clock.advance(minutes=2)
    assert actions.claim(engine, settings, ball, email("ben"), clock=clock) == ("claimed", None)
    late = actions.claim(engine, settings, ball, email("ana"), clock=clock)
    assert late == ("already_claimed", email("ben"))
    assert late.message == f"Already claimed by {email('ben')}."
    lead = get(engine, ball)
    assert (lead.agent, lead.status) == (email("ben"), "accepted")
    clock.advance(minutes=10)
    assert timers.process_due(engine, settings, clock=clock) == 1  # stale window: no change
    assert get(engine, ball).agent == email("ben")

    nobody = new_lead(w, 2)
    assert actions.decline(engine, settings, nobody, email("ana"), clock=clock) == (
        "declined",
        None,
    )
    clock.advance(minutes=5)
    assert actions.claim(engine, settings, nobody, email("ben"), clock=clock) == ("expired", None)
    assert timers.process_due(engine, settings, clock=clock) == 1
    lead = get(engine, nobody)
    assert (lead.status, lead.agent) == ("assigned", email("ben"))  # Ana declined
    assert [k for k, _ in kinds(engine, nobody)] == [
        "offered",
        "offered",
        "declined",
        "claim_window_closed",
        "assigned",
    ]
    # Everyone says no: the fallback runs at once instead of after the window.
    refused = new_lead(w, 3)
    for name in ("ana", "ben"):
        assert actions.decline(engine, settings, refused, email(name), clock=clock).ok
    assert (get(engine, refused).status, kinds(engine, refused)[-1]) == (
        "unassigned",
        ("unassigned", None),
    )  # nobody left who wants it, and no manager


def test_claim_and_assign_manager_picks(world: Callable[..., World]) -> None:
    w = world(
        [agent("ana"), agent("ben"), agent("cara"), MAX],
        [{"strategy": "claim_and_assign", "claim_window": 10}],
        routing={"manager": MAX["email"]},
    )
    settings, engine, clock = w
    lead_id = new_lead(w, 1)
    assert actions.claim(engine, settings, lead_id, email("cara"), clock=clock) == (
        "registered",
        None,
    )
    assert actions.claim(engine, settings, lead_id, email("ana"), clock=clock) == (
        "registered",
        None,
    )
    clock.advance(minutes=11)
    assert timers.process_due(engine, settings, clock=clock) == 1
    lead = get(engine, lead_id)
    assert lead.status == "manager"
    with Session(engine) as s:
        pick = s.exec(select(Offer).where(Offer.kind == "pick")).one()
        assert pick.agent == MAX["email"]
        assert pick.data["claimants"] == [email("ana"), email("cara")]
    assert actions.assign(
        engine, settings, lead_id, email("cara"), by=MAX["email"], clock=clock
    ) == ("assigned", email("cara"))
    assert get(engine, lead_id).agent == email("cara")


def test_twenty_agents_claim_at_the_same_instant(world: Callable[..., World], db_url: str) -> None:
    names = [f"agent{i:02d}" for i in range(20)]
    w = world([agent(n) for n in names], [{"strategy": "first_to_claim", "claim_window": 5}])
    settings, engine, clock = w
    ball = new_lead(w, 1)
    assert len(kinds(engine, ball, "offered")) == 20
    start = threading.Barrier(len(names))
    results: dict[str, actions.Result] = {}

    def claim(name: str) -> None:
        own = db.make_engine(db_url)  # its own connection: a separate database session
        with own.connect():
            pass
        start.wait()
        results[name] = actions.claim(own, settings, ball, email(name), clock=clock)
        own.dispose()

    threads = [threading.Thread(target=claim, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [n for n, r in results.items() if r == ("claimed", None)]
    assert len(winners) == 1 and len(results) == 20
    winner = email(winners[0])
    assert (
        sorted(r for n, r in results.items() if n != winners[0])
        == [("already_claimed", winner)] * 19
    )
    with Session(engine) as s:
        assert [a.agent for a in s.exec(select(Assignment)).all()] == [winner]
        statuses = Counter(o.status for o in s.exec(select(Offer)).all())
        assert statuses == {"won": 1, "lost": 19}
    assert get(engine, ball).agent == winner
    assert len(kinds(engine, ball, "claimed")) == 1
    assert len(kinds(engine, ball, "claim_refused")) == 19


# ---------------------------------------------------------------------------------------------
# Acceptance and escalation


ESCALATING = [{"name": "must-accept", "accept_window": 1, "max_reassign": 1}]


def test_unaccepted_lead_moves_to_the_next_agent_then_the_manager(
    world: Callable[..., World],
) -> None:
    w = world(
        [agent("ana"), agent("ben"), agent("cara"), MAX],
        ESCALATING,
        ponds=[{"name": "default", "manager": MAX["email"]}],
    )
    settings, engine, clock = w
    lead_id = new_lead(w, 1)
    assert get(engine, lead_id).agent == email("ana")
    clock.advance(seconds=59)
    assert timers.process_due(engine, settings, clock=clock) == 0
    clock.advance(seconds=2)  # 1 min 1 s: Ana's window is over
    assert timers.process_due(engine, settings, clock=clock) == 1
    assert get(engine, lead_id).agent == email("ben")
    clock.advance(seconds=61)
    assert timers.process_due(engine, settings, clock=clock) == 1
    lead = get(engine, lead_id)
    assert (lead.status, lead.agent) == ("manager", None)
    assert kinds(engine, lead_id) == [
        ("assigned", email("ana")),
        ("expired", email("ana")),
        ("reassigned", email("ben")),
        ("expired", email("ben")),
        ("to_manager", MAX["email"]),
    ]
    with Session(engine) as s:
        times = [
            e.at
            for e in s.exec(
                select(Event)
                .where(Event.lead_id == lead_id, col(Event.kind).in_(["expired", "to_manager"]))
                .order_by(col(Event.id))
            ).all()
        ]
        assert [t - MONDAY for t in times] == [
            timedelta(seconds=61),
            timedelta(seconds=122),
            timedelta(seconds=122),
        ]
        alerts = [o.recipient for o in s.exec(select(Outbox).order_by(col(Outbox.id))).all()]
        assert alerts == [email("ana"), email("ben"), MAX["email"]]
    steps = [t["step"] for t in lead.trace]
    assert steps == [
        "route",
        "outbox",
        "assigned",
        "expired",
        "outbox",
        "reassigned",
        "expired",
        "outbox",
        "to_manager",
    ]
    text = explain.format_explain(explain.explain(engine, settings, lead_id) or {})
    for needle in (
        "expired              ana@brokerage.example  (not accepted within 0:01:00)",
        "reassigned           ben@brokerage.example",
        "to_manager           max@brokerage.example",
    ):
        assert needle in text
    # The manager places it; that is final (no accept window).
    assert actions.assign(engine, settings, lead_id, email("cara"), by=MAX["email"], clock=clock).ok
    clock.advance(minutes=5)
    assert timers.process_due(engine, settings, clock=clock) == 0


def test_accept_stops_the_clock_and_decline_moves_on_now(world: Callable[..., World]) -> None:
    w = world([agent("ana"), agent("ben"), agent("cara")], ESCALATING)
    settings, engine, clock = w
    kept, declined = new_lead(w, 1), new_lead(w, 2)  # ana, ben
    clock.advance(seconds=30)
    assert actions.accept(engine, settings, kept, email("ana"), clock=clock) == ("accepted", None)
    assert actions.accept(engine, settings, kept, email("ana"), clock=clock) == (
        "already_accepted",
        None,
    )
    assert actions.decline(
        engine, settings, declined, email("ben"), reason="too far", clock=clock
    ) == ("declined", None)
    assert get(engine, declined).agent == email("cara")  # at once, not after the window
    clock.advance(seconds=45)  # Ana's and Ben's windows pass: nothing moves
    assert timers.process_due(engine, settings, clock=clock) == 2
    assert get(engine, kept).agent == email("ana")
    assert get(engine, declined).agent == email("cara")
    clock.advance(minutes=1)  # Cara's window passes: the next agent would be a third one
    assert timers.process_due(engine, settings, clock=clock) == 1
    lead = get(engine, declined)
    # Ben and Cara both let it go (max_reassign 1): no manager configured, so it waits.
    assert (lead.status, lead.agent) == ("unassigned", None)
    assert actions.accept(engine, settings, declined, email("cara"), clock=clock) == (
        "not_yours",
        None,
    )


def test_accept_window_counts_business_hours(world: Callable[..., World]) -> None:
    w = world(
        [agent("ana"), agent("ben")],
        [{"accept_window": 60, "accept_business_hours": True}],
        routing={"timezone": "America/Chicago", "business_hours": ["mon-fri 09:00-17:00"]},
    )
    settings, engine, clock = w
    clock.set(datetime(2026, 11, 27, 22, 30, tzinfo=UTC))  # Friday 16:30 in Chicago
    lead_id = new_lead(w, 1)
    with Session(engine) as s:
        timer = s.exec(select(Timer)).one()
    assert timer.due_at == datetime(2026, 11, 30, 15, 30, tzinfo=UTC)  # Monday 09:30
    clock.set(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))  # all weekend: still Ana's
    assert timers.process_due(engine, settings, clock=clock) == 0
    assert get(engine, lead_id).agent == email("ana")


# ---------------------------------------------------------------------------------------------
# Several workers: timers, messages and contacts


def test_timers_survive_a_restart_and_fire_once_across_workers(
    world: Callable[..., World],
    db_url: str,
) -> None:
    w = world([agent(f"a{i}") for i in range(6)], ESCALATING)
    settings, engine, clock = w
    leads = [new_lead(w, n) for n in range(24)]
    engine.dispose()  # "restart": only the database remembers the windows
    clock.advance(minutes=2)
    fired: list[int] = []

    def worker() -> None:
        own = db.make_engine(db_url)
        fired.append(timers.process_due(own, settings, clock=clock))
        own.dispose()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sum(fired) == 24
    fresh = db.make_engine(db_url)
    with Session(fresh) as s:
        assert {
            t.status
            for t in s.exec(
                select(Timer).where(Timer.kind == "accept_window", Timer.status != "pending")
            )
        } == {"done"}
        for lead_id in leads:
            assert len(kinds(fresh, lead_id, "expired")) == 1
            assert len(kinds(fresh, lead_id, "reassigned")) == 1
    fresh.dispose()


def _mail(n: int, who: str = "same", phone: str = "512-555-0188") -> bytes:
    return (
        f"From: Pat Person <{who}@buyers.example>\r\nTo: leads@brokerage.example\r\n"
        f"Subject: Inquiry {n}\r\nMessage-ID: <m{n}.{uuid.uuid4().hex}@buyers.example>\r\n\r\n"
        f"Hi, my name is Pat Person. Call me at {phone}.\r\n"
    ).encode()


def test_two_workers_merge_one_new_person_into_one_contact(
    world: Callable[..., World],
    db_url: str,
) -> None:
    w = world([agent("ana"), agent("ben")])
    settings, engine, clock = w
    rt = pipeline.Runtime.load(settings)
    for round_ in range(4):
        ids = [
            store_raw(engine, _mail(round_ * 10 + i, f"p{round_}", f"512-555-01{round_:02d}"))
            for i in range(2)
        ]
        start = threading.Barrier(2)
        outcomes: list[Any] = []

        def work(msg_id: int, start: threading.Barrier, outcomes: list[Any]) -> None:
            own = db.make_engine(db_url)
            start.wait()
            outcomes.append(pipeline.process(rt, own, msg_id))
            own.dispose()

        threads = [threading.Thread(target=work, args=(i, start, outcomes)) for i in ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert [o.status for o in outcomes] == ["lead", "lead"]
        # One contact, both leads on it, both with its owner (the second one is "returning").
        assert len({o.agent for o in outcomes}) == 1
    with Session(engine) as s:
        found = s.exec(select(Contact)).all()
        assert len(found) == 4 and {c.lead_count for c in found} == {2}


def test_a_message_is_claimed_by_one_worker(world: Callable[..., World], db_url: str) -> None:
    w = world([agent("ana")])
    settings, engine, clock = w
    msg_id = store_raw(engine, _mail(1))
    start = threading.Barrier(8)
    won: list[bool] = []

    def grab(i: int) -> None:
        own = db.make_engine(db_url)
        start.wait()
        won.append(pipeline._claim(own, msg_id, f"host:{i}"))
        own.dispose()

    threads = [threading.Thread(target=grab, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(won) == [False] * 7 + [True]
    with Session(engine) as s:
        msg = s.get(Message, msg_id)
        assert msg is not None and msg.attempts == 1
