"""Analytics' model: no aggregates, only the facts it counts and how a batch folds them.

Pure and in memory (standard library only): a batch of upstream events becomes increments per
row key, which the projection store then adds to its tables in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime


def utc_day_of_ms(epoch_ms: int) -> date:
    """The UTC calendar day of a unix time in milliseconds."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).date()


def utc_day_of_iso(timestamp: str) -> date:
    """The UTC calendar day of an ISO 8601 timestamp with an offset (naive means UTC)."""
    moment = datetime.fromisoformat(timestamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date()


@dataclass(frozen=True)
class SaleFact:
    """A completed sale, as the reports count it."""

    store_id: str
    day: date
    currency: str
    total_minor: int
    items_sold: int


@dataclass(frozen=True)
class PaymentFact:
    """A captured payment, as the payment-mix report counts it."""

    store_id: str
    day: date
    tender: str
    scheme: str
    currency: str
    amount_minor: int


@dataclass(frozen=True, order=True)
class SalesKey:
    """A row of sales_by_store_day."""

    store_id: str
    day: date
    currency: str


@dataclass
class SalesTotals:
    sales_count: int = 0
    total_minor: int = 0
    items_sold: int = 0


@dataclass(frozen=True, order=True)
class PaymentKey:
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

    def add_sale(self, sale: SaleFact) -> None:
        key = SalesKey(sale.store_id, sale.day, sale.currency)
        totals = self.sales.setdefault(key, SalesTotals())
        totals.sales_count += 1
        totals.total_minor += sale.total_minor
        totals.items_sold += sale.items_sold

    def add_payment(self, payment: PaymentFact) -> None:
        key = PaymentKey(
            payment.store_id, payment.day, payment.tender, payment.scheme, payment.currency
        )
        totals = self.payments.setdefault(key, PaymentTotals())
        totals.count += 1
        totals.total_minor += payment.amount_minor

    def __bool__(self) -> bool:
        return bool(self.sales or self.payments)
