"""Device health over real ptys: paper states, a silent printer, a vanished port, a terminal."""

from __future__ import annotations

import os
import threading

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
from tillstream.events.v1.edge_pb2 import DeviceStatus

FAST = ConcertTimings(ack_timeout=1.0, char_timeout=0.5, eot_timeout=0.5)  # see test_devices_concert


def statuses(events: list[DeviceStatus]) -> list[str]:
    return [event.status for event in events]


def test_printer_paper_states_and_a_vanished_port() -> None:
    events: list[DeviceStatus] = []
    monitor = DeviceHealthMonitor("s1", events.append)
    virtual = VirtualPrinter().start()
    printer = EscposPrinter.serial(virtual.port, status_timeout=0.2)
    port = virtual.port
    monitor.watch(WatchedDevice("printer-1", "printer", port, printer_probe(printer)))

    monitor.poll_once()
    monitor.poll_once()  # unchanged: nothing new
    virtual.set_mode("paper_low")
    monitor.poll_once()
    virtual.set_mode("paper_out")
    monitor.poll_once()
    virtual.set_mode("silent")
    monitor.poll_once()
    assert statuses(events) == ["ok", "paper_low", "paper_out", "connected"]
    assert "unknown" in events[-1].detail

    virtual.stop()  # unplugged: the driver's next write fails, it lets go, the node goes
    for _ in range(5):
        monitor.poll_once()
        if events[-1].status == "disconnected":
            break
    assert events[-1].status == "disconnected" and port in events[-1].detail
    assert not os.path.exists(port)
    assert {(e.store_id, e.device_id, e.kind) for e in events} == {("s1", "printer-1", "printer")}
    assert all(e.at_ms > 0 for e in events)
    printer.close()


def test_terminal_health_in_a_thread() -> None:
    events: list[DeviceStatus] = []
    seen = threading.Event()

    def sink(event: DeviceStatus) -> None:
        events.append(event)
        seen.set()

    virtual = VirtualTerminal(timings=FAST).start()
    terminal = ConcertTerminal(virtual.port, store_id="s1", timings=FAST)
    monitor = DeviceHealthMonitor("s1", sink, interval=0.05)
    monitor.watch(WatchedDevice("terminal-1", "terminal", virtual.port, terminal_probe(terminal)))
    monitor.start()
    try:
        assert seen.wait(5)
        assert statuses(events) == ["connected"]
        assert terminal.pay(100, "EUR", "sale-during-health").approved
        seen.clear()
        virtual.stop()
        assert seen.wait(10)
        assert events[-1].status in ("error", "disconnected")
    finally:
        monitor.stop()
        terminal.close()
    assert statuses(events).count("connected") == 1
