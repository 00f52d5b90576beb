"""Side stores: a small mutable SQL store beside a service's event store.

Events are immutable; some things must be changed or destroyed in place — crm's wrapped
customer keys (erasure deletes them), payments' card vault (rotation re-encrypts it). A side
store is a SQLite file in the service's data directory, or tables in the service's PostgreSQL
schema, with one transaction per `cursor()` block. Deleted rows are overwritten on SQLite
(secure_delete), so a destroyed key does not linger in free pages.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tillstream.settings import Settings


class SideStore(ABC):
    """One connection, one transaction per `cursor()` block, safe to share between threads."""

    #: The driver's parameter placeholder.
    mark = "?"
    #: The column type of binary values.
    blob = "BLOB"
    #: Row-locking clause for a batch that others may work on at the same time.
    lock_clause = ""
    #: Errors a concurrent creator of the same table may cause (and that can be ignored).
    create_races: tuple[type[BaseException], ...] = ()

    @staticmethod
    def open(settings: Settings, service: str, filename: str) -> SideStore:
        if settings.postgres_dsn:
            return PostgresSideStore(settings.postgres_dsn, schema=service)
        return SQLiteSideStore(settings.service_dir(service) / filename)

    def table(self, name: str) -> str:
        """The table's name as SQL (schema-qualified where there is a schema)."""
        return name

    def create(self, *statements: str) -> None:
        """Run CREATE ... IF NOT EXISTS statements, tolerating a concurrent creator."""
        with contextlib.suppress(*self.create_races), self.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)

    @abstractmethod
    @contextmanager
    def cursor(self) -> Iterator[Any]:
        """A cursor inside one transaction, committed when the block succeeds."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""


class SQLiteSideStore(SideStore):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                   timeout=10)
        # Deleted or rewritten rows are overwritten in the file, not left in free pages.
        self._db.execute("PRAGMA secure_delete = ON")

    @contextmanager
    def cursor(self) -> Iterator[Any]:
        with self._lock:
            cursor = self._db.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()


class PostgresSideStore(SideStore):
    mark = "%s"
    blob = "BYTEA"
    lock_clause = " FOR UPDATE SKIP LOCKED"

    def __init__(self, dsn: str, schema: str) -> None:
        import psycopg
        from psycopg import sql

        self._psycopg = psycopg
        self._dsn = dsn
        self._lock = threading.Lock()
        self._conn: Any = None
        self._schema = sql.Identifier(schema).as_string(None)
        # UniqueViolation: another process created the schema or a table at the same moment.
        self.create_races = (psycopg.errors.UniqueViolation,)
        self.create(f"CREATE SCHEMA IF NOT EXISTS {self._schema}")

    def table(self, name: str) -> str:
        return f"{self._schema}.{name}"

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = self._psycopg.connect(self._dsn, autocommit=True)
        return self._conn

    @contextmanager
    def cursor(self) -> Iterator[Any]:
        with self._lock:
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cursor:
                yield cursor

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
