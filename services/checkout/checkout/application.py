"""The checkout application: lane commands on sales, priced from the local price replica, and
the cashiers' shifts that a lane must have open to sell."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from checkout.domainmodel import (
    CHAIN,
    PROMOTION_BOOK_ID,
    BadPinError,
    Cashier,
    CashierError,
    DiscountApproval,
    LaneState,
    PriceEntry,
    PromotionBook,
    Sale,
    SaleError,
    Shift,
    ShiftReport,
    TaxTable,
    cashier_key,
    lane_key,
    price_entry_id,
    tax_table_id,
)
from checkout.pricing import Pricing, Promotion, TaxRate
from tillstream.eventstore import ServiceApplication


class SaleNotFoundError(Exception):
    """No sale with this id."""


class SaleConflictError(Exception):
    """A sale id is re-used with different details."""


class UnknownSkuError(Exception):
    """The SKU is not in the price replica, or is not for sale."""


class PriceCurrencyError(SaleError):
    """The catalog prices this SKU in another currency than the sale's."""


class NoShiftError(SaleError):
    """The lane has no open shift: it cannot sell."""


class WrongCashierError(SaleError):
    """The sale names another cashier than the one whose shift is open on the lane."""


class ShiftNotFoundError(Exception):
    """No shift with this id."""


class CashierConflictError(CashierError):
    """The cashier is registered already, with another name or PIN."""


@dataclass(frozen=True)
class AddedLine:
    """What the lane shows after adding a line."""

    unit_price_minor: int
    line_total_minor: int
    total_minor: int
    currency: str


@dataclass(frozen=True)
class SaleView:
    """A sale as the lane and the receipt see it."""

    sale_id: str
    store_id: str
    lane_id: str
    cashier_id: str
    status: str
    currency: str
    total_minor: int
    paid_minor: int
    due_minor: int
    customer_id: str
    lines: list[dict[str, Any]] = field(default_factory=list)
    tenders: list[dict[str, Any]] = field(default_factory=list)
    shift_id: str = ""
    subtotal_minor: int = 0
    discount_minor: int = 0
    #: all taxes; `taxes` says which are included in prices and which are added
    tax_minor: int = 0
    taxes: list[dict[str, Any]] = field(default_factory=list)
    discounts: list[dict[str, Any]] = field(default_factory=list)


def _pricing_view(sale: Sale) -> dict[str, Any]:
    """Lines (with their discounts and taxes), discounts, taxes and totals of a sale."""
    pricing: Pricing = sale.pricing
    lines = []
    for line in sorted(sale.lines.values(), key=lambda ln: ln.line_no):
        priced = pricing.by_line[line.line_no]
        lines.append({
            **line.as_dict(),
            "discount_minor": priced.discount_minor,
            "net_minor": priced.net_minor,
            "tax_minor": priced.tax_minor,
            "gross_minor": priced.gross_minor,
        })
    return {
        "lines": lines,
        "subtotal_minor": pricing.subtotal_minor,
        "discount_minor": pricing.discount_minor,
        "tax_minor": pricing.tax_minor,
        "total_minor": pricing.total_minor,
        "taxes": [
            {"tax_class": t.tax_class, "name": t.name, "rate_bp": t.rate_bp, "mode": t.mode,
             "taxable_minor": t.base_minor, "amount_minor": t.tax_minor}
            for t in pricing.taxes
        ],
        "discounts": [
            {"label": d.label, "kind": d.kind, "line_no": d.line_no,
             "promotion_id": d.promotion_id, "amount_minor": d.amount_minor}
            for d in pricing.discounts
        ],
    }


@dataclass(frozen=True)
class BasketTotals:
    """What the lane shows after changing the basket."""

    total_minor: int
    subtotal_minor: int
    discount_minor: int
    tax_minor: int
    currency: str


#: Sales a page of `list_sales` holds at most.
MAX_PAGE_SIZE = 100
#: Notifications `list_sales` reads from the store at a time.
SCAN_CHUNK = 500


@dataclass(frozen=True)
class SalePage:
    """One page of `list_sales`: the sales, and where the next page starts (0: no more)."""

    sales: list[SaleView]
    next_position: int = 0


