"""Audit item 14 against the real daemon over SMTP: a forged "agent wrote to the lead" mail
(From: the agent, Date: 2001) changes nothing and says why; the agent's own mail counts only
when SMTP AUTH as the agent or a trusted Authentication-Results vouches for it, and its time is
when leadmail received it."""

from __future__ import annotations

import json
import re
import smtplib
import ssl
import subprocess
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from leadmail.db import make_engine
from leadmail.models import Activity, Event, Lead, Message, MessageStatus
from tests.conftest import Sink, free_port, run_cli, wait_for, wire, write_config

pytestmark = pytest.mark.e2e
ADMIN_KEY = "e2e-admin-key-0123456789abcdef"
MX = "mx.brokerage.example"
LEAD_EMAIL = "dana.doe@buyers.example"


def _cert(directory: Path) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(directory / "key.pem"), "-out", str(directory / "cert.pem"),
         "-days", "2", "-subj", "/CN=localhost"],
        check=True, capture_output=True,
    )


def _agent_mail(agent: str, subject: str, *headers: tuple[str, str]) -> bytes:
    """The agent (or someone saying so) writing to the lead, BCC to the leads address."""
    msg = EmailMessage()
    for name, value in headers:  # added by the MX on top, or forged by the sender
        msg[name] = value
    msg["From"] = f"Ana Agent <{agent}>"
    msg["To"] = f"Dana Doe <{LEAD_EMAIL}>"
    msg["Subject"] = subject
    msg["Date"] = "Mon, 01 Jan 2001 09:00:00 +0000"
    msg["Message-ID"] = "<" + re.sub(r"\W", "-", subject) + "@brokerage.example>"
    msg.set_content("Hi Dana, are you free for a showing on Saturday?")
    return wire(msg.as_bytes())


def _send(port: int, raw: bytes, login: tuple[str, str] | None = None) -> int:
    """Over SMTP, with STARTTLS + AUTH when a login is given; the stored message's id."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo()
        if login:
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # self-signed
            smtp.starttls(context=context)
            smtp.ehlo()
            smtp.login(*login)
        smtp.mail("ana@brokerage.example")
        smtp.rcpt("leads@brokerage.example")
        code, text = smtp.data(raw)
    assert code == 250, text
    return int(re.search(rb"#(\d+)", text).group(1))  # type: ignore[union-attr]


def _done(engine: Any, msg_id: int) -> Message:
    def final() -> Message | None:
        with Session(engine) as s:
            m = s.get(Message, msg_id)
            return m if m is not None and m.status in MessageStatus.FINAL else None

    return wait_for(final, timeout=20)  # type: ignore[no-any-return]


def _lead_api(base: str, lead_id: int) -> dict[str, Any]:
    r = httpx.get(f"{base}/api/v1/leads/{lead_id}", headers={"X-API-Key": ADMIN_KEY}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _up(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_forged_agent_mail_changes_nothing_and_vouched_mail_counts_at_intake_time(
    tmp_path: Path, sink: Sink, daemon_factory: Any
) -> None:
    _cert(tmp_path)
    (tmp_path / "smtp-users").write_text(
        "ana@brokerage.example:ana-password\nportal:portal-password\n")
    port, http = free_port(), free_port()
    extra = f"""
