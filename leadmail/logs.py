"""Logging: structlog, JSON lines when not on a TTY, readable console output otherwise."""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading
import time
from typing import Any

import structlog
from structlog.typing import EventDict, Processor

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_PHONE = re.compile(r"(?<![\w])(\+?\d[\d ().-]{6,}\d)(?![\w])")
_KEEP = {"timestamp", "level", "logger", "msg", "lead", "outbox", "attempts", "event", "size",
         "count", "processed", "listen", "exc_info", "exception",
         "client"}  # a client's IP address, kept whole for fail2ban


def _mask_phone(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group(1))
    return m.group(1) if len(digits) < 10 else f"{m.group(1)[:3]}…{digits[-2:]}"


def redact_text(value: str) -> str:
    """Addresses and phones shortened (a…@example.com, +15…43): enough to tell them apart."""
    return _PHONE.sub(_mask_phone, _EMAIL.sub(r"\1…@\2", value))


def redact_exception(_logger: Any, _name: str, event: EventDict) -> EventDict:
    """structlog processor, after the traceback is formatted: a value in an exception's
    message (an address, a phone) is shortened like every other field."""
    for key in ("exception", "exc_text"):
        if isinstance(event.get(key), str):
            event[key] = redact_text(event[key])
    return event


def redact(_logger: Any, _name: str, event: EventDict) -> EventDict:
    """structlog processor: personal data out of the log unless the level is debug."""
    for key, value in event.items():
        if key not in _KEEP and isinstance(value, str):
            event[key] = redact_text(value)
    if isinstance(event.get("event"), str):
        event["event"] = redact_text(event["event"])
    return event


SUMMARY = "log line repeated; suppressed"
_NOT_REPEATED = {"event", "level", "timestamp", "exc_info", "stack_info"}
_VARYING = re.compile(r"0x[0-9a-fA-F]+|\d+")


class RepeatLimiter:
    """The same line at most `limit` times per `interval` seconds, then one summary line.

    A line is the same when its level, logger, event and every field but the timestamp are
    (and the exception it carries). Once a line was written `limit` times in its window,
    further copies are only counted; when the window ends, one line at the same level says
    how many were suppressed: {"event": "log line repeated; suppressed", "suppressed": K,
    "repeated": "<the event>", "seconds": interval, ...the line's other fields}. A flood of
    "Too many open files" thus costs a few lines a minute instead of gigabytes.
    """

    MAX_KEYS = 10_000  # lines tracked at once; older windows are dropped first

    def __init__(self, limit: int, interval: float) -> None:
        self.limit = limit
        self.interval = interval
        # key -> [window end, written, suppressed, level, event text, the line's fields]
        self._windows: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        self._flusher: threading.Thread | None = None

    def allow(self, key: str, level: str, text: str, fields: dict[str, Any] | None = None) -> bool:
        """True when this line is to be written; False when it is counted and dropped."""
        if self.limit <= 0:
            return True
        now = time.monotonic()
        due: list[list[Any]] = []
        with self._lock:
            window = self._windows.get(key)
            if window is not None and now >= window[0]:
                del self._windows[key]
                if window[2]:
                    due.append(window)
                window = None
            if window is None:
                if len(self._windows) >= self.MAX_KEYS:
                    due.extend(self._expire(now, everything=False))
                if len(self._windows) >= self.MAX_KEYS:  # all busy: drop the oldest
                    oldest = min(self._windows, key=lambda k: self._windows[k][0])
                    dropped = self._windows.pop(oldest)
                    if dropped[2]:
                        due.append(dropped)
                self._windows[key] = [now + self.interval, 1, 0, level, text, fields or {}]
                allowed = True
            elif window[1] < self.limit:
                window[1] += 1
                allowed = True
            else:
                window[2] += 1
                allowed = False
                if self._flusher is None or not self._flusher.is_alive():
                    self._flusher = threading.Thread(
                        target=self._flush_loop, name="log-repeats", daemon=True
                    )
                    self._flusher.start()
        for window in due:
            self._summarize(window)
        return allowed

    def _expire(self, now: float, everything: bool) -> list[list[Any]]:
        """Windows that ended (or all of them) removed; those that suppressed lines."""
        out = []
        for key in [k for k, w in self._windows.items() if everything or now >= w[0]]:
            window = self._windows.pop(key)
            if window[2]:
                out.append(window)
        return out

    def _flush_loop(self) -> None:
        # Summaries must come even when the flood stops and nothing else is logged.
        while True:
            with self._lock:
                pending = [w[0] for w in self._windows.values() if w[2]]
                if not pending:
                    self._flusher = None
                    return
                wait = min(pending) - time.monotonic()
            if wait > 0:
                time.sleep(min(wait, self.interval) + 0.01)
            with self._lock:
                due = self._expire(time.monotonic(), everything=False)
            for window in due:
                self._summarize(window)

    def flush(self) -> None:
        """Write the summaries of every window still suppressing (at exit)."""
        with self._lock:
            due = self._expire(time.monotonic(), everything=True)
        for window in due:
            self._summarize(window)

    def _summarize(self, window: list[Any]) -> None:
        _end, _written, suppressed, level, text, fields = window
        method = level if level in ("debug", "info", "warning", "error", "critical") else "warning"
        summary = {**fields, "suppressed": suppressed, "repeated": text[:300],
                   "seconds": self.interval, "_repeat_summary": True}
        getattr(structlog.get_logger("leadmail.logs"), method)(SUMMARY, **summary)

    # structlog processor, for leadmail's own lines
    def __call__(self, _logger: Any, method_name: str, event: EventDict) -> EventDict:
        if event.pop("_repeat_summary", False):
            return event
        parts = [repr((k, v)) for k, v in sorted(event.items()) if k != "timestamp"]
        if event.get("exc_info") is True:
            parts.append(repr(sys.exc_info()[1]))
        text = str(event.get("event", ""))
        fields = {k: v for k, v in event.items() if k not in _NOT_REPEATED}
        if not self.allow("\0".join(parts), str(event.get("level", method_name)), text, fields):
            raise structlog.DropEvent
        return event


