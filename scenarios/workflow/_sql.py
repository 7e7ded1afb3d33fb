"""SQLAlchemy plumbing shared by the event log and the history: engines and keyed inserts.

SQLite files get WAL mode and a busy timeout, because several agent processes write to
the same file; any other URL (PostgreSQL...) is used as SQLAlchemy opens it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event, insert
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import IntegrityError


def make_engine(url: str, *, synchronous: str = "FULL", immediate: bool = True) -> Engine:
    """An engine for ``url``; for SQLite, the directory is created and WAL turned on.

    Args:
        url: A SQLAlchemy URL.
        synchronous: SQLite's ``synchronous`` pragma: ``FULL`` (a commit is on disk) or
            ``NORMAL`` (in WAL mode a process crash loses nothing, a power cut may lose
            the last commits).
        immediate: SQLite transactions take the write lock when they begin (writers);
            False for readers.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30.0})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        # SQLAlchemy, not the sqlite3 module, begins transactions (see _begin).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # Take the write lock up front: a transaction that reads, then writes, would
        # otherwise fail with "database is locked" (no waiting) when another process
        # wrote in between; with IMMEDIATE it waits its turn under busy_timeout.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def insert_ignore(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """Insert a row unless one with the same primary key exists; return whether it did.

    SQLite and PostgreSQL use ``ON CONFLICT DO NOTHING``; other databases try the insert
    in a savepoint and treat a key violation as "already there".
    """
    name = conn.dialect.name
    if name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return bool(conn.execute(sqlite.insert(table).values(**values)
                                 .on_conflict_do_nothing()).rowcount)
    if name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return bool(conn.execute(postgresql.insert(table).values(**values)
                                 .on_conflict_do_nothing()).rowcount)
    try:
        with conn.begin_nested():
            conn.execute(insert(table).values(**values))
        return True
    except IntegrityError:
        return False


def create_tables(engine: Engine, *tables: Table) -> None:
    """Create the tables that are missing (several processes may race to do it)."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    for attempt in range(3):
        try:
            tables[0].metadata.create_all(engine, tables=list(tables), checkfirst=True)
            return
        except (OperationalError, ProgrammingError, IntegrityError):
            if attempt == 2:
                raise


__all__ = ["create_tables", "insert_ignore", "make_engine"]
