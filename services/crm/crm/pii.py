"""Envelope encryption of customers' personal data, and the blind index for lookups.

- Each customer has a random 256-bit data key. Personal data (name, email, phone) is sealed
  with AES-256-GCM under it; the associated data binds a ciphertext to its customer and field,
  so one cannot be moved to another customer or field unnoticed.
- A data key is stored only wrapped (AES-256-GCM) by the master key, in the KeyStore: a
  mutable table outside the immutable event store. Erasing a customer deletes that row
  (crypto-shredding): the ciphertexts stay in the events but nobody can open them again.
- Lookups by phone or email go through a blind index: HMAC-SHA256, under a separate index key,
  of the normalized value. The index lives in the KeyStore too (never in events), and its
  entries are deleted on erasure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
from dataclasses import dataclass
from uuid import UUID, uuid4

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crm.keys import KeyStore
from tillstream.settings import Settings

log = logging.getLogger(__name__)

SEALED_PREFIX = "v1."
_NONCE = 12


class PiiUnavailableError(Exception):
    """The customer's data key is gone (erased) or cannot be unwrapped."""


@dataclass(frozen=True)
class DataKey:
    key_id: str
    key: bytes


def _decode_key(configured: str, name: str) -> bytes:
    try:
        raw = base64.b64decode(configured, validate=True)
    except ValueError:
        raw = b""
    if len(raw) == 32:
        return raw
    if name == "index" and len(configured.encode()) >= 32:  # a long passphrase will do
        return configured.encode()
    raise ValueError(f"the CRM {name} key must be 32 bytes, base64-encoded")


def _dev_key(settings: Settings, label: str, env: str) -> bytes:
    log.warning("%s is not set: CRM personal data uses a development key (not a secret)", env)
    seed = f"tillstream-dev-crm-{label}-key:{settings.data_dir.resolve()}"
    return hashlib.sha256(seed.encode()).digest()


def master_key(settings: Settings) -> bytes:
    """TILLSTREAM_CRM_MASTER_KEY (base64 of 32 bytes), else a development key from data_dir."""
    if settings.crm_master_key:
        return _decode_key(settings.crm_master_key, "master")
    return _dev_key(settings, "master", "TILLSTREAM_CRM_MASTER_KEY")


def index_key(settings: Settings) -> bytes:
    """TILLSTREAM_CRM_INDEX_KEY, else a development key from data_dir."""
    if settings.crm_index_key:
        return _decode_key(settings.crm_index_key, "index")
    return _dev_key(settings, "index", "TILLSTREAM_CRM_INDEX_KEY")


def master_key_id(key: bytes) -> str:
    """A public name for a master key (which one wrapped a data key), not revealing it."""
    return hmac.new(key, b"tillstream-crm-master-key-id", hashlib.sha256).hexdigest()[:16]


class PiiVault:
    """Data keys (wrapped in the KeyStore), sealing and opening of fields, the blind index."""

    def __init__(self, store: KeyStore, master: bytes, index: bytes) -> None:
        if len(master) != 32:
            raise ValueError("the master key must be 32 bytes")
        if len(index) < 32:
            raise ValueError("the index key must be at least 32 bytes")
        if hmac.compare_digest(master, index):
            raise ValueError("the master key and the index key must differ")
        self.store = store
        self._master = AESGCM(master)
        self._master_id = master_key_id(master)
        self._index = index

    @classmethod
    def from_settings(cls, settings: Settings, service: str = "crm") -> PiiVault:
        return cls(KeyStore.open(settings, service), master_key(settings), index_key(settings))

    def close(self) -> None:
        self.store.close()

    # Data keys -------------------------------------------------------------------------------

    def data_key_for(self, customer_id: UUID) -> DataKey:
        """The customer's data key, created (and stored wrapped) when it has none yet."""
        key = AESGCM.generate_key(bit_length=256)
        key_id = str(uuid4())
        nonce = os.urandom(_NONCE)
        wrapped = nonce + self._master.encrypt(nonce, key, self._wrap_aad(customer_id, key_id))
        stored_id, stored_master, stored_wrapped = self.store.put_key_if_absent(
            str(customer_id), key_id, self._master_id, wrapped
        )
        if stored_id == key_id:
            return DataKey(key_id, key)
        return DataKey(stored_id, self._unwrap(customer_id, stored_id, stored_master,
                                               stored_wrapped))

    def data_key(self, customer_id: UUID, key_id: str) -> DataKey:
        """The customer's data key; PiiUnavailableError when destroyed (erased)."""
        row = self.store.get_key(str(customer_id))
        if row is None or row[0] != key_id:
            raise PiiUnavailableError(f"no data key {key_id!r} for customer {customer_id}")
        return DataKey(key_id, self._unwrap(customer_id, *row))

    def _unwrap(self, customer_id: UUID, key_id: str, master_id: str, wrapped: bytes) -> bytes:
        if master_id != self._master_id:
            raise PiiUnavailableError(f"data key {key_id} is wrapped by another master key")
        try:
            return self._master.decrypt(
                wrapped[:_NONCE], wrapped[_NONCE:], self._wrap_aad(customer_id, key_id))
        except InvalidTag as exc:
            raise PiiUnavailableError(f"data key {key_id} does not unwrap") from exc

    @staticmethod
    def _wrap_aad(customer_id: UUID, key_id: str) -> bytes:
        return f"tillstream-crm-dek:{customer_id}:{key_id}".encode()

    # Sealing ---------------------------------------------------------------------------------

    @staticmethod
    def seal(key: DataKey, customer_id: UUID, field: str, value: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = nonce + AESGCM(key.key).encrypt(
            nonce, value.encode(), PiiVault._aad(customer_id, field))
        return SEALED_PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii")

    @staticmethod
    def open(key: DataKey, customer_id: UUID, field: str, sealed: str) -> str:
        if not sealed.startswith(SEALED_PREFIX):
            raise PiiUnavailableError(f"{field} is not a sealed value")
        raw = base64.urlsafe_b64decode(sealed[len(SEALED_PREFIX):])
        try:
            plain = AESGCM(key.key).decrypt(
                raw[:_NONCE], raw[_NONCE:], PiiVault._aad(customer_id, field))
        except InvalidTag as exc:
            raise PiiUnavailableError(f"{field} of customer {customer_id} does not open") from exc
        return plain.decode()

    @staticmethod
    def _aad(customer_id: UUID, field: str) -> bytes:
        return f"tillstream-crm-pii:{customer_id}:{field}".encode()

    # Blind index -----------------------------------------------------------------------------

    def blind_index(self, kind: str, lookup_value: str) -> str:
        """HMAC-SHA256 of `kind` and the normalized value, under the index key."""
        message = f"{kind}\x00{lookup_value}".encode()
        return hmac.new(self._index, message, hashlib.sha256).hexdigest()

    def index_customer(
        self, customer_id: UUID, entries: dict[str, str], *, replace: bool = True
    ) -> None:
        """Index the customer by {kind: normalized lookup value}, replacing their old entries
        (or adding to them: lookups verify candidates, so a stale extra entry is harmless)."""
        digests = [(kind, self.blind_index(kind, value)) for kind, value in entries.items()
                   if value]
        self.store.replace_index(str(customer_id), digests, replace=replace)

    def lookup(self, kind: str, lookup_value: str) -> list[str]:
        """Ids of customers indexed under this value (candidates: the caller verifies)."""
        return self.store.find(kind, self.blind_index(kind, lookup_value))

    def shred(self, customer_id: UUID) -> bool:
        """Destroy the customer's data key and index entries; True when a key was there."""
        return self.store.forget_customer(str(customer_id))
