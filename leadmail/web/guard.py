"""ASGI guards in front of the HTTP app: a request-body limit and the public listener's filter.

BodyLimit answers 413 to a body over `[http] max_body` bytes without reading it: a declared
Content-Length over the limit is refused before the app runs, and a chunked (or understated)
body is counted while it streams and cut off at the limit. uvicorn then reads no more of it
(the 413 carries `Connection: close`), so an oversized upload never sits in memory.

PublicOnly is what the public listener (`[http] listen`) serves: the groups of paths named in
`[http] public`; any other path answers 404, exactly like a path that does not exist. The admin
listener (`[http] admin_listen`) serves the app without it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

Scope = dict[str, Any]
Receive = Any
Send = Any

# What `[http] public` may name, and the paths each group is. A path belongs to a group when it
# is one of these or lies below one ("/app" covers "/app/leads/3"). Routes added later belong
# to no group until listed here, so they stay off the public listener.
GROUPS: dict[str, tuple[str, ...]] = {
    # claim/accept and "mark done" links, pages, leads' unsubscribe links
    "links": ("/a", "/s", "/u", "/app", "/static"),
    "api": ("/api", "/hooks"),  # the Lead API (/api/v1), texts from the SMS gateway
    "docs": ("/openapi.json", "/docs", "/redoc"),  # the OpenAPI document and its viewers
    "healthz": ("/healthz",),  # liveness: says "ok" and nothing else
    "readyz": ("/readyz",),  # readiness: names the database and every intake (IMAP accounts)
    "metrics": ("/metrics",),  # Prometheus
}


def in_groups(path: str, groups: Iterable[str]) -> bool:
    """True when `path` belongs to one of `groups`."""
    return any(path == p or path.startswith(p + "/") for g in groups for p in GROUPS[g])


async def _answer(send: Send, status: int, detail: str, close: bool = False) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    """Raised into the app from `receive` once the body passes the limit."""


class BodyLimit:
    """413 for request bodies over `max_body` bytes, without reading them."""

    def __init__(self, app: Any, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    def _refusal(self) -> str:
        return f"the request body is over the limit of {self.max_body} bytes ([http] max_body)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = [v for k, v in scope["headers"] if k == b"content-length"]
        if declared:
            try:
                length = int(declared[0])
            except ValueError:
                length = -1
            if length < 0 or len(set(declared)) > 1:
                await _answer(send, 400, "bad Content-Length", close=True)
                return
            if length > self.max_body:
                await _answer(send, 413, self._refusal(), close=True)
                return
        seen = 0
        over = False
        started = False

        async def counted() -> Any:
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    over = True
                    raise BodyTooLarge(self._refusal())
            return message

        async def guarded(message: Any) -> None:
            nonlocal started
            if over:
                return  # whatever the app makes of the cut-off body, the answer is our 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not over:
                raise
        if over and not started:
            await _answer(send, 413, self._refusal(), close=True)


class PublicOnly:
    """Only the paths of `groups` (GROUPS); 404 for anything else, before it is read."""

    def __init__(self, app: Any, groups: Iterable[str]) -> None:
        self.app = app
        self.groups = tuple(groups)
        unknown = [g for g in self.groups if g not in GROUPS]
        if unknown:
            raise ValueError(f"unknown public group(s): {', '.join(unknown)}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not in_groups(scope["path"], self.groups):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            else:
                await _answer(send, 404, "Not Found", close=True)
            return
        await self.app(scope, receive, send)
