"""The systemd unit verifies, and the daemon speaks sd_notify (READY, WATCHDOG, STOPPING)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, Sink, free_port, write_config

pytestmark = pytest.mark.e2e


def test_unit_files_verify(tmp_path: Path) -> None:
    assert shutil.which("systemd-analyze"), "systemd-analyze is needed (Debian: systemd)"
    unit = (ROOT / "systemd" / "leadmail.service").read_text()
    # Verify refuses an ExecStart binary that does not exist: point it at this venv's.
    exe = shutil.which("leadmail") or str(Path(sys.executable).with_name("leadmail"))
    assert Path(exe).exists()
    (tmp_path / "leadmail.service").write_text(unit.replace("/usr/local/bin/leadmail", exe))
    res = subprocess.run(["systemd-analyze", "verify", "--man=no",
                          str(tmp_path / "leadmail.service")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "leadmail.service" not in res.stderr, res.stderr
    for needed in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "ExecReload=",
                   "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                   "ReadWritePaths=", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE"):
        assert needed in unit


def test_ready_watchdog_stopping_reach_notify_socket(tmp_path: Path, sink: Sink,
                                                     daemon_factory) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "notify.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    server.settimeout(30)
    port = free_port()
    cfg = write_config(tmp_path, db_url=f"sqlite:///{tmp_path / 'l.db'}", smtp_port=port,
                       relay=f"127.0.0.1:{sink.port}")
    d = daemon_factory(cfg, port)
    d.env = {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"}
    t0 = time.monotonic()
    d.start()
    seen: list[str] = []
    while "READY=1" not in " ".join(seen) or seen.count("WATCHDOG=1") < 2:
        seen.append(server.recv(1024).decode())
        assert time.monotonic() - t0 < 30
    assert any(s.startswith("READY=1") for s in seen)
    assert d.stop() == 0
    rest = []
    server.settimeout(2)
    try:
        while True:
            rest.append(server.recv(1024).decode())
    except TimeoutError:
        pass
    assert "STOPPING=1" in rest
    server.close()
