"""Repeated log lines are limited: a real "Too many open files" storm stays a few lines.

A child process sets up leadmail's logging, then runs a plain asyncio server under a low
open-files limit while this test opens more connections than it may hold: asyncio logs
"socket.accept() out of system resource" for every failed accept, as the daemon did before
its SMTP sessions were capped. The same child also floods one structlog line.
"""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import sys
import time

import pytest

CHILD = r"""
import asyncio, sys
import structlog
from leadmail import logs

logs.setup("info", "json", int(sys.argv[1]), 1.0)
log = structlog.get_logger("leadmail.test")

async def main():
    held = []
    server = await asyncio.start_server(lambda r, w: held.append(w), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    for _ in range(10_000):
        log.error("database unavailable", error="OSError: [Errno 24] Too many open files")
    await asyncio.sleep(3.0)
    # Closed after the storm (as the daemon's HTTP server is at stop): each accept retry
    # asyncio queued now fails, every line with other numbers in it (when=..., 0x...).
    server.close()
    await asyncio.sleep(1.5)

asyncio.run(main())
"""


def run_storm(repeat_limit: int) -> list[dict]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))

    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(repeat_limit)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=limit)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    clients = []
    for _ in range(80):  # more than 48 descriptors: accept() fails with EMFILE
        clients.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    time.sleep(1.0)
    _out, err = proc.communicate(timeout=30)
    for c in clients:
        c.close()
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return [json.loads(line) for line in err.decode().splitlines()]


def count(rows: list[dict], event: str) -> tuple[int, int]:
    """(lines written, copies counted in summaries) of one event."""
    written = sum(str(r["event"]).startswith(event) for r in rows)
    suppressed = sum(int(r["suppressed"]) for r in rows
                     if r["event"] == "log line repeated; suppressed"
                     and str(r["repeated"]).startswith(event))
    return written, suppressed


def test_a_storm_of_identical_lines_is_a_few_lines_and_a_count() -> None:
    rows = run_storm(repeat_limit=5)
    # leadmail's own line: 5 written, the other 9995 counted (a second window at most).
    written, suppressed = count(rows, "database unavailable")
    assert written + suppressed == 10_000 and written <= 10, (written, suppressed)
    summary = next(r for r in rows if r["event"] == "log line repeated; suppressed"
                   and r["repeated"] == "database unavailable")
    assert summary["level"] == "error" and summary["error"].endswith("Too many open files")
    # asyncio's accept errors, logged through stdlib logging: 5 per second, and counted.
    written, suppressed = count(rows, "socket.accept() out of system resource")
    assert 1 <= written <= 5 * 5, written
    assert suppressed > 0
    # The retries after the close differ only in numbers: the same line for the limit.
    written, suppressed = count(rows, "Exception in callback BaseSelectorEventLoop._start_serving")
    assert written <= 5 * 2 and suppressed > 0, (written, suppressed)
    assert len(rows) < 100


@pytest.mark.parametrize("repeat_limit", [0])
def test_without_the_limit_the_same_storm_floods_the_log(repeat_limit: int) -> None:
    """The control: the storm above is real (repeat_limit = 0 turns the limit off)."""
    rows = run_storm(repeat_limit)
    assert count(rows, "database unavailable") == (10_000, 0)
    assert count(rows, "socket.accept() out of system resource")[0] > 100
    assert count(rows, "Exception in callback BaseSelectorEventLoop._start_serving")[0] > 100
