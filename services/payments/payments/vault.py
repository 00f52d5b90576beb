"""The card vault: each PAN payments must keep, encrypted with AES-256-GCM under a key id.

Events are immutable and travel the bus, so they never carry a PAN nor its ciphertext: only
the card token (a keyed HMAC of the PAN). What an operation may need later (a pre-auth
increment, an unreferenced refund) is kept here, in a small mutable table outside the event
store: a SQLite file (data_dir/payments/vault.sqlite, `secure_delete` on) or a `vault` table in
the service's own PostgreSQL schema. One row per token: (token, key_id, nonce, ciphertext,
created_at). The ciphertext is AES-256-GCM with a random 96-bit nonce and the token as
associated data, so a row's ciphertext moved under another token fails authentication.

Keys come from a keyring (TILLSTREAM_CARD_VAULT_KEYS, JSON {"key_id": "base64 key"}) and one
active key id (TILLSTREAM_CARD_VAULT_ACTIVE_KEY) for new rows. Each row names the key it is
under, so reads work with every key still in the keyring while `rotate` re-encrypts the rows,
batch by batch (one transaction each), under a new key. A rotation that stops half-way is
resumed by running it again: rows already under the new key are skipped. Once no row is under
an old key, that key can leave the keyring.

Nothing here logs or raises with a PAN in it; errors name the token and key id only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tillstream.settings import Settings
from tillstream.sidestore import SideStore

log = logging.getLogger(__name__)

CARD_VAULT_KEYS_ENV = "TILLSTREAM_CARD_VAULT_KEYS"
#: The key id of the development key (used when no keyring is configured).
DEV_KEY_ID = "dev"
NONCE_BYTES = 12
KEY_BYTES = 32
#: Rows re-encrypted per transaction by `rotate`, unless told otherwise.
DEFAULT_ROTATION_BATCH = 200

VaultRow = tuple[str, str, bytes, bytes]  # token, key id, nonce, ciphertext


class VaultError(Exception):
    """The vault cannot do what was asked (never carries card data)."""


class VaultKeyMissingError(VaultError):
    """A key id is not in the keyring."""


class VaultIntegrityError(VaultError):
    """A row failed authentication: wrong key, tampered ciphertext, or moved to another token."""


@dataclass(frozen=True)
class Keyring:
    """AES-256 keys by key id, and the one new rows are encrypted under."""

    keys: Mapping[str, bytes] = field(repr=False)
    active: str

    def __post_init__(self) -> None:
        for key_id, key in self.keys.items():
            if not key_id:
                raise VaultError("a vault key id must not be empty")
            if len(key) != KEY_BYTES:
                raise VaultError(f"vault key {key_id!r} must be {KEY_BYTES} bytes (AES-256)")
        if self.active not in self.keys:
            raise VaultKeyMissingError(
                f"the active vault key {self.active!r} is not in the keyring")

    def key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise VaultKeyMissingError(f"vault key {key_id!r} is not in the keyring") from None

    @staticmethod
    def from_settings(settings: Settings) -> Keyring:
        """The configured keyring, else one development key derived from data_dir."""
        if not settings.card_vault_keys:
            log.warning("%s is not set: the card vault uses a development key (not a secret)",
                        CARD_VAULT_KEYS_ENV)
            seed = f"tillstream-dev-card-vault-key:{settings.data_dir.resolve()}"
            return Keyring({DEV_KEY_ID: hashlib.sha256(seed.encode()).digest()},
                           settings.card_vault_active_key or DEV_KEY_ID)
        return Keyring.parse(settings.card_vault_keys, settings.card_vault_active_key)

    @staticmethod
    def parse(keys_json: str, active: str = "") -> Keyring:
        """A keyring from JSON {"key_id": "base64 key"}; `active` may be empty with one key."""
        try:
            raw = json.loads(keys_json)
        except json.JSONDecodeError:
            raise VaultError(f"{CARD_VAULT_KEYS_ENV} is not JSON") from None
        if not isinstance(raw, dict) or not raw:
            raise VaultError(f"{CARD_VAULT_KEYS_ENV} must be a non-empty JSON object")
        keys: dict[str, bytes] = {}
        for key_id, encoded in raw.items():
            if not isinstance(encoded, str):
                raise VaultError(f"vault key {key_id!r} must be a base64 string")
            try:
                keys[key_id] = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise VaultError(f"vault key {key_id!r} is not valid base64") from None
        if not active:
            if len(keys) != 1:
                raise VaultError("set the active vault key: the keyring has several keys")
            active = next(iter(keys))
        return Keyring(keys, active)


@dataclass(frozen=True)
class RotationProgress:
    """How many rows a rotation re-encrypted, and how many are still under another key."""

    rotated: int
    remaining: int


class VaultStore:
    """The vault table in a side store (SQLite file or the service's PostgreSQL schema)."""

    def __init__(self, side: SideStore) -> None:
        self.side = side
        self.mark = side.mark
        #: Row locking clause of the rotation's batch select (PostgreSQL: skip rows in flight).
        self.lock_clause = side.lock_clause
        self.table = side.table("vault")
        blob = side.blob
        side.create(
            f"""CREATE TABLE IF NOT EXISTS {self.table} (
                token TEXT PRIMARY KEY,
                key_id TEXT NOT NULL,
                nonce {blob} NOT NULL,
                ciphertext {blob} NOT NULL,
                created_at TEXT NOT NULL
            )""")

    @staticmethod
    def open(settings: Settings, service: str = "payments") -> VaultStore:
        return VaultStore(SideStore.open(settings, service, "vault.sqlite"))

    def cursor(self) -> AbstractContextManager[Any]:
        """A cursor inside one transaction, committed when the block succeeds."""
        return self.side.cursor()

    def close(self) -> None:
        self.side.close()

    def insert_if_absent(self, token: str, key_id: str, nonce: bytes, ciphertext: bytes) -> bool:
        m = self.mark
        with self.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {self.table} (token, key_id, nonce, ciphertext, created_at) "
                f"VALUES ({m}, {m}, {m}, {m}, {m}) ON CONFLICT (token) DO NOTHING",
                (token, key_id, nonce, ciphertext, datetime.now(UTC).isoformat()))
            return bool(cursor.rowcount)

    def get(self, token: str) -> VaultRow | None:
        with self.cursor() as cursor:
            cursor.execute(
                f"SELECT token, key_id, nonce, ciphertext FROM {self.table} "
                f"WHERE token = {self.mark}", (token,))
            row = cursor.fetchone()
        return None if row is None else _row(row)

    def not_under(self, cursor: Any, key_id: str, limit: int) -> list[VaultRow]:
        """Up to `limit` rows under another key than `key_id` (inside the caller's transaction)."""
        m = self.mark
        cursor.execute(
            f"SELECT token, key_id, nonce, ciphertext FROM {self.table} WHERE key_id <> {m} "
            f"ORDER BY token LIMIT {m}{self.lock_clause}", (key_id, limit))
        return [_row(row) for row in cursor.fetchall()]

    def replace(self, cursor: Any, old: VaultRow, key_id: str, nonce: bytes,
                ciphertext: bytes) -> bool:
        """Put a row under a new key, only if it is still what was read (compare and set)."""
        m = self.mark
        cursor.execute(
            f"UPDATE {self.table} SET key_id = {m}, nonce = {m}, ciphertext = {m} "
            f"WHERE token = {m} AND key_id = {m} AND nonce = {m}",
            (key_id, nonce, ciphertext, old[0], old[1], old[2]))
        return bool(cursor.rowcount)

    def count_by_key(self) -> dict[str, int]:
        with self.cursor() as cursor:
            cursor.execute(f"SELECT key_id, COUNT(*) FROM {self.table} GROUP BY key_id")
            return {str(key_id): int(count) for key_id, count in cursor.fetchall()}


