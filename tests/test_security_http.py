"""The new [http] keys fail at start naming the key; every HTTP route belongs to a public group.

The attacks themselves run against a real daemon in tests/e2e/test_security_http.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Mount, Route

from leadmail import config
from leadmail.db import make_engine, upgrade
from leadmail.web.app import create_app
from leadmail.web.guard import GROUPS, in_groups
from tests.conftest import free_port, run_cli, write_config


def _cfg(tmp_path: Path, http: str) -> Path:
    return write_config(tmp_path, db_url=f"sqlite:///{tmp_path / 'l.db'}", smtp_port=free_port(),
                        relay=f"file:{tmp_path / 'alerts'}", extra="[http]\n" + http)


@pytest.mark.parametrize(("http", "key", "why"), [
    ('public = ["links", "bogus"]', "http.public[1]", "'links', 'api', 'docs'"),
    ('public = "links"', "http.public", ""),
    ('listen = "127.0.0.1:8025"\nadmin_listen = "127.0.0.1:8025"', "http.admin_listen",
     "must differ from listen"),
    ('listen = "0.0.0.0:8025"\nadmin_listen = "127.0.0.1:8025"', "http.admin_listen",
     "must differ from listen"),
    ('admin_listen = "localhost"', "http.admin_listen", "HOST:PORT"),
    ("max_body = 10", "http.max_body", "greater than or equal to 1024"),
    ('max_body = "1MB"', "http.max_body", ""),
])
def test_bad_http_keys_stop_start_naming_the_key(tmp_path: Path, http: str, key: str,
                                                  why: str) -> None:
    cfg = _cfg(tmp_path, http)
    for command in ("check-config", "run"):
        out = run_cli(command, config=cfg, check=False)
        assert out.returncode != 0, (command, out)
        text = out.stdout + out.stderr
        assert f"config error: {key}: " in text and why in text, (command, text)


def test_the_http_keys_defaults_and_environment() -> None:
    http = config.validate({}).http
    assert http.max_body == 1024 * 1024 and http.public is None and http.admin_listen is None
    assert http.public_groups == config.HTTP_GROUPS  # one listener: everything, as before
    with_admin = config.validate({"http": {"listen": "0.0.0.0:8025",
                                           "admin_listen": "127.0.0.1:9101"}}).http
    assert with_admin.public_groups == ("links", "api", "healthz")
    assert with_admin.status_listen == "127.0.0.1:9101"
    env = {"LEADMAIL_HTTP_PUBLIC": "links, api", "LEADMAIL_HTTP_MAX_BODY": "65536",
           "LEADMAIL_HTTP_LISTEN": "0.0.0.0:8025"}
    from_env = config.validate({}, env).http
    assert from_env.public_groups == ("links", "api") and from_env.max_body == 65536
    assert from_env.status_listen is None  # readyz is not public and there is no admin listener


def test_every_route_belongs_to_a_public_group(tmp_path: Path) -> None:
    """So that `[http] public` names everything the app serves (a route outside every group
    would be on the admin listener only)."""
    upgrade(f"sqlite:///{tmp_path / 'l.db'}")
    engine = make_engine(f"sqlite:///{tmp_path / 'l.db'}")
    settings = config.validate({"http": {"secret": "0123456789abcdef0123"}})
    app = create_app(engine, lambda: {}, settings)
    def walk(routes: list[Any]) -> list[str]:
        out: list[str] = []
        for route in routes:
            if hasattr(route, "original_router"):  # an included router (FastAPI >= 0.16x)
                out += walk(route.original_router.routes)
            elif isinstance(route, Route | Mount):
                out.append(route.path)
        return out

    paths = walk(app.routes)
    assert {"/metrics", "/readyz", "/api/v1/leads", "/app/login", "/a/{token}",
            "/s/{token}", "/static", "/openapi.json", "/docs"} <= set(paths)
    for path in paths:
        assert in_groups(path, GROUPS), path
    assert not in_groups("/apix", GROUPS) and not in_groups("/metricsx", ["metrics"])
    assert in_groups("/app/leads/3", ["links"]) and not in_groups("/app/leads/3", ["api"])
    engine.dispose()
