"""Forged answers to alerts, against a running daemon: guessed Message-IDs, another agent's
tag, a forged From. None of them claims or declines; each is logged and recorded. Only the
alert's own agent, citing that alert's tagged Message-ID, acts.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from leadmail.models import Event, Lead, Message
from tests.conftest import Sink, send, wait_for
from tests.e2e.serve import serve
from tests.e2e.test_alerts import JUMP_BALL, SECRET, state
from tests.e2e.test_daemon import lead_mail

pytestmark = pytest.mark.e2e
ANA, BEN = "ana@brokerage.example", "ben@brokerage.example"
TAGGED = re.compile(r"^<leadmail\.(offer-(\d+))\.([a-z2-7]{20})@brokerage\.example>$")


def answer(frm: str, in_reply_to: str, body: str, n: int) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = frm, "leads@brokerage.example", "Re: lead"
    msg["Message-ID"] = f"<forged-{n}@evil.example>"
    msg["In-Reply-To"] = msg["References"] = in_reply_to
    msg.set_content(f"{body}\n")
    return msg.as_bytes()


@pytest.fixture
def daemon(tmp_path: Path, sink: Sink, daemon_factory):  # type: ignore[no-untyped-def]
    # Replies go to an address the SMTP intake accepts; alerts carry claim links.
    served = serve(tmp_path, sink, daemon_factory,
                   extra=f'secret = "{SECRET}"\n{JUMP_BALL}',
                   env={"LEADMAIL_NOTIFY_EMAIL_REPLY_TO": "leads@brokerage.example"})
    yield served.daemon, served.engine, served.port
    assert served.stop() == 0


def _ignored(engine: Any) -> list[Event]:
    with Session(engine) as s:
        return list(s.exec(select(Event).where(Event.kind == "reply_ignored")
                           .order_by(col(Event.id))).all())


def test_forged_replies_change_nothing_and_the_real_one_acts(daemon, sink: Sink) -> None:  # type: ignore[no-untyped-def]
    d, engine, port = daemon
    assert send(port, lead_mail(31))[0] == 250
    wait_for(lambda: len(sink.messages) >= 3, timeout=15)
    ana, ben = sink.to(ANA)[0], sink.to(BEN)[0]
    a, b = TAGGED.match(str(ana["Message-ID"])), TAGGED.match(str(ben["Message-ID"]))
    assert a and b, (ana["Message-ID"], ben["Message-ID"])
    lead_id = int(ana["X-Leadmail-Lead"])
    before = state(engine, lead_id)

    # Ben knows his own alert's id; from it he guesses Ana's (sequential offer numbers), and
    # writes as Ana: the old untagged form, his own tag on her key, a made-up tag.
    guesses = [
        f"<leadmail.{a.group(1)}@brokerage.example>",
        f"<leadmail.{a.group(1)}.{b.group(3)}@brokerage.example>",
        f"<leadmail.{a.group(1)}.{'a' * 20}@brokerage.example>",
        f"<leadmail.offer-{int(b.group(2)) + 1}@brokerage.example>",
    ]
    attacks = [answer(f"Ana <{ANA}>", ref, "DECLINE", n) for n, ref in enumerate(guesses)]
    # Ben's own, valid tag, but sent as Ana; Ana's valid tag sent by a stranger.
    attacks.append(answer(f"Ana <{ANA}>", str(ben["Message-ID"]), "CLAIM", 10))
    attacks.append(answer("Mallory <mallory@evil.example>", str(ana["Message-ID"]), "CLAIM", 11))
    for raw in attacks:
        assert send(port, raw)[0] == 250
    wait_for(lambda: len(_ignored(engine)) >= len(attacks), timeout=20)
    assert state(engine, lead_id)[:3] == before[:3]
    whys = [e.data["why"] for e in _ignored(engine)]
    assert sum("no valid tag" in w for w in whys) == 4, whys
    assert sum("not from" in w for w in whys) == 2, whys
    log = d.log_text()
    assert log.count("reply to an alert with a forged reference: ignored") == 4
    with Session(engine) as s:
        msgs = s.exec(select(Message).order_by(col(Message.id))).all()
        assert len(s.exec(select(Lead)).all()) == 1  # no forged reply became a lead either
    assert [m.status for m in msgs] == ["lead"] + ["non_lead"] * len(attacks)

    # Ana's own answer to her own alert claims.
    assert send(port, answer(f"Ana <{ANA}>", str(ana["Message-ID"]), "CLAIM", 20))[0] == 250
    wait_for(lambda: state(engine, lead_id)[1] == ANA, timeout=15)
