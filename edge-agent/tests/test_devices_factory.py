"""Opening a store's devices from its configuration: the virtual ones over real ptys."""

from __future__ import annotations

import threading

import pytest

from edge_agent.devices.base import PaperStatus, Receipt, ReceiptLine
from edge_agent.devices.concert import ConcertTimings
from edge_agent.devices.factory import DeviceConfigError, open_devices
from edge_agent.devices.virtual_printer import VirtualPrinter
from tillstream.events.v1.edge_pb2 import DeviceStatus, TerminalEvent

# Short enough to keep the suite quick, long enough that a loaded CI machine does not miss a
# handshake (0.3 s once dropped a prompt frame under load).
FAST = ConcertTimings(ack_timeout=1.0, char_timeout=0.5, eot_timeout=0.5)


def test_virtual_devices_work_through_the_real_drivers() -> None:
    terminal_events: list[TerminalEvent] = []
    statuses: list[DeviceStatus] = []
    both_seen = threading.Event()

    def on_status(event: DeviceStatus) -> None:
        statuses.append(event)
        if {s.device_id for s in statuses} == {"t-1", "p-1"}:
            both_seen.set()

    devices = open_devices(
        {"terminal": "virtual", "terminal_id": "t-1", "printer": "virtual", "printer_id": "p-1"},
        store_id="s9",
        on_terminal_event=terminal_events.append,
        on_device_status=on_status,
        timings=FAST,
        health_interval=0.05,
    )
    try:
        assert devices.terminal is not None and devices.printer is not None
        assert devices.terminal.pay(990, "EUR", "sale-f").approved
        assert terminal_events[-1].event == "approved" and terminal_events[-1].device_id == "t-1"
        devices.printer.print_receipt(
            Receipt(receipt_number="1", sale_id="sale-f", lines=(ReceiptLine("HELLO"),))
        )
        assert devices.printer.paper_status() is PaperStatus.OK
        simulator = next(s for s in devices.simulators if isinstance(s, VirtualPrinter))
        for _ in range(100):
            if simulator.receipts:
                break
            threading.Event().wait(0.02)
        assert simulator.receipts[0].text == ["HELLO"]
        assert both_seen.wait(5)
        assert {(s.device_id, s.status) for s in statuses} >= {("t-1", "connected"), ("p-1", "ok")}
    finally:
        devices.close()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"terminal": "virtual", "terminal_line": "9X2"}, "terminal_line"),
        ({"printer": "tcp://"}, "tcp://host:port"),
        ({"printer": "tcp://host:99999"}, "tcp://host:port"),
    ],
)
def test_bad_device_settings_are_refused(settings: dict[str, str], message: str) -> None:
    with pytest.raises(DeviceConfigError, match=message):
        open_devices(settings, store_id="s", on_terminal_event=None, on_device_status=print)
