"""docs/routing.md is run: its config and mails are written, its console blocks compared."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ROOT
from tests.test_docs import run_doc


def test_routing_doc_examples_run(tmp_path: Path) -> None:
    run_doc(ROOT / "docs" / "routing.md", tmp_path)
