"""The outbox: alerts written in the assignment's transaction, delivered at least once.

One row per alert and channel (email, or a webhook the agent chose), each with a stable
idempotency key: the email's Message-ID and the webhook's Idempotency-Key are made of it, so a
receiver that sees a retry of something it already has can drop it.

A row is claimed by pushing its next_attempt_at past a lease, so concurrent senders skip it
(`leadmail.queue`, the queue stored messages go through too); success marks it sent; a temporary
failure schedules a retry with capped exponential backoff until the row's deadline; a
permanent failure marks it failed.

Emails go out on `[notify.email] connections` relay sessions at once (EmailLane), each kept
open and sending one due row after another (the next MAIL after a 250, RSET after a refusal),
reopened when the relay drops it or answers 421, and closed after IDLE_CLOSE seconds with
nothing to send. A session claims its share of the due rows, up to CHUNK, at once (one
transaction), just before it sends them, and each outcome is recorded as soon as it is known,
the sessions' outcomes sharing commits (`groupcommit`). The per-row guarantees are those of a
single sender: marked sent only after the relay's 250, a 4xx or a lost connection retried
after the backoff, a 5xx failed for good; a crash mid-send may send a
row twice (same Message-ID), never loses one. Rows of one agent may go out of order across
sessions: alerts are independent messages, and nothing relies on their order of arrival. A
`file:` relay gets one session, in order.

Each webhook is a request of its own, sent concurrently with the others (Sender), so a slow
receiver delays nothing but its own alerts. A webhook's whole request ends within its
`deadline` (at most 45 s), inside the 60 s lease, so no other sender takes a row over while
it is in flight.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from leadmail import tokens
from leadmail.clock import utcnow
from leadmail.config import AgentConfig, Settings, WebhookConfig
from leadmail.db import session_scope
from leadmail.groupcommit import GroupCommit
from leadmail.metrics import ALERTS
from leadmail.models import Lead, Outbox
from leadmail.notify import PermanentFailure, render, webhook
from leadmail.notify import email as email_channel
from leadmail.notify.alert import compose
from leadmail.notify.vcard import vcard
from leadmail.queue import OUTBOX
from leadmail.statuses import OutboxStatus

log = structlog.get_logger("leadmail.outbox")
IN_FLIGHT = 50  # webhook requests at once, per process
IDLE_CLOSE = 30.0  # seconds a relay session with nothing to send stays open
CHUNK = 8  # due email rows a relay session claims at once (one transaction)
STOP_GRACE = 10.0  # seconds a stopping daemon waits for requests in flight; then they are retried


def enqueue_alert(
    session: Session,
    settings: Settings,
    lead: Lead,
    agent: AgentConfig,
    context: dict[str, Any],
    key: str,
) -> Outbox:
    """Compose and queue an alert on each of the agent's channels (in the caller's
    transaction); the email row, else the first. Email rows use `key` (the Message-ID is made
    of it, replies are matched by it); other channels `key.CHANNEL`."""
    view = compose(session, settings, lead, agent, context)
    rendered = render.render(
        "alert", view, settings.notify.templates, source=lead.source, strategy=view["strategy"]
    )
    rows = []
    for channel in agent.channels:
        if channel == "email":
            card = vcard(view["lead"]) if settings.notify.email.attach_vcard else None
            row = _email_row(settings, agent, rendered, key, lead.id, vcard=card)
        else:
            hook = _webhook(settings, channel)
            assert hook is not None  # config validation checked every agent's channels
            row = Outbox(
                kind="webhook",
                idempotency_key=f"{key}.{channel}",
                lead_id=lead.id,
                recipient=agent.email,
                subject=rendered["subject"],
                payload=webhook.build(hook, view, rendered, f"{key}.{channel}"),
                deadline=utcnow() + timedelta(seconds=hook.retry_for),
            )
        session.add(row)
        rows.append(row)
    return next((r for r in rows if r.kind == "email"), rows[0])


def enqueue_email(
    session: Session,
    settings: Settings,
    recipient: AgentConfig,
    rendered: dict[str, str],
    key: str,
    lead_id: int | None = None,
) -> Outbox:
    """Queue one email that is not an alert (a digest, an answer to a reply)."""
    row = _email_row(settings, recipient, rendered, key, lead_id)
    session.add(row)
    return row


def _email_row(
    settings: Settings,
    recipient: AgentConfig,
    rendered: dict[str, str],
    key: str,
    lead_id: int | None,
    **extra: Any,
) -> Outbox:
    """An email outbox row (not yet added): the rendered message for the recipient, retried
    until `[notify.email] retry_for` from now; `extra` goes into its payload."""
    return email_to(settings, recipient.email, recipient.name, rendered, key, lead_id, **extra)


def email_to(
    settings: Settings,
    email: str,
    name: str | None,
    rendered: dict[str, str],
    key: str,
    lead_id: int | None,
    **extra: Any,
) -> Outbox:
    """An email outbox row (not yet added) to any address (a campaign mail to a lead):
    retried until `[notify.email] retry_for` from now; `extra` goes into its payload."""
    return Outbox(
        kind="email",
        idempotency_key=key,
        lead_id=lead_id,
        recipient=email,
        subject=rendered["subject"],
        payload={**rendered, "lead_id": lead_id, "recipient_name": name, **extra},
        deadline=utcnow() + timedelta(seconds=settings.notify.email.retry_for),
    )


def webhook_to(settings: Settings, hook: WebhookConfig, recipient: str, payload: dict[str, Any],
               key: str, lead_id: int | None, subject: str = "") -> Outbox:
    """A webhook outbox row (not yet added) with a body built by the caller (a campaign's
    text message), retried until the webhook's retry_for."""
    return Outbox(kind="webhook", idempotency_key=key, lead_id=lead_id, recipient=recipient,
                  subject=subject, payload=payload,
                  deadline=utcnow() + timedelta(seconds=hook.retry_for))


