"""Who holds a claim: host:pid of the process, and whether that process is gone."""

from __future__ import annotations

import os
import socket


def worker_id() -> str:
    """host:pid, recorded on claimed rows so a dead worker's claims can be taken over."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_is_dead(claimed_by: str | None, at_start: bool = False) -> bool:
    """True when the claim belongs to a process of this host that no longer runs.

    Claims of other hosts are left to expire with their lease: we cannot see their processes.
    """
    host, _, pid = (claimed_by or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return at_start  # at start-up, a claim under our pid is from an earlier life of it
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _zombie(int(pid))


def _zombie(pid: int) -> bool:
    """Exited but not yet reaped (a worker process whose daemon was killed, until init reaps
    it): it takes signals, but works on nothing any more. Linux's /proc; elsewhere False."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] == b"Z"  # the state, after "pid (name) "
