"""Signing in to the web app: an emailed one-time link, or (for integrations) an API key.

    GET  /app/login           the email form (`?key=1`: the API key form)
    POST /app/login           email: a link is sent if the address is a configured person; the
                              page says the same either way. key: the read-only view cookie.
    GET  /app/login/{token}   the link: a "Sign in" button, nothing more (mail scanners open
                              links, so a GET never signs in)
    POST /app/login/{token}   consumes the link, sets the session cookie (HttpOnly,
                              SameSite=Lax, Secure on https, 30 days)
    POST /app/logout          revokes this session

Each of these forms carries a CSRF token (web.session): bound to the pre-sign-in cookie, or
to the session.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from leadmail import sessions
from leadmail.clock import now
from leadmail.followup import access, links
from leadmail.web import session

_env = Environment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
                   undefined=StrictUndefined, autoescape=select_autoescape(["html.j2"]))
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the sign-in token is in the URL: never hand it on
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
}
SENT = ("If that address belongs to someone on this leadmail, a sign-in link is on its way. "
        "It works once, for 15 minutes.")


def render(template: str, status: int = 200, cookies: dict[str, str] | None = None,
           request: Request | None = None, **context: Any) -> HTMLResponse:
    """A page of the web app (templates/app/), with its security headers."""
    context.setdefault("nav", [])
    context.setdefault("here", "")
    context.setdefault("me", None)
    context.setdefault("flash", None)
    html = _env.get_template(f"app/{template}.html.j2").render(**context)
    response = HTMLResponse(html, status_code=status, headers=HEADERS)
    for name, value in (cookies or {}).items():
        assert request is not None
        session.set_cookie(request, response, name, value, timedelta(days=1))
    return response


def router() -> APIRouter:
    """The sign-in routes (engine and settings come from app.state, see web.session)."""
    r = APIRouter(include_in_schema=False)

    def form_page(request: Request, status: int = 200, *, title: str, detail: str | None,
                  action: str, button: str, field: str | None = None, label: str = "",
                  kind: str = "email", links_: list[tuple[str, str]] | None = None
                  ) -> Response:
        cookies: dict[str, str] = {}
        csrf = session.pre_token(request, cookies)
        form = {"action": action, "csrf": csrf, "button": button, "field": field,
                "label": label, "type": kind,
                "autocomplete": "email" if kind == "email" else "off"}
        return render("message", status, cookies, request, title=title, detail=detail,
                      form=form, links=links_ or [])

    def unsigned(request: Request) -> Response | None:
        st = session.state(request)
        if not st.settings.http.secret:
            return render("message", 503, title="Sign-in needs [http] secret",
                          detail="Set [http] secret_file so sign-ins can be signed.", form=None,
                          links=[])
        return None

    @r.get("/app/login")
    def login_form(request: Request) -> Response:
        if (refused := unsigned(request)) is not None:
            return refused
        if request.query_params.get("key"):
            return form_page(request, title="Sign in with an API key",
                             detail="For integrations: the key from your administrator.",
                             action="/app/login", button="Sign in", field="key",
                             label="API key", kind="password",
                             links_=[("/app/login", "Sign in by email instead")])
        return form_page(request, title="Sign in to leadmail",
                         detail="We email you a link that signs you in.",
                         action="/app/login", button="Email me a link", field="email",
                         label="Your work email",
                         links_=[("/app/login?key=1", "Sign in with an API key")])

    @r.post("/app/login")
    async def login(request: Request, tasks: BackgroundTasks) -> Response:
        if (refused := unsigned(request)) is not None:
            return refused
        form = await session.form_of(request)
        if not session.pre_checked(request, form):
            return form_page(request, 403, title="This form has expired",
                             detail="Enter your address again.", action="/app/login",
                             button="Email me a link", field="email", label="Your work email")
        st = session.state(request)
        if "key" in form:
            return _key_sign_in(request, form["key"])
        # Never the request's Host header: a forged one would mail a victim a link to
        # someone else's server, and the token with it.
        base = st.settings.http.base_url or f"http://{st.settings.http.listen or '127.0.0.1'}"
        # After the answer is sent, so its timing says nothing about the address either.
        tasks.add_task(sessions.request_link, st.engine, st.settings,
                       form.get("email", "")[:320], base)
        return render("message", title="Check your email", detail=SENT, form=None,
                      links=[("/app/login", "Use another address")])

    def _key_sign_in(request: Request, key: str) -> Response:
        st = session.state(request)
        who = access.authenticate(st.settings, key)
        secret = st.settings.http.secret
        if who is None or not who.can_read or not secret or who.key is None:
            return form_page(request, 401, title="That key does not sign in",
                             detail="Check the key, or ask your administrator.",
                             action="/app/login", button="Try again", field="key",
                             label="API key", kind="password")
        at = now()
        token = links.view_token(secret, who.name, at + timedelta(hours=12),
                                 key_digest=who.key.digest, at=at)
        response = RedirectResponse("/app/engagement", status_code=303)
        response.set_cookie(session.VIEW_COOKIE, token, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", max_age=12 * 3600)
        return response

    @r.get("/app/login/{token}")
    def link_page(request: Request, token: str) -> Response:
        if (refused := unsigned(request)) is not None:
            return refused
        st = session.state(request)
        if not sessions.link_is_open(st.engine, token[:100]):
            return _dead_link()
        return form_page(request, title="Sign in to leadmail",
                         detail="Press the button to sign in on this device.",
                         action=f"/app/login/{token}", button="Sign in")

    @r.post("/app/login/{token}")
    async def use_link(request: Request, token: str) -> Response:
        if (refused := unsigned(request)) is not None:
            return refused
        form = await session.form_of(request)
        if not session.pre_checked(request, form):
            return form_page(request, 403, title="Press the button again",
                             detail="The page was too old.", action=f"/app/login/{token}",
                             button="Sign in")
        st = session.state(request)
        opened = sessions.use_link(st.engine, st.settings, token[:100],
                                   request.headers.get("user-agent"))
        if opened is None:
            return _dead_link()
        response = RedirectResponse("/app/pipeline", status_code=303)
        session.set_cookie(request, response, session.SESSION_COOKIE, opened.token,
                           timedelta(days=sessions.SESSION_DAYS))
        return response

    @r.post("/app/logout")
    def logout(request: Request,
               checked: session.Posted
               ) -> Response:
        me, _ = checked
        if me.session is not None:
            sessions.revoke(session.state(request).engine, session_id=me.session.id)
        response = RedirectResponse("/app/login", status_code=303)
        response.delete_cookie(session.SESSION_COOKIE, path="/")
        return response

    return r


def _dead_link() -> Response:
    return render("message", 403, title="This sign-in link does not work any more",
                  detail="Links work once, for 15 minutes. Ask for a new one.", form=None,
                  links=[("/app/login", "Email me a new link")])
