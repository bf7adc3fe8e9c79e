"""The examples in the docs are run: files are written, console blocks run and compared."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.M | re.S)


def blocks(doc: Path) -> list[tuple[str, str, str]]:
    """(language, info, body) of each fenced block."""
    return [(m.group(1), m.group(2).strip(), m.group(3)) for m in FENCE.finditer(doc.read_text())]


def run_doc(doc: Path, workdir: Path) -> None:
    for lang, info, body in blocks(doc):
        m = re.search(r"file=(\S+)", info)
        if m:
            target = workdir / m.group(1)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body)
            continue
        if lang != "console":
            continue
        commands: list[tuple[str, list[str]]] = []
        for line in body.splitlines():
            if line.startswith("$ "):
                commands.append((line[2:], []))
            elif commands:
                commands[-1][1].append(line)
        for command, expected in commands:
            argv = shlex.split(command)
            if argv[0] != "leadmail":
                continue  # setup commands (tools/*.sh) are exercised elsewhere
            result = subprocess.run([sys.executable, "-m", "leadmail", *argv[1:]], cwd=workdir,
                                    capture_output=True, text=True, timeout=120)
            got = (result.stdout + result.stderr).rstrip().splitlines()
            want = [line.rstrip() for line in expected]
            assert len(got) == len(want), f"{command}\n--- got:\n" + "\n".join(got)
            for g, w in zip(got, want, strict=True):
                pattern = ".*".join(re.escape(part) for part in w.split("…"))
                assert re.fullmatch(pattern, g.rstrip()), f"{command}\nwant: {w}\ngot:  {g}"


@pytest.mark.parametrize(
    "doc", ["docs/rules.md", "docs/agents.md", "docs/followup.md", "docs/operators.md"]
)
def test_doc_examples_run(doc: str, tmp_path: Path) -> None:
    run_doc(ROOT / doc, tmp_path)


def test_readme_demo_runs_and_routes_the_samples(tmp_path: Path) -> None:
    """The README's first command is tools/demo.sh, which runs `leadmail demo`."""
    from tests.conftest import free_port

    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "leadmail", "demo", "--exit", "--data", str(tmp_path / "data"),
         "--listen", f"127.0.0.1:{port}"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if re.match(r"^\s+\d+\s", line)]
    samples = list((ROOT / "samples").glob("*/*.eml"))  # one folder per source
    assert len(rows) == len(samples)
    assert {row[1] for row in rows} <= {"lead", "non_lead"}
    leads = [row for row in rows if row[1] == "lead"]
    assert [row[-1] for row in leads[:3]] == [
        "ana@brokerage.example", "ben@brokerage.example", "cara@brokerage.example"]
    routed = [row for row in leads if "@" in row[-1]]
    assert len(routed) >= len(leads) - 2  # a lead without contact waits for review
    assert len(list((tmp_path / "data" / "alerts").glob("*.eml"))) == len(routed)


def test_readme_mentions_every_command() -> None:
    from leadmail.cli import build_parser

    readme = (ROOT / "README.md").read_text()
    sub = next(a for a in build_parser()._actions if a.dest == "cmd")
    for name in sub.choices:  # type: ignore[union-attr]
        assert f"leadmail {name}" in readme or f"leadmail [--config PATH] {name}" in readme, name
