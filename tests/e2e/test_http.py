"""The daemon's HTTP side: /healthz, /readyz and /metrics over real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import Sink, free_port, run_cli, send, wait_for, write_config
from tests.e2e.test_daemon import lead_mail

pytestmark = pytest.mark.e2e


def test_health_ready_metrics(tmp_path: Path, sink: Sink, daemon_factory) -> None:  # type: ignore[no-untyped-def]
    port, http = free_port(), free_port()
    cfg = write_config(tmp_path, db_url=f"sqlite:///{tmp_path / 'l.db'}", smtp_port=port,
                       relay=f"127.0.0.1:{sink.port}",
                       extra=f'[http]\nlisten = "127.0.0.1:{http}"\n')
    d = daemon_factory(cfg, port).start()
    base = f"http://127.0.0.1:{http}"
    wait_for(lambda: _get(base + "/healthz"), timeout=10)
    assert httpx.get(base + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(base + "/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "smtp": "ok"}
    assert send(port, lead_mail(1))[0] == 250
    # (the first lead also waits for the reader processes to start: seconds on a busy box)
    wait_for(lambda: sink.messages, timeout=30)
    text = httpx.get(base + "/metrics").text
    assert 'leadmail_messages_received_total{intake="smtp"} 1.0' in text
    assert 'leadmail_messages_processed_total{outcome="lead",source="Direct"} 1.0' in text
    assert 'leadmail_messages_by_status{status="lead"} 1.0' in text
    assert 'leadmail_outbox{status="sent"} 1.0' in text
    assert 'leadmail_alerts_total{channel="email",result="sent"} 1.0' in text
    assert "leadmail_pipeline_step_seconds_bucket" in text
    assert 'leadmail_intake_up{intake="smtp"} 1.0' in text
    status = run_cli("status", config=cfg, cwd=tmp_path)
    assert "daemon     ready: database ok, smtp ok" in status.stdout
    assert "messages   lead 1" in status.stdout
    assert d.stop() == 0
    down = run_cli("status", config=cfg, cwd=tmp_path, check=False)
    assert down.returncode == 1 and "not answering" in down.stdout


def _get(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
