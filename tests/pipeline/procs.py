"""Pipeline pieces in their own OS process, so that a fault test can really kill them.

    python -m tests.pipeline.procs relay --nats-url URL --data-dir DIR [--postgres-dsn DSN]
        [--batch-size N] [--kill-after-publishes K] [--kill-in-flight]
    python -m tests.pipeline.procs consumer ... [--batch-size N] [--ack-wait S]
        [--kill-before-commit K | --kill-after-commit K] --report FILE

The relay kills itself with SIGKILL right after its K-th publish (by default once the server
acknowledged it, so the stream holds exactly K messages; with --kill-in-flight at once, with
the rest of the batch unsent and the last ones maybe unacknowledged). The consumer kills itself
during its K-th batch: before the transaction, or after the commit and before any ack; it first
writes what that batch held to the report file (one JSON object). Without a kill option either
runs until SIGTERM and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.pipeline.toy import DOWNSTREAM, HANDLERS, UPSTREAM, Ledgers, ShelfContracts, Shelves
from tillstream.bus import connect
from tillstream.consumer import Consumer, Delivery, EventSourcedSink
from tillstream.eventstore import event_store_env
from tillstream.relay import Relay
from tillstream.settings import Settings


def die() -> None:
    """Crash as hard as a process can: no cleanup, no flush, no goodbye."""
    os.kill(os.getpid(), signal.SIGKILL)


def report(path: str, **fields: Any) -> None:
    with open(path, "w") as f:
        json.dump(fields, f)
        f.flush()
        os.fsync(f.fileno())


async def until_sigterm() -> asyncio.Event:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    return stop


async def relay_main(args: argparse.Namespace, settings: Settings) -> None:
    app = Shelves(env=event_store_env(settings, UPSTREAM))
    nc = await connect(args.nats_url, "relay-proc")
    js = nc.jetstream()
    relay = Relay(UPSTREAM, app, ShelfContracts(), js, batch_size=args.batch_size,
                  ack_timeout=2.0)
    if args.kill_after_publishes:
        publish = relay._publisher.publish
        published = 0

        async def counting_publish(*a: Any, **kw: Any) -> Any:
            nonlocal published
            future = await publish(*a, **kw)
            published += 1
            if published == args.kill_after_publishes:
                if not args.kill_in_flight:
                    # Acks come in order: this one acked means all before it are stored.
                    await asyncio.wait_for(asyncio.shield(future), 10)
                die()
            return future

        relay._publisher.publish = counting_publish  # type: ignore[method-assign]
    stop = await until_sigterm()
    await relay.run(stop, idle=0.05)
    await nc.close()
    app.close()


class KillingSink:
    """The real sink, with a crash before or after the commit of one batch."""

    def __init__(self, sink: EventSourcedSink, args: argparse.Namespace) -> None:
        self.sink = sink
        self.args = args
        self.batches = 0

    def position(self, tracking_name: str) -> int:
        return self.sink.position(tracking_name)

    def apply(self, tracking_name: str, deliveries: Sequence[Delivery]) -> None:
        self.batches += 1
        doomed = self.batches == (self.args.kill_before_commit or self.args.kill_after_commit)
        if doomed:
            report(
                self.args.report,
                batch=self.batches,
                size=len(deliveries),
                first=deliveries[0].position,
                last=deliveries[-1].position,
                tags=[d.event.message.sku for d in deliveries],  # type: ignore[attr-defined]
            )
        if doomed and self.args.kill_before_commit:
            die()
        self.sink.apply(tracking_name, deliveries)
        if doomed and self.args.kill_after_commit:
            die()  # committed, and not one message of the batch acked


async def consumer_main(args: argparse.Namespace, settings: Settings) -> None:
    app = Ledgers(env=event_store_env(settings, DOWNSTREAM))
    nc = await connect(args.nats_url, "consumer-proc")
    sink = KillingSink(EventSourcedSink(app, HANDLERS), args)
    consumer = Consumer(
        DOWNSTREAM, UPSTREAM, args.partition, nc.jetstream(), sink,
        batch_size=args.batch_size, ack_wait=args.ack_wait, backoff_base=0.01,
    )
    stop = await until_sigterm()
    await consumer.run(stop, fetch_timeout=0.1)
    await nc.close()
    app.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["relay", "consumer"])
    parser.add_argument("--nats-url", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--postgres-dsn", default="")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--kill-after-publishes", type=int, default=0)
    parser.add_argument("--kill-in-flight", action="store_true")
    parser.add_argument("--partition", type=int, default=0)
    parser.add_argument("--ack-wait", type=float, default=1.0)
    parser.add_argument("--kill-before-commit", type=int, default=0)
    parser.add_argument("--kill-after-commit", type=int, default=0)
    parser.add_argument("--report", default="")
    args = parser.parse_args()
    settings = Settings(data_dir=Path(args.data_dir), postgres_dsn=args.postgres_dsn)
    runner = relay_main if args.kind == "relay" else consumer_main
    asyncio.run(runner(args, settings))


if __name__ == "__main__":
    main()
