"""Shared fixtures: real SMTP sinks, real daemons as subprocesses, real PostgreSQL databases."""

from __future__ import annotations

import os
import random
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PG_ADMIN_URL = os.environ.get("LEADMAIL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

AGENTS = [
    ("Ana Agent", "ana@brokerage.example", "+15125550100"),
    ("Ben Broker", "ben@brokerage.example", "+15125550101"),
    ("Cara Closer", "cara@brokerage.example", "+15125550102"),
]


def _below_ephemeral() -> tuple[int, int]:
    """Ports under the kernel's ephemeral range: no outgoing connection of this box (the
    tests' own clients, PostgreSQL's) is given one of them between free_port and the bind."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return (max(1024, low - 12000), low - 1) if low > 3024 else (49152, 65535)


_PORTS = random.Random(os.getpid() ^ time.monotonic_ns())


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    low, high = _below_ephemeral()
    for _ in range(200):
        port = _PORTS.randint(low, high)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test's report carries the logs of the daemons it ran."""
    outcome = yield
    report = outcome.get_result()
    tmp = getattr(item, "funcargs", {}).get("tmp_path")
    if report.failed and isinstance(tmp, Path):
        for log in sorted(tmp.glob("daemon-*.log")):
            text = log.read_text(errors="replace")
            report.sections.append((f"{log.name} (last 8000 characters)", text[-8000:]))


def wire(raw: bytes) -> bytes:
    """The bytes as an MTA puts them on the wire: CRLF line endings."""
    return message_from_bytes(raw, policy=policy.SMTP).as_bytes()


def send(port: int, raw: bytes, rcpt: str = "leads@brokerage.example") -> tuple[int, bytes]:
    """Send one message with stdlib smtplib; the (code, text) of the final reply."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo()
        smtp.mail("sender@portal.example")
        code, text = smtp.rcpt(rcpt)
        if code >= 400:
            return code, text
        return smtp.data(wire(raw))


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll until predicate() is truthy; its value, or AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# SMTP sink: a real aiosmtpd server that keeps what it receives


@dataclass
class Sink:
    """Messages received by the sink, with the time each arrived."""

    port: int
    messages: list[tuple[float, Any, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        with self.lock:
            self.messages.append((time.monotonic(), msg, envelope.original_content))
        return "250 2.0.0 OK"

    def to(self, addr: str) -> list[Any]:
        """Messages addressed to addr."""
        with self.lock:
            return [m for _, m, _ in self.messages if addr in str(m["To"])]


@pytest.fixture
def sink() -> Iterator[Sink]:
    """A running SMTP sink on a free port."""
    s = Sink(free_port())
    controller = Controller(s, hostname="127.0.0.1", port=s.port)
    controller.start()
    yield s
    controller.stop()


# ---------------------------------------------------------------------------------------------
# Config files


def agents_toml(agents: list[tuple[str, str, str]] = AGENTS, **extra: str) -> str:
    """[[agents]] tables for the given agents."""
    out = []
    for name, email, phone in agents:
        line = f'[[agents]]\nname = "{name}"\nemail = "{email}"\nphone = "{phone}"\n'
        if email in extra:
            line += extra[email] + "\n"
        out.append(line)
    return "\n".join(out)


def write_config(
    directory: Path,
    *,
    db_url: str,
    smtp_port: int,
    relay: str,
    extra: str = "",
    agents: str | None = None,
    rules_dir: Path | None = None,
) -> Path:
    """A complete leadmail.toml for a test."""
    path = directory / "leadmail.toml"
    path.write_text(f"""
[database]
url = "{db_url}"
[smtp]
listen = "127.0.0.1:{smtp_port}"
accept = ["leads@brokerage.example"]
[notify.email]
relay = "{relay}"
sender = "leadmail@brokerage.example"
[pipeline]
poll_interval = 0.2
[rules]
dir = "{rules_dir or (ROOT / "rules")}"
[log]
format = "json"
{extra}
{agents if agents is not None else agents_toml()}
""")
    return path


# ---------------------------------------------------------------------------------------------
# PostgreSQL: a fresh database per test that asks for one. Never skipped: CI must fail instead.


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped afterwards."""
    import psycopg

    name = f"leadmail_test_{uuid.uuid4().hex[:10]}"
    admin = PG_ADMIN_URL
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is required at {admin} and is not reachable: {exc}. "
            "tools/test.sh starts it; or set LEADMAIL_TEST_PG."
        )
    base = admin.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'leadmail.db'}"
    return str(request.getfixturevalue("pg_url"))


# ---------------------------------------------------------------------------------------------
# The daemon as a real subprocess


LEADMAIL = [sys.executable, "-m", "leadmail"]


@dataclass
class DaemonProc:
    """A `leadmail run` subprocess and how to reach it."""

    config: Path
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    def start(self, timeout: float = 30.0) -> DaemonProc:
        """Start and wait until SMTP answers."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        with self.log.open("ab") as fh:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [*LEADMAIL, "--config", str(self.config), "run"],
                stdout=fh,
                stderr=fh,
                env=env,
                cwd=self.config.parent,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.log_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"daemon did not listen within {timeout}s:\n{self.log_text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the daemon and wait for it; its exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # What it is stuck on: `leadmail run` prints its threads' stacks on SIGUSR1.
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(2)
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"daemon did not stop within {timeout}s:\n"
                                 f"{self.log_text()[-20000:]}") from None

    def log_text(self) -> str:
        """Everything the daemon logged so far."""
        return self.log.read_text(errors="replace")


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[..., DaemonProc]]:
    """Make daemons from configs; kills any left running at the end."""
    made: list[DaemonProc] = []

    def make(config: Path, port: int) -> DaemonProc:
        d = DaemonProc(config, port, tmp_path / f"daemon-{len(made)}.log")
        made.append(d)
        return d

    yield make
    for d in made:
        if d.proc and d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


def run_cli(
    *args: str,
    config: Path | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real `leadmail` CLI in a subprocess."""
    cmd = [*LEADMAIL, *(["--config", str(config)] if config else []), *args]
    result = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}, cwd=cwd
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{cmd} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def have(cmd: str) -> bool:
    """True when an executable is on PATH."""
    return shutil.which(cmd) is not None


# ---------------------------------------------------------------------------------------------
# Dovecot: a throwaway IMAP server per test that asks for one. Never skipped: CI must fail.

DOVECOT_USERS = {"agent@example.test": "secret", "second@example.test": "secret2"}


@pytest.fixture
def dovecot() -> Iterator[Any]:
    """A running Dovecot on a free loopback port with two accounts (DOVECOT_USERS)."""
    from tests.servers.dovecot import Dovecot

    server = Dovecot.start(DOVECOT_USERS)
    yield server
    server.stop()


# ---------------------------------------------------------------------------------------------
# A real browser: Debian's Chromium (tools/test.sh installs it), driven by Playwright, headless.
# One per test module that asks for it (Playwright's sync API keeps an event loop running in
# this thread while it is open: the tests after that module must find none, for asyncio.run);
# each test opens its own contexts (cookie jars) in it.

CHROMIUM = os.environ.get("LEADMAIL_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium; never skipped: a missing browser fails the tests that need it."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise AssertionError(f"{CHROMIUM} is missing: apt-get install chromium "
                             "(tools/test.sh does it)")
    with sync_playwright() as p:
        found = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                  args=["--no-sandbox"])
        yield found
        found.close()
