"""The ESC/POS printer driver (python-escpos) against the virtual printer over real ptys."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from escpos.printer import Dummy
from PIL import Image

from edge_agent.devices.base import DeviceError, PaperStatus, Receipt, ReceiptLine
from edge_agent.devices.printer import EscposPrinter, paper_status_of
from edge_agent.devices.virtual_printer import EscposDecoder, VirtualPrinter, render_png

RECEIPT = Receipt(
    receipt_number="S1-L1-000042",
    sale_id="sale-42",
    lines=(
        ReceiptLine("TILLSTREAM STORE 1", align="center", bold=True, double=True),
        ReceiptLine("Espresso x2            5.00 €"),
        ReceiptLine("Croissant              2.40 €"),
        ReceiptLine("TOTAL                  7.40 €", align="right", bold=True),
        ReceiptLine("Card 411111******1111", align="left"),
        ReceiptLine("Merci et à bientôt", align="center"),
    ),
    qr=True,
    barcode=True,
)


@pytest.fixture
def virtual() -> Iterator[VirtualPrinter]:
    with VirtualPrinter() as printer:
        yield printer


@pytest.fixture
def driver(virtual: VirtualPrinter) -> Iterator[EscposPrinter]:
    printer = EscposPrinter.serial(virtual.port, status_timeout=0.3)
    yield printer
    printer.close()


def wait_for(condition, timeout: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    done = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        done.wait(0.02)
    raise AssertionError("condition not met in time")


def test_decoded_receipt_equals_the_receipt_text(
    virtual: VirtualPrinter, driver: EscposPrinter
) -> None:
    driver.print_receipt(RECEIPT)
    wait_for(lambda: len(virtual.receipts) == 1)
    printed = virtual.receipts[0]
    assert printed.text == RECEIPT.plain_text()
    assert printed.cut
    head, total = printed.lines[0], printed.lines[3]
    assert (head.align, head.bold, head.double_width, head.double_height) == (
        "center",
        True,
        True,
        True,
    )
    assert (total.align, total.bold, total.double_width) == ("right", True, False)
    assert printed.qr_codes == ["sale-42"]
    assert printed.barcodes == [("CODE128", "sale-42")]
    assert virtual.drawer_kicks == []


def test_copy_is_marked_and_drawer_kick_is_seen(
    virtual: VirtualPrinter, driver: EscposPrinter
) -> None:
    from dataclasses import replace

    driver.print_receipt(replace(RECEIPT, copy=True, open_drawer=True))
    driver.kick_drawer()
    wait_for(lambda: len(virtual.drawer_kicks) == 2)
    assert virtual.receipts[0].text[0] == "*** COPY ***"
    assert virtual.drawer_kicks == [2, 2]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("ok", PaperStatus.OK),
        ("paper_low", PaperStatus.LOW),
        ("paper_out", PaperStatus.OUT),
        ("silent", PaperStatus.UNKNOWN),
    ],
)
def test_paper_status(
    virtual: VirtualPrinter, driver: EscposPrinter, mode: str, expected: PaperStatus
) -> None:
    virtual.set_mode(mode)
    assert driver.paper_status() is expected
    assert virtual.decoder.status_requests == [4]


def test_paper_status_does_not_wait_its_timeout_when_answered(virtual: VirtualPrinter) -> None:
    printer = EscposPrinter.serial(virtual.port, status_timeout=2.0)
    started = time.monotonic()
    assert printer.paper_status() is PaperStatus.OK
    assert time.monotonic() - started < 1.0
    printer.close()


def test_paper_status_answer_bytes() -> None:
    assert paper_status_of(b"") is PaperStatus.UNKNOWN
    assert paper_status_of(b"\xff") is PaperStatus.UNKNOWN  # not a status byte
    assert paper_status_of(b"\x12") is PaperStatus.OK
    assert paper_status_of(b"\x1e") is PaperStatus.LOW
    assert paper_status_of(b"\x72") is PaperStatus.OUT


def test_vanished_printer_is_a_device_error(virtual: VirtualPrinter) -> None:
    printer = EscposPrinter.serial("/dev/does-not-exist-printer", status_timeout=0.1)
    with pytest.raises(DeviceError, match="cannot print"):
        printer.print_receipt(RECEIPT)
    assert printer.paper_status() is PaperStatus.UNKNOWN


def test_decoder_takes_any_chunking_and_code_pages() -> None:
    dummy = Dummy()
    dummy.hw("INIT")
    dummy.textln("Grüße 3,00 € ½")
    dummy.set(align="center")
    dummy.qr("abc", native=True)
    dummy.cut()
    data = dummy.output
    decoder = EscposDecoder()
    for index in range(len(data)):
        decoder.feed(data[index : index + 1])
    assert decoder.receipts[0].text == ["Grüße 3,00 € ½"]
    assert decoder.receipts[0].qr_codes == ["abc"]
    assert decoder.unknown == []


def test_network_printer_over_tcp() -> None:
    """python-escpos's Network class against a TCP socket that decodes like the virtual one."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    decoder = EscposDecoder()

    def serve() -> None:
        conn, _ = server.accept()
        decoder.on_status = lambda n: conn.sendall(b"\x1e")
        with conn:
            while chunk := conn.recv(4096):
                decoder.feed(chunk)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    printer = EscposPrinter.network("127.0.0.1", port, timeout=1.0)
    printer.print_receipt(RECEIPT)
    assert printer.paper_status() is PaperStatus.LOW
    printer.close()
    thread.join(3)
    server.close()
    assert decoder.receipts[0].text == RECEIPT.plain_text()


def test_render_png(virtual: VirtualPrinter, driver: EscposPrinter, tmp_path: Path) -> None:
    driver.print_receipt(RECEIPT)
    wait_for(lambda: len(virtual.receipts) == 1)
    path = render_png(virtual.receipts[0], tmp_path / "receipt.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width == 384 and image.height > 300
        assert image.getextrema()[0] == 0  # something black was drawn


def test_a_receipt_that_cannot_print_is_refused_before_the_printer() -> None:
    with pytest.raises(ValueError, match="align"):
        ReceiptLine("x", align="middle")
    with pytest.raises(ValueError, match="sale id"):
        Receipt(receipt_number="1", sale_id="vente n°1", lines=())
