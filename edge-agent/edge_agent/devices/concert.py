"""The Telium "Concert" protocol (caisse/terminal, protocol E): link layer and messages.

Link layer, either side: the sender sends ENQ and waits for ACK, sends STX body ETX LRC (LRC =
XOR of every byte after STX up to and including ETX), and waits for ACK; NAK or silence means
retransmit, a bounded number of times; EOT ends the session. The receiver ignores noise on the
line (bytes that are not the ones it waits for), NAKs a frame whose LRC is wrong, ACKs a good one.

Messages (ASCII, fixed width, as `pyTeliumManager` and `pypostelium` document them):
- request, 34 chars: POS number (2), amount in minor units (8), answer flag (1: "1" asks the
  full answer), mode (1: "1" card), type (1: "0" debit, "2" refund), currency ISO 4217 numeric
  (3), private (10), delay (4: "A010" answer when the transaction ends), authorization (4).
- answer, 80 chars (full): POS (2), status (1: "0" approved, "7" refused, "9" not done),
  amount (8), mode (1), report (55), currency (3), private (10); 25 chars without the report.
- The 55-char report carries what our terminals are parameterised to give: token (20), masked
  PAN (19), scheme (6), authorization code (6), reason (4: PINX wrong PIN, LOCK card locked,
  READ read failure, DECL refused). A full PAN found there is masked at once, never kept.
- Display messages ("D" + prompt name), our extension (plain Concert has no prompts on the
  line): the prompts a terminal shows while the customer is at the keypad (enter_pin,
  wrong_pin, ...). A terminal that sends none still works: the driver reports insert_card
  itself when the request is accepted, then the final outcome.

Why our own framing rather than `pyTeliumManager` (2.4.2, last release September 2021): it
carries amounts as floats, pins pycountry < 18.5.20 and six, sends ENQ once and never answers
a NAK or retransmits, reads fixed-size answers (a stray byte on the line breaks the frame), and
its answer object reads the card number out of the report in full (and hashes it).
`pypostelium` (AGPL) has the same float amounts and only logs a bad LRC. The frame layout
above follows both.
"""

from __future__ import annotations

import itertools
import os
import re
import select
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import reduce
from operator import xor
from typing import Protocol

import serial

from edge_agent.devices.base import PaymentMode

STX, ETX, EOT, ENQ, ACK, NAK = 0x02, 0x03, 0x04, 0x05, 0x06, 0x15

#: ISO 4217 alphabetic -> numeric, for the currencies a store may sell in.
ISO_4217_NUMERIC = {
    "EUR": "978",
    "USD": "840",
    "GBP": "826",
    "CHF": "756",
    "SEK": "752",
    "NOK": "578",
    "DKK": "208",
    "PLN": "985",
    "CZK": "203",
    "HUF": "348",
    "RON": "946",
    "CAD": "124",
    "AUD": "036",
    "JPY": "392",
}
ISO_4217_ALPHA = {numeric: alpha for alpha, numeric in ISO_4217_NUMERIC.items()}

MAX_AMOUNT_MINOR = 99_999_999  # eight digits
REQUEST_LENGTH = 34
FULL_ANSWER_LENGTH = 80
SHORT_ANSWER_LENGTH = 25
MAX_FRAME_BODY = 512  # longer than any message: the frame was lost, NAK it

_MODE_TYPES = {PaymentMode.DEBIT: "0", PaymentMode.REFUND: "2"}
_FULL_PAN = re.compile(r"\d{13,19}")


class ConcertError(ValueError):
    """A message that does not follow the Concert layout."""


class LinkError(IOError):
    """The other side did not complete a session within the retries and timeouts."""


def lrc(data: bytes) -> int:
    """XOR of the bytes: Concert's longitudinal redundancy check."""
    return reduce(xor, data, 0)


def frame(body: bytes) -> bytes:
    """STX body ETX LRC, the LRC over body and ETX."""
    tail = body + bytes([ETX])
    return bytes([STX]) + tail + bytes([lrc(tail)])


