"""Non-lead policy (issue 11): only automated mail is a non-lead, each kind with its own
reason; a person's own mail is a lead, or a lead held for review with the reason. And a
middle name is not folded into the first name."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadmail import config, normalize, pipeline
from leadmail.parsers import extract, nlp
from leadmail.parsers.base import ParseContext
from leadmail.parsers.mime import parse_mail

RULES = Path(__file__).parent.parent / "rules"

ARF = b"""From: Abuse Desk <abuse@isp.example>
To: leads@brokerage.example
Subject: Abuse report
Message-ID: <arf-1@isp.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type="feedback-report"; boundary="b"

--b
Content-Type: text/plain

A user of our service marked this message as spam.
--b
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: Example-FBL/1.0
Version: 1

--b
Content-Type: message/rfc822

From: leads@brokerage.example
To: someone@isp.example
Subject: Just listed

Name: Maria Lopez
Phone: 512-555-0143
--b--
"""

MDN = b"""From: Maria Lopez <maria@example.com>
To: leads@brokerage.example
Subject: Read: Your showing
Message-ID: <mdn-1@example.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=disposition-notification; boundary="b"

--b
Content-Type: text/plain

Your message was read on Monday.
--b
Content-Type: message/disposition-notification

Final-Recipient: rfc822; maria@example.com
Disposition: manual-action/MDN-sent-manually; displayed

--b--
"""


def test_arf_complaint_has_its_own_reason() -> None:
    ex = extract(parse_mail(ARF), ParseContext())
    assert ex.is_lead is False
    assert ex.not_lead_reason == "complaint (ARF feedback report; abuse)"


def test_read_receipt_has_its_own_reason() -> None:
    ex = extract(parse_mail(MDN), ParseContext())
    assert ex.is_lead is False
    assert ex.not_lead_reason == "read receipt (disposition notification)"


@pytest.fixture(scope="module")
def rt() -> pipeline.Runtime:
    return pipeline.Runtime.load(config.validate({"rules": {"dir": str(RULES)}}, env={}))


def test_persons_mail_without_inquiry_is_a_lead_held_for_review(rt: pipeline.Runtime) -> None:
    raw = (b"From: Sam Writer <sam@example.org>\r\nTo: leads@brokerage.example\r\n"
           b"Subject: hello\r\nMessage-ID: <hold-1@example.org>\r\n\r\nhello there\r\n")
    draft = pipeline.read(raw, rt)
    assert draft.is_lead is True
    reason = pipeline.review_reason(draft, rt.settings)
    assert reason == nlp.NO_INQUIRY  # the reader's own reason, shown in `leadmail review`
    assert "needs-review" in draft.tags
    fields = next(t for t in draft.trace if t["step"] == "fields")
    assert "no inquiry" in fields["review"]


@pytest.mark.parametrize(("full", "expected"), [
    ("Ana Lucia Mendes", ("Ana", "Mendes")),
    ("Somebody Kemal Yilmaz", ("Somebody", "Yilmaz")),
    ("Mary Ann Smith", ("Mary", "Smith")),  # the first given name; a middle one goes with neither
    ("Ana Mendes", ("Ana", "Mendes")),
])
def test_middle_name_is_not_folded_into_the_first_name(full: str,
                                                        expected: tuple[str, str]) -> None:
    assert normalize.split_name(full) == expected
