"""The email lane against a real relay (aiosmtpd): a few sessions kept open, each sending rows
one after another; reconnects when the relay drops a session or answers 421; a refused
recipient fails only its own row; a stop gives the rows in flight back. On SQLite and
PostgreSQL. The relay counts its sessions (one EHLO each) and its DATA in progress."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlmodel import Session, col, select

from leadmail import config, db
from leadmail.errors import ConfigErrors
from leadmail.models import Outbox, utcnow
from leadmail.notify import outbox
from tests.conftest import free_port, wait_for

AGENTS = [
    {"name": "Ana Agent", "email": "ana@brokerage.example"},
    {"name": "Ben Broker", "email": "ben@brokerage.example"},
    {"name": "Cara Closer", "email": "cara@brokerage.example"},
]


class Relay:
    """An aiosmtpd relay. `delay`: seconds each DATA takes; `drop_after`: after a session's
    n-th message its next MAIL is met by a hang-up (or, with `with_421`, by a 421);
    `refuse`: recipients answered 550."""

    def __init__(self, delay: float = 0.0, drop_after: int | None = None,
                 with_421: bool = False, refuse: tuple[str, ...] = (),
                 login: tuple[str, str] | None = None) -> None:
        self.delay, self.drop_after, self.with_421, self.refuse = (
            delay, drop_after, with_421, refuse)
        self.port = free_port()
        self.lock = threading.Lock()
        self.sessions = 0  # EHLOs: smtplib sends one per connection
        self.active = self.most = 0  # DATA in progress; the most at once
        self.received: list[Any] = []
        self.per_session: Counter[int] = Counter()
        self.logins: list[bool] = []  # each AUTH: whether it succeeded
        auth: dict[str, Any] = {}
        if login is not None:
            auth = {"authenticator": self._authenticate, "auth_required": True,
                    "auth_require_tls": False}  # plain AUTH on loopback, for the test only
        self.login = login
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **auth)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      data: Any) -> AuthResult:
        assert self.login is not None
        ok = isinstance(data, LoginPassword) and (
            data.login.decode(), data.password.decode()) == self.login
        with self.lock:
            self.logins.append(ok)
        return AuthResult(success=ok, handled=False)

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        with self.lock:
            self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if self.per_session[id(session)] == self.drop_after:  # three went out on this session
            if self.with_421:
                return "421 4.3.2 closing the channel"
            server.transport.close()  # a hang-up with no answer
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
        try:
            await asyncio.sleep(self.delay)
        finally:
            with self.lock:
                self.active -= 1
        with self.lock:
            self.received.append(message_from_bytes(envelope.original_content,
                                                    policy=policy.default))
            self.per_session[id(session)] += 1
        return "250 2.0.0 OK"

    def ids(self) -> Counter[str]:
        with self.lock:
            return Counter(str(m["Message-ID"]) for m in self.received)


async def until(predicate: Callable[[], bool], seconds: float = 20.0) -> None:
    """Poll (on the event loop) until predicate() holds; AssertionError on timeout."""
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {seconds}s")


@pytest.fixture
def relays() -> Iterator[Any]:
    made: list[Relay] = []

    def make(**kw: Any) -> Relay:
        made.append(Relay(**kw))
        made[-1].controller.start()
        return made[-1]

    yield make
    for relay in made:
        relay.controller.stop()


class World:
    """Settings with the relay and `connections`, a migrated database, and email rows."""

    def __init__(self, url: str, relay: Relay, connections: int, **email: Any) -> None:
        self.settings = config.validate(
            {
                "database": {"url": url},
                "notify": {"email": {"relay": f"127.0.0.1:{relay.port}",
                                     "connections": connections, "timeout": 10, **email}},
                "agents": AGENTS,
            },
            env={},
        )
        db.upgrade(url)
        self.engine = db.make_engine(url)

    def queue(self, n: int) -> list[str]:
        """n alerts, to the agents in turn; their Message-IDs."""
        agents = self.settings.agents
        with Session(self.engine) as s:
            for i in range(n):
                rendered = {"subject": f"New lead {i}", "text": f"Lead {i}", "html": f"<p>{i}</p>"}
                outbox.enqueue_email(s, self.settings, agents[i % len(agents)], rendered,
                                     f"lane-{i}")
            s.commit()
        return [f"<leadmail.lane-{i}@brokerage.example>" for i in range(n)]

    def rows(self) -> list[Outbox]:
        with Session(self.engine) as s:
            return list(s.exec(select(Outbox).order_by(col(Outbox.id))).all())

    def deliver_all(self) -> int:
        """deliver_due until nothing is left that is due."""
        total = 0
        while sent := outbox.deliver_due(self.engine, self.settings):
            total += sent
        return total


@pytest.fixture
def world(db_url: str) -> Iterator[Any]:
    made: list[World] = []

    def make(relay: Relay, connections: int = 4, **email: Any) -> World:
        made.append(World(db_url, relay, connections, **email))
        return made[-1]

    yield make
    for w in made:
        w.engine.dispose()


def test_200_alerts_arrive_once_each_over_at_most_connections_sessions(
    world: Any, relays: Any
) -> None:
    relay = relays()
    w = world(relay, connections=4)
    ids = w.queue(200)

    async def daemon_pass() -> int:  # as the daemon runs it: one pass, the lane takes the rest
        sender = outbox.Sender(w.engine, w.settings)
        await sender.run_pass()
        await until(lambda: sender.sent >= 200, seconds=60)
        await sender.finish(5)
        return sender.sent

    assert asyncio.run(daemon_pass()) == 200
    assert relay.ids() == Counter(ids)  # every one, exactly once
    assert relay.sessions <= 4, relay.sessions  # no reconnects here: `connections` at most
    assert {(r.status, r.attempts) for r in w.rows()} == {("sent", 1)}


def test_deliver_due_tries_each_due_row_once_per_call(world: Any, relays: Any) -> None:
    relay = relays()
    w = world(relay, connections=4)
    ids = w.queue(120)
    assert w.deliver_all() == 120  # 50 a call, each call on its own sessions
    assert relay.ids() == Counter(ids)
    assert relay.sessions <= 4 * 3, relay.sessions


def test_a_slow_relay_gets_several_messages_at_once(world: Any, relays: Any) -> None:
    relay = relays(delay=0.5)
    w = world(relay, connections=4)
    ids = w.queue(20)
    assert outbox.deliver_due(w.engine, w.settings) == 20
    assert relay.ids() == Counter(ids)
    assert 2 <= relay.most <= 4, relay.most  # DATA overlapped, never past `connections`
    assert relay.sessions <= 4


def test_one_connection_sends_one_message_at_a_time(world: Any, relays: Any) -> None:
    relay = relays(delay=0.05)
    w = world(relay, connections=1)
    w.queue(6)
    assert outbox.deliver_due(w.engine, w.settings) == 6
    assert (relay.most, relay.sessions) == (1, 1)


@pytest.mark.parametrize("how", ["hang-up", "421"])
def test_a_relay_that_ends_each_session_after_three_loses_nothing(
    world: Any, relays: Any, how: str
) -> None:
    relay = relays(drop_after=3, with_421=how == "421")
    w = world(relay, connections=2)
    ids = w.queue(20)
    assert outbox.deliver_due(w.engine, w.settings) == 20
    assert relay.ids() == Counter(ids)  # each once: a drop after the 250 doubles nothing
    assert {(r.status, r.attempts) for r in w.rows()} == {("sent", 1)}  # reconnected at once
    assert relay.sessions >= 20 // 3, relay.sessions  # a new session after every third


def test_a_refused_recipient_fails_only_its_own_rows(world: Any, relays: Any) -> None:
    relay = relays(refuse=("cara@brokerage.example",))
    w = world(relay, connections=1)
    w.queue(9)  # ana, ben, cara, ana, ...
    assert outbox.deliver_due(w.engine, w.settings) == 6
    rows = w.rows()
    assert [r.status for r in rows] == ["sent", "sent", "failed"] * 3
    assert all("550" in (r.last_error or "") for r in rows if r.status == "failed")
    assert relay.sessions == 1  # the session went on after each refusal (RSET)
    assert {str(m["To"]).split("<")[-1] for m in relay.received} == {
        "ana@brokerage.example>", "ben@brokerage.example>"}


def test_a_session_is_kept_across_passes_and_closed_at_the_stop(
    world: Any, relays: Any
) -> None:
    relay = relays()
    w = world(relay, connections=2)

    async def scenario() -> Any:
        sender = outbox.Sender(w.engine, w.settings)
        w.queue(1)
        await sender.run_pass()
        await until(lambda: sender.sent >= 1)
        lanes = len(sender.email.tasks)  # open, idle, waiting for more
        with Session(w.engine) as s:  # a second alert, as the pipeline would queue it
            outbox.enqueue_email(s, w.settings, w.settings.agents[1],
                                 {"subject": "Next", "text": "t", "html": "h"}, "lane-next")
            s.commit()
        await sender.run_pass()
        await until(lambda: sender.sent >= 2)
        await sender.finish(5)
        return lanes, len(sender.email.tasks), sender.email.sessions

    lanes, left, opened = asyncio.run(scenario())
    assert (lanes, left) == (1, 0)
    assert opened == relay.sessions == 1  # the second alert went on the first one's session
    assert len(relay.received) == 2


def test_a_stop_while_sending_gives_the_rows_in_flight_back(world: Any, relays: Any) -> None:
    relay = relays(delay=3.0)
    w = world(relay, connections=2)
    ids = w.queue(4)

    async def stop_mid_send() -> None:
        sender = outbox.Sender(w.engine, w.settings)
        await sender.run_pass()
        await until(lambda: relay.active == 2)
        await sender.finish(0.2)  # as the daemon does at a stop, with a short grace

    asyncio.run(stop_mid_send())
    rows = w.rows()
    now = utcnow()
    assert all(r.status == "pending" and r.claimed_by is None for r in rows)
    assert all(r.next_attempt_at is None or r.next_attempt_at <= now for r in rows)  # due now
    assert sorted(r.attempts for r in rows) == [0, 0, 1, 1]  # two were in flight
    relay.delay = 0.0
    assert outbox.deliver_due(w.engine, w.settings) == 4
    wait_for(lambda: set(relay.ids()) == set(ids))  # the cut two may arrive twice, same ID
    assert {r.status for r in w.rows()} == {"sent"}


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_each_session_logs_in_once_and_a_refused_login_fails_the_rows(
    world: Any, relays: Any
) -> None:
    relay = relays(login=("leadmail", "relay-secret"))
    w = world(relay, connections=2, username="leadmail", password="relay-secret")
    ids = w.queue(10)
    assert outbox.deliver_due(w.engine, w.settings) == 10
    assert relay.ids() == Counter(ids)
    assert relay.logins == [True] * relay.sessions and relay.sessions <= 2
    wrong = world(relay, connections=1, username="leadmail", password="not-it")
    with Session(wrong.engine) as s:  # only the new world's rows are due
        for row in s.exec(select(Outbox)).all():
            s.delete(row)
        s.commit()
    wrong.queue(2)
    assert outbox.deliver_due(wrong.engine, wrong.settings) == 0
    assert [(r.status, "535" in (r.last_error or "")) for r in wrong.rows()] == [
        ("failed", True)] * 2  # a 5xx to AUTH is permanent, as it was


@pytest.mark.parametrize("connections", [0, 33])
def test_connections_is_checked_at_start(connections: int, tmp_path: Path) -> None:
    data = {"database": {"url": f"sqlite:///{tmp_path / 'x.db'}"},
            "notify": {"email": {"connections": connections}}, "agents": AGENTS}
    with pytest.raises(ConfigErrors, match="notify.email.connections"):
        config.validate(data, env={})