def _row(row: Any) -> VaultRow:
    return str(row[0]), str(row[1]), bytes(row[2]), bytes(row[3])


class CardVault:
    """PANs by card token, sealed with AES-256-GCM under the keyring's keys."""

    def __init__(self, store: VaultStore, keyring: Keyring) -> None:
        self.store = store
        self.keyring = keyring
        self._active = keyring.active
        self._rotation_lock = threading.Lock()

    @staticmethod
    def open(settings: Settings, service: str = "payments") -> CardVault:
        return CardVault(VaultStore.open(settings, service), Keyring.from_settings(settings))

    @property
    def active_key_id(self) -> str:
        return self._active

    def put(self, token: str, pan: str) -> bool:
        """Keep the PAN under its token (sealed under the active key); a token already kept
        stays as it is (the token is a keyed hash of the PAN: same token, same PAN).
        True when a row was written."""
        if not token:
            raise VaultError("a vault entry needs a card token")
        key_id = self._active
        nonce, ciphertext = self._seal(key_id, token, pan)
        return self.store.insert_if_absent(token, key_id, nonce, ciphertext)

    def pan(self, token: str) -> str | None:
        """The PAN kept under this token, or None. Raises VaultIntegrityError when the row
        fails authentication, VaultKeyMissingError when its key left the keyring."""
        row = self.store.get(token)
        return None if row is None else self._open(row)

    def rotate(self, new_key_id: str, batch_size: int = DEFAULT_ROTATION_BATCH,
               max_batches: int | None = None) -> RotationProgress:
        """Re-encrypt every row under `new_key_id` (which becomes the active key at once, so
        rows written meanwhile are already under it), one transaction per batch.

        Rows already under the new key are skipped, so a rotation stopped half-way (a crash,
        or `max_batches`) is resumed by calling this again. Reads keep working throughout:
        each row names its key. Returns what this call re-encrypted and what is left.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.keyring.key(new_key_id)  # refuse an unknown key before touching anything
        self._active = new_key_id
        rotated = 0
        batches = 0
        with self._rotation_lock:
            while max_batches is None or batches < max_batches:
                done = self._rotate_batch(new_key_id, batch_size)
                batches += 1
                rotated += done
                if done == 0:
                    break
        remaining = sum(n for key_id, n in self.store.count_by_key().items()
                        if key_id != new_key_id)
        log.info("card vault rotation to key %r: %d rows re-encrypted, %d remaining",
                 new_key_id, rotated, remaining)
        return RotationProgress(rotated, remaining)

    def _rotate_batch(self, new_key_id: str, batch_size: int) -> int:
        done = 0
        with self.store.cursor() as cursor:
            rows = self.store.not_under(cursor, new_key_id, batch_size)
            for row in rows:
                pan = self._open(row)
                nonce, ciphertext = self._seal(new_key_id, row[0], pan)
                if self.store.replace(cursor, row, new_key_id, nonce, ciphertext):
                    done += 1
        return done

    def rows_by_key(self) -> dict[str, int]:
        """How many rows each key id seals (which keys may leave the keyring)."""
        return self.store.count_by_key()

    def close(self) -> None:
        self.store.close()

    def _seal(self, key_id: str, token: str, pan: str) -> tuple[bytes, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(self.keyring.key(key_id)).encrypt(nonce, pan.encode(), token.encode())
        return nonce, ciphertext

    def _open(self, row: VaultRow) -> str:
        token, key_id, nonce, ciphertext = row
        try:
            plain = AESGCM(self.keyring.key(key_id)).decrypt(nonce, ciphertext, token.encode())
        except InvalidTag:
            raise VaultIntegrityError(
                f"the vault entry of token {token} failed authentication under key "
                f"{key_id!r}") from None
        return plain.decode()