def find_webhook(settings: Settings, name: str) -> WebhookConfig | None:
    """The [[notify.webhooks]] entry with this name."""
    return _webhook(settings, name)


def _webhook(settings: Settings, name: str) -> WebhookConfig | None:
    return next((w for w in settings.notify.webhooks if w.name == name), None)


def _claim(engine: Engine, row_id: int) -> bool:
    return OUTBOX.claim(engine, row_id)


def release_dead_claims(engine: Engine, at_start: bool = False) -> int:
    """At start: alerts a dead local process was sending are due again at once (not after the
    lease). The receiver may see one twice; the stable Message-ID / idempotency key lets it
    drop the copy."""
    return OUTBOX.release_dead_claims(engine, at_start)


def _due(engine: Engine, limit: int, webhooks: bool) -> list[int]:
    """Rows due now, oldest first: the webhook rows, or the others (emails)."""
    kind = col(Outbox.kind) == "webhook" if webhooks else col(Outbox.kind) != "webhook"
    return OUTBOX.due_ids(engine, limit, kind, order_by="next_attempt_at")


class EmailLane:
    """Up to `[notify.email] connections` tasks, each keeping a relay session of its own
    (`email.Relay`) and sending the due email rows of one shared queue, one after another.
    A task claims up to CHUNK rows at once, in one transaction, just before it sends them;
    each outcome is recorded as soon as it is known, through the sender's group commit, so
    the tasks' outcomes share transactions. A task with nothing left to send looks for
    more due rows, then waits up to IDLE_CLOSE seconds for a pass to bring some, then closes
    its session; once the lane is `closing` (a drain, a stop) it closes as soon as the queue
    is empty. A `file:` relay gets one task, so files are written in order."""

    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self.queue: deque[int] = deque()
        self.known: set[int] = set()  # queued, or being sent by a task of this lane
        self.tasks: set[asyncio.Task[None]] = set()
        self.busy = 0  # tasks sending a row right now
        self.more = asyncio.Event()
        self.closing = False
        self.sent = 0
        self.sessions = 0  # relay sessions opened so far

    def width(self) -> int:
        cfg = self.sender.settings.notify.email
        return 1 if cfg.relay.startswith("file:") else cfg.connections

    def offer(self, ids: list[int]) -> None:
        """Queue the rows not queued or in flight here, and start the tasks they need."""
        self._queue(ids)
        while len(self.tasks) < self.width() and len(self.queue) > len(self.tasks) - self.busy:
            task = asyncio.create_task(self._connection(), name="outbox-email")
            self.tasks.add(task)
            task.add_done_callback(self._finished)

    def close_when_idle(self) -> None:
        self.closing = True
        self.more.set()

    def _queue(self, ids: list[int]) -> None:
        for row_id in ids:
            if row_id not in self.known:
                self.known.add(row_id)
                self.queue.append(row_id)
        if self.queue:
            self.more.set()

    async def _connection(self) -> None:
        relay = email_channel.Relay(self.sender.settings.notify.email)
        try:
            while await self._next():
                share = min(CHUNK, max(1, len(self.queue) // self.width()))
                chunk = [self.queue.popleft() for _ in range(share)]
                self.busy += 1
                try:
                    await self._send_chunk(relay, chunk)
                finally:
                    self.busy -= 1
                    self.known.difference_update(chunk)
        finally:
            self.sessions += relay.opened
            await asyncio.to_thread(relay.close)  # no send uses it any more (see _send)

    async def _next(self) -> bool:
        """Whether a row is queued for this task: looked for, then waited for while the lane
        is open; False when the session is to be closed."""
        if not self.queue and not self.closing:
            self._queue(await asyncio.to_thread(
                _due, self.sender.engine, self.sender.limit, False))
        while not self.queue:
            if self.closing:
                return False
            self.more.clear()
            try:
                await asyncio.wait_for(self.more.wait(), timeout=IDLE_CLOSE)
            except TimeoutError:
                return bool(self.queue)
        return True

    async def _send_chunk(self, relay: email_channel.Relay, chunk: list[int]) -> None:
        """Claim the chunk's rows (one transaction), send each on this session, and record
        each outcome as soon as it is known (the lane's tasks share those commits)."""
        engine, settings = self.sender.engine, self.sender.settings
        rows = await asyncio.to_thread(_claim_and_load, engine, chunk)
        for i, row in enumerate(rows):
            job = asyncio.ensure_future(asyncio.to_thread(_attempt, settings, relay, row))
            try:
                outcome = await asyncio.shield(job)
            except asyncio.CancelledError:  # a stop: cut the session; the rows are released
                relay.abort()
                await asyncio.wait([job])
                done = job.result()
                unsent = rows[i:] if done is None else rows[i + 1:]
                if done is not None:  # its 250 came before the cut: it was sent
                    await asyncio.shield(self.sender.recorder.submit(done))
                for n, left in enumerate(unsent):  # all but a cut one were never tried
                    await asyncio.to_thread(_release, engine, left[0], n > 0 or done is not None)
                log.warning("alert cut short by the stop; due again",
                            outbox=[r[0] for r in unsent])
                raise
            if outcome is None:  # cut by relay.abort: due again at once
                await asyncio.to_thread(_release, engine, row[0])
                continue
            sent = await self.sender.recorder.submit(outcome)
            self.sent += sent  # (not `+= await`: the tasks interleave)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("outbox email lane failed", error=f"{type(exc).__name__}: {exc}")
        if self.queue and not task.cancelled():  # rows left by a task that failed
            self.offer([])


class Sender:
    """Delivers the outbox from an event loop. Each pass takes what is due: the emails onto
    the email lane (EmailLane: a few relay sessions, each sending one row after another);
    each webhook row as a task of its own (at most IN_FLIGHT at once). A pass does not wait
    for them: the next one skips rows in flight (their claim's lease), and a slow receiver
    holds up nothing but its own alerts."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine, self.settings = engine, settings
        self.webhooks: set[asyncio.Task[int]] = set()
        self.email = EmailLane(self)
        self.limit = 50
        self.hooks_sent = 0
        # Delivery outcomes: written as they come, side by side sends sharing a commit.
        self.recorder: GroupCommit[Attempt, int] = GroupCommit(lambda: self.engine,
                                                               _record_many)

    @property
    def sent(self) -> int:
        """Rows delivered by this sender so far."""
        return self.hooks_sent + self.email.sent

    async def run_pass(self, limit: int = 50) -> None:
        """Start sending what is due; returns without waiting for it."""
        self.limit = limit
        room = IN_FLIGHT - len(self.webhooks)
        if room > 0:
            for row_id in await asyncio.to_thread(_due, self.engine, min(limit, room), True):
                if await asyncio.to_thread(_claim, self.engine, row_id):
                    task = asyncio.create_task(self._webhook(row_id), name=f"outbox-{row_id}")
                    self.webhooks.add(task)
                    task.add_done_callback(self._finished)
        if len(self.email.queue) < limit:
            self.email.offer(await asyncio.to_thread(_due, self.engine, limit, False))

    async def drain(self, grace: float | None = None) -> None:
        """Wait for what is in flight (the email lane sends what it has queued, then closes
        its sessions); after `grace` seconds, cut it (those rows are due again)."""
        self.email.close_when_idle()
        tasks = self._in_flight()
        if not tasks:
            return
        _, left = await asyncio.wait(tasks, timeout=grace)
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left)

    async def finish(self, grace: float) -> None:
        """At a stop: keep sending what is due, and wait for what is in flight, for up to
        `grace` seconds; then cut what is left (due again, for the next sender)."""
        end = time.monotonic() + grace
        self.email.close_when_idle()
        while True:
            try:
                await self.run_pass()
            except Exception:
                log.exception("outbox pass failed")
            tasks = self._in_flight()
            if not tasks:
                return
            await asyncio.wait(tasks, timeout=max(0.0, end - time.monotonic()))
            if time.monotonic() >= end:
                await self.drain(0)
                return

    def _in_flight(self) -> list[asyncio.Task[Any]]:
        return [*self.webhooks, *self.email.tasks]

    async def _webhook(self, row_id: int) -> int:
        try:
            _, payload, _, key = await asyncio.to_thread(_load, self.engine, row_id)
            error, permanent = None, False
            try:
                hook = _webhook(self.settings, payload["channel"])
                if hook is None:
                    raise PermanentFailure(
                        f"no [[notify.webhooks]] named {payload['channel']!r} any more"
                    )
                await webhook.send_async(hook, payload, key)
            except PermanentFailure as exc:
                error, permanent = str(exc), True
            except Exception as exc:  # refused connection, deadline, redirect, 5xx: retry
                error = f"{type(exc).__name__}: {exc}"
        except asyncio.CancelledError:  # a stop cut it short: due again now, for anyone
            await asyncio.to_thread(_release, self.engine, row_id)
            log.warning("alert cut short by the stop; due again", outbox=row_id)
            raise
        return await self.recorder.submit((row_id, error, permanent))

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self.webhooks.discard(task)
        if task.cancelled():
            return
        if (exc := task.exception()) is not None:  # the database, most likely: retried later
            log.error("outbox delivery failed", task=task.get_name(),
                      error=f"{type(exc).__name__}: {exc}")
        elif isinstance(task.result(), int):
            self.hooks_sent += task.result()



def deliver_due(engine: Engine, settings: Settings, limit: int = 50) -> int:
    """Try every due row once (emails on the lane's sessions, webhooks concurrently) and wait
    for all; the number delivered. For code without an event loop (the CLI, tests); the daemon
    uses Sender."""

    async def once() -> int:
        sender = Sender(engine, settings)
        await sender.run_pass(limit)
        await sender.drain()
        return sender.sent

    return asyncio.run(once())


def _load(engine: Engine, row_id: int) -> tuple[str, dict[str, Any], str, str]:
    with session_scope(engine) as session:
        row = session.get(Outbox, row_id)
        assert row is not None
        return row.kind, row.payload, row.recipient, row.idempotency_key


def _release(engine: Engine, row_id: int, untried: bool = False) -> None:
    """A send cut short (the daemon stopping): the row is due again at once, unclaimed. The
    receiver may have had it; the stable key lets it drop the copy. `untried`: it was claimed
    but never sent, so its claim counts no attempt."""
    OUTBOX.release(engine, row_id, untried=untried)


Row = tuple[int, str, dict[str, Any], str, str]  # id, kind, payload, recipient, key
Attempt = tuple[int, str | None, bool]  # id, the error (None: sent), whether it is for good


def _claim_and_load(engine: Engine, row_ids: list[int]) -> list[Row]:
    """Claim the rows of `row_ids` that are free and load them, in ONE transaction; the rows
    another sender has are left out."""
    with session_scope(engine) as session:
        taken = OUTBOX.claim_many(engine, row_ids, session=session)
        if not taken:
            return []
        rows = session.exec(select(Outbox).where(col(Outbox.id).in_(taken))).all()
        by_id = {r.id: (r.id, r.kind, r.payload, r.recipient, r.idempotency_key) for r in rows
                 if r.id is not None}
    return [by_id[i] for i in row_ids if i in by_id]


def _attempt(settings: Settings, relay: email_channel.Relay, row: Row) -> Attempt | None:
    """Send one claimed email row on `relay`'s session; its outcome, or None when the send
    was cut by `relay.abort` (a stop)."""
    row_id, kind, payload, recipient, key = row
    try:
        _send(settings, kind, payload, recipient, key, relay)
    except email_channel.Aborted:
        return None
    except PermanentFailure as exc:
        return row_id, str(exc), True
    except Exception as exc:  # refused connection, timeout, 4xx: try again later
        return row_id, f"{type(exc).__name__}: {exc}", False
    return row_id, None, False


def _record_many(engine: Engine, attempts: Sequence[Attempt]) -> list[int]:
    """Note each attempt's outcome, in one transaction: 1 for each row sent, else 0."""
    with session_scope(engine) as session:
        return [_record_in(session, *attempt) for attempt in attempts]


def _record_in(session: Session, row_id: int, error: str | None, permanent: bool) -> int:
    """Note one attempt's outcome: sent, failed for good, or a retry after the backoff."""
    row = session.get(Outbox, row_id)
    assert row is not None
    now = utcnow()
    channel = str(row.payload.get("channel") or row.kind)
    ALERTS.labels(
        channel, "sent" if error is None else ("failed" if permanent else "retry")
    ).inc()
    if error is None:
        row.status, row.sent_at, row.last_error = OutboxStatus.SENT, now, None
        log.info("alert sent", outbox=row_id, lead=row.lead_id, attempts=row.attempts)
    elif permanent or (row.deadline is not None and now >= row.deadline):
        row.status, row.last_error = OutboxStatus.FAILED, error
        log.error("alert failed for good", outbox=row_id, lead=row.lead_id, error=error)
    else:
        OUTBOX.retry_later(row, error)
        level = logging.WARNING if row.attempts == 1 else logging.INFO
        log.log(
            level,
            "alert delivery failed, will retry",
            outbox=row_id,
            error=error,
            retry_at=row.next_attempt_at.isoformat(),
        )
    session.add(row)
    return 1 if error is None else 0


def _send(settings: Settings, kind: str, payload: dict[str, Any], recipient: str, key: str,
          relay: email_channel.Relay | None = None) -> None:
    """One attempt on the row's channel (an email on `relay`'s session, else on one of its
    own); PermanentFailure when retrying cannot help."""
    if kind == "webhook":
        hook = _webhook(settings, payload["channel"])
        if hook is None:
            raise PermanentFailure(f"no [[notify.webhooks]] named {payload['channel']!r} any more")
        webhook.send(hook, payload, key)
        return
    cfg = settings.notify.email
    tag = None
    secret = settings.reply_secret()
    if secret:  # the tag that lets the agent's answer act (routing.replies)
        tag = tokens.reply_tag(secret, payload.get("lead_id"), recipient, key)
    msg = email_channel.build_message(cfg, recipient, payload, key, tag)
    if relay is None:
        email_channel.send(cfg, msg, recipient)
    else:
        relay.send(msg, recipient)


def listing(engine: Engine, status: str | None = None) -> list[Outbox]:
    """The outbox's rows in order, only those with `status` when given (`leadmail outbox`)."""
    with Session(engine) as session:
        query = select(Outbox).order_by(col(Outbox.id))
        if status:
            query = query.where(Outbox.status == status)
        return list(session.exec(query).all())
