"""CRM's mutable key store: wrapped data keys and blind-index entries, outside the event store.

Events are immutable, so what erasure must destroy cannot live in them. The KeyStore is a small
SQL database: a SQLite file next to the event store (data_dir/crm/keys.sqlite, with
`secure_delete` on, so deleted rows are overwritten in the file), or two tables in the service's
own schema of the configured PostgreSQL database. It holds no plaintext: data keys are wrapped
by the master key, index entries are HMACs.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tillstream.settings import Settings

KeyRow = tuple[str, str, bytes]  # key id, master key id, wrapped key

_TABLES = (
    """CREATE TABLE IF NOT EXISTS {keys} (
        customer_id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL,
        master_key_id TEXT NOT NULL,
        wrapped {blob} NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS {index} (
        kind TEXT NOT NULL,
        digest TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        PRIMARY KEY (kind, digest, customer_id)
    )""",
    "CREATE INDEX IF NOT EXISTS {index_name}_by_customer ON {index} (customer_id)",
)


class KeyStore(ABC):
    """Wrapped data keys (one per customer) and blind-index entries."""

    #: Placeholder of the DB-API driver.
    mark = "?"
    keys_table = "crm_data_keys"
    index_table = "crm_blind_index"

    @staticmethod
    def open(settings: Settings, service: str = "crm") -> KeyStore:
        if settings.postgres_dsn:
            return PostgresKeyStore(settings.postgres_dsn, schema=service)
        return SQLiteKeyStore(settings.service_dir(service) / "keys.sqlite")

    @abstractmethod
    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        """A cursor inside one transaction, committed when the block succeeds."""

    def close(self) -> None:  # noqa: B027  (optional)
        pass

    def _create_tables(self, blob: str, index_name: str) -> None:
        with self._cursor() as cursor:
            for statement in _TABLES:
                cursor.execute(statement.format(
                    keys=self.keys_table, index=self.index_table, blob=blob,
                    index_name=index_name))

    def put_key_if_absent(
        self, customer_id: str, key_id: str, master_key_id: str, wrapped: bytes
    ) -> KeyRow:
        """Store this key unless the customer has one; returns the customer's stored key."""
        m = self.mark
        with self._cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {self.keys_table} (customer_id, key_id, master_key_id, wrapped) "
                f"VALUES ({m}, {m}, {m}, {m}) ON CONFLICT (customer_id) DO NOTHING",
                (customer_id, key_id, master_key_id, wrapped))
            cursor.execute(
                f"SELECT key_id, master_key_id, wrapped FROM {self.keys_table} "
                f"WHERE customer_id = {m}", (customer_id,))
            row = cursor.fetchone()
        assert row is not None
        return str(row[0]), str(row[1]), bytes(row[2])

    def get_key(self, customer_id: str) -> KeyRow | None:
        with self._cursor() as cursor:
            cursor.execute(
                f"SELECT key_id, master_key_id, wrapped FROM {self.keys_table} "
                f"WHERE customer_id = {self.mark}", (customer_id,))
            row = cursor.fetchone()
        return None if row is None else (str(row[0]), str(row[1]), bytes(row[2]))

    def replace_index(
        self, customer_id: str, entries: Sequence[tuple[str, str]], *, replace: bool = True
    ) -> None:
        """Index the customer under `entries`: instead of their old entries, or besides them."""
        m = self.mark
        with self._cursor() as cursor:
            if replace:
                cursor.execute(
                    f"DELETE FROM {self.index_table} WHERE customer_id = {m}", (customer_id,))
            for kind, digest in entries:
                cursor.execute(
                    f"INSERT INTO {self.index_table} (kind, digest, customer_id) "
                    f"VALUES ({m}, {m}, {m}) ON CONFLICT DO NOTHING",
                    (kind, digest, customer_id))

    def find(self, kind: str, digest: str) -> list[str]:
        m = self.mark
        with self._cursor() as cursor:
            cursor.execute(
                f"SELECT customer_id FROM {self.index_table} WHERE kind = {m} AND digest = {m} "
                "ORDER BY customer_id", (kind, digest))
            return [str(row[0]) for row in cursor.fetchall()]

    def forget_customer(self, customer_id: str) -> bool:
        """Delete the customer's data key and index entries together; True if a key was there."""
        m = self.mark
        with self._cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {self.index_table} WHERE customer_id = {m}", (customer_id,))
            cursor.execute(
                f"DELETE FROM {self.keys_table} WHERE customer_id = {m}", (customer_id,))
            return bool(cursor.rowcount)


class SQLiteKeyStore(KeyStore):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                   timeout=10)
        # Deleted keys are overwritten with zeros in the file, not left in free pages.
        self._db.execute("PRAGMA secure_delete = ON")
        self._create_tables("BLOB", "crm_blind_index")

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
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


class PostgresKeyStore(KeyStore):
    mark = "%s"

    def __init__(self, dsn: str, schema: str) -> None:
        import psycopg
        from psycopg import sql

        self._psycopg = psycopg
        self._dsn = dsn
        self._schema = schema
        self._lock = threading.Lock()
        self._conn: Any = None
        quoted = sql.Identifier(schema).as_string(None)
        self.keys_table = f"{quoted}.crm_data_keys"
        self.index_table = f"{quoted}.crm_blind_index"
        # UniqueViolation: another process created the schema or tables at the same moment.
        with contextlib.suppress(psycopg.errors.UniqueViolation), self._cursor() as cursor:
            cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
        with contextlib.suppress(psycopg.errors.UniqueViolation):
            self._create_tables("BYTEA", "crm_blind_index")

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = self._psycopg.connect(self._dsn, autocommit=True)
        return self._conn

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        with self._lock:
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cursor:
                yield cursor

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
