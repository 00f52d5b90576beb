"""The card vault (AES-256-GCM under a key id) and its key rotation, on SQLite and PostgreSQL.

Test PANs are made in memory (Luhn helper below); the scan at the end looks for each of them
in clear in every file, table and log line the flows produced.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg import sql

from payments.acquirer import DECLINES_BY_SUFFIX, SimulatedAcquirer
from payments.application import AuthorizationRequest, Payments
from payments.bus import PaymentsCommands
from payments.cli import rotate_key
from payments.domainmodel import Card, CardTokenizer
from payments.iso8583spec import luhn_valid
from payments.main import build, build_application, card_token_key
from payments.vault import (
    DEV_KEY_ID,
    CardVault,
    Keyring,
    VaultError,
    VaultIntegrityError,
    VaultKeyMissingError,
    VaultStore,
)
from tillstream.natsserver import NatsServer
from tillstream.service import CommandError, ServiceHost
from tillstream.settings import Settings
from tillstream.testing import card_number, test_settings


def make_pan(serial: int, prefix: str = "471234") -> str:
    """A Luhn-valid 16-digit Visa-like PAN the simulator approves (no decline suffix)."""
    while True:
        body = f"{prefix}{serial:09d}"
        for digit in "0123456789":
            pan = body + digit
            if luhn_valid(pan) and pan[-4:] not in DECLINES_BY_SUFFIX:
                return pan
        serial += 1_000_000


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def keyring_json(**keys: str) -> str:
    return json.dumps(keys)


def request(key: str, pan: str, amount_minor: int = 1250) -> AuthorizationRequest:
    return AuthorizationRequest(idempotency_key=key, sale_id=f"sale-{key}", store_id="s001",
                                amount_minor=amount_minor, currency="EUR", pan=pan,
                                expiry="12/30")


def token_of(settings: Settings, pan: str) -> str:
    return Card.from_pan(pan, "12/30", CardTokenizer(card_token_key(settings))).token


class TestKeyring:
    def test_parse(self) -> None:
        a, b = new_key(), new_key()
        ring = Keyring.parse(keyring_json(k1=a, k2=b), "k2")
        assert ring.active == "k2" and set(ring.keys) == {"k1", "k2"}
        assert Keyring.parse(keyring_json(only=a)).active == "only"
        assert "k1" not in repr(ring.keys.get("k1"))  # (bytes, not base64 text)
        assert a not in repr(ring)

    @pytest.mark.parametrize("keys, active", [
        ("not json", ""), ("[]", ""), ("{}", ""), ('{"k1": 5}', ""),
        ('{"k1": "%%%"}', ""), (json.dumps({"k1": base64.b64encode(b"short").decode()}), ""),
    ])
    def test_bad_keyrings_are_refused(self, keys: str, active: str) -> None:
        with pytest.raises(VaultError):
            Keyring.parse(keys, active)

    def test_active_key_must_be_in_the_keyring(self) -> None:
        with pytest.raises(VaultKeyMissingError):
            Keyring.parse(keyring_json(k1=new_key()), "k9")
        with pytest.raises(VaultError, match="active"):
            Keyring.parse(keyring_json(k1=new_key(), k2=new_key()))

    def test_development_key_with_a_warning(self, tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.WARNING):
            ring = Keyring.from_settings(test_settings(tmp_path))
        assert ring.active == DEV_KEY_ID
        assert "TILLSTREAM_CARD_VAULT_KEYS is not set" in caplog.text
        # Stable for one data directory, different for another.
        assert Keyring.from_settings(test_settings(tmp_path)).keys == ring.keys
        assert Keyring.from_settings(test_settings(tmp_path / "x")).keys != ring.keys


class VaultBehaviour:
    """Vault behaviours; subclasses say which storage they run on."""

    @pytest.fixture
    def base_settings(self, tmp_path: Path) -> Settings:
        raise NotImplementedError

    @pytest.fixture
    def keys(self) -> dict[str, str]:
        return {"k1": new_key(), "k2": new_key()}

    @pytest.fixture
    def settings(self, base_settings: Settings, keys: dict[str, str]) -> Settings:
        return base_settings.model_copy(update={
            "card_vault_keys": json.dumps(keys), "card_vault_active_key": "k1"})

    @pytest.fixture
    def vault(self, settings: Settings) -> Iterator[CardVault]:
        vault = CardVault.open(settings)
        yield vault
        vault.close()

    @pytest.fixture
    def app(self, settings: Settings) -> Iterator[Payments]:
        app = build_application(settings, SimulatedAcquirer(today=lambda: date(2025, 6, 15)))
        yield app
        app.close()

    def reopen(self, settings: Settings, keys: dict[str, str], active: str) -> CardVault:
        """The same vault storage with another keyring (a restart with new settings)."""
        return CardVault(VaultStore.open(settings), Keyring.parse(json.dumps(keys), active))

    def stored_bytes(self, settings: Settings) -> bytes:
        raise NotImplementedError

    # -- sealing ---------------------------------------------------------------------------

    def test_round_trip(self, vault: CardVault) -> None:
        pan = make_pan(1)
        assert vault.put("tok-1", pan) is True
        assert vault.pan("tok-1") == pan
        assert vault.pan("tok-unknown") is None
        assert vault.rows_by_key() == {"k1": 1}

    def test_same_token_kept_once(self, vault: CardVault) -> None:
        pan = make_pan(2)
        assert vault.put("tok", pan) is True
        assert vault.put("tok", pan) is False
        assert vault.pan("tok") == pan and vault.rows_by_key() == {"k1": 1}

    def test_random_nonce_per_row(self, vault: CardVault) -> None:
        pan = make_pan(3)
        vault.put("a", pan)
        vault.put("b", pan)
        a, b = vault.store.get("a"), vault.store.get("b")
        assert a is not None and b is not None
        assert len(a[2]) == 12 and a[2] != b[2] and a[3] != b[3]

    def test_wrong_key_refused(self, vault: CardVault, settings: Settings) -> None:
        vault.put("tok", make_pan(4))
        impostor = self.reopen(settings, {"k1": new_key()}, "k1")
        try:
            with pytest.raises(VaultIntegrityError, match="tok"):
                impostor.pan("tok")
        finally:
            impostor.close()

    def test_missing_key_refused(self, vault: CardVault, settings: Settings,
                                 keys: dict[str, str]) -> None:
        vault.put("tok", make_pan(5))
        without = self.reopen(settings, {"k2": keys["k2"]}, "k2")
        try:
            with pytest.raises(VaultKeyMissingError, match="k1"):
                without.pan("tok")
        finally:
            without.close()

    def test_tampered_ciphertext_refused(self, vault: CardVault) -> None:
        vault.put("tok", make_pan(6))
        row = vault.store.get("tok")
        assert row is not None
        tampered = bytes([row[3][0] ^ 1]) + row[3][1:]
        m = vault.store.mark
        with vault.store.cursor() as cursor:
            cursor.execute(f"UPDATE {vault.store.table} SET ciphertext = {m} WHERE token = {m}",
                           (tampered, "tok"))
        with pytest.raises(VaultIntegrityError):
            vault.pan("tok")

    def test_swapped_token_refused(self, vault: CardVault) -> None:
        """A ciphertext moved under another token fails: the token is associated data."""
        vault.put("victim", make_pan(7))
        vault.put("attacker", make_pan(8))
        row = vault.store.get("victim")
        assert row is not None
        m = vault.store.mark
        with vault.store.cursor() as cursor:
            cursor.execute(f"UPDATE {vault.store.table} SET nonce = {m}, ciphertext = {m} "
                           f"WHERE token = {m}", (row[2], row[3], "attacker"))
        with pytest.raises(VaultIntegrityError, match="attacker"):
            vault.pan("attacker")

    def test_errors_never_carry_the_pan(self, vault: CardVault, settings: Settings) -> None:
        pan = make_pan(9)
        vault.put("tok", pan)
        impostor = self.reopen(settings, {"k1": new_key()}, "k1")
        try:
            with pytest.raises(VaultIntegrityError) as caught:
                impostor.pan("tok")
        finally:
            impostor.close()
        assert pan not in str(caught.value) and pan not in repr(caught.value)

    # -- the application keeps approved cards --------------------------------------------------


    def test_authorize_keeps_approved_cards_only(self, app: Payments,
                                                 settings: Settings) -> None:
        approved, declined = make_pan(10), card_number("400000", ending="0051")
        assert app.authorize(request("k1", approved)).status == "approved"
        assert app.authorize(request("k2", declined)).status == "declined"
        assert app.preauthorize(request("k3", make_pan(11))).status == "authorized"
        assert app.vaulted_pan(token_of(settings, approved)) == approved
        assert app.vaulted_pan(token_of(settings, make_pan(11))) == make_pan(11)
        assert app.vaulted_pan(token_of(settings, declined)) is None
        assert app.vault is not None and app.vault.rows_by_key() == {"k1": 2}

    def test_a_failing_vault_never_fails_a_charge(
        self, app: Payments, settings: Settings, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        assert app.vault is not None

        def broken(token: str, pan: str) -> bool:
            raise VaultError("storage down")

        monkeypatch.setattr(app.vault, "put", broken)
        pan = make_pan(12)
        with caplog.at_level(logging.ERROR):
            assert app.authorize(request("k1", pan)).status == "approved"
        assert "not kept in the vault" in caplog.text and pan not in caplog.text

    # -- rotation ----------------------------------------------------------------------------

    def test_rotation(self, vault: CardVault, settings: Settings,
                      keys: dict[str, str]) -> None:
        pans = {f"tok-{i}": make_pan(100 + i) for i in range(25)}
        for token, pan in pans.items():
            vault.put(token, pan)
        progress = vault.rotate("k2", batch_size=4)
        assert (progress.rotated, progress.remaining) == (25, 0)
        assert vault.rows_by_key() == {"k2": 25}
        assert vault.active_key_id == "k2"
        assert vault.rotate("k2").rotated == 0  # nothing left: a no-op
        only_new = self.reopen(settings, {"k2": keys["k2"]}, "k2")
        try:
            assert all(only_new.pan(token) == pan for token, pan in pans.items())
        finally:
            only_new.close()

    def test_rotation_to_an_unknown_key_is_refused(self, vault: CardVault) -> None:
        vault.put("tok", make_pan(13))
        with pytest.raises(VaultKeyMissingError):
            vault.rotate("k9")
        assert vault.active_key_id == "k1" and vault.rows_by_key() == {"k1": 1}

    def test_rotation_in_steps(self, vault: CardVault) -> None:
        for i in range(10):
            vault.put(f"tok-{i}", make_pan(200 + i))
        first = vault.rotate("k2", batch_size=3, max_batches=2)
        assert (first.rotated, first.remaining) == (6, 4)
        assert vault.rows_by_key() == {"k1": 4, "k2": 6}
        assert all(vault.pan(f"tok-{i}") == make_pan(200 + i) for i in range(10))
        rest = vault.rotate("k2", batch_size=3)
        assert (rest.rotated, rest.remaining) == (4, 0)

    def test_resume_after_an_interrupted_rotation(
        self, vault: CardVault, settings: Settings, keys: dict[str, str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A crash in the middle of a batch: the batches before it stay done, the broken
        batch rolls back whole, reads keep working, and running it again finishes the job."""
        pans = {f"tok-{i:02d}": make_pan(300 + i) for i in range(20)}
        for token, pan in pans.items():
            vault.put(token, pan)
        real_seal = vault._seal
        calls = 0

        def crashing_seal(key_id: str, token: str, pan: str) -> tuple[bytes, bytes]:
            nonlocal calls
            calls += 1
            if calls == 13:  # in the middle of the third batch of five
                raise RuntimeError("power cut")
            return real_seal(key_id, token, pan)

        monkeypatch.setattr(vault, "_seal", crashing_seal)
        with pytest.raises(RuntimeError):
            vault.rotate("k2", batch_size=5)
        assert vault.rows_by_key() == {"k1": 10, "k2": 10}
        monkeypatch.undo()
        # A restart: the service comes back with both keys, the old one still active.
        restarted = self.reopen(settings, keys, "k1")
        try:
            assert all(restarted.pan(token) == pan for token, pan in pans.items())
            progress = restarted.rotate("k2", batch_size=5)
            assert (progress.rotated, progress.remaining) == (10, 0)
        finally:
            restarted.close()
        only_new = self.reopen(settings, {"k2": keys["k2"]}, "k2")
        try:
            assert all(only_new.pan(token) == pan for token, pan in pans.items())
            assert only_new.rows_by_key() == {"k2": 20}
        finally:
            only_new.close()

    def test_rotation_while_authorizations_flow(
        self, app: Payments, settings: Settings, keys: dict[str, str]
    ) -> None:
        """One thread authorizes new cards while another rotates the vault in small batches;
        afterwards every PAN decrypts, every row is under the new key, and the old key can
        leave the keyring."""
        authorized: list[str] = []
        for i in range(60):  # a vault with cards in it before the rotation starts
            pan = make_pan(1000 + i)
            app.authorize(request(f"seed-{i}", pan))
            authorized.append(pan)
        rotation_started, rotation_done = threading.Event(), threading.Event()
        flowed = threading.Event()  # an authorization went through mid-rotation
        during: list[str] = []
        errors: list[BaseException] = []

        def authorize_loop() -> None:
            try:
                i = 0
                rotation_started.wait(10)
                while not rotation_done.is_set() or i < 5:
                    pan = make_pan(5000 + i)
                    outcome = app.authorize(request(f"flow-{i}", pan))
                    assert outcome.status == "approved"
                    authorized.append(pan)
                    if not rotation_done.is_set():
                        during.append(pan)
                        flowed.set()
                    i += 1
            except BaseException as error:  # reported by the main thread
                errors.append(error)

        totals = {"rotated": 0, "batches": 0}

        def rotate_loop() -> None:
            try:
                rotation_started.set()
                while True:
                    progress = app.rotate_vault_key("k2", max_batches=1, batch_size=3)
                    totals["rotated"] += progress.rotated
                    totals["batches"] += 1
                    if progress.remaining == 0:
                        break
                    # However fast the batches are, let the lane get a payment in between.
                    flowed.wait(10)
            except BaseException as error:
                errors.append(error)
            finally:
                rotation_done.set()

        threads = [threading.Thread(target=authorize_loop), threading.Thread(target=rotate_loop)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        assert totals["rotated"] >= 60 and totals["batches"] >= 20
        assert during, "no authorization ran while the vault was rotating"
        assert app.vault is not None
        assert app.vault.rows_by_key() == {"k2": len(set(authorized))}
        for pan in authorized:
            assert app.vaulted_pan(token_of(settings, pan)) == pan
        only_new = self.reopen(settings, {"k2": keys["k2"]}, "k2")
        try:
            for pan in authorized:
                assert only_new.pan(token_of(settings, pan)) == pan
        finally:
            only_new.close()

    def test_rotation_command(self, app: Payments) -> None:
        commands = PaymentsCommands(app)
        for i in range(12):
            app.authorize(request(f"k{i}", make_pan(400 + i)))
        reply = commands.rotate_vault_key({"key_id": "k2", "batch_size": 5, "max_batches": 1})
        assert reply == {"key_id": "k2", "rotated": 5, "remaining": 7}
        reply = commands.rotate_vault_key({"key_id": "k2"})
        assert reply == {"key_id": "k2", "rotated": 7, "remaining": 0}
        with pytest.raises(CommandError) as unknown:
            commands.rotate_vault_key({"key_id": "nope"})
        assert unknown.value.code == "invalid"
        with pytest.raises(CommandError) as bad:
            commands.rotate_vault_key({"key_id": "k2", "batch_size": 0})
        assert bad.value.code == "invalid"

    # -- the PAN scan --------------------------------------------------------------------------

    def test_no_pan_in_clear_anywhere_after_every_flow(
        self, settings: Settings, tmp_path: Path
    ) -> None:
        """Every flow (sales, declines, pre-auths, increments, captures, refunds, unreferenced
        refunds, the vault and its rotation, commands), with every log line written to a
        file: then every file under the test's directory, and every table of the payments
        schema, is scanned for the test PANs in clear."""
        log_file = tmp_path / "payments.log"
        handler = logging.FileHandler(log_file)
        handler.setLevel(logging.DEBUG)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        pans = [make_pan(700 + i) for i in range(6)] + [
            card_number("411111", ending="1111"), card_number("400000", ending="0051")]
        try:
            app = build_application(settings,
                                    SimulatedAcquirer(today=lambda: date(2025, 6, 15)))
            try:
                commands = PaymentsCommands(app)
                for i, pan in enumerate(pans):
                    commands.authorize({"idempotency_key": f"a{i}", "sale_id": "s",
                                        "store_id": "s001", "amount_minor": 100 + i,
                                        "currency": "EUR", "pan": pan, "expiry": "12/30"})
                    app.preauthorize(request(f"p{i}", pan))
                    app.refund_unreferenced(request(f"u{i}", pan), permitted=True)
                pre = app.preauthorize(request("main", pans[0]))
                payment_id = pre.payment_id
                app.increment(UUID(payment_id), "i1", 100)
                app.capture(UUID(payment_id), "c1")
                app.refund(UUID(payment_id), "r1", 50)
                app.rotate_vault_key("k2", batch_size=4)
                assert all(app.vaulted_pan(token_of(settings, pan)) == pan
                           for pan in pans[:-1])  # the declined one was never kept
                commands.rotate_vault_key({"key_id": "k1"})
            finally:
                app.close()
        finally:
            root.removeHandler(handler)
            root.setLevel(old_level)
            handler.close()
        produced = b"".join(path.read_bytes() for path in sorted(tmp_path.rglob("*"))
                            if path.is_file())
        produced += self.stored_bytes(settings)
        assert log_file.stat().st_size > 0, "no log line was written"
        assert b"471234******" in produced  # the scan does see the payments
        for pan in pans:
            assert pan.encode() not in produced, "a full PAN leaked"
            assert pan[6:].encode() not in produced, "a PAN's tail beyond the last four leaked"


class TestVaultWithSQLite(VaultBehaviour):
    @pytest.fixture
    def base_settings(self, tmp_path: Path) -> Settings:
        return test_settings(tmp_path / "data")

    def stored_bytes(self, settings: Settings) -> bytes:
        files = sorted((settings.data_dir / "payments").glob("*"))
        assert any(path.name == "vault.sqlite" for path in files), "no vault file"
        return b""  # the files are under tmp_path: the scan reads them already

    def test_vault_file_holds_no_plaintext(self, vault: CardVault, settings: Settings) -> None:
        pan = make_pan(600)
        vault.put("tok", pan)
        vault.rotate("k2")
        data = (settings.data_dir / "payments" / "vault.sqlite").read_bytes()
        assert b"tok" in data and pan.encode() not in data


@pytest.mark.postgres
class TestVaultWithPostgres(VaultBehaviour):
    @pytest.fixture
    def base_settings(self, tmp_path: Path, postgres_dsn: str) -> Settings:
        return test_settings(tmp_path / "data", postgres_dsn=postgres_dsn)

    def stored_bytes(self, settings: Settings) -> bytes:
        chunks: list[bytes] = []
        with psycopg.connect(settings.postgres_dsn) as conn:
            tables = [row[0] for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                ("payments",)).fetchall()]
            assert "vault" in tables, "no vault table"
            for table in tables:
                name = sql.Identifier("payments", table)
                query = sql.SQL("SELECT t::text FROM {} t").format(name)
                chunks.extend(row[0].encode() for row in conn.execute(query))
                columns = [row[0] for row in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                    "AND table_name = %s AND data_type = 'bytea'", ("payments", table))]
                for column in columns:
                    query = sql.SQL("SELECT {} FROM {}").format(sql.Identifier(column), name)
                    chunks.extend(bytes(row[0]) for row in conn.execute(query))
        return b"\n".join(chunks)

    def test_two_replicas_rotate_at_once(self, settings: Settings, keys: dict[str, str]) -> None:
        """Two service replicas rotating the same vault: rows locked by one are skipped by
        the other; together they finish, and nothing is lost."""
        first = self.reopen(settings, keys, "k1")
        second = self.reopen(settings, keys, "k1")
        try:
            pans = {f"tok-{i:03d}": make_pan(800 + i) for i in range(40)}
            for token, pan in pans.items():
                first.put(token, pan)
            results: list[Any] = []
            threads = [threading.Thread(target=lambda v=v: results.append(
                v.rotate("k2", batch_size=3))) for v in (first, second)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            rest = first.rotate("k2")
            assert sum(r.rotated for r in results) + rest.rotated == 40
            assert rest.remaining == 0 and first.rows_by_key() == {"k2": 40}
            assert all(second.pan(token) == pan for token, pan in pans.items())
        finally:
            first.close()
            second.close()


async def test_rotate_key_over_nats(nats: NatsServer, tmp_path: Path) -> None:
    """The CLI's rotation (`tillstream payments rotate-key`) against the running service:
    commands over NATS until nothing remains, while the service keeps answering."""
    keys = {"k1": new_key(), "k2": new_key()}
    settings = test_settings(tmp_path / "data", card_vault_keys=json.dumps(keys),
                             card_vault_active_key="k1")
    host = ServiceHost(build(settings), settings, nats.url)
    stop = asyncio.Event()
    task = asyncio.create_task(host.run(stop))
    pans = [make_pan(900 + i) for i in range(15)]
    try:
        from tillstream.bus import command_subject, connect, wait_for

        nc = await connect(nats.url, "test-client")
        try:
            async def authorize(i: int, pan: str) -> dict[str, Any] | None:
                body = {"idempotency_key": f"k{i}", "sale_id": "s", "store_id": "s001",
                        "amount_minor": 100, "currency": "EUR", "pan": pan, "expiry": "12/30"}
                try:
                    msg = await nc.request(command_subject("payments", "authorize", "s001"),
                                           json.dumps(body).encode(), timeout=2)
                except Exception:
                    return None  # the host is not subscribed yet
                return dict(json.loads(msg.data))

            for i, pan in enumerate(pans):
                reply = await wait_for(lambda i=i, pan=pan: authorize(i, pan), timeout=15)
                assert reply is not None and reply["status"] == "approved"
            seen: list[tuple[int, int]] = []
            result = await rotate_key(nats.url, "k2", batch_size=2, max_batches=1,
                                      on_progress=lambda r, left: seen.append((r, left)))
            assert result == {"rotated": 15, "remaining": 0}
            assert len(seen) == 8 and seen[-1] == (15, 0)
            from payments.cli import RotationFailedError
            with pytest.raises(RotationFailedError, match="invalid"):
                await rotate_key(nats.url, "k9")
        finally:
            await nc.close()
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    only_new = CardVault(VaultStore.open(settings),
                         Keyring.parse(json.dumps({"k2": keys["k2"]}), "k2"))
    try:
        assert only_new.rows_by_key() == {"k2": 15}
        assert all(only_new.pan(token_of(settings, pan)) == pan for pan in pans)
    finally:
        only_new.close()


def test_cli_sub_app() -> None:
    """`rotate-key` is a command of the sub-app; with no service reachable it says so."""
    from typer.testing import CliRunner

    from payments.cli import app as cli

    runner = CliRunner()
    assert "rotate-key" in runner.invoke(cli, ["--help"]).output
    result = runner.invoke(cli, ["rotate-key", "k2", "--nats-url", "nats://127.0.0.1:1"])
    assert result.exit_code == 2
