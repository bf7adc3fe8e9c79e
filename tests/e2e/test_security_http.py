"""The HTTP side under attack, against a real `leadmail run` (audit items 4 and 11, and Info).

- Oversized bodies (declared, or chunked with no length) to /app/login and the Lead API, with
  and without a key, get 413 at once and the daemon's peak memory (VmHWM) stays put.
- A request without a key gets its 401 before its body is read.
- A posted lead with any field over its bound gets 422 and nothing is stored.
- Page links (`leadmail apikey link`) and sign-in cookies die with a key rotation; lifetimes
  are capped at 90 days.
- The public listener serves only `[http] public`; metrics, readiness and docs move to
  `[http] admin_listen`.
"""

from __future__ import annotations

import json
import re
import select
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, func
from sqlmodel import select as sql_select

from leadmail.db import make_engine
from leadmail.followup import links
from leadmail.models import Message
from tests.conftest import DaemonProc, free_port, run_cli, wait_for, write_config

pytestmark = pytest.mark.e2e
SECRET = "e2e-security-secret-0123456789"
WEB_KEY = "e2e-security-web-key-0123456789"
MAX_KEY = "e2e-security-max-key-0123456789"
MAX_KEY_2 = "e2e-security-max-key-rotated-0123456789"
MB = 1024 * 1024


def _config(tmp: Path, smtp: int, http: int, admin: int | None, *, max_key: str = MAX_KEY,
            public: str | None = None, db_url: str | None = None) -> Path:
    lines = [f'listen = "127.0.0.1:{http}"', f'base_url = "http://127.0.0.1:{http}"',
             f'secret = "{SECRET}"']
    if admin is not None:
        lines.append(f'admin_listen = "127.0.0.1:{admin}"')
    if public is not None:
        lines.append(f"public = {public}")
    extra = "[http]\n" + "\n".join(lines) + f"""
[[teams]]
name = "All"
agents = ["ana@brokerage.example", "ben@brokerage.example", "cara@brokerage.example"]
managers = ["max@brokerage.example"]
[[api_keys]]
name = "web"
key = "{WEB_KEY}"
source = "Website"
[[api_keys]]
name = "max"
key = "{max_key}"
role = "manager"
user = "max@brokerage.example"
"""
    return write_config(tmp, db_url=db_url or f"sqlite:///{tmp / 'l.db'}", smtp_port=smtp,
                        relay=f"file:{tmp / 'alerts'}", extra=extra)


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


