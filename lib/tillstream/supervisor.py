"""Runs the platform's processes on one machine: the embedded NATS server and one OS process
per service; stops them all cleanly, leaving no orphan.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tillstream.bus import SERVICES, connect, ensure_platform_streams
from tillstream.natsserver import NatsServer
from tillstream.settings import Settings

PR_SET_PDEATHSIG = 1


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
        )
        self.nats.start()

    def env(self) -> dict[str, str]:
        env = {**os.environ, **self.extra_env}
        env["TILLSTREAM_NATS_URL"] = self.nats_url
        env["TILLSTREAM_DATA_DIR"] = str(self.settings.data_dir)
        env["TILLSTREAM_PARTITIONS"] = str(self.settings.partitions)
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

    async def ensure_streams(self) -> None:
        nc = await connect(self.nats_url, "tillstream-supervisor")
        try:
            await ensure_platform_streams(nc.jetstream(), self.settings.partitions)
        finally:
            await nc.close()

    async def start(self, timeout: float = 30.0) -> None:
        self.start_nats()
        await self.ensure_streams()
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
