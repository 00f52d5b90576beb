"""gRPC hosting for a service's partner API: a `grpc.aio` server with the standard health
service and server reflection, TLS (mutual when a client CA is configured) from settings, and a
way for servicers to run the synchronous application on the service's one database thread.

A service's composition root sets `ServiceDefinition.grpc` to a `GrpcFactory`: given the
server and a `DbRunner`, it adds its servicers and returns their full service names (for
health and reflection). `ServiceHost` starts the server when the service's port is not 0 and
stops it gracefully, before the database thread, on shutdown.

The services' adapters (`api.py`) share how a refusal reaches a gRPC client: the NATS path's
one-word code becomes a status (`COMMON_STATUS_CODES`, extended by each service with its own
codes), the message stays, and the code itself travels in the trailing metadata key
`tillstream-error-code` (`abort_refused`, `run_command`). List calls share the opaque page
token (`page_token`, `page_position`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import grpc
from eventsourcing.persistence import IntegrityError
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from tillstream import telemetry
from tillstream.eventstore import ServiceApplication
from tillstream.settings import Settings

if TYPE_CHECKING:  # tillstream.service imports this module
    from tillstream.service import CommandError

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


#: How many waiting calls the database thread takes together at most (one commit for all).
GROUP_SIZE = 64

#: What a call came to: (True, its result) or (False, its exception).
Outcome = tuple[bool, Any]


@dataclass
class _Call:
    """A call waiting for the database thread, and where its outcome goes."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    context: contextvars.Context
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]

    def settle(self, outcome: Outcome) -> None:
        """Hand the outcome to the caller's event loop (from the database thread)."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            self.loop.call_soon_threadsafe(_settle, self.future, outcome)


def _settle(future: asyncio.Future[Any], outcome: Outcome) -> None:
    if future.done():  # the caller gave up (cancelled)
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class DbRunner:
    """Runs synchronous application code on the service's single database thread.

    The application is not thread-safe: NATS commands, consumers and gRPC calls all go
    through the one executor, with the caller's context variables (the trace context among
    them). A lone call runs in its own `app.session()`. Calls that wait while the thread is
    busy are taken together, up to `group_size`, and run as one `app.group()`: each in turn
    with its own failure isolation, and all their events committed in ONE transaction
    (group commit) before any of them is answered; when the group cannot commit, the calls
    run again one by one. Why: one fsync per command made commands queue behind each
    other's fsyncs under load (issue 4). Only for applications that allow it
    (`ServiceApplication.group_commit`); the others run every call alone.
    """

    def __init__(
        self,
        executor: Executor,
        app: ServiceApplication | None = None,
        *,
        group_size: int = GROUP_SIZE,
    ) -> None:
        self.executor = executor
        self.app = app
        self.group_size = group_size
        self._queue: deque[_Call] = deque()
        self._lock = threading.Lock()
        self._draining = False
        #: groups committed, the calls in them, and groups that fell back to one by one
        self.groups = 0
        self.grouped_calls = 0
        self.fallbacks = 0

    def _in_session(self, fn: Callable[..., T], *args: Any) -> T:
        if self.app is None:
            return fn(*args)
        with self.app.session():
            return fn(*args)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the database thread, awaited without blocking the event loop; its
        result only once what it saved is committed."""
        loop = asyncio.get_running_loop()
        ctx = contextvars.copy_context()
        if self.app is None or self.group_size < 2 or not self.app.group_commit:
            return await loop.run_in_executor(self.executor, ctx.run, self._in_session, fn, *args)
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            self._queue.append(_Call(fn, args, ctx, loop, future))
            start, self._draining = not self._draining, True
        if start:
            self._submit_drain()
        return await future

    def _submit_drain(self) -> None:
        try:
            self.executor.submit(self._drain)
        except RuntimeError as exc:  # the executor is shut down: answer what waits
            with self._lock:
                calls, self._draining = list(self._queue), False
                self._queue.clear()
            for waiting in calls:
                waiting.settle((False, exc))

    def _drain(self) -> None:
        """One group per executor job, so consumer batches queued meanwhile get their turn."""
        with self._lock:
            count = min(len(self._queue), self.group_size)
            calls = [self._queue.popleft() for _ in range(count)]
        try:
            outcomes = self._run(calls)
        except BaseException as exc:  # not a command's failure: the group as a whole broke
            outcomes = [(False, exc)] * len(calls)
            raise
        finally:
            for waiting, outcome in zip(calls, outcomes, strict=True):
                waiting.settle(outcome)
            with self._lock:
                again = self._draining = bool(self._queue)
            if again:
                self._submit_drain()

    def _run(self, calls: list[_Call]) -> list[Outcome]:
        if len(calls) == 1:
            return [self._one(calls[0])]
        assert self.app is not None
        outcomes: list[Outcome] = []
        with self.app.group() as group:
            for waiting in calls:
                try:
                    outcomes.append(
                        (True, waiting.context.run(group.run, waiting.fn, *waiting.args))
                    )
                except Exception as exc:
                    outcomes.append((False, exc))
                if group.spoiled:
                    break
            committed = group.commit()
        if committed:
            self.groups += 1
            self.grouped_calls += len(calls)
            return outcomes
        self.fallbacks += 1
        return [self._one(waiting) for waiting in calls]

    def _one(self, waiting: _Call) -> Outcome:
        try:
            return True, waiting.context.run(self._in_session, waiting.fn, *waiting.args)
        except Exception as exc:
            return False, exc


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
            [
                *self.service_names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
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
    return GrpcServer(
        name,
        factory,
        runner,
        host=settings.grpc_host,
        port=port,
        tls=tls_files(settings),
        grace=settings.grpc_grace,
    )


# -- refusals as gRPC statuses (the services' api.py adapters) --------------------------------

#: Trailing metadata key holding the NATS path's one-word refusal code of a failed call.
ERROR_CODE_KEY = "tillstream-error-code"

#: The refusal codes every service gives, as gRPC status codes; each adapter extends them
#: with its own. "conflict" is ALREADY_EXISTS (a caller-made id is taken: retrying the same
#: call never succeeds); "aborted" is ABORTED (a concurrent write won: retry the call).
COMMON_STATUS_CODES: Mapping[str, grpc.StatusCode] = {
    "invalid": grpc.StatusCode.INVALID_ARGUMENT,
    "not_found": grpc.StatusCode.NOT_FOUND,
    "conflict": grpc.StatusCode.ALREADY_EXISTS,
    "aborted": grpc.StatusCode.ABORTED,
}

#: A refusal's extra trailing metadata (besides its code), e.g. the payment it names.
ExtraMetadata = Callable[["CommandError"], Sequence[tuple[str, str]]]


async def abort_refused(
    context: grpc.aio.ServicerContext,
    code: str,
    message: str,
    codes: Mapping[str, grpc.StatusCode],
    extra: Sequence[tuple[str, str]] = (),
) -> NoReturn:
    """End the call with `code`'s status (FAILED_PRECONDITION when `codes` does not know it),
    `message`, and `code` in the trailing metadata, so clients can branch on the one word."""
    status = codes.get(code, grpc.StatusCode.FAILED_PRECONDITION)
    await context.abort(status, message, trailing_metadata=((ERROR_CODE_KEY, code), *extra))
    raise AssertionError("unreachable")  # pragma: no cover - abort raises


async def run_command(
    context: grpc.aio.ServicerContext,
    service_name: str,
    method: str,
    work: Callable[[], Awaitable[T]],
    codes: Mapping[str, grpc.StatusCode],
    *,
    bad_input_is_invalid: bool = True,
    extra_metadata: ExtraMetadata | None = None,
) -> T:
    """`await work()` in a span continuing the caller's trace, with its failures as statuses:
    a CommandError by its code, the event store's IntegrityError as "aborted" (a concurrent
    change won: retry), ValueError/KeyError/TypeError as "invalid" (unless
    `bad_input_is_invalid` is off), anything else INTERNAL without its text (logged).

    Why `work` rather than a handler: most calls are `lambda: runner.call(fn, request)` on
    the database thread, but some await other services on the event loop first."""
    from tillstream.service import CommandError  # here: tillstream.service imports us

    headers = {str(k): str(v) for k, v in (context.invocation_metadata() or ())}
    loose = (ValueError, KeyError, TypeError) if bad_input_is_invalid else ()
    try:
        with telemetry.span_from(headers, f"grpc {service_name}/{method}"):
            return await work()
    except CommandError as exc:
        extra = extra_metadata(exc) if extra_metadata is not None else ()
        await abort_refused(context, exc.code, str(exc), codes, extra)
    except IntegrityError as exc:
        await abort_refused(context, "aborted", f"a concurrent change won, retry: {exc}", codes)
    except loose as exc:
        await abort_refused(context, "invalid", repr(exc), codes)
    except Exception:
        # Never the exception text: a bug's message could hold request data.
        log.exception("gRPC %s failed", method)
        await context.abort(grpc.StatusCode.INTERNAL, "internal error")
    raise AssertionError("unreachable")  # pragma: no cover - abort raises


class CommandCalls:
    """A servicer's `_call`: a method's work on the service's database thread (`runner`),
    its refusals answered as `status_codes` say (see `run_command`). Subclasses set the
    class attributes; `refusal_metadata` adds trailing metadata to a refusal."""

    service_name: str
    status_codes: Mapping[str, grpc.StatusCode]
    bad_input_is_invalid: bool = True
    runner: DbRunner

    def refusal_metadata(self, error: CommandError) -> Sequence[tuple[str, str]]:
        return ()

    async def _call(
        self,
        name: str,
        fn: Callable[..., T],
        request: Any,
        context: grpc.aio.ServicerContext,
        *extra: Any,
    ) -> T:
        return await run_command(
            context,
            self.service_name,
            name,
            lambda: self.runner.call(fn, request, *extra),
            self.status_codes,
            bad_input_is_invalid=self.bad_input_is_invalid,
            extra_metadata=self.refusal_metadata,
        )


def page_token(position: int) -> str:
    """The opaque token of the page after `position`; a versioned prefix leaves room to
    change what it holds."""
    return base64.urlsafe_b64encode(f"v1:{position}".encode()).decode("ascii")


def page_position(token: str, method: str) -> int:
    """The position `token` (from `page_token`) stands for, 0 for none; a token `method`
    did not give is refused as "invalid"."""
    from tillstream.service import CommandError  # here: tillstream.service imports us

    if not token:
        return 0
    try:
        version, _, position = (
            base64.urlsafe_b64decode(token.encode("ascii")).decode().partition(":")
        )
        if version != "v1" or not position.isdigit():
            raise ValueError(token)
        return int(position)
    except (ValueError, UnicodeError) as exc:
        raise CommandError(f"page_token is not one {method} gave", "invalid") from exc
