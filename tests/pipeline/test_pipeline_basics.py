"""The pipeline's promise on the happy path: every event once, in order, private ones skipped."""

from __future__ import annotations

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
