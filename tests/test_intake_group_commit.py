"""Group commit at SMTP/LMTP intake, on real sockets (smtplib) and real databases: concurrent
sessions share commits, each 250 follows its own commit, and one message that cannot be
stored fails only its own session.

Commits are counted with SQLAlchemy's `commit` event on the intake's engine. Where a test needs
messages to wait in one batch it holds the message table's write lock from another
connection (SQLite BEGIN IMMEDIATE, PostgreSQL LOCK TABLE) while they arrive, as a slow disk or
a busy peer would."""

from __future__ import annotations

import re
import smtplib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from leadmail import db, pipeline
from leadmail.models import Message
from tests.conftest import free_port, wait_for
from tests.test_pipeline import settings_for
from tests.test_smtp_intake import RCPT, Intake, mail
from tests.test_smtp_intake import start as start  # the fixture, on this module's engine

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
POISON = "poison@sender.example"  # the trigger below refuses messages from this sender


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'leadmail.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    db.upgrade(url)
    eng = db.make_engine(url)
    yield eng
    eng.dispose()


@pytest.fixture
def other(url: str, engine: Engine) -> Iterator[Engine]:
    """Another engine on the same database: its own connections, as another process has."""
    eng = db.make_engine(url)
    yield eng
    eng.dispose()


@pytest.fixture
def commits(engine: Engine) -> list[int]:
    """One entry per transaction committed on the intake's engine."""
    seen: list[int] = []
    event.listen(engine, "commit", lambda _conn: seen.append(1))
    return seen


def send(port: int, raw: bytes, *, sender: str = "portal@sender.example",
         rcpts: tuple[str, ...] = (RCPT,), lmtp: bool = False,
         ready: threading.Barrier | None = None) -> list[tuple[int, bytes]]:
    """One session, one message: the replies to DATA (one per recipient for LMTP). With
    `ready`, every client waits there after RCPT, so their DATA arrive together."""
    cls = smtplib.LMTP if lmtp else smtplib.SMTP
    with cls("127.0.0.1", port, timeout=60) as c:
        c.ehlo_or_helo_if_needed()
        c.mail(sender)
        for rcpt in rcpts:
            assert c.rcpt(rcpt)[0] == 250
        if ready is not None:
            ready.wait(30)
        c.putcmd("data")
        assert c.getreply()[0] == 354
        c.send(raw.rstrip(b"\r\n") + b"\r\n.\r\n")
        return [c.getreply() for _ in rcpts] if lmtp else [c.getreply()]


def stored_id(reply: tuple[int, bytes]) -> int:
    code, text = reply
    assert code == 250, reply
    found = re.search(rb"stored as #(\d+)", text, re.I)
    assert found, reply
    return int(found.group(1))


def rows(engine: Engine) -> list[Message]:
    with Session(engine) as s:
        return list(s.exec(select(Message).order_by(col(Message.id))).all())


@contextmanager
def write_lock(url: str) -> Iterator[None]:
    """Hold the message table's write lock from a connection of our own; released on exit."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split(":///", 1)[1], isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    with psycopg.connect(url) as pg:
        pg.execute("LOCK TABLE message IN EXCLUSIVE MODE")  # reads go on, inserts wait
        try:
            yield
        finally:
            pg.rollback()


def refuse_poison(engine: Engine) -> None:
    """A real constraint in the database: a trigger that refuses messages from POISON."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON message "
                f"WHEN NEW.mail_from = '{POISON}' BEGIN SELECT RAISE(ABORT, 'poison'); END")
            return
        conn.exec_driver_sql(
            "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.mail_from = '{POISON}' THEN RAISE EXCEPTION 'poison'; END IF; "
            "RETURN NEW; END $$")
        conn.exec_driver_sql("CREATE TRIGGER refuse_poison BEFORE INSERT ON message "
                             "FOR EACH ROW EXECUTE FUNCTION refuse_poison()")


Replies = list[tuple[int, bytes]]


def queue_behind_a_commit(server: Intake, url: str, pool: ThreadPoolExecutor,
                          sends: list[Callable[[], Replies]],
                          while_held: Callable[[], None] = lambda: None,
                          ) -> tuple[Replies, list[Replies]]:
    """The first of `sends` has its commit held on the write lock while the others run, until
    all of theirs wait for the next batch; then the lock goes. (the first's replies, the
    others' replies)."""
    writer = server.handler.writer
    with write_lock(url):
        first = pool.submit(sends.pop(0))
        wait_for(lambda: server.call(lambda: writer.batches == 1 and writer.waiting == 0))
        futures: list[Future[Replies]] = [pool.submit(s) for s in sends]
        wait_for(lambda: server.call(lambda: writer.waiting) == len(sends))
        while_held()
    return first.result(60), [f.result(60) for f in futures]


# ---------------------------------------------------------------------------------------------


