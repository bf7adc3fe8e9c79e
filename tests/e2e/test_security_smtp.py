"""The SMTP intake under attack, each attack repeated against a real `leadmail run`.

Idle and slow connections past the session caps under a low open-files limit, AUTH brute
force, SMTP smuggling with bare-LF ends of data, and the lenient side: long lines, LF-only
lines and the size limit, sent with smtplib, raw sockets and swaks.
"""

from __future__ import annotations

import base64
import json
import os
import re
import resource
import smtplib
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from leadmail.db import make_engine
from leadmail.models import Message
from tests.conftest import LEADMAIL, ROOT, DaemonProc, Sink, free_port, have, wait_for

pytestmark = pytest.mark.e2e

RCPT = "leads@brokerage.example"


# ---------------------------------------------------------------------------------------------
# A daemon with its own [smtp]/[log] keys, optionally under a low open-files limit


def toml_value(v: Any) -> str:
    return json.dumps(v) if isinstance(v, str | list) else str(v).lower() if isinstance(
        v, bool) else str(v)


def write_config(tmp_path: Path, smtp_port: int, relay: str, *, http_port: int | None = None,
                 smtp: dict[str, Any] | None = None, log: dict[str, Any] | None = None,
                 http_keys: dict[str, Any] | None = None) -> Path:
    smtp = {"accept": [RCPT], **(smtp or {})}
    lines = [
        "[database]", f'url = "sqlite:///{tmp_path / "leadmail.db"}"',
        "[smtp]", f'listen = "127.0.0.1:{smtp_port}"',
        *(f"{k} = {toml_value(v)}" for k, v in smtp.items()),
        "[notify.email]", f'relay = "{relay}"', 'sender = "leadmail@brokerage.example"',
        "[pipeline]", "poll_interval = 0.2",
        "[rules]", f'dir = "{ROOT / "rules"}"',
        "[log]", 'format = "json"', *(f"{k} = {toml_value(v)}" for k, v in (log or {}).items()),
    ]
    if http_port:
        lines += ["[http]", f'listen = "127.0.0.1:{http_port}"',
                  *(f"{k} = {toml_value(v)}" for k, v in (http_keys or {}).items())]
    lines += ["[[agents]]", 'name = "Ana Agent"', 'email = "ana@brokerage.example"',
              'phone = "+15125550100"']
    path = tmp_path / "leadmail.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class LimitedDaemon(DaemonProc):
    """`leadmail run` with RLIMIT_NOFILE set (soft and hard) before it starts."""

    nofile: int | None = None

    def _limit(self) -> None:
        if self.nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def start(self, timeout: float = 30.0) -> LimitedDaemon:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [*LEADMAIL, "--config", str(self.config), "run"], stdout=fh, stderr=fh,
                env=env, cwd=self.config.parent, preexec_fn=self._limit,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.log_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.settimeout(2)
                    s.recv(100)  # the greeting: it counted as a session until we close
                    return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"daemon did not listen within {timeout}s:\n{self.log_text()}")

    def open_files(self) -> int:
        assert self.proc is not None
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def log_lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"event": line})
        return out


@pytest.fixture
def daemon(tmp_path: Path, sink: Sink) -> Iterator[Callable[..., LimitedDaemon]]:
    """daemon(smtp={...}, log={...}, http=True, nofile=200) -> a started LimitedDaemon."""
    made: list[LimitedDaemon] = []

    def make(*, http: bool = False, nofile: int | None = None, start: bool = True,
             **keys: Any) -> LimitedDaemon:
        port = free_port()
        http_port = free_port() if http else None
        cfg = write_config(tmp_path, port, f"127.0.0.1:{sink.port}", http_port=http_port, **keys)
        d = LimitedDaemon(cfg, port, tmp_path / f"daemon-{len(made)}.log", nofile=nofile)
        d.http_port = http_port  # type: ignore[attr-defined]
        made.append(d)
        return d.start() if start else d

    yield make
    for d in made:
        if d.proc and d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


def messages(d: DaemonProc) -> list[Message]:
    url = f"sqlite:///{d.config.parent / 'leadmail.db'}"
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            return list(s.exec(select(Message).order_by(col(Message.id))).all())
    finally:
        engine.dispose()


