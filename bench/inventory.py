"""Inventory benchmark: stock line decrements per second from a burst of completed sales.

Run with `./tillstream bench inventory [--json]` (or `python -P bench/inventory.py`). Real
parts: a nats-server from the wheel (free port, temporary store), the inventory service's
own ServiceHost (relay, consumers, commands) on a SQLite event store, and the demo catalog
(`--skus`, 300) with opening stock in one store. Then a burst of `--sales` (2,000)
SaleCompleted integration events (1-5 lines each, seeded random SKUs) is published on the
CHECKOUT stream as checkout's relay would publish them (`Nats-Msg-Id = checkout:<n>`), all at
once.
- decrements_per_s: sale lines taken from stock per second, from the first publish until the
  consumer has committed (and acked) the last sale; the stock is then checked against the
  burst (units sold must equal the units in the sales).
- sales_per_s: the same burst in sales per second.
- batches: consumer batches (transactions) the burst took.
- apply_cpu_s / decrements_per_apply_cpu_s: CPU seconds the consumer's transactions took on
  the writer thread, and lines per such second: the figure a loaded machine barely moves.
- process_cpu_s: CPU seconds of the whole service process (relay, client, consumer) in the
  burst; thread_cpu_s splits it by thread (MainThread: the event loop, NATS client and relay
  publishes; inventory-db: the writer; inventory-relay: the relay's reads and encoding).
Prints numbers; never part of the test suite. `--profile FILE` writes a cProfile of the
consumer's database work (the sink's `apply`, on the service's writer thread) and FILE.loop one of
the event loop (consumer fetches and acks, relay publishes) during the burst.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import platform as host_platform
import random
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inventory.demo import demo_sku
from inventory.main import build
from tillstream.bus import command_subject, connect
from tillstream.codec import IntegrationEvent
from tillstream.consumer import Consumer, Delivery, EventSourcedSink
from tillstream.events.v1 import checkout_pb2, common_pb2
from tillstream.natsserver import NatsServer
from tillstream.service import ServiceHost, Subscription
from tillstream.settings import Settings
from tillstream.testing import ask_service

STORE = "s001"


def make_sales(
    count: int, skus: int, seed: int, first: int = 1
) -> list[checkout_pb2.SaleCompleted]:
    """`count` sales of 1-5 lines (quantity 1-3) over `skus` demo SKUs, reproducibly."""
    rng = random.Random(seed)
    sales = []
    for n in range(first, first + count):
        lines = []
        for line_no in range(1, rng.randint(1, 5) + 1):
            quantity = rng.randint(1, 3)
            lines.append(
                common_pb2.SaleLine(
                    line_no=line_no,
                    sku=demo_sku(rng.randrange(skus)),
                    quantity=quantity,
                    unit_price=common_pb2.Money(amount_minor=199, currency="EUR"),
                    line_total=common_pb2.Money(amount_minor=199 * quantity, currency="EUR"),
                )
            )
        sales.append(
            checkout_pb2.SaleCompleted(
                sale_id=f"bench-sale-{n}",
                store_id=STORE,
                lines=lines,
                total=common_pb2.Money(
                    amount_minor=sum(line.line_total.amount_minor for line in lines),
                    currency="EUR",
                ),
                completed_at_ms=int(time.time() * 1000),
            )
        )
    return sales


async def publish(js: Any, sales: Sequence[checkout_pb2.SaleCompleted], first_id: int) -> None:
    """Pipelined publishes, as checkout's relay sends them (dedup id per notification)."""
    now = datetime.now(UTC)
    futures = []
    for offset, sale in enumerate(sales):
        event = IntegrationEvent(f"checkout.{STORE}.sale.completed", sale, STORE, now)
        futures.append(
            await js.publish_async(
                event.subject,
                event.payload(),
                headers=event.headers(f"checkout:{first_id + offset}"),
            )
        )
    await asyncio.gather(*futures)


