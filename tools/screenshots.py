#!/usr/bin/env python3
"""Screenshots of the follow-up pages for docs/img/, taken with headless Chromium.

    python tools/screenshots.py            # installs Debian's chromium if it is missing

Builds the test world (tests/world.py: 3 agents, 2 teams, 200 leads over four simulated
weeks) in a temporary SQLite database, serves the daemon's HTTP app on a free loopback port
with the world's clock, and has Chromium render /app/engagement and /app/speed (and the
other report pages) to PNG. The pages are opened with a signed view link, as `leadmail apikey
link` makes them.

Then the web app's own pages, the pipeline board, a lead's page and the agenda, as the agent
Ana sees them (a session opened for her, as the emailed link would), at phone width (360 px)
and desktop width (1280 px): docs/img/app-{board,lead,agenda}-{phone,desktop}.png, taken with
Playwright driving the same Chromium.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGES = {"engagement": (1280, 1400), "speed": (1280, 1250), "sources": (1280, 1100),
         "forecast": (1280, 900)}


def chromium() -> str:
    """The chromium binary; installed from Debian when missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True)
    found = shutil.which("chromium")
    if not found:
        raise SystemExit("chromium is not installed and could not be installed")
    return found


APP_PAGES = {"board": "/app/pipeline", "lead": "/app/leads/{lead}", "agenda": "/app/agenda"}
WIDTHS = {"phone": (360, 740), "desktop": (1280, 900)}


def app_pages(browser: str, w: Any, base: str, out: Path) -> None:
    """The web app's pages as Ana sees them, at phone and desktop width."""
    from playwright.sync_api import sync_playwright
    from sqlmodel import Session, col, select

    from leadmail import sessions
    from leadmail.models import Activity, Lead
    from tests.world import email

    engine, settings = w.engine, w.settings
    ana = email("ana")
    opened = sessions.open_session(engine, settings, ana, "tools/screenshots.py")
    with Session(engine) as session:  # her lead with the longest timeline
        busiest = session.exec(
            select(Activity.lead_id).join(Lead, col(Lead.id) == col(Activity.lead_id))
            .where(Lead.agent == ana).group_by(col(Activity.lead_id))
            .order_by(col(Activity.lead_id).desc())).first()
    host = base.split("//", 1)[1].split(":")[0]
    with sync_playwright() as p:
        chrome = p.chromium.launch(executable_path=browser, headless=True, args=["--no-sandbox"])
        for label, (width, height) in WIDTHS.items():
            ctx = chrome.new_context(viewport={"width": width, "height": height},
                                     device_scale_factor=1)
            ctx.add_cookies([{"name": "leadmail_session", "value": opened.token,
                              "domain": host, "path": "/", "httpOnly": True,
                              "sameSite": "Lax"}])
            page = ctx.new_page()
            for name, path in APP_PAGES.items():
                page.goto(base + path.format(lead=busiest))
                target = out / f"app-{name}-{label}.png"
                page.screenshot(path=str(target))
                print(f"wrote {target.relative_to(ROOT)}")
            ctx.close()
        chrome.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    from leadmail.followup import links
    from leadmail.clock import use
    from leadmail.web.app import create_app, make_server
    from tests import world as worlds

    browser = chromium()
    out = ROOT / "docs" / "img"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        w = worlds.build(f"sqlite:///{tmp}/world.db", Path(tmp))
        port = free_port()
        server = make_server(create_app(w.engine, dict, w.settings), "127.0.0.1", port)
        with use(w.clock):
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            while not server.started:
                time.sleep(0.05)
            secret = w.settings.http.secret
            assert secret
            admin = next(k for k in w.settings.api_keys if k.name == "admin")
            token = links.view_token(secret, "admin", w.clock.now() + timedelta(hours=1),
                                     key_digest=admin.digest, at=w.clock.now())
            for page, (width, height) in PAGES.items():
                target = out / f"{page}.png"
                subprocess.run([
                    browser, "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-extensions",
                    "--no-first-run", "--hide-scrollbars", "--force-device-scale-factor=1",
                    f"--window-size={width},{height}", "--virtual-time-budget=5000",
                    f"--user-data-dir={tmp}/chromium", f"--screenshot={target}",
                    f"http://127.0.0.1:{port}/app/{page}?t={token}",
                ], check=True, capture_output=True, timeout=120)
                print(f"wrote {target.relative_to(ROOT)}")
            app_pages(browser, w, f"http://127.0.0.1:{port}", out)
            server.should_exit = True
            thread.join(timeout=10)
        w.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
