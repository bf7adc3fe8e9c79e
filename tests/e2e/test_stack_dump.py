"""SIGUSR1: a running daemon writes every thread's stack to its log and goes on serving."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.conftest import Sink, free_port, send, wait_for, write_config

pytestmark = pytest.mark.e2e


def test_sigusr1_dumps_the_stacks_and_the_daemon_goes_on(
        tmp_path: Path, sink: Sink, daemon_factory) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    cfg = write_config(tmp_path, db_url=f"sqlite:///{tmp_path / 'l.db'}", smtp_port=port,
                       relay=f"127.0.0.1:{sink.port}")
    d = daemon_factory(cfg, port).start()
    assert d.proc is not None
    d.proc.send_signal(signal.SIGUSR1)
    dump = wait_for(lambda: "Current thread" in d.log_text() and d.log_text(), timeout=20)
    assert 'File "' in dump and "run.py" in dump  # the main thread, in `leadmail run`
    assert d.proc.poll() is None
    raw = (b"From: Una Dumpling <una.d@example.com>\r\nTo: leads@brokerage.example\r\n"
           b"Subject: Question about a house\r\nMessage-ID: <usr1@example.com>\r\n\r\n"
           b"Hi, I'm Una Dumpling. Is the house on Zephyr Lane still for sale? 512-555-0134\r\n")
    assert send(port, raw)[0] == 250
    wait_for(lambda: any(b"Una Dumpling" in m.as_bytes() for _, m, _ in sink.messages),
             timeout=30)
    assert d.stop() == 0
