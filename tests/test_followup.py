"""Follow-up (issue 7): Next Steps, reminders and agendas, signed "done" links, stages and
deals, agents' own emails as contact, the API intake, config, the CLI. SQLite and PostgreSQL.

Leads come in through the real pipeline (API intake); time is a ManualClock the tests move.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from leadmail import config, db, pipeline
from leadmail.clock import ManualClock, use
from leadmail.errors import ConfigErrors
from leadmail.followup import activity, links, reminders, stages, steps
from leadmail.intake import posted
from leadmail.models import Activity, Deal, Lead, Message, Outbox, StageChange, Step
from leadmail.routing import actions
from leadmail.store import store_raw
from tests.conftest import run_cli
from tests.world import key_of, world_config

START = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)  # a Monday


class Office:
    """Settings, engine and clock over a migrated database, and how leads arrive."""

    def __init__(self, settings: config.Settings, engine: Any, clock: ManualClock) -> None:
        self.settings, self.engine, self.clock = settings, engine, clock
        self.rt = pipeline.Runtime.load(settings)
        self.n = 0

    def post(self, key: str = "web", **fields: Any) -> Lead:
        """A lead posted by an integration, through the pipeline, now."""
        self.n += 1
        values = {"first_name": "Dana", "last_name": f"Doe{self.n}",
                  "email": f"dana{self.n}@buyers.example", "segment": "Buyer", **fields}
        api_key = next(k for k in self.settings.api_keys if k.name == key)
        raw = posted.synthesize(api_key, posted.LeadIn(**values), self.clock.now(), None)
        with use(self.clock):
            msg = store_raw(self.engine, raw, intake="api")
            outcome = pipeline.process(self.rt, self.engine, msg)
        assert outcome is not None and outcome.lead_id, outcome
        with db.session_scope(self.engine) as s:  # received on the office's clock
            s.execute(update(Message).where(col(Message.id) == msg)
                      .values(received_at=self.clock.now()))
            s.execute(update(Lead).where(col(Lead.id) == outcome.lead_id)
                      .values(created_at=self.clock.now()))
        return self.lead(outcome.lead_id)

    def lead(self, lead_id: int) -> Lead:
        with Session(self.engine) as s:
            found = s.get(Lead, lead_id)
            assert found is not None
            return found

    def steps(self, lead_id: int) -> list[Step]:
        with Session(self.engine) as s:
            return list(s.exec(select(Step).where(Step.lead_id == lead_id)
                               .order_by(col(Step.id))).all())

    def outbox(self, prefix: str) -> list[Outbox]:
        with Session(self.engine) as s:
            return list(s.exec(select(Outbox).where(
                col(Outbox.idempotency_key).startswith(prefix)).order_by(col(Outbox.id))).all())


@pytest.fixture
def office(db_url: str, tmp_path: Path) -> Iterator[Callable[..., Office]]:
    yield from _offices(db_url, tmp_path)


@pytest.fixture
def sqlite_office(tmp_path: Path) -> Iterator[Callable[..., Office]]:
    yield from _offices(f"sqlite:///{tmp_path / 'office.db'}", tmp_path)


def _offices(db_url: str, tmp_path: Path) -> Iterator[Callable[..., Office]]:
    db.upgrade(db_url)
    engines = []

    def make(**extra: Any) -> Office:
        data = world_config(db_url, tmp_path)
        for key, value in extra.items():
            data[key] = {**data[key], **value} if isinstance(value, dict) else value
        engine = db.make_engine(db_url)
        engines.append(engine)
        return Office(config.validate(data, env={}), engine, ManualClock(START))

    yield make
    for engine in engines:
        engine.dispose()


def aware(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


# ---------------------------------------------------------------------------------------------
# Next Steps


def test_first_step_is_set_on_assignment_and_done_sets_the_next(office: Any) -> None:
    o = office()
    lead = o.post()
    assert lead.agent and lead.status == "assigned"
    (first,) = o.steps(lead.id)
    assert (first.name, first.agent, first.plan) == ("Call within 5 minutes", lead.agent, "Lead/*")
    assert aware(first.due_at) == START + timedelta(minutes=5)
    assert aware(first.remind_at) == aware(first.due_at)  # remind = 0: when it is due

    o.clock.advance(minutes=3)
    with use(o.clock):
        done = steps.complete(o.engine, o.settings, first.id, lead.agent, via="cli")
        again = steps.complete(o.engine, o.settings, first.id, lead.agent, via="cli")
    assert done.ok and done.next is not None and again.status == "already_done"
    assert done.next.name == "Send listings"
    assert aware(done.next.due_at) == START + timedelta(minutes=3, days=1)
    with Session(o.engine) as s:  # a contact step done is contact with the lead
        assert activity.contact_times(s, [lead.id])[lead.id][0] == START + timedelta(minutes=3)

    with use(o.clock):
        last = steps.complete(o.engine, o.settings, done.next.id, lead.agent, via="api")
        third = last.next
        assert third is not None and third.name == "Book a showing"
        end = steps.complete(o.engine, o.settings, third.id, lead.agent, via="link")
    assert end.ok and end.next is None  # the checklist is through
    assert [s.status for s in o.steps(lead.id)] == ["done"] * 3


def test_claimed_leads_get_their_step_from_the_worker(office: Any) -> None:
    o = office()
    lead = o.post("realtor-zap")  # first to claim: offered, nobody has it yet
    assert lead.status == "offered" and o.steps(lead.id) == []
    o.clock.advance(minutes=2)
    with use(o.clock):
        assert actions.claim(o.engine, o.settings, lead.id, "ben@brokerage.example",
                             clock=o.clock).status == "claimed"
        assert reminders.run_pass(o.engine, o.settings) >= 0
        assert steps.catch_up(o.engine, o.settings) == 0  # once is enough
    (step,) = o.steps(lead.id)
    assert step.agent == "ben@brokerage.example"
    assert aware(step.due_at) == START + timedelta(minutes=7)  # 5 min after the claim


def test_a_new_stage_starts_its_checklist_and_a_new_agent_takes_the_step(office: Any) -> None:
    o = office()
    lead = o.post()
    with use(o.clock):
        assert actions.assign(o.engine, o.settings, lead.id, "cara@brokerage.example").ok
        steps.catch_up(o.engine, o.settings)
    assert [(s.agent, s.status) for s in o.steps(lead.id)] == [
        ("cara@brokerage.example", "open")]
    o.clock.advance(days=1)
    with use(o.clock):
        changed = stages.set_stage(o.engine, o.settings, lead.id, "Potential",
                                   "cara@brokerage.example")
    assert changed.status == "changed"
    assert [(s.name, s.status) for s in o.steps(lead.id)] == [
        ("Call within 5 minutes", "cancelled"), ("Send comps", "open")]


def test_reminders_and_the_daily_agenda_go_through_the_outbox_once(office: Any) -> None:
    o = office()
    lead = o.post()
    with use(o.clock):
        assert reminders.reminders(o.engine, o.settings, o.clock.now()) == 0  # not due yet
        o.clock.advance(minutes=5)
        assert reminders.reminders(o.engine, o.settings, o.clock.now()) == 1
        assert reminders.reminders(o.engine, o.settings, o.clock.now()) == 0
    (reminder,) = o.outbox("step-")
    assert reminder.recipient == lead.agent
    assert reminder.subject.startswith("Due ") and "Call within 5 minutes" in reminder.subject
    assert "http://127.0.0.1:8025/s/" in reminder.payload["text"]  # the signed "done" link

    o.clock.set(datetime(2026, 11, 3, 6, 59, tzinfo=UTC))
    with use(o.clock):
        assert reminders.agendas(o.engine, o.settings, o.clock.now()) == 0  # before 07:00
        o.clock.set(datetime(2026, 11, 3, 7, 0, tzinfo=UTC))
        assert reminders.agendas(o.engine, o.settings, o.clock.now()) == 1  # only the agent
        assert reminders.agendas(o.engine, o.settings, o.clock.now()) == 0  # with steps, once
    (agenda,) = o.outbox("agenda-")
    assert agenda.idempotency_key == f"agenda-{lead.agent}-2026-11-03"
    assert agenda.subject == "Your agenda for Tuesday 03 November: 1 step (1 overdue)"
    assert "OVERDUE" in agenda.payload["text"] and "Dana Doe" in agenda.payload["text"]


def test_step_template_drafts_the_email_to_the_lead(office: Any) -> None:
    o = office()
    lead = o.post(price=450000, property_address="12 Oak St, Austin, TX")
    (first,) = o.steps(lead.id)
    with use(o.clock):
        nxt = steps.complete(o.engine, o.settings, first.id, lead.agent, via="cli").next
        assert nxt is not None and nxt.template == "listings"
        o.clock.advance(days=2)
        reminders.reminders(o.engine, o.settings, o.clock.now())
    reminder = o.outbox(f"step-{nxt.id}-")[0]
    assert "Hi Dana," in reminder.payload["text"]
    assert "around $450,000" in reminder.payload["text"]


def test_the_signed_done_link_shows_then_completes(office: Any, tmp_path: Path) -> None:
    from tests.test_followup_world import Served

    o = office()
    lead = o.post()
    (step,) = o.steps(lead.id)
    secret = o.settings.http.secret
    assert secret
    token = links.sign(secret, "step", {"s": step.id, "a": lead.agent},
                       datetime.now(UTC) + timedelta(days=1))
    served = Served(type("W", (), {"engine": o.engine, "settings": o.settings})())  # type: ignore[arg-type]
    try:
        base = served.base
        shown = httpx.get(f"{base}/s/{token}")
        assert shown.status_code == 200 and "Mark “Call within 5 minutes” done?" in shown.text
        assert o.steps(lead.id)[0].status == "open"  # opening the link changes nothing
        done = httpx.post(f"{base}/s/{token}")
        assert done.status_code == 200 and "Done: Call within 5 minutes" in done.text
        assert "Next: “Send listings”" in done.text
        assert httpx.post(f"{base}/s/{token}").status_code == 409
        forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        assert httpx.post(f"{base}/s/{forged}").status_code == 403
        old = links.sign(secret, "step", {"s": step.id, "a": lead.agent},
                         datetime.now(UTC) - timedelta(seconds=1))
        assert "expired" in httpx.get(f"{base}/s/{old}").text
        claim_like = links.sign(secret, "view", {"s": step.id, "a": lead.agent},
                                datetime.now(UTC) + timedelta(days=1))
        assert httpx.post(f"{base}/s/{claim_like}").status_code == 403  # other purpose
    finally:
        served.close()
    statuses = [s.status for s in o.steps(lead.id)]
    assert statuses == ["done", "open"]


# ---------------------------------------------------------------------------------------------
# Stages, deals, activity


def test_stage_changes_are_recorded_and_potential_opens_a_deal(office: Any) -> None:
    o = office()
    lead = o.post(price=500000)
    o.clock.advance(days=2)
    with use(o.clock):
        stages.set_stage(o.engine, o.settings, lead.id, "Potential", "ana@brokerage.example")
        o.clock.advance(days=3)
        with Session(o.engine) as s:
            deal = s.exec(select(Deal).where(Deal.lead_id == lead.id)).one()
        team = "South" if lead.agent == "cara@brokerage.example" else "North"
        assert (deal.stage, deal.value, deal.team) == ("Qualified", 500000, team)
        assert deal.expected_close == (START + timedelta(days=32)).date()
        bad = stages.move_deal(o.engine, o.settings, deal.id, "Nowhere", "ana@brokerage.example")
        assert bad.status == "invalid" and "Qualified, Showing" in (bad.detail or "")
        stages.move_deal(o.engine, o.settings, deal.id, "Offer", "ana@brokerage.example")
        o.clock.advance(days=1)
        lost = stages.set_stage(o.engine, o.settings, lead.id, "Lost", "ana@brokerage.example")
        with Session(o.engine) as s:
            periods = stages.time_in_stage(s, o.lead(lead.id))
            changes = s.exec(select(StageChange).where(StageChange.lead_id == lead.id)
                             .order_by(col(StageChange.id))).all()
            deal = s.get(Deal, deal.id)
    assert lost.ok and deal is not None and (deal.outcome, deal.stage) == ("lost", "Lost")
    assert [(p["stage"], p["seconds"] / 86400) for p in periods] == [
        ("Lead", 2.0), ("Potential", 4.0), ("Lost", 0.0)]
    assert [(c.kind, c.from_stage, c.to_stage, c.by) for c in changes] == [
        ("stage", "Lead", "Potential", "ana@brokerage.example"),
        ("deal", None, "Qualified", "ana@brokerage.example"),
        ("deal", "Qualified", "Offer", "ana@brokerage.example"),
        ("stage", "Potential", "Lost", "ana@brokerage.example"),
        ("deal", "Offer", "Lost", "ana@brokerage.example"),
    ]


def _agent_mail(sender: str, to: str, sent: datetime, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = "Re: 12 Oak St"
    msg["Date"] = format_datetime(sent)
    for name, value in headers.items():
        msg[name] = value
    msg.set_content("Hi Dana, are you free for a showing on Saturday?")
    return msg.as_bytes()


def test_an_agents_own_email_to_the_lead_is_contact_not_a_lead(office: Any) -> None:
    """BCC to the leads address, submitted with SMTP AUTH as the agent: the time is when
    leadmail received it, not the Date header (tests/test_security_activity.py: the rest)."""
    o = office()
    lead = o.post()
    sent = datetime.now(UTC) - timedelta(hours=3)
    raw = _agent_mail(f"Agent <{lead.agent}>", f"Dana <{lead.email}>", sent,
                      Bcc="leads@brokerage.example")
    msg = store_raw(o.engine, raw, intake="smtp", auth_user=lead.agent)
    outcome = pipeline.process(o.rt, o.engine, msg)
    assert outcome is not None and outcome.status == "non_lead" and outcome.source == "activity"
    assert f"wrote to lead #{lead.id}" in (outcome.reason or "")
    with Session(o.engine) as s:
        (row,) = s.exec(select(Activity).where(Activity.lead_id == lead.id,
                                               Activity.kind == "reply")).all()
        assert (row.by, row.contact, row.message_pk) == (lead.agent, True, msg)
        received = s.get(Message, msg).received_at  # type: ignore[union-attr]
        assert aware(row.at) == aware(received) and aware(row.at) > sent
        assert s.exec(select(Lead).where(col(Lead.id) > lead.id)).all() == []

    # Someone else writing to the lead is not the agent's contact (and read as mail as usual).
    other = store_raw(o.engine, _agent_mail("stranger@else.example", lead.email, sent),
                      intake="smtp")
    assert pipeline.process(o.rt, o.engine, other).source != "activity"  # type: ignore[union-attr]
    with Session(o.engine) as s:
        assert len(s.exec(select(Activity).where(Activity.kind == "reply")).all()) == 1


# ---------------------------------------------------------------------------------------------
# The Lead API: same pipeline as email


def test_posting_a_lead_takes_the_email_pipeline(office: Any) -> None:
    from tests.test_followup_world import Served

    o = office()
    served = Served(type("W", (), {"engine": o.engine, "settings": o.settings})())  # type: ignore[arg-type]
    web = httpx.Client(base_url=served.base, timeout=30)
    try:
        body = {"full_name": "Rosa Díaz", "email": "ROSA@Example.com", "phone": "512 555 0199",
                "message": "Is it still available?", "segment": "Buyer", "tags": ["web"]}
        r = web.post("/api/v1/leads", json=body, headers={"X-API-Key": key_of("web"),
                                                          "Idempotency-Key": "form-1"})
        assert r.status_code == 201, r.text
        lead = o.lead(r.json()["lead_id"])
        assert (lead.first_name, lead.last_name, lead.email, lead.phone) == (
            "Rosa", "Díaz", "rosa@example.com", "+15125550199")  # normalized like email
        assert (lead.source, lead.origin, lead.status) == ("Website", "company", "assigned")
        assert o.steps(lead.id)  # routed, alerted, first step set
        with Session(o.engine) as s:
            msg = s.get(Message, lead.message_pk)
            assert msg is not None and msg.intake == "api"
            assert o.outbox("assignment-")  # the alert, as for email
        again = web.post("/api/v1/leads", json=body, headers={"X-API-Key": key_of("web"),
                                                              "Idempotency-Key": "form-1"})
        assert again.status_code == 200 and again.json()["status"] == "duplicate"
        assert again.json()["lead_id"] == lead.id

        own = web.post("/api/v1/leads", json={"email": "kim@x.example"},
                       headers={"Authorization": f"Bearer {key_of('cara-site')}"})
        mine = o.lead(own.json()["lead_id"])
        assert (mine.origin, mine.agent, mine.source) == (
            "agent", "cara@brokerage.example", "Cara's referrals")

        assert web.get("/api/v1/leads", headers={"X-API-Key": key_of("web")}).status_code == 403
        assert web.get("/api/v1/leads", headers={"X-API-Key": "nope"}).status_code == 401
        assert web.post("/api/v1/leads", json={"email": "a@b.example"}).status_code == 401
        bad = web.post("/api/v1/leads", json={"email": "a@b.example", "segment": "Aliens"},
                       headers={"X-API-Key": key_of("web")})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "segment"]
        assert web.post("/api/v1/leads", json={"first_name": "No Contact"},
                        headers={"X-API-Key": key_of("web")}).status_code == 422

        admin = {"X-API-Key": key_of("admin")}
        note = web.post(f"/api/v1/leads/{lead.id}/notes", json={"kind": "call", "text": "left vm"},
                        headers=admin)
        assert note.status_code == 201 and note.json()["contact"] is True
        staged = web.post(f"/api/v1/leads/{lead.id}/stage", json={"stage": "Potential",
                                                                  "value": 410000}, headers=admin)
        assert staged.status_code == 200 and staged.json()["deals"][0]["value"] == 410000
        assert staged.json()["stages"][-1]["stage"] == "Potential"
        step = next(s for s in staged.json()["steps"] if s["status"] == "open")
        done = web.post(f"/api/v1/steps/{step['id']}/complete", json={}, headers=admin)
        assert done.status_code == 200 and [s["status"] for s in done.json()] == ["done", "open"]
        assert web.post(f"/api/v1/steps/{step['id']}/complete", headers=admin).status_code == 409
        saved = web.post("/api/v1/audiences", headers=admin,
                         json={"name": "web buyers", "filters": {"tag": ["web"]}})
        assert saved.status_code == 201 and saved.json()["matches"] == 1
        listed = web.get("/api/v1/leads", params={"audience": "web buyers"}, headers=admin)
        assert [i["id"] for i in listed.json()["items"]] == [lead.id]
        assert web.get("/openapi.json").json()["paths"]["/api/v1/leads"]["post"]
    finally:
        web.close()
        served.close()


# ---------------------------------------------------------------------------------------------
# Config and CLI


@pytest.mark.parametrize("change, key", [
    ({"followup": {"plans": [{"segment": "Aliens", "steps": [{"name": "x"}]}]}},
     "followup.plans[0].segment"),
    ({"followup": {"plans": [{"stage": "Lead", "steps": [{"name": "x", "due": "soon"}]}]}},
     "followup.plans[0].steps[0].due"),
    ({"teams": [{"name": "A", "stages": ["New", "Won"]}]}, "teams[0].stages"),
    ({"teams": [{"name": "A", "agents": ["who@x.example"]}]}, "teams[0].agents"),
    ({"api_keys": [{"name": "m", "key": "k" * 24, "role": "manager", "user": "ana@b.example"}]},
     "api_keys[0].user"),
    ({"api_keys": [{"name": "m", "role": "admin"}]}, "api_keys[0].key_sha256"),
])
def test_config_errors_name_the_key(change: dict[str, Any], key: str) -> None:
    data = {"agents": [{"name": "Ana", "email": "ana@b.example"}], **change}
    with pytest.raises(ConfigErrors) as err:
        config.validate(data, env={})
    assert key in [e.key for e in err.value.errors], err.value


def test_cli_reports_steps_stage_note_and_keys(sqlite_office: Any, tmp_path: Path) -> None:
    o = sqlite_office()
    lead = o.post()
    cfg = tmp_path / "leadmail.toml"
    cfg.write_text(_toml(o.settings))
    out = run_cli("steps", "list", "--json", "--due-by", "2030-01-01", config=cfg).stdout
    assert f'"lead": {lead.id}' in out and "Call within 5 minutes" in out
    step_id = o.steps(lead.id)[0].id
    assert '"status": "done"' in run_cli("steps", "done", str(step_id), "--by", lead.agent,
                                         config=cfg).stdout
    assert '"contact": true' in run_cli("note", str(lead.id), "called", "back", "--kind", "call",
                                        config=cfg).stdout
    assert '"deal": {"id"' in run_cli("stage", str(lead.id), "Potential", config=cfg).stdout
    csv = run_cli("report", "speed", "--csv", config=cfg).stdout.splitlines()
    assert csv[0].startswith("by,group,leads,alert_n") and csv[1].startswith("all,all,1,")
    text = run_cli("report", "engagement", "--as", "max@brokerage.example", config=cfg).stdout
    assert text.startswith("engagement at ")
    assert run_cli("report", "forecast", "--as", "nobody@x.example", config=cfg,
                   check=False).returncode == 2
    new = run_cli("apikey", "new", "zapier", config=cfg).stdout
    assert 'name = "zapier"' in new and 'key_sha256 = "' in new
    link = run_cli("apikey", "link", "max", "--page", "speed", config=cfg).stdout
    assert link.startswith("http://127.0.0.1:8025/app/speed?t=")


def _toml(settings: config.Settings) -> str:
    """The office's settings as a TOML file for the CLI (enough of them for these commands)."""
    import json

    def value(v: Any) -> str:
        return json.dumps(v)

    lines = [f"[database]\nurl = {value(settings.database.url)}",
             f"[rules]\ndir = {value(settings.rules.dir)}",
             f"[http]\nsecret = {value(settings.http.secret)}\n"
             f"base_url = {value(settings.http.base_url)}",
             "[followup]\ndeal_on_potential = true",
             '[[followup.plans]]\nstage = "Lead"\nsegment = "*"',
             '[[followup.plans.steps]]\nname = "Call within 5 minutes"\ndue = "5m"\n'
             "contact = true"]
    for agent in settings.agents:
        lines.append(f"[[agents]]\nname = {value(agent.name)}\nemail = {value(agent.email)}")
    for team in settings.teams:
        lines.append(f"[[teams]]\nname = {value(team.name)}\nagents = {value(team.agents)}\n"
                     f"managers = {value(team.managers)}")
    lines.append(f'[[api_keys]]\nname = "max"\nkey = {value(key_of("max"))}\nrole = "manager"\n'
                 'user = "max@brokerage.example"')
    return "\n".join(lines) + "\n"
