"""CRM's mutable key store: wrapped data keys and blind-index entries, outside the event store.

Events are immutable, so what erasure must destroy cannot live in them. The KeyStore is a small
SQL database: a SQLite file next to the event store (data_dir/crm/keys.sqlite, with
`secure_delete` on, so deleted rows are overwritten in the file), or two tables in the service's
own schema of the configured PostgreSQL database. It holds no plaintext: data keys are wrapped
by the master key, index entries are HMACs.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from tillstream.settings import Settings
from tillstream.sidestore import SideStore

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


class KeyStore:
    """Wrapped data keys (one per customer) and blind-index entries, in a side store."""

    def __init__(self, side: SideStore) -> None:
        self.side = side
        #: Placeholder of the DB-API driver.
        self.mark = side.mark
        self.keys_table = side.table("crm_data_keys")
        self.index_table = side.table("crm_blind_index")
        side.create(*(statement.format(
            keys=self.keys_table, index=self.index_table, blob=side.blob,
            index_name="crm_blind_index") for statement in _TABLES))

    @staticmethod
    def open(settings: Settings, service: str = "crm") -> KeyStore:
        return KeyStore(SideStore.open(settings, service, "keys.sqlite"))

    def _cursor(self) -> AbstractContextManager[Any]:
        return self.side.cursor()

    def close(self) -> None:
        self.side.close()

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
