"""Every signed token keeps its wire format: links already in agents' mailboxes must go on
working, and webhook receivers check the exact signature. The expected values below were
made by the code before leadmail.tokens held all signing; a change to any of them breaks
links that were sent."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from leadmail import tokens
from leadmail.followup import links as followup_links
from leadmail.notify import links as notify_links
from leadmail.notify import webhook

SECRET = "s3cret-0123456789abcdef"
EXPIRES = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
AT = datetime(2029, 12, 1, tzinfo=UTC)
CLAIM = ("eyJhIjoiYW5hQHgiLCJlIjoxODkzNTUzNDQ1LCJsIjoxLCJ4IjoiY2xhaW0ifQ."
         "am9mUIeFNtiPXZxTUgXkQIY6awh-WHjWKP5L3GtqJwg")
STEP = ("eyJhIjoiYW5hQHgiLCJlIjoxODkzNTUzNDQ1LCJzIjo0fQ."
        "bPIVt1kXrAIc1_8JtqDqjhuMm_8-0bZYQDZ0gUtjimQ")


def test_alert_links_keep_their_format() -> None:
    Link = notify_links.Link
    assert notify_links.sign(SECRET, Link(1, "ana@x", "claim", EXPIRES)) == CLAIM
    assert notify_links.sign(SECRET, Link(2, "ana@x", "accept", EXPIRES, offer=7)) == (
        "eyJhIjoiYW5hQHgiLCJlIjoxODkzNTUzNDQ1LCJsIjoyLCJvIjo3LCJ4IjoiYWNjZXB0In0."
        "DsIqR4dtLA-JZxdOjSaAR3s7TZau-yKkKrxkhTdgoyI")
    assign = ("eyJhIjoibWdyQHgiLCJlIjoxODkzNTUzNDQ1LCJsIjozLCJ0IjoiYm9AeCIsIngiOiJhc3NpZ24ifQ."
              "ssaCP11NflHagU0vjnF5Mdn-dUpo89krc6eVjqvVF_o")
    assert notify_links.sign(SECRET, Link(3, "mgr@x", "assign", EXPIRES, target="bo@x")) == assign
    assert notify_links.verify(SECRET, assign, AT) == Link(3, "mgr@x", "assign", EXPIRES,
                                                           target="bo@x")


def test_follow_up_links_keep_their_format() -> None:
    assert followup_links.sign(SECRET, "step", {"s": 4, "a": "ana@x"}, EXPIRES) == STEP
    assert followup_links.step_url("http://h/", SECRET, 4, "ana@x", EXPIRES) == f"http://h/s/{STEP}"
    assert followup_links.verify(SECRET, "step", STEP, AT) == {"a": "ana@x", "e": 1893553445,
                                                               "s": 4}
    digest = hashlib.sha256(b"lm_key").hexdigest()
    assert tokens.key_digest("lm_key") == digest
    assert followup_links.key_binding(digest) == "To5fsg_GBdCl_NdrT7hOOw"
    view = followup_links.view_token(SECRET, "max", EXPIRES, key_digest=digest, at=AT)
    assert view == ("eyJlIjoxODkzNTUzNDQ1LCJoIjoiVG81ZnNnX0dCZENsX05kclQ3aE9PdyIsImsiOiJtYXgifQ."
                    "b4-Rs53qLQbnP3kca5NPEX_Q7LTi_QT_sG3pZ7y1MU4")
    assert followup_links.verify_view(SECRET, view, {"max": digest}, AT) == "max"


def test_webhook_signature_and_reply_tag_keep_their_format() -> None:
    assert webhook.signature(SECRET, "1767225600", b'{"a":1}') == (
        "sha256=31f42918ca20ed971fed2299224537b435142f2896c4267c56d908ef207b439a")
    assert tokens.reply_tag(SECRET, 5, "Ana@X ", "offer-12") == "h624bq5cbnamvenamu5f"
    assert tokens.reply_tag_ok(SECRET, "H624BQ5CBNAMVENAMU5F", 5, "ana@x", "offer-12")


@pytest.mark.parametrize("token", ["", ".", "abc", CLAIM + "x", STEP.replace(".", ".A"),
                                   STEP[:-1] + "R", STEP + "=", CLAIM[:-1] + "h",
                                   "!!!.!!!", CLAIM.split(".")[0] + "." + STEP.split(".")[1]])
def test_a_bad_token_is_forged_for_every_purpose(token: str) -> None:
    with pytest.raises(notify_links.BadLink, match="forged"):
        notify_links.verify(SECRET, token, AT)
    for purpose in ("step", "view"):
        with pytest.raises(followup_links.BadToken, match="forged"):
            followup_links.verify(SECRET, purpose, token, AT)


def test_a_token_made_for_one_purpose_never_verifies_for_another() -> None:
    with pytest.raises(tokens.BadToken, match="forged"):
        tokens.unseal(SECRET, tokens.LINK, STEP, AT)
    with pytest.raises(tokens.BadToken, match="forged"):
        tokens.unseal(SECRET, tokens.VIEW, STEP, AT)
    with pytest.raises(notify_links.BadLink, match="expired"):
        notify_links.verify(SECRET, CLAIM, EXPIRES)
    with pytest.raises(followup_links.BadToken, match="expired"):
        followup_links.verify(SECRET, "step", STEP, EXPIRES)


def test_same_compares_in_constant_time_and_never_raises() -> None:
    assert tokens.same("abc", "abc") and tokens.same(b"abc", b"abc")
    assert not tokens.same("abc", "abd") and not tokens.same("é", "e")
    assert not tokens.same("abc", b"abc")
