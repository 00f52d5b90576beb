"""A virtual ESC/POS printer on a pseudo-terminal: decodes the byte stream into receipts.

`EscposDecoder` is fed bytes in any chunking and keeps what a person would see on paper: text
lines with their alignment, emphasis and size, barcodes and QR codes, cuts (one receipt per
cut), drawer kicks and feeds. `VirtualPrinter` runs it on the master side of a pty, answers
real-time status requests (DLE EOT n) as configured (ok, paper_low, paper_out, or silent like a
printer without a back channel), and renders a receipt to PNG with Pillow.
"""

from __future__ import annotations

import os
import select
import threading
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from escpos.capabilities import get_profile
from escpos.codepages import CodePages

ESC, GS, DLE, LF, CR, HT = 0x1B, 0x1D, 0x10, 0x0A, 0x0D, 0x09
EOT, DC4 = 0x04, 0x14

#: Status byte per mode for DLE EOT 4 (paper sensor); python-escpos reads these masks.
PAPER_ANSWERS = {"ok": 0x12, "paper_low": 0x1E, "paper_out": 0x72}
PRINTER_MODES = frozenset({*PAPER_ANSWERS, "silent"})

#: ESC commands with a fixed number of argument bytes (others are listed where handled).
_ESC_ARGS = {
    ord("@"): 0, ord("!"): 1, ord("E"): 1, ord("a"): 1, ord("t"): 1, ord("d"): 1,
    ord("J"): 1, ord("p"): 3, ord("-"): 1, ord("M"): 1, ord("G"): 1, ord("2"): 0,
    ord("3"): 1, ord("{"): 1, ord("V"): 1, ord("r"): 1, ord("R"): 1, ord("U"): 1,
    ord("e"): 1, ord("i"): 0, ord("m"): 0, ord("c"): 2, ord("$"): 2, ord("\\"): 2,
    ord(" "): 1, ord("S"): 0, ord("L"): 0, ord("T"): 1, ord("K"): 1, ord("F"): 1,
}  # fmt: skip
#: GS commands with a fixed number of argument bytes.
_GS_ARGS = {
    ord("!"): 1, ord("h"): 1, ord("w"): 1, ord("f"): 1, ord("H"): 1, ord("B"): 1,
    ord("L"): 2, ord("W"): 2, ord("a"): 1, ord("r"): 1, ord("I"): 1, ord("b"): 1,
}  # fmt: skip
_BARCODE_A = {0: "UPC-A", 1: "UPC-E", 2: "EAN13", 3: "EAN8", 4: "CODE39", 5: "ITF", 6: "NW7"}
_BARCODE_B = {65 + k: v for k, v in _BARCODE_A.items()} | {72: "CODE93", 73: "CODE128"}


class _Incomplete(Exception):
    """The buffer ends inside a command; wait for more bytes."""


@dataclass
class PrintedLine:
    """A line as printed, with its layout."""

    text: str
    align: str = "left"
    bold: bool = False
    double_width: bool = False
    double_height: bool = False


@dataclass
class PrintedReceipt:
    """Everything between two cuts."""

    lines: list[PrintedLine] = field(default_factory=list)
    barcodes: list[tuple[str, str]] = field(default_factory=list)  # (type, data)
    qr_codes: list[str] = field(default_factory=list)
    feeds: int = 0
    images: int = 0
    cut: bool = False

    @property
    def text(self) -> list[str]:
        return [line.text for line in self.lines]


def _codepage_table(number: int) -> list[str]:
    """Characters 128-255 of the printer's code page `number` (default profile)."""
    name = get_profile(None).profile_data["codePages"].get(str(number), "CP437")
    try:
        encoding = CodePages.get_encoding(name)
    except KeyError:
        encoding = CodePages.get_encoding("CP437")
    if "data" in encoding:
        return list("".join(encoding["data"]))
    table = []
    for code in range(128, 256):
        try:
            table.append(bytes([code]).decode(encoding["python_encode"]))
        except UnicodeDecodeError:
            table.append("?")
    return table


