"""Parser behaviour that matters: the right person is the lead, and nothing else is."""

from __future__ import annotations

import logging
from email.message import EmailMessage
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
    assert get("craigslist").name == "Craigslist"
    with pytest.raises(KeyError, match="Realtor.com"):
        get("zumper")
    names = [p.name for p in parsers.PARSERS]
    assert len(names) == len(set(names))
    for before, after in (("Trulia", "Zillow"), ("Opcity", "Realtor.com"),
                          ("Google Ads", "Facebook"), ("Craigslist", "Website")):
        assert names.index(before) < names.index(after)


# Which parser reads each samples/<folder>/ (folders named by source, plus the non-leads).
FOLDER_PARSER = {"adf": "adf", "chat": "transcript", "craigslist": "craigslist", "direct": "nlp",
                 "everquote": "everquote", "facebook": "facebook", "google_ads": "google_ads",
                 "homelight": "homelight", "homes": "homes", "idx": "idx",
                 "lendingtree": "lendingtree", "nonlead": "nonlead", "opcity": "opcity",
                 "realtor": "realtor", "redfin": "redfin", "referral": "referral",
                 "trulia": "trulia", "website": "website", "zillow": "zillow"}
SAMPLE_FILES = sorted(SAMPLES.glob("*/*.eml"))


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_each_sample_is_read_by_its_folders_parser(path):
    assert extract(parse_mail(path.read_bytes()), CTX).parser == FOLDER_PARSER[path.parent.name]


def test_samples_cover_every_source_twice_and_are_crlf_with_unique_ids():
    assert len(SAMPLE_FILES) >= 40
    counts = {}
    ids = set()
    for path in SAMPLE_FILES:
        counts[path.parent.name] = counts.get(path.parent.name, 0) + 1
        raw = path.read_bytes()
        assert b"\n" not in raw.replace(b"\r\n", b""), f"{path}: bare LF"
        mid = parse_mail(raw).message_id
        assert mid and mid not in ids, f"{path}: Message-ID {mid} missing or repeated"
        ids.add(mid)
    assert set(counts) == set(FOLDER_PARSER)
    assert min(counts.values()) >= 2, counts
    assert counts["nonlead"] >= 4


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
    assert (ex.parser, ex.source) == ("referral", "Direct")
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
    assert ex.source == "Direct"
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


def test_a_real_estate_adf_names_the_home_and_its_price():
    m = mail("From: adf@leads.portal.example\nTo: leads@brokerage.example\nSubject: x", "hello")
    doc = ('<adf><prospect><customer><contact><name part="full">Ray Mbeki</name></contact>'
           '</customer><property><address>1408 Ashbury Ln</address><city>Matthews</city>'
           '<state>NC</state><zip>28105</zip><price>529000</price><mls>CAR4201188</mls>'
           '</property></prospect></adf>')
    ex = parse_adf(doc, m, CTX)
    assert ex.property_address == "1408 Ashbury Ln, Matthews, NC 28105"
    assert ex.price == "529000"


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


# --- new providers -----------------------------------------------------------------------------


def test_opcity_concierge_is_never_the_client():
    ex = extract(sample("opcity/buyer_referral_multipart.eml"), CTX)
    assert (ex.source, ex.full_name, ex.phone) == ("Opcity", "Priya Raman", "+15125550111")
    assert ex.custom_fields["lead_id"] == "5125550199"
    assert "Jamie" not in str(ex.custom_fields)


def test_opcity_mail_is_not_read_as_realtor_com():
    m = mail("From: Opcity <no-reply@opcity.com>\nTo: leads@brokerage.example\n"
             "Subject: Opcity referral accepted: Seller - Al Diaz",
             "Client: Al Diaz\nMobile: 512-555-0145\nClient Type: Seller\n"
             "Home Address: 1 Elm St, Austin, TX 78701\n")
    ex = extract(m, CTX)
    assert (ex.source, ex.segment) == ("Opcity", "Seller")
    assert ex.address == ex.property_address == "1 Elm St, Austin, TX 78701"


