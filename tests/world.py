"""A simulated brokerage for follow-up tests and the docs' screenshots.

3 agents, 2 teams with a manager each, 200 leads over four simulated weeks on a clock the
world controls. Leads come in through the real API intake and pipeline (route, alert, first
step); alerts are delivered, leads claimed and accepted, contacted (a step done, a logged
call, or the agent's own email seen by intake), moved to Potential (a deal opens), won or
lost. Everything the world does is also written down in `truth`, so tests can compute every
report number on their own and compare.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from leadmail import config, db, pipeline
from leadmail.clock import ManualClock, use
from leadmail.followup import activity, stages, steps
from leadmail.intake import posted
from leadmail.models import Deal, Lead, Message, Outbox, Step
from leadmail.routing import actions
from leadmail.store import store_raw

AGENTS = ["ana", "ben", "cara"]
SOURCES = [  # (source, API key, share, origin)
    ("Zillow", "zillow-zap", 30, "company"),
    ("Website", "web", 25, "company"),
    ("Realtor.com", "realtor-zap", 20, "company"),
    ("Ana's site", "ana-site", 13, "agent"),
    ("Cara's referrals", "cara-site", 12, "agent"),
]
STRATEGY = {"Zillow": "round_robin", "Website": "round_robin", "Realtor.com": "first_to_claim",
            "Ana's site": "direct", "Cara's referrals": "direct"}
TEAMS = {"North": ["ana", "ben"], "South": ["cara"]}
MANAGERS = {"max": "North", "mia": "South"}


def email(name: str) -> str:
    return f"{name}@brokerage.example"


def key_of(name: str) -> str:
    """The (test) API key of a [[api_keys]] entry."""
    return f"test-key-{name}-0123456789abcdef"


def world_config(db_url: str, tmp: Path, **extra: Any) -> dict[str, Any]:
    """The world's config as a mapping (leadmail.config.validate)."""
    keys: list[dict[str, Any]] = [
        {"name": k, "key": key_of(k), "role": "integration", "source": s, "origin": o,
         **({"agent": email(k.split("-")[0])} if o == "agent" else {})}
        for s, k, _, o in SOURCES]
    keys += [{"name": "admin", "key": key_of("admin"), "role": "admin"}]
    keys += [{"name": m, "key": key_of(m), "role": "manager", "user": email(m)}
             for m in MANAGERS]
    keys += [{"name": a, "key": key_of(a), "role": "agent", "user": email(a)} for a in AGENTS]
    (tmp / "no-rules").mkdir(exist_ok=True)
    return {
        "database": {"url": db_url},
        "notify": {"email": {"relay": f"file:{tmp / 'alerts'}"}, "digest_every": 0},
        "rules": {"dir": str(tmp / "no-rules")},
        "http": {"secret": "world-secret-0123456789", "base_url": "http://127.0.0.1:8025"},
        "agents": [{"name": a.title() + " Agent", "email": email(a)} for a in AGENTS],
        "routes": [
            {"name": "own leads", "match": {"origin": "agent"}, "strategy": "direct"},
            {"name": "zillow", "match": {"source": "Zillow"}, "strategy": "round_robin",
             "accept_window": 60},
            {"name": "realtor", "match": {"source": "Realtor.com"},
             "strategy": "first_to_claim", "claim_window": 30, "fallback": ["round_robin"]},
            {"name": "the rest", "strategy": "round_robin"},
        ],
        "teams": [{"name": t, "agents": [email(a) for a in members],
                   "managers": [email(m) for m, team in MANAGERS.items() if team == t]}
                  for t, members in TEAMS.items()],
        "followup": {
            "deal_on_potential": True,
            "stale_after": "7d",
            "plans": [
                {"stage": "Lead", "segment": "*", "steps": [
                    {"name": "Call within 5 minutes", "due": "5m", "contact": True},
                    {"name": "Send listings", "due": "1d", "template": "listings"},
                    {"name": "Book a showing", "due": "3d"}]},
                {"stage": "Potential", "segment": "*", "steps": [
                    {"name": "Send comps", "due": "2d"}, {"name": "Check financing", "due": "5d"}]},
            ],
        },
        "api_keys": keys,
        **extra,
    }


@dataclass
class Truth:
    """What the world did to one lead, written down as it happened."""

    lead: int
    source: str
    origin: str
    strategy: str
    email: str
    received: datetime
    price: int
    agent: str | None = None
    alerts: list[datetime] = field(default_factory=list)
    claim: datetime | None = None
    contacts: list[datetime] = field(default_factory=list)
    stage: str = "Lead"
    qualified: bool = False
    deal: dict[str, Any] | None = None  # value, expected_close (date), outcome


