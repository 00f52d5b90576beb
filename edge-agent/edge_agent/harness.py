"""A hub and stores on one machine, with links that can be cut: for tests, `simulate` and the
benchmark. Real nats-servers (hub with a leaf port and domain `hub`; one leaf per store) and
real agents; only the WAN line is a local TCP relay."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edge_agent.agent import EdgeAgent
from edge_agent.config import EdgeConfig, OfflineLimits
from edge_agent.link import LinkProxy
from tillstream.natsserver import NatsServer

HUB_DOMAIN = "hub"


def hub_server(directory: Path) -> NatsServer:
    """A hub nats-server that accepts leaf nodes, JetStream domain `hub`."""
    return NatsServer(
        store_dir=directory / "nats",
        log_file=directory / "nats.log",
        jetstream_domain=HUB_DOMAIN,
        leaf_port=0,
    )


@dataclass
class Store:
    """One store: its link to the hub, and its agent (which runs the leaf node)."""

    config: EdgeConfig
    link: LinkProxy
    agent: EdgeAgent

    @property
    def nats_url(self) -> str:
        return self.agent.nats_url

    async def stop(self) -> None:
        await self.agent.stop()
        await self.link.cut()


@dataclass
class StoreOptions:
    partitions: int = 4
    limits: OfflineLimits = field(default_factory=OfflineLimits)
    tax_rates_bp: dict[str, int] = field(default_factory=dict)
    command_timeout: float = 3.0
    probe_interval: float = 0.5
    #: per lane, its devices' settings (e.g. {"01": {"terminal": "virtual", ...}})
    lanes: dict[str, dict[str, str]] = field(default_factory=dict)
    device_health_interval: float = 5.0


async def start_store(
    hub: NatsServer, store_id: str, data_dir: Path, options: StoreOptions | None = None
) -> Store:
    """A store whose leaf node reaches the hub through a cuttable link; its agent started."""
    options = options or StoreOptions()
    assert hub.leaf_port is not None
    link = LinkProxy("127.0.0.1", hub.leaf_port)
    await link.start()
    config = EdgeConfig(
        store_id=store_id,
        hub_leaf_url=link.leaf_url,
        hub_domain=HUB_DOMAIN,
        data_dir=data_dir,
        partitions=options.partitions,
        limits=options.limits,
        tax_rates_bp=options.tax_rates_bp,
        command_timeout=options.command_timeout,
        probe_interval=options.probe_interval,
        lanes=options.lanes,
        device_health_interval=options.device_health_interval,
    )
    agent = EdgeAgent(config)
    await agent.start()
    return Store(config, link, agent)
