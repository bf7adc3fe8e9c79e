"""Audit item 14 in the pipeline (SQLite and PostgreSQL): who vouches for an agent's own mail
to a lead, its time, and the config keys that say whom to believe. The daemon over SMTP and
IMAP: tests/e2e/test_security_activity.py."""

from __future__ import annotations

import json
from datetime import timedelta
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from leadmail import authres, config, db, pipeline
from leadmail.errors import ConfigErrors
from leadmail.followup import activity
from leadmail.models import Activity, Event, Lead, Message
from leadmail.store import store_raw
from tests.conftest import ROOT

MX = "mx.brokerage.example"


@pytest.fixture
def office(db_url: str) -> Any:
    settings = config.validate({
        "database": {"url": db_url},
        "rules": {"dir": str(ROOT / "rules")},
        "followup": {"trusted_authserv_ids": [MX]},
        "agents": [{"name": "Ana Agent", "email": "ana@brokerage.example",
                    "aliases": ["ana@mail.brokerage.example"]},
                   {"name": "Ben Broker", "email": "ben@brokerage.example"}],
        "imap": [{"host": "imap.example", "username": "ana@mail.brokerage.example",
                  "password": "x", "folders": ["INBOX"], "sent_folders": ["Sent"]}],
        "routes": [{"pond": "default", "strategy": "round_robin"}],
    }, env={})
    db.upgrade(db_url)
    engine = db.make_engine(db_url)
    rt = pipeline.Runtime.load(settings)
    msg = EmailMessage()
    msg["From"] = "Dana Doe <dana.doe@buyers.example>"
    msg["To"] = "leads@brokerage.example"
    msg["Subject"] = "Question about 12 Oak St"
    msg.set_content("Hi, I'm Dana Doe. Please call me at 512-555-0199.")
    outcome = pipeline.process(rt, engine, store_raw(engine, msg.as_bytes()))
    assert outcome is not None and outcome.lead_id
    with Session(engine) as s:
        lead = s.get(Lead, outcome.lead_id)
    assert lead is not None and lead.agent == "ana@brokerage.example"
    yield settings, engine, rt, lead
    engine.dispose()


def agent_mail(sender: str = "Ana <ana@brokerage.example>", *headers: tuple[str, str]) -> bytes:
    msg = EmailMessage()
    for name, value in headers:
        msg[name] = value
    msg["From"] = sender
    msg["To"] = "Dana <dana.doe@buyers.example>"
    msg["Subject"] = "Re: 12 Oak St"
    msg["Date"] = "Mon, 01 Jan 2001 09:00:00 +0000"
    msg.set_content("Hi Dana, are you free on Saturday?")
    return msg.as_bytes()


def process(office: Any, raw: bytes, **intake: Any) -> tuple[Message, list[Activity]]:
    settings, engine, rt, lead = office
    msg_id = store_raw(engine, raw, **intake)
    pipeline.process(rt, engine, msg_id)
    with Session(engine) as s:
        m = s.get(Message, msg_id)
        rows = list(s.exec(select(Activity).where(Activity.message_pk == msg_id)).all())
    assert m is not None and m.status == "non_lead", (m.status, m.reason)  # never a lead
    return m, rows


@pytest.mark.parametrize(("intake", "counts"), [
    ({"intake": "smtp", "auth_user": "ana@brokerage.example"}, True),
    ({"intake": "lmtp", "auth_user": "ANA@mail.brokerage.example"}, True),  # an alias
    ({"intake": "smtp", "auth_user": "ben@brokerage.example"}, False),  # another agent
    ({"intake": "smtp"}, False),
    ({"intake": "imap", "imap_account": "ana@mail.brokerage.example@imap.example",
      "imap_folder": "Sent"}, True),
    ({"intake": "imap", "imap_account": "ana@mail.brokerage.example@imap.example",
      "imap_folder": "INBOX"}, False),
    ({"intake": "imap", "imap_account": "ana@mail.brokerage.example@other.example",
      "imap_folder": "Sent"}, False),  # a mailbox of that name elsewhere
    ({"intake": "file"}, False),  # leadmail ingest of a .eml anyone may have written
])
def test_which_intake_vouches(office: Any, intake: dict[str, Any], counts: bool) -> None:
    m, rows = process(office, agent_mail(), **intake)
    if counts:
        assert [r.by for r in rows] == ["ana@brokerage.example"], m.reason
        assert activity.aware(rows[0].at) == activity.aware(m.received_at)  # not 2001
        assert rows[0].data["date_header"] == "Mon, 01 Jan 2001 09:00:00 +0000"
    else:
        assert rows == [] and "not recorded as contact: sender not vouched for" in m.reason


