"""Batches: the same 1,000 messages processed one at a time and in batches make the same leads,
contacts, routing decisions, offers and alerts, message for message (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
import threading
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from leadmail import config, db, pipeline
from leadmail.models import Assignment, Event, Lead, Message, Offer, Outbox
from leadmail.pipeline import duplicate
from leadmail.store import store_raw

FIRST = ["Ana", "Ben", "Cara", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea"]
LAST = ["Lopez", "Nguyen", "Smith", "Okafor", "Kim", "Rossi", "Patel", "Berg", "Silva", "Moreau"]


def mails(n: int, seed: int = 7) -> list[bytes]:
    """People writing in: some again (same email: a known contact), some selling, some with a
    budget, some with no way to reach them (held for review), some sent twice."""
    rnd = random.Random(seed)
    out: list[bytes] = []
    for i in range(n):
        who = rnd.randrange(n // 3)  # about three mails per person: contacts merge
        first, last = FIRST[who % len(FIRST)], LAST[(who // len(FIRST)) % len(LAST)]
        if rnd.random() < 0.05 and out:  # the same message again: a duplicate
            out.append(out[rnd.randrange(len(out))])
            continue
        msg = EmailMessage()
        reachable = rnd.random() > 0.04
        msg["From"] = (f"{first} {last} <p{who}@buyers.example>" if reachable
                       else "Website <noreply@forms.example>")
        msg["To"] = "leads@brokerage.example"
        msg["Message-ID"] = f"<batch-{i}@buyers.example>"
        selling = rnd.random() < 0.2
        msg["Subject"] = "Selling my home" if selling else f"Question about a house ({i})"
        price = rnd.choice([None, 350_000, 650_000, 1_250_000, 2_400_000])
        body = [f"Hi, my name is {first} {last}."]
        if selling:
            body.append("We want to sell our house and would like a valuation.")
        elif price:
            body.append(f"We are looking to buy a home around ${price:,}.")
        if reachable:
            body.append(f"Call me at 512-555-{who % 10000:04d}.")
        msg.set_content("\n".join(body) + "\n")
        out.append(msg.as_bytes())
    return out


AGENTS = [
    {"name": "Ana Agent", "email": "ana@brokerage.example", "daily_cap": 40},
    {"name": "Ben Broker", "email": "ben@brokerage.example", "weight": 2},
    {"name": "Cara Closer", "email": "cara@brokerage.example", "open_cap": 120},
    {"name": "Dana Deal", "email": "dana@brokerage.example", "ponds": ["luxury"]},
    {"name": "Eve Estate", "email": "eve@brokerage.example", "ponds": ["luxury", "sellers"]},
    {"name": "Finn Field", "email": "finn@brokerage.example", "ponds": ["sellers"]},
]
ROUTES = [
    {"name": "sellers", "match": {"segment": "Seller"}, "pond": "sellers",
     "strategy": "first_to_claim", "claim_window": 30, "fallback": ["round_robin"]},
    {"name": "luxury", "match": {"price_min": 1_000_000}, "pond": "luxury",
     "strategy": "round_robin", "accept_window": 15},
    {"name": "default", "strategy": "round_robin"},
]


def world(url: str, tmp: Path) -> tuple[pipeline.Runtime, Any]:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "rules").mkdir(exist_ok=True)
    settings = config.validate(
        {"database": {"url": url}, "notify": {"email": {"relay": f"file:{tmp / 'alerts'}"}},
         "rules": {"dir": str(tmp / "rules")}, "agents": AGENTS, "routes": ROUTES},
        env={},
    )
    db.upgrade(url)
    return pipeline.Runtime.load(settings), db.make_engine(url)


def picture(engine: Any) -> list[tuple[Any, ...]]:
    """Per message, in id order: how it ended, its lead's agent, status and contact, the
    offers made, the assignments and the alerts queued (recipients and kinds of key)."""
    rows = []
    with Session(engine) as s:
        for msg in s.exec(select(Message).order_by(col(Message.id))):
            lead = s.get(Lead, msg.lead_id) if msg.lead_id else None
            lid = lead.id if lead else None
            offers = sorted((o.agent, o.kind) for o in s.exec(
                select(Offer).where(Offer.lead_id == lid))) if lid else []
            assigned = [a.agent for a in s.exec(
                select(Assignment).where(Assignment.lead_id == lid).order_by(col(Assignment.id)))]
            alerts = sorted((o.recipient, o.idempotency_key.split("-")[0]) for o in s.exec(
                select(Outbox).where(Outbox.lead_id == lid))) if lid else []
            events = sorted(e.kind for e in s.exec(select(Event).where(Event.lead_id == lid))
                            ) if lid else []
            rows.append((
                msg.id, msg.status, msg.duplicate_of, lid,
                lead and (lead.agent, lead.status, lead.contact_id, lead.segment, lead.price,
                          lead.review_reason),
                offers, assigned, alerts, events,
            ))
    return rows


def test_batches_route_exactly_as_one_at_a_time(tmp_path: Path) -> None:
    raws = mails(1000)
    alone_rt, alone = world(f"sqlite:///{tmp_path / 'alone.db'}", tmp_path / "a")
    batch_rt, batched = world(f"sqlite:///{tmp_path / 'batched.db'}", tmp_path / "b")
    for raw in raws:
        pipeline.process(alone_rt, alone, store_raw(alone, raw))
    ids = [store_raw(batched, raw) for raw in raws]
    sizes = random.Random(3).choices([1, 2, 7, 64, 200], k=len(ids))
    at = 0
    for size in sizes:
        if at >= len(ids):
            break
        outcomes = pipeline.process_batch(batch_rt, batched, ids[at:at + size])
        assert all(o is not None for o in outcomes)
        at += size
    a, b = picture(alone), picture(batched)
    assert len(a) == len(b) == 1000
    mismatched = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
    assert not mismatched, mismatched[:3]
    statuses = {row[1] for row in a}
    assert {"lead", "duplicate"} <= statuses  # the mix held what it was made to hold
    assert any(row[4] and row[4][1] == "review" for row in a)
    assert any(row[5] for row in a) and any(row[4] and row[4][0] is None for row in a)
    alone.dispose()
    batched.dispose()


def test_a_batch_makes_each_lead_once(db_url: str, tmp_path: Path) -> None:
    """A batch holding two copies of a message that both reach the commit step (the
    duplicate step taken out) makes one lead of them, as one at a time does; the others of
    the batch are made once each; a batch run again changes nothing."""
    rt, engine = world(db_url, tmp_path)
    raws = mails(40, seed=11)
    ids = [store_raw(engine, raw) for raw in raws]
    twin = store_raw(engine, raws[0])  # the first mail again: the same dedup key
    steps = tuple(step for step in pipeline.STEPS if step is not duplicate)
    outcomes = pipeline.process_batch(rt, engine, [*ids, twin], steps=steps)
    by_id = {o.message: o for o in outcomes if o is not None}
    assert by_id[twin].status == "lead" and by_id[twin].lead_id == by_id[ids[0]].lead_id
    assert pipeline.process_batch(rt, engine, [*ids, twin]) == [None] * (len(ids) + 1)
    with Session(engine) as s:
        leads = s.exec(select(Lead)).all()
        assert len(leads) == len({lead.dedup_key for lead in leads})
        made = s.exec(select(Message).where(Message.status == "lead")).all()
    assert {m.id for m in made} == {o.message for o in outcomes if o and o.status == "lead"}
    assert len(leads) == len({m.dedup_key for m in made})  # one lead per message's key
    engine.dispose()


@pytest.mark.postgres
def test_two_workers_share_a_backlog_in_batches_without_doubles(
    pg_url: str, tmp_path: Path
) -> None:
    """Two workers (each its own engine, as two instances) take batches of one backlog at
    once on PostgreSQL: claims skip each other's locked rows, every message ends once, and
    each person gets one lead and one alert."""
    rt, engine = world(pg_url, tmp_path)
    raws = mails(300, seed=5)
    ids = [store_raw(engine, raw) for raw in raws]
    start = threading.Barrier(2)
    ended: list[list[pipeline.Outcome]] = [[], []]

    def work(i: int) -> None:
        own = db.make_engine(pg_url)
        start.wait()
        while due := pipeline.claimable(own, 32):
            got = pipeline.process_batch(rt, own, due, f"host:{i}")
            ended[i] += [o for o in got if o is not None]
        own.dispose()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    finished = [o.message for o in ended[0] + ended[1]]
    assert sorted(finished) == sorted(ids)  # each message ended once, by one worker
    assert ended[0] and ended[1]  # both took part
    with Session(engine) as s:
        leads = s.exec(select(Lead)).all()
        keys = {m.dedup_key for m in s.exec(select(Message).where(Message.status == "lead"))}
        assert len(leads) == len(keys) == len({lead.dedup_key for lead in leads})
        alerts = s.exec(select(Outbox)).all()
        assert len({o.idempotency_key for o in alerts}) == len(alerts)
        assert {o.lead_id for o in alerts} <= {lead.id for lead in leads}
    engine.dispose()


@pytest.mark.postgres
def test_commit_step_transactions_run_one_at_a_time_across_instances(pg_url: str) -> None:
    """A batch's leads lock pond, contact and source-health rows in the order they come; two
    instances' batches taking such locks in crossing orders deadlock (PostgreSQL then fails
    one batch, seen under load). So a commit-step transaction first waits for any other one
    to end: while one holds the commit lock, another instance's cannot start."""
    db.upgrade(pg_url)
    first, second = db.make_engine(pg_url), db.make_engine(pg_url)
    with db.session_scope(first) as holder:
        db.serialize_commits(holder)
        with Session(second) as other:
            other.execute(text("SET lock_timeout = '300ms'"))
            with pytest.raises(OperationalError, match="lock timeout"):
                db.serialize_commits(other)
            other.rollback()
    with db.session_scope(second) as after:  # free again once the first one has ended
        after.execute(text("SET LOCAL lock_timeout = '300ms'"))
        db.serialize_commits(after)
    first.dispose()
    second.dispose()
