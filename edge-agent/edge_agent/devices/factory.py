"""Open a store's devices from the `[devices]` table of the agent's configuration.

    [devices]
    terminal = "/dev/ttyACM0"        # a Concert terminal's serial port, or "virtual"
    terminal_line = "8N1"            # or "7E1" for terminals on a native RS-232 port
    terminal_id = "terminal-1"
    printer = "/dev/ttyUSB1"         # a serial ESC/POS printer, "tcp://host:9100", or "virtual"
    printer_id = "printer-1"

"virtual" starts the simulator on a pseudo-terminal and opens it through the same driver, so
the demo store runs the code a real store runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import serial

from edge_agent.devices.base import (
    DeviceStatusSink,
    PaymentTerminal,
    ReceiptPrinter,
    TerminalEventSink,
)
from edge_agent.devices.concert import ConcertTimings
from edge_agent.devices.health import (
    DeviceHealthMonitor,
    WatchedDevice,
    printer_probe,
    terminal_probe,
)
from edge_agent.devices.printer import EscposPrinter
from edge_agent.devices.terminal import ConcertTerminal
from edge_agent.devices.virtual_printer import VirtualPrinter
from edge_agent.devices.virtual_terminal import VirtualTerminal

_LINES = {
    "8N1": (serial.EIGHTBITS, serial.PARITY_NONE),
    "7E1": (serial.SEVENBITS, serial.PARITY_EVEN),
}


class DeviceConfigError(ValueError):
    """A `[devices]` setting the agent cannot use."""


@dataclass
class StoreDevices:
    """The opened devices of one store, their simulators when virtual, and their health."""

    health: DeviceHealthMonitor
    terminal: PaymentTerminal | None = None
    printer: ReceiptPrinter | None = None
    simulators: list[VirtualTerminal | VirtualPrinter] = field(default_factory=list)

    def close(self) -> None:
        """Stop polling, release the lines, stop the simulators."""
        self.health.stop()
        for device in (self.terminal, self.printer):
            if device is not None:
                device.close()
        for simulator in self.simulators:
            simulator.stop()


def open_devices(
    settings: Mapping[str, str],
    *,
    store_id: str,
    on_terminal_event: TerminalEventSink | None,
    on_device_status: DeviceStatusSink,
    timings: ConcertTimings | None = None,
    health_interval: float = 5.0,
) -> StoreDevices:
    """Open what `settings` names (nothing for a missing key); health starts polling."""
    devices = StoreDevices(health=DeviceHealthMonitor(store_id, on_device_status, health_interval))
    try:
        if settings.get("terminal"):
            _open_terminal(devices, settings, store_id, on_terminal_event, timings)
        if settings.get("printer"):
            _open_printer(devices, settings)
    except BaseException:
        devices.close()
        raise
    devices.health.start()
    return devices


def _open_terminal(
    devices: StoreDevices,
    settings: Mapping[str, str],
    store_id: str,
    events: TerminalEventSink | None,
    timings: ConcertTimings | None,
) -> None:
    port = settings["terminal"]
    device_id = settings.get("terminal_id", "terminal-1")
    line = settings.get("terminal_line", "8N1").upper()
    if line not in _LINES:
        raise DeviceConfigError(f"terminal_line must be one of {sorted(_LINES)}, not {line!r}")
    if port == "virtual":
        simulator = VirtualTerminal(timings=timings).start()
        devices.simulators.append(simulator)
        port = simulator.port
    bytesize, parity = _LINES[line]
    terminal = ConcertTerminal(
        port,
        store_id=store_id,
        device_id=device_id,
        events=events,
        bytesize=bytesize,
        parity=parity,
        timings=timings,
    )
    devices.terminal = terminal
    devices.health.watch(WatchedDevice(device_id, "terminal", port, terminal_probe(terminal)))


def _open_printer(devices: StoreDevices, settings: Mapping[str, str]) -> None:
    target = settings["printer"]
    device_id = settings.get("printer_id", "printer-1")
    port: str | None = target
    if target == "virtual":
        simulator = VirtualPrinter().start()
        devices.simulators.append(simulator)
        port = simulator.port
        printer = EscposPrinter.serial(port, status_timeout=0.5, device_id=device_id)
    elif target.startswith("tcp://"):
        address = urlsplit(target)
        try:
            tcp_port = address.port or 9100
        except ValueError:  # a port that is not a number in range
            tcp_port = 0
        if not address.hostname or not tcp_port:
            raise DeviceConfigError(f"printer address {target!r} is not tcp://host:port")
        printer = EscposPrinter.network(address.hostname, tcp_port, device_id=device_id)
        port = None
    else:
        printer = EscposPrinter.serial(target, device_id=device_id)
    devices.printer = printer
    devices.health.watch(WatchedDevice(device_id, "printer", port, printer_probe(printer)))
