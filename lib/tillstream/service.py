"""The service host: runs one service's application, relay, consumers and command handlers.

Every service's main.py builds a ServiceDefinition (its composition root) and hands it to
`run_service`; the host connects to NATS, makes sure the streams exist, and runs until SIGTERM
or SIGINT, then stops cleanly: consumers finish their batch, the relay its publish.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription
from nats.js import JetStreamContext

from tillstream import telemetry
from tillstream.bus import command_subject, connect, ensure_platform_streams
from tillstream.codec import Contracts
from tillstream.consumer import Consumer, Sink
from tillstream.eventstore import ServiceApplication
from tillstream.grpcserver import DbRunner, GrpcFactory, GrpcServer, grpc_server_for
from tillstream.leases import PartitionLease
from tillstream.relay import Relay
from tillstream.settings import Settings

log = logging.getLogger(__name__)

CommandHandler = Callable[[dict[str, Any]], dict[str, Any]]

#: Commands being answered at once, at most; beyond it the subscriptions wait (backpressure).
MAX_COMMANDS_IN_FLIGHT = 1024


class CommandError(Exception):
    """A command was refused; `code` says why in one word for the caller."""

    def __init__(self, message: str, code: str = "rejected") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Subscription:
    """A downstream's interest in an upstream: the sink, and which events it needs."""

    sink: Sink
    #: `<aggregate>.<event>` subjects, e.g. ("sale.completed",); None means all of them.
    events: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Periodic:
    """Work a service does by itself every `interval` seconds (owed reversals, refunds, ...),
    run on the service's database thread like a command, so it never races one."""

    interval: float
    work: Callable[[], Any]
    name: str = "periodic"


@dataclass
class ServiceDefinition:
    """What a service is made of; built by the service's composition root."""

    name: str
    app: ServiceApplication | None = None
    contracts: Contracts | None = None
    #: upstream service name -> where its events go (a bare Sink receives every event)
    subscriptions: dict[str, Sink | Subscription] = field(default_factory=dict)
    #: command name -> handler (JSON in, JSON out), on `cmd.<service>.<store>.<command>`
    commands: dict[str, CommandHandler] = field(default_factory=dict)
    #: extra numbers for `status` (events stored, ...)
    stats: Callable[[], dict[str, Any]] | None = None
    close: Callable[[], None] | None = None
    #: adds the service's gRPC servicers (see tillstream.grpcserver); None: no gRPC API
    grpc: GrpcFactory | None = None
    #: called with the NATS URL the host connected to, before consumers start: parts that
    #: keep a connection of their own (a KV writer, a web server's feed) use the same server
    connected: Callable[[str], None] | None = None
    #: the service's own periodic work, run by the host until it stops
    periodic: Sequence[Periodic] = ()


def encode_reply(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), default=str).encode()


