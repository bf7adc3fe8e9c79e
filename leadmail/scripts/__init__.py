"""Admin scripts: a rule may name a Python file whose `process(mail, lead)` refines the lead.

The script sees the parsed `Mail` (read-only) and the `Extracted` lead (fields it may set:
first_name, last_name, email, phone, address, property_address, price, message, stage,
segment, tags, custom_fields, source). It runs with a time limit; an error or a timeout sends
the message to quarantine with the script's name and the reason.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from leadmail.errors import Quarantine
from leadmail.parsers.base import Extracted, Mail

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
            if not callable(namespace.get("process")):
                raise Quarantine(f"script {path.name}: defines no process(mail, lead) function")
            _compiled[key] = namespace["process"]
        return _compiled[key]


def check(path: Path) -> None:
    """Compile a script and check it defines process(); raise Quarantine with the reason."""
    try:
        _load(path)
    except Quarantine:
        raise
    except Exception as exc:
        raise Quarantine(f"script {path.name}: {type(exc).__name__}: {exc}") from exc


def run(path: Path, mail: Mail, lead: Extracted, time_limit: float = DEFAULT_TIME_LIMIT) -> None:
    """Run a script's process(mail, lead) in this thread under a time limit."""
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
        process(mail, lead)
    except ScriptTimeout:
        raise Quarantine(f"script {path.name}: ran longer than {time_limit:g}s") from None
    except Quarantine:
        raise
    except Exception as exc:
        raise Quarantine(f"script {path.name}: {type(exc).__name__}: {exc}") from exc
    finally:
        sys.settrace(previous)
