"""Checkout's aggregates: the `Sale` a lane rings up, and `PriceEntry`, its price replica.

Money is integer minor units with the sale's ISO 4217 currency; never a float. Events that
become integration events carry the store id (and what else their public contract needs), so
that contracts.py can map each one without loading the aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

#: Namespace of PriceEntry ids: uuid5(PRICE_NAMESPACE, sku). Fixed forever: ids derive from it.
PRICE_NAMESPACE = UUID("6f1c3b5e-2a47-4d0e-9a51-3c2f8e7b9d10")

#: Bounds that keep every number inside the int32 fields of the public contracts.
MAX_LINE_NO = 9_999
MAX_QUANTITY = 99_999
MAX_UNIT_PRICE_MINOR = 100_000_000_00

OPEN = "open"
COMPLETED = "completed"


class SaleError(Exception):
    """Base of the errors a Sale raises when a command is refused."""


class SaleNotOpenError(SaleError):
    """The sale is completed: it takes no more lines or customers."""


class LineConflictError(SaleError):
    """A line number is reused with a different SKU or quantity."""


class InvalidLineError(SaleError):
    """A line with a bad number, quantity or price."""


class CurrencyMismatchError(SaleError):
    """An amount in a currency other than the sale's."""


class PriceEntryError(Exception):
    """A price replica entry cannot take this update."""


def check_currency(currency: str) -> None:
    """An ISO 4217 code is three upper-case letters."""
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()
            and currency.isupper()):
        raise CurrencyMismatchError(f"not an ISO 4217 currency code: {currency!r}")


@dataclass(frozen=True)
class Line:
    """One line of a sale, priced when it was added."""

    line_no: int
    sku: str
    quantity: int
    unit_price_minor: int

    @property
    def line_total_minor(self) -> int:
        # Line-level discounts will subtract here once promotions exist.
        return self.quantity * self.unit_price_minor

    def as_dict(self) -> dict[str, Any]:
        return {
            "line_no": self.line_no,
            "sku": self.sku,
            "quantity": self.quantity,
            "unit_price_minor": self.unit_price_minor,
            "line_total_minor": self.line_total_minor,
        }


@dataclass(frozen=True)
class Tender:
    """A captured payment counted towards a sale."""

    payment_id: str
    kind: str
    amount_minor: int

    def as_dict(self) -> dict[str, Any]:
        return {"payment_id": self.payment_id, "kind": self.kind,
                "amount_minor": self.amount_minor}


