"""Source health over a real daemon: a provider drops the phone from its template, the source
turns drifting within five leads, one admin email reaches a real SMTP sink, /metrics shows
the gauge, and five good leads later the source recovers by itself."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from leadmail.web.sources import FILLED, MISSING
from tests.conftest import (
    AGENTS,
    Sink,
    agents_toml,
    free_port,
    run_cli,
    send,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.e2e

RULE = """name = "acme"
source = "Acme Listings"
[match]
from = ["*@listings.acme-realty.example"]
"""
SURNAMES = ["Avery", "Brooks", "Carter", "Dalton", "Ellis", "Foster", "Garcia", "Hughes"]
ADMIN_KEY = "ops-key-0123456789abcdef0123456789"
GAUGE = 'leadmail_source_drifting{source="Acme Listings"}'


def acme_mail(n: int, phone: bool = True) -> bytes:
    """One Acme Listings notification; without its phone row when `phone` is false."""
    phone_row = f"Phone: (512) 555-{1000 + n:04d}\n" if phone else ""
    return (
        f"From: Acme Listings <alerts@listings.acme-realty.example>\n"
        f"To: leads@brokerage.example\n"
        f"Subject: New inquiry #{n} on 12 Elm St\n"
        f"Message-ID: <acme-{n}@listings.acme-realty.example>\n"
        f"Date: Tue, 01 Dec 2026 10:00:00 +0000\n"
        f"Content-Type: text/plain; charset=utf-8\n\n"
        f"Name: Pat {SURNAMES[n % len(SURNAMES)]}\nEmail: pat{n}@example.org\n{phone_row}"
        f"Property: 12 Elm St, Austin, TX 78701\n"
        f"Message: I would like to see this home on Saturday.\n"
    ).encode()


def _metrics(base: str) -> str:
    try:
        return httpx.get(base + "/metrics", timeout=2).text
    except httpx.HTTPError:
        return ""


def _leads(base: str) -> int:
    for line in _metrics(base).splitlines():
        if line.startswith('leadmail_messages_by_status{status="lead"}'):
            return int(float(line.split()[-1]))
    return 0


def _drift_mails(sink: Sink) -> list[object]:
    with sink.lock:
        return [m for _, m, _ in sink.messages if str(m["Subject"]).startswith("Lead source")]


def test_drift_alarm_once_and_recovery(tmp_path: Path, sink: Sink, daemon_factory) -> None:  # type: ignore[no-untyped-def]
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "acme.toml").write_text(RULE)
    port, http = free_port(), free_port()
    admin = AGENTS[2][1]
    cfg = write_config(tmp_path, db_url=f"sqlite:///{tmp_path / 'l.db'}", smtp_port=port,
                       relay=f"127.0.0.1:{sink.port}", rules_dir=rules,
                       extra=f'[http]\nadmin_listen = "127.0.0.1:{http}"\n'
                             f'[[api_keys]]\nname = "ops"\nkey = "{ADMIN_KEY}"\nrole = "admin"\n',
                       agents=agents_toml(**{admin: 'role = "admin"'}))
    d = daemon_factory(cfg, port).start()
    base = f"http://127.0.0.1:{http}"
    wait_for(lambda: _metrics(base), timeout=15)

    for n in range(1, 21):
        assert send(port, acme_mail(n))[0] == 250
    wait_for(lambda: _leads(base) == 20, timeout=30)
    assert f"{GAUGE} 0.0" in _metrics(base)

    # The template loses its phone: drifting by the third such lead.
    for n in range(21, 24):
        assert send(port, acme_mail(n, phone=False))[0] == 250
    wait_for(lambda: _leads(base) == 23, timeout=20)
    assert f"{GAUGE} 1.0" in _metrics(base)
    for n in range(24, 26):
        assert send(port, acme_mail(n, phone=False))[0] == 250
    wait_for(lambda: _leads(base) == 25, timeout=20)

    mails = wait_for(lambda: _drift_mails(sink), timeout=15)
    ready = httpx.get(base + "/readyz").json()
    assert [s["source"] for s in ready["drifting_sources"]] == ["Acme Listings"]
    page = httpx.get(base + "/app/sources", headers={"X-API-Key": ADMIN_KEY})
    assert page.status_code == 200
    assert "drifting</strong>" in page.text
    assert "phone missing in 3 of its last 5 leads" in page.text
    assert page.text.count('<svg class="spark"') == 6  # a sparkline per field
    # One bar per lead and field: the 5 phones missing, and no price in any of the 25.
    assert page.text.count(f'fill="{MISSING}"') == 5 + 25
    assert page.text.count(f'fill="{FILLED}"') == 6 * 25 - 30
    with ThreadPoolExecutor(2) as pool:  # two CLI processes at once: each start takes seconds
        status_run = pool.submit(run_cli, "status", config=cfg, cwd=tmp_path, check=False)
        sources_run = pool.submit(run_cli, "sources", "--json", config=cfg, cwd=tmp_path)
        status, listing = status_run.result(), json.loads(sources_run.result().stdout)
    assert status.returncode == 1  # a problem: exit 1
    assert "source Acme Listings is drifting: phone missing in 3 of its last 5 leads" in \
        status.stdout
    assert "sources    Acme Listings DRIFTING" in status.stdout
    acme = next(s for s in listing if s["source"] == "Acme Listings")
    assert acme["state"] == "drifting"
    assert acme["first_bad_message"] == "<acme-21@listings.acme-realty.example>"
    assert acme["last_good_message"] == "<acme-20@listings.acme-realty.example>"
    assert acme["fill"]["name"] == acme["fill"]["email"] == 1.0 and acme["fill"]["phone"] == 0.8

    # The provider fixes its template: five good leads later the source is well again.
    for n in range(26, 31):
        assert send(port, acme_mail(n))[0] == 250
    wait_for(lambda: _leads(base) == 30, timeout=20)
    wait_for(lambda: f"{GAUGE} 0.0" in _metrics(base), timeout=5)
    assert httpx.get(base + "/readyz").json()["drifting_sources"] == []

    # Exactly one admin email, to the admin, naming what changed and the messages.
    wait_for(lambda: len(sink.to(AGENTS[0][1]) + sink.to(AGENTS[1][1]) + sink.to(admin)) >= 30,
             timeout=20)
    assert len(_drift_mails(sink)) == 1
    (mail,) = mails
    assert admin in str(mail["To"])  # type: ignore[index]
    body = mail.get_body(("plain",)).get_content()  # type: ignore[attr-defined]
    assert "Acme Listings" in body and "phone missing in 3 of its last 5 leads" in body
    assert "<acme-20@listings.acme-realty.example>" in body
    assert "<acme-21@listings.acme-realty.example>" in body
    assert "leadmail quarantine show" in body and "leadmail extract --trace" in body
    assert d.stop() == 0
    assert '"source drifting"' in d.log_text() and '"source recovered"' in d.log_text()
