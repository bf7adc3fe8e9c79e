"""The daemon: SMTP and IMAP intake, the outbox sender, timers and HTTP on one asyncio loop,
and the pipeline worker (leadmail.workerproc) in a process of its own, or on this same loop
with `[pipeline] process = false`.

Signal handlers only set flags: SIGTERM/SIGINT stop (no new mail, the pipeline finishes the
batches in hand, the outbox makes a last pass, exit 0); SIGHUP reloads rules and templates
between messages, in both processes.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog
from sqlalchemy.engine import Engine

from leadmail import golden, pipeline, sdnotify, workerproc
from leadmail.config import Settings, split_hostport
from leadmail.errors import ConfigErrors
from leadmail.followup import campaigns, reminders
from leadmail.intake.imap import ImapIntake
from leadmail.intake.smtp import StoreHandler, ensure_open_files, make_server
from leadmail.notify import digest, outbox
from leadmail.notify import email as email_channel
from leadmail.routing import timers
from leadmail.sources import health
from leadmail.web.app import create_app, public_app
from leadmail.web.app import make_server as make_http_server

log = structlog.get_logger("leadmail.daemon")
SILENCE_CHECK = 300.0  # seconds between looks for lead sources gone silent
EXECUTOR_THREADS = 64  # the daemon loop's thread pool: blocking calls, most of them waiting


class Daemon:
    """Owns the loop's tasks; `run` returns when stopped."""

    def __init__(self, settings: Settings, engine: Engine, rt: pipeline.Runtime) -> None:
        self.settings = settings
        self.engine = engine
        self.rt = rt
        self.stop = asyncio.Event()
        self.deliveries = asyncio.Event()
        self._reloading = asyncio.Lock()
        self.handler = StoreHandler(engine, settings.smtp, lambda _ids: self.pipeline.wake())
        self.processed = 0
        self.ready = asyncio.Event()
        self.smtp_server: asyncio.Server | None = None
        self.extra_intakes: dict[str, bool] = {}  # e.g. "imap:leads@x/INBOX" -> connected
        self.imap = ImapIntake(settings.imap, engine, self._stored_elsewhere)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.sender = outbox.Sender(engine, settings)  # emails on kept relay sessions; webhooks
        self.pipeline: workerproc.PipelineProcess | workerproc.Batches = (
            workerproc.PipelineProcess(rt, self._batch_done) if settings.pipeline.process
            else workerproc.Batches(settings, engine, rt, self._batch_done))

    def _batch_done(self, done: int, leads: bool) -> None:
        """A pipeline batch ended (on the loop's thread): leads made wake the outbox sender."""
        self.processed += done
        if leads:
            self.deliveries.set()

    def intake_states(self) -> dict[str, bool]:
        """Each intake's state for /readyz and metrics: name -> connected/listening."""
        states = dict(self.extra_intakes)
        if self.settings.smtp.enabled:
            states["smtp"] = self.smtp_server is not None and self.smtp_server.is_serving()
        for watcher in self.imap.status():
            states[f"imap:{watcher['account']}/{watcher['folder']}"] = watcher["healthy"]
        return states

    def imap_status(self) -> list[dict[str, Any]]:
        """Each IMAP watcher's state, last error and counters (auth_failed says so)."""
        return self.imap.status()

    def _stored_elsewhere(self, _msg_id: int) -> None:
        # Called from an IMAP thread: wake the pipeline worker on the loop's own thread.
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.pipeline.wake)

    async def _drain_smtp(self) -> None:
        """Wait (bounded) for messages being received to be stored and answered."""
        try:
            await asyncio.wait_for(self.handler.quiet.wait(), self.settings.smtp.drain_timeout)
        except TimeoutError:
            log.warning("stopping with messages still being received", count=self.handler.inflight)

    def request_stop(self) -> None:
        """Flag: stop after the current message."""
        self.handler.stopping = True
        self.stop.set()
        self.pipeline.wake()
        self.deliveries.set()

    def request_reload(self) -> None:
        """Reload rules and templates; the pipeline takes them between batches."""
        task = asyncio.get_running_loop().create_task(self._reload(), name="reload")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reload(self) -> None:
        async with self._reloading:  # SIGHUPs one after the other
            try:
                rt = await asyncio.to_thread(pipeline.Runtime.load, self.settings)
                # A rule that breaks its own golden samples: refused.
                samples = await asyncio.to_thread(golden.check, rt)
            except ConfigErrors as exc:
                log.error("reload failed; keeping the previous rules", error=str(exc))
                return
            self.rt = rt
            email_channel._env.cache_clear()  # this process's alerts
            if isinstance(self.pipeline, workerproc.PipelineProcess):
                await self.pipeline.reload(rt)
            else:
                self.pipeline.reload(rt)
            log.info("reloaded rules and templates", rules=len(rt.rules), golden=samples)

    async def _pipeline_worker(self) -> None:
        if isinstance(self.pipeline, workerproc.PipelineProcess):
            # Claims under this pid are from an earlier life of it (the worker process's own
            # are taken back by each worker as it starts).
            released = await asyncio.to_thread(pipeline.release_dead_claims, self.engine, True)
            if released:
                log.info("took back messages a dead process had claimed", count=released)
        await self.pipeline.run(self.stop)

    async def _outbox_sender(self) -> None:
        released = await asyncio.to_thread(outbox.release_dead_claims, self.engine, True)
        if released:
            log.info("took back alerts a dead process was sending", count=released)
        # Emails on a few kept relay sessions, each webhook a task of its own: a pass never
        # waits for a slow receiver, so it delays no other agent's alert.
        while not self.stop.is_set():
            self.deliveries.clear()
            try:
                await self.sender.run_pass()
            except Exception:
                log.exception("outbox pass failed")
            await self._wait(self.deliveries)

    async def _passes(
        self, what: str, run_pass: Callable[[Engine, Settings], int], every: Callable[[], float]
    ) -> None:
        """Run `run_pass` (in a thread) until stopped, `every()` seconds apart: a pass that
        queued something wakes the outbox sender; a failed pass is logged and tried again."""
        while not self.stop.is_set():
            try:
                if await asyncio.to_thread(run_pass, self.engine, self.settings):
                    self.deliveries.set()
            except Exception:
                log.exception(f"{what} pass failed")
            await self._sleep(every())

    async def _timer_worker(self) -> None:
        # Claim and accept windows closing: timers live in the database, so any daemon fires
        # them (each exactly once) and a restart loses none; escalations queue alerts.
        await self._passes("timer", timers.process_due,
                           lambda: self.settings.pipeline.poll_interval)

    async def _digest_worker(self) -> None:
        # Managers' digests of escalations: queued once per period (notify.digest).
        await self._passes("digest", digest.enqueue_due,
                           lambda: min(60.0, self.settings.notify.digest_every / 4))

    async def _followup_worker(self) -> None:
        # Next Steps of leads claimed or reassigned since, due reminders, daily agendas.
        await self._passes("follow-up", reminders.run_pass,
                           lambda: self.settings.followup.interval)

    async def _silence_worker(self) -> None:
        # Daily sources quiet for twice their usual gap turn drifting (leadmail.sources.health).
        await self._passes("source silence", health.check_silence, lambda: SILENCE_CHECK)

    async def _campaign_worker(self) -> None:
        # Campaign steps that are due: each queued in the outbox in its own transaction.
        await self._passes("campaign", campaigns.run_pass,
                           lambda: self.settings.followup.campaign_interval)

    async def _watchdog(self, interval: float) -> None:
        # Pinged from the loop itself: a blocked loop stops the pings and systemd restarts us.
        while not self.stop.is_set():
            sdnotify.notify("WATCHDOG=1")
            await self._sleep(interval)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _wait(self, event: asyncio.Event) -> None:
        try:
            await asyncio.wait_for(event.wait(), timeout=self.settings.pipeline.poll_interval)
        except TimeoutError:
            pass

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT; 0 on a clean stop."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        # Every blocking call runs in this pool (asyncio.to_thread): two pipeline batches, a
        # relay session per [notify.email] connection, webhooks' records, intake's commits,
        # timers. Python's default (CPU count + 4) lets the long ones take every thread and
        # leaves an SMTP session waiting for its commit; these threads mostly wait.
        loop.set_default_executor(ThreadPoolExecutor(max_workers=EXECUTOR_THREADS,
                                                     thread_name_prefix="leadmail"))
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        server = None
        if self.settings.smtp.enabled:
            ensure_open_files(self.settings.smtp)  # or a config error naming smtp.max_sessions
            host, port = split_hostport(self.settings.smtp.listen)
            server = await loop.create_server(
                make_server(self.handler, self.settings.smtp), host, port
            )
            log.info("smtp listening", listen=self.settings.smtp.listen)
        tasks = [
            asyncio.create_task(self._pipeline_worker(), name="pipeline"),
            asyncio.create_task(self._outbox_sender(), name="outbox"),
            asyncio.create_task(self._timer_worker(), name="timers"),
            asyncio.create_task(self._followup_worker(), name="followup"),
            asyncio.create_task(self._silence_worker(), name="source-silence"),
            asyncio.create_task(self._campaign_worker(), name="campaigns"),
        ]
        if self.settings.notify.digest_every:
            tasks.append(asyncio.create_task(self._digest_worker(), name="digest"))
        self.smtp_server = server
        webs = []
        http = self.settings.http
        if http.listen or http.admin_listen:
            app = create_app(self.engine, self.intake_states, self.settings)
            if http.listen:  # public: only the groups of [http] public, 404 for the rest
                host, port = split_hostport(http.listen)
                webs.append(make_http_server(public_app(app, http.public_groups), host, port,
                                             http.max_connections, http.idle_timeout))
                tasks.append(asyncio.create_task(webs[-1].serve(), name="http"))
                log.info("http listening", listen=http.listen, serves=list(http.public_groups))
            if http.admin_listen:  # the operator's: everything
                host, port = split_hostport(http.admin_listen)
                webs.append(make_http_server(app, host, port, http.max_connections,
                                             http.idle_timeout))
                tasks.append(asyncio.create_task(webs[-1].serve(), name="http-admin"))
                log.info("http admin listening", listen=http.admin_listen)
        self.imap.start()
        if (interval := sdnotify.watchdog_interval()) is not None:
            tasks.append(asyncio.create_task(self._watchdog(interval), name="watchdog"))
        self.ready.set()
        sdnotify.notify("READY=1\nSTATUS=accepting mail")
        await self.stop.wait()
        sdnotify.notify("STOPPING=1")
        log.info("stopping: no new mail; finishing the message in hand")
        await self._drain_smtp()  # meanwhile new commands and connections get 421
        if server is not None:
            server.close()
        self.handler.close_sessions()
        await asyncio.to_thread(self.imap.stop)
        for web in webs:
            web.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)  # the pipeline's batches too
        # A last pass so alerts of leads made just before the stop are not left waiting; what
        # is still in flight after STOP_GRACE is cut and due again (at-least-once).
        await self.sender.finish(outbox.STOP_GRACE)
        log.info("stopped", processed=self.processed)
        return 0
