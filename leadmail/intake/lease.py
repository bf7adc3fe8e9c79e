"""Leases: one instance at a time watches an IMAP folder; another takes over when it expires.

Held in the database (row lock on PostgreSQL, the write lock on SQLite), renewed every third
of its time-to-live, released on a clean stop so a peer takes over at once.
"""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from leadmail.clock import utcnow
from leadmail.db import session_scope
from leadmail.liveness import worker_id
from leadmail.models import ImapLease


class Lease:
    """The lease on one (account, folder)."""

    def __init__(self, engine: Engine, account: str, folder: str, ttl: float,
                 holder: str | None = None) -> None:
        self.engine = engine
        self.account = account
        self.folder = folder
        self.ttl = ttl
        self.holder = holder or worker_id()
        self.current_holder: str | None = None
        self._renewed = 0.0

    def acquire(self) -> bool:
        """Take or renew the lease; False while another live holder has it."""
        now = utcnow()
        try:
            with session_scope(self.engine) as session:
                row = session.exec(
                    select(ImapLease).where(ImapLease.account == self.account,
                                            ImapLease.folder == self.folder).with_for_update()
                ).first()
                if row is None:
                    row = ImapLease(account=self.account, folder=self.folder, holder=self.holder,
                                    expires_at=now)
                elif row.holder != self.holder and row.expires_at > now:
                    self.current_holder = row.holder
                    return False
                elif row.holder != self.holder:
                    row.holder, row.acquired_at = self.holder, now
                row.expires_at = now + timedelta(seconds=self.ttl)
                session.add(row)
        except IntegrityError:  # a peer inserted the row first
            return False
        self.current_holder = self.holder
        self._renewed = time.monotonic()
        return True

    def renew_due(self) -> bool:
        """True when a third of the time-to-live has passed since the last renewal."""
        return time.monotonic() - self._renewed >= self.ttl / 3

    def release(self) -> None:
        """Give the lease up (clean stop): a peer can take it at once."""
        with session_scope(self.engine) as session:
            row = session.get(ImapLease, (self.account, self.folder))
            if row is not None and row.holder == self.holder:
                row.expires_at = utcnow()
                session.add(row)
