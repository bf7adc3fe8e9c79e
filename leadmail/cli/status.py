"""`leadmail status`: messages, outbox, review queue and the daemon's readiness at a glance."""

from __future__ import annotations

import argparse

from leadmail.cli.common import as_json, connect
from leadmail.status import gather


def add(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("status", help="messages, outbox, review queue and readiness at a glance")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    """At a glance: messages by status, outbox, review queue, and the daemon's readiness."""
    settings, engine = connect(args)
    report = gather(settings, engine)
    if args.json:
        print(as_json(report))
        return 0 if report["ok"] else 1
    print(f"database   {report['database']}")
    print("messages   " + ", ".join(f"{k} {v}" for k, v in sorted(report["messages"].items()))
          + f" (last received {report['last_received'] or 'never'})")
    print("leads      " + f"{report['leads_24h']} in the last 24 h, {report['review']} in review")
    print("sources    " + (", ".join(f"{d['source']} DRIFTING" for d in report[
        "drifting_sources"]) or "none drifting"))
    print("outbox     " + ", ".join(f"{k} {v}" for k, v in sorted(report["outbox"].items())))
    daemon = report["daemon"]
    if isinstance(daemon, dict):
        checks = ", ".join(f"{k} {v}" for k, v in daemon.get("checks", {}).items())
        print(f"daemon     {'ready' if daemon.get('ready') else 'NOT READY'}: {checks}")
    else:
        print(f"daemon     {daemon}")
    for problem in report["problems"]:
        print(f"PROBLEM    {problem}")
    return 0 if report["ok"] else 1
