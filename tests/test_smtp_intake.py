"""SMTP/LMTP intake on a real socket, talked to with smtplib: replies, size, TLS, AUTH, 421."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from leadmail import config, db
from leadmail.errors import ConfigErrors
from leadmail.intake import smtp as intake
from leadmail.models import Message
from tests.conftest import free_port, wire

RCPT = "leads@brokerage.example"


def mail(n: int = 1, body: str = "Hi, call me at 512-555-0100.") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Person {n} <p{n}@buyers.example>"
    msg["To"] = RCPT
    msg["Subject"] = f"Inquiry {n}"
    msg["Message-ID"] = f"<intake-{n}@buyers.example>"
    msg.set_content(body)
    return wire(msg.as_bytes())


class Intake:
    """The intake's server on its own loop in a thread, as the daemon runs it."""

    def __init__(self, engine: Any, cfg: config.SmtpConfig) -> None:
        self.port = int(cfg.listen.rpartition(":")[2])
        self.stored: list[int] = []
        self.handler = intake.StoreHandler(engine, cfg, self.stored.extend)
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        async def serve() -> None:
            self.server = await self.loop.create_server(
                intake.make_server(self.handler, cfg), "127.0.0.1", self.port
            )
            started.set()

        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(serve(), self.loop).result(10)
        assert started.wait(10)

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run fn on the server's loop (where handler state lives)."""

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            self.handler.close_sessions()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Any]:
    url = f"sqlite:///{tmp_path / 'leadmail.db'}"
    db.upgrade(url)
    eng = db.make_engine(url)
    yield eng
    eng.dispose()


@pytest.fixture
def start(engine: Any) -> Iterator[Callable[..., Intake]]:
    """Start an intake with [smtp] keys on top of a loopback listen address."""
    made: list[Intake] = []

    def make(**smtp: Any) -> Intake:
        data = {"smtp": {"listen": f"127.0.0.1:{free_port()}", "accept": [RCPT], **smtp}}
        server = Intake(engine, config.validate(data, env={}).smtp)
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


