"""Source health in the database: drift by field, by fallback and by silence, recovery, the
admins' email queued once per episode even with two writers at once (PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from leadmail import config, db
from leadmail.clock import utcnow
from leadmail.models import Outbox, SourceHealth, SourceSample
from leadmail.sources import health
from tests.conftest import run_cli

FULL = {"first_name": "Pat", "email": "p@example.org", "phone": "+15125550100",
        "property_address": "12 Elm St", "message": "hi"}


def _settings(tmp_path: Path, **sources: Any) -> config.Settings:
    return config.validate({
        "database": {"url": "sqlite://"}, "rules": {"dir": str(tmp_path)},
        "agents": [{"name": "Ana", "email": "ana@brokerage.example"},
                   {"name": "Ops", "email": "ops@brokerage.example", "role": "admin"}],
        "sources": sources}, env={})


def _observe(engine: Any, settings: config.Settings, n: int, values: dict[str, Any],
             parser: str = "website", source: str = "Acme") -> health.Drift | None:
    with db.session_scope(engine) as session:
        return health.observe(session, settings, source=source, kind="lead", message_pk=n,
                              message_id=f"<m{n}@acme>", values=values, parser=parser)


def _bulk(engine: Any, settings: config.Settings, ns: range, parser: str, source: str) -> None:
    """Many leads in one transaction (as a batch commits them)."""
    with db.session_scope(engine) as session:
        for n in ns:
            health.observe(session, settings, source=source, kind="lead", message_pk=n,
                           message_id=f"<m{n}@x>", values=FULL, parser=parser)


def _engine(url: str) -> Any:
    db.upgrade(url)
    return db.make_engine(url)


def _outbox(engine: Any) -> list[Outbox]:
    with Session(engine) as s:
        return list(s.exec(select(Outbox).order_by(col(Outbox.id))).all())


def test_field_drift_turns_once_and_recovers(tmp_path: Path) -> None:
    engine = _engine(f"sqlite:///{tmp_path / 'h.db'}")
    settings = _settings(tmp_path, alert_to=["owner@brokerage.example", "ops@brokerage.example"])
    no_phone = {k: v for k, v in FULL.items() if k != "phone"}
    for n in range(101, 110):  # nine before the recent five: too early to say what is usual
        assert _observe(engine, settings, n, FULL, source="Early") is None
    for n in range(110, 115):
        assert _observe(engine, settings, n, no_phone, source="Early") is None
    assert health.states(engine) == {"Early": "ok"}
    for n in range(1, 35):
        _observe(engine, settings, n, FULL)
    turned = [_observe(engine, settings, n, no_phone) for n in (35, 36, 37, 38)]
    assert turned[0] is None and turned[1] is None and turned[3] is None
    drift = turned[2]
    assert drift is not None and drift.field == "phone"
    assert (drift.last_good, drift.first_bad) == ("<m34@acme>", "<m35@acme>")
    rows = _outbox(engine)  # one per recipient: the admin agent and the other alert_to
    assert sorted(r.recipient for r in rows) == ["ops@brokerage.example",
                                                 "owner@brokerage.example"]
    assert {r.idempotency_key for r in rows} == {
        "source-drift-Acme-1-ops@brokerage.example", "source-drift-Acme-1-owner@brokerage.example"}
    assert "phone missing in 3 of its last 5 leads" in rows[0].subject
    _observe(engine, settings, 39, FULL)
    _observe(engine, settings, 40, FULL)
    _observe(engine, settings, 41, FULL)
    # 2 of the last 5 still miss it
    assert health.states(engine) == {"Acme": "drifting", "Early": "ok"}
    _observe(engine, settings, 42, FULL)
    assert health.states(engine) == {"Acme": "ok", "Early": "ok"}
    for n in range(43, 46):
        _observe(engine, settings, n, no_phone)
    with Session(engine) as s:  # a second episode: a second email, with its own key
        h = s.get(SourceHealth, "Acme")
        assert h is not None and h.state == "drifting" and h.episode == 2
    assert len(_outbox(engine)) == 4
    acme, _ = health.figures(engine)
    assert acme["fill"]["email"] == 1.0 and 0 < acme["fill"]["phone"] < 1
    assert acme["leads_per_day"] > 0 and acme["history"]["phone"][-1] == 0


def test_fallback_drift_and_window_bound(tmp_path: Path) -> None:
    engine = _engine(f"sqlite:///{tmp_path / 'h.db'}")
    settings = _settings(tmp_path)
    _bulk(engine, settings, range(1, 230), parser="zillow", source="Zillow")
    drifts = [_observe(engine, settings, n, FULL, parser="nlp", source="Zillow")
              for n in range(230, 233)]
    assert drifts[2] is not None and drifts[2].kind == "fallback"
    assert "went to the Direct fallback" in drifts[2].reason
    with Session(engine) as s:
        kept = s.exec(select(SourceSample).where(SourceSample.source == "Zillow")).all()
    # trimmed to WINDOW on one mail in PRUNE_EVERY: never more than that between trims
    assert health.WINDOW <= len(kept) < health.WINDOW + health.PRUNE_EVERY
    # A source the fallback always reads (a person's own mail) never drifts so.
    _bulk(engine, settings, range(300, 330), parser="nlp", source="Direct")
    assert health.states(engine)["Direct"] == "ok"


def test_silence_of_a_daily_source(tmp_path: Path) -> None:
    start = utcnow() - timedelta(days=10)
    window = [SourceSample(id=i, source="A", at=start + timedelta(hours=6 * i), kind="lead",
                           message_pk=i, filled=[]) for i in range(1, 30)]
    last = window[-1].at
    assert health.silence(window, last + timedelta(hours=11)) is None
    drift = health.silence(window, last + timedelta(hours=13))
    assert drift is not None and drift.kind == "silent" and drift.last_good == "#29"
    burst = [SourceSample(id=i, source="A", at=start + timedelta(seconds=i), kind="lead",
                          filled=[]) for i in range(1, 30)]
    assert health.silence(burst, utcnow()) is None  # not seen for days: not "daily" yet


def test_alarm_key_is_bounded() -> None:
    key = health.alarm_key("S" * 500, 3, "ops@brokerage.example")
    assert len(key) <= 200 and key.startswith("source-drift-") and key.endswith("-3")


def test_two_writers_queue_one_email(pg_url: str, tmp_path: Path) -> None:
    """Two instances commit leads of one source at once: it turns once, one email."""
    db.upgrade(pg_url)
    settings = _settings(tmp_path)
    engines = [db.make_engine(pg_url), db.make_engine(pg_url)]
    no_phone = {k: v for k, v in FULL.items() if k != "phone"}
    for n in range(1, 21):
        _observe(engines[0], settings, n, FULL)
    barrier = threading.Barrier(2)
    turned: list[Any] = []

    def writer(i: int) -> None:
        barrier.wait()
        for n in range(21 + i * 10, 24 + i * 10):
            turned.append(_observe(engines[i], settings, n, no_phone))

    threads = [threading.Thread(target=writer, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(d is not None for d in turned) == 1
    rows = _outbox(engines[0])
    assert [r.idempotency_key for r in rows] == ["source-drift-Acme-1-ops@brokerage.example"]
    for e in engines:
        e.dispose()


@pytest.mark.parametrize("bad", [["not-an-email"], 5])
def test_alert_to_is_checked(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(Exception, match="sources.alert_to"):
        _settings(tmp_path, alert_to=bad)


def test_silence_pass_turns_once_and_clears(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    engine = _engine(url)
    settings = _settings(tmp_path)
    _bulk(engine, settings, range(1, 13), parser="website", source="Acme")
    start = utcnow() - timedelta(days=6)
    with db.session_scope(engine) as session:  # the twelve leads came every 8 hours
        for i, sample in enumerate(session.exec(select(SourceSample)
                                                .order_by(col(SourceSample.id))).all()):
            sample.at = start + timedelta(hours=8 * i)
            session.add(sample)
    last = start + timedelta(hours=8 * 11)
    assert health.check_silence(engine, settings, at=last + timedelta(hours=15)) == 0
    assert health.check_silence(engine, settings, at=last + timedelta(hours=17)) == 1
    assert health.check_silence(engine, settings, at=last + timedelta(hours=30)) == 0
    (row,) = _outbox(engine)
    assert "silent for 17.0 h" in row.subject
    assert health.drifting(engine)[0]["source"] == "Acme"
    _observe(engine, settings, 13, FULL)  # it sends again: well at once
    assert health.states(engine) == {"Acme": "ok"}
    cfg = tmp_path / "leadmail.toml"
    cfg.write_text(f'[database]\nurl = "{url}"\n[rules]\ndir = "{tmp_path}"\n')
    out = run_cli("sources", config=cfg).stdout.splitlines()
    assert out[0].split()[:3] == ["SOURCE", "STATE", "MAIL/D"]
    assert out[1].split()[:2] == ["Acme", "ok"] and "100%" in out[1]


def _health_state(engine: Any) -> tuple[Any, ...]:
    """Everything the figures keep: the health rows, the day counts, the samples, the
    alarms."""
    from leadmail.models import SourceDay
    with Session(engine) as s:
        rows = [(h.source, h.state, h.kind, h.reason, h.episode, h.last_good_message,
                 h.first_bad_message) for h in s.exec(select(SourceHealth)
                                                       .order_by(col(SourceHealth.source)))]
        days = [(d.source, d.mails, d.leads, d.review, d.fallback, d.quarantined)
                for d in s.exec(select(SourceDay).order_by(col(SourceDay.source)))]
        samples = [(x.source, x.message_pk, x.kind, x.fallback, tuple(x.filled))
                   for x in s.exec(select(SourceSample).order_by(col(SourceSample.source),
                                                                 col(SourceSample.message_pk)))]
        alarms = sorted(o.idempotency_key for o in s.exec(select(Outbox)))
    return rows, days, samples, alarms


def test_a_batch_counts_and_judges_as_its_mails_one_by_one(tmp_path: Path) -> None:
    """observe_many over batches of 16 (as the commit step counts a batch) leaves the very
    figures, drifts, recoveries and alarms that 200 mails observed one at a time do: fields
    going missing and coming back, the Direct fallback, non-leads before and after a source
    is known, reviews, and a stretch of mails processed late (judged where they arrived, not
    where they were processed)."""
    settings = _settings(tmp_path)
    no_phone = {k: v for k, v in FULL.items() if k != "phone"}
    seen: list[health.Seen] = [health.Seen("Delta", "nonlead", 1, None)]  # not yet known
    for pk in range(2, 201):
        source = ("Acme", "Beta", "Gamma", "Delta")[pk % 4]
        values = no_phone if 60 <= pk < 80 or 150 <= pk < 160 else FULL
        parser = "nlp" if source == "Beta" and 100 <= pk < 130 else "website"
        kind = "nonlead" if pk % 11 == 0 else "review" if pk % 17 == 0 else "lead"
        seen.append(health.Seen(source, kind, pk, f"<m{pk}@x>", values, parser))
    late = [s for s in seen if 150 <= (s.message_pk or 0) < 160]
    seen = [s for s in seen if s not in late] + late
    one_by_one = _engine(f"sqlite:///{tmp_path / 'one.db'}")
    expected = []
    for one in seen:
        with db.session_scope(one_by_one) as session:
            expected += health.observe_many(session, settings, [one])
    batched = _engine(f"sqlite:///{tmp_path / 'batch.db'}")
    turned = []
    for i in range(0, len(seen), 16):
        with db.session_scope(batched) as session:
            turned += health.observe_many(session, settings, seen[i:i + 16])
    assert {d.kind for d in turned} == {"field", "fallback"}  # both kinds of drift happened
    assert turned == expected
    assert _health_state(batched) == _health_state(one_by_one)


def test_mails_processed_late_are_judged_where_they_arrived(tmp_path: Path) -> None:
    """Five leads without a phone that arrived before five good ones but were processed after
    them (retried, say) are not the source's last five: no drift. A non-lead from a source
    that has sent no lead yet is not counted."""
    engine = _engine(f"sqlite:///{tmp_path / 'h.db'}")
    settings = _settings(tmp_path)
    no_phone = {k: v for k, v in FULL.items() if k != "phone"}
    with db.session_scope(engine) as session:
        assert health.observe(session, settings, source="Acme", kind="nonlead", message_pk=1,
                              message_id=None) is None
    assert _health_state(engine) == ([], [], [], [])
    for n in [*range(2, 31), *range(36, 41)]:
        assert _observe(engine, settings, n, FULL) is None
    for n in range(31, 36):
        assert _observe(engine, settings, n, no_phone) is None
    assert health.states(engine) == {"Acme": "ok"}
    for n in [*range(102, 131), *range(136, 141)]:
        _observe(engine, settings, n, FULL, source="Beta")
    with db.session_scope(engine) as session:  # processed late in one batch: the same
        assert health.observe_many(session, settings, [
            health.Seen("Beta", "lead", n, None, no_phone, "website") for n in range(131, 136)
        ]) == []
    assert health.states(engine) == {"Acme": "ok", "Beta": "ok"}
