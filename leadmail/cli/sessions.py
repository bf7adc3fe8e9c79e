"""`leadmail sessions`: the web app's signed-in browsers; list them, revoke one or a person's."""

from __future__ import annotations

import argparse
import sys

from leadmail import sessions
from leadmail.cli.common import as_json, connect


def add(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("sessions", help="web app sign-ins: list, revoke")
    ssub = s.add_subparsers(dest="w_cmd", required=True)
    sl = ssub.add_parser("list", help="live sessions, newest first")
    sl.add_argument("--email", help="only this person's")
    sl.add_argument("--all", action="store_true", help="revoked and expired ones too")
    sl.add_argument("--json", action="store_true")
    sr = ssub.add_parser("revoke", help="sign a browser out (its next page asks to sign in)")
    sr.add_argument("id", type=int, nargs="?", help="the session's id (from list)")
    sr.add_argument("--email", help="every live session of this address")
    s.set_defaults(func=cmd_sessions)


def cmd_sessions(args: argparse.Namespace) -> int:
    """List sessions, or revoke one (by id) or all of a person's (--email)."""
    if args.w_cmd == "revoke" and args.id is None and not args.email:
        print("sessions revoke: give a session id or --email", file=sys.stderr)
        return 2
    _, engine = connect(args)
    if args.w_cmd == "list":
        for row in sessions.listing(engine, email=args.email, live_only=not args.all):
            state = "revoked" if row.revoked_at else "live"
            if args.json:
                print(as_json({**row.model_dump(exclude={"digest"}), "state": state}))
            else:
                print(f"{row.id:>5}  {row.email:<32} {state:<8} since "
                      f"{row.created_at:%Y-%m-%d %H:%M}  until {row.expires_at:%Y-%m-%d %H:%M}"
                      f"  {row.user_agent or ''}"[:160])
        return 0
    count = sessions.revoke(engine, session_id=args.id, email=args.email)
    print(as_json({"revoked": count}))
    return 0 if count else 1
