"""The pipeline worker: stored messages claimed in batches and run through `pipeline.process_batch`.

`Batches` is the worker's loop, and owns the reader processes (`sandbox.ReadPool`). With
`[pipeline] process = true` (the default) it runs in a process of its own, started and
watched by the daemon through `PipelineProcess`, so the pipeline and the daemon's intake,
outbox and HTTP use two cores, not one (each process has its own GIL); with `false` the
daemon runs `Batches` on its own loop.

Between the two processes (both ways; nothing blocks either loop):

- daemon → worker: a byte on the wake pipe for each message stored (a pipe full of them is
  as good as one more); `("reload", runtime)` after a SIGHUP that the daemon accepted;
  `("stop",)`: finish the batches in hand, stop the readers, exit 0.
- worker → daemon: `("batch", messages, made_leads, metric_gains)` after each batch: the
  daemon adds the gains to its own counters (`metrics.merge`, so /metrics shows them) and,
  when the batch made leads, wakes its outbox sender.

The worker dies with the daemon: the kernel kills it when the daemon does (PR_SET_PDEATHSIG on
Linux), and it exits at once when its end of the control pipe reaches EOF. Its claims are
tagged with its own host:pid (`liveness.worker_id`), so a worker that died is seen as dead, and
its messages are taken back, by the next worker started (`release_dead_claims` at start)
and by any daemon's worker on the host within `DEAD_PEER_CHECK`. A worker that exits on its
own is logged and started again, after `RESTART_BACKOFF` seconds doubling up to `RESTART_CAP`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import faulthandler
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import structlog
from sqlalchemy.engine import Engine

from leadmail import db, logs, metrics, pipeline, sandbox
from leadmail.config import Settings
from leadmail.notify import email as email_channel

log = structlog.get_logger("leadmail.pipeline")
DEAD_PEER_CHECK = 5.0  # seconds between looks for claims of dead processes on this host
RESTART_BACKOFF = 1.0  # seconds before starting again a worker process that exited on its own
RESTART_CAP = 30.0
STOP_LIMIT = 50.0  # seconds a stopping worker has to finish its batches (reads are under 50 s)
_CTX = mp.get_context("spawn")  # a fresh interpreter: the daemon has threads, so no fork
_PR_SET_PDEATHSIG = 1

OnBatch = Callable[[int, bool], None]  # (messages done, whether any became a lead)


class Batches:
    """The claim → process_batch loop; `run` returns once `stop` is set and the batches in hand
    are done. Two batches in hand at most: one being read while the other commits."""

    def __init__(self, settings: Settings, engine: Engine, rt: pipeline.Runtime,
                 on_batch: OnBatch) -> None:
        self.settings, self.engine, self.rt = settings, engine, rt
        self.on_batch = on_batch
        self.me = pipeline.worker_id()
        self.work = asyncio.Event()
        pc = settings.pipeline
        self.readers = sandbox.ReadPool(
            rt, pc.workers or sandbox.default_size(), pc.read_time_limit,
            pc.read_memory_limit * 1024 * 1024 or None)

    def wake(self) -> None:
        """Look for messages now (on the loop's thread)."""
        self.work.set()

    def reload(self, rt: pipeline.Runtime) -> None:
        """New rules: batches started from now on, and readers started from now on, use them."""
        self.rt = rt
        self.readers.reload(rt)
        email_channel._env.cache_clear()

    async def run(self, stop: asyncio.Event) -> None:
        released = await asyncio.to_thread(pipeline.release_dead_claims, self.engine, True)
        started = time.monotonic()
        try:
            await asyncio.to_thread(self.readers.warm)
            log.info("readers ready", readers=self.readers.size,
                     seconds=round(time.monotonic() - started, 2), pid=os.getpid())
        except Exception as exc:  # each message starts its reader again if need be
            log.error("reader processes did not start", error=str(exc))
        if released:
            log.info("took back messages a dead process had claimed", count=released)
        try:
            await self._loop(stop)
        finally:
            await asyncio.to_thread(self.readers.close)

    async def _loop(self, stop: asyncio.Event) -> None:
        checked = time.monotonic()
        batch = self.settings.pipeline.batch
        slots = asyncio.Semaphore(2)
        inflight: set[int] = set()
        tasks: set[asyncio.Task[None]] = set()
        while not stop.is_set():
            if time.monotonic() - checked > DEAD_PEER_CHECK:
                # A peer on this box was killed: take its messages now, not after the lease.
                checked = time.monotonic()
                with contextlib.suppress(Exception):  # database trouble is logged below
                    await asyncio.to_thread(pipeline.release_dead_claims, self.engine)
            self.work.clear()
            await slots.acquire()
            if stop.is_set():
                slots.release()
                break
            try:
                due = await asyncio.to_thread(pipeline.claimable, self.engine,
                                              batch + len(inflight))
            except Exception as exc:
                log.error("database unavailable", error=str(exc))
                due = []
            ids = [m for m in due if m not in inflight][:batch]
            if not ids:
                slots.release()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.work.wait(), self.settings.pipeline.poll_interval)
                continue
            inflight.update(ids)
            task = asyncio.create_task(self._process_batch(ids), name=f"batch-{ids[0]}")
            tasks.add(task)

            def done(t: asyncio.Task[None], mine: list[int] = ids) -> None:
                inflight.difference_update(mine)
                tasks.discard(t)
                slots.release()
                self.work.set()

            task.add_done_callback(done)
        if tasks:  # stopping: finish the messages in hand
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _process_batch(self, msg_ids: list[int]) -> None:
        try:
            outcomes = await asyncio.to_thread(
                pipeline.process_batch, self.rt, self.engine, msg_ids, self.me,
                self.readers.read)
        except Exception:
            log.exception("pipeline failed; messages left for retry", msgs=msg_ids)
            return
        done = [o for o in outcomes if o is not None]
        self.on_batch(len(done), any(o.lead_id for o in done))


