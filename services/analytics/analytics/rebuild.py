"""Rebuild the projections from the streams, without taking readers down.

1. Create generation N+1 of every table (empty) next to generation N, which readers and the
   live consumers keep using.
2. Replay each upstream stream from its first message into N+1 with the same fold and the
   same tracking names (`<upstream>.p<partition>`) as the live consumers, batch by batch.
3. Catch up to the streams' ends, then take the pointer's write lock (live writers wait),
   apply whatever arrived meanwhile and flip the pointer to N+1, in one transaction. From the
   next batch on, the live consumers write N+1: its tracking rows say where the replay ended,
   so what they had already applied to N is skipped and nothing is counted twice or lost.
4. Drop generation N, after a grace period for reports still reading it.

One rebuild at a time: a second one that finds the pointer moved under it fails at the swap.
Messages a live consumer would dead-letter (undecodable, no usable Nats-Msg-Id) are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from analytics.application import ProjectionSink, ProjectionStore, read_generation
from analytics.bus import consumer_handlers, subscribed_events
from analytics.tables import generation, projection_generation
from tillstream.bus import stream_name
from tillstream.codec import UndecodableEventError, decode
from tillstream.consumer import Delivery, upstream_position

#: (upstream, messages replayed so far, messages in the stream at the start)
Progress = Callable[[str, int, int], None]

#: Seconds between the swap and dropping the previous generation's tables.
DROP_GRACE = 2.0
#: Seconds without a message before a read gives up on the rest of its range (deleted).
IDLE_TIMEOUT = 2.0


@dataclass
class RebuildResult:
    generation: int
    previous_generation: int
    events: int
    seconds: float
    skipped: int

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class _Replayer:
    """Reads one upstream stream from a stream sequence on, in order, with no durable state."""

    def __init__(self, js: JetStreamContext, upstream: str) -> None:
        self.js = js
        self.upstream = upstream
        self.stream = stream_name(upstream)
        self.next_seq = 1
        self.skipped = 0

    async def last_seq(self) -> int:
        try:
            info = await self.js.stream_info(self.stream)
        except NotFoundError:
            return 0
        return int(info.state.last_seq)

    async def read_until(self, last: int) -> list[tuple[str, Delivery]]:
        """(tracking name, delivery) of every message from next_seq up to `last`.

        An ordered push consumer (no acks, flow-controlled by the server): several times
        faster than pull fetches, which pay a request per batch and a timer per message.
        """
        out: list[tuple[str, Delivery]] = []
        if self.next_seq > last:
            return out
        done = asyncio.Event()

        async def on_msg(msg: Msg) -> None:
            seq = msg.metadata.sequence.stream
            if seq > last or done.is_set():
                done.set()
                return
            self.next_seq = seq + 1
            item = self._delivery(msg)
            if item is not None:
                out.append(item)
            if seq >= last:
                done.set()

        sub = await self.js.subscribe(
            f"{self.upstream}.>",
            stream=self.stream,
            ordered_consumer=True,
            cb=on_msg,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self.next_seq
            ),
            pending_msgs_limit=1_000_000,
            pending_bytes_limit=1 << 30,
        )
        try:
            while not done.is_set():
                before = self.next_seq
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), IDLE_TIMEOUT)
                if self.next_seq == before:
                    break  # nothing for a while: the rest of the range was deleted
        finally:
            await sub.unsubscribe()
        return out

    def _delivery(self, msg: Msg) -> tuple[str, Delivery] | None:
        try:
            position = upstream_position(msg)
            event = decode(msg.subject, msg.data, msg.headers)
        except UndecodableEventError:
            self.skipped += 1
            return None
        partition = msg.subject.rsplit(".", 1)[-1]
        return f"{self.upstream}.p{partition}", Delivery(position, event)


def _grouped(items: Sequence[tuple[str, Delivery]]) -> dict[str, list[Delivery]]:
    groups: dict[str, list[Delivery]] = defaultdict(list)
    for name, delivery in items:
        groups[name].append(delivery)
    return groups


async def rebuild(
    live: ProjectionStore,
    js: JetStreamContext,
    progress: Progress | None = None,
    *,
    drop_previous: bool = True,
    drop_grace: float = DROP_GRACE,
    batch_size: int = 5000,
) -> RebuildResult:
    """Replay every upstream into a new generation and swap it in; see the module doc."""
    started = time.perf_counter()
    previous = live.current_generation()
    new = previous + 1
    gen = generation(new)
    with live.engine.begin() as conn:
        gen.metadata.drop_all(conn)  # leftovers of an interrupted rebuild
        gen.metadata.create_all(conn)
    writer = ProjectionStore(live.engine, fixed_generation=new)
    sink = ProjectionSink(writer, consumer_handlers())
    replayers = [_Replayer(js, upstream) for upstream in subscribed_events()]
    events = 0

    def apply(items: Sequence[tuple[str, Delivery]]) -> None:
        for name, deliveries in _grouped(items).items():
            writer.apply_batch(name, deliveries, sink.fold)

    applying: asyncio.Future[None] | None = None
    for replayer in replayers:
        total = await replayer.last_seq()
        while replayer.next_seq <= total:
            before = replayer.next_seq
            items = await replayer.read_until(min(total, replayer.next_seq + batch_size - 1))
            if applying is not None:
                await applying
            # Write on a thread while the loop reads the next chunk from NATS.
            applying = asyncio.ensure_future(asyncio.to_thread(apply, items))
            events += len(items)
            if replayer.next_seq == before:
                break  # the rest of the stream was deleted under us
            if progress:
                progress(replayer.upstream, replayer.next_seq - 1, total)
    if applying is not None:
        await applying
    # Catch up with what arrived during the replay, then swap under the pointer's lock.
    for replayer in replayers:
        items = await replayer.read_until(await replayer.last_seq())
        for name, deliveries in _grouped(items).items():
            writer.apply_batch(name, deliveries, sink.fold)
        events += len(items)
    with live.engine.begin() as conn:
        live.lock_pointer(conn)
        if read_generation(conn) != previous:
            raise RuntimeError(f"another rebuild swapped generation {previous} out first")
        for replayer in replayers:
            items = await replayer.read_until(await replayer.last_seq())
            for name, deliveries in _grouped(items).items():
                writer.apply_in(conn, gen, name, deliveries, sink.fold)
            events += len(items)
        conn.execute(projection_generation.update().values(generation=new))
    if drop_previous:
        # A report that read the old pointer just before the swap may still be querying the
        # old tables (SQLite reads are not one snapshot per report): let it finish first.
        await asyncio.sleep(drop_grace)
        with live.engine.begin() as conn:
            generation(previous).metadata.drop_all(conn)
    return RebuildResult(
        new, previous, events, time.perf_counter() - started, sum(r.skipped for r in replayers)
    )
