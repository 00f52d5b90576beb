"""Offline selling: a sale rung up by the agent while checkout is out of reach, and the
limits on the card payments the store accepts at its own risk meanwhile.

Pure domain: no I/O here. The gateway loads, calls and publishes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_agent.catalog import Product
from edge_agent.config import OfflineLimits
from tillstream.events.v1 import checkout_pb2, common_pb2, edge_pb2

HOUR_MS = 3_600_000


class OfflineSaleError(ValueError):
    """A command the offline sale refuses (wrong currency, overpaid card, empty basket...)."""


class OfflineLimitError(OfflineSaleError):
    """A card payment over the offline limits: per payment, in total, or offline too long."""


def money(amount_minor: int, currency: str) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount_minor, currency=currency)


def included_tax(gross_minor: int, rate_bp: int) -> int:
    """The tax inside a tax-inclusive amount, rounded half up: gross * r / (1 + r)."""
    return (2 * gross_minor * rate_bp + 10_000 + rate_bp) // (2 * (10_000 + rate_bp))


@dataclass
class OfflineLine:
    line_no: int
    sku: str
    quantity: int
    unit_price_minor: int
    tax_class: str

    @property
    def total_minor(self) -> int:
        return self.unit_price_minor * self.quantity


@dataclass
class OfflineTender:
    payment_id: str
    kind: str  # cash or card
    amount_minor: int


@dataclass
class OfflineSale:
    """A basket and its tenders, priced from the store's catalog replica."""

    sale_id: str
    store_id: str
    lane_id: str
    cashier_id: str
    currency: str
    customer_id: str = ""
    lines: dict[int, OfflineLine] = field(default_factory=dict)
    tenders: list[OfflineTender] = field(default_factory=list)

    def add_line(self, line_no: int, product: Product, quantity: int) -> OfflineLine:
        if self.completed:
            raise OfflineSaleError(f"sale {self.sale_id} is already completed")
        if quantity < 1:
            raise OfflineSaleError("quantity must be at least 1")
        if line_no < 1 or line_no in self.lines:
            raise OfflineSaleError(f"line {line_no} is taken or invalid")
        if product.currency != self.currency:
            raise OfflineSaleError(f"{product.sku} is priced in {product.currency}")
        line = OfflineLine(line_no, product.sku, quantity, product.price_minor, product.tax_class)
        self.lines[line_no] = line
        return line

    @property
    def total_minor(self) -> int:
        return sum(line.total_minor for line in self.lines.values())

    @property
    def paid_minor(self) -> int:
        return sum(tender.amount_minor for tender in self.tenders)

    @property
    def due_minor(self) -> int:
        return max(0, self.total_minor - self.paid_minor)

    @property
    def change_minor(self) -> int:
        return max(0, self.paid_minor - self.total_minor)

    @property
    def completed(self) -> bool:
        return bool(self.lines) and self.paid_minor >= self.total_minor

    def _check_tender(self, amount_minor: int) -> None:
        if not self.lines:
            raise OfflineSaleError("nothing to pay: the basket is empty")
        if self.completed:
            raise OfflineSaleError(f"sale {self.sale_id} is already paid")
        if amount_minor <= 0:
            raise OfflineSaleError("amount_minor must be positive")

    def pay_cash(self, payment_id: str, amount_minor: int) -> OfflineTender:
        """Cash may exceed what is due: the difference is change."""
        self._check_tender(amount_minor)
        tender = OfflineTender(payment_id, "cash", amount_minor)
        self.tenders.append(tender)
        return tender

    def pay_card(self, payment_id: str, amount_minor: int) -> OfflineTender:
        """A card pays at most what is due."""
        self._check_tender(amount_minor)
        if amount_minor > self.due_minor:
            raise OfflineSaleError(f"card amount {amount_minor} is over the due {self.due_minor}")
        tender = OfflineTender(payment_id, "card", amount_minor)
        self.tenders.append(tender)
        return tender

    def taxes(self, rates_bp: dict[str, int]) -> list[checkout_pb2.SaleTax]:
        """Taxes included in the prices, per tax class with a known rate."""
        gross: dict[str, int] = {}
        for line in self.lines.values():
            gross[line.tax_class] = gross.get(line.tax_class, 0) + line.total_minor
        return [
            checkout_pb2.SaleTax(
                tax_class=tax_class,
                name=tax_class,
                rate_bp=rates_bp[tax_class],
                included=True,
                taxable=money(amount, self.currency),
                amount=money(included_tax(amount, rates_bp[tax_class]), self.currency),
            )
            for tax_class, amount in sorted(gross.items())
            if tax_class in rates_bp
        ]

    def receipt_number(self) -> str:
        """<store>-<lane>-OFF-<first 8 of the sale id>: unique without a counter to keep."""
        return f"{self.store_id}-{self.lane_id}-OFF-{self.sale_id[:8]}"

    def completed_event(
        self, completed_at_ms: int, rates_bp: dict[str, int]
    ) -> edge_pb2.OfflineSaleCompleted:
        if not self.completed:
            raise OfflineSaleError(f"sale {self.sale_id} is not paid")
        taxes = self.taxes(rates_bp)
        cur = self.currency
        return edge_pb2.OfflineSaleCompleted(
            sale_id=self.sale_id,
            store_id=self.store_id,
            lane_id=self.lane_id,
            cashier_id=self.cashier_id,
            currency=cur,
            customer_id=self.customer_id,
            lines=[
                common_pb2.SaleLine(
                    line_no=line.line_no,
                    sku=line.sku,
                    quantity=line.quantity,
                    unit_price=money(line.unit_price_minor, cur),
                    line_total=money(line.total_minor, cur),
                )
                for line in sorted(self.lines.values(), key=lambda x: x.line_no)
            ],
            tenders=[
                common_pb2.SaleTender(
                    payment_id=t.payment_id, kind=t.kind, amount=money(t.amount_minor, cur)
                )
                for t in self.tenders
            ],
            subtotal=money(self.total_minor, cur),
            discount_total=money(0, cur),
            tax_total=money(sum(t.amount.amount_minor for t in taxes), cur),
            total=money(self.total_minor, cur),
            change=money(self.change_minor, cur),
            taxes=taxes,
            receipt_number=self.receipt_number(),
            completed_at_ms=completed_at_ms,
        )

    def receipt_text(self) -> str:
        """The receipt, marked OFFLINE: prices came from the store's replica."""
        rows = ["*** OFFLINE ***", f"{self.store_id} lane {self.lane_id}", self.receipt_number()]
        for line in sorted(self.lines.values(), key=lambda x: x.line_no):
            rows.append(f"{line.quantity} x {line.sku} {_fmt(line.total_minor)}")
        rows.append(f"TOTAL {self.currency} {_fmt(self.total_minor)}")
        for tender in self.tenders:
            rows.append(f"{tender.kind.upper()} {_fmt(tender.amount_minor)}")
        if self.change_minor:
            rows.append(f"CHANGE {_fmt(self.change_minor)}")
        rows.append("*** OFFLINE ***")
        return "\n".join(rows)