def test_concurrent_sessions_share_commits_and_250_follows_each_commit(  # type: ignore[no-untyped-def]
    start, engine, other, commits
) -> None:
    server = start(max_sessions_per_ip=100)
    wakes: list[list[int]] = []
    server.handler.writer.on_batch = wakes.append
    clients = 40
    ready = threading.Barrier(clients)
    seen_at_250: dict[int, bytes | None] = {}

    def client(n: int) -> int:
        [reply] = send(server.port, mail(n), ready=ready)
        msg_id = stored_id(reply)
        # Right after the 250, from a connection of another engine: the row is there.
        with Session(other) as s:
            row = s.get(Message, msg_id)
            seen_at_250[n] = row.raw if row is not None else None
        return msg_id

    with ThreadPoolExecutor(clients) as pool:
        ids = list(pool.map(client, range(clients)))

    assert seen_at_250 == {n: mail(n) for n in range(clients)}
    got = rows(engine)
    assert sorted(m.id for m in got) == sorted(ids) and len(set(ids)) == clients
    assert sorted(m.message_id or "" for m in got) == sorted(
        f"<intake-{n}@buyers.example>" for n in range(clients))
    writer = server.handler.writer
    assert len(commits) == writer.commits == writer.batches < clients, len(commits)
    assert writer.fallbacks == 0
    # The pipeline is woken once per commit, with the ids that commit stored.
    assert len(wakes) == writer.batches and sorted(i for w in wakes for i in w) == sorted(ids)


def test_lmtp_sessions_in_one_commit_get_a_reply_per_recipient(  # type: ignore[no-untyped-def]
    start, engine, url, commits
) -> None:
    server = start(lmtp=True, accept=["@team.example"])
    rcpts = ("a@team.example", "b@team.example")
    with ThreadPoolExecutor(8) as pool:
        first, replies = queue_behind_a_commit(server, url, pool, [
            partial(send, server.port, mail(n), rcpts=rcpts, lmtp=True) for n in range(7)])
    stored_id(first[0])
    for per_rcpt in replies:
        ids = {stored_id(r) for r in per_rcpt}
        assert len(ids) == 1
        assert [r[1].split(b">")[0] for r in per_rcpt] == [b"2.0.0 <a@team.example",
                                                           b"2.0.0 <b@team.example"]
    assert len(rows(engine)) == 7
    assert len(commits) == server.handler.writer.commits == 2  # the first, then the six


def test_same_message_id_in_one_batch_is_one_lead_and_both_get_250(  # type: ignore[no-untyped-def]
    start, engine, url, commits, tmp_path
) -> None:
    server = start()
    with ThreadPoolExecutor(4) as pool:
        _, replies = queue_behind_a_commit(server, url, pool, [
            partial(send, server.port, mail(1)), partial(send, server.port, mail(7)),
            partial(send, server.port, mail(7))])
    ids = [stored_id(r) for [r] in replies]
    assert len(commits) == 2  # the two copies shared one commit
    copies = [m for m in rows(engine) if m.id in ids]
    assert len(copies) == 2 and copies[0].dedup_key == copies[1].dedup_key
    # As when stored apart: the first stored copy makes the lead, the other is its duplicate.
    rt = pipeline.Runtime.load(settings_for(url, tmp_path))
    outcomes = [pipeline.process(rt, engine, m.id) for m in copies if m.id is not None]
    assert [o.status for o in outcomes if o is not None] == ["lead", "duplicate"]
    with Session(engine) as s:
        second = s.get(Message, copies[1].id)
        assert second is not None and second.duplicate_of == copies[0].id


def test_message_that_cannot_be_stored_fails_only_its_own_session(  # type: ignore[no-untyped-def]
    start, engine, other, url, commits
) -> None:
    refuse_poison(other)
    server = start()
    sends = [partial(send, server.port, mail(n)) for n in range(6)]
    sends.insert(3, partial(send, server.port, mail(99), sender=POISON))
    with ThreadPoolExecutor(8) as pool:
        first, replies = queue_behind_a_commit(server, url, pool, sends)
    codes = [r[0][0] for r in replies]
    assert codes == [250, 250, 451, 250, 250, 250], replies
    assert b"4.3.0" in replies[2][0][1]
    writer = server.handler.writer
    assert writer.batches == 2 and writer.fallbacks == 1
    assert len(commits) == writer.commits == 1 + 5  # the first; then the five one by one
    got = rows(engine)
    assert sorted(m.id for m in got) == sorted(
        [stored_id(first[0])] + [stored_id(r[0]) for r in replies if r[0][0] == 250])
    assert POISON not in {m.mail_from for m in got}


def test_database_down_answers_451_to_every_session_of_the_batch(  # type: ignore[no-untyped-def]
    start, engine, url, tmp_path
) -> None:
    server = start()
    down = (f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}" if url.startswith("sqlite")
            else f"postgresql://postgres@127.0.0.1:{free_port()}/gone")

    def database_goes_down() -> None:
        server.handler.engine = create_engine(down)

    with ThreadPoolExecutor(8) as pool:
        first, replies = queue_behind_a_commit(
            server, url, pool, [partial(send, server.port, mail(n)) for n in range(5)],
            while_held=database_goes_down)
    stored_id(first[0])  # its batch had the engine that works
    assert [r[0][0] for r in replies] == [451] * 4
    assert all(b"4.3.0" in r[0][1] for r in replies)
    assert len(rows(engine)) == 1
    # The database is back: the same senders are taken.
    server.handler.engine = engine
    assert stored_id(send(server.port, mail(1))[0])
