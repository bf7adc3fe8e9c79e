"""`leadmail demo`: the daemon on embedded defaults, fed the bundled samples."""

from __future__ import annotations

import argparse
from pathlib import Path


def add(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("demo", help="run on demo defaults and feed the bundled samples")
    s.add_argument("--data", default="leadmail-data", help="where the demo keeps its state")
    s.add_argument("--samples", default="samples")
    s.add_argument("--listen", default="127.0.0.1:2525")
    s.add_argument("--exit", action="store_true", help="stop once the samples are processed")
    s.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the daemon on embedded demo defaults and feed it the bundled samples over SMTP."""
    from leadmail.demo import run_demo  # here, as `run` imports the daemon: only when used

    return run_demo(
        Path(args.data), Path(args.samples), keep_running=not args.exit, listen=args.listen
    )