def test_homelight_staff_phone_and_email_are_skipped():
    m = mail("From: HomeLight <referrals@homelight.com>\nTo: leads@brokerage.example\n"
             "Subject: New HomeLight buyer referral - Bo Lin",
             "Client Type: Buyer\nYour HomeLight contact: Rachel Kim, (415) 555-0130, "
             "rachel.kim@homelight.com\nName: Bo Lin\n")
    ex = extract(m, CTX)
    assert (ex.source, ex.full_name, ex.segment) == ("HomeLight", "Bo Lin", "Buyer")
    assert ex.phone is None and ex.email is None


def test_craigslist_relay_address_is_not_the_lead():
    ex = extract(sample("craigslist/apartment_reply_relay.eml"), CTX)
    assert (ex.parser, ex.full_name, ex.email) == ("craigslist", "Dana Wu", None)
    assert (ex.phone, ex.price, ex.segment) == ("+15125550123", "$1,850", None)
    assert "craigslist.org" not in (ex.message or "")
    ex = extract(sample("craigslist/house_for_sale_reply.eml"), CTX)
    assert (ex.email, ex.confidence["email"]) == ("marcus.bell@example.net", 0.95)
    assert ex.segment == "Buyer"


def test_lendingtree_purchase_and_refinance():
    ex = extract(sample("lendingtree/purchase_lead.eml"), CTX)
    assert (ex.source, ex.segment, ex.phone) == ("LendingTree", "Buyer", "+15125550126")
    assert ex.custom_fields["property_city"] == "Round Rock"
    assert "lender_support" not in ex.custom_fields  # the provider's help line is no lead fact
    ex = extract(sample("lendingtree/refinance_base64.eml"), CTX)
    assert ex.segment is None
    # the home a policy or a loan is on: their address, no listing
    assert (ex.address, ex.property_address) == ("5312 Avenue F, Austin, TX 78751", None)


def test_everquote_vehicle_is_the_property_and_segment_is_customer():
    ex = extract(sample("everquote/auto_insurance.eml"), CTX)
    assert (ex.source, ex.property_address, ex.segment) == (
        "EverQuote", "2019 Toyota RAV4 XLE", None)
    assert ex.email == "trevor.hughes@example.com"  # not the support Reply-To


def test_google_ads_claims_are_precise():
    google = get("Google Ads")
    # A person mentioning Google Ads is no lead form; nor is a Zapier mail without Google's ids.
    chat = mail("From: Al <al@example.com>\nTo: leads@brokerage.example\nSubject: saw your ad",
                "I clicked your Google Ads link about a lead form. Name: Al\n")
    assert not google.claims(chat)
    fb = mail("From: Zapier <no-reply@zapiermail.com>\nTo: leads@brokerage.example\n"
              "Subject: New Facebook Lead Ads lead",
              "full_name: Al Ruiz\nphone_number: 5125550193\n")
    assert not google.claims(fb)
    assert extract(fb, CTX).source == "Facebook"
    for name in ("google_ads/zapier_column_ids.eml", "google_ads/webhook_json.eml"):
        assert google.claims(sample(name))


def test_google_ads_webhook_reads_questions_by_their_wording():
    ex = extract(sample("google_ads/webhook_json.eml"), CTX)
    assert (ex.full_name, ex.phone, ex.price) == ("Dmitri Volkov", "+15125550117",
                                                  "$450,000 - $500,000")
    assert ex.custom_fields["pre_approved"] == "Yes"
    assert ex.confidence["phone"] == 1.0


# --- non-leads from providers ------------------------------------------------------------------


def test_provider_newsletter_about_leads_is_not_a_lead():
    ex = extract(sample("nonlead/provider_newsletter.eml"), CTX)
    assert not ex.is_lead
    assert ex.not_lead_reason == "newsletter (List-Unsubscribe, Precedence: bulk)"


def test_provider_account_mail_is_not_a_lead():
    ex = extract(sample("nonlead/password_reset.eml"), CTX)
    assert ex.not_lead_reason == "account mail (subject: Reset your realtor.com password)"
    # A person's own mail about a password is not account mail.
    m = mail("From: Jo Park <jo.park@example.com>\nTo: leads@brokerage.example\n"
             "Subject: reset your password?", "Hi, I can't log in to see the listing.\n")
    assert non_lead_reason(m) is None


# --- confidence and NLP cost -------------------------------------------------------------------


