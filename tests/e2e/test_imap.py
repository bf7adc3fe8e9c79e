"""IMAP intake end to end: `leadmail run` watching two Dovecot accounts under IDLE."""

from __future__ import annotations

import json
import time
from collections import Counter
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from imapclient import SEEN
from sqlmodel import Session, select

from leadmail.db import make_engine
from leadmail.models import Lead, Message
from tests.conftest import Sink, free_port, send, wait_for, write_config

pytestmark = pytest.mark.e2e

USER, OTHER = "agent@example.test", "second@example.test"


def lead(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Person Number{n} <person{n}@buyers.example>"
    msg["To"] = "leads@brokerage.example"
    msg["Subject"] = f"Question about a house ({n})"
    msg["Message-ID"] = f"<imap-lead-{n}@buyers.example>"
    msg.set_content(f"Hi, my name is Person Number{n}. Please call me at 512-555-{n:04d}.\n")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def alert_for(sink: Sink, n: int) -> float | None:
    """When the alert about lead n reached the sink (monotonic), if it did."""
    with sink.lock:
        for arrived, msg, _raw in sink.messages:
            if f"person{n}@buyers.example" in msg.get_body(("plain",)).get_content():
                return arrived
    return None


def imap_states(log: str) -> list[tuple[str, str]]:
    """(account, state) for every imap state change the daemon logged."""
    out = []
    for line in log.splitlines():
        if line.startswith("{") and '"imap ' in line:
            event = json.loads(line)
            if str(event.get("event", "")).startswith("imap "):
                out.append((event["account"], event["event"][5:]))
    return out


def test_two_accounts_under_idle_routed_at_once_and_dovecot_restart_loses_nothing(
    tmp_path: Path, sink: Sink, dovecot: Any, daemon_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "imap.secret"
    secret.write_text(dovecot.users[USER])
    port = free_port()
    db_url = f"sqlite:///{tmp_path / 'leadmail.db'}"
    accounts = f"""
[[imap]]
host = "127.0.0.1"
port = {dovecot.port}
security = "none"
username = "{USER}"
password_file = "{secret}"
backoff_max = 1

[[imap]]
name = "second"
host = "127.0.0.1"
port = {dovecot.port}
security = "none"
username = "{OTHER}"
password_env = "SECOND_IMAP_PASSWORD"
processed_folder = "Processed"
backoff_max = 1
"""
    cfg = write_config(
        tmp_path, db_url=db_url, smtp_port=port, relay=f"127.0.0.1:{sink.port}", extra=accounts
    )
    monkeypatch.setenv("SECOND_IMAP_PASSWORD", dovecot.users[OTHER])  # the daemon inherits it
    d = daemon_factory(cfg, port).start()
    engine = make_engine(db_url)

    def idle_accounts() -> set[str]:
        return {a for a, state in imap_states(d.log_text()) if state == "idle"}

    wait_for(lambda: len(idle_accounts()) == 2, timeout=15)  # (the log redacts addresses)

    # Leads APPENDed while leadmail is in IDLE are routed, alert sent, at once: pushed by
    # IDLE, not found by a poll (the bound leaves room for a busy box; bench/e2e.py measures
    # the latency itself).
    for n, user in ((1, USER), (2, OTHER), (3, USER), (4, OTHER)):
        appended = time.monotonic()
        dovecot.append(user, lead(n))
        arrived = wait_for(lambda n=n: alert_for(sink, n), timeout=10.0)
        assert arrived - appended < 10.0

    # Dovecot goes away mid-run. Mail keeps arriving (the MTA drops it in the Maildirs), and
    # over SMTP too; leadmail keeps serving SMTP and retries IMAP with capped backoff.
    dovecot.stop(keep=True)
    wait_for(lambda: Counter(s for _, s in imap_states(d.log_text()))["backoff"] >= 2, timeout=10)
    for n, user in ((5, USER), (6, OTHER), (7, USER), (8, OTHER)):
        dovecot.deliver(user, lead(n))
    assert send(port, lead(9))[0] == 250
    wait_for(lambda: alert_for(sink, 9), timeout=5)
    time.sleep(1.5)  # a few failed reconnects
    dovecot.resume()
    for n in (5, 6, 7, 8):
        wait_for(lambda n=n: alert_for(sink, n), timeout=10)

    # Nothing lost, nothing doubled: every lead once, every alert once.
    time.sleep(1.0)
    with Session(engine) as s:
        got = Counter(lead.email for lead in s.exec(select(Lead)).all())
        intakes = Counter(m.intake for m in s.exec(select(Message)).all())
    assert got == Counter(f"person{n}@buyers.example" for n in range(1, 10))
    assert intakes == {"imap": 8, "smtp": 1}
    assert len(sink.messages) == 9
    # Marked after storage: the first account's mail is read and in place, the second's moved.
    assert set(dovecot.folder(USER).values()) == {(SEEN,)}
    assert dovecot.message_ids(USER) == sorted(
        f"<imap-lead-{n}@buyers.example>" for n in (1, 3, 5, 7)
    )
    assert dovecot.folder(OTHER) == {}
    assert dovecot.message_ids(OTHER, "Processed") == sorted(
        f"<imap-lead-{n}@buyers.example>" for n in (2, 4, 6, 8)
    )
    assert d.stop() == 0
    assert {s for _, s in imap_states(d.log_text())} >= {"connecting", "idle", "backoff", "stopped"}
