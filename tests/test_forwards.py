"""Forwards unwrapped: attached messages (message/rfc822), Outlook header blocks with no rule
line above them (also localized), nested forwards. The forwarder is never the lead, and the
inner mail's provider is the source."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from leadmail import parsers
from leadmail.parsers.base import ParseContext
from leadmail.parsers.mime import parse_mail
from leadmail.parsers.referral import marker

CTX = ParseContext(agent_emails=frozenset({"ana@brokerage.example"}),
                   agent_names=frozenset({"ana agent"}))
ZILLOW = (Path(__file__).parent.parent / "samples/zillow/contact_request_text.eml").read_bytes()
NOTE = "Can someone take this one? I'm out today.\n\nBen Broker\n(512) 555-0177\n"


def _outer(body: str, attach: bytes | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"] = "Ben Broker <ben@brokerage.example>", "leads@brokerage.example"
    msg["Subject"] = "FW: New Contact"
    msg.set_content(body)
    if attach is not None:
        msg.add_attachment(attach, maintype="message", subtype="rfc822",
                           filename="New Contact.eml")
    return msg.as_bytes()


def _zillow_text() -> str:
    return ZILLOW.decode().replace("\r\n", "\n").split("\n\n", 1)[1]


def _check_zillow(ex) -> None:
    assert ex.source == "Zillow"
    assert (ex.full_name or f"{ex.first_name} {ex.last_name}") == "Maria Lopez"
    assert ex.email == "maria.lopez@example.com" and ex.phone == "+15125550143"
    assert ex.custom_fields["forwarded_by"] == "ben@brokerage.example"
    assert "forwarded" in ex.tags


def test_attached_message_is_unwrapped_and_keeps_its_provider() -> None:
    ex = parsers.extract(parse_mail(_outer(NOTE, ZILLOW)), CTX)
    _check_zillow(ex)
    assert ex.custom_fields["referral_note"].startswith("Can someone take this one?")


def test_outlook_block_without_a_rule_line() -> None:
    body = (NOTE + "\nFrom: Zillow <premieragent-noreply@zillow.com>\n"
            "Sent: Tuesday, March 4, 2025 9:14 AM\nTo: Ben Broker <ben@brokerage.example>\n"
            "Subject: New Contact: Maria Lopez\n\n" + _zillow_text())
    assert marker(body) is not None
    _check_zillow(parsers.extract(parse_mail(_outer(body)), CTX))


def test_localized_outlook_block() -> None:
    body = (NOTE + "\nVon: Zillow <premieragent-noreply@zillow.com>\n"
            "Gesendet: Dienstag, 4. März 2025 09:14\nAn: Ben Broker <ben@brokerage.example>\n"
            "Betreff: New Contact: Maria Lopez\n\n" + _zillow_text())
    _check_zillow(parsers.extract(parse_mail(_outer(body)), CTX))


def test_spanish_outlook_block_whose_sent_line_reads_enviado_el() -> None:
    body = (NOTE + "\nDe: Zillow <premieragent-noreply@zillow.com>\n"
            "Enviado el: martes, 4 de marzo de 2025 9:14\nPara: Ben Broker <ben@brokerage.example>"
            "\nAsunto: New Contact: Maria Lopez\n\n" + _zillow_text())
    _check_zillow(parsers.extract(parse_mail(_outer(body)), CTX))


def test_french_outlook_block_with_a_space_before_each_colon() -> None:
    body = (NOTE + "\nDe : Zillow <premieragent-noreply@zillow.com>\n"
            "Envoyé : mardi 4 mars 2025 09:14\nÀ : Ben Broker <ben@brokerage.example>\n"
            "Objet : New Contact: Maria Lopez\n\n" + _zillow_text())
    _check_zillow(parsers.extract(parse_mail(_outer(body)), CTX))


def test_a_form_with_from_and_date_labels_is_no_forward() -> None:
    assert marker("Name: Jo Lee\nFrom: website\nDate: 2025-03-04\nPhone: 512-555-0101") is None


def test_nested_forward_text_block_around_an_attached_message() -> None:
    inner = parse_mail(_outer("Please log this.\n\nDerek Sims\n(512) 555-0188\n", ZILLOW))
    assert inner.attachments
    middle = EmailMessage()
    middle["From"], middle["To"] = "Derek Sims <derek@brokerage.example>", "ben@brokerage.example"
    middle["Subject"] = "FW: New Contact"
    middle.set_content("Please log this.\n\nDerek Sims\n(512) 555-0188\n")
    middle.add_attachment(ZILLOW, maintype="message", subtype="rfc822", filename="lead.eml")
    ex = parsers.extract(parse_mail(_outer(NOTE, middle.as_bytes())), CTX)
    _check_zillow(ex)
    assert ex.phone not in ("+15125550188", "+15125550177")
    assert "derek@brokerage.example" in ex.trace["forward"]["forwarders"]


def test_forwarder_of_a_persons_mail_is_not_the_lead() -> None:
    body = (NOTE + "\n---------- Forwarded message ---------\n"
            "From: Harold Nguyen <hal@example.net>\nDate: Mon, Mar 3, 2025\n"
            "Subject: House on Ridgeview\nTo: Ben <ben@brokerage.example>\n\n"
            "Hi Ben, is 4107 Ridgeview Dr still for sale? Call me at 512-555-0150.\n\nHarold\n")
    ex = parsers.extract(parse_mail(_outer(body)), CTX)
    assert ex.email == "hal@example.net" and ex.phone == "+15125550150"
    assert ex.source == "Direct" and "forwarded" in ex.tags
