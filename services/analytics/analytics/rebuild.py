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

Speed (issue 7: at least 10,000 events/s): most of a replay is nats-py turning each message
into a Msg, and most of that was its header parser. Connect with `streamreader.ReplayClient`
(the CLI and the benchmark do): the same headers, parsed four times faster. Each stream is read by
one ordered consumer, opened once; the stream sequence comes from the reply subject without
building Msg.Metadata; folding and writing run on a thread while the loop reads on.
`RebuildResult.seconds` runs to the swap: the grace period before dropping the old tables
waits for readers, it replays nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from analytics.application import ProjectionSink, ProjectionStore, read_generation
from analytics.bus import consumer_handlers, subscribed_events
from analytics.streamreader import stream_sequence
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
#: Decoded messages a stream's reader holds at most, waiting for the writer.
READ_AHEAD = 20_000


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
    """Reads one upstream stream from a stream sequence on, in order, with no durable state.

    One ordered push consumer (no acks, flow-controlled by the server) per stream, opened at
    the first read and kept until `close`: several times faster than pull fetches, which pay a
    request per batch and a timer per message. (A consumer per chunk, as before, made the
    server push on past each chunk's end until the unsubscribe landed: a third of all
    deliveries were read twice or thrown away.) Messages are decoded as they arrive and wait
    in `_buffer`, at most READ_AHEAD of them, for `read_until` to hand them out.
    """

    def __init__(self, js: JetStreamContext, upstream: str) -> None:
        self.js = js
        self.upstream = upstream
        self.stream = stream_name(upstream)
        self.next_seq = 1
        self.skipped = 0
        self._sub: Any = None
        self._buffer: deque[tuple[int, tuple[str, Delivery] | None]] = deque()
        self._arrived = asyncio.Event()
        self._drained = asyncio.Event()

    async def last_seq(self) -> int:
        try:
            info = await self.js.stream_info(self.stream)
        except NotFoundError:
            return 0
        return int(info.state.last_seq)

    async def read_until(self, last: int) -> list[tuple[str, Delivery]]:
        """(tracking name, delivery) of every message from next_seq up to `last`."""
        out: list[tuple[str, Delivery]] = []
        if self.next_seq > last:
            return out
        if self._sub is None:
            await self._open()
        buffer = self._buffer
        while self.next_seq <= last:
            if not buffer:
                self._drained.set()  # the reader may be holding back: let it go on
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), IDLE_TIMEOUT)
                except TimeoutError:
                    break  # nothing for a while: the rest of the range was deleted
                continue
            seq, item = buffer[0]
            if seq > last:
                # Delivered in stream order: whatever is left of the range was deleted.
                self.next_seq = last + 1
                break
            buffer.popleft()
            self.next_seq = seq + 1
            if item is not None:
                out.append(item)
        if len(buffer) < READ_AHEAD:
            self._drained.set()
        return out

    async def _open(self) -> None:
        self._sub = await self.js.subscribe(
            f"{self.upstream}.>",
            stream=self.stream,
            ordered_consumer=True,
            cb=self._on_msg,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self.next_seq
            ),
            pending_msgs_limit=1_000_000,
            pending_bytes_limit=1 << 30,
        )

    async def _on_msg(self, msg: Msg) -> None:
        self._buffer.append((stream_sequence(msg), self._delivery(msg)))
        self._arrived.set()
        if len(self._buffer) >= READ_AHEAD:
            # Let the writer catch up (the server holds back once its flow-control window
            # is unanswered): a long stream must not end up in memory all at once.
            self._drained.clear()
            await self._drained.wait()

    async def close(self) -> None:
        self._drained.set()
        if self._sub is not None:
            sub, self._sub = self._sub, None
            with contextlib.suppress(Exception):  # the connection may be gone already
                await sub.unsubscribe()

    def _delivery(self, msg: Msg) -> tuple[str, Delivery] | None:
        try:
            position = upstream_position(msg)
            event = decode(msg.subject, msg.data, msg.headers)
        except UndecodableEventError:
            self.skipped += 1
            return None
        partition = msg.subject.rsplit(".", 1)[-1]
        return f"{self.upstream}.p{partition}", Delivery(position, event)


class _Pipeline:
    """Folds and writes each batch on a thread while the caller reads the next one."""

    def __init__(self, apply: Callable[[Sequence[tuple[str, Delivery]]], None]) -> None:
        self.apply = apply
        self.applying: asyncio.Future[None] | None = None

    async def push(self, items: Sequence[tuple[str, Delivery]]) -> None:
        await self.finish()  # in order: one batch at a time
        self.applying = asyncio.ensure_future(asyncio.to_thread(self.apply, items))

    async def finish(self) -> None:
        if self.applying is not None:
            applying, self.applying = self.applying, None
            await applying


async def _bulk_read(
    replayers: Sequence[_Replayer], pipeline: _Pipeline, batch_size: int, progress: Progress | None
) -> int:
    """Read each stream up to where it ended when its read began; returns the events read."""
    events = 0
    for replayer in replayers:
        total = await replayer.last_seq()
        while replayer.next_seq <= total:
            before = replayer.next_seq
            items = await replayer.read_until(min(total, replayer.next_seq + batch_size - 1))
            await pipeline.push(items)
            events += len(items)
            if replayer.next_seq == before:
                break  # the rest of the stream was deleted under us
            if progress:
                progress(replayer.upstream, replayer.next_seq - 1, total)
    return events


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

    try:
        pipeline = _Pipeline(apply)
        events += await _bulk_read(replayers, pipeline, batch_size, progress)
        await pipeline.finish()
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
    finally:
        for replayer in replayers:
            await replayer.close()
    seconds = time.perf_counter() - started  # replayed and swapped in: readers see it now
    if drop_previous:
        # A report that read the old pointer just before the swap may still be querying the
        # old tables (SQLite reads are not one snapshot per report): let it finish first.
        await asyncio.sleep(drop_grace)
        with live.engine.begin() as conn:
            generation(previous).metadata.drop_all(conn)
    return RebuildResult(new, previous, events, seconds, sum(r.skipped for r in replayers))
