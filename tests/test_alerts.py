"""Alerts in process: links, channels (email, signed webhooks, Slack, a Twilio-style SMS
gateway), templates and their overrides, privacy, digests, and replies, on SQLite and
PostgreSQL. The daemon-level checks are in tests/e2e/test_alerts.py."""

from __future__ import annotations

import base64
import json
import re
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, select

from leadmail import config, db, pipeline, tokens
from leadmail.errors import ConfigErrors
from leadmail.metrics import REGISTRY
from leadmail.models import Event, Lead, Message, Outbox, utcnow
from leadmail.notify import digest, links, outbox, webhook
from leadmail.notify.vcard import vcard
from leadmail.routing import actions, replies
from leadmail.store import store_raw
from leadmail.web.app import create_app, make_server
from tests.conftest import free_port, run_cli, wait_for

SECRET = "unit-link-secret-0123456789"
HOOK_SECRET = "hook-secret-0123456789"
ANA, BEN, CARA = "ana@brokerage.example", "ben@brokerage.example", "cara@brokerage.example"


# ---------------------------------------------------------------------------------------------
# A webhook receiver: a real HTTP server on a free port


class Receiver:
    """Keeps every request; answers with the next status in `answers` (default 200)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: dict[str, list[int]] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                queue = outer.answers.get(self.path) or [200]
                code = queue.pop(0) if len(queue) > 1 else queue[0]
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def on(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


class Web:
    """The daemon's app served by uvicorn on a free port in a thread: real HTTP requests."""

    def __init__(self, w: World) -> None:
        port = free_port()
        self.server = make_server(create_app(w.engine, dict, w.settings), "127.0.0.1", port)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{port}"
        wait_for(lambda: self.server.started, timeout=10)

    def get(self, url: str) -> httpx.Response:
        return httpx.get(url.replace("https://leads.brokerage.example", self.base))

    def post(self, url: str) -> httpx.Response:
        return httpx.post(url.replace("https://leads.brokerage.example", self.base))

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def web() -> Iterator[Any]:
    made: list[Web] = []

    def serve(w: World) -> Web:
        made.append(Web(w))
        return made[-1]

    yield serve
    for server in made:
        server.close()


# ---------------------------------------------------------------------------------------------
# A world: settings, a migrated database, the pipeline


def mail(n: int, source_hint: str = "") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Pat Person <pat{n}@buyers.example>"
    msg["To"] = "leads@brokerage.example"
    msg["Subject"] = f"Inquiry {n}"
    msg["Message-ID"] = f"<inquiry-{n}@buyers.example>"
    msg.set_content(f"Hi, my name is Pat Person. Call me at 512-555-{n:04d}.{source_hint}")
    return msg.as_bytes()


class World:
    def __init__(self, url: str, tmp: Path, **sections: Any) -> None:
        agents = sections.pop("agents", None) or [
            {"name": "Ana Agent", "email": ANA, "phone": "+15125550100"},
            {"name": "Ben Broker", "email": BEN, "phone": "+15125550101"},
            {"name": "Cara Closer", "email": CARA},
        ]
        notify = dict(sections.pop("notify", {}))
        notify["email"] = {"relay": f"file:{tmp / 'alerts'}", **notify.get("email", {})}
        (tmp / "no-rules").mkdir(exist_ok=True)  # an empty rules dir (a missing one is an error)
        data = {
            "database": {"url": url},
            "notify": notify,
            "rules": {"dir": str(tmp / "no-rules")},
            "http": {"base_url": "https://leads.brokerage.example", "secret": SECRET},
            "agents": agents,
            **sections,
        }
        self.tmp = tmp
        self.settings = config.validate(data, env={})
        db.upgrade(url)
        self.engine = db.make_engine(url)
        self.rt = pipeline.Runtime.load(self.settings)

    def ingest(self, raw: bytes) -> pipeline.Outcome:
        outcome = pipeline.process(self.rt, self.engine, store_raw(self.engine, raw))
        assert outcome is not None
        return outcome

    def rows(self) -> list[Outbox]:
        with Session(self.engine) as s:
            return list(s.exec(select(Outbox).order_by(col(Outbox.id))).all())

    def sent(self) -> list[EmailMessage]:
        """Emails the file relay wrote, oldest first."""
        outbox.deliver_due(self.engine, self.settings)
        files = sorted((self.tmp / "alerts").glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
        return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in files]  # type: ignore[misc]

    def lead(self, lead_id: int) -> Lead:
        with Session(self.engine) as s:
            lead = s.get(Lead, lead_id)
            assert lead is not None
            return lead


