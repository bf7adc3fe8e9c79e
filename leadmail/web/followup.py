"""Mount follow-up on the daemon's app: the Lead API, the web app, the report pages and their
static files."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine

from leadmail.config import Settings
from leadmail.web import api, pages, session, signin, workspace


def mount(app: FastAPI, engine: Engine, settings: Settings) -> None:
    """Add /api/v1, /app, /s and /static to `app`."""
    session.mounted(app, engine, settings)
    app.include_router(api.router(engine, settings))
    app.include_router(signin.router())
    app.include_router(workspace.router())
    app.include_router(pages.router(engine, settings))
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
