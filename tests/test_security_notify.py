"""Security of alerts in process, on SQLite and PostgreSQL, against real webhook receivers:
two senders racing over one outbox never send a row twice, 301/308 fail for good while other
redirects are retried, what a hidden offer may show, and the header helper. The daemon-level
checks are in tests/e2e/test_security_notify.py."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from leadmail import config, db, pipeline
from leadmail.config import HiddenOfferConfig
from leadmail.errors import ConfigErrors
from leadmail.headers import BIDI_CONTROLS, header_value
from leadmail.models import Lead, Outbox
from leadmail.notify import outbox
from leadmail.notify.alert import SHOWN_WHEN_HIDDEN, lead_view
from leadmail.store import store_raw
from tests.servers.webhooks import HookServer

ANA = "ana@brokerage.example"


@pytest.fixture
def hooks() -> Iterator[Any]:
    made: list[HookServer] = []

    def make(**kw: Any) -> HookServer:
        made.append(HookServer(**kw))
        return made[-1]

    yield make
    for server in made:
        server.close()


class World:
    """Settings, a migrated database and the pipeline; Ana gets every lead on `channels`."""

    def __init__(self, url: str, tmp: Path, hooks: list[dict[str, Any]]) -> None:
        (tmp / "rules").mkdir(exist_ok=True)
        channels = [h["name"] for h in hooks]
        self.settings = config.validate(
            {
                "database": {"url": url},
                "notify": {"email": {"relay": f"file:{tmp / 'alerts'}"}, "webhooks": hooks},
                "rules": {"dir": str(tmp / "rules")},
                "agents": [{"name": "Ana Agent", "email": ANA, "channels": channels}],
            },
            env={},
        )
        db.upgrade(url)
        self.engine = db.make_engine(url)
        self.rt = pipeline.Runtime.load(self.settings)

    def ingest(self, n: int) -> None:
        msg = EmailMessage()
        msg["From"] = f"Pat Person <pat{n}@buyers.example>"
        msg["To"] = "leads@brokerage.example"
        msg["Subject"] = f"Inquiry {n}"
        msg["Message-ID"] = f"<sec-inquiry-{n}@buyers.example>"
        msg.set_content(f"Hi, my name is Pat Person. Call me at 512-555-{n:04d}.")
        assert pipeline.process(self.rt, self.engine, store_raw(self.engine, msg.as_bytes()))

    def rows(self) -> list[Outbox]:
        with Session(self.engine) as s:
            return list(s.exec(select(Outbox).order_by(col(Outbox.id))).all())


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[Any]:
    made: list[World] = []

    def make(hooks: list[dict[str, Any]]) -> World:
        made.append(World(db_url, tmp_path, hooks))
        return made[-1]

    yield make
    for w in made:
        w.engine.dispose()


def test_two_senders_racing_over_one_outbox_send_each_row_once(world: Any, hooks: Any) -> None:
    receiver = hooks(delay=0.3)  # slow enough that the two senders overlap
    w = world([{"name": "crm", "url": receiver.url + "/crm"}])
    for n in range(1, 21):
        w.ingest(n)
    assert len(w.rows()) == 20
    start = threading.Barrier(2)
    results: list[int] = []

    def sender() -> None:
        start.wait()
        for _ in range(3):
            results.append(outbox.deliver_due(w.engine, w.settings))

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    keys = Counter(r["headers"]["Idempotency-Key"] for r in receiver.requests)
    assert len(keys) == 20 and set(keys.values()) == {1}, keys
    assert sum(results) == 20
    assert {(r.status, r.attempts) for r in w.rows()} == {("sent", 1)}


def test_permanent_redirects_fail_for_good_and_the_others_are_retried(
    world: Any, hooks: Any
) -> None:
    elsewhere = hooks()
    moved = hooks(redirect=elsewhere.url + "/new", status=301)
    found = hooks(redirect="/same-origin-path?token=abc", status=307)
    w = world([
        {"name": "moved", "url": moved.url + "/hook", "username": "AC1", "password": "t0ken"},
        {"name": "found", "url": found.url + "/hook"},
    ])
    w.ingest(1)
    assert outbox.deliver_due(w.engine, w.settings) == 0
    gone, later = w.rows()
    assert gone.status == "failed" and (gone.last_error or "").startswith("redirect 301 to")
    assert elsewhere.url in (gone.last_error or "")
    assert later.status == "pending" and "redirect 307" in (later.last_error or "")
    assert "the same origin" in (later.last_error or "")
    assert "token" not in (later.last_error or "")  # where it points: the origin, no path
    assert moved.requests and found.requests and elsewhere.requests == []


def test_a_hidden_view_keeps_only_its_allow_list() -> None:
    lead = Lead(
        id=7, message_pk=1, dedup_key="k", source="Zillow", rule="zillow", first_name="Grace",
        last_name="Hopper", email="grace@example.org", phone="+15125550199",
        address="1 Home St", property_address="42 Lakeshore Dr", price=500000,
        message="call me", segment="Buyer", tags=["Hot", "spouse-maria"],
        custom_fields={"whatsapp": "+5511987654321", "timeline": "0-3 months"},
        location="Austin", team="Central",
    )
    allow = HiddenOfferConfig(custom_fields=["timeline"], tags=["hot"])
    hidden = lead_view(lead, True, allow)
    shown = lead_view(lead)
    assert set(hidden) == set(shown)  # same keys: templates work either way
    for key, value in hidden.items():
        if key in SHOWN_WHEN_HIDDEN:
            assert value == shown[key], key
        elif key == "tags":
            assert value == ["Hot"]
        elif key == "custom_fields":
            assert value == {"timeline": "0-3 months"}
        else:
            assert value is None, key
    assert lead_view(lead, True)["custom_fields"] == {} and lead_view(lead, True)["tags"] == []
    assert shown["custom_fields"]["whatsapp"] == "+5511987654321"  # not hidden: everything


def test_header_value_strips_bidi_and_control_characters() -> None:
    for char in [*map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A)),
                 "\u200e", "\u200f", "\u061c"]:
        assert char in BIDI_CONTROLS
        assert header_value(f"ab{char}c") == "abc", hex(ord(char))
    assert header_value("New lead:\r\nBcc: x@evil.example") == "New lead: Bcc: x@evil.example"
    assert header_value("a\tb\x00c\x1bd\x7fe\x85f\u2028g\u2029h") == "a b c d e f g h"
    assert header_value("  José 李 👋 Ørsted  ") == "José 李 👋 Ørsted"
    assert header_value(None) == "" and header_value(42) == "42"


def test_config_keys_for_webhook_deadlines_and_hidden_offers(tmp_path: Path) -> None:
    hook = {"name": "crm", "url": "https://crm.example/hook"}
    s = config.validate({"notify": {"webhooks": [hook]}}, env={})
    assert s.notify.webhooks[0].deadline == 30.0
    assert s.notify.hidden_offer == HiddenOfferConfig(custom_fields=[], tags=[])
    for bad in (0, 46):  # the deadline stays inside the outbox's 60-second lease
        with pytest.raises(ConfigErrors) as exc:
            config.validate({"notify": {"webhooks": [{**hook, "deadline": bad}]}}, env={})
        assert [e.key for e in exc.value.errors] == ["notify.webhooks[0].deadline"]
    env = {"LEADMAIL_NOTIFY_HIDDEN_OFFER_CUSTOM_FIELDS": "timeline, budget",
           "LEADMAIL_NOTIFY_HIDDEN_OFFER_TAGS": "hot"}
    s = config.validate({}, env=env)
    assert s.notify.hidden_offer.custom_fields == ["timeline", "budget"]
    assert s.notify.hidden_offer.tags == ["hot"]
    with pytest.raises(ConfigErrors) as exc:
        config.validate({"notify": {"hidden_offer": {"fields": ["x"]}}}, env={})
    assert [e.key for e in exc.value.errors] == ["notify.hidden_offer.fields"]
