"""Command line: thin commands over the pipeline, the store and the daemon."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from leadmail import __version__, config, db, logs

DEFAULTS = Path(__file__).parent / "defaults"


def _settings(args: argparse.Namespace) -> config.Settings:
    path = config.find_config(args.config)
    settings = config.load(path)
    logs.setup(settings.log.level, settings.log.format,
               settings.log.repeat_limit, settings.log.repeat_interval)
    return settings


def _with_rules(settings: config.Settings, rules_dir: str | None) -> config.Settings:
    """The settings with another rules directory (admins trying rules before going live)."""
    if not rules_dir:
        return settings
    import os

    from pydantic import ValidationError

    from leadmail.errors import ConfigError, ConfigErrors

    try:  # a path given on the command line is read from the working directory
        rules = config.RulesConfig.model_validate({"dir": rules_dir},
                                                  context={"base": os.getcwd()})
    except ValidationError:
        raise ConfigErrors([ConfigError("--rules", f"{rules_dir} is not a directory")]) from None
    return settings.model_copy(update={"rules": rules})


def _engine(settings: config.Settings, migrate: bool = True) -> Any:
    if migrate:
        db.upgrade(settings.database.url)
    return db.make_engine(settings.database.url)


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


# ---------------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    """Serve: SMTP intake, pipeline worker and outbox sender until SIGTERM."""
    from leadmail import pipeline
    from leadmail.daemon import Daemon

    settings = _settings(args)
    engine = _engine(settings)
    _warn_exposed(settings)
    rt = pipeline.Runtime.load(settings)
    return asyncio.run(Daemon(settings, engine, rt).run())


def _warn_exposed(settings: config.Settings) -> None:
    """A log line for each secret file that users other than its owner and group can read."""
    import structlog

    from leadmail import perms

    for path, what in perms.exposed(settings):
        structlog.get_logger("leadmail.perms").warning(
            "file readable by others; chmod o-rwx it", file=path, holds=what)


def cmd_ingest(args: argparse.Namespace) -> int:
    """Store and process .eml files through the full pipeline; one JSON line each."""
    from leadmail import pipeline
    from leadmail.notify import outbox
    from leadmail.store import store_raw

    settings = _settings(args)
    engine = _engine(settings)
    rt = pipeline.Runtime.load(settings)
    for name in args.files:
        raw = Path(name).read_bytes()
        msg_id = store_raw(engine, raw, intake="file")
        outcome = pipeline.process(rt, engine, msg_id)
        line = {"file": name, **(outcome.as_dict() if outcome else {"message": msg_id})}
        print(_json(line), flush=True)
    outbox.deliver_due(engine, settings)
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    """Dry run: what leadmail reads from each file, no writes."""
    from leadmail import pipeline
    from leadmail.errors import Quarantine

    settings = _with_rules(_settings(args), args.rules)
    rt = pipeline.Runtime.load(settings)
    status = 0
    for name in args.files:
        try:
            draft = pipeline.read(Path(name).read_bytes(), rt)
            data: dict[str, Any] = {"file": name, **draft.public()}
            if not draft.is_lead:
                data["reason"] = draft.not_lead_reason
            if args.trace:
                data["trace"] = draft.trace
        except Quarantine as exc:
            data = {"file": name, "is_lead": False, "quarantine": exc.reason}
        except OSError as exc:
            data = {"file": name, "error": str(exc)}
            status = 1
        if args.json:
            print(_json(data), flush=True)
        else:
            print(f"== {name}")
            for key, value in data.items():
                if key != "file" and value not in (None, [], {}):
                    print(f"  {key:17} {value}")
    return status


def cmd_eval(args: argparse.Namespace) -> int:
    """Per-field accuracy over X.eml + X.expected.json pairs; non-zero under --min."""
    from leadmail import pipeline
    from leadmail.evaluate import evaluate

    settings = _with_rules(_settings(args), args.rules)
    report = evaluate(Path(args.dir), pipeline.Runtime.load(settings))
    if args.json:
        print(_json(report.as_json()))
    else:
        print(f"{report.files} files in {args.dir}\n{report.table()}\n\n{report.source_table()}")
        print(f"\ndistractors taken: {len(report.distractors)}")
        for d in report.distractors:
            print(f"DISTRACTOR {d['file']}: {d['field']}: expected {d['expected']!r}, "
                  f"got {d['got']!r}")
        for m in report.mismatches:
            print(
                f"MISMATCH {m['file']}: {m['field']}: expected {m['expected']!r}, got {m['got']!r}"
            )
    if report.files == 0:
        print(f"no X.eml with X.expected.json under {args.dir}", file=sys.stderr)
        return 1
    return 0 if report.accuracy() >= args.min else 1


def cmd_leads(args: argparse.Namespace) -> int:
    """List or show stored leads."""
    from sqlmodel import Session, col, select

    from leadmail.models import Lead

    settings = _settings(args)
    engine = _engine(settings)
    with Session(engine) as session:
        if args.leads_cmd == "show":
            lead = session.get(Lead, args.id)
            if lead is None:
                print(f"no lead #{args.id}", file=sys.stderr)
                return 1
            print(json.dumps(lead.model_dump(), indent=2, ensure_ascii=False, default=str))
            return 0
        leads = session.exec(select(Lead).order_by(col(Lead.id).desc()).limit(args.limit)).all()
    if args.json:
        for lead in leads:
            print(_json(lead.model_dump(exclude={"trace", "confidence"})))
        return 0
    print(f"{'ID':>5}  {'RECEIVED':16}  {'SOURCE':12}  {'NAME':24}  {'PHONE':13}  {'AGENT':24}")
    for lead in leads:
        name = " ".join(p for p in (lead.first_name, lead.last_name) if p) or (lead.email or "")
        print(
            f"{lead.id:>5}  {lead.created_at:%Y-%m-%d %H:%M}  {(lead.source or '')[:12]:12}  "
            f"{name[:24]:24}  {lead.phone or '':13}  {lead.agent or '(unassigned)':24}"
        )
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    """Leads waiting for a person: list, fix fields, approve (route now)."""
    from leadmail import review

    settings = _settings(args)
    engine = _engine(settings)
    if args.r_cmd == "list":
        for lead in review.pending(engine):
            name = " ".join(p for p in (lead.first_name, lead.last_name) if p)
            row = {"id": lead.id, "source": lead.source, "name": name, "email": lead.email,
                   "phone": lead.phone, "reason": lead.review_reason}
            print(_json(row) if args.json else
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
    print(_json({"lead": lead.id, "status": lead.status, "agent": lead.agent}))
    return 0


def cmd_quarantine(args: argparse.Namespace) -> int:
    """List, show or retry quarantined messages."""
    from sqlmodel import Session, col, select

    from leadmail import pipeline
    from leadmail.models import Message, MessageStatus

    settings = _settings(args)
    engine = _engine(settings)
    with Session(engine) as session:
        if args.q_cmd == "list":
            rows = session.exec(
                select(Message)
                .where(Message.status == MessageStatus.QUARANTINED)
                .order_by(col(Message.id))
            ).all()
            for m in rows:
                print(
                    _json(
                        {
                            "id": m.id,
                            "received_at": m.received_at,
                            "message_id": m.message_id,
                            "reason": m.reason,
                        }
                    )
                    if args.json
                    else f"{m.id:>5}  {m.received_at:%Y-%m-%d %H:%M}  {m.reason}"
                )
            return 0
        if args.q_cmd == "show":
            m = session.get(Message, args.id)
            if m is None:
                print(f"no message #{args.id}", file=sys.stderr)
                return 1
            if args.raw:  # the exact bytes, e.g. to try a rule fix with `leadmail extract`
                sys.stdout.buffer.write(m.raw)
                return 0
            print(_json(m.model_dump(exclude={"raw"})))
            if m.error:
                print(m.error)
            return 0
    ids = [args.id] if args.id else []
    if args.all:
        with Session(engine) as session:
            ids = [
                i
                for i in session.exec(
                    select(Message.id).where(Message.status == MessageStatus.QUARANTINED)
                ).all()
                if i is not None
            ]
    rt = pipeline.Runtime.load(settings)
    for msg_id in ids:
        if not pipeline.requeue(engine, msg_id):
            print(_json({"message": msg_id, "error": "not quarantined"}))
            continue
        outcome = pipeline.process(rt, engine, msg_id)
        queued = {"message": msg_id, "status": "received", "reason": "the running daemon took it"}
        print(_json(outcome.as_dict() if outcome else queued))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Run stored messages through the pipeline again (after a rule fix); never a second lead."""
    from leadmail import pipeline
    from leadmail.replay import replay

    settings = _settings(args)
    engine = _engine(settings)
    rt = pipeline.Runtime.load(settings)
    status = 0
    for msg_id in args.ids:
        done = replay(rt, engine, msg_id, update=args.update)
        if done.action == "skipped" and done.status is None:
            status = 1  # no such message
        print(_json(done.as_dict()), flush=True)
    return status