class Sale(Aggregate):
    """A basket rung up on one lane, paid by one or more tenders.

    Its id is a UUID the lane makes, so a retried `open` finds the same sale.
    """

    # The events, declared so their fields are explicit (and visible to type checkers).
    class Opened(Aggregate.Created):
        store_id: str
        lane_id: str
        cashier_id: str
        currency: str

    class LineAdded(Aggregate.Event):
        store_id: str
        currency: str
        line_no: int
        sku: str
        quantity: int
        unit_price_minor: int

    class CustomerAttached(Aggregate.Event):
        store_id: str
        customer_id: str

    class PaymentRecorded(Aggregate.Event):
        payment_id: str
        amount_minor: int
        tender: str

    class ExcessPaymentRecorded(Aggregate.Event):
        payment_id: str
        amount_minor: int
        tender: str

    class Completed(Aggregate.Event):
        completed_at: datetime
        store_id: str
        lane_id: str
        cashier_id: str
        currency: str
        customer_id: str
        total_minor: int
        lines: list[dict[str, Any]]
        tenders: list[dict[str, Any]]

    class TenderDeclined(Aggregate.Event):
        store_id: str
        payment_id: str
        amount_minor: int
        currency: str
        response_code: str

    @event(Opened)
    def __init__(
        self, id: UUID, store_id: str, lane_id: str, cashier_id: str, currency: str
    ) -> None:
        self.store_id = store_id
        self.lane_id = lane_id
        self.cashier_id = cashier_id
        self.currency = currency
        self.status = OPEN
        self.lines: dict[int, Line] = {}
        self.customer_id = ""
        self.tenders: dict[str, Tender] = {}
        #: payments that arrived after completion, kept so nothing paid goes unseen
        self.excess: dict[str, Tender] = {}
        self.declines: dict[str, str] = {}
        self.completed_at: datetime | None = None

    @staticmethod
    def check_open(store_id: str, lane_id: str, cashier_id: str, currency: str) -> None:
        """Guards of `Sale(...)`; call before constructing."""
        for name, value in (("store_id", store_id), ("lane_id", lane_id),
                            ("cashier_id", cashier_id)):
            if not isinstance(value, str) or not value:
                raise SaleError(f"{name} is required")
        # The store id is a token of every subject this sale publishes on.
        if any(c in store_id for c in ".*> \t\r\n"):
            raise SaleError(f"store_id {store_id!r} may not contain '.', '*', '>' or spaces")
        check_currency(currency)

    # -- totals -----------------------------------------------------------------------------

    @property
    def subtotal_minor(self) -> int:
        return sum(line.line_total_minor for line in self.lines.values())

    @property
    def total_minor(self) -> int:
        # Taxes and basket promotions will adjust the subtotal here; for now they are zero.
        return self.subtotal_minor

    @property
    def paid_minor(self) -> int:
        return sum(t.amount_minor for t in self.tenders.values())

    @property
    def due_minor(self) -> int:
        return max(self.total_minor - self.paid_minor, 0)

    # -- lines ------------------------------------------------------------------------------

    def add_line(self, line_no: int, sku: str, quantity: int, unit_price_minor: int) -> Line:
        """Add a priced line; the same line again is a no-op (the lane retries)."""
        existing = self.lines.get(line_no)
        if existing is not None:
            if existing.sku == sku and existing.quantity == quantity:
                return existing
            raise LineConflictError(
                f"line {line_no} is already {existing.quantity} x {existing.sku}"
            )
        if self.status != OPEN:
            raise SaleNotOpenError(f"sale {self.id} is {self.status}")
        if not _is_int(line_no) or not 1 <= line_no <= MAX_LINE_NO:
            raise InvalidLineError(f"line_no must be 1..{MAX_LINE_NO}")
        if not isinstance(sku, str) or not sku:
            raise InvalidLineError("sku is required")
        if not _is_int(quantity) or not 1 <= quantity <= MAX_QUANTITY:
            raise InvalidLineError(f"quantity must be 1..{MAX_QUANTITY}")
        if not _is_int(unit_price_minor) or not 0 <= unit_price_minor <= MAX_UNIT_PRICE_MINOR:
            raise InvalidLineError("unit price must be a non-negative integer of minor units")
        self._line_added(
            store_id=self.store_id, currency=self.currency, line_no=line_no, sku=sku,
            quantity=quantity, unit_price_minor=unit_price_minor,
        )
        return self.lines[line_no]

    @event(LineAdded)
    def _line_added(
        self, store_id: str, currency: str, line_no: int, sku: str, quantity: int,
        unit_price_minor: int,
    ) -> None:
        self.lines[line_no] = Line(line_no, sku, quantity, unit_price_minor)

    # -- customer ---------------------------------------------------------------------------

    def attach_customer(self, customer_id: str) -> None:
        """Attach (or replace, while open) the customer; the same one again is a no-op."""
        if not isinstance(customer_id, str) or not customer_id:
            raise SaleError("customer_id is required")
        if customer_id == self.customer_id:
            return
        if self.status != OPEN:
            raise SaleNotOpenError(f"sale {self.id} is {self.status}")
        self._customer_attached(store_id=self.store_id, customer_id=customer_id)

    @event(CustomerAttached)
    def _customer_attached(self, store_id: str, customer_id: str) -> None:
        self.customer_id = customer_id

    # -- tenders ----------------------------------------------------------------------------

    def record_payment(
        self, payment_id: str, amount_minor: int, currency: str, tender: str,
        at: datetime | None = None,
    ) -> None:
        """Count a captured payment; completes the sale once it is paid in full.

        Idempotent per payment id. A payment for a completed sale is recorded as excess, not
        refused: the money was taken, and a refund needs to see it.
        """
        if payment_id in self.tenders or payment_id in self.excess:
            return
        if currency != self.currency:
            raise CurrencyMismatchError(
                f"payment {payment_id} is in {currency}, sale {self.id} in {self.currency}"
            )
        if not _is_int(amount_minor) or amount_minor <= 0:
            raise SaleError("a payment amount is a positive integer of minor units")
        if self.status != OPEN:
            self._excess_payment_recorded(payment_id=payment_id, amount_minor=amount_minor,
                                          tender=tender)
            return
        self._payment_recorded(payment_id=payment_id, amount_minor=amount_minor, tender=tender)
        # An empty basket is never complete: a payment before any line waits for the lines.
        if self.lines and self.paid_minor >= self.total_minor:
            self._completed(
                completed_at=at or datetime.now(UTC),
                store_id=self.store_id,
                lane_id=self.lane_id,
                cashier_id=self.cashier_id,
                currency=self.currency,
                customer_id=self.customer_id,
                total_minor=self.total_minor,
                lines=[line.as_dict() for line in self.lines.values()],
                tenders=[tender.as_dict() for tender in self.tenders.values()],
            )

    @event(PaymentRecorded)
    def _payment_recorded(self, payment_id: str, amount_minor: int, tender: str) -> None:
        self.tenders[payment_id] = Tender(payment_id, tender, amount_minor)

    @event(ExcessPaymentRecorded)
    def _excess_payment_recorded(self, payment_id: str, amount_minor: int, tender: str) -> None:
        self.excess[payment_id] = Tender(payment_id, tender, amount_minor)

    @event(Completed)
    def _completed(
        self, completed_at: datetime, store_id: str, lane_id: str, cashier_id: str,
        currency: str, customer_id: str, total_minor: int, lines: list[dict[str, Any]],
        tenders: list[dict[str, Any]],
    ) -> None:
        # The event carries the whole sale as completed: it is what SaleCompleted publishes.
        self.status = COMPLETED
        self.completed_at = completed_at

    def record_decline(
        self, payment_id: str, amount_minor: int, currency: str, response_code: str
    ) -> None:
        """Note a declined tender (the lane asks for another); idempotent per payment id."""
        if payment_id in self.declines or payment_id in self.tenders:
            return
        if not _is_int(amount_minor) or amount_minor < 0:
            raise SaleError("a declined amount is a non-negative integer of minor units")
        self._tender_declined(
            store_id=self.store_id, payment_id=payment_id, amount_minor=amount_minor,
            currency=currency, response_code=response_code,
        )

    @event(TenderDeclined)
    def _tender_declined(
        self, store_id: str, payment_id: str, amount_minor: int, currency: str,
        response_code: str,
    ) -> None:
        self.declines[payment_id] = response_code


