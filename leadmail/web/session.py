"""Who is asking, for every page of the web app: one FastAPI dependency, and CSRF.

    current_user   Depends(current_user) -> Viewer; not signed in: 303 to /app/login
    viewer_of      the same without the redirect (None), for pages that decide themselves
    checked_form   Depends(checked_form) -> (Viewer, form): a POST's fields, after its CSRF
                   token was checked (403 without it)

A viewer is known by, in this order: the session cookie (`leadmail_session`, set by the
email sign-in, leadmail.sessions), an API key header (integrations and scripts), a `?t=`
view token from `leadmail apikey link` or the cookie it set (`leadmail_view`, read-only).

Every form of the web app carries `csrf`, a MAC of the session (tokens.csrf_token); a
script may send it as the X-CSRF-Token header instead. Forms shown before signing in are
bound to a random pre-sign-in cookie (`leadmail_pre`) instead of a session. A request with
an API key header needs no CSRF token: no browser adds that header by itself.

The app's engine and settings are in `app.state.leadmail` (set by web.followup.mount), so any
router can use these dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy.engine import Engine

from leadmail import sessions, tokens
from leadmail.clock import now
from leadmail.config import Settings
from leadmail.followup import access, links
from leadmail.followup.access import Principal
from leadmail.models import WebSession

SESSION_COOKIE = "leadmail_session"
VIEW_COOKIE = "leadmail_view"  # the read-only cookie of an API key sign-in or `?t=` link
PRE_COOKIE = "leadmail_pre"  # binds the CSRF token of forms shown before signing in
MAX_FIELDS = 50  # fields a form may have; more is refused
MAX_FIELD = 20_000  # characters a field may have (a note); longer is refused


@dataclass(frozen=True)
class State:
    """What the dependencies need of the app."""

    engine: Engine
    settings: Settings


@dataclass(frozen=True)
class Viewer:
    """Who is asking, how they signed in, and the CSRF token their forms carry."""

    who: Principal
    via: str  # session, key, view
    csrf: str = ""
    session: WebSession | None = None
    fresh_view: str | None = None  # a `?t=` token to keep as the view cookie

    @property
    def can_act(self) -> bool:
        """Sessions and API keys may change things; view links only look."""
        return self.via in ("session", "key")


def state(request: Request) -> State:
    """The app's engine and settings."""
    found: State = request.app.state.leadmail
    return found


def viewer_of(request: Request) -> Viewer | None:
    """The viewer of a request, or None."""
    st = state(request)
    settings, secret = st.settings, st.settings.http.secret or ""
    found = sessions.lookup(st.engine, settings, request.cookies.get(SESSION_COOKIE))
    if found is not None and secret:
        who, row = found
        return Viewer(who, "session", tokens.csrf_token(secret, row.digest), row)
    header = request.headers.get("x-api-key") or request.headers.get("authorization", "")
    if header:
        who_key = access.authenticate(settings, header.removeprefix("Bearer ").strip())
        return Viewer(who_key, "key") if who_key is not None else None
    if not secret:
        return None
    token = request.query_params.get("t")
    digests = {k.name: k.digest for k in settings.api_keys}
    for candidate, fresh in ((token, token), (request.cookies.get(VIEW_COOKIE), None)):
        if not candidate:
            continue
        try:  # bound to the key as it is now: a rotated key's links open nothing
            name = links.verify_view(secret, candidate, digests, now())
        except links.BadToken:
            continue
        who_view = access.by_name(settings, name)
        if who_view is not None and who_view.can_read:
            return Viewer(who_view, "view", fresh_view=fresh)
    return None


def current_user(request: Request) -> Viewer:
    """The FastAPI dependency of every signed-in page: the viewer, or a 303 to /app/login."""
    found = viewer_of(request)
    if found is None or not found.who.can_read:
        raise HTTPException(303, "sign in first", headers={"Location": "/app/login"})
    return found


async def form_of(request: Request) -> dict[str, str]:
    """A urlencoded form's fields (the first value of each); 400 when it is not one or is
    over the bounds. The body itself is bounded by [http] max_body before it is read."""
    body = await request.body()
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=False,
                          max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "not a form (or too many fields)") from None
    out = {k[:100]: v[0] for k, v in fields.items() if v}
    if any(len(v) > MAX_FIELD for v in out.values()):
        raise HTTPException(400, f"a field is over {MAX_FIELD} characters")
    return out


async def checked_form(request: Request) -> tuple[Viewer, dict[str, str]]:
    """The dependency of every action POST: the viewer (who may act) and the form, once its
    CSRF token (field `csrf` or header X-CSRF-Token) is the session's. 403 otherwise."""
    who = current_user(request)
    form = await form_of(request)
    if who.via == "key":
        return who, form
    given = form.get("csrf") or request.headers.get("x-csrf-token")
    secret = state(request).settings.http.secret or ""
    if not who.can_act or who.session is None or not tokens.csrf_ok(
            secret, who.session.digest, given):
        raise HTTPException(403, "this form's CSRF token is missing or wrong: reload the page")
    return who, form


def pre_token(request: Request, response_cookies: dict[str, str]) -> str:
    """The CSRF token of a form shown before signing in, bound to the pre-sign-in cookie
    (made now, into `response_cookies`, when the browser has none)."""
    secret = state(request).settings.http.secret or ""
    bound = request.cookies.get(PRE_COOKIE) or ""
    if not 20 <= len(bound) <= 100:
        bound = tokens.new_secret()
        response_cookies[PRE_COOKIE] = bound
    return tokens.csrf_token(secret, bound)


def pre_checked(request: Request, form: dict[str, str]) -> bool:
    """Whether a pre-sign-in form came back with the token of this browser's cookie."""
    secret = state(request).settings.http.secret or ""
    return tokens.csrf_ok(secret, request.cookies.get(PRE_COOKIE) or "", form.get("csrf"))


def set_cookie(request: Request, response: Response, name: str, value: str,
               max_age: timedelta) -> None:
    """A cookie as the web app sets them: HttpOnly, SameSite=Lax, Secure on https (the
    request's, or an https `[http] base_url`: a TLS proxy in front)."""
    base = state(request).settings.http.base_url or ""
    response.set_cookie(name, value, httponly=True, samesite="lax", path="/",
                        secure=request.url.scheme == "https" or base.startswith("https://"),
                        max_age=int(max_age.total_seconds()))


def mounted(app: Any, engine: Engine, settings: Settings) -> None:
    """Make the dependencies work on `app`."""
    app.state.leadmail = State(engine, settings)


# The dependencies as parameter types: `me: SignedIn`, `posted: Posted`.
SignedIn = Annotated[Viewer, Depends(current_user)]
Posted = Annotated[tuple[Viewer, dict[str, str]], Depends(checked_form)]
