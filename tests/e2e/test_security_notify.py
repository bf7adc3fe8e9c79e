"""Security of alerts, end to end: `leadmail run` as a subprocess, real webhook receivers on
loopback, a real aiosmtpd sink.

- Webhooks never follow a redirect (a 302 to another server never reaches it, and the row says
  "redirect"); each has a total deadline (a receiver trickling a byte a second is cut); they are
  sent concurrently, so a stuck receiver does not delay another agent's alert.
- A hidden offer (routes.hide_contact) shows no custom field and no tag unless
  [notify.hidden_offer] lists it, in email and in webhooks.
- Bidi controls and CR/LF never reach a header leadmail writes.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from leadmail.db import make_engine
from leadmail.headers import BIDI_CONTROLS
from leadmail.models import Lead, Outbox, utcnow
from leadmail.notify.outbox import STOP_GRACE
from tests.conftest import Sink, free_port, run_cli, send, wait_for, write_config
from tests.servers.webhooks import HookServer

pytestmark = pytest.mark.e2e

DEADLINE = 6  # seconds: [[notify.webhooks]] deadline of the slow receiver
FAST_PATH = "/services/T0KEN-in-the-path"  # as in Slack's webhook URLs
BIDI = sorted(BIDI_CONTROLS)


@pytest.fixture
def hooks() -> Iterator[Any]:
    made: list[HookServer] = []

    def make(**kw: Any) -> HookServer:
        made.append(HookServer(**kw))
        return made[-1]

    yield make
    for server in made:
        server.close()


def lead_mail(n: int, domain: str, body: str = "", subject: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Person Number{n} <person{n}@{domain}>"
    msg["To"] = "leads@brokerage.example"
    msg["Subject"] = subject or f"Question about a house ({n})"
    msg["Message-ID"] = f"<sec-{n}@{domain}>"
    msg.set_content(
        body or f"Hi, my name is Person Number{n}. Please call me at 512-555-{n:04d}.\n"
    )
    return msg.as_bytes()


def outbox_rows(engine: Any) -> list[Outbox]:
    with Session(engine) as s:
        return list(s.exec(select(Outbox).order_by(col(Outbox.id))).all())


def row_of(engine: Any, channel: str) -> Outbox | None:
    return next((r for r in outbox_rows(engine) if r.payload.get("channel") == channel), None)


# ---------------------------------------------------------------------------------------------
# 6. Redirects, deadlines, concurrency


def test_slow_webhook_delays_nobody_is_cut_at_its_deadline_and_redirects_are_refused(
    tmp_path: Path, sink: Sink, daemon_factory: Any, hooks: Any
) -> None:
    slow = hooks(trickle=1.0)  # the whole answer would take about 100 s
    fast = hooks()
    elsewhere = hooks()  # another origin (port): must never see the request
    moved = hooks(redirect=elsewhere.url + "/steal")
    port = free_port()
    db_url = f"sqlite:///{tmp_path / 'leadmail.db'}"
    extra = f"""
[[notify.webhooks]]
name = "slow"
url = "{slow.url}/hook"
timeout = 3              # per socket operation: never reached by a byte a second
deadline = {DEADLINE}

[[notify.webhooks]]
name = "fast"
url = "{fast.url}{FAST_PATH}"

[[notify.webhooks]]
name = "sms"
url = "{moved.url}/2010-04-01/Accounts/AC123/Messages.json"
format = "form"
username = "AC123"
password = "twilio-token"
form = {{ To = "{{{{ agent.phone }}}}", Body = "{{{{ short }}}}" }}

[[routes]]
match = {{ email_domain = "slow.example" }}
strategy = "direct"
agent = "ana@brokerage.example"

[[routes]]
match = {{ email_domain = "fast.example" }}
strategy = "direct"
agent = "ben@brokerage.example"

