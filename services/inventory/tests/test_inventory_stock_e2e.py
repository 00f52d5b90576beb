"""End to end over the real bus: a burst of completed sales takes exactly their units out of
stock (batched, several sales per item per transaction), and a return puts them back."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats as nats_py
import pytest

from inventory.main import build
from tillstream.bus import wait_for
from tillstream.codec import IntegrationEvent
from tillstream.events.v1 import checkout_pb2, common_pb2
from tillstream.natsserver import NatsServer
from tillstream.service import ServiceHost
from tillstream.testing import ask_service
from tillstream.testing import test_settings as settings_for_test

STORE = "s001"
SKUS = [f"E2E{i:02d}" for i in range(8)]
OPENING = 500


@pytest.fixture
async def running(tmp_path: Path, nats: NatsServer) -> AsyncIterator[nats_py.NATS]:
    settings = settings_for_test(tmp_path, nats_url=nats.url)
    stop = asyncio.Event()
    host = ServiceHost(build(settings), settings, nats.url)
    task = asyncio.create_task(host.run(stop))
    nc = await nats_py.connect(nats.url)
    try:
        await ask_service(nc, "inventory", "stock_summary", {"store_id": STORE})
        assert host.nc is not None
        host.nc.options["drain_timeout"] = 1  # see test_inventory_main
        yield nc
    finally:
        await nc.close()
        stop.set()
        await asyncio.wait_for(task, 20)


async def ask(nc: nats_py.NATS, command: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = await nc.request(f"cmd.inventory.{STORE}.{command}", json.dumps(body).encode(), 5)
    answer = dict(json.loads(reply.data))
    assert answer["ok"], answer
    return answer


def money(amount: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount, currency="EUR")


def burst(count: int) -> list[checkout_pb2.SaleCompleted]:
    """Sales of 1-4 lines over a few SKUs, so one batch sells each item many times."""
    rng = random.Random(5)
    sales = []
    for n in range(1, count + 1):
        lines = [
            common_pb2.SaleLine(
                line_no=line_no,
                sku=rng.choice(SKUS),
                quantity=rng.randint(1, 3),
                unit_price=money(100),
                line_total=money(100),
            )
            for line_no in range(1, rng.randint(1, 4) + 1)
        ]
        sales.append(
            checkout_pb2.SaleCompleted(
                sale_id=f"sale-{n}",
                store_id=STORE,
                lines=lines,
                total=money(100 * len(lines)),
            )
        )
    return sales


async def publish(js: Any, subject: str, message: Any, position: int) -> None:
    event = IntegrationEvent(subject, message, STORE, datetime.now(UTC))
    await js.publish(event.subject, event.payload(), headers=event.headers(f"checkout:{position}"))


async def stock(nc: nats_py.NATS, sku: str) -> dict[str, Any]:
    return await ask(nc, "stock", {"store_id": STORE, "sku": sku})


async def test_sales_take_stock_and_a_return_restocks(running: nats_py.NATS) -> None:
    nc = running
    js = nc.jetstream()
    for sku in SKUS:
        await ask(
            nc, "upsert_product", {"sku": sku, "name": sku, "price_minor": 100, "currency": "EUR"}
        )
        await ask(
            nc, "receive", {"store_id": STORE, "sku": sku, "quantity": OPENING, "reference": "po-1"}
        )
    sales = burst(120)
    sold: Counter[str] = Counter()
    for line in (line for sale in sales for line in sale.lines):
        sold[line.sku] += line.quantity
    # Published without waiting for the consumer: it finds them queued and takes them in
    # batches, so one transaction sells the same items over and over.
    now = datetime.now(UTC)
    acks = []
    for position, sale in enumerate(sales, start=1):
        event = IntegrationEvent(f"checkout.{STORE}.sale.completed", sale, STORE, now)
        acks.append(
            await js.publish_async(
                event.subject, event.payload(), headers=event.headers(f"checkout:{position}")
            )
        )
    await asyncio.gather(*acks)

    async def all_sold() -> bool:
        summary = await ask(nc, "stock_summary", {"store_id": STORE})
        return bool(summary["sold_total"] == sum(sold.values()))

    assert await wait_for(all_sold, timeout=30)
    for sku in SKUS:
        level = await stock(nc, sku)
        assert (level["sold"], level["on_hand"]) == (sold[sku], OPENING - sold[sku]), sku

    first = sales[0].lines[0]
    other = next(sku for sku in SKUS if sku != first.sku)
    ret = checkout_pb2.ReturnCompleted(
        return_id="ret-1",
        store_id=STORE,
        original_sale_id=sales[0].sale_id,
        total=money(100),
        lines=[
            checkout_pb2.ReturnLine(line_no=1, sku=first.sku, quantity=1, restock=True),
            checkout_pb2.ReturnLine(line_no=2, sku=other, quantity=2, restock=False),
        ],
    )
    await publish(js, f"checkout.{STORE}.return.completed", ret, len(sales) + 1)

    async def returned() -> bool:
        return bool((await stock(nc, other))["damaged"] == 2)

    assert await wait_for(returned, timeout=15)
    restocked = await stock(nc, first.sku)
    assert restocked["on_hand"] == OPENING - sold[first.sku] + 1
    damaged = await stock(nc, other)
    # Damaged goods do not go back on the shelf.
    assert (damaged["on_hand"], damaged["damaged"]) == (OPENING - sold[other], 2)