def mask_pan(value: str) -> str:
    """Mask any run of 13-19 digits (a full PAN) to its first six and last four digits."""

    def masked(match: re.Match[str]) -> str:
        digits = match.group()
        return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]

    return _FULL_PAN.sub(masked, value)


class ByteLine(Protocol):
    """A serial line as the link layer sees it: bytes in with a timeout, bytes out."""

    def read_byte(self, timeout: float) -> int | None: ...

    def write(self, data: bytes) -> None: ...


class SerialLine:
    """A `ByteLine` over a pyserial port opened with timeout=0 (non-blocking).

    It waits with select on the port's descriptor rather than setting pyserial's timeout per
    read: each timeout change reconfigures the port (tcsetattr), once per byte otherwise.
    """

    def __init__(self, port: serial.Serial) -> None:
        self.port = port
        self._buffer = bytearray()

    def read_byte(self, timeout: float) -> int | None:
        if not self._buffer:
            ready, _, _ = select.select([self.port.fileno()], [], [], max(timeout, 0.0))
            if not ready:
                return None
            chunk = self.port.read(max(self.port.in_waiting, 1))
            if not chunk:
                return None
            self._buffer.extend(chunk)
        return self._buffer.pop(0)

    def write(self, data: bytes) -> None:
        self.port.write(data)


