"""Every service runs as its own OS process (`python -m <service>.main`): it answers its
status request on NATS and ends cleanly, and quickly, on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tillstream.bus import SERVICES, connect, wait_for
from tillstream.natsserver import NatsServer


@pytest.mark.parametrize("service", SERVICES)
async def test_python_m_service_main(service: str, tmp_path: Path, nats: NatsServer) -> None:
    env = {**os.environ, "TILLSTREAM_NATS_URL": nats.url, "TILLSTREAM_DATA_DIR": str(tmp_path),
           "TILLSTREAM_GRPC_ENABLED": "false", "TILLSTREAM_DASHBOARD_PORT": "0"}
    env.pop("TILLSTREAM_POSTGRES_DSN", None)
    proc = subprocess.Popen([sys.executable, "-m", f"{service}.main"], env=env)
    nc = await connect(nats.url, "test-status")
    try:
        async def status() -> dict[str, Any] | None:
            try:
                msg = await nc.request(f"status.{service}", b"", 1)
            except Exception:
                return None  # not subscribed yet
            return dict(json.loads(msg.data))

        body = await wait_for(status, timeout=30)
        assert body is not None and body["service"] == service
        assert body["pid"] == proc.pid
    finally:
        await nc.close()
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert proc.wait(30) == 0
    assert time.monotonic() - started < 10, "a stopping service must not wait out timeouts"
