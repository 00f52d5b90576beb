"""gRPC hosting for a service's partner API: a `grpc.aio` server with the standard health
service and server reflection, TLS (mutual when a client CA is configured) from settings, and a
way for servicers to run the synchronous application on the service's one database thread.

A service's composition root sets `ServiceDefinition.grpc` to a `GrpcFactory`: given the
server and a `DbRunner`, it adds its servicers and returns their full service names (for
health and reflection). `ServiceHost` starts the server when the service's port is not 0 and
stops it gracefully, before the database thread, on shutdown.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from tillstream.eventstore import ServiceApplication
from tillstream.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Each service's gRPC port unless `Settings.grpc_ports` says otherwise.
DEFAULT_GRPC_PORTS: dict[str, int] = {
    "checkout": 50051,
    "payments": 50052,
    "inventory": 50053,
    "crm": 50054,
    "analytics": 50055,
}


class DbRunner:
    """Runs synchronous application code on the service's single database thread.

    The application is not thread-safe: NATS commands, consumers and gRPC calls all go
    through the one executor, each call in its own `app.session()` and with the caller's
    context variables (the trace context among them).
    """

    def __init__(self, executor: Executor, app: ServiceApplication | None = None) -> None:
        self.executor = executor
        self.app = app

    def _in_session(self, fn: Callable[..., T], *args: Any) -> T:
        if self.app is None:
            return fn(*args)
        with self.app.session():
            return fn(*args)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the database thread, awaited without blocking the event loop."""
        loop = asyncio.get_running_loop()
        ctx = contextvars.copy_context()
        return await loop.run_in_executor(self.executor, ctx.run, self._in_session, fn, *args)


#: Adds a service's servicers to the server; returns their full service names.
GrpcFactory = Callable[[grpc.aio.Server, DbRunner], Sequence[str]]


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of the server's certificate and key, and of a client CA for mutual TLS."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    def credentials(self) -> grpc.ServerCredentials:
        ca = self.client_ca.read_bytes() if self.client_ca is not None else None
        return grpc.ssl_server_credentials(
            [(self.key.read_bytes(), self.cert.read_bytes())],
            root_certificates=ca,
            require_client_auth=ca is not None,
        )


def grpc_port(settings: Settings, service: str) -> int:
    """The port `service` serves gRPC on; 0 when it is off."""
    if not settings.grpc_enabled:
        return 0
    return settings.grpc_ports.get(service, DEFAULT_GRPC_PORTS.get(service, 0))


def tls_files(settings: Settings) -> TlsFiles | None:
    """TLS from settings: None when no certificate is configured."""
    cert, key, ca = settings.grpc_tls_cert, settings.grpc_tls_key, settings.grpc_tls_client_ca
    if not cert and not key:
        if ca:
            raise ValueError("grpc_tls_client_ca needs grpc_tls_cert and grpc_tls_key")
        return None
    if not (cert and key):
        raise ValueError("grpc_tls_cert and grpc_tls_key go together")
    return TlsFiles(Path(cert), Path(key), Path(ca) if ca else None)


class GrpcServer:
    """One `grpc.aio` server: the service's servicers, health (SERVING) and reflection."""

    def __init__(
        self,
        name: str,
        factory: GrpcFactory,
        runner: DbRunner,
        *,
        host: str = "[::]",
        port: int = 0,
        tls: TlsFiles | None = None,
        grace: float = 5.0,
    ) -> None:
        self.name = name
        self.factory = factory
        self.runner = runner
        self.host = host
        self.port = port
        self.tls = tls
        self.grace = grace
        self.server: grpc.aio.Server | None = None
        self.health: health_aio.HealthServicer | None = None
        self.service_names: list[str] = []

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> int:
        """Bind, register and start; the bound port (a free one when asked for port 0)."""
        server = grpc.aio.server()
        self.service_names = list(self.factory(server, self.runner))
        health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health, server)
        reflection.enable_server_reflection(
            [*self.service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME],
            server,
        )
        address = f"{self.host}:{self.port}"
        if self.tls is not None:
            bound = server.add_secure_port(address, self.tls.credentials())
        else:
            bound = server.add_insecure_port(address)
        if not bound:
            raise RuntimeError(f"{self.name}: cannot listen for gRPC on {address}")
        await server.start()
        serving = health_pb2.HealthCheckResponse.SERVING
        await health.set("", serving)
        for service_name in self.service_names:
            await health.set(service_name, serving)
        self.server, self.health, self.port = server, health, bound
        log.info("%s gRPC on %s%s", self.name, self.address, " (TLS)" if self.tls else "")
        return bound

    async def stop(self) -> None:
        """Health goes NOT_SERVING, new calls are refused, in-flight ones get `grace` s."""
        if self.server is None:
            return
        if self.health is not None:
            await self.health.enter_graceful_shutdown()
        await self.server.stop(self.grace)
        self.server = None


def grpc_server_for(
    name: str, factory: GrpcFactory, runner: DbRunner, settings: Settings
) -> GrpcServer | None:
    """The server `settings` ask for, or None when the service's gRPC port is 0."""
    port = grpc_port(settings, name)
    if not port:
        return None
    return GrpcServer(name, factory, runner, host=settings.grpc_host, port=port,
                      tls=tls_files(settings), grace=settings.grpc_grace)
