"""The pipeline's promise on the happy path: every event once, in order, private ones skipped."""

from __future__ import annotations

import asyncio

from tests.pipeline.conftest import Pipeline


async def test_every_event_arrives_once_in_order(pipeline: Pipeline) -> None:
    shelf = pipeline.upstream.open_shelf("s001", "sku-1")
    for i in range(200):
        pipeline.upstream.count(shelf, 1, f"e{i}", note=(i % 7 == 0))
    await pipeline.start_relay(batch_size=64)
    await pipeline.start_consumer(batch_size=50)
    applied = await pipeline.wait_applied(200)
    assert applied == [f"e{i}" for i in range(200)]
    assert await pipeline.stream_messages() == 200  # private Opened/Noted never published


async def test_events_saved_while_running_are_relayed(pipeline: Pipeline) -> None:
    relay = await pipeline.start_relay()
    await pipeline.start_consumer()
    shelf = pipeline.upstream.open_shelf("s001", "sku-1")
    for i in range(50):
        pipeline.upstream.count(shelf, 2, f"e{i}")
    applied = await pipeline.wait_applied(50)
    assert applied == [f"e{i}" for i in range(50)]
    assert relay.stats.published == 50


async def test_a_consumer_receives_only_the_events_it_subscribes_to(pipeline: Pipeline) -> None:
    shelf = pipeline.upstream.open_shelf("s001", "sku-1")
    for i in range(30):
        pipeline.upstream.count(shelf, 1, f"e{i}")
    await pipeline.start_relay()
    other = await pipeline.start_consumer(events=("stock.low",))
    while await pipeline.stream_messages() < 30:
        await asyncio.sleep(0.02)
    await pipeline.settle()
    await pipeline.stop(other)
    assert other.stats.applied == 0 and pipeline.downstream.applied() == []
    # The same durable now asks for other events: its filter is updated in place and it goes
    # on from its position, as it would past events it had no handler for.
    wanted = await pipeline.start_consumer(events=("stock.changed",))
    for i in range(30, 40):
        pipeline.upstream.count(shelf, 1, f"e{i}")
    assert await pipeline.wait_applied(10) == [f"e{i}" for i in range(30, 40)]
    js = await pipeline.js()
    info = await js.consumer_info("INVENTORY", wanted.durable)
    assert info.config.filter_subject == "inventory.*.stock.changed.0"
