"""The pipeline with a cipher on the store (no ciphertext on the bus, no plaintext at rest),
and one trace followed from a command through the relay and the consumer."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

from tests.pipeline.toy import (
    DOWNSTREAM,
    HANDLERS,
    UPSTREAM,
    Ledgers,
    ShelfContracts,
    Shelves,
)
from tillstream import telemetry
from tillstream.bus import connect, ensure_platform_streams
from tillstream.consumer import Consumer, EventSourcedSink
from tillstream.eventstore import event_store_env
from tillstream.natsserver import NatsServer
from tillstream.relay import Relay
from tillstream.testing import test_settings


async def _run_pipeline(nats: NatsServer, upstream: Shelves, downstream: Ledgers, count: int):  # type: ignore[no-untyped-def]
    nc = await connect(nats.url, "test")
    js = nc.jetstream()
    await ensure_platform_streams(js, 1)
    stop = asyncio.Event()
    relay = Relay(UPSTREAM, upstream, ShelfContracts(), js)
    consumer = Consumer(DOWNSTREAM, UPSTREAM, 0, js, EventSourcedSink(downstream, HANDLERS))
    tasks = [asyncio.create_task(relay.run(stop, idle=0.05)),
             asyncio.create_task(consumer.run(stop, fetch_timeout=0.1))]
    deadline = asyncio.get_running_loop().time() + 20
    while len(downstream.applied()) < count and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*tasks)
    await nc.close()


async def test_cipher_keeps_plaintext_off_the_disk_and_ciphertext_off_the_bus(
    nats: NatsServer, tmp_path: Path
) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    settings = test_settings(tmp_path, cipher_key=key)
    upstream = Shelves(env=event_store_env(settings, UPSTREAM))
    downstream = Ledgers(env=event_store_env(settings, DOWNSTREAM))
    shelf = upstream.open_shelf("s001", "sku-1")
    tags = [f"secret-tag-{i}" for i in range(20)]
    for tag in tags:
        upstream.count(shelf, 1, tag)
    await _run_pipeline(nats, upstream, downstream, len(tags))
    assert downstream.applied() == tags  # the bus carried decrypted, decodable events
    for service in (UPSTREAM, DOWNSTREAM):
        for path in (tmp_path / service).glob("events.sqlite*"):
            assert b"secret-tag" not in path.read_bytes(), path
    upstream.close()
    downstream.close()


async def test_one_trace_follows_an_event_through_relay_and_consumer(
    nats: NatsServer, tmp_path: Path
) -> None:
    telemetry.setup("test")
    settings = test_settings(tmp_path)
    upstream = Shelves(env=event_store_env(settings, UPSTREAM))
    downstream = Ledgers(env=event_store_env(settings, DOWNSTREAM))
    with telemetry.tracer().start_as_current_span("lane command") as span:
        shelf = upstream.open_shelf("s001", "sku-1")
        upstream.count(shelf, 1, "traced")
    trace_id = format(span.get_span_context().trace_id, "032x")
    await _run_pipeline(nats, upstream, downstream, 1)
    notifications = downstream.notifications(1, 10)
    events = [downstream.mapper.to_domain_event(n) for n in notifications]
    applied = [e for e in events if type(e).__name__ == "Applied"]
    assert applied and trace_id in applied[0].traceparent
    upstream.close()
    downstream.close()
