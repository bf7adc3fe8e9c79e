"""Admin scripts: a rule may name a Python file whose `extract(mail, lead)` refines the lead.

The script gets `mail` (leadmail.scripts.view.MailView: read-only) and `lead`
(leadmail.scripts.view.LeadApi: normalizing setters). `process` is accepted as the function
name too. It runs with a time limit; an error or a timeout sends the message to quarantine
with the script's name, the reason and the traceback; other messages are unaffected.

The time limit here is a courtesy (a clear reason for a runaway Python loop): it is checked on
the script's own lines, which C code such as `time.sleep` or a regex never reaches. The hard
limit is the reader process's (leadmail.sandbox): in the daemon, scripts run there, and one
that overruns, exits or crashes is killed and its message quarantined with the reason.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from leadmail.draft import Draft
from leadmail.errors import Quarantine
from leadmail.parsers.base import Mail
from leadmail.scripts.view import LeadApi, MailView

DEFAULT_TIME_LIMIT = 2.0
_compiled: dict[tuple[str, float], Any] = {}
_lock = threading.Lock()


class ScriptTimeout(Exception):
    """The script ran past its time limit."""


def _load(path: Path) -> Any:
    """Compile a script once per modification time."""
    key = (str(path), path.stat().st_mtime)
    with _lock:
        if key not in _compiled:
            source = path.read_text()
            namespace: dict[str, Any] = {
                "__name__": f"leadmail_script_{path.stem}",
                "__file__": str(path),
            }
            exec(compile(source, str(path), "exec"), namespace)  # noqa: S102 (admin-owned code)
            func = namespace.get("extract") or namespace.get("process")
            if not callable(func):
                raise Quarantine(f"script {path.name}: defines no extract(mail, lead) function")
            _compiled[key] = func
        return _compiled[key]


def check(path: Path) -> None:
    """Compile a script and check it defines process(); raise Quarantine with the reason."""
    try:
        _load(path)
    except Quarantine:
        raise
    except Exception as exc:
        raise Quarantine(f"script {path.name}: {type(exc).__name__}: {exc}") from exc


class ScriptError(Quarantine):
    """A script failed: the reason, plus the script's traceback for the quarantine record."""

    def __init__(self, reason: str, tb: str) -> None:
        super().__init__(reason)
        self.traceback = tb


def run(
    path: Path, mail: Mail, draft: Draft, region: str = "US", time_limit: float = DEFAULT_TIME_LIMIT
) -> None:
    """Run a script's extract(mail, lead) in this thread under a time limit."""
    check(path)
    process = _load(path)
    deadline = time.monotonic() + time_limit

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        # Checked on every call and line of the script's own Python code: a runaway loop stops.
        if time.monotonic() > deadline:
            raise ScriptTimeout
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        process(MailView(mail), LeadApi(draft, region))
    except ScriptTimeout:
        raise ScriptError(
            f"script {path.name}: ran longer than {time_limit:g}s", traceback.format_exc()
        ) from None
    except Quarantine:
        raise
    except SystemExit as exc:  # a script must not end the process that runs it
        raise ScriptError(
            f"script {path.name}: called sys.exit({exc.code!r})", traceback.format_exc()
        ) from None
    except Exception as exc:
        raise ScriptError(
            f"script {path.name}: {type(exc).__name__}: {exc}", traceback.format_exc()
        ) from exc
    finally:
        sys.settrace(previous)
