"""Source rules, conditions, admin scripts, custom field types and the review queue."""

from __future__ import annotations

import textwrap
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import Session, select

from leadmail import config, db, pipeline, review
from leadmail.errors import ConfigErrors, Quarantine
from leadmail.models import Lead, Message, Outbox
from leadmail.store import store_raw


def mail(
    body: str,
    sender: str = "Web Form <noreply@forms.example>",
    subject: str = "New lead",
    mid: str = "<m1@forms.example>",
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "leads@brokerage.example"
    msg["Subject"] = subject
    msg["Message-ID"] = mid
    msg.set_content(body)
    return msg.as_bytes()


FORM = """Name: Grace Hopper
Email: GRACE@Example.org
Cell phone: (512) 555-0161
Home phone: 512-555-0199
Budget: $1,250,000
Property: 42 Lakeshore Dr, Austin, TX 78746
Timeframe: 0-3 months
Move date: 03/31/2027
Message: We are relocating from Chicago.
"""


def runtime(
    tmp_path: Path,
    rules: dict[str, str],
    extra: dict | None = None,  # type: ignore[type-arg]
) -> pipeline.Runtime:
    rdir = tmp_path / "rules"
    rdir.mkdir(exist_ok=True)
    for name, text in rules.items():
        (rdir / name).write_text(textwrap.dedent(text))
    data = {
        "rules": {"dir": str(rdir)},
        "agents": [
            {"name": "Ana Agent", "email": "ana@brokerage.example", "ponds": ["default", "luxury"]}
        ],
        "notify": {"email": {"relay": f"file:{tmp_path / 'alerts'}"}},
        "database": {"url": f"sqlite:///{tmp_path / 'l.db'}"},
        **(extra or {}),
    }
    return pipeline.Runtime.load(config.validate(data, env={}))


FORM_RULE = """
    name = "webform"
    source = "Website"
    [match]
    from = "*@forms.example"
    subject = "^new lead"
    [extract]
    phone = { label = "Cell phone" }
    price = { regex = 'Budget:\\s*(\\S+)' }
    [set]
    origin = "agent"
    tags = ["web"]
    team = "North"
    [set.custom_fields]
    form = "contact"
    [[when]]
    price = { gt = 1000000 }
    set = { tags = ["luxury"], pond = "luxury" }
    [[when]]
    city = { in = ["Round Rock", "Georgetown"] }
    set = { pond = "north" }
"""


def test_rule_matches_extracts_and_sets(tmp_path: Path) -> None:
    rt = runtime(tmp_path, {"webform.toml": FORM_RULE})
    draft = pipeline.read(mail(FORM), rt)
    assert draft.rule == "webform" and draft.source == "Website"
    assert draft.phone == "+15125550161"  # the labelled cell phone, not the first phone
    assert draft.price == 1250000
    assert draft.email == "grace@example.org"
    assert draft.origin == "agent" and draft.team == "North"
    assert draft.tags == ["web", "luxury"] and draft.pond == "luxury"
    assert draft.custom_fields["form"] == "contact"
    assert any(t.get("matched") == "when[0]" for t in draft.trace)
    assert not any(t.get("matched") == "when[1]" for t in draft.trace)


def test_rule_not_matching_leaves_the_parser_alone(tmp_path: Path) -> None:
    rt = runtime(tmp_path, {"webform.toml": FORM_RULE})
    draft = pipeline.read(mail(FORM, subject="Re: hello"), rt)
    assert draft.rule is None and "luxury" not in draft.tags


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('[set]\nstage = "Hot"', "x.toml: set.stage: 'Hot' is not one of"),
        ('[match]\nsubject = "("', "x.toml: match.subject: bad regular expression"),
        (
            '[extract]\nfavourite_color = { label = "Color" }',
            "x.toml: extract.favourite_color: not a",
        ),
        (
            '[[when]]\nprice = { above = 3 }\nset = { pond = "x" }',
            "x.toml: when[0].price.above: unknown",
        ),
        (
            '[[when]]\nprice = { gt = "lots" }\nset = { pond = "x" }',
            "x.toml: when[0].price.gt: needs",
        ),
        ('[[when]]\nset = { pond = "x" }', "x.toml: when[0]: has no condition"),
        ('script = "missing.py"', "x.toml: script:"),
        ('[[when]]\nprise = { gt = 3 }\nset = { pond = "x" }', "x.toml: when[0].prise: not a lead"),
        ('parser = "Nope"', "x.toml: parser: 'Nope' is not one of"),
        ("colour = 1", "x.toml: colour: unknown key"),
    ],
)
def test_bad_rule_files_name_the_key(tmp_path: Path, text: str, error: str) -> None:
    with pytest.raises(ConfigErrors) as info:
        runtime(tmp_path, {"x.toml": text})
    assert str(info.value).startswith(error), str(info.value)