def thread_cpu() -> dict[str, float]:
    """CPU seconds so far of each of this process's threads, by thread name (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    seconds: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        name = thread.name.split("_")[0]  # "inventory-db_0" -> "inventory-db"
        seconds[name] = seconds.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return seconds


def checkout_consumers(service: ServiceHost) -> list[Consumer]:
    return [c for c in service.consumers if c.upstream == "checkout"]


async def applied_total(service: ServiceHost, target: int, timeout: float) -> float:
    """Wait until the checkout consumers have applied `target` sales; the time it happened."""
    deadline = time.perf_counter() + timeout
    while True:
        if sum(c.stats.applied for c in checkout_consumers(service)) >= target:
            return time.perf_counter()
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{target} sales not applied within {timeout} s")
        await asyncio.sleep(0.002)


async def settled(service: ServiceHost, timeout: float = 300) -> None:
    """Wait until the seeding and warm-up have gone through: the relay has published every
    stored event and no consumer (the catalog bucket's too) has messages left, so the burst
    is measured alone."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        status = await service.status()
        lags = [c["lag"] for c in status["consumers"]]
        if status["relay_position"] >= status["events_stored"] and not any(lags):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("the service did not settle after the warm-up")


async def sold_total(nc: Any) -> int:
    summary = await command(nc, "stock_summary", {"store_id": STORE})
    return int(summary["sold_total"])


async def command(nc: Any, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """One inventory command, with room to finish: a large catalog's seeding or summary
    takes longer than ask_service's retry interval, and every retry would queue another."""
    reply = await nc.request(
        command_subject("inventory", name, STORE), json.dumps(body).encode(), timeout=600
    )
    answer = dict(json.loads(reply.data))
    if not answer["ok"]:
        raise RuntimeError(f"{name} failed: {answer}")
    return answer


class ApplyMeter:
    """Wraps the sink's `apply` (it runs on the service's writer thread, not this one) to add
    up its CPU time, which a busy shared machine does not inflate the way it does wall time;
    with a profiler, to profile it too."""

    def __init__(self, sink: EventSourcedSink, profiler: cProfile.Profile | None) -> None:
        self.cpu_s = 0.0
        self.calls = 0
        apply = sink.apply

        def metered(tracking_name: str, deliveries: Sequence[Delivery]) -> None:
            started = time.thread_time()
            if profiler is not None:
                profiler.enable()
            try:
                apply(tracking_name, deliveries)
            finally:
                if profiler is not None:
                    profiler.disable()
                self.cpu_s += time.thread_time() - started
                self.calls += 1

        sink.apply = metered  # type: ignore[method-assign]


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tillstream-bench-inventory-") as tmp:
        server = NatsServer(store_dir=Path(tmp) / "nats")
        server.start()
        try:
            return await run(args, Path(tmp), server.url)
        finally:
            server.stop()


async def run(args: argparse.Namespace, tmp: Path, url: str) -> dict[str, Any]:
    settings = Settings(data_dir=tmp / "data", nats_url=url, grpc_enabled=False, dashboard_port=0)
    definition = build(settings)
    checkout = definition.subscriptions["checkout"]
    assert isinstance(checkout, Subscription) and isinstance(checkout.sink, EventSourcedSink)
    profiler = cProfile.Profile() if args.profile else None
    service = ServiceHost(definition, settings, url)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    nc = await connect(url, "bench-inventory")
    try:
        # The service answers (retried until it has subscribed), then the catalog.
        await ask_service(nc, "inventory", "get_transfer", {"transfer_id": "none"})
        await command(nc, "seed_demo", {"store_id": STORE, "products": args.skus})
        js = nc.jetstream()
        # Warm up (stock items loaded into the cache, consumer subscribed), then the burst.
        warmup = make_sales(args.warmup, args.skus, seed=1)
        await publish(js, warmup, 1)
        await applied_total(service, len(warmup), 60)
        await settled(service)
        sales = make_sales(args.sales, args.skus, seed=2, first=len(warmup) + 1)
        lines = sum(len(s.lines) for s in sales)
        units = sum(line.quantity for s in sales for line in s.lines)
        sold_before = await sold_total(nc)
        batches_before = sum(c.stats.batches for c in checkout_consumers(service))
        meter = ApplyMeter(checkout.sink, profiler)
        load = os.getloadavg()
        cpu_started = time.process_time()
        threads_started = thread_cpu()
        loop_profiler = cProfile.Profile() if args.profile else None
        if loop_profiler is not None:
            loop_profiler.enable()
        started = time.perf_counter()
        await publish(js, sales, len(warmup) + 1)
        published = time.perf_counter()
        finished = await applied_total(service, len(warmup) + len(sales), 120)
        if loop_profiler is not None:
            loop_profiler.disable()
            loop_profiler.dump_stats(f"{args.profile}.loop")
        elapsed = finished - started
        process_cpu = time.process_time() - cpu_started
        threads = {
            name: round(cpu - threads_started.get(name, 0.0), 2)
            for name, cpu in thread_cpu().items()
        }
        sold = await sold_total(nc) - sold_before
        if sold != units:
            raise RuntimeError(f"stock says {sold} units sold, the burst had {units}")
        batches = sum(c.stats.batches for c in checkout_consumers(service)) - batches_before
        assert service.nc is not None
        service.nc.options["drain_timeout"] = 1
    finally:
        await nc.close()
        stop.set()
        await asyncio.wait_for(task, 30)
    if profiler is not None:
        profiler.dump_stats(args.profile)
    return {
        "decrements_per_s": round(lines / elapsed, 1),
        "sales_per_s": round(len(sales) / elapsed, 1),
        "sales": len(sales),
        "skus": args.skus,
        "lines": lines,
        "units": units,
        "elapsed_s": round(elapsed, 3),
        "publish_s": round(published - started, 3),
        "batches": batches,
        "apply_cpu_s": round(meter.cpu_s, 3),
        "decrements_per_apply_cpu_s": round(lines / meter.cpu_s, 1),
        "process_cpu_s": round(process_cpu, 3),
        "thread_cpu_s": threads,
        "load_avg_1m_at_start": round(load[0], 2),
        "machine": f"{host_platform.machine()} {os.cpu_count()} cores, "
        f"Python {sys.version.split()[0]}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--sales", type=int, default=2000, help="sales in the burst")
    parser.add_argument("--skus", type=int, default=300, help="demo SKUs in the store")
    parser.add_argument("--warmup", type=int, default=300, help="sales before the burst")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the consumer's apply")
    args = parser.parse_args()
    result = asyncio.run(bench(args))
    if args.json:
        print(
            json.dumps(
                {
                    "decrements_per_s": result["decrements_per_s"],
                    "sales_per_s": result["sales_per_s"],
                }
            )
        )
    else:
        for key, value in result.items():
            print(f"{key:>22}: {value}")


if __name__ == "__main__":
    main()
