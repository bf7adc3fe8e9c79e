"""Webhook receivers for tests: real HTTP servers on loopback that record what reaches them.

    HookServer()                      answers 200
    HookServer(trickle=1.0)           answers one byte a second, status line included, and
                                      notes when the client hung up (`cut_at`)
    HookServer(redirect="http://…")   answers 302 (or `status`) with that Location
    HookServer(delay=0.3)             answers 200 after a pause
"""

from __future__ import annotations

import select
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TRICKLED = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 40\r\n\r\n" + b"." * 40


class HookServer:
    """Keeps every request: method, path, headers, body, `at` (monotonic), `cut_at`."""

    def __init__(
        self,
        *,
        trickle: float | None = None,
        redirect: str | None = None,
        status: int = 200,
        delay: float = 0.0,
    ) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.closing = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                outer._handle(self, trickle, redirect, status, delay)

            do_GET = do_POST  # a followed redirect may come as a GET

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _handle(
        self,
        h: BaseHTTPRequestHandler,
        trickle: float | None,
        redirect: str | None,
        status: int,
        delay: float,
    ) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        record: dict[str, Any] = {
            "method": h.command,
            "path": h.path,
            "headers": dict(h.headers),
            "body": body,
            "at": time.monotonic(),
            "cut_at": None,
        }
        with self.lock:
            self.requests.append(record)
        if trickle is not None:
            self._trickle(h, record, trickle)
            return
        if delay:
            time.sleep(delay)
        if redirect is not None:
            h.send_response(302 if status == 200 else status)
            h.send_header("Location", redirect)
        else:
            h.send_response(status)
        h.send_header("Content-Length", "2")
        h.end_headers()
        h.wfile.write(b"{}")

    def _trickle(self, h: BaseHTTPRequestHandler, record: dict[str, Any], every: float) -> None:
        """One byte per `every` seconds; stop when the client closes (noted) or at close()."""
        h.close_connection = True
        sock = h.connection
        for byte in TRICKLED:
            if self.closing.is_set():
                return
            try:
                sock.sendall(bytes([byte]))
                readable, _, _ = select.select([sock], [], [], every)
                if readable and not sock.recv(1):
                    record["cut_at"] = time.monotonic()
                    return
            except OSError:  # reset by the client
                record["cut_at"] = time.monotonic()
                return

    def on(self, path: str) -> list[dict[str, Any]]:
        """Requests to one path."""
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()
