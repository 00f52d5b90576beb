"""The store's devices: card terminals (Concert over serial), receipt printers (ESC/POS),
their simulators on pseudo-terminals, durable print jobs and device health.

Drivers report through callbacks (`TerminalEvent`, `DeviceStatus`, `ReceiptPrinted` from
edge.proto); the agent wires those callbacks to the store's bus. A sketch of the wiring:

    terminal = ConcertTerminal(port, store_id=store, events=publish_terminal_event)
    result = terminal.pay(1999, "EUR", sale_id)          # blocking: run it in a thread
    approval = terminal_approval(result, payment_id=..., store_id=store, lane_id=lane,
                                 terminal_id=terminal.device_id, offline=False)
    printer = EscposPrinter.serial(port)                 # or EscposPrinter.network(host)
    journal = PrintJournal(data_dir / "print-jobs.sqlite")
    journal.enqueue(job_id, printer.device_id, receipt)  # the worker prints it once
    worker = PrintWorker(journal, printer, store_id=store, on_printed=publish_printed)
    health = DeviceHealthMonitor(store, publish_device_status)

Nothing here opens a port at import time.
"""

from edge_agent.devices.base import (
    DeviceError,
    PaperStatus,
    PaymentMode,
    PaymentTerminal,
    Receipt,
    ReceiptLine,
    ReceiptPrinter,
    TerminalOutcome,
    TerminalResult,
    terminal_approval,
)
from edge_agent.devices.concert import ConcertTimings
from edge_agent.devices.health import (
    DeviceHealthMonitor,
    WatchedDevice,
    printer_probe,
    terminal_probe,
)
from edge_agent.devices.printer import EscposPrinter
from edge_agent.devices.printjobs import PrintJournal, PrintWorker
from edge_agent.devices.terminal import ConcertTerminal
from edge_agent.devices.virtual_printer import VirtualPrinter, render_png
from edge_agent.devices.virtual_terminal import VirtualTerminal

__all__ = [
    "ConcertTerminal",
    "ConcertTimings",
    "DeviceError",
    "DeviceHealthMonitor",
    "EscposPrinter",
    "PaperStatus",
    "PaymentMode",
    "PaymentTerminal",
    "PrintJournal",
    "PrintWorker",
    "Receipt",
    "ReceiptLine",
    "ReceiptPrinter",
    "TerminalOutcome",
    "TerminalResult",
    "VirtualPrinter",
    "VirtualTerminal",
    "WatchedDevice",
    "printer_probe",
    "render_png",
    "terminal_approval",
    "terminal_probe",
]
