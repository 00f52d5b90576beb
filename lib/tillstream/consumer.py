"""Tracking consumers: upstream integration events -> a downstream's store, exactly once in effect.

One durable pull consumer per (downstream, upstream stream, partition). A batch of waiting
messages is applied in one transaction together with a tracking record (upstream partition,
last upstream notification id); only after the commit are the messages acked. A redelivered
message finds its position already tracked and is acked without effect.

Failures: a message that cannot be decoded goes to the dead-letter stream at once (retrying
cannot help). A message whose handler fails is retried in place with exponential backoff while
its lease is extended; after `max_deliver` attempts (counting JetStream redeliveries) it goes to
the dead-letter stream with an alert and the rest flows. Retrying in place, rather than NAKing
and fetching on, is what keeps per-store order: a NAKed message would be overtaken by the
messages behind it. On shutdown every unprocessed message is NAKed for prompt redelivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Tracking
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from tillstream.bus import partition_filter, stream_name
from tillstream.codec import H_MSG_ID, ReceivedEvent, UndecodableEventError, decode
from tillstream.events.v1 import alerts_pb2
from tillstream.eventstore import ServiceApplication
from tillstream.leases import PartitionLease
from tillstream.telemetry import current_traceparent, span_from

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """A decoded message with its upstream position."""

    position: int
    event: ReceivedEvent


class Sink(Protocol):
    """Where a consumer's effects go: one transaction per call, with the tracking record."""

    def position(self, tracking_name: str) -> int:
        """The last upstream position applied for `tracking_name` (0 when none)."""
        ...

    def apply(self, tracking_name: str, deliveries: Sequence[Delivery]) -> None:
        """Apply all `deliveries` and track the last position, all or nothing."""
        ...


class UnitOfWork:
    """The aggregates a batch touches: loaded once, changed in memory, saved together."""

    def __init__(self, app: ServiceApplication, absent: frozenset[UUID] = frozenset()) -> None:
        self.app = app
        self.aggregates: dict[UUID, Aggregate] = {}
        #: Aggregates known not to be in the store when the batch began (found in one query
        #: by the sink): looked up without a read each. The batch's own additions still count.
        self.absent = absent
        #: Aggregates handed out or added since the last `stamp_trace`, and how many of each
        #: one's pending events are stamped already: stamping only those keeps a batch linear
        #: (walking every aggregate's every event per delivery made it quadratic).
        self._touched: dict[UUID, Aggregate] = {}
        self._stamped: dict[UUID, int] = {}

    def get(self, aggregate_id: UUID) -> Any:
        """The aggregate as changed so far in this batch, or None when it does not exist."""
        aggregate = self.aggregates.get(aggregate_id)
        if aggregate is None:
            if aggregate_id in self.absent:
                return None
            aggregate = self.app.get_or_none(aggregate_id)
            if aggregate is None:
                return None
            self.aggregates[aggregate_id] = aggregate
        self._touched[aggregate_id] = aggregate
        return aggregate

    def add(self, aggregate: Aggregate) -> None:
        self.aggregates[aggregate.id] = aggregate
        self._touched[aggregate.id] = aggregate

    def stamp_trace(self) -> None:
        """Give the new events the current trace context (a batch mixes several traces)."""
        touched, self._touched = self._touched, {}
        traceparent = current_traceparent().get("traceparent")
        if not traceparent:
            return
        for aggregate_id, aggregate in touched.items():
            pending = aggregate.pending_events
            for domain_event in pending[self._stamped.get(aggregate_id, 0) :]:
                domain_event.__dict__.setdefault("traceparent", traceparent)
            self._stamped[aggregate_id] = len(pending)


Handler = Callable[[ReceivedEvent, UnitOfWork], None]


