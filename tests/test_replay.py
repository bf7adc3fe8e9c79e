"""Replay and quarantine: stored messages run again after a rule fix, never a second lead."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from leadmail import config, db, pipeline
from leadmail.models import Event, Lead, Message, Outbox
from leadmail.replay import replay
from leadmail.store import store_raw
from tests.conftest import run_cli

RULE = """
name = "newportal"
source = "NewPortal"
script = "newportal.py"
[match]
from = ["*@newportal.example"]
{extra}
"""
BROKEN = "def process(mail, lead):\n    lead.tags.append(mail.no_such_attribute)\n"
FIXED = "def process(mail, lead):\n    lead.tags.append('newportal')\n"


def portal_mail(n: int = 1) -> bytes:
    msg = EmailMessage()
    msg["From"] = "NewPortal Leads <leads@newportal.example>"
    msg["To"] = "leads@brokerage.example"
    msg["Subject"] = f"New lead #{n}"
    msg["Message-ID"] = f"<np-{n}@newportal.example>"
    msg.set_content(
        f"Name: Dana Buyer{n}\nEmail: dana{n}@buyers.example\nPhone: 512-555-01{n:02d}\n"
        "Message: I would like to see 12 Oak St.\n"
    )
    return msg.as_bytes()


def auto_reply() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Rachel Kim <rachel@example.com>"
    msg["To"] = "leads@brokerage.example"
    msg["Subject"] = "Automatic reply: out of office"
    msg["Auto-Submitted"] = "auto-replied"
    msg["Message-ID"] = "<ooo-1@example.com>"
    msg.set_content("I'm out of the office until March 24.")
    return msg.as_bytes()


def write_rules(rules: Path, script: str, extra: str = "") -> None:
    rules.mkdir(exist_ok=True)
    (rules / "newportal.toml").write_text(RULE.format(extra=extra))
    (rules / "newportal.py").write_text(script)


@pytest.fixture
def world(tmp_path: Path) -> Any:
    url = f"sqlite:///{tmp_path / 'leadmail.db'}"
    rules = tmp_path / "rules"
    write_rules(rules, BROKEN)
    data = {
        "database": {"url": url},
        "notify": {"email": {"relay": f"file:{tmp_path / 'alerts'}"}},
        "rules": {"dir": str(rules)},
        "agents": [{"name": "Ana Agent", "email": "ana@brokerage.example"}],
    }
    db.upgrade(url)
    engine = db.make_engine(url)
    settings = config.validate(data, env={})
    yield settings, engine, rules
    engine.dispose()


def count(engine: Any, model: Any) -> int:
    with Session(engine) as s:
        return len(s.exec(select(model)).all())


def test_replay_after_a_rule_fix_then_update_never_a_second_lead(world: Any) -> None:
    settings, engine, rules = world
    msg_id = store_raw(engine, portal_mail())
    out = pipeline.process(pipeline.Runtime.load(settings), engine, msg_id)
    assert out is not None and out.status == "quarantined"
    assert "no_such_attribute" in (out.reason or "")

    # The admin fixes the script; replay makes the lead.
    write_rules(rules, FIXED)
    rt = pipeline.Runtime.load(settings)
    done = replay(rt, engine, msg_id)
    assert (done.action, done.status) == ("processed", "lead") and done.lead_id
    assert count(engine, Lead) == 1 and count(engine, Outbox) == 1

    # Replaying a message that made a lead only compares ...
    again = replay(rt, engine, msg_id)
    assert (again.action, again.lead_id, again.changes) == ("compared", done.lead_id, {})

    # ... and after a rule change shows what would change; --update writes it in place.
    write_rules(rules, FIXED, extra='[set]\nstage = "Potential"\ntags = ["hot"]')
    rt = pipeline.Runtime.load(settings)
    diff = replay(rt, engine, msg_id)
    assert diff.action == "compared"
    assert diff.changes["stage"] == ["Lead", "Potential"]
    with Session(engine) as s:
        assert s.get(Lead, done.lead_id).stage == "Lead"  # type: ignore[union-attr]
    updated = replay(rt, engine, msg_id, update=True)
    assert updated.action == "updated" and set(updated.changes) >= {"stage", "tags"}
    with Session(engine) as s:
        lead = s.get(Lead, done.lead_id)
        assert lead is not None and lead.stage == "Potential" and "hot" in lead.tags
        assert lead.trace[-1]["step"] == "replay" and "stage" in lead.trace[-1]["changed"]
        kinds = [e.kind for e in s.exec(select(Event).order_by(col(Event.id))).all()]
    assert kinds.count("replayed") == 2  # the reprocessing and the update
    assert count(engine, Lead) == 1 and count(engine, Outbox) == 1  # no second lead or alert


def test_replay_duplicates_non_leads_and_missing(world: Any) -> None:
    settings, engine, rules = world
    write_rules(rules, FIXED)
    rt = pipeline.Runtime.load(settings)
    first = store_raw(engine, portal_mail(2))
    second = store_raw(engine, portal_mail(2))
    ooo = store_raw(engine, auto_reply())
    for msg_id in (first, second, ooo):
        pipeline.process(rt, engine, msg_id)
    dup = replay(rt, engine, second)
    assert (dup.action, dup.status) == ("skipped", "duplicate")
    assert f"replay #{first} instead" in (dup.reason or "")
    non = replay(rt, engine, ooo)
    assert (non.action, non.status) == ("processed", "non_lead")
    assert replay(rt, engine, 999).reason == "no message #999"
    assert count(engine, Lead) == 1


def test_quarantine_and_replay_commands(world: Any, tmp_path: Path) -> None:
    settings, engine, rules = world
    cfg = tmp_path / "leadmail.toml"
    cfg.write_text(f"""
[database]
url = "{settings.database.url}"
[notify.email]
relay = "{settings.notify.email.relay}"
[rules]
dir = "{rules}"
[log]
level = "error"
[[agents]]
name = "Ana Agent"
email = "ana@brokerage.example"
""")
    msg_id = store_raw(engine, portal_mail(3))
    pipeline.process(pipeline.Runtime.load(settings), engine, msg_id)

    listed = run_cli("quarantine", "list", "--json", config=cfg).stdout.splitlines()
    assert [json.loads(line)["id"] for line in listed] == [msg_id]
    shown = run_cli("quarantine", "show", str(msg_id), config=cfg).stdout
    assert "no_such_attribute" in shown and "Traceback" in shown
    raw = run_cli("quarantine", "show", str(msg_id), "--raw", config=cfg).stdout
    assert raw.encode() == portal_mail(3)

    write_rules(rules, FIXED)
    retried = json.loads(run_cli("quarantine", "retry", "--all", config=cfg).stdout)
    assert retried["status"] == "lead"
    assert run_cli("quarantine", "list", config=cfg).stdout == ""

    replayed = json.loads(run_cli("replay", str(msg_id), config=cfg).stdout)
    assert replayed["action"] == "compared" and replayed["changes"] == {}
    missing = run_cli("replay", "4242", config=cfg, check=False)
    assert missing.returncode == 1 and json.loads(missing.stdout)["reason"] == "no message #4242"
    with Session(engine) as s:
        assert len(s.exec(select(Lead)).all()) == 1
        assert s.get(Message, msg_id).status == "lead"  # type: ignore[union-attr]
