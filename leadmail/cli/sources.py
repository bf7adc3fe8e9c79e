"""`leadmail sources`: each lead source's health; `leadmail sources learn`: a draft rule."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from leadmail import pipeline
from leadmail.cli.common import as_json, connect, load_settings
from leadmail.errors import ConfigError, ConfigErrors, Quarantine
from leadmail.rules import load_rules
from leadmail.sources import health, learn


def add(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("sources", help="lead sources' health; `learn` drafts a rule from samples")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_sources)
    ssub = s.add_subparsers(dest="sources_cmd")
    learn_p = ssub.add_parser("learn", help="a draft rule (and golden samples) from 1-3 mails")
    learn_p.add_argument("files", nargs="+", metavar="FILE.eml")
    learn_p.add_argument("--name", help="the source's name (default: the sender's)")
    learn_p.add_argument("--out", default="rules", help="rules folder to write to (rules/)")
    learn_p.add_argument("--force", action="store_true", help="overwrite a rule of that name")
    learn_p.set_defaults(func=cmd_learn)


def _pct(value: float | None) -> str:
    return "   -" if value is None else f"{value:4.0%}"


def cmd_sources(args: argparse.Namespace) -> int:
    """One line per source: state, mails and leads per day, last seen, fill rates, shares."""
    _, engine = connect(args)
    rows = health.figures(engine)
    if args.json:
        print(as_json(rows))
        return 0
    fields = " ".join(f"{f[:5]:>5}" for f in health.FIELDS)
    print(f"{'SOURCE':20} {'STATE':9} {'MAIL/D':>6} {'LEAD/D':>6} {'LAST SEEN':16} {fields} "
          f"{'REVIEW':>6} {'FALLBK':>6} {'QUAR':>4}")
    for r in rows:
        fill = " ".join(f"{_pct(r['fill'][f]):>5}" for f in health.FIELDS)
        seen = (r["last_seen"] or "never")[:16].replace("T", " ")
        print(f"{r['source'][:20]:20} {r['state']:9} {r['mails_per_day']:6.1f} "
              f"{r['leads_per_day']:6.1f} {seen:16} {fill} {_pct(r['review_share']):>6} "
              f"{_pct(r['fallback_share']):>6} {r['quarantined']:4}")
        if r["state"] == health.DRIFTING:
            print(f"  drifting since {r['since']}: {r['reason']}; last good "
                  f"{r['last_good_message'] or '-'}, first bad {r['first_bad_message'] or '-'}")
    return 0


def cmd_learn(args: argparse.Namespace) -> int:
    """Write OUT/NAME.toml and its golden samples OUT/NAME/*.eml with .expected.json."""
    settings = load_settings(args)
    raws = []
    for name in args.files:
        try:
            with Path(name).open("rb") as fh:  # a sample over the bound is refused by learn
                raws.append(fh.read(learn.MAX_BYTES + 1))
        except OSError as exc:
            raise ConfigErrors([ConfigError(name, str(exc))]) from None
    learned = learn.learn(raws, args.name)
    out = Path(args.out)
    rule_path, folder = out / f"{learned.name}.toml", out / learned.name
    if (rule_path.exists() or folder.exists()) and not args.force:
        print(f"{rule_path} exists; use --force to overwrite it", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    # The draft read alone, as `extract --rules` would with only it: the golden values.
    staging = out / f".{learned.name}.learning"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        (staging / f"{learned.name}.toml").write_text(learned.text)
        rules = load_rules(staging, settings.classify.all_segments())
        base = pipeline.Runtime.load(settings.model_copy(
            update={"rules": settings.rules.model_copy(update={"dir": str(staging)})}))
        rt = pipeline.Runtime(base.settings, rules, base.parse_ctx)
        expected = []
        for raw in raws:
            try:
                expected.append(learn.expected(pipeline.read(raw, rt).public(), learned))
            except Quarantine as exc:
                expected.append({"is_lead": False, "quarantine": exc.reason})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    rule_path.write_text(learned.text)
    folder.mkdir(exist_ok=True)
    for i, (name, raw, want) in enumerate(zip(args.files, raws, expected, strict=True), 1):
        stem = f"sample-{i}"
        (folder / f"{stem}.eml").write_bytes(raw)
        (folder / f"{stem}.expected.json").write_text(
            json.dumps(want, indent=2, ensure_ascii=False) + "\n")
        print(f"golden sample {folder / stem}.eml (from {name})")
    print(f"wrote {rule_path}: {', '.join(f'{k} <- {v!r}' for k, v in learned.labels.items())}")
    print(f"check it, correct {folder}/*.expected.json, then: leadmail check-config")
    return 0
