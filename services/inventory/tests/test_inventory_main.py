"""Inventory's composition root, and the service running against a real NATS server."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import nats as nats_py

from inventory.contracts import InventoryContracts
from inventory.main import build
from tillstream.bus import wait_for
from tillstream.codec import IntegrationEvent
from tillstream.consumer import EventSourcedSink
from tillstream.events.v1 import checkout_pb2, common_pb2, inventory_pb2
from tillstream.natsserver import NatsServer
from tillstream.service import ServiceHost, Subscription
from tillstream.testing import test_settings as settings_for_test


def test_build(tmp_path: Path) -> None:
    definition = build(settings_for_test(tmp_path))
    try:
        assert definition.name == "inventory"
        assert isinstance(definition.contracts, InventoryContracts)
        subscription = definition.subscriptions["checkout"]
        assert isinstance(subscription, Subscription)
        assert isinstance(subscription.sink, EventSourcedSink)
        assert subscription.events == ("sale.completed", "return.completed")
        catalog = definition.subscriptions["inventory"]
        assert isinstance(catalog, Subscription)
        assert catalog.events == ("product.upserted",)
        assert {"upsert_product", "receive", "stock", "stock_summary"} <= set(
            definition.commands)
        assert definition.stats is not None and definition.stats() == {
            "tracked": {"checkout.p0": 0}}
        assert definition.grpc is not None  # the partner API (port from settings)
    finally:
        assert definition.app is not None
        definition.app.close()


async def request(nc: nats_py.NATS, command: str, body: dict) -> dict:  # type: ignore[type-arg]
    reply = await nc.request(f"cmd.inventory.s001.{command}", json.dumps(body).encode(), 5)
    return json.loads(reply.data)  # type: ignore[no-any-return]


async def test_service_relays_and_consumes(tmp_path: Path, nats: NatsServer) -> None:
    settings = settings_for_test(tmp_path, nats_url=nats.url)
    stop = asyncio.Event()
    host = ServiceHost(build(settings), settings, nats.url)
    task = asyncio.create_task(host.run(stop))
    nc = await nats_py.connect(nats.url)
    try:
        js = nc.jetstream()
        reply = await wait_for(lambda: _try(request(nc, "upsert_product", {
            "sku": "A", "name": "Apple", "price_minor": 45, "currency": "EUR"})))
        assert reply["ok"] and reply["sku"] == "A"
        # Kit workaround: Consumer.run never unsubscribes its pull subscription, so the host's
        # nc.drain() on shutdown waits out nats-py's 30 s drain timeout. Shorten it here.
        assert host.nc is not None
        host.nc.options["drain_timeout"] = 1

        # The relay publishes the catalog event on the chain-wide subject.
        async def upserted() -> inventory_pb2.ProductUpserted | None:
            try:
                msg = await js.get_last_msg("INVENTORY", "inventory.chain.product.upserted.>")
            except Exception:
                return None
            return inventory_pb2.ProductUpserted.FromString(msg.data)

        product = await wait_for(upserted)
        assert product is not None and product.price.amount_minor == 45

        # A sale from checkout's stream reaches the stock.
        sale = checkout_pb2.SaleCompleted(
            sale_id="sale-1", store_id="s001",
            lines=[common_pb2.SaleLine(line_no=1, sku="A", quantity=3)],
            total=common_pb2.Money(amount_minor=135, currency="EUR"),
        )
        event = IntegrationEvent("checkout.s001.sale.completed", sale, "s001", datetime.now(UTC))
        await js.publish(event.subject, event.payload(), headers=event.headers("checkout:1"))

        async def sold() -> bool:
            body = await request(nc, "stock", {"store_id": "s001", "sku": "A"})
            return bool(body["ok"]) and body["sold"] == 3

        assert await wait_for(sold)
        refused = await request(nc, "stock", {"store_id": "s001", "sku": "NOPE"})
        assert refused == {"ok": False, "error": {
            "code": "not_found", "message": "store 's001' holds no stock of 'NOPE'"}}
    finally:
        await nc.close()
        stop.set()
        await asyncio.wait_for(task, 20)


async def _try(coro):  # type: ignore[no-untyped-def]
    try:
        return await coro
    except Exception:  # no responder yet: the service is still starting
        return None
