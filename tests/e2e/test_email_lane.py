"""The email lane in `leadmail run`: a stop while alerts are in the relay's DATA cuts them after
the grace and leaves their rows due (not sent, not failed); the next start sends them."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leadmail.db import make_engine
from leadmail.models import utcnow
from leadmail.notify.outbox import STOP_GRACE
from tests.conftest import free_port, send, wait_for, write_config
from tests.e2e.test_security_notify import lead_mail, outbox_rows
from tests.test_email_lane import Relay

pytestmark = pytest.mark.e2e


@pytest.fixture
def stuck_relay() -> Iterator[Relay]:
    relay = Relay(delay=60.0)  # DATA that outlasts the stop's grace
    relay.controller.start()
    yield relay
    relay.controller.stop()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Any]:
    made = make_engine(f"sqlite:///{tmp_path / 'leadmail.db'}")
    yield made
    made.dispose()


def test_a_stop_mid_send_leaves_the_emails_due_and_the_next_start_sends_them(
    tmp_path: Path, stuck_relay: Relay, engine: Any, daemon_factory: Any
) -> None:
    relay, db_url = stuck_relay, str(engine.url)
    port = free_port()
    cfg = write_config(tmp_path, db_url=db_url, smtp_port=port, relay=f"127.0.0.1:{relay.port}",
                       extra='[[routes]]\npond = "default"\nstrategy = "round_robin"\n')
    d = daemon_factory(cfg, port).start()
    for n in (1, 2, 3):
        assert send(port, lead_mail(n, "buyers.example"))[0] == 250
    wait_for(lambda: relay.active == 3, timeout=20)  # three sessions of the default 4, in DATA
    stopping = time.monotonic()
    assert d.stop(timeout=40) == 0
    took = time.monotonic() - stopping
    assert took < STOP_GRACE + 5, f"stopping took {took:.1f}s"
    now = utcnow().replace(tzinfo=None)
    left = outbox_rows(engine)
    assert [(r.status, r.attempts, r.claimed_by) for r in left] == [("pending", 1, None)] * 3
    assert all(r.next_attempt_at.replace(tzinfo=None) <= now for r in left)  # due at once
    relay.delay = 0.0
    daemon_factory(cfg, port).start()
    wait_for(lambda: {r.status for r in outbox_rows(engine)} == {"sent"}, timeout=30)
    keys = {r.idempotency_key for r in left}
    arrived = {re.sub(r"^<leadmail\.([^.@]+).*", r"\1", m) for m in relay.ids()}
    assert arrived >= keys  # each one (a cut one may arrive twice, with the same Message-ID)
