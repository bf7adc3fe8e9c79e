"""IMAP intake: watch folders with IDLE (or by polling), store each new message, then mark it.

One watcher per (account, folder), each in its own thread (imapclient blocks). For every new
message, in this order:

    FETCH BODY.PEEK[] (leaves \\Seen alone) → store_raw (committed) → \\Seen or MOVE → cursor

so a message is marked only once it is stored, and a message that fails to store stays
untouched and is fetched again later. A crash between two steps fetches the message again;
the store's dedup key makes that copy a duplicate, never a second lead.

The cursor is the folder's UIDVALIDITY and the last UID done (RFC 3501 2.3.1.1): with it, mail
that arrived while leadmail was down is picked up even if someone read it meanwhile. Without one
(first start, or UIDVALIDITY changed) the unseen messages are taken and the read ones left alone.
"""

from __future__ import annotations

import imaplib
import shlex
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from imapclient import DELETED, SEEN, IMAPClient
from imapclient.exceptions import LoginError
from sqlalchemy.engine import Engine

from leadmail.clock import utcnow
from leadmail.config import ImapConfig
from leadmail.db import session_scope
from leadmail.intake.lease import Lease
from leadmail.models import ImapCursor
from leadmail.queue import backoff_seconds  # reconnect waits: 1, 2, 4, ... s, capped
from leadmail.store import store_raw

log = structlog.get_logger("leadmail.imap")

BATCH = 20  # UIDs fetched, stored and marked per round
HEALTHY = ("connecting", "idle", "polling", "fetching", "standby")  # standby: a peer watches


class LeaseLost(Exception):
    """Another instance holds this folder's lease now: stop watching, stand by."""


class StoreUnavailable(Exception):
    """The database refused the message: leave it on the server and try again later."""


class TokenCommandFailed(Exception):
    """The OAuth2 token command failed (not counted as a wrong password)."""


