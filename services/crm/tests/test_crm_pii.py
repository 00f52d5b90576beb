"""Envelope encryption, crypto-shredding and the blind index (crm.pii, crm.keys)."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from crm.keys import KeyStore
from crm.pii import PiiUnavailableError, PiiVault, index_key, master_key
from tillstream.settings import Settings
from tillstream.sidestore import SQLiteSideStore
from tillstream.testing import test_settings as settings_for_test

MASTER = os.urandom(32)
INDEX = os.urandom(32)


class VaultTests:
    @pytest.fixture
    def settings(self) -> Settings:
        raise NotImplementedError

    @pytest.fixture
    def vault(self, settings: Settings) -> Iterator[PiiVault]:
        vault = PiiVault(KeyStore.open(settings), MASTER, INDEX)
        yield vault
        vault.close()

    def test_round_trip(self, vault: PiiVault) -> None:
        customer_id = uuid4()
        key = vault.data_key_for(customer_id)
        sealed = vault.seal(key, customer_id, "email", "ana@example.com")
        assert sealed.startswith("v1.") and "ana" not in sealed
        assert vault.seal(key, customer_id, "email", "ana@example.com") != sealed  # fresh nonce
        again = vault.data_key(customer_id, key.key_id)
        assert again == key
        assert vault.open(again, customer_id, "email", sealed) == "ana@example.com"

    def test_one_data_key_per_customer(self, vault: PiiVault) -> None:
        customer_id = uuid4()
        assert vault.data_key_for(customer_id) == vault.data_key_for(customer_id)
        assert vault.data_key_for(uuid4()) != vault.data_key_for(customer_id)

    def test_ciphertext_is_bound_to_customer_and_field(self, vault: PiiVault) -> None:
        customer_id, other = uuid4(), uuid4()
        key = vault.data_key_for(customer_id)
        sealed = vault.seal(key, customer_id, "name", "Ana")
        with pytest.raises(PiiUnavailableError):
            vault.open(key, customer_id, "email", sealed)
        with pytest.raises(PiiUnavailableError):
            vault.open(key, other, "name", sealed)
        tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
        with pytest.raises(PiiUnavailableError):
            vault.open(key, customer_id, "name", tampered)

    def test_data_keys_are_stored_wrapped(self, vault: PiiVault) -> None:
        customer_id = uuid4()
        key = vault.data_key_for(customer_id)
        row = vault.store.get_key(str(customer_id))
        assert row is not None and row[0] == key.key_id
        assert key.key not in row[2]  # only the wrapped form is stored

    def test_another_master_key_cannot_unwrap(self, vault: PiiVault) -> None:
        customer_id = uuid4()
        key = vault.data_key_for(customer_id)
        stranger = PiiVault(vault.store, os.urandom(32), INDEX)
        with pytest.raises(PiiUnavailableError):
            stranger.data_key(customer_id, key.key_id)

    def test_shred_destroys_key_and_index(self, vault: PiiVault) -> None:
        customer_id = uuid4()
        key = vault.data_key_for(customer_id)
        vault.index_customer(customer_id, {"email": "ana@example.com", "phone": "+4930555000"})
        assert vault.lookup("email", "ana@example.com") == [str(customer_id)]
        assert vault.shred(customer_id)
        assert not vault.shred(customer_id)
        with pytest.raises(PiiUnavailableError):
            vault.data_key(customer_id, key.key_id)
        assert vault.lookup("email", "ana@example.com") == []
        assert vault.lookup("phone", "+4930555000") == []

    def test_blind_index(self, vault: PiiVault) -> None:
        ana, ben = uuid4(), uuid4()
        vault.index_customer(ana, {"email": "ana@example.com", "phone": "+4930555000"})
        vault.index_customer(ben, {"email": "ben@example.com", "phone": "+4930555000"})
        assert vault.lookup("email", "ana@example.com") == [str(ana)]
        assert vault.lookup("phone", "+4930555000") == sorted([str(ana), str(ben)])
        assert vault.lookup("email", "+4930555000") == []  # kinds do not mix
        vault.index_customer(ana, {"email": "ana@new.example.com", "phone": ""})
        assert vault.lookup("email", "ana@example.com") == []
        assert vault.lookup("phone", "+4930555000") == [str(ben)]
        digest = vault.blind_index("email", "ana@example.com")
        assert len(digest) == 64 and "ana" not in digest
        assert PiiVault(vault.store, MASTER, os.urandom(32)).blind_index(
            "email", "ana@example.com") != digest  # keyed: not a plain hash


class TestVaultWithSQLite(VaultTests):
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return settings_for_test(tmp_path)

    def test_secure_delete(self, tmp_path: Path) -> None:
        store = KeyStore(SQLiteSideStore(tmp_path / "keys.sqlite"))
        try:
            with store.side.cursor() as cursor:
                cursor.execute("PRAGMA secure_delete")
                assert cursor.fetchone()[0] == 1
        finally:
            store.close()


@pytest.mark.postgres
class TestVaultWithPostgres(VaultTests):
    @pytest.fixture
    def settings(self, tmp_path: Path, postgres_dsn: str) -> Settings:
        return settings_for_test(tmp_path, postgres_dsn=postgres_dsn)


def test_keys_from_settings(tmp_path: Path) -> None:
    configured = base64.b64encode(MASTER).decode()
    settings = settings_for_test(tmp_path, crm_master_key=configured, crm_index_key="i" * 32)
    assert master_key(settings) == MASTER
    assert index_key(settings) == b"i" * 32
    with pytest.raises(ValueError, match="32 bytes"):
        master_key(settings_for_test(tmp_path, crm_master_key="c2hvcnQ="))


def test_development_keys_warn_and_are_stable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    one = settings_for_test(tmp_path / "a")
    assert master_key(one) == master_key(settings_for_test(tmp_path / "a"))
    assert master_key(one) != master_key(settings_for_test(tmp_path / "b"))
    assert master_key(one) != index_key(one)
    assert "TILLSTREAM_CRM_MASTER_KEY is not set" in caplog.text


def test_vault_refuses_weak_or_shared_keys(tmp_path: Path) -> None:
    store = KeyStore(SQLiteSideStore(tmp_path / "keys.sqlite"))
    try:
        with pytest.raises(ValueError):
            PiiVault(store, b"short", INDEX)
        with pytest.raises(ValueError):
            PiiVault(store, MASTER, MASTER)
    finally:
        store.close()
