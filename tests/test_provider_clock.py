"""The provider's clock: the time a lead says it happened, kept beside the intake time, and
the speed report's provider-to-alert and provider-to-first-contact figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from sqlmodel import Session, select

from leadmail import config, db, pipeline
from leadmail.analytics import output, reports
from leadmail.followup.access import as_user
from leadmail.models import Lead
from leadmail.notify import outbox
from leadmail.parsers.mime import parse_mail
from leadmail.parsers.provider_time import provider_time
from leadmail.store import store_raw

NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


def _mail(headers: str, body: str = "Name: Ana Ruiz\nEmail: ana@example.org\n") -> bytes:
    return (f"From: Forms <noreply@forms.example>\nTo: leads@brokerage.example\n"
            f"Subject: New inquiry\n{headers}Content-Type: text/plain\n\n{body}").encode()


def test_which_clock_is_read() -> None:
    date = "Date: Tue, 01 Dec 2026 10:05:00 -0700\n"
    hops = ("Received: from mx2.example by mx.brokerage.example; Tue, 1 Dec 2026 17:07:30 +0000\n"
            "Received: from app.forms.example by mx2.example; Tue, 1 Dec 2026 17:06:10 +0000\n")
    # A form's "Submitted" row without a zone is read in the Date header's zone.
    got = provider_time(parse_mail(_mail(date + hops, "Submitted: 2026-12-01 09:51\n")), NOW)
    assert got == (datetime(2026, 12, 1, 16, 51, tzinfo=UTC), "body")
    adf = "<adf><prospect><requestdate>2026-12-01T08:30:00-05:00</requestdate></prospect></adf>"
    assert provider_time(parse_mail(_mail(date, adf)), NOW) == (
        datetime(2026, 12, 1, 13, 30, tzinfo=UTC), "body")
    assert provider_time(parse_mail(_mail(date + hops)), NOW) == (
        datetime(2026, 12, 1, 17, 5, tzinfo=UTC), "date")
    assert provider_time(parse_mail(_mail(hops)), NOW) == (  # the earliest hop
        datetime(2026, 12, 1, 17, 6, 10, tzinfo=UTC), "received")
    future = "Date: Wed, 02 Dec 2026 10:05:00 +0000\n"  # a wrong clock is not taken
    assert provider_time(parse_mail(_mail(future)), NOW) is None
    assert provider_time(parse_mail(_mail("Date: not a date\n")), NOW) is None


def test_speed_report_from_the_provider_clock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    settings = config.validate({
        "database": {"url": url}, "rules": {"dir": str(tmp_path)},
        "notify": {"email": {"relay": f"file:{tmp_path}"}},
        "agents": [{"name": "Ana Agent", "email": "ana@brokerage.example"}]}, env={})
    db.upgrade(url)
    engine = db.make_engine(url)
    rt = pipeline.Runtime.load(settings)
    said = datetime.now(UTC) - timedelta(minutes=14)
    for n in range(3):
        raw = _mail(f"Date: {format_datetime(said)}\nMessage-ID: <p{n}@forms.example>\n",
                    f"Name: Ana Ruiz{'' if n == 0 else ' ' + 'XYZ'[n]}\n"
                    f"Email: ana{n}@example.org\nPhone: (512) 555-01{n:02d}\n")
        assert pipeline.process(rt, engine, store_raw(engine, raw, intake="file"))
    assert outbox.deliver_due(engine, settings) == 3
    with Session(engine) as session:
        leads = session.exec(select(Lead)).all()
        assert [lead.provider_clock for lead in leads] == ["date"] * 3
        rep = reports.speed(session, settings, as_user(settings, None), datetime.now(UTC))
    source = leads[0].source
    row = next(r for r in rep.table if r["by"] == "source" and r["group"] == source)
    assert row["provider_intake_n"] == 3 and 14 * 60 <= row["provider_intake_p50"] < 15 * 60
    agent = next(r for r in rep.table if r["by"] == "agent")
    assert agent["provider_alert_n"] == 3 and agent["provider_alert_p50"] >= 14 * 60
    assert agent["provider_contact_n"] == 0  # nobody called yet: nothing to measure
    assert rep.summary["late_sources"] == {
        source: f"{source} mails reach you a median 14 min after the inquiry"}
    assert f"LATE  {source} mails reach you a median 14 min" in output.as_text(rep)
