"""`tillstream up --demo` as a newcomer runs it: the demo store's edge agent runs (its own leaf
nats-server, a virtual card terminal and receipt printer per lane), the lanes sell through it
into five processes, `status` shows them, events tail decodes them, and SIGTERM ends every
process it started, the agent and its leaf node included."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tillstream.bus import connect
from tillstream.natsserver import free_port

pytestmark = pytest.mark.e2e


def _cli(*args: str, env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tillstream.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes: it only waits to be reaped.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def _agent_status(url: str, store: str = "s001") -> dict:
    """The store agent's own status, asked over the hub (it answers across its leaf node)."""

    async def ask() -> dict:
        nc = await connect(url, "test-up")
        try:
            reply = await nc.request(f"status.edge.{store}", b"", timeout=2)
            return dict(json.loads(reply.data))
        except Exception:
            return {}
        finally:
            await nc.close()

    return asyncio.run(ask())


def test_up_demo_sells_shows_status_and_stops_cleanly(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TILLSTREAM_DATA_DIR": str(tmp_path / "var"),
        "TILLSTREAM_NATS_PORT": str(free_port()),
        "TILLSTREAM_NATS_HTTP_PORT": str(free_port()),
        "TILLSTREAM_ACQUIRER_PORT": str(free_port()),
    }
    env.pop("TILLSTREAM_NATS_URL", None)
    up = subprocess.Popen(
        [sys.executable, "-m", "tillstream.cli", "up", "--demo", "--lanes", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 90
        status: dict = {}
        while time.monotonic() < deadline:
            result = _cli("status", "--json", env=env)
            assert result.returncode == 0, result.stderr
            status = json.loads(result.stdout)
            services = status["services"]
            if (
                all(s.get("up") for s in services.values())
                and services["analytics"].get("consumers")
                and services["checkout"].get("relay_published", 0) > 50
            ):
                break
            assert up.poll() is None, up.stdout.read() if up.stdout else ""
            time.sleep(0.5)
        services = status["services"]
        assert all(s["up"] for s in services.values()), status
        assert services["checkout"]["events_stored"] > 0
        assert services["payments"]["relay_published"] > 0
        pids = [int(s["pid"]) for s in services.values()]

        # The lanes sell through the store's agent: forwarded commands, card payments on the
        # virtual terminals, receipts out of the virtual printers.
        hub_url = f"nats://127.0.0.1:{env['TILLSTREAM_NATS_PORT']}"
        agent: dict = {}
        while time.monotonic() < deadline + 60:
            agent = _agent_status(hub_url)
            devices = agent.get("devices", {})
            if devices.get("terminal_approved", 0) > 3 and devices.get("receipts_printed", 0) > 3:
                break
            time.sleep(0.5)
        assert agent.get("gateway", {}).get("online") and agent["gateway"]["forwarded"] > 20, agent
        assert agent["devices"]["terminal_approved"] > 3, agent
        assert agent["devices"]["receipts_printed"] > 3, agent
        assert set(agent["devices"]["lanes"]) == {"01", "02"}
        pids += [int(agent["pid"]), int(agent["leaf_pid"])]

        tail = _cli("events", "tail", "checkout.*.sale.completed", "--count", "2", env=env)
        assert tail.returncode == 0, tail.stderr
        assert tail.stdout.count("SaleCompleted") == 2

        table = _cli("status", env=env)
        assert "checkout" in table.stdout and "up" in table.stdout
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            output, _ = up.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            up.kill()
            output, _ = up.communicate()
            pytest.fail(f"up did not stop on SIGTERM:\n{output[-3000:]}")
    assert up.returncode == 0, output[-3000:]
    assert "stopped: every process ended" in output
    assert pids and not [pid for pid in pids if _alive(pid)]
    for log in (tmp_path / "var" / "logs").glob("*.log"):
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, f"{log.name}:\n{text[-3000:]}"