def cmd_status(args: argparse.Namespace) -> int:
    """At a glance: messages by status, outbox, review queue, and the daemon's readiness."""
    from leadmail.status import gather

    settings = _settings(args)
    report = gather(settings, _engine(settings))
    if args.json:
        print(_json(report))
        return 0 if report["ok"] else 1
    print(f"database   {report['database']}")
    print("messages   " + ", ".join(f"{k} {v}" for k, v in sorted(report["messages"].items()))
          + f" (last received {report['last_received'] or 'never'})")
    print("leads      " + f"{report['leads_24h']} in the last 24 h, {report['review']} in review")
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


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate the config, the rules and their scripts, and the alert templates."""
    from leadmail import pipeline
    from leadmail.notify import render

    settings = _settings(args)
    rt = pipeline.Runtime.load(settings)
    path = config.find_config(args.config)
    problems = render.check(settings.notify.templates)
    for problem in problems:
        print(f"template error: {problem}", file=sys.stderr)
    if problems:
        return 2
    print(
        f"config OK: {settings._source or path or '(embedded defaults)'}; "
        f"{len(settings.agents)} agents, {len(settings.routes)} routes, "
        f"{len(rt.rules)} source rules"
    )
    # The absolute paths used: relative ones are read from the config file's folder.
    paths = settings.used_paths()
    width = max(len(key) for key, _ in paths)
    for key, where in paths:
        note = ""
        if key == "rules.dir" and not Path(where).is_dir():
            note = " (not there: no source rules)"
        print(f"  {key:{width}}  {where}{note}")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Write a commented starter config, example rules and a link secret (files others cannot
    read, in a 0750 folder when init makes it)."""
    import secrets

    from leadmail import perms

    target = perms.private_dir(args.dir)
    cfg = target / "leadmail.toml"
    if cfg.exists() and not args.force:
        print(f"{cfg} exists; use --force to overwrite", file=sys.stderr)
        return 1
    secret = target / "link.secret"
    if not secret.exists():  # signs the links in alerts; kept (old links keep working)
        perms.write_private(secret, secrets.token_urlsafe(32) + "\n", perms.SECRET_MODE)
    perms.write_private(cfg, (DEFAULTS / "leadmail.toml").read_text(), perms.CONFIG_MODE)
    rules = target / "rules"
    shutil.copytree(
        DEFAULTS / "rules", rules, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
    )
    print(f"wrote {cfg}, {secret} and {rules}/; edit them, then: "
          f"leadmail --config {cfg} check-config")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    """Create or upgrade the database schema."""
    settings = _settings(args)
    db.upgrade(settings.database.url)
    print(f"database at revision {db.current_revision(db.make_engine(settings.database.url))}")
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    """List alerts in the outbox (pending, sent, failed)."""
    from sqlmodel import Session, col, select

    from leadmail.models import Outbox

    settings = _settings(args)
    engine = _engine(settings)
    with Session(engine) as session:
        query = select(Outbox).order_by(col(Outbox.id))
        if args.status:
            query = query.where(Outbox.status == args.status)
        for row in session.exec(query).all():
            print(
                _json(
                    {
                        "id": row.id,
                        "status": row.status,
                        "channel": row.payload.get("channel") or row.kind,
                        "to": row.recipient,
                        "subject": row.subject,
                        "attempts": row.attempts,
                        "last_error": row.last_error,
                        "lead": row.lead_id,
                    }
                )
            )
    return 0


