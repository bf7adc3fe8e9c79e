"""Several `leadmail run` processes on one database behave like one (issue 5).

Three real daemons share a database; 600 leads arrive; six agents weigh 1,1,1,1,2,2. Every lead
is assigned exactly once and each agent's count is within one of its weights' share.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from leadmail import db
from leadmail.models import Assignment, Contact, Lead, Message, Outbox
from leadmail.store import store_raw
from tests.conftest import free_port, wait_for, write_config

pytestmark = pytest.mark.e2e

AGENTS = [("a1", 1), ("a2", 1), ("a3", 1), ("a4", 1), ("b1", 2), ("b2", 2)]
LEADS = 600
WORKERS = 3


def lead_mail(n: int) -> bytes:
    return (
        f"From: Pat Person{n} <person{n}@buyers.example>\r\n"
        "To: leads@brokerage.example\r\n"
        f"Subject: Question about a house ({n})\r\n"
        f"Message-ID: <lead-{n}@buyers.example>\r\n\r\n"
        f"Hi, my name is Pat Person{n}. Please call me at 512-555-{n:04d}.\r\n"
    ).encode()


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_three_daemons_600_leads_weighted_and_each_assigned_once(
    backend: str, tmp_path: Path, daemon_factory, request: pytest.FixtureRequest
) -> None:  # type: ignore[no-untyped-def]
    url = (
        str(request.getfixturevalue("pg_url"))
        if backend == "postgresql"
        else f"sqlite:///{tmp_path / 'leadmail.db'}"
    )
    agents = "\n".join(
        f'[[agents]]\nname = "Agent {n}"\nemail = "{n}@brokerage.example"\nweight = {w}\n'
        for n, w in AGENTS
    )
    daemons = []
    for i in range(WORKERS):
        work = tmp_path / f"worker{i}"
        work.mkdir()
        port = free_port()
        cfg = write_config(
            work, db_url=url, smtp_port=port, relay=f"file:{tmp_path / 'alerts'}", agents=agents
        )
        daemons.append(daemon_factory(cfg, port))
    db.upgrade(url)
    for d in daemons:
        d.start()
    # Each daemon's pipeline is ready to take mail before the backlog lands: one that starts
    # its reader processes late on a loaded box would find the others had drained it.
    wait_for(lambda: all("readers ready" in d.log_text() for d in daemons), timeout=120)
    engine = db.make_engine(url)
    started = time.monotonic()
    for n in range(LEADS):
        store_raw(engine, lead_mail(n), intake="test")

    def done() -> bool:
        with Session(engine) as s:
            return s.exec(select(func.count()).select_from(Lead)).one() == LEADS

    wait_for(done, timeout=240, interval=0.5)
    elapsed = time.monotonic() - started
    with Session(engine) as s:
        leads = s.exec(select(Lead)).all()
        assignments = s.exec(select(Assignment)).all()
        messages = s.exec(select(Message)).all()
        workers = Counter(m.claimed_by for m in messages)
        contacts = s.exec(select(func.count()).select_from(Contact)).one()
    assert {lead.status for lead in leads} == {"assigned"}
    assert len(assignments) == LEADS  # no lead assigned twice
    assert Counter(a.lead_id for a in assignments).most_common(1)[0][1] == 1
    assert {a.lead_id for a in assignments} == {lead.id for lead in leads}
    assert contacts == LEADS
    got = Counter(lead.agent for lead in leads)
    total = sum(w for _, w in AGENTS)
    for name, weight in AGENTS:
        share = LEADS * weight / total
        assert abs(got[f"{name}@brokerage.example"] - share) <= 1, (got, name)
    assert len(workers) == WORKERS, f"every daemon should have worked: {workers}"
    assert {m.attempts for m in messages} == {1}  # no lock errors, no retries
    for d in daemons:
        assert d.stop() == 0
        assert '"level": "error"' not in d.log_text()
    with Session(engine) as s:  # alerts: one per assignment, each sent once
        keys = [o.idempotency_key for o in s.exec(select(Outbox)).all()]
    assert len(keys) == len(set(keys)) == LEADS
    engine.dispose()
    print(f"{backend}: {LEADS} leads through {WORKERS} daemons in {elapsed:.1f}s; {dict(got)}")


def test_daemon_fires_accept_windows_that_survive_a_kill(
    tmp_path: Path, daemon_factory, sink
) -> None:  # type: ignore[no-untyped-def]
    """An assignment's accept window is a row: kill the daemon, and the next one still moves
    the unaccepted lead on to the next agent."""
    from datetime import timedelta

    from sqlalchemy import update

    from leadmail.models import Timer, utcnow
    from tests.conftest import send

    url = f"sqlite:///{tmp_path / 'leadmail.db'}"
    port = free_port()
    cfg = write_config(
        tmp_path,
        db_url=url,
        smtp_port=port,
        relay=f"127.0.0.1:{sink.port}",
        extra='[[routes]]\nname = "must-accept"\naccept_window = 30\nmax_reassign = 1',
    )
    d = daemon_factory(cfg, port).start()
    code, _ = send(port, lead_mail(1))
    assert code == 250
    engine = db.make_engine(url)

    def agent_of_lead() -> str | None:
        with Session(engine) as s:
            lead = s.exec(select(Lead)).first()
            return lead.agent if lead else None

    assert wait_for(agent_of_lead) == "ana@brokerage.example"
    wait_for(lambda: sink.to("ana@brokerage.example"))
    d.stop(signal.SIGKILL)
    with db.session_scope(engine) as s:  # half an hour passes while no daemon runs
        s.execute(update(Timer).values(due_at=utcnow() - timedelta(seconds=1)))
    d.start()
    assert wait_for(lambda: agent_of_lead() == "ben@brokerage.example", timeout=10)
    wait_for(lambda: sink.to("ben@brokerage.example"))  # Ben is alerted
    with Session(engine) as s:
        lead = s.exec(select(Lead)).one()
        steps = [t["step"] for t in lead.trace]
    assert steps[-3:] == ["expired", "outbox", "reassigned"]
    assert d.stop() == 0
    engine.dispose()
