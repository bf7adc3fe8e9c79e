"""Campaigns: automatic follow-up to the lead itself, by email and text, stopped when it engages.

A campaign (`[[followup.campaigns]]`) is for the leads of some sources (and segments, tags,
origin); the first one in file order that matches a lead starts for it, one at a time. It
starts when the lead is assigned (in the assignment's own transaction: `on_assigned`), when
it reaches a Stage (`stage:Potential`, in the stage change's transaction: `on_stage`), or
when it is assigned with a tag (`tag:nurture`). Starting writes the run and every step
with its due time, so a crash can neither lose nor double one.

The campaign pass (`run_pass`, the daemon's campaign worker) takes each due step in a
transaction of its own: it locks the step, checks that the run is still active, that the
lead was not contacted since the start, that the address or phone is not suppressed, and
that it is within `[followup] send_hours` in the lead's timezone (else the step waits for
the next open minute); then it queues the message in the outbox, keyed
`campaign-LEAD-CAMPAIGN-N`, and marks the step sent, in the same transaction. The outbox
delivers it (retried until its deadline; the key is unique, so a step is queued once).

A run stops, with its reason recorded as an activity, when the lead answers (intake:
`from_intake`, a pipeline step before the lead's message could make a new lead), its Stage
changes, an agent logs contact with it, it unsubscribes (the signed link in every mail,
RFC 8058 one-click, or STOP by text) or a campaign mail bounces. Unsubscribes and bounces go
on the suppression list (by address and phone), which every later campaign honours.
"""

from __future__ import annotations

import html
import re
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import phonenumbers
import phonenumbers.timezone
import structlog
from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import exists, func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from leadmail import tokens
from leadmail.clock import aware, must, now
from leadmail.config import AgentConfig, CampaignConfig, Settings
from leadmail.db import session_scope
from leadmail.followup import activity
from leadmail.hours import hours as parse_hours
from leadmail.hours import zone
from leadmail.models import (
    Activity,
    Assignment,
    CampaignRun,
    CampaignStep,
    Lead,
    Message,
    Outbox,
    Suppression,
    display_name,
)
from leadmail.normalize import storable
from leadmail.notify import render, webhook
from leadmail.notify.alert import agent_view, lead_view
from leadmail.notify.outbox import email_to, enqueue_email, find_webhook, webhook_to
from leadmail.statuses import CampaignStatus, CampaignStepStatus, LeadStatus, OutboxStatus

log = structlog.get_logger("leadmail.campaigns")
ACTIVE, PAUSED = CampaignStatus.ACTIVE, CampaignStatus.PAUSED
STOPPED, DONE = CampaignStatus.STOPPED, CampaignStatus.DONE
SCHEDULED, SENT = CampaignStepStatus.SCHEDULED, CampaignStepStatus.SENT
SKIPPED, STEP_STOPPED = CampaignStepStatus.SKIPPED, CampaignStepStatus.STOPPED
RUNNING = (ACTIVE, PAUSED)
CATCH_UP = timedelta(days=1)  # how recent an assignment outside the pipeline is caught up
HOLDING = (LeadStatus.ASSIGNED, LeadStatus.ACCEPTED)
BUILTIN = Path(__file__).parent / "templates"
UNSUBSCRIBE_DAYS = 5 * 365  # an unsubscribe link works for years (RFC 8058 asks for long)
MESSAGE_ID = re.compile(r"<leadmail-campaign\.(campaign-[0-9]{1,12}-[A-Za-z0-9_.-]{1,100}"
                        r"-[0-9]{1,3})@[^<>\s]{1,255}>")
STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit"})
HEAD_LIMIT = 64 * 1024  # header bytes of a message looked at
BOUNCE_LIMIT = 256 * 1024  # bytes of a delivery report searched for the bounced mail
EXCERPT_LINES, EXCERPT_CHARS = 4, 400
SMS_LIMIT = 1600  # characters of a text message (ten segments)
_STATUS_5XX = re.compile(rb"(?im)^status:[ \t]*5\.[0-9]{1,3}\.[0-9]{1,3}")
_QUOTE = re.compile(r"^(On .{5,200} wrote:|-+ ?Original Message ?-+|>.*)$", re.I)


def outbox_key(lead_id: int, campaign: str, position: int) -> str:
    """The step's outbox key: the lead, the campaign, the step (1-based)."""
    return f"campaign-{lead_id}-{campaign}-{position + 1}"


def find(settings: Settings, name: str) -> CampaignConfig | None:
    """The configured campaign of this name."""
    return next((c for c in settings.followup.campaigns if c.name == name), None)


def _suppressed(session: Session, kind: str, value: str | None) -> bool:
    if not value:
        return False
    return session.exec(select(Suppression.id).where(
        Suppression.kind == kind, Suppression.value == _norm(kind, value))).first() is not None


def _norm(kind: str, value: str) -> str:
    return value.strip().lower() if kind == "email" else value.strip()


def suppress(session: Session, kind: str, value: str | None, reason: str,
             lead_id: int | None) -> bool:
    """Put an address or phone on the suppression list (once); True when added now."""
    if not value or _suppressed(session, kind, value):
        return False
    try:
        with session.begin_nested():
            session.add(Suppression(kind=kind, value=_norm(kind, value), reason=reason,
                                    lead_id=lead_id, at=now()))
    except IntegrityError:  # another transaction added it first
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Starting