class EscposDecoder:
    """Incremental ESC/POS decoder. `feed` bytes; read `receipts` (cut ones) and `current`."""

    def __init__(self, on_status: Callable[[int], None] | None = None) -> None:
        self.on_status = on_status  # called with n for every DLE EOT n
        self.receipts: list[PrintedReceipt] = []
        self.current = PrintedReceipt()
        self.drawer_kicks: list[int] = []  # pin of each kick
        self.status_requests: list[int] = []
        self.unknown: list[bytes] = []  # commands it skipped, for a test to look at
        self._buffer = bytearray()
        self._tables: dict[int, list[str]] = {}
        self._reset()

    def _reset(self) -> None:
        self._text: list[str] = []
        self.align, self.bold = "left", False
        self.double_width = self.double_height = False
        self.codepage = 0
        self._qr_data = ""

    def feed(self, data: bytes) -> None:
        self._buffer.extend(data)
        while self._buffer:
            try:
                used = self._step(self._buffer)
            except _Incomplete:
                return
            del self._buffer[:used]

    # -- one command or character per step; returns the bytes used ---------------------------
    def _step(self, buf: bytearray) -> int:
        byte = buf[0]
        if byte == ESC:
            return self._esc(buf)
        if byte == GS:
            return self._gs(buf)
        if byte == DLE:
            return self._dle(buf)
        if byte == LF:
            self._end_line()
            return 1
        if byte == HT:
            self._text.append("\t")
        elif byte >= 0x20:
            self._text.append(self._char(byte))
        return 1  # CR and other control bytes print nothing

    def _char(self, byte: int) -> str:
        if byte < 0x80:
            return chr(byte)
        table = self._tables.setdefault(self.codepage, _codepage_table(self.codepage))
        return table[byte - 0x80]

    def _esc(self, buf: bytearray) -> int:
        cmd = _at(buf, 1)
        argc = _ESC_ARGS.get(cmd)
        if argc is None:
            self.unknown.append(bytes(buf[:2]))
            return 2
        args = [_at(buf, 2 + i) for i in range(argc)]
        if cmd == ord("@"):
            self._reset()
        elif cmd == ord("!"):
            self.bold = bool(args[0] & 0x08)
            self.double_height = bool(args[0] & 0x10)
            self.double_width = bool(args[0] & 0x20)
        elif cmd == ord("E"):
            self.bold = bool(args[0] & 1)
        elif cmd == ord("a"):
            self.align = {0: "left", 1: "center", 2: "right"}.get(args[0] % 48, "left")
        elif cmd == ord("t"):
            self.codepage = args[0]
        elif cmd == ord("d"):
            self._flush_partial()
            self.current.feeds += args[0]
        elif cmd == ord("p"):
            self.drawer_kicks.append(2 if args[0] in (0, 48) else 5)
        return 2 + argc

    def _gs(self, buf: bytearray) -> int:
        cmd = _at(buf, 1)
        if cmd == ord("V"):
            mode = _at(buf, 2)
            self._cut()
            return 4 if mode in (65, 66, 97, 98, 103, 104) else 3
        if cmd == ord("k"):
            return self._barcode(buf)
        if cmd == ord("(") or cmd == ord("8"):
            return self._gs_block(buf)
        if cmd == ord("v"):
            return self._raster(buf)
        argc = _GS_ARGS.get(cmd)
        if argc is None:
            self.unknown.append(bytes(buf[:2]))
            return 2
        args = [_at(buf, 2 + i) for i in range(argc)]
        if cmd == ord("!"):
            self.double_width = (args[0] >> 4) > 0
            self.double_height = (args[0] & 0x0F) > 0
        return 2 + argc

    def _barcode(self, buf: bytearray) -> int:
        kind = _at(buf, 2)
        if kind <= 6:  # function A: data ends with NUL
            end = buf.find(b"\x00", 3)
            if end < 0:
                raise _Incomplete
            self.current.barcodes.append((_BARCODE_A[kind], buf[3:end].decode("latin-1")))
            return end + 1
        length = _at(buf, 3)
        data = bytes(_slice(buf, 4, length)).decode("latin-1")
        if data.startswith("{") and len(data) > 1:
            data = data[2:]  # CODE128 code set selector
        self.current.barcodes.append((_BARCODE_B.get(kind, str(kind)), data))
        return 4 + length

    def _gs_block(self, buf: bytearray) -> int:
        """GS ( x pL pH ... and GS 8 L p1..p4 ...: length-prefixed (2D codes, graphics)."""
        if buf[1] == ord("8"):
            size = int.from_bytes(_slice(buf, 3, 4), "little")
            _slice(buf, 7, size)
            self.current.images += 1
            return 7 + size
        fn_class = _at(buf, 2)
        size = _at(buf, 3) | (_at(buf, 4) << 8)
        params = bytes(_slice(buf, 5, size))
        if fn_class == ord("k") and len(params) >= 2 and params[0] == 0x31:
            if params[1] == 0x50:  # store the data: cn fn m d1..dk
                self._qr_data = params[3:].decode("latin-1")
            elif params[1] == 0x51:  # print the stored symbol
                self._flush_partial()
                self.current.qr_codes.append(self._qr_data)
        elif fn_class == ord("L") and params[1:2] == b"2":
            self.current.images += 1
        return 5 + size

    def _raster(self, buf: bytearray) -> int:
        """GS v 0 m xL xH yL yH d1..dk: a bit image, k = (xL + xH*256) * (yL + yH*256)."""
        header = _slice(buf, 3, 5)
        width = header[1] | (header[2] << 8)
        height = header[3] | (header[4] << 8)
        _slice(buf, 8, width * height)
        self.current.images += 1
        return 8 + width * height

    def _dle(self, buf: bytearray) -> int:
        cmd = _at(buf, 1)
        if cmd == EOT:
            n = _at(buf, 2)
            self.status_requests.append(n)
            if self.on_status is not None:
                self.on_status(n)
            return 3
        if cmd == DC4:  # DLE DC4 fn m t: real-time pulse (fn 1 kicks the drawer)
            fn, pin = _at(buf, 2), _at(buf, 3)
            _at(buf, 4)
            if fn == 1:
                self.drawer_kicks.append(2 if pin == 0 else 5)
            return 5
        return 2

    # -- page state ---------------------------------------------------------------------------
    def _end_line(self) -> None:
        self.current.lines.append(
            PrintedLine(
                "".join(self._text),
                self.align,
                self.bold,
                self.double_width,
                self.double_height,
            )
        )
        self._text = []

    def _flush_partial(self) -> None:
        if self._text:
            self._end_line()

    def _cut(self) -> None:
        self._flush_partial()
        self.current.cut = True
        self.receipts.append(self.current)
        self.current = PrintedReceipt()