class Running:
    """A daemon with a public and an admin listener."""

    def __init__(self, tmp: Path, **kw: Any) -> None:
        self.tmp = tmp
        self.smtp, self.http = free_port(), free_port()
        self.admin: int | None = free_port() if kw.pop("admin", True) else None
        self.db_url = kw.setdefault("db_url", f"sqlite:///{tmp / 'l.db'}")
        self.config = _config(tmp, self.smtp, self.http, self.admin, **kw)
        self.daemon = DaemonProc(self.config, self.smtp, tmp / f"daemon-{time.time_ns()}.log")
        self.public = f"http://127.0.0.1:{self.http}"
        self.private = f"http://127.0.0.1:{self.admin}" if self.admin else None

    def start(self) -> Running:
        self.daemon.start()
        wait_for(lambda: _up((self.private or self.public) + "/healthz") or
                 _up(self.public + "/app/login"), timeout=15)
        return self

    def stop(self) -> int:
        code = self.daemon.stop()
        return code

    def kill(self) -> None:
        proc = self.daemon.proc
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()

    def memory(self, field: str = "VmHWM") -> int:
        """The daemon's VmHWM (peak resident set) or VmRSS, in bytes."""
        assert self.daemon.proc is not None
        for line in Path(f"/proc/{self.daemon.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"no {field} in /proc/PID/status")

    def messages(self) -> int:
        engine = make_engine(self.db_url)
        try:
            with Session(engine) as session:
                return int(session.exec(sql_select(func.count()).select_from(Message)).one())
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    r = Running(tmp_path_factory.mktemp("security")).start()
    yield r
    r.kill()


# ---------------------------------------------------------------------------------------------
# Item 4: request sizes


def stream_post(port: int, path: str, total: int, *, chunked: bool,
                headers: dict[str, str] | None = None, content_type: str = "application/json",
                timeout: float = 20.0) -> tuple[int | None, int, float]:
    """POST `total` bytes to 127.0.0.1:port, streaming them in 64 KiB pieces while watching
    for an answer; (status or None, bytes put on the wire, seconds until the answer)."""
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Type: {content_type}"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
    piece = b"a" * 65536
    framed = b"%x\r\n" % len(piece) + piece + b"\r\n" if chunked else piece
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    sock.setblocking(False)
    start, sent, pending, answer = time.monotonic(), 0, b"", b""
    try:
        while time.monotonic() - start < timeout:
            done = sent >= total and not pending
            readable, writable, _ = select.select([sock], [] if done else [sock], [], 1.0)
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                answer += data
                if b"\r\n" in answer or not data:
                    break
                continue
            if writable:
                if not pending:
                    pending = framed if sent + len(piece) < total else (
                        (b"%x\r\n" % (total - sent) + b"a" * (total - sent) + b"\r\n0\r\n\r\n")
                        if chunked else b"a" * (total - sent))
                    sent += min(len(piece), total - sent)
                try:
                    pending = pending[sock.send(pending):]
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    break  # closed on us: whatever answer came is still to be read
        else:
            return None, sent, time.monotonic() - start
        elapsed = time.monotonic() - start
        sock.setblocking(True)
        sock.settimeout(5)
        while b"\r\n" not in answer:
            try:
                data = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not data:
                break
            answer += data
    finally:
        sock.close()
    line = answer.split(b"\r\n", 1)[0].split()
    return (int(line[1]) if len(line) > 1 else None), sent, elapsed


ATTACKS = [
    ("/app/login", {}, "application/x-www-form-urlencoded"),
    ("/api/v1/leads", {}, "application/json"),
    ("/api/v1/leads", {"X-API-Key": WEB_KEY}, "application/json"),
]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(("path", "headers", "content_type"), ATTACKS,
                         ids=["login", "api-no-key", "api-with-key"])
def test_an_oversized_body_gets_413_unread(running: Running, path: str,
                                           headers: dict[str, str], content_type: str,
                                           chunked: bool) -> None:
    peak = running.memory("VmHWM")
    status, sent, seconds = stream_post(running.http, path, 300 * MB, chunked=chunked,
                                        headers=headers, content_type=content_type)
    # A declared length over the limit is refused before anything else; a keyless API post of
    # unknown length gets its 401 before a byte of the body is read.
    keyless_api = path.startswith("/api/") and not headers
    assert status == (401 if keyless_api and chunked else 413), (status, sent)
    assert seconds < 5, seconds
    # The daemon stopped reading long before 300 MB: at most what the sockets' buffers hold.
    assert sent < 64 * MB, sent
    grown = running.memory("VmHWM") - peak
    assert grown < 40 * MB, f"peak memory grew by {grown / MB:.0f} MB"
    assert running.memory("VmRSS") < 400 * MB
    assert httpx.get(running.public + "/healthz").status_code == 200  # and it still serves


def test_a_body_at_the_limit_is_read(running: Running) -> None:
    """The limit is [http] max_body (1 MiB), not less: a form just under it is read (and its
    over-long field refused), one byte over is not."""
    form = "key=" + "x" * (MB - 4)
    assert len(form) == MB
    r = httpx.post(running.public + "/app/login", content=form,
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and "over 20000 characters" in r.json()["detail"]
    r = httpx.post(running.public + "/app/login", content=form + "x",
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413 and "max_body" in r.json()["detail"]


def test_a_keyless_api_post_is_refused_before_its_body(running: Running) -> None:
    """The headers promise a body that never comes: the 401 must not wait for it."""
    for headers in ({}, {"X-API-Key": "not-a-key-0123456789abcdef"},
                    {"Authorization": "Bearer not-a-key-0123456789abcdef"}):
        with socket.create_connection(("127.0.0.1", running.http), timeout=10) as sock:
            head = ["POST /api/v1/leads HTTP/1.1", "Host: x", "Content-Type: application/json",
                    "Content-Length: 900000", *(f"{k}: {v}" for k, v in headers.items())]
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            start = time.monotonic()
            answer = sock.recv(4096)
            assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
            assert time.monotonic() - start < 5


def _lead(**fields: Any) -> dict[str, Any]:
    return {"first_name": "Bo", "last_name": "Bounds", "email": "bo@buyers.example", **fields}


OVER = {
    "first_name": _lead(first_name="x" * 201),
    "last_name": _lead(last_name="x" * 201),
    "full_name": _lead(full_name="x" * 401),
    "email": _lead(email="a" * 310 + "@example.com"),
    "phone": _lead(phone="5" * 51),
    "address": _lead(address="x" * 501),
    "property_address": _lead(property_address="x" * 501),
    "message": _lead(message="x" * 20001),
    "source": _lead(source="x" * 201),
    "stage": _lead(stage="x" * 201),
    "segment": _lead(segment="x" * 201),
    "price": _lead(price=10**12 + 1),
    "tags": _lead(tags=[f"t{i}" for i in range(51)]),
    "tags[len]": _lead(tags=["x" * 101]),
    "custom_fields": _lead(custom_fields={f"f{i}": i for i in range(51)}),
    "custom_fields[key]": _lead(custom_fields={"k" * 101: 1}),
    "custom_fields[value]": _lead(custom_fields={"notes": "x" * 2001}),
    "custom_fields[list]": _lead(custom_fields={"picks": list(range(51))}),
    "custom_fields[depth]": _lead(custom_fields={"a": {"b": {"c": 1}}}),
    "custom_fields[list-depth]": _lead(custom_fields={"a": [[1]]}),
    "custom_fields[number]": _lead(custom_fields={"n": 10**16}),
    "custom_fields[nested-value]": _lead(custom_fields={"a": {"b": "x" * 2001}}),
    # NUL anywhere (PostgreSQL cannot store it), control characters in one-line fields
    "first_name[nul]": _lead(first_name="Bo\u0000"),
    "message[nul]": _lead(message="call me\u0000"),
    "custom_fields[nul]": _lead(custom_fields={"notes": "a\u0000b"}),
    "last_name[newline]": _lead(last_name="Bounds\r\nBcc: x@y.example"),
    "tags[newline]": _lead(tags=["hot\n"]),
}


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, running: Running, tmp_path: Path) -> Iterator[Running]:
    """The module's daemon on SQLite; a daemon of its own on PostgreSQL."""
    if request.param == "sqlite":
        yield running
        return
    pg = Running(tmp_path, admin=False, db_url=request.getfixturevalue("pg_url")).start()
    yield pg
    pg.kill()


def test_a_lead_over_any_bound_gets_422_and_is_not_stored(any_db: Running) -> None:
    running = any_db
    before = running.messages()
    with httpx.Client(base_url=running.public, headers={"X-API-Key": WEB_KEY},
                      timeout=30) as web:
        for name, lead in OVER.items():
            r = web.post("/api/v1/leads", json=lead)
            assert r.status_code == 422, (name, r.status_code, r.text[:300])
            locs = {tuple(e["loc"][:2]) for e in r.json()["detail"]}
            assert ("body", name.split("[")[0]) in locs, (name, locs)
        assert running.messages() == before  # nothing stored, so nothing to quarantine
        # At every bound at once it is still a lead: the bounds leave room for real ones.
        full = _lead(first_name="x" * 200, message="m\r\n\t" * 5000, address="1 Main St",
                     tags=[f"{i:03d}" + "t" * 97 for i in range(50)],
                     custom_fields={f"{i:03d}" + "k" * 97: "v" * 2000 for i in range(49)} |
                     {"nested": {"a": list(range(50))}})
        r = web.post("/api/v1/leads", json=full)
        assert r.status_code == 201, r.text[:500]
        assert r.json()["status"] in ("lead", "review"), r.json()
    assert running.messages() == before + 1


# ---------------------------------------------------------------------------------------------
# Info: what the public listener serves


def test_the_public_listener_serves_only_links_api_and_healthz(running: Running) -> None:
    pub, adm = running.public, running.private
    assert adm is not None
    for path in ("/metrics", "/readyz", "/openapi.json", "/docs", "/redoc",
                 "/docs/oauth2-redirect", "/nothing-here"):
        r = httpx.get(pub + path)
        assert r.status_code == 404 and r.json() == {"detail": "Not Found"}, path
        assert "imap" not in r.text and "leadmail_" not in r.text
    assert httpx.get(pub + "/healthz").json() == {"status": "ok"}
    me = httpx.get(pub + "/api/v1/me", headers={"X-API-Key": MAX_KEY})
    assert me.status_code == 200 and me.json()["role"] == "manager"
    assert httpx.get(pub + "/app/login").status_code == 200
    assert httpx.get(pub + "/static/chart.umd.min.js").status_code == 200
    assert httpx.get(pub + "/a/forged.token").status_code == 403  # claim links: served, refused
    # The admin listener serves all of it.
    ready = httpx.get(adm + "/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
    assert "leadmail_messages_by_status" in httpx.get(adm + "/metrics").text
    assert "/api/v1/leads" in httpx.get(adm + "/openapi.json").json()["paths"]
    assert httpx.get(adm + "/docs").status_code == 200
    assert httpx.get(adm + "/api/v1/me", headers={"X-API-Key": MAX_KEY}).status_code == 200
    # `leadmail status` asks the admin listener.
    out = run_cli("status", "--json", config=running.config, check=False).stdout
    assert json.loads(out)["daemon"]["ready"] is True, out


def test_public_names_what_the_public_listener_serves(tmp_path: Path) -> None:
    r = Running(tmp_path, admin=False, public='["links"]').start()
    try:
        assert httpx.get(r.public + "/app/login").status_code == 200
        for path in ("/api/v1/me", "/healthz", "/metrics", "/readyz", "/openapi.json"):
            assert httpx.get(r.public + path, headers={"X-API-Key": MAX_KEY}).status_code == 404
        out = run_cli("status", "--json", config=r.config, check=False).stdout
        assert "no admin_listen" in json.loads(out)["daemon"], out
        assert r.stop() == 0
    finally:
        r.kill()


# ---------------------------------------------------------------------------------------------
# Item 11: page links and key rotation


def _link(config: Path, *extra: str) -> str:
    return run_cli("apikey", "link", "max", *extra, config=config).stdout.strip()


def test_rotating_a_key_kills_its_page_links_and_sign_ins(tmp_path: Path) -> None:
    r = Running(tmp_path, admin=False).start()
    try:
        link = _link(r.config, "--hours", "2160")  # the longest link there is: 90 days
        page = httpx.get(link, follow_redirects=False)
        assert page.status_code == 200 and "Lead engagement" in page.text
        form = httpx.get(r.public + "/app/login?key=1")  # its CSRF token and cookie
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        signed_in = httpx.post(r.public + "/app/login", data={"key": MAX_KEY,
                                                              "csrf": csrf.group(1)},
                               cookies=form.cookies, follow_redirects=False)
        assert signed_in.status_code == 303
        cookie = signed_in.cookies["leadmail_view"]
        assert httpx.get(r.public + "/app/leads", cookies={"leadmail_view": cookie},
                         follow_redirects=False).status_code == 200
        assert r.stop() == 0
        # Rotate max's key: same name, a new key.
        _config(tmp_path, r.smtp, r.http, None, max_key=MAX_KEY_2)
        r.start()
        for response in (httpx.get(link, follow_redirects=False),
                         httpx.get(r.public + "/app/leads", cookies={"leadmail_view": cookie},
                                   follow_redirects=False)):
            assert response.status_code == 303, response.text[:300]
            assert response.headers["location"] == "/app/login"
        assert httpx.get(r.public + "/app/leads", headers={"X-API-Key": MAX_KEY},
                         follow_redirects=False).status_code == 303  # the old key is gone
        fresh = httpx.get(_link(r.config), follow_redirects=False)
        assert fresh.status_code == 200 and "Lead engagement" in fresh.text
        # Links of before the fix (no key binding), and bound ones that outlive the cap, open
        # nothing either, even though the secret signed them.
        at = datetime.now(UTC)
        unbound = links.sign(SECRET, "view", {"k": "max"}, at + timedelta(hours=1))
        long_lived = links.sign(SECRET, "view", {
            "k": "max", "h": links.key_binding(_sha256(MAX_KEY_2))}, at + timedelta(days=3650))
        bound = links.sign(SECRET, "view", {
            "k": "max", "h": links.key_binding(_sha256(MAX_KEY_2))}, at + timedelta(hours=1))
        for token, want in ((unbound, 303), (long_lived, 303), (bound, 200)):
            got = httpx.get(f"{r.public}/app/engagement", params={"t": token},
                            follow_redirects=False).status_code
            assert got == want, (token, got)
        assert r.stop() == 0
    finally:
        r.kill()


def test_link_lifetimes_are_capped_at_90_days(tmp_path: Path) -> None:
    cfg = _config(tmp_path, free_port(), free_port(), None)
    for hours in ("876000", "2161", "0", "-5"):
        out = run_cli("apikey", "link", "max", "--hours", hours, config=cfg, check=False)
        assert out.returncode == 2 and out.stdout == "", (hours, out)
        assert "--hours must be 1 to 2160 (90 days)" in out.stderr, out.stderr
    assert "/app/engagement?t=" in _link(cfg, "--hours", "2160")


def _sha256(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()
