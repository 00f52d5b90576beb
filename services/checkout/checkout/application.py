"""The checkout application: lane commands on sales, priced from the local price replica, and
the cashiers' shifts that a lane must have open to sell."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.sqlite import SQLiteAggregateRecorder
from eventsourcing.utils import get_topic

from checkout.domainmodel import (
    CASH,
    CHAIN,
    COMPLETED,
    OPEN,
    PROMOTION_BOOK_ID,
    SUSPENDED,
    ApprovalRequiredError,
    BadPinError,
    Cashier,
    CashierError,
    DiscountApproval,
    LaneState,
    PermissionRequiredError,
    PriceEntry,
    PromotionBook,
    ReceiptRef,
    Return,
    ReturnError,
    Sale,
    SaleError,
    SaleNotOpenError,
    Shift,
    ShiftReport,
    TaxTable,
    Tender,
    cashier_key,
    lane_key,
    price_entry_id,
    receipt_ref_id,
    tax_table_id,
)
from checkout.pricing import Pricing, Promotion, TaxRate
from tillstream.consumer import UnitOfWork
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


class ReturnNotFoundError(Exception):
    """No return with this id."""


def next_receipt_of(uow: UnitOfWork, sale: Sale) -> Callable[[], str]:
    """A function that numbers the sale's receipt from its lane's counter (called only when
    the sale completes, so an unfinished sale takes no number)."""

    def number() -> str:
        lane = uow.get(lane_key(sale.store_id, sale.lane_id))
        if not isinstance(lane, LaneState):
            lane = LaneState.create(sale.store_id, sale.lane_id)
            uow.add(lane)
        return lane.next_receipt()

    return number


def settle(uow: UnitOfWork, sale: Sale) -> None:
    """After a tender completed a sale: its change leaves the drawer of its shift, and its
    receipt number is indexed for returns. Idempotent (references and ids are the sale's)."""
    if sale.status != COMPLETED:
        return
    if sale.change_minor and sale.shift_id:
        shift = uow.get(UUID(sale.shift_id))
        if isinstance(shift, Shift) and shift.is_open:
            shift.give_back(sale.change_minor, f"change:{sale.id}")
    if sale.receipt_number and uow.get(receipt_ref_id(sale.receipt_number)) is None:
        uow.add(ReceiptRef.create(sale.receipt_number, sale.id))


@dataclass(frozen=True)
class TenderResult:
    """What the lane shows after a tender: the sale's state and any change due."""

    payment_id: str
    status: str
    sale_status: str
    paid_minor: int
    due_minor: int
    change_minor: int
    receipt_number: str
    currency: str


@dataclass(frozen=True)
class ReturnRequestLine:
    """A line to take back: `line_no` of the original sale, or `sku` without a receipt."""

    quantity: int
    line_no: int = 0
    sku: str = ""
    restock: bool = True


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
    change_minor: int = 0
    receipt_number: str = ""
    offline: bool = False
    subtotal_minor: int = 0
    discount_minor: int = 0
    #: all taxes; `taxes` says which are included in prices and which are added
    tax_minor: int = 0
    taxes: list[dict[str, Any]] = field(default_factory=list)
    discounts: list[dict[str, Any]] = field(default_factory=list)
    #: points crm credited for the sale and the customer's balance after (None until known)
    loyalty_points: int | None = None
    loyalty_balance: int | None = None


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


def _offline_view(sale: Sale) -> dict[str, Any]:
    """An offline sale as the store priced it: the totals its Completed event recorded."""
    completed = sale.completed_summary
    lines = []
    for n in sorted(sale.lines):
        line = sale.lines[n]
        _, gross, tax = sale.sold[n]
        lines.append({**line.as_dict(), "discount_minor": 0, "net_minor": gross - tax,
                      "tax_minor": tax, "gross_minor": gross})
    return {"lines": lines, **completed}


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

    #: No command needs its save durable before it goes on (no write-ahead before an outside
    #: call: card tenders ask payments outside the database thread), so commands waiting
    #: for the database thread are committed together (one fsync for all, issue 4).
    group_commit = True

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

    #: Ids asked about in one SQL statement, at most (SQLite's variable limit is 32766).
    EXISTING_CHUNK = 500

    def existing(self, aggregate_ids: Iterable[UUID]) -> set[UUID]:
        """Which of these aggregates are in the store: one query per chunk on SQLite, so an
        offline backlog's batch is checked for duplicates without a read per sale. (Other
        stores: one event read per id, still no aggregate replayed.)"""
        wanted = list(dict.fromkeys(aggregate_ids))
        recorder = self.recorder
        if not isinstance(recorder, SQLiteAggregateRecorder):
            return {i for i in wanted if recorder.select_events(i, limit=1)}
        found: set[UUID] = set()
        for start in range(0, len(wanted), self.EXISTING_CHUNK):
            chunk = wanted[start:start + self.EXISTING_CHUNK]
            statement = (
                f"SELECT DISTINCT originator_id FROM {recorder.events_table_name} "
                f"WHERE originator_id IN ({','.join('?' * len(chunk))})"
            )
            with recorder.datastore.transaction(commit=False) as cursor:
                cursor.execute(statement, [i.hex for i in chunk])
                found.update(UUID(row[0]) for row in cursor.fetchall())
        return found

    def get_sale(self, sale_id: UUID) -> SaleView:
        sale = self._sale(sale_id)
        priced = _offline_view(sale) if sale.offline else _pricing_view(sale)
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
            change_minor=sale.change_minor,
            receipt_number=sale.receipt_number,
            offline=sale.offline,
            subtotal_minor=priced["subtotal_minor"],
            discount_minor=priced["discount_minor"],
            tax_minor=priced["tax_minor"],
            taxes=priced["taxes"],
            discounts=priced["discounts"],
            loyalty_points=sale.loyalty_points,
            loyalty_balance=sale.loyalty_balance,
        )

    def list_sales(
        self, store_id: str = "", lane_id: str = "", status: str = "", after: int = 0,
        limit: int = 20,
    ) -> SalePage:
        """Sales in the order they were opened, from the notification after position `after`;
        empty filters match everything. `next_position` of the page is where the next one
        starts (0 when there are no more).

        A query over the event store's notification log (the Sale.Opened events, and the
        Ingested ones of offline sales; the store selects them by topic), each match's current
        state loaded from the repository: no
        projection to keep, nothing new recorded. Its cost grows with the sales opened since
        `after`, so a read model will replace it once partners list large histories.
        """
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValueError(f"a page holds 1..{MAX_PAGE_SIZE} sales")
        if after < 0:
            raise ValueError("a position is a non-negative integer")
        # Offline sales begin with their Ingested event (created complete) instead.
        topics = [get_topic(Sale.Opened), get_topic(Sale.Ingested)]
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

    def register_cashier(
        self, store_id: str, cashier_id: str, name: str, pin: str,
        roles: list[str] | None = None,
    ) -> bool:
        """Register a cashier (supervisor setup); True if new. The same cashier again, with
        the same name and PIN, is a no-op (False) but for `roles`, which are set when given;
        with another name or PIN, a CashierConflictError."""
        existing = self.get_or_none(cashier_key(store_id, cashier_id))
        if isinstance(existing, Cashier):
            if existing.name != name.strip() or not existing.verify_pin(pin):
                raise CashierConflictError(
                    f"cashier {cashier_id} of store {store_id} is registered with other details"
                )
            if roles is not None:
                existing.set_roles(roles)
                self.save(existing)
            return False
        cashier = Cashier.register(store_id, cashier_id, name, pin)
        if roles:
            cashier.set_roles(roles)
        self.save(cashier)
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

    # -- tenders ----------------------------------------------------------------------------

    def _tender_result(self, sale: Sale, payment_id: str) -> TenderResult:
        return TenderResult(
            payment_id=payment_id, status="approved", sale_status=sale.status,
            paid_minor=sale.paid_minor, due_minor=sale.due_minor,
            change_minor=sale.change_minor, receipt_number=sale.receipt_number,
            currency=sale.currency,
        )

    def tender_cash(self, sale_id: UUID, key: str, amount_minor: int) -> TenderResult:
        """Cash handed over at the lane: into the sale and the drawer of the sale's shift,
        completing the sale when it covers the total (change computed, and handed back out
        of the drawer). The same key again is the same tender."""
        uow = UnitOfWork(self)
        sale = self._sale(sale_id)
        uow.add(sale)
        done = sale.tenders.get(f"cash:{key}") or sale.excess.get(f"cash:{key}")
        if done is not None:
            if done.amount_minor != amount_minor:
                raise SaleConflictError(f"cash tender {key} was {done.amount_minor}")
            return self._tender_result(sale, done.payment_id)
        shift = uow.get(UUID(sale.shift_id)) if sale.shift_id else None
        if not isinstance(shift, Shift) or not shift.is_open:
            raise NoShiftError(f"sale {sale_id} has no open shift to take cash into")
        tender = sale.tender_cash(key, amount_minor, next_receipt_of(uow, sale))
        # Keyed by sale too: lanes reuse tender keys across sales ("cash-1" in every sale).
        shift.cash_sale(tender.amount_minor, f"{sale.id}:{tender.payment_id}")
        settle(uow, sale)
        self.save(*uow.aggregates.values())
        return self._tender_result(sale, tender.payment_id)

    def check_tender(
        self, sale_id: UUID, kind: str, amount_minor: int, key: str = ""
    ) -> tuple[SaleView, bool]:
        """Whether the sale takes this tender now (before asking payments or crm): the sale,
        and whether it is a retry of a tender already forwarded under `key` (recorded, so a
        retry is forwarded again even once the sale counts it or is completed)."""
        sale = self._sale(sale_id)
        if not key:
            sale.check_tender(kind, amount_minor)
            return self.get_sale(sale_id), False
        retry = sale.request_tender(key, kind, amount_minor)
        if not retry:
            self.save(sale)
        return self.get_sale(sale_id), retry

    # -- void, suspend, resume --------------------------------------------------------------

    #: A void of a sale above this total needs a supervisor (env CHECKOUT_VOID_APPROVAL_MINOR).
    VOID_APPROVAL_MINOR = 100_00
    #: A return without a receipt above this needs a supervisor
    #: (env CHECKOUT_RETURN_APPROVAL_MINOR).
    RETURN_APPROVAL_MINOR = 50_00

    def _threshold(self, name: str, default: int) -> int:
        return int(self.env.get(name, default))

    def approve(self, store_id: str, supervisor_id: str, pin: str, what: str) -> str:
        """The supervisor's id once their PIN and role check out; ApprovalRequiredError if
        none is given, BadPinError for a wrong PIN, PermissionRequiredError for a cashier
        who is not a supervisor."""
        if not supervisor_id:
            raise ApprovalRequiredError(f"{what} needs a supervisor's approval")
        supervisor = self.login(store_id, supervisor_id, pin)
        if not supervisor.is_supervisor:
            raise PermissionRequiredError(f"{supervisor_id} is not a supervisor")
        return supervisor.cashier_id

    def void_sale(
        self, sale_id: UUID, reason: str, supervisor_id: str = "", supervisor_pin: str = ""
    ) -> list[Tender]:
        """Void a sale before completion; the tenders paid, to give back. Cash goes back out
        of the drawer now; above the threshold a supervisor approves with their PIN."""
        uow = UnitOfWork(self)
        sale = self._sale(sale_id)
        uow.add(sale)
        if sale.status == "voided":
            return list(sale.tenders.values())
        approved_by = ""
        threshold = self._threshold("CHECKOUT_VOID_APPROVAL_MINOR", self.VOID_APPROVAL_MINOR)
        if max(sale.total_minor, sale.paid_minor) > threshold or supervisor_id:
            approved_by = self.approve(sale.store_id, supervisor_id, supervisor_pin,
                                       f"a void above {threshold}")
        sale.void(reason, approved_by)
        cash = sale.cash_minor
        if cash and sale.shift_id:
            shift = uow.get(UUID(sale.shift_id))
            if isinstance(shift, Shift) and shift.is_open:
                shift.give_back(cash, f"void:{sale.id}")
        self.save(*uow.aggregates.values())
        return list(sale.tenders.values())

    def suspend_sale(self, sale_id: UUID) -> None:
        sale = self._sale(sale_id)
        sale.suspend()
        self.save(sale)

    def resume_sale(self, sale_id: UUID, store_id: str, lane_id: str, cashier_id: str) -> None:
        """Take a parked sale up on a lane of its store with an open shift of this cashier."""
        sale = self._sale(sale_id)
        if sale.status == OPEN and (sale.store_id, sale.lane_id, sale.cashier_id) == (
                store_id, lane_id, cashier_id):
            return  # resumed already (a retry)
        if sale.status != SUSPENDED:
            raise SaleNotOpenError(f"sale {sale_id} is {sale.status}, not suspended")
        shift = self.open_shift_of(store_id, lane_id)
        if shift is None:
            raise NoShiftError(f"lane {lane_id} of store {store_id} has no open shift")
        if shift.cashier_id != cashier_id:
            raise WrongCashierError(
                f"lane {lane_id} is in the shift of {shift.cashier_id}, not {cashier_id}")
        sale.resume(store_id, lane_id, cashier_id, str(shift.id))
        self.save(sale)

    # -- returns ----------------------------------------------------------------------------

    def find_sale(self, reference: str) -> Sale:
        """The original sale of a return: by its id or by its receipt number."""
        try:
            return self._sale(UUID(reference))
        except ValueError:
            pass
        ref = self.get_or_none(receipt_ref_id(reference))
        if not isinstance(ref, ReceiptRef):
            raise SaleNotFoundError(f"no sale with id or receipt number {reference!r}")
        return self._sale(ref.sale_id)

    def return_goods(
        self, return_id: UUID, store_id: str, lane_id: str, cashier_id: str,
        lines: list[ReturnRequestLine], original: str = "", *, permitted: bool = False,
        supervisor_id: str = "", supervisor_pin: str = "", exchange_sale_id: str = "",
    ) -> Return:
        """Take goods back on a lane with an open shift. With `original` (sale id or receipt
        number): at most what it sold and has not taken back, refunded to its tenders. Without
        one: the `permitted` no-receipt permission, priced from the catalog, refunded in cash,
        and above the threshold a supervisor's approval. Cash refunds leave the drawer now.
        The same return id again returns the first return."""
        existing = self.get_or_none(return_id)
        if isinstance(existing, Return):
            return existing
        if existing is not None:
            raise SaleConflictError(f"{return_id} is not a return")
        if not lines:
            raise ReturnError("a return has at least one line")
        shift = self.open_shift_of(store_id, lane_id)
        if shift is None:
            raise NoShiftError(f"lane {lane_id} of store {store_id} has no open shift")
        if shift.cashier_id != cashier_id:
            raise WrongCashierError(
                f"lane {lane_id} is in the shift of {shift.cashier_id}, not {cashier_id}")
        uow = UnitOfWork(self)
        uow.add(shift)
        if original:
            ret = self._return_with_receipt(return_id, shift, lines, original, uow,
                                            supervisor_id, supervisor_pin, exchange_sale_id)
        else:
            ret = self._return_without_receipt(return_id, shift, lines, permitted, uow,
                                               supervisor_id, supervisor_pin, exchange_sale_id)
        if ret.cash_minor:
            shift.cash_refund(ret.cash_minor, f"return:{return_id}")
        uow.add(ret)
        self.save(*uow.aggregates.values())
        return ret

    def _return_with_receipt(
        self, return_id: UUID, shift: Shift, lines: list[ReturnRequestLine], original: str,
        uow: UnitOfWork, supervisor_id: str, supervisor_pin: str, exchange_sale_id: str,
    ) -> Return:
        sale = self.find_sale(original)
        uow.add(sale)
        if sale.store_id != shift.store_id:
            raise ReturnError(f"sale {sale.id} was sold in store {sale.store_id}")
        quantities: dict[int, int] = {}
        restock: dict[int, bool] = {}
        for req in lines:
            if not req.line_no:
                raise ReturnError("a return with a receipt names each line's line_no")
            quantities[req.line_no] = quantities.get(req.line_no, 0) + req.quantity
            restock[req.line_no] = req.restock
        # Checked before pricing: refund_amounts needs lines that exist.
        for line_no, quantity in quantities.items():
            if line_no not in sale.sold:
                raise ReturnError(f"sale {sale.id} has no line {line_no}")
            if not isinstance(quantity, int) or quantity < 1:
                raise ReturnError("a returned quantity is a positive integer")
            if quantity > sale.returnable(line_no):
                raise ReturnError(
                    f"line {line_no}: {quantity} returned, only {sale.returnable(line_no)} "
                    f"left of {sale.sold[line_no][0]} sold")
        out_lines: list[dict[str, Any]] = []
        total = tax = 0
        for line_no in sorted(quantities):
            amount, line_tax = sale.refund_amounts(line_no, quantities[line_no])
            line = sale.lines[line_no]
            out_lines.append({"line_no": line_no, "sku": line.sku,
                              "quantity": quantities[line_no], "amount_minor": amount,
                              "tax_minor": line_tax, "restock": restock[line_no]})
            total += amount
            tax += line_tax
        approved_by = ""
        if supervisor_id:
            approved_by = self.approve(shift.store_id, supervisor_id, supervisor_pin,
                                       "a return")
        plan = sale.plan_refunds(total)
        sale.record_return(str(return_id), quantities, plan)
        return self._new_return(return_id, shift, str(sale.id), out_lines, plan, total, tax,
                                sale.customer_id, approved_by, exchange_sale_id, uow)

    def _return_without_receipt(
        self, return_id: UUID, shift: Shift, lines: list[ReturnRequestLine], permitted: bool,
        uow: UnitOfWork, supervisor_id: str, supervisor_pin: str, exchange_sale_id: str,
    ) -> Return:
        if not permitted:
            raise PermissionRequiredError("a return without a receipt needs the permission")
        out_lines: list[dict[str, Any]] = []
        total = 0
        for req in lines:
            if not req.sku or not isinstance(req.quantity, int) or not 0 < req.quantity <= 999:
                raise ReturnError("a return without a receipt names a sku and a quantity")
            price = self.price_of(req.sku)
            if price.currency != shift.currency:
                raise PriceCurrencyError(f"{req.sku} is priced in {price.currency}")
            amount = price.price_minor * req.quantity
            out_lines.append({"line_no": 0, "sku": req.sku, "quantity": req.quantity,
                              "amount_minor": amount, "tax_minor": 0,
                              "restock": req.restock})
            total += amount
        threshold = self._threshold("CHECKOUT_RETURN_APPROVAL_MINOR",
                                    self.RETURN_APPROVAL_MINOR)
        approved_by = ""
        if total > threshold or supervisor_id:
            approved_by = self.approve(shift.store_id, supervisor_id, supervisor_pin,
                                       f"a return without a receipt above {threshold}")
        plan = [Tender(f"cash:return:{return_id}", CASH, total)] if total else []
        return self._new_return(return_id, shift, "", out_lines, plan, total, 0, "",
                                approved_by, exchange_sale_id, uow)

    def _new_return(
        self, return_id: UUID, shift: Shift, original_sale_id: str,
        lines: list[dict[str, Any]], refunds: list[Tender], total: int, tax: int,
        customer_id: str, approved_by: str, exchange_sale_id: str, uow: UnitOfWork,
    ) -> Return:
        lane = uow.get(lane_key(shift.store_id, shift.lane_id))
        if not isinstance(lane, LaneState):
            lane = LaneState.create(shift.store_id, shift.lane_id)
        uow.add(lane)
        return Return(
            id=return_id, completed_at=datetime.now(UTC), store_id=shift.store_id,
            lane_id=shift.lane_id, cashier_id=shift.cashier_id, shift_id=str(shift.id),
            currency=shift.currency, original_sale_id=original_sale_id, lines=lines,
            refunds=[t.as_dict() for t in refunds], total_minor=total, tax_minor=tax,
            customer_id=customer_id, approved_by=approved_by,
            exchange_sale_id=exchange_sale_id, receipt_number=lane.next_receipt(),
        )

    def get_return(self, return_id: UUID) -> Return:
        ret = self.get_or_none(return_id)
        if not isinstance(ret, Return):
            raise ReturnNotFoundError(f"no return {return_id}")
        return ret
