"""`leadmail outbox`: the alerts waiting, sent or failed."""

from __future__ import annotations

import argparse

from leadmail.cli.common import as_json, connect
from leadmail.notify import outbox


def add(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("outbox", help="alerts waiting, sent or failed")
    osub = s.add_subparsers(dest="o_cmd", required=True)
    ol = osub.add_parser("list")
    ol.add_argument("--status", choices=["pending", "sent", "failed"])
    s.set_defaults(func=cmd_outbox)


def cmd_outbox(args: argparse.Namespace) -> int:
    """List alerts in the outbox (pending, sent, failed)."""
    settings, engine = connect(args)
    for row in outbox.listing(engine, args.status):
        print(as_json({
            "id": row.id,
            "status": row.status,
            "channel": row.payload.get("channel") or row.kind,
            "to": row.recipient,
            "subject": row.subject,
            "attempts": row.attempts,
            "last_error": row.last_error,
            "lead": row.lead_id,
        }))
    return 0
