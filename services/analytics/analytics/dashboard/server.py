"""The dashboard's HTTP server, on a thread of its own inside the analytics process.

uvicorn gets its own thread and event loop: a slow page or a long report never delays the
service's loop (consumers, commands) nor its database thread (the projection writer).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine

from analytics.dashboard.app import create_app
from analytics.dashboard.live import LiveFeed
from analytics.dashboard.queries import DashboardQueries, reader_engine
from tillstream.settings import Settings

log = logging.getLogger(__name__)


class DashboardError(RuntimeError):
    """The dashboard server could not start (port taken, ...)."""


class DashboardServer:
    """uvicorn serving the dashboard app on `host:port` from a daemon thread."""

    def __init__(self, app: FastAPI, host: str = "0.0.0.0", port: int = 8080) -> None:
        self.host = host
        self.requested_port = port
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        if self._socket is None:
            return self.requested_port
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in {"0.0.0.0", "::", ""} else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        """Bind (here, so a taken port fails loudly at start-up) and serve in the background."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.requested_port))
        except OSError as exc:
            sock.close()
            raise DashboardError(
                f"dashboard cannot listen on {self.host}:{self.requested_port}: {exc}"
            ) from exc
        self._socket = sock
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[sock])),
            name="analytics-dashboard",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise DashboardError(f"dashboard did not start on {self.url}")
            time.sleep(0.01)
        log.info("dashboard on %s", self.url)

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()


class Dashboard:
    """The dashboard inside the service: its reader engine, live feed and server together."""

    def __init__(self, writer: Engine, host: str = "0.0.0.0", port: int = 8080) -> None:
        self.feed = LiveFeed()
        engine = reader_engine(writer)
        self._owns_engine = engine is not writer
        self.queries = DashboardQueries(engine)
        self.server = DashboardServer(create_app(self.queries, self.feed), host, port)
        self.running = False

    def start(self) -> Dashboard:
        """Serve the page. A port already taken is logged as an error, not raised: the
        projections (and the gRPC reports) matter more than the page, so the service runs on
        without its dashboard rather than not at all."""
        try:
            self.server.start()
            self.running = True
        except DashboardError as exc:
            log.error("analytics runs without its dashboard: %s", exc)
        return self

    def closing(self, then: Callable[[], None] | None) -> Callable[[], None]:
        """A close function for the service: the dashboard first, then `then`."""

        def close() -> None:
            self.close()
            if then is not None:
                then()

        return close

    def close(self) -> None:
        """Streams first (so uvicorn need not wait for browsers), then the server, then the
        reader engine."""
        self.feed.close()
        self.server.stop()
        if self._owns_engine:
            self.queries.dispose()


def dashboard_for(settings: Settings, writer: Engine) -> Dashboard | None:
    """The service's dashboard per its settings, not yet started; None when the port is 0."""
    if not settings.dashboard_port:
        return None
    return Dashboard(writer, port=settings.dashboard_port)
