"""`tillstream edge run` as a process: killed mid-sale (SIGKILL) and restarted, the store
loses only the sale in progress; what it completed reaches the hub exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from nats.js.api import KeyValueConfig

from edge_agent.gateway import lane_subject
from edge_agent.harness import hub_server
from edge_agent.link import LinkProxy
from edge_agent.storenats import CATALOG_BUCKET
from tillstream.bus import EDGE_STREAM, connect, wait_for
from tillstream.codec import decode
from tillstream.natsserver import NatsServer, free_port

STORE = "s001"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[NatsServer]:
    server = hub_server(tmp_path / "hub").start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
async def link(hub: NatsServer) -> AsyncIterator[LinkProxy]:
    assert hub.leaf_port is not None
    proxy = LinkProxy("127.0.0.1", hub.leaf_port)
    await proxy.start()
    yield proxy
    await proxy.cut()


def start_agent(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
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
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def send(nc: Client, service: str, command: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = await nc.request(
        lane_subject(STORE, service, command), json.dumps(body).encode(), timeout=10
    )
    return dict(json.loads(reply.data))


async def ask_until_answered(nc: Client, body: dict[str, Any]) -> dict[str, Any]:
    last: list[object] = []

    async def attempt() -> dict[str, Any] | None:
        try:
            answer = await send(nc, "checkout", "price", body)
        except Exception as exc:
            last[:] = [exc]
            return None  # the agent is not up yet
        last[:] = [answer]
        return answer if answer["ok"] else None  # nor the catalog mirror

    answer = await wait_for(attempt, timeout=30)
    assert answer is not None, f"the agent did not come up: {last}"
    return answer


async def sell(nc: Client, lines: int) -> str:
    sale_id = str(uuid.uuid4())
    opened = await send(
        nc,
        "checkout",
        "open_sale",
        {
            "sale_id": sale_id,
            "store_id": STORE,
            "lane_id": "01",
            "cashier_id": "c1",
            "currency": "EUR",
        },
    )
    assert opened["ok"], opened
    for n in range(1, lines + 1):
        assert (
            await send(
                nc,
                "checkout",
                "add_line",
                {"sale_id": sale_id, "line_no": n, "sku": "TEA", "quantity": 1},
            )
        )["ok"]
    return sale_id


async def test_agent_killed_mid_sale_restarts_and_loses_nothing_completed(
    hub: NatsServer, link: LinkProxy, tmp_path: Path
) -> None:
    hub_nc = await connect(hub.url, "test-hub")
    kv = await hub_nc.jetstream().create_key_value(KeyValueConfig(bucket=CATALOG_BUCKET))
    await kv.put(
        "TEA",
        json.dumps(
            {
                "sku": "TEA",
                "name": "Tea",
                "price_minor": 250,
                "currency": "EUR",
                "tax_class": "",
                "active": True,
            }
        ).encode(),
    )
    store_port = free_port()
    config = tmp_path / "edge.json"
    config.write_text(
        json.dumps(
            {
                "hub_leaf_url": link.leaf_url,
                "hub_domain": "hub",
                "nats_port": store_port,
                "data_dir": str(tmp_path / STORE),
                "partitions": 2,
                "command_timeout": 1.0,
                "probe_interval": 0.5,
                "limits": {
                    "per_payment_minor": 5000,
                    "total_minor": 20000,
                    "max_offline_hours": 24,
                },
            }
        )
    )
    agent = start_agent(config, tmp_path / "agent.log")
    lane = await connect(f"nats://127.0.0.1:{store_port}", "lane")
    try:
        price = await ask_until_answered(lane, {"sku": "TEA"})
        assert price["offline"] and price["price_minor"] == 250  # no checkout: offline
        done = []
        for _ in range(3):
            sale_id = await sell(lane, 2)
            paid = await send(
                lane,
                "checkout",
                "tender_cash",
                {"sale_id": sale_id, "amount_minor": 500, "idempotency_key": "k"},
            )
            assert paid["sale_status"] == "completed"
            done.append(sale_id)
        in_progress = await sell(lane, 1)

        os.kill(agent.pid, signal.SIGKILL)  # mid-sale
        agent.wait(10)
        agent = start_agent(config, tmp_path / "agent.log")
        await ask_until_answered(lane, {"sku": "TEA"})
        lost = await send(
            lane,
            "checkout",
            "add_line",
            {"sale_id": in_progress, "line_no": 2, "sku": "TEA", "quantity": 1},
        )
        assert not lost["ok"] and lost["error"]["code"] == "unavailable"
        again = await sell(lane, 1)
        paid = await send(
            lane,
            "checkout",
            "tender_cash",
            {"sale_id": again, "amount_minor": 250, "idempotency_key": "k"},
        )
        assert paid["sale_status"] == "completed"
        done.append(again)

        js = hub_nc.jetstream()

        async def all_in_hub() -> list[str] | None:
            try:
                info = await js.stream_info(EDGE_STREAM)
            except Exception:
                return None
            ids = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await js.get_msg(EDGE_STREAM, seq)
                event = decode(msg.subject, msg.data or b"", msg.headers)
                if event.event_type.endswith("OfflineSaleCompleted"):
                    ids.append(event.message.sale_id)  # type: ignore[attr-defined]
            return ids if len(ids) >= len(done) else None

        ids = await wait_for(all_in_hub, timeout=30)
        await asyncio.sleep(1)
        ids = await all_in_hub()
        info = await js.stream_info(EDGE_STREAM)
        local = await lane.jetstream().stream_info("EDGE_s001")
        assert ids is not None and sorted(ids) == sorted(done), (
            info.state,
            info.sources,
            local.state,
            ids,
            done,
        )
    finally:
        await lane.close()
        await hub_nc.close()
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(15)
        except subprocess.TimeoutExpired:
            agent.kill()
        pid_file = tmp_path / STORE / "nats.pid"
        if pid_file.exists():  # the leaf the agent started, if it could not stop it
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
    log = (tmp_path / "agent.log").read_text()
    assert "Traceback" not in log, log[-3000:]


def test_edge_run_refuses_a_bad_config_clearly(tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    config.write_text('hub_leaf_url = "nats-leaf://127.0.0.1:1"\n[limits]\ntotal_minor = -1\n')
    done = subprocess.run(
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
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "must not be negative" in done.stdout + done.stderr
