"""Pipeline fixtures: a toy upstream and downstream around a real nats-server.

The `pipeline` fixture runs every test twice: on SQLite event stores and on PostgreSQL ones
(a fresh database per test; skipped, or failed in CI, without a server). A test marked
`@pytest.mark.partitions(n)` gets streams with n subject partitions.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.pipeline.toy import (
    DOWNSTREAM,
    HANDLERS,
    UPSTREAM,
    Ledgers,
    ShelfContracts,
    Shelves,
)
from tillstream.bus import connect, ensure_platform_streams, stream_name
from tillstream.codec import H_MSG_ID
from tillstream.consumer import Consumer, EventSourcedSink, Handler
from tillstream.eventstore import event_store_env
from tillstream.natsserver import NatsServer
from tillstream.relay import Relay
from tillstream.settings import Settings
from tillstream.testing import test_settings

ROOT = Path(__file__).resolve().parents[2]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "partitions(n): subject partitions per stream")


@dataclass
class Pipeline:
    """Upstream app + relay -> NATS -> consumer + downstream app, all real."""

    server: NatsServer
    tmp: Path
    settings: Settings
    upstream: Shelves
    downstream: Ledgers
    partitions: int = 1
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stops: list[asyncio.Event] = field(default_factory=list)
    relays: list[Relay] = field(default_factory=list)
    consumers: list[Consumer] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def backend(self) -> str:
        return "postgres" if self.settings.postgres_dsn else "sqlite"

    async def connect(self):  # type: ignore[no-untyped-def]
        """A client of the test's server (reconnects forever); closed with the pipeline."""
        nc = await connect(self.server.url, "test")
        self._ncs.append(nc)
        return nc

    async def js(self):  # type: ignore[no-untyped-def]
        return (await self.connect()).jetstream()

    def __post_init__(self) -> None:
        self._ncs: list = []
        self._js = None
        self._handles: dict[int, tuple[asyncio.Event, asyncio.Task[None]]] = {}

    async def admin(self):  # type: ignore[no-untyped-def]
        """One shared JetStream context for the test's own look-ups and hand publishes."""
        if self._js is None:
            self._js = await self.js()
        return self._js

    async def start_relay(self, **kwargs) -> Relay:  # type: ignore[no-untyped-def]
        js = await self.js()
        relay = Relay(UPSTREAM, self.upstream, ShelfContracts(), js, **kwargs)
        self.upstream.on_recorded(relay.wake)
        stop = asyncio.Event()
        self.stops.append(stop)
        self.relays.append(relay)
        self.tasks.append(asyncio.create_task(relay.run(stop, idle=0.05)))
        self._handles[id(relay)] = (stop, self.tasks[-1])
        return relay

    async def start_consumer(  # type: ignore[no-untyped-def]
        self, partition: int = 0, handlers: dict[str, Handler] | None = None, **kwargs
    ) -> Consumer:
        js = await self.js()
        kwargs.setdefault("backoff_base", 0.01)
        consumer = Consumer(
            DOWNSTREAM, UPSTREAM, partition, js,
            EventSourcedSink(self.downstream, handlers if handlers is not None else HANDLERS),
            **kwargs,
        )
        stop = asyncio.Event()
        self.stops.append(stop)
        self.consumers.append(consumer)
        self.tasks.append(asyncio.create_task(consumer.run(stop, fetch_timeout=0.1)))
        self._handles[id(consumer)] = (stop, self.tasks[-1])
        return consumer

    async def stop(self, relay_or_consumer: Relay | Consumer) -> None:
        """Stop one relay or consumer task and wait until it has ended."""
        stop, task = self._handles[id(relay_or_consumer)]
        stop.set()
        await task

    async def stop_all(self) -> None:
        """Stop every relay and consumer task started so far (they stay listed)."""
        for stop in self.stops:
            stop.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    # -- what is where -------------------------------------------------------------------

    async def stream_messages(self, stream: str = stream_name(UPSTREAM)) -> int:
        js = await self.admin()
        info = await js.stream_info(stream)
        return int(info.state.messages)

    async def stream_contents(self, stream: str = stream_name(UPSTREAM)) -> list[Any]:
        """Every message in `stream`, by sequence (first to last)."""
        js = await self.admin()
        info = await js.stream_info(stream)
        return [
            await js.get_msg(stream, seq=seq)
            for seq in range(int(info.state.first_seq), int(info.state.last_seq) + 1)
        ] if info.state.messages else []

    async def stream_msg_ids(self) -> list[str]:
        """The Nats-Msg-Id of every message in the upstream stream, in stream order."""
        return [(m.headers or {}).get(H_MSG_ID, "") for m in await self.stream_contents()]

    def expected_msg_ids(self, store_id: str | None = None) -> list[str]:
        """`inventory:<notification id>` of every public upstream event, in log order."""
        contracts = ShelfContracts()
        ids = []
        for notification in self.upstream.notifications(1, 1_000_000):
            integration = contracts.to_integration(
                self.upstream.mapper.to_domain_event(notification)
            )
            if integration is not None and store_id in (None, integration.store_id):
                ids.append(f"{UPSTREAM}:{notification.id}")
        return ids

    def applied_everywhere(self, stores: Sequence[str] = ("s001",)) -> dict[str, list[str]]:
        return {store: self.downstream.applied(store) for store in stores}

    async def wait_applied(self, count: int, timeout: float = 20.0) -> list[str]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            applied = self.downstream.applied()
            if len(applied) >= count or asyncio.get_running_loop().time() > deadline:
                return applied
            await asyncio.sleep(0.05)

    async def settle(self, seconds: float = 0.3) -> None:
        """Let anything still in flight land, so a doubled effect would show."""
        await asyncio.sleep(seconds)

    # -- OS processes ------------------------------------------------------------------------

    def spawn(self, kind: str, *args: str) -> subprocess.Popen[bytes]:
        """Run tests/pipeline/procs.py `kind` in its own OS process, on this pipeline."""
        cmd = [
            sys.executable, "-m", "tests.pipeline.procs", kind,
            "--nats-url", self.server.url,
            "--data-dir", str(self.settings.data_dir),
            "--postgres-dsn", self.settings.postgres_dsn,
            *args,
        ]
        log = open(self.tmp / f"proc-{kind}-{len(self.procs)}.log", "wb")  # noqa: SIM115
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        self.procs.append(proc)
        return proc

    def proc_log(self, proc: subprocess.Popen[bytes]) -> str:
        index = self.procs.index(proc)
        kinds = sorted(self.tmp.glob(f"proc-*-{index}.log"))
        return kinds[0].read_text(errors="replace") if kinds else ""

    async def wait_exit(self, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
        deadline = asyncio.get_running_loop().time() + timeout
        while proc.poll() is None:
            if asyncio.get_running_loop().time() > deadline:
                proc.kill()
                proc.wait()
                raise AssertionError(f"process did not exit in {timeout}s:\n{self.proc_log(proc)}")
            await asyncio.sleep(0.02)
        return int(proc.returncode)

    async def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        await self.stop_all()
        for nc in self._ncs:
            with contextlib.suppress(Exception):
                await nc.close()


async def eventually(
    predicate: Callable[[], Awaitable[Any] | Any], timeout: float = 20.0, interval: float = 0.02
) -> Any:
    """Poll `predicate` (sync or async) until truthy; return its last value at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value or loop.time() > deadline:
            return value
        await asyncio.sleep(interval)


@pytest.fixture(params=["sqlite", "postgres"])
def event_store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings whose event stores are SQLite files, or schemas in a fresh PostgreSQL DB."""
    if request.param == "postgres":
        dsn = request.getfixturevalue("postgres_dsn")
        return test_settings(tmp_path / "data", postgres_dsn=dsn)
    return test_settings(tmp_path / "data")


@pytest.fixture
async def pipeline(
    request: pytest.FixtureRequest,
    nats: NatsServer,
    tmp_path: Path,
    event_store_settings: Settings,
) -> AsyncIterator[Pipeline]:
    marker = request.node.get_closest_marker("partitions")
    partitions = int(marker.args[0]) if marker else 1
    settings = event_store_settings
    upstream = Shelves(env=event_store_env(settings, UPSTREAM))
    downstream = Ledgers(env=event_store_env(settings, DOWNSTREAM))
    nc = await connect(nats.url, "setup")
    await ensure_platform_streams(nc.jetstream(), partitions)
    await nc.close()
    pipe = Pipeline(nats, tmp_path, settings, upstream, downstream, partitions)
    yield pipe
    await pipe.close()
    upstream.close()
    downstream.close()
