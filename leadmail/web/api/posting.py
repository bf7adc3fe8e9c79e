"""POST /leads: a lead as JSON, stored as a message and run through the same pipeline as
email, answered with what became of it."""

import asyncio
import time
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Header, HTTPException, Response
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from leadmail import pipeline
from leadmail.clock import now
from leadmail.config import LEAD_STAGES, Settings
from leadmail.followup.access import Principal
from leadmail.intake.posted import LeadIn, synthesize
from leadmail.models import Lead, Message, MessageStatus
from leadmail.statuses import LeadStatus
from leadmail.store import store_raw
from leadmail.web.api.keys import Keys
from leadmail.web.api.schemas import AUTH, Posted, invalid

log = structlog.get_logger("leadmail.api")


def router(engine: Engine, settings: Settings, k: Keys, rt_factory: Any = None) -> APIRouter:
    """POST /leads; the pipeline's runtime is loaded at the first post (or `rt_factory()`)."""
    r = k.router()
    runtime: dict[str, Any] = {}

    def rt() -> Any:
        if "rt" not in runtime:
            runtime["rt"] = rt_factory() if rt_factory else pipeline.Runtime.load(settings)
        return runtime["rt"]

    @r.post("/leads", status_code=201, responses={
        **AUTH, 200: {"model": Posted, "description": "A duplicate of a lead posted before"},
        202: {"model": Posted, "description": "Stored; still being processed"},
        422: {"description": "Not a lead this brokerage knows how to take"}})
    async def post_lead(
        lead: LeadIn, response: Response,
        p: Annotated[Principal, Depends(k.who)],
        idempotency_key: Annotated[str | None, Header(max_length=200,
                                                      pattern=r"^[A-Za-z0-9_.-]+$")] = None,
    ) -> Posted:
        """Post a lead (a web form, Zapier): stored, then read, merged, routed and alerted
        exactly like a lead that came by email. Same Idempotency-Key, same lead."""
        if p.role not in ("integration", "admin") or p.key is None:
            raise HTTPException(403, "only integration and admin keys post leads")
        problems = _check_lead(settings, lead)
        if problems:
            raise invalid(*problems)
        raw = synthesize(p.key, lead, now(), idempotency_key)
        # Idempotency lives in the API's own namespace: no mail's Message-ID can reach it.
        dedup = f"api:{p.key.name}:{idempotency_key}" if idempotency_key else None
        msg_id = await asyncio.to_thread(store_raw, engine, raw, mail_from=p.key.name,
                                         intake="api", dedup=dedup)
        posted = await asyncio.to_thread(_process, engine, rt(), msg_id)
        codes: dict[str, int] = {MessageStatus.LEAD: 201, LeadStatus.REVIEW: 201,
                                 MessageStatus.DUPLICATE: 200}
        response.status_code = codes.get(posted.status, 202)
        log.info("lead posted", key=p.name, message=msg_id, status=posted.status,
                 lead=posted.lead_id)
        return posted

    return r


def _check_lead(settings: Settings, lead: LeadIn) -> tuple[str, str] | None:
    if lead.stage is not None and lead.stage not in LEAD_STAGES:
        return "stage", f"{lead.stage!r} is not one of {', '.join(LEAD_STAGES)}"
    if lead.segment is not None and lead.segment not in settings.classify.all_segments():
        return "segment", f"{lead.segment!r} is not a known segment"
    if not (lead.email or lead.phone):
        return "email", "a lead needs an email or a phone"
    return None


def _process(engine: Engine, rt: Any, msg_id: int, wait: float = 10.0) -> Posted:
    """Run the pipeline on the stored lead now; if a worker got to it first, wait for it."""
    outcome = pipeline.process(rt, engine, msg_id)
    deadline = time.monotonic() + wait
    while True:
        with Session(engine) as session:
            msg = session.get(Message, msg_id)
            assert msg is not None
            status, lead_id, reason = msg.status, msg.lead_id, msg.reason
            if status == MessageStatus.DUPLICATE and msg.duplicate_of:
                lead_id = session.exec(select(func.min(Lead.id)).where(
                    Lead.message_pk == msg.duplicate_of)).one()
            review = lead_id is not None and session.exec(
                select(Lead.status).where(Lead.id == lead_id)).one() == LeadStatus.REVIEW
        if status in MessageStatus.FINAL or outcome is not None or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return Posted(message=msg_id, status=LeadStatus.REVIEW if review else status, lead_id=lead_id,
                  reason=reason)
