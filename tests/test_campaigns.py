"""Campaigns (issue 16) in-process, on a controlled clock: starting with the assignment,
quiet hours in the lead's timezone, stops (contact, stage, bounce, STOP by text), the
suppression list, pause/resume, texts through the SMS webhook, config errors naming the key,
check-config's template check, the report. SQLite and PostgreSQL where the database matters.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from leadmail import config, db
from leadmail.analytics import reports
from leadmail.clock import use
from leadmail.errors import ConfigErrors
from leadmail.followup import activity, campaigns, stages
from leadmail.followup.access import ADMIN
from leadmail.models import Activity, CampaignRun, CampaignStep, Outbox, Suppression
from leadmail.routing import actions
from leadmail.store import store_raw
from tests.test_followup import Office, _offices

SAT_NIGHT = datetime(2026, 11, 7, 4, 0, tzinfo=UTC)  # Fri 22:00 in Austin (America/Chicago)
ZILLOW_CAMPAIGN = {"name": "zillow-buyers", "sources": ["Zillow"], "steps": [
    {"after": "2m", "channel": "email", "template": "buyer-intro"},
    {"after": "1d", "channel": "sms", "template": "buyer-checkin"}]}
SELLER_CAMPAIGN = {"name": "sellers", "sources": ["*"], "start": "stage:Potential",
                   "steps": [{"after": "1h", "template": "seller-valuation"}]}


def followup(**extra: Any) -> dict[str, Any]:
    data = {"campaigns": [ZILLOW_CAMPAIGN, SELLER_CAMPAIGN], "send_hours": "00:00-24:00",
            "postal_address": "Brokerage Example, 100 Congress Ave, Austin, TX 78701", **extra}
    return data


SMS = {"webhooks": [{"name": "sms", "url": "https://sms.example/Messages.json",
                     "format": "form", "username": "AC1", "password": "tok-0123456789",
                     "form": {"To": "{{ agent.phone }}", "From": "+15125550000",
                              "Body": "{{ short }}"}}],
       "email": {"relay": "file:alerts"}}


@pytest.fixture
def office(db_url: str, tmp_path: Path) -> Iterator[Callable[..., Office]]:
    yield from _offices(db_url, tmp_path)


@pytest.fixture
def sqlite_office(tmp_path: Path) -> Iterator[Callable[..., Office]]:
    yield from _offices(f"sqlite:///{tmp_path / 'office.db'}", tmp_path)


def make(factory: Callable[..., Office], tmp_path: Path, **fu: Any) -> Office:
    notify = {**SMS, "email": {"relay": f"file:{tmp_path / 'alerts'}"}}
    o = factory(followup=followup(**fu), notify=notify)
    return o


def rows(o: Office, model: Any, *where: Any) -> list[Any]:
    with Session(o.engine) as s:
        return list(s.exec(select(model).where(*where).order_by(col(model.id))).all())


def run_pass(o: Office) -> int:
    with use(o.clock):
        return campaigns.run_pass(o.engine, o.settings, o.clock.now())


def test_started_with_the_assignment_and_sent_once(office: Any, tmp_path: Path) -> None:
    o = make(office, tmp_path)
    lead = o.post("zillow-zap", phone="+15125550177")
    other = o.post("web")  # a Website lead: no campaign is for it
    (run,) = rows(o, CampaignRun)
    assert (run.lead_id, run.campaign, run.agent, run.status) == (
        lead.id, "zillow-buyers", lead.agent, "active")
    steps = rows(o, CampaignStep)
    assert [(s.position, s.channel, s.status) for s in steps] == [
        (0, "email", "scheduled"), (1, "sms", "scheduled")]
    assert campaigns.steps_of(Session(o.engine), other.id) == []
    assert {"step": "campaign", "campaign": "zillow-buyers", "steps": 2,
            "started": "assigned"} in o.lead(lead.id).trace
    assert run_pass(o) == 0  # not due yet
    o.clock.advance(minutes=2)
    assert run_pass(o) == 1 and run_pass(o) == 0  # once
    (mail,) = o.outbox("campaign-")
    assert mail.idempotency_key == f"campaign-{lead.id}-zillow-buyers-1"
    assert mail.recipient == lead.email and mail.kind == "email"
    agent = o.settings.find_agent(lead.agent or "")
    assert agent is not None and mail.payload["from_name"] == agent.name
    assert mail.payload["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "100 Congress Ave" in mail.payload["text"]
    o.clock.advance(days=1)
    assert run_pass(o) == 1
    text = o.outbox(f"campaign-{lead.id}-zillow-buyers-2")[0]
    assert text.kind == "webhook" and text.recipient == "+15125550177"
    form = dict(urllib.parse.parse_qsl(text.payload["body"]))
    assert form["To"] == "+15125550177" and "Reply STOP to opt out." in form["Body"]
    assert rows(o, CampaignRun)[0].status == "done"
    kinds = [i["kind"] for i in activity.timeline(Session(o.engine), lead.id or 0)]
    assert kinds.count("campaign_sent") == 2


def test_a_claimed_lead_starts_its_campaign_on_the_next_pass(sqlite_office: Any,
                                                             tmp_path: Path) -> None:
    everyone = dict(ZILLOW_CAMPAIGN, name="everyone", sources=["*"])
    o = make(sqlite_office, tmp_path, campaigns=[everyone])
    lead = o.post("realtor-zap")  # first to claim: offered, nobody has it yet
    assert lead.agent is None and not rows(o, CampaignRun)
    assert run_pass(o) == 0 and not rows(o, CampaignRun)
    with use(o.clock):
        offer = next(r for r in o.outbox("offer-"))
        result = actions.act(o.engine, o.settings, lead.id or 0, offer.recipient, "claim")
    assert result.status == "claimed", result
    o.clock.advance(minutes=1)
    run_pass(o)
    (run,) = rows(o, CampaignRun)
    assert (run.lead_id, run.campaign, run.agent) == (lead.id, "everyone", offer.recipient)
    run_pass(o)
    assert len(rows(o, CampaignRun)) == 1


def test_quiet_hours_in_the_leads_timezone(sqlite_office: Any, tmp_path: Path) -> None:
    o = make(sqlite_office, tmp_path, send_hours="mon-fri 09:00-17:00")
    o.clock.set(SAT_NIGHT)
    lead = o.post("zillow-zap", phone="+15125550177")  # 512: Austin, America/Chicago
    o.clock.advance(minutes=2)  # Fri 22:02 in Austin: outside the hours
    assert run_pass(o) == 0
    (first, _) = rows(o, CampaignStep)
    monday = datetime(2026, 11, 9, 15, 0, tzinfo=UTC)  # Mon 09:00 in Austin
    assert db_aware(first.due_at) == monday
    assert "Fri 22:02 America/Chicago" in (first.reason or "")
    o.clock.set(monday - timedelta(minutes=1))
    assert run_pass(o) == 0 and not o.outbox("campaign-")
    o.clock.set(monday)  # step 2 (after 1 day: Saturday night) waited too: both go, once
    assert run_pass(o) == 2 and run_pass(o) == 0
    assert len(o.outbox(f"campaign-{lead.id}-")) == 2
    # No phone: the state of the lead's address, else [routing] timezone (UTC here).
    west = o.post("zillow-zap", phone=None, address="1 Pine St, Seattle, WA 98101")
    assert campaigns.lead_zone(o.settings, west) == "America/Los_Angeles"
    later = o.post("zillow-zap", phone=None)
    assert campaigns.lead_zone(o.settings, later) == "UTC"


def db_aware(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def test_contact_stage_and_pause_stop_or_hold(office: Any, tmp_path: Path) -> None:
    o = make(office, tmp_path)
    called = o.post("zillow-zap")
    moved = o.post("zillow-zap")
    paused = o.post("zillow-zap")
    with use(o.clock):
        activity.add(o.engine, called.id or 0, "call", called.agent or "", "left a voicemail")
        assert stages.set_stage(o.engine, o.settings, moved.id or 0, "Potential", "ana").ok
        assert campaigns.pause(o.engine, paused.id or 0) is not None
    o.clock.advance(minutes=5)
    assert run_pass(o) == 0 and not o.outbox("campaign-")
    runs = {(r.lead_id, r.campaign): (r.status, r.stop_reason) for r in rows(o, CampaignRun)}
    assert runs[(called.id, "zillow-buyers")] == ("stopped", "contact")
    assert runs[(moved.id, "zillow-buyers")] == ("stopped", "stage")
    assert runs[(moved.id, "sellers")] == ("active", None)  # Potential starts the sellers'
    assert runs[(paused.id, "zillow-buyers")] == ("paused", None)
    stops = rows(o, Activity, Activity.kind == "campaign_stopped")
    assert sorted(a.data["reason"] for a in stops) == ["contact", "stage"]
    with use(o.clock):
        assert campaigns.resume(o.engine, paused.id or 0) is not None
    o.clock.advance(minutes=5)  # paused for 5 minutes: step 1 is due 5 minutes later
    assert run_pass(o) == 1
    assert [r.lead_id for r in o.outbox("campaign-")] == [paused.id]


def test_stop_by_text_suppresses_the_phone_for_every_later_lead(office: Any,
                                                                 tmp_path: Path) -> None:
    o = make(office, tmp_path)
    first = o.post("zillow-zap", phone="+15125550177", email="one@buyers.example")
    with use(o.clock):
        said = campaigns.text_received(o.engine, o.settings, "+15125550177", "STOP")
    assert "unsubscribed +15125550177" in said
    assert [(s.kind, s.value, s.reason) for s in rows(o, Suppression)] == [
        ("phone", "+15125550177", "unsubscribe")]
    assert rows(o, CampaignRun)[0].stop_reason == "unsubscribe"
    # A later lead with the same phone: its email goes out, its text never does.
    later = o.post("zillow-zap", phone="+15125550177", email="two@buyers.example")
    o.clock.advance(days=2)
    assert run_pass(o) == 1
    steps = {s.position: s for s in rows(o, CampaignStep, CampaignStep.lead_id == later.id)}
    assert steps[0].status == "sent" and steps[1].status == "skipped"
    assert "suppression list" in (steps[1].reason or "")
    assert first.id != later.id


def test_an_answer_by_text_stops_and_alerts(sqlite_office: Any, tmp_path: Path) -> None:
    o = make(sqlite_office, tmp_path)
    lead = o.post("zillow-zap", phone="+15125550177", first_name="Maria", last_name="Lopez")
    with use(o.clock):
        said = campaigns.text_received(o.engine, o.settings, "+15125550177",
                                       "Yes please, call me tomorrow")
    assert said == "Maria Lopez answered campaign 'zillow-buyers'; stopped"
    (alert,) = o.outbox("campaign-answer-")
    assert alert.recipient == lead.agent
    assert alert.subject == "Maria Lopez answered your campaign: Yes please, call me tomorrow"


def test_a_hard_bounce_stops_and_suppresses(office: Any, tmp_path: Path) -> None:
    o = make(office, tmp_path)
    lead = o.post("zillow-zap")
    o.clock.advance(minutes=2)
    assert run_pass(o) == 1
    key = f"campaign-{lead.id}-zillow-buyers-1"
    report = (
        "From: MAILER-DAEMON@mx.buyers.example\r\nTo: leads@brokerage.example\r\n"
        "Subject: Undelivered Mail\r\nMessage-ID: <dsn-1@mx.buyers.example>\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nNo such user.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        f"Final-Recipient: rfc822; {lead.email}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: <leadmail-campaign.{key}@brokerage.example>\r\n--b--\r\n").encode()
    with use(o.clock):
        msg = store_raw(o.engine, report, intake="smtp")
        outcome = pipeline_process(o, msg)
    assert outcome.status == "non_lead" and "suppressed" in (outcome.reason or "")
    assert [(s.kind, s.reason) for s in rows(o, Suppression)] == [("email", "bounce")]
    (run,) = rows(o, CampaignRun)
    assert (run.status, run.stop_reason) == ("stopped", "bounce")
    rep = reports.build("campaigns", Session(o.engine), o.settings, ADMIN, o.clock.now())
    first = next(r for r in rep.table if r["campaign"] == "zillow-buyers" and r["step"] == 1)
    assert (first["sent"], first["bounced"]) == (1, 1)


def pipeline_process(o: Office, msg: int) -> Any:
    from leadmail import pipeline

    outcome = pipeline.process(o.rt, o.engine, msg)
    assert outcome is not None
    return outcome


def test_the_report_counts_replies_per_step(sqlite_office: Any, tmp_path: Path) -> None:
    o = make(sqlite_office, tmp_path)
    lead = o.post("zillow-zap", first_name="Maria", last_name="Lopez")
    o.post("zillow-zap")
    o.clock.advance(minutes=2)
    assert run_pass(o) == 2
    with db.session_scope(o.engine) as s:
        for row in s.exec(select(Outbox).where(col(Outbox.idempotency_key).like("campaign-%"))):
            row.status = "sent"
            s.add(row)
    o.clock.advance(minutes=30)
    answer = (f"From: Maria Lopez <{lead.email}>\r\nTo: leads@brokerage.example\r\n"
              f"Subject: Re: hi\r\nMessage-ID: <a-1@buyers.example>\r\n"
              f"In-Reply-To: <leadmail-campaign.campaign-{lead.id}-zillow-buyers-1"
              "@brokerage.example>\r\n\r\nSounds good!\r\n").encode()
    with use(o.clock):
        msg = store_raw(o.engine, answer, intake="smtp")
        assert pipeline_process(o, msg).status == "non_lead"
        again = campaigns.from_intake(o.settings, o.engine, msg, answer)  # processed again
    assert again == "answer to campaign 'zillow-buyers': recorded before"
    assert len(rows(o, Activity, Activity.kind == "lead_replied")) == 1
    rep = reports.build("campaigns", Session(o.engine), o.settings, ADMIN, o.clock.now())
    first = next(r for r in rep.table if r["campaign"] == "zillow-buyers" and r["step"] == 1)
    assert (first["sent"], first["delivered"], first["replied"]) == (2, 2, 1)
    assert first["reply_rate"] == 0.5
    assert first["median_reply_seconds"] is not None and first["median_reply_seconds"] >= 0
    assert rep.summary["replied"] == 1


@pytest.mark.parametrize(("change", "key"), [
    ({"steps": [{"after": "soon", "template": "buyer-intro"}]},
     "followup.campaigns[0].steps[0].after"),
    ({"steps": [{"after": "1m", "channel": "fax", "template": "buyer-intro"}]},
     "followup.campaigns[0].steps[0].channel: Input should be"),
    ({"steps": [{"after": "1m", "channel": "sms", "template": "buyer-intro"}]},
     "followup.campaigns[0].steps[0].channel: 'sms' needs"),
    ({"start": "when:ever"}, "followup.campaigns[0].start"),
    ({"stop_on": ["reply", "mood"]}, "followup.campaigns[0].stop_on"),
])
def test_bad_campaign_config_names_the_key(tmp_path: Path, change: dict[str, Any],
                                           key: str) -> None:
    campaign = {"name": "c", "steps": [{"after": "1m", "template": "buyer-intro"}], **change}
    data = {"database": {"url": f"sqlite:///{tmp_path / 'x.db'}"},
            "http": {"secret": "s" * 20, "base_url": "https://leads.example"},
            "followup": {"campaigns": [campaign], "postal_address": "1 Main St"}}
    with pytest.raises(ConfigErrors) as exc:
        config.validate(data, env={})
    assert key in str(exc.value), str(exc.value)


def test_campaigns_need_a_postal_address_and_links(tmp_path: Path) -> None:
    campaign = {"name": "c", "steps": [{"after": "1m", "template": "buyer-intro"}]}
    base = {"database": {"url": f"sqlite:///{tmp_path / 'x.db'}"}}
    with pytest.raises(ConfigErrors, match="followup.postal_address"):
        config.validate({**base, "http": {"secret": "s" * 20, "base_url": "https://x.example"},
                         "followup": {"campaigns": [campaign]}}, env={})
    with pytest.raises(ConfigErrors, match="http.base_url"):
        config.validate({**base, "followup": {"campaigns": [campaign],
                                              "postal_address": "1 Main St"}}, env={})
    with pytest.raises(ConfigErrors, match="send_hours"):
        config.validate({**base, "followup": {"send_hours": "sat 25:00-26:00"}}, env={})


def test_check_config_renders_every_template(tmp_path: Path) -> None:
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "broken.txt.j2").write_text("Hi {{ lead.nope.deeper }}")
    data = {"database": {"url": f"sqlite:///{tmp_path / 'x.db'}"},
            "http": {"secret": "s" * 20, "base_url": "https://leads.example"},
            "followup": {"templates": str(tmp_path), "postal_address": "1 Main St",
                         "campaigns": [{"name": "c", "steps": [
                             {"after": "1m", "template": "buyer-intro"},
                             {"after": "1d", "template": "missing"},
                             {"after": "2d", "template": "broken"}]}]}}
    problems = campaigns.check_templates(config.validate(data, env={}))
    assert len(problems) == 2
    assert problems[0].startswith("followup.campaigns[0].steps[1].template: 'missing'")
    assert problems[1].startswith("followup.campaigns[0].steps[2].template: 'broken'")


CLI_CONFIG = """
[database]
url = "sqlite:///{db}"
[notify.email]
relay = "file:mail-out"
[http]
base_url = "https://leads.example"
secret = "cli-secret-0123456789"
[log]
level = "warning"
[followup]
postal_address = "1 Main St, Austin, TX"
send_hours = "00:00-24:00"
[[followup.campaigns]]
name = "zillow-buyers"
sources = ["Zillow"]
[[followup.campaigns.steps]]
after = "90s"
template = "{template}"
[[agents]]
name = "Ana Agent"
email = "ana@brokerage.example"
"""


def test_the_cli_with_json_and_check_config(tmp_path: Path) -> None:
    """The text forms of list, show, preview, pause, resume and the report are run by the
    docs test (docs/followup.md); here check-config's template check and the JSON forms."""
    import json

    from tests.conftest import SAMPLES, run_cli

    cfg = tmp_path / "leadmail.toml"
    cfg.write_text(CLI_CONFIG.format(db=tmp_path / "cli.db", template="nowhere"))
    bad = run_cli("check-config", config=cfg, check=False)
    assert bad.returncode == 2
    assert "template error: followup.campaigns[0].steps[0].template: 'nowhere'" in bad.stderr
    cfg.write_text(CLI_CONFIG.format(db=tmp_path / "cli.db", template="buyer-intro"))
    run_cli("ingest", str(SAMPLES / "zillow" / "contact_request_text.eml"), config=cfg)
    (listed,) = [json.loads(line) for line in run_cli(
        "campaigns", "list", "--json", config=cfg).stdout.splitlines()]
    assert listed["name"] == "zillow-buyers" and listed["runs"] == {"active": 1}
    assert listed["steps"] == [{"step": 1, "after_seconds": 90, "channel": "email",
                                "template": "buyer-intro"}]
    (preview,) = [json.loads(line) for line in run_cli(
        "campaigns", "preview", "1", "--step", "1", "--json", config=cfg).stdout.splitlines()]
    assert preview["to"] == "maria.lopez@example.com" and preview["from"] == "Ana Agent"
    assert "https://leads.example/u/" in preview["text"]
