"""Runs the platform's processes on one machine: the embedded NATS server (the hub: JetStream
domain `hub`, a leaf-node port for the stores), one OS process per service, and the demo
store's edge agent (its own leaf nats-server, a virtual terminal and printer per lane); stops
them all cleanly, leaving no orphan.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tillstream.bus import SERVICES, connect, ensure_platform_streams
from tillstream.natsserver import NatsServer, free_port
from tillstream.settings import Settings

PR_SET_PDEATHSIG = 1
#: The acquirer simulator's port when the settings name none.
DEFAULT_ACQUIRER_PORT = 8583
#: The hub's JetStream domain: stores address its JetStream as `$JS.hub.API`.
HUB_DOMAIN = "hub"
#: The demo store's virtual terminals: mostly approved, now and then a PIN typed wrong, a
#: card refused or locked, a contactless read that fails.
DEMO_TERMINAL_MIX = (
    "approve:0.86,wrong_pin_then_ok:0.05,decline:0.03,wrong_pin:0.03,"
    "read_failed:0.02,card_locked:0.01"
)


def _own_group_and_die_with_parent() -> None:  # pragma: no cover - in the child before exec
    # Out of the terminal's process group: Ctrl-C reaches the supervisor alone, which stops
    # the store's lanes first and then the agent (SIGTERM), not all at once.
    os.setpgrp()
    _die_with_parent()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # If the supervisor is killed outright, the kernel SIGTERMs its children: no orphans.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


@dataclass
class Platform:
    """NATS plus the service processes, with their logs under <data_dir>/logs."""

    settings: Settings
    services: Sequence[str] = SERVICES
    extra_env: dict[str, str] = field(default_factory=dict)
    nats: NatsServer | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    #: The ISO 8583 acquirer simulator payments authorizes through.
    acquirer: subprocess.Popen[bytes] | None = None
    #: The stores' edge agents, by store id, and the URL each one's lanes connect to.
    edge_agents: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    store_urls: dict[str, str] = field(default_factory=dict)

    @property
    def nats_url(self) -> str:
        if self.settings.nats_url:
            return self.settings.nats_url
        assert self.nats is not None
        return self.nats.url

    @property
    def log_dir(self) -> Path:
        path = self.settings.data_dir / "logs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def start_nats(self) -> None:
        if self.settings.nats_url:
            return
        self.nats = NatsServer(
            store_dir=self.settings.data_dir / "nats",
            port=self.settings.nats_port,
            http_port=self.settings.nats_http_port,
            log_file=self.log_dir / "nats-server.log",
            jetstream_domain=HUB_DOMAIN,
            leaf_port=0,  # a free port: the stores' leaf nodes connect here
        )
        self.nats.start()

    @property
    def acquirer_port(self) -> int:
        return self.settings.acquirer_port or DEFAULT_ACQUIRER_PORT

    def start_acquirer(self, timeout: float = 15.0) -> subprocess.Popen[bytes]:
        """The acquirer simulator, listening before this returns (settlement files under
        <data_dir>/acquirer)."""
        settlement_dir = self.settings.data_dir / "acquirer"
        with open(self.log_dir / "acquirer-sim.log", "ab") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "payments.acquirersim",
                    "--host",
                    self.settings.acquirer_host,
                    "--port",
                    str(self.acquirer_port),
                    "--settlement-dir",
                    str(settlement_dir),
                ],
                env={**os.environ, **self.extra_env},
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        self.acquirer = proc
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"the acquirer simulator exited with {proc.returncode}; "
                    f"see {self.log_dir}/acquirer-sim.log"
                )
            try:
                with socket.create_connection(
                    (self.settings.acquirer_host, self.acquirer_port), timeout=0.5
                ):
                    return proc
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"the acquirer simulator did not listen in {timeout}s"
                    ) from None
                time.sleep(0.05)

    def env(self) -> dict[str, str]:
        env = {**os.environ, **self.extra_env}
        env["TILLSTREAM_NATS_URL"] = self.nats_url
        env["TILLSTREAM_DATA_DIR"] = str(self.settings.data_dir)
        env["TILLSTREAM_PARTITIONS"] = str(self.settings.partitions)
        env["TILLSTREAM_ACQUIRER_HOST"] = self.settings.acquirer_host
        env["TILLSTREAM_ACQUIRER_PORT"] = str(self.acquirer_port)
        env["TILLSTREAM_ACQUIRER_TIMEOUT"] = str(self.settings.acquirer_timeout)
        return env

    def start_service(self, name: str) -> subprocess.Popen[bytes]:
        with open(self.log_dir / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", f"{name}.main"],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        self.processes[name] = proc
        return proc

    def edge_config(self, store_id: str, lanes: int) -> dict[str, Any]:
        """The demo store's agent configuration: a leaf of this hub, a virtual terminal (with
        the demo's mix of outcomes) and a virtual printer per lane, all on pseudo-terminals."""
        if self.nats is None or self.nats.leaf_port is None:
            raise RuntimeError("a store needs the platform's own NATS (with its leaf port)")
        return {
            "store_id": store_id,
            "hub_leaf_url": self.nats.leaf_url,
            "hub_domain": HUB_DOMAIN,
            "nats_port": free_port(),
            "data_dir": str(self.settings.data_dir / "edge" / store_id),
            "partitions": self.settings.partitions,
            "command_timeout": 5.0,  # a busy laptop is slow, not offline
            "lanes": {
                f"{n:02d}": {
                    "terminal": "virtual",
                    "terminal_mix": DEMO_TERMINAL_MIX,
                    "printer": "virtual",
                }
                for n in range(1, lanes + 1)
            },
        }

    def start_edge_agent(self, config: dict[str, Any]) -> subprocess.Popen[bytes]:
        """The store's agent as its own process (`python -m edge_agent`), as on a store's
        hardware; it starts (and stops) the store's leaf nats-server."""
        store_id = str(config["store_id"])
        directory = Path(config["data_dir"])
        directory.mkdir(parents=True, exist_ok=True)
        config_file = directory / "agent.json"
        config_file.write_text(json.dumps(config, indent=2))
        with open(self.log_dir / f"edge-{store_id}.log", "ab") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "edge_agent",
                    "--store",
                    store_id,
                    "--config",
                    str(config_file),
                ],
                env={**os.environ, **self.extra_env},
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_own_group_and_die_with_parent,
            )
        self.edge_agents[store_id] = proc
        self.store_urls[store_id] = f"nats://127.0.0.1:{config['nats_port']}"
        return proc

    async def start_store(self, store_id: str, lanes: int, timeout: float = 60.0) -> str:
        """Start the store's agent and wait until it answers over the leaf connection; the
        URL of the store's NATS, where its lanes connect."""
        self.start_edge_agent(self.edge_config(store_id, lanes))
        await self.wait_store(store_id, timeout)
        return self.store_urls[store_id]

    async def wait_store(self, store_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The agent's status once it answers (it has its leaf node, streams and devices)."""
        nc = await connect(self.nats_url, "tillstream-supervisor")
        deadline = time.monotonic() + timeout
        proc = self.edge_agents[store_id]
        try:
            while True:
                if proc.poll() is not None:
                    log = self.log_dir / f"edge-{store_id}.log"
                    raise RuntimeError(
                        f"the edge agent of {store_id} exited with {proc.returncode}; see {log}"
                    )
                try:
                    reply = await nc.request(f"status.edge.{store_id}", b"", timeout=0.5)
                    status: dict[str, Any] = json.loads(reply.data)
                    return status
                except Exception:
                    if time.monotonic() > deadline:
                        raise TimeoutError(
                            f"the edge agent of {store_id} did not come up in {timeout}s"
                        ) from None
                    await asyncio.sleep(0.2)
        finally:
            await nc.close()

    def stop_edge_agents(self, timeout: float = 15.0) -> None:
        """SIGTERM each agent and wait: it closes its devices and stops its leaf node."""
        for proc in self.edge_agents.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.edge_agents.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    async def ensure_streams(self) -> None:
        nc = await connect(self.nats_url, "tillstream-supervisor")
        try:
            await ensure_platform_streams(nc.jetstream(), self.settings.partitions)
        finally:
            await nc.close()

    async def start(self, timeout: float = 30.0) -> None:
        self.start_nats()
        await self.ensure_streams()
        if self.acquirer is None or self.acquirer.poll() is not None:
            self.start_acquirer()
        for name in self.services:
            self.start_service(name)
        await self.wait_ready(timeout)

    async def wait_ready(self, timeout: float = 30.0) -> None:
        nc = await connect(self.nats_url, "tillstream-supervisor")
        deadline = time.monotonic() + timeout
        try:
            for name in self.services:
                while True:
                    proc = self.processes.get(name)
                    if proc is not None and proc.poll() is not None:
                        raise RuntimeError(
                            f"{name} exited with {proc.returncode}; see {self.log_dir}/{name}.log"
                        )
                    try:
                        await nc.request(f"status.{name}", b"", timeout=0.5)
                        break
                    except Exception:
                        if time.monotonic() > deadline:
                            raise TimeoutError(f"{name} did not come up in {timeout}s") from None
                        await asyncio.sleep(0.1)
        finally:
            await nc.close()

    def stop(self, timeout: float = 15.0) -> None:
        # The stores first: an agent stops its own leaf node while the hub is still there.
        self.stop_edge_agents(timeout)
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.processes.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.nats is not None:
            self.nats.stop()
        # Last: a payment still finishing above may need the acquirer (and its reversal).
        if self.acquirer is not None:
            if self.acquirer.poll() is None:
                self.acquirer.send_signal(signal.SIGTERM)
            try:
                self.acquirer.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.acquirer.kill()
                self.acquirer.wait()


async def status_of(
    nc: Any, services: Sequence[str] = SERVICES, timeout: float = 1.0
) -> dict[str, Any]:
    """Each service's status answer, or {"up": False} when it does not answer."""

    async def one(name: str) -> tuple[str, dict[str, Any]]:
        try:
            reply = await nc.request(f"status.{name}", b"", timeout=timeout)
            return name, {"up": True, **json.loads(reply.data)}
        except Exception:
            return name, {"up": False, "service": name}

    results = await asyncio.gather(*(one(name) for name in services))
    return dict(results)