class ServiceHost:
    """Runs a ServiceDefinition against NATS."""

    def __init__(self, definition: ServiceDefinition, settings: Settings, nats_url: str) -> None:
        self.definition = definition
        self.settings = settings
        self.nats_url = nats_url
        # One writer thread: the application is used by one thread at a time, and the event
        # loop never blocks on the database.
        self.db = ThreadPoolExecutor(1, thread_name_prefix=f"{definition.name}-db")
        #: runs application code on `db`, one session per call: commands and gRPC alike
        self.db_runner = DbRunner(self.db, definition.app, group_size=settings.command_group)
        self.reader = ThreadPoolExecutor(1, thread_name_prefix=f"{definition.name}-relay")
        self.relay: Relay | None = None
        self.consumers: list[Consumer] = []
        self.started = time.time()
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.commands_handled = 0
        self.grpc: GrpcServer | None = None
        #: command subscriptions, and the commands being answered (see `_dispatcher`)
        self._command_subs: list[NatsSubscription] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._command_slots = asyncio.Semaphore(MAX_COMMANDS_IN_FLIGHT)

    async def _every(self, periodic: Periodic, stop: asyncio.Event) -> None:
        """`periodic.work` every `periodic.interval` seconds until `stop`; a failing round is
        logged (loudly the first time in a row) and the next one tries again."""
        failures = 0
        while True:
            try:
                await asyncio.wait_for(stop.wait(), periodic.interval)
                return
            except TimeoutError:
                pass
            try:
                result = await self.db_runner.call(periodic.work)
                failures = 0
                log.info("%s %s: %s", self.definition.name, periodic.name, result)
            except Exception as error:  # the next round tries again
                failures += 1
                level = logging.WARNING if failures == 1 else logging.DEBUG
                log.log(level, "%s %s failed: %r", self.definition.name, periodic.name, error)

    async def run(self, stop: asyncio.Event) -> None:
        d = self.definition
        telemetry.setup(d.name, self.settings.otel_exporter)
        self.nc = await connect(self.nats_url, f"tillstream-{d.name}")
        self.js = self.nc.jetstream()
        await ensure_platform_streams(self.js, self.settings.partitions)
        if d.connected is not None:
            d.connected(self.nats_url)
        tasks: list[asyncio.Task[None]] = []
        if d.app is not None and d.contracts is not None:
            self.relay = Relay(
                d.name, d.app, d.contracts, self.js,
                batch_size=self.settings.relay_batch, reader=self.reader,
            )
            d.app.on_recorded(self.relay.wake)
            tasks.append(asyncio.create_task(self.relay.run(stop), name="relay"))
        instance = f"{self.settings.instance_id or socket.gethostname()}:{d.name}"
        for upstream, wanted in d.subscriptions.items():
            subscription = wanted if isinstance(wanted, Subscription) else Subscription(wanted)
            for partition in range(self.settings.partitions):
                durable = f"{d.name}-{upstream}-p{partition}"
                consumer = Consumer(
                    d.name, upstream, partition, self.js, subscription.sink,
                    executor=self.db, batch_size=self.settings.consumer_batch,
                    max_deliver=self.settings.max_deliver, events=subscription.events,
                    lease=PartitionLease(self.js, durable, instance, self.settings.lease_ttl),
                )
                self.consumers.append(consumer)
                tasks.append(asyncio.create_task(consumer.run(stop), name=consumer.durable))
        for each in d.periodic:
            tasks.append(asyncio.create_task(self._every(each, stop), name=each.name))
        for command, handler in d.commands.items():
            sub = await self.nc.subscribe(
                command_subject(d.name, command), queue=d.name, cb=self._dispatcher(handler)
            )
            self._command_subs.append(sub)
        await self.nc.subscribe(f"status.{d.name}", cb=self._status)
        if d.grpc is not None:
            self.grpc = grpc_server_for(d.name, d.grpc, self.db_runner, self.settings)
            if self.grpc is not None:
                await self.grpc.start()
        log.info("%s up (pid %d)", d.name, os.getpid())
        await stop.wait()
        log.info("%s stopping", d.name)
        await self._finish_commands()
        if self.grpc is not None:
            # Before the database thread stops: in-flight calls finish within the grace.
            await self.grpc.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await self.nc.drain()
        except Exception as exc:  # the server may already be gone on shutdown
            log.debug("drain: %s", exc)
        self.db.shutdown(wait=True)
        self.reader.shutdown(wait=True)
        if d.close is not None:
            d.close()
        if d.app is not None:
            d.app.close()

    def _dispatcher(self, handler: CommandHandler) -> Callable[[Msg], Any]:
        """The subscription's callback: answers each command in a task of its own.

        Why: a NATS subscription awaits its callback before it takes the next message, so
        awaiting the answer there made the commands of one subject (every lane's add_line)
        wait for each other's commit, and never reach the database thread together to be
        committed as a group. Tasks start in arrival order, and a synchronous handler is
        queued for the database thread before its task first yields, so commands still
        reach it in the order they arrived.
        """
        respond = self._responder(handler)

        async def dispatch(msg: Msg) -> None:
            await self._command_slots.acquire()
            task = asyncio.create_task(respond(msg))
            self._in_flight.add(task)
            task.add_done_callback(self._command_done)

        return dispatch

    def _command_done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._command_slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.warning("answering a command failed: %r", task.exception())

    async def _finish_commands(self) -> None:
        """On shutdown: take no more commands, and answer those received (before the
        database thread and the connection go)."""
        for sub in self._command_subs:
            try:
                await sub.drain()
            except Exception as exc:  # the connection may already be gone
                log.debug("command drain: %s", exc)
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    def _responder(self, handler: CommandHandler) -> Callable[[Msg], Any]:
        async def respond(msg: Msg) -> None:
            try:
                payload = json.loads(msg.data or b"{}")
                if not isinstance(payload, dict):
                    raise CommandError("a command is a JSON object", "invalid")
                with telemetry.span_from(msg.headers or {}, f"command {msg.subject}"):
                    # One command, one session (or one command of a group committed
                    # together): aggregates lent without a deep copy; the reply only after
                    # the commit.
                    if inspect.iscoroutinefunction(handler):
                        # An async handler awaits other services itself (off the database
                        # thread) and runs its database work through the runner.
                        reply = await handler(payload, self.db_runner)  # type: ignore[call-arg,misc]
                    else:
                        reply = await self.db_runner.call(handler, payload)
                body = {"ok": True, **reply}
            except json.JSONDecodeError as exc:
                body = {"ok": False, "error": {"code": "invalid", "message": f"not JSON: {exc}"}}
            except CommandError as exc:
                body = {"ok": False, "error": {"code": exc.code, "message": str(exc)}}
            except (ValueError, KeyError, TypeError) as exc:
                body = {"ok": False, "error": {"code": "invalid", "message": repr(exc)}}
            except Exception as exc:
                log.exception("command %s failed", msg.subject)
                body = {"ok": False, "error": {"code": "internal", "message": str(exc)}}
            self.commands_handled += 1
            if msg.reply:
                await msg.respond(encode_reply(body))

        return respond

    async def status(self) -> dict[str, Any]:
        d = self.definition
        consumers = []
        for consumer in self.consumers:
            try:
                lag = await consumer.lag()
            except Exception:
                lag = -1
            consumers.append(
                {
                    "name": consumer.durable,
                    "lag": lag,
                    "applied": consumer.stats.applied,
                    "duplicates_skipped": consumer.stats.skipped_duplicates,
                    "dead_letters": consumer.stats.dead_lettered,
                    "active": consumer.lease is None or consumer.lease.held,
                }
            )
        body: dict[str, Any] = {
            "service": d.name,
            "pid": os.getpid(),
            "uptime_s": round(time.time() - self.started, 1),
            "commands_handled": self.commands_handled,
            # group commit: groups of waiting calls committed together, and fallbacks
            "command_groups": self.db_runner.groups,
            "grouped_calls": self.db_runner.grouped_calls,
            "group_fallbacks": self.db_runner.fallbacks,
            "consumers": consumers,
            "dead_letters": sum(c.stats.dead_lettered for c in self.consumers),
        }
        if d.app is not None:
            loop = asyncio.get_running_loop()
            body["events_stored"] = await loop.run_in_executor(self.reader, d.app.events_stored)
        if self.relay is not None:
            body["relay_position"] = self.relay.position
            body["relay_published"] = self.relay.stats.published
        if d.stats is not None:
            loop = asyncio.get_running_loop()
            body.update(await loop.run_in_executor(self.db, d.stats))
        return body

    async def _status(self, msg: Msg) -> None:
        if msg.reply:
            await msg.respond(encode_reply(await self.status()))


def run_service(build: Callable[[Settings], ServiceDefinition]) -> None:
    """Entry point of a service process: settings from the environment, run until signalled."""
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    nats_url = settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}"

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        definition = build(settings)
        await ServiceHost(definition, settings, nats_url).run(stop)

    asyncio.run(main())
