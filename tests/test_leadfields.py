"""Every place that lists the lead's fields agrees with their one definition, leadmail.leadfields.

A field added, removed or changed there reaches every place, or one of these tests names the
place that did not follow.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from leadmail import evaluate, leadfields, rules
from leadmail.draft import EXTRACT_KEYS, Draft, build
from leadmail.intake.posted import LeadIn
from leadmail.leadfields import FIELDS, dataclass_of, having, names
from leadmail.models import Contact, Lead
from leadmail.notify.alert import lead_view
from leadmail.parsers.base import Extracted
from leadmail.review import FIXABLE
from leadmail.scripts.view import LeadApi
from leadmail.web.api.schemas import LeadDetail, LeadOut

# What each class keeps besides the lead's fields: its step's bookkeeping.
EXTRACTED_OWN = {"parser", "is_lead", "not_lead_reason", "confidence", "trace"}
DRAFT_OWN = {"is_lead", "not_lead_reason", "parser", "rule", "confidence", "trace",
             "provider_at", "provider_clock"}
LEAD_OWN = {"id", "message_pk", "dedup_key", "contact_id", "parser", "rule", "confidence",
            "trace", "review_reason", "agent", "status", "created_at", "provider_at",
            "provider_clock"}


def test_the_definition_holds_together() -> None:
    assert len({f.name for f in FIELDS}) == len(FIELDS)
    assert len({f.draft_attr for f in FIELDS}) == len(FIELDS)
    for f in FIELDS:
        assert f.type in leadfields.TYPES and (f.read_type or f.type) in leadfields.TYPES
        if f.extract or f.api_in:
            assert f.read, f"{f.name}: what a rule extracts or the API takes, a parser reads"
        if f.script or f.api_out or f.shown or f.contact or f.rule_set or f.condition:
            assert f.stored, f"{f.name}: shown, set or tested, but never stored"
        if f.lead_default is not None:
            assert f.type == "str | None"
        if f.max_length is not None or f.multiline:
            assert f.api_in
    with pytest.raises(AttributeError):
        having("no_such_flag")


def _annotations(cls: type) -> dict[str, str]:
    return {f.name: str(f.type) for f in dataclasses.fields(cls)}


def test_extracted_has_the_fields_a_parser_reads() -> None:
    got = _annotations(Extracted)
    want = {f.extracted_attr: f.read_type or f.type for f in having("read")}
    assert {k: v for k, v in got.items() if k not in EXTRACTED_OWN} == want
    assert set(got) - set(want) == EXTRACTED_OWN
    blank = Extracted(parser="x")
    for f in having("read"):
        assert getattr(blank, f.extracted_attr) == (f.factory() if f.factory else None)


def test_draft_has_the_fields_that_are_stored() -> None:
    got = _annotations(Draft)
    want = {f.draft_attr: f.type for f in having("stored")}
    assert {k: v for k, v in got.items() if k not in DRAFT_OWN} == want
    assert set(got) - set(want) == DRAFT_OWN


def test_the_lead_table_has_a_column_for_each_stored_field() -> None:
    columns = Lead.__table__.columns
    stored = {f.draft_attr: f for f in having("stored")}
    assert set(columns.keys()) == set(stored) | LEAD_OWN
    for attr, f in stored.items():
        column, info = columns[attr], Lead.model_fields[attr]
        assert column.nullable == (f.lead_default is None and f.factory is None), attr
        if f.factory is not None:
            assert info.default_factory is f.factory, attr
        else:
            assert info.default == f.lead_default, attr
        assert info.annotation == f.stored_type, attr
    contact = Contact.__table__.columns
    assert set(names("contact")) <= set(contact.keys())


def test_every_read_field_reaches_the_draft() -> None:
    """draft.build normalizes each field by hand: none may be forgotten."""
    values: dict[str, Any] = {
        "first_name": "ann", "last_name": "lee", "email": "ANN@example.com",
        "phone": "512 555 0143", "address": "1 Main St, Austin, TX 78701",
        "property_address": "2 Oak Ave, Austin, TX 78702", "price": "$500,000",
        "message": "hello", "source": "Zillow", "stage": "Lead", "segment": "Buyer",
        "tags": ["t"], "custom_fields": {"k": "v"}, "agent_email": "Bo@example.com"}
    assert set(values) == {f.extracted_attr for f in having("read")} - {"full_name"}
    draft = build(Extracted(parser="x", **values), "US")
    for f in having("read"):
        if f.stored:
            assert getattr(draft, f.draft_attr) not in (None, [], {}), f.name
    named = build(Extracted(parser="x", full_name="Ann Lee"), "US")
    assert (named.first_name, named.last_name) == ("Ann", "Lee")


def test_rules_take_the_fields_the_definition_gives_them() -> None:
    assert rules.EXTRACT_FIELDS == set(names("extract"))
    assert rules.CONDITION_FIELDS - {"city", "state", "zip", "parser"} == set(names("condition"))
    assert rules._SET_KEYS == set(names("rule_set"))


def test_scripts_and_review_set_the_script_fields() -> None:
    assert set(LeadApi.FIELDS) == set(names("script")) and FIXABLE == LeadApi.FIELDS
    draft = Draft()
    api = LeadApi(draft, "US")
    for f in having("script"):
        value = {"email": "x@example.com", "phone": "512 555 0143", "address": "1 Main St"}
        api.set(f.name, value.get(f.normalize, "42"))
        assert getattr(draft, f.draft_attr) is not None, f.name
        assert getattr(api, f.name) == getattr(draft, f.draft_attr)
    for f in FIELDS:
        if not f.script:
            with pytest.raises(AttributeError):
                api.set(f.name, "x")


def test_the_api_takes_and_shows_the_fields_the_definition_gives_it() -> None:
    assert list(LeadIn.model_fields) == list(names("api_in"))
    for f in having("api_in"):
        if f.max_length is not None:
            too_long = "x" * (f.max_length + 1)
            with pytest.raises(ValueError):
                LeadIn.model_validate({f.name: too_long})
            LeadIn.model_validate({f.name: "x" * f.max_length})
        if f.type == "str | None":
            with pytest.raises(ValueError):
                LeadIn.model_validate({f.name: "a\x00b"})
            line_break_ok = f.multiline
            if line_break_ok:
                LeadIn.model_validate({f.name: "a\nb"})
            else:
                with pytest.raises(ValueError):
                    LeadIn.model_validate({f.name: "a\nb"})
    shown = set(LeadOut.model_fields) - {"id", "received_at", "status", "agent",
                                         "last_contact_at"}
    assert shown == set(names("api_out"))
    assert set(LeadOut.model_fields) <= set(LeadDetail.model_fields)
    for f in having("api_out"):
        assert LeadOut.model_fields[f.name].annotation == f.stored_type, f.name


def test_the_other_views_follow_the_definition() -> None:
    assert set(EXTRACT_KEYS) == {"is_lead", *names("shown")}
    assert set(Draft().public()) == set(EXTRACT_KEYS)
    assert set(evaluate.IDENTITY) == {f.name for f in having("identity") if f.shown}
    view = lead_view(Lead(id=1, message_pk=1, dedup_key="k"))
    assert set(view) == {"id", "rule", "name", *names("shown")}


def test_the_orders_that_are_contracts_stay() -> None:
    """`extract --json`, the script API's error, the posted JSON stored, the alert view."""
    assert EXTRACT_KEYS == (
        "is_lead", "source", "first_name", "last_name", "email", "phone", "address",
        "property_address", "price", "message", "stage", "segment", "tags", "custom_fields",
        "origin")
    assert LeadApi.FIELDS == (
        "first_name", "last_name", "email", "phone", "address", "property_address", "price",
        "message", "stage", "segment", "pond", "location", "team", "source", "agent")
    assert tuple(LeadIn.model_fields) == (
        "first_name", "last_name", "full_name", "email", "phone", "address",
        "property_address", "price", "message", "source", "stage", "segment", "tags",
        "custom_fields")
    assert tuple(lead_view(Lead(id=1, message_pk=1, dedup_key="k"))) == (
        "id", "source", "rule", "first_name", "last_name", "email", "phone", "address",
        "property_address", "price", "message", "stage", "segment", "origin", "tags",
        "custom_fields", "name")


