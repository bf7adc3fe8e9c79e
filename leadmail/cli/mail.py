"""Mail through the pipeline: `ingest` (for real), `extract` (a dry run), `eval` (accuracy)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from leadmail import pipeline
from leadmail.cli.common import as_json, connect, load_settings, with_rules
from leadmail.errors import Quarantine
from leadmail.evaluate import evaluate
from leadmail.notify import outbox
from leadmail.store import store_raw


def add(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("ingest", help="process .eml files through the full pipeline")
    s.add_argument("files", nargs="+")
    s.set_defaults(func=cmd_ingest)
    s = sub.add_parser("extract", help="dry run: print what would be extracted, write nothing")
    s.add_argument("files", nargs="+")
    s.add_argument("--json", action="store_true", help="one JSON object per line per file")
    s.add_argument("--trace", action="store_true", help="include the pipeline trace")
    s.add_argument("--rules", help="rules directory to try instead of the configured one")
    s.set_defaults(func=cmd_extract)

    s = sub.add_parser("eval", help="per-field accuracy against X.expected.json files")
    s.add_argument("dir")
    s.add_argument("--min", type=float, default=0.0, help="exit 1 below this accuracy (0-1)")
    s.add_argument("--rules", help="rules directory to use instead of the configured one")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_eval)


def cmd_ingest(args: argparse.Namespace) -> int:
    """Store and process .eml files through the full pipeline; one JSON line each."""
    settings, engine = connect(args)
    rt = pipeline.Runtime.load(settings)
    for name in args.files:
        raw = Path(name).read_bytes()
        msg_id = store_raw(engine, raw, intake="file")
        outcome = pipeline.process(rt, engine, msg_id)
        line = {"file": name, **(outcome.as_dict() if outcome else {"message": msg_id})}
        print(as_json(line), flush=True)
    outbox.deliver_due(engine, settings)
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    """Dry run: what leadmail reads from each file, no writes."""
    settings = with_rules(load_settings(args), args.rules)
    rt = pipeline.Runtime.load(settings)
    status = 0
    for name in args.files:
        try:
            draft = pipeline.read(Path(name).read_bytes(), rt)
            data: dict[str, Any] = {"file": name, **draft.public()}
            if not draft.is_lead:
                data["reason"] = draft.not_lead_reason
            if args.trace:
                data["trace"] = draft.trace
        except Quarantine as exc:
            data = {"file": name, "is_lead": False, "quarantine": exc.reason}
        except OSError as exc:
            data = {"file": name, "error": str(exc)}
            status = 1
        if args.json:
            print(as_json(data), flush=True)
        else:
            print(f"== {name}")
            for key, value in data.items():
                if key != "file" and value not in (None, [], {}):
                    print(f"  {key:17} {value}")
    return status


def cmd_eval(args: argparse.Namespace) -> int:
    """Per-field accuracy over X.eml + X.expected.json pairs; non-zero under --min."""
    settings = with_rules(load_settings(args), args.rules)
    report = evaluate(Path(args.dir), pipeline.Runtime.load(settings))
    if args.json:
        print(as_json(report.as_json()))
    else:
        print(f"{report.files} files in {args.dir}\n{report.table()}\n\n{report.source_table()}")
        print(f"\ndistractors taken: {len(report.distractors)}")
        for d in report.distractors:
            print(f"DISTRACTOR {d['file']}: {d['field']}: expected {d['expected']!r}, "
                  f"got {d['got']!r}")
        for m in report.mismatches:
            print(
                f"MISMATCH {m['file']}: {m['field']}: expected {m['expected']!r}, got {m['got']!r}"
            )
    if report.files == 0:
        print(f"no X.eml with X.expected.json under {args.dir}", file=sys.stderr)
        return 1
    return 0 if report.accuracy() >= args.min else 1
