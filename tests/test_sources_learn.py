"""`leadmail sources learn`: a draft rule from two mails of a layout no built-in parser knows,
with labels no vocabulary knows, reads a third, unseen mail of that layout right on every
labelled field; its golden samples are checked by `leadmail check-config`."""

from __future__ import annotations

import json
import subprocess
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from leadmail.errors import ConfigErrors
from leadmail.sources.learn import learn, looks_like
from tests.conftest import FIXTURES, run_cli

SAMPLES = FIXTURES / "learn"
# The unseen third mail, as a person reads it.
THIRD = {
    "source": "Hearthstone Matches",
    "first_name": "Ingrid",
    "last_name": "Halvorsen",
    "email": "ingrid.h@example.org",
    "phone": "+19705550123",
    "property_address": "1290 Aspen Ridge Dr, Fort Collins, CO 80525",
    "price": 489500,
    "message": "First home for us, hoping for a fenced yard for the dog and a garage for the "
               "bikes.",
}


def side_by_side(*commands: tuple[str, ...], cwd: Path | list[Path]
                 ) -> list[subprocess.CompletedProcess[str]]:
    """The real `leadmail` commands, each its own process, at once (a start costs seconds),
    in `cwd` (or each in its own folder of a list: one that writes rules/ must not be seen
    by one that reads without them)."""
    env = {"LEADMAIL_CONFIG": ""}
    where = cwd if isinstance(cwd, list) else [cwd] * len(commands)
    with ThreadPoolExecutor(len(commands)) as pool:
        runs = [pool.submit(run_cli, *c, cwd=w, check=False, env=env)
                for c, w in zip(commands, where, strict=True)]
        return [r.result() for r in runs]


