"""`leadmail route`: explain and simulate routing; claim, accept, decline or assign a lead."""

from __future__ import annotations

import argparse
import sys

from leadmail.cli.common import as_json, connect
from leadmail.clock import utcnow
from leadmail.routing import actions, explain


def add(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("route", help="explain and simulate routing; act on a lead")
    rsub = s.add_subparsers(dest="route_cmd", required=True)
    r = rsub.add_parser("explain", help="why the lead went where it went")
    r.add_argument("id", type=int)
    r.add_argument("--json", action="store_true")
    r = rsub.add_parser("simulate", help="dry run: replay past leads against the current rules")
    r.add_argument("--since", default="30d", help="30d, 12h, 2w or an ISO date (default 30d)")
    r.add_argument("--all", action="store_true", help="show every lead, not only changes")
    r.add_argument("--json", action="store_true")
    for name, text in (("claim", "claim a jump-ball lead"), ("accept", "accept an assigned lead"),
                       ("decline", "decline an offer or an assignment"),
                       ("assign", "give the lead to an agent (manager, admin)")):
        r = rsub.add_parser(name, help=text)
        r.add_argument("id", type=int)
        r.add_argument("--agent", required=True, help="agent email (or alias)")
        r.add_argument("--json", action="store_true")
        if name == "decline":
            r.add_argument("--reason")
        if name == "assign":
            r.add_argument("--by", help="the manager assigning (default: an administrator)")
    s.set_defaults(func=cmd_route)


def cmd_route(args: argparse.Namespace) -> int:
    """Explain or simulate routing; claim, accept, decline or assign a lead."""
    settings, engine = connect(args)
    if args.route_cmd == "explain":
        info = explain.explain(engine, settings, args.id)
        if info is None:
            print(f"no lead #{args.id}", file=sys.stderr)
            return 1
        print(as_json(info) if args.json else explain.format_explain(info))
        return 0
    if args.route_cmd == "simulate":
        try:
            since = explain.parse_since(args.since, utcnow())
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
        result = explain.simulate(engine, settings, since)
        print(as_json(result) if args.json else explain.format_simulation(result, args.all))
        return 0
    if args.route_cmd == "assign":
        done = actions.assign(engine, settings, args.id, args.agent, by=args.by)
    elif args.route_cmd == "decline":
        done = actions.decline(engine, settings, args.id, args.agent, reason=args.reason)
    else:
        done = actions.act(engine, settings, args.id, args.agent, args.route_cmd)
    line = {"lead": args.id, "status": done.status, "holder": done.holder,
            "message": done.message}
    print(as_json(line) if args.json else f"lead #{args.id}: {done.status}: {done.message}")
    return 0 if done.ok else 1
