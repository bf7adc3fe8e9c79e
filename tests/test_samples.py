"""Every bundled sample through the real CLI: `leadmail eval samples/` must be 100% per field."""

from __future__ import annotations

import json
import re

import pytest

from leadmail.draft import EXTRACT_KEYS
from tests.conftest import ROOT, SAMPLES, run_cli

DEMO = ROOT / "leadmail" / "defaults" / "demo.toml"


def test_eval_samples_is_perfect_on_every_field() -> None:
    res = run_cli("eval", str(SAMPLES), "--rules", str(ROOT / "rules"), "--json",
                  config=DEMO, check=False)
    report = json.loads(res.stdout)
    assert report["files"] >= 10
    assert report["mismatches"] == []
    assert report["accuracy"] == 1.0
    assert res.returncode == 0


def test_samples_are_many_mails_from_many_senders_in_several_languages() -> None:
    """samples/ is no handful of mails tuned to: at least 150, from at least 40 senders, 20
    of them sources no built-in parser is written for, 10 of them not in English."""
    res = run_cli("eval", str(SAMPLES), "--rules", str(ROOT / "rules"), "--json",
                  config=DEMO, check=False)
    report = json.loads(res.stdout)
    assert report["files"] >= 150
    sources = {s for s in report["sources"] if s != "(non-lead)"}
    built_in = {"ADF", "Craigslist", "Direct", "EverQuote", "Facebook", "Google Ads",
                "HomeLight", "Homes.com", "IDX", "LendingTree", "Opcity", "Realtor.com",
                "Redfin", "Trulia", "Website", "Zillow"}
    assert len(sources) >= 40, sorted(sources)
    assert len(sources - built_in) >= 20
    foreign = {p.name for p in SAMPLES.rglob("*.eml") if _not_english(p.read_bytes())}
    assert len(foreign) >= 10, sorted(foreign)


_ENGLISH = {"the", "and", "you", "is", "to", "for", "your", "of", "in", "we", "i", "this",
            "with", "are", "have", "would", "like", "can"}
_OTHER = {"de", "la", "el", "le", "les", "des", "und", "der", "die", "das", "ist", "mit", "ich",
          "wir", "sie", "para", "por", "que", "une", "est", "je", "nous", "vous", "um", "uma",
          "com", "não", "você", "con", "su", "il", "di", "per", "het", "een", "van", "ik",
          "bonjour", "hola", "olá", "gracias", "obrigado", "obrigada", "merci", "danke", "ciao",
          "buongiorno", "los", "las", "del", "sur", "pour", "au", "ein", "eine", "na", "em"}


def _not_english(raw: bytes) -> bool:
    """Mail written in another language: more of its common words are another language's."""
    from leadmail.parsers.mime import parse_mail

    words = re.findall(r"[^\W\d_]+", parse_mail(raw).text.lower())[:400]
    other = sum(w in _OTHER for w in words)
    return other >= 5 and other > 2 * sum(w in _ENGLISH for w in words)


def test_eval_exits_nonzero_under_min(tmp_path) -> None:  # type: ignore[no-untyped-def]
    sample = next(SAMPLES.rglob("*.eml"))
    (tmp_path / "x.eml").write_bytes(sample.read_bytes())
    (tmp_path / "x.expected.json").write_text(json.dumps({"email": "wrong@example.com"}))
    res = run_cli("eval", str(tmp_path), "--min", "0.9", config=DEMO, check=False)
    assert res.returncode == 1
    assert "MISMATCH" in res.stdout and "wrong@example.com" in res.stdout


def test_extract_json_contract() -> None:
    """One object per file, in order, with exactly the documented keys."""
    files = sorted(str(p) for p in SAMPLES.rglob("*.eml"))
    res = run_cli("extract", *files, "--json", config=DEMO, cwd=ROOT)
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [line["file"] for line in lines] == files
    for line in lines:
        if "quarantine" in line:
            continue
        keys = [k for k in line if k not in ("file", "reason")]
        assert keys == list(EXTRACT_KEYS)
        assert line["phone"] is None or line["phone"].startswith("+")
        assert line["price"] is None or isinstance(line["price"], int)


# The blind sets (tests/fixtures/blind/README.md) at or above what they last reached: a
# change may raise these floors, never lower them. set1 and set3 reached 100% and moved to
# samples/sets/, where test_eval_samples_is_perfect_on_every_field holds them.
BLIND_FLOORS = {"set2": (0.988, 0, 64), "set4": (0.986, 0, 103), "set5": (0.987, 0, 75),
                "set6": (0.989, 0, 105), "set7": (0.979, 0, 115), "set8": (0.963, 0, 108),
                "set9": (0.991, 0, 126), "set10": (0.979, 0, 126), "set11": (0.976, 0, 128),
                "set12": (0.977, 0, 128), "set13": (0.979, 2, 120), "set14": (0.975, 1, 124),
                "set15": (0.989, 0, 120), "set16": (0.979, 0, 124), "set17": (0.981, 0, 124),
                "set18": (0.981, 0, 124), "set19": (0.982, 2, 124), "set20": (0.994, 0, 124),
                "set21": (0.982, 0, 124), "set22": (0.979, 0, 124), "set23": (0.992, 0, 124),
                "set24": (0.968, 0, 124), "set25": (0.964, 5, 124)}


@pytest.mark.parametrize("name", sorted(BLIND_FLOORS))
def test_blind_sets_do_not_slip_back(name: str) -> None:
    floor, distractors, files = BLIND_FLOORS[name]
    res = run_cli("eval", str(ROOT / "tests" / "fixtures" / "blind" / name), "--rules",
                  str(ROOT / "rules"), "--json", config=DEMO, check=False)
    report = json.loads(res.stdout)
    assert report["files"] == files
    assert report["accuracy"] >= floor, report["fields"]
    assert report["distractors"] <= distractors, report["distractor_list"]