def _json(run: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert run.returncode == 0, run.stderr
    return dict(json.loads(run.stdout))


def test_learned_rule_reads_an_unseen_mail(tmp_path: Path) -> None:
    # In an empty folder (no leadmail.toml, no rules/): the built-in readers alone.
    empty = tmp_path / "empty"
    empty.mkdir()
    bare, learned = side_by_side(
        ("extract", "--json", str(SAMPLES / "hearthstone-3.eml")),
        ("sources", "learn", str(SAMPLES / "hearthstone-1.eml"),
         str(SAMPLES / "hearthstone-2.eml"), "--out", "rules"), cwd=[empty, tmp_path])
    assert learned.returncode == 0, learned.stderr
    without = _json(bare)
    # No built-in parser knows this layout: the fallback takes the sender for the lead.
    assert without["source"] == "Direct"
    assert without["email"] != THIRD["email"] and without["price"] is None

    rule_file = tmp_path / "rules" / "hearthstone-matches.toml"
    rule = tomllib.loads(rule_file.read_text())
    assert rule["match"]["from"] == ["*@hearthstone-matches.example"]
    assert rule["match"]["subject"] == "^Hearthstone match: a homeowner wants to talk"
    assert rule["set"]["source"] == "Hearthstone Matches"
    assert rule["extract"] == {
        "full_name": {"label": "Prospect known as"},
        "email": {"label": "Inbox"},
        "phone": {"label": "Ring me at"},
        "property_address": {"label": "Dwelling of interest"},
        "price": {"label": "Ceiling they named"},
        "message": {"label": "In their words"},
    }
    text = rule_file.read_text()
    assert '# a phone in 2/2 samples: "(303) 555-0142", "720.555.0199"' in text
    # The provider's own desk phone, the same in both samples, is not taken for the lead's.
    assert "'Your Hearthstone desk' is the same in every sample" in text

    (run,) = side_by_side(("extract", "--json", "--rules", "rules",
                           str(SAMPLES / "hearthstone-3.eml")), cwd=tmp_path)
    got = _json(run)
    assert {k: got[k] for k in THIRD} == THIRD

    # The samples are copied beside the rule with what the draft reads from them.
    folder = tmp_path / "rules" / "hearthstone-matches"
    assert sorted(p.name for p in folder.iterdir()) == [
        "sample-1.eml", "sample-1.expected.json", "sample-2.eml", "sample-2.expected.json"]
    first = json.loads((folder / "sample-1.expected.json").read_text())
    assert first["phone"] == "+13035550142" and first["price"] == 715000
    assert first["first_name"] == "Marisol" and first["last_name"] == "Quintana"


def test_check_config_evaluates_golden_samples(tmp_path: Path) -> None:
    raws = [(SAMPLES / f"hearthstone-{i}.eml").read_bytes() for i in (1, 2)]
    learned = learn(raws, "Hearthstone")
    good = {"is_lead": True, "source": "Hearthstone", "phone": "+13035550142", "price": 715000,
            "segment": "Seller"}
    configs = []
    for name, want in (("good", good), ("bad", {**good, "phone": "+13035550143"})):
        rules = tmp_path / name / "rules"
        (rules / learned.name).mkdir(parents=True)
        (rules / f"{learned.name}.toml").write_text(learned.text)
        (rules / learned.name / "a.eml").write_bytes(raws[0])
        (rules / learned.name / "a.expected.json").write_text(json.dumps(want))
        cfg = tmp_path / name / "leadmail.toml"
        cfg.write_text(f'[database]\nurl = "sqlite:///{tmp_path / name / "l.db"}"\n'
                       f'[rules]\ndir = "{rules}"\n')
        configs.append(("--config", str(cfg), "check-config"))
    ok, bad = side_by_side(*configs, cwd=tmp_path)
    assert ok.returncode == 0 and "1 source rules, 1 golden samples" in ok.stdout
    assert bad.returncode == 2
    assert ("config error: hearthstone.toml: golden sample a.eml: phone is '+13035550142', "
            "expected '+13035550143'") in bad.stderr


def test_value_shapes() -> None:
    assert looks_like("ana@example.org") == "email"
    assert looks_like("(512) 555-0142") == "phone"
    assert looks_like("$1,250,000") == "price"
    assert looks_like("12 Elm St, Austin, TX 78701") == "address"
    assert looks_like("Grace Hopper") == "name"
    assert looks_like("2026-11-28 09:14") == "timestamp"
    assert looks_like("We would love to see the place this weekend please.") == "message"
    assert looks_like("88121") is None
    assert looks_like("9" * 5000) is None  # long hostile values end quickly
    started = time.perf_counter()
    assert looks_like("1 " + "a " * 3000 + "st") == "message"  # no street: the long words
    assert looks_like("1 " + "Elm " * 5000) == "message"
    assert time.perf_counter() - started < 0.5


def _free_text(n: int, name: str, phone: str, mail: str, price: str) -> bytes:
    return (f"From: Nook Rentals <ping@nook-rentals.example>\nTo: leads@brokerage.example\n"
            f"Subject: Someone is curious about a listing ({n})\nMessage-ID: <n{n}@nook>\n"
            f"Content-Type: text/plain; charset=utf-8\n\n"
            f"Heads up! {name} pinged us about the loft.\n"
            f"They said to call back on {phone} any time after five.\n"
            f"Or drop a note to {mail} if easier.\n"
            f"They mentioned a budget around {price} for the purchase.\n").encode()


def test_layout_regexes_where_no_label_is(tmp_path: Path) -> None:
    raws = [_free_text(1, "Jo Park", "(303) 555-0142", "jo.park@example.net", "$540,000"),
            _free_text(2, "Lee Moss", "720.555.0199", "lee@example.com", "$1,200,000")]
    learned = learn(raws, "Nook")
    rule = tomllib.loads(learned.text)
    assert set(rule["extract"]) == {"email", "phone", "price"}
    assert rule["extract"]["phone"]["regex"].startswith(r"They\s+said\s+to\s+call\s+back\s+on\s*(")
    assert "a phone after \"They said to call back on\" in 2/2 samples" in learned.text
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "nook.toml").write_text(learned.text)
    third = tmp_path / "third.eml"
    third.write_bytes(_free_text(3, "Ana Ruiz", "512 555 0177", "ana.r@example.org", "$415,000"))
    (run,) = side_by_side(("extract", "--json", "--rules", str(rules), str(third)), cwd=tmp_path)
    got = _json(run)
    assert (got["source"], got["phone"], got["email"], got["price"]) == (
        "Nook", "+15125550177", "ana.r@example.org", 415000)


def test_bad_samples_get_a_clear_answer() -> None:
    with pytest.raises(ConfigErrors, match="give 1 to 3 sample mails"):
        learn([])
    with pytest.raises(ConfigErrors, match="larger than"):
        learn([b"x" * (3 * 1024 * 1024)])
    # Nothing to match on: the draft is written switched off, never a catch-all.
    draft = tomllib.loads(learn([b"garbage \x00\xff without headers"]).text)
    assert draft["enabled"] is False and draft["match"] == {}
