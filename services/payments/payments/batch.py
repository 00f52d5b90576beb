"""End-of-day batches and reconciliation against the acquirer's settlement file.

A batch is computed from payments' own events of a business day (UTC), per store and
optionally one terminal (a card terminal, or a lane for cash): sales, refunds, voids and tips
per card scheme, and cash. Closing is idempotent: one Batch aggregate per store, terminal and
day, whose id derives from them, so closing again returns the first close.

Reconciliation compares the captured payments of a day with the acquirer's settlement file
(the simulator's CSV: sale and completion rows move money) by RRN, and records every
difference in a Reconciliation aggregate (one per day; reconciling again adds a run).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

BATCH_NAMESPACE = uuid5(NAMESPACE_URL, "tillstream:payments:batches")

SALE = "sale"
REFUND = "refund"
VOID = "void"
TIP = "tip"
CASH = "cash"

MATCHED = "matched"
MISSING_OURS = "missing_ours"
MISSING_ACQUIRER = "missing_acquirer"
AMOUNT_MISMATCH = "amount_mismatch"

#: Settlement rows that move money (an authorization alone only holds funds).
FINANCIAL_TYPES = frozenset({"sale", "completion"})
#: Settlement rows of the referenced refunds the acquirer made (money back to cards).
REFUND_TYPES = frozenset({"refund"})


class BatchError(ValueError):
    """A batch or reconciliation request that cannot be served (bad day, file, currency)."""


@dataclass(frozen=True)
class BatchTotal:
    scheme: str
    type: str
    count: int
    amount_minor: int


@dataclass(frozen=True)
class BatchReport:
    """A closed batch as a client sees it."""

    batch_id: str
    store_id: str
    terminal_id: str
    business_day: str
    currency: str
    totals: tuple[BatchTotal, ...]
    net_minor: int
    closed_at_ms: int


@dataclass(frozen=True)
class Difference:
    kind: str
    payment_id: str
    rrn: str
    auth_code: str
    ours_minor: int
    acquirer_minor: int
    currency: str
    action: str = "none"


@dataclass(frozen=True)
class ReconciliationReport:
    reconciliation_id: str
    business_day: str
    matched: int
    differences: tuple[Difference, ...]
    completed_at_ms: int


@dataclass
class Totals:
    """Totals being added up: (scheme, type) -> [count, amount]."""

    currency: str = ""
    by_key: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def add(self, scheme: str, kind: str, amount_minor: int, currency: str) -> None:
        if amount_minor <= 0:
            return
        if self.currency and currency != self.currency:
            raise BatchError(f"a batch is in one currency: {self.currency} and {currency}")
        self.currency = currency
        entry = self.by_key.setdefault((scheme, kind), [0, 0])
        entry[0] += 1
        entry[1] += amount_minor

    def totals(self) -> tuple[BatchTotal, ...]:
        return tuple(
            BatchTotal(scheme, kind, count, amount)
            for (scheme, kind), (count, amount) in sorted(self.by_key.items())
        )


def net_minor(totals: Iterable[BatchTotal]) -> int:
    """What the batch brings in: sales, tips and cash less refunds (voids moved nothing)."""
    signs = {SALE: 1, TIP: 1, CASH: 1, REFUND: -1, VOID: 0}
    return sum(signs[t.type] * t.amount_minor for t in totals)


def business_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise BatchError(f"business_day must be YYYY-MM-DD, not {text!r}") from None


class Batch(Aggregate):
    """The close of one store's (and terminal's) business day."""

    class Closed(Aggregate.Created):
        store_id: str
        terminal_id: str
        business_day: str
        currency: str
        totals: list[list[object]]
        net_minor: int
        closed_at_ms: int

    @staticmethod
    def create_id(store_id: str, terminal_id: str, day: str) -> UUID:
        return uuid5(BATCH_NAMESPACE, f"batch:{store_id}:{terminal_id}:{day}")

    @classmethod
    def close(
        cls,
        store_id: str,
        terminal_id: str,
        day: str,
        currency: str,
        totals: tuple[BatchTotal, ...],
        closed_at_ms: int,
    ) -> Batch:
        rows: list[list[object]] = [[t.scheme, t.type, t.count, t.amount_minor] for t in totals]
        return cls._create(
            cls.Closed,
            id=cls.create_id(store_id, terminal_id, day),
            store_id=store_id,
            terminal_id=terminal_id,
            business_day=day,
            currency=currency,
            totals=rows,
            net_minor=net_minor(totals),
            closed_at_ms=closed_at_ms,
        )

    @event(Closed)
    def __init__(
        self,
        store_id: str,
        terminal_id: str,
        business_day: str,
        currency: str,
        totals: list[list[object]],
        net_minor: int,
        closed_at_ms: int,
    ) -> None:
        self.store_id = store_id
        self.terminal_id = terminal_id
        self.business_day = business_day
        self.currency = currency
        self.totals = totals
        self.net_minor = net_minor
        self.closed_at_ms = closed_at_ms

    def report(self) -> BatchReport:
        totals = tuple(
            BatchTotal(str(s), str(k), int(str(c)), int(str(a))) for s, k, c, a in self.totals
        )
        return BatchReport(
            str(self.id),
            self.store_id,
            self.terminal_id,
            self.business_day,
            self.currency,
            totals,
            self.net_minor,
            self.closed_at_ms,
        )


class Reconciliation(Aggregate):
    """The reconciliation runs of one business day; the last one is the answer."""

    class Started(Aggregate.Created):
        business_day: str

    class Completed(Aggregate.Event):
        business_day: str
        matched: int
        differences: list[list[object]]
        completed_at_ms: int

    @staticmethod
    def create_id(day: str) -> UUID:
        return uuid5(BATCH_NAMESPACE, f"reconciliation:{day}")

    @classmethod
    def start(cls, day: str) -> Reconciliation:
        return cls._create(cls.Started, id=cls.create_id(day), business_day=day)

    @event(Started)
    def __init__(self, business_day: str) -> None:
        self.business_day = business_day
        self.matched = 0
        self.differences: list[list[object]] = []
        self.completed_at_ms = 0

    def complete(
        self, matched: int, differences: Iterable[Difference], completed_at_ms: int
    ) -> None:
        rows: list[list[object]] = [
            [
                d.kind,
                d.payment_id,
                d.rrn,
                d.auth_code,
                d.ours_minor,
                d.acquirer_minor,
                d.currency,
                d.action,
            ]
            for d in differences
        ]
        self._completed(
            business_day=self.business_day,
            matched=matched,
            differences=rows,
            completed_at_ms=completed_at_ms,
        )

    @event(Completed)
    def _completed(
        self, business_day: str, matched: int, differences: list[list[object]], completed_at_ms: int
    ) -> None:
        self.matched = matched
        self.differences = differences
        self.completed_at_ms = completed_at_ms

    def report(self) -> ReconciliationReport:
        differences = tuple(
            Difference(str(k), str(p), str(r), str(a), int(str(o)), int(str(q)), str(c), str(x))
            for k, p, r, a, o, q, c, x in self.differences
        )
        return ReconciliationReport(
            str(self.id), self.business_day, self.matched, differences, self.completed_at_ms
        )


@dataclass(frozen=True)
class SettlementRow:
    """One financial row of the acquirer's settlement file (masked PAN only, never a PAN)."""

    day: str
    terminal: str
    stan: str
    rrn: str
    auth_code: str
    amount_minor: int
    currency: str
    type: str


def read_settlement(
    path: Path, day: str, types: frozenset[str] = FINANCIAL_TYPES
) -> list[SettlementRow]:
    """The rows of `day` and `types` in a settlement CSV (BatchError if unreadable); by
    default the charges (sales, completions)."""
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise BatchError(f"cannot read settlement file {path.name}: {error.strerror}") from None
    result = []
    for number, row in enumerate(rows, start=2):
        try:
            if row["date"] != day or row["type"] not in types:
                continue
            result.append(
                SettlementRow(
                    row["date"],
                    row["terminal"],
                    row["stan"],
                    row["rrn"],
                    row["auth_code"],
                    int(row["amount_minor"]),
                    row["currency"],
                    row["type"],
                )
            )
        except (KeyError, ValueError, TypeError):
            raise BatchError(f"settlement file {path.name}: bad row {number}") from None
    return result
