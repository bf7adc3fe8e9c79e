"""Follow-up: `steps` (list, done), `stage`, `note` and `deals` (list, move)."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime

from sqlmodel import Session

from leadmail.cli.common import add_list, as_json, connect
from leadmail.clock import now
from leadmail.config import LEAD_STAGES
from leadmail.followup import activity, stages, steps
from leadmail.followup.access import ADMIN
from leadmail.models import full_name


def add(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("steps", help="Next Steps: list open ones, mark one done")
    ssub = s.add_subparsers(dest="s_cmd", required=True)
    sl = ssub.add_parser("list")
    sl.add_argument("--agent")
    sl.add_argument("--due-by", help="today (default), now, or an ISO date/time")
    sl.add_argument("--json", action="store_true")
    sd = ssub.add_parser("done")
    sd.add_argument("id", type=int)
    sd.add_argument("--by", help="who did it (default: admin)")
    sd.add_argument("--note")
    s.set_defaults(func=cmd_steps)

    s = sub.add_parser("stage", help="move a lead to a Stage (recorded with who and when)")
    s.add_argument("id", type=int)
    s.add_argument("stage", choices=list(LEAD_STAGES))
    s.add_argument("--by")
    s.add_argument("--value", type=int, help="deal value, if moving to Potential opens a deal")
    s.add_argument("--close", type=date.fromisoformat, help="deal's expected close date")
    s.set_defaults(func=cmd_stage)

    s = sub.add_parser("note", help="log a note, call, email, text or meeting on a lead")
    s.add_argument("id", type=int)
    s.add_argument("text", nargs="+")
    s.add_argument("--kind", default="note", choices=list(activity.LOGGED))
    s.add_argument("--by")
    s.set_defaults(func=cmd_note)

    s = sub.add_parser("deals", help="deals: list, move along the team pipeline")
    dsub = s.add_subparsers(dest="d_cmd", required=True)
    add_list(dsub)
    dm = dsub.add_parser("move")
    dm.add_argument("id", type=int)
    dm.add_argument("stage")
    dm.add_argument("--by")
    s.set_defaults(func=cmd_deals)


def _until(text: str | None, at: datetime) -> datetime:
    """`--due-by`: today (the end of it), now, or an ISO date/time (in `at`'s zone if naive)."""
    if not text or text == "today":
        return at.replace(hour=23, minute=59, second=59)
    if text == "now":
        return at
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=at.tzinfo)


def cmd_steps(args: argparse.Namespace) -> int:
    """List the open Next Steps due by a time, or mark one done (and see the next one)."""
    settings, engine = connect(args)
    if args.s_cmd == "done":
        result = steps.complete(engine, settings, args.id, args.by or "admin", via="cli",
                                note=args.note)
        nxt = result.next
        line = {"step": args.id, "status": result.status,
                "next": {"id": nxt.id, "name": nxt.name, "due_at": nxt.due_at}
                if nxt else None}
        print(as_json(line))
        return 0 if result.ok else 1
    until = _until(args.due_by, now())
    with Session(engine) as session:  # one read-only session for the steps and their leads
        found = steps.open_steps(session, ADMIN, agent=args.agent, due_before=until)
    for step, lead in found:
        name = full_name(lead) or lead.email
        row = {"id": step.id, "lead": lead.id, "name": name, "step": step.name,
               "agent": step.agent, "due_at": step.due_at}
        print(as_json(row) if args.json else
              f"{step.id:>5}  {step.due_at:%Y-%m-%d %H:%M}  lead #{lead.id:<5} "
              f"{(name or '')[:24]:24}  {step.name}  ({step.agent})")
    return 0


def cmd_stage(args: argparse.Namespace) -> int:
    """Move a lead to a Stage; reaching Potential may open a deal."""
    settings, engine = connect(args)
    result = stages.set_stage(engine, settings, args.id, args.stage, args.by or "admin",
                              value=args.value, expected_close=args.close)
    deal = result.deal
    print(as_json({"lead": args.id, "status": result.status, "detail": result.detail,
                   "stage": result.lead.stage if result.lead else None,
                   "deal": {"id": deal.id, "stage": deal.stage, "value": deal.value,
                            "expected_close": deal.expected_close} if deal else None}))
    return 0 if result.ok else 1


def cmd_note(args: argparse.Namespace) -> int:
    """Log a note, call, email, text or meeting on a lead."""
    settings, engine = connect(args)
    row = activity.add(engine, args.id, args.kind, args.by or "admin", " ".join(args.text))
    if row is None:
        print(f"no lead #{args.id}", file=sys.stderr)
        return 1
    print(as_json({"lead": args.id, "kind": row.kind, "contact": row.contact, "at": row.at}))
    return 0


def cmd_deals(args: argparse.Namespace) -> int:
    """List every deal, or move one along its team's pipeline."""
    settings, engine = connect(args)
    if args.d_cmd == "move":
        result = stages.move_deal(engine, settings, args.id, args.stage, args.by or "admin")
        deal = result.deal
        print(as_json({"deal": args.id, "status": result.status, "detail": result.detail,
                       "stage": deal.stage if deal else None,
                       "outcome": deal.outcome if deal else None}))
        return 0 if result.ok else 1
    for deal in stages.every_deal(engine):
        print(as_json(deal.model_dump()) if args.json else
              f"{deal.id:>5}  lead #{deal.lead_id:<5} {deal.team or '-':12} "
              f"{deal.stage:16} {deal.outcome:5} {deal.value or 0:>12,}  "
              f"{deal.expected_close or ''}")
    return 0
