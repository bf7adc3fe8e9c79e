"""Campaigns in the real daemon, with a real SMTP sink as the relay: a Zillow lead gets step 1
from its agent's name with List-Unsubscribe; its answer over SMTP stops the campaign (step 2
never goes out) and alerts the agent; a lead that unsubscribes through the link gets nothing
more, and neither does a later lead with the same address. A SIGKILL between scheduling and
sending neither doubles nor skips a step."""

from __future__ import annotations

import signal
import smtplib
import time
import urllib.parse
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from leadmail import db, tokens
from leadmail.models import CampaignRun, CampaignStep, Lead, Outbox, Suppression
from tests.conftest import SAMPLES, Sink, free_port, send, wait_for, write_config

pytestmark = pytest.mark.e2e
ZILLOW = (SAMPLES / "zillow" / "contact_request_text.eml").read_bytes()
SECRET = "e2e-campaign-secret-0123456789"
ADMIN_KEY = "e2e-campaign-admin-key-0123"
SMS_SECRET = "e2e-sms-inbound-secret-0123"


def _config(tmp_path: Path, sink: Sink, port: int, http: int, steps: str) -> Path:
    extra = f"""
[http]
listen = "127.0.0.1:{http}"
base_url = "http://127.0.0.1:{http}"
secret = "{SECRET}"
[followup]
campaign_interval = 0.2
send_hours = "00:00-24:00"
postal_address = "Brokerage Example, 100 Congress Ave, Austin, TX 78701"
[[notify.webhooks]]
name = "sms"
url = "http://127.0.0.1:9/texts"
format = "form"
secret = "{SMS_SECRET}"
form = {{ To = "{{{{ agent.phone }}}}", Body = "{{{{ short }}}}" }}
[[api_keys]]
name = "admin"
key = "{ADMIN_KEY}"
role = "admin"
[[followup.campaigns]]
name = "zillow-buyers"
sources = ["Zillow", "Trulia"]
{steps}
"""
    path = write_config(tmp_path, db_url=f"sqlite:///{tmp_path / 'l.db'}", smtp_port=port,
                        relay=f"127.0.0.1:{sink.port}", extra=extra)
    # One reader process: it is ready sooner, and these tests send a few messages.
    path.write_text(path.read_text().replace("[pipeline]\n", "[pipeline]\nworkers = 1\n"))
    return path


def _zillow(name: str, email: str, n: int) -> bytes:
    """The Zillow sample as another person's lead (its own Message-ID and Zillow lead id)."""
    first, last = name.split()
    raw = ZILLOW.replace(b"Maria Lopez", name.encode()).replace(b"Maria", first.encode())
    raw = raw.replace(b"maria.lopez@example.com", email.encode())
    raw = raw.replace(b"5125550143999", f"51255501{n:05d}".encode())
    raw = raw.replace(b"(512) 555-0143", f"(512) 555-01{n:02d}".encode())
    return raw.replace(b"<20250304151240.7731.za1@mail.zillow.com>",
                       f"<zillow-{n}-{time.time_ns()}@mail.zillow.com>".encode())


def _rows(url: str, model: Any, *where: Any) -> list[Any]:
    engine = db.make_engine(url)
    try:
        with Session(engine) as s:
            return list(s.exec(select(model).where(*where).order_by(col(model.id))).all())
    finally:
        engine.dispose()


def _due_now(url: str, step: int) -> None:
    """Time goes by: the step is due now."""
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine) as s:
            s.execute(update(CampaignStep).where(col(CampaignStep.position) == step - 1)
                      .values(due_at=datetime.now(UTC)))
    finally:
        engine.dispose()


