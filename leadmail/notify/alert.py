"""What an alert says: the lead (or what may be shown of it), what the agent can do, the links.

One view serves every channel: email templates, webhook JSON, Slack text, text messages.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from leadmail import leadfields
from leadmail.clock import aware, utcnow
from leadmail.config import AgentConfig, HiddenOfferConfig, Settings
from leadmail.models import Lead, Offer, display_name
from leadmail.notify import links
from leadmail.statuses import OfferStatus

# What a hidden offer shows: an allow-list, so a field added to the view later stays hidden
# until it is put here. custom_fields and tags only as [notify.hidden_offer] allows.
SHOWN_WHEN_HIDDEN = (
    "id", "source", "rule", "property_address", "price", "stage", "segment", "origin"
)


# The lead's fields the view shows (leadmail.leadfields), in the order it has always had them
# (webhooks send it as JSON): id, source, rule, then these (source keeps its place), then name.
_VIEW_FIELDS = leadfields.names("shown", last=("origin", "tags", "custom_fields"))


def lead_view(
    lead: Lead, hidden: bool = False, allow: HiddenOfferConfig | None = None
) -> dict[str, Any]:
    """The lead as templates and webhooks see it. `hidden` keeps only SHOWN_WHEN_HIDDEN (the
    rest None), and of custom_fields and tags only what `allow` names."""
    view: dict[str, Any] = {"id": lead.id, "source": lead.source, "rule": lead.rule}
    view.update({name: getattr(lead, leadfields.attr(name)) for name in _VIEW_FIELDS})
    view.update(tags=list(lead.tags), custom_fields=dict(lead.custom_fields),
                name=display_name(lead))
    if hidden:
        allow = allow or HiddenOfferConfig()
        fields = set(allow.custom_fields)
        tags = {t.casefold() for t in allow.tags}
        view = {k: (v if k in SHOWN_WHEN_HIDDEN else None) for k, v in view.items()}
        view["tags"] = [t for t in lead.tags if str(t).casefold() in tags]
        view["custom_fields"] = {k: v for k, v in lead.custom_fields.items() if k in fields}
    return view


def agent_view(agent: AgentConfig) -> dict[str, Any]:
    """The recipient as templates and webhooks see them."""
    return {"name": agent.name, "email": agent.email, "phone": agent.phone}


def _latest_offer(session: Session, lead_id: int, agent: str, kind: str) -> Offer | None:
    return session.exec(
        select(Offer)
        .where(
            Offer.lead_id == lead_id,
            Offer.agent == agent,
            Offer.kind == kind,
            Offer.status == OfferStatus.OPEN,
        )
        .order_by(col(Offer.id).desc())
    ).first()



def compose(
    session: Session,
    settings: Settings,
    lead: Lead,
    agent: AgentConfig,
    context: dict[str, Any],
) -> dict[str, Any]:
    """The template context of one alert: routing's context plus the view, kind and links."""
    assert lead.id is not None
    decision = context.get("decision")
    offer: Offer | None = context.get("offer")
    if offer is not None and offer.kind == "pick":
        kind = "pick"  # the manager is asked to assign it
    elif offer is not None:
        kind = "offer"  # first to claim (or claim and the manager picks)
    else:
        kind = "assignment"
        offer = (context["accept_offer"] if "accept_offer" in context
                 else _latest_offer(session, lead.id, agent.email, "accept"))
    route = getattr(decision, "route", None)
    hidden = kind == "offer" and bool(route is not None and route.hide_contact)
    now = utcnow()
    default_expiry = now + timedelta(seconds=settings.http.link_ttl)
    expires = aware(offer.expires_at) if offer is not None else None
    link_expiry = min(expires, default_expiry) if expires else default_expiry

    urls: dict[str, Any] = {"claim": None, "accept": None, "decline": None, "assign": []}
    http = settings.http
    if http.base_url and http.secret:
        base, secret = http.base_url, http.secret

        def make(action: str, target: str | None = None) -> str:
            link = links.Link(
                lead.id or 0,
                agent.email,
                action,
                link_expiry,
                offer.id if offer is not None else None,
                target,
            )
            return links.url(base, secret, link)

        if kind == "offer":
            urls.update(claim=make("claim"), decline=make("decline"))
        elif kind == "assignment":
            urls.update(accept=make("accept"), decline=make("decline"))
        else:
            pond = getattr(decision, "pond", None)
            named = (offer.data or {}).get("claimants") if offer is not None else None
            choices = [a for a in (settings.find_agent(e) for e in named or []) if a] or [
                a for a in settings.agents if a.active and (pond is None or pond in a.ponds)
            ]
            urls["assign"] = [{**agent_view(a), "url": make("assign", a.email)} for a in choices]
    reply_word = {"offer": "CLAIM", "assignment": "ACCEPT"}.get(kind)
    view = lead_view(lead, hidden, settings.notify.hidden_offer)
    return {
        **context,
        "offer": context.get("offer"),
        "decision": decision,
        "lead": view,
        "lead_name": view["name"] or f"a {lead.source or 'new'} lead",
        "agent": agent,
        "kind": kind,
        "hidden": hidden,
        "links": urls,
        "expires_at": expires.strftime("%Y-%m-%d %H:%M UTC") if expires else None,
        "reply_word": reply_word,
        "strategy": getattr(decision, "strategy", None),
        "rule": getattr(decision, "rule", None),
        "reason": getattr(decision, "reason", None),
    }
