"""Pipeline fixtures: a toy upstream and downstream around a real nats-server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tillstream.bus import connect, ensure_platform_streams, stream_name
from tillstream.consumer import Consumer, EventSourcedSink
from tillstream.eventstore import event_store_env
from tillstream.natsserver import NatsServer
from tillstream.relay import Relay
from tillstream.testing import test_settings

from tests.pipeline.toy import (
    DOWNSTREAM,
    HANDLERS,
    UPSTREAM,
    Ledgers,
    ShelfContracts,
    Shelves,
)


@dataclass
class Pipeline:
    """Upstream app + relay -> NATS -> consumer + downstream app, all real."""

    server: NatsServer
    tmp: Path
    upstream: Shelves
    downstream: Ledgers
    partitions: int = 1
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stops: list[asyncio.Event] = field(default_factory=list)
    relays: list[Relay] = field(default_factory=list)
    consumers: list[Consumer] = field(default_factory=list)

    async def js(self):  # type: ignore[no-untyped-def]
        nc = await connect(self.server.url, "test")
        self._ncs.append(nc)
        return nc.jetstream()

    def __post_init__(self) -> None:
        self._ncs: list = []

    async def start_relay(self, **kwargs) -> Relay:  # type: ignore[no-untyped-def]
        js = await self.js()
        relay = Relay(UPSTREAM, self.upstream, ShelfContracts(), js, **kwargs)
        self.upstream.on_recorded(relay.wake)
        stop = asyncio.Event()
        self.stops.append(stop)
        self.relays.append(relay)
        self.tasks.append(asyncio.create_task(relay.run(stop, idle=0.05)))
        return relay

    async def start_consumer(self, partition: int = 0, **kwargs) -> Consumer:  # type: ignore[no-untyped-def]
        js = await self.js()
        consumer = Consumer(
            DOWNSTREAM, UPSTREAM, partition, js, EventSourcedSink(self.downstream, HANDLERS),
            backoff_base=0.01, **kwargs,
        )
        stop = asyncio.Event()
        self.stops.append(stop)
        self.consumers.append(consumer)
        self.tasks.append(asyncio.create_task(consumer.run(stop, fetch_timeout=0.1)))
        return consumer

    async def stream_messages(self) -> int:
        js = await self.js()
        info = await js.stream_info(stream_name(UPSTREAM))
        return int(info.state.messages)

    async def wait_applied(self, count: int, timeout: float = 20.0) -> list[str]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            applied = self.downstream.applied()
            if len(applied) >= count or asyncio.get_running_loop().time() > deadline:
                return applied
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for stop in self.stops:
            stop.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for nc in self._ncs:
            with contextlib.suppress(Exception):
                await nc.close()


@pytest.fixture
async def pipeline(nats: NatsServer, tmp_path: Path) -> AsyncIterator[Pipeline]:
    settings = test_settings(tmp_path / "data")
    upstream = Shelves(env=event_store_env(settings, UPSTREAM))
    downstream = Ledgers(env=event_store_env(settings, DOWNSTREAM))
    nc = await connect(nats.url, "setup")
    await ensure_platform_streams(nc.jetstream(), 1)
    await nc.close()
    pipe = Pipeline(nats, tmp_path, upstream, downstream)
    yield pipe
    await pipe.close()
    upstream.close()
    downstream.close()
