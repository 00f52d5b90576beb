"""The edge agent of one store: its NATS (a leaf node of the hub), its streams, the lanes'
gateway and the lanes' devices (card terminals, receipt printers: `edge_agent.tills`).
`tillstream edge run` runs one; tests run it in process or as a process.

It answers `status.edge.<store>` (over the leaf, from the hub too) with its pid, its leaf
node's pid, the gateway's counters and the devices' state."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import NotFoundError

from edge_agent.catalog import CatalogReplica
from edge_agent.config import EdgeConfig
from edge_agent.gateway import STATE_BUCKET, Gateway
from edge_agent.storenats import ensure_store_streams, keep_registered, leaf_server
from edge_agent.tills import Tills
from tillstream.bus import connect
from tillstream.natsserver import NatsServer

log = logging.getLogger(__name__)


def _end_process(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM a process that is not our child and wait until it is gone (SIGKILL after
    `timeout`): two servers must never share the store directory."""
    try:
        os.kill(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)


class EdgeAgent:
    """Starts (or joins) the store's leaf node, prepares its streams, registers the store with
    the hub, and serves the lanes until stopped."""

    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        self.server: NatsServer | None = None
        self.nc: Client | None = None
        self.gateway: Gateway | None = None
        self.tills: Tills | None = None
        self._status_sub: Any = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def nats_url(self) -> str:
        if self.config.nats_url:
            return self.config.nats_url
        assert self.server is not None, "the store's server is not started"
        return self.server.url

    async def start(self) -> None:
        if not self.config.nats_url:
            self.server = await asyncio.to_thread(self._start_leaf)
        self.nc = await connect(self.nats_url, f"edge-agent-{self.config.store_id}")
        js = self.nc.jetstream()
        await ensure_store_streams(js, self.config)
        state = await self._state_bucket()
        hub_js = self.nc.jetstream(domain=self.config.hub_domain)
        self._tasks.append(
            asyncio.create_task(
                keep_registered(hub_js, self.config.store_id, self.config.partitions, self._stop)
            )
        )
        self.gateway = Gateway(self.nc, js, self.config, CatalogReplica(js), state)
        await self.gateway.start()
        self.tills = Tills(self.gateway, self.config)
        await self.tills.start()
        self._status_sub = await self.nc.subscribe(
            f"status.edge.{self.config.store_id}", cb=self._on_status
        )
        log.info("edge agent of store %s on %s", self.config.store_id, self.nats_url)

    def _start_leaf(self) -> NatsServer:
        """Start the store's leaf node; first end one a killed agent left behind (its pid
        file), since it holds the store directory."""
        pid_file = Path(self.config.data_dir) / "nats.pid"
        if pid_file.exists():
            with contextlib.suppress(ValueError):
                _end_process(int(pid_file.read_text()))
        server = leaf_server(self.config).start()
        assert server.process is not None
        pid_file.write_text(str(server.process.pid))
        return server

    async def _state_bucket(self) -> Any:
        assert self.nc is not None
        js = self.nc.jetstream()
        try:
            return await js.key_value(STATE_BUCKET)
        except NotFoundError:
            return await js.create_key_value(
                KeyValueConfig(bucket=STATE_BUCKET, history=1, storage=StorageType.FILE)
            )

    def status(self) -> dict[str, Any]:
        """What `status.edge.<store>` answers."""
        leaf = self.server.process.pid if self.server and self.server.process else None
        return {
            "store_id": self.config.store_id,
            "pid": os.getpid(),
            "leaf_pid": leaf,
            "nats_url": self.nats_url,
            "gateway": self.gateway.status() if self.gateway else {},
            "devices": self.tills.status() if self.tills else {},
        }

    async def _on_status(self, msg: Msg) -> None:
        if msg.reply:
            await msg.respond(json.dumps(self.status()).encode())

    async def stop(self) -> None:
        """Stop serving, close the devices and the connection, stop the leaf node we started
        (idempotent)."""
        self._stop.set()
        if self._status_sub is not None:
            with contextlib.suppress(Exception):
                await self._status_sub.unsubscribe()
            self._status_sub = None
        tills, self.tills = self.tills, None
        if tills is not None:
            await tills.stop()
        gateway, self.gateway = self.gateway, None
        if gateway is not None:
            await gateway.stop()
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        nc, self.nc = self.nc, None
        if nc is not None and not nc.is_closed:
            await nc.drain()
        server, self.server = self.server, None
        if server is not None:
            await asyncio.to_thread(server.stop)
            (Path(self.config.data_dir) / "nats.pid").unlink(missing_ok=True)

    async def run_until_stopped(self) -> None:
        """Serve until SIGINT or SIGTERM."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stop.set)
        try:
            await self.start()
            await self._stop.wait()
        finally:
            await self.stop()
