"""Tests for leadmail.normalize: table-driven, one table per function."""

import pytest

from leadmail import normalize

# --------------------------------------------------------------------------- phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(512) 555-0143", "+15125550143"),
        ("512.555.0143", "+15125550143"),
        ("+1 512 555 0143", "+15125550143"),
        ("1-512-555-0143 ext. 12", "+15125550143"),
        ("512-555-0143x99", "+15125550143"),
        ("+1 212 555 1234;ext=5", "+12125551234"),
        ("tel:+15125550143", "+15125550143"),
        ("Phone: 512-555-0143", "+15125550143"),
        ("Cell: 512-555-0143 (preferred)", "+15125550143"),
        ("512 555 0143 mobile", "+15125550143"),
        ("512-555-0143 / 512-555-0199", "+15125550143"),
        ("  (512)5550143  ", "+15125550143"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+33 1 42 68 53 00", "+33142685300"),
        ("+49 30 901820", "+4930901820"),
        ("0000000000", None),
        ("5555555555", None),
        ("0125550143", None),  # NANP area codes never start with 0 or 1
        ("555-0143", None),  # no area code: cannot be written as E.164
        ("12345", None),
        ("5125550143999", None),
        ("020 7946 0958", None),  # a UK national number is not a US number
        ("call me", None),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_phone(raw: str | None, expected: str | None) -> None:
    assert normalize.phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("020 7946 0958", "GB", "+442079460958"),
        ("07700 900123", "GB", "+447700900123"),
        ("+1 512 555 0143", "GB", "+15125550143"),
    ],
)
def test_phone_region(raw: str, region: str, expected: str) -> None:
    assert normalize.phone(raw, region) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Call (512) 555-0143 or 512.555.0143, uk +44 20 7946 0958, alt 512-555-0199",
            ["+15125550143", "+442079460958", "+15125550199"],
        ),
        ("Lead ID 5125550143999 phone 512-555-0100", ["+15125550100"]),
        ("Ref 9995125550143", []),
        ("Listed 2024-01-15 for $450,000, zip 78701-1234", []),
        ("MLS# 1234567890", []),
        ("no numbers here", []),
        ("", []),
    ],
)
def test_find_phones(text: str, expected: list[str]) -> None:
    assert normalize.find_phones(text) == expected


def test_find_phones_region() -> None:
    assert normalize.find_phones("Ring 020 7946 0958 today", "GB") == ["+442079460958"]


# --------------------------------------------------------------------------- email


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Bob@Example.COM", "bob@example.com"),
        ("  JOHN.SMITH+Leads@Example.com  ", "john.smith+leads@example.com"),
        ("mailto:Bob+tag@Example.com", "bob+tag@example.com"),
        ("mailto:bob@x.com?subject=Hi", "bob@x.com"),
        ("<bob@x.com>", "bob@x.com"),
        ("<mailto:bob@x.com>", "bob@x.com"),
        ("Jane Doe <Jane.Doe@X.com>", "jane.doe@x.com"),
        ("bob@x.com.", "bob@x.com"),
        ("bob@x.com;", "bob@x.com"),
        ("jane@x.com (work)", "jane@x.com"),
        ("o'brien@x.ie", "o'brien@x.ie"),
        ("user@sub.example.co.uk", "user@sub.example.co.uk"),
        ("bob@x", None),
        ("a@b.c", None),
        ("bob", None),
        ("bob@@x.com", None),
        ("bob..smith@x.com", None),
        ("a@x.com, b@y.com", None),
        ("", None),
        (None, None),
    ],
)
def test_email(raw: str | None, expected: str | None) -> None:
    assert normalize.email(raw) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Reach John.Smith+Leads@Example.com or jane@x.co.uk. "
            "mailto:JOHN.SMITH+LEADS@EXAMPLE.COM again",
            ["john.smith+leads@example.com", "jane@x.co.uk"],
        ),
        ("<bob@y.org>, 'alice@z.io'", ["bob@y.org", "alice@z.io"]),
        ("Contact:-jane@x.com", ["jane@x.com"]),
        ("not an email: bob@localhost", []),
        ("", []),
    ],
)
def test_find_emails(text: str, expected: list[str]) -> None:
    assert normalize.find_emails(text) == expected


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("mcdonald", "McDonald"),
        ("MCDONALD", "McDonald"),
        ("MACDONALD", "MacDonald"),
        ("mackenzie", "MacKenzie"),
        ("macarthur", "MacArthur"),
        ("MACLEOD", "MacLeod"),
        ("mack", "Mack"),
        ("MACY", "Macy"),
        ("mace", "Mace"),
        ("MACHADO", "Machado"),
        ("o'brien", "O'Brien"),
        ("O'NEIL", "O'Neil"),
        ("d'angelo", "D'Angelo"),
        ("o\u2019brien", "O\u2019Brien"),
        ("van der berg", "van der Berg"),
        ("DE LA CRUZ", "de la Cruz"),
        ("de", "De"),
        ("della", "Della"),
        ("smith-JONES", "Smith-Jones"),
        ("jean-luc", "Jean-Luc"),
        ("mary ann", "Mary Ann"),
        ("josé", "José"),
        ("ÉLODIE", "Élodie"),
        ("ñúñez", "Ñúñez"),
        ("McKenzie", "McKenzie"),
        ("DeShawn", "DeShawn"),
        ("LaToya", "LaToya"),
        ("Van Dyke", "Van Dyke"),
        ("smith iii", "Smith III"),
        ("j.", "J."),
        ("", ""),
    ],
)
def test_case_name(raw: str, expected: str) -> None:
    assert normalize.case_name(raw) == expected


