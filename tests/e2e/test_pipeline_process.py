"""The pipeline worker in a process of its own (`[pipeline] process = true`, leadmail.workerproc).

Against real daemons: the worker's pid is not the daemon's and the messages are claimed under
it; a SIGKILL of the daemon takes the worker with it, and the next daemon makes each lead of
the backlog once; a worker killed alone is started again and the messages it held are taken
back at once and made once; what the worker counts shows on the daemon's /metrics.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from leadmail.models import Lead, Message, Outbox
from leadmail.store import store_raw
from tests.conftest import DaemonProc, Sink, send, wait_for
from tests.e2e.serve import serve
from tests.e2e.test_daemon import lead_mail

pytestmark = pytest.mark.e2e


def worker_pids(d: DaemonProc) -> list[int]:
    """The pids of the pipeline processes the daemon said it started, in order."""
    pids = []
    for line in d.log_text().splitlines():
        if '"pipeline process started"' in line:
            pids.append(json.loads(line)["pid"])
    return pids


def running(pid: int) -> bool:
    """The process exists and has not exited (an unreaped zombie has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] != b"Z"


def parent_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


def backlog(engine: Engine, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        store_raw(engine, lead_mail(n), intake="test")


def lead_count(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(Lead)).one())


def held_by(engine: Engine, pid: int) -> int:
    """Messages claimed by that pid and not finished."""
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(Message).where(
            col(Message.status) == "processing",
            col(Message.claimed_by) == f"{socket.gethostname()}:{pid}")).one())


def exactly_once(engine: Engine, count: int) -> int:
    """`count` messages, each one lead of a person of its own, each lead alerted (an outbox
    row each); the number of email alerts queued."""
    with Session(engine) as s:
        msgs = s.exec(select(Message)).all()
        leads = s.exec(select(Lead)).all()
        rows = s.exec(select(Outbox)).all()
    assert len(msgs) == count and all(m.status == "lead" for m in msgs)
    assert len(leads) == count and len({m.lead_id for m in msgs}) == count
    assert len({lead.email for lead in leads}) == count
    assert {o.lead_id for o in rows} == {lead.id for lead in leads}
    return sum(o.kind == "email" for o in rows)


def kill_holding(engine: Engine, pid: int, tries: int = 200) -> None:
    """SIGKILL the worker at a moment it holds claimed messages: it is stopped (SIGSTOP) while
    its claims are looked at, so they cannot be released between the look and the kill; if
    it holds none just then (between two batches), it goes on and is caught again."""
    for _ in range(tries):
        os.kill(pid, signal.SIGSTOP)
        if held_by(engine, pid) and lead_count(engine) < 300:
            os.kill(pid, signal.SIGKILL)
            return
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)  # never caught holding: the assertion after says so


def alert_ids(sink: Sink) -> list[str]:
    with sink.lock:
        return [str(m["Message-ID"]) for _, m, _ in sink.messages]


def test_the_pipeline_runs_in_a_process_of_its_own(tmp_path: Path, sink: Sink,
                                                   daemon_factory: Any) -> None:
    served = serve(tmp_path, sink, daemon_factory)
    d = served.daemon
    assert d.proc is not None
    pid = wait_for(lambda: worker_pids(d), timeout=20)[0]
    assert pid != d.proc.pid and running(pid) and parent_of(pid) == d.proc.pid
    assert send(served.port, lead_mail(1))[0] == 250
    wait_for(lambda: sink.messages, timeout=30)
    with Session(served.engine) as s:
        msg = s.exec(select(Message)).one()
    assert msg.status == "lead"
    assert msg.claimed_by == f"{socket.gethostname()}:{pid}"  # the worker made it, not the daemon
    assert served.stop() == 0
    assert not running(pid)
    assert '"pipeline process stopped"' in d.log_text()


