"""Parser behaviour that matters: the right person is the lead, and nothing else is."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from leadmail import parsers
from leadmail.parsers import extract, get, non_lead_reason
from leadmail.parsers.adf import parse_adf
from leadmail.parsers.base import ParseContext
from leadmail.parsers.common import mask_ids, phones_in
from leadmail.parsers.mime import parse_mail
from leadmail.parsers.nlp import extract_free_text, load_model, ner_names
from leadmail.parsers.text import html_table_pairs

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
CTX = ParseContext(
    agent_emails=frozenset({"ana@brokerage.example", "ben@brokerage.example",
                            "cara@brokerage.example"}),
    agent_phones=frozenset({"+15125550100", "+15125550101", "+15125550102"}),
    agent_names=frozenset({"ana agent", "ben broker", "cara closer"}),
)


def sample(name: str):
    return parse_mail((SAMPLES / name).read_bytes())


def mail(headers: str, body: str, content_type: str = "text/plain; charset=utf-8"):
    head = headers.strip().replace("\n", "\r\n")
    raw = (f"{head}\r\nMIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n"
           + body.replace("\n", "\r\n"))
    return parse_mail(raw.encode("utf-8"))


# --- registry --------------------------------------------------------------------------------


def test_registry_order_and_lookup():
    assert parsers.PARSERS[-1].name == "Direct"
    assert parsers.PARSERS[0].name == "ADF"
    assert get("zillow") is get("Zillow")
    assert get("nlp") is get("direct")
    with pytest.raises(KeyError, match="Realtor.com"):
        get("craigslist")


def test_forced_parser_is_used():
    m = sample("website/contact_form7.eml")
    ex = extract(m, CTX, parser_name="Direct")
    assert (ex.parser, ex.source) == ("nlp", "Direct")


# --- distractors -----------------------------------------------------------------------------


def test_zillow_text_ignores_agent_support_line_and_lead_id():
    ex = extract(sample("zillow/contact_request_text.eml"), CTX)
    assert (ex.parser, ex.source, ex.segment) == ("zillow", "Zillow", "Buyer")
    assert ex.full_name == "Maria Lopez"
    assert ex.phone == "+15125550143"
    assert ex.email == "maria.lopez@example.com"
    assert ex.custom_fields["lead_id"] == "5125550143999"
    assert ex.custom_fields["mls"] == "2234567890"
    assert ex.confidence["phone"] == 1.0


def test_zillow_html_tables_qp_nbsp_and_agent_field():
    ex = extract(sample("zillow/tour_request_html_qp.eml"), CTX)
    assert ex.full_name == "DEREK O'NEIL"
    assert ex.phone == "+15125550148"
    assert ex.property_address == "1122 Barton Springs Rd #204, Austin, TX 78704"
    assert ex.agent_email == "ben@brokerage.example"
    assert ex.price == "$389,900"


def test_unlabelled_provider_body_skips_toll_free_agent_and_noreply_from():
    m = mail(
        """From: Zillow <no-reply@zillow.com>
To: leads@brokerage.example
Subject: Pat Moreno wants to tour 12 Elm St, Austin, TX 78701""",
        "Hi Ana Agent,\nPat would like a tour. Call Pat: 512-555-0191.\n"
        "Ana Agent 512-555-0100\nQuestions? Call 1-800-555-0199\n",
    )
    ex = extract(m, CTX)
    assert ex.source == "Zillow"
    assert ex.full_name == "Pat Moreno"
    assert ex.property_address == "12 Elm St, Austin, TX 78701"
    assert ex.phone == "+15125550191"
    assert ex.email is None


def test_ids_are_not_phones():
    text = "Lead ID: 5125550143999\nMLS# 2234567890\nListing ID 5125550177"
    assert phones_in(text, CTX) == []
    assert "5125550143999" not in mask_ids(text)
    assert phones_in("Toll free 1-888-555-0123, agent 512-555-0100", CTX) == []


def test_reply_to_is_the_lead_when_from_is_a_robot():
    m = mail(
        """From: Brokerage Example <wordpress@brokerage.example>
Reply-To: Ivy Chen <ivy.chen@example.com>
To: leads@brokerage.example
Subject: New submission from Contact""",
        "Name: Ivy Chen\nPhone: 512-555-0181\nMessage: Do you handle rentals?\n",
    )
    ex = extract(m, CTX)
    assert (ex.source, ex.email, ex.phone) == ("Website", "ivy.chen@example.com", "+15125550181")
    assert ex.message == "Do you handle rentals?"


# --- referral --------------------------------------------------------------------------------


def test_forwarded_gmail_block_is_unwrapped_and_forwarder_ignored():
    ex = extract(sample("referral/forwarded_by_colleague.eml"), CTX)
    assert (ex.parser, ex.source) == ("referral", "Referral")
    assert ex.full_name == "Samantha Greene"
    assert ex.email == "sam.greene@example.net"
    assert ex.phone == "+15125550152"
    assert ex.custom_fields["forwarded_by"] == "ben@brokerage.example"
    assert "forwarded" in ex.tags


def test_outlook_original_message_forwarder_not_in_context():
    m = mail(
        """From: Dana Colleague <dana@otheroffice.example>
