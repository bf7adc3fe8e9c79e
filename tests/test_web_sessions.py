"""Sign-in links and sessions of the web app (leadmail.sessions), on SQLite and PostgreSQL:
only configured people get a link, a link signs in once and only for 15 minutes (however many
browsers press its button at once), sessions are revocable, and only digests are stored."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from leadmail import config, sessions, tokens
from leadmail.clock import ManualClock, use
from leadmail.db import make_engine, upgrade
from leadmail.errors import ConfigErrors
from leadmail.followup.access import for_email
from leadmail.models import LoginLink, Outbox, WebSession

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ANA, MAX, BOSS = "ana@brokerage.example", "max@brokerage.example", "boss@brokerage.example"


def _settings(db_url: str) -> config.Settings:
    return config.validate({
        "database": {"url": db_url},
        "notify": {"email": {"relay": "127.0.0.1:2525", "sender": "leadmail@brokerage.example"}},
        "http": {"secret": "sessions-test-secret-0123456789"},
        "agents": [{"name": "Ana Agent", "email": ANA}, {"name": "Ben", "email":
                                                         "ben@brokerage.example"},
                   {"name": "Ada Admin", "email": "ada@brokerage.example", "role": "admin"}],
        "teams": [{"name": "All", "agents": [ANA], "managers": [MAX]}],
        "api_keys": [{"name": "boss", "key": "boss-key-0123456789abcdef", "role": "admin",
                      "user": BOSS}],
    })


@pytest.fixture
def world(db_url: str) -> Any:
    upgrade(db_url)
    engine = make_engine(db_url)
    clock = ManualClock(START)
    with use(clock):
        yield engine, _settings(db_url), clock
    engine.dispose()


def _token(engine: Any, email: str) -> str:
    """The link's token, as the queued email carries it."""
    with Session(engine) as session:
        rows = session.exec(select(Outbox).where(Outbox.recipient == email)).all()
    text = rows[-1].payload["text"]
    return next(w for w in text.split() if "/app/login/" in w).rsplit("/", 1)[1]


def test_who_may_sign_in() -> None:
    settings = _settings("sqlite://")
    roles = {e: getattr(for_email(settings, e), "role", None)
             for e in (" ANA@brokerage.example ", MAX, BOSS, "ada@brokerage.example")}
    # an admin is the user of an admin API key, or an [[agents]] entry with role = "admin"
    assert list(roles.values()) == ["agent", "manager", "admin", "admin"]
    assert for_email(settings, "nobody@brokerage.example") is None
    assert for_email(settings, "x" * 400 + "@a.example") is None
    assert for_email(settings, "") is None


def test_a_link_signs_in_once_within_15_minutes(world: Any) -> None:
    engine, settings, clock = world
    assert not sessions.request_link(engine, settings, "nobody@elsewhere.example",
                                     "https://leads.example")
    assert sessions.request_link(engine, settings, ANA, "https://leads.example")
    token = _token(engine, ANA)
    with Session(engine) as session:
        link = session.exec(select(LoginLink)).one()
        mail = session.exec(select(Outbox)).one()
    assert link.digest == tokens.secret_digest(token) and token not in link.digest
    assert mail.kind == "email" and mail.subject == "Sign in to leadmail"
    assert f"https://leads.example/app/login/{token}" in mail.payload["html"]
    assert sessions.link_is_open(engine, token)
    assert sessions.use_link(engine, settings, token + "x") is None  # a changed token: nothing
    opened = sessions.use_link(engine, settings, token, "Mozilla/5.0 " + "x" * 500)
    assert opened is not None and opened.session.email == ANA
    assert len(opened.session.user_agent or "") == 200
    assert not sessions.link_is_open(engine, token)
    assert sessions.use_link(engine, settings, token) is None  # once
    found = sessions.lookup(engine, settings, opened.token)
    assert found is not None and found[0].user == ANA
    # expired after 15 minutes, even unused
    assert sessions.request_link(engine, settings, ANA, "https://leads.example")
    late = _token(engine, ANA)
    clock.advance(minutes=15)
    assert not sessions.link_is_open(engine, late)
    assert sessions.use_link(engine, settings, late) is None
    # the session ends after 30 days
    clock.advance(days=30)
    assert sessions.lookup(engine, settings, opened.token) is None


