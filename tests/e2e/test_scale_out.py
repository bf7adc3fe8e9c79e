"""Two instances on one PostgreSQL: one watches the IMAP inbox at a time (a lease); kill it and
the other takes over within 30 s; nothing lost, nothing doubled. SMTP works on both."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from leadmail.db import make_engine
from leadmail.models import ImapLease, Lead
from tests.conftest import Sink, free_port, send, wait_for, write_config
from tests.e2e.test_imap import USER, lead

pytestmark = pytest.mark.e2e


def test_imap_lease_taken_over_after_kill(tmp_path: Path, sink: Sink, dovecot: Any,
                                          pg_url: str, daemon_factory: Any) -> None:
    secret = tmp_path / "imap.secret"
    secret.write_text(dovecot.users[USER])
    imap = f"""
[[imap]]
host = "127.0.0.1"
port = {dovecot.port}
security = "none"
username = "{USER}"
password_file = "{secret}"
backoff_max = 1
lease_seconds = 6
"""
    daemons = []
    for i in range(2):
        work = tmp_path / f"d{i}"
        work.mkdir()
        port = free_port()
        cfg = write_config(work, db_url=pg_url, smtp_port=port, relay=f"127.0.0.1:{sink.port}",
                           extra=imap)
        daemons.append(daemon_factory(cfg, port).start())
    engine = make_engine(pg_url)

    def holder() -> str | None:
        with Session(engine) as s:
            row = s.exec(select(ImapLease)).first()
            return row.holder if row else None

    def emails() -> Counter[str]:
        with Session(engine) as s:
            return Counter(x.email or "" for x in s.exec(select(Lead)).all())

    wait_for(holder, timeout=20)
    pids = {d.proc.pid: d for d in daemons}
    owner = pids[int(str(holder()).rpartition(":")[2])]
    standby = next(d for d in daemons if d is not owner)

    for n in (1, 2, 3):
        dovecot.append(USER, lead(n))
    wait_for(lambda: len(emails()) == 3, timeout=10)
    # Both instances take SMTP.
    assert send(owner.port, lead(10))[0] == 250
    assert send(standby.port, lead(11))[0] == 250

    owner.stop(signal.SIGKILL)
    killed_at = time.monotonic()
    for n in (4, 5, 6):
        dovecot.append(USER, lead(n))
    wait_for(lambda: len(emails()) == 8, timeout=30)
    assert time.monotonic() - killed_at < 30
    assert holder() == f"{holder().rpartition(':')[0]}:{standby.proc.pid}"  # type: ignore[union-attr]
    got = emails()
    assert got == Counter(f"person{n}@buyers.example" for n in (1, 2, 3, 4, 5, 6, 10, 11))
    assert standby.stop() == 0
    engine.dispose()
