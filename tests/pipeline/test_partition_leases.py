"""Replicas share partitions through leases: one consumer per partition at a time, a standby
takes over when the holder crashes (lease expiry) or stops (release), and nothing is lost or
applied twice across the hand-over."""

from __future__ import annotations

import asyncio

from tests.pipeline.conftest import Pipeline
from tillstream.leases import PartitionLease

TTL = 1.0


async def _replica(pipeline: Pipeline, name: str):  # type: ignore[no-untyped-def]
    js = await pipeline.js()
    lease = PartitionLease(js, "crm-inventory-p0", f"{name}:crm", ttl=TTL)
    return await pipeline.start_consumer(lease=lease)


async def _until(check, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def _count(pipeline: Pipeline, shelf, start: int, stop: int) -> None:  # type: ignore[no-untyped-def]
    for i in range(start, stop):
        pipeline.upstream.count(shelf, 1, f"e{i}")


async def test_one_replica_consumes_and_a_standby_takes_over_after_a_crash(
    pipeline: Pipeline,
) -> None:
    shelf = pipeline.upstream.open_shelf("s001", "sku-1")
    await pipeline.start_relay()
    first = await _replica(pipeline, "replica-a")
    await asyncio.sleep(0.2)
    second = await _replica(pipeline, "replica-b")
    await _count(pipeline, shelf, 0, 50)
    assert await pipeline.wait_applied(50) == [f"e{i}" for i in range(50)]
    await _until(lambda: first.stats.applied == 50)
    assert second.stats.applied == 0
    assert first.lease is not None and first.lease.held
    assert second.lease is not None and not second.lease.held

    # The holder crashes: no release, its lease simply stops being renewed.
    _, task = pipeline._handles[id(first)]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await _count(pipeline, shelf, 50, 100)
    applied = await pipeline.wait_applied(100, timeout=20)
    assert applied == [f"e{i}" for i in range(100)]
    # The commit is seen before the consumer acks and counts it.
    await _until(lambda: second.stats.applied == 50)
    assert second.lease.held


async def test_a_clean_stop_hands_the_partition_over_at_once(pipeline: Pipeline) -> None:
    shelf = pipeline.upstream.open_shelf("s001", "sku-1")
    await pipeline.start_relay()
    first = await _replica(pipeline, "replica-a")
    await asyncio.sleep(0.2)
    second = await _replica(pipeline, "replica-b")
    await _count(pipeline, shelf, 0, 20)
    await pipeline.wait_applied(20)
    await pipeline.stop(first)  # releases its lease
    assert first.lease is not None and not first.lease.held
    await _count(pipeline, shelf, 20, 40)
    applied = await pipeline.wait_applied(40, timeout=10)
    assert applied == [f"e{i}" for i in range(40)]
    await _until(lambda: first.stats.applied + second.stats.applied == 40)