def test_script_refines_the_lead_with_normalizing_setters(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "s.py").write_text(
        textwrap.dedent("""
        def extract(mail, lead):
            lead.phone = mail.field("Home phone")
            lead.set_name("GRACE  HOPPER")
            lead.add_tag("scripted")
            lead.custom_fields["timeframe"] = mail.field("timeframe")
            lead.segment = "Buyer"
            if "relocating" in (lead.message or ""):
                lead.add_tag("relocation")
    """)
    )
    rt = runtime(tmp_path, {"s.toml": 'script = "s.py"\n' + textwrap.dedent(FORM_RULE)})
    draft = pipeline.read(mail(FORM), rt)
    assert draft.phone == "+15125550199"
    assert (draft.first_name, draft.last_name) == ("Grace", "Hopper")
    assert {"scripted", "relocation", "web"} <= set(draft.tags)
    assert draft.custom_fields["timeframe"] == "0-3 months"
    assert draft.segment == "Buyer"


def _script_rule(tmp_path: Path, body: str) -> pipeline.Runtime:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "bad.py").write_text(textwrap.dedent(body))
    return runtime(
        tmp_path,
        {"b.toml": 'script = "bad.py"\n[match]\nfrom = "*@forms.example"\n'},
        extra={"pipeline": {"script_time_limit": 0.3}},
    )


def test_script_error_quarantines_with_traceback_and_others_continue(tmp_path: Path) -> None:
    rt = _script_rule(tmp_path, "def extract(mail, lead):\n    return 1 / 0\n")
    with pytest.raises(Quarantine) as info:
        pipeline.read(mail(FORM), rt)
    assert "bad.py: ZeroDivisionError" in info.value.reason
    url = rt.settings.database.url
    db.upgrade(url)
    engine = db.make_engine(url)
    out = pipeline.process(rt, engine, store_raw(engine, mail(FORM)))
    assert out is not None and out.status == "quarantined"
    with Session(engine) as s:
        msg = s.get(Message, out.message)
        assert msg is not None and "ZeroDivisionError" in (msg.error or "")
        assert "bad.py" in (msg.error or "")
    # A mail the rule does not match is unaffected.
    ok = pipeline.process(
        rt,
        engine,
        store_raw(
            engine,
            mail(
                "Hi, my name is Ada Lovelace, call 512-555-0177",
                sender="ada@example.org",
                mid="<x2>",
            ),
        ),
    )
    assert ok is not None and ok.status == "lead"


def test_runaway_script_is_stopped(tmp_path: Path) -> None:
    rt = _script_rule(tmp_path, "def extract(mail, lead):\n    while True:\n        pass\n")
    with pytest.raises(Quarantine) as info:
        pipeline.read(mail(FORM), rt)
    assert "ran longer than 0.3s" in info.value.reason


def test_script_setting_unknown_field_is_an_error(tmp_path: Path) -> None:
    rt = _script_rule(tmp_path, "def extract(mail, lead):\n    lead.favourite = 1\n")
    with pytest.raises(Quarantine) as info:
        pipeline.read(mail(FORM), rt)
    assert "lead has no field 'favourite'" in info.value.reason


