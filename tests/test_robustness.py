"""Robustness: malformed fixtures and a fuzz set of 5,000 mutated messages, through the pipeline.

All 5,000 go through the pure `read`; every 10th is also stored and processed (the whole set
through store/process: `python tools/robustness.py` on the files `fuzz_set()` makes). Nothing
may raise out of `read` but a Quarantine, and every stored message must end as a lead, a
non-lead, a duplicate or a quarantine record whose reason is not an internal error (an internal
error is a crash the pipeline caught).
"""

from __future__ import annotations

import multiprocessing
import random
import re
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from leadmail import config, db, pipeline
from leadmail.errors import Quarantine
from leadmail.models import Message, MessageStatus
from leadmail.store import store_raw
from tests.conftest import FIXTURES, SAMPLES

ROBUSTNESS = FIXTURES / "robustness"
RULES = Path(__file__).resolve().parent.parent / "rules"
FUZZ_COUNT = 5000
FUZZ_SEED = 20261123


def seeds() -> list[bytes]:
    """The messages the fuzz set is made from: samples and hand-written malformed mail."""
    paths = sorted(SAMPLES.rglob("*.eml")) + sorted(ROBUSTNESS.iterdir())
    paths += sorted((FIXTURES / "malformed").glob("*.eml"))
    return [p.read_bytes() for p in paths if p.suffix in (".eml", ".xml")]


# ---------------------------------------------------------------------------------------------
# Mutations: each takes the RNG and a message, returns a new message.

NASTY = [
    b"\x00",
    b"\xff\xfe",
    b"\xc3\x28",
    b"=?utf-8?B?",
    b"=?",
    b"?=",
    b"--",
    b"\r\n--",
    b"\r\n\r\n",
    b"Content-Type: multipart/mixed; boundary=",
    b"Content-Transfer-Encoding: base64\r\n",
    b"charset=",
    b"<",
    b">",
    b'"',
    b";",
    b"\t",
    b"%",
    b"&#x0;",
    b"<![CDATA[",
    b"\xe2\x80\xae",
]


