"""The store's NATS against a real hub: a leaf node per store with its own JetStream domain,
its stream sourced by the hub's EDGE stream, the catalog mirrored in; links cut and restored."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nats.js.api import KeyValueConfig

from edge_agent.catalog import CatalogReplica, UnknownProductError
from edge_agent.harness import Store, StoreOptions, hub_server, start_store
from edge_agent.storenats import CATALOG_BUCKET, kick_stale_source
from tillstream.bus import (
    EDGE_STREAM,
    connect,
    ensure_platform_streams,
    partition_filter,
    store_stream_name,
    wait_for,
)
from tillstream.codec import decode
from tillstream.events.v1 import edge_pb2
from tillstream.natsserver import NatsServer

PARTITIONS = 4


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[NatsServer]:
    server = hub_server(tmp_path / "hub").start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
async def store(hub: NatsServer, tmp_path: Path) -> AsyncIterator[Store]:
    running = await start_store(hub, "s001", tmp_path / "s001", StoreOptions(partitions=PARTITIONS))
    try:
        yield running
    finally:
        await running.stop()


async def hub_edge_subjects(hub: NatsServer) -> dict[str, int]:
    nc = await connect(hub.url, "test-hub")
    try:
        info = await nc.jetstream().stream_info(EDGE_STREAM, subjects_filter=">")
        return dict(info.state.subjects or {})
    finally:
        await nc.close()


async def hub_edge_count(hub: NatsServer) -> int:
    return sum((await hub_edge_subjects(hub)).values())


async def publish_local(store: Store, count: int, start: int = 0) -> None:
    """Offline-sale events written in the store's stream, as the gateway writes them."""
    gateway = store.agent.gateway
    assert gateway is not None
    for n in range(start, start + count):
        message = edge_pb2.StoreWentOffline(store_id="s001", at_ms=n, reason=f"test {n}")
        await gateway.publish("store", "offline", message, f"test:{n}")


async def test_store_events_reach_the_hub_with_a_partition_token(
    hub: NatsServer, store: Store
) -> None:
    await publish_local(store, 5)
    assert await wait_for(lambda: _count_is(hub, 5), timeout=15)
    subjects = await hub_edge_subjects(hub)
    assert len(subjects) == 1
    (subject,) = subjects
    tokens = subject.split(".")
    assert tokens[:4] == ["edge", "s001", "store", "offline"] and len(tokens) == 5
    # The consumers' partition filter matches the sourced messages.
    nc = await connect(hub.url, "test-hub")
    try:
        sub = await nc.jetstream().pull_subscribe(
            partition_filter("edge", int(tokens[4])), durable="t", stream=EDGE_STREAM
        )
        msgs = await sub.fetch(5, timeout=5)
        events = [decode(m.subject, m.data, m.headers) for m in msgs]
        assert [e.message.at_ms for e in events] == [0, 1, 2, 3, 4]  # type: ignore[attr-defined]
        assert {e.msg_id for e in events} == {f"edge:s001:test:{n}" for n in range(5)}
    finally:
        await nc.close()


async def _count_is(hub: NatsServer, expected: int) -> bool:
    try:
        return await hub_edge_count(hub) == expected
    except Exception:  # EDGE not created yet, or the hub restarting
        return False


async def test_a_cut_link_buffers_in_the_store_and_the_hub_catches_up_once(
    hub: NatsServer, store: Store
) -> None:
    await publish_local(store, 10)
    assert await wait_for(lambda: _count_is(hub, 10), timeout=15)

    await store.link.cut()
    await publish_local(store, 200, start=10)  # acked by the store's own JetStream
    await asyncio.sleep(1.0)
    assert await hub_edge_count(hub) == 10
    nc = await connect(store.nats_url, "test-store")
    local = await nc.jetstream().stream_info(store_stream_name("s001"))
    assert local.state.messages == 210
    await nc.close()

    await store.link.restore()
    assert await wait_for(lambda: _count_is(hub, 210), timeout=30)
    # A repeat of an event already sent (an agent retrying after a crash) is stored once.
    await publish_local(store, 20, start=195)
    await asyncio.sleep(1.5)
    assert await hub_edge_count(hub) == 215


async def test_the_hub_catches_up_after_the_hub_itself_restarts(
    hub: NatsServer, store: Store
) -> None:
    await publish_local(store, 3)
    assert await wait_for(lambda: _count_is(hub, 3), timeout=15)
    hub.stop()
    await publish_local(store, 50, start=3)
    hub.start()
    assert await wait_for(lambda: _count_is(hub, 53), timeout=30)


async def test_a_healthy_idle_source_is_left_alone(hub: NatsServer, store: Store) -> None:
    await publish_local(store, 1)
    assert await wait_for(lambda: _count_is(hub, 1), timeout=15)
    await asyncio.sleep(5)  # idle longer than the staleness threshold
    nc = await connect(hub.url, "test-hub")
    try:
        assert not await kick_stale_source(nc.jetstream(), "s001", PARTITIONS)
    finally:
        await nc.close()


async def test_a_service_restart_keeps_the_stores_sources(hub: NatsServer, store: Store) -> None:
    nc = await connect(hub.url, "test-hub")
    js = nc.jetstream()
    try:
        assert await wait_for(lambda: _sourced(js), timeout=15)
        await ensure_platform_streams(js, PARTITIONS)  # what every service does at start
        assert await _sourced(js)
    finally:
        await nc.close()


async def _sourced(js: object) -> bool:
    try:
        info = await js.stream_info(EDGE_STREAM)  # type: ignore[attr-defined]
    except Exception:
        return False
    return any(s.name == "EDGE_s001" for s in info.config.sources or [])


async def test_the_catalog_is_mirrored_into_the_store_and_answers_offline(
    hub: NatsServer, store: Store
) -> None:
    nc = await connect(hub.url, "test-hub")
    kv = await nc.jetstream().create_key_value(KeyValueConfig(bucket=CATALOG_BUCKET))
    product = {
        "sku": "SKU-1",
        "name": "Tea",
        "barcodes": ["4000000000017"],
        "price_minor": 349,
        "currency": "EUR",
        "tax_class": "reduced",
        "active": True,
    }
    await kv.put("SKU-1", json.dumps(product).encode())
    await kv.put("SKU-2", json.dumps({**product, "sku": "SKU-2", "active": False}).encode())
    store_nc = await connect(store.nats_url, "test-store")
    replica = CatalogReplica(store_nc.jetstream())
    try:
        assert await wait_for(lambda: _size_is(replica, 2), timeout=20)
        await store.link.cut()
        tea = await replica.product("SKU-1")
        assert (tea.price_minor, tea.currency, tea.tax_class) == (349, "EUR", "reduced")
        with pytest.raises(UnknownProductError):
            await replica.product("SKU-2")  # not for sale
        with pytest.raises(UnknownProductError):
            await replica.product("SKU-9")
        await store.link.restore()
        await kv.put("SKU-1", json.dumps({**product, "price_minor": 399}).encode())
        await kv.delete("SKU-2")
        assert await wait_for(lambda: _price_is(replica, "SKU-1", 399), timeout=20)
    finally:
        await store_nc.close()
        await nc.close()


async def _size_is(replica: CatalogReplica, size: int) -> bool:
    return await replica.size() >= size


async def _price_is(replica: CatalogReplica, sku: str, price: int) -> bool:
    return (await replica.product(sku)).price_minor == price