@pytest.fixture
def make_world(db_url: str, tmp_path: Path) -> Iterator[Any]:
    made: list[World] = []

    def make(**sections: Any) -> World:
        w = World(db_url, tmp_path, **sections)
        made.append(w)
        return w

    yield make
    for w in made:
        w.engine.dispose()


def text(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def link(msg: EmailMessage, label: str) -> str:
    line = next(x for x in text(msg).splitlines() if x.startswith(label + ":"))
    return line.split()[-1]


# ---------------------------------------------------------------------------------------------
# Pure parts


def test_links_are_signed_expiring_and_single_purpose() -> None:
    now = utcnow()
    ok = links.Link(7, ANA, "claim", now + timedelta(minutes=5), offer=3)
    token = links.sign(SECRET, ok)
    assert links.verify(SECRET, token, now) == links.Link(
        7, ANA, "claim", ok.expires.replace(microsecond=0), 3
    )
    payload, sig = token.split(".")
    # Another lead, agent or action in the payload: the signature no longer fits.
    for field, value in (("l", 8), ("a", BEN), ("x", "accept")):
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        body[field] = value
        forged = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
        with pytest.raises(links.BadLink, match="forged"):
            links.verify(SECRET, f"{forged}.{sig}", now)
    for bad in ("", "x", payload, f"{payload}.", f"{payload}.!!", token + "x"):
        with pytest.raises(links.BadLink, match="forged"):
            links.verify(SECRET, bad, now)
    with pytest.raises(links.BadLink, match="forged"):
        links.verify("another-secret-0123456789", token, now)
    with pytest.raises(links.BadLink, match="expired"):
        links.verify(SECRET, token, now + timedelta(minutes=5, seconds=1))
    with pytest.raises(ValueError):
        links.sign(SECRET, links.Link(7, ANA, "delete", now))


def test_vcard_escapes_and_folds() -> None:
    card = vcard(
        {
            "id": 4,
            "first_name": "Zoë",
            "last_name": "O'Brien, Jr.",
            "phone": "+15125550100",
            "email": "zoe@buyers.example",
            "address": "1 Main St; Apt 2",
            "source": "Zillow",
            "property_address": "12 Oak St, Austin, TX 78701 " * 3,
            "price": 450000,
        }
    )
    assert card is not None
    assert card.startswith("BEGIN:VCARD\r\nVERSION:3.0\r\n") and card.endswith("END:VCARD\r\n")
    assert "N:O'Brien\\, Jr.;Zoë;;;" in card and "FN:Zoë O'Brien\\, Jr." in card
    assert "TEL;TYPE=CELL:+15125550100" in card and "ADR;TYPE=HOME:;;1 Main St\\; Apt 2;;;;" in card
    assert all(len(line.encode()) <= 75 for line in card.split("\r\n"))
    assert vcard({"id": 1, "source": "x"}) is None  # nobody to save (a hidden offer)


def test_webhook_signature_is_what_receivers_check() -> None:
    import time

    body = b'{"a":1}'
    ts = str(int(time.time()))
    sig = webhook.signature(HOOK_SECRET, ts, body)
    assert sig.startswith("sha256=") and len(sig) == 7 + 64
    assert webhook.verify(HOOK_SECRET, ts, body, sig)
    assert not webhook.verify(HOOK_SECRET, ts, body + b" ", sig)
    assert not webhook.verify("other-secret-0123456", ts, body, sig)
    assert not webhook.verify(
        HOOK_SECRET,
        str(int(ts) - 301),
        body,
        webhook.signature(HOOK_SECRET, str(int(ts) - 301), body),
    )


@pytest.mark.parametrize(
    ("body", "word", "argument"),
    [
        ("Claim!\n\nOn Mon, Nov 23, 2026 at 9:00 AM leadmail wrote:\n> Claim it: ...", "claim", ""),
        ("   accept  \n-- \nAna", "accept", ""),
        ("> quoted first\n\ndecline, sorry, showing all day", "decline", "sorry, showing all day"),
        ("ASSIGN ben@brokerage.example", "assign", "ben@brokerage.example"),
        ("Thanks, I will call them\nCLAIM", None, "I will call them"),
        ("On Mon, Nov 23, 2026 leadmail wrote:\n> CLAIM", None, ""),
    ],
)
def test_reply_first_word(body: str, word: str | None, argument: str) -> None:
    msg = EmailMessage()
    msg["From"] = "Ana <ANA@Brokerage.Example>"
    msg["In-Reply-To"] = "<leadmail.offer-3@brokerage.example>"
    msg["References"] = "<x@y> <leadmail.assignment-1@brokerage.example>"
    msg.set_content(body)
    reply = replies.recognize(msg.as_bytes())
    assert reply is not None
    assert (reply.word, reply.argument, reply.sender) == (word, argument, ANA)
    assert reply.keys == ["offer-3", "assignment-1"] and not reply.automatic


def test_reply_recognition_html_auto_and_unrelated() -> None:
    msg = EmailMessage()
    msg["From"] = ANA
    msg["In-Reply-To"] = "<leadmail.offer-3@brokerage.example>"
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_content("<div><b>CLAIM</b></div><blockquote>...</blockquote>", subtype="html")
    reply = replies.recognize(msg.as_bytes())
    assert reply is not None and reply.word == "claim" and reply.automatic
    del msg["In-Reply-To"]
    msg["In-Reply-To"] = "<CAF00@mail.gmail.com>"
    assert replies.recognize(msg.as_bytes()) is None


def test_config_keys_for_alerts_are_checked(tmp_path: Path) -> None:
    def errors(data: dict[str, Any]) -> list[str]:
        with pytest.raises(ConfigErrors) as exc:
            config.validate(data, env={})
        return [e.key for e in exc.value.errors]

    assert errors({"http": {"base_url": "https://x.example"}}) == ["http.secret"]
    assert errors({"http": {"secret": "short"}}) == ["http.secret"]
    agents = [{"name": "A", "email": ANA, "channels": ["pager"]}]
    assert errors({"agents": agents}) == ["agents[0].channels"]
    hooks = [{"name": "email", "url": "https://x.example"}]
    assert errors({"notify": {"webhooks": hooks}}) == ["notify.webhooks[0].name"]
    hooks = [{"name": "sms", "url": "https://x.example", "format": "form"}]
    assert errors({"notify": {"webhooks": hooks}}) == ["notify.webhooks[0].form"]
    hooks = [{"name": "a", "url": "ftp://x"}, {"name": "a", "url": "https://x.example"}]
    assert "notify.webhooks[0].url" in errors({"notify": {"webhooks": hooks}})
    assert errors({"notify": {"templates": str(tmp_path / "nope")}}) == ["notify.templates"]
    secret = tmp_path / "secret"
    secret.write_text("from-a-file-0123456789\n")
    s = config.validate(
        {"http": {"base_url": "https://x.example", "secret_file": str(secret)}}, env={}
    )
    assert s.http.secret == "from-a-file-0123456789"


# ---------------------------------------------------------------------------------------------
# Alerts through the pipeline


def test_assignment_alert_has_links_vcard_and_reply_to(make_world: Any) -> None:
    w = make_world()
    out = w.ingest(mail(1))
    (msg,) = w.sent()
    assert msg["To"] == f"Ana Agent <{ANA}>"
    # The alert's key and its reply tag (an HMAC over lead, agent and alert: tokens.reply_tag).
    tag = tokens.reply_tag(SECRET, out.lead_id, ANA, "assignment-1")
    assert msg["Message-ID"] == f"<leadmail.assignment-1.{tag}@brokerage.example>"
    assert msg["Reply-To"] == "leadmail@brokerage.example"
    assert str(msg["Subject"]).startswith("New Direct lead: Pat Person")
    body = text(msg)
    assert "+15125550001" in body and "pat1@buyers.example" in body
    for label in ("Accept it", "Decline it"):
        assert link(msg, label).startswith("https://leads.brokerage.example/a/")
    accept = links.verify(SECRET, link(msg, "Accept it").rsplit("/", 1)[1], utcnow())
    assert (accept.lead, accept.agent, accept.action) == (out.lead_id, ANA, "accept")
    assert accept.expires > utcnow() + timedelta(days=6)  # no accept window: link_ttl
    html = msg.get_body(("html",))
    assert html is not None and 'href="https://leads.brokerage.example/a/' in html.get_content()
    (card,) = [p for p in msg.iter_attachments() if p.get_content_type() == "text/vcard"]
    assert card.get_filename() == f"lead-{out.lead_id}.vcf"
    assert "TEL;TYPE=CELL:+15125550001" in card.get_content()


def test_channels_webhook_slack_and_twilio_style_sms(make_world: Any, receiver: Receiver) -> None:
    hooks = [
        {"name": "crm", "url": receiver.url + "/crm", "secret": HOOK_SECRET},
        {"name": "slack", "url": receiver.url + "/slack", "format": "slack"},
        {
            "name": "sms",
            "url": receiver.url + "/2010-04-01/Accounts/AC123/Messages.json",
            "format": "form",
            "username": "AC123",
            "password": "twilio-token",
            "form": {"To": "{{ agent.phone }}", "From": "+15125550199", "Body": "{{ short }}"},
        },
    ]
    agents = [
        {
            "name": "Ana Agent",
            "email": ANA,
            "phone": "+15125550100",
            "channels": ["email", "crm", "sms"],
        },
        {"name": "Ben Broker", "email": BEN, "channels": ["slack"]},
    ]
    w = make_world(agents=agents, notify={"webhooks": hooks})
    first, second = w.ingest(mail(1)).lead_id, w.ingest(mail(2)).lead_id
    rows = w.rows()
    assert [(r.kind, r.idempotency_key, r.recipient) for r in rows] == [
        ("email", "assignment-1", ANA),
        ("webhook", "assignment-1.crm", ANA),
        ("webhook", "assignment-1.sms", ANA),
        ("webhook", "assignment-2.slack", BEN),
    ]
    assert len(w.sent()) == 1  # delivers everything; one of them by email
    assert {r.status for r in w.rows()} == {"sent"}

    (crm,) = receiver.on("/crm")
    h = crm["headers"]
    assert webhook.verify(
        HOOK_SECRET, h["X-Leadmail-Timestamp"], crm["body"], h["X-Leadmail-Signature"]
    )
    assert h["Idempotency-Key"] == "assignment-1.crm" and h["Content-Type"] == "application/json"
    data = json.loads(crm["body"])
    assert data["event"] == "lead.assigned" and data["lead"]["id"] == first
    assert data["lead"]["phone"] == "+15125550001" and data["agent"]["email"] == ANA
    assert data["links"]["accept"].startswith("https://leads.brokerage.example/a/")

    (sms,) = receiver.on("/2010-04-01/Accounts/AC123/Messages.json")
    assert (
        sms["headers"]["Authorization"]
        == "Basic " + base64.b64encode(b"AC123:twilio-token").decode()
    )
    form = urllib.parse.parse_qs(sms["body"].decode())
    assert form["To"] == ["+15125550100"] and form["From"] == ["+15125550199"]
    assert form["Body"][0].startswith("New lead (Direct): Pat Person +15125550001")
    assert "Accept: https://leads.brokerage.example/a/" in form["Body"][0]
    assert "X-Leadmail-Signature" not in sms["headers"]  # no secret set on that one

    (slack,) = receiver.on("/slack")
    data = json.loads(slack["body"])
    assert "Pat Person" in data["text"]
    assert data["blocks"][0]["type"] == "section"
    buttons = data["blocks"][1]["elements"]
    assert [b["text"]["text"] for b in buttons] == ["Accept", "Decline"]
    assert links.verify(SECRET, buttons[0]["url"].rsplit("/", 1)[1], utcnow()).lead == second


def test_failures_retry_then_fail_for_good_and_show(
    make_world: Any, receiver: Receiver, tmp_path: Path
) -> None:
    hooks = [
        {"name": "flaky", "url": receiver.url + "/flaky"},
        {"name": "gone", "url": receiver.url + "/gone"},
    ]
    agents = [{"name": "Ana Agent", "email": ANA, "channels": ["flaky", "gone"]}]
    w = make_world(agents=agents, notify={"webhooks": hooks})
    receiver.answers = {"/flaky": [503, 200], "/gone": [404]}
    failed_before = (
        REGISTRY.get_sample_value("leadmail_alerts_total", {"channel": "gone", "result": "failed"})
        or 0
    )
    w.ingest(mail(1))
    assert outbox.deliver_due(w.engine, w.settings) == 0
    flaky, gone = w.rows()
    assert (flaky.status, flaky.attempts) == ("pending", 1) and "503" in (flaky.last_error or "")
    assert gone.status == "failed" and "404" in (gone.last_error or "")
    assert (
        REGISTRY.get_sample_value("leadmail_alerts_total", {"channel": "gone", "result": "failed"})
        == failed_before + 1
    )
    with Session(w.engine) as s:  # the retry is due now
        row = s.get(Outbox, flaky.id)
        assert row is not None
        row.next_attempt_at = utcnow()
        s.add(row)
        s.commit()
    assert outbox.deliver_due(w.engine, w.settings) == 1
    assert [r.status for r in w.rows()] == ["sent", "failed"]
    # `leadmail outbox list` shows it, with the reason.
    cfg = tmp_path / "leadmail.toml"
    cfg.write_text(f'[database]\nurl = "{w.settings.database.url}"\n')
    lines = run_cli("outbox", "list", "--status", "failed", config=cfg).stdout.splitlines()
    (row,) = [json.loads(line) for line in lines]
    assert (row["channel"], row["status"], row["to"]) == ("gone", "failed", ANA)
    assert row["last_error"].startswith("404")


def test_template_overrides_per_source_and_strategy(make_world: Any, tmp_path: Path) -> None:
    tpl = tmp_path / "templates"
    (tpl / "source" / "direct").mkdir(parents=True)
    (tpl / "strategy" / "first_to_claim").mkdir(parents=True)
    (tpl / "source" / "direct" / "alert.subject.j2").write_text(
        "[{{ lead.source }}] {{ lead_name }} for {{ agent.name }}"
    )
    (tpl / "strategy" / "first_to_claim" / "alert.subject.j2").write_text("Jump ball: {{ rule }}")
    broken = tmp_path / "broken"
    (broken / "strategy" / "first_to_claim").mkdir(parents=True)
    (broken / "strategy" / "first_to_claim" / "alert.subject.j2").write_text("{{ nope }}")
    (tpl / "alert.txt.j2").write_text("Lead {{ lead.id }}: {{ links.accept or links.claim }}\n")
    w = make_world(notify={"templates": str(tpl)})
    w.ingest(mail(1))
    (msg,) = w.sent()
    assert msg["Subject"] == "[Direct] Pat Person for Ana Agent"
    assert text(msg).startswith("Lead 1: https://leads.brokerage.example/a/")
    # Source before strategy; the strategy's override where the source has none.
    routes = [
        {"strategy": "first_to_claim", "match": {"source": "Direct"}},
        {"strategy": "first_to_claim", "name": "the rest"},
    ]
    (tpl / "source" / "direct" / "alert.subject.j2").unlink()
    w2 = make_world(notify={"templates": str(tpl)}, routes=routes)
    w2.ingest(mail(2))
    assert {r.subject for r in w2.rows() if r.lead_id == 2} == {"Jump ball: routes[0]"}
    # A broken override (an undefined name) is logged and the built-in template used.
    w3 = make_world(notify={"templates": str(broken)}, routes=routes)
    w3.ingest(mail(3))
    subjects = {r.subject for r in w3.rows() if r.lead_id == 3}
    assert subjects == {"Up for grabs: Pat Person (Direct) · first to claim gets it"}
    # check-config names the broken template.
    (tpl / "alert.html.j2").write_text("{% if %}")
    cfg = tmp_path / "check.toml"
    (tmp_path / "none").mkdir(exist_ok=True)  # no rules (a missing rules dir is an error)
    cfg.write_text(f'[notify]\ntemplates = "{tpl}"\n[rules]\ndir = "{tmp_path / "none"}"\n')
    res = run_cli("check-config", config=cfg, check=False)
    assert res.returncode == 2 and "template error: alert.html.j2" in res.stderr


def test_private_offer_hides_the_contact_until_claimed(make_world: Any, web: Any) -> None:
    routes = [{"strategy": "first_to_claim", "hide_contact": True}]
    w = make_world(routes=routes)
    lead_id = w.ingest(mail(5)).lead_id
    alerts = w.sent()
    assert [m["To"].addresses[0].addr_spec for m in alerts] == [ANA, BEN, CARA]
    for msg in alerts:
        raw = msg.as_string()
        assert "Pat" not in raw and "5125550005" not in raw and "pat5@" not in raw
        assert "shown once you have claimed it" in text(msg)
        assert not list(msg.iter_attachments())  # no .vcf either
    client = web(w)
    ben_claim = link(alerts[1], "Claim it")
    page = client.get(ben_claim)
    assert page.status_code == 200 and "Pat" not in page.text
    done = client.post(ben_claim)
    assert "You have claimed Pat Person" in done.text and "+15125550005" in done.text
    ana_claim = link(alerts[0], "Claim it")
    late = client.post(ana_claim)
    assert late.status_code == 409 and "Already claimed by Ben Broker" in late.text
    assert "Pat" not in late.text and "+15125550005" not in late.text
    again = client.get(ana_claim)  # opening it now: no button left to press
    assert "Already claimed by Ben Broker" in again.text and "<form" not in again.text
    assert w.lead(lead_id or 0).agent == BEN


def test_manager_gets_assign_links_and_a_digest(make_world: Any, web: Any) -> None:
    max_ = {"name": "Max Manager", "email": "max@brokerage.example", "ponds": []}
    routes = [{"strategy": "round_robin", "accept_window": 30, "max_reassign": 0}]
    w = make_world(
        agents=[{"name": "Ana Agent", "email": ANA}, {"name": "Ben Broker", "email": BEN}, max_],
        routes=routes,
        ponds=[{"name": "default", "manager": "max@brokerage.example"}],
    )
    lead_id = w.ingest(mail(1)).lead_id
    assert lead_id is not None
    # Ana declines: no reassignment left, so it goes to Max with a link per pond agent.
    assert actions.decline(w.engine, w.settings, lead_id, ANA, reason="on vacation").ok
    pick = [m for m in w.sent() if m["To"].addresses[0].addr_spec == "max@brokerage.example"]
    assert len(pick) == 1 and str(pick[0]["Subject"]).startswith("To assign: Pat Person")
    give_ben = link(pick[0], "Give it to Ben Broker")
    client = web(w)
    assert "Give it to Ben Broker" in client.get(give_ben).text
    assert w.lead(lead_id).status == "manager"  # GET changed nothing
    done = client.post(give_ben)
    assert done.status_code == 200 and "is now assigned to Ben Broker" in done.text
    assert w.lead(lead_id).agent == BEN

    # The digest of the hour: what escalated in Max's pond, once.
    later = utcnow() + timedelta(hours=1)
    assert digest.enqueue_due(w.engine, w.settings, later) == 1
    assert digest.enqueue_due(w.engine, w.settings, later) == 0
    (row,) = [r for r in w.rows() if r.idempotency_key.startswith("digest-")]
    assert row.recipient == "max@brokerage.example" and row.subject.startswith("Escalations: 2")
    assert "ana@brokerage.example declined (on vacation)" in row.payload["text"]
    assert "came to you to assign" in row.payload["text"]
    # The next period starts where this one ended: nothing new, no digest.
    assert digest.enqueue_due(w.engine, w.settings, later + timedelta(hours=1)) == 0


def test_reply_acts_only_from_the_alerts_agent(make_world: Any) -> None:
    routes = [{"strategy": "first_to_claim"}]
    w = make_world(routes=routes)
    lead_id = w.ingest(mail(1)).lead_id
    alerts = {m["To"].addresses[0].addr_spec: m for m in w.sent()}

    def answer(frm: str, to: str, body: str, n: int) -> pipeline.Outcome:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = frm, "leadmail@brokerage.example", "Re: lead"
        msg["Message-ID"] = f"<answer-{n}@phone.example>"
        msg["In-Reply-To"] = alerts[to]["Message-ID"]
        msg.set_content(body)
        return w.ingest(msg.as_bytes())

    out = answer(f"Ben <{BEN}>", ANA, "CLAIM", 1)
    assert out.status == "non_lead" and "ignored" in (out.reason or "")
    out = answer(f"Ana <{ANA}>", ANA, "Will call later", 2)
    assert "without CLAIM" in (out.reason or "")
    assert w.lead(lead_id or 0).status == "offered"
    out = answer(f"Cara <{CARA.upper()}>", CARA, "claim", 3)
    assert out.reason == f"reply CLAIM to alert offer-3 by {CARA}: claimed"
    assert w.lead(lead_id or 0).agent == CARA
    out = answer(f"Ana <{ANA}>", ANA, "Claim", 4)
    assert out.reason == f"reply CLAIM to alert offer-1 by {ANA}: already_claimed"
    with Session(w.engine) as s:
        events = s.exec(
            select(Event).where(col(Event.kind).startswith("reply")).order_by(col(Event.id))
        ).all()
        statuses = [m.status for m in s.exec(select(Message).order_by(col(Message.id)))]
    assert [(e.kind, e.data.get("result")) for e in events] == [
        ("reply_ignored", None),
        ("reply_ignored", None),
        ("reply_action", "claimed"),
        ("reply_action", "already_claimed"),
    ]
    assert statuses == ["lead", "non_lead", "non_lead", "non_lead", "non_lead"]
    answers = [r for r in w.rows() if r.idempotency_key.startswith("reply-")]
    assert [(r.recipient, r.subject) for r in answers] == [
        (CARA, "CLAIM: You have claimed this lead."),
        (ANA, f"CLAIM: Already claimed by {CARA}."),
    ]
    assert "+15125550001" in answers[0].payload["text"]
    assert "+15125550001" not in answers[1].payload["text"]


def _answer(w: Any, alert: Any, frm: str, body: str, n: int, auth: list[str] = ()) -> Any:
    msg = EmailMessage()
    for value in auth:  # topmost first, as MTAs prepend them
        msg["Authentication-Results"] = value
    msg["From"], msg["To"], msg["Subject"] = frm, "leadmail@brokerage.example", "Re: lead"
    msg["Message-ID"] = f"<answer-x{n}@phone.example>"
    msg["In-Reply-To"] = alert["Message-ID"]
    msg.set_content(body)
    return w.ingest(msg.as_bytes())


def test_reply_actions_off_means_answers_do_nothing(make_world: Any) -> None:
    w = make_world(routes=[{"strategy": "first_to_claim"}],
                   notify={"email": {"reply_actions": False}})
    lead_id = w.ingest(mail(1)).lead_id
    alerts = {m["To"].addresses[0].addr_spec: m for m in w.sent()}
    # Without reply actions the Message-ID carries no tag, and an answer only says so.
    assert re.fullmatch(r"<leadmail\.offer-\d+@brokerage\.example>", alerts[ANA]["Message-ID"])
    out = _answer(w, alerts[ANA], f"Ana <{ANA}>", "CLAIM", 1)
    assert out.status == "non_lead" and "reply actions are off" in (out.reason or "")
    assert w.lead(lead_id or 0).status == "offered"


def test_reply_actions_need_the_link_secret() -> None:
    with pytest.raises(ConfigErrors) as exc:
        config.validate({"notify": {"email": {"reply_actions": True}}, "rules": {"dir": "."}},
                        env={})
    assert [e.key for e in exc.value.errors] == ["notify.email.reply_actions"]


def test_trusted_authentication_results_are_required_when_configured(make_world: Any) -> None:
    w = make_world(routes=[{"strategy": "first_to_claim"}],
                   followup={"trusted_authserv_ids": ["mx.brokerage.example"]})
    lead_id = w.ingest(mail(1)).lead_id
    alerts = {m["To"].addresses[0].addr_spec: m for m in w.sent()}
    ours_fail = "mx.brokerage.example; dmarc=fail header.from=brokerage.example"
    forged_pass = "mx.brokerage.example; dmarc=pass header.from=brokerage.example"
    # No header; our MTA says fail (a forged "pass" beside it does not help); another
    # server's pass. None acts.
    for n, auth in enumerate(([], [ours_fail, forged_pass],
                              ["mx.evil.example; dmarc=pass header.from=brokerage.example"])):
        out = _answer(w, alerts[ANA], f"Ana <{ANA}>", "CLAIM", n, auth)
        assert "not vouched for" in (out.reason or ""), out.reason
    assert w.lead(lead_id or 0).status == "offered"
    out = _answer(w, alerts[ANA], f"Ana <{ANA}>", "CLAIM", 9, [forged_pass])
    assert "claimed" in (out.reason or "") and w.lead(lead_id or 0).agent == ANA
