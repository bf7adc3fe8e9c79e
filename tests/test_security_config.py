"""Audit item 15 and the relative-path findings, with the real CLI and daemon as subprocesses:
private files (0600/0640 in 0750 folders) outside systemd, a warning naming each secret file
others can read, relative paths read from the config file's folder wherever leadmail starts,
and `leadmail init` whose links work the first time."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import time
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import pytest

from leadmail import config
from leadmail.errors import ConfigErrors
from tests.conftest import LEADMAIL, ROOT, free_port, run_cli, send, wait_for

LEAD = b"""From: Grace Hopper <grace.hopper@example.org>\r
To: leads@brokerage.example\r
Subject: Question about 42 Lakeshore Dr\r
Message-ID: <q-1001@example.org>\r
\r
Hi, I'm Grace Hopper. Is 42 Lakeshore Dr, Austin, TX 78746 still available?\r
Please call me at 512-555-0199.\r
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working directory that is not the config's folder (and holds decoys)."""
    where = tmp_path / "elsewhere"
    (where / "rules").mkdir(parents=True)
    (where / "rules" / "decoy.toml").write_text('source = "Decoy"\n[match]\nfrom = ["*"]\n')
    return where


class Run:
    """`leadmail run` started from another directory, stopped with SIGTERM."""

    def __init__(self, cfg: Path, cwd: Path, port: int, env: dict[str, str] | None = None):
        self.log = cfg.parent.parent / f"run-{time.monotonic_ns()}.log"
        with self.log.open("wb") as fh:
            self.proc = subprocess.Popen(
                [*LEADMAIL, "--config", str(cfg), "run"], stdout=fh, stderr=fh, cwd=cwd,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, self.text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, self.text()
                time.sleep(0.05)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def warnings(self) -> list[dict[str, str]]:
        lines = [json.loads(x) for x in self.text().splitlines() if x.startswith("{")]
        return [x for x in lines if x.get("event", "").startswith("file readable by others")]


# ---------------------------------------------------------------------------------------------
# leadmail init: private files, a link secret, and check-config from anywhere


def test_init_writes_private_files_and_check_config_reads_them_from_anywhere(
    tmp_path: Path, elsewhere: Path
) -> None:
    etc = tmp_path / "new" / "etc" / "leadmail"
    out = run_cli("init", str(etc), cwd=elsewhere).stdout
    cfg, secret = etc / "leadmail.toml", etc / "link.secret"
    assert str(secret) in out
    assert mode(etc) == 0o750
    assert mode(cfg) == 0o640 and mode(secret) == 0o600
    assert len(secret.read_text().strip()) >= 32
    assert 'secret_file = "link.secret"' in cfg.read_text()

    ok = run_cli("check-config", config=cfg, cwd=elsewhere).stdout.splitlines()
    assert ok[0] == f"config OK: {cfg}; 2 agents, 1 routes, 2 source rules"  # not the decoy
    used = dict(line.split(None, 1) for line in ok[1:])
    assert used == {"database.url": str(etc / "leadmail.db"), "rules.dir": str(etc / "rules"),
                    "http.secret_file": str(secret)}
    # The same through a relative --config from a third directory.
    rel = os.path.relpath(cfg, tmp_path)
    again = run_cli("--config", rel, "check-config", cwd=tmp_path).stdout
    assert again.splitlines()[1:] == ok[1:]

    # --force rewrites the config and keeps the secret (links already sent keep working).
    before = secret.read_text()
    cfg.chmod(0o644)
    run_cli("init", str(etc), "--force", cwd=elsewhere)
    assert secret.read_text() == before and mode(cfg) == 0o640
    # An existing folder keeps its mode: init only sets the mode of what it makes.
    existing = tmp_path / "existing"
    existing.mkdir(mode=0o755)
    existing.chmod(0o755)
    run_cli("init", str(existing), cwd=elsewhere)
    assert mode(existing) == 0o755 and mode(existing / "leadmail.toml") == 0o640


def test_init_config_links_work_the_first_time(tmp_path: Path, elsewhere: Path) -> None:
    """Straight from init: an alert's accept link is signed with link.secret and opens."""
    etc = tmp_path / "etc"
    run_cli("init", str(etc), cwd=elsewhere)
    port, http = free_port(), free_port()
    env = {"LEADMAIL_SMTP_LISTEN": f"127.0.0.1:{port}",
           "LEADMAIL_HTTP_LISTEN": f"127.0.0.1:{http}",
           "LEADMAIL_HTTP_BASE_URL": f"http://127.0.0.1:{http}",
           "LEADMAIL_NOTIFY_EMAIL_RELAY": "file:alerts",  # relative: beside the config
           "LEADMAIL_LOG_FORMAT": "json"}
    daemon = Run(etc / "leadmail.toml", elsewhere, port, env)
    try:
        assert send(port, LEAD)[0] == 250
        alerts = wait_for(lambda: list((etc / "alerts").glob("*.eml")), timeout=20)
        assert not (elsewhere / "alerts").exists()
        msg = message_from_bytes(alerts[0].read_bytes(), policy=policy.default)
        text = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        link = re.search(rf"http://127\.0\.0\.1:{http}/a/\S+", text)
        assert link, text
        page = httpx.get(link.group(0), timeout=10)
        assert page.status_code == 200, page.text
        forged = httpx.get(link.group(0)[:-4] + "AAAA", timeout=10)
        assert forged.status_code != 200
        assert mode(etc / "leadmail.db") == 0o600
    finally:
        assert daemon.stop() == 0
    assert daemon.warnings() == []  # init's files are private


# ---------------------------------------------------------------------------------------------
# The database: 0600 in a 0750 folder; warnings for what others can read


def test_database_is_private_and_readable_secret_files_are_named_at_start(
    tmp_path: Path, elsewhere: Path
) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "relay.secret").write_text("relay-password\n")
    (etc / "relay.secret").chmod(0o600)
    port = free_port()
    cfg = etc / "leadmail.toml"
    cfg.write_text(f"""
[database]
url = "sqlite:///state/leadmail.db"
[smtp]
listen = "127.0.0.1:{port}"
[notify.email]
relay = "file:alerts"
username = "leadmail"
password_file = "relay.secret"
[log]
format = "json"
[[agents]]
name = "Ana Agent"
email = "ana@brokerage.example"
""")
    cfg.chmod(0o644)  # no secret in it: readable is fine
    daemon = Run(cfg, elsewhere, port)
    assert send(port, LEAD)[0] == 250
    state = etc / "state"
    wait_for(lambda: list((etc / "alerts").glob("*.eml")), timeout=20)
    for name in ("leadmail.db-wal", "leadmail.db-shm"):  # while it runs; SQLite gives them
        assert mode(state / name) == 0o600, name  # the database's mode
    assert daemon.stop() == 0
    assert daemon.warnings() == []
    assert mode(state) == 0o750 and mode(state / "leadmail.db") == 0o600
    assert not (elsewhere / "state").exists()
    assert mode(etc / "alerts") == 0o750  # alerts hold leads' details

    # Others may read the database, the secret file, and a config now holding a secret.
    (state / "leadmail.db").chmod(0o644)
    (etc / "relay.secret").chmod(0o644)
    cfg.write_text(cfg.read_text() + '[http]\nsecret = "0123456789abcdef0123"\n')
    daemon = Run(cfg, elsewhere, port)
    assert daemon.stop() == 0
    named = {(w["file"], w["holds"]) for w in daemon.warnings()}
    assert named == {
        (str(state / "leadmail.db"), "database"),
        (str(etc / "relay.secret"), "secret (notify.email.password_file)"),
        (str(cfg), "config with secrets (http.secret)"),
    }
    # Group-readable (0640) is not "others": no warning.
    for path in (state / "leadmail.db", etc / "relay.secret", cfg):
        path.chmod(0o640)
    daemon = Run(cfg, elsewhere, port)
    assert daemon.stop() == 0
    assert daemon.warnings() == []


