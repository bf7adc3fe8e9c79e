"""The pipeline against a real database (SQLite and PostgreSQL): store, process, merge, route."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from leadmail import config, db, pipeline
from leadmail.models import Contact, Event, Lead, Message, Outbox, RoutingState
from leadmail.notify import outbox
from leadmail.store import store_raw


def mail(sender: str, body: str, mid: str | None = None, subject: str = "Inquiry") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "leads@brokerage.example"
    msg["Subject"] = subject
    if mid:
        msg["Message-ID"] = mid
    msg.set_content(body)
    return msg.as_bytes()


def settings_for(
    url: str,
    tmp_path: Path,
    agents: list[dict] | None = None,  # type: ignore[type-arg]
    **extra: object,
) -> config.Settings:
    (tmp_path / "no-rules").mkdir(exist_ok=True)  # an empty rules dir (a missing one is an error)
    data = {
        "database": {"url": url},
        "notify": {"email": {"relay": f"file:{tmp_path / 'alerts'}"}},
        "rules": {"dir": str(tmp_path / "no-rules")},
        "agents": agents
        if agents is not None
        else [
            {"name": "Ana Agent", "email": "ana@brokerage.example", "phone": "+15125550100"},
            {"name": "Ben Broker", "email": "ben@brokerage.example"},
            {"name": "Cara Closer", "email": "cara@brokerage.example"},
        ],
        **extra,
    }
    return config.validate(data, env={})


@pytest.fixture
def world(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = settings_for(db_url, tmp_path)
    db.upgrade(db_url)
    engine = db.make_engine(db_url)
    yield settings, engine, pipeline.Runtime.load(settings)
    engine.dispose()


def ingest(rt: pipeline.Runtime, engine, raw: bytes) -> pipeline.Outcome:  # type: ignore[no-untyped-def]
    outcome = pipeline.process(rt, engine, store_raw(engine, raw))
    assert outcome is not None
    return outcome


def person(n: int, email: str | None = None, phone: str | None = None) -> bytes:
    email = email or f"p{n}@buyers.example"
    phone = phone or f"512-555-{n:04d}"
    return mail(
        f"Pat Person{n} <{email}>",
        f"Hi, my name is Pat Person{n}. Call me at {phone}.",
        mid=f"<p{n}-{email}>",
    )


def test_lead_is_stored_routed_and_queued(world) -> None:  # type: ignore[no-untyped-def]
    settings, engine, rt = world
    out = ingest(rt, engine, person(1))
    assert out.status == "lead" and out.agent == "ana@brokerage.example"
    with Session(engine) as s:
        lead = s.get(Lead, out.lead_id)
        assert lead is not None
        assert (lead.email, lead.phone, lead.stage, lead.segment, lead.origin) == (
            "p1@buyers.example",
            "+15125550001",
            "Lead",
            "Customers",
            "company",
        )
        steps = [t["step"] for t in lead.trace]
        assert steps[:3] == ["parse", "match_rule", "extract"]
        assert {"classify", "merge_contact", "route", "outbox"} <= set(steps)
        route = next(t for t in lead.trace if t["step"] == "route")
        assert route["strategy"] == "round_robin" and route["agent"] == "ana@brokerage.example"
        row = s.exec(select(Outbox)).one()
        assert row.recipient == "ana@brokerage.example" and row.status == "pending"
        kinds = [e.kind for e in s.exec(select(Event).order_by(col(Event.id))).all()]
        assert kinds[:1] == ["received"] and "assigned" in kinds
    assert outbox.deliver_due(engine, settings) == 1
    assert outbox.deliver_due(engine, settings) == 0  # never twice


def test_round_robin_persists_across_restarts(world, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings, engine, rt = world
    agents = [ingest(rt, engine, person(n)).agent for n in range(1, 5)]
    assert agents == [
        "ana@brokerage.example",
        "ben@brokerage.example",
        "cara@brokerage.example",
        "ana@brokerage.example",
    ]
    engine.dispose()
    # "Restart": a new engine and runtime continue where the rotation was.
    engine2 = db.make_engine(db_url)
    rt2 = pipeline.Runtime.load(settings)
    assert ingest(rt2, engine2, person(5)).agent == "ben@brokerage.example"
    with Session(engine2) as s:
        state = s.get(RoutingState, "default")
        assert state is not None and state.last_agent == "ben@brokerage.example"
    engine2.dispose()


def test_inactive_agents_skipped_and_weights_respected(db_url: str, tmp_path: Path) -> None:
    settings = settings_for(
        db_url,
        tmp_path,
        agents=[
            {"name": "A", "email": "a@x.example", "weight": 2},
            {"name": "B", "email": "b@x.example", "active": False},
            {"name": "C", "email": "c@x.example"},
        ],
    )
    db.upgrade(db_url)
    engine = db.make_engine(db_url)
    rt = pipeline.Runtime.load(settings)
    got = [ingest(rt, engine, person(n)).agent for n in range(1, 7)]
    assert got == ["a@x.example", "c@x.example", "a@x.example"] * 2
    with Session(engine) as s:
        lead = s.exec(select(Lead).order_by(col(Lead.id))).all()[1]
        route = next(t for t in lead.trace if t["step"] == "route")
        assert {"agent": "b@x.example", "why": "inactive"} in route["skipped"]
    engine.dispose()


def test_known_contact_is_merged_and_returns_to_owner(world) -> None:  # type: ignore[no-untyped-def]
    settings, engine, rt = world
    first = ingest(rt, engine, person(1, email="same@buyers.example", phone="512-555-0001"))
    ingest(rt, engine, person(2))
    # Same person by email (different case), new phone:
    by_email = ingest(
        rt,
        engine,
        mail(
            "Pat Person1 <SAME@Buyers.example>",
            "Hi, my name is Pat Person1. Any news?",
            mid="<again-1>",
        ),
    )
    # Same person by phone only, written differently:
    by_phone = ingest(
        rt,
        engine,
        mail(
            "Someone <other@elsewhere.example>",
            "Hi, my name is Pat Person1. Call (512) 555-0001.",
            mid="<again-2>",
        ),
    )
    with Session(engine) as s:
        contacts = s.exec(select(Contact).order_by(col(Contact.id))).all()
        assert len(contacts) == 2
        c = contacts[0]
        assert c.lead_count == 3 and len(c.sources) == 3
        leads = {lead.id: lead for lead in s.exec(select(Lead)).all()}
        assert {leads[o.lead_id].contact_id for o in (first, by_email, by_phone)} == {c.id}
    # Returning leads go to the contact's owner, not the next in the rotation.
    assert by_email.agent == by_phone.agent == first.agent == "ana@brokerage.example"


def test_non_lead_and_quarantine_and_duplicate(world) -> None:  # type: ignore[no-untyped-def]
    settings, engine, rt = world
    auto = mail(
        "Ben <ben@elsewhere.example>",
        "I am out of the office until Monday.",
        mid="<ooo-1>",
        subject="Out of Office: your message",
    )
    out = ingest(rt, engine, auto)
    assert out.status == "non_lead" and out.reason
    broken = (
        b"From: x@example.com\r\nContent-Type: multipart/mixed\r\n"
        b"Message-ID: <broken-1>\r\n\r\n--\r\n"
    )
    out = ingest(rt, engine, broken)
    assert out.status == "quarantined" and "MIME" in (out.reason or "")
    assert ingest(rt, engine, person(3)).status == "lead"
    dup = ingest(rt, engine, person(3))
    assert dup.status == "duplicate" and dup.duplicate_of is not None
    with Session(engine) as s:
        assert len(s.exec(select(Lead)).all()) == 1


def test_message_that_keeps_killing_the_worker_is_quarantined(world) -> None:  # type: ignore[no-untyped-def]
    settings, engine, rt = world
    msg_id = store_raw(engine, person(4))
    # Simulate max_attempts crashed claims: each left the message "processing" with a dead lease.
    for _ in range(settings.pipeline.max_attempts):
        assert pipeline._claim(engine, msg_id, "host:1")
        with db.session_scope(engine) as s:
            m = s.get(Message, msg_id)
            assert m is not None
            m.lease_until = m.received_at
            s.add(m)
    assert msg_id in pipeline.claimable(engine)
    out = pipeline.process(rt, engine, msg_id)
    assert out is not None and out.status == "quarantined" and "gave up" in (out.reason or "")


def test_quarantine_retry_after_fix(world) -> None:  # type: ignore[no-untyped-def]
    settings, engine, rt = world
    msg_id = store_raw(engine, b"Message-ID: <x1>\r\n\r\n")
    out = pipeline.process(rt, engine, msg_id)
    assert out is not None and out.status == "quarantined"
    assert pipeline.requeue(engine, msg_id)
    assert not pipeline.requeue(engine, msg_id)  # not quarantined any more
    out = pipeline.process(rt, engine, msg_id)
    assert out is not None and out.status == "quarantined"  # still broken, still kept


def test_migrations_match_models(db_url: str) -> None:
    """The Alembic history builds exactly the schema the models describe."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    db.upgrade(db_url)
    engine = db.make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    engine.dispose()
    assert diff == []


def test_migration_history_is_one_line() -> None:
    """One head: every migration builds on the one before (no forgotten branch)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(db.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def test_claims_of_dead_local_processes() -> None:
    import os
    import subprocess

    from leadmail import liveness

    me = liveness.worker_id()
    host = me.rpartition(":")[0]
    assert not liveness.claim_is_dead(me)  # our own claims are in flight while we run
    assert liveness.claim_is_dead(me, at_start=True)  # ... but at start they are leftovers
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert liveness.claim_is_dead(f"{host}:{gone.pid}")
    assert not liveness.claim_is_dead(f"{host}:{os.getppid()}")  # alive
    assert not liveness.claim_is_dead(f"other-host:{gone.pid}")  # not ours to judge
