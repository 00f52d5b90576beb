"""The bus: NATS connections, the streams every service owns, and their subjects.

Subjects are `<service>.<store>.<aggregate>.<event>`. Each stream stores them with a fifth
token, the partition, computed by the server from the store token (deterministic subject
partitioning), so that one consumer per partition sees each store's events in order.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    ExternalStream,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamSource,
    SubjectTransform,
)
from nats.js.errors import NotFoundError

log = logging.getLogger(__name__)

SERVICES = ("checkout", "payments", "inventory", "crm", "analytics")
#: Every stream of integration events in the hub: the services' own, plus EDGE, where the stores'
#: edge agents' events (offline sales, terminal approvals, device health) arrive. EDGE is fed by
#: sourcing each store's own stream (EDGE_<store> in JetStream domain store-<store>) across the
#: leaf connection (see `edge_source`); its own subjects stay for events published in the hub.
EVENT_SOURCES = (*SERVICES, "edge")
EDGE_STREAM = "EDGE"
DEADLETTER_STREAM = "DEADLETTER"
ALERTS_STREAM = "ALERTS"
DUPLICATE_WINDOW = timedelta(minutes=10)


def stream_name(service: str) -> str:
    return service.upper()


def partition_filter(service: str, partition: int) -> str:
    """The filter subject of one partition of a service's stream."""
    return f"{service}.*.*.*.{partition}"


def command_subject(service: str, command: str, store_id: str = "*") -> str:
    """Request/reply command subjects; kept outside every stream on purpose."""
    return f"cmd.{service}.{store_id}.{command}"


def partition_transform(service: str, partitions: int) -> SubjectTransform:
    """`<service>.<store>.<aggregate>.<event>` -> the same plus the store's partition token."""
    src = f"{service}.*.*.*"
    dest = f"{service}.{{{{wildcard(1)}}}}.{{{{wildcard(2)}}}}.{{{{wildcard(3)}}}}"
    dest += f".{{{{partition({partitions},1)}}}}"
    return SubjectTransform(src=src, dest=dest)


def store_domain(store_id: str) -> str:
    """The JetStream domain of a store's leaf node."""
    return f"store-{store_id}"


def store_stream_name(store_id: str) -> str:
    """The stream, in the store's domain, that holds the store's edge events."""
    return f"EDGE_{store_id}"


def edge_source(store_id: str, partitions: int) -> StreamSource:
    """How the hub's EDGE stream sources a store's stream across the leaf connection. Sourced
    messages bypass the stream's own subject transform, so the source applies the same
    partition transform: consumers see `edge.<store>.<aggregate>.<event>.<partition>`."""
    return StreamSource(
        name=store_stream_name(store_id),
        external=ExternalStream(api=f"$JS.{store_domain(store_id)}.API"),
        subject_transforms=[partition_transform("edge", partitions)],
    )


def stream_config(service: str, partitions: int) -> StreamConfig:
    transform = partition_transform(service, partitions)
    return StreamConfig(
        name=stream_name(service),
        description=f"Integration events of the {service} service",
        subjects=[transform.src],
        subject_transform=transform,
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        duplicate_window=DUPLICATE_WINDOW.total_seconds(),
        allow_direct=True,
    )


async def connect(url: str, name: str, **kwargs: object) -> Client:
    """Connect with endless reconnects: services ride out a broker restart."""

    async def on_error(exc: Exception) -> None:
        log.warning("nats %s: %s", name, exc)

    options: dict[str, object] = {
        "name": name,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.25,
        "error_cb": on_error,
    }
    options.update(kwargs)
    return await nats.connect(url, **options)  # type: ignore[arg-type]


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream, or update it to this configuration."""
    assert config.name
    try:
        await js.stream_info(config.name)
    except NotFoundError:
        await js.add_stream(config)
        return
    await js.update_stream(config)


async def ensure_platform_streams(js: JetStreamContext, partitions: int) -> None:
    """Every service's stream plus the dead-letter and alert streams."""
    for service in EVENT_SOURCES:
        config = stream_config(service, partitions)
        if config.name == EDGE_STREAM:
            config.sources = await _current_sources(js, EDGE_STREAM)
        await ensure_stream(js, config)
    await ensure_stream(
        js,
        StreamConfig(
            name=DEADLETTER_STREAM,
            description="Messages a consumer gave up on, with the reason",
            subjects=["deadletter.>"],
            storage=StorageType.FILE,
        ),
    )
    await ensure_stream(
        js,
        StreamConfig(
            name=ALERTS_STREAM,
            description="Operational alerts (dead letters, offline stores)",
            subjects=["alerts.>"],
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW.total_seconds(),
        ),
    )


async def _current_sources(js: JetStreamContext, name: str) -> list[StreamSource] | None:
    """The sources a stream has now: the stores' agents add theirs to EDGE, and a service that
    (re)starts and updates the stream must not drop them."""
    try:
        info = await js.stream_info(name)
    except NotFoundError:
        return None
    return info.config.sources or None


async def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02):  # type: ignore[no-untyped-def]
    """Poll an async predicate until it returns a truthy value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(interval)
