"""`tillstream simulate`: stores with their agents and lanes selling through them, against a
hub running the five services; optionally a cut of every store's link mid-run.

Everything is real and local: a hub nats-server (leaf port, domain `hub`), the services as
processes, one leaf nats-server and one agent per store, lanes on the stores' servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from edge_agent.config import OfflineLimits
from edge_agent.harness import Store, StoreOptions, hub_server, start_store
from edge_agent.lanes import CompletionWatcher, Lane
from tillstream.bus import connect
from tillstream.natsserver import NatsServer, free_port
from tillstream.settings import Settings


@dataclass
class SimulationOptions:
    stores: int = 1
    lanes: int = 2
    #: sales per second per lane (0: as fast as the platform answers)
    rate: float = 1.0
    duration: float = 30.0
    #: cut every store's link after this many seconds (None: never), for `cut_for` seconds
    cut_after: float | None = None
    cut_for: float = 10.0
    cash_rate: float = 0.3
    partitions: int = 2
    data_dir: Path = Path("var/simulate")
    limits: OfflineLimits = field(default_factory=OfflineLimits)


@dataclass
class Hub:
    """The hub server and the platform's services running on it."""

    server: NatsServer
    platform: Any
    nc: Client
    skus: dict[str, list[str]]
    customers: dict[str, list[str]]

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.nc.close()
        self.platform.stop()
        self.server.stop()


@contextlib.asynccontextmanager
async def running_hub(data_dir: Path, store_ids: list[str], partitions: int) -> AsyncIterator[Hub]:
    """A hub nats-server with the five services, the demo catalog seeded per store."""
    from tillstream.cli import _wait_catalog, seed_demo_store
    from tillstream.supervisor import Platform

    server = hub_server(data_dir / "hub").start()
    settings = Settings(
        data_dir=data_dir / "platform",
        nats_url=server.url,
        partitions=partitions,
        acquirer_port=free_port(),
        grpc_enabled=False,
    )
    platform = Platform(settings)
    hub: Hub | None = None
    try:
        await platform.start(timeout=90)
        nc = await connect(server.url, "simulate-hub")
        hub = Hub(server, platform, nc, {}, {})
        for store_id in store_ids:
            skus, customers = await seed_demo_store(nc, store_id)
            await _wait_catalog(nc, store_id, skus)
            hub.skus[store_id], hub.customers[store_id] = skus, customers
        yield hub
    finally:
        if hub is not None:
            await hub.stop()
        else:
            platform.stop()
            server.stop()


@dataclass
class SimulatedStore:
    store: Store
    nc: Client
    watcher: CompletionWatcher
    lanes: list[Lane]

    @property
    def completed(self) -> int:
        return sum(len(lane.stats.completed) for lane in self.lanes)

    @property
    def offline_completed(self) -> int:
        return sum(s.offline for lane in self.lanes for s in lane.stats.completed)

    @property
    def errors(self) -> int:
        return sum(len(lane.stats.errors) for lane in self.lanes)

    async def stop(self) -> None:
        await self.watcher.stop()
        await self.nc.close()
        await self.store.stop()


async def open_store(
    hub: Hub, store_id: str, data_dir: Path, lanes: int, options: SimulationOptions
) -> SimulatedStore:
    """A store's agent and its lanes, shifts opened while the link is up."""
    store = await start_store(
        hub.server,
        store_id,
        data_dir / store_id,
        StoreOptions(partitions=options.partitions, limits=options.limits),
    )
    nc = await connect(store.nats_url, f"simulate-lanes-{store_id}")
    watcher = CompletionWatcher(nc, store_id)
    await watcher.start()
    made = [
        Lane(
            nc,
            store_id,
            f"{n:02d}",
            hub.skus[store_id],
            hub.customers[store_id],
            watcher,
            seed=n,
            decline_rate=0.0,
            gateway=True,
            cash_rate=options.cash_rate,
        )
        for n in range(1, lanes + 1)
    ]
    for lane in made:
        await lane.start_shift()
    return SimulatedStore(store, nc, watcher, made)


Tick = Callable[[float, list[SimulatedStore]], None]


async def run_simulation(options: SimulationOptions, on_tick: Tick | None = None) -> dict[str, Any]:
    """Run the stores' lanes for `duration` seconds; the counters at the end."""
    store_ids = [f"s{n:03d}" for n in range(1, options.stores + 1)]
    async with running_hub(options.data_dir, store_ids, options.partitions) as hub:
        stores = [
            await open_store(hub, sid, options.data_dir, options.lanes, options)
            for sid in store_ids
        ]
        stop = asyncio.Event()
        interval = 1.0 / options.rate if options.rate > 0 else 0.0
        tasks = [
            asyncio.create_task(lane.run(stop, interval=interval))
            for s in stores
            for lane in s.lanes
        ]
        started = time.monotonic()
        cut = False
        try:
            while (elapsed := time.monotonic() - started) < options.duration:
                if options.cut_after is not None and not cut and elapsed >= options.cut_after:
                    cut = True
                    for s in stores:
                        await s.store.link.cut()
                if (
                    cut
                    and options.cut_after is not None
                    and (elapsed >= options.cut_after + options.cut_for)
                ):
                    for s in stores:
                        await s.store.link.restore()
                if on_tick is not None:
                    on_tick(elapsed, stores)
                await asyncio.sleep(0.25)
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            for s in stores:
                await s.store.link.restore()
        result = {
            "stores": options.stores,
            "lanes": options.lanes,
            "completed": sum(s.completed for s in stores),
            "offline_completed": sum(s.offline_completed for s in stores),
            "errors": sum(s.errors for s in stores),
        }
        for s in stores:
            await s.stop()
        return result