def test_direct_without_any_contact_is_reported_with_low_confidence():
    ex = extract(sample("chat/no_contact_chat.eml"), CTX)
    assert (ex.is_lead, ex.full_name, ex.email, ex.phone) == (True, None, None, None)
    assert {ex.confidence[k] for k in ("full_name", "email", "phone")} == {0.0}
    assert max(ex.confidence.values()) <= 0.2
    assert "no-contact" in ex.tags


def test_confidence_scale_by_evidence():
    ex = extract(sample("direct/plain_inquiry.eml"), CTX)
    assert (ex.confidence["email"], ex.confidence["phone"]) == (0.95, 0.8)
    ex = extract(sample("trulia/tour_request_base64.eml"), CTX)
    assert (ex.confidence["phone"], ex.confidence["full_name"]) == (1.0, 0.9)


def test_structured_parsers_never_call_ner(monkeypatch):
    from leadmail.parsers import nlp

    calls = []
    real = nlp.ner_names
    monkeypatch.setattr(nlp, "ner_names", lambda *a, **k: calls.append(1) or real(*a, **k))
    free_text = {"nlp", "referral", "craigslist"}
    for path in SAMPLE_FILES:
        before = len(calls)
        ex = extract(parse_mail(path.read_bytes()), CTX)
        if ex.parser not in free_text:
            assert len(calls) == before, f"{path} ({ex.parser}) ran NER"
    # Free text whose writer's name is already known (From display name) skips NER too.
    before = len(calls)
    extract(sample("direct/plain_inquiry.eml"), CTX)
    assert len(calls) == before
    extract(sample("direct/unsigned_sender_question.eml"), CTX)
    assert len(calls) == before + 1
    # A chat transcript is read as the notification it is: the visitor's name is its speaker.
    extract(sample("chat/site_chat_with_contact.eml"), CTX)
    assert len(calls) == before + 1


@pytest.mark.parametrize(("subject", "body", "held"), [
    ("Hello", "A text section\nAn HTML section", True),
    ("Invoice 2231", "Thank you for booking with us. Your total was charged.", True),
    ("Question", "Is the house on Elm St still for sale?", False),
    ("hi", "please call 512-555-0177 tonight", False),
])
def test_direct_without_inquiry_or_phone_is_held_for_review(subject: str, body: str,
                                                            held: bool) -> None:
    # Issue 11: a person's own mail to the leads address is never silently a non-lead. One
    # that asks for nothing and leaves no phone is a lead held for review, with the reason
    # (it used to be is_lead=False, "free-form mail with no phone and no inquiry").
    from leadmail.parsers import extract
    from leadmail.parsers.base import ParseContext
    from leadmail.parsers.mime import parse_mail

    raw = (f"From: Sam Writer <sam@example.org>\r\nTo: leads@brokerage.example\r\n"
           f"Subject: {subject}\r\nMessage-ID: <d-{subject}@x>\r\n\r\n{body}\r\n").encode()
    ex = extract(parse_mail(raw), ParseContext())
    assert ex.is_lead is True
    assert ("no inquiry" in (ex.trace.get("review") or "")) is held
    if held:
        assert ex.confidence["email"] < 0.5 and "needs-review" in ex.tags


def test_robot_mail_without_lead_data_is_automated_non_lead() -> None:
    from leadmail.parsers import extract
    from leadmail.parsers.base import ParseContext
    from leadmail.parsers.mime import parse_mail

    raw = (b"From: Booking <no-reply@hotel.example>\r\nTo: leads@brokerage.example\r\n"
           b"Subject: Invoice 2231\r\n\r\nThank you for booking with us.\r\n")
    ex = extract(parse_mail(raw), ParseContext())
    assert ex.is_lead is False and "automated mail" in (ex.not_lead_reason or "")


def test_google_ads_lead_form_mail_named_only_by_its_sender() -> None:
    msg = EmailMessage()
    msg["From"], msg["To"] = "Google Ads <ads-noreply@google.com>", "leads@brokerage.example"
    msg["Subject"] = "New lead from your lead form: Spring Tune-Up"
    msg.set_content("You have 1 new lead from your lead form\n\nLead form: Spring Tune-Up\n\n"
                    "Full name: Omar Reyes\nPhone number: +1 470-555-0133\n"
                    "Email: omar.reyes@example.com\n")
    ex = parsers.extract(parse_mail(msg.as_bytes()), ParseContext())
    assert (ex.source, ex.parser) == ("Google Ads", "google_ads")


