"""Fixtures for every test in the repository (services, edge agent, cross-service)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tillstream.natsserver import NatsServer
from tillstream.testing import (
    PostgresUnavailableError,
    fresh_postgres_database,
    nats_server,
    postgres_required,
)


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[NatsServer]:
    """A real nats-server (JetStream) on a free port with its own store directory."""
    with nats_server(tmp_path) as server:
        yield server


@pytest.fixture
def postgres_dsn() -> Iterator[str]:
    """DSN of a fresh PostgreSQL database, dropped after the test."""
    try:
        with fresh_postgres_database() as dsn:
            yield dsn
    except PostgresUnavailableError as exc:
        if postgres_required():
            pytest.fail(f"PostgreSQL is required here (CI) but unavailable: {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