# ---------------------------------------------------------------------------------------------
# Relative paths: every one is read from the config file's folder


def test_every_relative_path_is_read_from_the_config_folder(tmp_path: Path,
                                                            elsewhere: Path) -> None:
    etc = tmp_path / "etc"
    for sub in ("rules", "templates", "steps", "tls"):
        (etc / sub).mkdir(parents=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(etc / "tls" / "key.pem"), "-out", str(etc / "tls" / "cert.pem"),
         "-days", "2", "-subj", "/CN=localhost"], check=True, capture_output=True)
    (etc / "rules" / "zillow.toml").write_text('source = "Zillow"\n[match]\nfrom = ["*@z.com"]\n')
    (etc / "smtp-users").write_text("ana:pw\n")
    (etc / "key.secret").write_text("an-integration-key-0123456789\n")
    (etc / "db-url").write_text("sqlite:///from-env.db\n")
    cfg = etc / "leadmail.toml"
    cfg.write_text("""
[smtp]
tls_cert = "tls/cert.pem"
tls_key = "tls/key.pem"
auth_users_file = "smtp-users"
[notify]
templates = "templates"
[notify.email]
relay = "file:out/alerts"
[rules]
dir = "rules"
[followup]
templates = "steps"
[[api_keys]]
name = "web"
key_file = "key.secret"
""")
    res = run_cli("check-config", config=cfg, cwd=elsewhere,
                  env={"LEADMAIL_DATABASE_URL_FILE": "db-url"})
    lines = res.stdout.splitlines()
    assert lines[0] == f"config OK: {cfg}; 0 agents, 0 routes, 1 source rules"
    used = dict(line.split(None, 1) for line in lines[1:])
    assert used == {
        "database.url": str(etc / "from-env.db"),  # the _FILE and the path in it: both
        "rules.dir": str(etc / "rules"),
        "notify.email.relay": str(etc / "out" / "alerts"),
        "notify.templates": str(etc / "templates"),
        "followup.templates": str(etc / "steps"),
        "smtp.tls_cert": str(etc / "tls" / "cert.pem"),
        "smtp.tls_key": str(etc / "tls" / "key.pem"),
        "smtp.auth_users_file": str(etc / "smtp-users"),
        "api_keys[0].key_file": str(etc / "key.secret"),
        "LEADMAIL_DATABASE_URL_FILE": str(etc / "db-url"),
    }
    # The same from the config's own folder, with a relative --config.
    same = run_cli("--config", "leadmail.toml", "check-config", cwd=etc,
                   env={"LEADMAIL_DATABASE_URL_FILE": "db-url"})
    assert same.stdout == res.stdout


