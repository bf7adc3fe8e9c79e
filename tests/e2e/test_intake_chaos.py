"""SMTP intake under crashes and outages: what got 250 becomes exactly one lead."""

from __future__ import annotations

import signal
import smtplib
import threading
import time
from collections import Counter
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlmodel import Session, select

from leadmail.db import make_engine
from leadmail.models import Lead, Message, MessageStatus, Outbox
from tests.conftest import PG_ADMIN_URL, Sink, free_port, send, wait_for, wire, write_config

pytestmark = pytest.mark.e2e

RCPT = "leads@brokerage.example"


def lead(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Person Number{n} <person{n}@buyers.example>"
    msg["To"] = RCPT
    msg["Subject"] = f"Question about a house ({n})"
    msg["Message-ID"] = f"<chaos-{n}@buyers.example>"
    msg.set_content(f"Hi, my name is Person Number{n}. Please call me at 512-555-{n:04d}.\n")
    return wire(msg.as_bytes())


class Sender(threading.Thread):
    """One SMTP client on one connection, sending its share; resends what got no 250."""

    def __init__(self, port: int, numbers: list[int], accepted: dict[int, int]) -> None:
        super().__init__(daemon=True)
        self.port, self.numbers, self.accepted = port, numbers, accepted
        self.resent = 0
        self.errors: list[str] = []

    def run(self) -> None:
        conn: smtplib.SMTP | None = None
        pending = list(self.numbers)
        deadline = time.monotonic() + 240
        while pending and time.monotonic() < deadline:
            n = pending[0]
            try:
                if conn is None:
                    conn = smtplib.SMTP("127.0.0.1", self.port, timeout=10)
                    conn.ehlo("client.example")
                conn.mail("portal@sender.example")
                conn.rcpt(RCPT)
                code, _ = conn.data(lead(n))
            except (smtplib.SMTPException, OSError) as exc:
                # The daemon died under us: whether this one was stored is unknown, so
                # send it again, as an MTA would.
                self.errors.append(type(exc).__name__)
                self.resent += 1
                if conn is not None:
                    try:
                        conn.close()
                    except OSError:
                        pass
                conn = None
                time.sleep(0.02)
                continue
            if code == 250:
                self.accepted[n] = self.accepted.get(n, 0) + 1
                pending.pop(0)
            else:
                self.resent += 1
                time.sleep(0.05)
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                pass


def test_1000_messages_over_4_connections_with_two_sigkills(
    tmp_path: Path, sink: Sink, daemon_factory: Any
) -> None:
    port = free_port()
    db_url = f"sqlite:///{tmp_path / 'leadmail.db'}"
    cfg = write_config(tmp_path, db_url=db_url, smtp_port=port, relay=f"127.0.0.1:{sink.port}")
    d = daemon_factory(cfg, port).start()
    accepted: dict[int, int] = {}
    total = 1000
    senders = [Sender(port, list(range(i, total, 4)), accepted) for i in range(4)]
    for s in senders:
        s.start()
    for threshold in (250, 600):
        wait_for(lambda t=threshold: len(accepted) >= t, timeout=120)
        d.stop(signal.SIGKILL)
        d.start()
    for s in senders:
        s.join(240)
        assert not s.is_alive(), "a sender did not finish"
    assert sorted(accepted) == list(range(total)), "every message ends up accepted"

    engine = make_engine(db_url)

    def settled() -> bool:
        with Session(engine) as s:
            msgs = s.exec(select(Message)).all()
            return all(m.status in MessageStatus.FINAL for m in msgs)

    wait_for(settled, timeout=180, interval=0.5)
    with Session(engine) as s:
        msgs = {m.id: m for m in s.exec(select(Message)).all()}
        leads = s.exec(select(Lead)).all()
        outbox = s.exec(select(Outbox)).all()
    # Exactly one lead per Message-ID: none lost, none doubled.
    per_mid = Counter(msgs[lead.message_pk].message_id for lead in leads)
    assert set(per_mid) == {f"<chaos-{n}@buyers.example>" for n in range(total)}
    assert set(per_mid.values()) == {1}
    # Every stored copy ended as the lead or as a duplicate of the copy that made it.
    statuses = Counter(m.status for m in msgs.values())
    assert set(statuses) <= {MessageStatus.LEAD, MessageStatus.DUPLICATE}, statuses
    for m in msgs.values():
        if m.status == MessageStatus.DUPLICATE:
            assert m.duplicate_of is not None
            assert msgs[m.duplicate_of].message_id == m.message_id
    # One alert queued per lead (their delivery is the outbox's business, tested elsewhere).
    assert Counter(row.lead_id for row in outbox) == Counter(lead.id for lead in leads)
    assert d.stop() == 0
    resent = sum(s.resent for s in senders)
    assert resent >= 2, "the kills should have cut some transactions"  # sanity of the test


def test_database_unavailable_451_then_intake_recovers_by_itself(
    tmp_path: Path, sink: Sink, daemon_factory: Any, pg_url: str
) -> None:
    name = pg_url.rsplit("/", 1)[1]
    port = free_port()
    cfg = write_config(tmp_path, db_url=pg_url, smtp_port=port, relay=f"127.0.0.1:{sink.port}")
    d = daemon_factory(cfg, port).start()
    for n in range(5):
        assert send(port, lead(n))[0] == 250
    wait_for(lambda: len(sink.messages) == 5, timeout=10)

    def allow_connections(allow: bool) -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allow).lower()}')
            if not allow:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )

    replies: dict[int, int] = {}
    allow_connections(False)
    try:
        for n in range(5, 15):
            replies[n] = send(port, lead(n))[0]
    finally:
        allow_connections(True)
    # The database was gone: nothing was acknowledged; the senders were told to try later.
    assert set(replies.values()) == {451}, replies
    engine = make_engine(pg_url)
    with Session(engine) as s:
        assert len(s.exec(select(Message)).all()) == 5
    # It is back: without a restart, the senders' retries are taken and processed.
    for n in range(5, 15):
        wait_for(lambda n=n: send(port, lead(n))[0] == 250, timeout=15, interval=0.5)
    wait_for(lambda: len(sink.messages) == 15, timeout=20)
    with Session(engine) as s:
        assert sorted(lead.email for lead in s.exec(select(Lead)).all()) == sorted(
            f"person{n}@buyers.example" for n in range(15)
        )
        assert len(s.exec(select(Message)).all()) == 15
    assert d.proc is not None and d.proc.poll() is None, "the daemon kept running"
    assert d.stop() == 0
    engine.dispose()