def fetch_token(command: str, timeout: float) -> str:
    """Run the configured token command; its stdout is the OAuth2 access token."""
    try:
        done = subprocess.run(
            shlex.split(command), capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TokenCommandFailed(f"token command failed: {exc}") from None
    token = done.stdout.strip()
    if done.returncode != 0 or not token:
        detail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise TokenCommandFailed(f"token command exited {done.returncode}: {detail[0][:200]}")
    return token


@dataclass
class Cursor:
    """Where a folder stands: UIDs up to last_uid are done; known=False: no cursor yet."""

    uidvalidity: int
    last_uid: int = 0
    known: bool = False


class ImapWatcher:
    """Watches one folder of one account until `stop` is set; `run` is the thread's body."""

    def __init__(
        self,
        cfg: ImapConfig,
        folder: str,
        engine: Engine,
        on_stored: Callable[[int], None] = lambda _id: None,
        *,
        store: Callable[[bytes], int] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.cfg = cfg
        self.folder = folder
        self.engine = engine
        self.on_stored = on_stored
        self.store = store or self._store
        self.stop = stop or threading.Event()
        self.log = log.bind(account=cfg.label, folder=folder)
        self.state = "starting"
        self._logged = "starting"
        self.since = utcnow()
        self.last_error: str | None = None
        self.stored = 0
        self.auth_failures = 0
        self.cursor: Cursor | None = None
        self._lock = threading.Lock()
        self._healthy = False  # this session got as far as SELECT: reset the backoff
        self._target_ok = False  # processed_folder known to exist in this session
        self.lease = Lease(engine, cfg.label, folder, cfg.lease_seconds)

    # -- health ------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """A snapshot for health checks: state, since when, the last error, counters."""
        with self._lock:
            return {
                "account": self.cfg.label,
                "folder": self.folder,
                "state": self.state,
                "healthy": self.state in HEALTHY,
                "since": self.since.isoformat(),
                "last_error": self.last_error,
                "stored": self.stored,
                "auth_failures": self.auth_failures,
                "uidvalidity": self.cursor.uidvalidity if self.cursor else None,
                "last_uid": self.cursor.last_uid if self.cursor else None,
            }

    def _set(self, state: str, error: str | None = None, **info: Any) -> None:
        """Record a state; log it once when it changes (not on every retry or fetch)."""
        with self._lock:
            self.state = state
            if error is not None:
                self.last_error = error
            changed = state != self._logged and state != "fetching"
            if changed:
                self._logged, self.since = state, utcnow()
        if not changed:
            return
        if state in HEALTHY or state == "stopped":
            self.log.info(f"imap {state}", **info)
        else:
            self.log.warning(f"imap {state}", error=error, **info)

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        """Connect, watch, and on any error reconnect with capped exponential backoff."""
        failures = 0
        while not self.stop.is_set():
            self._healthy = False
            try:
                if not self._hold_lease():
                    self._set("standby", holder=self.lease.current_holder)
                    self.stop.wait(self.lease.ttl / 3)
                    continue
                self._session()
                continue  # returns only when stopping
            except LeaseLost:
                self._set("standby", holder=self.lease.current_holder)
                continue
            except LoginError as exc:
                if isinstance(exc.__context__, imaplib.IMAP4.abort):
                    failures, state, error = failures + 1, "backoff", f"connection lost: {exc}"
                else:
                    with self._lock:
                        self.auth_failures += 1
                    if self.auth_failures >= self.cfg.max_auth_failures:
                        self._set(
                            "auth_failed",
                            f"login refused {self.auth_failures} times: {exc}",
                            retry_in=self.cfg.auth_retry_after,
                        )
                        self.stop.wait(self.cfg.auth_retry_after)
                        with self._lock:
                            self.auth_failures = 0
                        continue
                    failures, state, error = failures + 1, "backoff", f"login refused: {exc}"
            except StoreUnavailable as exc:
                failures = 1 if self._healthy else failures + 1
                state, error = "store_unavailable", str(exc)
            except Exception as exc:  # network errors, server restarts, protocol surprises
                failures = 1 if self._healthy else failures + 1
                state, error = "backoff", f"{type(exc).__name__}: {exc}"
            delay = backoff_seconds(failures, self.cfg.backoff_max)
            self._set(state, error, retry_in=delay)
            self.stop.wait(delay)
        try:
            self.lease.release()
        except Exception as exc:  # the database is gone: the lease simply expires
            self.log.warning("could not release the imap lease", error=str(exc))
        self._set("stopped")

    def _hold_lease(self) -> bool:
        """Take or renew this folder's lease (one watcher per folder across instances)."""
        try:
            return self.lease.acquire()
        except Exception as exc:
            raise StoreUnavailable(f"lease: {type(exc).__name__}: {exc}") from exc

    def _session(self) -> None:
        self._set("connecting", host=self.cfg.host, port=self.cfg.real_port)
        self._target_ok = False
        client = self._connect()
        try:
            with self._lock:
                self.auth_failures = 0
            info = client.select_folder(self.folder)
            uidvalidity = int(info[b"UIDVALIDITY"])
            self.cursor = self._load_cursor(uidvalidity)
            uidnext = int(info.get(b"UIDNEXT") or 0)
            use_idle = self.cfg.idle and client.has_capability("IDLE")
            self._healthy = True
            while not self.stop.is_set():
                if self.lease.renew_due() and not self._hold_lease():
                    raise LeaseLost
                self._drain(client, uidnext)
                if use_idle:
                    self._idle(client)
                else:
                    self._set("polling", interval=self.cfg.poll_interval)
                    # Wake in time to renew the lease, even when polling less often.
                    if self.stop.wait(min(self.cfg.poll_interval, self.lease.ttl / 3)):
                        break
                    client.noop()  # lets the server report new mail before the SEARCH
        finally:
            self._close(client)

    def _connect(self) -> IMAPClient:
        cfg = self.cfg
        context = None
        if cfg.security != "none":
            context = ssl.create_default_context(cafile=cfg.tls_ca)
        client = IMAPClient(
            cfg.host,
            port=cfg.real_port,
            ssl=cfg.security == "ssl",
            ssl_context=context,
            timeout=cfg.timeout,
        )
        try:
            if cfg.security == "starttls":
                client.starttls(context)
            if cfg.oauth2_token_command:
                token = fetch_token(cfg.oauth2_token_command, cfg.timeout)
                client.oauth2_login(cfg.username, token)
            else:
                assert cfg.password is not None
                client.login(cfg.username, cfg.password)
        except BaseException:
            self._close(client, logout=False)
            raise
        return client

    def _close(self, client: IMAPClient, logout: bool = True) -> None:
        try:
            if logout:
                client.logout()
            else:
                client.shutdown()
        except Exception:  # the connection is already gone; nothing to tidy
            try:
                client.shutdown()
            except Exception:
                pass

    def _idle(self, client: IMAPClient) -> None:
        """Wait for new mail in IDLE (RFC 2177), renewed every idle_renew seconds."""
        self._set("idle", renew=self.cfg.idle_renew)
        client.idle()
        deadline = time.monotonic() + self.cfg.idle_renew
        try:
            while (not self.stop.is_set() and time.monotonic() < deadline
                   and not self.lease.renew_due()):
                started = time.monotonic()
                responses = client.idle_check(timeout=1.0)
                if any(r[0] == b"BYE" for r in responses if isinstance(r, tuple)):
                    raise ConnectionError("the server said BYE")
                if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                    return
                if not responses and time.monotonic() - started < 0.5:
                    return  # woke with nothing to read: EOF; idle_done below finds out
        finally:
            client.idle_done()

    # -- new messages ------------------------------------------------------------------------

    def _drain(self, client: IMAPClient, uidnext: int) -> None:
        """Store and mark every pending message, oldest first."""
        assert self.cursor is not None
        first_run = not self.cursor.known
        done_max = 0
        while not self.stop.is_set():
            pending = self._pending(client, first_run, done_max)
            if not pending:
                break
            batch = pending[:BATCH]
            done_max = max(done_max, self._take(client, batch, save=not first_run))
            if len(pending) <= BATCH:
                break
        if first_run and not self.stop.is_set():
            # Everything unseen is done: from now on every UID above this counts as new.
            self._save_cursor(max(done_max, uidnext - 1, 0))

    def _pending(self, client: IMAPClient, first_run: bool, done_max: int) -> list[int]:
        assert self.cursor is not None
        if first_run:
            uids = client.search(["UNSEEN", "UNDELETED"])
            return sorted(u for u in uids if u > done_max)
        last = self.cursor.last_uid
        uids = client.search(["UID", f"{last + 1}:*", "UNDELETED"])
        return sorted(u for u in uids if u > last)  # "N:*" always matches the newest message

    def _take(self, client: IMAPClient, uids: list[int], save: bool) -> int:
        """Fetch, store, then mark a batch; the highest UID done. Stops at a store failure."""
        self._set("fetching")
        sizes = client.fetch(uids, ["RFC822.SIZE"])
        done: list[int] = []
        stored: list[int] = []
        failure: Exception | None = None
        for uid in uids:
            size = int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0))
            if uid not in sizes:
                done.append(uid)  # expunged meanwhile by someone else
                continue
            if size > self.cfg.max_message_size:
                self.log.error(
                    "message too large; left in the mailbox untouched",
                    uid=uid,
                    size=size,
                    limit=self.cfg.max_message_size,
                )
                done.append(uid)
                continue
            body = client.fetch([uid], ["BODY.PEEK[]"]).get(uid, {}).get(b"BODY[]")
            if body is None:
                done.append(uid)
                continue
            try:
                msg_id = self.store(bytes(body))
            except Exception as exc:
                failure = exc
                break
            with self._lock:
                self.stored += 1
            self.log.info("stored", msg=msg_id, uid=uid, size=len(body))
            self.on_stored(msg_id)
            done.append(uid)
            stored.append(uid)
        if stored:
            self._mark(client, stored)
        if done and save:
            self._save_cursor(max(done))
        if failure is not None:
            raise StoreUnavailable(
                f"could not store UID {uids[len(done)]}: {type(failure).__name__}: {failure}"
            ) from failure
        return max(done, default=0)

    def _mark(self, client: IMAPClient, uids: list[int]) -> None:
        """Stored: move to processed_folder, or flag \\Seen and leave in place."""
        target = self.cfg.processed_folder
        if not target:
            client.add_flags(uids, [SEEN], silent=True)
            return
        if not self._target_ok:
            if not client.folder_exists(target):
                client.create_folder(target)
                self.log.info("created folder", created=target)
            self._target_ok = True
        if client.has_capability("MOVE"):
            client.move(uids, target)
        else:  # RFC 3501 without MOVE: copy, flag \Deleted, expunge just these (UIDPLUS)
            client.copy(uids, target)
            client.add_flags(uids, [SEEN, DELETED], silent=True)
            if client.has_capability("UIDPLUS"):
                client.uid_expunge(uids)
            else:
                client.expunge()

    # -- the cursor and the store ------------------------------------------------------------

    @property
    def account(self) -> str:
        """The cursor's account key: stable across port and security changes."""
        return f"{self.cfg.username}@{self.cfg.host}"

    def _load_cursor(self, uidvalidity: int) -> Cursor:
        try:
            with session_scope(self.engine) as session:
                row = session.get(ImapCursor, (self.account, self.folder))
                old = (row.uidvalidity, row.last_uid) if row else None
        except Exception as exc:
            raise StoreUnavailable(f"cannot read the IMAP cursor: {exc}") from exc
        if old is None:
            self.log.info("no cursor yet: taking the unseen messages", uidvalidity=uidvalidity)
            return Cursor(uidvalidity)
        if old[0] != uidvalidity:
            self.log.warning(
                "UIDVALIDITY changed: the folder was rebuilt; taking the unseen messages",
                was=old[0],
                now=uidvalidity,
            )
            return Cursor(uidvalidity)
        return Cursor(uidvalidity, old[1], known=True)

    def _save_cursor(self, last_uid: int) -> None:
        assert self.cursor is not None
        try:
            with session_scope(self.engine) as session:
                row = session.get(ImapCursor, (self.account, self.folder))
                if row is None:
                    row = ImapCursor(account=self.account, folder=self.folder, uidvalidity=0)
                row.uidvalidity, row.last_uid = self.cursor.uidvalidity, last_uid
                row.updated_at = utcnow()
                session.add(row)
        except Exception as exc:
            raise StoreUnavailable(f"cannot save the IMAP cursor: {exc}") from exc
        self.cursor.last_uid, self.cursor.known = last_uid, True

    def _store(self, raw: bytes) -> int:
        return store_raw(self.engine, raw, mail_from="", rcpt_to=[self.cfg.username], intake="imap",
                         imap_account=self.account, imap_folder=self.folder)


class ImapIntake:
    """All configured watchers, each on its own thread; stop() ends them."""

    def __init__(
        self, accounts: list[ImapConfig], engine: Engine, on_stored: Callable[[int], None]
    ) -> None:
        self.stop_event = threading.Event()
        self.watchers = [
            ImapWatcher(cfg, folder, engine, on_stored, stop=self.stop_event)
            for cfg in accounts
            for folder in cfg.watched
        ]
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start one thread per watched folder."""
        for i, watcher in enumerate(self.watchers):
            thread = threading.Thread(
                target=watcher.run, name=f"imap-{i}-{watcher.folder}", daemon=True
            )
            thread.start()
            self.threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask every watcher to stop and wait for them (blocking: call from a thread)."""
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def status(self) -> list[dict[str, Any]]:
        """Each watcher's health snapshot."""
        return [w.status() for w in self.watchers]
