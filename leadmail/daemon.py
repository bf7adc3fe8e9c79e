"""The daemon: SMTP intake, the pipeline worker and the outbox sender on one asyncio loop.

Signal handlers only set flags: SIGTERM/SIGINT stop (no new mail, finish the message in hand,
exit 0); SIGHUP reloads rules and templates between messages.
"""

from __future__ import annotations

import asyncio
import signal

import structlog
from sqlalchemy.engine import Engine

from leadmail import pipeline, sdnotify
from leadmail.config import Settings, split_hostport
from leadmail.errors import ConfigErrors
from leadmail.intake.smtp import StoreHandler, make_server
from leadmail.notify import email as email_channel
from leadmail.notify import outbox

log = structlog.get_logger("leadmail.daemon")


class Daemon:
    """Owns the loop's tasks; `run` returns when stopped."""

    def __init__(self, settings: Settings, engine: Engine, rt: pipeline.Runtime) -> None:
        self.settings = settings
        self.engine = engine
        self.rt = rt
        self.stop = asyncio.Event()
        self.work = asyncio.Event()
        self.deliveries = asyncio.Event()
        self.reload_requested = False
        self.me = pipeline.worker_id()
        self.handler = StoreHandler(engine, settings.smtp, lambda _id: self.work.set())
        self.processed = 0
        self.ready = asyncio.Event()

    def request_stop(self) -> None:
        """Flag: stop after the current message."""
        self.handler.stopping = True
        self.stop.set()
        self.work.set()
        self.deliveries.set()

    def request_reload(self) -> None:
        """Flag: reload rules and templates between messages."""
        self.reload_requested = True
        self.work.set()

    def _reload(self) -> None:
        self.reload_requested = False
        try:
            self.rt = pipeline.Runtime.load(self.settings)
            email_channel._env.cache_clear()
            log.info("reloaded rules and templates", rules=len(self.rt.rules))
        except ConfigErrors as exc:
            log.error("reload failed; keeping the previous rules", error=str(exc))

    async def _pipeline_worker(self) -> None:
        released = await asyncio.to_thread(pipeline.release_dead_claims, self.engine)
        if released:
            log.info("took back messages a dead process had claimed", count=released)
        while not self.stop.is_set():
            if self.reload_requested:
                self._reload()
            self.work.clear()
            try:
                ids = await asyncio.to_thread(pipeline.claimable, self.engine)
            except Exception as exc:
                log.error("database unavailable", error=str(exc))
                ids = []
            for msg_id in ids:
                if self.stop.is_set():
                    break
                try:
                    outcome = await asyncio.to_thread(
                        pipeline.process, self.rt, self.engine, msg_id, self.me
                    )
                except Exception:
                    log.exception("pipeline failed; message left for retry", msg=msg_id)
                    continue
                if outcome is not None:
                    self.processed += 1
                    if outcome.lead_id:
                        self.deliveries.set()
            if not ids:
                await self._wait(self.work)

    async def _outbox_sender(self) -> None:
        while not self.stop.is_set():
            self.deliveries.clear()
            try:
                await asyncio.to_thread(outbox.deliver_due, self.engine, self.settings)
            except Exception:
                log.exception("outbox pass failed")
            await self._wait(self.deliveries)

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
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        server = None
        if self.settings.smtp.enabled:
            host, port = split_hostport(self.settings.smtp.listen)
            server = await loop.create_server(
                make_server(self.handler, self.settings.smtp), host, port
            )
            log.info("smtp listening", listen=self.settings.smtp.listen)
        tasks = [
            asyncio.create_task(self._pipeline_worker(), name="pipeline"),
            asyncio.create_task(self._outbox_sender(), name="outbox"),
        ]
        if (interval := sdnotify.watchdog_interval()) is not None:
            tasks.append(asyncio.create_task(self._watchdog(interval), name="watchdog"))
        self.ready.set()
        sdnotify.notify("READY=1\nSTATUS=accepting mail")
        await self.stop.wait()
        sdnotify.notify("STOPPING=1")
        log.info("stopping: no new mail; finishing the message in hand")
        if server is not None:
            server.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        # A last pass so alerts of leads made just before the stop are not left waiting.
        await asyncio.to_thread(outbox.deliver_due, self.engine, self.settings)
        log.info("stopped", processed=self.processed)
        return 0
