"""Test fixtures shared by every service's tests: NATS servers on free ports, fresh databases.

PostgreSQL tests use the server in TILLSTREAM_TEST_POSTGRES (a DSN to an existing database
with the right to create databases). Without it they skip with a visible reason, unless
TILLSTREAM_REQUIRE_POSTGRES=1 (CI), where they fail instead.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tillstream.natsserver import NatsServer
from tillstream.settings import Settings

POSTGRES_ENV = "TILLSTREAM_TEST_POSTGRES"
REQUIRE_POSTGRES_ENV = "TILLSTREAM_REQUIRE_POSTGRES"


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL for the tests that need it."""


def postgres_admin_dsn() -> str:
    dsn = os.environ.get(POSTGRES_ENV, "")
    if not dsn:
        raise PostgresUnavailableError(f"{POSTGRES_ENV} is not set")
    return dsn


def postgres_required() -> bool:
    return os.environ.get(REQUIRE_POSTGRES_ENV, "") in {"1", "true", "yes"}


@contextmanager
def fresh_postgres_database(prefix: str = "tillstream_test") -> Iterator[str]:
    """Create a new database, yield its DSN, drop it afterwards."""
    import psycopg

    admin = postgres_admin_dsn()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        raise PostgresUnavailableError(f"PostgreSQL at {admin!r}: {exc}") from exc
    params = conninfo_to_dict(admin)
    params["dbname"] = name
    try:
        yield make_conninfo(**{k: str(v) for k, v in params.items()})
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings for a test: its own data directory; nothing read from var/. gRPC servers are
    off unless asked for (`grpc_enabled=True`): fixed ports would collide between tests."""
    overrides.setdefault("grpc_enabled", False)
    overrides.setdefault("dashboard_port", 0)  # like gRPC: a fixed port would collide
    return Settings(data_dir=data_dir, **overrides)  # type: ignore[arg-type]


@contextmanager
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server with JetStream on free ports and a temporary store directory."""
    server = NatsServer(store_dir=tmp_path / "nats", log_file=tmp_path / "nats.log")
    server.start()
    try:
        yield server
    finally:
        server.kill()
async def ask_service(
    nc: Any, service: str, command: str, body: dict[str, Any], store_id: str = "s001",
    timeout: float = 15.0,
) -> dict[str, Any]:
    """Send a command over NATS, retrying until the service has subscribed; the JSON reply."""
    from tillstream.bus import command_subject, wait_for

    async def ask() -> dict[str, Any] | None:
        try:
            msg = await nc.request(command_subject(service, command, store_id),
                                   json.dumps(body).encode(), timeout=2)
        except Exception:
            return None  # the host is not subscribed yet
        return dict(json.loads(msg.data))

    reply = await wait_for(ask, timeout=timeout)
    assert reply is not None, f"{service} did not answer {command}"
    return reply


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def card_number(prefix: str, length: int = 16, ending: str = "") -> str:
    """A Luhn-valid test card number made in memory, so no card number is ever spelled in a
    file: `prefix` (the BIN range), zeros, the one digit that completes the Luhn sum, then
    `ending` (its last four digits pick the acquirer simulator's test outcome)."""
    filler = "0" * (length - len(prefix) - len(ending) - 1)
    for digit in "0123456789":
        pan = f"{prefix}{filler}{digit}{ending}"
        if _luhn_total(pan) % 10 == 0:
            return pan
    raise AssertionError("unreachable: exactly one digit completes the Luhn sum")


def _luhn_total(pan: str) -> int:
    """The Luhn sum, computed here rather than by payments' own check (which is under test)."""
    digits = [int(c) for c in reversed(pan)]
    return sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits))
