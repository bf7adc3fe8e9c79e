"""Logging: structlog, JSON lines when not on a TTY, readable console output otherwise."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_PHONE = re.compile(r"(?<![\w])(\+?\d[\d ().-]{6,}\d)(?![\w])")
_KEEP = {"timestamp", "level", "logger", "msg", "lead", "outbox", "attempts", "event", "size",
         "count", "processed", "listen", "exc_info", "exception"}


def _mask_phone(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group(1))
    return m.group(1) if len(digits) < 10 else f"{m.group(1)[:3]}…{digits[-2:]}"


def redact_text(value: str) -> str:
    """Addresses and phones shortened (a…@example.com, +15…43): enough to tell them apart."""
    return _PHONE.sub(_mask_phone, _EMAIL.sub(r"\1…@\2", value))


def redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: personal data out of the log unless the level is debug."""
    for key, value in event.items():
        if key not in _KEEP and isinstance(value, str):
            event[key] = redact_text(value)
    if isinstance(event.get("event"), str):
        event["event"] = redact_text(event["event"])
    return event


def setup(level: str = "info", fmt: str = "auto") -> None:
    """Configure structlog and route stdlib logging (libraries, leadmail.nlp) through it."""
    as_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if level != "debug":
        shared.append(redact)
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
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
