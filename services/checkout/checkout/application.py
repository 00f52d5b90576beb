"""The checkout application: lane commands on sales, priced from the local price replica."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from checkout.domainmodel import (
    PriceEntry,
    Sale,
    SaleError,
    price_entry_id,
)
from tillstream.eventstore import ServiceApplication


class SaleNotFoundError(Exception):
    """No sale with this id."""


class SaleConflictError(Exception):
    """A sale id is re-used with different details."""


class UnknownSkuError(Exception):
    """The SKU is not in the price replica, or is not for sale."""


class PriceCurrencyError(SaleError):
    """The catalog prices this SKU in another currency than the sale's."""


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


class Checkout(ServiceApplication):
    """Sales rung up on the lanes, and the price replica they are priced from."""

    name = "checkout"

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
        sale = Sale(id=sale_id, store_id=store_id, lane_id=lane_id, cashier_id=cashier_id,
                    currency=currency)
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
            line = sale.add_line(line_no, sku, quantity, price.price_minor)
            self.save(sale)
        return AddedLine(line.unit_price_minor, line.line_total_minor, sale.total_minor,
                         sale.currency)

    def attach_customer(self, sale_id: UUID, customer_id: str) -> None:
        sale = self._sale(sale_id)
        sale.attach_customer(customer_id)
        self.save(sale)

    def get_sale(self, sale_id: UUID) -> SaleView:
        sale = self._sale(sale_id)
        return SaleView(
            sale_id=str(sale.id),
            store_id=sale.store_id,
            lane_id=sale.lane_id,
            cashier_id=sale.cashier_id,
            status=sale.status,
            currency=sale.currency,
            total_minor=sale.total_minor,
            paid_minor=sale.paid_minor,
            due_minor=sale.due_minor,
            customer_id=sale.customer_id,
            lines=[line.as_dict() for line in sorted(sale.lines.values(),
                                                      key=lambda ln: ln.line_no)],
            tenders=[tender.as_dict() for tender in sale.tenders.values()],
        )

    def price_of(self, sku: str) -> PriceEntry:
        """The replica's entry for a SKU that is for sale."""
        entry = self.get_or_none(price_entry_id(sku))
        if not isinstance(entry, PriceEntry):
            raise UnknownSkuError(f"unknown SKU {sku!r}")
        if not entry.active:
            raise UnknownSkuError(f"SKU {sku!r} is not for sale")
        return entry

    def _sale(self, sale_id: UUID) -> Sale:
        sale = self.get_or_none(sale_id)
        if not isinstance(sale, Sale):
            raise SaleNotFoundError(f"no sale {sale_id}")
        return sale