def _candidates(settings: Settings, lead: Lead, trigger: str) -> list[CampaignConfig]:
    tags = {t.casefold() for t in lead.tags}
    out = []
    for campaign in settings.followup.campaigns:
        start = campaign.start
        if trigger == "assigned" and not (start == "assigned" or (
                start.startswith("tag:") and start[4:].casefold() in tags)):
            continue
        if trigger == "stage" and start != f"stage:{lead.stage}":
            continue
        if campaign.matches(lead.source, lead.segment, list(lead.tags), lead.origin):
            out.append(campaign)
    return out


def start(session: Session, settings: Settings, lead: Lead, trigger: str,
          at: datetime | None = None, trace: list[dict[str, Any]] | None = None
          ) -> CampaignRun | None:
    """Start the first matching campaign for the lead (in the caller's transaction) unless
    one is running or every match ran before; the run."""
    if lead.id is None or not lead.agent or lead.status not in HOLDING:
        return None
    found = _candidates(settings, lead, trigger)
    if not found:
        return None
    runs = session.exec(select(CampaignRun).where(CampaignRun.lead_id == lead.id)).all()
    if any(r.status in RUNNING for r in runs):
        return None
    ran = {r.campaign for r in runs}
    campaign = next((c for c in found if c.name not in ran), None)
    if campaign is None:
        return None
    begin = at or now()
    run = CampaignRun(lead_id=lead.id, campaign=campaign.name, agent=lead.agent,
                      started_at=begin)
    session.add(run)
    session.flush()
    assert run.id is not None
    for position, spec in enumerate(campaign.steps):
        session.add(CampaignStep(
            run_id=run.id, lead_id=lead.id, campaign=campaign.name, position=position,
            channel=spec.channel, template=spec.template,
            due_at=begin + timedelta(seconds=spec.after), created_at=begin))
    session.flush()
    if trace is not None:
        trace.append({"step": "campaign", "campaign": campaign.name, "steps": len(campaign.steps),
                      "started": trigger})
    log.info("campaign started", lead=lead.id, campaign=campaign.name, agent=lead.agent)
    return run


def on_assigned(session: Session, settings: Settings, lead: Lead,
                trace: list[dict[str, Any]] | None = None) -> CampaignRun | None:
    """The lead was assigned (the pipeline's transaction): its campaign, if one starts."""
    if not settings.followup.campaigns:
        return None
    return start(session, settings, lead, "assigned", trace=trace)


def on_stage(session: Session, settings: Settings, lead: Lead, at: datetime,
             by: str) -> CampaignRun | None:
    """The lead's Stage changed (the change's transaction): stop the running campaign if it
    stops on a stage change, then start the new Stage's campaign, if any."""
    if not settings.followup.campaigns:
        return None
    run = running(session, lead.id or 0)
    if run is not None:
        spec = find(settings, run.campaign)
        if spec is None or "stage" in spec.stop_on:
            stop(session, run, "stage", f"moved to {lead.stage} by {by}", at)
        else:
            return None
    return start(session, settings, lead, "stage", at)


def catch_up(engine: Engine, settings: Settings, at: datetime, limit: int = 500) -> int:
    """Leads that got an agent outside the pipeline (a claim, a reassignment, a manager's
    pick) in the last day and have no campaign yet: the campaign that is theirs starts now.
    The number started."""
    if not any(c.start == "assigned" or c.start.startswith("tag:")
               for c in settings.followup.campaigns):
        return 0
    no_run = ~exists().where(col(CampaignRun.lead_id) == col(Lead.id))
    recent = exists().where(col(Assignment.lead_id) == col(Lead.id),
                            col(Assignment.created_at) >= at - CATCH_UP)
    with Session(engine) as session:
        found = session.exec(select(Lead).where(
            col(Lead.agent).is_not(None), col(Lead.status).in_(HOLDING), no_run, recent)
            .order_by(col(Lead.id)).limit(limit)).all()
        ids = [lead.id for lead in found if _candidates(settings, lead, "assigned")]
    started = 0
    for lead_id in ids:
        try:
            with session_scope(engine) as session:
                lead = session.exec(select(Lead).where(Lead.id == lead_id)
                                    .with_for_update()).first()
                if lead is not None and start(session, settings, lead, "assigned", at):
                    started += 1
        except IntegrityError:  # another daemon started it first
            continue
    return started


def running(session: Session, lead_id: int) -> CampaignRun | None:
    """The lead's active or paused run."""
    return session.exec(select(CampaignRun).where(
        CampaignRun.lead_id == lead_id, col(CampaignRun.status).in_(RUNNING))).first()


# ---------------------------------------------------------------------------------------------
# Stopping