def connect(port: int, source: str = "127.0.0.1", timeout: float = 10.0) -> socket.socket:
    """A raw TCP connection from a loopback source address (all of 127/8 is local)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
    return s


def read_reply(s: socket.socket) -> bytes:
    """One whole SMTP reply (all its lines), or b"" at EOF."""
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return buf
        buf += chunk
        lines = buf.split(b"\r\n")
        if len(lines) > 1 and all(len(x) >= 4 for x in lines[:-1]) and lines[-2][3:4] == b" ":
            return buf


def answered(s: socket.socket) -> bool:
    """True when the server has sent something (or hung up) that is not read yet."""
    import select

    return bool(select.select([s], [], [], 0)[0])


def read_until_eof(s: socket.socket) -> bytes:
    buf = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return buf
        if not chunk:
            return buf
        buf += chunk


def healthz(d: LimitedDaemon) -> int:
    port = d.http_port  # type: ignore[attr-defined]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
        return int(r.status)


def send_lead(port: int, n: int, source: str = "127.0.0.1") -> tuple[int, bytes]:
    """A small lead through smtplib; the DATA reply."""
    raw = (f"From: Person {n} <p{n}@buyers.example>\r\nTo: {RCPT}\r\nSubject: Lead {n}\r\n"
           f"Message-ID: <sec-{n}-{time.time_ns()}@buyers.example>\r\n\r\n"
           f"Hi, call me at 512-555-{n:04d}.\r\n").encode()
    with smtplib.SMTP("127.0.0.1", port, timeout=15, source_address=(source, 0)) as c:
        c.ehlo()
        c.mail("portal@sender.example")
        c.rcpt(RCPT)
        return c.data(raw)


# ---------------------------------------------------------------------------------------------
# 5. Idle connections: session caps, timeouts, LimitNOFILE, repeated log lines


def test_idle_connections_past_the_caps_leave_mail_and_http_working(daemon) -> None:  # type: ignore[no-untyped-def]
    # 200 open files, as in the audit (186 idle connections took the service down then).
    d = daemon(http=True, nofile=200,
               smtp={"max_sessions": 40, "max_sessions_per_ip": 10, "command_timeout": 4,
                     "session_timeout": 30},
               log={"repeat_limit": 5, "repeat_interval": 2})
    baseline = d.open_files()
    # One address opens 250 idle connections: 10 are let in, the other 240 get 421 at once.
    held, refused = [], 0
    t0 = time.monotonic()
    for _ in range(250):
        s = connect(d.port, "127.0.0.2")
        greeting = read_reply(s)
        if greeting.startswith(b"220 "):
            held.append(s)
        else:
            assert greeting.startswith(b"421 4.7.0 Too many connections from your address")
            assert read_until_eof(s) == b""  # and hung up
            s.close()
            refused += 1
    assert (len(held), refused) == (10, 240)
    # Mail from anyone else still goes through, and HTTP answers.
    assert send_lead(d.port, 1)[0] == 250
    assert healthz(d) == 200
    # Many addresses fill the total cap: the 41st session gets 421 too, HTTP still answers.
    for i in range(30):
        s = connect(d.port, f"127.0.1.{i // 10 + 1}")
        assert read_reply(s).startswith(b"220 ")
        held.append(s)
    s = connect(d.port, "127.0.2.1")
    assert read_reply(s).startswith(b"421 4.7.0 Too many connections; try again later")
    s.close()
    assert healthz(d) == 200
    assert d.open_files() <= baseline + 40 + 5  # the sessions, not the 280 attempts
    # The idle ones are cut at command_timeout with 421, which frees the places again.
    for s in held:
        s.settimeout(15)
        assert read_reply(s).startswith(b"421 4.4.2 Timeout waiting for your command")
        assert read_until_eof(s) == b""
        s.close()
    assert 3.5 < time.monotonic() - t0 < 15
    assert send_lead(d.port, 2)[0] == 250
    assert healthz(d) == 200
    # The log stays small: 240 identical refusals are 5 lines (per 2 s) and a count.
    lines = wait_for(lambda: _refusal_summary(d, "127.0.0.2"), timeout=10)
    written, suppressed = lines
    assert written + suppressed == 240 and written <= 15, lines
    assert "Too many open files" not in d.log_text()
    assert d.log.stat().st_size < 32 * 1024, d.log.stat().st_size
    assert len(messages(d)) == 2
    assert d.stop() == 0


def _refusal_summary(d: LimitedDaemon, client: str) -> tuple[int, int] | None:
    rows = [r for r in d.log_lines() if r.get("client") == client]
    written = sum(r["event"] == "smtp connection refused" for r in rows)
    summaries = [r for r in rows if r["event"] == "log line repeated; suppressed"
                 and r.get("repeated") == "smtp connection refused"]
    suppressed = sum(int(r["suppressed"]) for r in summaries)
    return (written, suppressed) if written + suppressed == 240 else None


def test_time_limits_cut_idle_slow_and_chatty_clients(daemon) -> None:  # type: ignore[no-untyped-def]
    d = daemon(smtp={"command_timeout": 2, "session_timeout": 5})
    results: dict[str, tuple[float, bytes]] = {}

    def run(name: str, fn: Callable[[socket.socket], bytes]) -> None:
        s = connect(d.port)
        t0 = time.monotonic()
        assert read_reply(s).startswith(b"220 ")
        rest = fn(s) + read_until_eof(s)  # what the server said when it cut us off
        results[name] = (time.monotonic() - t0, rest)
        s.close()

    def idle(s: socket.socket) -> bytes:
        return b""

    def chatty(s: socket.socket) -> bytes:  # a valid command every second: never idle
        while True:
            s.sendall(b"NOOP\r\n")
            reply = read_reply(s)
            if not reply.startswith(b"250"):
                return reply
            time.sleep(1)

    def trickle(s: socket.socket, data: bytes) -> bytes:  # a byte or a line a second
        for i in range(len(data)):
            if answered(s):
                return b""
            s.sendall(data[i:i + 1] if data.startswith(b"EHLO") else data)
            time.sleep(1)
        raise AssertionError("never cut off")

    def slow_command(s: socket.socket) -> bytes:  # slowloris: one byte of a command a second
        return trickle(s, b"EHLO slowloris.example\r\n")

    def slow_data(s: socket.socket) -> bytes:  # slowloris in DATA: a short line a second
        for cmd in (b"EHLO x\r\n", b"MAIL FROM:<a@b.example>\r\n", f"RCPT TO:<{RCPT}>\r\n".encode(),
                    b"DATA\r\n"):
            s.sendall(cmd)
            assert read_reply(s)[:1] in (b"2", b"3")
        return trickle(s, b"x\r\n" * 10)

    threads = [threading.Thread(target=run, args=(n, f)) for n, f in
               [("idle", idle), ("chatty", chatty), ("slow_command", slow_command),
                ("slow_data", slow_data)]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert set(results) == {"idle", "chatty", "slow_command", "slow_data"}, results
    for name, limit, reply in [
        ("idle", 2, b"421 4.4.2 Timeout waiting for your command"),
        ("slow_command", 2, b"421 4.4.2 Timeout waiting for your command"),
        ("chatty", 5, b"421 4.4.2 Session time limit reached"),
        ("slow_data", 5, b"421 4.4.2 Session time limit reached"),
    ]:
        took, rest = results[name]
        assert rest.startswith(reply) or (b"\r\n" + reply) in rest, (name, rest)
        assert limit - 0.3 < took < limit + 2.5, (name, took)
    assert messages(d) == []  # the half-sent message was not taken
    assert send_lead(d.port, 3)[0] == 250
    assert d.stop() == 0


def test_unit_limit_fits_the_default_cap_and_a_lower_one_fails_at_start(daemon) -> None:  # type: ignore[no-untyped-def]
    unit = (ROOT / "systemd" / "leadmail.service").read_text()
    m = re.search(r"^LimitNOFILE=(\d+)$", unit, re.M)
    assert m, "the unit sets LimitNOFILE"
    # Under the unit's limit the defaults (max_sessions = 100) start.
    d = daemon(nofile=int(m.group(1)))
    assert send_lead(d.port, 4)[0] == 250
    assert d.stop() == 0
    # Under 150 open files, 100 sessions cannot be had: start-up stops naming the key.
    low = daemon(nofile=150, start=False)
    with pytest.raises(AssertionError) as info:
        low.start(timeout=20)
    assert "config error: smtp.max_sessions: 100 sessions need 228 open files" in str(info.value)
    assert low.proc is not None and low.proc.returncode == 2
    # Lowered to fit, the same limit is fine.
    ok = daemon(nofile=150, smtp={"max_sessions": 20})
    assert send_lead(ok.port, 5)[0] == 250
    assert ok.stop() == 0


@pytest.mark.parametrize(
    ("section", "keys", "expected"),
    [
        ("smtp", {"max_sessions": 5, "max_sessions_per_ip": 6}, "smtp.max_sessions_per_ip: 6 is"),
        ("smtp", {"max_sessions": 0}, "smtp.max_sessions:"),
        ("smtp", {"command_timeout": 0}, "smtp.command_timeout:"),
        ("smtp", {"session_timeout": "long"}, "smtp.session_timeout:"),
        ("smtp", {"max_line_length": 998}, "smtp.max_line_length:"),
        ("smtp", {"auth_max_failures": 0}, "smtp.auth_max_failures:"),
        ("smtp", {"auth_failure_delay": -1}, "smtp.auth_failure_delay:"),
        ("log", {"repeat_limit": -1}, "log.repeat_limit:"),
        ("log", {"repeat_interval": 0}, "log.repeat_interval:"),
    ],
)
def test_bad_limits_fail_at_start_naming_the_key(tmp_path: Path, section: str,
                                                 keys: dict[str, Any], expected: str) -> None:
    port = free_port()
    cfg = write_config(tmp_path, port, "file:alerts", **{section: keys})
    res = subprocess.run([*LEADMAIL, "--config", str(cfg), "run"], capture_output=True,
                         text=True, timeout=60, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert f"config error: {expected}" in res.stderr, res.stderr


def test_a_lower_max_sessions_alone_lowers_the_per_address_default(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, free_port(), "file:alerts", smtp={"max_sessions": 5})
    res = subprocess.run([*LEADMAIL, "--config", str(cfg), "check-config"], capture_output=True,
                         text=True, timeout=60, cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.startswith("config OK"), res.stderr


# ---------------------------------------------------------------------------------------------
# 12. AUTH brute force


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(crt), "-days", "2", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    return str(crt), str(key)


def _tls() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _plain(user: str, password: str) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def _fail2ban_regex() -> re.Pattern[str]:
    """The failregex docs/operators.md gives, with fail2ban's <HOST> as a named group."""
    doc = (ROOT / "docs" / "operators.md").read_text()
    m = re.search(r"^failregex = (.+)$", doc, re.M)
    assert m, "docs/operators.md documents a fail2ban failregex"
    return re.compile(m.group(1).replace("<HOST>", r"(?P<host>[0-9a-fA-F.:]+)"))


