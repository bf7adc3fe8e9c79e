"""A crafted Message-ID must not erase a lead, against a running daemon.

An anonymous mail carrying the Message-ID the API would give a posted lead does not make the
real POST a duplicate: API idempotency has a namespace of its own. Two mails sharing one
Message-ID with different content are two leads, linked; the same mail delivered twice is one.
"""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from leadmail.models import Event, Lead
from tests.conftest import Sink, send, wait_for
from tests.e2e.serve import finished, serve

pytestmark = pytest.mark.e2e
KEY = "web-form-key-0123456789abcdef"


def person(n: int, message_id: str, name: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"] = f"{name} <p{n}@buyers.example>", "leads@brokerage.example"
    msg["Subject"], msg["Message-ID"] = "Question about a house", message_id
    msg.set_content(f"Hi, my name is {name}. Please call me at 512-555-01{n:02d}.\n")
    return msg.as_bytes()


@pytest.fixture
def daemon(tmp_path: Path, sink: Sink, daemon_factory):  # type: ignore[no-untyped-def]
    extra = f'[[api_keys]]\nname = "website"\nkey = "{KEY}"\nrole = "integration"\n'
    served = serve(tmp_path, sink, daemon_factory, extra=extra)
    yield served.daemon, served.engine, served.port, served.base
    assert served.stop() == 0


def test_a_mail_cannot_take_an_api_leads_idempotency_key(daemon) -> None:  # type: ignore[no-untyped-def]
    d, engine, port, base = daemon
    forged = person(1, "<api.website.ORDER-77@api.leadmail.invalid>", "Mallory Mailer")
    assert send(port, forged)[0] == 250
    wait_for(lambda: finished(engine, 1), timeout=15)
    r = httpx.post(base + "/api/v1/leads", timeout=30,
                   headers={"X-API-Key": KEY, "Idempotency-Key": "ORDER-77"},
                   json={"full_name": "Rosa Diaz", "email": "rosa@example.com",
                         "phone": "512 555 0199", "message": "Is it still available?"})
    assert r.status_code in (201, 202), r.text
    assert r.json()["status"] != "duplicate"
    with Session(engine) as s:
        emails = sorted(lead.email or "" for lead in s.exec(select(Lead)).all())
    assert emails == ["p1@buyers.example", "rosa@example.com"]
    # The real idempotency still holds: the same key again is the same lead.
    again = httpx.post(base + "/api/v1/leads", timeout=30,
                       headers={"X-API-Key": KEY, "Idempotency-Key": "ORDER-77"},
                       json={"full_name": "Rosa Diaz", "email": "rosa@example.com"})
    assert again.status_code == 200 and again.json()["status"] == "duplicate"


def test_one_message_id_other_content_is_another_lead(daemon) -> None:  # type: ignore[no-untyped-def]
    d, engine, port, base = daemon
    first = person(2, "<shared-1@buyers.example>", "Dana First")
    second = person(3, "<shared-1@buyers.example>", "Evan Second")
    for raw in (first, second, first, second):  # each delivered twice
        assert send(port, raw)[0] == 250
    msgs = wait_for(lambda: finished(engine, 4), timeout=20)
    assert [m.status for m in msgs] == ["lead", "lead", "duplicate", "duplicate"]
    assert (msgs[2].duplicate_of, msgs[3].duplicate_of) == (msgs[0].id, msgs[1].id)
    with Session(engine) as s:
        names = sorted(lead.first_name or "" for lead in s.exec(select(Lead)).all())
        link = s.exec(select(Event).where(Event.kind == "message_id_reused")).all()
    assert names == ["Dana", "Evan"]
    assert [(e.message_pk, e.data["earlier"]) for e in link] == [(msgs[1].id, msgs[0].id)]
