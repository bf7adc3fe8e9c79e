"""`leadmail demo`: the daemon on embedded defaults, fed the bundled samples over SMTP."""

from __future__ import annotations

import asyncio
import os
import smtplib
import time
from email import message_from_bytes, policy
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from leadmail import config, db, logs, pipeline
from leadmail.config import split_hostport
from leadmail.daemon import Daemon
from leadmail.models import Lead, Message, MessageStatus, full_name
from leadmail.statuses import LeadStatus

DEMO_CONFIG = Path(__file__).parent / "defaults" / "demo.toml"
RULES = Path(__file__).parent / "defaults" / "rules"


def _send_samples(listen: str, files: list[Path]) -> None:
    host, port = split_hostport(listen)
    with smtplib.SMTP(host, port, timeout=30) as smtp:
        for path in files:
            raw = path.read_bytes()
            # As an MTA would: CRLF line endings on the wire.
            wire = message_from_bytes(raw, policy=policy.SMTP).as_bytes()
            smtp.sendmail("demo@sender.example", ["leads@brokerage.example"], wire)


def _summary(engine: Engine, count: int) -> None:
    with Session(engine) as session:
        msgs = session.exec(select(Message).order_by(col(Message.id).desc()).limit(count)).all()
        print(f"\n{'MSG':>4}  {'OUTCOME':11}  {'SOURCE':12}  {'LEAD':26}  {'AGENT'}")
        for m in reversed(msgs):
            lead = session.get(Lead, m.lead_id) if m.lead_id else None
            name = full_name(lead) if lead else ""
            if lead is None:
                detail = m.reason or ""
            elif lead.status == LeadStatus.REVIEW:
                detail = f"held for review: {lead.review_reason}"
            else:
                detail = lead.agent or "(unassigned)"
            print(
                f"{m.id:>4}  {m.status:11}  {(lead.source if lead else '') or '':12}  "
                f"{name[:26]:26}  {detail[:70]}"
            )


def run_demo(data: Path, samples: Path, keep_running: bool, listen: str) -> int:
    """Start the daemon, send every sample, print where each lead went."""
    data.mkdir(parents=True, exist_ok=True)
    env = {
        "LEADMAIL_DATABASE_URL": f"sqlite:///{(data / 'leadmail.db').resolve()}",
        "LEADMAIL_NOTIFY_EMAIL_RELAY": f"file:{(data / 'alerts').resolve()}",
        "LEADMAIL_SMTP_LISTEN": listen,
        "LEADMAIL_RULES_DIR": str(RULES),
        **{k: v for k, v in os.environ.items() if k.startswith("LEADMAIL_")},
    }
    settings = config.load(DEMO_CONFIG, env=env)
    # Quiet while the samples go through (the table says what happened); the daemon's usual
    # log lines once it waits for more mail.
    logs.setup("warning", settings.log.format)
    db.upgrade(settings.database.url)
    engine = db.make_engine(settings.database.url)
    rt = pipeline.Runtime.load(settings)
    # One folder per source (samples/zillow/...); the measured sets under samples/sets/ are
    # for `leadmail eval`, too many to watch go by.
    files = sorted(samples.glob("*/*.eml")) if samples.exists() else []
    print(
        f"leadmail demo: SMTP on {listen}, database {settings.database.url}, "
        f"alerts in {data / 'alerts'}; sending {len(files)} samples from {samples}/"
    )

    async def main() -> int:
        daemon = Daemon(settings, engine, rt)
        runner = asyncio.create_task(daemon.run())
        await daemon.ready.wait()
        if files:
            with Session(engine) as session:
                before = (
                    session.exec(select(Message.id).order_by(col(Message.id).desc())).first() or 0
                )
            await asyncio.to_thread(_send_samples, listen, files)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with Session(engine) as session:
                    pending = session.exec(
                        select(Message.id).where(
                            col(Message.id) > before,
                            col(Message.status).not_in(MessageStatus.FINAL),
                        )
                    ).first()
                if pending is None:
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)  # let the outbox write the alerts
            _summary(engine, len(files))
        if keep_running:
            logs.setup("info", settings.log.format)
            print(
                "\nleadmail is running; send more mail to "
                f"smtp://{listen} (To: leads@brokerage.example). Ctrl-C stops it."
            )
        else:
            daemon.request_stop()
        return await runner

    return asyncio.run(main())
