"""Shared pieces of the bench scripts: the daemon as a subprocess, an alert sink that notes
duplicates, fresh PostgreSQL databases, open-loop SMTP sending, percentiles. Not a test module.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import smtplib
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/x.py` puts bench/ first, not the project
    sys.path.insert(0, str(ROOT))

from tests.conftest import DaemonProc, free_port, wire, write_config  # noqa: E402

__all__ = [
    "ROOT",
    "RCPT",
    "AlertSink",
    "Daemon",
    "DaemonProc",
    "free_port",
    "instance_config",
    "lead_message",
    "pct",
    "pg_database",
    "send_one",
    "open_loop",
    "process_tree",
    "stat_fields",
    "wire",
    "write_config",
]

RCPT = "leads@brokerage.example"
PG_ADMIN_URL = os.environ.get("LEADMAIL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
LEAD_EMAIL = re.compile(r"person(\d+)\.([0-9a-f]{6})@bench\.example")


def lead_message(n: int, run: str, message_id: str | None = None) -> bytes:
    """A person writing on their own (the Direct parser, NER for the name), on the wire."""
    msg = EmailMessage()
    msg["From"] = f"Person Number{n} <person{n}.{run}@bench.example>"
    msg["To"] = RCPT
    msg["Subject"] = f"Question about a house ({n})"
    msg["Message-ID"] = message_id or f"<bench-{n}.{run}@bench.example>"
    phone = f"512-555-{n % 10000:04d}"
    msg.set_content(
        f"Hi, my name is Person Number{n}. We are looking to buy a three-bedroom house near the "
        f"lake before the summer and would like to see the listing this weekend. "
        f"Please call me at {phone}.\n"
    )
    return msg.as_bytes(policy=policy.SMTP)


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of values; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# ---------------------------------------------------------------------------------------------
# The alert sink


@dataclass
class Alert:
    arrived: float
    message_id: str
    lead_id: str
    lead_n: int | None
    recipient: str


@dataclass
class AlertSink:
    """An SMTP relay stand-in: keeps every alert with its arrival time (monotonic clock)."""

    alerts: list[Alert] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.monotonic()
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        body = msg.get_body(("plain",))
        match = LEAD_EMAIL.search(body.get_content() if body else "")
        alert = Alert(
            now,
            str(msg.get("Message-ID", "")).strip(),
            str(msg.get("X-Leadmail-Lead", "")).strip(),
            int(match.group(1)) if match else None,
            ",".join(envelope.rcpt_tos),
        )
        with self.lock:
            self.alerts.append(alert)
        return "250 2.0.0 OK"

    def snapshot(self) -> list[Alert]:
        with self.lock:
            return list(self.alerts)

    def first_by_lead_n(self) -> dict[int, float]:
        """Lead number -> when its first alert arrived."""
        out: dict[int, float] = {}
        for a in self.snapshot():
            if a.lead_n is not None:
                out.setdefault(a.lead_n, a.arrived)
        return out


class SinkServer:
    """An aiosmtpd Controller around a sink that can be stopped and started again on the same
    port (a relay outage)."""

    def __init__(self, sink: Any, port: int | None = None) -> None:
        self.sink = sink
        self.port = port or free_port()
        self.ctl: Any = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        deadline = time.monotonic() + 10
        while True:
            try:
                self.ctl = Controller(self.sink, hostname="127.0.0.1", port=self.port)
                self.ctl.start()
                return
            except Exception:  # port still in TIME_WAIT / not released yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        if self.ctl is not None:
            self.ctl.stop()
            self.ctl = None

    @property
    def running(self) -> bool:
        return self.ctl is not None


# ---------------------------------------------------------------------------------------------
# The daemon


@dataclass
class Daemon:
    """`leadmail run` as a subprocess (tests.conftest.DaemonProc) plus CPU and peak-RSS readings
    taken from /proc while it runs."""

    proc: DaemonProc
    peak_rss_mib: float = 0.0  # highest VmHWM over every incarnation

    @classmethod
    def make(cls, directory: Path, config: Path, port: int) -> Daemon:
        return cls(DaemonProc(config, port, directory / "daemon.log"))

    @property
    def pid(self) -> int:
        assert self.proc.proc is not None
        return self.proc.proc.pid

    def start(self, timeout: float = 60.0) -> None:
        self.proc.start(timeout)

    def alive(self) -> bool:
        return self.proc.proc is not None and self.proc.proc.poll() is None

    def vmhwm_mib(self) -> float:
        """VmHWM (peak resident set) of the running daemon in MiB; also kept in peak_rss_mib."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    value = int(line.split()[1]) / 1024
                    self.peak_rss_mib = max(self.peak_rss_mib, value)
                    return value
        except (OSError, AssertionError):
            pass
        return float("nan")

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the daemon has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        """SIGKILL, as a power cut or the OOM killer would."""
        self.vmhwm_mib()
        self.proc.stop(signal.SIGKILL)

    def stop(self) -> int:
        """SIGTERM and wait; the exit code."""
        self.vmhwm_mib()
        return self.proc.stop(signal.SIGTERM, timeout=90)