def test_custom_field_types(tmp_path: Path) -> None:
    fields = [
        {"name": "timeframe", "type": "pick_one", "options": ["0-3 months", "3-6 months"]},
        {"name": "features", "type": "pick_many", "options": ["Pool", "Garage"]},
        {"name": "move_date", "type": "date"},
        {"name": "beds", "type": "round_number"},
        {"name": "rate", "type": "decimal"},
        {"name": "budget", "type": "currency"},
        {"name": "notes", "type": "text"},
    ]
    rt = runtime(
        tmp_path,
        {
            "t.toml": """
        [match]
        from = "*@forms.example"
        [set.custom_fields]
        timeframe = "0-3 MONTHS"
        features = "pool, garage"
        move_date = "03/31/2027"
        beds = "three"
        rate = "6.25"
        budget = "$450k"
        notes = "call after 5"
    """
        },
        extra={"custom_fields": fields},
    )
    draft = pipeline.read(mail(FORM), rt)
    cf = draft.custom_fields
    assert cf["timeframe"] == "0-3 months" and cf["features"] == ["Pool", "Garage"]
    assert cf["move_date"] == "2027-03-31" and cf["rate"] == 6.25 and cf["budget"] == 450000
    assert "beds" not in cf  # does not fit a round number: reported, not crashed on
    problem = next(t for t in draft.trace if t["step"] == "custom_fields")
    assert "beds" in problem["invalid"] and "not a whole number" in problem["invalid"]["beds"]


def test_pick_list_needs_options() -> None:
    with pytest.raises(ConfigErrors) as info:
        config.validate({"custom_fields": [{"name": "x", "type": "pick_one"}]}, env={})
    assert "custom_fields[0]" in str(info.value)


def test_review_queue(tmp_path: Path) -> None:
    rt = runtime(tmp_path, {})
    url = rt.settings.database.url
    db.upgrade(url)
    engine = db.make_engine(url)
    # A person wrote, but left no email we can use and no phone.
    raw = mail(
        "Hello, I saw your sign on Elm Street. Is it still for sale?",
        sender="Mailer <no-reply@forms.example>",
        mid="<r1>",
    )
    out = pipeline.process(rt, engine, store_raw(engine, raw))
    assert out is not None and out.status == "lead" and out.agent is None
    waiting = review.pending(engine)
    assert [lead.id for lead in waiting] == [out.lead_id]
    assert "no usable contact" in (waiting[0].review_reason or "")
    with Session(engine) as s:
        assert s.exec(select(Outbox)).all() == []  # not routed blind
    with pytest.raises(AttributeError):
        review.fix(engine, rt.settings, out.lead_id, {"shoe_size": "9"})
    lead = review.fix(
        engine, rt.settings, out.lead_id, {"phone": "(512) 555-0123", "first_name": "ELM"}
    )
    assert lead.phone == "+15125550123" and lead.first_name == "Elm"
    lead = review.approve(engine, rt.settings, out.lead_id)
    assert lead.status == "assigned" and lead.agent == "ana@brokerage.example"
    with Session(engine) as s:
        assert len(s.exec(select(Outbox)).all()) == 1
        stored = s.get(Lead, out.lead_id)
        assert stored is not None and stored.review_reason is None
    with pytest.raises(ValueError, match="not in review"):
        review.approve(engine, rt.settings, out.lead_id)


def test_nlp_model_setting_is_used(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A missing model falls back to rules (said once in the log), and leads still come out."""
    rt = runtime(tmp_path, {}, extra={"pipeline": {"nlp_model": "no_such_model_xyz"}})
    assert rt.parse_ctx.nlp_model == "no_such_model_xyz"
    with caplog.at_level("WARNING", logger="leadmail.nlp"):
        draft = pipeline.read(mail("Hello there, I am interested in the Elm St house. "
                                   "Call 512-555-0188.", sender="someone@example.org"), rt)
        pipeline.read(mail("Another one, call 512-555-0189.", sender="x@example.org",
                           mid="<m2>"), rt)
    assert draft.phone == "+15125550188"
    warnings = [r for r in caplog.records if "no_such_model_xyz" in r.getMessage()]
    assert len(warnings) == 1


def test_every_log_line_of_a_message_carries_its_id(tmp_path: Path) -> None:
    """The correlation id: a warning from a deep step (classify) names the message."""
    import structlog

    rt = runtime(tmp_path, {"t.toml": '[match]\nfrom = "*@forms.example"\n'
                                      '[set.custom_fields]\nbeds = "three"\n'},
                 extra={"custom_fields": [{"name": "beds", "type": "round_number"}]})
    url = rt.settings.database.url
    db.upgrade(url)
    engine = db.make_engine(url)
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) \
            as logs:
        msg_id = store_raw(engine, mail(FORM))
        pipeline.process(rt, engine, msg_id)
    deep = [e for e in logs if "custom field" in e["event"]]
    assert deep and all(e.get("msg") == msg_id for e in deep)