def test_auth_brute_force_is_slowed_closed_and_logged_with_the_address(
        daemon, cert, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    users = tmp_path / "smtp-users"
    users.write_text("portal:right-password\n")
    crt, key = cert
    d = daemon(smtp={"tls_cert": crt, "tls_key": key, "auth_required": True,
                     "auth_users_file": str(users), "auth_failure_delay": 0.3})
    replies: list[tuple[float, int]] = []
    with smtplib.SMTP("127.0.0.1", d.port, timeout=30, source_address=("127.0.0.7", 0)) as c:
        c.starttls(context=_tls())
        c.ehlo()
        with pytest.raises(smtplib.SMTPServerDisconnected):
            for n in range(100):  # the audit's 100 guesses on one connection
                t0 = time.monotonic()
                code, _ = c.docmd("AUTH", f"PLAIN {_plain('portal', f'guess{n}')}")
                replies.append((time.monotonic() - t0, code))
    # Three answers, each after a longer wait; the third closes the connection.
    assert [code for _, code in replies] == [535, 535, 421], replies
    for (took, _), delay in zip(replies, (0.3, 0.6, 1.2), strict=True):
        assert delay - 0.05 < took < delay + 1.0, replies
    # A new connection from the same address waits longer still, also with AUTH LOGIN.
    with smtplib.SMTP("127.0.0.1", d.port, timeout=30, source_address=("127.0.0.7", 0)) as c:
        c.starttls(context=_tls())
        c.ehlo()
        assert c.docmd("AUTH", "LOGIN " + base64.b64encode(b"portal").decode())[0] == 334
        t0 = time.monotonic()
        assert c.docmd(base64.b64encode(b"guess-login").decode())[0] == 535
        assert time.monotonic() - t0 > 2.4 - 0.05
    # The right password from another address is neither delayed nor refused.
    with smtplib.SMTP("127.0.0.1", d.port, timeout=30, source_address=("127.0.0.8", 0)) as c:
        c.starttls(context=_tls())
        c.ehlo()
        t0 = time.monotonic()
        assert c.docmd("AUTH", f"PLAIN {_plain('portal', 'right-password')}")[0] == 235
        assert time.monotonic() - t0 < 0.3
        assert c.sendmail("portal@sender.example", [RCPT], b"Subject: ok\r\n\r\nok\r\n") == {}
    # Every failure is one log line naming the address; the documented failregex reads it.
    failregex = _fail2ban_regex()
    hosts = [m.group("host") for line in d.log_text().splitlines()
             if (m := failregex.search(line))]
    assert hosts == ["127.0.0.7"] * 4, d.log_text()
    assert len(messages(d)) == 1
    assert d.stop() == 0


# ---------------------------------------------------------------------------------------------
# 13. SMTP smuggling (CVE-2024-27305)


def _rfc5321_content(sent: bytes) -> bytes:
    """What DATA carries: the lines up to <CRLF>.<CRLF>, less each CRLF line's leading dot."""
    assert sent.endswith(b"\r\n.\r\n")
    lines = sent[: -len(b".\r\n")].split(b"\r\n")[:-1]
    return b"".join((x[1:] if x.startswith(b".") else x) + b"\r\n" for x in lines)


SMUGGLE_ENDS = [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\n..\n"]


@pytest.mark.parametrize("end", SMUGGLE_ENDS, ids=lambda e: e.decode().encode("unicode_escape")
                         .decode())
def test_smuggled_end_of_data_stores_one_message_as_sent(daemon, end: bytes) -> None:  # type: ignore[no-untyped-def]
    d = daemon()
    first = (b"From: Portal <leads@portal.example>\r\nTo: leads@brokerage.example\r\n"
             b"Subject: real lead\r\n\r\nName: Dana Wu\r\nPhone: 512-555-0142\r\n")
    smuggled = (b"MAIL FROM:<ceo@brokerage.example>\r\nRCPT TO:<leads@brokerage.example>\r\n"
                b"DATA\r\nFrom: CEO <ceo@brokerage.example>\r\nSubject: smuggled\r\n\r\n"
                b"wire the money\r\n")
    data = first.rstrip(b"\r\n") + end + smuggled + b".\r\n"
    s = connect(d.port)
    assert read_reply(s).startswith(b"220")
    for cmd in (b"EHLO attacker.example\r\n", b"MAIL FROM:<a@portal.example>\r\n",
                f"RCPT TO:<{RCPT}>\r\n".encode(), b"DATA\r\n"):
        s.sendall(cmd)
        assert read_reply(s)[:1] in (b"2", b"3")
    s.sendall(data + b"QUIT\r\n")  # all at once, as a smuggling client pipelines it
    replies = read_until_eof(s).decode().splitlines()
    s.close()
    # One 250 for one message, then 221; no 354 for a second DATA.
    assert [r[:3] for r in replies] == ["250", "221"], replies
    stored = messages(d)
    assert len(stored) == 1, [m.raw for m in stored]
    assert stored[0].raw == _rfc5321_content(data)
    assert b"Subject: smuggled" in stored[0].raw  # the fake end and all after it: content
    assert stored[0].mail_from == "a@portal.example"
    assert d.stop() == 0


# ---------------------------------------------------------------------------------------------
# Liberal in what it accepts: long lines, LF-only lines; only the size refuses


def _to_header(n: int = 50) -> bytes:
    return b"To: " + b", ".join(f"agent{i:02d}@brokerage.example".encode()
                                for i in range(n)) + b"\r\n"


def test_long_lines_from_smtplib_and_swaks_are_stored_byte_for_byte(daemon, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = daemon()
    to = _to_header()
    assert 1200 < len(to) < 2048
    html = b"<html><body>" + b"".join(
        f'<td class="c{i}">Dana Wu wants a tour of 12 Oak St, call 512-555-0142</td>'.encode()
        for i in range(850)) + b"</body></html>\r\n"
    assert 60_000 < len(html) <= 64 * 1024
    raw = (b"From: Portal <leads@portal.example>\r\n" + to + b"Subject: long lines\r\n"
           b"Message-ID: <long-1@portal.example>\r\nContent-Type: text/html\r\n\r\n" + html)
    with smtplib.SMTP("127.0.0.1", d.port, timeout=30) as c:
        assert c.sendmail("portal@sender.example", [RCPT], raw) == {}
    # swaks, as the real client that got "500 Line too long" before
    assert have("swaks"), "swaks is needed (Debian: apt-get install swaks)"
    body = tmp_path / "swaks.eml"
    # (swaks ends the data with CRLF . CRLF after the file's last line: no newline of its own)
    body.write_bytes(raw.replace(b"long-1@", b"long-2@").replace(b"\r\n", b"\n").rstrip(b"\n"))
    res = subprocess.run(["swaks", "--server", f"127.0.0.1:{d.port}", "--to", RCPT,
                          "--from", "portal@sender.example", "--data", f"@{body}"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "250 2.0.0 Stored as #" in res.stdout
    stored = messages(d)
    assert [m.raw for m in stored] == [raw, raw.replace(b"long-1@", b"long-2@")]
    assert d.stop() == 0


def test_a_line_over_max_line_length_is_split_and_the_message_kept(daemon) -> None:  # type: ignore[no-untyped-def]
    d = daemon(smtp={"max_line_length": 4096})
    long_line = b"".join(f"<p>{i:06d}</p>".encode() for i in range(2000)) + b"\r\n"  # 26 KB
    raw = b"Subject: one huge line\r\nContent-Type: text/html\r\n\r\n" + long_line + b"end\r\n"
    with smtplib.SMTP("127.0.0.1", d.port, timeout=30) as c:
        c.ehlo()
        c.mail("portal@sender.example")
        c.rcpt(RCPT)
        code, text = c.data(raw)
    assert code == 250, text
    [m] = messages(d)
    lines = m.raw.split(b"\r\n")
    assert max(len(x) + 2 for x in lines) == 4096  # split into lines of 4096 octets ...
    assert m.raw.replace(b"\r\n", b"") == raw.replace(b"\r\n", b"")  # ... losing nothing
    assert m.raw.startswith(b"Subject: one huge line\r\n") and m.raw.endswith(b"\r\nend\r\n")
    assert "long lines split" in d.log_text()
    assert d.stop() == 0


def test_lf_only_lines_are_kept_and_a_bare_lf_end_gets_a_421_that_says_why(daemon) -> None:  # type: ignore[no-untyped-def]
    d = daemon(smtp={"command_timeout": 2})
    body = (b"From: Dana Wu <dana@buyers.example>\nTo: leads@brokerage.example\n"
            b"Subject: Question about 12 Oak St\nMessage-ID: <lf-1@buyers.example>\n\n"
            b"Hi, my name is Dana Wu. Please call me at 512-555-0142.\n"
            b".a line that begins with a dot, after a bare LF\n")
    s = connect(d.port)
    assert read_reply(s).startswith(b"220")
    for cmd in (b"EHLO lf.example\n", b"MAIL FROM:<dana@buyers.example>\n",  # LF-only commands
                f"RCPT TO:<{RCPT}>\n".encode(), b"DATA\n"):
        s.sendall(cmd)
        assert read_reply(s)[:1] in (b"2", b"3")
    s.sendall(body + b"\r\n.\r\n")  # LF lines, a proper end
    assert read_reply(s).startswith(b"250 2.0.0 Stored as #")
    # The same client ending with <LF>.<LF> is not taken for an end of data (that is the
    # smuggling trick); it is told why when the timeout cuts it.
    for cmd in (b"MAIL FROM:<dana@buyers.example>\n", f"RCPT TO:<{RCPT}>\n".encode(), b"DATA\n"):
        s.sendall(cmd)
        assert read_reply(s)[:1] in (b"2", b"3")
    s.sendall(body.replace(b"lf-1@", b"lf-2@") + b".\n")
    assert read_until_eof(s).startswith(b"421 4.5.2 Timeout in DATA: <LF>.<LF> is not an end")
    s.close()
    [m] = messages(d)
    assert m.raw == body + b"\r\n"  # as received: LF endings, the dot line untouched
    wait_for(lambda: messages(d)[0].status in ("lead", "non_lead", "quarantined"), timeout=20)
    assert messages(d)[0].status == "lead", messages(d)[0].reason
    assert d.stop() == 0


def test_only_the_size_refuses_a_message_with_552(daemon) -> None:  # type: ignore[no-untyped-def]
    d = daemon(smtp={"max_message_size": 100_000})
    big = b"Subject: too big\r\n\r\n" + b"x" * 150_000 + b"\r\n"  # one 150 KB line, too
    ok = b"Subject: fine\r\n\r\n" + b"y" * 90_000 + b"\r\n"  # one 90 KB line: over 64 KB
    with smtplib.SMTP("127.0.0.1", d.port, timeout=30) as c:
        c.ehlo()
        c.mail("portal@sender.example")
        c.rcpt(RCPT)
        code, text = c.data(big)
        assert (code, text[:9]) == (552, b"5.3.4 Mes"), text
        c.rset()
        c.mail("portal@sender.example")
        c.rcpt(RCPT)
        assert c.data(ok)[0] == 250  # the session goes on; the long line is split, kept
    [m] = messages(d)
    assert m.raw.replace(b"\r\n", b"") == ok.replace(b"\r\n", b"")
    assert d.stop() == 0


def test_lmtp_answers_552_once_per_recipient(daemon) -> None:  # type: ignore[no-untyped-def]
    """RFC 2033 4.2: after DATA, one reply per accepted recipient, the size refusal too;
    else Postfix would wait for the replies it is owed."""
    d = daemon(smtp={"lmtp": True, "accept": ["@brokerage.example"], "max_message_size": 2048})
    s = connect(d.port)
    assert read_reply(s).startswith(b"220")

    def transaction(body: bytes) -> list[bytes]:
        for cmd in (b"MAIL FROM:<portal@sender.example>\r\n", b"RCPT TO:<a@brokerage.example>\r\n",
                    b"RCPT TO:<b@brokerage.example>\r\n", b"DATA\r\n"):
            s.sendall(cmd)
            assert read_reply(s)[:1] in (b"2", b"3")
        s.sendall(body + b".\r\n")
        replies = b""
        while replies.count(b"\r\n") < 2:
            chunk = s.recv(4096)
            assert chunk, replies
            replies += chunk
        return replies.splitlines()

    s.sendall(b"LHLO postfix.example\r\n")
    assert b"250 " in read_reply(s)
    assert [r[:9] for r in transaction(b"Subject: big\r\n\r\n" + b"z" * 5000 + b"\r\n")] == [
        b"552 5.3.4", b"552 5.3.4"]
    ok = transaction(b"Subject: small\r\n\r\nok\r\n")
    assert [r.split(b" stored")[0] for r in ok] == [b"250 2.0.0 <a@brokerage.example>",
                                                   b"250 2.0.0 <b@brokerage.example>"]
    s.close()
    assert len(messages(d)) == 1
    assert d.stop() == 0


def test_idle_http_connections_cannot_take_the_descriptors(daemon) -> None:  # type: ignore[no-untyped-def]
    # The same attack on the HTTP listener: 250 idle connections under 200 open files.
    d = daemon(http=True, nofile=200, smtp={"max_sessions": 40},
               http_keys={"max_connections": 40, "idle_timeout": 2})
    port = d.http_port  # type: ignore[attr-defined]
    held = []
    for _ in range(250):
        try:
            held.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        except OSError:
            break
    time.sleep(0.5)
    assert send_lead(d.port, 7)[0] == 250  # mail still goes through
    # A burst of accepts may hit the limit for an instant (asyncio accepts a batch before the
    # excess is closed); the repeat limit keeps that to a few lines.
    assert len(d.log_text()) < 64_000
    for s in held:
        s.close()
    # Once they are gone, HTTP answers again.
    wait_for(lambda: _answers(d), timeout=15)


def _answers(d: LimitedDaemon) -> bool:
    try:
        return healthz(d) == 200
    except OSError:
        return False
