"""Signing in to the web app by email: one-time links, and the sessions they open.

    request_link   a configured person asked at /app/login: a link valid LINK_MINUTES is
                   queued in the outbox (sent through the alert relay); nobody else gets one,
                   and the page never says which happened
    use_link       the POST behind the link's "Sign in" button: the link's row is consumed
                   (one UPDATE, so two POSTs of one link open one session) and a session opened
    lookup         the session a cookie names, if it is neither expired nor revoked
    listing, revoke  `leadmail sessions list|revoke`

Only digests of the link and cookie tokens are stored (tokens.secret_digest); the person's
role is worked out from the config at each request (access.for_email), never stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from sqlalchemy import func, update
from sqlalchemy.engine import CursorResult, Engine
from sqlmodel import Session, col, select

from leadmail import tokens
from leadmail.clock import aware, now
from leadmail.config import AgentConfig, Settings
from leadmail.db import session_scope
from leadmail.followup.access import Principal, for_email
from leadmail.models import LoginLink, WebSession
from leadmail.notify import render
from leadmail.notify.outbox import enqueue_email

log = structlog.get_logger("leadmail.sessions")
LINK_MINUTES = 15  # a sign-in link works this long, once
SESSION_DAYS = 30  # a session lasts this long (the cookie's Max-Age too)
LINKS_PER_WINDOW = 5  # at most this many links per address per LINK_MINUTES: more are dropped
SEEN_EVERY = timedelta(minutes=5)  # last_seen_at is written at most this often per session


@dataclass(frozen=True)
class Opened:
    """A session just opened: the cookie's token (shown once) and its row."""

    token: str
    session: WebSession


def request_link(engine: Engine, settings: Settings, email: str, base_url: str) -> bool:
    """Queue a sign-in link for `email` if it is a configured person (and has not asked too
    often); whether one was queued. The caller answers the same page either way."""
    who = for_email(settings, email)
    if who is None or who.user is None:
        log.info("sign-in asked for an unknown address")
        return False
    at = now()
    token = tokens.new_secret()
    with session_scope(engine) as session:
        recent = session.exec(
            select(func.count()).select_from(LoginLink).where(
                LoginLink.email == who.user,
                col(LoginLink.created_at) > at - timedelta(minutes=LINK_MINUTES))).one()
        if recent >= LINKS_PER_WINDOW:
            log.warning("sign-in links: too many asked", email=who.user)
            return False
        link = LoginLink(digest=tokens.secret_digest(token), email=who.user, created_at=at,
                         expires_at=at + timedelta(minutes=LINK_MINUTES))
        session.add(link)
        session.flush()
        agent = settings.find_agent(who.user)
        recipient = agent or AgentConfig(name=who.user, email=who.user)
        context = {"name": recipient.name, "minutes": LINK_MINUTES,
                   "url": f"{base_url.rstrip('/')}/app/login/{token}"}
        rendered = render.render("login", context, settings.notify.templates,
                                 parts=("subject", "text", "html"))
        enqueue_email(session, settings, recipient, rendered, f"login-{link.id}")
    log.info("sign-in link queued", email=who.user)
    return True


def link_is_open(engine: Engine, token: str) -> bool:
    """Whether the link would sign in now (the GET page asks; nothing changes)."""
    with Session(engine) as session:
        link = session.exec(select(LoginLink).where(
            LoginLink.digest == tokens.secret_digest(token))).first()
        return (link is not None and link.used_at is None
                and aware(link.expires_at) > now())


def use_link(engine: Engine, settings: Settings, token: str,
             user_agent: str | None = None) -> Opened | None:
    """Consume the link and open a session for its person; None when the link is unknown,
    used, expired, or its address is no longer a configured person."""
    at = now()
    digest = tokens.secret_digest(token)
    with session_scope(engine) as session:
        taken = session.execute(
            update(LoginLink).where(col(LoginLink.digest) == digest,
                                    col(LoginLink.used_at).is_(None),
                                    col(LoginLink.expires_at) > at).values(used_at=at))
        if cast(CursorResult[Any], taken).rowcount != 1:
            return None
        email = session.exec(select(LoginLink.email).where(LoginLink.digest == digest)).one()
        if for_email(settings, email) is None:
            return None
        opened = _open(session, email, at, user_agent)
    log.info("signed in", email=email, session=opened.session.id)
    return opened


def open_session(engine: Engine, settings: Settings, email: str,
                 user_agent: str | None = None) -> Opened:
    """A session for a configured person without a link (tools/screenshots.py); ValueError
    for any other address."""
    who = for_email(settings, email)
    if who is None or who.user is None:
        raise ValueError(f"{email} is not a configured agent, manager or admin")
    with session_scope(engine) as session:
        return _open(session, who.user, now(), user_agent)


def _open(session: Session, email: str, at: datetime, user_agent: str | None) -> Opened:
    cookie = tokens.new_secret()
    row = WebSession(digest=tokens.secret_digest(cookie), email=email, created_at=at,
                     expires_at=at + timedelta(days=SESSION_DAYS), last_seen_at=at,
                     user_agent=(user_agent or "")[:200] or None)
    session.add(row)
    session.flush()
    session.refresh(row)
    return Opened(cookie, row)


def lookup(engine: Engine, settings: Settings, cookie: str | None
           ) -> tuple[Principal, WebSession] | None:
    """The person and session of a session cookie, if it is live and they are still
    configured."""
    if not cookie or len(cookie) > 100:
        return None
    at = now()
    with Session(engine) as session:
        row = session.exec(select(WebSession).where(
            WebSession.digest == tokens.secret_digest(cookie))).first()
    if row is None or row.revoked_at is not None or aware(row.expires_at) <= at:
        return None
    who = for_email(settings, row.email)
    if who is None:
        return None
    if row.last_seen_at is None or at - aware(row.last_seen_at) > SEEN_EVERY:
        with session_scope(engine) as session:
            session.execute(update(WebSession).where(col(WebSession.id) == row.id)
                            .values(last_seen_at=at))
    return who, row


def listing(engine: Engine, *, email: str | None = None, live_only: bool = True
            ) -> list[WebSession]:
    """Sessions, newest first (live ones unless live_only is False)."""
    query = select(WebSession).order_by(col(WebSession.id).desc())
    if email:
        query = query.where(WebSession.email == email.strip().lower())
    if live_only:
        query = query.where(col(WebSession.revoked_at).is_(None),
                            col(WebSession.expires_at) > now())
    with Session(engine) as session:
        return list(session.exec(query).all())


def revoke(engine: Engine, *, session_id: int | None = None, email: str | None = None,
           at: datetime | None = None) -> int:
    """Revoke one session, or every live session of an address; how many were revoked."""
    if session_id is None and not email:
        raise ValueError("name a session id or --email")
    query = update(WebSession).where(col(WebSession.revoked_at).is_(None))
    if session_id is not None:
        query = query.where(col(WebSession.id) == session_id)
    if email:
        query = query.where(col(WebSession.email) == email.strip().lower())
    with session_scope(engine) as session:
        result = session.execute(query.values(revoked_at=at or now()))
        count = int(cast(CursorResult[Any], result).rowcount)
    log.info("sessions revoked", count=count, session=session_id, email=email)
    return count