def test_missing_rules_dir_is_an_error_naming_the_key(tmp_path: Path, elsewhere: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    cfg = etc / "leadmail.toml"
    cfg.write_text('[rules]\ndir = "rules"\n')  # ./rules exists in the working dir, not here
    res = run_cli("check-config", config=cfg, cwd=elsewhere, check=False)
    assert res.returncode == 2
    assert res.stderr.strip() == f"config error: rules.dir: {etc / 'rules'} is not a directory"
    res = run_cli("run", config=cfg, cwd=elsewhere, check=False)
    assert res.returncode == 2 and "rules.dir" in res.stderr
    # From the environment as well.
    res = run_cli("check-config", config=cfg, cwd=elsewhere, check=False,
                  env={"LEADMAIL_RULES_DIR": "/nonexistent/rules"})
    assert "config error: rules.dir: /nonexistent/rules is not a directory" in res.stderr
    # The default may be missing: no rules, and check-config says where it looked.
    cfg.write_text("")
    ok = run_cli("check-config", config=cfg, cwd=elsewhere).stdout
    assert f"rules.dir     {etc / 'rules'} (not there: no source rules)" in ok
    assert "0 source rules" in ok
    # --rules on the command line is read from the working directory, and must exist too.
    sample = ROOT / "samples" / "zillow" / "contact_request_text.eml"
    res = run_cli("extract", "--rules", "nope", str(sample), config=cfg, cwd=elsewhere,
                  check=False)
    assert res.returncode == 2 and "config error: --rules: nope is not a directory" in res.stderr


def test_path_resolution_rules() -> None:
    base = "/etc/leadmail"
    s = config.validate({"database": {"url": "sqlite:///db/l.db?timeout=5"},
                         "imap": [{"host": "h", "username": "u",
                                   "oauth2_token_command": "./imap-token 'google x'"}],
                         "notify": {"email": {"relay": "file:/var/alerts"}}}, env={}, base=base)
    assert s.database.url == "sqlite:////etc/leadmail/db/l.db?timeout=5"
    assert s.imap[0].oauth2_token_command == "/etc/leadmail/imap-token 'google x'"
    assert s.notify.email.relay == "file:/var/alerts"  # absolute: as written
    assert s.rules.dir == "/etc/leadmail/rules"  # the default too
    keep = config.validate({"database": {"url": "sqlite:///:memory:"},
                            "imap": [{"host": "h", "username": "u",
                                      "oauth2_token_command": "imap-token google"}]},
                           env={}, base=base)
    assert keep.database.url == "sqlite:///:memory:"
    assert keep.imap[0].oauth2_token_command == "imap-token google"  # found on PATH
    assert config.validate({}, env={}).database.url == "sqlite:///leadmail.db"  # no base
    with pytest.raises(ConfigErrors) as info:
        config.validate({"notify": {"templates": "tpl"}}, env={}, base=base)
    assert str(info.value.errors[0]) == "notify.templates: '/etc/leadmail/tpl' is not a directory"
    with pytest.raises(ConfigErrors) as info:
        config.validate({"smtp": {"auth_users_file": "users"}}, env={}, base=base)
    assert str(info.value.errors[0]).startswith(
        "smtp.auth_users_file: cannot read /etc/leadmail/users")