def stop(session: Session, run: CampaignRun, reason: str, detail: str | None,
         at: datetime | None = None) -> bool:
    """Stop a running campaign (in the caller's transaction): its scheduled steps are
    stopped, and the reason is an activity of the lead. False when it was not running."""
    if run.status not in RUNNING:
        return False
    at = at or now()
    run.status, run.stopped_at, run.stop_reason = STOPPED, at, reason
    run.stop_detail = storable(detail)[:500] if detail else None
    session.add(run)
    for step in session.exec(select(CampaignStep).where(
            CampaignStep.run_id == run.id, CampaignStep.status == SCHEDULED)).all():
        step.status, step.reason = STEP_STOPPED, f"campaign stopped: {reason}"
        session.add(step)
    lead = session.get(Lead, run.lead_id)
    if lead is not None:
        text = f"{run.campaign}: {reason}" + (f" ({run.stop_detail})" if run.stop_detail else "")
        activity.record(session, lead, "campaign_stopped", "campaign", text=text[:500], at=at,
                        contact=False, campaign=run.campaign, reason=reason)
    log.info("campaign stopped", lead=run.lead_id, campaign=run.campaign, reason=reason)
    return True


def _stops_on(settings: Settings, run: CampaignRun, reason: str) -> bool:
    spec = find(settings, run.campaign)
    return spec is None or reason in spec.stop_on


def pause(engine: Engine, lead_id: int) -> CampaignRun | None:
    """Pause the lead's active campaign; its run (None when there is none to pause)."""
    with session_scope(engine) as session:
        run = session.exec(select(CampaignRun).where(
            CampaignRun.lead_id == lead_id, CampaignRun.status == ACTIVE).with_for_update()).first()
        if run is None:
            return None
        run.status, run.stopped_at = PAUSED, now()
        session.add(run)
        return run


def resume(engine: Engine, lead_id: int) -> CampaignRun | None:
    """Resume a paused campaign: its scheduled steps move on by the time it was paused."""
    with session_scope(engine) as session:
        run = session.exec(select(CampaignRun).where(
            CampaignRun.lead_id == lead_id, CampaignRun.status == PAUSED).with_for_update()).first()
        if run is None:
            return None
        at = now()
        paused = at - (aware(run.stopped_at) or at)
        for step in session.exec(select(CampaignStep).where(
                CampaignStep.run_id == run.id, CampaignStep.status == SCHEDULED)).all():
            step.due_at = must(step.due_at) + paused
            session.add(step)
        run.status, run.stopped_at = ACTIVE, None
        session.add(run)
        return run


# ---------------------------------------------------------------------------------------------
# Rendering


@dataclass(frozen=True)
class Rendered:
    """A step's message: subject (email), text, html (email)."""

    subject: str
    text: str
    html: str


def _env(settings: Settings) -> SandboxedEnvironment:
    dirs = [d for d in (settings.followup.templates, str(BUILTIN)) if d]
    return SandboxedEnvironment(loader=ChoiceLoader([FileSystemLoader(d) for d in dirs]),
                                undefined=StrictUndefined, autoescape=False,
                                keep_trailing_newline=True)


def unsubscribe_url(settings: Settings, lead: Lead, at: datetime) -> str | None:
    """The signed one-click unsubscribe link of a lead (GET shows it, POST unsubscribes)."""
    http = settings.http
    if not (http.base_url and http.secret):
        return None
    body = {"l": lead.id, "m": (lead.email or "").lower(), "p": lead.phone or ""}
    token = tokens.seal(http.secret, tokens.UNSUB, body, at + timedelta(days=UNSUBSCRIBE_DAYS))
    return f"{http.base_url.rstrip('/')}/u/{token}"


def verify_unsubscribe(secret: str, token: str, at: datetime) -> dict[str, Any]:
    """The body of a valid unsubscribe token; tokens.BadToken otherwise."""
    return tokens.unseal(secret, tokens.UNSUB, token, at)


def _context(settings: Settings, lead: Lead, agent: AgentConfig | None, campaign: str,
             position: int, url: str | None) -> dict[str, Any]:
    owner = agent_view(agent) if agent else {"name": "Your agent", "email": None, "phone": None}
    return {"lead": lead_view(lead), "agent": owner, "campaign": campaign, "step": position + 1,
            "unsubscribe_url": url, "postal_address": settings.followup.postal_address or ""}


def render_step(settings: Settings, channel: str, template: str,
                context: dict[str, Any]) -> Rendered:
    """The step's message from campaigns/TEMPLATE.{subject,txt,html}.j2, with the footer
    (postal address and unsubscribe link; "Reply STOP" in a text). Jinja2 errors raise."""
    env = _env(settings)
    text = env.get_template(f"campaigns/{template}.txt.j2").render(context).strip()
    url, postal = context.get("unsubscribe_url"), context.get("postal_address")
    if channel == "sms":
        if "stop" not in text.lower():
            text += " Reply STOP to opt out."
        return Rendered("", text[:SMS_LIMIT], "")
    subject = " ".join(env.get_template(f"campaigns/{template}.subject.j2")
                       .render(context).split())[:300]
    try:
        body_html = env.get_template(f"campaigns/{template}.html.j2").render(context)
    except TemplateNotFound:
        body_html = "<p>" + html.escape(text).replace("\n\n", "</p><p>").replace(
            "\n", "<br>") + "</p>"
    footer = "\n\n-- \n" + (f"{postal}\n" if postal else "") + (
        f"Unsubscribe: {url}\n" if url else "")
    foot_html = ('<p style="color:#777;font-size:12px">' + html.escape(str(postal or "")) +
                 (f'<br><a href="{html.escape(url)}">Unsubscribe</a>' if url else "") + "</p>")
    return Rendered(subject, text + footer, f"<!doctype html><html><body>{body_html}"
                                            f"{foot_html}</body></html>")


