"""A running daemon for an attack test: `leadmail run` with SMTP and HTTP on free ports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from leadmail.db import make_engine
from leadmail.models import Message
from tests.conftest import DaemonProc, Sink, free_port, wait_for, write_config


@dataclass
class Served:
    """The daemon, its database, its SMTP port and its HTTP base URL."""

    daemon: DaemonProc
    engine: Engine
    port: int
    base: str

    def stop(self) -> int:
        """Stop the daemon; its exit code."""
        self.engine.dispose()
        return self.daemon.stop()


def up(url: str) -> bool:
    """Whether the URL answers 200."""
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def serve(tmp_path: Path, sink: Sink, daemon_factory: Callable[..., DaemonProc], *,
          extra: str = "", db_url: str | None = None, rules_dir: Path | None = None,
          env: dict[str, str] | None = None) -> Served:
    """Start a daemon whose config has `[http] listen` followed by `extra` (more [http] keys,
    then any tables) and wait until HTTP answers."""
    port, http = free_port(), free_port()
    url = db_url or f"sqlite:///{tmp_path / 'leadmail.db'}"
    cfg = write_config(tmp_path, db_url=url, smtp_port=port, relay=f"127.0.0.1:{sink.port}",
                       extra=f'[http]\nlisten = "127.0.0.1:{http}"\n{extra}',
                       rules_dir=rules_dir)
    d = daemon_factory(cfg, port)
    d.env.update(env or {})
    d.start()
    base = f"http://127.0.0.1:{http}"
    wait_for(lambda: up(base + "/healthz"), timeout=15)
    return Served(d, make_engine(url), port, base)


def finished(engine: Engine, count: int) -> list[Message]:
    """Every stored message, once at least `count` of them reached a final state; else []."""
    with Session(engine) as s:
        msgs = list(s.exec(select(Message).order_by(col(Message.id))).all())
    done = [m for m in msgs if m.status not in ("received", "processing")]
    return msgs if len(done) >= count else []


def final_status(engine: Engine, message_id: str) -> tuple[str, Any] | None:
    """(status, reason) of the stored message with this Message-ID once it is final."""
    with Session(engine) as s:
        for msg in s.exec(select(Message).order_by(col(Message.id))).all():
            if message_id.encode() in msg.raw[:2000] and msg.status not in (
                    "received", "processing"):
                return msg.status, msg.reason
    return None