def test_dataclass_of_refuses_a_field_that_drifts() -> None:
    with pytest.raises(TypeError, match="must be"):
        @dataclass_of("stored", after="x")
        class Wrong:
            x: int = 0
            email: str = ""

    with pytest.raises(TypeError, match="no field"):
        @dataclass_of("stored", after="nowhere")
        class NoAnchor:
            x: int = 0

    @dataclass_of("stored", after="x")
    class Right:
        x: int = 0
        email: str | None = None  # declared here, so it keeps its place

    order = [f.name for f in dataclasses.fields(Right)]
    assert order[0] == "x" and order[-1] == "email" and order.count("email") == 1
    assert set(order) == {"x"} | {f.draft_attr for f in having("stored")}


def test_the_docs_name_the_fields() -> None:
    docs = Path(__file__).resolve().parent.parent / "docs"
    rules_doc = (docs / "rules.md").read_text()
    extract = rules_doc.split("The fields are", 1)[1].split("\n\n", 1)[0]
    assert {n for n in names("extract") if f"`{n}`" in extract} == set(names("extract"))
    sets = rules_doc.split("`[set]` can set these keys:", 1)[1].split("The other keys", 1)[0]
    assert {n for n in names("rule_set") if f"`{n}`" in sets} == set(names("rule_set"))
    setters = rules_doc.split("has a setter for each field:", 1)[1].split("Values are", 1)[0]
    assert {n for n in names("script") if f"`{n}`" in setters} == set(names("script"))
    posted = next(line for line in (docs / "followup.md").read_text().splitlines()
                  if line.startswith("| `POST /api/v1/leads` |"))
    assert {n for n in names("api_in") if f"`{n}`" in posted} == set(names("api_in"))