def _fmt(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


@dataclass
class OfflineLedger:
    """The offline period: when it began and what cards the store took since. Persisted by
    the agent (store KV) so a restart keeps counting against the same limits."""

    limits: OfflineLimits
    since_ms: int = 0
    card_total_minor: int = 0
    sales: int = 0

    def begin(self, now_ms: int) -> None:
        if not self.since_ms:
            self.since_ms = now_ms

    def end(self) -> None:
        self.since_ms = 0
        self.card_total_minor = 0
        self.sales = 0

    def check_card(self, amount_minor: int, now_ms: int) -> None:
        """Raise OfflineLimitError unless the card payment fits every limit."""
        if amount_minor > self.limits.per_payment_minor:
            raise OfflineLimitError(
                f"{amount_minor} is over the offline per-payment limit "
                f"{self.limits.per_payment_minor}"
            )
        if self.card_total_minor + amount_minor > self.limits.total_minor:
            raise OfflineLimitError(f"offline card total would exceed {self.limits.total_minor}")
        if self.since_ms and now_ms - self.since_ms > self.limits.max_offline_hours * HOUR_MS:
            raise OfflineLimitError(
                f"offline for more than {self.limits.max_offline_hours} h: no more cards"
            )

    def record_card(self, amount_minor: int) -> None:
        self.card_total_minor += amount_minor

    def as_dict(self) -> dict[str, int]:
        return {
            "since_ms": self.since_ms,
            "card_total_minor": self.card_total_minor,
            "sales": self.sales,
        }

    def restore(self, raw: dict[str, int]) -> None:
        self.since_ms = int(raw.get("since_ms", 0))
        self.card_total_minor = int(raw.get("card_total_minor", 0))
        self.sales = int(raw.get("sales", 0))


def mask_pan(pan: str) -> tuple[str, str]:
    """(masked PAN: first 6 and last 4, scheme) of a PAN held in memory only."""
    if not pan.isdigit() or not 12 <= len(pan) <= 19:
        raise OfflineSaleError("pan must be 12 to 19 digits")
    scheme = {"4": "visa", "5": "mastercard", "3": "amex"}.get(pan[0], "other")
    return f"{pan[:6]}{'*' * (len(pan) - 10)}{pan[-4:]}", scheme
