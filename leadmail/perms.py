"""File modes: what leadmail creates is private, and what others can read is said at start.

The database, the config leadmail init writes and its link secret are created readable by their
owner (and the group, for the config) only, in folders of mode 0750 when leadmail makes them.
Outside systemd (whose UMask=0027 does the same) nothing else would keep them private.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leadmail.config import Settings

DIR_MODE = 0o750
DB_MODE = 0o600
CONFIG_MODE = 0o640
SECRET_MODE = 0o600


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Make the folder (and missing parents) if it is missing: 0750. An existing one is left."""
    target = Path(path)
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.mkdir(mode=DIR_MODE)
        except FileExistsError:  # made meanwhile by another process
            pass
    return target


def create_private(path: str | os.PathLike[str], mode: int = DB_MODE) -> bool:
    """Create an empty file with this mode if it does not exist; True when created."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def write_private(path: str | os.PathLike[str], text: str, mode: int = SECRET_MODE) -> None:
    """Write a file that is never readable by others, not even for an instant."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)  # an existing file (init --force) keeps its old mode otherwise


def readable_by_others(path: str | os.PathLike[str]) -> bool:
    """True when users other than the owner and the group can read the file."""
    try:
        return bool(os.stat(path).st_mode & stat.S_IROTH)
    except OSError:
        return False


def exposed(settings: Settings) -> list[tuple[str, str]]:
    """(file, what) for every secret file others can read: *_file secrets, the TLS key, the
    config file when it holds secrets itself, the SQLite database."""
    out: list[tuple[str, str]] = []
    source = settings._source
    if source and settings._inline_secrets and readable_by_others(source):
        out.append((source, "config with secrets (" + ", ".join(settings._inline_secrets) + ")"))
    for key, path in settings.used_paths():
        if key in ("database.url", "smtp.tls_key") or key.endswith(("_file", "_FILE")):
            what = "database" if key == "database.url" else f"secret ({key})"
            if readable_by_others(path):
                out.append((path, what))
    return out
