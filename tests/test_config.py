"""Config: validated at start, errors name the key; env and *_file override; check-config."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadmail import config
from leadmail.errors import ConfigErrors
from tests.conftest import run_cli


def errors_of(data: dict, env: dict | None = None) -> list[str]:  # type: ignore[type-arg]
    with pytest.raises(ConfigErrors) as info:
        config.validate(data, env=env or {})
    return [str(e) for e in info.value.errors]


def test_defaults_are_valid() -> None:
    s = config.validate({}, env={})
    assert s.database.url == "sqlite:///leadmail.db"
    assert s.smtp.listen == "127.0.0.1:2525"
    assert s.smtp.accepts("LEADS@brokerage.example")
    assert not s.smtp.accepts("other@brokerage.example")
    assert s.pipeline.process  # the pipeline worker in a process of its own


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"smtp": {"lisen": "127.0.0.1:25"}}, "smtp.lisen: unknown key"),
        ({"smtp": {"listen": "localhost"}}, "smtp.listen: expected HOST:PORT"),
        ({"smtp": {"listen": "127.0.0.1:70000"}}, "smtp.listen: expected HOST:PORT"),
        ({"smtp": {"accept": ["not an address"]}}, "smtp.accept: 'not an address' is neither"),
        ({"smtp": {"accept": []}}, "smtp.accept: at least one"),
        ({"database": {"url": "mysql://x"}}, "database.url: expected sqlite"),
        ({"notify": {"email": {"relay": "nowhere"}}}, "notify.email.relay: expected HOST:PORT"),
        ({"notify": {"email": {"sender": "leadmail"}}}, "notify.email.sender: 'leadmail' is not"),
        ({"agents": [{"name": "A", "email": "a@b.example", "weight": 0}]}, "agents[0].weight:"),
        (
            {"agents": [{"name": "A", "email": "a@b.example", "phone": "call me"}]},
            "agents[0].phone:",
        ),
        ({"agents": [{"name": "A", "email": "nope"}]}, "agents[0].email: 'nope' is not"),
        (
            {
                "agents": [
                    {"name": "A", "email": "a@b.example"},
                    {"name": "B", "email": "A@b.example"},
                ]
            },
            "agents[1].email: a@b.example is listed twice",
        ),
        (
            {"agents": [{"name": "A", "email": "a@b.example"}], "routes": [{"pond": "vip"}]},
            "routes[0].pond: no agent is in pond 'vip'",
        ),
        ({"routes": [{"strategy": "lottery"}]}, "routes[0].strategy:"),
        ({"pipeline": {"default_region": "XX"}}, "pipeline.default_region: 'XX' is not"),
        ({"pipeline": {"max_attempts": "three"}}, "pipeline.max_attempts:"),
        ({"pipeline": {"process": "sometimes"}}, "pipeline.process:"),
        ({"classify": {"default_stage": "Hot"}}, "classify.default_stage: 'Hot' is not one of"),
    ],
)
def test_bad_values_name_the_key(data: dict, expected: str) -> None:  # type: ignore[type-arg]
    assert any(e.startswith(expected) for e in errors_of(data)), errors_of(data)


def test_all_errors_reported_at_once() -> None:
    errs = errors_of({"smtp": {"listen": "x", "nope": 1}, "log": {"level": "loud"}})
    assert len(errs) == 3


def test_env_overrides_and_secret_files(tmp_path: Path) -> None:
    secret = tmp_path / "relay.secret"
    secret.write_text("s3cret\n")
    s = config.validate(
        {"notify": {"email": {"password_file": str(secret), "username": "u"}}},
        env={
            "LEADMAIL_DATABASE_URL": "postgresql://leadmail@db/leadmail",
            "LEADMAIL_SMTP_ACCEPT": "a@b.example, @c.example",
            "LEADMAIL_NOTIFY_EMAIL_RELAY": "relay.internal:587",
            "LEADMAIL_PIPELINE_MAX_ATTEMPTS": "5",
        },
    )
    assert s.database.url == "postgresql://leadmail@db/leadmail"
    assert s.smtp.accept == ["a@b.example", "@c.example"]
    assert s.notify.email.relay == "relay.internal:587"
    assert s.notify.email.password == "s3cret"
    assert s.pipeline.max_attempts == 5
    s = config.validate({}, env={"LEADMAIL_NOTIFY_EMAIL_PASSWORD_FILE": str(secret)})
    assert s.notify.email.password == "s3cret"


def test_env_override_is_validated_too() -> None:
    assert errors_of({}, env={"LEADMAIL_SMTP_LISTEN": "bad"})[0].startswith("smtp.listen:")


def test_missing_secret_file_names_the_key(tmp_path: Path) -> None:
    errs = errors_of({"notify": {"email": {"password_file": str(tmp_path / "none")}}})
    assert errs[0].startswith("notify.email.password_file: cannot read")


def test_check_config_cli(tmp_path: Path) -> None:
    run_cli("init", str(tmp_path))
    good = tmp_path / "leadmail.toml"
    ok = run_cli("check-config", config=good, cwd=tmp_path)
    assert "config OK" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[smtp]\nlisten = "nowhere"\n[[agents]]\nname = "A"\nemail = "x"\n')
    res = run_cli("check-config", config=bad, check=False)
    assert res.returncode == 2
    assert "config error: smtp.listen: expected HOST:PORT" in res.stderr
    assert "config error: agents[0].email: 'x' is not an email address" in res.stderr
    # `run` refuses to start on the same file, with the same message.
    res = run_cli("run", config=bad, check=False)
    assert res.returncode == 2 and "smtp.listen" in res.stderr


def test_bad_rule_file_stops_start(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "x.toml").write_text('name = "x"\n[set]\nsegment = "Aliens"\n')
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[rules]\ndir = "{rules}"\n')
    res = run_cli("check-config", config=cfg, check=False)
    assert res.returncode == 2
    assert "x.toml: set.segment: 'Aliens' is not a known segment" in res.stderr


def test_log_redaction() -> None:
    from leadmail.logs import redact

    event = {"event": "lead from jane.doe@example.com", "phone": "+15125550143",
             "reason": "call (512) 555-0143", "msg": 7, "when": "2026-11-23"}
    out = redact(None, "info", dict(event))
    assert out["event"] == "lead from j…@example.com"
    assert out["phone"] == "+15…43" and out["reason"] == "call (512…43"
    assert out["msg"] == 7 and out["when"] == "2026-11-23"
