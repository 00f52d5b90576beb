"""End to end: the five services as separate OS processes, lanes selling through them.

After 100 sales: analytics totals equal the sum of the sales, inventory's decrements equal the
quantities sold, captured payments equal the sale totals, and loyalty points match the sales
that named a customer.
"""

from __future__ import annotations

import asyncio
import csv
import signal
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge_agent.lanes import CompletionWatcher, Lane
from tillstream.bus import connect
from tillstream.cli import _wait_catalog, seed_demo_store
from tillstream.natsserver import NatsServer, free_port
from tillstream.supervisor import Platform, status_of
from tillstream.testing import ask_ok, assert_no_tracebacks, eventually, test_settings

pytestmark = pytest.mark.e2e
STORE = "s001"


@pytest.fixture
async def platform(nats: NatsServer, tmp_path: Path) -> AsyncIterator[Platform]:
    settings = test_settings(
        tmp_path / "data", nats_url=nats.url, partitions=2, acquirer_port=free_port()
    )
    running = Platform(settings)
    try:
        await running.start(timeout=60)
        yield running
    finally:
        running.stop()
        assert_no_tracebacks(running)


async def test_hundred_sales_add_up_in_every_service(platform: Platform) -> None:
    nc = await connect(platform.nats_url, "e2e")
    skus, customers = await seed_demo_store(nc, STORE)
    assert len(skus) >= 200 and customers
    await _wait_catalog(nc, STORE, skus)

    watcher = CompletionWatcher(nc, STORE)
    await watcher.start()
    lanes = [
        Lane(nc, STORE, f"{n:02d}", skus, customers, watcher, seed=7, decline_rate=0.1)
        for n in range(1, 5)
    ]
    stop = asyncio.Event()
    await asyncio.gather(*(lane.run(stop, sales=25) for lane in lanes))
    errors = [e for lane in lanes for e in lane.stats.errors]
    assert errors == []
    sales = [s for lane in lanes for s in lane.stats.completed]
    assert len(sales) == 100 and len({s.sale_id for s in sales}) == 100
    total = sum(s.total_minor for s in sales)
    quantity = sum(s.quantity for s in sales)
    declines = sum(lane.stats.declines for lane in lanes)

    async def analytics_adds_up() -> None:
        rows = (await ask_ok(nc, "analytics", "sales_totals", {"store_id": STORE}))["rows"]
        assert sum(r["sales_count"] for r in rows) == 100
        assert sum(r["total_minor"] for r in rows) == total
        assert sum(r["items_sold"] for r in rows) == quantity

    async def inventory_adds_up() -> None:
        summary = await ask_ok(nc, "inventory", "stock_summary", {"store_id": STORE})
        assert summary["sold_total"] == quantity

    async def payments_add_up() -> None:
        summary = await ask_ok(nc, "payments", "summary", {})
        assert summary["captured_count"] == 100
        assert summary["captured_total_minor_by_currency"] == {"EUR": total}
        assert summary["declined_count"] == declines

    async def loyalty_adds_up() -> None:
        expected: Counter[str] = Counter()
        for sale in sales:
            if sale.customer_id:
                expected[sale.customer_id] += sale.total_minor // 100
        for customer_id, points in expected.items():
            loyalty = await ask_ok(nc, "crm", "loyalty", {"customer_id": customer_id})
            assert loyalty["earned_total"] == points, customer_id

    for check in (analytics_adds_up, inventory_adds_up, payments_add_up, loyalty_adds_up):
        await eventually(check)

    statuses = await status_of(nc)
    assert all(s["up"] for s in statuses.values())
    assert sum(s.get("dead_letters", 0) for s in statuses.values()) == 0
    assert (await ask_ok(nc, "payments", "pending_payments", {}))["payments"] == []
    await watcher.stop()
    await nc.close()

    # The card payments went through the ISO 8583 simulator: its settlement file lists them.
    assert platform.acquirer is not None
    platform.acquirer.send_signal(signal.SIGTERM)
    assert platform.acquirer.wait(15) == 0
    rows = [
        row
        for path in (platform.settings.data_dir / "acquirer").glob("settlement-*.csv")
        for row in csv.DictReader(path.open(newline=""))
    ]
    assert len(rows) == 100 and {row["type"] for row in rows} == {"sale"}
    assert sum(int(row["amount_minor"]) for row in rows) == total
