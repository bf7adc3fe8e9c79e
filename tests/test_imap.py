"""IMAP watchers against a real Dovecot: mark only after storing, retry, cursor, auth, polling."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from imapclient import SEEN
from sqlmodel import Session, select

from leadmail import config, db
from leadmail.errors import ConfigErrors
from leadmail.intake import imap
from leadmail.models import ImapCursor, Message
from leadmail.store import store_raw
from tests.conftest import wait_for

USER, OTHER = "agent@example.test", "second@example.test"


def lead(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Person {n} <p{n}@buyers.example>"
    msg["To"] = USER
    msg["Subject"] = f"Inquiry {n}"
    msg["Message-ID"] = f"<imap-{n}@buyers.example>"
    msg.set_content(f"Hi, I am Person {n}; call me at 512-555-{n:04d}.")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Any]:
    url = f"sqlite:///{tmp_path / 'leadmail.db'}"
    db.upgrade(url)
    eng = db.make_engine(url)
    yield eng
    eng.dispose()


def account(dovecot: Any, user: str = USER, **keys: Any) -> config.ImapConfig:
    data = {
        "host": "127.0.0.1",
        "port": dovecot.port,
        "security": "none",
        "username": user,
        "password": dovecot.users[user],
        "backoff_max": 0.5,
        "timeout": 10,
        **keys,
    }
    return config.validate({"imap": [data]}, env={}).imap[0]


class Running:
    """A watcher on its thread."""

    def __init__(self, watcher: imap.ImapWatcher) -> None:
        self.watcher = watcher
        self.thread = threading.Thread(target=watcher.run, daemon=True)
        self.thread.start()

    def state(self) -> str:
        return str(self.watcher.status()["state"])

    def stop(self) -> None:
        self.watcher.stop.set()
        self.thread.join(15)
        assert not self.thread.is_alive()


@pytest.fixture
def watch(engine: Any) -> Iterator[Callable[..., Running]]:
    running: list[Running] = []

    def start(cfg: config.ImapConfig, folder: str = "INBOX", **kw: Any) -> Running:
        r = Running(imap.ImapWatcher(cfg, folder, engine, **kw))
        running.append(r)
        return r

    yield start
    for r in running:
        r.stop()


def messages(engine: Any) -> list[Message]:
    with Session(engine) as s:
        return list(s.exec(select(Message)).all())


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("processed_folder", [None, "Processed"], ids=["flag-seen", "move"])
def test_marked_only_after_the_store_committed(
    dovecot: Any, engine: Any, watch: Callable[..., Running], processed_folder: str | None
) -> None:
    seen_at_store: list[tuple[bytes, ...] | None] = []

    def store(raw: bytes) -> int:
        # At the moment of storing, the message is still unread, in place, on the server ...
        flags = dovecot.flags_by_message_id(USER)
        seen_at_store.append(flags.get("<imap-1@buyers.example>"))
        msg_id = store_raw(engine, raw, intake="imap")
        # ... and it is committed before the watcher goes on to mark it.
        assert any(m.id == msg_id for m in messages(engine))
        return msg_id

    cfg = account(dovecot, processed_folder=processed_folder)
    w = watch(cfg, store=store)
    wait_for(lambda: w.state() == "idle", timeout=10)
    dovecot.append(USER, lead(1))
    wait_for(lambda: w.watcher.stored == 1, timeout=5)
    assert seen_at_store == [()]  # no \Seen, not moved, when store_raw ran
    [msg] = messages(engine)
    assert msg.raw == lead(1)
    if processed_folder:
        wait_for(lambda: dovecot.folder(USER) == {}, timeout=5)
        assert dovecot.message_ids(USER, "Processed") == ["<imap-1@buyers.example>"]
    else:
        wait_for(lambda: list(dovecot.folder(USER).values()) == [(SEEN,)], timeout=5)


def test_store_failure_leaves_the_message_untouched_and_retries(
    dovecot: Any, engine: Any, watch: Callable[..., Running]
) -> None:
    attempts: list[int] = []

    def flaky_store(raw: bytes) -> int:
        attempts.append(1)
        if len(attempts) <= 2:
            raise OSError("database is unavailable")
        return store_raw(engine, raw, intake="imap")

    dovecot.append(USER, lead(2))
    w = watch(account(dovecot), store=flaky_store)
    wait_for(lambda: w.state() == "store_unavailable", timeout=10)
    status = w.watcher.status()
    assert not status["healthy"] and "database is unavailable" in status["last_error"]
    assert list(dovecot.folder(USER).values()) == [()]  # still unread, still there
    assert messages(engine) == []
    wait_for(lambda: w.watcher.stored == 1, timeout=10)
    wait_for(lambda: w.state() == "idle", timeout=5)
    assert list(dovecot.folder(USER).values()) == [(SEEN,)]
    assert len(messages(engine)) == 1 and len(attempts) == 3


def test_first_start_takes_unseen_mail_then_follows_the_cursor(
    dovecot: Any, engine: Any, watch: Callable[..., Running]
) -> None:
    dovecot.append(USER, lead(10), flags=(SEEN,))  # read before leadmail was set up: left alone
    dovecot.append(USER, lead(11))
    w = watch(account(dovecot))
    wait_for(lambda: w.watcher.stored == 1 and w.state() == "idle", timeout=10)
    w.stop()
    assert [m.message_id for m in messages(engine)] == ["<imap-11@buyers.example>"]
    with Session(engine) as s:
        cursor = s.exec(select(ImapCursor)).one()
    assert cursor.last_uid == 2 and cursor.folder == "INBOX"
    # While leadmail is down a new lead arrives and someone reads it in their mail program:
    # the cursor still finds it.
    dovecot.append(USER, lead(12), flags=(SEEN,))
    w2 = watch(account(dovecot))
    wait_for(lambda: w2.watcher.stored == 1, timeout=10)
    assert [m.message_id for m in messages(engine)][-1] == "<imap-12@buyers.example>"
    w2.stop()
    # The folder is rebuilt (UIDVALIDITY changes): back to taking only the unseen messages.
    with Session(engine) as s:
        row = s.exec(select(ImapCursor)).one()
        row.uidvalidity += 1
        s.add(row)
        s.commit()
    dovecot.append(USER, lead(13))
    w3 = watch(account(dovecot))
    wait_for(lambda: w3.watcher.stored == 1 and w3.state() == "idle", timeout=10)
    ids = [m.message_id for m in messages(engine)]
    assert ids == [f"<imap-{n}@buyers.example>" for n in (11, 12, 13)]


def test_polling_when_idle_is_off(dovecot: Any, engine: Any, watch: Callable[..., Running]) -> None:
    w = watch(account(dovecot, idle=False, poll_interval=0.3))
    wait_for(lambda: w.state() == "polling", timeout=10)
    dovecot.append(USER, lead(20))
    wait_for(lambda: w.watcher.stored == 1, timeout=5)
    assert list(dovecot.folder(USER).values()) == [(SEEN,)]


def test_repeated_auth_failures_stop_the_hammering(
    dovecot: Any, engine: Any, watch: Callable[..., Running]
) -> None:
    cfg = account(dovecot, password="wrong", max_auth_failures=2, auth_retry_after=600)
    w = watch(cfg)
    wait_for(lambda: w.state() == "auth_failed", timeout=10)
    status = w.watcher.status()
    assert status["auth_failures"] == 2 and not status["healthy"]
    assert "login refused 2 times" in status["last_error"]
    time.sleep(1.5)  # backoff_max is 0.5 s: it would have tried twice more by now
    assert w.watcher.status()["auth_failures"] == 2 and w.state() == "auth_failed"


def test_server_gone_then_back_reconnects_with_backoff(
    dovecot: Any, engine: Any, watch: Callable[..., Running]
) -> None:
    w = watch(account(dovecot, backoff_max=1))
    wait_for(lambda: w.state() == "idle", timeout=10)
    dovecot.stop(keep=True)
    wait_for(lambda: w.state() == "backoff", timeout=5)
    assert w.watcher.status()["last_error"]
    dovecot.deliver(USER, lead(30))  # the MTA keeps delivering while IMAP is down
    time.sleep(1.0)
    dovecot.resume()
    wait_for(lambda: w.watcher.stored == 1, timeout=10)
    wait_for(lambda: w.state() == "idle", timeout=5)
    assert [m.message_id for m in messages(engine)] == ["<imap-30@buyers.example>"]


def test_backoff_is_capped_exponential() -> None:
    assert [imap.backoff_seconds(n, 300) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert imap.backoff_seconds(20, 300) == 300
    assert imap.backoff_seconds(5, 0.5) == 0.5


def test_oauth2_token_command_feeds_xoauth2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[str, str]] = []

    class FakeClient:
        def __init__(self, host: str, **kw: Any) -> None:
            assert kw["ssl"] is True and kw["port"] == 993

        def oauth2_login(self, user: str, token: str) -> None:
            calls.append((user, token))

    monkeypatch.setattr(imap, "IMAPClient", FakeClient)
    script = tmp_path / "token"
    script.write_text("#!/bin/sh\necho ya29.token-for-$1\n")
    script.chmod(0o755)
    cfg = config.validate(
        {
            "imap": [
                {
                    "host": "imap.gmail.com",
                    "username": "leads@brokerage.example",
                    "oauth2_token_command": f"{script} leads",
                }
            ]
        },
        env={},
    ).imap[0]
    watcher = imap.ImapWatcher(cfg, "INBOX", engine=None)  # type: ignore[arg-type]
    watcher._connect()
    assert calls == [("leads@brokerage.example", "ya29.token-for-leads")]
    failing = cfg.model_copy(update={"oauth2_token_command": "sh -c 'echo no grant >&2; exit 3'"})
    with pytest.raises(imap.TokenCommandFailed, match="exited 3: no grant"):
        imap.ImapWatcher(failing, "INBOX", engine=None)._connect()  # type: ignore[arg-type]


def test_imap_config_keys_and_secrets(tmp_path: Path) -> None:
    secret = tmp_path / "imap.secret"
    secret.write_text("from-a-file\n")
    base = {"host": "imap.example.com", "username": "leads@brokerage.example"}
    s = config.validate(
        {
            "imap": [
                {**base, "password_file": str(secret), "folders": ["INBOX", "Leads"]},
                {**base, "password_env": "IMAP_PW", "security": "starttls", "name": "shared"},
            ]
        },
        env={"IMAP_PW": "from-env"},
    )
    assert [a.password for a in s.imap] == ["from-a-file", "from-env"]
    assert [a.real_port for a in s.imap] == [993, 143]
    assert s.imap[1].label == "shared" and s.imap[0].processed_folder is None

    def errors(account: dict[str, Any], env: dict[str, str] | None = None) -> list[str]:
        with pytest.raises(ConfigErrors) as info:
            config.validate({"imap": [account]}, env=env or {})
        return [str(e) for e in info.value.errors]

    assert errors({**base, "password": "x", "security": "none"})[0].startswith(
        "imap[0].security: 'none' sends the password in clear"
    )
    assert errors({**base})[0].startswith("imap[0].password: give exactly one of")
    assert errors({**base, "password": "x", "oauth2_token_command": "t"})[0].startswith(
        "imap[0].password: give exactly one of"
    )
    assert errors({**base, "password_env": "NOPE"}) == [
        "imap[0].password_env: environment variable NOPE is not set"
    ]
    assert errors({**base, "password_file": "/nope"})[0].startswith(
        "imap[0].password_file: cannot read /nope"
    )
    assert errors({**base, "password": "x", "processed_folder": "INBOX"})[0].startswith(
        "imap[0].processed_folder: must not be one of the watched folders"
    )
    assert errors({**base, "password": "x", "idle_renew": 3600})[0].startswith(
        "imap[0].idle_renew:"
    )
    assert errors({**base, "password": "x", "sekurity": "ssl"}) == ["imap[0].sekurity: unknown key"]
