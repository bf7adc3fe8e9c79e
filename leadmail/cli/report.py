"""`leadmail report`: engagement, speed-to-lead, sources, forecast and campaigns
(leadmail.analytics)."""

from __future__ import annotations

import argparse
import sys

from sqlmodel import Session

from leadmail.analytics import output, reports
from leadmail.cli.common import connect
from leadmail.clock import now
from leadmail.followup.access import as_user


def add(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("report", help="engagement, speed-to-lead, sources, forecast, campaigns")
    s.add_argument("name", choices=list(reports.REPORTS))
    fmt = s.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="the whole report as JSON")
    fmt.add_argument("--csv", action="store_true", help="the report's table as CSV")
    s.add_argument("--as", dest="as_user", metavar="EMAIL",
                   help="what this manager or agent may see (default: everything)")
    s.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    """One report, as text, JSON or CSV, limited to what `--as` may see."""
    settings, engine = connect(args)
    try:
        who = as_user(settings, args.as_user)
    except ValueError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    with Session(engine) as session:  # one read-only session for the report's queries
        built = reports.build(args.name, session, settings, who, now())
    if args.json:
        print(output.as_json(built))
    elif args.csv:
        sys.stdout.write(output.as_csv(built))
    else:
        print(output.as_text(built))
    return 0