To: leads@brokerage.example
Subject: FW: condo question""",
        "Passing this one on.\nDana Colleague\n512-555-0122\n\n"
        "-----Original Message-----\n"
        "From: Luis Ortega [mailto:luis.ortega@example.org]\n"
        "Sent: Monday, March 3, 2025 4:10 PM\n"
        "To: Dana Colleague\nSubject: condo question\n\n"
        "Hello, this is Luis Ortega. Is the condo on 5th still available? 512-555-0135\n",
    )
    ex = extract(m, CTX)
    assert ex.source == "Referral"
    assert (ex.full_name, ex.email, ex.phone) == (
        "Luis Ortega", "luis.ortega@example.org", "+15125550135")


def test_forwarded_provider_mail_keeps_provider_source():
    m = mail(
        """From: Ben Broker <ben@brokerage.example>
To: leads@brokerage.example
Subject: Fwd: New realtor.com lead - Kim Park""",
        "FYI\n\n---------- Forwarded message ---------\n"
        "From: realtor.com <leads-noreply@realtor.com>\n"
        "Subject: New realtor.com lead - Kim Park\n\n"
        "First Name: Kim\nLast Name: Park\nEmail: kim.park@example.com\nPhone: 512-555-0158\n",
    )
    ex = extract(m, CTX)
    assert (ex.source, ex.first_name, ex.last_name) == ("Realtor.com", "Kim", "Park")
    assert ex.email == "kim.park@example.com"
    assert ex.custom_fields["forwarded_by"] == "ben@brokerage.example"


# --- ADF -------------------------------------------------------------------------------------


def test_adf_well_formed_vehicle_and_vendor_phone_ignored():
    ex = extract(sample("adf/well_formed_body.eml"), CTX)
    assert (ex.parser, ex.source) == ("adf", "ADF")
    assert (ex.first_name, ex.last_name) == ("Jordan", "Reyes")
    assert ex.phone == "+15125550138"
    assert ex.property_address == "2021 Toyota Camry SE"
    assert ex.custom_fields["vendor"] == "Hill Country Toyota"
    assert ex.confidence["first_name"] == 1.0


def test_adf_broken_xml_attachment_falls_back_to_regex():
    ex = extract(sample("adf/broken_xml_attachment.eml"), CTX)
    assert ex.parser == "adf"
    assert (ex.first_name, ex.last_name) == ("Tasha", "Brooks")
    assert ex.email == "tasha.brooks@example.net"
    assert ex.phone == "+15125550127"
    assert ex.property_address == "2019 Ford F-150 XLT"  # not the trade-in Civic
    assert ex.confidence["first_name"] == 0.8


def test_adf_regex_fallback_on_truncated_document():
    m = mail("From: a@b.example\nTo: leads@brokerage.example\nSubject: x", "hello")
    doc = ('<adf><prospect><vehicle><year>2020</year><make>Kia</make><model>Soul</model>'
           '<customer><contact><name part="full">Rita Vance</name><phone>512-555-0166</phone>')
    ex = parse_adf(doc, m, CTX)
    assert (ex.full_name, ex.phone, ex.property_address) == (
        "Rita Vance", "+15125550166", "2020 Kia Soul")


# --- HTML tables, charsets -------------------------------------------------------------------


def test_html_table_pairs_two_layouts():
    gravity = ('<table><tr><td colspan="2"><strong>Name</strong></td></tr>'
               '<tr><td>&nbsp;</td><td>Ann Lee</td></tr>'
               '<tr><td colspan="2"><strong>Email</strong></td></tr>'
               '<tr><td>&nbsp;</td><td>ann@example.com</td></tr></table>')
    assert html_table_pairs(gravity) == [("name", "Ann Lee"), ("email", "ann@example.com")]
    two_cell = "<table><tr><td>Phone&nbsp;Number:</td><td>512-555-0140</td></tr></table>"
    assert html_table_pairs(two_cell) == [("phone number", "512-555-0140")]


def test_gravity_forms_seller_with_own_address():
    ex = extract(sample("website/gravity_forms_table.eml"), CTX)
    assert (ex.source, ex.segment) == ("Website", "Seller")
    assert ex.full_name == "Grace Oyelaran-Smith"
    assert ex.address == "1908 Willow Bend Ln\nAustin, TX 78745\nUnited States"


def test_iso_8859_1_encoded_subject_and_accented_name():
    m = sample("direct/latin1_encoded_subject.eml")
    assert m.subject == "Pregunta sobre la casa en Cañada Dr"
    ex = extract(m, CTX)
    assert (ex.source, ex.full_name) == ("Direct", "José Núñez")
    assert ex.phone == "+15125550171"
    assert ex.property_address == "2207 Cañada Dr, Austin, TX 78741"


# --- non-leads -------------------------------------------------------------------------------


def test_auto_reply_reason():
    ex = extract(sample("nonlead/auto_reply.eml"), CTX)
    assert (ex.parser, ex.is_lead) == ("nonlead", False)
    assert ex.not_lead_reason == "auto-reply (Auto-Submitted: auto-replied)"


def test_bounce_reason():
    ex = extract(sample("nonlead/bounce_report.eml"), CTX)
    assert ex.not_lead_reason == "bounce (multipart/report; delivery-status)"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("From: MAILER-DAEMON@mx.example\nSubject: failure",
         "bounce (from mailer-daemon@mx.example)"),
        ("From: a@b.example\nSubject: Undelivered Mail Returned to Sender",
         "bounce (subject: Undelivered Mail Returned to Sender)"),
        ("From: a@b.example\nX-Autoreply: yes\nSubject: Re: hi", "auto-reply (X-Autoreply: yes)"),
        ("From: a@b.example\nPrecedence: auto_reply\nSubject: Re: hi",
         "auto-reply (Precedence: auto_reply)"),
        ("From: a@b.example\nSubject: Out of Office: back Monday",
         "auto-reply (subject: Out of Office: back Monday)"),
        ("From: news@portal.example\nList-Unsubscribe: <https://portal.example/u>\n"
         "Precedence: bulk\nSubject: Market report",
         "newsletter (List-Unsubscribe, Precedence: bulk)"),
    ],
)
def test_non_lead_reasons(headers, reason):
    m = mail(headers + "\nTo: leads@brokerage.example", "Some text.\n")
    assert non_lead_reason(m) == reason


def test_auto_generated_lead_notification_is_still_a_lead():
    m = mail(
        """From: Zillow <no-reply@zillow.com>