class PipelineProcess:
    """The daemon's side of the worker process: starts it, wakes it, hands it reloads, and
    starts another when it exits unasked. `run` returns once `stop` is set and the worker
    has finished the batches in hand (or was killed after STOP_LIMIT seconds)."""

    def __init__(self, rt: pipeline.Runtime, on_batch: OnBatch) -> None:
        self.rt = rt
        self.on_batch = on_batch
        self.pid: int | None = None
        self.starts = 0
        self._control: Connection | None = None
        self._wake: Connection | None = None
        self._sending = threading.Lock()

    def wake(self) -> None:
        """Look for messages now (any thread)."""
        wake = self._wake
        if wake is None:
            return
        with contextlib.suppress(BlockingIOError, OSError):  # full: it has wake-ups to read
            os.write(wake.fileno(), b"\0")

    async def reload(self, rt: pipeline.Runtime) -> None:
        """Rules the daemon loaded and checked: the worker uses them from its next batch; a
        worker started later gets them too."""
        self.rt = rt
        await self._send(("reload", rt))

    async def _send(self, message: tuple[Any, ...]) -> None:
        """In a thread: a worker still starting reads nothing yet, and rules can fill a pipe."""
        control = self._control
        if control is None:
            return

        def send() -> None:
            with self._sending, contextlib.suppress(OSError):  # gone: run() sees to it
                # Rules as they are when sent: a reload racing a start sends the newest twice.
                control.send(("reload", self.rt) if message[0] == "reload" else message)

        await asyncio.to_thread(send)

    async def run(self, stop: asyncio.Event) -> None:
        backoff = RESTART_BACKOFF
        while True:
            started = time.monotonic()
            proc = self._start()
            try:
                await self._send(("reload", self.rt))  # its rules: the first thing it reads
                await self._until_exit(proc, stop)
            except BaseException:  # cancelled, or worse: no worker goes on unwatched
                proc.kill()
                proc.join(5)
                raise
            finally:
                self._closed()
            await asyncio.to_thread(proc.join)  # reaped: a zombie would look alive
            if stop.is_set():
                log.info("pipeline process stopped", pid=proc.pid, exitcode=proc.exitcode)
                return
            if time.monotonic() - started > 10 * RESTART_CAP:
                backoff = RESTART_BACKOFF  # it ran a good while: not a crash loop
            log.error("pipeline process exited; starting another", pid=proc.pid,
                      exitcode=proc.exitcode, seconds=backoff)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            if stop.is_set():
                return
            backoff = min(RESTART_CAP, backoff * 2)

    async def _until_exit(self, proc: Any, stop: asyncio.Event) -> None:
        """Until the worker exits; once `stop` is set, told to stop (killed past STOP_LIMIT)."""
        loop = asyncio.get_running_loop()
        exited = loop.create_future()

        def gone() -> None:
            if not exited.done():
                exited.set_result(None)

        loop.add_reader(proc.sentinel, gone)
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait([exited, stopping], return_when=asyncio.FIRST_COMPLETED)
            if exited.done():
                return
            await self._send(("stop",))  # the batches in hand, then exit
            try:
                await asyncio.wait_for(exited, STOP_LIMIT)
            except TimeoutError:
                log.error("pipeline process did not stop; killing it", pid=proc.pid)
                proc.kill()
        finally:
            stopping.cancel()
            loop.remove_reader(proc.sentinel)

    def _start(self) -> Any:
        control, child_control = _CTX.Pipe()
        wake_r, wake_w = _CTX.Pipe(duplex=False)
        # Started from the loop's thread, the main one: the kernel's parent-death signal is
        # sent when the thread that forked exits, and this one lasts as long as the daemon.
        proc = _CTX.Process(target=main, args=(child_control, wake_r, os.getpid()),
                            name="leadmail-pipeline")  # not daemonic: it has readers
        proc.start()
        child_control.close()
        wake_r.close()
        os.set_blocking(wake_w.fileno(), False)
        self._control, self._wake = control, wake_w
        self.pid, self.starts = proc.pid, self.starts + 1
        asyncio.get_running_loop().add_reader(control.fileno(), self._receive)
        log.info("pipeline process started", pid=proc.pid, daemon=os.getpid())
        self.wake()  # whatever is waiting already
        return proc

    def _receive(self) -> None:
        control = self._control
        assert control is not None
        try:
            while control.poll():
                kind, *rest = control.recv()
                if kind == "batch":
                    done, leads, gains = rest
                    metrics.merge(gains)
                    self.on_batch(done, leads)
        except (EOFError, OSError):  # the worker is gone: its sentinel says so too
            asyncio.get_running_loop().remove_reader(control.fileno())

    def _closed(self) -> None:
        if self._control is not None:
            asyncio.get_running_loop().remove_reader(self._control.fileno())
            self._control.close()
        if self._wake is not None:
            self._wake.close()
        self._control = self._wake = None


