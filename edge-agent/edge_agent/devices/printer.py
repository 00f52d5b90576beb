"""Receipt printers speaking ESC/POS, through python-escpos (serial line or TCP port 9100)."""

from __future__ import annotations

import contextlib
import io
import termios
import threading
from collections.abc import Callable

import serial
from escpos.constants import RT_STATUS_PAPER
from escpos.escpos import Escpos
from escpos.exceptions import Error as EscposError
from escpos.printer import Network, Serial

from edge_agent.devices.base import DeviceError, PaperStatus, Receipt, ReceiptPrinter

#: DLE EOT 4 answer bits (Epson TM): paper near its end (bits 2-3), paper out (bits 5-6).
_NEAR_END, _PAPER_END = 0x0C, 0x60
#: What a dead or vanished line raises, through python-escpos, pyserial or termios.
_LINE_ERRORS = (EscposError, serial.SerialException, OSError, termios.error)
#: Bits fixed in every real-time status byte: bit 1 and bit 4 set, bits 0 and 7 clear.
_FIXED_MASK, _FIXED_BITS = 0x93, 0x12


def paper_status_of(answer: bytes) -> PaperStatus:
    """Read a DLE EOT 4 answer; UNKNOWN when there is none or it is not a status byte."""
    status = next((b for b in reversed(answer) if b & _FIXED_MASK == _FIXED_BITS), None)
    if status is None:
        return PaperStatus.UNKNOWN
    if status & _PAPER_END:
        return PaperStatus.OUT
    if status & _NEAR_END:
        return PaperStatus.LOW
    return PaperStatus.OK


class EscposPrinter(ReceiptPrinter):
    """A receipt printer driven by python-escpos; the cash drawer hangs on its kick connector.

    python-escpos opens the device on first use; a failure to reach it (port gone, socket
    refused) surfaces as `DeviceError` and the next call opens it again.
    """

    def __init__(
        self,
        connect: Callable[[], Escpos],
        *,
        device_id: str = "printer-1",
        drawer_pin: int = 2,
    ) -> None:
        self._connect = connect
        self.device_id = device_id
        self.drawer_pin = drawer_pin
        self._printer: Escpos | None = None
        self._lock = threading.Lock()

    @classmethod
    def serial(
        cls,
        port: str,
        *,
        baudrate: int = 9600,
        status_timeout: float = 1.0,
        device_id: str = "printer-1",
        drawer_pin: int = 2,
    ) -> EscposPrinter:
        """A printer on a serial line; `status_timeout` bounds the wait for a status answer."""

        def connect() -> Escpos:
            return Serial(devfile=port, baudrate=baudrate, timeout=status_timeout, dsrdtr=False)

        return cls(connect, device_id=device_id, drawer_pin=drawer_pin)

    @classmethod
    def network(
        cls,
        host: str,
        port: int = 9100,
        *,
        timeout: float = 5.0,
        device_id: str = "printer-1",
        drawer_pin: int = 2,
    ) -> EscposPrinter:
        """A printer on TCP (the usual raw port 9100); `timeout` bounds a status answer too."""

        def connect() -> Escpos:
            return Network(host=host, port=port, timeout=timeout)

        return cls(connect, device_id=device_id, drawer_pin=drawer_pin)

    def print_receipt(self, receipt: Receipt) -> None:
        with self._lock, self._errors("print"):
            printer = self._open()
            printer.hw("INIT")
            if receipt.copy:
                printer.set(align="center", bold=True)
                printer.textln("*** COPY ***")
            for line in receipt.lines:
                printer.set(
                    align=line.align,
                    bold=line.bold,
                    double_width=line.double,
                    double_height=line.double,
                    normal_textsize=not line.double,
                )
                printer.textln(line.text)
            printer.set(align="center", bold=False, normal_textsize=True)
            if receipt.barcode:
                # python-escpos announces its renderer on stdout; keep the agent's output clean.
                with contextlib.redirect_stdout(io.StringIO()):
                    printer.barcode("{B" + receipt.sale_id, "CODE128", function_type="B")
            if receipt.qr:
                printer.qr(receipt.sale_id, native=True, size=4)
            printer.cut()
            if receipt.open_drawer:
                printer.cashdraw(self.drawer_pin)

    def kick_drawer(self) -> None:
        with self._lock, self._errors("kick drawer"):
            self._open().cashdraw(self.drawer_pin)

    def paper_status(self) -> PaperStatus:
        """DLE EOT 4 and wait up to the line's timeout; UNKNOWN when nothing (valid) comes."""
        with self._lock:
            try:
                printer = self._open()
                device = printer.device
                if isinstance(device, serial.Serial):
                    # python-escpos's Serial reads 16 bytes for this one-byte answer, so it
                    # would always wait its whole timeout: ask on the line directly.
                    device.reset_input_buffer()  # a late answer to an earlier request
                    device.write(RT_STATUS_PAPER)
                    return paper_status_of(device.read(1))
                return paper_status_of(printer.query_status(RT_STATUS_PAPER))
            except TimeoutError:  # socket.timeout too
                return PaperStatus.UNKNOWN
            except _LINE_ERRORS:
                self._drop()
                return PaperStatus.UNKNOWN

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _open(self) -> Escpos:
        if self._printer is None:
            printer = self._connect()
            printer.open()
            self._printer = printer
        return self._printer

    def _drop(self) -> None:
        printer, self._printer = self._printer, None
        if printer is None:
            return
        # Close the line itself first: python-escpos flushes on close, which fails on a dead
        # line (termios EIO) and would leave the port open.
        device = getattr(printer, "_device", None)
        if isinstance(device, serial.Serial):
            with contextlib.suppress(*_LINE_ERRORS):
                device.close()
        with contextlib.suppress(*_LINE_ERRORS):
            printer.close()

    @contextlib.contextmanager
    def _errors(self, action: str):  # type: ignore[no-untyped-def]
        try:
            yield
        except _LINE_ERRORS as exc:
            self._drop()
            raise DeviceError(f"{self.device_id}: cannot {action}: {exc}") from exc
