"""Installing leadmail: `init` (a starter config), `check-config`, `db upgrade`."""

from __future__ import annotations

import argparse
import secrets
import shutil
import sys
from pathlib import Path

from leadmail import config, db, golden, perms, pipeline
from leadmail.cli.common import load_settings
from leadmail.followup import campaigns
from leadmail.notify import render

DEFAULTS = Path(__file__).parent.parent / "defaults"


def add(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("check-config", help="validate config, rules, scripts, templates").set_defaults(
        func=cmd_check_config
    )
    s = sub.add_parser("init", help="write a starter config and example rules")
    s.add_argument("dir", nargs="?", default=".")
    s.add_argument("--force", action="store_true")
    s.set_defaults(func=cmd_init)
    s = sub.add_parser("db", help="database schema")
    dsub = s.add_subparsers(dest="db_cmd", required=True)
    dsub.add_parser("upgrade")
    s.set_defaults(func=cmd_db)


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate the config, the rules and their scripts, and the alert templates."""
    settings = load_settings(args)
    rt = pipeline.Runtime.load(settings)
    samples = golden.check(rt)  # each rule's golden samples still read as expected
    path = config.find_config(args.config)
    problems = render.check(settings.notify.templates) + campaigns.check_templates(settings)
    for problem in problems:
        print(f"template error: {problem}", file=sys.stderr)
    if problems:
        return 2
    print(
        f"config OK: {settings._source or path or '(embedded defaults)'}; "
        f"{len(settings.agents)} agents, {len(settings.routes)} routes, "
        f"{len(rt.rules)} source rules" + (f", {samples} golden samples" if samples else "")
    )
    # The absolute paths used: relative ones are read from the config file's folder.
    paths = settings.used_paths()
    width = max(len(key) for key, _ in paths)
    for key, where in paths:
        note = ""
        if key == "rules.dir" and not Path(where).is_dir():
            note = " (not there: no source rules)"
        print(f"  {key:{width}}  {where}{note}")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Write a commented starter config, example rules and a link secret (files others cannot
    read, in a 0750 folder when init makes it)."""
    target = perms.private_dir(args.dir)
    cfg = target / "leadmail.toml"
    if cfg.exists() and not args.force:
        print(f"{cfg} exists; use --force to overwrite", file=sys.stderr)
        return 1
    secret = target / "link.secret"
    if not secret.exists():  # signs the links in alerts; kept (old links keep working)
        perms.write_private(secret, secrets.token_urlsafe(32) + "\n", perms.SECRET_MODE)
    perms.write_private(cfg, (DEFAULTS / "leadmail.toml").read_text(), perms.CONFIG_MODE)
    rules = target / "rules"
    shutil.copytree(
        DEFAULTS / "rules", rules, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
    )
    print(f"wrote {cfg}, {secret} and {rules}/; edit them, then: "
          f"leadmail --config {cfg} check-config")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    """Create or upgrade the database schema."""
    settings = load_settings(args)
    db.upgrade(settings.database.url)
    print(f"database at revision {db.current_revision(db.make_engine(settings.database.url))}")
    return 0
