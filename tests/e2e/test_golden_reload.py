"""Golden samples at SIGHUP: a rule change that breaks its own golden samples is refused, the
old rule keeps working and the reason is logged; a change that keeps them is taken."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from leadmail.sources.learn import learn
from tests.conftest import FIXTURES, Sink, free_port, send, wait_for, write_config

pytestmark = pytest.mark.e2e
SAMPLES = FIXTURES / "learn"


def third(n: int) -> bytes:
    """The unseen third mail, as the n-th copy: its own Message-ID and inbox."""
    raw = (SAMPLES / "hearthstone-3.eml").read_bytes()
    return (raw.replace(b"<m89002@", f"<m89002-{n}@".encode())
            .replace(b"ingrid.h@example.org", f"ingrid.h{n}@example.org".encode()))


def _alert(sink: Sink, n: int) -> str:
    with sink.lock:
        bodies = [m.get_body(("plain",)).get_content() for _, m, _ in sink.messages]
    return next((b for b in bodies if "Ingrid Halvorsen" in b and f"ingrid.h{n}@" in b), "")


def test_sighup_refuses_a_rule_that_breaks_its_golden_samples(
        tmp_path: Path, sink: Sink, daemon_factory) -> None:  # type: ignore[no-untyped-def]
    rules = tmp_path / "rules"
    rules.mkdir()
    raws = [(SAMPLES / f"hearthstone-{i}.eml").read_bytes() for i in (1, 2)]
    draft = learn(raws)
    rule = rules / f"{draft.name}.toml"
    rule.write_text(draft.text)
    folder = rules / draft.name
    folder.mkdir()
    for i, (raw, email, phone) in enumerate(zip(raws, ["marisol.q@example.net",
                                                       "dez.okafor@example.com"],
                                                ["+13035550142", "+17205550199"],
                                                strict=True), 1):
        (folder / f"s{i}.eml").write_bytes(raw)
        (folder / f"s{i}.expected.json").write_text(json.dumps(
            {"source": "Hearthstone Matches", "email": email, "phone": phone,
             "segment": "Seller"}))
    port = free_port()
    cfg = write_config(tmp_path, db_url=f"sqlite:///{tmp_path / 'l.db'}", smtp_port=port,
                       relay=f"127.0.0.1:{sink.port}", rules_dir=rules)
    d = daemon_factory(cfg, port).start()
    assert send(port, third(1))[0] == 250
    assert "Email:    ingrid.h1@example.org" in wait_for(lambda: _alert(sink, 1), timeout=30)

    # The admin points email at the wrong row: both golden samples break. Refused.
    rule.write_text(draft.text.replace('email = { label = "Inbox" }',
                                       'email = { label = "Match reference" }'))
    assert d.proc is not None
    d.proc.send_signal(signal.SIGHUP)
    refused = wait_for(lambda: [json.loads(line) for line in d.log_text().splitlines()
                                if "reload failed" in line], timeout=20)[0]
    assert refused["event"] == "reload failed; keeping the previous rules"
    # (the log masks the addresses it names)
    assert "hearthstone-matches.toml: golden sample s1.eml: email is None, expected 'm…@example" \
        ".net'" in refused["error"]
    assert "golden sample s2.eml: email" in refused["error"]
    assert send(port, third(2))[0] == 250  # the previous rule still reads it
    alert = wait_for(lambda: _alert(sink, 2), timeout=20)
    assert "Email:    ingrid.h2@example.org" in alert and "Tags:" not in alert

    # A change that keeps its golden samples is taken at the next SIGHUP.
    rule.write_text(draft.text.replace("[set]\n", '[set]\ntags = ["hearthstone"]\n'))
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: '"reloaded rules and templates"' in d.log_text(), timeout=20)
    assert send(port, third(3))[0] == 250
    alert = wait_for(lambda: _alert(sink, 3), timeout=20)
    assert "Email:    ingrid.h3@example.org" in alert and "hearthstone" in alert
    assert d.stop() == 0
