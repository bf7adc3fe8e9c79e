"""A throwaway Dovecot on loopback for the IMAP tests (wraps dovecot-test-server.sh beside it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from imapclient import IMAPClient

SCRIPT = Path(__file__).with_name("dovecot-test-server.sh")


def _run(*args: str, env: dict[str, str] | None = None) -> dict[str, str]:
    done = subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    if done.returncode != 0:
        raise RuntimeError(f"dovecot-test-server.sh {' '.join(args)}: {done.stderr.strip()}")
    return dict(line.split("=", 1) for line in done.stdout.split() if "=" in line)


@dataclass
class Dovecot:
    """A running instance: its port, its folder, and its users' passwords."""

    port: int
    dir: Path
    users: dict[str, str]
    host: str = "127.0.0.1"
    running: bool = field(default=True)

    @classmethod
    def start(cls, users: dict[str, str]) -> Dovecot:
        """Start an instance with these users (the first is the script's main user)."""
        if shutil.which("dovecot") is None:
            pytest.fail(
                "Dovecot is required for the IMAP tests and is not installed "
                "(apt-get install dovecot-imapd; tools/test.sh does it)"
            )
        (first, password), *rest = users.items()
        env = {
            "DOVECOT_TEST_USER": first,
            "DOVECOT_TEST_PASSWORD": password,
            "DOVECOT_TEST_EXTRA_USERS": " ".join(f"{u}:{p}" for u, p in rest),
        }
        try:
            info = _run("start", "auto", env=env)
        except RuntimeError as exc:
            pytest.fail(f"could not start Dovecot: {exc}")
        return cls(int(info["IMAP_PORT"]), Path(info["DOVECOT_TEST_DIR"]), dict(users))

    def stop(self, keep: bool = False) -> None:
        """Stop the server; keep=True keeps its mail so `resume` can start it again."""
        if self.running:
            _run("stop", str(self.dir), env={"DOVECOT_TEST_KEEP": "1" if keep else "0"})
            self.running = False
        elif not keep and self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)

    def resume(self) -> None:
        """Start a kept instance again: same port, same mail."""
        _run("resume", str(self.dir))
        self.running = True

    def client(self, user: str, folder: str | None = "INBOX") -> IMAPClient:
        """A logged-in client (another mail user agent), folder selected."""
        c = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        c.login(user, self.users[user])
        if folder:
            c.select_folder(folder)
        return c

    def append(self, user: str, raw: bytes, folder: str = "INBOX", flags: tuple = ()) -> None:  # type: ignore[type-arg]
        """APPEND a message, as another client or an MDA over IMAP would."""
        c = self.client(user, folder=None)
        try:
            c.append(folder, raw, flags=flags)
        finally:
            c.logout()

    def deliver(self, user: str, raw: bytes) -> Path:
        """Drop a message straight into the user's Maildir/new, as an MDA does (server down)."""
        local, _, domain = user.partition("@")
        maildir = self.dir / "mail" / domain / local
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}.{uuid.uuid4().hex}.leadmail-test"
        tmp = maildir / "tmp" / name
        tmp.write_bytes(raw)
        owner = (self.dir / "mail").stat()
        for path in (maildir, *(maildir / s for s in ("tmp", "new", "cur")), tmp):
            os.chown(path, owner.st_uid, owner.st_gid)
        final = maildir / "new" / name
        tmp.rename(final)
        return final

    def folder(self, user: str, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
        """UID -> flags of every message in a folder."""
        c = self.client(user, folder)
        try:
            uids = c.search(["ALL"])
            return {uid: tuple(data[b"FLAGS"]) for uid, data in c.fetch(uids, ["FLAGS"]).items()}
        finally:
            c.logout()

    def flags_by_message_id(self, user: str, folder: str = "INBOX") -> dict[str, tuple]:  # type: ignore[type-arg]
        """Message-ID -> flags of every message in a folder."""
        c = self.client(user, folder)
        try:
            uids = c.search(["ALL"])
            data = c.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
            out = {}
            for item in data.values():
                header = next(v for k, v in item.items() if k.startswith(b"BODY[HEADER"))
                out[header.decode().split(":", 1)[1].strip()] = tuple(item[b"FLAGS"])
            return out
        finally:
            c.logout()

    def message_ids(self, user: str, folder: str = "INBOX") -> list[str]:
        """The Message-ID header of every message in a folder, sorted."""
        return sorted(self.flags_by_message_id(user, folder))