@pytest.mark.parametrize(("results", "counts"), [
    ([f"{MX}; dmarc=pass (p=reject) header.from=brokerage.example"], True),
    ([f"{MX}; dkim=pass header.d=brokerage.example header.s=s1"], True),
    ([f"{MX}; dkim=pass header.i=@brokerage.example"], True),
    ([f"{MX}; auth=pass (PLAIN) smtp.auth=ana@brokerage.example"], True),  # the MX's submission
    ([f"{MX}; auth=pass smtp.auth=ben@brokerage.example"], False),
    ([f"{MX}; dmarc=pass header.from=brokerage.example.evil"], False),
    ([f"{MX}; dmarc=fail header.from=brokerage.example"], False),
    ([f"{MX}; none"], False),
    ([f"{MX}; dkim=pass (header.d=brokerage.example) header.d=evil.example"], False),  # comment
    ([f"{MX}; dmarc=pass header.from=brokerage.example",  # the sender's own, beside the MX's
      f"{MX}; dmarc=fail header.from=brokerage.example"], False),
    ([f"{MX}.evil; dmarc=pass header.from=brokerage.example"], False),
    (["brokerage.example; dmarc=pass header.from=brokerage.example"], False),
])
def test_which_authentication_results_vouch(office: Any, results: list[str],
                                            counts: bool) -> None:
    headers = [("Authentication-Results", r) for r in results]
    m, rows = process(office, agent_mail("Ana <ana@brokerage.example>", *headers), intake="smtp")
    assert bool(rows) is counts, m.reason


def test_unconfigured_authserv_ids_believe_no_authentication_results(office: Any) -> None:
    settings, engine, rt, lead = office
    plain = settings.model_copy(update={"followup": config.FollowupConfig()})
    raw = agent_mail("Ana <ana@brokerage.example>",
                     ("Authentication-Results", f"{MX}; dmarc=pass header.from=brokerage.example"))
    msg_id = store_raw(engine, raw, intake="smtp")
    pipeline.process(pipeline.Runtime.load(plain), engine, msg_id)
    with Session(engine) as s:
        m = s.get(Message, msg_id)
        assert m is not None and "no [followup] trusted_authserv_ids" in (m.reason or "")
        assert s.exec(select(Activity).where(Activity.kind == "reply")).all() == []


def test_several_from_addresses_are_refused(office: Any) -> None:
    m, rows = process(office, agent_mail("ana@brokerage.example, eve@evil.example"),
                      intake="smtp", auth_user="ana@brokerage.example")
    assert rows == [] and "several addresses" in (m.reason or "")


def test_never_dated_before_the_lead_existed(office: Any) -> None:
    """A mail leadmail had before the lead was made (a replay of an old message, say) is not
    contact with that lead, however well vouched for."""
    settings, engine, rt, lead = office
    msg_id = store_raw(engine, agent_mail(), intake="smtp", auth_user="ana@brokerage.example")
    with db.session_scope(engine) as s:
        s.execute(update(Message).where(col(Message.id) == msg_id)
                  .values(received_at=lead.created_at - timedelta(minutes=5)))
    pipeline.process(rt, engine, msg_id)
    with Session(engine) as s:
        m = s.get(Message, msg_id)
        assert m is not None and m.status == "non_lead"
        assert "arrived before the lead existed" in (m.reason or ""), m.reason
        assert s.exec(select(Activity).where(Activity.kind == "reply")).all() == []
        (event,) = s.exec(select(Event).where(Event.kind == "contact_refused")).all()
        assert (event.lead_id, event.message_pk) == (lead.id, msg_id)


