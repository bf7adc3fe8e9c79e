"""Agent alerts end to end: `leadmail run` as a subprocess, a real SMTP sink, real HTTP clicks.

An alert arrives, its claim link claims, a second click says already claimed, forged and
expired tokens get 403 and change nothing; a reply "CLAIM" claims, the same reply from another
address does nothing and is logged; with the relay down for a while every alert still arrives
exactly once.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlmodel import Session, col, select

from leadmail.db import make_engine
from leadmail.models import Event, Lead, Message, Offer, Outbox, utcnow
from leadmail.notify import links
from tests.conftest import Sink, free_port, send, wait_for, write_config
from tests.e2e.test_daemon import lead_mail

pytestmark = pytest.mark.e2e

SECRET = "e2e-link-secret-0123456789"
JUMP_BALL = """
[[routes]]
pond = "default"
strategy = "first_to_claim"
claim_window = 30
hide_contact = true
"""


def http_extra(http: int, routes: str = JUMP_BALL) -> str:
    return (
        f'[http]\nlisten = "127.0.0.1:{http}"\nbase_url = "http://127.0.0.1:{http}"\n'
        f'secret = "{SECRET}"\n{routes}'
    )


def state(engine: Any, lead_id: int) -> tuple[Any, ...]:
    """Everything a claim could change: the lead, its offers, its events."""
    with Session(engine) as s:
        lead = s.get(Lead, lead_id)
        assert lead is not None
        offers = s.exec(select(Offer.id, Offer.status).where(Offer.lead_id == lead_id)).all()
        events = s.exec(select(Event.kind).where(Event.lead_id == lead_id)).all()
        return lead.status, lead.agent, sorted(offers), sorted(events)


def text_of(msg: Any) -> str:
    return str(msg.get_body(("plain",)).get_content())


def link_in(msg: Any, label: str) -> str:
    m = re.search(rf"^{label}:\s+(\S+)", text_of(msg), re.M)
    assert m, text_of(msg)
    return m.group(1)


def up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def daemon(tmp_path: Path, sink: Sink, daemon_factory):  # type: ignore[no-untyped-def]
    port, http = free_port(), free_port()
    db_url = f"sqlite:///{tmp_path / 'leadmail.db'}"
    cfg = write_config(
        tmp_path,
        db_url=db_url,
        smtp_port=port,
        relay=f"127.0.0.1:{sink.port}",
        extra=http_extra(http),
    )
    d = daemon_factory(cfg, port)
    # Replies go to an address the SMTP intake accepts.
    d.env["LEADMAIL_NOTIFY_EMAIL_REPLY_TO"] = "leads@brokerage.example"
    d.start()
    base = f"http://127.0.0.1:{http}"
    wait_for(lambda: up(base + "/healthz"), timeout=15)
    yield d, make_engine(db_url), port, base
    assert d.stop() == 0


def test_claim_link_claims_once_and_tokens_are_checked(daemon, sink: Sink) -> None:  # type: ignore[no-untyped-def]
    d, engine, port, base = daemon
    assert send(port, lead_mail(1))[0] == 250
    wait_for(lambda: len(sink.messages) >= 3, timeout=15)
    ana = sink.to("ana@brokerage.example")[0]
    ben = sink.to("ben@brokerage.example")[0]
    # The offer hides who the lead is until claimed (the route says hide_contact).
    assert "Up for grabs" in str(ana["Subject"])
    assert "512-555" not in text_of(ana) and "+1512555" not in text_of(ana)
    assert "person1@buyers.example" not in ana.as_string()
    assert not [p for p in ana.iter_attachments() if p.get_content_type() == "text/vcard"]
    lead_id = int(ana["X-Leadmail-Lead"])
    before = state(engine, lead_id)
    assert before[0] == "offered"

    claim = link_in(ana, "Claim it")
    assert claim.startswith(base + "/a/")
    # Opening the link (a mail scanner, a preview) changes nothing: it shows one button.
    page = httpx.get(claim)
    assert page.status_code == 200
    assert '<form method="post"' in page.text and "Claim this lead" in page.text
    assert "+15125550001" not in page.text
    assert state(engine, lead_id) == before

    # Forged: one character of the signature changed; or signed with another secret.
    token = claim.rsplit("/", 1)[1]
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    other = links.sign("not-the-secret-0123456789", links.verify(SECRET, token, utcnow()))
    expired = links.sign(
        SECRET,
        links.Link(lead_id, "ana@brokerage.example", "claim", utcnow() - timedelta(seconds=1)),
    )
    for bad in (flipped, other, expired, "garbage", token.split(".")[0]):
        for method in ("GET", "POST"):
            r = httpx.request(method, f"{base}/a/{bad}")
            assert r.status_code == 403, (bad, method, r.text)
    assert "This link has expired" in httpx.post(f"{base}/a/{expired}").text
    assert state(engine, lead_id) == before

    # The click that counts.
    r = httpx.post(claim)
    assert r.status_code == 200, r.text
    assert "You have claimed Person Number" in r.text, r.text[-1200:]
    assert 'href="tel:+15125550001"' in r.text  # now the contact is shown
    # The same link again, and Ben's link: already claimed.
    again = httpx.post(claim)
    assert again.status_code == 200 and "already claimed" in again.text
    late = httpx.post(link_in(ben, "Claim it"))
    assert late.status_code == 409
    assert "Already claimed by Ana Agent (ana@brokerage.example)" in late.text
    assert "+15125550001" not in late.text  # the loser still does not see the contact
    with Session(engine) as s:
        lead = s.get(Lead, lead_id)
        assert lead is not None and lead.agent == "ana@brokerage.example"
        kinds = [e.kind for e in s.exec(select(Event).where(Event.lead_id == lead_id))]
    assert kinds.count("claimed") == 1 and "claim_refused" in kinds
    metrics = httpx.get(base + "/metrics").text
    assert 'leadmail_agent_actions_total{action="claim",result="claimed",via="link"} 1.0' in metrics
    assert 'leadmail_agent_actions_total{action="unknown",result="forged",via="link"}' in metrics


def reply(frm: str, to_alert: Any, body: str, n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = frm
    msg["To"] = "leads@brokerage.example"
    msg["Subject"] = "Re: " + str(to_alert["Subject"])
    msg["Message-ID"] = f"<reply-{n}@phone.example>"
    msg["In-Reply-To"] = to_alert["Message-ID"]
    msg["References"] = to_alert["Message-ID"]
    quoted = "\n".join("> " + line for line in text_of(to_alert).splitlines())
    msg.set_content(f"{body}\n\nOn Mon, Nov 23, 2026 at 9:00 AM leadmail wrote:\n{quoted}\n")
    return msg.as_bytes()


def test_reply_claim_claims_and_other_senders_do_nothing(daemon, sink: Sink) -> None:  # type: ignore[no-untyped-def]
    d, engine, port, base = daemon
    assert send(port, lead_mail(2))[0] == 250
    wait_for(lambda: len(sink.messages) >= 3, timeout=15)
    ana = sink.to("ana@brokerage.example")[0]
    assert str(ana["Reply-To"]) == "leads@brokerage.example"
    lead_id = int(ana["X-Leadmail-Lead"])
    before = state(engine, lead_id)

    # The same reply from addresses other than Ana's: a stranger, and Ben (an agent, but the
    # alert was Ana's). Nothing happens; each is logged and recorded.
    for n, frm in enumerate(("Mallory <mallory@evil.example>", "Ben <ben@brokerage.example>")):
        assert send(port, reply(frm, ana, "CLAIM", n))[0] == 250
    wait_for(lambda: _reasons(engine, 2), timeout=15)
    assert state(engine, lead_id)[:3] == before[:3]
    for reason in _reasons(engine, 2):
        assert "not from ana@brokerage.example" in reason and "ignored" in reason
    log = d.log_text()
    assert log.count("reply to an alert from another address: ignored") == 2
    with Session(engine) as s:
        ignored = s.exec(select(Event).where(Event.kind == "reply_ignored")).all()
    # Read in parallel (one reader per CPU): in either order.
    assert sorted(e.data["sender"] for e in ignored) == [
        "ben@brokerage.example", "mallory@evil.example"]

    # Ana's own reply claims; she gets an answer in the same thread with the contact.
    assert send(port, reply("Ana Agent <ana@brokerage.example>", ana, "Claim!", 9))[0] == 250
    wait_for(lambda: state(engine, lead_id)[1] == "ana@brokerage.example", timeout=15)
    answer = wait_for(
        lambda: [
            m
            for m in sink.to("ana@brokerage.example")
            if str(m["In-Reply-To"]) == "<reply-9@phone.example>"
        ],
        timeout=15,
    )
    assert "You have claimed this lead" in str(answer[0]["Subject"])
    assert "+15125550002" in text_of(answer[0])
    with Session(engine) as s:
        msgs = s.exec(select(Message).order_by(col(Message.id))).all()
    assert [m.status for m in msgs] == ["lead", "non_lead", "non_lead", "non_lead"]
    assert "CLAIM to alert offer-" in (msgs[-1].reason or "")
    assert len(_leads(engine)) == 1  # no reply became a lead


def _reasons(engine: Any, count: int) -> list[str]:
    with Session(engine) as s:
        rows = s.exec(select(Message).where(Message.status == "non_lead")).all()
    reasons = [m.reason or "" for m in rows]
    return reasons if len(reasons) >= count else []


def _leads(engine: Any) -> list[Lead]:
    with Session(engine) as s:
        return list(s.exec(select(Lead)).all())


# ---------------------------------------------------------------------------------------------
# Relay down, then back

DOWN = float(os.environ.get("LEADMAIL_TEST_RELAY_DOWN", "4"))


def test_relay_down_then_back_every_alert_exactly_once(tmp_path: Path, daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """LEADMAIL_TEST_RELAY_DOWN=30 runs the issue's 30-second variant."""
    relay = Sink(free_port())
    port = free_port()
    db_url = f"sqlite:///{tmp_path / 'leadmail.db'}"
    cfg = write_config(
        tmp_path,
        db_url=db_url,
        smtp_port=port,
        relay=f"127.0.0.1:{relay.port}",
        extra='[[routes]]\npond = "default"\nstrategy = "round_robin"\n',
    )
    d = daemon_factory(cfg, port).start()
    engine = make_engine(db_url)
    went_down = time.monotonic()
    for n in range(1, 7):
        assert send(port, lead_mail(100 + n))[0] == 250
    # Every alert is tried and fails while the relay is down.
    wait_for(
        lambda: (
            _outbox(engine)
            and all(r.attempts >= 1 and r.last_error for r in _outbox(engine))
            and len(_outbox(engine)) == 6
        ),
        timeout=20,
    )
    time.sleep(max(0.0, DOWN - (time.monotonic() - went_down)))
    controller = Controller(relay, hostname="127.0.0.1", port=relay.port)
    controller.start()
    try:
        # Backoff doubles up to 5 min; after a down time T the next try comes within ~T more.
        wait_for(lambda: len(relay.messages) >= 6, timeout=2 * DOWN + 30, interval=0.2)
        wait_for(lambda: all(r.status == "sent" for r in _outbox(engine)), timeout=10)
        time.sleep(1.0)  # a duplicate would come now, if there were one
        ids = Counter(str(m["Message-ID"]) for _, m, _ in relay.messages)
        assert len(ids) == 6 and set(ids.values()) == {1}, ids
        rows = _outbox(engine)
        assert {f"<leadmail.{r.idempotency_key}@brokerage.example>" for r in rows} == set(ids)
        assert min(r.attempts for r in rows) >= 2
    finally:
        controller.stop()
    assert d.stop() == 0
    assert "alert delivery failed, will retry" in d.log_text()


def _outbox(engine: Any) -> list[Outbox]:
    with Session(engine) as s:
        return list(s.exec(select(Outbox).order_by(col(Outbox.id))).all())