@dataclass
class World:
    """The built world."""

    settings: config.Settings
    engine: Any
    clock: ManualClock
    start: datetime
    end: datetime
    truth: dict[int, Truth]


def _agent_email(engine: Any, truth: Truth, at: datetime, n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Agent <{truth.agent}>"
    msg["To"] = truth.email
    msg["Bcc"] = "leads@brokerage.example"
    msg["Subject"] = "Re: your inquiry"
    msg["Date"] = format_datetime(at)
    msg["Message-ID"] = f"<world-reply-{truth.lead}-{n}@brokerage.example>"
    msg.set_content("Hi! Happy to help. When can we talk?")
    return msg.as_bytes()


def build(db_url: str, tmp: Path, n: int = 200, seed: int = 7,
          end: datetime | None = None) -> World:
    """Build the world; `end` defaults to the start of the current UTC hour."""
    db.upgrade(db_url)
    settings = config.validate(world_config(db_url, tmp), env={})
    engine = db.make_engine(db_url)
    rt = pipeline.Runtime.load(settings)
    rng = random.Random(seed)
    end = end or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=28, hours=6)  # the newest leads are hours old
    clock = ManualClock(start)
    truth: dict[int, Truth] = {}
    queue: list[tuple[datetime, int, Callable[[], None]]] = []
    seq = itertools.count()

    def at(when: datetime, action: Callable[[], None]) -> None:
        if when < end:
            heapq.heappush(queue, (when, next(seq), action))

    def minutes(lo: float, hi: float) -> timedelta:
        return timedelta(seconds=round(rng.uniform(lo * 60, hi * 60)))

    def new_lead(i: int) -> None:
        now = clock.now()
        (source, key_name, _, origin), = rng.choices(SOURCES, weights=[s[2] for s in SOURCES])
        key = next(k for k in settings.api_keys if k.name == key_name)
        price = rng.randrange(200, 900) * 1000
        person = f"person{i}@buyers.example"
        lead_in = posted.LeadIn(
            first_name=rng.choice(["Maria", "James", "Wei", "Olga", "Sam", "Priya", "Luca"]),
            last_name=f"Test{i}", email=person, phone=f"+1512555{i:04d}", price=price,
            property_address=f"{100 + i} Elm St, Austin, TX 78701",
            segment=rng.choice(["Buyer", "Buyer", "Buyer", "Seller"]),
            tags=["hot"] if i % 5 == 0 else [], custom_fields={"timeline": rng.choice(
                ["now", "3 months", "later"])})
        msg_id = store_raw(engine, posted.synthesize(key, lead_in, now, f"w{i}"),
                           intake="api")
        outcome = pipeline.process(rt, engine, msg_id)
        assert outcome is not None and outcome.lead_id is not None, outcome
        lead_id = outcome.lead_id
        with db.session_scope(engine) as s:  # the world's clock, not the machine's
            s.execute(update(Message).where(col(Message.id) == msg_id).values(received_at=now))
            s.execute(update(Lead).where(col(Lead.id) == lead_id).values(created_at=now))
            agent = s.get(Lead, lead_id).agent  # type: ignore[union-attr]
            alert_ids = s.exec(select(Outbox.id).where(Outbox.lead_id == lead_id)).all()
        t = Truth(lead_id, source, origin, STRATEGY[source], person, now, price, agent)
        truth[lead_id] = t
        for row_id in alert_ids:
            at(now + minutes(0.1, 1.5), lambda r=row_id, t=t: deliver(r, t))
        if source == "Zillow":
            at(now + minutes(1, 50), lambda t=t: accept(t))
        if source == "Realtor.com":
            at(now + minutes(0.3, 25), lambda t=t: claim(t))
        if rng.random() < 0.85:
            delay = rng.choice([minutes(2, 15), minutes(15, 240), minutes(240, 4320)])
            at(now + max(delay, timedelta(minutes=26)) if source == "Realtor.com" else now + delay,
               lambda t=t: contact(t, first=True))
        elif rng.random() < 0.3:
            at(now + minutes(5 * 1440, 10 * 1440), lambda t=t: set_stage(t, "Lost"))

    def deliver(row_id: int, t: Truth) -> None:
        now = clock.now()
        with db.session_scope(engine) as s:
            row = s.get(Outbox, row_id)
            assert row is not None
            row.status, row.sent_at = "sent", now
            s.add(row)
        t.alerts.append(now)

    def accept(t: Truth) -> None:
        assert t.agent is not None
        result = actions.accept(engine, settings, t.lead, t.agent, clock=clock)
        assert result.status == "accepted", result
        t.claim = clock.now()

    def claim(t: Truth) -> None:
        who = email(rng.choice(AGENTS))
        result = actions.claim(engine, settings, t.lead, who, clock=clock)
        assert result.status == "claimed", result
        t.claim, t.agent = clock.now(), who
        steps.catch_up(engine, settings, clock.now())  # the follow-up worker's pass

    def contact(t: Truth, first: bool = False) -> None:
        now = clock.now()
        how = rng.random()
        if how < 0.5:
            with Session(engine) as s:
                open_step = s.exec(select(Step).where(Step.lead_id == t.lead,
                                                      Step.status == "open")).first()
            if open_step is not None and open_step.contact:
                done = steps.complete(engine, settings, open_step.id or 0, t.agent or "", via="api")
                assert done.ok
            else:
                how = 0.6
        if 0.5 <= how < 0.8:
            with db.session_scope(engine) as s:
                lead = s.get(Lead, t.lead)
                assert lead is not None
                activity.record(s, lead, "call", t.agent, text="called")
        elif how >= 0.8:
            raw = _agent_email(engine, t, now, len(t.contacts))
            # submitted with SMTP AUTH as the agent (what vouches for it), received now
            msg_id = store_raw(engine, raw, mail_from=t.agent or "", intake="smtp",
                               auth_user=t.agent)
            with db.session_scope(engine) as s:
                s.execute(update(Message).where(col(Message.id) == msg_id)
                          .values(received_at=now))
            outcome = pipeline.process(rt, engine, msg_id)
            assert outcome is not None and outcome.source == "activity", outcome
        t.contacts.append(now)
        if rng.random() < (0.6 if first else 0.35):  # and again, later
            at(now + minutes(1440, 9 * 1440), lambda: contact(t))
        if rng.random() < 0.5:
            at(now + minutes(60, 2880), lambda: step_done(t))
        if first and rng.random() < 0.3:
            at(now + minutes(1440, 4 * 1440), lambda: set_stage(t, "Potential"))

    def step_done(t: Truth) -> None:
        with Session(engine) as s:
            open_step = s.exec(select(Step).where(Step.lead_id == t.lead,
                                                  Step.status == "open")).first()
        if open_step is not None and not open_step.contact:
            assert steps.complete(engine, settings, open_step.id or 0, t.agent or "",
                                  via="link").ok

    def set_stage(t: Truth, stage: str) -> None:
        result = stages.set_stage(engine, settings, t.lead, stage, t.agent or "admin")
        assert result.ok, result
        t.stage = stage
        now = clock.now()
        if stage == "Potential":
            t.qualified = True
            assert result.deal is not None
            t.deal = {"id": result.deal.id, "value": t.price, "outcome": "open",
                      "expected_close": (now + timedelta(days=30)).date()}
            roll = rng.random()
            if roll < 0.4:
                at(now + minutes(3 * 1440, 10 * 1440), lambda: win(t))
            elif roll < 0.6:
                at(now + minutes(2 * 1440, 8 * 1440), lambda: set_stage(t, "Lost"))
        if stage == "Lost" and t.deal and t.deal["outcome"] == "open":
            t.deal["outcome"] = "lost"

    def win(t: Truth) -> None:
        assert t.deal is not None
        result = stages.move_deal(engine, settings, t.deal["id"], "Won", t.agent or "admin")
        assert result.ok and result.deal is not None and result.deal.outcome == "won"
        t.deal["outcome"] = "won"
        stages.set_stage(engine, settings, t.lead, "Active", t.agent or "admin")
        t.stage = "Active"

    offsets = sorted(rng.uniform(0, 28 * 86400) for _ in range(n))
    for i, offset in enumerate(offsets):
        at(start + timedelta(seconds=round(offset)), lambda i=i: new_lead(i))
    with use(clock):
        while queue:
            when, _, action = heapq.heappop(queue)
            clock.set(when)
            action()
        clock.set(end)
    with Session(engine) as s:  # the deals as the world left them
        for deal in s.exec(select(Deal)).all():
            assert truth[deal.lead_id].deal is not None
    return World(settings, engine, clock, start, end, truth)