def price_entry_id(sku: str) -> UUID:
    """The id of the price replica entry of a SKU."""
    return uuid5(PRICE_NAMESPACE, sku)


class PriceEntry(Aggregate):
    """Checkout's copy of one catalog price, so lanes can sell while inventory is down."""

    @event("Registered")
    def __init__(
        self, id: UUID, sku: str, name: str, price_minor: int, currency: str, active: bool
    ) -> None:
        self.sku = sku
        self.name = name
        self.price_minor = price_minor
        self.currency = currency
        self.active = active

    @classmethod
    def register(
        cls, sku: str, name: str, price_minor: int, currency: str, active: bool
    ) -> PriceEntry:
        """A new entry, its id derived from the SKU."""
        _check_price(sku, price_minor, currency)
        return cls(id=price_entry_id(sku), sku=sku, name=name, price_minor=price_minor,
                   currency=currency, active=active)

    def update(self, name: str, price_minor: int, currency: str, active: bool) -> None:
        """Take the catalog's latest values; an unchanged upsert records nothing."""
        _check_price(self.sku, price_minor, currency)
        if (name, price_minor, currency, active) == (
            self.name, self.price_minor, self.currency, self.active
        ):
            return
        self._updated(name=name, price_minor=price_minor, currency=currency, active=active)

    @event("Updated")
    def _updated(self, name: str, price_minor: int, currency: str, active: bool) -> None:
        self.name = name
        self.price_minor = price_minor
        self.currency = currency
        self.active = active


def _check_price(sku: str, price_minor: int, currency: str) -> None:
    if not sku:
        raise PriceEntryError("sku is required")
    if not _is_int(price_minor) or not 0 <= price_minor <= MAX_UNIT_PRICE_MINOR:
        raise PriceEntryError(f"price of {sku} out of range: {price_minor!r}")
    try:
        check_currency(currency)
    except CurrencyMismatchError as exc:
        raise PriceEntryError(str(exc)) from exc


def _is_int(value: object) -> bool:
    # bool is an int in Python; a JSON `true` is never a quantity.
    return isinstance(value, int) and not isinstance(value, bool)