def test_sigkill_of_the_daemon_ends_its_worker_and_a_restart_makes_each_lead_once(
        tmp_path: Path, sink: Sink, daemon_factory: Any) -> None:
    served = serve(tmp_path, sink, daemon_factory)
    d, engine = served.daemon, served.engine
    wait_for(lambda: "readers ready" in d.log_text(), timeout=60)
    pid = worker_pids(d)[0]
    backlog(engine, 300)
    wait_for(lambda: held_by(engine, pid) and lead_count(engine) >= 10, timeout=60, interval=0.05)
    d.stop(signal.SIGKILL)
    held = held_by(engine, pid)
    assert lead_count(engine) < 300 and held, "the kill should cut the worker mid-backlog"
    wait_for(lambda: not running(pid), timeout=5, interval=0.05)  # no orphan goes on
    assert held_by(engine, pid) == held  # and it did not touch a message after the kill

    d2 = daemon_factory(d.config, d.port).start()
    wait_for(lambda: lead_count(engine) == 300, timeout=90, interval=0.2)
    # Taken back as the new worker started, not after their 60 s lease.
    assert '"took back messages a dead process had claimed"' in d2.log_text()
    wait_for(lambda: len(set(alert_ids(sink))) >= 300, timeout=60)
    assert d2.stop() == 0
    emails = exactly_once(engine, 300)
    # Each alert sent: a kill between the relay's 250 and marking the row sent makes the next
    # daemon send it again with the same Message-ID (at-least-once), at most those in flight.
    ids = alert_ids(sink)
    assert len(set(ids)) == emails and len(ids) <= emails + 8


def test_a_worker_killed_alone_is_started_again_and_its_messages_made_once(
        tmp_path: Path, sink: Sink, daemon_factory: Any) -> None:
    served = serve(tmp_path, sink, daemon_factory)
    d, engine = served.daemon, served.engine
    assert d.proc is not None
    wait_for(lambda: "readers ready" in d.log_text(), timeout=60)
    first = worker_pids(d)[0]
    backlog(engine, 300)
    wait_for(lambda: held_by(engine, first) and lead_count(engine) >= 10, timeout=60,
             interval=0.05)
    kill_holding(engine, first)
    assert held_by(engine, first), "the kill should cut the worker mid-backlog"
    killed_at = time.monotonic()
    wait_for(lambda: len(worker_pids(d)) == 2, timeout=30)
    assert '"pipeline process exited; starting another"' in d.log_text()
    second = worker_pids(d)[1]
    assert second != first and running(second) and parent_of(second) == d.proc.pid
    wait_for(lambda: lead_count(engine) == 300, timeout=90, interval=0.2)
    assert time.monotonic() - killed_at < 60  # the lease did not have to run out
    assert held_by(engine, first) == 0
    assert '"took back messages a dead process had claimed"' in d.log_text()
    # The daemon itself served on all along.
    assert send(served.port, lead_mail(300))[0] == 250
    wait_for(lambda: len(sink.messages) >= 301, timeout=60)
    assert served.stop() == 0
    emails = exactly_once(engine, 301)
    ids = alert_ids(sink)  # the daemon's sender was never cut: each alert once
    assert len(ids) == len(set(ids)) == emails


def test_what_the_worker_counts_shows_on_the_daemons_metrics(
        tmp_path: Path, sink: Sink, daemon_factory: Any) -> None:
    served = serve(tmp_path, sink, daemon_factory)
    for n in range(3):
        assert send(served.port, lead_mail(n))[0] == 250
    wait_for(lambda: len(sink.messages) >= 3, timeout=30)
    text = httpx.get(served.base + "/metrics").text
    assert 'leadmail_messages_received_total{intake="smtp"} 3.0' in text  # the daemon's own
    # The worker's: every message, each lead's assignment, the batches' time.
    assert 'leadmail_messages_processed_total{outcome="lead",source="Direct"} 3.0' in text
    assignments = [line for line in text.splitlines()
                   if line.startswith("leadmail_assignments_total{")]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in assignments) == 3.0, assignments
    assert 'leadmail_pipeline_step_seconds_count{step="total"} 3.0' in text
    assert 'leadmail_pipeline_step_seconds_bucket{le="+Inf",step="total"} 3.0' in text
    assert served.stop() == 0


def test_process_false_keeps_the_pipeline_in_the_daemon(tmp_path: Path, sink: Sink,
                                                        daemon_factory: Any) -> None:
    served = serve(tmp_path, sink, daemon_factory, env={"LEADMAIL_PIPELINE_PROCESS": "false"})
    d = served.daemon
    assert d.proc is not None
    assert send(served.port, lead_mail(1))[0] == 250
    wait_for(lambda: sink.messages, timeout=30)
    with Session(served.engine) as s:
        msg = s.exec(select(Message)).one()
    assert msg.status == "lead" and msg.claimed_by == f"{socket.gethostname()}:{d.proc.pid}"
    assert not worker_pids(d)
    assert served.stop() == 0
