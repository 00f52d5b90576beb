"""Pipeline benchmark: the raw JetStream publish rate of a server, and the full platform on it.

Run with `./tillstream bench [--json]`. Prints numbers; never part of the test suite.
- raw_js_publish_per_s: async JetStream publishes (with Nats-Msg-Id, as the relay sends them)
  into a file-backed stream on the same embedded server: the limit.
- sales_per_s: completed sales per second from the first lane command until analytics has
  projected every one of them, lanes going as fast as the platform answers.
- e2e_p50_ms / e2e_p99_ms: tender (card authorization request) to SaleCompleted seen by the
  lane, with lanes paced at about 100 sales/s.
- events_per_s: integration events the services published per second in the saturated run.
- ratio: events_per_s / raw_js_publish_per_s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform as host
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from edge_agent.lanes import CompletionWatcher, Lane
from tillstream.bus import SERVICES, command_subject, connect, stream_name
from tillstream.cli import _wait_catalog, seed_demo_store
from tillstream.natsserver import NatsServer
from tillstream.settings import Settings
from tillstream.supervisor import Platform

STORE = "s001"


async def raw_publish_rate(url: str, count: int = 20000, size: int = 200) -> float:
    from nats.js.api import StreamConfig

    nc = await connect(url, "bench-raw")
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="BENCHRAW", subjects=["benchraw.>"]))
    payload = os.urandom(size)
    started = time.perf_counter()
    futures = []
    for i in range(count):
        futures.append(
            await js.publish_async(
                "benchraw.s001.x.y", payload, headers={"Nats-Msg-Id": f"raw:{i}"}
            )
        )
    await asyncio.gather(*futures)
    elapsed = time.perf_counter() - started
    await js.delete_stream("BENCHRAW")
    await nc.close()
    return count / elapsed


async def stream_total(nc: Any) -> int:
    js = nc.jetstream()
    total = 0
    for service in ("checkout", "payments", "inventory", "crm"):
        total += (await js.stream_info(stream_name(service))).state.messages
    return total


async def analytics_count(nc: Any) -> int:
    reply = await nc.request(
        command_subject("analytics", "sales_totals", STORE),
        json.dumps({"store_id": STORE}).encode(),
        timeout=10,
    )
    rows = json.loads(reply.data)["rows"]
    return sum(int(r["sales_count"]) for r in rows)


async def run_lanes(
    nc: Any, skus: list[str], customers: list[str], lanes: int, seconds: float,
    interval: float, seed: int,
) -> list[Lane]:
    watcher = CompletionWatcher(nc, STORE)
    await watcher.start()
    lane_objs = [
        Lane(nc, STORE, f"{n:02d}", skus, customers, watcher, seed=seed, decline_rate=0.0)
        for n in range(1, lanes + 1)
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(lane.run(stop, interval=interval)) for lane in lane_objs]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)
    await watcher.stop()
    return lane_objs


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tillstream-bench-") as tmp:
        server = NatsServer(store_dir=Path(tmp) / "nats")
        server.start()
        try:
            raw = await raw_publish_rate(server.url)
            settings = Settings(data_dir=Path(tmp) / "data", nats_url=server.url)
            platform = Platform(settings)
            await platform.start(timeout=60)
            try:
                nc = await connect(server.url, "bench")
                skus, customers = await seed_demo_store(nc, STORE)
                await _wait_catalog(nc, STORE, skus)
                # Warm up, then saturate.
                await run_lanes(nc, skus, customers, 2, 2.0, 0.0, seed=1)
                before_sales = await analytics_count(nc)
                before_events = await stream_total(nc)
                started = time.perf_counter()
                lanes = await run_lanes(nc, skus, customers, args.lanes, args.seconds, 0.0, 2)
                sold = sum(len(lane.stats.completed) for lane in lanes)
                while await analytics_count(nc) < before_sales + sold:
                    await asyncio.sleep(0.05)
                elapsed = time.perf_counter() - started
                events = await stream_total(nc) - before_events
                sales_per_s = sold / elapsed
                # Latency at a steady 100 sales/s: each lane starts a sale every paced/100 s.
                paced = max(1, args.paced_lanes)
                lanes = await run_lanes(
                    nc, skus, customers, paced, args.seconds, paced / 100.0, seed=3
                )
                latencies = sorted(
                    s.tender_to_completed_ms for lane in lanes for s in lane.stats.completed
                )
                paced_rate = len(latencies) / args.seconds
                await nc.close()
            finally:
                platform.stop()
        finally:
            server.stop()
    p99_index = min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))
    return {
        "sales_per_s": round(sales_per_s, 1),
        "e2e_p50_ms": round(statistics.median(latencies), 1),
        "e2e_p99_ms": round(latencies[p99_index], 1),
        "events_per_s": round(events / elapsed, 1),
        "raw_js_publish_per_s": round(raw, 1),
        "ratio": round((events / elapsed) / raw, 4),
        "paced_sales_per_s": round(paced_rate, 1),
        "sales_measured": sold,
        "machine": f"{host.machine()} {os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "services": list(SERVICES),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--lanes", type=int, default=24)
    parser.add_argument("--paced-lanes", type=int, default=20)
    args = parser.parse_args()
    result = asyncio.run(bench(args))
    if args.json:
        print(json.dumps({k: result[k] for k in (
            "sales_per_s", "e2e_p50_ms", "e2e_p99_ms", "events_per_s",
            "raw_js_publish_per_s", "ratio")}))
    else:
        for key, value in result.items():
            print(f"{key:>22}: {value}")


if __name__ == "__main__":
    main()
