"""Driver interfaces: what the agent needs from a card terminal and a receipt printer.

The agent codes against these, not against Concert or ESC/POS, so a ZVT or nexo terminal (or
another printer language) is one more class implementing the same methods.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from tillstream.events.v1.common_pb2 import Money
from tillstream.events.v1.edge_pb2 import DeviceStatus, TerminalApproval, TerminalEvent

#: Callback for a terminal's prompts and outcomes; the agent publishes them on the bus.
TerminalEventSink = Callable[[TerminalEvent], None]
#: Callback for device health changes; the agent publishes them on the bus.
DeviceStatusSink = Callable[[DeviceStatus], None]


def now_ms() -> int:
    """Unix epoch milliseconds, UTC: the timestamps of edge.proto."""
    return int(time.time() * 1000)


class TerminalOutcome(StrEnum):
    """How a payment on the terminal ended; the values are TerminalEvent.event names."""

    APPROVED = "approved"
    DECLINED = "declined"
    WRONG_PIN = "wrong_pin"
    CARD_LOCKED = "card_locked"
    READ_FAILED = "read_failed"
    NO_ANSWER = "no_answer"


class TerminalPrompt(StrEnum):
    """What the terminal asks the customer to do; TerminalEvent.event names too."""

    INSERT_CARD = "insert_card"
    ENTER_PIN = "enter_pin"
    WRONG_PIN = "wrong_pin"
    REMOVE_CARD = "remove_card"


class PaymentMode(StrEnum):
    """What the terminal is asked to do with the amount."""

    DEBIT = "debit"  # a purchase
    REFUND = "refund"


@dataclass(frozen=True)
class TerminalResult:
    """The terminal's answer to one payment request.

    Card data is the terminal's token and masked PAN only: a driver masks anything that looks
    like a full PAN before it builds this, so it can go to logs, events and stores.
    """

    outcome: TerminalOutcome
    amount_minor: int
    currency: str
    sale_id: str
    token: str = ""
    masked_pan: str = ""
    scheme: str = ""
    auth_code: str = ""
    detail: str = ""

    @property
    def approved(self) -> bool:
        return self.outcome is TerminalOutcome.APPROVED


class PaymentTerminal(ABC):
    """A card terminal the agent can ask for a payment.

    `pay` blocks until the terminal answers (or the driver gives up and answers NO_ANSWER);
    the agent runs it in a worker thread. Prompts and outcomes go to the `events` callback as
    they happen, so HQ and the lane see "enter PIN" while the customer is at the keypad.
    """

    device_id: str

    @abstractmethod
    def pay(
        self,
        amount_minor: int,
        currency: str,
        sale_id: str,
        mode: PaymentMode = PaymentMode.DEBIT,
    ) -> TerminalResult:
        """Ask the terminal for `amount_minor` of `currency` and wait for its answer."""

    @abstractmethod
    def is_ready(self) -> bool:
        """Whether the terminal answers the line now (a cheap health probe)."""

    @abstractmethod
    def close(self) -> None:
        """Release the line."""


class PaperStatus(StrEnum):
    """A printer's paper as its real-time status says, or UNKNOWN when it does not answer."""

    OK = "ok"
    LOW = "paper_low"
    OUT = "paper_out"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ReceiptLine:
    """One line of a receipt with its layout."""

    text: str
    align: str = "left"  # left, center, right
    bold: bool = False
    double: bool = False  # double width and height

    def __post_init__(self) -> None:
        if self.align not in ("left", "center", "right"):
            raise ValueError(f"align must be left, center or right, not {self.align!r}")


@dataclass(frozen=True)
class Receipt:
    """What a printer prints: lines, the sale id as a barcode/QR code, then a cut."""

    receipt_number: str
    sale_id: str
    lines: tuple[ReceiptLine, ...]
    copy: bool = False
    qr: bool = True
    barcode: bool = False
    open_drawer: bool = False

    def __post_init__(self) -> None:
        # The sale id goes into a CODE128 barcode and a QR code: printable ASCII only.
        if not self.sale_id or not all(0x20 < ord(c) < 0x7F for c in self.sale_id):
            raise ValueError(f"sale id must be printable ASCII for its barcode: {self.sale_id!r}")

    def plain_text(self) -> list[str]:
        """The receipt's text lines as they read on paper (a COPY banner first when a copy)."""
        banner = ["*** COPY ***"] if self.copy else []
        return banner + [line.text for line in self.lines]


class ReceiptPrinter(ABC):
    """A receipt printer (with the cash drawer on its kick-out connector)."""

    device_id: str

    @abstractmethod
    def print_receipt(self, receipt: Receipt) -> None:
        """Send the whole receipt; raises `DeviceError` when the printer cannot be reached."""

    @abstractmethod
    def kick_drawer(self) -> None:
        """Pulse the cash drawer's solenoid."""

    @abstractmethod
    def paper_status(self) -> PaperStatus:
        """Ask the printer for its paper sensor; UNKNOWN when it does not answer in time."""

    @abstractmethod
    def close(self) -> None:
        """Release the line."""


class DeviceError(RuntimeError):
    """A device could not be reached or did not behave as its protocol says."""


def terminal_event(
    store_id: str, device_id: str, sale_id: str, event: str, detail: str = ""
) -> TerminalEvent:
    """A TerminalEvent stamped now."""
    return TerminalEvent(
        store_id=store_id,
        device_id=device_id,
        sale_id=sale_id,
        event=event,
        detail=detail,
        at_ms=now_ms(),
    )


def device_status(
    store_id: str, device_id: str, kind: str, status: str, detail: str = ""
) -> DeviceStatus:
    """A DeviceStatus stamped now."""
    return DeviceStatus(
        store_id=store_id,
        device_id=device_id,
        kind=kind,
        status=status,
        detail=detail,
        at_ms=now_ms(),
    )


def terminal_approval(
    result: TerminalResult,
    *,
    payment_id: str,
    store_id: str,
    lane_id: str,
    terminal_id: str,
    offline: bool,
) -> TerminalApproval:
    """The TerminalApproval event for an approved result: what payments records and forwards.

    Carries the terminal's token and masked PAN only (the result never holds a full PAN).
    """
    if not result.approved:
        raise ValueError(f"payment {payment_id} was not approved: {result.outcome}")
    return TerminalApproval(
        payment_id=payment_id,
        sale_id=result.sale_id,
        store_id=store_id,
        lane_id=lane_id,
        amount=Money(amount_minor=result.amount_minor, currency=result.currency),
        token=result.token,
        masked_pan=result.masked_pan,
        scheme=result.scheme,
        auth_code=result.auth_code,
        offline=offline,
        approved_at_ms=now_ms(),
        terminal_id=terminal_id,
    )
