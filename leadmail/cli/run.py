"""`leadmail run`: the daemon."""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import signal

import structlog

from leadmail import config, golden, perms, pipeline
from leadmail.cli.common import connect


def add(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("run", help="run the daemon").set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    """Serve: SMTP intake, pipeline worker and outbox sender until SIGTERM."""
    # `kill -USR1` prints every thread's stack to stderr (the journal): what a daemon that
    # will not answer or stop is waiting on.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    settings, engine = connect(args)
    _warn_exposed(settings)
    rt = pipeline.Runtime.load(settings)
    for problem in golden.problems(rt):  # at start a warning: mail keeps flowing
        structlog.get_logger("leadmail.rules").warning(
            "golden sample broken; leadmail check-config says more", problem=str(problem))
    # Imported here: the daemon's web and mail servers would cost every other command the time
    # to import them.
    from leadmail.daemon import Daemon

    return asyncio.run(Daemon(settings, engine, rt).run())


def _warn_exposed(settings: config.Settings) -> None:
    """A log line for each secret file that users other than its owner and group can read."""
    for path, what in perms.exposed(settings):
        structlog.get_logger("leadmail.perms").warning(
            "file readable by others; chmod o-rwx it", file=path, holds=what)