def check_templates(settings: Settings) -> list[str]:
    """Problems with the campaigns' templates (for check-config): each one missing or failing
    to render for an example lead."""
    problems = []
    sample = Lead(id=0, message_pk=0, dedup_key="", first_name="Maria", last_name="Lopez",
                  email="maria@example.org", phone="+15125550199", source="Zillow",
                  property_address="42 Lakeshore Dr, Austin, TX 78746", price=450000)
    agent = AgentConfig(name="Ana Agent", email="ana@brokerage.example", phone="+15125550100")
    for i, campaign in enumerate(settings.followup.campaigns):
        for j, step in enumerate(campaign.steps):
            context = _context(settings, sample, agent, campaign.name, j, "https://x.example/u/t")
            try:
                render_step(settings, step.channel, step.template, context)
            except Exception as exc:
                problems.append(f"followup.campaigns[{i}].steps[{j}].template: {step.template!r}:"
                                f" {type(exc).__name__}: {exc}")
    return problems


# ---------------------------------------------------------------------------------------------
# The campaign pass: due steps → outbox


# A US or Canadian address's state or province (", TX 78745", ", ON M5V 2T6") → its main
# timezone (a state that spans two takes the zone most of its people live in).
_STATE_ZONES = {
    **dict.fromkeys(("CT", "DE", "DC", "FL", "GA", "IN", "KY", "ME", "MD", "MA", "MI", "NH",
                     "NJ", "NY", "NC", "OH", "PA", "RI", "SC", "VT", "VA", "WV", "ON", "QC"),
                    "America/New_York"),
    **dict.fromkeys(("AL", "AR", "IL", "IA", "KS", "LA", "MN", "MS", "MO", "NE", "ND", "OK",
                     "SD", "TN", "TX", "WI", "MB"), "America/Chicago"),
    **dict.fromkeys(("CO", "ID", "MT", "NM", "UT", "WY", "AB"), "America/Denver"),
    "AZ": "America/Phoenix", "SK": "America/Regina",
    **dict.fromkeys(("CA", "NV", "OR", "WA", "BC"), "America/Los_Angeles"),
    "AK": "America/Anchorage", "HI": "Pacific/Honolulu", "PR": "America/Puerto_Rico",
    **dict.fromkeys(("NS", "NB", "PE"), "America/Halifax"), "NL": "America/St_Johns",
}
_STATE = re.compile(r",\s*([A-Z]{2})\s+(?:\d{5}(?:-\d{4})?|[A-Z]\d[A-Z]\s?\d[A-Z]\d)\s*$")


def lead_zone(settings: Settings, lead: Lead) -> str:
    """The lead's timezone: from the phone's region, else the state of its own address (US,
    Canada), else `[routing] timezone`."""
    if lead.phone:
        try:
            number = phonenumbers.parse(lead.phone[:50], settings.pipeline.default_region)
            zones = [z for z in phonenumbers.timezone.time_zones_for_number(number)
                     if z != "Etc/Unknown"]
            if zones:
                zone(zones[0])
                return zones[0]
        except (phonenumbers.NumberParseException, ValueError):
            pass
    m = _STATE.search((lead.address or "").strip()[-200:])
    if m and m.group(1) in _STATE_ZONES:
        return _STATE_ZONES[m.group(1)]
    return settings.routing.timezone


def run_pass(engine: Engine, settings: Settings, at: datetime | None = None,
             limit: int = 200) -> int:
    """Bounces first, then every due step of an active run; the number of messages queued."""
    if not settings.followup.campaigns:
        return 0
    at = at or now()
    catch_up(engine, settings, at)
    contacted(engine, settings, at)
    bounces(engine, settings, at)
    with Session(engine) as session:
        due = session.exec(
            select(CampaignStep.id).join(CampaignRun, col(CampaignRun.id) == col(
                CampaignStep.run_id))
            .where(CampaignStep.status == SCHEDULED, CampaignRun.status == ACTIVE,
                   col(CampaignStep.due_at) <= at)
            .order_by(col(CampaignStep.due_at), col(CampaignStep.id)).limit(limit)).all()
    queued = 0
    for step_id in due:
        if step_id is not None:
            try:
                queued += _work(engine, settings, step_id, at)
            except IntegrityError:  # another daemon queued it in the meantime
                continue
    return queued


def _work(engine: Engine, settings: Settings, step_id: int, at: datetime) -> int:
    """One due step, in one transaction: sent (queued), skipped, stopped or moved on."""
    with session_scope(engine) as session:
        step = session.exec(select(CampaignStep).where(CampaignStep.id == step_id)
                            .with_for_update()).first()
        if step is None or step.status != SCHEDULED:
            return 0
        run = session.get(CampaignRun, step.run_id)
        lead = session.get(Lead, step.lead_id)
        if run is None or lead is None or run.status != ACTIVE:
            return 0
        if _stops_on(settings, run, "contact"):
            first = session.exec(select(Activity).where(
                Activity.lead_id == lead.id, col(Activity.contact).is_(True),
                col(Activity.at) >= run.started_at).order_by(col(Activity.at))).first()
            if first is not None:
                stop(session, run, "contact", f"{first.kind} by {first.by}", at)
                return 0
        queued = _send_or_skip(session, settings, run, step, lead, at)
        if not session.exec(select(CampaignStep.id).where(
                CampaignStep.run_id == run.id, CampaignStep.status == SCHEDULED)).first():
            run.status = DONE
            session.add(run)
        return queued