def test_many_browsers_pressing_one_link_open_one_session(world: Any) -> None:
    engine, settings, _ = world
    sessions.request_link(engine, settings, MAX, "http://127.0.0.1:8025")
    token = _token(engine, MAX)
    results: list[Any] = []
    barrier = threading.Barrier(8)

    def press() -> None:
        barrier.wait()
        try:
            results.append(sessions.use_link(engine, settings, token))
        except Exception as exc:  # a lost race must not be an error either
            results.append(exc)

    threads = [threading.Thread(target=press) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(1 for r in results if isinstance(r, sessions.Opened)) == 1, results
    assert all(r is None or isinstance(r, sessions.Opened) for r in results), results
    with Session(engine) as session:
        assert len(session.exec(select(WebSession)).all()) == 1


def test_links_per_address_are_bounded(world: Any) -> None:
    engine, settings, clock = world
    sent = [sessions.request_link(engine, settings, ANA, "https://x.example") for _ in range(8)]
    assert sent == [True] * sessions.LINKS_PER_WINDOW + [False] * 3
    clock.advance(minutes=16)
    assert sessions.request_link(engine, settings, ANA, "https://x.example")


def test_revoke_and_a_removed_person(world: Any, db_url: str) -> None:
    engine, settings, _ = world
    one = sessions.open_session(engine, settings, ANA)
    two = sessions.open_session(engine, settings, ANA)
    boss = sessions.open_session(engine, settings, BOSS)
    with pytest.raises(ValueError):
        sessions.open_session(engine, settings, "nobody@elsewhere.example")
    assert [s.id for s in sessions.listing(engine, email=ANA)] == [two.session.id,
                                                                  one.session.id]
    assert sessions.revoke(engine, session_id=one.session.id) == 1
    assert sessions.lookup(engine, settings, one.token) is None
    assert sessions.lookup(engine, settings, two.token) is not None
    assert sessions.revoke(engine, email=ANA) == 1
    assert sessions.lookup(engine, settings, two.token) is None
    assert [s.email for s in sessions.listing(engine)] == [BOSS]
    assert len(sessions.listing(engine, live_only=False)) == 3
    with pytest.raises(ValueError):
        sessions.revoke(engine)
    # the admin key's entry is removed from the config: the session opens nothing any more
    data = _settings(db_url).model_dump(exclude_none=True)
    data["api_keys"] = []
    assert sessions.lookup(engine, config.validate(data), boss.token) is None
    assert sessions.lookup(engine, settings, None) is None
    assert sessions.lookup(engine, settings, "x" * 5000) is None


def test_csrf_tokens() -> None:
    secret = "sessions-test-secret-0123456789"
    token = tokens.csrf_token(secret, "digest-a")
    assert tokens.csrf_ok(secret, "digest-a", token)
    assert not tokens.csrf_ok(secret, "digest-b", token)
    assert not tokens.csrf_ok("another-secret-0123456789", "digest-a", token)
    assert not tokens.csrf_ok(secret, "digest-a", None)
    assert not tokens.csrf_ok(secret, "", tokens.csrf_token(secret, ""))
    assert len({tokens.new_secret() for _ in range(100)}) == 100


def test_untouched_after_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as err:
        config.validate({"followup": {"untouched_after": "soon"}})
    assert "followup.untouched_after" in str(err.value.errors)
    assert config.validate({"followup": {"untouched_after": "2h"}}).followup.untouched_after == 120


def test_the_link_never_takes_the_host_header(tmp_path: Path) -> None:
    """A forged Host header must not put another server into the mailed link."""
    import httpx

    from leadmail.web.app import create_app, make_server
    from tests.conftest import free_port, wait_for

    url = f"sqlite:///{tmp_path / 'l.db'}"
    upgrade(url)
    engine = make_engine(url)
    port = free_port()
    data = _settings(url).model_dump(exclude_none=True)
    data["http"]["listen"] = f"127.0.0.1:{port}"
    settings = config.validate(data)
    server = make_server(create_app(engine, dict, settings), "127.0.0.1", port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=10)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as web:
            form = web.get("/app/login")
            csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            r = web.post("/app/login", data={"email": ANA, "csrf": csrf},
                         headers={"Host": "evil.example"})
            assert r.status_code == 200 and "on its way" in r.text
            assert web.post("/app/login", data={"email": ANA}).status_code == 403  # no CSRF
        def queued() -> list[Outbox]:
            with Session(engine) as session:
                return list(session.exec(select(Outbox)).all())
        rows = wait_for(queued, timeout=10)
        assert len(rows) == 1
        assert f"http://127.0.0.1:{port}/app/login/" in rows[0].payload["text"]
        assert "evil.example" not in rows[0].payload["text"]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()