def cmd_route(args: argparse.Namespace) -> int:
    """Explain or simulate routing; claim, accept, decline or assign a lead."""
    from leadmail.routing import actions, explain

    settings = _settings(args)
    engine = _engine(settings)
    if args.route_cmd == "explain":
        info = explain.explain(engine, settings, args.id)
        if info is None:
            print(f"no lead #{args.id}", file=sys.stderr)
            return 1
        print(_json(info) if args.json else explain.format_explain(info))
        return 0
    if args.route_cmd == "simulate":
        from leadmail.clock import utcnow

        try:
            since = explain.parse_since(args.since, utcnow())
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
        result = explain.simulate(engine, settings, since)
        print(_json(result) if args.json else explain.format_simulation(result, args.all))
        return 0
    if args.route_cmd == "assign":
        result = actions.assign(engine, settings, args.id, args.agent, by=args.by)
    elif args.route_cmd == "decline":
        result = actions.decline(engine, settings, args.id, args.agent, reason=args.reason)
    else:
        result = actions.act(engine, settings, args.id, args.agent, args.route_cmd)
    line = {"lead": args.id, "status": result.status, "holder": result.holder,
            "message": result.message}
    print(_json(line) if args.json else f"lead #{args.id}: {result.status}: {result.message}")
    return 0 if result.ok else 1


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the daemon on embedded demo defaults and feed it the bundled samples over SMTP."""
    from leadmail.demo import run_demo

    return run_demo(
        Path(args.data), Path(args.samples), keep_running=not args.exit, listen=args.listen
    )


# ---------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (kept separate so docs tests can read the commands)."""
    p = argparse.ArgumentParser(prog="leadmail", description=__doc__)
    p.add_argument(
        "--config",
        "-c",
        help="TOML config (default: $LEADMAIL_CONFIG, "
        "./leadmail.toml, /etc/leadmail/leadmail.toml, else embedded defaults)",
    )
    p.add_argument("--version", action="version", version=f"leadmail {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)

    sub.add_parser("run", help="run the daemon").set_defaults(func=cmd_run)
    s = sub.add_parser("ingest", help="process .eml files through the full pipeline")
    s.add_argument("files", nargs="+")
    s.set_defaults(func=cmd_ingest)
    s = sub.add_parser("extract", help="dry run: print what would be extracted, write nothing")
    s.add_argument("files", nargs="+")
    s.add_argument("--json", action="store_true", help="one JSON object per line per file")
    s.add_argument("--trace", action="store_true", help="include the pipeline trace")
    s.add_argument("--rules", help="rules directory to try instead of the configured one")
    s.set_defaults(func=cmd_extract)

    s = sub.add_parser("eval", help="per-field accuracy against X.expected.json files")
    s.add_argument("dir")
    s.add_argument("--min", type=float, default=0.0, help="exit 1 below this accuracy (0-1)")
    s.add_argument("--rules", help="rules directory to use instead of the configured one")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("leads", help="stored leads")
    lsub = s.add_subparsers(dest="leads_cmd", required=True)
    ls = lsub.add_parser("list")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--limit", type=int, default=50)
    sh = lsub.add_parser("show")
    sh.add_argument("id", type=int)
    s.set_defaults(func=cmd_leads)

    s = sub.add_parser("review", help="leads waiting for a person before routing")
    rsub = s.add_subparsers(dest="r_cmd", required=True)
    rl = rsub.add_parser("list")
    rl.add_argument("--json", action="store_true")
    ra = rsub.add_parser("approve", help="route the lead now")
    ra.add_argument("id", type=int)
    rf = rsub.add_parser("fix", help="correct fields, then route (unless --no-approve)")
    rf.add_argument("id", type=int)
    rf.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", required=True)
    rf.add_argument("--no-approve", action="store_true")
    s.set_defaults(func=cmd_review)

    s = sub.add_parser("quarantine", help="messages that could not be processed")
    qsub = s.add_subparsers(dest="q_cmd", required=True)
    ql = qsub.add_parser("list")
    ql.add_argument("--json", action="store_true")
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

    s = sub.add_parser("outbox", help="alerts waiting, sent or failed")
    osub = s.add_subparsers(dest="o_cmd", required=True)
    ol = osub.add_parser("list")
    ol.add_argument("--status", choices=["pending", "sent", "failed"])
    s.set_defaults(func=cmd_outbox)

    s = sub.add_parser("status", help="messages, outbox, review queue and readiness at a glance")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)
    sub.add_parser("check-config", help="validate config, rules, scripts, templates").set_defaults(
        func=cmd_check_config
    )
    s = sub.add_parser("init", help="write a starter config and example rules")
    s.add_argument("dir", nargs="?", default=".")
    s.add_argument("--force", action="store_true")
    s.set_defaults(func=cmd_init)
    s = sub.add_parser("db", help="database schema")
    dsub = s.add_subparsers(dest="db_cmd", required=True)
    dsub.add_parser("upgrade")
    s.set_defaults(func=cmd_db)

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

    from leadmail.analytics import cli as analytics_cli
    from leadmail.followup import cli as followup_cli

    analytics_cli.register(sub, _settings, _engine)  # report
    followup_cli.register(sub, _settings, _engine)

    s = sub.add_parser("demo", help="run on demo defaults and feed the bundled samples")
    s.add_argument("--data", default="leadmail-data", help="where the demo keeps its state")
    s.add_argument("--samples", default="samples")
    s.add_argument("--listen", default="127.0.0.1:2525")
    s.add_argument("--exit", action="store_true", help="stop once the samples are processed")
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `leadmail` command."""
    from leadmail.errors import ConfigErrors

    args = build_parser().parse_args(argv)
    if args.cmd == "quarantine" and args.q_cmd == "retry" and not (args.id or args.all):
        print("quarantine retry: give an ID or --all", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except ConfigErrors as exc:
        for err in exc.errors:
            print(f"config error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
