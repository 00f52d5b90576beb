"""The pipeline's promise under faults: no lost and no doubled effect, ever.

Every test runs on SQLite and on PostgreSQL event stores (the `pipeline` fixture), against a
real nats-server, and ends with exact counts:
- the upstream stream holds exactly one message per public upstream event, in log order
  (`Nats-Msg-Id = inventory:<notification id>`, read back with js.get_msg);
- the downstream applied exactly the upstream tags, each once, in order per store.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
from collections import Counter
from uuid import UUID

import pytest

from tests.pipeline.conftest import Pipeline, eventually
from tests.pipeline.toy import UPSTREAM, ShelfContracts, on_stock_changed
from tillstream.bus import ALERTS_STREAM, DEADLETTER_STREAM, stream_name
from tillstream.codec import H_MSG_ID, ReceivedEvent
from tillstream.consumer import UnitOfWork
from tillstream.events.v1 import alerts_pb2, inventory_pb2
from tillstream.relay import Relay, RelayFencedError

STREAM = stream_name(UPSTREAM)


def count(pipeline: Pipeline, shelf: UUID, tags: list[str], note_every: int = 0) -> list[str]:
    """Record one upstream event per tag (plus private notes now and then); return the tags."""
    for i, tag in enumerate(tags):
        pipeline.upstream.count(shelf, 1, tag, note=bool(note_every) and i % note_every == 0)
    return tags


async def count_concurrently(
    pipeline: Pipeline, shelf: UUID, tags: list[str], chunk: int = 10
) -> list[str]:
    """Record the events from a worker thread, in chunks, while relays and consumers run."""
    for start in range(0, len(tags), chunk):
        await asyncio.to_thread(count, pipeline, shelf, tags[start:start + chunk], 3)
        await asyncio.sleep(0.005)
    return tags


async def assert_exactly(pipeline: Pipeline, tags: dict[str, list[str]]) -> None:
    """Stream and downstream hold exactly what the upstream log says: nothing lost or doubled."""
    await pipeline.settle()  # anything late in flight would land now and show as doubled
    ids = await pipeline.stream_msg_ids()
    assert len(ids) == len(set(ids)), f"doubled in the stream: {_doubled(ids)}"
    assert ids == pipeline.expected_msg_ids()
    for store, expected in tags.items():
        applied = pipeline.downstream.applied(store)
        assert len(applied) == len(set(applied)), f"applied twice: {_doubled(applied)}"
        assert applied == expected, f"store {store}: missing {sorted(set(expected) - set(applied))}"


def _doubled(items: list[str]) -> list[str]:
    return [item for item, n in Counter(items).items() if n > 1]


async def all_applied(
    pipeline: Pipeline, n: int, store: str = "s001", timeout: float = 20.0
) -> None:
    applied = await eventually(lambda: len(pipeline.downstream.applied(store)) >= n, timeout)
    assert applied, f"only {len(pipeline.downstream.applied(store))} of {n} applied"


async def stream_holds(pipeline: Pipeline, n: int, timeout: float = 20.0) -> None:
    async def check() -> bool:
        return await pipeline.stream_messages() >= n

    assert await eventually(check, timeout), f"{await pipeline.stream_messages()} of {n}"


def tags_(n: int, prefix: str = "e", start: int = 0) -> list[str]:
    return [f"{prefix}{i}" for i in range(start, start + n)]


# -- 1. duplicates ----------------------------------------------------------------------------


async def test_duplicate_publishes_are_stored_once_and_applied_once(pipeline: Pipeline) -> None:
    shelf = pipeline.upstream.open_shelf("s001", "sku-1")
    tags = count(pipeline, shelf, tags_(100), note_every=7)
    js = await pipeline.admin()

    # By hand: the first public event, published twice with the same Nats-Msg-Id.
    contracts = ShelfContracts()
    first = next(
        n for n in pipeline.upstream.notifications(1, 100)
        if contracts.to_integration(pipeline.upstream.mapper.to_domain_event(n))
    )
    event = contracts.to_integration(pipeline.upstream.mapper.to_domain_event(first))
    assert event is not None
    headers = event.headers(f"{UPSTREAM}:{first.id}")
    acks = [await js.publish(event.subject, event.payload(), headers=headers) for _ in range(2)]
    assert acks[0].seq == 1 and not acks[0].duplicate
    assert acks[1].duplicate is True and acks[1].seq == acks[0].seq == 1
    assert await pipeline.stream_messages() == 1

    # The relay resumes after the hand-published message: it publishes the other 99 once.
    relay = await pipeline.start_relay(batch_size=32)
    consumer = await pipeline.start_consumer(batch_size=25)
    await all_applied(pipeline, 100)
    assert relay.stats.published == 99
    await pipeline.stop(relay)

    # A relay restarted with a stale position re-publishes what the stream already holds...
    public = pipeline.expected_msg_ids()
    stale_at = int(public[39].rsplit(":", 1)[1])
    stale = Relay(UPSTREAM, pipeline.upstream, contracts, await pipeline.js(), batch_size=16)
    stale.stats.position = stale_at
    stale.last_msg_id = public[39]
    more = count(pipeline, shelf, tags_(20, start=100))
    while await stale.publish_pending():
        pass
    # ...and the stream drops all 60 as duplicates; only the 20 new events are stored.
    assert stale.stats.published == 20
    assert stale.stats.fenced == 0
    assert await pipeline.stream_messages() == 120
    await all_applied(pipeline, 120)
    await assert_exactly(pipeline, {"s001": tags + more})
    assert consumer.stats.skipped_duplicates == 0  # no duplicate ever reached the consumer
    assert consumer.stats.applied == 120


# -- 2. relay killed mid-batch ----------------------------------------------------------------


@pytest.mark.parametrize("when", ["acked", "in_flight"])
async def test_relay_killed_mid_batch_then_restarted(pipeline: Pipeline, when: str) -> None:
    shelf = pipeline.upstream.open_shelf("s001", "sku-1")
    tags = count(pipeline, shelf, tags_(300), note_every=5)
    await pipeline.start_consumer(batch_size=40)

    # Batches of 50: the kill comes after the 125th publish, halfway through the third batch.
    args = ["--batch-size", "50", "--kill-after-publishes", "125"]
    if when == "in_flight":
        args.append("--kill-in-flight")
    doomed = pipeline.spawn("relay", *args)
    assert await pipeline.wait_exit(doomed) == -signal.SIGKILL, pipeline.proc_log(doomed)

    ids = await pipeline.stream_msg_ids()
    expected = pipeline.expected_msg_ids()
    if when == "acked":
        assert ids == expected[:125]  # two whole batches and half of the third: mid-batch
    else:
        assert 100 <= len(ids) <= 125
        assert ids == expected[: len(ids)]

    relay = pipeline.spawn("relay", "--batch-size", "50")
    await stream_holds(pipeline, 300)
    more = count(pipeline, shelf, tags_(20, start=300))  # and it goes on relaying new events
    await stream_holds(pipeline, 320)
    await all_applied(pipeline, 320)
    relay.terminate()
    assert await pipeline.wait_exit(relay) == 0, pipeline.proc_log(relay)
    await assert_exactly(pipeline, {"s001": tags + more})


# -- 3. two relays at once, and the fence -----------------------------------------------------


async def test_two_relays_on_one_log_publish_each_event_once(pipeline: Pipeline) -> None:
    relay_a = await pipeline.start_relay(batch_size=20)
    relay_b = await pipeline.start_relay(batch_size=7)
    await pipeline.start_consumer(batch_size=30)
    shelf = pipeline.upstream.open_shelf("s001", "sku-1")
    tags = await count_concurrently(pipeline, shelf, tags_(150))
    await all_applied(pipeline, 150)
    await stream_holds(pipeline, 150)
    await assert_exactly(pipeline, {"s001": tags})
    # Each event was stored by exactly one of them; the other's copy was a duplicate.
    assert relay_a.stats.published + relay_b.stats.published == 150
    await pipeline.stop(relay_a)
    await pipeline.stop(relay_b)

    # The fence, forced: B last saw the head at H, then A moved on. Past the duplicate window
    # B's re-publishes would not be dropped as duplicates, so model that directly: B believes it
    # is at A's position but still names H as the stream's last message.
    contracts = ShelfContracts()
    b = Relay(UPSTREAM, pipeline.upstream, contracts, await pipeline.js(), batch_size=50)
    await b.resync()
    stale_last = b.last_msg_id
    tags += count(pipeline, shelf, tags_(10, start=150))
    a = Relay(UPSTREAM, pipeline.upstream, contracts, await pipeline.js(), batch_size=50)
    await a.resync()
    assert await a.publish_pending() and a.stats.published == 10
    tags += count(pipeline, shelf, tags_(5, start=160))
    b.stats.position = a.position
    assert b.last_msg_id == stale_last != a.last_msg_id
    with pytest.raises(RelayFencedError):
        await b.publish_pending()
    assert await pipeline.stream_messages() == 160  # not one of B's publishes was stored
    assert b.position == a.position  # and B did not advance over them
    await b.resync()
    assert b.last_msg_id == a.last_msg_id
    assert await b.publish_pending() and b.stats.published == 5

    # In the run loop a fence is counted and the relay recovers by itself.
    def go_stale(notifications: object) -> None:
        if c.stats.fenced == 0:
            c.last_msg_id = stale_last

    c = await pipeline.start_relay(batch_size=50, before_publish=go_stale)
    tags += count(pipeline, shelf, tags_(15, start=165))
    await stream_holds(pipeline, 180)
    await all_applied(pipeline, 180)
    assert c.stats.fenced == 1
    assert c.stats.published == 15
    await assert_exactly(pipeline, {"s001": tags})


# -- 4. and 5. a consumer killed after commit / before commit ---------------------------------


async def _consumer_killed(pipeline: Pipeline, moment: str) -> None:
    shelf = pipeline.upstream.open_shelf("s001", "sku-1")
    tags = count(pipeline, shelf, tags_(200), note_every=9)
    await pipeline.start_relay(batch_size=100)
    await stream_holds(pipeline, 200)

    report = pipeline.tmp / "killed-batch.json"
    doomed = pipeline.spawn(
        "consumer", "--batch-size", "50", "--ack-wait", "1", f"--kill-{moment}-commit", "2",
        "--report", str(report),
    )
    assert await pipeline.wait_exit(doomed) == -signal.SIGKILL, pipeline.proc_log(doomed)
    killed = json.loads(report.read_text())
    first, last = tags.index(killed["tags"][0]), tags.index(killed["tags"][-1])
    assert killed["tags"] == tags[first:last + 1]
    done_before = last + 1 if moment == "after" else first
    assert pipeline.downstream.applied() == tags[:done_before]

    # A new consumer, same durable, short ack wait: the killed batch comes round again.
    consumer = await pipeline.start_consumer(batch_size=50, ack_wait=1.0)
    await all_applied(pipeline, 200)
    if moment == "after":
        skipped = await eventually(
            lambda: consumer.stats.skipped_duplicates >= killed["size"], timeout=10
        )
        assert skipped, "the committed batch was never redelivered"
        assert consumer.stats.skipped_duplicates == killed["size"]  # acked with no effect
    assert await eventually(lambda: _no_lag(consumer), timeout=10)
    await assert_exactly(pipeline, {"s001": tags})
    assert consumer.stats.applied == 200 - done_before
    assert consumer.stats.dead_lettered == 0
    # It found the killed batch unacked and had it redelivered first, in order.
    assert consumer.stats.rewinds == 1


async def _no_lag(consumer) -> bool:  # type: ignore[no-untyped-def]
    return await consumer.lag() == 0


async def test_consumer_killed_after_commit_before_ack(pipeline: Pipeline) -> None:
    await _consumer_killed(pipeline, "after")


async def test_consumer_killed_before_commit(pipeline: Pipeline) -> None:
    await _consumer_killed(pipeline, "before")


# -- 6. the NATS server restarted mid-stream --------------------------------------------------


async def test_nats_server_restart_mid_stream(pipeline: Pipeline) -> None:
    relay = await pipeline.start_relay(batch_size=20, ack_timeout=2.0)
    consumer = await pipeline.start_consumer(batch_size=20)
    shelf = pipeline.upstream.open_shelf("s001", "sku-1")
    tags = tags_(300)
    await count_concurrently(pipeline, shelf, tags[:100], chunk=5)
    await all_applied(pipeline, 60)
    # The rest is written while the broker stops and starts: relay and consumer are mid-way.
    writer = asyncio.create_task(count_concurrently(pipeline, shelf, tags[100:], chunk=5))
    await asyncio.sleep(0.02)
    await asyncio.to_thread(pipeline.server.stop)  # same port, same store dir
    await asyncio.sleep(0.2)  # the writer goes on while the broker is away
    await asyncio.to_thread(pipeline.server.start)
    await writer

    await all_applied(pipeline, 300, timeout=30)
    await stream_holds(pipeline, 300)
    await assert_exactly(pipeline, {"s001": tags})
    # The relay's fence chain (Nats-Expected-Last-Msg-Id) survived the restart: the relay did
    # not spin on fences; it publishes each event once.
    assert relay.stats.fenced == 0
    assert relay.stats.published == 300
    assert consumer.stats.applied == 300
    assert consumer.stats.dead_lettered == 0

    # Directly: across a restart the server still knows the stream's last Nats-Msg-Id (from
    # its dedup state), so an idle relay that does not resync publishes on at once, and a stale
    # expectation is still refused.
    await pipeline.stop(relay)
    nc = await pipeline.connect()
    idle = Relay(UPSTREAM, pipeline.upstream, ShelfContracts(), nc.jetstream())
    await idle.resync()
    stale_last = pipeline.expected_msg_ids()[-2]
    await asyncio.to_thread(pipeline.server.restart)
    assert await eventually(lambda: nc.is_connected, timeout=10)
    tags += count(pipeline, shelf, tags_(5, start=300))
    assert await idle.publish_pending() and idle.stats.published == 5
    tags += count(pipeline, shelf, tags_(1, start=305))
    idle.last_msg_id = stale_last
    with pytest.raises(RelayFencedError):
        await idle.publish_pending()
    await idle.resync()
    assert await idle.publish_pending() and idle.stats.published == 6
    await all_applied(pipeline, 306)
    await assert_exactly(pipeline, {"s001": tags})


# -- 7. poison and garbage go to the dead-letter stream ---------------------------------------


async def test_poison_and_undecodable_messages_are_dead_lettered(pipeline: Pipeline) -> None:
    relay = await pipeline.start_relay(batch_size=25)
    consumer = await pipeline.start_consumer(batch_size=25, max_deliver=3)
    shelf = pipeline.upstream.open_shelf("s001", "sku-1")
    first_half = tags_(40)
    first_half[20] = "poison-20"
    count(pipeline, shelf, first_half)
    await all_applied(pipeline, 39)

    # A garbage message in the stream, with a bogus event type. It takes the Nats-Msg-Id of a
    # private notification, so the relay's chain stays whole: it is fenced once, resyncs to it
    # and goes on.
    pipeline.upstream.note(shelf, "a private event")
    private_id = pipeline.upstream.events_stored()
    assert await eventually(lambda: relay.position == private_id)
    js = await pipeline.admin()
    ack = await js.publish(
        f"{UPSTREAM}.s001.stock.changed",
        b"\xff\xfenot a protobuf\x00",
        headers={
            H_MSG_ID: f"{UPSTREAM}:{private_id}",
            "Tillstream-Event-Type": "tillstream.events.v1.NoSuchEvent",
            "Tillstream-Store-Id": "s001",
        },
    )
    second_half = count(pipeline, shelf, tags_(20, start=40))
    await all_applied(pipeline, 59)
    await stream_holds(pipeline, 61)

    await pipeline.settle()
    good = [t for t in first_half + second_half if not t.startswith("poison")]
    assert pipeline.downstream.applied() == good  # every other message flowed, in order
    ids = await pipeline.stream_msg_ids()
    expected = pipeline.expected_msg_ids()
    assert ids == [*expected[:40], f"{UPSTREAM}:{private_id}", *expected[40:]]
    assert relay.stats.fenced == 1 and relay.stats.published == 60

    dead = await pipeline.stream_contents(DEADLETTER_STREAM)
    assert [m.headers["Tillstream-Original-Msg-Id"] for m in dead] == [
        expected[20], f"{UPSTREAM}:{private_id}"
    ]
    assert "Poisoned: cannot apply poison-20" in dead[0].headers["Tillstream-Dead-Letter-Reason"]
    assert "unknown integration event type" in dead[1].headers["Tillstream-Dead-Letter-Reason"]
    assert dead[1].data == b"\xff\xfenot a protobuf\x00"
    assert all(m.subject == "deadletter.crm-inventory-p0" for m in dead)

    alerts = await pipeline.stream_contents(ALERTS_STREAM)
    assert [m.subject for m in alerts] == ["alerts.crm.deadletter"] * 2
    assert all(
        m.headers["Tillstream-Event-Type"] == "tillstream.events.v1.DeadLettered" for m in alerts
    )
    decoded = [alerts_pb2.DeadLettered.FromString(m.data) for m in alerts]
    assert (decoded[0].consumer, decoded[0].upstream_stream) == ("crm-inventory-p0", STREAM)
    assert decoded[0].upstream_sequence == 21 and decoded[0].deliveries == 3
    assert decoded[0].event_type == "tillstream.events.v1.StockChanged"
    assert decoded[1].upstream_sequence == ack.seq == 41
    assert decoded[1].deliveries == 1  # at once: retrying cannot help
    assert decoded[1].event_type == "tillstream.events.v1.NoSuchEvent"

    assert consumer.stats.dead_lettered == 2
    assert consumer.stats.retries == 2  # the poison, in place: attempts 1 and 2 retried
    assert consumer.stats.applied == 59
    assert await eventually(lambda: _no_lag(consumer))


# -- 8. partitions ----------------------------------------------------------------------------

# Two stores on each of the 3 partitions (the server hashes the store token with FNV-1a).
STORES = ("s001", "s002", "s003", "s005", "s007", "s009")


@pytest.mark.partitions(3)
async def test_partitions_apply_every_event_once_in_store_order(pipeline: Pipeline) -> None:
    shelves = {store: pipeline.upstream.open_shelf(store, "sku-1") for store in STORES}
    consumers = [await pipeline.start_consumer(p, batch_size=20) for p in range(3)]
    await pipeline.start_relay(batch_size=40)
    expected: dict[str, list[str]] = {store: [] for store in STORES}
    for i in range(240):
        store = STORES[(i * 7 + i // 6) % len(STORES)]  # interleaved, unevenly
        tag = f"{store}-{i}"
        pipeline.upstream.count(shelves[store], 1, tag)
        expected[store].append(tag)
        if i % 20 == 0:
            await asyncio.sleep(0)

    async def everything_applied() -> bool:
        return sum(len(pipeline.downstream.applied(s)) for s in STORES) >= 240

    assert await eventually(everything_applied)
    await assert_exactly(pipeline, expected)

    # The server put each store on one partition, and each partition's consumer applied
    # exactly that partition's events.
    partition_of: dict[str, set[str]] = {}
    for msg in await pipeline.stream_contents():
        store, partition = msg.subject.split(".")[1], msg.subject.split(".")[4]
        partition_of.setdefault(store, set()).add(partition)
    assert all(len(p) == 1 for p in partition_of.values()), partition_of
    by_partition = Counter()
    for store, (partition,) in partition_of.items():
        by_partition[int(partition)] += len(expected[store])
    assert set(by_partition) == {0, 1, 2}, f"stores do not cover the partitions: {partition_of}"
    assert [c.stats.applied for c in consumers] == [by_partition[p] for p in range(3)]


# -- 9. a transient failure -------------------------------------------------------------------


class Transient(Exception):
    pass


@pytest.mark.parametrize("failures", [1, 3])
async def test_transient_failure_is_applied_once_without_dead_letter(
    pipeline: Pipeline, failures: int
) -> None:
    """The handler fails `failures` times on one event, then succeeds.

    1: only the batch attempt fails; the batch is then applied one by one. 3 (= max_deliver):
    the batch attempt and two in-place attempts fail; the third and last in-place one succeeds.
    """
    calls = Counter()

    def flaky(event: ReceivedEvent, uow: UnitOfWork) -> None:
        sku = event.message.sku  # type: ignore[attr-defined]
        calls[sku] += 1
        if sku.startswith("flaky") and calls[sku] <= failures:
            raise Transient(f"{sku} failed, attempt {calls[sku]}")
        on_stock_changed(event, uow)

    handlers = {inventory_pb2.StockChanged.DESCRIPTOR.full_name: flaky}
    await pipeline.start_relay(batch_size=30)
    shelf = pipeline.upstream.open_shelf("s001", "sku-1")
    tags = tags_(80)
    tags[33] = "flaky-33"
    count(pipeline, shelf, tags)
    consumer = await pipeline.start_consumer(batch_size=25, max_deliver=3, handlers=handlers)
    await all_applied(pipeline, 80)
    await assert_exactly(pipeline, {"s001": tags})
    assert calls["flaky-33"] == failures + 1
    assert consumer.stats.retries == failures - 1
    assert consumer.stats.dead_lettered == 0
    assert consumer.stats.applied == 80
    assert await pipeline.stream_messages(DEADLETTER_STREAM) == 0
    assert await pipeline.stream_messages(ALERTS_STREAM) == 0


# -- 10. a delivery lost in transit -----------------------------------------------------------


async def test_delivery_lost_in_transit_is_applied_once_in_order(pipeline: Pipeline) -> None:
    """A message delivered to the consumer that never reaches it (as when the connection drops
    under it) must not be overtaken: JetStream would redeliver it only after ack_wait, behind
    newer messages, and the tracking record would then skip it.

    Made deterministic: the consumer is held inside its second batch while another
    subscription on the same durable takes the next three deliveries and drops them.
    """
    held, release = threading.Event(), threading.Event()

    def holding(event: ReceivedEvent, uow: UnitOfWork) -> None:
        if event.message.sku == "hold-10" and not release.is_set():  # type: ignore[attr-defined]
            held.set()
            assert release.wait(10)
        on_stock_changed(event, uow)

    handlers = {inventory_pb2.StockChanged.DESCRIPTOR.full_name: holding}
    shelf = pipeline.upstream.open_shelf("s001", "sku-1")
    tags = tags_(40)
    tags[10] = "hold-10"
    count(pipeline, shelf, tags)
    await pipeline.start_relay(batch_size=50)
    await stream_holds(pipeline, 40)
    consumer = await pipeline.start_consumer(batch_size=10, ack_wait=1.0, handlers=handlers)
    assert await eventually(held.is_set)

    js = await pipeline.admin()
    thief = await js.pull_subscribe_bind(durable=consumer.durable, stream=STREAM)
    lost = await thief.fetch(3, timeout=5)
    assert [m.headers[H_MSG_ID] for m in lost] == pipeline.expected_msg_ids()[20:23]
    release.set()

    await all_applied(pipeline, 40)
    await assert_exactly(pipeline, {"s001": tags})
    assert consumer.stats.rewinds == 1
    assert consumer.stats.applied == 40