def _skip(session: Session, step: CampaignStep, reason: str) -> int:
    step.status, step.reason = SKIPPED, reason[:500]
    session.add(step)
    log.info("campaign step skipped", lead=step.lead_id, campaign=step.campaign,
             step=step.position + 1, reason=reason)
    return 0


def _send_or_skip(session: Session, settings: Settings, run: CampaignRun, step: CampaignStep,
                  lead: Lead, at: datetime) -> int:
    if step.channel == "email":
        if not lead.email:
            return _skip(session, step, "the lead has no email address")
        if _suppressed(session, "email", lead.email):
            return _skip(session, step, f"{lead.email} is on the suppression list")
    else:
        if not lead.phone:
            return _skip(session, step, "the lead has no phone number")
        if _suppressed(session, "phone", lead.phone):
            return _skip(session, step, f"{lead.phone} is on the suppression list")
    tz = lead_zone(settings, lead)
    open_hours = parse_hours(list(settings.followup.send_hours), tz)
    if not open_hours.is_open(at):
        step.due_at = open_hours.add(at, 0)
        step.reason = (f"waiting for send hours: {open_hours.describe(at)} is outside "
                       f"{', '.join(settings.followup.send_hours)}")
        session.add(step)
        return 0
    agent = settings.find_agent(run.agent or lead.agent or "")
    url = unsubscribe_url(settings, lead, at)
    try:
        rendered = render_step(settings, step.channel, step.template,
                               _context(settings, lead, agent, run.campaign, step.position, url))
    except Exception as exc:
        return _skip(session, step, f"template {step.template!r} failed: "
                                    f"{type(exc).__name__}: {exc}")
    key = outbox_key(lead.id or 0, run.campaign, step.position)
    if session.exec(select(Outbox.id).where(Outbox.idempotency_key == key)).first() is None:
        session.add(_row(settings, lead, agent, step, rendered, key, url))
    step.status, step.sent_at, step.outbox_key, step.reason = SENT, at, key, None
    session.add(step)
    log.info("campaign step queued", lead=lead.id, campaign=run.campaign,
             step=step.position + 1, channel=step.channel)
    return 1