class _RepeatFilter(logging.Filter):
    """The same limit for lines of libraries (asyncio, uvicorn, aiosmtpd) via stdlib logging."""

    def __init__(self, limiter: RepeatLimiter) -> None:
        super().__init__()
        self.limiter = limiter

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:
            text = str(record.msg)
        exc = record.exc_info[1] if record.exc_info else None
        # Libraries put what varies into the text (asyncio: fd=12, when=2615.3, 0x7f..., a
        # peer's port): numbers do not make a line different here.
        key = _VARYING.sub("#", f"{record.name}\0{record.levelno}\0{text}\0{exc!r}")
        return self.limiter.allow(key, record.levelname.lower(), text, {"logger": record.name})


_limiter: RepeatLimiter | None = None

# structlog's loggers and the stdlib handler (libraries: imapclient, asyncio, alembic) write to
# the same stream from several threads. Each keeps its own lock by default, and print() writes
# the line and its newline apart, so two threads' lines could run together into one: not a JSON
# line any more. Both write through this one lock, a whole line per write.
_WRITE_LOCK = threading.RLock()
# A worker process forked while another thread held the lock gets it fresh, not held forever
# (logging does the same for its handlers' locks).
os.register_at_fork(after_in_child=_WRITE_LOCK._at_fork_reinit)  # type: ignore[attr-defined]


class LineWriter:
    """structlog logger: each event one write of one line, under the lock the stdlib handler
    shares."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def msg(self, message: str) -> None:
        with _WRITE_LOCK:
            self._stream.write(message + "\n")
            self._stream.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = failure = msg


class _LineHandler(logging.StreamHandler):
    def createLock(self) -> None:  # noqa: N802 - logging.Handler's name
        self.lock = _WRITE_LOCK


@atexit.register
def _flush_at_exit() -> None:
    if _limiter is not None:
        _limiter.flush()


def setup(
    level: str = "info",
    fmt: str = "auto",
    repeat_limit: int = 10,
    repeat_interval: float = 60.0,
) -> None:
    """Configure structlog and route stdlib logging (libraries, leadmail.nlp) through it.

    The same line is written at most repeat_limit times per repeat_interval seconds
    (RepeatLimiter); 0 turns that off.
    """
    global _limiter
    if _limiter is not None:
        _limiter.flush()
    limiter = _limiter = RepeatLimiter(repeat_limit, repeat_interval)
    as_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if level != "debug":
        shared.append(redact)
    after: list[Processor] = [] if level == "debug" else [redact_exception]
    structlog.configure(
        processors=[*shared, limiter, structlog.processors.format_exc_info, *after, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=lambda *_args: LineWriter(sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = _LineHandler(sys.stderr)
    handler.addFilter(_RepeatFilter(limiter))
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        structlog.processors.format_exc_info, *after, renderer],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper()))
    # aiosmtpd logs every command at INFO on "mail.log"; keep its warnings only.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    # Migrations at every start and mail-parser's notes on MIME parts it skips are noise.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("mailparser").setLevel(logging.ERROR)
    # httpx logs every request's URL at INFO: a webhook URL may hold a token (Slack, Twilio).
    logging.getLogger("httpx").setLevel(logging.WARNING)
