"""Checkout's aggregates: the `Sale` a lane rings up, `PriceEntry` (its price replica), and the
cash side of a lane: `Cashier` (a PIN login), `Shift` (a cashier's drawer from float to Z report)
and `LaneState` (which shift, if any, is open on a lane).

Money is integer minor units with the sale's ISO 4217 currency; never a float. Events that
become integration events carry the store id (and what else their public contract needs), so
that contracts.py can map each one without loading the aggregate.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate, event

from checkout.pricing import (
    DISCOUNT_KINDS,
    PERCENT,
    Discount,
    PriceLine,
    Pricing,
    PricingError,
    Promotion,
    TaxRate,
    allocate,
    price_basket,
)

#: Namespace of PriceEntry ids: uuid5(PRICE_NAMESPACE, sku). Fixed forever: ids derive from it.
PRICE_NAMESPACE = UUID("6f1c3b5e-2a47-4d0e-9a51-3c2f8e7b9d10")

#: Bounds that keep every number inside the int32 fields of the public contracts.
MAX_LINE_NO = 9_999
MAX_QUANTITY = 99_999
MAX_UNIT_PRICE_MINOR = 100_000_000_00

OPEN = "open"
COMPLETED = "completed"
SUSPENDED = "suspended"
VOIDED = "voided"

CASH = "cash"
#: The tender kinds of the public contract (SaleTender.kind).
TENDER_KINDS = ("card", CASH, "gift_card", "loyalty", "wallet")


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


class ApprovalRequiredError(SaleError):
    """A discount above the approval threshold needs a supervisor id."""


class PermissionRequiredError(SaleError):
    """A price override needs the price-override permission."""


class SaleSuspendedError(SaleError):
    """A suspended (parked) sale takes no tenders and no basket changes until resumed."""


class InvalidTenderError(SaleError):
    """A tender of an unknown kind, a bad amount, or one that overpays without being cash."""


class ReturnError(SaleError):
    """A return that asks for more than was sold and not yet returned, or bad return lines."""


@dataclass(frozen=True)
class DiscountApproval:
    """Discounts above these need a supervisor: a percentage above `max_percent_bp`, or an
    amount above `max_amount_minor` (a percentage's amount is also checked against it)."""

    max_percent_bp: int = 20_00
    max_amount_minor: int = 50_00


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
    tax_class: str = ""
    #: the catalog price when the unit price was overridden (0: not overridden)
    list_price_minor: int = 0

    @property
    def line_total_minor(self) -> int:
        # Before discounts and taxes: the sale's `pricing` has what the customer pays.
        return self.quantity * self.unit_price_minor

    def as_dict(self) -> dict[str, Any]:
        return {
            "line_no": self.line_no,
            "sku": self.sku,
            "quantity": self.quantity,
            "unit_price_minor": self.unit_price_minor,
            "line_total_minor": self.line_total_minor,
            "tax_class": self.tax_class,
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
        shift_id: str

        #: v2 added shift_id; sales opened before shifts existed have none.
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["shift_id"] = ""

    class LineAdded(Aggregate.Event):
        store_id: str
        currency: str
        line_no: int
        sku: str
        quantity: int
        unit_price_minor: int
        tax_class: str

        #: v2 added tax_class; lines added before taxes existed have none (untaxed).
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["tax_class"] = ""

    class LineRemoved(Aggregate.Event):
        store_id: str
        line_no: int
        reason: str

    class LineQuantityChanged(Aggregate.Event):
        store_id: str
        line_no: int
        quantity: int

    class PriceOverridden(Aggregate.Event):
        store_id: str
        line_no: int
        unit_price_minor: int
        reason: str
        authorized_by: str

    class LineDiscountApplied(Aggregate.Event):
        store_id: str
        line_no: int
        kind: str
        value: int
        reason: str
        supervisor_id: str

    class BasketDiscountApplied(Aggregate.Event):
        store_id: str
        discount_id: str
        kind: str
        value: int
        reason: str
        supervisor_id: str

    class PricingContextSet(Aggregate.Event):
        """The promotions and tax rates in effect, copied from the replicas when the basket
        changed: the sale's total is a function of its own events only."""

        promotions: list[dict[str, Any]]
        tax_rates: list[dict[str, Any]]

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
        subtotal_minor: int
        discount_minor: int
        tax_minor: int
        taxes: list[dict[str, Any]]
        discounts: list[dict[str, Any]]
        change_minor: int
        receipt_number: str
        offline: bool

        #: v2 added the pricing breakdown; earlier sales had no discounts or taxes.
        #: v3 added change, receipt number and the offline flag.
        class_version = 3

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["subtotal_minor"] = state["total_minor"]
            state["discount_minor"] = 0
            state["tax_minor"] = 0
            state["taxes"] = []
            state["discounts"] = []

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["change_minor"] = 0
            state["receipt_number"] = ""
            state["offline"] = False

    class Ingested(Aggregate.Created):
        """A sale the store rang up offline, as the store computed it: created complete in one
        event (no open/line/tender events to write, read back and relay), published as
        SaleCompleted(offline=true)."""

        store_id: str
        lane_id: str
        cashier_id: str
        currency: str
        customer_id: str
        completed_at: datetime
        total_minor: int
        lines: list[dict[str, Any]]
        tenders: list[dict[str, Any]]
        subtotal_minor: int
        discount_minor: int
        tax_minor: int
        taxes: list[dict[str, Any]]
        change_minor: int
        receipt_number: str

        def apply(self, aggregate: Any) -> None:
            # Created.mutate ran __init__ with the fields it takes (an open sale, no shift).
            aggregate._take_completion(
                completed_at=self.completed_at, customer_id=self.customer_id,
                total_minor=self.total_minor, lines=self.lines, tenders=self.tenders,
                subtotal_minor=self.subtotal_minor, discount_minor=self.discount_minor,
                tax_minor=self.tax_minor, taxes=self.taxes, discounts=[],
                change_minor=self.change_minor, receipt_number=self.receipt_number,
                offline=True,
            )

    class Voided(Aggregate.Event):
        voided_at: datetime
        store_id: str
        lane_id: str
        cashier_id: str
        currency: str
        customer_id: str
        tenders: list[dict[str, Any]]
        reason: str
        approved_by: str

    class Suspended(Aggregate.Event):
        store_id: str
        lane_id: str

    class Resumed(Aggregate.Event):
        store_id: str
        lane_id: str
        cashier_id: str
        shift_id: str

    class ReturnRecorded(Aggregate.Event):
        """Lines of this sale returned by a Return: [[line_no, quantity], ...], and what each
        original tender refunded ([[payment_id, amount_minor], ...])."""

        return_id: str
        lines: list[list[int]]
        refunds: list[list[Any]]

    class TenderDeclined(Aggregate.Event):
        store_id: str
        payment_id: str
        amount_minor: int
        currency: str
        response_code: str

    class TenderRequested(Aggregate.Event):
        """A card, wallet, gift card or loyalty tender the lane asked for under `key`, before
        checkout forwarded it to payments or crm (a retry under the key is forwarded again,
        and payments or crm answer it with the first answer)."""

        key: str
        kind: str
        amount_minor: int

    class LoyaltyRecorded(Aggregate.Event):
        """What crm credited the sale's customer for it, and their balance after."""

        customer_id: str
        points: int
        balance: int

    @event(Opened)
    def __init__(
        self, id: UUID, store_id: str, lane_id: str, cashier_id: str, currency: str,
        shift_id: str = "",
    ) -> None:
        self.store_id = store_id
        self.lane_id = lane_id
        self.cashier_id = cashier_id
        self.currency = currency
        #: the shift (str of its UUID) whose drawer this sale's cash goes into
        self.shift_id = shift_id
        self.status = OPEN
        self.lines: dict[int, Line] = {}
        self.customer_id = ""
        self.tenders: dict[str, Tender] = {}
        #: payments that arrived after completion, kept so nothing paid goes unseen
        self.excess: dict[str, Tender] = {}
        self.declines: dict[str, str] = {}
        self.completed_at: datetime | None = None
        #: line numbers removed: never reused, so a late retry cannot resurrect a line
        self.removed: set[int] = set()
        self.line_discounts: dict[int, Discount] = {}
        self.basket_discounts: dict[str, Discount] = {}
        self.promotions: tuple[Promotion, ...] = ()
        self.tax_rates: dict[str, TaxRate] = {}
        self.change_minor = 0
        self.receipt_number = ""
        self.offline = False
        #: line_no -> (quantity, gross_minor, tax_minor) as sold: what returns refund from
        self.sold: dict[int, tuple[int, int, int]] = {}
        #: line_no -> quantity returned so far, over every return
        self.returned: dict[int, int] = {}
        #: payment_id -> amount refunded so far
        self.refunded: dict[str, int] = {}
        self.return_ids: set[str] = set()
        #: lane key -> (kind, amount_minor) of the tenders forwarded to payments or crm
        self.requested: dict[str, tuple[str, int]] = {}
        #: points crm credited for this sale and the balance after (None until known)
        self.loyalty_points: int | None = None
        self.loyalty_balance: int | None = None

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
    def pricing(self) -> Pricing:
        """Lines, discounts, promotions and taxes priced (see checkout.pricing)."""
        return price_basket(
            [PriceLine(ln.line_no, ln.sku, ln.quantity, ln.unit_price_minor, ln.tax_class)
             for ln in self.lines.values()],
            self.line_discounts, list(self.basket_discounts.values()), self.promotions,
            self.tax_rates,
        )

    @property
    def subtotal_minor(self) -> int:
        return sum(line.line_total_minor for line in self.lines.values())

    @property
    def total_minor(self) -> int:
        return self.pricing.total_minor

    @property
    def paid_minor(self) -> int:
        return sum(t.amount_minor for t in self.tenders.values())

    @property
    def due_minor(self) -> int:
        return max(self.total_minor - self.paid_minor, 0)

    # -- lines ------------------------------------------------------------------------------

    def add_line(
        self, line_no: int, sku: str, quantity: int, unit_price_minor: int, tax_class: str = ""
    ) -> Line:
        """Add a priced line; the same line again is a no-op (the lane retries)."""
        if line_no in self.removed:
            raise LineConflictError(f"line {line_no} was removed; use a new line number")
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
            quantity=quantity, unit_price_minor=unit_price_minor, tax_class=tax_class or "",
        )
        return self.lines[line_no]

    @event(LineAdded)
    def _line_added(
        self, store_id: str, currency: str, line_no: int, sku: str, quantity: int,
        unit_price_minor: int, tax_class: str,
    ) -> None:
        self.lines[line_no] = Line(line_no, sku, quantity, unit_price_minor, tax_class)

    def _open_line(self, line_no: int) -> Line:
        if self.status != OPEN:
            raise SaleNotOpenError(f"sale {self.id} is {self.status}")
        line = self.lines.get(line_no) if _is_int(line_no) else None
        if line is None:
            raise InvalidLineError(f"sale {self.id} has no line {line_no!r}")
        return line

    def remove_line(self, line_no: int, reason: str = "") -> None:
        """Remove a line (a void of one item); removing a removed line again is a no-op."""
        if line_no in self.removed:
            return
        self._open_line(line_no)
        self._line_removed(store_id=self.store_id, line_no=line_no, reason=reason or "")

    @event(LineRemoved)
    def _line_removed(self, store_id: str, line_no: int, reason: str) -> None:
        del self.lines[line_no]
        self.line_discounts.pop(line_no, None)
        self.removed.add(line_no)

    def change_line_quantity(self, line_no: int, quantity: int) -> Line:
        """Set a line's quantity; the same quantity again is a no-op."""
        line = self._open_line(line_no)
        if not _is_int(quantity) or not 1 <= quantity <= MAX_QUANTITY:
            raise InvalidLineError(f"quantity must be 1..{MAX_QUANTITY}")
        if quantity != line.quantity:
            self._line_quantity_changed(store_id=self.store_id, line_no=line_no,
                                        quantity=quantity)
        return self.lines[line_no]

    @event(LineQuantityChanged)
    def _line_quantity_changed(self, store_id: str, line_no: int, quantity: int) -> None:
        line = self.lines[line_no]
        self.lines[line_no] = Line(line_no, line.sku, quantity, line.unit_price_minor,
                                   line.tax_class, line.list_price_minor)

    def override_price(
        self, line_no: int, unit_price_minor: int, reason: str, authorized_by: str,
        permitted: bool,
    ) -> Line:
        """Set a line's unit price by hand: needs the price-override permission and a reason."""
        line = self._open_line(line_no)
        if not permitted:
            raise PermissionRequiredError("a price override needs the price-override permission")
        if not isinstance(authorized_by, str) or not authorized_by:
            raise PermissionRequiredError("a price override names who authorized it")
        if not isinstance(reason, str) or not reason:
            raise SaleError("a price override needs a reason")
        if not _is_int(unit_price_minor) or not 0 <= unit_price_minor <= MAX_UNIT_PRICE_MINOR:
            raise InvalidLineError("unit price must be a non-negative integer of minor units")
        if unit_price_minor != line.unit_price_minor:
            self._price_overridden(store_id=self.store_id, line_no=line_no,
                                   unit_price_minor=unit_price_minor, reason=reason,
                                   authorized_by=authorized_by)
        return self.lines[line_no]

    @event(PriceOverridden)
    def _price_overridden(
        self, store_id: str, line_no: int, unit_price_minor: int, reason: str,
        authorized_by: str,
    ) -> None:
        line = self.lines[line_no]
        self.lines[line_no] = Line(line_no, line.sku, line.quantity, unit_price_minor,
                                   line.tax_class,
                                   line.list_price_minor or line.unit_price_minor)

    # -- discounts and the pricing context ----------------------------------------------------

    @staticmethod
    def _discount(kind: str, value: int, reason: str) -> Discount:
        if kind not in DISCOUNT_KINDS:
            raise SaleError(f"a discount kind is one of {DISCOUNT_KINDS}")
        if not isinstance(reason, str) or not reason:
            raise SaleError("a discount needs a reason")
        try:
            return Discount(kind, value, reason)
        except PricingError as exc:
            raise SaleError(str(exc)) from exc

    @staticmethod
    def _check_approval(
        discount: Discount, amount_off: int, supervisor_id: str, approval: DiscountApproval
    ) -> None:
        above = amount_off > approval.max_amount_minor or (
            discount.kind == PERCENT and discount.value > approval.max_percent_bp)
        if above and not supervisor_id:
            raise ApprovalRequiredError(
                f"a discount above {approval.max_percent_bp} bp or "
                f"{approval.max_amount_minor} minor units needs a supervisor"
            )

    def apply_line_discount(
        self, line_no: int, kind: str, value: int, reason: str, supervisor_id: str = "",
        approval: DiscountApproval | None = None,
    ) -> None:
        """Set the line's manual discount (replacing any); the same one again is a no-op."""
        line = self._open_line(line_no)
        discount = self._discount(kind, value, reason)
        if self.line_discounts.get(line_no) == discount:
            return
        after_promo = self.pricing.by_line[line_no]
        left = after_promo.extended_minor - after_promo.promotion_minor
        self._check_approval(discount, discount.off(left), supervisor_id,
                             approval or DiscountApproval())
        self._line_discount_applied(store_id=self.store_id, line_no=line.line_no, kind=kind,
                                    value=value, reason=reason,
                                    supervisor_id=supervisor_id or "")

    @event(LineDiscountApplied)
    def _line_discount_applied(
        self, store_id: str, line_no: int, kind: str, value: int, reason: str,
        supervisor_id: str,
    ) -> None:
        self.line_discounts[line_no] = Discount(kind, value, reason)

    def apply_basket_discount(
        self, discount_id: str, kind: str, value: int, reason: str, supervisor_id: str = "",
        approval: DiscountApproval | None = None,
    ) -> None:
        """Add a manual basket discount under the lane's `discount_id` (a retry is a no-op)."""
        if self.status != OPEN:
            raise SaleNotOpenError(f"sale {self.id} is {self.status}")
        if not isinstance(discount_id, str) or not discount_id:
            raise SaleError("discount_id is required")
        discount = self._discount(kind, value, reason)
        existing = self.basket_discounts.get(discount_id)
        if existing is not None:
            if existing == discount:
                return
            raise LineConflictError(f"discount {discount_id} was applied with other details")
        self._check_approval(discount, discount.off(self.total_minor), supervisor_id,
                             approval or DiscountApproval())
        self._basket_discount_applied(store_id=self.store_id, discount_id=discount_id,
                                      kind=kind, value=value, reason=reason,
                                      supervisor_id=supervisor_id or "")

    @event(BasketDiscountApplied)
    def _basket_discount_applied(
        self, store_id: str, discount_id: str, kind: str, value: int, reason: str,
        supervisor_id: str,
    ) -> None:
        self.basket_discounts[discount_id] = Discount(kind, value, reason)

    def set_pricing_context(
        self, promotions: list[Promotion], tax_rates: dict[str, TaxRate]
    ) -> None:
        """Take the promotions and tax rates in effect now; unchanged, it records nothing."""
        if self.status != OPEN:
            return
        promos = tuple(sorted(promotions, key=lambda p: p.promotion_id))
        if promos == self.promotions and tax_rates == self.tax_rates:
            return
        self._pricing_context_set(
            promotions=[p.as_dict() for p in promos],
            tax_rates=[tax_rates[k].as_dict() for k in sorted(tax_rates)],
        )

    @event(PricingContextSet)
    def _pricing_context_set(
        self, promotions: list[dict[str, Any]], tax_rates: list[dict[str, Any]]
    ) -> None:
        self.promotions = tuple(Promotion.from_dict(p) for p in promotions)
        self.tax_rates = {t["tax_class"]: TaxRate.from_dict(t) for t in tax_rates}

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
        at: datetime | None = None, next_receipt: Callable[[], str] | None = None,
    ) -> None:
        """Count a captured payment; completes the sale once it is paid in full.

        Idempotent per payment id. A payment for a completed (or voided) sale is recorded as
        excess, not refused: the money was taken, and a refund needs to see it. A payment
        for a suspended sale counts, but the sale completes only once resumed.
        `next_receipt` numbers the receipt when this payment completes the sale.
        """
        if payment_id in self.tenders or payment_id in self.excess:
            return
        if currency != self.currency:
            raise CurrencyMismatchError(
                f"payment {payment_id} is in {currency}, sale {self.id} in {self.currency}"
            )
        if not _is_int(amount_minor) or amount_minor <= 0:
            raise SaleError("a payment amount is a positive integer of minor units")
        if self.status not in (OPEN, SUSPENDED):
            self._excess_payment_recorded(payment_id=payment_id, amount_minor=amount_minor,
                                          tender=tender)
            return
        self._payment_recorded(payment_id=payment_id, amount_minor=amount_minor, tender=tender)
        self._complete_if_paid(at, next_receipt)

    def check_tender(self, kind: str, amount_minor: int) -> None:
        """Guards of a tender request: an open sale with something due, a known kind, a
        positive amount, and no overpayment unless the tender is cash (which gives change)."""
        if self.status == SUSPENDED:
            raise SaleSuspendedError(f"sale {self.id} is suspended: resume it first")
        if self.status != OPEN:
            raise SaleNotOpenError(f"sale {self.id} is {self.status}")
        if kind not in TENDER_KINDS:
            raise InvalidTenderError(f"a tender kind is one of {TENDER_KINDS}, not {kind!r}")
        if not _is_int(amount_minor) or not 0 < amount_minor <= MAX_UNIT_PRICE_MINOR:
            raise InvalidTenderError("a tender amount is a positive integer of minor units")
        if not self.lines:
            raise InvalidTenderError(f"sale {self.id} has no lines to pay for")
        if kind != CASH and amount_minor > self.due_minor:
            raise InvalidTenderError(
                f"only cash may overpay: {amount_minor} {kind} against {self.due_minor} due"
            )

    def tender_cash(
        self, key: str, amount_minor: int, next_receipt: Callable[[], str] | None = None,
        at: datetime | None = None,
    ) -> Tender:
        """Take cash (idempotent per the lane's key); completes the sale when it covers the
        total, with the change due computed (cash is the one tender that may overpay)."""
        if not isinstance(key, str) or not key:
            raise InvalidTenderError("a cash tender needs an idempotency key")
        payment_id = f"cash:{key}"
        done = self.tenders.get(payment_id) or self.excess.get(payment_id)
        if done is not None:
            if done.amount_minor != amount_minor:
                raise LineConflictError(f"cash tender {key} was {done.amount_minor}")
            return done
        self.check_tender(CASH, amount_minor)
        self._payment_recorded(payment_id=payment_id, amount_minor=amount_minor, tender=CASH)
        self._complete_if_paid(at, next_receipt)
        return self.tenders[payment_id]

    @property
    def cash_minor(self) -> int:
        """Cash tendered on this sale (before change)."""
        return sum(t.amount_minor for t in self.tenders.values() if t.kind == CASH)

    def _complete_if_paid(
        self, at: datetime | None, next_receipt: Callable[[], str] | None
    ) -> None:
        # An empty basket is never complete: a payment before any line waits for the lines.
        if self.status != OPEN or not self.lines or self.paid_minor < self.total_minor:
            return
        pricing = self.pricing
        total = pricing.total_minor
        # Only cash gives change; a card that overpaid (it should not) is not given back.
        change = min(self.cash_minor, self.paid_minor - total)
        self._completed(
            completed_at=at or datetime.now(UTC),
            store_id=self.store_id,
            lane_id=self.lane_id,
            cashier_id=self.cashier_id,
            currency=self.currency,
            customer_id=self.customer_id,
            total_minor=total,
            lines=[line.as_dict() for line in self.lines.values()],
            tenders=[tender.as_dict() for tender in self.tenders.values()],
            subtotal_minor=pricing.subtotal_minor,
            discount_minor=pricing.discount_minor,
            tax_minor=pricing.tax_minor,
            taxes=[{"tax_class": t.tax_class, "name": t.name, "rate_bp": t.rate_bp,
                    "mode": t.mode, "taxable_minor": t.base_minor,
                    "amount_minor": t.tax_minor} for t in pricing.taxes],
            discounts=[{"label": d.label, "kind": d.kind, "line_no": d.line_no,
                        "promotion_id": d.promotion_id, "amount_minor": d.amount_minor}
                       for d in pricing.discounts],
            change_minor=change,
            receipt_number=next_receipt() if next_receipt is not None else "",
            offline=False,
        )

    @property
    def completed_summary(self) -> dict[str, Any]:
        """Totals, taxes and discounts as the Completed event recorded them."""
        return dict(self._summary)

    @classmethod
    def ingest_offline(
        cls, sale_id: UUID, store_id: str, lane_id: str, cashier_id: str, currency: str,
        lines: list[dict[str, Any]], tenders: list[dict[str, Any]], subtotal_minor: int,
        discount_minor: int, tax_minor: int, total_minor: int, change_minor: int,
        taxes: list[dict[str, Any]], receipt_number: str, completed_at: datetime,
        customer_id: str = "",
    ) -> Sale:
        """A sale the edge agent rang up offline, taken as the store computed it: created
        completed (offline) by one Ingested event, so returns and reports see it like any
        other."""
        cls.check_open(store_id, lane_id, cashier_id, currency)
        if not lines:
            raise InvalidLineError("an offline sale has lines")
        for amount in (subtotal_minor, discount_minor, tax_minor, total_minor, change_minor):
            if not _is_int(amount) or amount < 0:
                raise SaleError("offline sale amounts are non-negative integers")
        paid = sum(t["amount_minor"] for t in tenders)
        if paid != total_minor + change_minor:
            raise SaleError(f"offline sale tenders {paid} != total {total_minor} "
                            f"+ change {change_minor}")
        for t in tenders:
            if t["kind"] not in TENDER_KINDS or not t["payment_id"]:
                raise InvalidTenderError(f"bad offline tender {t!r}")
        return cls._create(
            cls.Ingested, id=sale_id, store_id=store_id, lane_id=lane_id,
            cashier_id=cashier_id, currency=currency, customer_id=customer_id,
            completed_at=completed_at, total_minor=total_minor, lines=lines, tenders=tenders,
            subtotal_minor=subtotal_minor, discount_minor=discount_minor, tax_minor=tax_minor,
            taxes=taxes, change_minor=change_minor, receipt_number=receipt_number,
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
        tenders: list[dict[str, Any]], subtotal_minor: int, discount_minor: int,
        tax_minor: int, taxes: list[dict[str, Any]], discounts: list[dict[str, Any]],
        change_minor: int = 0, receipt_number: str = "", offline: bool = False,
    ) -> None:
        # The event carries the whole sale as completed: it is what SaleCompleted publishes.
        self._take_completion(
            completed_at=completed_at, customer_id=customer_id, total_minor=total_minor,
            lines=lines, tenders=tenders, subtotal_minor=subtotal_minor,
            discount_minor=discount_minor, tax_minor=tax_minor, taxes=taxes,
            discounts=discounts, change_minor=change_minor, receipt_number=receipt_number,
            offline=offline,
        )

    def _take_completion(
        self, completed_at: datetime, customer_id: str, total_minor: int,
        lines: list[dict[str, Any]], tenders: list[dict[str, Any]], subtotal_minor: int,
        discount_minor: int, tax_minor: int, taxes: list[dict[str, Any]],
        discounts: list[dict[str, Any]], change_minor: int, receipt_number: str,
        offline: bool,
    ) -> None:
        """State of a completed sale, from a Completed event or (offline) an Ingested one."""
        self.status = COMPLETED
        self.completed_at = completed_at
        self._summary = {
            "subtotal_minor": subtotal_minor, "discount_minor": discount_minor,
            "tax_minor": tax_minor, "total_minor": total_minor, "taxes": list(taxes),
            "discounts": list(discounts),
        }
        self.change_minor = change_minor
        self.receipt_number = receipt_number
        self.offline = offline
        if offline:
            # The store priced it: lines and tenders come from the event, and each line's
            # share of the total and of the tax is allocated pro rata to its amount.
            self.customer_id = customer_id
            self.lines = {
                ln["line_no"]: Line(ln["line_no"], ln["sku"], ln["quantity"],
                                    ln["unit_price_minor"], "")
                for ln in lines
            }
            self.tenders = {t["payment_id"]: Tender(t["payment_id"], t["kind"],
                                                    t["amount_minor"]) for t in tenders}
            order = sorted(self.lines)
            weights = [self.lines[n].line_total_minor for n in order]
            gross = allocate(total_minor, weights)
            tax = allocate(tax_minor, weights)
            self.sold = {n: (self.lines[n].quantity, g, t)
                         for n, g, t in zip(order, gross, tax, strict=True)}
        else:
            priced = self.pricing.by_line
            self.sold = {n: (ln.quantity, priced[n].gross_minor, priced[n].tax_minor)
                         for n, ln in self.lines.items()}

    # -- void, suspend, resume --------------------------------------------------------------

    def void(self, reason: str, approved_by: str = "", at: datetime | None = None) -> None:
        """Void the whole sale before completion; what was paid is listed to be given back.
        Whether the void needs a supervisor is the application's call (it checks the PIN)."""
        if self.status not in (OPEN, SUSPENDED):
            raise SaleNotOpenError(f"sale {self.id} is {self.status}: it cannot be voided")
        if not isinstance(reason, str) or not reason.strip():
            raise SaleError("a void needs a reason")
        self._voided(
            voided_at=at or datetime.now(UTC), store_id=self.store_id, lane_id=self.lane_id,
            cashier_id=self.cashier_id, currency=self.currency, customer_id=self.customer_id,
            tenders=[t.as_dict() for t in self.tenders.values()], reason=reason.strip(),
            approved_by=approved_by or "",
        )

    @event(Voided)
    def _voided(
        self, voided_at: datetime, store_id: str, lane_id: str, cashier_id: str,
        currency: str, customer_id: str, tenders: list[dict[str, Any]], reason: str,
        approved_by: str,
    ) -> None:
        self.status = VOIDED

    def suspend(self) -> None:
        """Park the basket; it takes no tenders until resumed. A sale with tenders already
        paid cannot be parked (the money would wait on no lane). Parking again: a no-op."""
        if self.status == SUSPENDED:
            return
        if self.status != OPEN:
            raise SaleNotOpenError(f"sale {self.id} is {self.status}")
        if self.tenders:
            raise SaleError(f"sale {self.id} has tenders paid: finish or void it")
        self._suspended(store_id=self.store_id, lane_id=self.lane_id)

    @event(Suspended)
    def _suspended(self, store_id: str, lane_id: str) -> None:
        self.status = SUSPENDED

    def resume(self, store_id: str, lane_id: str, cashier_id: str, shift_id: str) -> None:
        """Take the parked basket up on a lane of the same store (its shift's drawer then
        takes the sale's cash). Resuming an open sale on the lane it is on: a no-op."""
        if self.status == OPEN and self.lane_id == lane_id and self.shift_id == shift_id:
            return
        if self.status != SUSPENDED:
            raise SaleNotOpenError(f"sale {self.id} is {self.status}, not suspended")
        if store_id != self.store_id:
            raise SaleError(f"sale {self.id} belongs to store {self.store_id}")
        self._resumed(store_id=store_id, lane_id=lane_id, cashier_id=cashier_id,
                      shift_id=shift_id)

    @event(Resumed)
    def _resumed(self, store_id: str, lane_id: str, cashier_id: str, shift_id: str) -> None:
        self.status = OPEN
        self.lane_id = lane_id
        self.cashier_id = cashier_id
        self.shift_id = shift_id

    # -- returns ----------------------------------------------------------------------------

    def returnable(self, line_no: int) -> int:
        """Units of a line sold and not yet returned."""
        sold = self.sold.get(line_no)
        return 0 if sold is None else sold[0] - self.returned.get(line_no, 0)

    def refund_amounts(self, line_no: int, quantity: int) -> tuple[int, int]:
        """(amount, tax) refunded for returning `quantity` more units of a line: the line's
        gross and tax prorated by the units returned so far, so that returning every unit,
        in any number of returns, refunds exactly what the line cost, to the cent."""
        sold_qty, gross, tax = self.sold[line_no]
        before = self.returned.get(line_no, 0)
        after = before + quantity
        return (gross * after // sold_qty - gross * before // sold_qty,
                tax * after // sold_qty - tax * before // sold_qty)

    def refundable(self) -> list[Tender]:
        """The original tenders with what each can still refund (cash net of its change)."""
        out: list[Tender] = []
        change = self.change_minor
        for t in self.tenders.values():
            amount = t.amount_minor
            if t.kind == CASH and change:
                kept = min(change, amount)
                amount -= kept
                change -= kept
            left = amount - self.refunded.get(t.payment_id, 0)
            if left > 0:
                out.append(Tender(t.payment_id, t.kind, left))
        return out

    def plan_refunds(self, total_minor: int) -> list[Tender]:
        """Split a refund over the original tenders: card-like tenders first, in the order
        paid, cash last (cash is the one that leaves the drawer), each up to what it can
        still refund."""
        left = total_minor
        plan: list[Tender] = []
        tenders = sorted(self.refundable(), key=lambda t: t.kind == CASH)
        for t in tenders:
            part = min(left, t.amount_minor)
            if part:
                plan.append(Tender(t.payment_id, t.kind, part))
                left -= part
        if left:
            raise ReturnError(f"{left} more than the sale's tenders can refund")
        return plan

    def record_return(
        self, return_id: str, quantities: dict[int, int], refunds: list[Tender]
    ) -> None:
        """Note a return of these lines (at most what is left of each); idempotent per id."""
        if return_id in self.return_ids:
            return
        if self.status != COMPLETED:
            raise ReturnError(f"sale {self.id} is {self.status}: only a completed sale "
                              f"takes returns")
        if not quantities:
            raise ReturnError("a return has at least one line")
        for line_no, quantity in quantities.items():
            if line_no not in self.sold:
                raise ReturnError(f"sale {self.id} has no line {line_no}")
            if not _is_int(quantity) or quantity < 1:
                raise ReturnError("a returned quantity is a positive integer")
            if quantity > self.returnable(line_no):
                raise ReturnError(
                    f"line {line_no}: {quantity} returned, only {self.returnable(line_no)} "
                    f"left of {self.sold[line_no][0]} sold"
                )
        self._return_recorded(
            return_id=return_id,
            lines=[[n, q] for n, q in sorted(quantities.items())],
            refunds=[[t.payment_id, t.amount_minor] for t in refunds],
        )

    @event(ReturnRecorded)
    def _return_recorded(
        self, return_id: str, lines: list[list[int]], refunds: list[list[Any]]
    ) -> None:
        self.return_ids.add(return_id)
        for line_no, quantity in lines:
            self.returned[line_no] = self.returned.get(line_no, 0) + quantity
        for payment_id, amount in refunds:
            self.refunded[payment_id] = self.refunded.get(payment_id, 0) + amount

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

    def request_tender(self, key: str, kind: str, amount_minor: int) -> bool:
        """Note a tender to forward to payments or crm under the lane's key; True when it is
        a retry (the same key, kind and amount again), which skips the guards: the sale may
        already count it, and payments or crm answer a retry with their first answer. The
        same key for another kind or amount is a LineConflictError."""
        if not isinstance(key, str) or not key:
            raise InvalidTenderError("a tender needs an idempotency key")
        known = self.requested.get(key)
        if known is not None:
            if known != (kind, amount_minor):
                raise LineConflictError(
                    f"tender key {key} was a {known[0]} tender of {known[1]}"
                )
            return True
        if kind == CASH:
            raise InvalidTenderError("cash is taken by the sale itself, not forwarded")
        self.check_tender(kind, amount_minor)
        self._tender_requested(key=key, kind=kind, amount_minor=amount_minor)
        return False

    @event(TenderRequested)
    def _tender_requested(self, key: str, kind: str, amount_minor: int) -> None:
        self.requested[key] = (kind, amount_minor)

    def record_loyalty(self, customer_id: str, points: int, balance: int) -> bool:
        """Note the points crm credited for this sale and the balance after, for the receipt.
        Once per sale: a redelivery (or any later copy) changes nothing; False then."""
        if self.loyalty_balance is not None:
            return False
        for name, value in (("points", points), ("balance", balance)):
            if not _is_int(value) or value < 0:
                raise SaleError(f"loyalty {name} is a non-negative integer, not {value!r}")
        self._loyalty_recorded(customer_id=customer_id, points=points, balance=balance)
        return True

    @event(LoyaltyRecorded)
    def _loyalty_recorded(self, customer_id: str, points: int, balance: int) -> None:
        self.loyalty_points = points
        self.loyalty_balance = balance


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
        #: the product's tax class (set by a TaxClassSet event; "" until one)
        self.tax_class = ""

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

    def set_tax_class(self, tax_class: str) -> None:
        """Take the catalog's tax class (its own event: older entries' events lack one)."""
        if tax_class != self.tax_class:
            self._tax_class_set(tax_class=tax_class)

    @event("TaxClassSet")
    def _tax_class_set(self, tax_class: str) -> None:
        self.tax_class = tax_class


#: Namespace of the promotion book's id and of tax tables' ids. Fixed forever.
PROMOTION_BOOK_ID = UUID("0b8f5c1e-7d2a-4c6b-9e3f-5a1d2c4b6e80")
TAX_NAMESPACE = UUID("3d9e1a7c-5b2f-4e8d-a6c1-7f0b2e4d9c35")
#: The store token of chain-wide tax rates; a store's own rate of a class overrides it.
CHAIN = "chain"


class PromotionBook(Aggregate):
    """Checkout's copy of the catalog's promotions (one aggregate: a basket needs all)."""

    @event("Created")
    def __init__(self, id: UUID) -> None:
        self.entries: dict[str, dict[str, Any]] = {}

    @classmethod
    def create(cls) -> PromotionBook:
        return cls(id=PROMOTION_BOOK_ID)

    def upsert(self, entry: dict[str, Any]) -> None:
        """Take a promotion (a dict: Promotion.as_dict() plus active, starts_at_ms,
        ends_at_ms); an unchanged upsert records nothing."""
        try:
            Promotion.from_dict(entry)
        except (PricingError, KeyError) as exc:
            raise PriceEntryError(f"bad promotion: {exc}") from exc
        if self.entries.get(entry["promotion_id"]) == entry:
            return
        self._upserted(entry=entry)

    @event("Upserted")
    def _upserted(self, entry: dict[str, Any]) -> None:
        self.entries[entry["promotion_id"]] = entry

    def active_at(self, at_ms: int) -> list[Promotion]:
        """The promotions in effect at `at_ms` (unix ms); a window end of 0 is open-ended."""
        return [
            Promotion.from_dict(e) for e in self.entries.values()
            if e.get("active", True) and e.get("starts_at_ms", 0) <= at_ms
            and (not e.get("ends_at_ms", 0) or at_ms < e["ends_at_ms"])
        ]


def tax_table_id(store_id: str) -> UUID:
    """The id of a store's (or the chain's) tax table."""
    return uuid5(TAX_NAMESPACE, store_id)


class TaxTable(Aggregate):
    """Checkout's copy of the tax rates of a store (or of the chain, store id "chain")."""

    @event("Created")
    def __init__(self, id: UUID, store_id: str) -> None:
        self.store_id = store_id
        self.rates: dict[str, TaxRate] = {}

    @classmethod
    def create(cls, store_id: str) -> TaxTable:
        return cls(id=tax_table_id(store_id), store_id=store_id)

    def upsert(self, tax_class: str, rate_bp: int, mode: str, name: str = "") -> None:
        try:
            rate = TaxRate(tax_class, rate_bp, mode, name)
        except PricingError as exc:
            raise PriceEntryError(str(exc)) from exc
        if self.rates.get(tax_class) == rate:
            return
        self._upserted(tax_class=tax_class, rate_bp=rate_bp, mode=mode, name=name)

    @event("Upserted")
    def _upserted(self, tax_class: str, rate_bp: int, mode: str, name: str) -> None:
        self.rates[tax_class] = TaxRate(tax_class, rate_bp, mode, name)


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


# -- cashiers, shifts and the cash drawer ---------------------------------------------------

#: Namespace of Cashier ids: uuid5(CASHIER_NAMESPACE, "<store>:<cashier>"). Fixed forever.
CASHIER_NAMESPACE = UUID("0b7d7f0e-4c1a-4f53-8a7e-52e1c6a9d3b4")
#: Namespace of LaneState ids: uuid5(LANE_NAMESPACE, "<store>:<lane>"). Fixed forever.
LANE_NAMESPACE = UUID("9a3e2c71-5d84-4b6f-bb19-7e0f4d2a6c58")

#: scrypt cost of a new PIN hash: N=2**14, r=8, p=1 (16 MiB, ~50 ms), libsodium's
#: "interactive" level. The parameters are stored with each hash, so they can be raised later
#: without invalidating the PINs already set.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_DKLEN = 32
SALT_BYTES = 16
PIN_MIN_DIGITS = 4
PIN_MAX_DIGITS = 8

#: Bounds of cash amounts (and of a denomination), within the contracts' int64 Money.
MAX_CASH_MINOR = 100_000_000_00
MAX_DENOMINATION_COUNT = 1_000_000
MAX_REASON_LENGTH = 200

SHIFT_OPEN = "open"
SHIFT_CLOSED = "closed"


class CashierError(Exception):
    """A cashier cannot be registered, or logged in, as asked."""


class BadPinError(CashierError):
    """The PIN is wrong (or the cashier unknown: the two are not told apart)."""


class ShiftError(Exception):
    """Base of the errors a Shift (or a LaneState) raises when a command is refused."""


class ShiftClosedError(ShiftError):
    """The shift is closed: it takes no more operations."""


class ShiftNotClosedError(ShiftError):
    """A Z report is the report of a closed shift."""


class InvalidCashError(ShiftError):
    """A bad amount, reason, currency or denomination count."""


class InsufficientCashError(ShiftError):
    """More cash would leave the drawer than it is expected to hold."""


class LaneBusyError(ShiftError):
    """Another shift is already open on the lane."""


def cashier_key(store_id: str, cashier_id: str) -> UUID:
    """The id of a store's cashier."""
    return uuid5(CASHIER_NAMESPACE, f"{store_id}:{cashier_id}")


def lane_key(store_id: str, lane_id: str) -> UUID:
    """The id of the LaneState of a store's lane."""
    return uuid5(LANE_NAMESPACE, f"{store_id}:{lane_id}")


def _check_token(name: str, value: object) -> None:
    # Ids become subject tokens and parts of uuid5 names: no separators, no wildcards.
    if not isinstance(value, str) or not value:
        raise ShiftError(f"{name} is required")
    if any(c in value for c in ".*>: \t\r\n"):
        raise ShiftError(f"{name} {value!r} may not contain '.', '*', '>', ':' or spaces")


def _check_pin(pin: object) -> str:
    if not (isinstance(pin, str) and pin.isascii() and pin.isdigit()
            and PIN_MIN_DIGITS <= len(pin) <= PIN_MAX_DIGITS):
        raise CashierError(f"a PIN is {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits")
    return pin


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, dklen=SCRYPT_DKLEN,
                          maxmem=256 * r * n + 1024 * 1024)


