"""Group commit for SMTP/LMTP intake: messages whose DATA ends while a commit is in flight
share the next one, and each session still answers 250 only after its message is committed.

`GroupCommit.store` queues the message and awaits its future. One writer task (started by the
first message, ended when nothing waits) takes everything waiting, up to MAX_MESSAGES or
MAX_BYTES, and stores it with `store.store_many` in ONE transaction in a worker thread, then
resolves each future and wakes the pipeline once for the batch. There is no wait for company:
a lone message is committed at once, and batches form only while a commit is in flight, so
latency at low load is that of one commit. Storing is `store_raw`'s, message for message (no
dedup at intake; copies in one batch get ids in arrival order). When the batch's transaction
fails, its messages are stored one by one, so one message that cannot be stored fails only
its own session (451); with the database down each session gets its 451, as before (after
one unavailable error, from the database rather than a message, the rest are not tried).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from leadmail.store import Incoming, store_many

log = structlog.get_logger("leadmail.smtp")

MAX_MESSAGES = 64  # messages in one commit
MAX_BYTES = 8 * 1024 * 1024  # octets in one commit (a larger message is committed alone)


@dataclass
class _Waiting:
    item: Incoming
    future: asyncio.Future[int]


class GroupCommit:
    """The intake's writer. `engine` is read for each batch; `on_batch` gets the ids stored by
    one batch (called on the loop, once per batch that stored anything)."""

    def __init__(
        self,
        engine: Callable[[], Engine],
        on_batch: Callable[[list[int]], None],
        max_messages: int = MAX_MESSAGES,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.engine = engine
        self.on_batch = on_batch
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._waiting: collections.deque[_Waiting] = collections.deque()
        self._writer: asyncio.Task[None] | None = None
        self.commits = 0  # transactions committed (a batch, or one message after a fallback)
        self.batches = 0  # batches taken
        self.fallbacks = 0  # batches whose transaction failed, then stored one by one

    @property
    def waiting(self) -> int:
        """Messages queued for the next batch (not the one being committed)."""
        return len(self._waiting)

    async def store(self, item: Incoming) -> int:
        """Commit the message (with whatever else is waiting); its id once durable. Raises
        what storing it raised. Cancelling the caller does not take the message back: it is
        committed all the same, as a store already under way would be."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(item, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(), name="intake-writer")
        return await future

    def _take(self) -> list[_Waiting]:
        batch = [self._waiting.popleft()]
        size = len(batch[0].item.raw)
        while self._waiting and len(batch) < self.max_messages:
            size += len(self._waiting[0].item.raw)
            if size > self.max_bytes:
                break
            batch.append(self._waiting.popleft())
        return batch

    async def _write(self) -> None:
        batch: list[_Waiting] = []
        try:
            while self._waiting:
                batch = self._take()
                self.batches += 1
                results = await asyncio.to_thread(
                    self._commit, self.engine(), [w.item for w in batch])
                for waiting, result in zip(batch, results, strict=True):
                    if waiting.future.done():  # its session was cancelled; stored anyway
                        continue
                    if isinstance(result, BaseException):
                        waiting.future.set_exception(result)
                    else:
                        waiting.future.set_result(result)
                stored = [r for r in results if isinstance(r, int)]
                batch = []
                if stored:
                    self._wake(stored)
        finally:
            self._writer = None
            # Only when the task itself is cancelled (the loop is closing): nobody waits forever.
            for waiting in [*batch, *self._waiting]:
                if not waiting.future.done():
                    waiting.future.set_exception(RuntimeError("intake writer stopped"))
            self._waiting.clear()

    def _wake(self, ids: list[int]) -> None:
        try:
            self.on_batch(ids)
        except Exception as exc:  # the messages are stored: the pipeline's poll finds them
            log.error("waking the pipeline failed", error=f"{type(exc).__name__}: {exc}")

    def _commit(self, engine: Engine, items: Sequence[Incoming]) -> list[int | Exception]:
        """In a worker thread: the batch in one transaction, or else one by one."""
        try:
            ids = store_many(engine, items)
        except Exception as exc:
            if len(items) == 1:
                return [exc]
            self.fallbacks += 1
            log.warning("batch commit failed; storing its messages one by one",
                        messages=len(items), error=f"{type(exc).__name__}: {exc}")
        else:
            self.commits += 1
            return list(ids)
        results: list[int | Exception] = []
        down: Exception | None = None
        for item in items:
            if down is not None:  # the database failed, not the message: no use trying on
                results.append(down)
                continue
            try:
                results.extend(store_many(engine, [item]))
                self.commits += 1
            except (OperationalError, InterfaceError) as exc:
                results.append(down := exc)
            except Exception as exc:
                results.append(exc)
        return results
