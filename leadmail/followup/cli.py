"""Follow-up commands: steps, stage, note, deals, apikey (registered by leadmail.cli)."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from leadmail import tokens
from leadmail.config import STAGES, Settings

Settings_ = Callable[[argparse.Namespace], Settings]
Engine_ = Callable[[Settings], Any]


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


def _until(text: str | None, at: datetime) -> datetime:
    if not text or text == "today":
        return at.replace(hour=23, minute=59, second=59)
    if text == "now":
        return at
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=at.tzinfo)


def register(sub: Any, settings_of: Settings_, engine_of: Engine_) -> None:
    """Add the follow-up subcommands to leadmail's parser."""

    def steps_cmd(args: argparse.Namespace) -> int:
        from leadmail.clock import now
        from leadmail.followup import steps

        settings = settings_of(args)
        engine = engine_of(settings)
        if args.s_cmd == "done":
            result = steps.complete(engine, settings, args.id, args.by or "admin", via="cli",
                                    note=args.note)
            nxt = result.next
            line = {"step": args.id, "status": result.status,
                    "next": {"id": nxt.id, "name": nxt.name, "due_at": nxt.due_at}
                    if nxt else None}
            print(_json(line))
            return 0 if result.ok else 1
        from sqlmodel import Session

        from leadmail.followup.access import ADMIN

        until = _until(args.due_by, now())
        with Session(engine) as session:
            found = steps.open_steps(session, ADMIN, agent=args.agent, due_before=until)
        for step, lead in found:
            name = " ".join(p for p in (lead.first_name, lead.last_name) if p) or lead.email
            row = {"id": step.id, "lead": lead.id, "name": name, "step": step.name,
                   "agent": step.agent, "due_at": step.due_at}
            print(_json(row) if args.json else
                  f"{step.id:>5}  {step.due_at:%Y-%m-%d %H:%M}  lead #{lead.id:<5} "
                  f"{(name or '')[:24]:24}  {step.name}  ({step.agent})")
        return 0

    def stage_cmd(args: argparse.Namespace) -> int:
        from leadmail.followup import stages

        settings = settings_of(args)
        engine = engine_of(settings)
        result = stages.set_stage(engine, settings, args.id, args.stage, args.by or "admin",
                                  value=args.value, expected_close=args.close)
        deal = result.deal
        print(_json({"lead": args.id, "status": result.status, "detail": result.detail,
                     "stage": result.lead.stage if result.lead else None,
                     "deal": {"id": deal.id, "stage": deal.stage, "value": deal.value,
                              "expected_close": deal.expected_close} if deal else None}))
        return 0 if result.ok else 1

    def note_cmd(args: argparse.Namespace) -> int:
        from leadmail.db import session_scope
        from leadmail.followup import activity
        from leadmail.models import Lead

        settings = settings_of(args)
        engine = engine_of(settings)
        with session_scope(engine) as session:
            lead = session.get(Lead, args.id)
            if lead is None:
                print(f"no lead #{args.id}", file=sys.stderr)
                return 1
            row = activity.record(session, lead, args.kind, args.by or "admin",
                                  text=" ".join(args.text))
            print(_json({"lead": args.id, "kind": row.kind, "contact": row.contact,
                         "at": row.at}))
        return 0

    def deals_cmd(args: argparse.Namespace) -> int:
        from sqlmodel import Session, col, select

        from leadmail.followup import stages
        from leadmail.models import Deal

        settings = settings_of(args)
        engine = engine_of(settings)
        if args.d_cmd == "move":
            result = stages.move_deal(engine, settings, args.id, args.stage, args.by or "admin")
            deal = result.deal
            print(_json({"deal": args.id, "status": result.status, "detail": result.detail,
                         "stage": deal.stage if deal else None,
                         "outcome": deal.outcome if deal else None}))
            return 0 if result.ok else 1
        with Session(engine) as session:
            for deal in session.exec(select(Deal).order_by(col(Deal.id))).all():
                print(_json(deal.model_dump()) if args.json else
                      f"{deal.id:>5}  lead #{deal.lead_id:<5} {deal.team or '-':12} "
                      f"{deal.stage:16} {deal.outcome:5} {deal.value or 0:>12,}  "
                      f"{deal.expected_close or ''}")
        return 0

    def apikey_cmd(args: argparse.Namespace) -> int:
        if args.k_cmd == "new":
            key = "lm_" + secrets.token_urlsafe(32)
            digest = tokens.key_digest(key)
            print(f"key (give it to the integration; it is not stored): {key}\n\n"
                  f"[[api_keys]]\nname = \"{args.name}\"\nkey_sha256 = \"{digest}\"\n"
                  f"role = \"{args.role}\"")
            return 0
        from leadmail.clock import now
        from leadmail.followup import links
        from leadmail.followup.access import by_name

        if not 1 <= args.hours <= links.MAX_VIEW_HOURS:
            print(f"apikey link: --hours must be 1 to {links.MAX_VIEW_HOURS} (90 days), "
                  f"not {args.hours}", file=sys.stderr)
            return 2
        settings = settings_of(args)
        found = by_name(settings, args.name)
        if found is None or found.key is None or not settings.http.secret:
            print(f"apikey link: needs [[api_keys]] name = {args.name!r} and [http] secret",
                  file=sys.stderr)
            return 1
        at = now()  # the link stops working when this key is rotated (a new key_sha256)
        token = links.view_token(settings.http.secret, args.name,
                                 at + timedelta(hours=args.hours), key_digest=found.key.digest,
                                 at=at)
        base = settings.http.base_url or f"http://{settings.http.listen or '127.0.0.1:8025'}"
        print(f"{base}/app/{args.page}?t={token}")
        return 0

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
    s.set_defaults(func=steps_cmd)

    s = sub.add_parser("stage", help="move a lead to a Stage (recorded with who and when)")
    s.add_argument("id", type=int)
    s.add_argument("stage", choices=list(STAGES))
    s.add_argument("--by")
    s.add_argument("--value", type=int, help="deal value, if moving to Potential opens a deal")
    s.add_argument("--close", type=date.fromisoformat, help="deal's expected close date")
    s.set_defaults(func=stage_cmd)

    s = sub.add_parser("note", help="log a note, call, email, text or meeting on a lead")
    s.add_argument("id", type=int)
    s.add_argument("text", nargs="+")
    s.add_argument("--kind", default="note", choices=["note", "call", "email", "text", "meeting"])
    s.add_argument("--by")
    s.set_defaults(func=note_cmd)

    s = sub.add_parser("deals", help="deals: list, move along the team pipeline")
    dsub = s.add_subparsers(dest="d_cmd", required=True)
    dl = dsub.add_parser("list")
    dl.add_argument("--json", action="store_true")
    dm = dsub.add_parser("move")
    dm.add_argument("id", type=int)
    dm.add_argument("stage")
    dm.add_argument("--by")
    s.set_defaults(func=deals_cmd)

    s = sub.add_parser("apikey", help="make an API key; a signed link to the pages")
    ksub = s.add_subparsers(dest="k_cmd", required=True)
    kn = ksub.add_parser("new", help="a new random key and its [[api_keys]] entry")
    kn.add_argument("name")
    kn.add_argument("--role", default="integration",
                    choices=["integration", "agent", "manager", "admin"])
    kl = ksub.add_parser("link", help="a signed link opening the pages as that key")
    kl.add_argument("name")
    kl.add_argument("--page", default="engagement",
                    choices=["engagement", "speed", "sources", "forecast", "leads", "steps"])
    kl.add_argument("--hours", type=int, default=12,
                    help="how long the link works (default 12, at most 2160: 90 days)")
    s.set_defaults(func=apikey_cmd)
