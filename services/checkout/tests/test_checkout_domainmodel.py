"""Unit tests of checkout's aggregates: each behaviour and each guard."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from checkout.domainmodel import (
    COMPLETED,
    OPEN,
    CurrencyMismatchError,
    InvalidLineError,
    LineConflictError,
    PriceEntry,
    PriceEntryError,
    Sale,
    SaleError,
    SaleNotOpenError,
    price_entry_id,
)


def new_sale(currency: str = "EUR") -> Sale:
    return Sale(id=uuid4(), store_id="s001", lane_id="l1", cashier_id="c7", currency=currency)


def sale_with_lines() -> Sale:
    sale = new_sale()
    sale.add_line(1, "SKU-A", 2, 250)  # 500
    sale.add_line(2, "SKU-B", 1, 199)  # 199
    return sale


def event_names(sale: Sale) -> list[str]:
    return [type(e).__name__ for e in sale.collect_events()]


class TestSaleOpen:
    def test_open_sale_is_open_and_empty(self) -> None:
        sale = new_sale()
        assert sale.status == OPEN
        assert (sale.store_id, sale.lane_id, sale.cashier_id, sale.currency) == (
            "s001", "l1", "c7", "EUR")
        assert sale.total_minor == sale.paid_minor == sale.due_minor == 0
        assert event_names(sale) == ["Opened"]

    def test_check_open_refuses_missing_ids(self) -> None:
        with pytest.raises(SaleError):
            Sale.check_open("", "l1", "c7", "EUR")
        with pytest.raises(SaleError):
            Sale.check_open("s001", "l1", "", "EUR")

    def test_check_open_refuses_store_id_that_breaks_subjects(self) -> None:
        with pytest.raises(SaleError):
            Sale.check_open("s.001", "l1", "c7", "EUR")

    def test_check_open_refuses_bad_currency(self) -> None:
        for currency in ("eur", "EURO", "E1R", ""):
            with pytest.raises(CurrencyMismatchError):
                Sale.check_open("s001", "l1", "c7", currency)


class TestSaleLines:
    def test_add_line_totals(self) -> None:
        sale = sale_with_lines()
        assert sale.subtotal_minor == sale.total_minor == 699
        assert sale.due_minor == 699
        assert sale.lines[1].line_total_minor == 500

    def test_line_added_event_carries_store_and_currency(self) -> None:
        sale = new_sale()
        sale.collect_events()
        sale.add_line(1, "SKU-A", 3, 100)
        (added,) = sale.collect_events()
        assert isinstance(added, Sale.LineAdded)
        assert (added.store_id, added.currency, added.quantity, added.unit_price_minor) == (
            "s001", "EUR", 3, 100)

    def test_same_line_again_is_a_no_op(self) -> None:
        sale = new_sale()
        sale.add_line(1, "SKU-A", 2, 250)
        sale.collect_events()
        line = sale.add_line(1, "SKU-A", 2, 999)  # a retry, even at a new price
        assert line.unit_price_minor == 250
        assert sale.collect_events() == []

    def test_same_line_no_with_other_sku_or_quantity_is_a_conflict(self) -> None:
        sale = new_sale()
        sale.add_line(1, "SKU-A", 2, 250)
        with pytest.raises(LineConflictError):
            sale.add_line(1, "SKU-B", 2, 250)
        with pytest.raises(LineConflictError):
            sale.add_line(1, "SKU-A", 3, 250)

    @pytest.mark.parametrize("quantity", [0, -1, 100_000, True, 1.5])
    def test_quantity_must_be_positive_int_in_range(self, quantity: object) -> None:
        with pytest.raises(InvalidLineError):
            new_sale().add_line(1, "SKU-A", quantity, 100)  # type: ignore[arg-type]

    @pytest.mark.parametrize("line_no", [0, -3, 10_000])
    def test_line_no_in_range(self, line_no: int) -> None:
        with pytest.raises(InvalidLineError):
            new_sale().add_line(line_no, "SKU-A", 1, 100)

    def test_sku_required_and_price_non_negative(self) -> None:
        with pytest.raises(InvalidLineError):
            new_sale().add_line(1, "", 1, 100)
        with pytest.raises(InvalidLineError):
            new_sale().add_line(1, "SKU-A", 1, -1)

    def test_no_lines_after_completion(self) -> None:
        sale = sale_with_lines()
        sale.record_payment("p1", 699, "EUR", "card")
        with pytest.raises(SaleNotOpenError):
            sale.add_line(3, "SKU-C", 1, 100)


class TestSaleCustomer:
    def test_attach_customer(self) -> None:
        sale = new_sale()
        sale.attach_customer("cust-1")
        assert sale.customer_id == "cust-1"
        assert event_names(sale)[-1] == "CustomerAttached"

    def test_attach_same_customer_again_is_a_no_op(self) -> None:
        sale = new_sale()
        sale.attach_customer("cust-1")
        sale.collect_events()
        sale.attach_customer("cust-1")
        assert sale.collect_events() == []

    def test_replace_customer_while_open(self) -> None:
        sale = new_sale()
        sale.attach_customer("cust-1")
        sale.attach_customer("cust-2")
        assert sale.customer_id == "cust-2"

    def test_customer_id_required(self) -> None:
        with pytest.raises(SaleError):
            new_sale().attach_customer("")

    def test_no_new_customer_after_completion(self) -> None:
        sale = sale_with_lines()
        sale.record_payment("p1", 699, "EUR", "card")
        with pytest.raises(SaleNotOpenError):
            sale.attach_customer("cust-9")


class TestSalePayments:
    def test_partial_payment_keeps_sale_open(self) -> None:
        sale = sale_with_lines()
        sale.record_payment("p1", 300, "EUR", "card")
        assert sale.status == OPEN
        assert (sale.paid_minor, sale.due_minor) == (300, 399)

    def test_paid_in_full_completes_with_everything(self) -> None:
        sale = sale_with_lines()
        sale.attach_customer("cust-1")
        sale.record_payment("p1", 300, "EUR", "card")
        at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
        sale.collect_events()
        sale.record_payment("p2", 399, "EUR", "card", at=at)
        recorded, completed = sale.collect_events()
        assert isinstance(recorded, Sale.PaymentRecorded)
        assert isinstance(completed, Sale.Completed)
        assert sale.status == COMPLETED
        assert sale.completed_at == completed.completed_at == at
        assert completed.total_minor == 699
        assert completed.customer_id == "cust-1"
        assert [line["sku"] for line in completed.lines] == ["SKU-A", "SKU-B"]
        assert [t["payment_id"] for t in completed.tenders] == ["p1", "p2"]
        assert sale.due_minor == 0

    def test_overpayment_completes(self) -> None:
        sale = sale_with_lines()
        sale.record_payment("p1", 1000, "EUR", "card")
        assert sale.status == COMPLETED

    def test_payment_is_idempotent_per_payment_id(self) -> None:
        sale = sale_with_lines()
        sale.record_payment("p1", 300, "EUR", "card")
        sale.collect_events()
        sale.record_payment("p1", 300, "EUR", "card")
        assert sale.collect_events() == []
        assert sale.paid_minor == 300

    def test_payment_before_any_line_does_not_complete(self) -> None:
        sale = new_sale()
        sale.record_payment("p1", 100, "EUR", "card")
        assert sale.status == OPEN

    def test_payment_after_completion_is_excess(self) -> None:
        sale = sale_with_lines()
        sale.record_payment("p1", 699, "EUR", "card")
        sale.collect_events()
        sale.record_payment("p2", 50, "EUR", "card")
        (excess,) = sale.collect_events()
        assert isinstance(excess, Sale.ExcessPaymentRecorded)
        assert "p2" in sale.excess and sale.paid_minor == 699
        sale.record_payment("p2", 50, "EUR", "card")  # and idempotent too
        assert sale.collect_events() == []

    def test_payment_in_other_currency_refused(self) -> None:
        with pytest.raises(CurrencyMismatchError):
            sale_with_lines().record_payment("p1", 699, "USD", "card")

    @pytest.mark.parametrize("amount", [0, -5, True])
    def test_payment_amount_positive(self, amount: int) -> None:
        with pytest.raises(SaleError):
            sale_with_lines().record_payment("p1", amount, "EUR", "card")

    def test_decline_recorded_once(self) -> None:
        sale = sale_with_lines()
        sale.collect_events()
        sale.record_decline("p9", 699, "EUR", "51")
        sale.record_decline("p9", 699, "EUR", "51")
        (declined,) = sale.collect_events()
        assert isinstance(declined, Sale.TenderDeclined)
        assert (declined.store_id, declined.response_code) == ("s001", "51")
        assert sale.declines == {"p9": "51"}
        assert sale.status == OPEN

    def test_decline_amount_guard(self) -> None:
        with pytest.raises(SaleError):
            sale_with_lines().record_decline("p9", -1, "EUR", "51")

    def test_sale_reconstructs_from_its_events(self) -> None:
        sale = sale_with_lines()
        sale.attach_customer("cust-1")
        sale.record_payment("p1", 699, "EUR", "card")
        copy = None
        for domain_event in sale.collect_events():
            copy = domain_event.mutate(copy)
        assert isinstance(copy, Sale)
        assert (copy.status, copy.total_minor, copy.paid_minor, copy.customer_id) == (
            COMPLETED, 699, 699, "cust-1")


class TestPriceEntry:
    def test_register_derives_id_from_sku(self) -> None:
        entry = PriceEntry.register("SKU-A", "Apple", 120, "EUR", True)
        assert entry.id == price_entry_id("SKU-A")
        assert (entry.price_minor, entry.currency, entry.active) == (120, "EUR", True)

    def test_update_changes_price_and_active(self) -> None:
        entry = PriceEntry.register("SKU-A", "Apple", 120, "EUR", True)
        entry.update("Apple", 130, "EUR", False)
        assert (entry.price_minor, entry.active) == (130, False)
        assert type(entry.collect_events()[-1]).__name__ == "Updated"

    def test_unchanged_update_records_nothing(self) -> None:
        entry = PriceEntry.register("SKU-A", "Apple", 120, "EUR", True)
        entry.collect_events()
        entry.update("Apple", 120, "EUR", True)
        assert entry.collect_events() == []

    @pytest.mark.parametrize(("sku", "price", "currency"), [
        ("", 1, "EUR"), ("SKU-A", -1, "EUR"), ("SKU-A", 1, "eur"), ("SKU-A", 1, ""),
    ])
    def test_price_guards(self, sku: str, price: int, currency: str) -> None:
        with pytest.raises(PriceEntryError):
            PriceEntry.register(sku, "x", price, currency, True)
        entry = PriceEntry.register("SKU-Z", "Zed", 1, "EUR", True)
        if sku:
            with pytest.raises(PriceEntryError):
                entry.update("x", price, currency, True)
