"""Every log line is one JSON document, also when threads log at once.

leadmail's own lines (structlog) and libraries' lines (stdlib logging: imapclient, asyncio)
go to the same stderr from different threads: the IMAP watchers, the event loop, the
outbox. A child process sets up leadmail's logging and has four threads write through
both at once; every line the parent reads must parse on its own, and none may be missing.
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = r"""
import logging, sys, threading
import structlog
from leadmail import logs

logs.setup("info", "json", 0)
N = int(sys.argv[1])
start = threading.Barrier(4)

def own(tag):
    log = structlog.get_logger("leadmail.test")
    start.wait()
    for i in range(N):
        log.info("own line", tag=tag, i=i, pad="x" * (i % 300))

def library(tag):
    log = logging.getLogger("imapclient.imapclient")
    start.wait()
    for i in range(N):
        log.info("library line %s %d %s", tag, i, "y" * (i % 300))

threads = [threading.Thread(target=f, args=(t,)) for f, t in
           ((own, "a"), (own, "b"), (library, "c"), (library, "d"))]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


def test_threads_logging_at_once_write_whole_json_lines() -> None:
    n = 3000
    proc = subprocess.run([sys.executable, "-c", CHILD, str(n)], capture_output=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    lines = proc.stderr.decode().splitlines()
    broken = []
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except ValueError:
            broken.append(line)
    assert not broken, f"{len(broken)} lines ran together, e.g. {broken[0][:300]!r}"
    own = [e for e in events if e.get("event") == "own line"]
    library = [e for e in events if str(e.get("event", "")).startswith("library line")]
    assert len(own) == 2 * n and len(library) == 2 * n
    assert {e["logger"] for e in library} == {"imapclient.imapclient"}