Auto-Submitted: auto-generated
List-Unsubscribe: <https://zillow.com/u>
Precedence: bulk
To: leads@brokerage.example
Subject: New Contact: Al Ruiz is requesting information about 9 Oak St""",
        "New Contact\nName: Al Ruiz\nPhone: 512-555-0193\n",
    )
    assert non_lead_reason(m) is None
    assert extract(m, CTX).phone == "+15125550193"


# --- NLP fallback ----------------------------------------------------------------------------


def test_direct_ignores_quoted_agent_signature():
    ex = extract(sample("direct/plain_inquiry.eml"), CTX)
    assert (ex.parser, ex.source, ex.segment) == ("nlp", "Direct", "Buyer")
    assert (ex.full_name, ex.email, ex.phone) == ("Tom Becker", "tbecker@example.org",
                                                  "+15125550163")


def test_ner_finds_person_and_drops_agents_and_addresses():
    ctx = ParseContext(agent_names=frozenset({"ana agent"}))
    text = "Ana Agent told me about the house. Maria Lopez would like to visit 4410 Oak Hollow."
    names = ner_names(text, ctx)
    assert "Maria Lopez" in names
    assert "Ana Agent" not in names
    assert all(not any(ch.isdigit() for ch in n) for n in names)
    ex = extract_free_text("Maria Lopez would like a call back at 512-555-0143.", ctx)
    assert (ex.full_name, ex.phone) == ("Maria Lopez", "+15125550143")
    assert ex.confidence["full_name"] == 0.6


def test_missing_model_falls_back_to_rules_and_logs_once(caplog):
    caplog.set_level(logging.WARNING, logger="leadmail.nlp")
    nlp = load_model("no_such_model_for_tests")
    assert "ner" not in nlp.pipe_names
    assert load_model("no_such_model_for_tests") is nlp
    assert len([r for r in caplog.records if r.name == "leadmail.nlp"]) == 1
    text = "Hi, my name is Oscar Diaz and I want to sell my house.\nCall 512-555-0139."
    ex = extract_free_text(text, CTX, model="no_such_model_for_tests")
    assert (ex.full_name, ex.phone, ex.segment) == ("Oscar Diaz", "+15125550139", "Seller")
    assert ex.confidence["full_name"] == 0.85
    ex = extract_free_text("Is it still for sale?\n\nThanks,\nNina Patel", CTX,
                           model="no_such_model_for_tests")
    assert ex.full_name == "Nina Patel"


def test_agent_signature_phone_in_body_is_skipped():
    m = mail(
        """From: Cara Closer <cara@brokerage.example>
Reply-To: Wes Hart <wes.hart@example.com>
To: leads@brokerage.example
Subject: call back""",
        "Cara Closer\nBrokerage Example 512-555-0102\n\nWes asked for a call at 512-555-0197.\n",
    )
    ex = extract(m, CTX)
    assert (ex.email, ex.phone) == ("wes.hart@example.com", "+15125550197")
    assert ex.full_name == "Wes Hart"
