"""One mail must not freeze the daemon, and an admin script must not escape its limits.

Against a running daemon: a base64 mail whose body is one 32 KB line of "1 1 1 …" (the shape
that once made the street-address pattern take minutes), 900 KB of ordinary long lines, and
rules whose scripts sleep in C code, exit the process, or run a catastrophic regex. While each
is being read, /healthz and an SMTP 250 answer within a second, the next normal lead is
alerted within seconds, and the bad mail ends as a lead, a non-lead, or quarantined with its
reason. The daemon never exits on its own, and a SIGTERM still stops it with 0.
"""

from __future__ import annotations

import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Sink, send, wait_for
from tests.e2e.serve import final_status, serve
from tests.e2e.test_daemon import lead_mail

pytestmark = pytest.mark.e2e

SCRIPTS = {
    "sleeper": "import time\n\ndef extract(mail, lead):\n    time.sleep(25)\n",
    "quitter": "import sys\n\ndef extract(mail, lead):\n    sys.exit(0)\n",
    "regex": ("import re\n\ndef extract(mail, lead):\n"
              "    re.match(r'(a+)+$', 'a' * 40 + '!')\n"),
    "hardexit": "import os\n\ndef extract(mail, lead):\n    os._exit(0)\n",
}


def script_rules(directory: Path) -> Path:
    directory.mkdir()
    for name, code in SCRIPTS.items():
        (directory / f"{name}.py").write_text(code)
        (directory / f"{name}.toml").write_text(
            f'name = "{name}"\nsource = "Website"\nparser = "Website"\nscript = "{name}.py"\n'
            f'[match]\nsubject = "^{name} "\n')
    return directory


def form_mail(subject: str, n: int) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"] = "wordpress@forms.example", "leads@brokerage.example"
    msg["Subject"], msg["Message-ID"] = f"{subject} form {n}", f"<{subject}-{n}@forms.example>"
    msg.set_content(f"Name: Form Person{n}\nEmail: form{n}@buyers.example\n"
                    f"Phone: 512-555-01{n:02d}\nMessage: I'd like to see the house.\n")
    return msg.as_bytes()


def hostile(body: str, n: int) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"] = f"Someone <someone{n}@example.com>", "leads@brokerage.example"
    msg["Subject"], msg["Message-ID"] = "question about a house", f"<hostile-{n}@example.com>"
    msg.set_content(body, cte="base64")  # base64 gets a long line past SMTP's line limit
    return msg.as_bytes()


@pytest.fixture
def daemon(tmp_path: Path, sink: Sink, daemon_factory):  # type: ignore[no-untyped-def]
    limits = {"LEADMAIL_PIPELINE_READ_TIME_LIMIT": "3", "LEADMAIL_PIPELINE_MAX_ATTEMPTS": "1",
              "LEADMAIL_PIPELINE_WORKERS": "2"}
    served = serve(tmp_path, sink, daemon_factory, rules_dir=script_rules(tmp_path / "rules"),
                   env=limits)
    d = served.daemon
    wait_for(lambda: "readers ready" in d.log_text(), timeout=30)
    yield d, served.engine, served.port, served.base
    assert served.stop() == 0, d.log_text()[-3000:]


def _responsive(port: int, base: str, n: int) -> None:
    """/healthz and an SMTP 250 within one second each, while the bad mail is being read."""
    started = time.monotonic()
    assert httpx.get(base + "/healthz", timeout=1).status_code == 200
    assert time.monotonic() - started < 1.0
    started = time.monotonic()
    assert send(port, lead_mail(n))[0] == 250
    assert time.monotonic() - started < 1.0


def _alerted(sink: Sink, n: int, within: float) -> None:
    """An alert about person n reached the relay within `within` seconds."""

    def text(msg: Any) -> str:
        return str(msg["Subject"]) + str(msg.get_body(("plain",)).get_content())

    wait_for(lambda: [m for _, m, _ in list(sink.messages) if f"Number{n}" in text(m)],
             timeout=within)


@pytest.mark.parametrize("body", [
    ("1 " * 16384).strip(),  # one 32 KB line
    ("A perfectly ordinary line of a long mail, with nothing odd about it at all. " * 12
     + "\n") * 1000,  # 900 KB of long lines
], ids=["one-line", "long-lines"])
def test_one_mail_freezes_nothing(daemon, sink: Sink, body: str) -> None:  # type: ignore[no-untyped-def]
    d, engine, port, base = daemon
    assert send(port, hostile(body, 1))[0] == 250
    _responsive(port, base, 41)
    _alerted(sink, 41, within=5)
    ended = wait_for(lambda: final_status(engine, "<hostile-1@example.com>"), timeout=30)
    assert ended[0] in ("lead", "non_lead", "quarantined"), ended
    if ended[0] == "quarantined":
        assert ended[1]


@pytest.mark.parametrize("script,why", [
    ("sleeper", "took longer than 3 s"),
    ("regex", "took longer than 3 s"),
    ("quitter", "called sys.exit(0)"),
    ("hardexit", "reader process died"),
])
def test_scripts_cannot_escape_their_limits(daemon, sink: Sink, script: str, why: str) -> None:  # type: ignore[no-untyped-def]
    d, engine, port, base = daemon
    assert send(port, form_mail(script, 1))[0] == 250
    time.sleep(0.5)  # the script is running now
    _responsive(port, base, 42)
    _alerted(sink, 42, within=8)
    status, reason = wait_for(lambda: final_status(engine, f"<{script}-1@forms.example>"),
                              timeout=30)
    assert status == "quarantined" and why in (reason or ""), (status, reason)
    assert d.proc is not None and d.proc.poll() is None  # still serving
    assert send(port, form_mail("plain", 2))[0] == 250
    wait_for(lambda: final_status(engine, "<plain-2@forms.example>"), timeout=15)