def stored(engine: Any) -> list[Message]:
    with Session(engine) as s:
        return list(s.exec(select(Message)).all())


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for localhost (openssl, as an operator would make one)."""
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "2", "-subj", "/CN=localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(crt), str(key)


def client_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test's own self-signed certificate
    return context


# ---------------------------------------------------------------------------------------------


def test_smtp_stores_then_250_and_rejects_unknown_rcpt(start, engine) -> None:  # type: ignore[no-untyped-def]
    server = start()
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as c:
        c.ehlo("client.example")
        c.mail("portal@sender.example")
        assert c.rcpt("other@elsewhere.example")[0] == 550
        assert c.rcpt(RCPT)[0] == 250
        code, text = c.data(mail())
    assert code == 250 and text.startswith(b"2.0.0 Stored as #")
    [msg] = stored(engine)
    assert msg.raw == mail() and msg.rcpt_to == [RCPT] and msg.intake == "smtp"
    assert server.stored == [msg.id]


def test_lmtp_takes_mail_and_refuses_unknown_recipients(start, engine) -> None:  # type: ignore[no-untyped-def]
    server = start(lmtp=True)
    with smtplib.LMTP("127.0.0.1", server.port, timeout=10) as c:
        assert c.docmd("EHLO", "client.example")[0] == 500  # LMTP greets with LHLO (RFC 2033)
        refused = c.sendmail("portal@sender.example", [RCPT, "nobody@elsewhere.example"], mail())
    assert list(refused) == ["nobody@elsewhere.example"]
    assert refused["nobody@elsewhere.example"][0] == 550
    [msg] = stored(engine)
    assert msg.intake == "lmtp" and msg.rcpt_to == [RCPT]


def test_lmtp_per_recipient_replies_on_the_wire(start, engine) -> None:  # type: ignore[no-untyped-def]
    server = start(lmtp=True, accept=["@team.example"])
    with smtplib.LMTP("127.0.0.1", server.port, timeout=10) as c:
        c.ehlo_or_helo_if_needed()
        c.mail("portal@sender.example")
        c.rcpt("a@team.example")
        c.rcpt("b@team.example")
        c.putcmd("data")
        assert c.getreply()[0] == 354
        c.send(mail().rstrip(b"\r\n") + b"\r\n.\r\n")
        replies = [c.getreply(), c.getreply()]
    msg_id = stored(engine)[0].id
    assert replies == [
        (250, f"2.0.0 <a@team.example> stored as #{msg_id}".encode()),
        (250, f"2.0.0 <b@team.example> stored as #{msg_id}".encode()),
    ]


@pytest.mark.parametrize("lmtp", [False, True])
def test_store_down_answers_451_and_keeps_nothing(start, engine, lmtp: bool) -> None:  # type: ignore[no-untyped-def]
    server = start(lmtp=lmtp)
    server.handler.engine = db.make_engine("sqlite:////nonexistent-dir/leadmail.db")
    cls = smtplib.LMTP if lmtp else smtplib.SMTP
    with cls("127.0.0.1", server.port, timeout=10) as c:
        c.ehlo_or_helo_if_needed()
        c.mail("portal@sender.example")
        c.rcpt(RCPT)
        code, text = c.data(mail())
    assert code == 451 and b"4.3.0" in text
    assert stored(engine) == [] and server.stored == []
    # The store is back: the same connection-less retry is accepted.
    server.handler.engine = engine
    with cls("127.0.0.1", server.port, timeout=10) as c:
        assert c.sendmail("portal@sender.example", [RCPT], mail()) == {}
    assert len(stored(engine)) == 1


def test_message_over_max_size_gets_552(start, engine) -> None:  # type: ignore[no-untyped-def]
    server = start(max_message_size=4096)
    big = mail(body=("y" * 70 + "\n") * 100)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as c:
        c.ehlo()
        assert c.esmtp_features["size"] == "4096"
        # Declared in MAIL FROM (RFC 1870): refused before the data is sent.
        code, _ = c.mail("portal@sender.example", options=[f"SIZE={len(big)}"])
        assert code == 552
        c.rset()
        # Undeclared: refused after the data.
        c.mail("portal@sender.example")
        c.rcpt(RCPT)
        code, _ = c.data(big)
        assert code == 552
        # The session goes on: a small message is still taken.
        c.rset()
        c.mail("portal@sender.example")
        c.rcpt(RCPT)
        assert c.data(mail())[0] == 250
    assert [m.size for m in stored(engine)] == [len(mail())]


def test_starttls_and_auth_for_submission(start, engine, cert, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    users = tmp_path / "smtp-users"
    users.write_text("# name:password\nportal:s3cret pass\n")
    crt, key = cert
    data = {
        "smtp": {
            "listen": f"127.0.0.1:{free_port()}",
            "tls_cert": crt,
            "tls_key": key,
            "require_tls": True,
            "auth_required": True,
            "auth_users_file": str(users),
        }
    }
    cfg = config.validate(data, env={}).smtp
    assert cfg.users() == {"portal": "s3cret pass"}
    server = start(
        listen=cfg.listen,
        tls_cert=crt,
        tls_key=key,
        require_tls=True,
        auth_required=True,
        auth_users=cfg.auth_users,
    )
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as c:
        c.ehlo()
        assert c.has_extn("starttls") and not c.has_extn("auth")  # no AUTH in clear
        assert c.mail("portal@sender.example")[0] == 530  # STARTTLS first
        c.starttls(context=client_tls())
        c.ehlo()
        assert "PLAIN" in c.esmtp_features["auth"]
        assert c.mail("portal@sender.example")[0] == 530  # AUTH first
        with pytest.raises(smtplib.SMTPAuthenticationError):
            c.login("portal", "wrong")
        c.login("portal", "s3cret pass")
        assert c.sendmail("portal@sender.example", [RCPT], mail()) == {}
    assert len(stored(engine)) == 1


def test_auth_not_offered_without_users(start, cert) -> None:  # type: ignore[no-untyped-def]
    crt, key = cert
    server = start(tls_cert=crt, tls_key=key)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as c:
        c.starttls(context=client_tls())
        c.ehlo()
        assert not c.has_extn("auth")
        assert c.sendmail("portal@sender.example", [RCPT], mail()) == {}


@pytest.mark.parametrize(
    ("smtp", "expected"),
    [
        ({"tls_cert": "/nope/cert.pem"}, "smtp.tls_key: STARTTLS needs both"),
        ({"tls_cert": "/nope/c.pem", "tls_key": "/nope/k.pem"}, "smtp.tls_cert: cannot load"),
        ({"require_tls": True}, "smtp.require_tls: needs tls_cert"),
        ({"auth_required": True}, "smtp.auth_required: AUTH is only offered over TLS"),
        ({"auth_users": "no-colon-here"}, "smtp.auth_users: line 1 is not NAME:PASSWORD"),
        ({"drain_timeout": -1}, "smtp.drain_timeout:"),
    ],
)
def test_smtp_config_errors_name_the_key(smtp: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigErrors) as info:
        config.validate({"smtp": smtp}, env={})
    assert any(str(e).startswith(expected) for e in info.value.errors), info.value.errors


def test_stopping_answers_421_but_finishes_the_message_in_flight(start, engine) -> None:  # type: ignore[no-untyped-def]
    server = start()
    busy = smtplib.SMTP("127.0.0.1", server.port, timeout=10)
    idle = smtplib.SMTP("127.0.0.1", server.port, timeout=10)
    try:
        busy.ehlo()
        idle.ehlo()
        busy.mail("portal@sender.example")
        busy.rcpt(RCPT)
        busy.putcmd("data")
        assert busy.getreply()[0] == 354
        busy.send(mail()[:100])  # half a message on the wire when the stop comes
        assert server.call(lambda: server.handler.inflight) == 1

        def stop() -> None:
            server.handler.stopping = True

        server.call(stop)
        # A new connection is greeted with 421 (RFC 5321 3.8) ...
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            smtplib.SMTP("127.0.0.1", server.port, timeout=10)
        assert refused.value.smtp_code == 421
        # ... an idle session's next command gets 421 ...
        assert idle.mail("portal@sender.example")[0] == 421
        # ... and the message being received is stored and acknowledged.
        busy.send(mail()[100:] + b".\r\n")
        code, text = busy.getreply()
        assert code == 250, text
        assert server.call(lambda: server.handler.quiet.is_set())
        assert busy.mail("portal@sender.example")[0] == 421
    finally:
        for c in (busy, idle):
            try:
                c.close()
            except OSError:
                pass
    assert [m.raw for m in stored(engine)] == [mail()]
