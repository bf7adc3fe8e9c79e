"""Claim, accept, decline (and a manager's assign) from the signed links in alerts; a lead's
unsubscribe link from campaign mail; texts from leads at the SMS webhook's inbound endpoint.

    GET  /a/{token}   shows the lead and one button; changes nothing (mail scanners open links)
    POST /a/{token}   does what the token allows, through leadmail.routing.actions
    GET  /u/{token}   "Unsubscribe ADDRESS?" and one button; changes nothing
    POST /u/{token}   unsubscribes for good (the button, or RFC 8058 one-click from the mail
                      client: `List-Unsubscribe=One-Click`)
    POST /hooks/{name}/inbound
                      a text from a lead, forwarded by the gateway (Twilio's form fields From
                      and Body, or JSON {"from", "text"}), signed with the webhook's secret
                      (X-Leadmail-Signature) or Twilio's X-Twilio-Signature (its auth token,
                      the webhook's password): STOP unsubscribes, anything else is an answer

A forged or expired token gets 403 and nothing happens. The result page is small and made for
a phone: "You have claimed ...", "Already claimed by ...", "This link has expired".
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from pathlib import Path
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.engine import Engine
from sqlmodel import Session

from leadmail import tokens
from leadmail.clock import utcnow
from leadmail.config import Settings, WebhookConfig
from leadmail.followup import campaigns
from leadmail.metrics import AGENT_ACTIONS
from leadmail.models import Lead, LeadRoute
from leadmail.notify import links, webhook
from leadmail.notify.alert import lead_view
from leadmail.routing import actions

log = structlog.get_logger("leadmail.web")
_pages = Environment(
    loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
    undefined=StrictUndefined,
    autoescape=select_autoescape(["html.j2"]),
)
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token is in the URL: never hand it on
    "X-Robots-Tag": "noindex, nofollow",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}
BUTTONS = {
    "claim": "Claim this lead",
    "accept": "Accept this lead",
    "decline": "Decline this lead",
    "assign": "Give it to {target}",
}
COLORS = {"claim": "#1a7f37", "accept": "#1a7f37", "decline": "#6e7781", "assign": "#0969da"}
# Outcomes that are not the agent's doing: answered 409 so scripts can tell.
CONFLICTS = frozenset(
    {
        "already_claimed",
        "not_yours",
        "not_offered",
        "expired",
        "not_allowed",
        "in_review",
        "unknown_agent",
    }
)


def page(
    title: str,
    *,
    status: int = 200,
    tone: str = "ok",
    detail: str | None = None,
    lead: dict[str, Any] | None = None,
    hidden: bool = False,
    button: str | None = None,
    color: str = "#1a7f37",
    call: bool = False,
    who: str | None = None,
) -> HTMLResponse:
    """One small HTML page."""
    html = _pages.get_template("page.html.j2").render(
        title=title,
        tone=tone,
        detail=detail,
        lead=lead,
        hidden=hidden,
        button=button,
        color=color,
        call=call,
        who=who,
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _refused(exc: links.BadLink) -> HTMLResponse:
    if exc.reason == "expired":
        return page(
            "This link has expired",
            status=403,
            tone="bad",
            detail="Links in alerts work for a limited time. Ask your manager if the "
            "lead is still open.",
        )
    return page(
        "This link is not valid",
        status=403,
        tone="bad",
        detail="It may have been cut or changed. Open it from the alert again.",
    )


def _name(settings: Settings, email: str | None) -> str:
    agent = settings.find_agent(email) if email else None
    return f"{agent.name} ({agent.email})" if agent else (email or "somebody")


def _headline(
    settings: Settings, link: links.Link, result: actions.Result, lead_name: str
) -> tuple[str, str | None]:
    status = result.status
    if status == "claimed":
        return f"You have claimed {lead_name}", "The lead is yours: call them now."
    if status == "already_yours":
        return "You have already claimed this lead", "It is yours."
    if status == "already_claimed":
        return f"Already claimed by {_name(settings, result.holder)}", "Nothing changed."
    if status == "accepted":
        return f"You have accepted {lead_name}", "The lead is yours: call them now."
    if status == "assigned":
        return f"{lead_name} is now assigned to {_name(settings, result.holder)}", None
    if status == "not_yours":
        return "This lead has moved on", f"It is with {_name(settings, result.holder)} now."
    return result.message, None


def router(engine: Engine, settings: Settings) -> APIRouter:
    """The link endpoints; needs `[http] secret`."""
    secret = settings.http.secret
    assert secret, "config validation requires http.secret for links"
    r = APIRouter()

    def load(lead_id: int) -> tuple[Lead | None, bool]:
        with Session(engine) as session:
            lead = session.get(Lead, lead_id)
            lr = session.get(LeadRoute, lead_id)
            private = bool(lr and lr.route.get("hide_contact"))
            return lead, private

    def shown(lead: Lead, private: bool, agent: str) -> tuple[dict[str, Any], bool]:
        hidden = private and lead.agent != agent
        return lead_view(lead, hidden), hidden

    @r.get("/a/{token}", response_class=HTMLResponse)
    def confirm(token: str) -> HTMLResponse:
        """What the link would do, and one button to do it. Changes nothing."""
        try:
            link = links.verify(secret, token, utcnow())
        except links.BadLink as exc:
            return _refused(exc)
        lead, private = load(link.lead)
        if lead is None:
            return page("There is no such lead", status=404, tone="bad")
        view, hidden = shown(lead, private, link.agent)
        target = _name(settings, link.target).split(" (")[0] if link.target else ""
        label = BUTTONS[link.action].format(target=target)
        holder = lead.agent if lead.agent and lead.agent != link.agent else None
        if link.action == "claim" and holder:  # no button to press: say so straight away
            title = f"Already claimed by {_name(settings, holder)}"
            return page(title, tone="no", lead=view, hidden=hidden, who=_name(settings, link.agent))
        return page(
            label + "?",
            tone="ok",
            lead=view,
            hidden=hidden,
            button=label,
            color=COLORS[link.action],
            who=_name(settings, link.agent),
        )

    @r.post("/a/{token}", response_class=HTMLResponse)
    def act(token: str) -> HTMLResponse:
        """Do what the link allows; the page says what happened."""
        try:
            link = links.verify(secret, token, utcnow())
        except links.BadLink as exc:
            log.warning("refused a link", reason=exc.reason)
            AGENT_ACTIONS.labels("link", "unknown", exc.reason).inc()
            return _refused(exc)
        if link.action == "assign":
            result = actions.assign(engine, settings, link.lead, link.target or "", by=link.agent)
        else:
            result = actions.act(engine, settings, link.lead, link.agent, link.action)
        AGENT_ACTIONS.labels("link", link.action, result.status).inc()
        log.info(
            "link used", lead=link.lead, agent=link.agent, action=link.action, result=result.status
        )
        lead, private = load(link.lead)
        if lead is None:
            return page("There is no such lead", status=404, tone="bad")
        view, hidden = shown(lead, private, link.agent)
        title, detail = _headline(settings, link, result, view["name"] or "this lead")
        conflict = result.status in CONFLICTS
        return page(
            title,
            status=409 if conflict else 200,
            tone="no" if conflict else "ok",
            detail=detail,
            lead=view,
            hidden=hidden,
            call=lead.agent == link.agent,
            who=_name(settings, link.agent),
        )

    @r.get("/u/{token}", response_class=HTMLResponse)
    def unsubscribe_page(token: str) -> HTMLResponse:
        """Whom the link unsubscribes, and one button. Changes nothing."""
        try:
            body = campaigns.verify_unsubscribe(secret, token, utcnow())
        except tokens.BadToken:
            return page("This link is not valid", status=403, tone="bad",
                        detail="It may have been cut or changed. Open it from the email again.")
        who = body.get("m") or body.get("p") or "you"
        return page(f"Unsubscribe {who}?", tone="ok", button="Unsubscribe", color="#cf222e",
                    detail="You will get no more of these emails or texts.")

    @r.post("/u/{token}", response_class=HTMLResponse)
    def unsubscribe(token: str) -> HTMLResponse:
        """Unsubscribe for good (the button, or a mail client's RFC 8058 one-click POST)."""
        try:
            body = campaigns.verify_unsubscribe(secret, token, utcnow())
        except tokens.BadToken as exc:
            log.warning("refused an unsubscribe link", reason=exc.reason)
            return page("This link is not valid", status=403, tone="bad")
        campaigns.unsubscribe(engine, settings, int(body.get("l") or 0),
                              str(body.get("m") or "") or None, str(body.get("p") or "") or None,
                              "unsubscribe link")
        who = body.get("m") or body.get("p") or "you"
        return page(f"{who} is unsubscribed", tone="ok",
                    detail="You will get no more of these emails or texts.")

    @r.post("/hooks/{name}/inbound")
    async def inbound_text(name: str, request: Request) -> Response:
        """A text from a lead, forwarded by the SMS gateway: STOP unsubscribes its phone."""
        hook = next((w for w in settings.notify.webhooks if w.name == name), None)
        if hook is None or name != settings.sms_hook_name():
            return JSONResponse({"detail": "no such inbound endpoint"}, status_code=404)
        raw = (await request.body())[:65536]
        ctype = request.headers.get("content-type", "")
        fields: dict[str, str] = {}
        if "json" in ctype:
            try:
                data = json.loads(raw)
            except ValueError:
                return JSONResponse({"detail": "not JSON"}, status_code=400)
            if isinstance(data, dict):
                fields = {str(k): str(v) for k, v in data.items()
                          if isinstance(v, str | int | float)}
        else:
            pairs = urllib.parse.parse_qsl(raw.decode("utf-8", "replace"), max_num_fields=100)
            fields = dict(pairs)
        if not _inbound_signed(settings, hook, request, raw, fields, name):
            log.warning("refused an inbound text: bad or missing signature", webhook=name)
            return JSONResponse({"detail": "signature missing or wrong"}, status_code=403)
        sender = fields.get("From") or fields.get("from") or ""
        text = (fields.get("Body") or fields.get("text") or "")[:2000]
        if not sender:
            return JSONResponse({"detail": "no From"}, status_code=400)
        result = await asyncio.to_thread(campaigns.text_received, engine, settings, sender, text)
        log.info("inbound text", webhook=name, result=result)
        if "json" in ctype:
            return JSONResponse({"result": result})
        return Response('<?xml version="1.0" encoding="UTF-8"?><Response></Response>',
                        media_type="text/xml")

    return r


def _inbound_signed(settings: Settings, hook: WebhookConfig, request: Request, raw: bytes,
                    fields: dict[str, str], name: str) -> bool:
    """Signed with the webhook's secret (X-Leadmail-Signature), or by Twilio with its auth
    token (the webhook's password) over the public URL of this endpoint."""
    given = request.headers.get("x-leadmail-signature")
    if hook.secret and given:
        return webhook.verify(hook.secret, request.headers.get("x-leadmail-timestamp", ""),
                              raw, given)
    twilio = request.headers.get("x-twilio-signature")
    if hook.password and twilio and settings.http.base_url:
        url = f"{settings.http.base_url.rstrip('/')}/hooks/{name}/inbound"
        return tokens.twilio_signature_ok(hook.password, url, fields, twilio)
    return False
