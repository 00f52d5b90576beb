"""The edge agent's configuration: one TOML or JSON file per store.

store_id = "s001"
hub_url = "nats://hub.example:4222"          # where the store's leaf node connects
hub_leaf_url = "nats-leaf://hub.example:7422"
hub_domain = "hub"                            # the hub's JetStream domain
# nats_url = "nats://127.0.0.1:4222"         # an existing store server; else one is started
nats_port = 4222                              # ...listening here for the lanes
data_dir = "var/edge/s001"
partitions = 4                                # the platform's partition count

[limits]                                      # offline card acceptance (floor limits)
per_payment_minor = 10000
total_minor = 500000
max_offline_hours = 24

[tax_rates_bp]                                # offline tax: class -> rate, prices include it
standard = 2000

[devices]                                     # the store's devices (edge_agent.devices)
terminal = "/dev/ttyUSB0"
printer = "/dev/ttyUSB1"

[lanes.01]                                    # per lane: its own terminal and printer
terminal = "/dev/ttyACM0"                     # or "virtual" (a simulator on a pty)
terminal_mix = "approve:0.9,decline:0.05,wrong_pin_then_ok:0.05"  # virtual only
printer = "tcp://10.0.0.21:9100"              # or a serial port, or "virtual"
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """The configuration file is missing, malformed or has a bad value."""


@dataclass(frozen=True)
class OfflineLimits:
    """What the store may accept by card while checkout is out of reach; the store carries
    the risk, so each card payment, their sum and the time offline are capped."""

    per_payment_minor: int = 100_00
    total_minor: int = 5_000_00
    max_offline_hours: float = 24.0

    def __post_init__(self) -> None:
        if self.per_payment_minor < 0 or self.total_minor < 0:
            raise ConfigError("offline limits must not be negative")
        if not 0 < self.max_offline_hours <= 24:
            raise ConfigError("max_offline_hours must be in (0, 24]")


@dataclass(frozen=True)
class EdgeConfig:
    """Everything one store's agent needs to run."""

    store_id: str
    hub_leaf_url: str = ""
    hub_domain: str = "hub"
    nats_url: str = ""
    #: the port the store's own server listens on for the lanes (0: a free one)
    nats_port: int = 0
    data_dir: Path = Path("var/edge")
    partitions: int = 4
    currency: str = "EUR"
    limits: OfflineLimits = field(default_factory=OfflineLimits)
    tax_rates_bp: dict[str, int] = field(default_factory=dict)
    devices: dict[str, str] = field(default_factory=dict)
    #: per lane id, the `[devices]` settings of that lane's terminal and printer
    lanes: dict[str, dict[str, str]] = field(default_factory=dict)
    #: seconds between two polls of the devices' health
    device_health_interval: float = 5.0
    command_timeout: float = 3.0
    probe_interval: float = 1.0

    def __post_init__(self) -> None:
        if not self.store_id or any(c in self.store_id for c in ".*> "):
            raise ConfigError(f"invalid store_id {self.store_id!r}")
        if not self.nats_url and not self.hub_leaf_url:
            raise ConfigError("set nats_url (an existing store server) or hub_leaf_url")
        if self.partitions < 1:
            raise ConfigError("partitions must be at least 1")
        for lane_id, settings in self.lanes.items():
            if not lane_id or any(c in lane_id for c in ".*> "):
                raise ConfigError(f"invalid lane id {lane_id!r} in [lanes]")
            if not isinstance(settings, dict) or not all(
                isinstance(v, str) for v in settings.values()
            ):
                raise ConfigError(f"[lanes.{lane_id}] holds text settings only")
        if self.device_health_interval <= 0:
            raise ConfigError("device_health_interval must be positive")


def load_config(path: Path, **overrides: Any) -> EdgeConfig:
    """Read a TOML (.toml) or JSON file; `overrides` (e.g. store_id from the command line)
    win over the file."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    try:
        raw: dict[str, Any] = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    raw.update({k: v for k, v in overrides.items() if v is not None})
    return config_from_dict(raw)


def config_from_dict(raw: dict[str, Any]) -> EdgeConfig:
    """An EdgeConfig from plain values, with a clear error for an unknown or mistyped key."""
    raw = dict(raw)
    try:
        raw["limits"] = OfflineLimits(**raw.get("limits", {}))
        if "data_dir" in raw:
            raw["data_dir"] = Path(raw["data_dir"])
        return EdgeConfig(**raw)
    except TypeError as exc:
        raise ConfigError(str(exc)) from exc