LISTEN = re.compile(r'^(\s*(?:admin_)?listen\s*=\s*")([^"]*):(\d+)(")', re.M)
SECTION = re.compile(r"^\s*\[([^\]]+)\]", re.M)


def instance_config(config: Path, directory: Path) -> tuple[Path, int]:
    """A copy of config for one more instance on the same database: every listen address
    (SMTP, HTTP, HTTP admin) on a fresh port; (its path in directory, its SMTP port)."""
    text = config.read_text()
    smtp_port = 0
    out, last = [], 0
    for match in LISTEN.finditer(text):
        port = free_port()
        sections = SECTION.findall(text, 0, match.start())
        if sections and sections[-1].strip() == "smtp":
            smtp_port = port
        out += [text[last : match.start()], f"{match[1]}{match[2]}:{port}{match[4]}"]
        last = match.end()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / config.name
    path.write_text("".join(out) + text[last:])
    if not smtp_port:
        raise ValueError(f"{config}: no [smtp] listen address")
    return path, smtp_port


def stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (state, ppid, …: man 5 proc's fields 3 on, so
    utime is [11]); None once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_tree(pid: int) -> list[int]:
    """The process and every descendant of it running now (the daemon's fork server and
    reader processes)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = stat_fields(int(stat.parent.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += children.get(p, [])
    return tree


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the process and its live descendants, plus what its
    waited-for children used."""
    total = 0
    for p in process_tree(pid):
        fields = stat_fields(p)
        total += sum(int(f) for f in fields[11:15]) if fields else 0
    return total / os.sysconf("SC_CLK_TCK")


def tree_peak_rss_mib(pid: int) -> float:
    """The sum of the peak resident sets (VmHWM) of the process and its live descendants."""
    total = 0.0
    for p in process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


# ---------------------------------------------------------------------------------------------
# PostgreSQL


@contextlib.contextmanager
def pg_database(prefix: str = "leadmail_bench") -> Iterator[str]:
    """A new, empty PostgreSQL database for one run; dropped afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------------------------------------
# Sending


def send_one(port: int, raw: bytes, timeout: float = 60.0) -> tuple[int, bytes]:
    """One message over a new SMTP connection, as a portal's MTA delivers; (code, text)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=timeout) as conn:
        conn.ehlo("bench.example")
        conn.mail("portal@sender.example")
        code, text = conn.rcpt(RCPT)
        if code >= 400:
            return code, text
        return conn.data(raw)


@dataclass
class Sent:
    scheduled: float
    acked: float | None  # when the 250 came back; None if refused or failed
    code: int
    error: str = ""


def open_loop(port: int, messages: list[bytes], rate: float, threads: int = 64) -> list[Sent]:
    """Send messages[i] at start + i/rate whether or not earlier ones are answered yet (open
    loop: a slow server does not slow the arrivals down), each over its own connection."""
    results: list[Sent | None] = [None] * len(messages)

    def deliver(i: int, when: float) -> None:
        try:
            code, text = send_one(port, messages[i])
            ok = code == 250
            results[i] = Sent(when, time.monotonic() if ok else None, code, "" if ok else str(text))
        except (smtplib.SMTPException, OSError) as exc:
            results[i] = Sent(when, None, 0, f"{type(exc).__name__}: {exc}")

    start = time.monotonic() + 0.05
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for i in range(len(messages)):
            when = start + i / rate
            time.sleep(max(0.0, when - time.monotonic()))
            pool.submit(deliver, i, when)
    return [r for r in results if r is not None]