def test_sigterm_refuses_new_work_with_421_finishes_the_message_in_flight_exits_0(
    tmp_path: Path, sink: Sink, daemon_factory: Any
) -> None:
    port = free_port()
    db_url = f"sqlite:///{tmp_path / 'leadmail.db'}"
    cfg = write_config(tmp_path, db_url=db_url, smtp_port=port, relay=f"127.0.0.1:{sink.port}")
    d = daemon_factory(cfg, port).start()
    raw = lead(7)
    busy = smtplib.SMTP("127.0.0.1", port, timeout=10)
    idle = smtplib.SMTP("127.0.0.1", port, timeout=10)
    busy.ehlo()
    idle.ehlo()
    busy.mail("portal@sender.example")
    busy.rcpt(RCPT)
    busy.putcmd("data")
    assert busy.getreply()[0] == 354
    busy.send(raw[:200])  # half the message is on the wire when the stop comes
    time.sleep(0.3)
    assert d.proc is not None
    d.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    with pytest.raises(smtplib.SMTPConnectError) as refused:
        smtplib.SMTP("127.0.0.1", port, timeout=10)
    assert refused.value.smtp_code == 421
    assert idle.mail("portal@sender.example")[0] == 421
    busy.send(raw[200:] + b".\r\n")
    code, text = busy.getreply()
    assert code == 250, text
    assert d.proc.wait(30) == 0
    for c in (busy, idle):
        c.close()
    # The message acknowledged during the stop is stored, and made a lead at the next start.
    engine = make_engine(db_url)
    with Session(engine) as s:
        assert [m.raw for m in s.exec(select(Message)).all()] == [raw]
    d.start()
    wait_for(lambda: alert_count(sink) == 1, timeout=10)
    assert d.stop() == 0


def alert_count(sink: Sink) -> int:
    with sink.lock:
        return len(sink.messages)