def test_case_name_given_keeps_particle_words_capitalised() -> None:
    assert normalize.case_name("della mae", given=True) == "Della Mae"
    assert normalize.case_name("della mae") == "della Mae"


@pytest.mark.parametrize(
    ("full", "first", "last", "expected"),
    [
        ("Jean-Luc PICARD", None, None, ("Jean-Luc", "Picard")),
        ("DR. JOHN SMITH JR.", None, None, ("John", "Smith Jr.")),
        ("john smith iii", None, None, ("John", "Smith III")),
        ("Smith Jr., John", None, None, ("John", "Smith Jr.")),
        ("Jane Smith, PhD", None, None, ("Jane", "Smith")),
        ("Smith, Jane", None, None, ("Jane", "Smith")),
        ("SMITH, JANE A.", None, None, ("Jane", "Smith")),
        ("Mary Ann Smith", None, None, ("Mary", "Smith")),
        ("DELLA MAE REESE", None, None, ("Della", "Reese")),
        ("Ludwig van der Berg", None, None, ("Ludwig", "van der Berg")),
        ("MARIA DE LA CRUZ", None, None, ("Maria", "de la Cruz")),
        ("de la Cruz, Maria", None, None, ("Maria", "de la Cruz")),
        ("mrs. mary-kate o'brien", None, None, ("Mary-Kate", "O'Brien")),
        ("Robert (Bob) Smith", None, None, ("Robert", "Smith")),
        ("JOSÉ ÑÚÑEZ", None, None, ("José", "Ñúñez")),
        ("bob", None, None, ("Bob", None)),
        ("Mr. Smith", None, None, (None, "Smith")),
        ("John Smith jsmith@x.com 512-555-0143", None, None, ("John", "Smith")),
        ("John Smith (512) 555-0143", None, None, ("John", "Smith")),
        ("jsmith@x.com", None, None, (None, None)),
        ("N/A", None, None, (None, None)),
        ("n.a.", None, None, (None, None)),
        ("unknown", None, None, (None, None)),
        ("-", None, None, (None, None)),
        ("", None, None, (None, None)),
        (None, None, None, (None, None)),
        (None, "jane", "DOE", ("Jane", "Doe")),
        (None, "MARY ANN", "VAN DER BERG", ("Mary Ann", "van der Berg")),
        ("Someone Else", "Jane", "Doe", ("Jane", "Doe")),
        ("Jane Doe", "", None, ("Jane", "Doe")),
        ("Jane Doe", None, "Smith", ("Jane", "Smith")),
        (None, "Jane", None, ("Jane", None)),
        (None, "N/A", "Doe", (None, "Doe")),
        # Two Spanish surnames: a listed one, or a patronymic in -ez, before the last word
        ("Ricardo Méndez Salazar", None, None, ("Ricardo", "Méndez Salazar")),
        ("Camilo Restrepo Gil", None, None, ("Camilo", "Restrepo Gil")),
        ("Dana Marie Whitaker", None, None, ("Dana", "Whitaker")),  # a middle name
        ("Beatriz Ines Cole", None, None, ("Beatriz", "Cole")),  # a given name in -z, -s
    ],
)
def test_split_name(
    full: str | None,
    first: str | None,
    last: str | None,
    expected: tuple[str | None, str | None],
) -> None:
    assert normalize.split_name(full, first, last) == expected


