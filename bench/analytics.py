"""Analytics benchmark: replay throughput into fresh projections, and live lag.

Run with `./tillstream bench analytics [--json]` (or `python bench/analytics.py`). A real
nats-server (JetStream, temporary store) and real SQLite files:
- replay_events_per_s: `--events` mixed upstream events (sales with lines and discounts,
  captured payments, refunds, stock movements, loyalty) are published to the streams first;
  then `analytics.rebuild` replays them all from the streams into a fresh generation of tables
  and swaps it in, exactly what `tillstream analytics rebuild` does. Events per second of
  that whole rebuild (reading NATS, decoding, folding, writing SQL with tracking rows).
- live_lag_p99_ms: the analytics service runs (its durable consumers on every partition);
  sales are published at a steady `--rate` per second for `--seconds`; the lag of a sale is
  from its publish to the commit of the batch that projects it (heard by a listener on the
  service's projection store, as the dashboard and StreamSales hear it).
Prints numbers; never part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Run as a script, this file's folder is first on sys.path and this file (analytics.py)
# would shadow the `analytics` package: take the folder off before importing it.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import nats  # noqa: E402
from google.protobuf.message import Message  # noqa: E402

from analytics.application import ProjectionSink, ProjectionStore  # noqa: E402
from analytics.domainmodel import CompletedSale  # noqa: E402
from analytics.main import build  # noqa: E402
from analytics.rebuild import rebuild  # noqa: E402
from analytics.streamreader import ReplayClient  # noqa: E402
from tillstream.bus import ensure_platform_streams  # noqa: E402
from tillstream.codec import IntegrationEvent  # noqa: E402
from tillstream.events.v1 import (  # noqa: E402
    checkout_pb2,
    common_pb2,
    crm_pb2,
    inventory_pb2,
    payments_pb2,
)
from tillstream.natsserver import NatsServer  # noqa: E402
from tillstream.service import ServiceHost, Subscription  # noqa: E402
from tillstream.testing import test_settings  # noqa: E402

STORES = [f"s{i:03d}" for i in range(1, 11)]


def eur(amount: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount, currency="EUR")


def sale_message(n: int, at_ms: int) -> checkout_pb2.SaleCompleted:
    lines = [
        common_pb2.SaleLine(
            line_no=i, sku=f"SKU{(n + i) % 200}", quantity=1 + i, line_total=eur(250 * (1 + i))
        )
        for i in range(1 + n % 4)
    ]
    total = sum(line.line_total.amount_minor for line in lines)
    return checkout_pb2.SaleCompleted(
        sale_id=f"sale-{n}",
        store_id=STORES[n % len(STORES)],
        lines=lines,
        total=eur(total),
        completed_at_ms=at_ms,
        tax_total=eur(total // 6),
        discounts=[checkout_pb2.SaleDiscount(kind="promotion", label="10%", amount=eur(25))]
        if n % 5 == 0
        else [],
        tenders=[common_pb2.SaleTender(kind="card", amount=eur(total))],
    )


def mixed_event(n: int, at_ms: int) -> tuple[str, str, str, Message]:
    """(service, aggregate, event, message): about half sales, the rest what follows them."""
    store = STORES[n % len(STORES)]
    kind = n % 8
    if kind < 4:
        return "checkout", "sale", "completed", sale_message(n, at_ms)
    if kind < 6:
        return (
            "payments",
            "payment",
            "captured",
            payments_pb2.PaymentCaptured(
                payment_id=f"p{n}",
                store_id=store,
                tender="card",
                amount=eur(500 + n % 900),
                card=payments_pb2.Card(scheme="visa" if n % 3 else "mastercard"),
            ),
        )
    if kind == 6:
        return (
            "inventory",
            "stock",
            "changed",
            inventory_pb2.StockChanged(
                store_id=store, sku=f"SKU{n % 200}", delta=-1, on_hand=n % 40
            ),
        )
    return (
        "crm",
        "loyalty",
        "points_earned",
        crm_pb2.LoyaltyPointsEarned(
            customer_id=f"c{n % 500}", store_id=store, sale_id=f"sale-{n}", points=n % 50
        ),
    )


async def publish_all(nc: Any, js: Any, count: int) -> None:
    """Publish in order on one connection (core publish, then wait for the streams to hold
    them all): per-partition order is what the tracking positions rely on."""
    positions: dict[str, int] = {}
    now = datetime.now(UTC)
    at_ms = int(now.timestamp() * 1000)
    for n in range(count):
        service, aggregate, name, message = mixed_event(n, at_ms - (count - n) * 1000)
        positions[service] = positions.get(service, 0) + 1
        store = message.store_id  # type: ignore[attr-defined]
        event = IntegrationEvent.of(
            service, store, aggregate, name, message=message, occurred_at=now
        )
        await nc.publish(
            event.subject, event.payload(), headers=event.headers(f"{service}:{positions[service]}")
        )
    await nc.flush()
    for _ in range(600):
        stored = 0
        for service in positions:
            stored += (await js.stream_info(service.upper())).state.messages
        if stored >= count:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"only {stored} of {count} events reached the streams")


async def bench_replay(workdir: Path, url: str, count: int) -> dict[str, Any]:
    settings = test_settings(workdir / "replay", partitions=4)
    nc = ReplayClient()  # as `tillstream analytics rebuild` connects
    await nc.connect(url)
    try:
        js = nc.jetstream()
        await ensure_platform_streams(js, settings.partitions)
        started = time.perf_counter()
        await publish_all(nc, js, count)
        publish_s = time.perf_counter() - started
        store = ProjectionStore.from_settings(settings)
        try:
            result = await rebuild(store, js)
            stats = store.stats()
        finally:
            store.dispose()
    finally:
        await nc.close()
    return {
        "replay_events": result.events,
        "replay_seconds": round(result.seconds, 3),
        "replay_events_per_s": round(result.events_per_s),
        "publish_seconds": round(publish_s, 3),
        "sales_rows": stats["sales_rows"],
    }


def _projection_store(definition: Any) -> ProjectionStore:
    subscription = definition.subscriptions["checkout"]
    sink = subscription.sink if isinstance(subscription, Subscription) else subscription
    if not isinstance(sink, ProjectionSink):
        raise RuntimeError("run the benchmark with the dashboard off (dashboard_port=0)")
    return sink.store


async def bench_live(workdir: Path, url: str, rate: int, seconds: float) -> dict[str, Any]:
    settings = test_settings(workdir / "live", partitions=4, dashboard_port=0)
    definition = build(settings)
    store = _projection_store(definition)
    lags: list[float] = []

    def heard(sales: Sequence[CompletedSale]) -> None:
        now_ms = time.time() * 1000
        lags.extend(now_ms - s.completed_at_ms for s in sales)

    store.add_listener(heard)
    stop = asyncio.Event()
    host = ServiceHost(definition, settings, url)
    task = asyncio.create_task(host.run(stop))
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for _ in range(200):  # the host creates the streams and its consumers
            try:
                await js.stream_info("CHECKOUT")
                break
            except Exception:
                await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        total = int(rate * seconds)
        started = time.perf_counter()
        for n in range(total):
            due = started + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            message = sale_message(n, int(time.time() * 1000))
            event = IntegrationEvent.of(
                "checkout",
                message.store_id,
                "sale",
                "completed",
                message=message,
                occurred_at=datetime.now(UTC),
            )
            await js.publish(
                event.subject, event.payload(), headers=event.headers(f"checkout:{n + 1}")
            )
        deadline = time.perf_counter() + 30
        while len(lags) < total and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await nc.close()
        if host.nc is not None:
            host.nc.options["drain_timeout"] = 1
        stop.set()
        await asyncio.wait_for(task, 30)
    ordered = sorted(lags)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")
    return {
        "live_sales": total,
        "live_projected": len(lags),
        "live_rate_per_s": rate,
        "live_lag_p50_ms": round(statistics.median(ordered), 1) if ordered else None,
        "live_lag_p99_ms": round(p99, 1),
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tillstream-bench-analytics-") as tmp:
        workdir = Path(tmp)
        result: dict[str, Any] = {}
        for phase in ("replay", "live"):  # a fresh broker each: live must not see the replay's
            server = NatsServer(
                store_dir=workdir / f"nats-{phase}", log_file=workdir / f"nats-{phase}.log"
            )
            server.start()
            try:
                if phase == "replay":
                    result.update(await bench_replay(workdir, server.url, args.events))
                else:
                    result.update(await bench_live(workdir, server.url, args.rate, args.seconds))
            finally:
                server.kill()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--events", type=int, default=50_000, help="events to replay")
    parser.add_argument("--rate", type=int, default=200, help="live sales per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="live phase duration")
    args = parser.parse_args()
    result = asyncio.run(bench(args))
    if args.json:
        print(json.dumps({k: result[k] for k in ("replay_events_per_s", "live_lag_p99_ms")}))
    else:
        for key, value in result.items():
            print(f"{key:>22}: {value}")


if __name__ == "__main__":
    main()
