"""The loop is driven by pipeline.STEPS: a step added to the tuple runs, in its place; a step
taken out does not; a step that raises a typed outcome ends the message with that status."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlmodel import Session, select

from leadmail import db, pipeline
from leadmail.errors import NotALead, Review
from leadmail.models import Event, Lead, Message, Outbox
from leadmail.pipeline import Context, commit, duplicate, review
from leadmail.store import store_raw
from tests.test_pipeline import person, settings_for

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Any:
    settings = settings_for(db_url, tmp_path)
    db.upgrade(db_url)
    engine = db.make_engine(db_url)
    yield engine, pipeline.Runtime.load(settings)
    engine.dispose()


def names(steps: tuple[Any, ...]) -> list[str]:
    return [step.__name__.rsplit(".", 1)[-1] for step in steps]


def test_the_steps_in_order() -> None:
    assert names(pipeline.STEPS) == [
        "claim", "duplicate", "reply", "answer", "activity", "reader", "review", "commit"]
    # process runs STEPS unless given others: the tuple is what drives it
    assert inspect.signature(pipeline.process).parameters["steps"].default is pipeline.STEPS


def test_every_step_module_is_in_steps() -> None:
    """A module of leadmail/pipeline/ with a run(ctx) is a step: one not in STEPS never runs."""
    found = []
    for info in pkgutil.iter_modules(pipeline.__path__):
        module = importlib.import_module(f"leadmail.pipeline.{info.name}")
        if callable(getattr(module, "run", None)):
            found.append(module)
    assert sorted(names(tuple(found))) == sorted(names(pipeline.STEPS))


def test_the_architecture_document_lists_the_steps_in_order() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    listed = re.findall(r"^\| \d+\. \w+ \| `pipeline/(\w+)\.py`", text, flags=re.M)
    assert listed == names(pipeline.STEPS)


def test_a_step_inserted_into_the_tuple_runs_in_its_place(world: Any) -> None:
    engine, rt = world
    seen: list[tuple[str | None, bool]] = []

    def spy(ctx: Context) -> Context:  # what the steps before it left in the context
        seen.append((ctx.draft.email if ctx.draft else None, ctx.outcome is None))
        return ctx

    steps = list(pipeline.STEPS)
    steps.insert(steps.index(commit), SimpleNamespace(run=spy))
    outcome = pipeline.process(rt, engine, store_raw(engine, person(1)), steps=tuple(steps))
    assert outcome is not None and outcome.status == "lead"
    # it ran once, after the read and review steps and before the commit step
    assert seen == [("p1@buyers.example", True)]


def test_review_is_an_outcome_a_step_raises_and_the_lead_is_held(world: Any) -> None:
    """A step that raises Review ends the message there: the steps after it never run, and
    the loop makes the lead held in review (not routed, no alert), its message a `lead`."""
    engine, rt = world
    after: list[int] = []

    def ask_a_person(ctx: Context) -> Context:
        raise Review("checked by a person in the test")

    def spy(ctx: Context) -> Context:
        after.append(ctx.msg_id)
        return ctx

    steps = list(pipeline.STEPS)
    at = steps.index(review)
    steps[at:at + 1] = [SimpleNamespace(run=ask_a_person), SimpleNamespace(run=spy)]
    msg_id = store_raw(engine, person(4))
    outcome = pipeline.process(rt, engine, msg_id, steps=tuple(steps))
    assert outcome is not None and outcome.status == "lead" and outcome.agent is None
    assert after == []  # nothing after the step that raised it ran, the commit step included
    with Session(engine) as s:
        lead = s.exec(select(Lead)).one()
        assert (lead.status, lead.review_reason, lead.agent) == (
            "review", "checked by a person in the test", None)
        msg = s.get(Message, msg_id)
        assert msg is not None and (msg.status, msg.lead_id) == ("lead", lead.id)
        assert s.exec(select(Outbox)).first() is None  # no alert went to anyone
        kinds = [e.kind for e in s.exec(select(Event).where(Event.lead_id == lead.id))]
        assert "review" in kinds
    # processed again (a crash after the commit), the same held lead, not a second one
    again = pipeline.process(rt, engine, msg_id, steps=tuple(steps))
    assert again is None or again.lead_id in (None, lead.id)
    with Session(engine) as s:
        assert len(s.exec(select(Lead)).all()) == 1


def test_the_review_step_raises_review_for_a_lead_nobody_can_reach(world: Any) -> None:
    engine, rt = world
    ctx = Context(rt, engine, 0, "me", None, None)
    ctx.draft = pipeline.read(person(5), rt)
    assert review.run(ctx) is ctx  # reachable: it goes on to the commit step
    ctx.draft.email, ctx.draft.phone = None, None
    with pytest.raises(Review, match="no usable contact"):
        review.run(ctx)


def test_a_step_that_raises_an_outcome_ends_the_message(world: Any) -> None:
    engine, rt = world

    def hold(ctx: Context) -> Context:
        raise NotALead("held by a step of the test", source="test")

    steps = list(pipeline.STEPS)
    steps.insert(steps.index(review), SimpleNamespace(run=hold))
    msg_id = store_raw(engine, person(2))
    outcome = pipeline.process(rt, engine, msg_id, steps=tuple(steps))
    assert outcome is not None
    assert (outcome.status, outcome.reason, outcome.source) == (
        "non_lead", "held by a step of the test", "test")
    with Session(engine) as s:
        msg = s.get(Message, msg_id)
        assert msg is not None and (msg.status, msg.reason) == ("non_lead", outcome.reason)
        assert s.exec(select(Lead)).first() is None  # the commit step never ran
        kinds = [e.kind for e in s.exec(select(Event).where(Event.message_pk == msg_id))]
        assert "non_lead" in kinds


def test_a_step_taken_out_of_the_tuple_does_not_run(world: Any) -> None:
    """Without the duplicate step, a second copy of a message is not called a duplicate (the
    commit step finds its lead already made); with STEPS it is."""
    engine, rt = world
    raw = person(3)
    first = pipeline.process(rt, engine, store_raw(engine, raw))
    assert first is not None and first.status == "lead"
    again = pipeline.process(rt, engine, store_raw(engine, raw))
    assert again is not None and again.status == "duplicate"
    steps = tuple(step for step in pipeline.STEPS if step is not duplicate)
    third = pipeline.process(rt, engine, store_raw(engine, raw), steps=steps)
    assert third is not None and third.status == "lead" and third.reason is None
