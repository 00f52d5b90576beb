"""Checkout benchmark: lane command latency while many lanes sell at once.

Run with `./tillstream bench checkout [--json]` (or `python -P bench/checkout.py`). A real
nats-server (embedded, temporary store) and the checkout service as its own process (`python
-m checkout.main`, SQLite event store, relay publishing to JetStream), driven over NATS
request/reply by `--lanes` simulated lanes in this process. Each lane has its own shift and
rings up sales: open_sale, `--lines` add_line commands with the cashier's think time between
scans (`--think-ms`, jittered), then a cash tender that covers the total; the tender's answer
is the completion (cash completes the sale in the same command, change computed).
- sales_per_s: sales completed per second over the measured window (after a warm-up).
- add_line_p50_ms / add_line_p99_ms: request to reply of add_line.
- tender_p50_ms / tender_p99_ms: the cash tender, request to the reply of the completed sale.
- service_cpu_pct: CPU time of the service process over the window (100 = one core busy).
- calls_per_group: database calls per group commit (status.checkout: the calls that waited
  for the database thread and were committed together, one transaction per group).
Prints numbers; never part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform as host
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import nats.errors

from tillstream.bus import command_subject, connect, ensure_platform_streams
from tillstream.codec import H_EVENT_TYPE, H_MSG_ID, H_STORE_ID
from tillstream.events.v1 import common_pb2, inventory_pb2
from tillstream.natsserver import NatsServer

STORE = "s001"
PIN = "2468"
SKUS = 50


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) in milliseconds of latencies in seconds."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return round(ordered[rank] * 1000, 2)


class Client:
    """Request/reply to checkout's commands; a refusal is an error (the bench's inputs are
    all valid)."""

    def __init__(self, nc: Any) -> None:
        self.nc = nc

    async def ask(self, command: str, body: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
        msg = await self.nc.request(
            command_subject("checkout", command, STORE), json.dumps(body).encode(), timeout=timeout
        )
        reply = json.loads(msg.data)
        if not reply.get("ok"):
            raise RuntimeError(f"{command} refused: {reply.get('error')}")
        return dict(reply)


async def seed(nc: Any, client: Client, lanes: int) -> None:
    """The catalog (as inventory would publish it), one cashier, a shift on every lane."""
    js = nc.jetstream()
    await ensure_platform_streams(js, 1)
    for n in range(SKUS):
        message = inventory_pb2.ProductUpserted(
            sku=f"sku-{n}",
            name=f"Item {n}",
            active=True,
            price=common_pb2.Money(amount_minor=99 + n * 13, currency="EUR"),
        )
        await js.publish(
            "inventory.chain.product.upserted",
            message.SerializeToString(),
            headers={
                H_MSG_ID: f"inventory:{n + 1}",
                H_STORE_ID: "chain",
                H_EVENT_TYPE: message.DESCRIPTOR.full_name,
            },
        )
    deadline = time.monotonic() + 60
    while True:  # the replica is fed by checkout's consumer: wait for the last SKU
        try:
            await client.ask("price", {"sku": f"sku-{SKUS - 1}"}, timeout=2)
            break
        except (RuntimeError, TimeoutError, nats.errors.Error):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    await client.ask(
        "register_cashier", {"store_id": STORE, "cashier_id": "bench", "name": "Bench", "pin": PIN}
    )
    for lane in range(lanes):
        await client.ask(
            "open_shift",
            {
                "store_id": STORE,
                "lane_id": f"l{lane}",
                "cashier_id": "bench",
                "pin": PIN,
                "float_minor": 100_00,
                "currency": "EUR",
            },
        )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def service_status(nc: Any) -> dict[str, Any]:
    msg = await nc.request("status.checkout", b"", timeout=10)
    return dict(json.loads(msg.data))


class Stats:
    def __init__(self) -> None:
        self.add_line: list[float] = []
        self.tender: list[float] = []
        self.sales = 0
        self.measuring = False


async def lane(
    client: Client,
    lane_id: str,
    stats: Stats,
    stop: asyncio.Event,
    lines: int,
    think_s: float,
    rng: random.Random,
) -> None:
    """One lane selling until `stop`: scans with think time, then pays cash."""
    await asyncio.sleep(rng.random() * think_s)  # lanes do not start in step
    while not stop.is_set():
        sale_id = str(uuid4())
        await client.ask(
            "open_sale",
            {
                "sale_id": sale_id,
                "store_id": STORE,
                "lane_id": lane_id,
                "cashier_id": "bench",
                "currency": "EUR",
            },
        )
        total = 0
        for line_no in range(1, lines + 1):
            await asyncio.sleep(think_s * (0.5 + rng.random()))
            started = time.perf_counter()
            reply = await client.ask(
                "add_line",
                {
                    "sale_id": sale_id,
                    "line_no": line_no,
                    "sku": f"sku-{rng.randrange(SKUS)}",
                    "quantity": rng.randint(1, 3),
                },
            )
            if stats.measuring:
                stats.add_line.append(time.perf_counter() - started)
            total = reply["total_minor"]
        await asyncio.sleep(think_s * (0.5 + rng.random()))
        started = time.perf_counter()
        paid = await client.ask(
            "tender_cash",
            {
                "sale_id": sale_id,
                "amount_minor": total + rng.randrange(500),
                "idempotency_key": "cash-1",
            },
        )
        if paid["sale_status"] != "completed":
            raise RuntimeError(f"sale {sale_id} not completed by its cash: {paid}")
        if stats.measuring:
            stats.tender.append(time.perf_counter() - started)
            stats.sales += 1


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServer(store_dir=Path(tmp) / "nats", log_file=Path(tmp) / "nats.log")
        server.start()
        env = {
            **os.environ,
            "TILLSTREAM_NATS_URL": server.url,
            "TILLSTREAM_DATA_DIR": str(Path(tmp) / "data"),
            "TILLSTREAM_PARTITIONS": "1",
            "TILLSTREAM_GRPC_ENABLED": "false",
            "TILLSTREAM_LOG_LEVEL": "WARNING",
        }
        log = open(Path(tmp) / "checkout.log", "w")  # noqa: SIM115 - closed below
        profile = ["-m", "cProfile", "-o", args.profile] if args.profile else []
        service = subprocess.Popen(
            [sys.executable, *profile, "-m", "checkout.main"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        nc = await connect(server.url, "bench-checkout-lanes")
        try:
            client = Client(nc)
            await seed(nc, client, args.lanes)
            stats, stop = Stats(), asyncio.Event()
            rng = random.Random(args.seed)
            tasks = [
                asyncio.create_task(
                    lane(
                        client,
                        f"l{n}",
                        stats,
                        stop,
                        args.lines,
                        args.think_ms / 1000,
                        random.Random(rng.random()),
                    )
                )
                for n in range(args.lanes)
            ]
            await asyncio.sleep(args.warmup)
            stats.measuring = True
            started, cpu_before = time.perf_counter(), cpu_seconds(service.pid)
            before = await service_status(nc)
            await asyncio.sleep(args.seconds)
            stats.measuring = False
            elapsed = time.perf_counter() - started
            cpu = cpu_seconds(service.pid) - cpu_before
            after = await service_status(nc)
            stop.set()
            await asyncio.gather(*tasks)
        finally:
            await nc.close()
            service.terminate()
            service.wait(30)
            log.close()
            server.kill()
    return {
        "lanes": args.lanes,
        "sales_per_s": round(stats.sales / elapsed, 1),
        "add_line_p50_ms": percentile(stats.add_line, 50),
        "add_line_p99_ms": percentile(stats.add_line, 99),
        "tender_p50_ms": percentile(stats.tender, 50),
        "tender_p99_ms": percentile(stats.tender, 99),
        "add_lines": len(stats.add_line),
        "commands_per_s": round((len(stats.add_line) + 2 * stats.sales) / elapsed, 1),
        "add_line_mean_ms": round(statistics.fmean(stats.add_line) * 1000, 2)
        if stats.add_line
        else 0.0,
        "service_cpu_pct": round(100 * cpu / elapsed, 1),
        "calls_per_group": round(
            (after.get("grouped_calls", 0) - before.get("grouped_calls", 0))
            / max(1, after.get("command_groups", 0) - before.get("command_groups", 0)),
            1,
        ),
        "group_fallbacks": after.get("group_fallbacks", 0),
        "think_ms": args.think_ms,
        "lines_per_sale": args.lines,
        "seconds": args.seconds,
        "machine": f"{host.machine()} {os.cpu_count()} cpu, Python {host.python_version()}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--lanes", type=int, default=200)
    parser.add_argument("--lines", type=int, default=5, help="lines per sale")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=1000.0,
        help="mean cashier time between scans (jittered 0.5x..1.5x)",
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument(
        "--profile", default="", help="cProfile the service's main thread (event loop) to this file"
    )
    args = parser.parse_args()
    result = asyncio.run(bench(args))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>18}: {value}")


if __name__ == "__main__":
    main()