class EventSourcedSink:
    """A sink that turns upstream events into new domain events of an eventsourcing app."""

    def __init__(self, app: ServiceApplication, handlers: dict[str, Handler]) -> None:
        self.app = app
        self.handlers = handlers

    def position(self, tracking_name: str) -> int:
        return self.app.tracked_position(tracking_name)

    def apply(self, tracking_name: str, deliveries: Sequence[Delivery]) -> None:
        with self.app.session():  # one batch, aggregates lent without a deep copy
            self._apply(tracking_name, deliveries)

    def unit_of_work(self, deliveries: Sequence[Delivery]) -> UnitOfWork:
        """The batch's unit of work; a sink that can tell in one query which aggregates its
        handlers would look up in vain returns one that knows (see `UnitOfWork.absent`)."""
        return UnitOfWork(self.app)

    def _apply(self, tracking_name: str, deliveries: Sequence[Delivery]) -> None:
        uow = self.unit_of_work(deliveries)
        for delivery in deliveries:
            handler = self.handlers.get(delivery.event.event_type)
            if handler is not None:
                with span_from(delivery.event.headers, f"consume {delivery.event.event_type}"):
                    handler(delivery.event, uow)
                    uow.stamp_trace()
        self.app.record_processed(
            uow.aggregates.values(), Tracking(tracking_name, deliveries[-1].position)
        )


@dataclass
class ConsumerStats:
    applied: int = 0
    skipped_duplicates: int = 0
    dead_lettered: int = 0
    retries: int = 0
    batches: int = 0
    rewinds: int = 0
    errors: list[str] = field(default_factory=list)


class DeliveryGapError(RuntimeError):
    """A delivery of this consumer never reached this subscription (lost in transit)."""


def upstream_position(msg: Msg) -> int:
    """The upstream notification id from `Nats-Msg-Id = <service>:<id>`. The stores' edge
    events have many writers (one agent per store, ids made by each), so their position is
    their sequence in the hub's EDGE stream, which has stored each of them once."""
    if msg.subject.startswith("edge."):
        return int(msg.metadata.sequence.stream)
    msg_id = (msg.headers or {}).get(H_MSG_ID, "")
    _, _, number = msg_id.rpartition(":")
    if not number.isdigit():
        raise UndecodableEventError(f"message on {msg.subject} has no usable {H_MSG_ID}")
    return int(number)


