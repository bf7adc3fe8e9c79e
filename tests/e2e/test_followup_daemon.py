"""Follow-up in the real daemon: a lead POSTed to the API is routed and alerted like an email,
gets its first Next Step, shows up on the pages, and the follow-up worker sends its reminder."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import Sink, free_port, wait_for, write_config

pytestmark = pytest.mark.e2e
KEY = "e2e-web-form-key-0123456789"
MANAGER_KEY = "e2e-manager-key-0123456789"


def test_api_lead_through_the_daemon(tmp_path: Path, sink: Sink, daemon_factory) -> None:  # type: ignore[no-untyped-def]
    port, http = free_port(), free_port()
    extra = f"""
[http]
listen = "127.0.0.1:{http}"
base_url = "http://127.0.0.1:{http}"
secret = "e2e-secret-0123456789"
[followup]
interval = 0.5
[[followup.plans]]
stage = "Lead"
[[followup.plans.steps]]
name = "Call within 5 minutes"
due = "0m"
contact = true
[[teams]]
name = "All"
agents = ["ana@brokerage.example", "ben@brokerage.example", "cara@brokerage.example"]
managers = ["max@brokerage.example"]
[[api_keys]]
name = "web"
key = "{KEY}"
source = "Website"
[[api_keys]]
name = "max"
key = "{MANAGER_KEY}"
role = "manager"
user = "max@brokerage.example"
"""
    cfg = write_config(tmp_path, db_url=f"sqlite:///{tmp_path / 'l.db'}", smtp_port=port,
                       relay=f"127.0.0.1:{sink.port}", extra=extra)
    d = daemon_factory(cfg, port).start()
    base = f"http://127.0.0.1:{http}"
    wait_for(lambda: _up(base), timeout=10)
    r = httpx.post(f"{base}/api/v1/leads", headers={"X-API-Key": KEY}, timeout=30, json={
        "first_name": "Gus", "last_name": "Grant", "email": "gus@buyers.example",
        "phone": "+15125550177", "message": "Call me"})
    assert r.status_code == 201, r.text
    lead_id = r.json()["lead_id"]
    alert = wait_for(lambda: sink.to("ana@brokerage.example"), timeout=10)[0]
    assert "Gus Grant" in str(alert["Subject"])
    # due at once: the follow-up worker's reminder comes next, with its "done" link
    reminder = wait_for(lambda: [m for m in sink.to("ana@brokerage.example")
                                 if "Call within 5 minutes" in str(m["Subject"])], timeout=15)[0]
    text = reminder.get_body(preferencelist=("plain",)).get_content()
    link = next(w for w in text.split() if w.startswith(f"{base}/s/"))
    assert httpx.post(link).status_code == 200
    lead = httpx.get(f"{base}/api/v1/leads/{lead_id}", headers={"X-API-Key": MANAGER_KEY}).json()
    assert [s["status"] for s in lead["steps"]] == ["done"]
    assert lead["last_contact_at"] is not None
    page = httpx.get(f"{base}/app/speed", headers={"X-API-Key": MANAGER_KEY})
    assert page.status_code == 200 and 'data-chart="agent"' in page.text
    assert d.stop() == 0


def _up(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
