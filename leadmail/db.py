"""Engine, sessions and migrations (Alembic, run at start and by `leadmail db upgrade`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from leadmail import perms

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine for a database URL; SQLite gets WAL, full fsync and immediate transactions.
    Errors never carry the statement's bound values (names, addresses, messages): a
    traceback in the log or in a quarantine record shows the SQL, not the lead."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:" and not path.startswith("file:"):
            db_file = Path(path.split("?", 1)[0]).expanduser()
            perms.private_dir(db_file.parent)  # 0750 when leadmail makes it
            perms.create_private(db_file)  # 0600: SQLite keeps the mode for -wal and -shm
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy issue BEGIN itself (below) instead of the driver's implicit one.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")  # 250 means on disk, even on power loss
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Writers take the write lock up front: a deferred read-then-write transaction can
            # fail with "database is locked" without waiting when two writers race. Readers
            # begin deferred, so a long read never blocks intake.
            immediate = conn.get_execution_options().get("sqlite_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5,
                         hide_parameters=True)


def alembic_config(url: str) -> AlembicConfig:
    """Alembic configuration pointing at the migrations shipped inside the package."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Create or upgrade the schema to `revision`."""
    command.upgrade(alembic_config(url), revision)


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None when never migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


# SQLite has one writer at a time. Threads of one process queue for it on a lock, woken the
# moment it is free, instead of in SQLite's busy handler, which sleeps up to 100 ms per retry:
# under load (intake beside the pipeline worker) that sleeping cut SMTP intake by ~5x.
_sqlite_writers: dict[str, threading.RLock] = {}


def _writer_lock(engine: Engine) -> AbstractContextManager[Any]:
    if engine.dialect.name != "sqlite":
        return nullcontext()
    return _sqlite_writers.setdefault(str(engine.url), threading.RLock())


def serialize_commits(session: Session) -> None:
    """Make this transaction the only commit-step transaction running, across every
    instance, until it ends. Its leads lock rows as they go (a pond's routing state, a
    person's contact, a source's health), in the order its leads come; two instances'
    batches holding such locks at once could each wait for the other (a deadlock that
    PostgreSQL breaks by failing one). PostgreSQL: a transaction-level advisory lock taken
    first. SQLite: writers are already one at a time (BEGIN IMMEDIATE)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                        {"key": "leadmail:commit-step"})


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One write transaction: commit on success, roll back on any exception."""
    with (
        _writer_lock(engine),
        Session(engine.execution_options(sqlite_immediate=True), expire_on_commit=False) as session,
    ):
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
