"""The embedded NATS server and the settings."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from tillstream.eventstore import event_store_env
from tillstream.natsserver import NatsServer, NatsServerError
from tillstream.settings import Settings


def test_embedded_server_is_healthy_with_jetstream_and_restarts(tmp_path: Path) -> None:
    server = NatsServer(store_dir=tmp_path / "nats").start()
    try:
        url = f"{server.monitor_url}/healthz?js-enabled-only=true"
        with urllib.request.urlopen(url, timeout=2) as resp:
            assert resp.status == 200
        server.restart()
        with urllib.request.urlopen(url, timeout=2) as resp:
            assert resp.status == 200
    finally:
        server.kill()
    assert server.process is not None and server.process.poll() is not None


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    first = NatsServer(store_dir=tmp_path / "a").start()
    try:
        second = NatsServer(store_dir=tmp_path / "b", port=first.port)
        with pytest.raises(NatsServerError, match="exited"):
            second.start(timeout=5)
    finally:
        first.kill()


def test_settings_choose_sqlite_postgres_and_cipher(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TILLSTREAM_DATA_DIR", str(tmp_path))
    env = event_store_env(Settings(), "checkout")
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite"
    assert env["SQLITE_DBNAME"] == str(tmp_path / "checkout" / "events.sqlite")
    assert "CIPHER_TOPIC" not in env
    pg = event_store_env(
        Settings(postgres_dsn="postgresql://u:pw@db.example:6543/pos", cipher_key="k" * 44),
        "payments",
    )
    assert pg["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert (pg["POSTGRES_HOST"], pg["POSTGRES_PORT"], pg["POSTGRES_DBNAME"]) == (
        "db.example", "6543", "pos")
    assert pg["POSTGRES_SCHEMA"] == "payments"
    assert pg["CIPHER_TOPIC"] == "eventsourcing.cryptography:AESCipher"
