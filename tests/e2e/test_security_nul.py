"""On PostgreSQL, against a running daemon: a NUL byte (and other control characters) in a
mail or a posted lead no longer loses the lead, and a database error's traceback does not
carry the lead's name, address or phone into the log.
"""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlmodel import Session, col, select

from leadmail.models import Lead, Message
from tests.conftest import Sink, send, wait_for
from tests.e2e.serve import finished, serve

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
KEY = "nul-form-key-0123456789abcdef"


@pytest.fixture
def daemon(tmp_path: Path, sink: Sink, daemon_factory, pg_url: str):  # type: ignore[no-untyped-def]
    extra = f'[[api_keys]]\nname = "website"\nkey = "{KEY}"\nrole = "integration"\n'
    served = serve(tmp_path, sink, daemon_factory, extra=extra, db_url=pg_url)
    yield served.daemon, served.engine, served.port, served.base, pg_url
    assert served.stop() == 0


def test_a_nul_byte_does_not_lose_the_lead(daemon) -> None:  # type: ignore[no-untyped-def]
    d, engine, port, base, _ = daemon
    msg = EmailMessage()
    msg["From"], msg["To"] = "Nul Person <nul.person@buyers.example>", "leads@brokerage.example"
    msg["Subject"], msg["Message-ID"] = "Question about a house\x00", "<nul-1@buyers.example>"
    msg.set_content("Hi, my name is Nul\x00 Person.\x01 Please call me at 512-555-0177.\x00\n",
                    cte="base64")
    assert send(port, msg.as_bytes())[0] == 250
    # The API says so at once (422, naming the fields) instead of 202 and a lost lead.
    r = httpx.post(base + "/api/v1/leads", timeout=30, headers={"X-API-Key": KEY},
                   json={"full_name": "Api\u0000 Person", "email": "api.person@example.com",
                         "message": "Still\u0000 available?\u0007"})
    assert r.status_code == 422, r.text
    assert {e["loc"][-1] for e in r.json()["detail"]} == {"full_name", "message"}
    msgs = wait_for(lambda: finished(engine, 1), timeout=20)
    assert [m.status for m in msgs] == ["lead"], [(m.status, m.reason) for m in msgs]
    with Session(engine) as s:
        leads = s.exec(select(Lead).order_by(col(Lead.id))).all()
    assert [(lead.first_name, lead.last_name) for lead in leads] == [("Nul", "Person")]
    assert "\x00" not in (leads[0].message or "") and "512-555-0177" in (leads[0].message or "")


def test_database_errors_do_not_log_the_lead(daemon) -> None:  # type: ignore[no-untyped-def]
    d, engine, port, base, pg_url = daemon
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                     "RAISE EXCEPTION 'refused for the test'; END $$ LANGUAGE plpgsql")
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON lead "
                     "FOR EACH ROW EXECUTE FUNCTION refuse()")
    msg = EmailMessage()
    msg["From"] = "Quintessa Vandermolen <quintessa.v@buyers.example>"
    msg["To"], msg["Subject"] = "leads@brokerage.example", "Question about a house"
    msg.set_content("Hi, my name is Quintessa Vandermolen. Call me at 512-555-0166 about "
                    "the Xyloquartz Lane house.\n")
    assert send(port, msg.as_bytes())[0] == 250
    wait_for(lambda: "could not store the lead" in d.log_text(), timeout=20)
    log = d.log_text()
    assert "refused for the test" in log  # the error itself is there
    for secret in ("Quintessa", "Vandermolen", "quintessa.v@", "5125550166", "555-0166",
                   "Xyloquartz"):
        assert secret not in log, secret
    with Session(engine) as s:
        errors = [m.error or "" for m in s.exec(select(Message)).all()]
    assert errors and all("Vandermolen" not in e and "Xyloquartz" not in e for e in errors)
