"""Analytics' model: no aggregates, only the facts it counts and how a batch folds them.

Pure and in memory (standard library only): a batch of upstream events becomes increments per
row key, which the projection store then adds to its tables in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

#: Basket sizes above this many items share one bucket (the distribution's long tail).
BASKET_CAP = 50


def utc_day_of_ms(epoch_ms: int) -> date:
    """The UTC calendar day of a unix time in milliseconds."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).date()


def utc_day_of_iso(timestamp: str) -> date:
    """The UTC calendar day of an ISO 8601 timestamp with an offset (naive means UTC)."""
    moment = datetime.fromisoformat(timestamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date()


def utc_hour_of_ms(epoch_ms: int) -> datetime:
    """The UTC hour (naive, minutes cut) of a unix time in milliseconds."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.replace(minute=0, second=0, microsecond=0, tzinfo=None)


def utc_hour_of_iso(timestamp: str) -> datetime:
    """The UTC hour (naive, minutes cut) of an ISO 8601 timestamp (naive means UTC)."""
    moment = datetime.fromisoformat(timestamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0, tzinfo=None)


def week_of(day: date) -> date:
    """The Monday that starts `day`'s ISO week: weeks are keyed by their first day."""
    return day - timedelta(days=day.weekday())


class LineFact(NamedTuple):
    """A sold line: what product analytics counts (a NamedTuple: made per line on replay,
    where a frozen dataclass's constructor showed up in the profile)."""

    sku: str
    quantity: int
    revenue_minor: int


class DiscountFact(NamedTuple):
    kind: str
    label: str
    amount_minor: int


class SaleFact(NamedTuple):
    """A completed sale, as the reports count it (a NamedTuple: one is made per sale on
    replay, where a frozen dataclass's constructor, a setattr per field, showed up)."""

    store_id: str
    day: date
    currency: str
    total_minor: int
    items_sold: int
    sale_id: str = ""
    hour: datetime | None = None  # None: midnight of `day`
    lines: tuple[LineFact, ...] = ()
    discounts: tuple[DiscountFact, ...] = ()
    discount_minor: int = 0
    tax_minor: int = 0
    offline: bool = False
    completed_at_ms: int = 0


@dataclass(frozen=True)
class CompletedSale:
    """A newly projected completed sale, as live listeners (dashboard, StreamSales) get it."""

    sale_id: str
    store_id: str
    currency: str
    total_minor: int
    items_sold: int
    completed_at_ms: int
    offline: bool


class PaymentFact(NamedTuple):
    """A captured payment, as the payment-mix report counts it."""

    store_id: str
    day: date
    tender: str
    scheme: str
    currency: str
    amount_minor: int


class SalesKey(NamedTuple):
    """A row of sales_by_store_day (NamedTuples hash and sort as plain tuples: cheap keys)."""

    store_id: str
    day: date
    currency: str


@dataclass
class SalesTotals:
    sales_count: int = 0
    total_minor: int = 0
    items_sold: int = 0


class PaymentKey(NamedTuple):
    """A row of payment_mix; money is summed per currency, never across currencies."""

    store_id: str
    day: date
    tender: str
    scheme: str
    currency: str


@dataclass
class PaymentTotals:
    count: int = 0
    total_minor: int = 0


@dataclass
class ProjectionBatch:
    """The increments one batch of upstream events makes to the report tables."""

    sales: dict[SalesKey, SalesTotals] = field(default_factory=dict)
    payments: dict[PaymentKey, PaymentTotals] = field(default_factory=dict)
    #: table -> key tuple -> increments (in the table's value-column order)
    counters: dict[str, dict[tuple[object, ...], list[int]]] = field(default_factory=dict)
    #: table -> key tuple -> the latest values of the columns set
    state: dict[str, dict[tuple[object, ...], dict[str, object]]] = field(default_factory=dict)
    #: completed sales of this batch, in upstream order, for live listeners
    completed: list[CompletedSale] = field(default_factory=list)

    def count(self, table: str, key: tuple[object, ...], *increments: int) -> None:
        """Add `increments` to the counters of `table`'s row `key`."""
        rows = self.counters.get(table)
        if rows is None:
            rows = self.counters[table] = {}
        row = rows.get(key)
        if row is None:
            rows[key] = list(increments)
            return
        for i, value in enumerate(increments):
            row[i] += value

    def put(self, table: str, key: tuple[object, ...], **values: object) -> None:
        """Set columns of `table`'s row `key`; later puts in a batch win, column by column."""
        self.state.setdefault(table, {}).setdefault(key, {}).update(values)

    def add_sale(self, sale: SaleFact) -> None:
        key = SalesKey(sale.store_id, sale.day, sale.currency)
        totals = self.sales.setdefault(key, SalesTotals())
        totals.sales_count += 1
        totals.total_minor += sale.total_minor
        totals.items_sold += sale.items_sold
        self._add_sale_details(sale)

    def _add_sale_details(self, sale: SaleFact) -> None:
        store, cur = sale.store_id, sale.currency
        hour = sale.hour or datetime(sale.day.year, sale.day.month, sale.day.day)
        self.count(
            "sales_by_store_hour",
            (store, hour, cur),
            1,
            sale.total_minor,
            sale.items_sold,
            sale.discount_minor,
            sale.tax_minor,
            int(sale.offline),
        )
        self.count(
            "sales_by_store_week",
            (store, week_of(sale.day), cur),
            1,
            sale.total_minor,
            sale.items_sold,
        )
        for line in sale.lines:
            self.count(
                "product_sales",
                (store, sale.day, line.sku, cur),
                line.quantity,
                line.revenue_minor,
                1,
            )
        self.count("basket_sizes", (store, sale.day, min(sale.items_sold, BASKET_CAP)), 1)
        for discount in sale.discounts:
            self.count(
                "discounts",
                (store, sale.day, discount.kind, discount.label, cur),
                1,
                discount.amount_minor,
            )
        self.completed.append(
            CompletedSale(
                sale.sale_id,
                store,
                cur,
                sale.total_minor,
                sale.items_sold,
                sale.completed_at_ms,
                sale.offline,
            )
        )

    def add_payment(self, payment: PaymentFact) -> None:
        key = PaymentKey(
            payment.store_id, payment.day, payment.tender, payment.scheme, payment.currency
        )
        totals = self.payments.setdefault(key, PaymentTotals())
        totals.count += 1
        totals.total_minor += payment.amount_minor

    def __bool__(self) -> bool:
        return bool(self.sales or self.payments or self.counters or self.state)
