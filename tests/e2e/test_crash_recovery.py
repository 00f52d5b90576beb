"""The platform's promise across real process crashes: downstream services SIGKILLed while
lanes sell, then restarted, end with exactly the effects of the completed sales, once each."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from edge_agent.lanes import CompletionWatcher, Lane
from tests.e2e.test_sale_through_five_services import STORE
from tillstream.bus import connect
from tillstream.cli import _wait_catalog, seed_demo_store
from tillstream.natsserver import NatsServer, free_port
from tillstream.supervisor import Platform, status_of
from tillstream.testing import ask_ok as ask
from tillstream.testing import eventually, test_settings

pytestmark = pytest.mark.e2e
CRASHED = ("inventory", "crm", "analytics")


async def test_downstream_services_killed_mid_run_lose_and_double_nothing(
    nats: NatsServer, tmp_path: Path
) -> None:
    settings = test_settings(tmp_path / "data", nats_url=nats.url, partitions=2,
                             acquirer_port=free_port())
    platform = Platform(settings)
    await platform.start(timeout=60)
    nc = await connect(platform.nats_url, "e2e-crash")
    try:
        skus, customers = await seed_demo_store(nc, STORE)
        await _wait_catalog(nc, STORE, skus)
        watcher = CompletionWatcher(nc, STORE)
        await watcher.start()
        lanes = [Lane(nc, STORE, f"{n:02d}", skus, customers, watcher, seed=11)
                 for n in range(1, 5)]
        stop = asyncio.Event()
        selling = asyncio.gather(*(lane.run(stop, sales=40) for lane in lanes))

        # Kill the consumers in the middle of the run, as a power cut or OOM kill would.
        while sum(len(lane.stats.completed) for lane in lanes) < 40:
            await asyncio.sleep(0.05)
        for name in CRASHED:
            platform.processes[name].send_signal(signal.SIGKILL)
        for name in CRASHED:
            assert platform.processes[name].wait() == -signal.SIGKILL
        await asyncio.sleep(0.5)  # sales go on while they are down
        for name in CRASHED:
            platform.start_service(name)
        await platform.wait_ready(60)
        await selling

        assert [e for lane in lanes for e in lane.stats.errors] == []
        sales = [s for lane in lanes for s in lane.stats.completed]
        assert len(sales) == 160
        total = sum(s.total_minor for s in sales)
        quantity = sum(s.quantity for s in sales)
        points: dict[str, int] = {}
        for sale in sales:
            if sale.customer_id:
                points[sale.customer_id] = points.get(sale.customer_id, 0) + sale.total_minor // 100

        async def everything_adds_up() -> None:
            rows = (await ask(nc, "analytics", "sales_totals", {"store_id": STORE}))["rows"]
            assert sum(r["sales_count"] for r in rows) == 160
            assert sum(r["total_minor"] for r in rows) == total
            stock = await ask(nc, "inventory", "stock_summary", {"store_id": STORE})
            assert stock["sold_total"] == quantity
            for customer_id, expected in points.items():
                loyalty = await ask(nc, "crm", "loyalty", {"customer_id": customer_id})
                assert loyalty["earned_total"] == expected

        await eventually(everything_adds_up, timeout=90)
        statuses = await status_of(nc)
        assert all(s["up"] for s in statuses.values())
        assert sum(s.get("dead_letters", 0) for s in statuses.values()) == 0
        await watcher.stop()
    finally:
        await nc.close()
        platform.stop()
