"""Stored leads: `leads` (list, show) and `review` (the leads waiting for a person)."""

from __future__ import annotations

import argparse
import json
import sys

from leadmail import review, store
from leadmail.cli.common import add_list, as_json, connect
from leadmail.followup import stages
from leadmail.models import full_name


def add(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("leads", help="stored leads")
    lsub = s.add_subparsers(dest="leads_cmd", required=True)
    add_list(lsub).add_argument("--limit", type=int, default=50)
    sh = lsub.add_parser("show")
    sh.add_argument("id", type=int)
    s.set_defaults(func=cmd_leads)

    s = sub.add_parser("review", help="leads waiting for a person before routing")
    rsub = s.add_subparsers(dest="r_cmd", required=True)
    add_list(rsub)
    ra = rsub.add_parser("approve", help="route the lead now")
    ra.add_argument("id", type=int)
    rf = rsub.add_parser("fix", help="correct fields, then route (unless --no-approve)")
    rf.add_argument("id", type=int)
    rf.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", required=True)
    rf.add_argument("--no-approve", action="store_true")
    s.set_defaults(func=cmd_review)


def cmd_leads(args: argparse.Namespace) -> int:
    """List or show stored leads."""
    settings, engine = connect(args)
    if args.leads_cmd == "show":
        lead = store.lead(engine, args.id)
        if lead is None:
            print(f"no lead #{args.id}", file=sys.stderr)
            return 1
        shown = {**lead.model_dump(), "time_in_stage": stages.periods(engine, lead)}
        print(json.dumps(shown, indent=2, ensure_ascii=False, default=str))
        return 0
    leads = store.latest_leads(engine, args.limit)
    if args.json:
        for lead in leads:
            print(as_json(lead.model_dump(exclude={"trace", "confidence"})))
        return 0
    print(f"{'ID':>5}  {'RECEIVED':16}  {'SOURCE':12}  {'NAME':24}  {'PHONE':13}  {'AGENT':24}")
    for lead in leads:
        name = full_name(lead) or (lead.email or "")
        print(
            f"{lead.id:>5}  {lead.created_at:%Y-%m-%d %H:%M}  {(lead.source or '')[:12]:12}  "
            f"{name[:24]:24}  {lead.phone or '':13}  {lead.agent or '(unassigned)':24}"
        )
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    """Leads waiting for a person: list, fix fields, approve (route now)."""
    settings, engine = connect(args)
    if args.r_cmd == "list":
        for lead in review.pending(engine):
            name = full_name(lead)
            row = {"id": lead.id, "source": lead.source, "name": name, "email": lead.email,
                   "phone": lead.phone, "reason": lead.review_reason}
            print(as_json(row) if args.json else
                  f"{lead.id:>5}  {lead.source or '':12}  {name[:24]:24}  {lead.review_reason}")
        return 0
    try:
        if args.r_cmd == "fix":
            values = dict(item.split("=", 1) for item in args.set)
            lead = review.fix(engine, settings, args.id, values)
            if not args.no_approve:
                lead = review.approve(engine, settings, args.id)
        else:
            lead = review.approve(engine, settings, args.id)
    except (ValueError, AttributeError) as exc:
        print(f"review: {exc}", file=sys.stderr)
        return 1
    print(as_json({"lead": lead.id, "status": lead.status, "agent": lead.agent}))
    return 0
