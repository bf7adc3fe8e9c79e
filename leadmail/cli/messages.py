"""Stored messages: `quarantine` (list, show, retry) and `replay` (after a rule fix)."""

from __future__ import annotations

import argparse
import sys

from leadmail import pipeline, store
from leadmail.cli.common import add_list, as_json, connect
from leadmail.replay import replay


def add(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("quarantine", help="messages that could not be processed")
    qsub = s.add_subparsers(dest="q_cmd", required=True)
    add_list(qsub)
    qs = qsub.add_parser("show")
    qs.add_argument("id", type=int)
    qs.add_argument("--raw", action="store_true", help="print the stored message's exact bytes")
    qr = qsub.add_parser("retry")
    qr.add_argument("id", type=int, nargs="?")
    qr.add_argument("--all", action="store_true")
    s.set_defaults(func=cmd_quarantine)

    s = sub.add_parser(
        "replay",
        help="run stored messages through the pipeline again; never makes a second lead",
        description="A message that made no lead is processed again as new. A message that "
        "made a lead is read again and compared with it; --update writes the new values "
        "into the lead (its assignment and alert stay as they are).",
    )
    s.add_argument("ids", type=int, nargs="+", metavar="ID", help="message id (see `leads show`)")
    s.add_argument("--update", action="store_true", help="update the lead with what is read now")
    s.set_defaults(func=cmd_replay)


def cmd_quarantine(args: argparse.Namespace) -> int:
    """List, show or retry quarantined messages."""
    if args.q_cmd == "retry" and not (args.id or args.all):
        print("quarantine retry: give an ID or --all", file=sys.stderr)
        return 2
    settings, engine = connect(args)
    if args.q_cmd == "list":
        for m in store.quarantined(engine):
            print(
                as_json({"id": m.id, "received_at": m.received_at, "message_id": m.message_id,
                         "reason": m.reason})
                if args.json
                else f"{m.id:>5}  {m.received_at:%Y-%m-%d %H:%M}  {m.reason}"
            )
        return 0
    if args.q_cmd == "show":
        msg = store.message(engine, args.id)
        if msg is None:
            print(f"no message #{args.id}", file=sys.stderr)
            return 1
        if args.raw:  # the exact bytes, e.g. to try a rule fix with `leadmail extract`
            sys.stdout.buffer.write(msg.raw)
            return 0
        print(as_json(msg.model_dump(exclude={"raw"})))
        if msg.error:
            print(msg.error)
        return 0
    ids = [args.id] if args.id else []
    if args.all:
        ids = [m.id for m in store.quarantined(engine) if m.id is not None]
    rt = pipeline.Runtime.load(settings)
    for msg_id in ids:
        if not pipeline.requeue(engine, msg_id):
            print(as_json({"message": msg_id, "error": "not quarantined"}))
            continue
        outcome = pipeline.process(rt, engine, msg_id)
        queued = {"message": msg_id, "status": "received", "reason": "the running daemon took it"}
        print(as_json(outcome.as_dict() if outcome else queued))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Run stored messages through the pipeline again (after a rule fix); never a second lead."""
    settings, engine = connect(args)
    rt = pipeline.Runtime.load(settings)
    status = 0
    for msg_id in args.ids:
        done = replay(rt, engine, msg_id, update=args.update)
        if done.action == "skipped" and done.status is None:
            status = 1  # no such message
        print(as_json(done.as_dict()), flush=True)
    return status
