"""Edge benchmark: how fast the platform catches up on a store's offline backlog, and how
much memory the edge agent needs.

Run with `./tillstream bench edge [--json]` (or `python bench/edge.py`). A hub nats-server runs
the five services as processes; the store's agent runs as its own process (`tillstream edge
run`, which starts the store's leaf nats-server) behind a link the benchmark cuts. Simulated
lanes ring up `--sales` sales offline through the agent (cash and card), then the link is
restored and the clock runs until checkout has ingested every one.
- catchup_sales_per_s: offline sales ingested per second after the link returns. "Ingested"
  means: in checkout's store and published, i.e. every sale's SaleCompleted (offline=true) is
  in the hub's CHECKOUT stream, where the other services read it. It does not wait for them.
- downstream_s: seconds after the link returns until every consumer of the CHECKOUT stream
  (inventory, analytics, crm, payments) has acked all of it too ("seen by every service").
- agent_rss_mb: the agent process's peak resident memory (VmHWM), the leaf server apart.
- sourcing_sales_per_s: how fast the backlog reaches the hub's EDGE stream (the leaf link
  and stream sourcing alone); the gap to catchup_sales_per_s is checkout's ingestion.
The machine's load matters (all processes share it): note `uptime` next to the numbers.
Prints numbers; never part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from nats.js.api import KeyValueConfig
from nats.js.errors import NotFoundError

from edge_agent.lanes import CompletionWatcher, Lane
from edge_agent.link import LinkProxy
from edge_agent.simulate import Hub, running_hub
from edge_agent.storenats import CATALOG_BUCKET
from tillstream.bus import command_subject, connect, wait_for
from tillstream.natsserver import free_port

STORE = "s001"


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a live process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def ensure_catalog_bucket(hub: Hub) -> bool:
    """True if inventory keeps the catalog bucket; else fill one from checkout's prices (so
    the store can price offline) and say so."""
    js = hub.nc.jetstream()
    try:
        await js.stream_info(f"KV_{CATALOG_BUCKET}")
        return True
    except NotFoundError:
        pass
    kv = await js.create_key_value(KeyValueConfig(bucket=CATALOG_BUCKET))
    for sku in hub.skus[STORE]:
        reply = await hub.nc.request(
            command_subject("checkout", "price", STORE),
            json.dumps({"sku": sku}).encode(),
            timeout=10,
        )
        price = json.loads(reply.data)
        await kv.put(
            sku,
            json.dumps(
                {
                    "sku": sku,
                    "name": price["name"],
                    "barcodes": [],
                    "price_minor": price["price_minor"],
                    "currency": price["currency"],
                    "tax_class": "",
                    "active": True,
                }
            ).encode(),
        )
    return False


async def completed_in_checkout(hub: Hub) -> int:
    info = await hub.nc.jetstream().stream_info(
        "CHECKOUT", subjects_filter="checkout.*.sale.completed.*"
    )
    return sum((info.state.subjects or {}).values())


async def downstream_pending(hub: Hub) -> int:
    """Messages of the CHECKOUT stream some consumer has not acked yet (all services)."""
    consumers = await hub.nc.jetstream().consumers_info("CHECKOUT")
    return sum(int(c.num_pending or 0) + int(c.num_ack_pending or 0) for c in consumers)


async def bench(sales: int, lanes: int, workdir: Path) -> dict[str, Any]:
    async with running_hub(workdir, [STORE], partitions=2) as hub:
        inventory_bucket = await ensure_catalog_bucket(hub)
        assert hub.server.leaf_port is not None
        link = LinkProxy("127.0.0.1", hub.server.leaf_port)
        await link.start()
        store_port = free_port()
        config = workdir / "edge.json"
        config.write_text(
            json.dumps(
                {
                    "hub_leaf_url": link.leaf_url,
                    "hub_domain": "hub",
                    "nats_port": store_port,
                    "data_dir": str(workdir / STORE),
                    "partitions": 2,
                    "command_timeout": 1.0,
                    "limits": {
                        "per_payment_minor": 150_00,
                        "total_minor": 100_000_000,
                        "max_offline_hours": 24,
                    },
                }
            )
        )
        log = (workdir / "agent.log").open("ab")
        agent = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tillstream.cli",
                "edge",
                "run",
                "--store",
                STORE,
                "--config",
                str(config),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        nc = await connect(f"nats://127.0.0.1:{store_port}", "bench-lanes")
        try:

            async def mirrored() -> bool:
                try:
                    info = await nc.jetstream().stream_info(f"KV_{CATALOG_BUCKET}")
                except Exception:
                    return False
                return info.state.messages >= len(hub.skus[STORE])

            assert await wait_for(mirrored, timeout=60), "the catalog did not reach the store"
            watcher = CompletionWatcher(nc, STORE)
            await watcher.start()
            made = [
                Lane(
                    nc,
                    STORE,
                    f"{n:02d}",
                    hub.skus[STORE],
                    [],
                    watcher,
                    seed=n,
                    decline_rate=0.0,
                    gateway=True,
                    cash_rate=0.5,
                )
                for n in range(1, lanes + 1)
            ]
            for lane in made:
                await lane.start_shift()
            before = await completed_in_checkout(hub)
            await link.cut()
            stop = asyncio.Event()
            started = time.perf_counter()
            await asyncio.gather(*(lane.run(stop, sales=sales // lanes) for lane in made))
            selling_s = time.perf_counter() - started
            offline = sum(s.offline for lane in made for s in lane.stats.completed)
            assert offline == sales, f"{offline} of {sales} sales offline"

            await link.restore()
            restored = time.perf_counter()

            edge_before = (await hub.nc.jetstream().stream_info("EDGE")).state.messages
            sourced_at: list[float] = []

            async def caught_up() -> bool:
                if not sourced_at:
                    edge = (await hub.nc.jetstream().stream_info("EDGE")).state.messages
                    if edge >= edge_before + sales:
                        sourced_at.append(time.perf_counter() - restored)
                return await completed_in_checkout(hub) >= before + sales

            assert await wait_for(caught_up, timeout=600, interval=0.05), "no catch-up"
            catchup_s = time.perf_counter() - restored

            async def seen_downstream() -> bool:
                return await downstream_pending(hub) == 0

            downstream_s = (
                time.perf_counter() - restored
                if await wait_for(seen_downstream, timeout=120, interval=0.05)
                else None
            )
            rss = peak_rss_mb(agent.pid)
            await watcher.stop()
        finally:
            await nc.close()
            agent.send_signal(signal.SIGTERM)
            agent.wait(30)
            log.close()
            await link.cut()
        return {
            "catchup_sales_per_s": round(sales / catchup_s, 1),
            "agent_rss_mb": round(rss, 1),
            "offline_sales": sales,
            "catchup_s": round(catchup_s, 2),
            "downstream_s": round(downstream_s, 2) if downstream_s is not None else None,
            "in_hub_edge_stream_s": round(sourced_at[0], 2) if sourced_at else None,
            "sourcing_sales_per_s": round(sales / sourced_at[0], 1) if sourced_at else None,
            "offline_selling_sales_per_s": round(sales / selling_s, 1),
            "catalog_bucket_from_inventory": inventory_bucket,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sales", type=int, default=2000)
    parser.add_argument("--lanes", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tillstream-bench-edge-") as tmp:
        result = asyncio.run(bench(args.sales, args.lanes, Path(tmp)))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