def _die_with_parent(parent: int) -> None:
    """The kernel kills this process when the daemon dies; a daemon already gone: exit now."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def main(control: Connection, wake: Connection, parent: int) -> None:
    """The worker process: `Batches` on a loop of its own until told to stop."""
    _die_with_parent(parent)
    try:
        kind, rt = control.recv()  # the daemon's rules, as it loaded and checked them
    except (EOFError, OSError):
        os._exit(1)
    assert kind == "reload"
    # The daemon decides when the worker stops or reloads (Ctrl-C and systemd's SIGTERM reach
    # every process of the group): the batches in hand are finished first.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    settings = rt.settings
    logs.setup(settings.log.level, settings.log.format,
               settings.log.repeat_limit, settings.log.repeat_interval)
    asyncio.run(_serve(rt, db.make_engine(settings.database.url), control, wake))


async def _serve(rt: pipeline.Runtime, engine: Engine, control: Connection,
                 wake: Connection) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    gains = metrics.Deltas()

    def report(done: int, leads: bool) -> None:
        control.send(("batch", done, leads, gains.take()))

    batches = Batches(rt.settings, engine, rt, report)

    def woken() -> None:
        try:
            if os.read(wake.fileno(), 65536):
                batches.wake()
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        os._exit(1)  # EOF: the daemon is gone (the kernel's signal covers the rest)

    def told() -> None:
        try:
            while control.poll():
                kind, *rest = control.recv()
                if kind == "reload":
                    batches.reload(rest[0])
                    log.info("pipeline process took the new rules", rules=len(rest[0].rules))
                elif kind == "stop":
                    stop.set()
                    batches.wake()
        except (EOFError, OSError):
            os._exit(1)  # the daemon is gone: its claims are taken back by the next worker

    os.set_blocking(wake.fileno(), False)
    loop.add_reader(wake.fileno(), woken)
    loop.add_reader(control.fileno(), told)
    await batches.run(stop)
