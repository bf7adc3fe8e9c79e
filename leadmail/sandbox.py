"""The read step in child processes: parser and admin-script code never runs in the daemon.

`ReadPool.read(raw, intake)` hands a stored message's bytes to a reader process, which runs
parse → rules → scripts → extract → normalize → classify (`pipeline.read`) and sends back the
draft. The daemon's own threads only wait on a pipe, without the GIL, so SMTP, HTTP and the
other workers go on whatever a message or a script does. Each read has a hard wall-clock
limit (`[pipeline] read_time_limit`): past it the reader is killed and replaced, and the
message counts one attempt toward quarantine. Readers run under an address-space limit
(`[pipeline] read_memory_limit`) and a CPU limit per message (RLIMIT_CPU, twice the time
limit); one that dies (out of memory, out of CPU, a crash, `os._exit` in a script) is
replaced and the message counts one attempt too.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import signal
import threading
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import structlog

from leadmail import pipeline
from leadmail.errors import Quarantine, ReadFailed

log = structlog.get_logger("leadmail.sandbox")
# Readers fork from a fork server that has already imported leadmail (a new reader is ready
# in milliseconds, not after a whole interpreter's start), never from the threaded daemon.
_CTX = mp.get_context("forkserver")
# leadmail.cli too: multiprocessing runs the main script again in each reader, and the
# `leadmail` console script imports leadmail.cli (every command group, the daemon, the web app).
_CTX.set_forkserver_preload(["leadmail.pipeline", "leadmail.cli"])
STARTUP_LIMIT = 120.0  # seconds for a new reader's interpreter to import leadmail


@dataclass
class _Reader:
    process: Any
    conn: Connection
    generation: int


def _limit_memory(limit: int | None) -> None:
    if not limit:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _limit_cpu(seconds: float | None) -> None:
    """The kernel ends this reader (SIGXCPU) once this message used `seconds` more CPU: the
    soft RLIMIT_CPU is moved before each message (the hard limit stays, so it can move)."""
    if not seconds:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    cap = int(usage.ru_utime + usage.ru_stime + seconds) + 1
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (cap, hard))


def _serve(conn: Connection, rt: Any, memory_limit: int | None,
           cpu_limit: float | None = None) -> None:
    """A reader's loop: (raw, intake) in, ("ok", draft) / ("quarantine", reason, tb) out."""
    # The daemon decides when a reader stops (Ctrl-C and systemd's SIGTERM reach the whole
    # process group): the message in hand is finished, then the pipe closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _limit_memory(memory_limit)
    conn.send(("ready",))  # imports done: the time limit counts reading only
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        raw, intake = job
        _limit_cpu(cpu_limit)
        try:
            draft = pipeline.read_any(raw, intake, rt)
            answer: tuple[Any, ...] = ("ok", draft)
        except Quarantine as exc:
            answer = ("quarantine", exc.reason, exc.traceback)
        except MemoryError:
            answer = ("quarantine", "reading the message ran out of memory "
                      f"(limit {memory_limit} bytes)", None)
        except BaseException as exc:  # noqa: BLE001 (SystemExit from a script included)
            answer = ("quarantine", "internal error while reading the message: "
                      f"{type(exc).__name__}: {exc}", traceback.format_exc())
        try:
            conn.send(answer)
        except Exception as exc:  # e.g. a draft that does not pickle
            conn.send(("quarantine", f"internal error while reading the message: {exc}", None))


class ReadPool:
    """Up to `size` reader processes, started when first needed; thread-safe."""

    def __init__(self, rt: Any, size: int, time_limit: float,
                 memory_limit: int | None = None) -> None:
        self.rt, self.size = rt, max(1, size)
        self.time_limit, self.memory_limit = time_limit, memory_limit
        self.generation = 0
        self._idle: list[_Reader] = []
        self._running = 0
        self._cond = threading.Condition()
        self.killed = 0  # readers killed at the limit, for tests and status

    def _spawn(self) -> _Reader:
        parent, child = _CTX.Pipe()
        # CPU: twice the wall-clock limit (numerical libraries may run a few threads).
        proc = _CTX.Process(target=_serve, args=(child, self.rt, self.memory_limit,
                                                 2 * self.time_limit),
                            name="leadmail-reader", daemon=True)
        proc.start()
        child.close()
        reader = _Reader(proc, parent, self.generation)
        try:
            if parent.poll(STARTUP_LIMIT) and parent.recv() == ("ready",):
                return reader
        except (EOFError, OSError):
            pass
        self._stop(reader, kill=True)
        raise ReadFailed(f"a reader process did not start within {STARTUP_LIMIT:g} s "
                         f"(exit code {proc.exitcode})")

    def _take(self) -> _Reader:
        with self._cond:
            while True:
                while self._idle:
                    reader = self._idle.pop()
                    if reader.generation == self.generation and reader.process.is_alive():
                        self._running += 1
                        return reader
                    self._stop(reader)
                if self._running < self.size:
                    self._running += 1
                    break
                self._cond.wait()
        try:
            return self._spawn()
        except BaseException:
            with self._cond:
                self._running -= 1
                self._cond.notify()
            raise

    def _give_back(self, reader: _Reader | None) -> None:
        with self._cond:
            self._running -= 1
            if reader is not None:
                self._idle.append(reader)
            self._cond.notify()

    @staticmethod
    def _stop(reader: _Reader, kill: bool = False) -> None:
        if kill:
            reader.process.kill()
        else:
            try:
                reader.conn.send(None)
            except OSError:
                reader.process.kill()
        reader.process.join(5)
        if reader.process.is_alive():
            reader.process.kill()
            reader.process.join(5)
        reader.conn.close()

    def warm(self) -> None:
        """Start every reader now, so the first messages do not wait for one."""
        readers = [self._take() for _ in range(self.size)]
        for reader in readers:
            self._give_back(reader)

    def read(self, raw: bytes, intake: str) -> Any:
        """The draft of one message; Quarantine (with the reader's reason) or ReadFailed."""
        taken = self._take()
        reader: _Reader | None = taken  # None once stopped: nothing to give back
        try:
            taken.conn.send((raw, intake))
            if not taken.conn.poll(self.time_limit):
                self.killed += 1
                self._stop(taken, kill=True)
                reader = None
                raise ReadFailed(f"reading the message took longer than {self.time_limit:g} s "
                                 "(the [pipeline] read_time_limit); its reader was killed")
            answer = taken.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            code = reader.process.exitcode if reader is not None else None
            if reader is not None:
                self._stop(reader, kill=True)
                reader = None
            raise ReadFailed(f"the reader process died while reading the message "
                             f"(exit code {code})") from None
        finally:
            self._give_back(reader)
        if answer[0] == "ok":
            return answer[1]
        raise Quarantine(answer[1], answer[2])

    def reload(self, rt: Any) -> None:
        """New rules or settings: readers started from now on get them; idle old ones stop."""
        with self._cond:
            self.rt = rt
            self.generation += 1
            old, self._idle = self._idle, []
        for reader in old:
            self._stop(reader)

    def close(self) -> None:
        """Stop the idle readers (a busy one stops when it is given back: see `_take`)."""
        self.reload(self.rt)


def default_size() -> int:
    """One reader per CPU."""
    return os.cpu_count() or 1
