"""SMTP intake throughput: N leads sent over SMTP into a running `leadmail run`, timed from each
250 to its alert reaching an SMTP sink; beside the bare aiosmtpd accept rate measured in the same
run, and the daemon's peak RSS. A script, not a test: timings belong in a report.

    python bench/smtp_throughput.py [-n 1000] [-c 4] [--db URL|postgresql] [--instances 2]

The daemon runs as a subprocess on a throwaway SQLite file (or --db, e.g. a fresh PostgreSQL
database); the sink and the clients run here, on one monotonic clock.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import pg_database, tree_cpu_seconds, tree_peak_rss_mib  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RCPT = "leads@brokerage.example"
LEAD_EMAIL = re.compile(r"person(\d+)@bench\.example")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lead(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Person Number{n} <person{n}@bench.example>"
    msg["To"] = RCPT
    msg["Subject"] = f"Question about a house ({n})"
    msg["Message-ID"] = f"<bench-{n}-{os.getpid()}@bench.example>"
    phone = f"512-555-{n % 10000:04d}"
    msg.set_content(f"Hi, my name is Person Number{n}. Please call me at {phone}.\n")
    return msg.as_bytes(policy=policy.SMTP)


class AlertSink:
    """Records when the alert about lead n arrives."""

    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.monotonic()
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        body = msg.get_body(("plain",))
        match = LEAD_EMAIL.search(body.get_content() if body else "")
        with self.lock:
            self.count += 1
            if match:
                self.arrived.setdefault(int(match.group(1)), now)
        return "250 2.0.0 OK"


class Bare:
    """The bare aiosmtpd handler: keep the bytes in a list, answer 250."""

    def __init__(self) -> None:
        self.kept: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.kept.append(envelope.original_content)
        return "250 OK"


def send_all(
    ports: list[int], messages: list[bytes], clients: int, rate: float = 0
) -> tuple[float, dict[int, float]]:
    """Send every message over `clients` connections (spread over the `ports`), at most
    `rate` per second (0: as fast as they go); (seconds, n -> time of its 250)."""
    acked: dict[int, float] = {}
    errors: list[str] = []
    started = time.monotonic()

    def worker(part: int) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", ports[part % len(ports)], timeout=60) as conn:
                conn.ehlo("bench.example")
                for n in range(part, len(messages), clients):
                    if rate:
                        time.sleep(max(0.0, started + n / rate - time.monotonic()))
                    conn.mail("portal@sender.example")
                    conn.rcpt(RCPT)
                    code, text = conn.data(messages[n])
                    if code != 250:
                        errors.append(f"{n}: {code} {text!r}")
                    acked[n] = time.monotonic()
        except (smtplib.SMTPException, OSError) as exc:
            errors.append(f"client {part}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"{len(errors)} messages refused, e.g. {errors[:3]}")
    return time.monotonic() - started, acked


def start_daemon(directory: Path, db_url: str, relay_port: int) -> tuple[Any, int]:
    """A `leadmail run` subprocess on the shared database; (process, its SMTP port)."""
    directory.mkdir(parents=True)
    port = free_port()
    agents = "".join(
        f'[[agents]]\nname = "Agent {a}"\nemail = "agent{a}@brokerage.example"\n' for a in "ABC"
    )
    cfg = directory / "leadmail.toml"
    cfg.write_text(
        f'[database]\nurl = "{db_url}"\n[smtp]\nlisten = "127.0.0.1:{port}"\naccept = ["{RCPT}"]\n'
        f'[notify.email]\nrelay = "127.0.0.1:{relay_port}"\n'
        f'[pipeline]\npoll_interval = 0.2\n[rules]\ndir = "{ROOT / "rules"}"\n'
        f'[log]\nlevel = "warning"\nformat = "json"\n{agents}'
    )
    log = (directory / "daemon.log").open("wb")
    daemon = subprocess.Popen([sys.executable, "-m", "leadmail", "--config", str(cfg), "run"],
                              stdout=log, stderr=log, cwd=directory)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return daemon, port
        except OSError:
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"daemon did not start; see {directory / 'daemon.log'}") from None
            time.sleep(0.05)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    """Run both measurements and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--messages", type=int, default=1000)
    ap.add_argument("-c", "--clients", type=int, default=4, help="concurrent SMTP connections")
    ap.add_argument("--db", help="database URL, or 'postgresql' for a fresh database on the "
                    "local server (default: a throwaway SQLite file)")
    ap.add_argument("--instances", type=int, default=1,
                    help="daemons sharing the database, the clients spread over them")
    ap.add_argument(
        "--rate", type=float, default=0, help="send at most this many msg/s (default: flat out)"
    )
    ap.add_argument("--timeout", type=float, default=600, help="seconds to wait for the alerts")
    args = ap.parse_args()
    messages = [lead(n) for n in range(args.messages)]

    sink = AlertSink()
    sink_ctl = Controller(sink, hostname="127.0.0.1", port=free_port())
    sink_ctl.start()
    tmp = Path(tempfile.mkdtemp(prefix="leadmail-bench-"))
    with contextlib.ExitStack() as stack:
        if args.db == "postgresql":
            db_url = stack.enter_context(pg_database())
        else:
            db_url = args.db or f"sqlite:///{tmp / 'leadmail.db'}"
        daemons = [start_daemon(tmp / f"instance{i}", db_url, sink_ctl.port)
                   for i in range(args.instances)]
        try:
            time.sleep(1.0)  # let the workers load their NLP model before the clock starts
            cpu_before = sum(tree_cpu_seconds(d.pid) for d, _ in daemons)
            first = time.monotonic()
            intake_secs, acked = send_all([port for _, port in daemons], messages,
                                          args.clients, args.rate)
            deadline = time.monotonic() + args.timeout
            while len(sink.arrived) < args.messages and time.monotonic() < deadline:
                time.sleep(0.05)
            last_alert = max(sink.arrived.values(), default=time.monotonic())
            cpu = sum(tree_cpu_seconds(d.pid) for d, _ in daemons) - cpu_before
            rss = sum(tree_peak_rss_mib(d.pid) for d, _ in daemons)
            for d, _ in daemons:
                d.send_signal(signal.SIGTERM)
            codes = [d.wait(60) for d, _ in daemons]
        finally:
            for d, _ in daemons:
                if d.poll() is None:
                    d.kill()
            sink_ctl.stop()
    code = max(codes)

    bare = Bare()
    bare_ctl = Controller(bare, hostname="127.0.0.1", port=free_port())
    bare_ctl.start()
    try:
        bare_secs, _ = send_all([bare_ctl.port], messages, args.clients)
    finally:
        bare_ctl.stop()

    latencies = [sink.arrived[n] - acked[n] for n in sink.arrived if n in acked]
    missing = args.messages - len(sink.arrived)
    pace = f"paced at {args.rate:g} msg/s" if args.rate else "flat out"
    print(
        f"leadmail SMTP throughput: {args.messages} leads over {args.clients} connections, "
        f"{pace}, database {db_url.split(':', 1)[0]}, {args.instances} instance(s), "
        f"{os.cpu_count()} CPUs"
    )
    e2e = len(sink.arrived) / (last_alert - first)
    print(f"  intake (250s)             {args.messages / intake_secs:8.1f} msg/s")
    print(f"  end to end (alerts sent)  {e2e:8.1f} msg/s; all alerted "
          f"{last_alert - first:.1f} s after the first send")
    if latencies:
        print(
            f"  250 -> alert at the sink  p50 {pct(latencies, 0.5):.3f} s   "
            f"p99 {pct(latencies, 0.99):.3f} s   max {max(latencies):.3f} s   "
            f"mean {statistics.mean(latencies):.3f} s"
        )
    bare_rate = args.messages / bare_secs
    print(f"  bare aiosmtpd accept      {bare_rate:8.1f} msg/s (same clients, flat out)")
    print(f"  end to end / bare accept  {e2e / bare_rate:8.3f}")
    print(f"  CPU per lead              {cpu * 1000 / max(1, len(sink.arrived)):8.2f} ms "
          "(daemons and their reader processes, user + system)")
    print(f"  peak RSS                  {rss:8.1f} MiB (daemons and their reader processes)")
    print(f"  alerts missing: {missing}; alerts received: {sink.count}; daemon exit code {code}")
    return 0 if missing == 0 and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
