"""The store's NATS: a leaf node of the hub with its own JetStream domain, its event stream,
the catalog mirror, and the hub's EDGE stream sourcing it.

The store's JetStream is the buffer while the link is down: the agent writes its events to
EDGE_<store> locally, the hub's EDGE stream sources that stream across the leaf connection and
catches up when the link returns (Nats-Msg-Id dedup on both sides). No queue of our own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, ExternalStream, StorageType, StreamConfig, StreamSource
from nats.js.errors import NotFoundError

from edge_agent.config import EdgeConfig
from tillstream.bus import (
    DUPLICATE_WINDOW,
    EDGE_STREAM,
    edge_source,
    ensure_stream,
    store_domain,
    store_stream_name,
    stream_config,
)
from tillstream.natsserver import NatsServer

log = logging.getLogger(__name__)

#: The hub's catalog KV bucket (kept by inventory): key = SKU, JSON product value.
CATALOG_BUCKET = "catalog"
CATALOG_STREAM = f"KV_{CATALOG_BUCKET}"
#: Subjects that reach the hub only by sourcing, never by leaf-node interest, so that a hub
#: stream listening on them cannot store them a second time.
LEAF_DENY_EXPORTS = ["edge.>"]
#: Seconds between two restarts of the hub's sourcing of a store.
KICK_PAUSE = 5.0


def leaf_server(config: EdgeConfig) -> NatsServer:
    """The store's nats-server: a leaf of the hub with JetStream domain store-<id>."""
    directory = Path(config.data_dir) / "nats"
    return NatsServer(
        store_dir=directory,
        port=config.nats_port,
        log_file=Path(config.data_dir) / "nats.log",
        jetstream_domain=store_domain(config.store_id),
        leaf_remotes=[config.hub_leaf_url],
        leaf_deny_exports=LEAF_DENY_EXPORTS,
        sync_always=True,
    )


def store_stream_config(store_id: str) -> StreamConfig:
    """EDGE_<store>: every edge event of the store, kept on the store's disk. Limits keep
    well over 24 h of a busy store's sales (the longest allowed offline period)."""
    return StreamConfig(
        name=store_stream_name(store_id),
        description=f"Edge events of store {store_id}, sourced by the hub's EDGE stream",
        subjects=[f"edge.{store_id}.>"],
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        duplicate_window=DUPLICATE_WINDOW.total_seconds(),
        max_bytes=2 * 1024**3,
    )


def catalog_mirror_config(hub_domain: str) -> StreamConfig:
    """KV_catalog in the store's domain: a mirror of the hub's catalog bucket."""
    return StreamConfig(
        name=CATALOG_STREAM,
        description="Mirror of the hub's catalog KV bucket: offline prices",
        mirror=StreamSource(
            name=CATALOG_STREAM, external=ExternalStream(api=f"$JS.{hub_domain}.API")
        ),
        storage=StorageType.FILE,
        allow_direct=True,
        mirror_direct=False,
    )


async def ensure_store_streams(js: JetStreamContext, config: EdgeConfig) -> None:
    """The store stream and the catalog mirror in the store's own domain."""
    await ensure_stream(js, store_stream_config(config.store_id))
    try:
        await js.stream_info(CATALOG_STREAM)
    except NotFoundError:
        await js.add_stream(catalog_mirror_config(config.hub_domain))


async def register_with_hub(hub_js: JetStreamContext, store_id: str, partitions: int) -> bool:
    """Make the hub's EDGE stream source this store's stream; True once it does. Creates EDGE
    (as the platform does) if the platform has not yet. Read-modify-write: re-read and
    retry, since several stores may register at once."""
    wanted = edge_source(store_id, partitions)
    try:
        info = await hub_js.stream_info(EDGE_STREAM)
    except NotFoundError:
        config = stream_config("edge", partitions)
        config.sources = [wanted]
        await hub_js.add_stream(config)
        return True
    sources = list(info.config.sources or [])
    if any(source.name == wanted.name for source in sources):
        return True
    info.config.sources = [*sources, wanted]
    await hub_js.update_stream(info.config)
    info = await hub_js.stream_info(EDGE_STREAM)
    return any(source.name == wanted.name for source in info.config.sources or [])


async def kick_stale_source(
    hub_js: JetStreamContext, store_id: str, partitions: int, stale_after: float = 3.0
) -> bool:
    """Restart the hub's sourcing of this store when it has stalled; True if it did.

    After failed attempts the hub retries a source only every 10 s x failures, up to 2 min:
    a long outage would leave the backlog waiting long after the link is back. Removing
    and re-adding the source makes the hub start it at once; it resumes after the last
    message it holds from this store (and Nats-Msg-Id dedup covers any overlap)."""
    info = await hub_js.stream_info(EDGE_STREAM)
    name = store_stream_name(store_id)
    state = next((src for src in info.sources or [] if src.name == name), None)
    if state is None:
        return False
    active_s = (state.active or 0) / 1e9
    if not state.error and 0 <= active_s < stale_after:
        return False
    config = info.config
    config.sources = [src for src in config.sources or [] if src.name != name]
    await hub_js.update_stream(config)
    await register_with_hub(hub_js, store_id, partitions)
    log.info(
        "restarted the hub's sourcing of %s (idle %.1f s, error %s)", name, active_s, state.error
    )
    return True


async def keep_registered(
    hub_js: JetStreamContext,
    store_id: str,
    partitions: int,
    stop: asyncio.Event,
    interval: float = 1.0,
) -> None:
    """Register with the hub, retrying while the link or the hub is down; then watch that the
    hub keeps sourcing the store (a platform reset may recreate EDGE; a long outage leaves
    the hub's source retry far behind). A restarted source gets a few seconds to connect
    before it may be restarted again."""
    loop = asyncio.get_running_loop()
    next_kick = loop.time() + KICK_PAUSE
    while not stop.is_set():
        try:
            registered = await register_with_hub(hub_js, store_id, partitions)
            if (
                registered
                and loop.time() >= next_kick
                and await kick_stale_source(hub_js, store_id, partitions)
            ):
                next_kick = loop.time() + KICK_PAUSE
        except Exception as exc:  # the hub out of reach: the store keeps selling
            log.debug("hub EDGE stream not reachable: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