[http]
listen = "127.0.0.1:{http}"
[followup]
trusted_authserv_ids = ["{MX}"]
[[api_keys]]
name = "ops"
key = "{ADMIN_KEY}"
role = "admin"
[[routes]]
pond = "default"
strategy = "round_robin"
"""
    # relative paths: read from the config's folder (the daemon runs there anyway)
    smtp_keys = 'tls_cert = "cert.pem"\ntls_key = "key.pem"\nauth_users_file = "smtp-users"\n'
    db_url = f"sqlite:///{tmp_path / 'l.db'}"
    cfg = write_config(tmp_path, db_url=db_url, smtp_port=port,
                       relay=f"127.0.0.1:{sink.port}", extra=extra)
    cfg.write_text(cfg.read_text().replace('accept = ["leads@brokerage.example"]\n',
                                           'accept = ["leads@brokerage.example"]\n' + smtp_keys))
    d = daemon_factory(cfg, port).start()
    base = f"http://127.0.0.1:{http}"
    wait_for(lambda: _up(base), timeout=15)
    engine = make_engine(db_url)

    # A lead arrives; round robin gives it to Ana.
    lead_msg = EmailMessage()
    lead_msg["From"] = f"Dana Doe <{LEAD_EMAIL}>"
    lead_msg["To"] = "leads@brokerage.example"
    lead_msg["Subject"] = "Question about 12 Oak St"
    lead_msg["Message-ID"] = "<q-1@buyers.example>"
    lead_msg.set_content("Hi, I'm Dana Doe. Is 12 Oak St, Austin, TX 78701 still available?\n"
                         "Please call me at 512-555-0199.")
    first = _done(engine, _send(port, wire(lead_msg.as_bytes())))
    assert first.status == "lead" and first.lead_id, first.reason
    lead_id = first.lead_id
    with Session(engine) as s:
        lead = s.get(Lead, lead_id)
        assert lead is not None
        assert (lead.agent, lead.email) == ("ana@brokerage.example", LEAD_EMAIL)
    assert _lead_api(base, lead_id)["last_contact_at"] is None

    # Forgeries: each is stored, refused with its reason, and changes nothing.
    forged = {
        "plain SMTP, no AUTH": (
            _send(port, _agent_mail("ana@brokerage.example", "forged plain")),
            "came over SMTP without AUTH"),
        "logged in as someone else": (
            _send(port, _agent_mail("ana@brokerage.example", "forged portal"),
                  login=("portal", "portal-password")),
            "logged in as portal, not as the agent"),
        "Authentication-Results from an untrusted host": (
            _send(port, _agent_mail("ana@brokerage.example", "forged untrusted ar",
                                    ("Authentication-Results", "mx.attacker.example; dmarc=pass "
                                     "header.from=brokerage.example"))),
            f"no Authentication-Results from {MX}"),
        "the sender's own pass beside the MX's fail": (
            _send(port, _agent_mail(
                "ana@brokerage.example", "forged ar pass and fail",
                ("Authentication-Results", f"{MX}; dkim=none; dmarc=fail (p=none) "
                 "header.from=brokerage.example"),
                ("Authentication-Results", f"{MX}; dmarc=pass header.from=brokerage.example"))),
            f"Authentication-Results from {MX} has no pass for brokerage.example"),
        "dkim=pass for another domain": (
            _send(port, _agent_mail(
                "ana@brokerage.example", "forged other domain",
                ("Authentication-Results", f"{MX}; dkim=pass header.d=attacker.example; "
                 "dmarc=fail header.from=brokerage.example"))),
            "has no pass for brokerage.example"),
    }
    for what, (msg_id, why) in forged.items():
        m = _done(engine, msg_id)
        assert m.status == "non_lead" and m.lead_id is None, (what, m.status, m.reason)
        assert "not recorded as contact" in (m.reason or "") and why in (m.reason or ""), \
            (what, m.reason)
    with Session(engine) as s:
        assert s.exec(select(Activity).where(Activity.kind == "reply")).all() == []
        refused = s.exec(select(Event).where(Event.kind == "contact_refused")).all()
        assert sorted(e.message_pk for e in refused) == sorted(i for i, _ in forged.values())
        assert {e.lead_id for e in refused} == {lead_id}
        assert len(s.exec(select(Lead)).all()) == 1  # nor did a forgery become a lead
    detail = _lead_api(base, lead_id)
    assert detail["last_contact_at"] is None
    assert [a for a in detail["activity"] if a["kind"] == "reply"] == []
    log = d.log_text()
    assert log.count("agent email to a lead not recorded") == len(forged)
    # The stored record says it, through the CLI too.
    shown = run_cli("quarantine", "show", str(forged["plain SMTP, no AUTH"][0]), config=cfg)
    record = json.loads(shown.stdout.splitlines()[0])
    assert record["status"] == "non_lead" and "without AUTH" in record["reason"]
    assert record["auth_user"] is None

    # The agent's own mail, submitted with AUTH as the agent: counted, at intake time.
    before = datetime.now(UTC)
    own = _send(port, _agent_mail("ana@brokerage.example", "own submission"),
                login=("ana@brokerage.example", "ana-password"))
    m = _done(engine, own)
    after = datetime.now(UTC)
    assert m.status == "non_lead" and f"wrote to lead #{lead_id}" in (m.reason or ""), m.reason
    assert m.auth_user == "ana@brokerage.example"
    detail = _lead_api(base, lead_id)
    replies = [a for a in detail["activity"] if a["kind"] == "reply"]
    assert [(a["by"], a["contact"], a["text"]) for a in replies] == [
        ("ana@brokerage.example", True, "own submission")]
    at = datetime.fromisoformat(replies[0]["at"])
    last = datetime.fromisoformat(detail["last_contact_at"])
    assert before.replace(microsecond=0) <= at <= after and last == at  # not 2001

    # Through the operator's MX: its Authentication-Results say DMARC passed for the domain.
    time.sleep(1.1)  # a later intake second than the first reply
    via_mx = _send(port, _agent_mail(
        "ana@brokerage.example", "own via mx",
        ("Authentication-Results", f"{MX.upper()} 1; spf=pass smtp.mailfrom=brokerage.example; "
         "dkim=pass (2048-bit key) header.d=brokerage.example header.s=s1; "
         "dmarc=pass (p=reject dis=none) header.from=brokerage.example")))
    m = _done(engine, via_mx)
    assert m.status == "non_lead" and f"wrote to lead #{lead_id}" in (m.reason or ""), m.reason
    detail = _lead_api(base, lead_id)
    replies = [a for a in detail["activity"] if a["kind"] == "reply"]
    assert [a["text"] for a in replies] == ["own submission", "own via mx"]
    assert datetime.fromisoformat(detail["last_contact_at"]) > at
    with Session(engine) as s:
        vias = [a.data.get("via") for a in s.exec(select(Activity).where(
            Activity.kind == "reply")).all()]
        assert vias == ["smtp auth", f"authentication-results {MX}"]
    assert d.stop() == 0


def test_only_the_agents_own_sent_folder_vouches_over_imap(
    tmp_path: Path, sink: Sink, dovecot: Any, daemon_factory: Any
) -> None:
    """[[imap]] sent_folders: the agent's mail found in their Sent folder counts (at intake
    time); the same mail delivered to their INBOX, where anyone can send, does not."""
    from tests.conftest import agents_toml

    user = "agent@example.test"  # Ana's mailbox: her alias
    c = dovecot.client(user, folder=None)
    c.create_folder("Sent")
    c.logout()
    (tmp_path / "imap.secret").write_text(dovecot.users[user])
    port, http = free_port(), free_port()
    extra = f"""
