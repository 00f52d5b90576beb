"""Analytics' model: UTC days and how a batch folds facts into row increments."""

from __future__ import annotations

from datetime import date

from analytics.domainmodel import (
    PaymentFact,
    PaymentKey,
    ProjectionBatch,
    SaleFact,
    SalesKey,
    utc_day_of_iso,
    utc_day_of_ms,
)


def test_utc_day_of_ms() -> None:
    assert utc_day_of_ms(1_735_689_599_999) == date(2024, 12, 31)
    assert utc_day_of_ms(1_735_689_600_000) == date(2025, 1, 1)


def test_utc_day_of_iso() -> None:
    assert utc_day_of_iso("2025-01-01T00:30:00+01:00") == date(2024, 12, 31)
    assert utc_day_of_iso("2025-01-01T00:30:00") == date(2025, 1, 1)


def test_batch_folds_sales_per_store_day_currency() -> None:
    batch = ProjectionBatch()
    assert not batch
    day = date(2025, 1, 1)
    batch.add_sale(SaleFact("s001", day, "EUR", 1000, 3))
    batch.add_sale(SaleFact("s001", day, "EUR", 250, 1))
    batch.add_sale(SaleFact("s001", day, "CHF", 700, 2))
    assert batch
    eur = batch.sales[SalesKey("s001", day, "EUR")]
    assert (eur.sales_count, eur.total_minor, eur.items_sold) == (2, 1250, 4)
    assert batch.sales[SalesKey("s001", day, "CHF")].total_minor == 700


def test_batch_folds_payments_per_tender_scheme_currency() -> None:
    batch = ProjectionBatch()
    day = date(2025, 1, 1)
    batch.add_payment(PaymentFact("s001", day, "card", "visa", "EUR", 1000))
    batch.add_payment(PaymentFact("s001", day, "card", "visa", "EUR", 500))
    batch.add_payment(PaymentFact("s001", day, "cash", "", "EUR", 200))
    visa = batch.payments[PaymentKey("s001", day, "card", "visa", "EUR")]
    assert (visa.count, visa.total_minor) == (2, 1500)
    assert len(batch.payments) == 2