def flip_bytes(rng: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw or b"x")
    for _ in range(rng.randint(1, 20)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def truncate(rng: random.Random, raw: bytes) -> bytes:
    return raw[: rng.randrange(len(raw) + 1)]


def drop_lines(rng: random.Random, raw: bytes) -> bytes:
    lines = raw.split(b"\n")
    for _ in range(rng.randint(1, 5)):
        if lines:
            del lines[rng.randrange(len(lines))]
    return b"\n".join(lines)


def repeat_lines(rng: random.Random, raw: bytes) -> bytes:
    lines = raw.split(b"\n")
    i = rng.randrange(len(lines))
    return b"\n".join(lines[:i] + [lines[i]] * rng.randint(2, 300) + lines[i:])


def line_endings(rng: random.Random, raw: bytes) -> bytes:
    text = raw.replace(b"\r\n", b"\n")
    return text.replace(b"\n", rng.choice([b"\r", b"\n\r", b"\r\r\n", b"\n\n"]))


def insert_nasty(rng: random.Random, raw: bytes) -> bytes:
    data = raw
    for _ in range(rng.randint(1, 10)):
        at = rng.randrange(len(data) + 1)
        data = data[:at] + rng.choice(NASTY) + data[at:]
    return data


def break_boundary(rng: random.Random, raw: bytes) -> bytes:
    match = re.search(rb'boundary="?([^";\r\n]+)', raw)
    if not match:
        return insert_nasty(rng, raw)
    old = match.group(1)
    new = rng.choice([b"", b"x", old[:-1], old + b"-", b'"', old * 3])
    count = rng.choice([1, 0])  # only the header, or every occurrence
    return raw.replace(old, new, count) if count else raw.replace(old, new)


def bad_charset(rng: random.Random, raw: bytes) -> bytes:
    charset = rng.choice([b"x-unknown", b"utf-7", b"", b"utf-16", b"gb2312", b'"', b"iso-8859-99"])
    return re.sub(rb"charset=\"?[\w-]+\"?", b"charset=" + charset, raw, flags=re.I)


def bad_encoding(rng: random.Random, raw: bytes) -> bytes:
    cte = rng.choice([b"base64", b"quoted-printable", b"x-bogus", b"", b"8bit", b"binary"])
    if re.search(rb"Content-Transfer-Encoding:", raw, re.I):
        return re.sub(rb"(Content-Transfer-Encoding:)[^\r\n]*", rb"\1 " + cte, raw, flags=re.I)
    return b"Content-Transfer-Encoding: " + cte + b"\r\n" + raw


def splice(rng: random.Random, raw: bytes, other: bytes) -> bytes:
    head, _, _ = raw.partition(b"\r\n\r\n")
    _, _, body = other.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n" + body


def garbage(rng: random.Random, raw: bytes) -> bytes:
    return rng.randbytes(rng.randint(0, 4000))


def headers_only(rng: random.Random, raw: bytes) -> bytes:
    return raw.partition(b"\r\n\r\n")[0]


def blow_up(rng: random.Random, raw: bytes) -> bytes:
    at = rng.randrange(len(raw) + 1)
    return raw[:at] + raw[at : at + 200] * rng.randint(50, 500) + raw[at:]


MUTATIONS = [
    flip_bytes,
    truncate,
    drop_lines,
    repeat_lines,
    line_endings,
    insert_nasty,
    break_boundary,
    bad_charset,
    bad_encoding,
    garbage,
    headers_only,
    blow_up,
]


def with_message_id(raw: bytes, n: int) -> bytes:
    """A fresh Message-ID, so a mutant is judged on its content, not taken as a duplicate."""
    raw = re.sub(rb"(?im)^message-id:[^\r\n]*(\r?\n[ \t][^\r\n]*)*\r?\n", b"", raw, count=1)
    return f"Message-ID: <fuzz-{n}@leadmail.test>\r\n".encode() + raw


def fuzz_set(count: int = FUZZ_COUNT, seed: int = FUZZ_SEED) -> Iterator[bytes]:
    """count mutants, the same ones every run; 1 in 10 keeps its Message-ID (dedup at work)."""
    rng = random.Random(seed)
    base = seeds()
    for n in range(count):
        raw = rng.choice(base)
        for _ in range(rng.randint(1, 3)):
            mutation = rng.choice(MUTATIONS)
            raw = splice(rng, raw, rng.choice(base)) if rng.random() < 0.05 else mutation(rng, raw)
        yield raw if rng.random() < 0.1 else with_message_id(raw, n)


# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[pipeline.Runtime, Any]]:
    tmp = tmp_path_factory.mktemp("robustness")
    url = f"sqlite:///{tmp / 'leadmail.db'}"
    data = {
        "database": {"url": url},
        "notify": {"email": {"relay": f"file:{tmp / 'alerts'}"}},
        "rules": {"dir": str(RULES)},
        "agents": [{"name": "Ana Agent", "email": "ana@brokerage.example"}],
        "log": {"level": "error"},
    }
    db.upgrade(url)
    engine = db.make_engine(url)
    yield pipeline.Runtime.load(config.validate(data, env={})), engine
    engine.dispose()


def read_verdict(raw: bytes, rt: pipeline.Runtime) -> str:
    """lead / non_lead / quarantine from the pure read; any other exception propagates."""
    try:
        draft = pipeline.read(raw, rt)
    except Quarantine as exc:
        assert exc.reason, "a quarantine needs a reason"
        return "quarantine"
    return "lead" if draft.is_lead else "non_lead"


def run_through(rt: pipeline.Runtime, engine: Any, raw: bytes) -> pipeline.Outcome:
    outcome = pipeline.process(rt, engine, store_raw(engine, raw, intake="file"))
    assert outcome is not None
    assert outcome.status in MessageStatus.FINAL, outcome
    assert outcome.reason or outcome.status == MessageStatus.LEAD, outcome
    assert not (outcome.reason or "").startswith("internal error"), outcome.reason
    return outcome


@pytest.mark.parametrize(
    "path",
    sorted(p for p in ROBUSTNESS.iterdir() if p.suffix in (".eml", ".xml")),
    ids=lambda p: p.name,
)
def test_malformed_fixture_reads_and_ends_somewhere(world: Any, path: Path) -> None:
    rt, engine = world
    raw = path.read_bytes()
    read_verdict(raw, rt)
    run_through(rt, engine, raw)


def _read_part(part: int, parts: int) -> tuple[Counter[str], list[str]]:
    """The pure read of every parts-th mutant (in a worker process): verdicts and crashes."""
    import spacy

    from leadmail import logs
    from leadmail.parsers import nlp

    logs.setup("critical", "json")
    # The rule-based fallback leadmail runs on without a trained model: NER on 5,000 mutants
    # would take minutes. The trained model reads a share of the same set below.
    nlp._models[nlp.DEFAULT_MODEL] = spacy.blank("en")
    settings = config.validate({"rules": {"dir": str(RULES)}}, env={})
    rt = pipeline.Runtime.load(settings)
    verdicts: Counter[str] = Counter()
    crashes: list[str] = []
    for n, raw in enumerate(fuzz_set()):
        if n % parts == part:
            try:
                verdicts[read_verdict(raw, rt)] += 1
            except Exception as exc:  # what this test is looking for
                crashes.append(f"mutant {n}: {type(exc).__name__}: {exc}")
    return verdicts, crashes


@pytest.mark.e2e  # the slowest test here (two worker processes, ~40 s on 2 idle cores)
def test_fuzz_set_of_5000_mutants_reads_without_crashing() -> None:
    parts = 2
    with ProcessPoolExecutor(parts, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(_read_part, range(parts), [parts] * parts))
    verdicts: Counter[str] = sum((r[0] for r in results), Counter())
    crashes = [c for r in results for c in r[1]]
    assert crashes == [], f"{len(crashes)} crashes, e.g. {crashes[:5]}"
    assert sum(verdicts.values()) == FUZZ_COUNT
    assert set(verdicts) == {"lead", "non_lead", "quarantine"}, verdicts


@pytest.mark.e2e  # slow: ~30 s
def test_fuzz_share_through_store_and_process(world: Any) -> None:
    """Every 10th mutant stored and processed: each ends as lead, non-lead, duplicate or
    quarantine, and none as an internal error. (All 5,000: `tools/robustness.py`.)"""
    rt, engine = world
    ends: Counter[str] = Counter()
    for raw in islice(fuzz_set(), 0, FUZZ_COUNT, 10):
        ends[run_through(rt, engine, raw).status] += 1
    assert sum(ends.values()) == FUZZ_COUNT // 10
    with Session(engine) as s:
        statuses = Counter(m.status for m in s.exec(select(Message)).all())
    assert set(statuses) <= set(MessageStatus.FINAL), statuses
    assert set(ends) == set(MessageStatus.FINAL), ends  # every ending, duplicates included


def test_fuzz_share_reads_with_the_trained_model(world: Any) -> None:
    rt, _engine = world
    verdicts = Counter(read_verdict(raw, rt) for raw in islice(fuzz_set(), 0, FUZZ_COUNT, 25))
    assert sum(verdicts.values()) == FUZZ_COUNT // 25


def test_fuzz_set_is_deterministic() -> None:
    first = list(fuzz_set(50))
    assert first == list(fuzz_set(50)) and len(set(first)) > 40


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    headers=st.lists(
        st.tuples(
            st.sampled_from(
                ["From", "To", "Subject", "Content-Type", "Content-Transfer-Encoding", "Reply-To"]
                + ["MIME-Version", "Message-ID", "X-Anything"]
            ),
            st.binary(max_size=80) | st.text(max_size=80).map(str.encode),
        ),
        max_size=8,
    ),
    body=st.binary(max_size=600) | st.text(max_size=600).map(str.encode),
)
def test_generated_messages_read_without_crashing(
    world: Any, headers: list[tuple[str, bytes]], body: bytes
) -> None:
    rt, _engine = world
    raw = b"".join(name.encode() + b": " + value + b"\r\n" for name, value in headers)
    read_verdict(raw + b"\r\n" + body, rt)