def _row(settings: Settings, lead: Lead, agent: AgentConfig | None, step: CampaignStep,
         rendered: Rendered, key: str, url: str | None) -> Outbox:
    if step.channel == "sms":
        hook = find_webhook(settings, settings.sms_hook_name())
        assert hook is not None  # config validation checked it
        to = {"name": display_name(lead), "email": lead.email, "phone": lead.phone}
        payload = webhook.build_text(hook, to, rendered.text, f"{key}.sms", {
            "lead": lead_view(lead), "owner": agent_view(agent) if agent else None})
        return webhook_to(settings, hook, lead.phone or "", payload, f"{key}.sms", lead.id,
                          subject=rendered.text[:200])
    domain = settings.notify.email.sender.rpartition("@")[2]
    headers = {}
    if url:
        headers = {"List-Unsubscribe": f"<{url}>",
                   "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    reply_to = settings.notify.email.reply_to or next(iter(settings.smtp.accept), None)
    return email_to(settings, lead.email or "", display_name(lead),
                    {"subject": rendered.subject, "text": rendered.text, "html": rendered.html},
                    key, lead.id, from_name=agent.name if agent else None, reply_to=reply_to,
                    message_id=f"<leadmail-campaign.{key}@{domain}>", headers=headers,
                    campaign=step.campaign)


def contacted(engine: Engine, settings: Settings, at: datetime, limit: int = 200) -> int:
    """Running campaigns whose lead an agent contacted (a call, email, text, meeting or reply
    logged) since the campaign started: stopped, reason "contact". The number stopped."""
    since = exists().where(col(Activity.lead_id) == col(CampaignRun.lead_id),
                           col(Activity.contact).is_(True),
                           col(Activity.at) >= col(CampaignRun.started_at))
    with Session(engine) as session:
        found = session.exec(select(CampaignRun.id).where(
            col(CampaignRun.status).in_(RUNNING), since).limit(limit)).all()
    stopped = 0
    for run_id in found:
        with session_scope(engine) as session:
            run = session.exec(select(CampaignRun).where(CampaignRun.id == run_id)
                               .with_for_update()).first()
            if run is None or not _stops_on(settings, run, "contact"):
                continue
            first = session.exec(select(Activity).where(
                Activity.lead_id == run.lead_id, col(Activity.contact).is_(True),
                col(Activity.at) >= run.started_at).order_by(col(Activity.at))).first()
            if first is not None:
                stopped += stop(session, run, "contact", f"{first.kind} by {first.by}", at)
    return stopped


def bounces(engine: Engine, settings: Settings, at: datetime) -> int:
    """Campaign mail the relay refused for good (a 5xx): a bounce; the number found."""
    with Session(engine) as session:
        failed = session.exec(
            select(CampaignStep.id).join(Outbox, col(Outbox.idempotency_key) == col(
                CampaignStep.outbox_key))
            .where(CampaignStep.status == SENT, CampaignStep.channel == "email",
                   Outbox.status == OutboxStatus.FAILED,
                   col(CampaignStep.reason).is_(None)).limit(200)).all()
    for step_id in failed:
        with session_scope(engine) as session:
            step = session.get(CampaignStep, step_id)
            lead = session.get(Lead, step.lead_id) if step else None
            if step is None or lead is None:
                continue
            _bounced(session, settings, step, lead, "the relay refused it for good", at)
    return len(failed)


def _bounced(session: Session, settings: Settings, step: CampaignStep, lead: Lead, why: str,
             at: datetime) -> None:
    step.reason = f"bounced: {why}"[:500]
    session.add(step)
    suppress(session, "email", lead.email, "bounce", lead.id)
    run = session.get(CampaignRun, step.run_id)
    if run is not None and _stops_on(settings, run, "bounce"):
        stop(session, run, "bounce", f"{lead.email}: {why}", at)


# ---------------------------------------------------------------------------------------------
# Unsubscribing


def unsubscribe(engine: Engine, settings: Settings, lead_id: int, email: str | None,
                phone: str | None, via: str) -> int:
    """Suppress the address and phone for good and stop every campaign running to them; the
    number of runs stopped."""
    at = now()
    stopped = 0
    with session_scope(engine) as session:
        suppress(session, "email", email, "unsubscribe", lead_id)
        suppress(session, "phone", phone, "unsubscribe", lead_id)
        leads: list[int | None] = []
        if email:
            leads += session.exec(select(Lead.id).where(
                func.lower(col(Lead.email)) == email.lower())).all()
        if phone:
            leads += session.exec(select(Lead.id).where(Lead.phone == phone)).all()
        for lid in {lead_id, *leads}:
            run = running(session, lid or 0)
            if run is not None and _stops_on(settings, run, "unsubscribe"):
                stopped += stop(session, run, "unsubscribe", via, at)
    log.info("unsubscribed", lead=lead_id, via=via, stopped=stopped)
    return stopped


def text_received(engine: Engine, settings: Settings, sender: str, body: str) -> str:
    """A text message from a lead at the SMS webhook's inbound endpoint: STOP unsubscribes
    the phone; anything else is the lead's answer. What was done."""
    phone = sender.strip()[:50]
    word = (body.strip().split() or [""])[0].strip(".!").lower()
    with Session(engine) as session:
        lead_id = session.exec(select(Lead.id).where(Lead.phone == phone)
                               .order_by(col(Lead.id).desc())).first()
    if word in STOP_WORDS:
        stopped = unsubscribe(engine, settings, lead_id or 0, None, phone, "text STOP")
        return f"unsubscribed {phone}; {stopped} campaign(s) stopped"
    if lead_id is None:
        return "no lead has this phone"
    with session_scope(engine) as session:
        run = running(session, lead_id)
        lead = session.get(Lead, lead_id)
        if run is None or lead is None:
            return "no campaign is running for this phone"
        return _answered(session, settings, run, lead, body, None, "sms")


# ---------------------------------------------------------------------------------------------
# Intake: the lead's answer, or a bounce of a campaign mail


def _excerpt(text: str) -> str:
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if _QUOTE.match(line[:300]):
            break
        if line:
            lines.append(line[:200])
        if len(lines) >= EXCERPT_LINES:
            break
    return "\n".join(lines)[:EXCERPT_CHARS]


def _body_text(raw: bytes) -> str:
    from email import message_from_bytes, policy
    from email.message import EmailMessage

    msg = message_from_bytes(raw[:1024 * 1024], policy=policy.default)
    if not isinstance(msg, EmailMessage):
        return ""
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = str(part.get_content())
    except Exception:
        return ""
    if part.get_content_type() == "text/html":
        content = re.sub(r"<[^>]{0,2000}>", " ", content[:200_000])
    return html.unescape(content[:200_000])


def _answered(session: Session, settings: Settings, run: CampaignRun, lead: Lead, text: str,
              msg_id: int | None, channel: str) -> str:
    """The lead answered: a "lead_replied" activity, the run stopped, the agent alerted."""
    excerpt = _excerpt(text) or "(no text)"
    first = excerpt.splitlines()[0][:120]
    activity.record(session, lead, "lead_replied", lead.email or lead.phone, text=excerpt,
                    contact=False, message_pk=msg_id, campaign=run.campaign, channel=channel)
    stopped = _stops_on(settings, run, "reply") and stop(session, run, "reply", first)
    agent = settings.find_agent(run.agent or lead.agent or "")
    if agent is not None and agent.active:
        base = settings.http.base_url
        url = f"{base.rstrip('/')}/app/leads/{lead.id}" if base else None
        context = {"agent": agent, "lead": lead_view(lead), "campaign": run.campaign,
                   "first_line": first, "excerpt": excerpt, "url": url, "channel": channel}
        rendered = render.render("answered", context, settings.notify.templates,
                                 source=lead.source, parts=("subject", "text", "html"))
        key = f"campaign-answer-{msg_id}" if msg_id else (
            f"campaign-answer-{lead.id}-{run.campaign}-sms-{int(now().timestamp())}")
        if session.exec(select(Outbox.id).where(Outbox.idempotency_key == key)).first() is None:
            enqueue_email(session, settings, agent, rendered, key, lead.id)
    log.info("lead answered a campaign", lead=lead.id, campaign=run.campaign, channel=channel)
    return (f"{display_name(lead)} answered campaign {run.campaign!r}"
            + ("; stopped" if stopped else ""))


def from_intake(settings: Settings, engine: Engine, msg_id: int, raw: bytes) -> str | None:
    """A stored message that is a lead's answer to a campaign (In-Reply-To or References name
    a campaign mail, or From is the address of a lead whose campaign runs), or a delivery
    report of a campaign mail: what was done; None when it is neither."""
    if not settings.followup.campaigns:
        return None
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw[:HEAD_LIMIT])
    except Exception:
        return None
    refs = " ".join(str(v) for n in ("In-Reply-To", "References")
                    for v in (headers.get_all(n) or []))[:16_000]
    keys = list(dict.fromkeys(MESSAGE_ID.findall(refs)))[:20]
    ctype = str(headers.get("Content-Type", "")).lower()
    if ctype.startswith("multipart/report") and "delivery-status" in ctype:
        return _dsn(settings, engine, raw)
    senders = [a.strip().lower() for _, a in getaddresses(
        [str(v) for v in (headers.get_all("From") or [])]) if "@" in a]
    automatic = str(headers.get("Auto-Submitted", "no")).strip().lower() not in ("", "no")
    with session_scope(engine) as session:
        run = lead = None
        if keys:
            step = session.exec(select(CampaignStep).where(
                col(CampaignStep.outbox_key).in_(keys))).first()
            if step is not None:
                run, lead = session.get(CampaignRun, step.run_id), session.get(Lead, step.lead_id)
        if run is None and senders:
            row = session.exec(
                select(CampaignRun, Lead).join(Lead, col(Lead.id) == col(CampaignRun.lead_id))
                .where(func.lower(col(Lead.email)) == senders[0],
                       col(CampaignRun.status).in_(RUNNING))
                .order_by(col(CampaignRun.id).desc())).first()
            if row is not None:
                run, lead = row
        if run is None or lead is None:
            return None
        if session.exec(select(Activity.id).where(Activity.message_pk == msg_id,
                                                  Activity.kind == "lead_replied")).first():
            return f"answer to campaign {run.campaign!r}: recorded before"
        if automatic:
            return f"automatic reply to campaign {run.campaign!r}: ignored"
        msg = session.get(Message, msg_id)
        if msg is not None and aware(msg.received_at) < (aware(run.started_at) or now()):
            return None  # sent before the campaign started: not an answer to it
        return _answered(session, settings, run, lead, _body_text(raw), msg_id, "email")


