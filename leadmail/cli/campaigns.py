"""`leadmail campaigns`: list, show NAME, preview LEAD_ID [--step N], pause / resume LEAD_ID."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from leadmail.cli.common import add_list, as_json, connect
from leadmail.config import CampaignConfig
from leadmail.followup import campaigns


def add(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("campaigns", help="campaigns: list, show, preview, pause, resume")
    csub = s.add_subparsers(dest="c_cmd", required=True)
    add_list(csub)
    show = csub.add_parser("show")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    pre = csub.add_parser("preview", help="what the lead's campaign sends, rendered now")
    pre.add_argument("lead", type=int)
    pre.add_argument("--step", type=int, help="only this step (1 is the first)")
    pre.add_argument("--json", action="store_true")
    for name in ("pause", "resume"):
        p = csub.add_parser(name, help=f"{name} the lead's campaign")
        p.add_argument("lead", type=int)
        p.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_campaigns)


def _after(seconds: int) -> str:
    """120 -> "2m", 86400 -> "1d": a step's `after` as it is written."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _spec(c: CampaignConfig, runs: dict[str, int]) -> dict[str, Any]:
    return {"name": c.name, "sources": c.sources, "segments": c.segments, "tags": c.tags,
            "origin": c.origin, "start": c.start, "stop_on": c.stop_on,
            "steps": [{"step": i + 1, "after_seconds": s.after, "channel": s.channel,
                       "template": s.template} for i, s in enumerate(c.steps)],
            "runs": runs}


def cmd_campaigns(args: argparse.Namespace) -> int:
    settings, engine = connect(args)
    if args.c_cmd == "list":
        counts = campaigns.counts(engine)
        for c in settings.followup.campaigns:
            item = _spec(c, counts.get(c.name, {}))
            if args.json:
                print(as_json(item))
            else:
                runs = ", ".join(f"{k} {v}" for k, v in sorted(item["runs"].items())) or "no runs"
                print(f"{c.name:24} {'/'.join(c.sources):20} {c.start:16} "
                      f"{len(c.steps)} steps  {runs}")
        return 0
    if args.c_cmd == "show":
        spec = campaigns.find(settings, args.name)
        if spec is None:
            print(f"campaigns: no campaign named {args.name!r}", file=sys.stderr)
            return 1
        item = _spec(spec, campaigns.counts(engine).get(spec.name, {}))
        item["leads"] = [{"lead": r.lead_id, "status": r.status, "agent": r.agent,
                          "started_at": r.started_at, "stop_reason": r.stop_reason,
                          "stop_detail": r.stop_detail}
                         for r in campaigns.runs_of(engine, spec.name)]
        if args.json:
            print(as_json(item))
            return 0
        print(f"{spec.name}: sources {', '.join(spec.sources)}; starts {spec.start}; "
              f"stops on {', '.join(spec.stop_on)}")
        for st in item["steps"]:
            print(f"  step {st['step']}  after {_after(st['after_seconds']):4}  "
                  f"{st['channel']:5}  {st['template']}")
        for r in item["leads"]:
            why = f" ({r['stop_reason']})" if r["stop_reason"] else ""
            print(f"  lead #{r['lead']}  {r['status']}{why}")
        return 0
    if args.c_cmd == "preview":
        try:
            shown = campaigns.preview(engine, settings, args.lead,
                                      None if args.step is None else args.step - 1)
        except ValueError as exc:
            print(f"campaigns: {exc}", file=sys.stderr)
            return 1
        for item in shown:
            if args.json:
                print(as_json(item))
                continue
            print(f"--- {item['campaign']} step {item['step']} ({item['channel']}, after "
                  f"{_after(item['after'])}) to {item['to']} from {item['from']}")
            if item["subject"]:
                print(f"Subject: {item['subject']}")
            print(item["text"].rstrip())
        return 0
    run = (campaigns.pause if args.c_cmd == "pause" else campaigns.resume)(engine, args.lead)
    if run is None:
        state = "active" if args.c_cmd == "pause" else "paused"
        print(f"campaigns: lead #{args.lead} has no {state} campaign", file=sys.stderr)
        return 1
    result = {"lead": args.lead, "campaign": run.campaign, "status": run.status}
    print(as_json(result) if args.json else f"lead #{args.lead}: {run.campaign} {run.status}")
    return 0