def _at(buf: bytearray, index: int) -> int:
    if index >= len(buf):
        raise _Incomplete
    return buf[index]


def _slice(buf: bytearray, start: int, length: int) -> bytearray:
    if start + length > len(buf):
        raise _Incomplete
    return buf[start : start + length]


class VirtualPrinter:
    """An ESC/POS printer on a pty: `port` for the driver, `decoder` for what it printed."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.decoder = EscposDecoder(on_status=self._answer_status)
        self.port = ""
        self._master = self._slave = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.set_mode(mode)

    def set_mode(self, mode: str) -> None:
        """ok, paper_low, paper_out: what DLE EOT 4 answers; silent: no answer at all."""
        if mode not in PRINTER_MODES:
            raise ValueError(f"unknown printer mode {mode!r}; known: {sorted(PRINTER_MODES)}")
        self.mode = mode

    @property
    def receipts(self) -> list[PrintedReceipt]:
        with self._lock:
            return list(self.decoder.receipts)

    @property
    def drawer_kicks(self) -> list[int]:
        with self._lock:
            return list(self.decoder.drawer_kicks)

    def start(self) -> VirtualPrinter:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="virtual-printer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop and close the pty: the port vanishes like an unplugged printer."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1

    def __enter__(self) -> VirtualPrinter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self._master, 4096)
            except OSError:  # EIO while nobody has the slave side open
                self._stop.wait(0.02)
                continue
            with self._lock:
                self.decoder.feed(chunk)

    def _answer_status(self, n: int) -> None:
        if self.mode == "silent":
            return
        paper = PAPER_ANSWERS[self.mode]
        answer = {1: 0x16, 2: 0x12, 3: 0x12, 4: paper}.get(n, 0x12)
        os.write(self._master, bytes([answer]))


def _receipt_font(size: int):  # type: ignore[no-untyped-def]
    """A monospaced font with accents and the euro sign: the DejaVu Sans Mono that
    python-barcode ships; Pillow's default font when it is not there."""
    import barcode
    from PIL import ImageFont

    mono = Path(barcode.__file__).parent / "fonts" / "DejaVuSansMono.ttf"
    if mono.exists():
        return ImageFont.truetype(str(mono), size)
    return ImageFont.load_default(size=size)


def render_png(receipt: PrintedReceipt, path: Path, width: int = 384) -> Path:
    """Draw a decoded receipt as a 58 mm-wide (384 dot) paper strip, codes included."""
    import barcode
    import qrcode
    from barcode.writer import ImageWriter
    from PIL import Image, ImageDraw

    base, big = _receipt_font(15), _receipt_font(28)
    blocks: list[Image.Image] = []
    for line in receipt.lines:
        font = big if line.double_height or line.double_width else base
        image = Image.new("L", (width, int(font.size * 1.4)), 255)
        draw = ImageDraw.Draw(image)
        text_width = draw.textlength(line.text, font=font)
        x = {"left": 4, "center": (width - text_width) / 2, "right": width - text_width - 4}
        draw.text((x[line.align], 2), line.text, font=font, fill=0)
        if line.bold:
            draw.text((x[line.align] + 1, 2), line.text, font=font, fill=0)
        blocks.append(image)
    for kind, data in receipt.barcodes:
        writer = ImageWriter()
        rendered = barcode.get(kind.lower(), data, writer=writer).render(
            {"module_height": 8.0, "font_size": 8, "quiet_zone": 2.0}
        )
        blocks.append(_centred(rendered.convert("L"), width))
    for data in receipt.qr_codes:
        code = qrcode.make(data).get_image().convert("L").resize((width // 2, width // 2))
        blocks.append(_centred(code, width))
    height = sum(block.height for block in blocks) + 40
    paper = Image.new("L", (width, height), 255)
    y = 20
    for block in blocks:
        paper.paste(block, (0, y))
        y += block.height
    paper.save(path, "PNG")
    return path


def _centred(image, width: int):  # type: ignore[no-untyped-def]
    from PIL import Image

    if image.width > width:
        image = image.resize((width, image.height * width // image.width))
    block = Image.new("L", (width, image.height), 255)
    block.paste(image, ((width - image.width) // 2, 0))
    return block
