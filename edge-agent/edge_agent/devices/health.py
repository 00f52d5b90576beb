"""Device health: a poller that turns what it sees into edge.proto `DeviceStatus` events.

Each device is watched by its port (a serial device node vanishes when a USB printer or
terminal is unplugged) and a probe (the printer's paper sensor, the terminal's ENQ/ACK). Only
changes are reported, so HQ gets one event when a printer runs out of paper, not one a second.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from edge_agent.devices.base import (
    DeviceStatusSink,
    PaperStatus,
    PaymentTerminal,
    ReceiptPrinter,
    device_status,
)
from tillstream.events.v1.edge_pb2 import DeviceStatus

log = logging.getLogger(__name__)

#: A probe answers (status, detail); status is a DeviceStatus.status value.
Probe = Callable[[], tuple[str, str]]

_PAPER = {
    PaperStatus.OK: ("ok", ""),
    PaperStatus.LOW: ("paper_low", ""),
    PaperStatus.OUT: ("paper_out", ""),
    PaperStatus.UNKNOWN: ("connected", "paper status unknown: the printer does not answer"),
}


def printer_probe(printer: ReceiptPrinter) -> Probe:
    """Paper status as health: ok, paper_low, paper_out; connected when it does not answer."""
    return lambda: _PAPER[printer.paper_status()]


def terminal_probe(terminal: PaymentTerminal) -> Probe:
    """connected when the terminal ACKs an ENQ, error when it stays silent."""

    def probe() -> tuple[str, str]:
        if terminal.is_ready():
            return "connected", ""
        return "error", "no answer to ENQ"

    return probe


@dataclass
class WatchedDevice:
    """A device the monitor polls: its serial port path (None on a network) and a probe."""

    device_id: str
    kind: str  # terminal, printer, drawer
    port: str | None = None
    probe: Probe | None = None


class DeviceHealthMonitor:
    """Polls its devices every `interval` seconds and reports changes to `sink`."""

    def __init__(self, store_id: str, sink: DeviceStatusSink, interval: float = 5.0) -> None:
        self.store_id = store_id
        self.sink = sink
        self.interval = interval
        self.devices: list[WatchedDevice] = []
        self.last: dict[str, tuple[str, str]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, device: WatchedDevice) -> None:
        self.devices.append(device)

    def check(self, device: WatchedDevice) -> tuple[str, str]:
        """The device's state now."""
        if device.port is not None and not os.path.exists(device.port):
            return "disconnected", f"{device.port} is gone"
        if device.probe is None:
            return "connected", ""
        try:
            return device.probe()
        except Exception as exc:  # a probe must never stop the poller; report it instead
            log.warning("health probe of %s failed: %s", device.device_id, exc)
            return "error", str(exc)

    def poll_once(self) -> list[DeviceStatus]:
        """Check every device; report and return the changed ones."""
        changed = []
        for device in self.devices:
            state = self.check(device)
            if self.last.get(device.device_id) == state:
                continue
            self.last[device.device_id] = state
            event = device_status(self.store_id, device.device_id, device.kind, *state)
            self.sink(event)
            changed.append(event)
        return changed

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="device-health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self.interval)