def test_an_e164_number_reads_back_as_itself_in_any_region() -> None:
    e164 = normalize.phone("(512) 555-0143", "US")
    assert e164 == "+15125550143"
    assert normalize.phone(e164, "GB") == normalize.phone(e164, "DE") == e164
    assert normalize.phone("020 7946 0018", "GB") == "+442079460018"
    assert normalize.phone("020 7946 0018", "US") is None


def test_split_name_positional_full_only() -> None:
    assert normalize.split_name("Ludwig van der Berg") == ("Ludwig", "van der Berg")


# --------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("123 Main St\nApt 4\nAustin, TX 78701", "123 Main St, Apt 4, Austin, TX 78701"),
        ("  123  Main St ,, Austin ,TX 78701.  ", "123 Main St, Austin, TX 78701"),
        ("123 Main St,\r\n\r\nAustin TX", "123 Main St, Austin TX"),
        ("12 W. 3rd St.\n New York, NY", "12 W. 3rd St., New York, NY"),
        ("PO Box 12; Austin | TX", "PO Box 12, Austin, TX"),
        ("- 12 Oak Rd -", "12 Oak Rd"),
        # a state or province by name before the postcode is written as its code
        ("2715 N Lake Dr, Milwaukee, Wisconsin 53211", "2715 N Lake Dr, Milwaukee, WI 53211"),
        ("88 Harbour St, Toronto, Ontario M5J 0C3", "88 Harbour St, Toronto, ON M5J 0C3"),
        # Québec's own layout in Canada Post's form: no comma after the civic number
        ("4521, rue Saint-Denis, Montréal (Québec) H2J 2L4",
         "4521 rue Saint-Denis, Montréal, QC H2J 2L4"),
        ("1840, chemin du Lac, Sainte-Adèle (Québec) J8B 1A1",
         "1840 chemin du Lac, Sainte-Adèle, QC J8B 1A1"),
        ("12, Main St, Springfield", "12, Main St, Springfield"),
        ("1 Main St, New York, NY 10001", "1 Main St, New York, NY 10001"),
        ("12 Washington St, Seattle 98101", "12 Washington St, Seattle 98101"),
        # a Brazilian portal's line: street, number - unit - district, city - state, CEP
        ("Rua Oscar Freire, 1200 - Apto 81 - Pinheiros, São Paulo - SP, 05409-010",
         "Rua Oscar Freire 1200 #81, São Paulo, SP 05409-010"),
        ("Rua Harmonia, 455 - Vila Madalena, São Paulo - SP, 05435-000",
         "Rua Harmonia 455, São Paulo, SP 05435-000"),
        (" , ", None),
        ("", None),
        (None, None),
    ],
)
def test_address(raw: str | None, expected: str | None) -> None:
    assert normalize.address(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "123 Main St, Apt 4, Austin, TX 78701",
            {"street": "123 Main St", "unit": "Apt 4", "city": "Austin", "state": "TX",
             "zip": "78701"},
        ),
        (
            "123 Main St\nApt 4\nAustin, TX 78701",
            {"street": "123 Main St", "unit": "Apt 4", "city": "Austin", "state": "TX",
             "zip": "78701"},
        ),
        (
            "12 W. 3rd St. #5B, New York, NY 10001",
            {"street": "12 W. 3rd St.", "unit": "#5B", "city": "New York", "state": "NY",
             "zip": "10001"},
        ),
        (
            "1600 Pennsylvania Ave NW, Washington, DC 20500",
            {"street": "1600 Pennsylvania Ave NW", "city": "Washington", "state": "DC",
             "zip": "20500"},
        ),
        (
            "PO Box 123, Austin, tx 78701",
            {"street": "PO Box 123", "city": "Austin", "state": "TX", "zip": "78701"},
        ),
        ("100 Main St", {"street": "100 Main St"}),
        ("123 Main St, 456 Oak Ave", {}),  # usaddress raises RepeatedLabelError
        ("Austin, TX", {}),
        ("hello world", {}),
        ("", {}),
    ],
)  # fmt: skip
def test_parse_address(raw: str, expected: dict[str, str]) -> None:
    assert normalize.parse_address(raw) == expected