def _dsn(settings: Settings, engine: Engine, raw: bytes) -> str | None:
    """A delivery report: a hard bounce (Status 5.x.x) of a campaign mail stops its campaign
    and suppresses the address."""
    part = raw[:BOUNCE_LIMIT]
    keys = list(dict.fromkeys(MESSAGE_ID.findall(part.decode("utf-8", "replace"))))[:5]
    if not keys:
        return None
    if not _STATUS_5XX.search(part):
        return f"delivery report of campaign mail {keys[0]}: not a hard bounce; ignored"
    with session_scope(engine) as session:
        step = session.exec(select(CampaignStep).where(
            col(CampaignStep.outbox_key).in_(keys))).first()
        lead = session.get(Lead, step.lead_id) if step else None
        if step is None or lead is None:
            return None
        if step.reason and step.reason.startswith("bounced"):
            return f"bounce of campaign mail {step.outbox_key}: recorded before"
        _bounced(session, settings, step, lead, "a delivery report said 5.x.x", now())
        return f"bounce of campaign mail {step.outbox_key}: {lead.email} suppressed"


# ---------------------------------------------------------------------------------------------
# Reading: a lead's campaign, previews, the report


def steps_of(session: Session, lead_id: int) -> list[dict[str, Any]]:
    """The lead's campaign steps, in order: campaign, step, channel, status, due, sent, why."""
    out = []
    runs = {r.id: r for r in session.exec(select(CampaignRun).where(
        CampaignRun.lead_id == lead_id)).all()}
    for s in session.exec(select(CampaignStep).where(CampaignStep.lead_id == lead_id)
                          .order_by(col(CampaignStep.run_id), col(CampaignStep.position))).all():
        run = runs.get(s.run_id)
        out.append({"campaign": s.campaign, "step": s.position + 1, "channel": s.channel,
                    "template": s.template, "status": s.status, "due_at": aware(s.due_at),
                    "sent_at": aware(s.sent_at), "reason": s.reason,
                    "run_status": run.status if run else None,
                    "stop_reason": run.stop_reason if run else None})
    return out


