"""Group commit: items submitted while a commit is in flight share the next one, and each
submitter hears back only once its item is committed.

`GroupCommit.submit` queues the item and awaits its future. One writer task (started by the
first item, ended when nothing waits) takes everything waiting, up to `max_items` or
`max_bytes`, and hands it to `commit_many(engine, items)`, which writes them in ONE
transaction in a worker thread and answers one result per item; the writer resolves each
future and calls `on_batch` with the batch's results. There is no wait for company: a lone
item is committed at once, and batches form only while a commit is in flight, so latency at
low load is that of one commit. When the batch's transaction fails, its items are committed
one by one, so one item that cannot be written fails only its own submitter; after an error
from the database itself (unavailable), the rest of the batch gets that error untried.

SMTP/LMTP intake stores messages this way (`intake/smtp.py`: `store.store_many`, each session
answers 250 once its message is durable); the outbox records its delivery outcomes this way
(`notify/outbox.py`), so relay sessions sending side by side share the commits.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

log = structlog.get_logger("leadmail.groupcommit")

MAX_ITEMS = 64  # items in one commit
MAX_BYTES = 8 * 1024 * 1024  # octets in one commit (a larger item is committed alone)

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Waiting(Generic[T, R]):
    item: T
    future: asyncio.Future[R]


class GroupCommit(Generic[T, R]):
    """A writer of items. `engine` is read for each batch; `commit_many` writes a batch in
    one transaction (in a worker thread) and answers one result per item; `on_batch` gets the
    results of one batch (called on the loop, once per batch that wrote anything); `size`
    tells an item's octets, for `max_bytes`."""

    def __init__(
        self,
        engine: Callable[[], Engine],
        commit_many: Callable[[Engine, Sequence[T]], Sequence[R]],
        on_batch: Callable[[list[R]], None] | None = None,
        max_items: int = MAX_ITEMS,
        max_bytes: int = MAX_BYTES,
        size: Callable[[T], int] = lambda _item: 0,
    ) -> None:
        self.engine = engine
        self.commit_many = commit_many
        self.on_batch = on_batch
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.size = size
        self._waiting: collections.deque[_Waiting[T, R]] = collections.deque()
        self._writer: asyncio.Task[None] | None = None
        self.commits = 0  # transactions committed (a batch, or one message after a fallback)
        self.batches = 0  # batches taken
        self.fallbacks = 0  # batches whose transaction failed, then stored one by one

    @property
    def waiting(self) -> int:
        """Items queued for the next batch (not the one being committed)."""
        return len(self._waiting)

    async def submit(self, item: T) -> R:
        """Commit the item (with whatever else is waiting); its result once durable. Raises
        what writing it raised. Cancelling the caller does not take the item back: it is
        committed all the same, as a write already under way would be."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(item, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(), name="group-commit")
        return await future

    def _take(self) -> list[_Waiting[T, R]]:
        batch = [self._waiting.popleft()]
        size = self.size(batch[0].item)
        while self._waiting and len(batch) < self.max_items:
            size += self.size(self._waiting[0].item)
            if size > self.max_bytes:
                break
            batch.append(self._waiting.popleft())
        return batch

    async def _write(self) -> None:
        batch: list[_Waiting[T, R]] = []
        try:
            while self._waiting:
                batch = self._take()
                self.batches += 1
                results = await asyncio.to_thread(
                    self._commit, self.engine(), [w.item for w in batch])
                for waiting, result in zip(batch, results, strict=True):
                    if waiting.future.done():  # its submitter was cancelled; written anyway
                        continue
                    if isinstance(result, BaseException):
                        waiting.future.set_exception(result)
                    else:
                        waiting.future.set_result(result)
                written = [r for r in results if not isinstance(r, BaseException)]
                batch = []
                if written:
                    self._wake(written)
        finally:
            self._writer = None
            # Only when the task itself is cancelled (the loop is closing): nobody waits forever.
            for waiting in [*batch, *self._waiting]:
                if not waiting.future.done():
                    waiting.future.set_exception(RuntimeError("intake writer stopped"))
            self._waiting.clear()

    def _wake(self, results: list[R]) -> None:
        if self.on_batch is None:
            return
        try:
            self.on_batch(results)
        except Exception as exc:  # the items are written; whoever is woken polls as well
            log.error("the batch's callback failed", error=f"{type(exc).__name__}: {exc}")

    def _commit(self, engine: Engine, items: Sequence[T]) -> list[R | Exception]:
        """In a worker thread: the batch in one transaction, or else one by one."""
        try:
            done = self.commit_many(engine, items)
        except Exception as exc:
            if len(items) == 1:
                return [exc]
            self.fallbacks += 1
            log.warning("batch commit failed; writing its items one by one",
                        items=len(items), error=f"{type(exc).__name__}: {exc}")
        else:
            self.commits += 1
            return list(done)
        results: list[R | Exception] = []
        down: Exception | None = None
        for item in items:
            if down is not None:  # the database failed, not the message: no use trying on
                results.append(down)
                continue
            try:
                results.extend(self.commit_many(engine, [item]))
                self.commits += 1
            except (OperationalError, InterfaceError) as exc:
                results.append(down := exc)
            except Exception as exc:
                results.append(exc)
        return results
