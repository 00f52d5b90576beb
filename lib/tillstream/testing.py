"""Test fixtures shared by every service's tests: NATS servers on free ports, fresh databases,
a service's gRPC API on a free port and the refusals it answers with, a running service host.

PostgreSQL tests use the server in TILLSTREAM_TEST_POSTGRES (a DSN to an existing database
with the right to create databases). Without it they skip with a visible reason, unless
TILLSTREAM_REQUIRE_POSTGRES=1 (CI), where they fail instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tillstream.grpcserver import ERROR_CODE_KEY, DbRunner, GrpcFactory, GrpcServer
from tillstream.natsserver import NatsServer
from tillstream.service import ServiceDefinition, ServiceHost
from tillstream.settings import Settings

if TYPE_CHECKING:
    from tillstream.supervisor import Platform

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
    nc: Any,
    service: str,
    command: str,
    body: dict[str, Any],
    store_id: str = "s001",
    timeout: float = 15.0,
) -> dict[str, Any]:
    """Send a command over NATS, retrying until the service has subscribed; the JSON reply."""
    from tillstream.bus import command_subject, wait_for

    async def ask() -> dict[str, Any] | None:
        try:
            msg = await nc.request(
                command_subject(service, command, store_id), json.dumps(body).encode(), timeout=2
            )
        except Exception:
            return None  # the host is not subscribed yet
        return dict(json.loads(msg.data))

    reply = await wait_for(ask, timeout=timeout)
    assert reply is not None, f"{service} did not answer {command}"
    return reply


async def ask_ok(
    nc: Any,
    service: str,
    command: str,
    body: dict[str, Any],
    store_id: str = "s001",
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Send a command over NATS to a service that is up; its JSON reply, which must be ok."""
    from tillstream.bus import command_subject

    reply = await nc.request(
        command_subject(service, command, store_id), json.dumps(body).encode(), timeout=timeout
    )
    answer: dict[str, Any] = json.loads(reply.data)
    assert answer.get("ok"), answer
    return answer


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 60.0, interval: float = 0.2
) -> Any:
    """`await check()` until it stops failing an assertion; its last failure after `timeout`
    seconds. For what the services reach asynchronously (projections, consumers)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(interval)


def assert_no_tracebacks(platform: Platform) -> None:
    """Fail when a service process of `platform` logged a traceback (its log's tail shown)."""
    for name in platform.processes:
        log = platform.log_dir / f"{name}.log"
        if log.exists():
            text = log.read_text(errors="replace")
            assert "Traceback" not in text, f"{name} logged a traceback:\n{text[-4000:]}"


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


@dataclass
class GrpcTestServer:
    """A service's gRPC server on a free local port and a plain channel to it."""

    server: GrpcServer
    channel: grpc.aio.Channel

    @property
    def port(self) -> int:
        return self.server.port


@asynccontextmanager
async def grpc_test_server(
    name: str, factory: GrpcFactory, runner: DbRunner
) -> AsyncIterator[GrpcTestServer]:
    """The real server (`GrpcServer`: health, reflection) of `factory` on a free port of
    127.0.0.1, and an insecure channel to it; both closed afterwards, the channel first. The
    caller owns `runner` and the application behind it."""
    server = GrpcServer(name, factory, runner, host="127.0.0.1", port=0, grace=1.0)
    port = await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield GrpcTestServer(server, channel)
    finally:
        await channel.close()
        await server.stop()


async def refused(
    call: Callable[..., Awaitable[Any]], request: Any, **kwargs: Any
) -> tuple[grpc.StatusCode, str, str]:
    """The status, message and `tillstream-error-code` of a call that must fail; fails the
    test when the call succeeds."""
    try:
        reply = await call(request, **kwargs)
    except grpc.aio.AioRpcError as error:
        trailing = dict(error.trailing_metadata() or ())
        return error.code(), error.details() or "", str(trailing.get(ERROR_CODE_KEY, ""))
    raise AssertionError(f"the call was expected to fail, it answered {reply!r}")


@dataclass
class RunningHost:
    """A `ServiceHost` running in a task of the test's event loop."""

    host: ServiceHost
    task: asyncio.Task[None]
    stop_event: asyncio.Event

    async def stop(self, timeout: float = 30.0) -> None:
        """Ask the host to shut down and wait until it has (at once when it already has)."""
        self.stop_event.set()
        await asyncio.wait_for(self.task, timeout)


@asynccontextmanager
async def running_host(
    definition: ServiceDefinition, settings: Settings, nats_url: str
) -> AsyncIterator[RunningHost]:
    """Run `definition` as the service's process would (NATS commands, consumers, gRPC when
    `settings` enable it) until the block ends; a test may stop it earlier to check the
    shutdown."""
    host = ServiceHost(definition, settings, nats_url)
    stop = asyncio.Event()
    running = RunningHost(host, asyncio.create_task(host.run(stop)), stop)
    try:
        yield running
    finally:
        await running.stop()