def preview(engine: Engine, settings: Settings, lead_id: int, position: int | None = None
            ) -> list[dict[str, Any]]:
    """What the lead's campaign sends (or would send): each step, or step `position` (0-based),
    rendered now. ValueError when the lead has no campaign and none matches it."""
    with Session(engine) as session:
        lead = session.get(Lead, lead_id)
        if lead is None:
            raise ValueError(f"there is no lead #{lead_id}")
        run = session.exec(select(CampaignRun).where(CampaignRun.lead_id == lead_id)
                           .order_by(col(CampaignRun.id).desc())).first()
        spec = find(settings, run.campaign) if run else next(iter(
            _candidates(settings, lead, "assigned") or
            [c for c in settings.followup.campaigns if c.matches(
                lead.source, lead.segment, list(lead.tags), lead.origin)]), None)
        if spec is None:
            raise ValueError(f"no campaign is for lead #{lead_id} (source {lead.source!r})")
        agent = settings.find_agent((run.agent if run else None) or lead.agent or "")
        url = unsubscribe_url(settings, lead, now())
        out = []
        for i, step in enumerate(spec.steps):
            if position is not None and i != position:
                continue
            r = render_step(settings, step.channel, step.template,
                            _context(settings, lead, agent, spec.name, i, url))
            out.append({"campaign": spec.name, "step": i + 1, "channel": step.channel,
                        "after": step.after, "to": lead.email if step.channel == "email"
                        else lead.phone, "from": agent.name if agent else None,
                        "subject": r.subject, "text": r.text})
        if not out:
            raise ValueError(f"campaign {spec.name!r} has {len(spec.steps)} steps")
        return out


def runs_of(engine: Engine, campaign: str, limit: int = 200) -> list[CampaignRun]:
    """A campaign's runs, newest first."""
    with Session(engine) as session:
        return list(session.exec(select(CampaignRun).where(CampaignRun.campaign == campaign)
                                 .order_by(col(CampaignRun.id).desc()).limit(limit)).all())


def counts(engine: Engine) -> dict[str, dict[str, int]]:
    """Per campaign: its runs by status."""
    with Session(engine) as session:
        rows = session.exec(select(CampaignRun.campaign, CampaignRun.status, func.count())
                            .group_by(col(CampaignRun.campaign), col(CampaignRun.status))).all()
    out: dict[str, dict[str, int]] = {}
    for name, status, n in rows:
        out.setdefault(name, {})[status] = n
    return out


def report(session: Session, settings: Settings, lead_ids: Any) -> list[dict[str, Any]]:
    """Per campaign and step: sent, delivered, replied, unsubscribed, bounced, reply rate and
    median time to reply (seconds). A reply, unsubscribe or bounce counts for the last step
    sent before it. `lead_ids`: the subquery of leads that may be seen."""
    steps = session.exec(select(CampaignStep).where(col(CampaignStep.lead_id).in_(lead_ids),
                                                    CampaignStep.status == SENT)).all()
    delivered = {k for k in session.exec(select(Outbox.idempotency_key).where(
        col(Outbox.idempotency_key).like("campaign-%"), Outbox.status == OutboxStatus.SENT)).all()}
    runs = {r.id: r for r in session.exec(select(CampaignRun).where(
        col(CampaignRun.lead_id).in_(lead_ids))).all()}
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    last: dict[int, CampaignStep] = {}
    names = [c.name for c in settings.followup.campaigns]
    for c in settings.followup.campaigns:
        for i, spec in enumerate(c.steps):
            rows[(c.name, i)] = _blank(c.name, i, spec.channel)
    waits: dict[tuple[str, int], list[float]] = {}
    for s in steps:
        row = rows.setdefault((s.campaign, s.position), _blank(s.campaign, s.position, s.channel))
        row["sent"] += 1
        key = f"{s.outbox_key}.sms" if s.channel == "sms" else s.outbox_key
        bounced = bool(s.reason and s.reason.startswith("bounced"))
        row["bounced"] += bounced
        row["delivered"] += (key in delivered) and not bounced
        run = runs.get(s.run_id)
        if run is not None and run.stopped_at and aware(s.sent_at) and (
                must(s.sent_at) <= must(run.stopped_at)):
            if s.run_id not in last or last[s.run_id].position < s.position:
                last[s.run_id] = s
    for run_id, s in last.items():
        run = runs[run_id]
        row = rows[(s.campaign, s.position)]
        if run.stop_reason == "reply":
            row["replied"] += 1
            waits.setdefault((s.campaign, s.position), []).append(
                (must(run.stopped_at) - must(s.sent_at)).total_seconds())
        elif run.stop_reason == "unsubscribe":
            row["unsubscribed"] += 1
    for where, row in rows.items():
        row["reply_rate"] = round(row["replied"] / row["sent"], 3) if row["sent"] else 0.0
        got = waits.get(where)
        row["median_reply_seconds"] = round(statistics.median(got)) if got else None
    order = {n: i for i, n in enumerate(names)}
    return sorted(rows.values(), key=lambda r: (order.get(r["campaign"], len(order)),
                                                r["campaign"], r["step"]))


def _blank(campaign: str, position: int, channel: str) -> dict[str, Any]:
    return {"campaign": campaign, "step": position + 1, "channel": channel, "sent": 0,
            "delivered": 0, "replied": 0, "unsubscribed": 0, "bounced": 0}
