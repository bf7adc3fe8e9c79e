"""The `leadmail` command: one module per command group, each a thin layer over the functions
of the part that owns the work (the pipeline, the store, routing, follow-up, analytics).

Each group module has `add(sub)`, which adds its subcommands to the parser, and one plain
`cmd_*(args) -> int` function per command, set as the subcommand's `func`. A command reads
the settings and opens the database (`common.connect`), calls functions and prints; it runs
no SQL of its own.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from leadmail import __version__
from leadmail.cli import (
    apikey,
    campaigns,
    demo,
    followup,
    install,
    leads,
    mail,
    messages,
    outbox,
    report,
    route,
    run,
    sessions,
    sources,
    status,
)
from leadmail.errors import ConfigErrors

DESCRIPTION = "Command line: thin commands over the pipeline, the store and the daemon."
# In the order `leadmail --help` lists their commands.
GROUPS = (run, mail, leads, messages, outbox, status, sources, install, route, report, followup,
          campaigns, apikey, sessions, demo)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (kept separate so docs tests can read the commands)."""
    p = argparse.ArgumentParser(prog="leadmail", description=DESCRIPTION)
    p.add_argument(
        "--config",
        "-c",
        help="TOML config (default: $LEADMAIL_CONFIG, "
        "./leadmail.toml, /etc/leadmail/leadmail.toml, else embedded defaults)",
    )
    p.add_argument("--version", action="version", version=f"leadmail {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)
    for group in GROUPS:
        group.add(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `leadmail` command."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigErrors as exc:
        for err in exc.errors:
            print(f"config error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
