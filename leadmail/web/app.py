"""FastAPI app served by uvicorn on the daemon's own loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any, cast

import uvicorn
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from uvicorn.protocols.http.h11_impl import H11Protocol

from leadmail import __version__
from leadmail.config import HttpConfig, Settings
from leadmail.metrics import REGISTRY, DatabaseCollector
from leadmail.sources import health
from leadmail.status import counts
from leadmail.web import followup, sources
from leadmail.web.guard import BodyLimit, PublicOnly
from leadmail.web.links import router


def create_app(
    engine: Engine, intakes: Callable[[], dict[str, bool]], settings: Settings | None = None
) -> FastAPI:
    """The app; `intakes` reports each intake's state (name -> connected). With settings that
    have `[http] secret`, also the claim/accept/decline links (leadmail.web.links)."""
    app = FastAPI(title="leadmail", version=__version__)
    # 413 before reading an oversized body, on every listener and every path.
    app.add_middleware(BodyLimit, max_body=(settings.http if settings else HttpConfig()).max_body)
    if settings is not None and settings.http.secret:
        app.include_router(router(engine, settings))
    if settings is not None:  # follow-up: the Lead API, report pages, "mark done" links
        followup.mount(app, engine, settings)
        app.include_router(sources.router(engine, settings))  # /app/sources: source health
    collector = DatabaseCollector(lambda: {**counts(engine), "intakes": intakes(),
                                           "sources": health.states(engine)})
    with contextlib.suppress(ValueError):  # already registered by an earlier app in-process
        REGISTRY.register(collector)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz(response: Response) -> dict[str, Any]:
        """Readiness: the database answers and every intake is connected."""
        checks: dict[str, Any] = {}
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        for name, up in intakes().items():
            checks[name] = "ok" if up else "down"
        ready = all(v == "ok" for v in checks.values())
        response.status_code = 200 if ready else 503
        # Detail that does not make the daemon unready: lead sources that drift.
        try:
            sources: Any = health.drifting(engine)
        except Exception as exc:
            sources = f"error: {type(exc).__name__}"
        return {"ready": ready, "checks": checks, "drifting_sources": sources}

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus exposition."""
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return app


def public_app(app: FastAPI, groups: tuple[str, ...]) -> Any:
    """`app` as the public listener serves it: the paths of `groups`, 404 for the rest."""
    return PublicOnly(app, groups)


class Server(uvicorn.Server):
    """uvicorn on a loop we own: the daemon handles signals, not uvicorn."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave signal handling to the daemon."""
        yield


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the bounds it lacks for idle clients: a connection past
    `limit_concurrency` is closed at once (uvicorn would keep it until its first request), and
    one that has no request under way `timeout_keep_alive` seconds after it opened, or after
    its last response, is closed, however slowly it trickles bytes."""

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio hands a stream server's protocol an asyncio.Transport (uvicorn's annotation
        # narrows the argument; asyncio's own protocol declares the base class)
        super().connection_made(cast(asyncio.Transport, transport))
        if self.limit_concurrency is not None and len(self.connections) > self.limit_concurrency:
            transport.close()
            return
        self._arm()

    def _arm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.timeout_keep_alive, self._no_request)

    def _no_request(self) -> None:
        if (self.cycle is None or self.cycle.response_complete) and not (
                self.transport.is_closing()):
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)


def make_server(app: Any, host: str, port: int, max_connections: int = 200,
                idle_timeout: float = 5.0) -> Server:
    """A uvicorn server for the app, without its own logging setup or signal handlers; at
    most `max_connections` open connections (more get 503 and are closed)."""
    return Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                                 lifespan="off", timeout_graceful_shutdown=5,
                                 limit_concurrency=max_connections, http=GuardedH11Protocol,
                                 # uvicorn annotates it int, but only hands it to
                                 # loop.call_later, which takes fractional seconds
                                 timeout_keep_alive=cast(int, idle_timeout)))