[[routes]]
match = {{ email_domain = "moved.example" }}
strategy = "direct"
agent = "cara@brokerage.example"
"""
    agents = "".join(
        f'[[agents]]\nname = "{name}"\nemail = "{email}"\nphone = "{phone}"\n'
        f'channels = ["{channel}"]\n'
        for name, email, phone, channel in (
            ("Ana Agent", "ana@brokerage.example", "+15125550100", "slow"),
            ("Ben Broker", "ben@brokerage.example", "+15125550101", "fast"),
            ("Cara Closer", "cara@brokerage.example", "+15125550102", "sms"),
        )
    )
    cfg = write_config(
        tmp_path, db_url=db_url, smtp_port=port, relay=f"127.0.0.1:{sink.port}",
        extra=extra, agents=agents,
    )
    d = daemon_factory(cfg, port).start()
    engine = make_engine(db_url)

    # Ana's receiver takes the request and then trickles its answer.
    assert send(port, lead_mail(1, "slow.example"))[0] == 250
    (stuck,) = wait_for(lambda: slow.on("/hook"), timeout=15)

    # Meanwhile Ben's lead comes in: his alert arrives at once.
    sent_at = time.monotonic()
    assert send(port, lead_mail(2, "fast.example"))[0] == 250
    (got,) = wait_for(lambda: fast.on(FAST_PATH), timeout=10)
    assert got["at"] - sent_at < 2.5, f"the fast alert took {got['at'] - sent_at:.1f}s"
    assert stuck["cut_at"] is None  # the slow one was still in flight all along

    # The slow one is cut at its deadline (not after the ~100 s the answer would take) and
    # retried later, with the same Idempotency-Key; the reason shows.
    wait_for(lambda: stuck["cut_at"], timeout=DEADLINE + 10)
    assert DEADLINE - 1 <= stuck["cut_at"] - stuck["at"] <= DEADLINE + 2.5
    row = wait_for(lambda: (r := row_of(engine, "slow")) and r.last_error and r, timeout=10)
    assert row.status == "pending" and "deadline" in row.last_error, row.last_error
    wait_for(lambda: len(slow.on("/hook")) >= 2, timeout=DEADLINE + 15)
    keys = {r["headers"]["Idempotency-Key"] for r in slow.on("/hook")}
    assert keys == {row.idempotency_key}

    # A 302 to another origin: not followed, so the other server never sees the request nor
    # its Basic auth; a failure like any other, retried, with "redirect" in the reason.
    assert send(port, lead_mail(3, "moved.example"))[0] == 250
    wait_for(lambda: len(moved.requests) >= 2, timeout=20)
    basic = "Basic " + base64.b64encode(b"AC123:twilio-token").decode()
    assert moved.requests[0]["headers"]["Authorization"] == basic
    time.sleep(0.5)  # a followed redirect would have landed by now
    assert elsewhere.requests == []
    lines = run_cli("outbox", "list", config=cfg).stdout.splitlines()
    listed = {r["channel"]: r for r in map(json.loads, lines)}
    assert listed["sms"]["status"] == "pending" and listed["sms"]["attempts"] >= 2
    assert "redirect 302" in listed["sms"]["last_error"], listed["sms"]
    assert elsewhere.url in listed["sms"]["last_error"]  # where it pointed (its origin)
    assert listed["fast"]["status"] == "sent" and listed["fast"]["attempts"] == 1
    assert len(fast.requests) == 1  # sent once, never again

    assert d.stop() == 0
    assert elsewhere.requests == []
    assert "T0KEN" not in d.log_text()  # webhook URLs (their tokens) are not logged


def test_a_stop_cuts_a_stuck_webhook_after_the_grace_and_leaves_it_due(
    tmp_path: Path, sink: Sink, daemon_factory: Any, hooks: Any
) -> None:
    slow = hooks(trickle=1.0)
    port = free_port()
    db_url = f"sqlite:///{tmp_path / 'leadmail.db'}"
    extra = (f'[[notify.webhooks]]\nname = "slow"\nurl = "{slow.url}/hook"\ndeadline = 45\n'
             '[[routes]]\npond = "default"\nstrategy = "round_robin"\n')
    agents = ('[[agents]]\nname = "Ana Agent"\nemail = "ana@brokerage.example"\n'
              'channels = ["slow"]\n')
    cfg = write_config(tmp_path, db_url=db_url, smtp_port=port,
                       relay=f"127.0.0.1:{sink.port}", extra=extra, agents=agents)
    d = daemon_factory(cfg, port).start()
    assert send(port, lead_mail(1, "buyers.example"))[0] == 250
    (stuck,) = wait_for(lambda: slow.on("/hook"), timeout=15)
    stopping = time.monotonic()
    assert d.stop(timeout=40) == 0
    took = time.monotonic() - stopping
    assert took < STOP_GRACE + 5, f"stopping took {took:.1f}s"
    assert stuck["cut_at"] is not None or wait_for(lambda: stuck["cut_at"], timeout=3)
    # Cut short, not failed: due again at once and unclaimed, for the next start or a peer.
    (row,) = outbox_rows(make_engine(db_url))
    assert (row.status, row.attempts, row.claimed_by) == ("pending", 1, None)
    assert row.next_attempt_at.replace(tzinfo=None) <= utcnow().replace(tzinfo=None)


# ---------------------------------------------------------------------------------------------
# 9. hide_contact: an allow-list of what a hidden offer shows

SCRIPT = '''
def extract(mail, lead):
    lead.custom_fields["whatsapp"] = mail.field("WhatsApp")
    lead.custom_fields["spouse"] = mail.field("Spouse")
    lead.custom_fields["timeline"] = mail.field("Timeline")
    lead.add_tag("relocation")
    lead.add_tag("referred-by-dr-okafor")
'''
RULE = """
name = "relocation"
source = "Relocation Desk"
parser = "Website"
script = "relocation.py"
[match]
subject = "relocation inquiry"
"""
FORM = """\
Name: Grace Hopper
Email: grace.hopper@example.org
Phone: 512-555-0199
WhatsApp: +55 11 98765-4321
Spouse: Maria Okafor-Hopper
Timeline: 0-3 months
Property: 42 Lakeshore Dr, Austin, TX 78746
Message: We are moving from Chicago with our two kids.
"""
SECRETS = ("98765", "Okafor", "okafor", "Grace", "grace.hopper", "555-0199", "5550199",
           "Chicago")


def test_hidden_offer_shows_no_custom_field_nor_tag_unless_allowed(
    tmp_path: Path, sink: Sink, daemon_factory: Any, hooks: Any
) -> None:
    crm, gateway = hooks(), hooks()
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "relocation.toml").write_text(RULE)
    (rules / "relocation.py").write_text(SCRIPT)
    # An admin's template that lists every custom field, as a CRM-minded office would.
    templates = tmp_path / "templates"
    templates.mkdir()
    builtin = Path(__file__).resolve().parents[2] / "leadmail/notify/templates/alert.txt.j2"
    (templates / "alert.txt.j2").write_text(
        builtin.read_text()
        + "{% for k, v in lead.custom_fields.items() %}{{ k }}: {{ v }}\n{% endfor %}"
    )
    port = free_port()
    db_url = f"sqlite:///{tmp_path / 'leadmail.db'}"
    extra = f"""
