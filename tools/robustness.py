#!/usr/bin/env python3
"""Feed .eml/.xml files through the pipeline and say how each ends; exit 1 if any crashed.

    python tools/robustness.py DIR_OR_FILE... [--rules DIR]

Each file is read with the pure `pipeline.read`, then stored and processed in a throwaway
SQLite database, as if it had arrived over SMTP. Every file must end as a lead, a non-lead, a
duplicate or a quarantine record with a reason; "crash" means an exception escaped `read`
(other than a deliberate Quarantine) or the pipeline quarantined it as an internal error.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

from leadmail import config, db, logs, pipeline
from leadmail.errors import Quarantine
from leadmail.store import store_raw

SUFFIXES = (".eml", ".xml")  # in folders; files named on the command line are always taken


def files_of(paths: list[str]) -> list[Path]:
    """Files given, and files with a mail-like suffix under the folders given."""
    out: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES)
        else:
            out.append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run every file; print one line each and a summary."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--rules", default="rules", help="rules folder (default: ./rules)")
    args = ap.parse_args(argv)
    logs.setup("error", "console")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/robustness.db"
        settings = config.validate(
            {
                "database": {"url": url},
                "notify": {"email": {"relay": f"file:{tmp}/alerts"}},
                "rules": {"dir": args.rules},
                "agents": [{"name": "Ana Agent", "email": "ana@brokerage.example"}],
            },
            env={},
        )
        db.upgrade(url)
        engine = db.make_engine(url)
        rt = pipeline.Runtime.load(settings)
        ends: Counter[str] = Counter()
        crashed = 0
        for path in files_of(args.paths):
            raw = path.read_bytes()
            try:
                draft = pipeline.read(raw, rt)
                read_ok = (
                    f"reads as a lead ({draft.source}: {draft.email or draft.phone})"
                    if draft.is_lead
                    else f"reads as not a lead ({draft.not_lead_reason})"
                )
            except Quarantine as exc:
                read_ok = f"read: quarantine ({exc.reason[:60]})"
            except Exception as exc:  # what this tool is looking for
                read_ok = f"read CRASHED: {type(exc).__name__}: {exc}"
                crashed += 1
            outcome = pipeline.process(rt, engine, store_raw(engine, raw, intake="file"))
            status = outcome.status if outcome else "unclaimed"
            reason = (outcome.reason or "") if outcome else ""
            if reason.startswith("internal error"):
                status = "CRASH→quarantine"
                crashed += 1
            ends[status] += 1
            print(f"{path.name:60} {status:18} {read_ok}; {reason[:90]}")
        engine.dispose()
    print(f"\n{sum(ends.values())} files: " + ", ".join(f"{n} {s}" for s, n in ends.most_common()))
    print(f"crashes: {crashed}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