# --------------------------------------------------------------------------- price


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("$450,000", 450000),
        ("450000.00", 450000),
        ("$450K", 450000),
        ("450k", 450000),
        ("$1.2M", 1200000),
        ("1.2 million", 1200000),
        ("$1.15M", 1150000),
        (".5M", 500000),
        ("2.5 mil", 2500000),
        ("$3,175+", 3175),
        ("$1,234.56", 1235),
        ("$300,000 - $400,000", 300000),
        ("$300,000 to $400,000", 300000),
        ("$400,000\u2013$500,000", 400000),
        ("300k-400k", 300000),
        ("300-400k", 300000),
        ("1.5-2M", 1500000),
        ("2-3 beds, $450k", 450000),
        ("under 500K", 500000),
        ("1.200.000", 1200000),
        ("Not sure", None),
        ("", None),
        ("-$5,000", None),
        ("(5,000)", None),
        ("$20,000,000,000", None),
        (None, None),
        (450000, 450000),
        (0, 0),
        (450000.4, 450000),
        (-5, None),
        (10**11, None),
        (float("nan"), None),
        (True, None),
    ],
)
def test_price(raw: str | int | float | None, expected: int | None) -> None:
    assert normalize.price(raw) == expected


# --------------------------------------------------------------------------- message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "  Hi there,  \r\n\r\n\r\n  I  want\tto   see the house.  \n\n\n\nThanks \n",
            "Hi there,\n\nI want to see the house.\n\nThanks",
        ),
        ("line one\nline two", "line one\nline two"),
        ("\n\n  padded  \n\n", "padded"),
        ("a\u00a0\u00a0b", "a b"),
        (" \n \n", None),
        ("", None),
        (None, None),
    ],
)
def test_message(raw: str | None, expected: str | None) -> None:
    assert normalize.message(raw) == expected


@pytest.mark.parametrize(("value", "place"), [
    ("M4C 1B5", {"zip": "M4C 1B5"}),  # a Canadian postcode alone
    ("2031", {"zip": "2031"}),  # an Australian one
    ("Toronto, ON M5J 0C3", {"city": "Toronto", "state": "ON", "zip": "M5J 0C3"}),
    ("12 Elm St, Toronto, ON M5J 0C3", {}),
])
def test_a_postcode_alone_is_a_place_not_an_address(value: str, place: dict) -> None:
    assert normalize.place_only(value) == place


@pytest.mark.parametrize(("raw", "want"), [
    # the listing's facts on the line under its street
    ("1550 Elm St #3, Austin, TX 78704\n$1,895/mo | 2 bd | 1 ba",
     "1550 Elm St #3, Austin, TX 78704"),
    ("7 Rue Neuve, Lyon 69002\n€ 1 200 / mois", "7 Rue Neuve, Lyon 69002"),
    # the listing's number after it
    ("40 Oak Ave, Denton, TX 76201 (MLS# 20044817)", "40 Oak Ave, Denton, TX 76201"),
    ("40 Oak Ave, Denton, TX 76201 (ID 4471)", "40 Oak Ave, Denton, TX 76201"),
])
def test_a_listing_address_ends_at_its_place(raw: str, want: str) -> None:
    assert normalize.address(raw, listing=True) == want