[notify]
templates = "{templates}"
[notify.hidden_offer]
custom_fields = ["timeline"]
tags = ["Relocation"]

[[notify.webhooks]]
name = "crm"
url = "{crm.url}/crm"

[[notify.webhooks]]
name = "sms"
url = "{gateway.url}/sms"
format = "form"
[notify.webhooks.form]
To = "{{{{ agent.phone }}}}"
Body = "{{{{ short }}}}"
Extra = "{{{{ lead.custom_fields }}}} {{{{ lead.tags }}}}"

[[routes]]
pond = "default"
strategy = "first_to_claim"
hide_contact = true
"""
    agents = (
        '[[agents]]\nname = "Ana Agent"\nemail = "ana@brokerage.example"\n'
        'phone = "+15125550100"\nchannels = ["email", "crm"]\n'
        '[[agents]]\nname = "Ben Broker"\nemail = "ben@brokerage.example"\n'
        'phone = "+15125550101"\nchannels = ["email", "sms"]\n'
    )
    cfg = write_config(
        tmp_path, db_url=db_url, smtp_port=port, relay=f"127.0.0.1:{sink.port}",
        extra=extra, agents=agents, rules_dir=rules,
    )
    d = daemon_factory(cfg, port).start()
    engine = make_engine(db_url)
    mail = lead_mail(7, "forms.example", FORM, subject="Relocation inquiry")
    assert send(port, mail)[0] == 250
    wait_for(lambda: len(sink.messages) >= 2 and crm.requests and gateway.requests, timeout=20)
    assert d.stop() == 0

    # The lead does hold what must not be shown (else this test proves nothing).
    with Session(engine) as s:
        (lead,) = s.exec(select(Lead)).all()
    assert lead.custom_fields["whatsapp"] and lead.custom_fields["spouse"] == "Maria Okafor-Hopper"
    assert set(lead.tags) >= {"relocation", "referred-by-dr-okafor"}
    assert lead.first_name == "Grace" and lead.phone == "+15125550199"

    # The CRM webhook: the allowed field and tag only; no name, contact or message.
    (post,) = crm.on("/crm")
    data = json.loads(post["body"])
    shown = data["lead"]
    assert data["hidden"] is True and data["event"] == "lead.offered"
    assert shown["custom_fields"] == {"timeline": "0-3 months"}
    assert shown["tags"] == ["relocation"]
    for key in ("first_name", "last_name", "name", "email", "phone", "address", "message"):
        assert shown[key] is None, key
    assert shown["source"] == "Relocation Desk"
    assert shown["property_address"] == "42 Lakeshore Dr, Austin, TX 78746"
    body = post["body"].decode()
    for secret in SECRETS:
        assert secret not in body, secret

    # The text-message gateway: the same, even through an admin's form template.
    (sms,) = gateway.on("/sms")
    form = urllib.parse.parse_qs(sms["body"].decode())
    assert "timeline" in form["Extra"][0] and "relocation" in form["Extra"][0]
    for secret in (*SECRETS, "whatsapp", "spouse"):
        assert secret not in sms["body"].decode() and secret not in form["Extra"][0], secret

    # The emails, through the admin's template: the allowed field, the allowed tag, no more.
    for addr in ("ana@brokerage.example", "ben@brokerage.example"):
        (msg,) = sink.to(addr)
        text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
        html = msg.get_body(("html",)).get_content()
        headers = "\n".join(f"{k}: {v}" for k, v in msg.items())
        assert "timeline: 0-3 months" in text and "Tags:     relocation\n" in text
        assert "shown once you have claimed it" in text
        for secret in (*SECRETS, "whatsapp", "spouse", "referred-by"):
            for part in (text, html, headers):
                assert secret not in part, (addr, secret)


# ---------------------------------------------------------------------------------------------
# 16. Bidi controls and CR/LF in header values


def _daemon_for(
    tmp_path: Path, sink: Sink, daemon_factory: Any, agents: str, extra: str = ""
) -> tuple[Any, int]:
    """A daemon with a Website form rule and round-robin routing; (daemon, smtp port)."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "form.toml").write_text('source = "Website"\nparser = "Website"\n'
                                     '[match]\nsubject = "contact form"\n')
    port = free_port()
    cfg = write_config(
        tmp_path, db_url=f"sqlite:///{tmp_path / 'leadmail.db'}", smtp_port=port,
        relay=f"127.0.0.1:{sink.port}", rules_dir=rules, agents=agents,
        extra=extra + '\n[[routes]]\npond = "default"\nstrategy = "round_robin"\n',
    )
    return daemon_factory(cfg, port).start(), port


