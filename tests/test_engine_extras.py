"""Field-engine extras (issue 11): labels in any script, a portal's country for national
phone numbers, ids in other languages never read as phones, the text a notification prints
after the person's message."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from leadmail import normalize, parsers
from leadmail.parsers import fields, sender_region
from leadmail.parsers.base import ParseContext
from leadmail.parsers.common import mask_ids, segment_hint
from leadmail.parsers.fields import tidy_message
from leadmail.parsers.mime import parse_mail


def _read(sender: str, body: str):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "leads@brokerage.example", "Anfrage"
    msg.set_content(body)
    return parsers.extract(parse_mail(msg.as_bytes()), ParseContext())


def test_sender_country_names_the_phone_region() -> None:
    assert sender_region("kontakt@immobilienscout24.de") == "DE"
    assert sender_region("enquiries@rightmove.co.uk") == "GB"
    assert sender_region("x@zapimoveis.com.br") == "BR"
    assert sender_region("x@site.io") is None and sender_region("x@zillow.com") is None
    ex = _read("Portal <kontakt@portal.de>",
               "Name: Jonas Weber\nE-Mail: jonas@example.de\nTelefon: 0151 55501470\n")
    assert ex.phone == "+4915155501470"


def test_non_ascii_labels_are_labels() -> None:
    ex = _read("Portal <aviso@portal.es>",
               "Nombre: Lucía Fernández\nCorreo electrónico: lucia@example.es\n"
               "Teléfono: +34 655 501 420\n")
    assert ex.email == "lucia@example.es" and ex.phone == "+34655501420"


def test_ids_in_other_languages_are_masked() -> None:
    for line in ("Código do anúncio: 2718336451", "Referencia del anuncio: 1093384572",
                 "Scout-ID: 152837465"):
        assert not any(ch.isdigit() for ch in mask_ids(line).partition(":")[2]), line


def test_reply_instructions_and_footers_after_a_message_are_cut() -> None:
    text = ("Is the loft boarded?\n\nAnd is there a chain?\n\n"
            "To reply to the applicant, reply to this email.\n\nRightmove Group Limited, 2 Park")
    assert tidy_message(text) == "Is the loft boarded?\n\nAnd is there a chain?"
    assert tidy_message("Pour moi c'est bien.\n\nPour répondre, répondez.") == \
        "Pour moi c'est bien."


@pytest.mark.parametrize("trailer", [
    "Call this customer as soon as possible - the first pro to call wins more jobs.",
    "Please reach out within 1 business day and log your first contact in the portal.",
    "Your Zillow Home Loans loan officer: Kyle Brandt, (208) 555-0114",
    "Voir dans la boîte de réception",
    "Afficher les réponses dans Google Forms : https://docs.google.com/forms/d/x/edit",
])
def test_what_the_notification_tells_the_agent_after_a_message_is_cut(trailer: str) -> None:
    assert tidy_message(f"Need 3 bedrooms and a garage.\n\n{trailer}") == \
        "Need 3 bedrooms and a garage."


def test_a_second_paragraph_of_the_persons_own_is_kept() -> None:
    text = "Need 3 bedrooms.\n\nPlease call me after 5pm, my agent: none yet."
    assert tidy_message(text) == text


def test_city_state_zip_rows_join_the_street_row_above_them() -> None:
    ex = _read("Unbounce <notifications@unbounce.com>",
               "New lead\n\nfirst_name: Terrence\nlast_name: Boyd\nemail: tb@example.net\n"
               "property_address: 2914 Maple Grove Rd\ncity: Durham\nstate: NC\nzip: 27707\n")
    assert ex.property_address == "2914 Maple Grove Rd, Durham, NC 27707"
    assert not ex.address


def test_a_labelled_street_continues_on_the_city_line_under_it() -> None:
    ex = _read("Compass <no-reply@compass.com>",
               "Name: Nathaniel Greer\nEmail: ng@example.com\nPhone: (212) 555-0134\n\n"
               "Listing: 245 East 72nd Street, Unit 9C\nNew York, NY 10021\n")
    assert ex.property_address == "245 East 72nd Street, Unit 9C, New York, NY 10021"


_PAPERFORM = ("Full name\nNgozi Eze\n\nEmail address\nne@example.com\n\nCurrent address\n"
              "908 Linden Ave\n{rows}\nMonthly budget\nUp to $2,600\n")


@pytest.mark.parametrize(("sender", "body", "address"), [
    ("Rightmove <enquiries@rightmove.co.uk>",
     "Name: Harriet Pemberton\nEmail: hp@example.co.uk\n\nAddress: 22 Gloucester Road\n"
     "Bristol\nBS7 8AB\n\nPosition: First time buyer\n", "22 Gloucester Road, Bristol, BS7 8AB"),
    ("Paperform <no-reply@paperform.co>", _PAPERFORM.format(rows="Oak Park\nIL\n60302\n"),
     "908 Linden Ave, Oak Park, IL 60302"),
    # rows that end in no postcode are no part of the address
    ("Paperform <no-reply@paperform.co>", _PAPERFORM.format(rows="Oak Park\n"),
     "908 Linden Ave"),
])
def test_an_address_set_out_over_rows_is_joined_up_to_its_postcode(
        sender: str, body: str, address: str) -> None:
    assert _read(sender, body).address == address


def test_a_listing_name_before_its_street_is_no_part_of_the_address() -> None:
    from leadmail.parsers.fields import named_listing

    assert named_listing("Eastside Flats, 1401 E 6th St, Austin, TX 78702") == \
        "1401 E 6th St, Austin, TX 78702"
    assert named_listing("Flat 3, 27 Hartington Road, Manchester, M21 8UZ") is None
    assert named_listing("Beech House, 41 Otley Road, Harrogate, HG2 0DJ") is None


def test_a_unit_before_the_house_number_goes_after_the_street() -> None:
    from leadmail.parsers.fields import street_of

    assert street_of("2305 - 88 Harbour St") == "88 Harbour St #2305"
    assert street_of("88 Harbour St") == "88 Harbour St"


def test_dot_leader_rows_and_question_answer_lines_are_pairs() -> None:
    from leadmail.parsers.text import form_pairs

    pairs = dict(form_pairs("Name ............ Gabriel Moreno\nPrice range ..... $350,000 - "
                            "$425,000\nWhat is your budget? $500,000 - $600,000\n"
                            "Is it still available? I'd love to see it this weekend."))
    assert pairs["name"] == "Gabriel Moreno"
    assert pairs["price range"] == "$350,000 - $425,000"
    assert pairs["what is your budget"] == "$500,000 - $600,000"
    assert "is it still available" not in pairs  # a sentence is no form answer


def test_table_header_row_is_no_field_and_note_from_is_a_message() -> None:
    ex = _read("Jotform <noreply@jotform.com>",
               "Request a Showing\n\nQuestion: Answer\n\nName: Rahul Desai\n\n"
               "E-mail: rahul@example.com\n\nPhone Number: (216) 555-0151\n\n"
               "Questions or Comments: Does the basement get any water?\n")
    assert ex.message == "Does the basement get any water?"
    ex = _read("Zillow <premieragent@mail.zillow.com>",
               "Contact\n\nKendra Liu\n\nPhone\n\n(512) 555-0178\n\nEmail\n\nkendra@example.net"
               "\n\nNote from Kendra\n\nCan we also see the pool?\n")
    assert ex.message == "Can we also see the pool?"


def test_a_time_zone_is_no_street() -> None:
    ex = _read("LendingTree <noreply@leads.lendingtree.com>",
               "Date Submitted .... 03/27/2025 06:52 PM CT\nFirst Name: Darnell\n"
               "Last Name: Hughes\nEmail: dh@example.com\nPrimary Phone: (512) 555-0104\n")
    assert ex.property_address is None


def test_a_price_after_the_listing_address_is_the_price() -> None:
    ex = _read("Summit Ridge Homes <wordpress@summitridgehomes.example>",
               "Name: Brianna Walsh\nEmail: bw@example.com\nPhone: 208 555 0109\n\n"
               "Listing: 1607 Juniper Ct, Boise, ID 83702 - $489,900\n")
    assert ex.property_address == "1607 Juniper Ct, Boise, ID 83702"
    assert str(ex.price) == "$489,900"


def _read_subject(sender: str, subject: str, body: str):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "leads@brokerage.example", subject
    msg.set_content(body)
    return parsers.extract(parse_mail(msg.as_bytes()), ParseContext())


@pytest.mark.parametrize(("answer", "segment"), [
    ("Interest: Selling", "Seller"), ("What are you looking for?: Buying", "Buyer"),
    ("Loan type: Refinance (cash-out)", None), ("Intérêt : Vendre", "Seller"),
    ("How can we help?: Property management", None),
    ("Address of the property you'd like to sell: 2906 Pinewood Ter, Austin, TX", "Seller"),
])
def test_a_form_answer_about_what_the_person_wants_decides_the_segment(answer, segment) -> None:
    ex = _read("Site Forms <no-reply@forms.example>",
               "Name: Hannah Lindqvist\nEmail: hannah@example.com\nPhone: 612 555 0125\n"
               f"{answer}\nMove-in date: ASAP\n"
               "Property address: 4620 Xerxes Ave S, Minneapolis, MN 55410\n")
    assert ex.segment == segment


def test_an_insurance_form_is_a_customer_at_their_own_home() -> None:
    ex = _read_subject("Forms <noreply@forms.example>", "Home Insurance Quote Request",
                       "Name: Olivia Brennan\nEmail: olivia@example.org\nPhone: 919 555 0154\n"
                       "Property Address: 6021 Falls of Neuse Rd, Raleigh, NC 27609\n"
                       "Message: We just closed and need a policy bound by the 28th.\n")
    assert ex.segment is None
    # the home a policy or a loan is on: their address, no listing
    assert (ex.address, ex.property_address) == ("6021 Falls of Neuse Rd, Raleigh, NC 27609", None)


def test_a_seller_heading_above_the_labels_makes_a_seller() -> None:
    ex = _read("Partner Desk <partners@portal.example>",
               "New seller referral\n\nSeller: Ramon Ibarra\nPhone: (602) 555-0138\n"
               "Email: ramon@example.net\nProperty: 2207 Willow Bend Dr, Phoenix, AZ 85016\n")
    assert ex.segment == "Seller"


@pytest.mark.parametrize("line", [
    "Listed at $374,500", "Property Inquiry: 10455 Scenic Ridge Ave, Las Vegas, NV 89135 "
    "($374,500)", "Viewed: 3821 E Palo Verde St, Gilbert, AZ 85296 · $374,500",
])
def test_a_listing_price_in_a_notification_line_is_the_price(line) -> None:
    ex = _read("Portal Leads <leads@portal.example>",
               f"Name: Brianna Castillo\nEmail: bc@example.com\nPhone: 480 555 0111\n{line}\n")
    assert int(str(ex.price).replace("$", "").replace(",", "")) == 374500


def test_rent_per_week_and_rand_are_prices() -> None:
    from leadmail.parsers.fields import price_candidates, price_value
    assert price_value("R 6 950 000") == 6950000
    found = price_candidates(["12 Walpole Street, Kew VIC 3101 - $780 per week"], 1, False)
    assert found and found[0].value in ("780", "$780")


def test_an_invoice_number_is_no_phone() -> None:
    assert "2026" not in mask_ids("Invoice #: INV-2026-118204")
    assert "5125550143" not in mask_ids("Account number: 5125550143")
    assert mask_ids("Call 512-555-0143") == "Call 512-555-0143"


def test_consent_lines_and_a_heading_are_no_message() -> None:
    assert tidy_message("Can we close fast?\nI agree to receive other communications from "
                        "Harbor Point Realty.: Checked") == "Can we close fast?"
    assert tidy_message("Can we see it?\nSign me up for new listing alerts: Unchecked") == \
        "Can we see it?"
    assert tidy_message("Homeowner comments\nRoof was replaced in 2022.") == \
        "Roof was replaced in 2022."
    assert tidy_message("MESSAGE\n----------\nCould we see it Thursday?") == \
        "Could we see it Thursday?"
    assert tidy_message("Good to go.\n\nPlease contact the customer to arrange an "
                        "appointment.") == "Good to go."


@pytest.mark.parametrize(("sender", "body", "expected"), [
    # a signature that extends the display name gives the full name; a place for rent
    ("María José Gutiérrez <mj@example.com>",
     "Me interesa el departamento en renta en 2100 Guadalupe St #310, Austin, TX 78705. "
     "¿Sigue disponible?\n\nMi teléfono es (512) 555-0188.\n\nSaludos,\n"
     "María José Gutiérrez Salinas\n",
     {"full_name": "María José Gutiérrez Salinas", "segment": None}),
    # a French seller's own mail names the home they live in
    ("Étienne Lavoie <etienne.lavoie@example.org>",
     "Bonjour,\n\nNous habitons au 4520 Rue Saint-Denis, Montréal, QC H2J 2L3 depuis douze "
     "ans et nous aimerions vendre la maison.\n\nVous pouvez me joindre au +1 514 555 0124.\n",
     {"segment": "Seller", "address": "4520 Rue Saint-Denis, Montréal, QC H2J 2L3",
      "property_address": "4520 Rue Saint-Denis, Montréal, QC H2J 2L3"}),
])
def test_a_persons_own_mail(sender, body, expected) -> None:
    ex = _read_subject(sender, "Consulta", body)
    assert {k: getattr(ex, k) for k in expected} == expected


def test_a_craigslist_reply_reads_the_posting_it_answers() -> None:
    ex = _read_subject("Rosa Delgado <4f9d2e7a1b8c3f5d9a2e6c@hous.craigslist.org>",
                       "2br house with yard (1620 Elm St)",
                       "Is it still available? My number is 775-555-0124.\n\nThanks,\nRosa\n\n"
                       + "-" * 72 + "\noriginal craigslist post:\n"
                       "https://reno.craigslist.org/apa/d/reno-2br-house/7791023312.html\n"
                       "$1850 / 2br - 1100ft2 - 2br house with yard (1620 Elm St, Reno, NV "
                       "89503)\n")
    assert ex.property_address == "1620 Elm St, Reno, NV 89503"
    assert int(str(ex.price).replace("$", "").replace(",", "")) == 1850


@pytest.mark.parametrize(("line", "street"), [
    ("4520 Rue Saint-Denis, Montréal, QC H2J 2L3", "4520 Rue Saint-Denis, Montréal, QC H2J 2L3"),
    ("Calle de Ponzano 42, Madrid, 28003", "Calle de Ponzano 42, Madrid, 28003"),
    ("Rua de Santa Catarina 310, Porto, 4000-442", "Rua de Santa Catarina 310, Porto, 4000-442"),
])
def test_a_european_or_canadian_street_keeps_its_town_and_postcode(line, street) -> None:
    from leadmail.parsers.fields import street_of
    assert street_of(line) == street



def test_a_stacked_forms_label_is_no_part_of_the_answer_under_it() -> None:
    ex = _read_subject("Forms <notify@forms.example>", "New entry: Viewing request",
                       "New entry for Viewing request\n\nYour name\nOrla Byrne\n\nEmail\n"
                       "orla.b@example.org\n\nPhone\n(303) 555-0121\n\nMove-in month\nMarch\n\n"
                       "Anything we should know before the viewing?\ntwo bikes, no car\n")
    assert ex.message == "two bikes, no car"


@pytest.mark.parametrize("tail", [
    "Submitted at Feb 2, 2027, 9:05 AM EST", "utm_source: instagram",
    "Please contact Tomas within 30 minutes and log the call."])
def test_form_metadata_and_instructions_after_the_message_are_cut(tail: str) -> None:
    assert tidy_message(f"Is the garage heated?\n\n{tail}") == "Is the garage heated?"


@pytest.mark.parametrize("notice", [
    "View all responses · Open spreadsheet",
    "The customer has been presented with a price certificate. Log in to the Dealer Portal.",
    "You've got a new lead from your landing page \"Spring Valuation\".",
    "You can also reply directly to this email. Your reply will be sent through Houzz.",
    "Lead added to your AgentFire Lead Manager.",
    "This consumer has consented to be contacted. Please refer to your Lender Agreement."])
def test_a_providers_notice_where_the_message_goes_is_no_message(notice: str) -> None:
    assert tidy_message(notice) == ""


@pytest.mark.parametrize(("row", "vehicle"), [
    ("Vehicle: Used 2021 Mazda CX-5 Touring", "2021 Mazda CX-5 Touring"),
    ("Vehicle: 2023 Kia Telluride EX (New)", "2023 Kia Telluride EX"),
    ("Vehicle: 2020 Ford F-150 XLT VIN 1FTEW1EP5LFA12345", "2020 Ford F-150 XLT"),
])
def test_a_vehicle_without_its_condition_and_identifiers(row: str, vehicle: str) -> None:
    ex = _read("Autos <leads@autos.example>",
               f"Name: Pita Havili\nEmail: pita@example.com\nPhone: 801 555 0166\n{row}\n")
    assert ex.property_address == vehicle


def test_a_listing_title_and_the_facts_after_its_street_are_no_part_of_it() -> None:
    ex = _read("Portal <contato@portal.example>",
               "Nome: Ana Ruiz\nE-mail: ana@example.com.br\nTelefone: 11 95555 0190\n"
               "Imóvel: Casa à venda, Rua Augusta 900, Consolação, São Paulo - SP, 01304-001\n")
    assert ex.property_address == "Rua Augusta 900, Consolação, São Paulo - SP, 01304-001"
    ex = _read("Portail <contact@portail.example>",
               "Nom : Luc Martin\nEmail : luc@example.fr\nTéléphone : 06 55 50 14 20\n"
               "Bien : 4 rue Vauban, 67000 Strasbourg – 320 000 € – Réf. STR-118\n")
    assert ex.property_address == "4 rue Vauban, 67000 Strasbourg"
    assert str(ex.price).replace(" ", "").rstrip("€") == "320000"


def test_a_town_given_again_after_the_whole_address_is_left_out() -> None:
    ex = _read("Ads <ads@relay.example>",
               "Full name: Kofi Mensah\nEmail: kofi@example.com\nPhone: 512 555 0177\n"
               "Property address: 88 Elm Row, Kyle, TX 78640\nCity: Kyle\n")
    assert ex.property_address == "88 Elm Row, Kyle, TX 78640"


def test_a_sub_field_label_inside_a_rows_value_is_no_part_of_it() -> None:
    ex = _read("Forms <notify@forms.example>",
               "Name: First Name: Ingrid\n\nLast Name: Solberg\n\nEmail: ingrid@example.no\n\n"
               "Phone: (206) 555-0188\n")
    assert (ex.first_name, ex.last_name) == ("Ingrid", "Solberg")


@pytest.mark.parametrize(("row", "price"), [
    ("Listed rent: $2,050 - $2,200", "2200"), ("Maximum budget: 410000", "410000")])
def test_a_qualified_price_label_is_the_price(row: str, price: str) -> None:
    ex = _read("Forms <notify@forms.example>",
               f"Name: Rhea Kapoor\nEmail: rhea@example.com\nPhone: 312 555 0101\n{row}\n")
    assert price in str(ex.price).replace(",", "") or ex.price == int(price)


@pytest.mark.parametrize(("body", "price"), [
    ("Buongiorno, il prezzo di 389.000 dollari è trattabile? Vorrei vederla.", 389000),
    ("Hoi, is de huur van $2.750 per maand nog actueel? Wij willen graag kijken.", 2750),
    ("Olá, procuro um apartamento até US$ 350 mil em Miami. Pode me ligar?", 350000),
])
def test_a_price_in_a_persons_words_in_other_languages(body: str, price: int) -> None:
    from leadmail.parsers.fields import best, price_candidates
    win = best(price_candidates([body], 1, free_text=True))
    assert win is not None and int(win.value) == price


@pytest.mark.parametrize("subject", [
    "Reset your Acme CRM password", "Your property is now live: 12 Mill Lane, York"])
def test_account_mail_is_no_lead(subject: str) -> None:
    ex = _read_subject("Acme <no-reply@acme.example>", subject,
                       "Hello,\n\nThis is an automated message about your account.\n")
    assert ex.is_lead is False


# --- a notifier's own identity, machine keys, labels and names in CJK and Arabic scripts


def _read_headers(headers: dict[str, str], body: str):
    msg = EmailMessage()
    for key, value in {"To": "leads@brokerage.example", **headers}.items():
        msg[key] = value
    msg.set_content(body)
    return parsers.extract(parse_mail(msg.as_bytes()), ParseContext())


@pytest.mark.parametrize("sender", [
    "Acme Local Ads <local-ads-noreply@acme.example>",  # no-reply inside the local part
    "Acme Pros <team@acmepros.example>",  # a service's role mailbox
    "Acme Pros <leads@acmepros.example>",
    "AcmeChat <transcripts@acmechat.example>"])  # a chat service's transcripts box
def test_a_notifiers_own_identity_is_never_the_lead(sender: str) -> None:
    ex = _read_subject(sender, "You have a new lead",
                       "You have a new lead on Acme!\n\nWindow cleaning - Leeds\n\n"
                       "Priyanka Oduya\n07700 900461\npriyanka.o@example.co.uk\n\n"
                       "Acme Pros Limited, 2nd Floor, 33 Holborn, London EC1N 2HT\n")
    assert ex.full_name == "Priyanka Oduya"
    assert ex.email == "priyanka.o@example.co.uk"
    assert "acme" not in (ex.full_name or "").lower()


def test_a_reply_relay_gives_the_name_but_not_the_address() -> None:
    ex = _read_headers({"From": "Stays <messages@stays.example>",
                        "Reply-To": "\"Sophie L.\" "
                                    "<321-3120457-9987712@messages.staysmail.example>",
                        "Subject": "Inquiry for Dec 26 - Jan 2"},
                       "You have a new inquiry\n\nCheck-in: Sat, Dec 26\n\n"
                       "\"Is the pool heated in winter? Also is there a crib available?\"\n")
    assert ex.email is None
    assert ex.full_name == "Sophie L."


def test_a_text_through_a_carriers_gateway_is_from_that_phone() -> None:
    ex = _read_headers({"From": "5125550143@txt.carrier.example", "Subject": ""},
                       "Can we see the one on Cloverleaf again tomorrow after 6?\n")
    assert ex.phone == "+15125550143"
    assert ex.email is None


def test_a_voicemail_relay_is_the_callers_own_words() -> None:
    ex = _read_subject("PhoneCo <service@phoneco.example>",
                       "New Voice Message from (210) 555-0139",
                       "You have a new voice message:\n\nFrom: (210) 555-0139\n\n"
                       "Voicemail Transcription:\nHi, this is Marisol Quintana, I'm calling about "
                       "the house for rent on Fredericksburg Road. Is it still available?\n\n"
                       "PhoneCo, Inc. | 20 Davis Drive, Belmont, CA 94002\n")
    assert ex.source == "PhoneCo"  # the phone system's lead: a person's own mail is "Direct"
    assert ex.full_name == "Marisol Quintana"
    assert ex.email is None and ex.phone == "+12105550139"
    assert ex.property_address is None and ex.address is None
    # The words are the caller's: not the notice's heading, rows or the service's lines.
    assert ex.message == ("Hi, this is Marisol Quintana, I'm calling about the house for rent "
                          "on Fredericksburg Road. Is it still available?")


def test_a_text_relays_own_lines_are_not_the_senders_words() -> None:
    ex = _read_headers({"From": '"(737) 555-0124" <17375550124.15125550100.kq8xz2lmpa@'
                                'txt.voice.google.com>',
                        "Subject": "New text message from (737) 555-0124"},
                       "Hey this is Nate, is the 2 bed on Duval St still available?\n\n"
                       "YOUR ACCOUNT <https://voice.google.com> HELP CENTER HELP FORUM\n"
                       "To respond to this text message, reply to this email.\n\n"
                       "Google LLC\n1600 Amphitheatre Parkway, Mountain View CA 94043 USA\n")
    assert ex.source == "Google Voice"
    assert ex.phone == "+17375550124" and ex.email is None
    assert ex.message == "Hey this is Nate, is the 2 bed on Duval St still available?"
    assert ex.property_address is None


def test_a_notification_that_names_nobody_is_held_for_review() -> None:
    ex = _read_subject("Acme Local Ads <local-ads-noreply@acme.example>",
                       "You got a new phone lead",
                       "New phone lead\n\nCaller: (404) 555-0187\nJob type: Drain cleaning\n"
                       "Location: Atlanta, GA 30307\n")
    assert ex.is_lead and ex.phone == "+14045550187"
    assert not ex.full_name and not ex.email
    assert "needs-review" in ex.tags or "no-contact" in ex.tags or max(
        ex.confidence.get(k, 0) for k in ("full_name", "email", "phone")) < 0.5


def test_one_name_a_relay_gives_is_the_persons() -> None:
    ex = _read_subject("Acme Profile <profile-noreply@acme.example>", "New message from Kenji",
                       "Harbor Realty\n\nKenji sent you a message\n\n"
                       "Do you have any 2 bedroom apartments for rent near Ballard?\n")
    assert ex.full_name == "Kenji" and ex.email is None


def test_machine_keys_read_as_labels() -> None:
    ex = _read_subject("Flows <noreply@flows.example>", "New chat lead",
                       "New chat lead\n\ncontact.name: Óscar Beltrán\n\n"
                       "contact.email: oscar.b@example.net\n\nlead.phoneNumber: +17205550167\n\n"
                       "listing.address: 12044 W 54th Pl, Arvada, CO 80002\n\n"
                       "transcript.first_message: hi is this one still available?\n")
    assert ex.full_name == "Óscar Beltrán" and ex.email == "oscar.b@example.net"
    assert ex.phone == "+17205550167"
    assert ex.property_address == "12044 W 54th Pl, Arvada, CO 80002"
    assert ex.message == "hi is this one still available?"


def test_capital_labels_run_into_their_values() -> None:
    ex = _read_subject("Sites <leads@sites.example>", "New Lead: Property Inquiry",
                       "New Lead: Property Inquiry\n\nNAMEAlexander Papadakis\n\n"
                       "EMAILa.papadakis@example.com\n\nPHONE+1 (805) 555-0104\n")
    assert ex.full_name == "Alexander Papadakis" and ex.email == "a.papadakis@example.com"


@pytest.mark.parametrize("body", [
    "姓名：王丽华\n邮箱：lihua.w@example.com\n电话：(949) 555-0118\n",
    "氏名：佐藤 健\nメールアドレス：lihua.w@example.com\n電話番号：(949) 555-0118\n",
    "الاسم: عمر الرشيد\nالبريد الإلكتروني: lihua.w@example.com\nالهاتف: (949) 555-0118\n"])
def test_cjk_and_arabic_labels_are_labels(body: str) -> None:
    ex = _read_subject("Forms <forms@forms.example>", "New form submission", body)
    assert ex.email == "lihua.w@example.com" and ex.phone == "+19495550118"
    assert ex.full_name in ("王丽华", "佐藤 健", "عمر الرشيد")


def test_cjk_names_are_family_name_first() -> None:
    from leadmail.normalize import split_name
    assert split_name("佐藤 健") == ("健", "佐藤")
    assert split_name("王丽华") == ("丽华", "王")
    assert split_name("欧阳明") == ("明", "欧阳")


def test_a_number_written_the_north_american_way_abroad() -> None:
    from leadmail.normalize import find_phones
    assert find_phones("请联系我：(949) 555-0118。", "CN") == ["+19495550118"]
    assert find_phones("Telefon: 0151 55501470", "DE") == ["+4915155501470"]


def test_a_name_the_mail_is_written_to_is_not_the_writers() -> None:
    msg = EmailMessage()
    msg["From"], msg["To"] = "Gus & Linda Petrakis <gus.p@example.net>", \
        "nicole.fontaine@brokerage.example"
    msg["Subject"] = "Got your postcard"
    msg.set_content("Hi Nicole,\n\nGot your postcard. We would like to know what our house "
                    "might be worth. Our number is 630-555-0192.\n\nThanks,\nGus Petrakis\n")
    ex = parsers.extract(parse_mail(msg.as_bytes()), ParseContext())
    assert ex.full_name == "Gus Petrakis"


def test_a_text_names_its_writer_after_the_greeting() -> None:
    ex = _read_headers({"From": "5125550143@txt.carrier.example", "Subject": "",
                        "To": "mike.delgado@brokerage.example"},
                       "Hey Mike its Rosa from the open house on Sunday. Can we see the one on "
                       "Cloverleaf again?\n")
    assert ex.full_name == "Rosa"


@pytest.mark.parametrize(("subject", "body", "name"), [
    ("New Lead: Priya Raghunathan (Seller)", "Lead Type: Seller\nPhone: (503) 555-0177\n",
     "Priya Raghunathan"),
    ("New message", "You have a new message\n\nValeria Montoya · +1 786-555-0123\n\n"
     "Is the studio still for sale?\n", "Valeria Montoya"),
    ("Sharon from Crestview sent you a message", "Hi there, do you work with seniors?\n",
     "Sharon"),
    ("New lead: House Cleaning", "Aisha wants a quote.\n\nBedrooms: 3\n", "Aisha")])
def test_a_notification_names_its_person_without_a_label(subject: str, body: str,
                                                          name: str) -> None:
    ex = _read_subject("Acme <no-reply@acme.example>", subject, body)
    assert ex.full_name == name


def test_a_vietnamese_name_is_family_name_first() -> None:
    from leadmail.normalize import split_name
    assert split_name("Nguyen Thi Mai") == ("Mai", "Nguyen")
    assert split_name("Mai Nguyen") == ("Mai", "Nguyen")


@pytest.mark.parametrize(("sender", "brand"), [
    ("WhatsApp Business", "WhatsApp"), ("Snapchat Ads", "Snapchat"),
    ("Pabbly Connect", "Pabbly"), ("GoDaddy Websites + Marketing", "GoDaddy"),
    ("Modernize Lead Delivery", "Modernize"),
    ("HomeTown Heritage Agent Sites", None)])  # a franchise's agents' own sites: "Website"
def test_a_product_line_after_a_brand_is_no_part_of_it(sender: str, brand: str) -> None:
    from leadmail.parsers.fields import fallback_brand
    assert fallback_brand(sender) == brand


def test_glued_labels_in_sentence_case() -> None:
    ex = _read_subject("Pins <no-reply@business.pins.example>", "New lead: Farmhouse Builds",
                       "Someone is interested in your business\n\nFull nameIngrid Solberg\n\n"
                       "Emailingrid.s@example.net\n\nPhone(402) 555-0144\n")
    assert ex.full_name == "Ingrid Solberg" and ex.email == "ingrid.s@example.net"


def test_a_lead_type_row_says_what_the_person_wants() -> None:
    ex = _read_subject("Crm <notifications@crm.example>", "New Lead",
                       "Name: Priya Raghunathan\nLead Type: Seller\nPhone: (503) 555-0177\n"
                       "Email: priya.r@example.com\n")
    assert ex.segment == "Seller"


@pytest.mark.parametrize(("text", "segment"), [
    ("希望找学区的独立屋，预算 180 万美元以内。", "Buyer"),
    ("現在も販売中でしょうか。内覧は可能でしょうか。", "Buyer"),
    ("自宅の売却を考えています。査定をお願いします。", "Seller")])
def test_buying_and_selling_in_scripts_without_spaces(text: str, segment: str) -> None:
    from leadmail.parsers.common import segment_hint
    assert segment_hint(text) == segment


def test_a_notifications_sentence_is_no_label() -> None:
    ex = _read_subject("Sites <no-reply@sites.example>", "New message from your website",
                       "You have a new message from your website oak.example\n\nContact Us\n\n"
                       "Name\nKeisha Whitfield\n\nEmail\nkw@example.net\n\nMessage\n"
                       "Could you do a market analysis of our townhome?\n")
    assert ex.message == "Could you do a market analysis of our townhome?"


def test_a_message_label_over_another_label_is_empty() -> None:
    ex = _read_subject("Cal <notifications@cal.example>", "New booking request: Walkthrough",
                       "Invitee\nPriyanka Nair\n\nInvitee Email\npn@example.com\n\n"
                       "Questions:\nPhone number\n+1 617-555-0115\n\n"
                       "Anything we should know before the walkthrough?\n"
                       "My dad uses a cane so please let me know if there are many stairs.\n")
    assert ex.message == "My dad uses a cane so please let me know if there are many stairs."
    assert ex.phone == "+16175550115"


@pytest.mark.parametrize("trailer", [
    "Sent automatically by Flows scenario #4471902. Edit scenario",
    "Submitted from www.lonestarmotors.example · Session source: organic",
    "This inquiry was sent to you via LandSite, part of the Land Network."])
def test_an_automations_own_trailer_is_no_part_of_the_message(trailer: str) -> None:
    assert tidy_message(f"Is this one still available?\n\n{trailer}") == \
        "Is this one still available?"


def test_rows_set_on_one_line_and_the_words_after_a_relays_sent_you_a_message() -> None:
    ex = _read_subject("Pros <messages@pros.example>", "New message from Yusuf Demir",
                       "Yusuf Demir sent you a message\n\n"
                       "Project type: Interior Design · Location: San Mateo, CA 94402 · "
                       "Budget: $25,000 - $40,000\n\nHello,\nWe just closed on a ranch and want "
                       "help with the living room.\n\nReply\n\nPros Inc., 285 Hamilton Ave, "
                       "Palo Alto, CA 94301\n")
    assert ex.message.startswith("Hello,\nWe just closed on a ranch")
    assert "Project type" not in ex.message
    assert str(ex.price).replace(",", "").endswith("40000")
    assert ex.segment is None  # a job for a service: a customer


def test_a_voicemails_message_is_its_transcription() -> None:
    ex = _read_subject("PhoneCo <service@phoneco.example>", "New Voice Message from (210) 555-0139",
                       "You have a new voice message:\n\nFrom: (210) 555-0139\nLength: 00:41\n\n"
                       "Voicemail Transcription:\nHi, this is Marisol Quintana, calling about the "
                       "house for rent. Is it still available?\n\n"
                       "Note: Transcription is automatically generated.\n")
    assert ex.message == ("Hi, this is Marisol Quintana, calling about the house for rent. "
                          "Is it still available?")


@pytest.mark.parametrize(("subject", "body", "vehicle"), [
    ("New inquiry on your 2019 Boston Whaler 230 Outrage",
     "New inquiry on your listing\n\n2019 Boston Whaler 230 Outrage\n$129,000\n\n"
     "From: Lionel Rhodes\nEmail: rhodes@example.org\n\"Interested in this boat.\"\n",
     "2019 Boston Whaler 230 Outrage"),
    ("New RV lead", "New lead for 2021 Grand Design Imagine 2500RL\n\nTravel Trailer · $38,900"
     "\n\nAgnieszka Berg\nberg@example.com\n", "2021 Grand Design Imagine 2500RL")])
def test_a_vehicle_of_a_make_not_listed(subject: str, body: str, vehicle: str) -> None:
    ex = _read_subject("Trader <no-reply@trader.example>", subject, body)
    assert ex.property_address == vehicle


def test_a_vehicles_rows_run_into_their_values() -> None:
    ex = _read_subject("Autos <dealerleads@autos.example>", "Dealer Lead #5582913",
                       "Dealer Lead\n\nNameThandiwe Mokoena\n\nPhone336.555.0193\n\n"
                       "Emailthandi@example.com\n\nVehicle of Interest\nYear2026\n\nMakeToyota\n\n"
                       "ModelRAV4 Hybrid\n\nTrimXLE Premium\n")
    assert ex.property_address == "2026 Toyota RAV4 Hybrid XLE Premium"


@pytest.mark.parametrize(("sentence", "street"), [
    ("We've been in our house at 935 Birchwood Ln, Naperville, IL 60540 for 31 years.",
     "935 Birchwood Ln, Naperville, IL 60540"),
    ("貴社のウェブサイトで拝見した「1551 Ala Wai Blvd #2104, Honolulu, HI 96815」の物件について",
     "1551 Ala Wai Blvd #2104, Honolulu, HI 96815")])
def test_a_street_in_a_sentence_is_cut_from_it(sentence: str, street: str) -> None:
    from leadmail.parsers.nlp import find_address
    found, _ = find_address(sentence)
    assert found is not None and found.replace("# ", "#") == street


def test_a_seller_says_they_live_in_the_home_they_ask_the_worth_of() -> None:
    from leadmail.parsers.common import segment_hint
    from leadmail.parsers.nlp import find_address
    text = ("We've been in our house at 935 Birchwood Ln, Naperville, IL 60540 for 31 years. "
            "We would like to know what it might be worth.")
    assert find_address(text)[1] is True
    assert segment_hint(text) == "Seller"


@pytest.mark.parametrize(("value", "price"), [
    ("₹1.25 Cr", 12_500_000), ("Utgångspris: 4 950 000 kr", 4_950_000),
    ("689 000 zł", 689_000), ("7 490 000 Kč", 7_490_000), ("预算 180 万美元以内", 1_800_000),
    ("بسعر 1,200 دولار شهرياً", 1200), ("$1.5m_-_$2m", 2_000_000), ("$0.00", None)])
def test_prices_in_more_currencies_and_notations(value: str, price: int | None) -> None:
    from leadmail.parsers.fields import price_value
    assert price_value(value) == price


def test_an_estimates_range_is_a_price() -> None:
    ex = _read_subject("Portal <no-reply@portal.example>", "New lead",
                       "Name: Dana Wu\nEmail: dana@example.com\n"
                       "RealEstimate(SM) range: $438,000 - $472,000\n")
    assert str(ex.price).replace(",", "").endswith("472000")


@pytest.mark.parametrize(("sender", "subject"), [
    ("Acme Billing <billing@acme.example>", "Your Acme CRM subscription renews on December 8"),
    ("Forms Billing <billing@forms.example>", "Your Forms receipt #JF-2026-1183344"),
    ("Crm <notifications@crm.example>", "Email to Derek Ansah could not be delivered"),
    ("Crm <no-reply@crm.example>", "Lead reassigned to another agent"),
    ("Showings <feedback@showings.example>", "Weekly Showing Feedback: 4410 Oak Hollow Dr"),
    ("Search Team <sc-noreply@search.example>", "New Page indexing issue detected for site")])
def test_a_services_account_notices_are_no_leads(sender: str, subject: str) -> None:
    ex = _read_subject(sender, subject,
                       "Hi Jennifer,\n\nThis is about your account. Amount: $539.00\n"
                       "Listing: 4410 Oak Hollow Dr, Austin, TX 78745\n")
    assert ex.is_lead is False


def test_numbered_questions_and_a_question_answered_no() -> None:
    ex = _read_subject("Flows <flow-noreply@flows.example>", "New response: Open House Sign-In",
                       "A new response was submitted to Open House Sign-In.\n\n"
                       "1. Your name: Grace Mwangi-Otieno\n2. Email: grace.o@example.org\n"
                       "3. Mobile: 214 555 0183\n4. Do you need to sell a home first?: No\n"
                       "5. Comments: Loved the kitchen. Is the HOA fee really only $45/month?\n")
    assert ex.full_name == "Grace Mwangi-Otieno" and ex.phone == "+12145550183"
    assert ex.message == "Loved the kitchen. Is the HOA fee really only $45/month?"
    assert ex.segment != "Seller"


def test_a_homeowners_notes_and_a_bill_that_is_no_price() -> None:
    ex = _read_subject("Solar <noreply@solar.example>", "New quote request - Solar + Storage",
                       "New quote request\n\nHomeowner: Hana Kobayashi\nEmail: hana@example.org\n"
                       "Average monthly electric bill: $185\n"
                       "Homeowner notes: We plan to buy an EV next year so please size for it.\n")
    assert ex.message == "We plan to buy an EV next year so please size for it."
    assert ex.price is None


_CHAT = ("Conversation with Celeste Marchand\n"
         "Bayou City Realty  ·  Started Nov 28, 2026, 7:02 PM\n\n"
         "Celeste Marchand: Hi, is the house at 3907 Amberwood Ln still for sale?\n"
         "Operator (bot): Thanks for reaching out! A team member will be with you shortly.\n"
         "Janelle Broussard (Bayou City Realty): Hi! Yes, 3907 Amberwood Ln, Houston, TX 77095 "
         "is still active at $615,000.\n"
         "Celeste Marchand: Great. Can you call me? 832-555-0176\n"
         "Janelle Broussard (Bayou City Realty): Sure! You can reach me at (713) 555-0150.\n\n"
         "View conversation: https://app.chat.example/conversation/215009481\n")


def test_a_chat_transcript_is_the_visitors_words_and_never_the_staffs() -> None:
    ex = _read_headers({"From": "ChatDesk <notifications@chatdesk.example>",
                        "Subject": "Conversation with Celeste Marchand"}, _CHAT)
    assert (ex.parser, ex.source) == ("transcript", "ChatDesk")
    assert (ex.full_name or f"{ex.first_name} {ex.last_name}") == "Celeste Marchand"
    assert ex.phone == "+18325550176"  # the visitor's; the agent's line is never read
    assert ex.message == ("Hi, is the house at 3907 Amberwood Ln still for sale? Great. Can you "
                          "call me? 832-555-0176")
    # The listing the visitor names, completed from the agent's answer, and its price.
    assert ex.property_address == "3907 Amberwood Ln, Houston, TX 77095"
    assert ex.price == 615000
    assert ex.trace["transcript"]["visitor"] == "Celeste Marchand"


def test_a_forms_rows_are_no_conversation() -> None:
    # Unknown labels, each once: a form, not a chat, however many there are.
    ex = _read_headers({"From": "Acme Forms <forms@acmeforms.example>",
                        "Subject": "New submission"},
                       "Full name: Ana Ruiz\nEmail: ana.ruiz@example.com\nPhone: 512-555-0142\n"
                       "Project kind: Kitchen\nWall color: White\nCabinet style: Shaker\n"
                       "Message: Looking to start in March.\n")
    assert ex.parser != "transcript"
    assert ex.email == "ana.ruiz@example.com"


def test_eval_compares_a_message_with_or_without_its_greeting_and_sign_off() -> None:
    from leadmail.evaluate import field_matches

    got = {"message": "Hello,\n\nWe would like to see the house on Saturday.\n\n"
                      "Best,\nJohn & Priya"}
    assert field_matches("message", "We would like to see the house on Saturday.", got)
    assert field_matches("message", "Hello, We would like to see the house on Saturday.", got)
    assert not field_matches("message", "We would like to see the house on Sunday.", got)
    got = {"message": "Regards,\nWalter Pruitt"}  # nothing but a sign-off is no match for words
    assert not field_matches("message", "Can you come by?", got)


@pytest.mark.parametrize(("subject", "body", "segment"), [
    # A job on a home the person keeps: "Homeowner" is their role, not a seller's word.
    ("New project: Water Heater Replacement",
     "Homeowner: Tomasz Kowalczyk\nPhone: (206) 555-0169\nEmail: tomasz.k@example.org\n"
     "Notes: Tank is leaking from the bottom. We just bought the house in January.\n", None),
    # A policy on a car is a service too, whatever the form calls the vehicle.
    ("New Auto Quote Request #1842",
     "Full Name: Tamsin Arkwright\nEmail: tamsin.a@example.net\nPhone: (615) 555-0124\n"
     "Vehicle: 2019 Honda CR-V EX\nCoverage wanted: Full coverage\n", None),
    # The person asks for a job in their own words, with no listing named.
    ("New form submission",
     "Name: Thaddeus Marchetti\nEmail: thad.m@example.com\nPhone: 505 555 0164\n"
     "Message: Looking for a full front-yard xeriscape. Budget is around $12,000.\n", None),
    # A buyer asking about a listing's roof is still a buyer.
    ("New inquiry: 2250 Pearl St #3, Boulder, CO 80302",
     "Name: Elena Park\nEmail: elena.park@example.com\nPhone: (303) 555-0163\n"
     "Property: 2250 Pearl St #3, Boulder, CO 80302\nPrice: $749,000\n"
     "Message: How old is the roof? Could we tour Thursday?\n", "Buyer"),
])
def test_a_service_job_is_a_customers_not_a_buyers_or_sellers(subject, body, segment) -> None:
    ex = _read_headers({"From": "Acme Pros <leads@acmepros.example>", "Subject": subject}, body)
    assert ex.is_lead and ex.segment == segment


def test_a_persons_mail_naming_a_purchase_sum_is_a_buyers() -> None:
    ex = _read_headers({"From": "Élodie Tremblay <elodie.tg@example.org>",
                        "Subject": "Recherche d'une maison à Austin"},
                       "Bonjour,\n\nNous envisageons de déménager à Austin l'été prochain, avec "
                       "un budget maximal de 700 000 $ US. Pourriez-vous nous envoyer quelques "
                       "propositions ?\n\nMerci,\nÉlodie\n")
    assert ex.segment == "Buyer"


@pytest.mark.parametrize(("body", "name"), [
    ("New lead on your listing\nDear Omar Haddad,\nSara Al Qasimi has shown interest in your "
     "property:\nVilla for sale, Arabian Ranches 2, Dubai\nEmail: sara.q@example.ae\n",
     "Sara Al Qasimi"),
    ("Kevin Marlowe (kmarlowe@example.com, 512-555-0162) was chatting with us about 3306 "
     "Lantana Ridge Dr and asked to speak with an agent.\n", "Kevin Marlowe"),
    ("Priya Raman is asking about 2907 Willow Bend Ct, Round Rock, TX 78681\n"
     "Email: priya.raman@example.net\n", "Priya Raman"),
    ("Masz nową wiadomość\nImię i nazwisko: Katarzyna Zielińska\nE-mail: k.z@example.pl\n",
     "Katarzyna Zielińska"),
])
def test_a_notification_names_its_person_in_a_sentence_or_a_label(body, name) -> None:
    ex = _read_headers({"From": "Portal <leads@portal.example>", "Subject": "New lead"}, body)
    assert (ex.full_name or f"{ex.first_name} {ex.last_name}") == name


def test_a_contact_row_gives_the_name_email_and_phone_it_runs_together() -> None:
    ex = _read_headers({"From": "Acme Matches <no-reply@acmematches.example>",
                        "Subject": "New match"},
                       "You've been matched with a new buyer.\nBudget: $450,000 - $525,000\n"
                       "Contact: Nadia Petrova · nadia.petrova@example.com · (512) 555-0121\n")
    assert ex.full_name == "Nadia Petrova"
    assert (ex.email, ex.phone) == ("nadia.petrova@example.com", "+15125550121")


@pytest.mark.parametrize(("row", "source"), [
    ("Source: Zillow", "Zillow"),
    ("Source: Facebook Lead Ads", "Facebook"),
    ("Source: Open house sign-in", "Follow Up Boss"),  # no provider named: the CRM's own
])
def test_a_crm_relaying_a_providers_lead_keeps_that_provider(row, source) -> None:
    ex = _read_headers({"From": "Follow Up Boss <notifications@followupboss.com>",
                        "Subject": "New Lead: Greg Haskins"},
                       f"New lead assigned to you: Greg Haskins\n{row}\nStage: Lead\n"
                       "Phone: (317) 555-0161\nEmail: greg.haskins@example.com\n")
    assert ex.source == source


def test_a_reply_to_the_agents_listing_mail_takes_the_listing_from_the_quote() -> None:
    ex = _read_headers({"From": "Tom Gallagher <tgallagher@example.net>",
                        "Subject": "Re: JUST LISTED in Travis Heights"},
                       "We'd love to see this one before the open house. Thursday evening?\n"
                       "- Tom\n\n"
                       "On Mon, Nov 9, 2026 at 9:00 AM Megan Tully <megan@brokerage.example> "
                       "wrote:\n> JUST LISTED in Travis Heights!\n>\n"
                       "> 77 Larkspur Ct, Austin, TX 78704\n"
                       "> $525,000 | 2 beds | 2 baths | 1,340 sq ft\n>\n"
                       "> Megan Tully, REALTOR | (512) 555-0100 | megan@brokerage.example\n"
                       "> 3801 N Capital of Texas Hwy, Austin, TX 78746\n")
    assert (ex.property_address, ex.price) == ("77 Larkspur Ct, Austin, TX 78704", "525000")
    assert ex.phone is None  # the agent's number in the quote is never the writer's
    assert ex.email == "tgallagher@example.net"


@pytest.mark.parametrize(("subject", "body", "prop", "price"), [
    ("Demande de visite", "Bonjour,\n\nJe souhaiterais visiter l'appartement situé au 1500 "
     "Ocean Dr #1204, Miami Beach, FL 33139, affiché à 895 000 $.\n\nCordialement,\nÉtienne\n",
     "1500 Ocean Dr #1204, Miami Beach, FL 33139", "895000"),
    ("Home for sale at 1815 Cedar Bend Dr, Austin, TX 78758", "Is this still available?\n",
     "1815 Cedar Bend Dr, Austin, TX 78758", None),
])
def test_a_persons_mail_names_the_listing_and_its_price(subject, body, prop, price) -> None:
    ex = _read_headers({"From": "Derek Olsen <derek.olsen@example.com>", "Subject": subject},
                       body)
    assert (ex.property_address.replace("# ", "#"), ex.price) == (prop, price)  # as read


@pytest.mark.parametrize(("subject", "body", "name"), [
    # A marketplace gives a first name only, and names it again.
    ('Ravi replied to your ad "Bright 2 bedroom basement apartment"',
     "You have a new reply to your ad\nPrice: $2,100.00\nFrom: Ravi\nHi is this still "
     "available? I can come see it tomorrow. 416-555-0129\nReply to respond to Ravi.\n", "Ravi"),
    ("New lead: Priya is looking for a Landscaper",
     "New lead on Acme\nPriya is looking for a Landscaper in Austin, TX (78731)\n"
     "Budget: $5,000 - $7,500\n", "Priya"),
    # A handle after the name is no part of it.
    ("Enquiry on 31 Kowhai Road", "Member: Aroha Te Whata (aroha_tw)\nEmail: "
     "aroha.tewhata@example.co.nz\nPhone: 021 555 0143\n", "Aroha Te Whata"),
])
def test_a_first_name_or_a_handle_as_a_marketplace_gives_it(subject, body, name) -> None:
    ex = _read_headers({"From": "Market <no-reply@market.example>", "Subject": subject}, body)
    assert (ex.full_name or ex.first_name) == name


def test_from_website_is_still_no_name() -> None:
    ex = _read_headers({"From": "Site <no-reply@site.example>", "Subject": "New form entry"},
                       "From: website\nEmail: jo.lee@example.com\nPhone: 512-555-0101\n")
    assert ex.full_name is None and ex.first_name is None


@pytest.mark.parametrize("street", [
    "12 Oakley Park, Ranelagh, Dublin 6, D06 X2F3",  # an Eircode
    "12/38 Milson Road, Cremorne Point NSW 2090",  # a unit over the number, a state
    "Götgatan 45, 118 26 Stockholm",  # a Swedish postcode
    "Seifertova 1120/31, 130 00 Praha 3",  # a Czech one
    "ul. Puławska 145, 02-715 Warszawa",  # a Polish one
    "1 Tampines Street 86 #08-12, Singapore 528583",
])
def test_an_international_listing_line_is_read_whole(street) -> None:
    ex = _read_headers({"From": "Portal <no-reply@portal.example>", "Subject": "New enquiry"},
                       f"You have a new enquiry for:\n{street}\nName: Aoife Brennan\n"
                       "Email: aoife.brennan@example.ie\n")
    assert ex.property_address == street


@pytest.mark.parametrize(("subject", "body", "segment"), [
    # A policy's own rows: whoever insures the car now, the coverage wanted.
    ("New lead: Switch & Save Quote", "first_name: Breanna\nlast_name: Holloway\n"
     "email: b.h@example.net\ncurrent_insurer: none\nvehicle: 2017 Mazda 3 Touring\n", None),
    ("New Auto Quote Request #1842", "Full Name\nTamsin Arkwright\nEmail Address\n"
     "tamsin.a@example.net\nVehicle Year / Make / Model\n2019 Honda CR-V EX\n"
     "Coverage wanted\nFull coverage\n", None),
    # The person's words open on the job.
    ("New lead from Kitchen Inspiration Guide", "Full name: Margaux Ellingsen\n"
     "Email: m.e@example.com\nWhat's your budget?: $40,000 - $60,000\n"
     "Tell us about your project: Gut remodel of a 1960s galley kitchen.\n", None),
    # A home at a month's rent is for rent.
    ('Ravi replied to your ad "Bright 2 bedroom basement apartment"',
     "Price: $2,100.00\nLocation: 3320 Fieldgate Dr, Mississauga, ON L4X 2J7\nFrom: Ravi\n"
     "Hi is this still available? 416-555-0129\nReply to respond to Ravi.\n", None),
])
def test_policies_jobs_and_rents_are_customers(subject, body, segment) -> None:
    ex = _read_headers({"From": "Acme <no-reply@acme.example>", "Subject": subject}, body)
    assert ex.is_lead and ex.segment == segment


def test_the_address_in_a_writers_signature_is_their_own() -> None:
    ex = _read_headers({"From": "Rachel Abernathy <rachel.abernathy@example.org>",
                        "Subject": "Question about 3912 Rosedale Ave"},
                       "Hi Megan,\n\nI came across your listing at 3912 Rosedale Ave, Austin, TX "
                       "78756. Is the garage permitted as an ADU?\n\nThanks,\nRachel Abernathy\n"
                       "1127 W 49th St\nAustin, TX 78756\n(512) 555-0137\n")
    assert ex.address == "1127 W 49th St, Austin, TX 78756"
    assert ex.property_address == "3912 Rosedale Ave, Austin, TX 78756"


def test_a_seller_who_has_lived_in_the_home_lives_there() -> None:
    ex = _read_headers({"From": "Walter Pruitt <wpruitt@example.net>",
                        "Subject": "Thinking of selling"},
                       "Hello,\n\nWe've lived at 9 Birchwood Ct, Round Rock, TX 78681 for twelve "
                       "years and are starting to think about selling next spring.\n\nRegards,\n"
                       "Walter Pruitt\ncell 512 555 0131\n")
    assert ex.segment == "Seller"
    assert ex.address == ex.property_address == "9 Birchwood Ct, Round Rock, TX 78681"
    assert ex.phone == "+15125550131"


def test_a_7bit_iso_2022_jp_body_is_decoded() -> None:
    body = "ご担当者様\n\n山田太郎と申します。賃貸物件を探しております。\n"
    raw = (b"From: =?utf-8?b?5bGx55Sw5aSq6YOO?= <taro.yamada@example.jp>\r\n"
           b"To: leads@brokerage.example\r\nSubject: rental\r\nMessage-ID: <jp-1@example.jp>\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"iso-2022-jp\"\r\n"
           b"Content-Transfer-Encoding: 7bit\r\n\r\n" + body.encode("iso-2022-jp"))
    mail = parse_mail(raw)
    assert "山田太郎と申します" in mail.text
    ex = parsers.extract(mail, ParseContext())
    assert ex.message and ex.message.startswith("ご担当者様")


@pytest.mark.parametrize("trailer", [
    "Follow up from the Curb Hero app: https://app.curbhero.example/visitors/ch-551920",
    "Music City Honda, 1500 Gallatin Pike, Nashville, TN 37206",
    "Immobiliare.it S.r.l. - Via di Santa Cornelia 1000, 00060 Formello (RM)",
])
def test_a_providers_line_after_the_message_is_not_the_persons(trailer) -> None:
    ex = _read_headers({"From": "Acme <no-reply@acme.example>", "Subject": "New lead"},
                       "Name: Grace Kim\nEmail: gracekim@example.net\n"
                       f"Comments: Loved the natural light. Any similar homes?\n\n{trailer}\n")
    assert ex.message == "Loved the natural light. Any similar homes?"


@pytest.mark.parametrize("value", ["(no message)", "None provided", "N/A"])
def test_a_placeholder_is_no_message(value) -> None:
    ex = _read_headers({"From": "Acme <no-reply@acme.example>", "Subject": "New lead"},
                       f"Name: Grace Kim\nEmail: gracekim@example.net\nEnquiry: {value}\n")
    assert ex.message is None


@pytest.mark.parametrize(("row", "price"), [
    ("Mietzins: CHF 2'480.- / Monat (inkl. NK)", "CHF 2'480.- / Monat (inkl. NK)"),
    ("Cena: 7 490 000 Kč", "7 490 000 Kč"),
    ("Utgångspris: 4 950 000 kr", "4 950 000 kr"),
])
def test_price_rows_in_more_languages_and_swiss_thousands(row, price) -> None:
    ex = _read_headers({"From": "Portal <no-reply@portal.example>", "Subject": "New enquiry"},
                       f"{row}\nName: Lukas Brunner\nEmail: lukas.brunner@example.ch\n")
    assert ex.price == price
    assert fields.price_value(price) in (2480, 7490000, 4950000)


@pytest.mark.parametrize(("subject", "body", "vehicle", "price"), [
    ("CarGurus-style lead: 2019 Ford Mustang GT Premium - Andre Coleman",
     "Andre Coleman is interested in your 2019 Ford Mustang GT Premium.\nStock #: U5567\n"
     "Email: andre.coleman@example.org\n", "2019 Ford Mustang GT Premium", None),
    ("Dana sent you a message about your listing",
     "Dana Whitley sent you a message about your listing\n"
     "2018 Jeep Wrangler Unlimited Sahara - $27,500\nDallas, TX\n\"Is this still available?\"\n",
     "2018 Jeep Wrangler Unlimited Sahara", "$27,500"),
    ("You have a new lead", "name: Kenji Albright\nemail: kenji.albright@example.com\n"
     "Which model are you interested in?: 2025 Toyota RAV4 Hybrid XLE\n",
     "2025 Toyota RAV4 Hybrid XLE", None),
])
def test_a_vehicle_named_in_a_sentence_a_line_or_a_question(subject, body, vehicle,
                                                            price) -> None:
    ex = _read_headers({"From": "Autos <no-reply@autos.example>", "Subject": subject}, body)
    assert ex.property_address == vehicle
    assert ex.price == price
    assert ex.segment == "Buyer"


def test_a_caller_naming_a_vehicle_is_a_buyer() -> None:
    ex = _read_subject("PhoneCo <service@phoneco.example>", "New voicemail",
                       "New voicemail\n\nCaller: OKORO DANIELLE\nCaller number: (704) "
                       "555-0139\n\nTranscription\nYeah hi, I saw the 2022 Honda Accord Sport "
                       "you have on your website and "
                       "wanted to know if it's still there. Give me a call back, thanks.\n")
    assert (ex.property_address, ex.segment) == ("2022 Honda Accord Sport", "Buyer")


def test_the_greeted_agents_own_line_is_never_the_leads() -> None:
    ex = _read_headers({"From": "Keller Williams <noreply@kw.com>",
                        "Subject": "New website inquiry from Tyler Grayson"},
                       "Hi Monica,\nGood news! Tyler Grayson (tyler.grayson@example.org) contacted "
                       "you about 2033 Lakeview Terrace, Madison, WI 53704 ($449,000).\n"
                       "Message:\n\"Is the lower level finished?\"\n"
                       "Monica Alvarez | Keller Williams Realty Madison | (608) 555-0106\n")
    assert ex.phone is None
    assert ex.email == "tyler.grayson@example.org"


def test_an_unquoted_last_first_display_name_is_one_person() -> None:
    raw = (b"From: Marchetti, Linda <linda.marchetti@example.com>\r\n"
           b"To: leads@brokerage.example\r\nSubject: Property management question\r\n"
           b"Message-ID: <lm-1@example.com>\r\nContent-Type: text/plain\r\n\r\n"
           b"Good morning,\r\nDo you offer property management in Austin?\r\n\r\nThank you,\r\n"
           b"Linda Marchetti\r\n")
    mail = parse_mail(raw)
    assert (mail.from_name, mail.from_addr) == ("Linda Marchetti", "linda.marchetti@example.com")
    ex = parsers.extract(mail, ParseContext())
    assert ex.full_name == "Linda Marchetti"


def test_a_signature_that_extends_a_surname_by_a_hyphen_wins() -> None:
    ex = _read_headers({"From": "Margaret Kline <margaret.kline@example.com>",
                        "Subject": "Inquiry about 77 Lakeshore Dr"},
                       "Hello,\n\nIs 77 Lakeshore Dr, Austin, TX 78746 still for sale?\n\n"
                       "Thank you,\nMargaret Oyelowo-Kline\n")
    assert ex.full_name == "Margaret Oyelowo-Kline"


def test_a_portals_conversation_relay_is_no_ones_address() -> None:
    from leadmail.parsers.common import is_relay_addr

    assert is_relay_addr("siddharth.menon.b7xk@convo.zillow.com")


def test_eval_drops_a_closing_and_the_signature_under_it_on_either_side() -> None:
    from leadmail.evaluate import field_matches

    got = {"message": "We would love to see it Saturday.\nMerci d'avance et bonne journée,\n"
                      "Élodie Tremblay-Gagnon\nSenior Counsel, Halvorsen Energy\n"
                      "4520, rue Saint-Denis\nMontréal (Québec) H2J 2L3"}
    assert field_matches("message", "We would love to see it Saturday.", got)
    # a sentence after "Thanks for the info." is the person's words, never a signature
    got = {"message": "Thanks for the info.\nWe would like Saturday."}
    assert not field_matches("message", "Thanks for the info.", got)


@pytest.mark.parametrize("notice", [
    "Great news - we have a new referral for you!",
    "We just connected you by phone with a buyer. Here is a summary of the call.",
    "A homeowner in your area tracked their home value and asked to talk to a local agent.",
])
def test_the_providers_own_announcement_is_no_message(notice) -> None:
    ex = _read_headers({"From": "Referrals <referrals@referrals.example>",
                        "Subject": "New referral: Wendy Carrasco"},
                       f"Hi Megan,\n{notice}\nName: Wendy Carrasco\n"
                       "Email: wendy.carrasco@example.com\nPhone: 512-555-0125\n")
    assert ex.message is None or notice[:20] not in ex.message


def test_a_contact_row_running_name_email_phone_and_address_together() -> None:
    ex = _read_headers({"From": "Autos <leads@autos.example>", "Subject": "Price Quote Lead"},
                       "Vehicle: 2026 Ford F-150 XLT\nCustomer: Wesley Harmon "
                       "wes.harmon@example.com (254) 555-0166 1407 Lake Air Dr Waco, TX 76710\n")
    assert ex.full_name == "Wesley Harmon"
    assert (ex.email, ex.phone) == ("wes.harmon@example.com", "+12545550166")
    assert ex.address == "1407 Lake Air Dr Waco, TX 76710"


def test_a_home_insurance_quotes_property_is_the_persons_home() -> None:
    ex = _read_headers({"From": "SmartFinancial <noreply@smartfinancial.com>",
                        "Subject": "New SmartFinancial Home Lead"},
                       "First Name: Evelyn\nLast Name: Marchetti\nEmail: e.m@example.net\n"
                       "Property Address: 27910 Sycamore Creek Dr, Temecula, CA 92591\n"
                       "Current Insurer: State Farm\n")
    # the home a policy or a loan is on: their address, no listing
    assert ex.address == "27910 Sycamore Creek Dr, Temecula, CA 92591"
    assert ex.property_address is None


@pytest.mark.parametrize("tail", [
    "LandWatch is part of the Land.com Network.",
    "Daft.ie, Distilled Media, 4th Floor, 1 Cumberland Place, Dublin 2",
])
def test_a_portals_own_line_after_the_message(tail) -> None:
    ex = _read_headers({"From": "Portal <no-reply@portal.example>", "Subject": "New enquiry"},
                       "Name: Aoife Brennan\nEmail: aoife.brennan@example.ie\n"
                       f"Message: Does the land perc? Is there road frontage?\n\n{tail}\n")
    assert ex.message == "Does the land perc? Is there road frontage?"


@pytest.mark.parametrize("tail", [
    "Inviato da Outlook per Android",
    "Em 12/03/2025, às 18:00, Sofia Almeida <sofia@tejo-imo.example> escreveu:\n> T3 em Lisboa",
])
def test_what_follows_a_persons_words_in_other_clients_and_languages(tail) -> None:
    ex = _read_headers({"From": "Giulia Bianchi <giulia.bianchi@example.it>",
                        "Subject": "Bilocale in affitto"},
                       f"Buongiorno, è ancora disponibile il bilocale?\n\n{tail}\n")
    assert ex.message == "Buongiorno, è ancora disponibile il bilocale?"


def test_a_missed_call_is_the_callers_lead_with_no_words() -> None:
    ex = _read_subject("CallRail <notifications@callrail.com>",
                       "Missed call from (512) 555-0134 - Hillcrest Realty",
                       "Missed call from SOFIA BRENNAN\n\nCaller: SOFIA BRENNAN\n"
                       "Number: (512) 555-0134\nLocation: Austin, TX\nDuration: 0:00 (missed)\n\n"
                       "View call: https://app.callrail.example/calls/CAL8f2e91ab\n")
    assert ex.full_name == "Sofia Brennan"  # the caller id, never "Austin" from Location
    assert ex.phone == "+15125550134" and ex.message is None


def test_bids_inline_budgets_and_an_initial_the_message_spells_out() -> None:
    ex = _read_headers({"From": "Auctions <noreply@auctions.example>",
                        "Subject": "Bidder question: 77 Rosewood Ter"},
                       "Property: 77 Rosewood Ter, Memphis, TN 38117\nOpening bid: $98,000\n"
                       "Bidder: Carla Jimenez\nEmail: carla.jimenez@example.net\n")
    assert (ex.full_name, ex.price) == ("Carla Jimenez", "$98,000")
    ex = _read_headers({"From": "Pros <no-reply@pros.example>",
                        "Subject": "New lead: Emily Rhodes wants a quote for Bathroom Remodeling"},
                       "Emily Rhodes wants a quote for Bathroom Remodeling\n"
                       "Austin, TX 78704 · Budget: $8,000 - $12,000 · Within 1 month\n"
                       "Phone: (512) 555-0195\n")
    assert (ex.full_name, ex.price) == ("Emily Rhodes", "12000")
    ex = _read_headers({"From": "Reviews <no-reply@reviews.example>",
                        "Subject": "New Request a Quote from Daniel K."},
                       "Daniel K. sent you a message\nService: Roofing\n"
                       "\"Hello, can you give me an estimate for the roof? Thanks, "
                       "Daniel Kowalski\"\n")
    assert ex.full_name == "Daniel Kowalski"


@pytest.mark.parametrize(("line", "address"), [
    ("Vi el cartel en el chalet de la Calle del Pinar, 14, 28220 Majadahonda y quería saber "
     "el precio.", "Calle del Pinar, 14, 28220 Majadahonda"),
    ("He visto el piso de la Calle de Alcalá 145, 3º B, 28009 Madrid y me interesa mucho.",
     "Calle de Alcalá 145, 3º B, 28009 Madrid"),
    ("New enquiry on your ad: Apartment 12, The Maltings, Bonham Street, Dublin 8, D08 X2Y7 "
     "(€2,150 per month)", "Apartment 12, The Maltings, Bonham Street, Dublin 8, D08 X2Y7"),
])
def test_an_address_inside_a_sentence_ending_in_its_postcode(line, address) -> None:
    assert fields.address_in_sentence(line) == address


def test_no_address_in_a_sentence_without_a_street() -> None:
    assert fields.address_in_sentence("We pay 12000 Dollars, as agreed with 28220 Majadahonda.") \
        is None


def test_a_text_relay_whose_box_holds_both_numbers_is_from_the_one_it_shows() -> None:
    ex = _read_headers({"From": '"(512) 555-0112" <15125550101.15125550112.xYz9ab@'
                                'txt.voice.google.com>',
                        "Subject": "New text message from (512) 555-0112"},
                       "Hi this is Marguerite, saw your sign on Ridgeview. How many bedrooms?\n")
    assert ex.phone == "+15125550112"


def test_a_listing_code_is_no_phone_and_a_dutch_phone_row_is() -> None:
    ex = _read_headers({"From": "Immoweb <noreply@immoweb.be>",
                        "Subject": "Nieuwe aanvraag voor uw zoekertje 10982271"},
                       "Zoekertje: Huis te koop - Kerkstraat 45, 2000 Antwerpen\n"
                       "Immoweb-code: 10982271\nNaam: Pieter Janssens\n"
                       "E-mail: pieter.janssens@example.be\nTelefoon: 0470 55 01 34\n")
    assert ex.phone == "+32470550134"


def test_a_name_with_the_source_after_it_is_the_name() -> None:
    ex = _read_headers({"From": "Relay CRM <notifications@relaycrm.example>",
                        "Subject": "New Lead: Stephanie Moore from Zillow"},
                       "Email: stephanie.moore@example.com\nPhone: (512) 555-0172\n")
    assert ex.full_name == "Stephanie Moore"


@pytest.mark.parametrize("footer", [
    "Domain Group, Level 5, 100 Harris Street, Pyrmont NSW 2009",
    "SeLoger - 10 rue de la Paix, 75002 Paris",
    "SmartFinancial Insurance, 3187 Red Hill Ave, Suite 125, Costa Mesa, CA 92626",
])
def test_a_companys_name_and_address_line_ends_the_message(footer) -> None:
    assert fields.business_line(footer)
    ex = _read_headers({"From": "Portal <no-reply@portal.example>", "Subject": "New enquiry"},
                       "Name: Oliver Nguyen\nEmail: oliver.nguyen@example.com.au\n"
                       f"Message: Could you confirm the next open home?\n{footer}\n")
    assert ex.message == "Could you confirm the next open home?"


def test_a_person_naming_a_street_and_town_is_no_business_line() -> None:
    assert not fields.business_line("Hi Dana, we live at 12 Elm St, Austin, TX 78704")


@pytest.mark.parametrize(("body", "name"), [
    ("Name * Russell Tanaka\nEmail * russ.tanaka@example.com\n", "Russell Tanaka"),
    ("Homeowner name: Douglas Reyes\nEmail address: dreyes.fl@example.com\n", "Douglas Reyes"),
    ("Von: Katharina Huber\nE-Mail: k.huber@example.at\n", "Katharina Huber"),
])
def test_more_name_rows(body, name) -> None:
    ex = _read_headers({"From": "Forms <no-reply@forms.example>", "Subject": "New entry"}, body)
    assert ex.full_name == name


@pytest.mark.parametrize(("row", "vehicle"), [
    ("Boat: 2018 Malibu Wakesetter 22 MXZ", "2018 Malibu Wakesetter 22 MXZ"),
    ("RV: 2020 Grand Design Reflection 312BHTS", "2020 Grand Design Reflection 312BHTS"),
])
def test_a_boat_or_an_rv_row_names_the_vehicle(row, vehicle) -> None:
    ex = _read_headers({"From": "Trader <leads@trader.example>", "Subject": "New lead"},
                       f"{row}\nPrice: $42,900\nStock #: RV2290\nName: Loretta Pickens\n"
                       "Email: loretta.pickens@example.com\n")
    assert ex.property_address == vehicle


@pytest.mark.parametrize(("text", "message"), [
    # the provider speaking of itself, with no word of the writer's
    ("Hi, is the Tacoma still for sale?\n\nThe shopper's email is anonymized. Replies to "
     "this address will be forwarded by CarGurus.", "Hi, is the Tacoma still for sale?"),
    ("I'm looking for a quote on a policy for my bakery.\n\nThank you for using RingCentral.",
     "I'm looking for a quote on a policy for my bakery."),
    ("Grinding noise, shuts off after 10 min.\n\nCall now - customers who are contacted "
     "within 5 minutes are 3x more likely to hire.", "Grinding noise, shuts off after 10 min."),
    # the form's own rows under the answer
    ("first time buyer, want to know how much I can afford\n\nip_address: 203.0.113.88\n"
     "date_submitted: 2024-08-03", "first time buyer, want to know how much I can afford"),
    # the writer's own later paragraph naming the provider stays
    ("Is it still available?\n\nI found you on Zillow, my number is below.",
     "Is it still available?\n\nI found you on Zillow, my number is below."),
])
def test_a_providers_paragraph_after_the_message_is_cut(text: str, message: str) -> None:
    assert tidy_message(text) == message


@pytest.mark.parametrize(("text", "vehicle"), [
    ("I saw your ad for the silver Ford F-150 and wanted to know", "Ford F-150"),
    ("una Ducati Monster 2023. Grazie", "2023 Ducati Monster"),
    ("我想咨询一下那辆2022 Toyota Camry Hybrid（丰田凯美瑞）", "2022 Toyota Camry Hybrid"),
    ("Is the black Jeep Wrangler on your lot still available?", "Jeep Wrangler"),
    # the vehicle traded in is not the one asked about
    ("I want to trade in my 2015 Honda Civic for the 2022 Toyota RAV4 XLE", "2022 Toyota RAV4 XLE"),
    # a make that is also a street's or a place's word is no vehicle
    ("We love the house on Lincoln Ave near Ford Rd", None),
    ("The Mini we drive fits the garage", None),
])
def test_a_vehicle_named_in_a_persons_words(text: str, vehicle: str | None) -> None:
    from leadmail.parsers.common import vehicle_named
    assert vehicle_named(text) == vehicle


def test_a_vehicle_in_a_relayed_message_is_the_property_and_a_purchase() -> None:
    ex = _read("CallRail <notifications@callrail.com>",
               "Missed call from (512) 555-0184\nCaller: LEON BROOKS (Austin, TX)\n\n"
               "Voicemail transcription:\n\"Hi, this is Leon Brooks, I saw your ad for the "
               "silver Ford F-150 and wanted to know if it's still there. Call me back at "
               "512-555-0184.\"\n")
    assert ex.property_address == "Ford F-150" and ex.segment == "Buyer"


def test_a_service_jobs_address_is_the_customers_own() -> None:
    ex = _read("Cognito Forms <notifications@cognitoforms.com>",
               "Emergency Service Request - Entry #311\n\nName\nLuis Ferreira\n\nEmail\n"
               "luis.ferreira@example.com\n\nPhone\n(720) 555-0178\n\nService Address\n"
               "4120 Tennyson St\nDenver, CO 80212\n\nWhat's going on?\nAC unit not cooling, "
               "blowing warm air since yesterday.\n\nUrgency\nEmergency (same day)\n")
    assert ex.address == "4120 Tennyson St, Denver, CO 80212" and ex.property_address is None
    assert ex.message == "AC unit not cooling, blowing warm air since yesterday."
    assert ex.segment is None  # Customers, by the classifier's default


def test_an_insurance_quote_in_italian_is_a_service() -> None:
    ex = _read_subject("Giulia Ferraresi <giulia.f@example.it>", "Preventivo assicurazione moto",
                       "Buongiorno, vorrei un preventivo per l'assicurazione della mia nuova "
                       "moto, una Ducati Monster 2023. Grazie.\n\nGiulia Ferraresi\n")
    assert ex.property_address == "2023 Ducati Monster" and ex.segment is None


@pytest.mark.parametrize(("text", "vehicle"), [
    ("Is the silver 2019 Accord on your front lot still for sale?", "2019 Honda Accord"),
    ("Vi en su página la Honda Pilot 2020 EX-L gris en $27,900.", "2020 Honda Pilot EX-L"),
    ("2019 Subaru Outback 2.5i Premium", "2019 Subaru Outback 2.5i Premium"),
    # a model alone without its year is a word ("the Civic center on Pilot Rd")
    ("the Civic center on Pilot Rd", None),
    ("Cycle Trader Lead: 2022 Harley-Davidson Street Glide Special",
     "2022 Harley-Davidson Street Glide Special"),
    ("We love the house on Ford Street", None),
    ("Would you do a trade for my 2012 Silverado plus cash?", None),
])
def test_a_best_selling_model_takes_its_make(text: str, vehicle: str | None) -> None:
    from leadmail.parsers.common import vehicle_named
    assert vehicle_named(text) == vehicle


def test_a_vehicle_without_its_year_takes_the_listings_registration_year() -> None:
    ex = _read("mobile.de <noreply@team.mobile.de>",
               "Neue Anfrage zu Ihrem Fahrzeug\n\nFahrzeug: Volkswagen Golf 1.5 TSI Life\n"
               "Erstzulassung: 03/2021\n\nName: Jonas Weber\nE-Mail: jonas@example.de\n"
               "Nachricht: Ist der Golf noch verfügbar? Ich interessiere mich für den "
               "Volkswagen Golf 1.5 TSI Life.\n")
    assert ex.property_address == "2021 Volkswagen Golf 1.5 TSI Life"


@pytest.mark.parametrize(("sender", "subject", "body", "source"), [
    ("Make <no-reply@make.com>", "TikTok Lead: Free In-Home Estimate",
     "New TikTok Instant Form lead\nname: Sofía Ramírez\nemail: sofia.r@example.net\n",
     "TikTok"),
    ("LeadsBridge <notifications@leadsbridge.com>", "New Lead from Snapchat - Test Drive",
     "You have a new lead!\nSource: Snapchat Lead Generation\nName: Jamal Whitford\n"
     "Email: jamal.w@example.net\n", "Snapchat"),
    ("Zapier <noreply@zapier.com>", "Microsoft Ads lead: Dwayne Harlow",
     "Microsoft Advertising - Lead form submission\nFirst name: Dwayne\nLast name: Harlow\n"
     "Email: dharlow@example.org\n", "Microsoft Advertising"),
    ("Zapier <noreply@zapier.com>", "New Facebook lead",
     "full_name: Ana Ruiz\nemail: ana.ruiz@example.com\nphone_number: +15125550111\n",
     "Facebook"),
])
def test_a_connector_relays_the_ad_platforms_lead(sender: str, subject: str, body: str,
                                                  source: str) -> None:
    assert _read_subject(sender, subject, body).source == source


def test_a_question_opening_on_first_asks_for_the_whole_name() -> None:
    assert fields.keyword_field("first what your name") == "full_name"
    assert fields.keyword_field("what is your first name") == "first_name"


def test_the_name_a_chat_prints_above_the_message_is_no_part_of_it() -> None:
    raw = (Path(__file__).parent / "fixtures" / "blind" / "set14" /
           "b_car_facebook_marketplace_tacoma.eml").read_bytes()
    ex = parsers.extract(parse_mail(raw), ParseContext())
    assert ex.full_name == "Alexis Rivera" and ex.message.startswith("Hi! Is this still")


@pytest.mark.parametrize(("label", "field"), [
    ("what prompted you to book", "message"),
    ("please share anything that will help prepare for our meeting", "message"),
    ("keisha morgan says", "message"),
    ("consumer comments", "message"),
    ("project notes", "message"),
])
def test_a_forms_open_question_labels_the_message(label: str, field: str) -> None:
    from leadmail.parsers.common import field_of
    assert field_of(label) == field


def test_a_relays_name_says_line_names_the_person_and_opens_the_message() -> None:
    ex = _read("Zillow Rentals <rentals@mail.zillow.com>",
               "You have a new message about your rental\n1640 NW Everett St UNIT 12, Portland, "
               "OR 97209\n\nKeisha Morgan says:\nHello! I'm a nurse starting in February. Is "
               "the unit still available?\n\nPhone: (503) 555-0148\n")
    assert ex.message == "Hello! I'm a nurse starting in February. Is the unit still available?"


@pytest.mark.parametrize(("sender", "subject", "source"), [
    ("Rocket Homes <partneragents@rockethomes.example>", "Rocket Homes Referral: Heather L.",
     "Rocket Homes"),
    ("Homes & Land <leads@homesandland.example>", "Homes & Land Lead: 2219 Magnolia Bluff Ct",
     "Homes & Land"),
    # a brokerage's own site form, its subject after its name: the site's
    ("Hill Country Homes <wordpress@hillcountryhomes.example>", 'Hill Country Homes "Question"',
     "Website"),
    ("Sunset Realty <web@sunsetrealty.example>", "Sunset Realty Lead: Ana Ruiz", "Website"),
])
def test_a_provider_announcing_its_own_lead_is_its_source(sender: str, subject: str,
                                                          source: str) -> None:
    ex = _read_subject(sender, subject, "Name: Heather Lindqvist\nEmail: heather.l@example.com\n"
                       "Phone: (616) 555-0142\nMessage: We'd like to tour homes in March.\n")
    assert ex.source == source


@pytest.mark.parametrize(("text", "price"), [
    ("Das Haus 2905 Glen Ora St, das auf Ihrer Website für 735.000 $ angeboten wird.", "735000"),
    ("Sono interessato alla Sea Ray SLX 280 che avete in vendita a 139.900 $.", "139900"),
    ("Vi en su página web el Nissan Rogue SV 2022 que tienen en $23,800.", "23800"),
    # a neighbour's sale is no price of this listing
    ("Eine Nachbarin hat ihre Wohnung im Sommer für etwa 740.000 Dollar verkauft.", None),
])
def test_a_price_a_person_quotes_in_their_language(text: str, price: str | None) -> None:
    win = fields.best(fields.price_candidates([text], 1, free_text=True))
    assert (win.value if win else None) == price


def test_the_latin_order_a_writer_signs_with_wins_over_the_display_names() -> None:
    ex = _read_subject("Wang Li <wangli.home@example.com>", "咨询：21 Sandpiper, Irvine 的房子",
                       "您好，\n\n请问这个房子还在卖吗？我的电话是 (949) 555-0128。\n\n谢谢！\n\n"
                       "王丽 (Li Wang)\n")
    assert ex.full_name == "Li Wang"


def test_a_vehicle_row_is_no_street_though_its_model_has_a_streets_word() -> None:
    ex = _read_subject("Cycle Trader <leads@cycletrader.example>",
                       "Cycle Trader Lead - 2022 Harley-Davidson Street Glide Special",
                       "You have a new lead from Cycle Trader!\nUnit: 2022 Harley-Davidson "
                       "Street Glide Special\nName: Tiana Rooker\nEmail: "
                       "tiana.rooker@example.net\nPhone: 512-555-0126\nComments: Do you offer "
                       "financing?\n")
    assert ex.property_address == "2022 Harley-Davidson Street Glide Special"


@pytest.mark.parametrize(("subject", "body", "name"), [
    # one first name in the notice's sentence, the whole name on a line of its own
    ("Megan is interested in 4410 Oak Hollow Dr",
     "Hi Jordan,\nYou have a new contact request.\n\nMegan Ortiz\nmegan.ortiz@example.com\n"
     "(512) 555-0142\n", "Megan Ortiz"),
    # an initial the signature spells out below the message
    ("New message from Kevin L. - Request a Quote",
     "Kevin L. is requesting a quote\n\nMessage\nHow much would that be?\n\nThanks,\n"
     "Kevin Lam\n\nRespond\n", "Kevin Lam"),
    ("Marisol Cantu would like more information", "Marisol Cantu would like more information "
     "about\n4120 Broadway St, San Antonio, TX 78209\nEmail: marisol.cantu@example.com\n"
     "Phone: 210-555-0105\n",
     "Marisol Cantu"),
])
def test_the_whole_name_a_notice_gives_elsewhere(subject: str, body: str, name: str) -> None:
    assert _read_subject("Portal <no-reply@portal.example>", subject, body).full_name == name


@pytest.mark.parametrize(("subject", "body", "street"), [
    # the subject shortens the street; the body gives it in full beside the price
    ("Showing request: 4006 Avenue G", "Isabel Moreno requested a showing\n\n4006 Avenue G, "
     "Austin, TX 78751 $675,000 · 2 bd · 1 ba\n\nContact: Isabel Moreno "
     "isabel.moreno@example.com\n", "4006 Avenue G, Austin, TX 78751"),
    # a comma between the state and the ZIP
    ("Tour request: 1907 Ashwood Ct", "New tour request\n\nName\nBrandon Lee\nEmail\n"
     "blee@example.net\nHome\n1907 Ashwood Ct, Round Rock, TX, 78664\n",
     "1907 Ashwood Ct, Round Rock, TX 78664"),
    # the listing quoted under the person's reply
    ("Re: Sunny 2BR duplex", "Is this still available? Call me at 512-555-0171.\n\nOn Mon, "
     "Mar 17, 2025 at 9:02 AM wrote:\n> Sunny 2BR duplex\n>\n> 4303 Avenue C, Austin, TX 78751\n",
     "4303 Avenue C, Austin, TX 78751"),
])
def test_the_property_street_in_full(subject: str, body: str, street: str) -> None:
    assert _read_subject("Portal <no-reply@portal.example>", subject, body).property_address \
        == street


@pytest.mark.parametrize(("body", "message"), [
    # a role's words under a two-word label, the value on the next line
    ("Name: Priscilla Gomez\nEmail: p.gomez@example.com\n\nBuyer’s question:\nAre the solar "
     "panels owned or leased?\n\nThis lead was sent to you because you are the listing agent.\n",
     "Are the solar panels owned or leased?"),
    ("Client: Alicia Grant\nClient email: alicia.grant@example.com\n\nWhat the client said:\n"
     "> We want to see this one before the open house.\n\nPlease contact the client.\n",
     "We want to see this one before the open house."),
    # a sentence with a colon in it is no row of the layout
    ("Natalie Kim sent you a message\n\nProject: Kitchen Remodel\nTimeline: 1-3 months\n\n"
     "We're looking to remodel a kitchen: new cabinets and counters. Best number is "
     "425-555-0148.\n\nReply to Natalie: https://pro.example/inbox\n",
     "We're looking to remodel a kitchen: new cabinets and counters. Best number is "
     "425-555-0148."),
    # stacked questions: one answer ends where the next question begins
    ("A new response was submitted.\n\nFull name\nLeonard Pemberton\nEmail\n"
     "leonard.p@example.com\nWhen are you thinking of selling?\n3-6 months\nAnything else?\n"
     "We replaced the roof last year.\n\nView response: https://forms.example/r\n",
     "We replaced the roof last year."),
])
def test_the_persons_words_under_a_label_of_their_own(body: str, message: str) -> None:
    ex = _read_subject("Portal <no-reply@portal.example>", "New lead", body)
    assert ex.message == message


@pytest.mark.parametrize(("sender", "body", "price"), [
    ("Harold Benson <harold.benson@example.com>", "Hello,\n\nI drove by your sign at 615 "
     "Ridgeview Dr. Would the owners take $420,000? We could close quickly.\n\nHarold Benson\n",
     420000),
    ("Portal <no-reply@portal.example>", "Client | Heather Lindqvist |\nHome | 3340 Burton St "
     "SE, Grand Rapids, MI 49546 |\nApproved up to | $410,000 |\n", 410000),
    ("Portal <no-reply@portal.example>", "Homeowner: Linda Marsh\nHome: 2719 E Cholla St, "
     "Phoenix, AZ 85028\nEstimated market value: $430,000\n", 430000),
    # a commercial listing's floor area, a vehicle's mileage beside the price
    ("Portal <no-reply@portal.example>", "Listing: 1800 Industrial Blvd, Tempe, AZ 85281\n"
     "Flex/Industrial For Sale | 18,400 SF | $2,450,000\nName: Laura Whitcomb\n", 2450000),
    ("Portal <no-reply@portal.example>", "2020 Ford F-150 XLT\n$36,995 · 51,340 mi · SuperCrew"
     " 4x4\nName: Jordan McBride\n", 36995),
    # the listing's price, then its place
    ("Portal <no-reply@portal.example>", "Alexis Rivera\nIs this still available?\n\n2017 "
     "Toyota Tacoma TRD Off-Road\n$29,500 · New Braunfels, TX\n", 29500),
    # several rows on one line, set apart by spaces
    ("Portal <no-reply@portal.example>", "Name: Jared Collins   Phone: 480-555-0104   Price "
     "Range: $350K - $425K   Area: Mesa\n", 425000),
    ("Portal <no-reply@portal.example>", "Name\nDeborah Lindqvist\nWhat do you think it is "
     "worth?\n$410,000 - $435,000\nWhen are you hoping to sell?\nSpring 2027\n", 435000),
    # a word that is no price in another sentence; a range in a person's words
    ("Portal <no-reply@portal.example>", "Name: Yuki Tanabe\nMessage:\nI'm looking for a condo "
     "downtown, ideally with a parking spot. Budget is under $400,000.\n", 400000),
    ("Helena Voss <helena@example.com>", "Hello,\n\nWe're looking for a 4-bedroom home in Cary, "
     "with a budget of $550,000 to $650,000. Could you help?\n\nThank you,\nHelena\n", 650000),
])
def test_prices_in_more_layouts(sender: str, body: str, price: int) -> None:
    from leadmail.draft import lead_price
    assert lead_price(_read_subject(sender, "New lead", body).price) == price


def test_a_role_mailbox_with_a_word_of_its_own_is_a_notifier() -> None:
    ex = _read_subject("Porch Pro <pro-leads@porch.example>", "New Project: Interior Painting",
                       "New Project Request\nService: Interior Painting\n\nHomeowner\nMeredith "
                       "Ann Caldwell\nmeredith.caldwell@example.com\n(615) 555-0133\n\nProject "
                       "Location\n1420 Linden Ave\nNashville, TN 37212\n\nProject description:\n"
                       "Repainting the living room before we list the house.\n\nMusic City "
                       "Painting Co. | 600 8th Ave S, Nashville, TN 37203 | (615) 555-0116\n")
    assert (ex.full_name or "").startswith("Meredith")
    assert ex.email == "meredith.caldwell@example.com"
    # the receiving business's own line (its name, street and phone) is no place of the lead's
    assert "600 8th Ave" not in str(ex.address) + str(ex.property_address)


def test_the_place_a_person_gives_names_their_phones_country() -> None:
    ex = _read_subject("Jürgen Baumann <j.baumann@example.de>", "Anfrage: Kfz-Versicherung",
                       "Sehr geehrte Damen und Herren,\n\nwir suchen eine Kfz-Versicherung.\n\n"
                       "Unsere Adresse: 612 W Main St, Fredericksburg, TX 78624\nTelefon: (830) "
                       "555-0126\n\nMit freundlichen Grüßen\nJürgen Baumann\n")
    assert normalize.phone(ex.phone) == "+18305550126"
    assert ex.address == "612 W Main St, Fredericksburg, TX 78624"


def test_where_a_person_lives_is_said_in_the_streets_own_sentence() -> None:
    ex = _read_subject("Andrés Castillo <andres@example.com>", "Condo",
                       "Hello,\n\nI am interested in the condo at 1500 Bay Rd #812, Miami Beach, "
                       "FL 33139 listed at $689,000. I live in Bogotá but travel to Miami often."
                       "\n\nRegards,\nAndrés Castillo\n")
    assert ex.property_address and ex.property_address.startswith("1500 Bay Rd")
    assert not ex.address


def test_a_street_whose_number_reads_as_a_year_is_no_vehicle() -> None:
    from leadmail.parsers.common import is_vehicle
    assert not is_vehicle("1901 Aldrich St, Austin, TX 78723")
    assert is_vehicle("2021 Grand Design Imagine 2670MK")
    assert is_vehicle("2018 Harley-Davidson Street Glide")


def test_a_vehicles_monthly_payment_is_no_rent() -> None:
    ex = _read_subject("CarGurus <leads@cargurus.example>", "New lead: 2019 Subaru Outback",
                       "Vehicle: 2019 Subaru Outback 2.5i Premium\nPrice: $23,750 (est. $389/mo)\n"
                       "Name: Ken Ito\nEmail: ken.ito@example.com\nPhone: 512-555-0160\n")
    assert ex.segment == "Buyer"


def test_the_number_a_relay_calls_yours_is_never_the_leads() -> None:
    ex = _read_subject("Grasshopper <notifications@grasshopper.example>",
                       "New text message from (512) 555-0183",
                       "You received a new text message on your Grasshopper number (512) "
                       "555-0119.\n\nFrom: (512) 555-0183\nMessage:\nDo you do drywall patching?\n"
                       "\nHandy Hank's Home Repair - (512) 555-0119\n")
    assert normalize.phone(ex.phone) == "+15125550183"


def test_eval_compares_an_address_whatever_its_letter_case() -> None:
    from leadmail.evaluate import field_matches
    got = {"property_address": "calle de Sueca, 21, Valencia 46006"}
    assert field_matches("property_address", "Calle de Sueca 21, Valencia, 46006", got)
    assert not field_matches("property_address", "Calle de Sueca 23, Valencia, 46006", got)


@pytest.mark.parametrize(("body", "message"), [
    # a form's open question and the person's words on one line
    ("Dana Whitfield\nPhone: (704) 555-0152\nForm answers:\n When are you looking to buy? 3-6 "
     "months\n Anything else we should know? Lake access is a must, ideally with a dock.\n",
     "Lake access is a must, ideally with a dock."),
])
def test_the_answer_to_an_open_question_on_its_line(body: str, message: str) -> None:
    assert _read_subject("Portal <no-reply@portal.example>", "New lead", body).message == message


def test_a_form_about_a_project_is_a_service_job() -> None:
    ex = _read_subject("Jotform <noreply@jotform.example>", "Free Estimate Request - Derek L",
                       "Full Name: Derek Lindgren\nE-mail: derek.lindgren@example.com\n"
                       "Address: 7718 Cooper Ln, Austin, TX 78745\nProject Budget: $6,000\n"
                       "Project Details: A 6 ft cedar privacy fence along the back.\n")
    assert ex.segment is None  # a service's customer: neither buyer nor seller
    assert ex.address == "7718 Cooper Ln, Austin, TX 78745" and not ex.property_address


def test_realtor_coms_connections_plus_is_realtor_com() -> None:
    body = "New referral: Buyer\nClient: Brianna Castillo\nPhone: 512-555-0188\n"
    ex = _read_subject("Realtor.com Connections Plus <connections@opcity.com>",
                       "New Connection: Brianna Castillo - Buyer", body)
    assert ex.source == "Realtor.com"
    assert _read_subject("Opcity <referrals@opcity.com>", "New Opcity referral: Brianna "
                         "Castillo (Buyer)", body).source == "Opcity"


@pytest.mark.parametrize(("value", "street"), [
    ("2 bed flat to rent – Abbeville Road, London SW4 9JX", "Abbeville Road, London SW4 9JX"),
    ("Helle 2-Zimmer-Mietwohnung, Favoritenstraße 88, Wien 1100", "Favoritenstraße 88, Wien 1100"),
    ("Einfamilienhaus, Lindenweg 12, Gauting 82131", "Lindenweg 12, Gauting 82131"),
    # a flat's number and a house's name are the address's own
    ("Flat 3, 14 Elm Road, London SW4 7AB", None),
    ("Rose Cottage, 4 Church Lane, Chipping Norton OX7 5NH", None),
])
def test_a_listings_title_before_its_address(value: str, street: str | None) -> None:
    assert fields.after_listing_title(value) == street


def test_a_vehicle_in_stacked_rows_under_its_heading() -> None:
    ex = _read_subject("Edmunds Dealer Leads <dealerleads@edmunds.example>", "Edmunds Lead",
                       "Shopper\nName\nRahul Venkataraman\nEmail\nrahul.venkat@example.com\n"
                       "Vehicle\nYear\n2019\nMake\nMazda\nModel\nCX-5\nTrim\nGrand Touring\n"
                       "Dealer Price\n$21,488\n")
    assert ex.property_address == "2019 Mazda CX-5 Grand Touring"


def test_the_price_a_dealer_offers_wins_over_the_sticker() -> None:
    from leadmail.draft import lead_price
    ex = _read_subject("TrueCar <noreply@truecar.example>", "New Prospect: Kowalski, Dana",
                       "Name: Kowalski, Dana\nEmail: dkowalski@example.net\nVEHICLE\n 2025 "
                       "Subaru Outback Premium\n MSRP: $32,615\n TrueCar Price Offer: $30,870\n")
    assert lead_price(ex.price) == 30870


def test_a_buyers_current_address_is_theirs_not_the_property() -> None:
    ex = _read_subject("Redfin Referrals <referrals@redfin.com>",
                       "New Redfin referral: Nguyen, Linh — Buyer in Boise, ID",
                       "Customer: Nguyen, Linh\nEmail: linh.nguyen@example.com\nPhone: 208.555."
                       "0131\nCurrent address: 611 W Hays St, Boise, ID 83702\nLooking to: Buy\n")
    assert ex.address == "611 W Hays St, Boise, ID 83702"
    assert not ex.property_address  # nor the subject's words after the name


def test_an_owner_occupied_home_is_the_sellers_address_too() -> None:
    ex = _read_subject("UpNest <notifications@upnest.example>",
                       "UpNest: Joyce Ferraro chose you as her listing agent!",
                       "SELLER\nJoyce Ferraro\njoyce.ferraro@example.net\n(410) 555-0129\n\nHOME\n"
                       "1739 Bay Ridge Ave, Annapolis, MD 21403 (owner-occupied)\nPlanning to "
                       "sell: 1-3 months\n")
    assert ex.segment == "Seller"
    assert ex.address and ex.address.startswith("1739 Bay Ridge Ave")


def test_a_homes_kind_under_a_property_label_is_no_address() -> None:
    ex = _read_subject("Networx Leads <leads@networx.example>", "Lead: Bathroom Remodel",
                       "Name: Pham, Linh\nAddress: 1507 Brookhollow Dr\nCity: Garland\nState: TX\n"
                       "Zip: 75044\nPhone: (972) 555-0121\nProperty: Single family home, owned\n")
    assert ex.property_address != "Single family home, owned"
    assert ex.custom_fields.get("property_type") == "Single family home, owned"


def test_who_wants_your_help_is_the_lead() -> None:
    ex = _read_subject("Thumbtack <no-reply@thumbtack.example>", "New direct request",
                       "New direct request\nRamon Medina wants your help with House Cleaning\n"
                       "Ramon's phone number: (512) 555-0175\nLocation: Austin, TX 78704\n")
    assert ex.full_name == "Ramon Medina"


@pytest.mark.parametrize(("value", "kept"), [
    # a scheduler's prompt above the person's words
    ("Please share anything that will help prepare for our meeting.\nWe have a 20-year term.",
     "We have a 20-year term."),
    # the person's own first sentences are kept
    ("Interested. Please share the floor plan and the final price.\nThanks",
     "Interested. Please share the floor plan and the final price.\nThanks"),
])
def test_a_forms_prompt_is_no_part_of_the_message(value: str, kept: str) -> None:
    assert tidy_message(value) == kept


def test_a_service_jobs_place_read_twice_is_no_listing() -> None:
    # an Angi lead whose Address and City / State / Zip rows the layout reads as the job's
    # place and as the listing both
    path = Path(__file__).parent / "fixtures/blind/set14/b_home_angi_interior_painting.eml"
    ex = parsers.extract(parse_mail(path.read_bytes()), ParseContext())
    assert ex.address == "5520 Rosewood Ave, Indianapolis, IN 46220"
    assert ex.property_address is None


def test_a_json_bodys_vehicle_and_its_price_over_its_msrp() -> None:
    from leadmail.draft import lead_price
    body = ('{"event": "lead.created", "customer": {"first_name": "Yusuf", "last_name": "Haddad",'
            ' "email": "yusuf.haddad@example.com", "phone": "2815550147"}, "vehicle": {"year": '
            '2025, "make": "Kia", "model": "Sportage", "trim": "X-Line", "stock": "K25190", '
            '"msrp": 34690, "price": 32995}, "comments": "Best price with the Premium package?"}')
    ex = _read_subject("Gulf Coast Kia <leads@gulfcoastkia.example>", "New ePrice lead", body)
    assert ex.property_address == "2025 Kia Sportage X-Line"
    assert lead_price(ex.price) == 32995


@pytest.mark.parametrize("heading", ["NOTES FROM YOUR HOMELIGHT CLIENT SUCCESS MANAGER (Trevor)",
                                     "Notes from Zillow", "Agent notes"])
def test_a_providers_staff_notes_are_no_message(heading: str) -> None:
    ex = _read_subject("Portal <referrals@portal.example>", "New referral: Meredith Calloway",
                       f"CLIENT\nName: Meredith Calloway\nPhone: (919) 555-0115\n\n{heading}\n"
                       "Meredith is downsizing now that her kids have moved out.\n")
    assert ex.message is None


def test_a_subjects_name_ends_at_its_first_lowercase_word() -> None:
    ex = _read_subject("Zillow <no-reply@mail.zillow.com>",
                       "New contact: Lauren Whitfield wants to connect",
                       "Lauren Whitfield found you in Zillow's Agent Finder.\nLooking to: Buy\n")
    assert ex.full_name == "Lauren Whitfield"


def test_a_voicemail_box_is_a_notifier_and_a_statement_is_account_mail() -> None:
    from leadmail.parsers.common import is_provider_addr
    assert is_provider_addr("voicemail@grasshopper.example", ())
    ex = _read_subject("Angi Leads Billing <billing@angi.example>",
                       "Your Angi Leads statement for April 1 - April 15, 2025 is ready",
                       "Lead charges\n04/03 Lead 3175550102 Roof Repair $74.12\n")
    assert ex.is_lead is False


def test_an_office_line_whose_name_holds_a_number() -> None:
    assert fields.office_line("Route 66 Harley-Davidson · 3637 S Memorial Dr, Tulsa, OK 74145 · "
                              "(918) 555-0120")
    assert not fields.office_line("12 Elm St · Austin, TX 78701 · (512) 555-0100")


def test_a_booked_services_place_in_json_ld_is_the_business() -> None:
    from leadmail.parsers import structured
    doc = structured.parse_json(
        '{"@context": "https://schema.org", "@type": "Reservation", "underName": {"@type": '
        '"Person", "name": "Kwame Boateng", "email": "kwame.boateng@example.com"}, '
        '"reservationFor": {"@type": "Service", "name": "Brake Inspection", "location": '
        '{"@type": "Place", "name": "Precision Auto Care", "address": {"@type": '
        '"PostalAddress", "streetAddress": "2250 S Broadway", "addressLocality": "Denver", '
        '"addressRegion": "CO", "postalCode": "80210"}}}}', "json-ld", "html script 1")
    assert doc is not None
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Setmore <noreply@setmore.example>", "a@b.example", "x"
    msg.set_content("x")
    ex = structured.read(doc, parse_mail(msg.as_bytes()), ParseContext())
    assert ex.email == "kwame.boateng@example.com"
    assert not ex.property_address and not ex.address


def test_a_form_webhooks_answers_list_reads_by_its_questions() -> None:
    body = ('{"event_type": "form_response", "form_response": {"definition": {"fields": ['
            '{"id": "f1", "ref": "first_name", "title": "What\'s your first name?"}, '
            '{"id": "f2", "ref": "last_name", "title": "And your last name?"}, '
            '{"id": "f3", "ref": "email", "title": "Best email?"}, '
            '{"id": "f6", "ref": "home", "title": "Is there a specific home you\'re interested '
            'in?"}, {"id": "f8", "ref": "notes", "title": "Anything else we should know?"}]}, '
            '"answers": [{"type": "text", "text": "Marguerite", "field": {"id": "f1"}}, '
            '{"type": "text", "text": "Osei", "field": {"id": "f2"}}, '
            '{"type": "email", "email": "marguerite.osei@example.com", "field": {"id": "f3"}}, '
            '{"type": "text", "text": "2207 Crestline Dr, Cedar Park, TX 78613", "field": {"id": '
            '"f6"}}, {"type": "text", "text": "We need a fenced yard.", "field": {"id": "f8"}}]}}')
    ex = _read_subject("Make <noreply@make.example>", "New Typeform response", body)
    assert (ex.first_name, ex.last_name) == ("Marguerite", "Osei")
    assert ex.email == "marguerite.osei@example.com"
    assert ex.property_address == "2207 Crestline Dr, Cedar Park, TX 78613"
    assert ex.message == "We need a fenced yard."


@pytest.mark.parametrize("sender", [
    '"CENTURY21.com" <leads@century21.example>',
    '"ColdwellBankerHomes.com" <leads@coldwellbankerhomes.example>'])
def test_a_franchises_own_site_is_website(sender: str) -> None:
    ex = _read_subject(sender, "New inquiry: 1820 Vista Del Mar",
                       "Name: Ana Ruiz\nEmail: ana.ruiz@example.com\nPhone: 310-555-0141\n"
                       "Property: 1820 Vista Del Mar, Malibu, CA 90265\n")
    assert ex.source == "Website"


def test_a_vehicles_service_is_a_service_job() -> None:
    ex = _read_subject("Jens Vogel <jens.vogel@example.de>", "Termin für Inspektion",
                       "Guten Tag,\n\nich möchte einen Termin für die Inspektion meines 2016 VW "
                       "Golf 1.4 TSI vereinbaren. Telefon: 0151 55501470\n\nViele Grüße\nJens "
                       "Vogel\n")
    assert ex.segment is None  # a service's customer, not a buyer of the car


def test_a_named_vehicle_takes_the_model_year_the_mail_gives() -> None:
    ex = _read_subject("Jürgen Hoffmann <j.hoffmann@example.de>", "Inspektion und Bremsen",
                       "Sehr geehrte Damen und Herren,\n\nmein VW Golf 1.4 TSI (Baujahr 2016, ca. "
                       "112.000 km) ist fällig für die Inspektion.\n\nMit freundlichen Grüßen\n"
                       "Jürgen Hoffmann\n")
    assert ex.property_address == "2016 VW Golf 1.4 TSI"


def test_a_dealers_block_is_the_dealers() -> None:
    # AutoTrader's "DEALER INFORMATION" rows (its name, then its street) after the shopper's
    path = Path(__file__).parent / "fixtures/blind/set18/b_autotrader_camry.eml"
    ex = parsers.extract(parse_mail(path.read_bytes()), ParseContext())
    assert "8400 Research Blvd" not in str(ex.address)  # (the shopper's ZIP alone is kept)
    assert ex.property_address == "2021 Toyota Camry SE"


def test_a_robots_notice_quoting_the_person() -> None:
    ex = _read_subject("Compass <no-reply@compass.example>", "New comment on 22 Ridgeview Ter",
                       "COMPASS\n\nJenna Morales commented on a home in Montclair Homes\n\n22 "
                       "Ridgeview Ter, Montclair, NJ 07043\n\n$975,000 | 4 BD | 2.5 BA\n\nJenna "
                       "Morales · jenna.morales@example.com · 2m ago\n\n“Love the kitchen, but is "
                       "the third bedroom really only 9x10?”\n\nReply in Collections\n")
    assert ex.source != "Direct"  # a robot's notice is no person's own mail
    assert ex.message == "Love the kitchen, but is the third bedroom really only 9x10?"


def test_a_uk_postcode_names_the_phones_country() -> None:
    ex = _read_subject("Bark <team@bark.example>", "New lead: gardener in Bristol",
                       "Name: Oliver Hughes\nLocation: Bristol BS6 6AF\nPhone: 07700 900123\n"
                       "Details: Hedge trimming and lawn care every two weeks.\n")
    assert normalize.phone(ex.phone, "GB") == "+447700900123"
    assert ex.phone and ex.phone.replace(" ", "").endswith("7700900123")


@pytest.mark.parametrize("trailer", [
    "Please contact the prospect within 24 hours.",  # the person in the third person
    "Renter leads convert best when answered within the hour.",
    "The recording is attached to this email.",
    "Hosted by Dana Ruiz, Lakeside Realty, 400 Shore Dr, Madison, WI 53703 · (608) 555-0110",
    "UNIT DETAILS\nBeds: 2\nBaths: 1\nListing ID: 88812",  # a heading and its rows
    "Sent to Lakeside Lending, 40 Main St, Madison, WI 53703, (608) 555-0102.",
    "Sent to Harbour Homes, 22 Quay Road, Bristol BS8 2LG, 0117 496 0123.",  # an office, abroad
    "Your proposal was shared with the client.",
])
def test_what_a_notification_prints_under_the_words_is_not_theirs(trailer: str) -> None:
    ex = _read_subject("Rentals Hub <leads@rentalshub.example>", "New inquiry: 12 Elm St #3",
                       "Name: Priya Natarajan\nEmail: priya.n@example.com\n\nMessage:\nIs the "
                       "unit still open for March? We have one cat.\n\n" + trailer + "\n")
    assert ex.message == "Is the unit still open for March? We have one cat."


def test_a_later_paragraph_of_the_persons_stays() -> None:
    # the same place under the words, but the person's own: "we", a question
    body = ("Name: Priya Natarajan\nEmail: priya.n@example.com\n\nMessage:\nIs the unit still "
            "open for March?\n\nWe can meet the landlord at 400 Shore Dr, Madison, WI 53703.\n")
    ex = _read_subject("Rentals Hub <leads@rentalshub.example>", "New inquiry", body)
    assert ex.message is not None and ex.message.endswith("Madison, WI 53703.")


def test_an_id_row_run_on_under_the_words_is_cut() -> None:
    ex = _read_subject("Pro Jobs <leads@projobs.example>", "New job request",
                       "Customer: Omar Haddad\nPhone: (512) 555-0190\n\nDetails:\nThe "
                       "kitchen faucet leaks under the sink, need it fixed this week.\n"
                       "Request #: PJ-2210934\n")
    assert ex.message == "The kitchen faucet leaks under the sink, need it fixed this week."


@pytest.mark.parametrize(("purpose", "price"), [
    ("Cash-out refinance", None), ("Rate/term refinance", None), ("HELOC", None),
    ("Purchase", 450000)])
def test_a_refinance_names_no_price(purpose: str, price: int | None) -> None:
    ex = _read_subject("Rate Finder <leads@ratefinder.example>", "New mortgage lead",
                       f"First Name: Ramon\nLast Name: Estrada\nEmail: ramon.e@example.com\n"
                       f"Loan purpose: {purpose}\nEstimated home value: $450,000\n")
    from leadmail.draft import lead_price
    assert lead_price(ex.price) == price
    if price is None:  # the home's value stays with the lead
        assert "450" in ex.custom_fields["home_value"]


@pytest.mark.parametrize("deal", ["Autohub Price", "Price Promise", "Our Price"])
def test_a_portals_price_under_the_sticker_is_the_price(deal: str) -> None:
    ex = _read_subject("Autohub <leads@autohub.example>", "Price quote: 2024 Kia Sorento LX",
                       f"Customer: Dana Whitfield\nEmail: dana.w@example.com\n\nMSRP: $33,520\n"
                       f"{deal}: $32,105\nEst. Monthly Payment: $489/mo\n")
    from leadmail.draft import lead_price
    assert lead_price(ex.price) == 32105


def test_a_jobs_place_on_a_form_with_no_segment_is_the_customers_own() -> None:
    # a form builder's job request ("Free Fence Estimate", "Project Description: ...")
    path = Path(__file__).parent / "fixtures/blind/set19/b_jotform_fence.eml"
    ex = parsers.extract(parse_mail(path.read_bytes()), ParseContext())
    assert ex.address == "1419 Seabrook Dr, Mount Pleasant, SC 29464"
    assert ex.property_address is None


def test_a_property_to_manage_stays_the_property() -> None:
    ex = _read_subject("Forms <noreply@formsite.example>", "New submission: Property Management "
                       "Inquiry", "Name: Ingrid Fair\nEmail: ingrid.f@example.org\nProperty "
                       "address: 2810 E 12th St, Austin, TX 78702\nProject: Need a manager for my "
                       "duplex.\n")
    assert ex.property_address == "2810 E 12th St, Austin, TX 78702" and ex.address is None


def test_a_chat_printed_as_headed_turns_is_a_transcript() -> None:
    # "Lena Fischer-Brandt, 2:14 PM:" / her words / "Operator (bot), 2:15 PM:" / its words
    path = Path(__file__).parent / "fixtures/blind/set19/b_intercom_chat.eml"
    ex = parsers.extract(parse_mail(path.read_bytes()), ParseContext())
    assert (ex.source, ex.full_name, ex.email) == (
        "Intercom", "Lena Fischer-Brandt", "lena.fb@example.com")
    assert ex.message and ex.message.startswith("Hi! Does your scheduling tool")
    assert "Thanks for reaching out" not in ex.message  # the bot's turn is not hers
    assert ex.property_address is None  # the chat service's own office


def test_a_vehicle_named_in_a_row_is_not_replaced_by_a_dealers_street() -> None:
    # Cars.com's stacked rows: "Vehicle" / "Used 2020 Toyota RAV4 XLE", the dealer's block below
    path = Path(__file__).parent / "fixtures/blind/set19/b_carscom_rav4.eml"
    ex = parsers.extract(parse_mail(path.read_bytes()), ParseContext())
    assert ex.property_address == "2020 Toyota RAV4 XLE"


def test_a_craigslist_for_sale_ads_subject_gives_its_price_and_a_buyer() -> None:
    ex = _read_headers({"From": "0a1b2c3d4e5f60718293@reply.craigslist.org",
                        "Subject": "2014 Honda Fit Sport - $8,400 (Cedar Park)"},
                       "Is the Fit still for sale? Could I see it Saturday? 512-555-0166\n\n"
                       "original craigslist post:\nhttps://austin.craigslist.org/cto/d/cedar-park"
                       "-2014-honda-fit/7811122233.html\n\nAbout craigslist mail:\n"
                       "https://www.craigslist.org/about/help/email-relay\n")
    from leadmail.draft import lead_price
    assert lead_price(ex.price) == 8400 and ex.segment == "Buyer"


@pytest.mark.parametrize(("row", "price"), [
    ("Estimated home value: $285,000", None), ("Purchase price: $285,000", 285000)])
def test_a_home_policys_value_is_no_price(row: str, price: int | None) -> None:
    ex = _read_subject("Quote Hub <leads@quotehub.example>", "New home insurance lead",
                       f"Name: Rosa Delgado\nEmail: rosa.d@example.com\nCoverage wanted: "
                       f"Homeowners HO-3\n{row}\nCurrent insurer: None\n")
    from leadmail.draft import lead_price
    assert lead_price(ex.price) == price


@pytest.mark.parametrize(("question", "price"), [
    ("Roughly what is your average monthly electric bill?", None),
    ("What is your household income per month?", None),
    ("What price are you hoping for?", 17500), ("What do you hope to list it for?", 17500)])
def test_an_amount_answering_a_question_is_a_price_only_where_a_price_is_asked(
        question: str, price: int | None) -> None:
    ex = _read_subject("Forms <notifications@formhub.example>", "New response",
                       f"What's your full name?\nImani Castillo\n\nAnd your email?\n"
                       f"imani.c@example.com\n\n{question}\n$17,500\n")
    from leadmail.draft import lead_price
    assert lead_price(ex.price) == price


@pytest.mark.parametrize(("raw", "region", "e164"), [
    ("(512) 555-0129", "DE", "+15125550129"),  # North America's brackets in a German mail
    ("(0151) 5550147", "DE", "+491515550147"),  # Germany's own, trunk 0 in the brackets
    ("(601) 234 5678", "CO", "+576012345678"),  # Bogotá's area code stays Colombian
    ("(512) 555-0146", "BR", "+15125550146"),  # Brazil's area codes have two digits
    ("(11) 98765-4321", "BR", "+5511987654321"),
])
def test_a_bracketed_area_code_without_trunk_zero_is_north_american(raw, region, e164) -> None:
    assert normalize.phone(raw, region) == e164


def test_a_model_with_a_dotted_number_and_a_japanese_model_year() -> None:
    ex = _read_subject("Jonas Weber <jonas.weber@example.de>", "Versicherung",
                       "Hallo,\n\nwir suchen eine Versicherung für unseren 2022 Volkswagen "
                       "ID.4 Pro S. Sie erreichen mich unter (512) 555-0129.\n\nJonas Weber\n")
    assert ex.property_address == "2022 Volkswagen ID.4 Pro S"
    ja = _read_subject("佐藤 健 <ken.sato@example.jp>", "在庫について",
                       "ご担当者様\n\n御社のウェブサイトで2023年式 Toyota Sienna XLE"
                       "（価格 $44,800）を拝見しました。まだ在庫はありますでしょうか。\n")
    assert ja.property_address == "2023 Toyota Sienna XLE"


def test_a_messaging_notice_prints_the_persons_words_under_their_name() -> None:
    # "Dana: Hi! Is this still available? ..." under ": $24,500 · 2015 Jeep Wrangler ..."
    path = Path(__file__).parent / "fixtures/blind/set19/b_fbmarketplace_wrangler.eml"
    ex = parsers.extract(parse_mail(path.read_bytes()), ParseContext())
    from leadmail.draft import lead_price
    assert ex.message is not None and ex.message.startswith("Hi! Is this still available?")
    assert "dana" not in ex.custom_fields
    assert lead_price(ex.price) == 24500


def test_a_forms_own_name_is_no_street_and_a_dash_is_no_message() -> None:
    ex = _read_subject("Zapier <no-reply@zapier.com>", "New Facebook Lead: Lena Vogt",
                       "New lead from Facebook Lead Ads\n\nForm: Spring 2025 Buyer Guide - Austin\n"
                       "Page: Keller Hill Realty\n\nfull_name: Lena Vogt\nemail: lena.v@example.com"
                       "\nphone_number: +15125550191\n")
    assert ex.property_address is None
    assert fields.is_placeholder("—") and fields.is_placeholder("–")


def test_an_address_ends_in_a_postcode_and_a_town_of_several_words() -> None:
    # "06700 Ciudad de México": a town of three words after its postcode; "Montréal (Le
    # Plateau-Mont-Royal), QC H2J 2L3": a town with its borough, then the province's code
    ex = _read("Lamudi <notificaciones@lamudi.com.mx>",
               "Un usuario está interesado en tu propiedad:\n\nDepartamento en renta\n"
               "Calle Colima 215, Roma Norte, Cuauhtémoc, 06700 Ciudad de México\n\n"
               "Nombre: Diego Salazar\nCorreo: diego.salazar@example.com\n")
    assert ex.property_address == "Calle Colima 215, Roma Norte, Cuauhtémoc, 06700 Ciudad de México"
    assert fields.street_of("4520, rue Saint-Denis, Montréal (Le Plateau-Mont-Royal), QC H2J 2L3") \
        == "4520, rue Saint-Denis, Montréal (Le Plateau-Mont-Royal), QC H2J 2L3"


def test_the_same_street_given_more_fully_below_wins() -> None:
    ex = _read("idealista <noreply@idealista.it>",
               "Un utente è interessato al tuo annuncio.\n\n"
               "Trilocale in affitto in Via Po 18, Torino\nVia Po 18, 10123 Torino\n"
               "1.100 €/mese · 3 locali\n\nNome: Giulia Bernardi\n"
               "Email: giulia.bernardi@example.it\n")
    assert ex.property_address == "Via Po 18, 10123 Torino"


def test_a_message_row_with_no_sentence_gives_way_to_the_persons_words() -> None:
    # "Inquiry:" holds the listing; "Buyer's message:" below holds what they wrote
    ex = _read_subject("Acme CRM <noreply@acmecrm.example>", "[Acme] New lead: Lena Park",
                       "New lead: Lena Park\nPhone: 737.555.0131\nEmail: lena.park@example.com\n"
                       "Inquiry: 1208 Larkspur Ln, Austin, TX 78745 - $455,000\n\n"
                       "Buyer's message:\nIs the backyard fenced? We have a dog.\n")
    assert ex.message == "Is the backyard fenced? We have a dog."
    tour = _read_subject("Acme Homes <tours@acmehomes.example>", "Tour request",
                         "Home: 77 Alder St, Austin, TX 78702\n"
                         "Details: $510,000 | 3 bd | 2 ba | 1,600 sqft\n"
                         "Name: Omar Reyes\nEmail: omar.reyes@example.com\n"
                         "What Omar said: Can we see it after work on Friday?\n\n"
                         "Please accept within 2 hours in your dashboard.\n")
    assert tour.message == "Can we see it after work on Friday?"


def test_a_summary_under_a_heading_in_brackets_ends_the_message() -> None:
    ex = _read_subject("Acme <connections@acme.example>", "New connection: Ines Duarte",
                       "Phone: (512) 555-0144\nEmail: ines.duarte@example.com\n\n"
                       "Message:\nIs the garage oversized?\n\nChat summary (automated):\n"
                       "Ines viewed 9 homes this week. She is pre-approved.\n")
    assert ex.message == "Is the garage oversized?"
    assert ex.full_name == "Ines Duarte"


def test_a_buyer_who_is_also_selling_stays_a_buyer() -> None:
    assert segment_hint("Is the seller open to offers? We're also selling our condo.") != "Seller"
    assert segment_hint("We are selling our condo this spring.") == "Seller"


@pytest.mark.parametrize(("subject", "body", "name"), [
    ("New Lead: Marta Silva - Property Inquiry", "Email: marta.silva@example.com\n",
     "Marta Silva"),
    ("Jonah Price sent your business a message", "\"Do you fix hail damage?\"\n",
     "Jonah Price"),
    ("New Request a Quote from Dana Whit", "Dana Whit sent a Request a Quote to Acme Plumbing"
     "\n\nAdditional details\nThe shower drips.\n", "Dana Whit"),
])
def test_a_notice_names_the_person_in_its_own_sentence(subject: str, body: str, name: str) -> None:
    ex = _read_subject("Acme <no-reply@acme.example>", subject, body)
    assert ex.full_name == name


def test_a_relays_first_name_gives_way_to_the_full_name_the_notice_prints() -> None:
    ex = _read_headers({"From": "Acme Pros <no-reply@acmepros.example>",
                        "Reply-To": "Dana via Acme <reply+77ab@messaging.acmepros.example>",
                        "Subject": "New request"},
                       "Dana Whitfield sent a Request a Quote to Acme Plumbing\n\n"
                       "Additional details\nThe sink drips, can you come?\n")
    assert ex.full_name == "Dana Whitfield"


def test_same_as_the_address_above_is_no_address() -> None:
    ex = _read_subject("Acme Insurance <leads@acmeins.example>", "Home Insurance Lead - Ada Moss",
                       "Home Insurance Lead\n\nName: Ada Moss\nPhone: 512-555-0177\n"
                       "Email: ada.moss@example.org\n"
                       "Mailing Address: 14 Quarry Rd, Austin, TX 78750\n"
                       "Property Address: Same as mailing\nEstimated Home Value: $485,000\n")
    assert (ex.address, ex.property_address) == ("14 Quarry Rd, Austin, TX 78750", None)


def test_a_sellers_valuation_address_and_a_borrowers_note() -> None:
    ex = _read_subject("Acme Leads <leads@acmeleads.example>", "New Lead Alert: Ada Moss (Seller)",
                       "Lead Name: Ada Moss\nEmail: ada.moss@example.net\n"
                       "Valuation Address: 12 Wren Ln\nCity: Buda\nState: TX\nZip: 78610\n")
    assert ex.property_address == "12 Wren Ln, Buda, TX 78610"
    loan = _read_subject("Acme Loans <no-reply@acmeloans.example>", "New pre-approval request",
                         "Borrower: Derek Foss\nEmail: derek.foss@example.com\n"
                         "Loan purpose: Purchase\n\nBorrower note:\n"
                         "We want to make an offer this weekend.\n")
    assert loan.message == "We want to make an offer this weekend."


def test_a_price_offer_row_is_the_price() -> None:
    ex = _read_subject("Acme Cars <dealerleads@acmecars.example>", "Prospect: Priya Raman",
                       "Name: Priya Raman\nEmail: priya.raman@example.org\n\nVehicle\n"
                       "2024 Hyundai Tucson SEL\nAcme Price Offer: $29,870\n")
    from leadmail.draft import lead_price
    assert lead_price(ex.price) == 29870


def test_a_forwarded_notice_in_french_names_the_person_not_the_portal() -> None:
    ex = _read_subject("Claire Martin <claire.martin@agence.example.fr>",
                       "TR: Nouveau message pour votre annonce",
                       "Peux-tu rappeler ce contact ?\n\nDe : Acmecoin <noreply@acmecoin.example>\n"
                       "Envoyé : mardi 10 juin 2025 10:22\n"
                       "À : Claire Martin <claire.martin@agence.example.fr>\n"
                       "Objet : Nouveau message pour votre annonce\n\nAcmecoin\n\n"
                       "Vous avez reçu un nouveau message concernant votre annonce :\n"
                       "Maison 5 pièces – Lyon 5e\n18 chemin des Érables, 69005 Lyon\n\n"
                       "De : Julien Moreau\nTéléphone : 07 81 23 45 67\n\nMessage :\n"
                       "Bonjour, la maison est-elle toujours disponible ?\n")
    assert ex.full_name == "Julien Moreau"
    assert ex.message == "Bonjour, la maison est-elle toujours disponible ?"


def test_a_transcript_with_each_turns_time_after_the_speaker() -> None:
    ex = _read_subject("Acme Chat <no-reply@acmechat.example>", "Chat transcript with Ana Ruiz",
                       "Chat transcript\n\nVisitor: Ana Ruiz\nEmail: ana.ruiz@example.com\n"
                       "Agent: Jake Morales\n\n"
                       "Ana Ruiz (10:58:02): Hi, do you have any minivans under $30,000?\n"
                       "Jake Morales (10:58:40): Hi Ana! Yes, several. Any make you prefer?\n"
                       "Ana Ruiz (11:01:15): Can someone email me a list?\n"
                       "Jake Morales (11:02:03): Absolutely, within the hour.\n")
    assert ex.message == ("Hi, do you have any minivans under $30,000? "
                          "Can someone email me a list?")


def test_a_seller_who_lives_in_the_property_has_it_as_their_address() -> None:
    ex = _read_subject("Acme Referrals <referrals@acmereferrals.example>",
                       "New seller referral: Vera Prieto",
                       "You've been matched with a client!\n\nClient: Vera Prieto\n"
                       "Email: vera.prieto@example.com\n"
                       "Property address: 27 Bluff Rd, Leander, TX 78641\n"
                       "Client lives in the property: Yes\nTimeline: 3-6 months\n")
    assert ex.address == ex.property_address == "27 Bluff Rd, Leander, TX 78641"


def test_a_service_jobs_place_in_the_customers_own_words_is_their_address() -> None:
    pt = _read_subject("Rafaela Cunha <rafaela.cunha@example.org>", "Orçamento de pintura",
                       "Olá,\n\nGostaria de um orçamento para pintura interna da minha casa. "
                       "O endereço é 905 Sunflower Ct, Leander, TX 78641.\n\nObrigada,\n"
                       "Rafaela Cunha\n")
    assert (pt.address, pt.property_address) == ("905 Sunflower Ct, Leander, TX 78641", None)
    form = _read_subject("Hill Roofing <wordpress@hillroofing.example>", "Free estimate request",
                         "From: Pia Vant <pia.vant@example.com>\nSubject: Free estimate request\n\n"
                         "Message Body:\nHi, looking for a free estimate on a full roof "
                         "replacement. The house is about 2,200 sq ft, single story, shingles "
                         "are around 20 years old. We're at 5510 Ridgeoak Dr, Austin, TX 78731.\n")
    assert (form.address, form.property_address) == ("5510 Ridgeoak Dr, Austin, TX 78731", None)


def test_staff_notes_and_saved_searches_are_no_message() -> None:
    ref = _read_subject("Acme Partners <partners@acmepartners.example>",
                        "Acme referral: Dan Oko - Buyer",
                        "Acme is referring a customer to you.\n\nCustomer: Dan Oko\n"
                        "Email: dan.oko@example.com\n"
                        "Home they asked about: 4120 M St, Sacramento, CA 95819\n\n"
                        "Acme agent notes: \"Customer is relocating for work, pre-approved.\"\n")
    assert ref.message is None and "relocating" in ref.custom_fields.get("notes", "")
    conc = _read_subject("Acme Referrals <referrals@acmereferrals.example>",
                         "New referral: Jo Ruiz (Seller)",
                         "Our team qualified this client and they've agreed to speak with you.\n\n"
                         "Client: Jo Ruiz\nEmail: jo.ruiz@example.com\n\n"
                         "Notes from your Acme concierge (Tasha):\n"
                         "\"Jo interviewed two other agents last year. Prefers texts.\"\n")
    assert conc.message is None
    reg = _read_subject("Acme IDX <notifications@acmeidx.example>", "New Lead: Ty Moss",
                        "Ty Moss just registered on your site.\n\nEmail: ty.moss@example.net\n\n"
                        "Lead Activity (system generated)\n"
                        "- Saved search: \"Cedar Park 3+ bd under 400k\"\n")
    assert reg.message is None


def test_a_call_trackers_agent_notes_are_no_callers_words() -> None:
    ex = _read_subject("Acme Calls <notifications@acmecalls.example>",
                       "Inbound call: Dana Morrison (512) 555-0122 - 6m 41s",
                       "Acme Calls - Call Activity\n\nCaller Name: Dana Morrison\n"
                       "Caller Number: +1 (512) 555-0122\nStatus: Answered\n"
                       "Agent Notes: Wants quotes on 2 cars + renters. Currently w/ GEICO. Call "
                       "back Tues AM with numbers.\n\nListen: https://app.acmecalls.example/c/1\n\n"
                       "Acme Calls | 8 Market Place, Suite 600, Baltimore, MD 21202\n")
    assert ex.message is None and ex.property_address is None


def test_a_german_enquirers_street_and_town_rows_are_their_address() -> None:
    ex = _read_subject("ImmoScout24 <noreply@immobilienscout24.de>", "Neue Kontaktanfrage",
                       "Objekt: Helle 3-Zimmer-Wohnung\n"
                       "Adresse: Kastanienallee 54, 10119 Berlin\n\n"
                       "Angaben des Interessenten:\nVorname: Katharina\nNachname: Vogt\n"
                       "E-Mail: katharina.vogt@example.de\nStraße, Hausnr.: Schönhauser Allee 112\n"
                       "PLZ, Ort: 10439 Berlin\n")
    assert ex.address == "Schönhauser Allee 112, 10439 Berlin"


def test_a_persons_own_address_row_and_sentence_in_french_and_italian() -> None:
    row = _read_subject("Sophie Tremblay <sophie.tremblay@example.ca>",
                        "Demande de soumission – réparation de toiture",
                        "Bonjour,\n\nSerait-il possible d'avoir une soumission pour la réparation "
                        "de notre toiture ?\n\nNotre adresse : 4521 rue Saint-Denis, Montréal, QC "
                        "H2J 2L4\nTéléphone : 514-555-0132\n\nMerci,\nSophie Tremblay\n")
    assert row.address == "4521 rue Saint-Denis, Montréal, QC H2J 2L4"
    said = _read_subject("Élodie Marchand <elodie.marchand@example.ca>", "Assurance habitation",
                         "Bonjour,\n\nJ'habite au 1250, rue Saint-Denis, Montréal (Québec) H2X 3J6 "
                         "et je voudrais une soumission pour l'assurance habitation de mon condo."
                         "\n\nÉlodie Marchand\n")
    assert said.address == "1250, rue Saint-Denis, Montréal (Québec) H2X 3J6"
    assert fields.street_in("Mi interessa l'appartamento in Via Vigevano 21, 20144 Milano. "
                            "Il mio budget è di 1.400 €") == "Via Vigevano 21, 20144 Milano"


@pytest.mark.parametrize("row", ["Lives in home: Yes", "Seller lives in home: Yes",
                                 "I live at this address: Yes"])
def test_a_seller_living_in_the_home_has_it_as_their_address(row: str) -> None:
    ex = _read_subject("Acme Agents <premier-agent@acme.example>", "New seller lead",
                       "New seller lead\n\nHomeowner: Gerald Kowal\nEmail: gkowal@example.org\n"
                       "Home: 781 Maple Crest Ln, Columbus, OH 43214\n"
                       f"Selling timeline: 3-6 months\n{row}\n")
    assert ex.address == ex.property_address == "781 Maple Crest Ln, Columbus, OH 43214"


@pytest.mark.parametrize("after", [
    "Imóvel\nCasa à venda - 3 quartos - 180 m²\nRua Harmonia, 455 - Vila Madalena, São Paulo - SP",
    "VEHICLE INFORMATION\nYear: 2021\nMake: Toyota\nStock #: T24118\nMileage: 31,402",
    "Gulf Coast Marine, 1450 US Hwy 19 N, Palm Harbor, FL 34683, (727) 555-0101",
    "How did you hear about us?: Nextdoor",
    "Te recomendamos responder lo antes posible.",
])
def test_what_a_notice_prints_under_the_persons_words_is_cut(after: str) -> None:
    assert tidy_message(f"Is it still available? Thanks.\n\n{after}") == \
        "Is it still available? Thanks."


def test_a_closing_in_japanese_and_a_legal_notice_are_no_message() -> None:
    assert fields.strip_signoff("在庫はありますか？\n\nよろしくお願いいたします。\n佐藤健太") == \
        "在庫はありますか？"
    assert fields.strip_signoff("Could someone call me this week?\n\nBest regards,\n\nNat Greer\n"
                                "M: (412) 555-0147\n\nCONFIDENTIALITY NOTICE: This e-mail and "
                                "any attachments are intended only for the recipient.") == \
        "Could someone call me this week?"


@pytest.mark.parametrize(("sentence", "price"), [
    ("ich interessiere mich für die Bayliner VR5, die Sie für 29.900 $ anbieten.", 29900),
    ("Vi o anúncio do apartamento na 300 Bowie St #1805 por $725,000. Ainda está disponível?",
     725000),
    ("Vi en su página la Honda Pilot 2020 EX-L gris en $27,900. ¿Todavía está disponible?", 27900),
    ("Nous avons vu votre annonce pour la maison à Villeurbanne (480 000 €). Une visite ?",
     480000),
    ("価格は$8,999と表示されていますが、総額を教えていただけますでしょうか。", 8999),
    ("世田谷区のマンション（5,980万円）について、内見を希望します。", 59_800_000),
])
def test_a_persons_sentence_sets_the_price_right_after_what_is_for_sale(sentence: str,
                                                                       price: int) -> None:
    win = fields.best(fields.price_candidates([sentence], 1, free_text=True))
    from leadmail.draft import lead_price
    assert win is not None and lead_price(win.value) == price


def test_a_vehicles_repair_is_a_service_customers_not_a_buyers() -> None:
    ex = _read_subject("Podium <notifications@podium.com>", "New lead from Webchat: Tre Oyelo",
                       "New Webchat Lead\n\nName: Tre Oyelo\nMobile: (512) 555-0161\n"
                       "Location: Lone Star Motors - Service\n\nMessage: Do you guys do brake jobs "
                       "on Saturdays? My front brakes on my 2015 Honda Accord are grinding.\n")
    assert ex.segment is None  # Customers


@pytest.mark.parametrize(("path", "name"), [
    ("set13/a_upnest_seller.eml", "Victor Almeida"),  # "Homeowner Victor Almeida selected you"
    ("set14/b_home_nextdoor_lawn.eml", "Tom Becker"),  # "Tom Becker · Crestview sent ..."
    ("set12/a_homelight_referral.eml", "Elaine Foster"),  # above "(619) 555-0112 · elaine..."
])
def test_a_notice_names_the_person_beside_their_role_place_or_contact(path: str,
                                                                       name: str) -> None:
    mail = parse_mail((Path(__file__).parent / "fixtures/blind" / path).read_bytes())
    assert parsers.extract(mail, ParseContext()).full_name == name


def test_a_portal_names_a_first_name_in_french() -> None:
    ex = _read_subject("Acmecoin <no-reply@acmecoin.example>", "Nouveau message pour votre annonce",
                       "Bonjour,\n\nThomas vous a envoyé un message concernant votre annonce :\n"
                       "Maison 5 pièces 110 m²\n\n« Bonjour, la maison est-elle disponible ? »\n")
    assert ex.full_name == "Thomas"


def test_a_customer_forwarding_a_services_notice_to_them_is_the_lead() -> None:
    blind = Path(__file__).parent / "fixtures/blind"
    # "Fwd: Your Carvana offer is ready": the notice was sent to the forwarder, and names no
    # one else; the forwarder writes to the dealer about their own car
    own = parsers.extract(parse_mail((blind / "set21/b_carvana_offer_forward_accord.eml")
                                     .read_bytes()), ParseContext())
    assert (own.full_name, own.email, own.source) == (
        "Lauren Whitfield", "lauren.whitfield@example.com", "Direct")
    assert own.message is not None and own.message.startswith("Hi,\n\nI got this offer")
    # an agent forwarding a portal's lead that reached their own inbox: the lead is the
    # portal's person, never the agent
    lead = parsers.extract(parse_mail((blind / "set20/a_fwd_rfc822_movoto.eml").read_bytes()),
                           ParseContext())
    assert lead.email == "fatima.khan@example.com" and lead.source == "Movoto"


def test_a_time_is_no_street_and_a_listings_details_are_no_message() -> None:
    assert fields.street_of("10 AM CT") is None and fields.street_of("9:30 pm Ct") is None
    ex = _read_subject("Acme <notifications@acme.example>", "Open house RSVP",
                       "Someone RSVP'd to your open house.\n\n"
                       "Property: 4819 Ravenna Ave NE, Seattle, WA 98105\n"
                       "Details: 4 beds, 2.75 baths, 2,310 sqft\n\nVisitor\nName: Tobias Green\n"
                       "Email: tobias.green@example.com\n")
    assert ex.message is None
    assert ex.custom_fields["listing_details"] == "4 beds, 2.75 baths, 2,310 sqft"
    flex = _read_subject("Acme Flex <notifications@acmeflex.example>", "New connection: Rafa Ortiz",
                         "You were just connected with a buyer by phone. Here are the details we"
                         "\ncollected during the call.\n\nBuyer\nRafa Ortiz\n"
                         "rafa.ortiz@example.com\n(719) 555-0158\n")
    assert flex.message is None


def test_a_dealers_unit_row_names_the_vehicle() -> None:
    ex = _read_subject("Acme Trader <leads@acmetrader.example>", "New Lead",
                       "New Lead\n\nUnit: 2019 Harley-Davidson Street Glide Special\n"
                       "Price: $21,499\nStock #: HD19-5521\n\nName: Victor Amado\n"
                       "Email: victor.amado@example.net\n\nComments: Is financing available?\n\n"
                       "Acme Interactive | 150 Granby Street, Norfolk, VA 23510\n")
    assert ex.property_address == "2019 Harley-Davidson Street Glide Special"


def test_a_listings_price_line_with_its_reference_after_a_dash() -> None:
    win = fields.best(fields.price_candidates(["420 000 € – réf. AFI-7788"], 1, free_text=False))
    assert win is not None and win.value == "420000"


def _read_html_only(sender: str, subject: str, html: str):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "leads@brokerage.example", subject
    msg.set_content(html, subtype="html")
    return parsers.extract(parse_mail(msg.as_bytes()), ParseContext())


def test_a_question_and_its_answer_in_one_table_cell_are_a_pair() -> None:
    # A form builder's notice: each row one cell, the question and the answer two paragraphs
    # in it. The rows are not label and value of each other.
    rows = [("What’s your name?", "Jasmine Odom"),
            ("What’s the best email to reach you?", "jasmine.odom@example.com"),
            ("And a phone number?", "+1 512 555 0196"),
            ("Are you looking to buy, sell, or both?", "Buy")]
    cells = "".join(f'<tr><td colspan="2"><p style="color:#5c5c5c">{q}</p><p>{a}</p></td></tr>'
                    for q, a in rows)
    ex = _read_html_only("Forms <notifications@forms.example>", "New response",
                         f"<html><body><table>{cells}</table></body></html>")
    assert ex.full_name == "Jasmine Odom"
    assert ex.email == "jasmine.odom@example.com"
    assert ex.phone == "+15125550196"


def test_a_co_applicants_row_is_another_persons() -> None:
    ex = _read_subject("Forms <notifications@forms.example>", "New entry: Credit application",
                       "Applicant Name: Peter Kowalski\nApplicant Email: pk@example.com\n"
                       "Co-Applicant Name: Maria Kowalski\nCo-Applicant Mobile: 412-555-0136\n"
                       "Applicant Mobile: 412-555-0132\nSpouse Phone: 412-555-0137\n")
    assert ex.full_name == "Peter Kowalski"
    assert ex.phone == "+14125550132"


def test_a_json_subtree_with_the_recipients_email_is_the_receiving_business() -> None:
    # A lead seller's delivery: "buyer" is the business that bought the lead, and its email
    # is the mailbox the lead was sent to; its phone is no lead's.
    body = ('{"lead_id": "7f3c", "buyer": {"name": "Riverside Insurance Group", '
            '"phone": "5135550113", "email": "leads@brokerage.example"}, "contact": '
            '{"first_name": "Aisha", "last_name": "Rahman", "email": "aisha@example.org", '
            '"phone": "5135550176"}}')
    ex = _read_subject("Lead Delivery <delivery@leadseller.example>", "Lead 7f3c", body)
    assert ex.phone == "+15135550176"
    assert (ex.first_name, ex.last_name) == ("Aisha", "Rahman")


def test_a_call_trackers_own_number_and_a_caller_id_place_are_not_the_persons() -> None:
    ex = _read_subject("CallTracker <notifications@calltracker.example>",
                       "New Text Message from (720) 555-0152",
                       "Inbound SMS\n\nTracking Number: (720) 555-0191 (Google My Business)\n"
                       "From: (720) 555-0152\nCaller ID: DENVER CO\n\nMessage:\n"
                       "Can someone look at a leaking skylight this week? Thanks, Nate Sorensen\n")
    assert ex.phone == "+17205550152"
    assert ex.full_name != "Denver Co"


def test_a_dot_leader_row_is_no_value_of_the_line_above() -> None:
    # "Owner occupied . Yes - homeowner lives at this address" names an address; the row
    # under it is a row of its own, not that address.
    ex = _read_subject("Leads <alerts@leads.example>", "New Seller Lead: Gordon Blakely",
                       "Name ........... Gordon Blakely\nPhone .......... 727-555-0131\n"
                       "Owner occupied . Yes - homeowner lives at this address\n"
                       "Est. value ..... $486,000 - $522,000\n")
    assert ex.address is None or "value" not in ex.address
    assert ex.property_address is None or "value" not in ex.property_address


def test_a_persons_questions_under_the_contact_block_are_the_message() -> None:
    ex = _read_subject("IDX <noreply@idx.example>", "New Lead: Tobias Whitaker",
                       "New Lead - Property Inquiry\n\nTobias Whitaker\nP: 843-555-0157\n"
                       "E: tobias.whitaker@example.com\n\nDoes this home sit in a flood zone? Is "
                       "flood insurance required by the lender?\n\nInquired About\n"
                       "1627 Wando Landing St\nMount Pleasant, SC 29464\n")
    assert ex.message == ("Does this home sit in a flood zone? Is flood insurance required by "
                          "the lender?")
    # A notice's question to its reader is no person's
    ex = _read_subject("IDX <noreply@idx.example>", "New Lead: Tobias Whitaker",
                       "Tobias Whitaker\nP: 843-555-0157\n\nDid you know you can call leads "
                       "straight from the app? Want to try it today?\n")
    assert ex.message is None


def test_a_listings_reference_after_its_street_is_cut_and_its_postal_form_wins() -> None:
    ex = _read_subject("Portal <noresponder@portal.es>", "Nuevo mensaje sobre tu anuncio",
                       "Tienes un nuevo mensaje sobre tu anuncio\n"
                       "Piso en venta en Calle de Ponzano 45, Chamberí - ref. 104882731\n\n"
                       "Nombre: Lucía Navarro\nEmail: lucia.navarro@example.com\n\n"
                       "Datos del inmueble\nCalle de Ponzano 45, 28003 Madrid\n")
    assert ex.property_address == "Calle de Ponzano 45, 28003 Madrid"


@pytest.mark.parametrize("trailer", [
    "The user has also asked to be contacted by: Email",
    "Signed in Sunday, May 18, 2025 at 1:47 PM - Host: Trevor Lindqvist, Prairie Gate Realty",
    "Contato enviado para Jardins Prime Imóveis - CRECI 40123-J - (11) 5555-0199"])
def test_the_notices_record_after_the_message_is_cut(trailer: str) -> None:
    words = "Loved the kitchen! Would the sellers include the washer/dryer?"
    assert tidy_message(f"{words}\n\n{trailer}") == words


def test_under_a_questions_heading_the_message_is_the_open_answer() -> None:
    block = ("Which property would you like to tour?\n3806 Avenue F, Austin, TX 78751\n\n"
             "Anything we should know before the showing?\n"
             "I'll bring my pre-approval letter. My partner may join by FaceTime.")
    assert tidy_message(block) == ("I'll bring my pre-approval letter. My partner may join by "
                                   "FaceTime.")
    # One paragraph of the person's own questions is their message as it stands
    assert tidy_message("Is it still available?\nCan I see it Sunday?") == \
        "Is it still available?\nCan I see it Sunday?"


@pytest.mark.parametrize("text", [
    "We're thinking about listing this summer after school lets out.",
    "Looking to list before the end of June.",
    "Address of the home you're selling: 7309 Grover Ave",
    "We might also need help buying something smaller after we sell."])
def test_a_person_with_a_home_to_sell_is_a_seller(text: str) -> None:
    assert segment_hint(text) == "Seller"


def test_a_contact_blocks_name_over_its_street_and_phone() -> None:
    ex = _read_subject("Pro Leads <leads@proleads.example>", "New Lead: Roof Repair",
                       "You have a new lead, Oakline Roofing!\n\nRobert Halvorsen\n"
                       "1907 Kenwood Ave\nAustin, TX 78704\nPhone: (512) 555-0151\n"
                       "Email: rhalvorsen@example.com\n")
    assert ex.full_name == "Robert Halvorsen"


def test_a_line_naming_the_business_a_relay_writes_for_holds_no_lead_phone() -> None:
    ex = _read_headers({"From": "Marco Bianchi via Cedar Park Property Management "
                                "<notifications@chat-mail.example>",
                        "Subject": "New conversation from Marco Bianchi"},
                       "Marco Bianchi started a new conversation\n\n\"Do you have any 3-bedroom "
                       "houses for rent?\"\n\nMarco Bianchi\nmarco.bianchi@example.org\n\n"
                       "Cedar Park Property Management - (512) 555-0107\n")
    assert ex.phone is None
    assert ex.email == "marco.bianchi@example.org"


def test_a_florida_street_is_no_office_floor() -> None:
    # "FL 33604" is Florida and its ZIP; "Floor 31" or "Fl 3" is an office's floor.
    ex = _read_subject("Portal <leads@portal.example>", "Price drop response",
                       "A buyer responded to a price reduction\n\n"
                       "615 E Magnolia Ave, Tampa, FL 33604\nNew price: $374,900\n\n"
                       "Contact\nBeau Thibodeaux\n(813) 555-0126\nbeau.t@example.net\n")
    assert ex.property_address == "615 E Magnolia Ave, Tampa, FL 33604"
    assert fields.address_candidates(["1301 Second Avenue, Fl 31, Seattle, WA 98101"], 1,
                                     set()) == []


def test_a_street_after_applied_to_is_the_listing() -> None:
    ex = _read_subject("Rentals <rentals@portal.example>", "New application",
                       "New application received\n\nTiana Brooks applied to 1550 N Lamar Blvd "
                       "#312, Austin, TX 78703 ($1,895/mo).\n\nApplicant: Tiana Brooks\n"
                       "Email: tiana.brooks@example.org\n"
                       "Current address: 9021 Research Blvd #145, Austin, TX 78758\n")
    assert ex.property_address == "1550 N Lamar Blvd #312, Austin, TX 78703"


def test_a_sentence_about_the_listing_that_names_the_provider_keeps_its_street() -> None:
    ex = _read_subject("Estately <leads@estately.com>", "Estately lead: Rebecca Sloan",
                       "An Estately user wants to learn more about 9921 N Oak St, Kansas City, "
                       "MO 64155 (MLS# 2498811).\n\nName: Rebecca Sloan\n"
                       "Email: becky.sloan@example.com\n\n"
                       "Estately - 1000 2nd Ave Suite 3400, Seattle WA 98104\n")
    assert ex.property_address == "9921 N Oak St, Kansas City, MO 64155"


@pytest.mark.parametrize(("subject", "body", "first", "last"), [
    # a relay's sentence with one given name: what they want, what they asked
    ("Dmitri wants Carpet Cleaning", "New lead\n\nDmitri wants Carpet Cleaning\n\n"
     "Rooms: 3\n\nContact info\nDmitri\n(480) 555-0147\n", "Dmitri", None),
    ("New listing question", "Ingrid asked about your listing.\n\n88 Birch Ln, Boise, ID 83702"
     "\n\nIngrid\ningrid.v@example.org\n(208) 555-0139\n", "Ingrid", None),
    ("New Request a Quote from Tobias", "Tobias sent you a Request a Quote\n\nFence repair\n\n"
     "Phone number: (702) 555-0183\n", "Tobias", None),
    # a name said with its possessive
    ("Hana Kowalczyk's contact details - Painting in Leeds",
     "Great news - you've got Hana Kowalczyk's contact details.\n\nHana Kowalczyk\n"
     "Painting in Leeds (LS6)\n\nPhone: (415) 555-0171\n", "Hana", "Kowalczyk"),
])
def test_a_relay_sentence_names_the_person(subject: str, body: str, first: str,
                                           last: str | None) -> None:
    ex = _read_subject("Pro Leads <no-reply@proleads.example>", subject, body)
    assert normalize.split_name(ex.full_name, ex.first_name, ex.last_name) == (first, last)


def test_a_rooms_title_before_the_street_is_no_part_of_the_listing() -> None:
    ex = _read_subject("Immoportal <noreply@immoportal.ch>", "Neue Kontaktanfrage",
                       "Neue Kontaktanfrage für Ihr Inserat\n\n"
                       "Inserat: 3.5-Zimmer-Wohnung, Limmatstrasse 40, 8005 Zürich\n"
                       "Kaufpreis: CHF 890'000.-\n\nKontaktangaben\nAnna Keller\n"
                       "Telefon: 079 555 01 23\nE-Mail: anna.k@example.ch\n\n"
                       "Nachricht:\nIst die Wohnung noch frei?\n")
    assert normalize.address(ex.property_address, listing=True) == "Limmatstrasse 40, Zürich 8005"


def test_a_sender_whose_name_is_a_web_address_owns_the_street_after_it() -> None:
    # "Answerly.ai, 12 Main St ...": the relay's own office; "... Receptionists": its role
    ex = _read_subject("Answerly.ai Receptionists <receptionists@answerly.ai>",
                       "New call: Dana Lowe", "Call summary\n\nCaller name: Dana Lowe\n"
                       "Phone: (919) 555-0141\nReason: Billing question\n\n"
                       "Answerly.ai, 410 Hillsborough St #200, Raleigh, NC 27603\n")
    assert ex.property_address is None and ex.address is None
    assert fields.fallback_brand("Answerly.ai Receptionists") == "Answerly.ai"
    assert fields.fallback_brand("SUUMO（スーモ）") == "SUUMO"


def test_bulleted_labels_over_their_values_and_a_box_rule_ending_them() -> None:
    ex = _read_subject("不動産ポータル <info@portal.example.jp>", "物件お問い合わせのお知らせ",
                       "■物件情報\n所在地：東京都目黒区中目黒3丁目5-2\n価格：5,480万円\n\n"
                       "■お客様情報\nお名前：田中 美咲 様\nメールアドレス：misaki@example.jp\n\n"
                       "■ご質問・ご要望\n日当たりについて教えてください。\n━━━━━━━━━━━━\n")
    assert ex.property_address == "東京都目黒区中目黒3丁目5-2"
    assert ex.message == "日当たりについて教えてください。"


@pytest.mark.parametrize(("text", "nothing"), [
    ("No comments were provided by the prospect.", True), ("No questions", True),
    ("The shopper didn't leave a message", True), ("No comment from me, just call", False),
])
def test_a_form_word_for_no_message(text: str, nothing: bool) -> None:
    assert fields.is_placeholder(text) is nothing


@pytest.mark.parametrize("label", ["anything we should know about your cat",
                                   "describe what happened", "tell us what happened"])
def test_an_open_question_label_asks_for_the_message(label: str) -> None:
    assert fields.keyword_field(label) == "message"


def test_a_home_value_on_a_policy_form_makes_no_seller() -> None:
    ex = _read_subject("QuoteHub <agentleads@quotehub.example>",
                       "QuoteHub Home Lead - Ana Ruiz (Katy, TX)",
                       "QuoteHub - Home Insurance Lead #QH-2815550166\n\nConsumer\n"
                       "Name: Ana Ruiz\nStreet: 41 Elm Ct\nCity: Katy\nState: TX\nZip: 77494\n"
                       "Phone: 281-555-0144\n\nProperty\n"
                       "Property type: Single family (primary residence)\nYear built: 2011\n"
                       "Estimated home value: $412,000\nCurrently insured: Yes - State Farm\n"
                       "Comments: Looking to bundle home and auto.\n")
    assert ex.segment != "Seller" and ex.property_address is None
    assert ex.address == "41 Elm Ct, Katy, TX 77494"


@pytest.mark.parametrize("text", [
    "We're renting at 77 Vine St, Austin, TX 78702 until August, and want to buy nearby.",
    "Máy lạnh hỏng, khoảng 10 năm. Nhà tôi ở 412 Main St, Houston, TX 77002. Xin báo giá.",
])
def test_the_writer_says_the_street_is_where_they_live(text: str) -> None:
    from leadmail.parsers import nlp
    street, own = nlp.find_address(text)
    assert street and street.endswith(("78702", "77002")) and own


def test_a_contact_preference_for_texts_makes_no_telephony_relay() -> None:
    ex = _read_subject("CarPortal <leads@carportal.example>", "Lead: 2019 Mazda CX-5 Touring",
                       "New Lead\n\nFirst Name: Rhea\nLast Name: Okafor\n"
                       "Email: rhea.okafor@example.com\nPhone: (404) 555-0178\n"
                       "Preferred Contact: Text message\n\nVehicle: 2019 Mazda CX-5 Touring\n"
                       "Price: $21,450\n\nDEALER\nMidtown Mazda\n"
                       "1200 Spring St NW, Atlanta, GA 30309\nSales: (404) 555-0100\n")
    assert ex.property_address == "2019 Mazda CX-5 Touring" and ex.last_name == "Okafor"


def test_a_kind_of_home_is_no_property_address() -> None:
    ex = _read_subject("ProLeads <proleads@proleads.example>", "ProLead: Gutter Repair",
                       "Customer Information\nName: Ivo Jansen\nAddress: 88 W Elm St\n"
                       "Tempe, AZ 85281\nPhone: (480) 555-0166\n\nProject Information\n"
                       "Property: Home/Residence\nComments from customer:\nGutters sag.\n")
    assert ex.property_address is None


def test_a_moves_origin_is_where_the_person_lives() -> None:
    ex = _read_subject("Forms <noreply@formbuilder.example>", "Moving Quote Request: Ada Park",
                       "Full Name: Ada Park\nE-mail: ada.park@example.com\n\n"
                       "Moving From: Street Address: 910 E 54th St\nCity: Indianapolis\n"
                       "State / Province: IN\nPostal / Zip Code: 46220\n\n"
                       "Moving To: Street Address: 12 Oak Ct\n")
    assert ex.address and normalize.address(ex.address).startswith("910 E 54th St")
    assert ex.property_address is None


def test_a_listing_line_offered_for_sale_gives_the_price() -> None:
    ex = _read_subject("CommercialHub <leads@commercialhub.example>", "New lead for 88 Main St",
                       "You have a new lead\n\nListing: 88 Main St, Austin, TX 78701\n"
                       "Office Building For Sale - $1,475,000\n\nName: Grace Liu\n"
                       "Email: grace.liu@example.com\n\nMessage:\nIs the seller open to terms?\n")
    assert ex.price == "1475000"


def test_a_seller_who_has_lived_here_gives_their_address() -> None:
    ex = _read_subject("Brokerage <no-reply@brokerage-site.example>", "New seller form",
                       "Seller Contact Form\n\nName: Joan Park\nEmail: joan.park@example.com\n"
                       "Property address: 31 Elm St, Austin, TX 78704\n"
                       "Message: We've lived here 20 years and want to list this summer.\n")
    assert ex.address == ex.property_address == "31 Elm St, Austin, TX 78704"


def test_an_amount_the_writer_calls_the_price_is_the_price() -> None:
    ex = _read("Megan Ortiz <megan.ortiz@example.com>",
               "Hi Rachel,\n\nI drove by your sign at 5803 Elm Ave, Austin, TX 78757. Is the "
               "$615K price firm? We're pre-approved.\n\nThanks!\nMegan Ortiz\n")
    assert ex.price == "615000"
    drop = _read("Megan Ortiz <megan.ortiz@example.com>",
                 "Hi Rachel,\n\nSaw the $20K price drop on 5803 Elm Ave, Austin, TX 78757. "
                 "Can we see it Friday?\n\nThanks!\nMegan Ortiz\n")
    assert drop.price is None


def test_a_sentence_ends_between_a_number_and_a_street_word() -> None:
    from leadmail.parsers import nlp
    assert nlp.street_spans("The team replies in under 2 hours. Give them a way to reach you") == []
    assert nlp.street_spans("We live at 12 St. Charles Ave in Metairie") == [(11, 29)]


def test_a_table_row_of_two_label_value_pairs() -> None:
    ex = _read_html_only("QuoteHub <delivery@quotehub.example>", "New Home Insurance Lead",
                         "<table><tr><th colspan='4'>Contact</th></tr>"
                         "<tr><td>First Name</td><td>Ines</td><td>Last Name</td><td>Moreau</td>"
                         "</tr><tr><td>Phone</td><td>(704) 555-0148</td><td>Email</td>"
                         "<td>ines.moreau@example.net</td></tr>"
                         "<tr><td>3</td><td>2</td><td>1,540</td><td>$465,000</td></tr></table>")
    assert (ex.first_name, ex.last_name, ex.email) == ("Ines", "Moreau", "ines.moreau@example.net")


def test_a_jobs_words_after_the_relay_name_are_no_persons_name() -> None:
    ex = _read_subject("Reviews for Business <no-reply@reviews.example>",
                       "New Request a Quote from Dana: Gutter Cleaning",
                       "Dana sent you a new request\n\nGutter Cleaning\n"
                       "Additional details: Two-story house, gutters overflowing.\n"
                       "Phone number (shared by Dana): (408) 555-0152\n")
    assert normalize.split_name(ex.full_name, ex.first_name, ex.last_name) == ("Dana", None)


def test_the_senders_own_office_line_gives_no_phone() -> None:
    ex = _read_subject("Carlist <dealers@carlist.example>", "New Carlist lead",
                       "A shopper wants to know more.\n\nShopper name\nDevi\n\nShopper email\n"
                       "devi.k@example.com\n\nMessage\nIs it still available?\n\n"
                       "Carlist · 2 Embarcadero Center, 8th Floor, San Francisco, CA 94111 · "
                       "dealer support (415) 555-0188\n")
    assert ex.phone is None and ex.email == "devi.k@example.com"


def test_a_transcript_name_ends_before_im() -> None:
    from leadmail.parsers import nlp
    names = nlp.rule_names("Hi my name is Gloria Benavidez I'm calling about gutters.",
                           ParseContext())
    assert names and names[0][0] == "Gloria Benavidez"


def test_a_neighbours_sale_is_no_price_and_the_asking_is() -> None:
    ex = _read("Ruth Adler <ruth.adler@example.com>",
               "Hi,\n\nWe live at 88 Mesa Dr, Austin, TX 78759 and are thinking about selling. "
               "The house next door sold in May for around $610k, so we hope to list at about "
               "$640,000.\n\nThanks,\nRuth\n")
    assert ex.price == "640000"
    seen = _read("Omar Price <omar.p@example.com>",
                 "Hello,\n\nIs 14 Hearth Dr, Austin, TX 78745 still available at $459,000? "
                 "We're pre-approved.\n\nOmar\n")
    assert seen.price == "459000"


@pytest.mark.parametrize(("budget", "segment"), [("$6,500", None), ("USD 185.000", "Buyer")])
def test_a_budget_alone_buys_only_at_a_purchases_size(budget: str, segment: str | None) -> None:
    ex = _read_subject("Forms <no-reply@formsbuilder.example>", "New inquiry [#1093]",
                       f"Name: Rosa Dumont\nEmail: rosa.d@example.com\n"
                       f"Estimated Budget: {budget}\nNotes: Please call me in the evening.\n")
    assert ex.segment == segment


def test_a_persons_next_row_run_onto_their_row_is_split() -> None:
    ex = _read_subject("CarSite <leads@carsite.example>", "Price quote request",
                       "Price Quote Request\n\nFirst Name: Sofia Last Name: Lindqvist\n"
                       "Email: sofia.l@example.com Phone: (206) 555-0193\n"
                       "Vehicle: 2025 Kia Telluride EX\n")
    assert (ex.first_name, ex.last_name) == ("Sofia", "Lindqvist")
    kept = _read_subject("Forms <no-reply@formsite.example>", "Submission",
                         "Name: First Name: Olumide\n\nLast Name: Adebayo\n\n"
                         "Email: olumide.a@example.com\n")
    assert (kept.first_name, kept.last_name) == ("Olumide", "Adebayo")


@pytest.mark.parametrize(("listing", "street"), [
    ("Mieszkanie 3-pokojowe, ul. Hoża 12, 00-528 Warszawa", "ul. Hoża 12"),
    ("Bilocale via Dante 9, 20121 Milano", "via Dante 9"),
])
def test_a_rooms_title_with_its_kind_before_the_street(listing: str, street: str) -> None:
    ex = _read_subject("Portal <noreply@portal.example>", "Nowe zapytanie",
                       f"Nowe zapytanie\n\nOgłoszenie: {listing}\n\nImię i nazwisko: Ewa Nowak\n"
                       "E-mail: ewa.nowak@example.pl\n\nWiadomość:\nCzy mieszkanie jest wolne?\n")
    assert ex.property_address and ex.property_address.startswith(street)