class FdLine:
    """A `ByteLine` over a raw file descriptor (the master side of a pseudo-terminal)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = bytearray()

    def read_byte(self, timeout: float) -> int | None:
        if not self._buffer:
            ready, _, _ = select.select([self.fd], [], [], max(timeout, 0.0))
            if not ready:
                return None
            try:
                chunk = os.read(self.fd, 256)
            except OSError:  # EIO: nobody holds the slave side open
                time.sleep(min(timeout, 0.05))
                return None
            if not chunk:
                return None
            self._buffer.extend(chunk)
        return self._buffer.pop(0)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]


@dataclass(frozen=True)
class ConcertTimings:
    """Timeouts (seconds) and retry bounds of the link layer.

    Defaults follow the terminals' usual settings (ACK within 3 s, three tries); tests use short
    ones so a timeout costs milliseconds.
    """

    ack_timeout: float = 3.0
    char_timeout: float = 1.0
    eot_timeout: float = 1.0
    enq_tries: int = 3
    frame_tries: int = 3


class ConcertLink:
    """One side of the Concert link layer over a `ByteLine`."""

    def __init__(self, line: ByteLine, timings: ConcertTimings | None = None) -> None:
        self.line = line
        self.timings = timings or ConcertTimings()
        self.noise_bytes = 0  # bytes skipped because they were not the ones awaited

    # -- sending -----------------------------------------------------------------------------
    def send(self, body: bytes) -> None:
        """Send one message in its own session; raises LinkError when it is not acknowledged."""
        self.open_session()
        self.transmit(itertools.repeat(frame(body)))

    def open_session(self) -> None:
        """ENQ until ACK, at most `enq_tries` times."""
        for _ in range(self.timings.enq_tries):
            self.line.write(bytes([ENQ]))
            if self.await_byte({ACK, NAK}, self.timings.ack_timeout) == ACK:
                return
        self.line.write(bytes([EOT]))
        raise LinkError(f"no ACK to ENQ after {self.timings.enq_tries} tries")

    def transmit(self, frames: Iterator[bytes]) -> None:
        """Send frames from `frames` until one is ACKed (at most `frame_tries`), then EOT.

        Each retransmission takes the next frame of the iterator, so a caller can send the same
        frame again (the usual case) or, in the simulator, a corrupted one first.
        """
        for attempt, data in enumerate(frames):
            if attempt >= self.timings.frame_tries:
                break
            self.line.write(data)
            if self.await_byte({ACK, NAK}, self.timings.ack_timeout) == ACK:
                self.line.write(bytes([EOT]))
                return
        self.line.write(bytes([EOT]))
        raise LinkError(f"frame not acknowledged after {self.timings.frame_tries} tries")

    # -- receiving ---------------------------------------------------------------------------
    def receive(
        self, timeout: float, refuse_first: int = 0, enq_seen: bool = False
    ) -> bytes | None:
        """Wait up to `timeout` for a session and return its message, None when none came.

        `refuse_first` NAKs that many good frames first, as a busy receiver does (the simulator
        uses it to make the driver retransmit); `enq_seen` when the caller has read the ENQ.
        Raises LinkError when a session started but no good frame arrived within the tries.
        """
        if not enq_seen and self.await_byte({ENQ}, timeout) is None:
            return None
        self.line.write(bytes([ACK]))
        for _ in range(self.timings.frame_tries + refuse_first):
            try:
                body = self._read_frame()
            except _SessionEndedError:
                return None
            if body is None:
                continue
            if refuse_first > 0:
                refuse_first -= 1
                self.line.write(bytes([NAK]))
                continue
            self.line.write(bytes([ACK]))
            self.await_byte({EOT}, self.timings.eot_timeout)
            return body
        raise LinkError(f"no good frame after {self.timings.frame_tries} tries")

    def _read_frame(self) -> bytes | None:
        """One frame's body; None (after a NAK) when it was bad or incomplete."""
        start = self.await_byte({STX, EOT, ENQ}, self.timings.ack_timeout)
        if start == EOT:
            raise _SessionEndedError
        if start == ENQ:  # the sender missed our ACK and asks again
            self.line.write(bytes([ACK]))
            return None
        if start is None:
            self.line.write(bytes([NAK]))
            return None
        body = bytearray()
        while len(body) <= MAX_FRAME_BODY:
            byte = self.line.read_byte(self.timings.char_timeout)
            if byte is None:
                break
            if byte == ETX:
                check = self.line.read_byte(self.timings.char_timeout)
                if check is not None and check == lrc(bytes(body) + bytes([ETX])):
                    return bytes(body)
                break
            body.append(byte)
        self.line.write(bytes([NAK]))
        return None

    def await_byte(self, wanted: set[int], timeout: float) -> int | None:
        """Read until one of `wanted` arrives (skipping noise) or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            byte = self.line.read_byte(remaining)
            if byte is None:
                return None
            if byte in wanted:
                return byte
            self.noise_bytes += 1


class _SessionEndedError(Exception):
    """The sender closed the session with EOT before a frame (a readiness probe)."""


def currency_numeric(currency: str) -> str:
    """ISO 4217 numeric code of an alphabetic one; ConcertError when unknown."""
    try:
        return ISO_4217_NUMERIC[currency.upper()]
    except KeyError:
        raise ConcertError(f"currency {currency!r} has no ISO 4217 numeric code here") from None


@dataclass(frozen=True)
class PaymentRequest:
    """The POS asks the terminal for an amount."""

    amount_minor: int
    currency: str  # alphabetic, e.g. EUR
    mode: PaymentMode = PaymentMode.DEBIT
    pos_number: str = "01"
    reference: str = ""  # up to 10 chars, echoed in the answer's private field
    full_answer: bool = True

    def encode(self) -> bytes:
        if not 1 <= self.amount_minor <= MAX_AMOUNT_MINOR:
            raise ConcertError(f"amount {self.amount_minor} outside 1..{MAX_AMOUNT_MINOR}")
        body = (
            self.pos_number.zfill(2)[:2]
            + f"{self.amount_minor:08d}"
            + ("1" if self.full_answer else "0")
            + "1"  # mode: card
            + _MODE_TYPES[self.mode]
            + currency_numeric(self.currency)
            + self.reference[:10].ljust(10)
            + "A010"  # answer when the transaction has ended
            + "B010"  # no forced authorization
        )
        assert len(body) == REQUEST_LENGTH
        return _encode(body)

    @classmethod
    def decode(cls, body: bytes) -> PaymentRequest:
        text = _ascii(body)
        if len(text) != REQUEST_LENGTH or not text[2:10].isdigit():
            raise ConcertError(f"payment request of {len(text)} chars, expected {REQUEST_LENGTH}")
        types = {code: mode for mode, code in _MODE_TYPES.items()}
        if text[12] not in types or text[13:16] not in ISO_4217_ALPHA:
            raise ConcertError(f"unknown type {text[12]!r} or currency {text[13:16]!r}")
        return cls(
            amount_minor=int(text[2:10]),
            currency=ISO_4217_ALPHA[text[13:16]],
            mode=types[text[12]],
            pos_number=text[0:2],
            reference=text[16:26].rstrip(),
            full_answer=text[10] == "1",
        )


#: Answer status codes.
STATUS_APPROVED, STATUS_REFUSED, STATUS_NOT_DONE = "0", "7", "9"
#: Reason codes in the report.
REASON_WRONG_PIN, REASON_CARD_LOCKED, REASON_READ_FAILED, REASON_DECLINED = (
    "PINX",
    "LOCK",
    "READ",
    "DECL",
)


@dataclass(frozen=True)
class PaymentAnswer:
    """The terminal's answer. `masked_pan` is masked on decode whatever the terminal sent."""

    status: str
    amount_minor: int
    currency: str
    pos_number: str = "01"
    token: str = ""
    masked_pan: str = ""
    scheme: str = ""
    auth_code: str = ""
    reason: str = ""
    reference: str = ""

    def encode(self) -> bytes:
        report = (
            self.token[:20].ljust(20)
            + self.masked_pan[:19].ljust(19)
            + self.scheme[:6].ljust(6)
            + self.auth_code[:6].ljust(6)
            + self.reason[:4].ljust(4)
        )
        body = (
            self.pos_number.zfill(2)[:2]
            + self.status
            + f"{self.amount_minor:08d}"
            + "1"
            + report
            + currency_numeric(self.currency)
            + self.reference[:10].ljust(10)
        )
        assert len(body) == FULL_ANSWER_LENGTH
        return _encode(body)

    @classmethod
    def decode(cls, body: bytes) -> PaymentAnswer:
        text = _ascii(body)
        if len(text) == FULL_ANSWER_LENGTH:
            report, currency, private = text[12:67], text[67:70], text[70:80]
        elif len(text) == SHORT_ANSWER_LENGTH:
            report, currency, private = " " * 55, text[12:15], text[15:25]
        else:
            raise ConcertError(f"payment answer of {len(text)} chars")
        if text[2] not in "079" or not text[3:11].isdigit() or currency not in ISO_4217_ALPHA:
            raise ConcertError(f"malformed payment answer (status {text[2]!r})")
        return cls(
            status=text[2],
            amount_minor=int(text[3:11]),
            currency=ISO_4217_ALPHA[currency],
            pos_number=text[0:2],
            token=report[0:20].strip(),
            masked_pan=mask_pan(report[20:39].strip()),
            scheme=report[39:45].strip(),
            auth_code=report[45:51].strip(),
            reason=report[51:55].strip(),
            reference=private.strip(),
        )


DISPLAY_PREFIX = b"D"


def display_message(prompt: str) -> bytes:
    """A display message: the terminal tells the POS what it shows the customer."""
    return DISPLAY_PREFIX + prompt.encode("ascii")[:30]


def decode_display(body: bytes) -> str | None:
    """The prompt of a display message, None when `body` is not one."""
    if body.startswith(DISPLAY_PREFIX) and len(body) < SHORT_ANSWER_LENGTH:
        return _ascii(body[1:]).strip()
    return None


def _encode(text: str) -> bytes:
    try:
        return text.encode("ascii")
    except UnicodeEncodeError:
        raise ConcertError("message is not ASCII") from None


def _ascii(body: bytes) -> str:
    try:
        return body.decode("ascii")
    except UnicodeDecodeError:
        raise ConcertError("message is not ASCII") from None