def form_mail(name: str, prop: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <grace@buyers.example>"
    msg["To"] = "leads@brokerage.example"
    msg["Subject"] = "New contact form submission"
    msg["Message-ID"] = "<form-9@buyers.example>"
    msg.set_content(
        f"Name: {name}\nEmail: grace@buyers.example\nPhone: 512-555-0199\nProperty: {prop}\n"
    )
    return msg.as_bytes()


def assert_clean_headers(alert: Any) -> None:
    for header, value in alert.items():
        for char in (*BIDI, "\r", "\n"):
            assert char not in str(value), (header, hex(ord(char)))


def test_a_lead_with_bidi_controls_gets_an_alert_subject_without_them(
    tmp_path: Path, sink: Sink, daemon_factory: Any
) -> None:
    agents = '[[agents]]\nname = "Ana Agent"\nemail = "ana@brokerage.example"\n'
    d, port = _daemon_for(tmp_path, sink, daemon_factory, agents)
    # The name and the property carry bidi controls: after U+202E the rest reads backwards.
    raw = form_mail("Grace \u202eHopper", "42 Lake\u202eshore Dr\u2066\u200e, Austin, TX 78746")
    assert send(port, raw)[0] == 250
    (alert,) = wait_for(lambda: sink.to("ana@brokerage.example"), timeout=20)
    assert d.stop() == 0
    subject = str(alert["Subject"])
    assert subject == "New Website lead: Grace Hopper · 42 Lakeshore Dr, Austin, TX 78746"
    assert_clean_headers(alert)


def test_display_names_and_webhook_headers_are_one_line_without_controls(
    tmp_path: Path, sink: Sink, daemon_factory: Any, hooks: Any
) -> None:
    crm = hooks()
    extra = f"""
[[notify.webhooks]]
name = "crm"
url = "{crm.url}/crm"
[notify.webhooks.headers]
X-Team = "north\\u202e\\r\\nX-Injected: yes"
X-Office = "\\u2067Austin\\u2069\\u200f\\u061c"
"""
    # An agent's name with a right-to-left override and a line break (a Bcc, were it kept).
    agents = (
        '[[agents]]\nname = "Ana \\u202eAgent\\r\\nBcc: mallory@evil.example"\n'
        'email = "ana@brokerage.example"\nchannels = ["email", "crm"]\n'
    )
    d, port = _daemon_for(tmp_path, sink, daemon_factory, agents, extra)
    assert send(port, form_mail("Grace Hopper", "42 Lakeshore Dr, Austin, TX 78746"))[0] == 250
    wait_for(lambda: sink.messages and crm.requests, timeout=20)
    assert d.stop() == 0

    (alert,) = sink.to("ana@brokerage.example")
    assert_clean_headers(alert)
    assert alert["To"].addresses[0].display_name == "Ana Agent Bcc: mallory@evil.example"
    assert alert["To"].addresses[0].addr_spec == "ana@brokerage.example"
    head = sink.messages[0][2].split(b"\r\n\r\n")[0].decode()
    assert alert["Bcc"] is None and "\nBcc:" not in head

    (post,) = crm.on("/crm")
    assert post["headers"]["X-Team"] == "north X-Injected: yes"
    assert post["headers"]["X-Office"] == "Austin"
    assert "X-Injected" not in post["headers"]