class Checkout(ServiceApplication):
    """Sales rung up on the lanes, and the price replica they are priced from."""

    name = "checkout"

    #: Discounts above these need a supervisor id (env CHECKOUT_DISCOUNT_APPROVAL_BP and
    #: CHECKOUT_DISCOUNT_APPROVAL_MINOR override them).
    DISCOUNT_APPROVAL_BP = 20_00
    DISCOUNT_APPROVAL_MINOR = 50_00

    @property
    def discount_approval(self) -> DiscountApproval:
        return DiscountApproval(
            int(self.env.get("CHECKOUT_DISCOUNT_APPROVAL_BP", self.DISCOUNT_APPROVAL_BP)),
            int(self.env.get("CHECKOUT_DISCOUNT_APPROVAL_MINOR",
                             self.DISCOUNT_APPROVAL_MINOR)),
        )

    def promotions_now(self) -> list[Promotion]:
        """The replica's promotions in effect now."""
        book = self.get_or_none(PROMOTION_BOOK_ID)
        if not isinstance(book, PromotionBook):
            return []
        return book.active_at(int(time.time() * 1000))

    def tax_rates_of(self, store_id: str) -> dict[str, TaxRate]:
        """The store's tax rates per class: the chain's, overridden by the store's own."""
        rates: dict[str, TaxRate] = {}
        for key in (CHAIN, store_id):
            table = self.get_or_none(tax_table_id(key))
            if isinstance(table, TaxTable):
                rates.update(table.rates)
        return rates

    def _reprice(self, sale: Sale) -> None:
        """Copy the promotions and tax rates in effect onto the sale (records only changes)."""
        sale.set_pricing_context(self.promotions_now(), self.tax_rates_of(sale.store_id))

    def _totals(self, sale: Sale) -> BasketTotals:
        pricing = sale.pricing
        return BasketTotals(pricing.total_minor, pricing.subtotal_minor,
                            pricing.discount_minor, pricing.tax_minor, sale.currency)

    def open_sale(
        self, sale_id: UUID, store_id: str, lane_id: str, cashier_id: str, currency: str
    ) -> UUID:
        """Open a sale; opening the same sale again returns it."""
        existing = self.get_or_none(sale_id)
        if existing is not None:
            details = (store_id, lane_id, cashier_id, currency)
            if not isinstance(existing, Sale) or details != (
                existing.store_id, existing.lane_id, existing.cashier_id, existing.currency
            ):
                raise SaleConflictError(f"sale {sale_id} was opened with other details")
            return existing.id
        Sale.check_open(store_id, lane_id, cashier_id, currency)
        shift = self.open_shift_of(store_id, lane_id)
        if shift is None:
            raise NoShiftError(f"lane {lane_id} of store {store_id} has no open shift")
        if shift.cashier_id != cashier_id:
            raise WrongCashierError(
                f"lane {lane_id} is in the shift of {shift.cashier_id}, not {cashier_id}"
            )
        sale = Sale(id=sale_id, store_id=store_id, lane_id=lane_id, cashier_id=cashier_id,
                    currency=currency, shift_id=str(shift.id))
        self.save(sale)
        return sale.id

    def add_line(self, sale_id: UUID, line_no: int, sku: str, quantity: int) -> AddedLine:
        """Add a line priced from the replica; the same line again is a no-op."""
        sale = self._sale(sale_id)
        existing = sale.lines.get(line_no)
        if existing is not None:
            # A retry answers with the price it was added at, even if the catalog moved; a
            # different line under the same number is a LineConflictError, priced or not.
            line = sale.add_line(line_no, sku, quantity, existing.unit_price_minor)
        else:
            price = self.price_of(sku)
            if price.currency != sale.currency:
                raise PriceCurrencyError(
                    f"{sku} is priced in {price.currency}, the sale is in {sale.currency}"
                )
            self._reprice(sale)
            line = sale.add_line(line_no, sku, quantity, price.price_minor, price.tax_class)
            self.save(sale)
        return AddedLine(line.unit_price_minor, line.line_total_minor, sale.total_minor,
                         sale.currency)

    def remove_line(self, sale_id: UUID, line_no: int, reason: str = "") -> BasketTotals:
        """Remove a line; removing it again is a no-op."""
        sale = self._sale(sale_id)
        sale.remove_line(line_no, reason)
        return self._save_priced(sale)

    def change_line_quantity(self, sale_id: UUID, line_no: int, quantity: int) -> BasketTotals:
        sale = self._sale(sale_id)
        sale.change_line_quantity(line_no, quantity)
        return self._save_priced(sale)

    def override_price(
        self, sale_id: UUID, line_no: int, unit_price_minor: int, reason: str,
        authorized_by: str, permitted: bool,
    ) -> BasketTotals:
        """Set a line's unit price by hand (needs the price-override permission)."""
        sale = self._sale(sale_id)
        sale.override_price(line_no, unit_price_minor, reason, authorized_by, permitted)
        return self._save_priced(sale)

    def apply_line_discount(
        self, sale_id: UUID, line_no: int, kind: str, value: int, reason: str,
        supervisor_id: str = "",
    ) -> BasketTotals:
        sale = self._sale(sale_id)
        self._reprice(sale)
        sale.apply_line_discount(line_no, kind, value, reason, supervisor_id,
                                 self.discount_approval)
        return self._save_priced(sale)

    def apply_basket_discount(
        self, sale_id: UUID, discount_id: str, kind: str, value: int, reason: str,
        supervisor_id: str = "",
    ) -> BasketTotals:
        sale = self._sale(sale_id)
        self._reprice(sale)
        sale.apply_basket_discount(discount_id, kind, value, reason, supervisor_id,
                                   self.discount_approval)
        return self._save_priced(sale)

    def _save_priced(self, sale: Sale) -> BasketTotals:
        self._reprice(sale)
        self.save(sale)
        return self._totals(sale)

    def attach_customer(self, sale_id: UUID, customer_id: str) -> None:
        sale = self._sale(sale_id)
        sale.attach_customer(customer_id)
        self.save(sale)

    def get_sale(self, sale_id: UUID) -> SaleView:
        sale = self._sale(sale_id)
        priced = _pricing_view(sale)
        return SaleView(
            sale_id=str(sale.id),
            store_id=sale.store_id,
            lane_id=sale.lane_id,
            cashier_id=sale.cashier_id,
            status=sale.status,
            currency=sale.currency,
            total_minor=priced["total_minor"],
            paid_minor=sale.paid_minor,
            due_minor=sale.due_minor,
            customer_id=sale.customer_id,
            lines=priced["lines"],
            tenders=[tender.as_dict() for tender in sale.tenders.values()],
            shift_id=sale.shift_id,
            subtotal_minor=priced["subtotal_minor"],
            discount_minor=priced["discount_minor"],
            tax_minor=priced["tax_minor"],
            taxes=priced["taxes"],
            discounts=priced["discounts"],
        )

    def list_sales(
        self, store_id: str = "", lane_id: str = "", status: str = "", after: int = 0,
        limit: int = 20,
    ) -> SalePage:
        """Sales in the order they were opened, from the notification after position `after`;
        empty filters match everything. `next_position` of the page is where the next one
        starts (0 when there are no more).

        A query over the event store's notification log (the Sale.Opened events; the store
        selects them by topic), each match's current state loaded from the repository: no
        projection to keep, nothing new recorded. Its cost grows with the sales opened since
        `after`, so a read model will replace it once partners list large histories.
        """
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValueError(f"a page holds 1..{MAX_PAGE_SIZE} sales")
        if after < 0:
            raise ValueError("a position is a non-negative integer")
        topics = [get_topic(Sale.Opened)]
        found: list[tuple[int, SaleView]] = []
        position = after
        while len(found) <= limit:
            chunk = self.recorder.select_notifications(
                start=position, limit=SCAN_CHUNK, topics=topics, inclusive_of_start=False
            )
            for notification in chunk:
                position = notification.id
                opened = self.mapper.to_domain_event(notification)
                if store_id and opened.store_id != store_id:  # type: ignore[attr-defined]
                    continue
                if lane_id and opened.lane_id != lane_id:  # type: ignore[attr-defined]
                    continue
                view = self.get_sale(opened.originator_id)
                if status and view.status != status:
                    continue
                found.append((notification.id, view))
                if len(found) > limit:
                    break
            if len(chunk) < SCAN_CHUNK:
                break
        if len(found) > limit:
            return SalePage([view for _, view in found[:limit]], found[limit - 1][0])
        return SalePage([view for _, view in found])

    def price_of(self, sku: str) -> PriceEntry:
        """The replica's entry for a SKU that is for sale."""
        entry = self.get_or_none(price_entry_id(sku))
        if not isinstance(entry, PriceEntry):
            raise UnknownSkuError(f"unknown SKU {sku!r}")
        if not entry.active:
            raise UnknownSkuError(f"SKU {sku!r} is not for sale")
        return entry

    # -- cashiers and shifts ----------------------------------------------------------------

    def register_cashier(self, store_id: str, cashier_id: str, name: str, pin: str) -> bool:
        """Register a cashier (supervisor setup); True if new. The same cashier again, with
        the same name and PIN, is a no-op (False); with another, a CashierConflictError."""
        existing = self.get_or_none(cashier_key(store_id, cashier_id))
        if isinstance(existing, Cashier):
            if existing.name != name.strip() or not existing.verify_pin(pin):
                raise CashierConflictError(
                    f"cashier {cashier_id} of store {store_id} is registered with other details"
                )
            return False
        self.save(Cashier.register(store_id, cashier_id, name, pin))
        return True

    def login(self, store_id: str, cashier_id: str, pin: str) -> Cashier:
        """The cashier, if the PIN is right; BadPinError otherwise (or if unknown)."""
        cashier = self.get_or_none(cashier_key(store_id, cashier_id))
        if not isinstance(cashier, Cashier):
            raise BadPinError("unknown cashier or wrong PIN")
        cashier.check_pin(pin)
        return cashier

    def open_shift(
        self, store_id: str, lane_id: str, cashier_id: str, pin: str, float_minor: int,
        currency: str,
    ) -> UUID:
        """Open a shift on a lane after a PIN check; its id. If this cashier's shift is open
        on the lane already (a lane restarted), that shift's id; another cashier's open shift
        is a LaneBusyError."""
        cashier = self.login(store_id, cashier_id, pin)
        lane = self.get_or_none(lane_key(store_id, lane_id))
        if not isinstance(lane, LaneState):
            lane = LaneState.create(store_id, lane_id)
        if lane.shift_id is not None and lane.cashier_id == cashier_id:
            return lane.shift_id
        shift = Shift.open(cashier, pin, lane_id, float_minor, currency)
        lane.start(shift)
        self.save(shift, lane)
        return shift.id

    def open_shift_of(self, store_id: str, lane_id: str) -> Shift | None:
        """The shift open on a lane, if any."""
        lane = self.get_or_none(lane_key(store_id, lane_id))
        if not isinstance(lane, LaneState) or lane.shift_id is None:
            return None
        shift = self.get_or_none(lane.shift_id)
        return shift if isinstance(shift, Shift) and shift.is_open else None

    def pay_in(self, shift_id: UUID, amount_minor: int, reason: str) -> int:
        """Record cash put into the drawer; the cash now expected in it."""
        shift = self._shift(shift_id)
        shift.paid_in(amount_minor, reason)
        self.save(shift)
        return shift.expected_minor

    def pay_out(self, shift_id: UUID, amount_minor: int, reason: str) -> int:
        """Record cash taken out of the drawer; the cash now expected in it."""
        shift = self._shift(shift_id)
        shift.paid_out(amount_minor, reason)
        self.save(shift)
        return shift.expected_minor

    def no_sale(self, shift_id: UUID, reason: str) -> None:
        """Record (audit) a drawer opened without a sale."""
        shift = self._shift(shift_id)
        shift.no_sale(reason)
        self.save(shift)

    def x_report(self, shift_id: UUID) -> ShiftReport:
        """The mid-shift report; taking it is recorded."""
        shift = self._shift(shift_id)
        report = shift.x_report()
        self.save(shift)
        return report

    def close_shift(self, shift_id: UUID, counted: dict[int, int]) -> ShiftReport:
        """Close with the counted cash; the Z report. The lane is free for the next shift."""
        shift = self._shift(shift_id)
        report = shift.close(counted)
        lane = self.get_or_none(lane_key(shift.store_id, shift.lane_id))
        if isinstance(lane, LaneState):
            lane.end(shift.id)
            self.save(shift, lane)
        else:
            self.save(shift)
        return report

    def z_report(self, shift_id: UUID) -> ShiftReport:
        """The closing report of a closed shift (a reprint)."""
        return self._shift(shift_id).z_report()

    def get_shift(self, shift_id: UUID) -> Shift:
        """The shift (ShiftNotFoundError when there is none): for reading, never saved."""
        return self._shift(shift_id)

    def _shift(self, shift_id: UUID) -> Shift:
        shift = self.get_or_none(shift_id)
        if not isinstance(shift, Shift):
            raise ShiftNotFoundError(f"no shift {shift_id}")
        return shift

    def _sale(self, sale_id: UUID) -> Sale:
        sale = self.get_or_none(sale_id)
        if not isinstance(sale, Sale):
            raise SaleNotFoundError(f"no sale {sale_id}")
        return sale