def test_a_homes_adf_is_its_providers_lead_and_a_cars_stays_adf() -> None:
    def adf(item: str) -> bytes:
        msg = EmailMessage()
        msg["From"], msg["To"] = "Leads <leads@leadrouter.example>", "leads@brokerage.example"
        msg["Subject"] = "New lead"
        msg.set_content("A new lead is attached.")
        doc = ("<?xml version=\"1.0\"?><adf><prospect>"
               f"<requestdate>2026-04-01T10:00:00</requestdate>{item}"
               "<customer><contact><name part=\"full\">Rosa Diaz</name>"
               "<email>rosa.diaz@example.com</email></contact></customer>"
               "<provider><name part=\"full\">HomeFinder Pro</name></provider></prospect></adf>")
        msg.add_attachment(doc.encode(), maintype="application", subtype="xml",
                           filename="lead.xml")
        return msg.as_bytes()

    home = extract(parse_mail(adf("<property><address><street>88 Birch Ln</street>"
                                  "<city>Boise</city><regioncode>ID</regioncode>"
                                  "<postalcode>83702</postalcode></address></property>")),
                   ParseContext())
    assert (home.source, home.property_address) == ("HomeFinder Pro",
                                                    "88 Birch Ln, Boise, ID 83702")
    car = extract(parse_mail(adf("<vehicle interest=\"buy\"><year>2024</year>"
                                 "<make>Chevrolet</make><model>Silverado 1500</model>"
                                 "<trim>LT Trail Boss</trim></vehicle>")), ParseContext())
    assert (car.source, car.property_address) == ("ADF",
                                                  "2024 Chevrolet Silverado 1500 LT Trail Boss")


def _alternative(sender: str, subject: str, plain: str, html: str) -> bytes:
    """A multipart/alternative mail of a plain part and an HTML part."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "leads@brokerage.example", subject
    msg.set_content(plain)
    msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


def test_a_stub_plain_part_gives_way_to_its_html_alternative() -> None:
    raw = _alternative("Forms <notifications@forms.example>",
                       "New response: Free Consultation Request",
                       "New response to Free Consultation Request. View in Forms.",
                       "<p><b>What's your name?</b><br>Walter Crane</p>"
                       "<p><b>What's your email address?</b><br>walter.crane@example.com</p>"
                       "<p><b>And your phone number?</b><br>+1 512 555 0104</p>"
                       "<p><b>How can we help?</b><br>I was rear-ended on I-35 last month and "
                       "the other driver's insurer will not pay.</p>")
    mail = parse_mail(raw)
    assert "walter.crane@example.com" in mail.text
    assert extract(mail, ParseContext()).email == "walter.crane@example.com"


def test_a_plain_part_with_its_rows_run_together_gives_way_to_the_html() -> None:
    raw = _alternative("Portal <leads@portal.example>", "New lead - 918 Juniper St",
                       "You have a new lead!\nProperty: 918 Juniper St, Denver, CO 80220\n"
                       "List Price: $625,000 Name: Hannah Brooks Phone: (720) 555-0158 Email: "
                       "hbrooks@example.com Comments:\nCan we see it Saturday?\n",
                       "<table><tr><td><b>Property:</b> 918 Juniper St, Denver, CO 80220</td>"
                       "</tr><tr><td><b>List Price:</b> $625,000</td></tr>"
                       "<tr><td><b>Name:</b></td><td>Hannah Brooks</td></tr>"
                       "<tr><td><b>Phone:</b></td><td>(720) 555-0158</td></tr>"
                       "<tr><td><b>Email:</b></td><td>hbrooks@example.com</td></tr>"
                       "<tr><td><b>Comments:</b><br>Can we see it Saturday?</td></tr></table>")
    ex = extract(parse_mail(raw), ParseContext())
    assert (ex.email, ex.phone) == ("hbrooks@example.com", "+17205550158")
    assert ex.full_name == "Hannah Brooks"
    assert ex.price == "$625,000" and ex.message == "Can we see it Saturday?"