SUPERVISOR = "supervisor"
#: Roles a cashier may hold: a supervisor approves voids, returns and large discounts.
ROLES = (SUPERVISOR,)


class Cashier(Aggregate):
    """A person who may open a shift on a store's lanes, with a PIN.

    Only a salted scrypt hash of the PIN is ever recorded (with its salt and cost parameters);
    the PIN itself never enters an event, a log or the event store.
    """

    class Registered(Aggregate.Created):
        store_id: str
        cashier_id: str
        name: str
        pin_hash: str
        pin_salt: str
        kdf: dict[str, int]

    @event(Registered)
    def __init__(
        self, id: UUID, store_id: str, cashier_id: str, name: str, pin_hash: str,
        pin_salt: str, kdf: dict[str, int],
    ) -> None:
        self.store_id = store_id
        self.cashier_id = cashier_id
        self.name = name
        self.pin_hash = pin_hash
        self.pin_salt = pin_salt
        self.kdf = dict(kdf)
        self.roles: frozenset[str] = frozenset()

    @classmethod
    def register(cls, store_id: str, cashier_id: str, name: str, pin: str) -> Cashier:
        """A new cashier, id from store and cashier number, the PIN hashed with a new salt."""
        for key, value in (("store_id", store_id), ("cashier_id", cashier_id)):
            try:
                _check_token(key, value)
            except ShiftError as exc:
                raise CashierError(str(exc)) from exc
        if not isinstance(name, str) or not name.strip():
            raise CashierError("name is required")
        pin = _check_pin(pin)
        salt = os.urandom(SALT_BYTES)
        kdf = {"n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P}
        digest = _scrypt(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        return cls(id=cashier_key(store_id, cashier_id), store_id=store_id,
                   cashier_id=cashier_id, name=name.strip(), pin_hash=digest.hex(),
                   pin_salt=salt.hex(), kdf=kdf)

    def verify_pin(self, pin: object) -> bool:
        """Whether `pin` is this cashier's PIN (constant-time comparison)."""
        if not isinstance(pin, str) or not pin.isascii():
            return False
        digest = _scrypt(pin, bytes.fromhex(self.pin_salt), self.kdf["n"], self.kdf["r"],
                         self.kdf["p"])
        return hmac.compare_digest(digest, bytes.fromhex(self.pin_hash))

    def check_pin(self, pin: object) -> None:
        """Raise BadPinError unless `pin` is this cashier's PIN."""
        if not self.verify_pin(pin):
            raise BadPinError("unknown cashier or wrong PIN")

    def set_roles(self, roles: list[str]) -> None:
        """Grant exactly these roles (e.g. "supervisor"); the same set again records nothing."""
        for role in roles:
            if role not in ROLES:
                raise CashierError(f"a role is one of {ROLES}, not {role!r}")
        if frozenset(roles) != self.roles:
            self._roles_set(roles=sorted(set(roles)))

    @event("RolesSet")
    def _roles_set(self, roles: list[str]) -> None:
        self.roles = frozenset(roles)

    @property
    def is_supervisor(self) -> bool:
        return SUPERVISOR in self.roles


@dataclass(frozen=True)
class ShiftReport:
    """An X report (mid-shift) or a Z report (closed): the drawer's cash, all in minor units.

    expected = float + cash sales - cash refunds + paid in - paid out; variance = counted -
    expected (negative: the drawer is short; positive: over).
    """

    kind: str
    shift_id: str
    store_id: str
    lane_id: str
    cashier_id: str
    currency: str
    status: str
    float_minor: int
    cash_sales_minor: int
    cash_refunds_minor: int
    paid_in_minor: int
    paid_out_minor: int
    no_sales: int
    expected_minor: int
    counted_minor: int | None = None
    variance_minor: int | None = None
    counted: dict[int, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON: denominations become string keys, as JSON object keys must be."""
        body: dict[str, Any] = {
            "kind": self.kind, "shift_id": self.shift_id, "store_id": self.store_id,
            "lane_id": self.lane_id, "cashier_id": self.cashier_id, "currency": self.currency,
            "status": self.status, "float_minor": self.float_minor,
            "cash_sales_minor": self.cash_sales_minor,
            "cash_refunds_minor": self.cash_refunds_minor,
            "paid_in_minor": self.paid_in_minor, "paid_out_minor": self.paid_out_minor,
            "no_sales": self.no_sales, "expected_minor": self.expected_minor,
        }
        if self.counted_minor is not None:
            body["counted_minor"] = self.counted_minor
            body["variance_minor"] = self.variance_minor
            body["counted"] = {str(d): c for d, c in sorted(self.counted.items(), reverse=True)}
        return body


def _check_amount(amount_minor: object) -> int:
    if not _is_int(amount_minor) or not 0 < amount_minor <= MAX_CASH_MINOR:  # type: ignore[operator]
        raise InvalidCashError(f"an amount is a positive integer of minor units "
                               f"up to {MAX_CASH_MINOR}")
    return amount_minor  # type: ignore[return-value]


def _check_reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidCashError("a reason is required")
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidCashError(f"a reason is at most {MAX_REASON_LENGTH} characters")
    return reason.strip()


class Shift(Aggregate):
    """A cashier's drawer on one lane, from the opening float to the closing count.

    Opened only after the cashier's PIN checked out (`Shift.open` takes the Cashier and the
    PIN). Every movement of cash is an event; opening the drawer without a sale is audited; an
    X report is a query that is itself recorded. Closing counts the cash per denomination and
    fixes expected, counted and variance for good: a closed shift takes no more operations.
    """

    class Opened(Aggregate.Created):
        store_id: str
        lane_id: str
        cashier_id: str
        float_minor: int
        currency: str

    class CashPaidIn(Aggregate.Event):
        store_id: str
        currency: str
        amount_minor: int
        reason: str

    class CashPaidOut(Aggregate.Event):
        store_id: str
        currency: str
        amount_minor: int
        reason: str

    class DrawerOpened(Aggregate.Event):
        store_id: str
        lane_id: str
        cashier_id: str
        reason: str

    class CashSaleRecorded(Aggregate.Event):
        amount_minor: int
        reference: str

    class CashRefundRecorded(Aggregate.Event):
        amount_minor: int
        reference: str

    class CashGivenBack(Aggregate.Event):
        """Cash of a sale handed back: change due, or a voided sale's cash."""

        amount_minor: int
        reference: str

    class XReportTaken(Aggregate.Event):
        store_id: str
        expected_minor: int

    class Closed(Aggregate.Event):
        closed_at: datetime
        store_id: str
        lane_id: str
        cashier_id: str
        currency: str
        float_minor: int
        cash_sales_minor: int
        cash_refunds_minor: int
        paid_in_minor: int
        paid_out_minor: int
        expected_minor: int
        counted_minor: int
        variance_minor: int
        #: [[denomination_minor, count], ...], largest first (JSON keys would be strings)
        counted: list[list[int]]

    @event(Opened)
    def __init__(
        self, id: UUID, store_id: str, lane_id: str, cashier_id: str, float_minor: int,
        currency: str,
    ) -> None:
        self.store_id = store_id
        self.lane_id = lane_id
        self.cashier_id = cashier_id
        self.float_minor = float_minor
        self.currency = currency
        self.status = SHIFT_OPEN
        self.cash_sales_minor = 0
        self.cash_refunds_minor = 0
        self.paid_in_minor = 0
        self.paid_out_minor = 0
        self.no_sales = 0
        self.x_reports = 0
        #: references of recorded cash sales and refunds: a retried hook records nothing
        self.references: set[str] = set()
        self.counted: dict[int, int] = {}
        self.counted_minor: int | None = None
        self.variance_minor: int | None = None
        self.closed_at: datetime | None = None

    @classmethod
    def open(
        cls, cashier: Cashier, pin: str, lane_id: str, float_minor: int, currency: str,
        shift_id: UUID | None = None,
    ) -> Shift:
        """Open a shift for `cashier` on `lane_id` of the cashier's store, once the PIN is
        right. The float is the cash in the drawer at the start (zero is allowed)."""
        cashier.check_pin(pin)
        _check_token("lane_id", lane_id)
        if not _is_int(float_minor) or not 0 <= float_minor <= MAX_CASH_MINOR:
            raise InvalidCashError("the float is a non-negative integer of minor units")
        try:
            check_currency(currency)
        except CurrencyMismatchError as exc:
            raise InvalidCashError(str(exc)) from exc
        return cls(id=shift_id or uuid4(), store_id=cashier.store_id, lane_id=lane_id,
                   cashier_id=cashier.cashier_id, float_minor=float_minor, currency=currency)

    # -- queries ----------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.status == SHIFT_OPEN

    @property
    def expected_minor(self) -> int:
        """The cash the drawer should hold now."""
        return (self.float_minor + self.cash_sales_minor - self.cash_refunds_minor
                + self.paid_in_minor - self.paid_out_minor)

    def _report(self, kind: str) -> ShiftReport:
        return ShiftReport(
            kind=kind, shift_id=str(self.id), store_id=self.store_id, lane_id=self.lane_id,
            cashier_id=self.cashier_id, currency=self.currency, status=self.status,
            float_minor=self.float_minor, cash_sales_minor=self.cash_sales_minor,
            cash_refunds_minor=self.cash_refunds_minor, paid_in_minor=self.paid_in_minor,
            paid_out_minor=self.paid_out_minor, no_sales=self.no_sales,
            expected_minor=self.expected_minor, counted_minor=self.counted_minor,
            variance_minor=self.variance_minor, counted=dict(self.counted),
        )

    def _check_open(self) -> None:
        if self.status != SHIFT_OPEN:
            raise ShiftClosedError(f"shift {self.id} is {self.status}")

    # -- cash movements ---------------------------------------------------------------------

    def paid_in(self, amount_minor: int, reason: str) -> None:
        """Cash put into the drawer that is not a sale (e.g. change from the safe)."""
        self._check_open()
        amount = _check_amount(amount_minor)
        self._cash_paid_in(store_id=self.store_id, currency=self.currency,
                           amount_minor=amount, reason=_check_reason(reason))

    @event(CashPaidIn)
    def _cash_paid_in(self, store_id: str, currency: str, amount_minor: int, reason: str) -> None:
        self.paid_in_minor += amount_minor

    def paid_out(self, amount_minor: int, reason: str) -> None:
        """Cash taken from the drawer that is not a refund (e.g. a supplier paid in cash)."""
        self._check_open()
        amount = _check_amount(amount_minor)
        reason = _check_reason(reason)
        self._check_available(amount)
        self._cash_paid_out(store_id=self.store_id, currency=self.currency,
                            amount_minor=amount, reason=reason)

    @event(CashPaidOut)
    def _cash_paid_out(
        self, store_id: str, currency: str, amount_minor: int, reason: str
    ) -> None:
        self.paid_out_minor += amount_minor

    def no_sale(self, reason: str) -> None:
        """Open the drawer without a sale: allowed, with a reason, and audited."""
        self._check_open()
        self._drawer_opened(store_id=self.store_id, lane_id=self.lane_id,
                            cashier_id=self.cashier_id, reason=_check_reason(reason))

    @event(DrawerOpened)
    def _drawer_opened(self, store_id: str, lane_id: str, cashier_id: str, reason: str) -> None:
        self.no_sales += 1

    def cash_sale(self, amount_minor: int, reference: str = "") -> None:
        """Cash kept for a sale (tendered minus change); idempotent per non-empty reference."""
        if reference and reference in self.references:
            return
        self._check_open()
        self._cash_sale_recorded(amount_minor=_check_amount(amount_minor), reference=reference)

    @event(CashSaleRecorded)
    def _cash_sale_recorded(self, amount_minor: int, reference: str) -> None:
        self.cash_sales_minor += amount_minor
        if reference:
            self.references.add(reference)

    def give_back(self, amount_minor: int, reference: str) -> None:
        """Hand back cash a sale took (its change, or a voided sale's cash): it comes off the
        cash sales, since it was never the store's. Idempotent per reference."""
        if reference in self.references:
            return
        self._check_open()
        amount = _check_amount(amount_minor)
        self._check_available(amount)
        self._cash_given_back(amount_minor=amount, reference=reference)

    @event(CashGivenBack)
    def _cash_given_back(self, amount_minor: int, reference: str) -> None:
        self.cash_sales_minor -= amount_minor
        self.references.add(reference)

    def cash_refund(self, amount_minor: int, reference: str = "") -> None:
        """Cash handed back for a return; idempotent per non-empty reference."""
        if reference and reference in self.references:
            return
        self._check_open()
        amount = _check_amount(amount_minor)
        self._check_available(amount)
        self._cash_refund_recorded(amount_minor=amount, reference=reference)

    @event(CashRefundRecorded)
    def _cash_refund_recorded(self, amount_minor: int, reference: str) -> None:
        self.cash_refunds_minor += amount_minor
        if reference:
            self.references.add(reference)

    def _check_available(self, amount_minor: int) -> None:
        if amount_minor > self.expected_minor:
            raise InsufficientCashError(
                f"{amount_minor} out of a drawer expected to hold {self.expected_minor}"
            )

    # -- reports and closing ----------------------------------------------------------------

    def x_report(self) -> ShiftReport:
        """The mid-shift report. Changes nothing, but taking it is recorded (audited)."""
        self._check_open()
        self._x_report_taken(store_id=self.store_id, expected_minor=self.expected_minor)
        return self._report("X")

    @event(XReportTaken)
    def _x_report_taken(self, store_id: str, expected_minor: int) -> None:
        self.x_reports += 1

    def close(self, counted: dict[int, int], at: datetime | None = None) -> ShiftReport:
        """Close with the cash counted per denomination (minor units -> count); the Z report.

        A denomination counted zero times may be listed or left out; nothing counted at all is
        an empty drawer.
        """
        self._check_open()
        if not isinstance(counted, dict):
            raise InvalidCashError("counted is a mapping of denomination to count")
        pairs: list[list[int]] = []
        for denomination, count in counted.items():
            if not _is_int(denomination) or not 0 < denomination <= MAX_CASH_MINOR:
                raise InvalidCashError(f"bad denomination {denomination!r}")
            if not _is_int(count) or not 0 <= count <= MAX_DENOMINATION_COUNT:
                raise InvalidCashError(f"bad count {count!r} of denomination {denomination}")
            if count:
                pairs.append([denomination, count])
        pairs.sort(reverse=True)
        counted_minor = sum(d * c for d, c in pairs)
        expected = self.expected_minor
        self._closed(
            closed_at=at or datetime.now(UTC), store_id=self.store_id, lane_id=self.lane_id,
            cashier_id=self.cashier_id, currency=self.currency, float_minor=self.float_minor,
            cash_sales_minor=self.cash_sales_minor, cash_refunds_minor=self.cash_refunds_minor,
            paid_in_minor=self.paid_in_minor, paid_out_minor=self.paid_out_minor,
            expected_minor=expected, counted_minor=counted_minor,
            variance_minor=counted_minor - expected, counted=pairs,
        )
        return self.z_report()

    @event(Closed)
    def _closed(
        self, closed_at: datetime, store_id: str, lane_id: str, cashier_id: str, currency: str,
        float_minor: int, cash_sales_minor: int, cash_refunds_minor: int, paid_in_minor: int,
        paid_out_minor: int, expected_minor: int, counted_minor: int, variance_minor: int,
        counted: list[list[int]],
    ) -> None:
        self.status = SHIFT_CLOSED
        self.closed_at = closed_at
        self.counted = {int(d): int(c) for d, c in counted}
        self.counted_minor = counted_minor
        self.variance_minor = variance_minor

    def z_report(self) -> ShiftReport:
        """The closing report of a closed shift (a reprint records nothing)."""
        if self.status != SHIFT_CLOSED:
            raise ShiftNotClosedError(f"shift {self.id} is still open: take an X report")
        return self._report("Z")


class LaneState(Aggregate):
    """Which shift is open on a store's lane: the index a sale is checked against.

    Its id derives from store and lane, so two shifts opened at once on one lane collide on
    its version, and only one is saved.
    """

    @event("Created")
    def __init__(self, id: UUID, store_id: str, lane_id: str) -> None:
        self.store_id = store_id
        self.lane_id = lane_id
        self.shift_id: UUID | None = None
        self.cashier_id = ""
        self.receipts = 0

    @classmethod
    def create(cls, store_id: str, lane_id: str) -> LaneState:
        _check_token("store_id", store_id)
        _check_token("lane_id", lane_id)
        return cls(id=lane_key(store_id, lane_id), store_id=store_id, lane_id=lane_id)

    def start(self, shift: Shift) -> None:
        """Note `shift` as the lane's open shift; refused while another is open."""
        if self.shift_id is not None and self.shift_id != shift.id:
            raise LaneBusyError(f"shift {self.shift_id} of {self.cashier_id} is open "
                                f"on lane {self.lane_id}")
        if self.shift_id == shift.id:
            return
        self._shift_started(shift_id=shift.id, cashier_id=shift.cashier_id)

    @event("ShiftStarted")
    def _shift_started(self, shift_id: UUID, cashier_id: str) -> None:
        self.shift_id = shift_id
        self.cashier_id = cashier_id

    def end(self, shift_id: UUID) -> None:
        """The shift closed: the lane has none open (a no-op if it was not the lane's)."""
        if self.shift_id != shift_id:
            return
        self._shift_ended(shift_id=shift_id)

    def next_receipt(self) -> str:
        """The lane's next receipt number, `<store>-<lane>-<sequence>`: a counter per lane,
        kept here so two sales never share a number."""
        self._receipt_numbered(sequence=self.receipts + 1)
        return f"{self.store_id}-{self.lane_id}-{self.receipts}"

    @event("ReceiptNumbered")
    def _receipt_numbered(self, sequence: int) -> None:
        self.receipts = sequence

    @event("ShiftEnded")
    def _shift_ended(self, shift_id: UUID) -> None:
        self.shift_id = None
        self.cashier_id = ""


class Return(Aggregate):
    """Goods brought back: against an original sale (at most what it sold and has not taken
    back yet, refunded to its tenders) or without a receipt (priced from the catalog, with a
    permission and, above a threshold, a supervisor). Completed when created: the refunds are
    decided then, and the cash ones leave the drawer at once.

    Its id is a UUID the lane makes, so a retried return finds the same one.
    """

    class Completed(Aggregate.Created):
        completed_at: datetime
        store_id: str
        lane_id: str
        cashier_id: str
        shift_id: str
        currency: str
        original_sale_id: str
        lines: list[dict[str, Any]]
        refunds: list[dict[str, Any]]
        total_minor: int
        tax_minor: int
        customer_id: str
        approved_by: str
        exchange_sale_id: str
        receipt_number: str

    @event(Completed)
    def __init__(
        self, id: UUID, completed_at: datetime, store_id: str, lane_id: str, cashier_id: str,
        shift_id: str, currency: str, original_sale_id: str, lines: list[dict[str, Any]],
        refunds: list[dict[str, Any]], total_minor: int, tax_minor: int, customer_id: str,
        approved_by: str, exchange_sale_id: str, receipt_number: str,
    ) -> None:
        self.completed_at = completed_at
        self.store_id = store_id
        self.lane_id = lane_id
        self.cashier_id = cashier_id
        self.shift_id = shift_id
        self.currency = currency
        self.original_sale_id = original_sale_id
        self.lines = list(lines)
        self.refunds = list(refunds)
        self.total_minor = total_minor
        self.tax_minor = tax_minor
        self.customer_id = customer_id
        self.approved_by = approved_by
        self.exchange_sale_id = exchange_sale_id
        self.receipt_number = receipt_number

    @property
    def cash_minor(self) -> int:
        """Cash refunded (paid out of the drawer)."""
        return sum(r["amount_minor"] for r in self.refunds if r["kind"] == CASH)


#: Namespace of receipt index ids: uuid5(RECEIPT_NAMESPACE, receipt_number). Fixed forever.
RECEIPT_NAMESPACE = UUID("9a4e2c71-3f5b-4d8a-b0e6-1c7d5f3a2e94")


def receipt_ref_id(receipt_number: str) -> UUID:
    return uuid5(RECEIPT_NAMESPACE, receipt_number)


class ReceiptRef(Aggregate):
    """Receipt number -> sale: a return can name the receipt printed on the paper."""

    @event("Created")
    def __init__(self, id: UUID, receipt_number: str, sale_id: UUID) -> None:
        self.receipt_number = receipt_number
        self.sale_id = sale_id

    @classmethod
    def create(cls, receipt_number: str, sale_id: UUID) -> ReceiptRef:
        return cls(id=receipt_ref_id(receipt_number), receipt_number=receipt_number,
                   sale_id=sale_id)