[http]
listen = "127.0.0.1:{http}"
[[api_keys]]
name = "ops"
key = "{ADMIN_KEY}"
role = "admin"
[[imap]]
host = "127.0.0.1"
port = {dovecot.port}
security = "none"
username = "{user}"
password_file = "imap.secret"
folders = ["INBOX"]
sent_folders = ["Sent"]
backoff_max = 1
"""
    agents = agents_toml(**{"ana@brokerage.example": f'aliases = ["{user}"]'})
    db_url = f"sqlite:///{tmp_path / 'l.db'}"
    cfg = write_config(tmp_path, db_url=db_url, smtp_port=port, relay=f"127.0.0.1:{sink.port}",
                       extra=extra, agents=agents)
    d = daemon_factory(cfg, port).start()
    base = f"http://127.0.0.1:{http}"
    wait_for(lambda: _up(base), timeout=15)
    wait_for(lambda: d.log_text().count('"imap idle"') >= 2, timeout=15)  # INBOX and Sent
    engine = make_engine(db_url)

    lead_msg = EmailMessage()
    lead_msg["From"] = f"Dana Doe <{LEAD_EMAIL}>"
    lead_msg["To"] = "leads@brokerage.example"
    lead_msg["Subject"] = "Question about 12 Oak St"
    lead_msg["Message-ID"] = "<q-2@buyers.example>"
    lead_msg.set_content("Hi, I'm Dana Doe. Please call me at 512-555-0199.")
    first = _done(engine, _send(port, wire(lead_msg.as_bytes())))
    assert first.status == "lead" and first.lead_id, first.reason
    with Session(engine) as s:
        assert s.get(Lead, first.lead_id).agent == "ana@brokerage.example"  # type: ignore[union-attr]

    def stored(subject: str) -> Message:
        def find() -> Message | None:
            with Session(engine) as s:
                for m in s.exec(select(Message).where(Message.intake == "imap")).all():
                    if subject.encode() in m.raw and m.status in MessageStatus.FINAL:
                        return m
            return None
        return wait_for(find, timeout=15)  # type: ignore[no-any-return]

    dovecot.append(user, _agent_mail("ana@brokerage.example", "in her inbox"), folder="INBOX")
    inbox = stored("in her inbox")
    assert (inbox.imap_account, inbox.imap_folder) == (f"{user}@127.0.0.1", "INBOX")
    assert inbox.status == "non_lead" and "not recorded as contact" in (inbox.reason or "")
    assert "came from IMAP folder 'INBOX'" in (inbox.reason or ""), inbox.reason
    assert _lead_api(base, first.lead_id)["last_contact_at"] is None

    before = datetime.now(UTC)
    dovecot.append(user, _agent_mail("ana@brokerage.example", "from her sent"), folder="Sent")
    sent = stored("from her sent")
    assert sent.imap_folder == "Sent"
    assert f"wrote to lead #{first.lead_id}" in (sent.reason or ""), sent.reason
    detail = _lead_api(base, first.lead_id)
    (reply,) = [a for a in detail["activity"] if a["kind"] == "reply"]
    assert reply["text"] == "from her sent"
    assert datetime.fromisoformat(reply["at"]) >= before.replace(microsecond=0)  # not 2001
    assert d.stop() == 0
