"""The web app in a real browser (Debian's Chromium, driven by Playwright) against a real
`leadmail run` whose alert relay is the real SMTP sink: people sign in through the link the
daemon emails them, drag cards on the board, work a lead's page and the agenda; a second
agent cannot open the first one's lead; a form without its CSRF token is refused; every page
passes an axe-core scan with no serious violation and loads in under a second.

One daemon for the module, one browser for the test session.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from axe_playwright_python.sync_playwright import Axe
from sqlmodel import Session, select

from leadmail.db import make_engine
from leadmail.models import Activity, Deal, Lead, LoginLink, Message, Step, WebSession
from tests.conftest import (
    DaemonProc,
    Sink,
    agents_toml,
    free_port,
    run_cli,
    send,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.e2e
SECRET = "e2e-web-app-secret-0123456789"
KEY = "e2e-web-app-form-key-0123456789"
JUMP_KEY = "e2e-web-app-jump-key-0123456789"
ANA, BEN, CARA, MAX = ("ana@brokerage.example", "ben@brokerage.example",
                       "cara@brokerage.example", "max@brokerage.example")
BOSS = "boss@brokerage.example"  # an administrator: the user of a role = "admin" key
ROOT = Path(__file__).resolve().parents[2]
PHONE = {"width": 360, "height": 740}


@dataclass
class App:
    """The running daemon, its sink and database."""

    base: str
    smtp: int
    config: Path
    sink: Sink
    db_url: str
    leads: dict[str, list[int]]  # agent -> their lead ids, oldest first

    def lead(self, lead_id: int) -> Lead:
        engine = make_engine(self.db_url)
        try:
            with Session(engine) as session:
                row = session.get(Lead, lead_id)
                assert row is not None
                return row
        finally:
            engine.dispose()

    def rows(self, model: Any) -> list[Any]:
        engine = make_engine(self.db_url)
        try:
            with Session(engine) as session:
                return list(session.exec(select(model)).all())
        finally:
            engine.dispose()


def _config(tmp: Path, smtp: int, http: int, relay: int) -> Path:
    extra = f"""
