"""The service on a real NATS server: the edge agents' catalog KV bucket, promotions and tax
rates as catalog events, and returns from checkout restocking (idempotently)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats as nats_py
import pytest
from nats.js.errors import KeyNotFoundError

from inventory.catalog_kv import CATALOG_BUCKET, CatalogBucket
from inventory.main import build
from tillstream.bus import wait_for
from tillstream.codec import IntegrationEvent
from tillstream.events.v1 import checkout_pb2, common_pb2, inventory_pb2
from tillstream.natsserver import NatsServer
from tillstream.service import ServiceHost
from tillstream.testing import ask_service
from tillstream.testing import test_settings as settings_for_test


@pytest.fixture
async def running(tmp_path: Path, nats: NatsServer) -> AsyncIterator[nats_py.NATS]:
    settings = settings_for_test(tmp_path, nats_url=nats.url)
    stop = asyncio.Event()
    host = ServiceHost(build(settings), settings, nats.url)
    task = asyncio.create_task(host.run(stop))
    nc = await nats_py.connect(nats.url)
    try:
        await ask_service(nc, "inventory", "stock_summary", {"store_id": "s001"})
        assert host.nc is not None
        host.nc.options["drain_timeout"] = 1  # see test_inventory_main
        yield nc
    finally:
        await nc.close()
        stop.set()
        await asyncio.wait_for(task, 20)


async def ask(nc: nats_py.NATS, command: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = await nc.request(f"cmd.inventory.s001.{command}", json.dumps(body).encode(), 5)
    return dict(json.loads(reply.data))


async def catalog_entry(nc: nats_py.NATS, sku: str) -> dict[str, Any] | None:
    try:
        kv = await nc.jetstream().key_value(CATALOG_BUCKET)
        entry = await kv.get(sku)
    except (KeyNotFoundError, Exception):
        return None
    return dict(json.loads(entry.value or b"{}"))


async def test_catalog_bucket_follows_product_upserts(running: nats_py.NATS) -> None:
    nc = running
    body = {
        "sku": "A1",
        "name": "Apple",
        "price_minor": 45,
        "currency": "EUR",
        "barcodes": ["4006381333931"],
    }
    assert (await ask(nc, "upsert_product", body))["ok"]

    async def priced(price: int) -> dict[str, Any] | None:
        entry = await catalog_entry(nc, "A1")
        return entry if entry is not None and entry["price_minor"] == price else None

    first = await wait_for(lambda: priced(45), timeout=15)
    assert first is not None
    assert {k: v for k, v in first.items() if k != "revision"} == {
        "sku": "A1",
        "name": "Apple",
        "barcodes": ["4006381333931"],
        "price_minor": 45,
        "currency": "EUR",
        "tax_class": "standard",
        "active": True,
    }
    assert (await ask(nc, "upsert_product", {**body, "price_minor": 49}))["ok"]
    second = await wait_for(lambda: priced(49), timeout=15)
    assert second is not None and second["revision"] > first["revision"]
    assert (await ask(nc, "discontinue_product", {"sku": "A1"}))["ok"]

    async def inactive() -> bool:
        entry = await catalog_entry(nc, "A1")
        return entry is not None and entry["active"] is False

    assert await wait_for(inactive, timeout=15)


async def test_stale_revision_never_overwrites(nats: NatsServer) -> None:
    bucket = CatalogBucket(nats.url)
    record = {
        "sku": "B",
        "name": "Bread",
        "barcodes": [],
        "price_minor": 200,
        "currency": "EUR",
        "tax_class": "standard",
        "active": True,
    }
    try:
        await asyncio.to_thread(bucket.put_latest, {**record, "revision": 5})
        assert not await asyncio.to_thread(
            bucket.put_latest, {**record, "price_minor": 1, "revision": 3}
        )
        assert not await asyncio.to_thread(bucket.put_latest, {**record, "revision": 5})
        got = await asyncio.to_thread(bucket.get, "B")
        assert got is not None and (got["price_minor"], got["revision"]) == (200, 5)
        assert await asyncio.to_thread(
            bucket.put_latest, {**record, "price_minor": 210, "revision": 9}
        )
        got = await asyncio.to_thread(bucket.get, "B")
        assert got is not None and got["price_minor"] == 210
    finally:
        await asyncio.to_thread(bucket.close)


async def last_message(js: Any, subject: str, message_type: Any) -> Any:
    try:
        msg = await js.get_last_msg("INVENTORY", subject)
    except Exception:
        return None
    return message_type.FromString(msg.data)


async def test_promotions_and_tax_rates_are_published(running: nats_py.NATS) -> None:
    nc = running
    js = nc.jetstream()
    promo = {
        "promotion_id": "P10",
        "kind": "percentage",
        "name": "10 % off apples",
        "skus": ["A1"],
        "percent_bp": 1000,
        "starts_at_ms": 1,
        "ends_at_ms": 0,
    }
    reply = await ask(nc, "upsert_promotion", promo)
    assert reply["ok"] and reply["percent_bp"] == 1000
    published = await wait_for(
        lambda: last_message(
            js, "inventory.chain.promotion.upserted.>", inventory_pb2.PromotionUpserted
        )
    )
    assert published is not None
    assert (
        published.promotion_id,
        published.kind,
        list(published.skus),
        published.percent_bp,
        published.active,
    ) == ("P10", "percentage", ["A1"], 1000, True)
    reply = await ask(
        nc,
        "upsert_tax_rate",
        {
            "store_id": "s001",
            "tax_class": "standard",
            "rate_bp": 1900,
            "mode": "inclusive",
            "name": "VAT 19%",
        },
    )
    assert reply == {"ok": True, "changed": True}
    rate = await wait_for(
        lambda: last_message(
            js, "inventory.s001.tax_rate.upserted.>", inventory_pb2.TaxRateUpserted
        )
    )
    assert rate is not None and (rate.tax_class, rate.rate_bp, rate.mode) == (
        "standard",
        1900,
        "inclusive",
    )
    bad = await ask(nc, "upsert_promotion", {**promo, "kind": "bogus"})
    assert bad["ok"] is False and bad["error"]["code"] == "invalid"
    bad = await ask(
        nc,
        "upsert_tax_rate",
        {"store_id": "s001", "tax_class": "standard", "rate_bp": 10_001, "mode": "inclusive"},
    )
    assert bad["ok"] is False and bad["error"]["code"] == "invalid"


async def test_return_restocks_once(running: nats_py.NATS) -> None:
    nc = running
    js = nc.jetstream()
    for sku in ("A1", "B2"):
        assert (
            await ask(
                nc,
                "upsert_product",
                {"sku": sku, "name": sku, "price_minor": 100, "currency": "EUR"},
            )
        )["ok"]
        assert (
            await ask(
                nc,
                "receive",
                {"store_id": "s001", "sku": sku, "quantity": 10, "reference": f"po-{sku}"},
            )
        )["ok"]
    ret = checkout_pb2.ReturnCompleted(
        return_id="r-1",
        store_id="s001",
        original_sale_id="sale-1",
        total=common_pb2.Money(amount_minor=300, currency="EUR"),
        lines=[
            checkout_pb2.ReturnLine(line_no=1, sku="A1", quantity=2, restock=True),
            checkout_pb2.ReturnLine(line_no=2, sku="B2", quantity=1, restock=False),
        ],
    )
    event = IntegrationEvent("checkout.s001.return.completed", ret, "s001", datetime.now(UTC))
    await js.publish(event.subject, event.payload(), headers=event.headers("checkout:1"))
    # The same return published again under another id (a second copy) adds nothing.
    await js.publish(event.subject, event.payload(), headers=event.headers("checkout:2"))

    async def restocked() -> bool:
        body = await ask(nc, "stock", {"store_id": "s001", "sku": "A1"})
        return bool(body["ok"]) and body["on_hand"] == 12

    assert await wait_for(restocked, timeout=15)
    await asyncio.sleep(0.5)  # let the second copy be consumed too
    a1 = await ask(nc, "stock", {"store_id": "s001", "sku": "A1"})
    assert a1["on_hand"] == 12
    b2 = await ask(nc, "stock", {"store_id": "s001", "sku": "B2"})
    assert (b2["on_hand"], b2["damaged"]) == (10, 1)  # not sellable: to the damaged pile