def test_authentication_results_parsing() -> None:
    raw = (b"Authentication-Results: MX.Example.COM 1; (a comment; with a semicolon)\r\n"
           b"  spf=pass smtp.mailfrom=a.example;\r\n"
           b'  dkim=pass (good (nested) sig) header.d="A.example" header.s=s1;\r\n'
           b"  dmarc/1=pass header.from=a.example\r\n"
           b"Authentication-Results: other.example; none\r\n\r\n")
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    assert authres.auth_results(headers) == [
        ("mx.example.com", [("spf", "pass", {"smtp.mailfrom": "a.example"}),
                            ("dkim", "pass", {"header.d": "a.example", "header.s": "s1"}),
                            ("dmarc", "pass", {"header.from": "a.example"})]),
        ("other.example", []),
    ]


def test_new_keys_are_checked_at_start(tmp_path: Path) -> None:
    def errors(data: dict[str, Any]) -> list[str]:
        with pytest.raises(ConfigErrors) as info:
            config.validate(data, env={})
        return [str(e) for e in info.value.errors]

    assert errors({"followup": {"trusted_authserv_ids": ["mx.example; dmarc=pass"]}})[0] \
        .startswith("followup.trusted_authserv_ids: 'mx.example; dmarc=pass' is not an authserv")
    imap = {"host": "h", "username": "leads@brokerage.example", "password": "x",
            "sent_folders": ["Sent"]}
    assert errors({"imap": [imap]}) == [
        "imap[0].sent_folders: leads@brokerage.example is not a configured agent's email or "
        "alias, so whose sent mail is it?"]
    agents = [{"name": "A", "email": "leads@brokerage.example"}]
    assert errors({"agents": agents, "imap": [{**imap, "processed_folder": "Sent"}]}) == [
        "imap[0].processed_folder: must not be one of the sent_folders"]
    ok = config.validate({"agents": agents, "imap": [imap]}, env={})
    assert ok.imap[0].watched == ["INBOX", "Sent"]
    # and through the real CLI, naming the key
    from tests.conftest import run_cli

    cfg = tmp_path / "c.toml"
    cfg.write_text('[followup]\ntrusted_authserv_ids = ["bad id"]\n')
    res = run_cli("check-config", config=cfg, check=False)
    assert res.returncode == 2 and "config error: followup.trusted_authserv_ids:" in res.stderr


def test_a_refused_mail_replayed_is_refused_again_and_noted_once(office: Any,
                                                                tmp_path: Path) -> None:
    """`leadmail replay` of a forgery: still nothing recorded, one contact_refused event."""
    from tests.conftest import run_cli

    settings, engine, rt, lead = office
    m, rows = process(office, agent_mail(), intake="smtp")
    assert rows == []
    cfg = tmp_path / "replay.toml"
    cfg.write_text(f'[database]\nurl = "{settings.database.url}"\n'
                   f'[rules]\ndir = "{ROOT / "rules"}"\n'
                   '[[agents]]\nname = "Ana Agent"\nemail = "ana@brokerage.example"\n'
                   '[[agents]]\nname = "Ben Broker"\nemail = "ben@brokerage.example"\n')
    out = json.loads(run_cli("replay", str(m.id), config=cfg).stdout)
    assert out["action"] == "processed" and "not recorded as contact" in out["reason"], out
    with Session(engine) as s:
        assert s.exec(select(Activity).where(Activity.kind == "reply")).all() == []
        events = s.exec(select(Event).where(Event.kind == "contact_refused")).all()
        assert [(e.message_pk, e.lead_id) for e in events] == [(m.id, lead.id)]