[http]
listen = "127.0.0.1:{http}"
base_url = "http://127.0.0.1:{http}"
secret = "{SECRET}"
[routing]
manager = "{MAX}"
[followup]
interval = 0.5
agenda_hour = 23
deal_on_potential = true
untouched_after = 1
[[followup.plans]]
stage = "Lead"
[[followup.plans.steps]]
name = "Call within 5 minutes"
due = "0m"
contact = true
[[followup.plans.steps]]
name = "Send three listings"
due = "0m"
[[followup.plans]]
stage = "Potential"
[[followup.plans.steps]]
name = "Book a showing"
due = "2d"
[[teams]]
name = "Deals"
agents = ["{CARA}"]
stages = ["Qualified", "Showing", "Won", "Lost"]
[[teams]]
name = "All"
agents = ["{ANA}", "{BEN}", "{CARA}"]
managers = ["{MAX}"]
[[api_keys]]
name = "web"
key = "{KEY}"
source = "Website"
[[api_keys]]
name = "jump"
key = "{JUMP_KEY}"
source = "Jump"
[[routes]]
name = "jump balls"
match = {{source = "Jump"}}
strategy = "first_to_claim"
claim_window = 30
hide_contact = true
[[routes]]
name = "everything else"
[[api_keys]]
name = "boss"
key_sha256 = "{"0" * 64}"
role = "admin"
user = "{BOSS}"
"""
    people = agents_toml() + '\n[[agents]]\nname = "Max Manager"\nemail = "max@brokerage.example"' \
        '\nponds = ["managers"]\n'
    return write_config(tmp, db_url=f"sqlite:///{tmp / 'l.db'}", smtp_port=smtp,
                        relay=f"127.0.0.1:{relay}", extra=extra, agents=people)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    tmp = tmp_path_factory.mktemp("webapp")
    sink = Sink(free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    smtp, http = free_port(), free_port()
    config = _config(tmp, smtp, http, sink.port)
    daemon = DaemonProc(config, smtp, tmp / "daemon.log").start()
    base = f"http://127.0.0.1:{http}"
    try:
        # start-up (models, migrations, golden samples) on a loaded 2-core box can pass 15 s
        wait_for(lambda: _up(base), timeout=60)
        ids = []
        for i, (first, last) in enumerate([("Gus", "Grant"), ("Hana", "Hill"), ("Ivo", "Ives"),
                                           ("Jo", "James"), ("Kim", "Kerr"), ("Lea", "Lund")]):
            r = httpx.post(f"{base}/api/v1/leads", headers={"X-API-Key": KEY}, timeout=30,
                           json={"first_name": first, "last_name": last,
                                 "email": f"{first.lower()}@buyers.example",
                                 "phone": f"+1512555{i:04d}", "message": f"Call me, {first}"})
            assert r.status_code == 201, r.text
            ids.append(r.json()["lead_id"])
        built = App(base, smtp, config, sink, f"sqlite:///{tmp / 'l.db'}", {})
        wait_for(lambda: all(built.lead(i).agent for i in ids), timeout=15)
        for i in ids:
            built.leads.setdefault(built.lead(i).agent or "", []).append(i)
        assert len(built.leads.get(ANA, [])) >= 2, built.leads
        yield built
    finally:
        if daemon.proc and daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()
        controller.stop()


def _up(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _link(app: App, email: str, before: int) -> str:
    """The sign-in link of the newest sign-in mail to `email` after the first `before`."""
    mail = wait_for(lambda: [m for m in app.sink.to(email)
                             if "Sign in" in str(m["Subject"])][before:], timeout=15)[-1]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    return next(w for w in text.split() if w.startswith(f"{app.base}/app/login/"))


def _sign_ins(app: App, email: str) -> int:
    return len([m for m in app.sink.to(email) if "Sign in" in str(m["Subject"])])


def sign_in(app: App, browser: Any, email: str, **context: Any) -> Any:
    """A browser context (own cookies) signed in as `email` through the emailed link."""
    ctx = browser.new_context(**context)
    page = ctx.new_page()
    before = _sign_ins(app, email)
    page.goto(f"{app.base}/app/login")
    page.get_by_label("Your work email").fill(email)
    page.get_by_role("button", name="Email me a link").click()
    page.get_by_text("a sign-in link is on its way").wait_for()
    page.goto(_link(app, email, before))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{app.base}/app/pipeline")
    return page


@pytest.fixture(scope="module")
def ana(app: App, browser: Any) -> Iterator[Any]:
    page = sign_in(app, browser, ANA, viewport=PHONE, has_touch=False)
    yield page
    page.context.close()


@pytest.fixture(scope="module")
def manager(app: App, browser: Any) -> Iterator[Any]:
    page = sign_in(app, browser, MAX)
    yield page
    page.context.close()


def test_sign_in_by_emailed_link(app: App, browser: Any) -> None:
    ctx = browser.new_context()
    page = ctx.new_page()
    # an unknown address gets the very same page, and no mail
    page.goto(f"{app.base}/app/login")
    page.get_by_label("Your work email").fill("nobody@elsewhere.example")
    page.get_by_role("button", name="Email me a link").click()
    unknown = page.locator("main").inner_text()
    before = _sign_ins(app, BEN)
    page.goto(f"{app.base}/app/login")
    page.get_by_label("Your work email").fill(BEN.upper())
    page.get_by_role("button", name="Email me a link").click()
    assert page.locator("main").inner_text() == unknown
    link = _link(app, BEN, before)
    assert not app.sink.to("nobody@elsewhere.example")
    # opening the link (twice, as a mail scanner might) signs nobody in
    for _ in range(2):
        page.goto(link)
        assert page.get_by_role("button", name="Sign in").is_visible()
    assert not any(c["name"] == "leadmail_session" for c in ctx.cookies())
    assert httpx.get(f"{app.base}/app/pipeline", follow_redirects=False).status_code == 303
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{app.base}/app/pipeline")
    cookie = next(c for c in ctx.cookies() if c["name"] == "leadmail_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]
    assert 29 * 86400 < cookie["expires"] - time.time() <= 30 * 86400
    assert page.get_by_text(f"{BEN} · agent").is_visible()
    # the link was used: a second POST of it opens nothing
    page2 = browser.new_context().new_page()
    page2.goto(link)
    assert "does not work any more" in page2.locator("h1").inner_text()
    page2.context.close()
    # only digests are stored
    assert all(len(r.digest) == 64 for r in app.rows(LoginLink) + app.rows(WebSession))
    token = link.rsplit("/", 1)[1]
    assert token not in json.dumps([r.digest for r in app.rows(LoginLink)])
    # `leadmail sessions list|revoke`: a revoked session's next page asks to sign in again
    listed = run_cli("sessions", "list", "--email", BEN, "--json", config=app.config).stdout
    assert [json.loads(x)["email"] for x in listed.splitlines()] == [BEN]
    assert json.loads(run_cli("sessions", "revoke", "--email", BEN,
                              config=app.config).stdout) == {"revoked": 1}
    page.goto(f"{app.base}/app/pipeline")
    assert page.url == f"{app.base}/app/login"
    ctx.close()


def _card(page: Any, lead_id: int) -> Any:
    return page.locator(f'li.card[data-lead="{lead_id}"]')


def test_drag_a_card_from_lead_to_potential(app: App, ana: Any) -> None:
    lead_id = app.leads[ANA][0]
    time.sleep(1.1)  # so the time in Lead is past "0s" and the change shows
    ana.goto(f"{app.base}/app/pipeline")
    card = _card(ana, lead_id)
    assert card.get_attribute("data-stage") == "Lead"
    before = card.locator(".meta", has_text="In Lead for").inner_text()
    assert re.fullmatch(r"In Lead for \d+[smhd]", before) and before != "In Lead for 0s"
    target = ana.locator('ul.cards[data-stage="Potential"]')
    box, goal = card.bounding_box(), target.bounding_box()
    ana.mouse.move(box["x"] + 20, box["y"] + 10)
    ana.mouse.down()
    for step in range(1, 11):  # SortableJS follows the pointer
        ana.mouse.move(box["x"] + 20 + (goal["x"] + 30 - box["x"] - 20) * step / 10,
                       box["y"] + 10 + (goal["y"] + 20 - box["y"] - 10) * step / 10)
    ana.mouse.up()
    ana.get_by_text("moved to Potential").wait_for()
    assert target.locator(f'li.card[data-lead="{lead_id}"]').count() == 1
    assert card.get_attribute("data-stage") == "Potential"
    after = card.locator(".meta", has_text="for").inner_text()
    assert re.fullmatch(r"In Potential for [0-5]s", after), after
    ana.reload()  # the server's view, not just the script's
    assert ana.locator(f'ul.cards[data-stage="Potential"] li.card[data-lead="{lead_id}"]'
                       ).count() == 1
    shown = json.loads(run_cli("leads", "show", str(lead_id), config=app.config).stdout)
    assert shown["stage"] == "Potential"
    periods = shown["time_in_stage"]
    assert [p["stage"] for p in periods] == ["Lead", "Potential"]
    assert periods[0]["seconds"] >= 1 and periods[-1]["until"] is None
    assert periods[-1]["by"] == ANA


def test_the_card_form_moves_without_javascript(app: App, browser: Any) -> None:
    lead_id = app.leads[BEN][0]
    page = sign_in(app, browser, BEN, java_script_enabled=False)
    _card(page, lead_id).locator("select").select_option("Active")
    _card(page, lead_id).get_by_role("button", name="Move").click()
    assert page.locator(f'ul.cards[data-stage="Active"] li.card[data-lead="{lead_id}"]'
                        ).count() == 1
    assert app.lead(lead_id).stage == "Active"
    page.context.close()


def test_complete_a_step_and_see_the_next(app: App, ana: Any) -> None:
    lead_id = app.leads[ANA][1]
    ana.goto(f"{app.base}/app/leads/{lead_id}")
    assert "Call within 5 minutes" in ana.locator("#next-step").inner_text()
    ana.get_by_role("button", name="Done: Call within 5 minutes").click()
    ana.get_by_text("Next: Send three listings").wait_for()
    assert "Send three listings" in ana.locator("#next-step").inner_text()
    assert "step" in ana.locator("ol.timeline").inner_text()


def test_add_a_note_and_log_a_call(app: App, ana: Any) -> None:
    lead_id = app.leads[ANA][1]
    ana.goto(f"{app.base}/app/leads/{lead_id}")
    ana.get_by_label("Note").fill("Wants a garden <b>and</b> a garage")
    ana.get_by_role("button", name="Add note").click()
    ana.get_by_role("status").filter(has_text="Note added").wait_for()
    assert "Wants a garden <b>and</b> a garage" in ana.locator("ol.timeline").inner_text()
    ana.get_by_role("button", name="Log a call").click()
    ana.get_by_role("status").filter(has_text="Call logged").wait_for()
    kinds = [a.kind for a in app.rows(Activity) if a.lead_id == lead_id]
    assert kinds.count("note") == 1 and kinds.count("call") == 1
    # a kind of activity the page has never heard of (a campaign's step, say) shows as it is
    engine = make_engine(app.db_url)
    with Session(engine) as session:
        session.add(Activity(lead_id=lead_id, kind="campaign_step", by="campaigns",
                             text="Spring listings, email 2", data={"campaign": "Spring"}))
        session.commit()
    engine.dispose()
    ana.reload()
    latest = ana.locator("ol.timeline li").first.inner_text()
    assert "campaign step" in latest and "Spring listings, email 2" in latest
    assert "campaign: Spring" in latest


def test_agenda_completes_in_one_tap(app: App, ana: Any) -> None:
    ana.goto(f"{app.base}/app/agenda")
    item = ana.locator("li.item", has_text="Send three listings").first
    assert "Hana Hill" in item.inner_text() or item.count() == 1
    item.get_by_role("button", name="Done").click()
    done = ana.locator("li.item.done", has_text="Done: Send three listings")
    done.wait_for()  # swapped in place by htmx: no page load
    assert ana.url == f"{app.base}/app/agenda"
    assert [s.status for s in app.rows(Step) if s.name == "Send three listings"
            and s.lead_id == app.leads[ANA][1]] == ["done"]


def test_manager_reassigns_a_lead(app: App, manager: Any) -> None:
    lead_id = app.leads[ANA][0]
    manager.goto(f"{app.base}/app/leads/{lead_id}")
    manager.get_by_label("Agent").select_option(BEN)
    manager.get_by_role("button", name="Reassign").click()
    manager.get_by_role("status").filter(has_text="assigned to").wait_for()
    assert app.lead(lead_id).agent == BEN
    assert f"{BEN} (" in manager.locator("main p.muted").first.inner_text()
    # the team board: cara's leads nobody has contacted are highlighted once older than N
    manager.goto(f"{app.base}/app/team?minutes=0")
    cold = manager.locator("li.item.cold").all_inner_texts()
    assert len(cold) >= len(app.leads[CARA]), cold
    manager.goto(f"{app.base}/app/team?minutes=600")
    assert manager.locator("li.item.cold").count() == 0
    assert "untouched for more than 600 minutes" not in manager.locator("main").inner_text()
    app.leads[BEN].append(app.leads[ANA].pop(0))


def test_a_second_agent_cannot_open_the_first_agents_lead(app: App, browser: Any) -> None:
    page = sign_in(app, browser, CARA)
    theirs = app.leads[ANA][0]
    response = page.goto(f"{app.base}/app/leads/{theirs}")
    assert response is not None and response.status == 404
    assert "Wants a garden" not in page.content()
    page.goto(f"{app.base}/app/pipeline")
    assert _card(page, theirs).count() == 0
    # nor act on it: the same 404
    csrf = page.locator("body").get_attribute("data-csrf")
    r = page.request.post(f"{app.base}/app/leads/{theirs}/note",
                          form={"csrf": csrf, "text": "mine now"}, max_redirects=0)
    assert r.status == 404
    page.context.close()


def test_a_form_without_its_csrf_token_is_refused(app: App, ana: Any) -> None:
    lead_id = app.leads[ANA][0]
    ana.goto(f"{app.base}/app/leads/{lead_id}")
    notes = len(app.rows(Activity))
    # the browser's own form, with the token taken out
    ana.evaluate("document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())")
    ana.get_by_label("Note").fill("forged")
    with ana.expect_response(f"{app.base}/app/leads/{lead_id}/note") as answer:
        ana.get_by_role("button", name="Add note").click()
    assert answer.value.status == 403
    # a request with the session cookie but a wrong or missing token
    for form in ({"text": "forged"}, {"text": "forged", "csrf": "x" * 43}):
        r = ana.request.post(f"{app.base}/app/leads/{lead_id}/note", form=form,
                             max_redirects=0)
        assert r.status == 403
    r = ana.request.post(f"{app.base}/app/leads/{lead_id}/stage", form={"stage": "Lost"},
                         max_redirects=0)
    assert r.status == 403 and app.lead(lead_id).stage != "Lost"
    assert len(app.rows(Activity)) == notes


def test_a_team_pipeline_board_moves_deals_and_won_closes_them(app: App,
                                                                browser: Any) -> None:
    lead_id = app.leads[CARA][0]
    page = sign_in(app, browser, CARA)  # cara's team "Deals" has its own pipeline
    names = page.locator("section.col h2").all_inner_texts()
    assert [n.split()[0] for n in names] == ["Qualified", "Showing", "Won", "Lost"]
    assert _card(page, lead_id).count() == 0  # no deal yet
    page.goto(f"{app.base}/app/leads/{lead_id}")
    page.get_by_label("Stage", exact=True).select_option("Potential")
    page.get_by_role("button", name="Change stage").click()
    page.get_by_role("status").filter(has_text="Moved to Potential").wait_for()
    page.goto(f"{app.base}/app/pipeline")
    card = page.locator(f'ul.cards[data-stage="Qualified"] li.card[data-lead="{lead_id}"]')
    assert card.count() == 1
    card.locator("select").select_option("Won")
    card.get_by_role("button", name="Move").click()
    page.get_by_role("status").filter(has_text="Moved to Won").wait_for()
    assert page.locator(f'ul.cards[data-stage="Won"] li.card[data-lead="{lead_id}"]'
                        ).count() == 1
    deal = next(d for d in app.rows(Deal) if d.lead_id == lead_id)
    assert (deal.team, deal.stage, deal.outcome) == ("Deals", "Won", "won")
    assert deal.closed_at is not None  # closed, exactly as `leadmail deals move` closes it
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{app.base}/app/login")
    page.goto(f"{app.base}/app/pipeline")
    assert page.url == f"{app.base}/app/login"
    page.context.close()


def test_claim_a_jump_ball_from_its_page(app: App, browser: Any) -> None:
    r = httpx.post(f"{app.base}/api/v1/leads", headers={"X-API-Key": JUMP_KEY}, timeout=30,
                   json={"first_name": "Quinn", "last_name": "Quill", "phone": "+15125550142",
                         "message": "Looking in Zilker"})
    assert r.status_code == 201, r.text
    lead_id = r.json()["lead_id"]
    wait_for(lambda: app.lead(lead_id).status == "offered", timeout=15)
    page = sign_in(app, browser, BEN)
    page.goto(f"{app.base}/app/leads/{lead_id}")
    assert page.locator("h1").inner_text() == "(shown once you claim it)"
    assert "Quinn" not in page.content() and "+15125550142" not in page.content()
    page.get_by_role("button", name="Claim").click()
    page.get_by_role("status").filter(has_text="You have claimed this lead").wait_for()
    assert page.locator("h1").inner_text() == "Quinn Quill"
    assert page.locator('a[href="tel:+15125550142"]').count() == 1
    assert app.lead(lead_id).agent == BEN
    page.context.close()
    other = sign_in(app, browser, ANA)  # the ball is gone: not hers to see
    response = other.goto(f"{app.base}/app/leads/{lead_id}")
    assert response is not None and response.status == 404
    other.context.close()


@pytest.fixture(scope="module")
def admin(app: App, browser: Any) -> Iterator[Any]:
    page = sign_in(app, browser, BOSS)
    yield page
    page.context.close()


def test_review_queue_fix_and_approve(app: App, admin: Any) -> None:
    # a person wrote through a form that kept neither their email nor their phone
    msg = EmailMessage()
    msg["From"], msg["To"] = "Mailer <no-reply@forms.example>", "leads@brokerage.example"
    msg["Subject"], msg["Message-ID"] = "New lead", "<review-1@forms.example>"
    msg.set_content("Hello, I saw your sign on Elm Street. Is it still for sale?")
    assert send(app.smtp, msg.as_bytes())[0] == 250
    engine = make_engine(app.db_url)
    try:
        def waiting() -> list[int]:
            with Session(engine) as session:
                return [x.id for x in session.exec(select(Lead).where(
                    Lead.status == "review")).all() if x.id]
        lead_id = wait_for(waiting, timeout=20)[0]
    finally:
        engine.dispose()
    admin.goto(f"{app.base}/app/review")
    box = admin.locator("section.box", has=admin.locator(f"#r-{lead_id}"))
    assert "no usable contact" in box.inner_text()
    box.get_by_label("phone").fill("(512) 555-0199")
    box.get_by_role("button", name="Save fields").click()
    admin.get_by_role("status").filter(has_text=f"#{lead_id} fixed").wait_for()
    assert app.lead(lead_id).phone == "+15125550199"
    box = admin.locator("section.box", has=admin.locator(f"#r-{lead_id}"))
    box.get_by_role("button", name="Approve and route").click()
    admin.get_by_role("status").filter(has_text=f"#{lead_id} approved").wait_for()
    routed = app.lead(lead_id)
    assert routed.status != "review" and routed.agent
    assert admin.locator(f"#r-{lead_id}").count() == 0


def test_quarantine_shows_the_reason_and_retries(app: App, admin: Any) -> None:
    raw = (ROOT / "samples/direct/latin1_encoded_subject.eml").read_bytes()
    engine = make_engine(app.db_url)
    with Session(engine) as session:  # as the worker leaves a message it could not read
        msg = Message(raw=raw, sha256=hashlib.sha256(raw).hexdigest(), size=len(raw),
                      dedup_key=f"test:{time.time_ns()}", status="quarantined",
                      reason="parser crashed: KeyError 'x'", rcpt_to=[])
        session.add(msg)
        session.commit()
        msg_id = msg.id
    admin.goto(f"{app.base}/app/quarantine")
    item = admin.locator("li.item", has_text=f"#{msg_id}")
    assert "parser crashed: KeyError 'x'" in item.inner_text()
    item.get_by_role("button", name=f"Retry message {msg_id}").click()
    admin.get_by_role("status").filter(has_text="back in line").wait_for()

    def status() -> str:
        with Session(engine) as session:
            found = session.get(Message, msg_id)
            assert found is not None
            return found.status
    wait_for(lambda: status() not in ("quarantined", "received", "processing"), timeout=20)
    assert status() == "lead"
    engine.dispose()
    admin.goto(f"{app.base}/app/quarantine")
    assert admin.locator("li.item", has_text=f"#{msg_id}").count() == 0


PAGES = ["/app/pipeline", "/app/agenda", "/app/leads/{lead}", "/app/login"]
MANAGER_PAGES = ["/app/team", "/app/review", "/app/pipeline", "/app/leads/{lead}"]
ADMIN_PAGES = ["/app/quarantine", "/app/review", "/app/team"]


def _scan(page: Any, url: str) -> None:
    started = time.monotonic()
    response = page.goto(url)
    page.wait_for_load_state("load")
    took = time.monotonic() - started
    assert response is not None and response.status == 200, url
    assert took < 1.0, f"{url} took {took:.2f}s"
    results = Axe().run(page)
    serious = [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
               for v in results.response["violations"]
               if v["impact"] in ("serious", "critical")]
    assert not serious, (url, serious)


def test_every_page_is_fast_and_passes_axe(app: App, ana: Any, manager: Any,
                                           admin: Any) -> None:
    lead = app.leads[ANA][0]
    for path in PAGES:
        _scan(ana, app.base + path.format(lead=lead))
    for path in MANAGER_PAGES:
        _scan(manager, app.base + path.format(lead=lead))
    for path in ADMIN_PAGES:
        _scan(admin, app.base + path)
    assert ana.goto(f"{app.base}/app/quarantine").status == 404  # not an agent's page