class Consumer:
    """A durable pull consumer that applies upstream events to a sink, in order."""

    def __init__(
        self,
        downstream: str,
        upstream: str,
        partition: int,
        js: JetStreamContext,
        sink: Sink,
        *,
        executor: Executor | None = None,
        batch_size: int = 256,
        max_deliver: int = 5,
        backoff_base: float = 0.1,
        backoff_max: float = 5.0,
        ack_wait: float = 30.0,
        on_applied: Callable[[Sequence[Delivery]], None] | None = None,
        events: Sequence[str] | None = None,
        lease: PartitionLease | None = None,
        fetch_ahead: bool | None = None,
    ) -> None:
        self.downstream = downstream
        self.upstream = upstream
        self.partition = partition
        self.js = js
        self.sink = sink
        self.executor = executor
        self.batch_size = batch_size
        self.max_deliver = max_deliver
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.ack_wait = ack_wait
        self.on_applied = on_applied
        self.stats = ConsumerStats()
        self.durable = f"{downstream}-{upstream}-p{partition}"
        self.tracking_name = f"{upstream}.p{partition}"
        self.stream = stream_name(upstream)
        #: `<aggregate>.<event>` subjects to receive (None: every event of the upstream); the
        #: server filters, so a downstream never decodes and tracks events it has no use for.
        self.events = tuple(events) if events else None
        #: With replicas: consume only while holding this partition's lease.
        self.lease = lease
        #: Fetch the next batch while a full one is applied (see `run`); by default as the
        #: sink asks (`fetch_ahead = True`): the sinks whose upstream arrives in bulk.
        self.fetch_ahead = (
            fetch_ahead if fetch_ahead is not None else bool(getattr(sink, "fetch_ahead", False))
        )
        self._next_delivery = 1

    def filter_subjects(self) -> list[str]:
        if self.events is None:
            return [partition_filter(self.upstream, self.partition)]
        return [f"{self.upstream}.*.{event}.{self.partition}" for event in self.events]

    def config(self) -> ConsumerConfig:
        subjects = self.filter_subjects()
        return ConsumerConfig(
            durable_name=self.durable,
            filter_subject=subjects[0] if len(subjects) == 1 else None,
            filter_subjects=subjects if len(subjects) > 1 else None,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.ack_wait,
            # Never let JetStream drop a message on its own: the dead-letter decision is ours.
            max_deliver=-1,
            max_ack_pending=max(self.batch_size * 4, 1000),
        )

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, fn, *args)

    async def run(self, stop: asyncio.Event, fetch_timeout: float = 0.5) -> None:
        """Consume until `stop` is set; rides out broker restarts.

        With `fetch_ahead` and a backlog (a full batch fetched), the next batch is fetched
        while this one is applied: the fetch's round trip was a third of an offline backlog's
        catch-up (issue 6).
        The batch fetched ahead is checked and applied only after this one, so order and the
        delivery checks hold; when it is not applied (stop, error, lease lost) it is NAKed.
        """
        backoff = 0.05
        sub = None
        ahead: asyncio.Task[list[Msg]] | None = None
        while not stop.is_set():
            try:
                if self.lease is not None and not await self.lease.hold():
                    # Another replica consumes this partition: stand by.
                    ahead = await self._drop_ahead(ahead)
                    if sub is not None:
                        await sub.unsubscribe()
                        sub = None
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.lease.ttl / 3)
                    continue
                if sub is None:
                    self._next_delivery = await self._rewind_to_ack_floor()
                    sub = await self.js.pull_subscribe(
                        self.filter_subjects()[0],
                        durable=self.durable,
                        stream=self.stream,
                        config=self.config(),
                    )
                try:
                    if ahead is not None:
                        fetched, ahead = ahead, None
                        msgs = await fetched
                    else:
                        msgs = await sub.fetch(self.batch_size, timeout=fetch_timeout)
                except (TimeoutError, NatsTimeoutError):
                    continue
                self._check_contiguous(msgs)
                if self.fetch_ahead and len(msgs) >= self.batch_size:
                    ahead = asyncio.create_task(sub.fetch(self.batch_size, timeout=fetch_timeout))
                await self.process(msgs, stop)
                backoff = 0.05
            except asyncio.CancelledError:
                if ahead is not None:
                    ahead.cancel()
                raise
            except Exception as exc:
                log.warning("consumer %s: %s; retrying in %.2fs", self.durable, exc, backoff)
                ahead = await self._drop_ahead(ahead)
                if sub is not None:
                    try:
                        await sub.unsubscribe()
                    except Exception:  # the connection may be gone; a new one comes
                        log.debug("consumer %s: unsubscribe failed", self.durable)
                    sub = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
        await self._drop_ahead(ahead)
        if sub is not None:
            # Without this the connection's drain waits out its timeout for the pull
            # subscription, and a stopping service hangs for 30 s.
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        if self.lease is not None:
            with contextlib.suppress(Exception):
                await self.lease.release()

    async def _drop_ahead(self, ahead: asyncio.Task[list[Msg]] | None) -> None:
        """Let a fetch made ahead finish (its pull request would deliver anyway) and NAK what
        it brought, for prompt redelivery in order (the next subscription rewinds)."""
        if ahead is None:
            return None
        try:
            msgs = await ahead
        except Exception:  # a timeout or the connection gone: nothing to hand back
            return None
        await self._nak_all(msgs)
        return None

    def _check_contiguous(self, msgs: Sequence[Msg]) -> None:
        """Kit fix: refuse a batch when a delivery before it never arrived.

        JetStream numbers every delivery of a consumer (redeliveries included) 1, 2, 3, ...
        A missing number is a message handed to this consumer that this subscription never
        saw: in flight when the broker restarted, or late for a pull request of a previous
        subscription. It would come back only after ack_wait, behind newer messages, and then
        be skipped by the tracking record (a lost effect). Raising makes `run` subscribe anew,
        which rewinds to the ack floor (see `_rewind_to_ack_floor`).
        """
        for msg in msgs:
            delivery = msg.metadata.sequence.consumer
            if delivery != self._next_delivery:
                raise DeliveryGapError(
                    f"delivery {delivery} where {self._next_delivery} was due on {msg.subject}"
                )
            self._next_delivery += 1

    async def _rewind_to_ack_floor(self) -> int:
        """Before (re)subscribing: redeliver, in stream order, whatever is not acked yet.

        Kit fix. Messages that a previous instance (or this one before an error) fetched and
        never acked come back from JetStream only after `ack_wait`, and *behind* the newer
        messages that a fresh fetch hands out at once. Applying those newer ones first moved
        the tracking record past the unacked ones, so their redelivery was then skipped as
        "already applied": a consumer killed before its commit lost its whole batch. So when
        the durable has unacked messages, recreate it to start right after its ack floor
        (everything at or below it is acked, so applied or dead-lettered); redelivered
        messages that were committed are skipped by the tracking record, the rest applied in
        order. Assumes one active consumer per partition, as the design says.

        Returns the consumer sequence the next delivery must carry.
        """
        try:
            info = await self.js.consumer_info(self.stream, self.durable)
        except NotFoundError:
            return 1
        if not info.num_ack_pending:
            current = info.config.filter_subjects or [info.config.filter_subject or ""]
            if sorted(current) != sorted(self.filter_subjects()):
                # The service now wants other events: update the durable in place (its
                # position stays; NATS 2.10+ allows changing the filter).
                await self.js.add_consumer(self.stream, self.config())
            return (info.delivered.consumer_seq if info.delivered else 0) + 1
        floor = info.ack_floor.stream_seq if info.ack_floor else 0
        log.info(
            "consumer %s: %d unacked; redelivering from stream seq %d",
            self.durable,
            info.num_ack_pending,
            floor + 1,
        )
        await self.js.delete_consumer(self.stream, self.durable)
        config = self.config()
        config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
        config.opt_start_seq = floor + 1
        await self.js.add_consumer(self.stream, config)
        self.stats.rewinds += 1
        return 1

    async def process(self, msgs: Sequence[Msg], stop: asyncio.Event | None = None) -> None:
        """Apply a fetched batch: in order, once, acking only what is committed."""
        self.stats.batches += 1
        start = 0
        while start < len(msgs):
            start = await self._process_from(msgs, start, stop)

    async def _process_from(
        self, msgs: Sequence[Msg], start: int, stop: asyncio.Event | None
    ) -> int:
        """Apply msgs[start:] up to the first poison message, which is dead-lettered.

        Returns the index to go on from. Reading the tracked position and applying what is
        past it happen in one call on the database thread (one hop per batch, not two).
        """
        candidates: list[tuple[Msg, int, Delivery | UndecodableEventError]] = []
        poison: tuple[Msg, str] | None = None
        end = len(msgs)
        for index in range(start, len(msgs)):
            msg = msgs[index]
            try:
                position = upstream_position(msg)
            except UndecodableEventError as exc:
                poison, end = (msg, str(exc)), index
                break
            except Exception:
                await self._nak_all(msgs[start:])
                raise
            try:
                item: Delivery | UndecodableEventError = Delivery(
                    position, decode(msg.subject, msg.data, msg.headers)
                )
            except UndecodableEventError as exc:
                # Poison unless it turns out to be a redelivery (decided against the tracking
                # record, as before: a redelivered message is acked without being decoded).
                item = exc
            except Exception:
                await self._nak_all(msgs[start:])
                raise
            candidates.append((msg, position, item))
        if candidates:
            tracked, settled, failure = await self._call(self._settle, candidates)
            pending: list[tuple[Msg, Delivery]] = []
            for msg, position, item in candidates[:settled]:
                if position <= tracked:
                    # Already applied (a redelivery): ack it, with no effect.
                    self.stats.skipped_duplicates += 1
                    await msg.ack()
                    continue
                assert isinstance(item, Delivery)
                pending.append((msg, item))
                tracked = position
            await self._applied(pending, failure, stop)
            if settled < len(candidates):
                # A message that cannot be decoded: set it aside and go on after it.
                msg, _, item = candidates[settled]
                await self._dead_letter(msg, str(item))
                return start + settled + 1
        if poison is not None:
            await self._dead_letter(*poison)
            return end + 1
        return len(msgs)

    def _settle(
        self, candidates: Sequence[tuple[Msg, int, Delivery | UndecodableEventError]]
    ) -> tuple[int, int, Exception | None]:
        """On the database thread: the tracked position, then apply the fresh deliveries of
        the candidates' prefix before the first undecodable one that is not a redelivery.

        Returns (tracked position before, length of that prefix, the apply's failure or None).
        """
        tracked = before = self.sink.position(self.tracking_name)
        fresh: list[Delivery] = []
        settled = len(candidates)
        for index, (_, position, item) in enumerate(candidates):
            if position <= tracked:
                continue
            if not isinstance(item, Delivery):
                settled = index
                break
            fresh.append(item)
            tracked = position
        failure: Exception | None = None
        if fresh:
            try:
                self.sink.apply(self.tracking_name, fresh)
            except Exception as exc:
                failure = exc
        return before, settled, failure

    async def _applied(
        self,
        pending: list[tuple[Msg, Delivery]],
        failure: Exception | None,
        stop: asyncio.Event | None,
    ) -> None:
        """Ack a committed batch, or after a failed one go through it one by one."""
        if not pending:
            return
        if failure is not None:
            log.info(
                "consumer %s: batch of %d failed (%s); one by one",
                self.durable,
                len(pending),
                failure,
            )
            for position, (msg, delivery) in enumerate(pending):
                if stop is not None and stop.is_set():
                    await self._nak_all([m for m, _ in pending[position:]])
                    return
                await self._apply_one(msg, delivery, stop)
            return
        for msg, _ in pending:
            await msg.ack()
        self.stats.applied += len(pending)
        if self.on_applied is not None:
            self.on_applied([d for _, d in pending])

    async def _apply_one(self, msg: Msg, delivery: Delivery, stop: asyncio.Event | None) -> None:
        attempts = max(msg.metadata.num_delivered, 1)
        while True:
            try:
                await self._call(self.sink.apply, self.tracking_name, [delivery])
            except Exception as exc:
                if attempts >= self.max_deliver:
                    await self._dead_letter(msg, f"{type(exc).__name__}: {exc}", attempts)
                    return
                self.stats.retries += 1
                delay = min(self.backoff_base * 2 ** (attempts - 1), self.backoff_max)
                log.warning(
                    "consumer %s: %s at %s, attempt %d, retry in %.2fs",
                    self.durable,
                    exc,
                    msg.subject,
                    attempts,
                    delay,
                )
                await msg.in_progress()
                if stop is not None and stop.is_set():
                    await msg.nak()
                    return
                await asyncio.sleep(delay)
                attempts += 1
                continue
            await msg.ack()
            self.stats.applied += 1
            if self.on_applied is not None:
                self.on_applied([delivery])
            return

    async def _dead_letter(self, msg: Msg, reason: str, deliveries: int | None = None) -> None:
        """Copy the message to the dead-letter stream, raise an alert, then ack it."""
        meta = msg.metadata
        stream_seq = meta.sequence.stream
        headers = dict(msg.headers or {})
        original_id = headers.pop(H_MSG_ID, "")
        # Kit fix: the stored message still carries the relay's Nats-Expected-Last-Msg-Id (or
        # -Sequence); republished as is, the DEADLETTER stream checked it against its own last
        # message and refused the copy (10070/10071), so no message could ever be dead-lettered.
        # Drop every server directive (Nats-*); the original id is kept below.
        for name in [h for h in headers if h.lower().startswith("nats-")]:
            del headers[name]
        headers.update(
            {
                H_MSG_ID: f"dlq:{self.durable}:{stream_seq}",
                "Tillstream-Dead-Letter-Reason": reason[:1000],
                "Tillstream-Original-Msg-Id": original_id,
                "Tillstream-Original-Subject": msg.subject,
                "Tillstream-Original-Stream-Seq": str(stream_seq),
                "Tillstream-Consumer": self.durable,
            }
        )
        await self.js.publish(f"deadletter.{self.durable}", msg.data, headers=headers)
        alert = alerts_pb2.DeadLettered(
            consumer=self.durable,
            upstream_stream=self.stream,
            upstream_sequence=stream_seq,
            subject=msg.subject,
            event_type=(msg.headers or {}).get("Tillstream-Event-Type", ""),
            error=reason[:1000],
            deliveries=deliveries or meta.num_delivered,
        )
        await self.js.publish(
            f"alerts.{self.downstream}.deadletter",
            alert.SerializeToString(),
            headers={
                H_MSG_ID: f"alert:dlq:{self.durable}:{stream_seq}",
                "Tillstream-Event-Type": alert.DESCRIPTOR.full_name,
                "Tillstream-Schema-Version": "1",
            },
        )
        log.error(
            "consumer %s: dead-lettered %s (seq %d): %s",
            self.durable,
            msg.subject,
            stream_seq,
            reason,
        )
        self.stats.dead_lettered += 1
        self.stats.errors.append(reason)
        await msg.ack()

    async def _nak_all(self, msgs: Sequence[Msg]) -> None:
        for msg in msgs:
            try:
                await msg.nak()
            except Exception:  # connection gone: the ack wait redelivers them anyway
                log.debug("consumer %s: nak failed", self.durable)

    async def lag(self) -> int:
        """Messages not yet acked by this consumer (pending plus in flight)."""
        info = await self.js.consumer_info(self.stream, self.durable)
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)