def _up(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


STEPS = """
[[followup.campaigns.steps]]
after = "1s"
channel = "email"
template = "buyer-intro"
[[followup.campaigns.steps]]
after = "6s"
channel = "email"
template = "buyer-checkin"
"""


def test_campaign_reply_unsubscribe_and_suppression(tmp_path: Path, sink: Sink,
                                                    daemon_factory: Any) -> None:
    port, http = free_port(), free_port()
    cfg = _config(tmp_path, sink, port, http, STEPS.replace('"6s"', '"1h"'))
    url = f"sqlite:///{tmp_path / 'l.db'}"
    d = daemon_factory(cfg, port).start()
    base = f"http://127.0.0.1:{http}"
    wait_for(lambda: _up(base), timeout=10)
    assert send(port, ZILLOW)[0] == 250
    assert send(port, _zillow("Sam Seller", "sam@example.net", 42))[0] == 250

    # Step 1 reaches Maria, from her agent's name, with a one-click unsubscribe link.
    first = wait_for(lambda: sink.to("maria.lopez@example.com"), timeout=30)[0]
    (maria,) = _rows(url, Lead, col(Lead.email) == "maria.lopez@example.com")
    agent_name = {"ana@brokerage.example": "Ana Agent", "ben@brokerage.example": "Ben Broker",
                  "cara@brokerage.example": "Cara Closer"}[maria.agent]
    assert str(first["From"]) == f"{agent_name} <leadmail@brokerage.example>"
    assert str(first["Reply-To"]) == "leads@brokerage.example"
    assert str(first["List-Unsubscribe"]).startswith(f"<{base}/u/")
    assert str(first["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    body = first.get_body(preferencelist=("plain",)).get_content()
    assert "Hi Maria" in body and agent_name in body and "100 Congress Ave" in body

    # Maria answers over SMTP: her campaign stops, step 2 never goes out, her agent is told.
    answer = EmailMessage()
    answer["From"] = "Maria Lopez <maria.lopez@example.com>"
    answer["To"] = "leads@brokerage.example"
    answer["Subject"] = "Re: " + str(first["Subject"])
    answer["Message-ID"] = "<answer-1@example.com>"
    answer["In-Reply-To"] = answer["References"] = str(first["Message-ID"])
    answer.set_content("Saturday at 10 works for us!\n\nOn Tue, Ana wrote:\n> Hi Maria")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.send_message(answer, from_addr="maria.lopez@example.com",
                          to_addrs=["leads@brokerage.example"])
    alert = wait_for(lambda: [m for m in sink.to(maria.agent)
                              if "answered your campaign" in str(m["Subject"])], timeout=30)[0]
    assert str(alert["Subject"]) == ("Maria Lopez answered your campaign: Saturday at 10 "
                                     "works for us!")
    assert f"{base}/app/leads/{maria.id}" in alert.get_body(
        preferencelist=("plain",)).get_content()

    # Sam unsubscribes through the link in step 1 (RFC 8058 one-click POST).
    sams = wait_for(lambda: sink.to("sam@example.net"), timeout=30)
    link = str(sams[0]["List-Unsubscribe"]).strip("<>")
    assert httpx.get(link).status_code == 200  # the page only asks
    assert not _rows(url, Suppression)
    r = httpx.post(link, content=b"List-Unsubscribe=One-Click",
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and "unsubscribed" in r.text
    assert [(s.kind, s.value) for s in _rows(url, Suppression)] == [
        ("email", "sam@example.net"), ("phone", "+15125550142")]
    # A later lead with the same address: its campaign starts, and every step is skipped.
    assert send(port, _zillow("Samuel Seller", "sam@example.net", 43))[0] == 250
    third = wait_for(lambda: [lead for lead in _rows(url, Lead, col(Lead.first_name) == "Samuel")
                              if lead.id], timeout=30)[0]
    wait_for(lambda: [s for s in _rows(url, CampaignStep, CampaignStep.lead_id == third.id)
                      if s.position == 0 and s.status == "skipped"], timeout=30)
    _due_now(url, 2)  # an hour goes by: step 2 of every lead is due
    wait_for(lambda: all(s.status != "scheduled" for s in _rows(url, CampaignStep)), timeout=10)
    time.sleep(1.0)  # the outbox has had time to send anything queued

    assert len(sink.to("maria.lopez@example.com")) == 1
    assert len(sink.to("sam@example.net")) == 1
    by_lead = {(s.lead_id, s.position + 1): (s.status, s.reason) for s in _rows(url, CampaignStep)}
    assert by_lead[(maria.id, 2)] == ("stopped", "campaign stopped: reply")
    assert by_lead[(third.id, 1)][0] == by_lead[(third.id, 2)][0] == "skipped"
    assert "suppression list" in str(by_lead[(third.id, 1)][1])
    runs = {r.lead_id: (r.status, r.stop_reason) for r in _rows(url, CampaignRun)}
    assert runs[maria.id] == ("stopped", "reply")
    assert set(runs.values()) >= {("stopped", "unsubscribe")}
    # The lead's API and timeline show the steps and why.
    got = httpx.get(f"{base}/api/v1/leads/{maria.id}", headers={"X-API-Key": ADMIN_KEY}).json()
    assert [(c["step"], c["status"], c["reason"]) for c in got["campaign_steps"]] == [
        (1, "sent", None), (2, "stopped", "campaign stopped: reply")]
    kinds = [a["kind"] for a in got["activity"]]
    assert {"campaign_sent", "lead_replied", "campaign_stopped"} <= set(kinds)
    page = httpx.get(f"{base}/app/leads/{maria.id}", headers={"X-API-Key": ADMIN_KEY})
    assert page.status_code == 200 and "campaign stopped: reply" in page.text
    sources = httpx.get(f"{base}/app/sources", headers={"X-API-Key": ADMIN_KEY})
    assert sources.status_code == 200 and "Median time to reply" in sources.text
    rep = httpx.get(f"{base}/api/v1/reports/campaigns", headers={"X-API-Key": ADMIN_KEY}).json()
    first = next(r for r in rep["table"] if r["step"] == 1)
    assert (first["sent"], first["replied"], first["unsubscribed"]) == (2, 1, 1)

    # STOP by text at the SMS webhook's inbound endpoint: signed, or refused.
    body = urllib.parse.urlencode({"From": "+15125550143", "Body": "STOP"}).encode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    forged = httpx.post(f"{base}/hooks/sms/inbound", content=body, headers={
        **form, "X-Leadmail-Timestamp": str(int(time.time())),
        "X-Leadmail-Signature": "sha256=" + "0" * 64})
    assert forged.status_code == 403
    assert ("phone", "+15125550143") not in {(s.kind, s.value) for s in _rows(url, Suppression)}
    stamp = str(int(time.time()))
    ok = httpx.post(f"{base}/hooks/sms/inbound", content=body, headers={
        **form, "X-Leadmail-Timestamp": stamp,
        "X-Leadmail-Signature": tokens.webhook_signature(SMS_SECRET, stamp, body)})
    assert ok.status_code == 200 and "<Response>" in ok.text
    assert ("phone", "+15125550143") in {(s.kind, s.value) for s in _rows(url, Suppression)}
    assert d.stop() == 0


def test_sigkill_between_scheduling_and_sending(tmp_path: Path, sink: Sink,
                                                daemon_factory: Any) -> None:
    steps = STEPS.replace('"1s"', '"2s"').replace('"6s"', '"1h"')
    port, http = free_port(), free_port()
    cfg = _config(tmp_path, sink, port, http, steps)
    url = f"sqlite:///{tmp_path / 'l.db'}"
    mine = "maria.lopez@example.com"
    d = daemon_factory(cfg, port).start()
    assert send(port, ZILLOW)[0] == 250
    # The campaign is scheduled with the lead, in its transaction; kill before step 1 is due.
    wait_for(lambda: _rows(url, CampaignStep), timeout=30)
    assert [s.status for s in _rows(url, CampaignStep)] == ["scheduled", "scheduled"]
    d.stop(signal.SIGKILL)
    assert not sink.to(mine)
    time.sleep(2.0)  # step 1 falls due while no daemon runs
    # The next daemon sends it once; kill that one as soon as the send is recorded.
    d2 = daemon_factory(cfg, port).start()
    wait_for(lambda: _rows(url, Outbox, Outbox.idempotency_key == "campaign-1-zillow-buyers-1",
                           Outbox.status == "sent"), timeout=20)
    d2.stop(signal.SIGKILL)
    assert [s.status for s in _rows(url, CampaignStep)] == ["sent", "scheduled"]
    _due_now(url, 2)  # an hour goes by
    # The third sends step 2 when it is due, and step 1 never again.
    daemon_factory(cfg, port).start()
    wait_for(lambda: len(sink.to(mine)) >= 2, timeout=30)
    wait_for(lambda: _rows(url, Outbox, Outbox.idempotency_key == "campaign-1-zillow-buyers-2",
                           Outbox.status == "sent"), timeout=10)
    time.sleep(0.5)
    assert [m["Message-ID"] for m in sink.to(mine)] == [
        f"<leadmail-campaign.campaign-1-zillow-buyers-{n}@brokerage.example>" for n in (1, 2)]
    assert [s.status for s in _rows(url, CampaignStep)] == ["sent", "sent"]
