"""The `report` command (registered by leadmail.cli, before the follow-up commands)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from leadmail.analytics import output, reports
from leadmail.clock import now
from leadmail.config import Settings
from leadmail.followup.access import as_user

Settings_ = Callable[[argparse.Namespace], Settings]
Engine_ = Callable[[Settings], Any]


def register(sub: Any, settings_of: Settings_, engine_of: Engine_) -> None:
    """Add `report` to leadmail's parser."""

    def report(args: argparse.Namespace) -> int:
        settings = settings_of(args)
        engine = engine_of(settings)
        try:
            who = as_user(settings, args.as_user)
        except ValueError as exc:
            print(f"report: {exc}", file=sys.stderr)
            return 2
        with Session(engine) as session:
            built = reports.build(args.name, session, settings, who, now())
        if args.json:
            print(output.as_json(built))
        elif args.csv:
            sys.stdout.write(output.as_csv(built))
        else:
            print(output.as_text(built))
        return 0

    s = sub.add_parser("report", help="engagement, speed-to-lead, sources, forecast")
    s.add_argument("name", choices=["engagement", "speed", "sources", "forecast"])
    fmt = s.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="the whole report as JSON")
    fmt.add_argument("--csv", action="store_true", help="the report's table as CSV")
    s.add_argument("--as", dest="as_user", metavar="EMAIL",
                   help="what this manager or agent may see (default: everything)")
    s.set_defaults(func=report)
