"""Basket editing, discounts, promotions and taxes: the Sale's guards, the application on
SQLite and PostgreSQL, the replica handlers, the lane commands, SaleCompleted and receipts."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from google.protobuf.message import Message

from checkout.application import Checkout
from checkout.bus import INVENTORY_HANDLERS, CheckoutCommands
from checkout.contracts import CheckoutContracts
from checkout.domainmodel import (
    PROMOTION_BOOK_ID,
    ApprovalRequiredError,
    DiscountApproval,
    InvalidLineError,
    LineConflictError,
    PermissionRequiredError,
    PriceEntryError,
    PromotionBook,
    Sale,
    SaleError,
    SaleNotOpenError,
    TaxTable,
    tax_table_id,
)
from checkout.main import build_application
from checkout.pricing import EXCLUSIVE, INCLUSIVE, PERCENTAGE, Promotion, TaxRate
from checkout.receipts import receipt_for_sale, render_text
from tillstream.codec import ReceivedEvent
from tillstream.consumer import Delivery, EventSourcedSink
from tillstream.events.v1 import checkout_pb2, common_pb2, inventory_pb2
from tillstream.service import CommandError
from tillstream.settings import Settings
from tillstream.testing import test_settings

PIN = "4321"


def new_sale() -> Sale:
    sale = Sale(id=uuid4(), store_id="s001", lane_id="l1", cashier_id="c7", currency="EUR")
    sale.add_line(1, "A", 2, 250, "std")  # 500
    sale.add_line(2, "B", 1, 199, "red")  # 199
    return sale


# -- the Sale -------------------------------------------------------------------------------


class TestSaleBasket:
    def test_remove_line_and_retry(self) -> None:
        sale = new_sale()
        sale.remove_line(2, "changed mind")
        assert sale.total_minor == 500
        sale.remove_line(2)  # no-op
        with pytest.raises(LineConflictError):
            sale.add_line(2, "B", 1, 199)
        with pytest.raises(InvalidLineError):
            sale.remove_line(9)

    def test_change_quantity(self) -> None:
        sale = new_sale()
        sale.change_line_quantity(1, 5)
        assert sale.total_minor == 5 * 250 + 199
        with pytest.raises(InvalidLineError):
            sale.change_line_quantity(1, 0)

    def test_price_override_needs_permission_and_reason(self) -> None:
        sale = new_sale()
        with pytest.raises(PermissionRequiredError):
            sale.override_price(1, 100, "price match", "sup-1", permitted=False)
        with pytest.raises(PermissionRequiredError):
            sale.override_price(1, 100, "price match", "", permitted=True)
        with pytest.raises(SaleError):
            sale.override_price(1, 100, "", "sup-1", permitted=True)
        sale.override_price(1, 100, "price match", "sup-1", permitted=True)
        assert sale.lines[1].unit_price_minor == 100
        assert sale.lines[1].list_price_minor == 250
        assert sale.total_minor == 399

    def test_discount_guards(self) -> None:
        sale = new_sale()
        approval = DiscountApproval(max_percent_bp=10_00, max_amount_minor=100)
        with pytest.raises(SaleError):
            sale.apply_line_discount(1, "percent", 5_00, "", approval=approval)  # no reason
        with pytest.raises(SaleError):
            sale.apply_line_discount(1, "half", 5_00, "r", approval=approval)
        with pytest.raises(SaleError):
            sale.apply_line_discount(1, "percent", 10_001, "r", approval=approval)
        with pytest.raises(ApprovalRequiredError):
            sale.apply_line_discount(1, "percent", 50_00, "damaged", approval=approval)
        with pytest.raises(ApprovalRequiredError):
            sale.apply_basket_discount("d1", "amount", 101, "goodwill", approval=approval)
        sale.apply_line_discount(1, "percent", 50_00, "damaged", "sup-1", approval=approval)
        sale.apply_basket_discount("d1", "amount", 99, "goodwill", approval=approval)
        sale.apply_basket_discount("d1", "amount", 99, "goodwill", approval=approval)  # retry
        with pytest.raises(LineConflictError):
            sale.apply_basket_discount("d1", "amount", 98, "goodwill", approval=approval)
        assert sale.total_minor == 250 + 199 - 99

    def test_completed_sale_takes_no_edits(self) -> None:
        sale = new_sale()
        sale.record_payment("p1", sale.total_minor, "EUR", "card")
        for edit in (lambda: sale.remove_line(1), lambda: sale.change_line_quantity(1, 3),
                     lambda: sale.apply_basket_discount("d", "amount", 1, "r")):
            with pytest.raises(SaleNotOpenError):
                edit()

    def test_pricing_context_drives_total_and_completion(self) -> None:
        sale = new_sale()
        sale.set_pricing_context(
            [Promotion("p", PERCENTAGE, skus=("A",), percent_bp=10_00, name="A -10%")],
            {"std": TaxRate("std", 10_00, EXCLUSIVE), "red": TaxRate("red", 5_00, EXCLUSIVE)},
        )
        # A: 500 - 50 = 450, +45 tax; B: 199 + 10 (9.95 half-up) = 209
        assert sale.total_minor == 450 + 45 + 199 + 10
        sale.record_payment("p1", 700, "EUR", "card")
        assert sale.status == "open"
        sale.record_payment("p2", 4, "EUR", "cash")
        assert sale.status == "completed"
        completed = next(e for e in sale.collect_events() if isinstance(e, Sale.Completed))
        assert completed.total_minor == 704
        assert (completed.subtotal_minor, completed.discount_minor, completed.tax_minor) == (
            699, 50, 55)
        assert {t["tax_class"] for t in completed.taxes} == {"std", "red"}

    def test_unchanged_pricing_context_records_nothing(self) -> None:
        sale = new_sale()
        sale.collect_events()
        sale.set_pricing_context([], {})
        assert sale.collect_events() == []


class TestReplicaAggregates:
    def test_promotion_book_window(self) -> None:
        book = PromotionBook.create()
        entry: dict[str, Any] = {**Promotion("p", PERCENTAGE, percent_bp=5_00).as_dict(),
                                 "active": True, "starts_at_ms": 100, "ends_at_ms": 200}
        book.upsert(entry)
        book.upsert(dict(entry))  # unchanged: nothing
        assert len(book.collect_events()) == 2  # Created, Upserted
        assert [p.promotion_id for p in book.active_at(150)] == ["p"]
        assert book.active_at(99) == [] and book.active_at(200) == []
        with pytest.raises(PriceEntryError):
            book.upsert({**entry, "kind": "mystery"})

    def test_tax_table(self) -> None:
        table = TaxTable.create("s001")
        table.upsert("std", 20_00, INCLUSIVE, "VAT 20%")
        assert table.rates["std"].rate_bp == 20_00
        with pytest.raises(PriceEntryError):
            table.upsert("std", 20_00, "sideways")


# -- old events still load ------------------------------------------------------------------


def test_v1_line_added_and_completed_events_still_load(tmp_path: Path) -> None:
    app = build_application(test_settings(tmp_path))
    try:
        sale = new_sale()
        sale.record_payment("p1", sale.total_minor, "EUR", "card")
        events = sale.collect_events()
        mapper = app.mapper
        for e in events:
            if isinstance(e, Sale.LineAdded | Sale.Completed):
                stored = mapper.to_stored_event(e)
                state = mapper.transcoder.decode(stored.state)
                state.pop("class_version")
                for key in ("tax_class", "subtotal_minor", "discount_minor", "tax_minor",
                            "taxes", "discounts"):
                    state.pop(key, None)
                old = dataclasses.replace(stored, state=mapper.transcoder.encode(state))
                again = mapper.to_domain_event(old)
                if isinstance(again, Sale.LineAdded):
                    assert again.tax_class == ""
                else:
                    assert again.subtotal_minor == again.total_minor
                    assert again.taxes == [] and again.discounts == []
    finally:
        app.close()


# -- the application on SQLite and PostgreSQL ---------------------------------------------


def _received(message: Message, subject: str, store_id: str = "chain") -> ReceivedEvent:
    return ReceivedEvent(
        event_type=message.DESCRIPTOR.full_name, message=message, subject=subject,
        store_id=store_id, occurred_at="", msg_id="", headers={},
    )


def product(sku: str, price: int, tax_class: str = "") -> ReceivedEvent:
    return _received(inventory_pb2.ProductUpserted(
        sku=sku, name=sku.title(), active=True, tax_class=tax_class,
        price=common_pb2.Money(amount_minor=price, currency="EUR"),
    ), "inventory.chain.product.upserted")


def promotion(promotion_id: str, kind: str, **kw: Any) -> ReceivedEvent:
    for money in ("amount", "threshold"):
        if money in kw:
            kw[money] = common_pb2.Money(amount_minor=kw[money], currency="EUR")
    return _received(inventory_pb2.PromotionUpserted(
        promotion_id=promotion_id, kind=kind, active=kw.pop("active", True), **kw,
    ), "inventory.chain.promotion.upserted")


def tax_rate(store_id: str, tax_class: str, rate_bp: int, mode: str) -> ReceivedEvent:
    return _received(inventory_pb2.TaxRateUpserted(
        store_id=store_id, tax_class=tax_class, rate_bp=rate_bp, mode=mode,
        name=f"Tax {tax_class}",
    ), f"inventory.{store_id}.tax_rate.upserted", store_id)


class Feed:
    def __init__(self, app: Checkout) -> None:
        self.sink = EventSourcedSink(app, INVENTORY_HANDLERS)
        self.app = app

    @property
    def position(self) -> int:
        return self.app.tracked_position("inventory.p0")

    def __call__(self, *events: ReceivedEvent) -> None:
        start = self.position
        deliveries = [Delivery(start + i, e) for i, e in enumerate(events, 1)]
        self.sink.apply("inventory.p0", deliveries)


class BasketBehaviour:
    @pytest.fixture
    def settings(self) -> Settings:
        raise NotImplementedError

    @pytest.fixture
    def app(self, settings: Settings) -> Iterator[Checkout]:
        app = build_application(settings)
        Feed(app)(product("sku-a", 1_00, "std"), product("sku-b", 2_00, "red"),
                  product("sku-c", 5_00))
        app.register_cashier("s001", "c7", "Ann", PIN)
        app.open_shift("s001", "l1", "c7", PIN, 0, "EUR")
        yield app
        app.close()

    def open(self, app: Checkout) -> UUID:
        return app.open_sale(uuid4(), "s001", "l1", "c7", "EUR")

    def test_replicas_are_built(self, app: Checkout) -> None:
        feed = Feed(app)
        feed(promotion("p1", "percentage", percent_bp=10_00, skus=["sku-a"]),
             tax_rate("chain", "std", 20_00, INCLUSIVE),
             tax_rate("s001", "std", 8_00, EXCLUSIVE))
        assert app.price_of("sku-a").tax_class == "std"
        book = app.get_or_none(PROMOTION_BOOK_ID)
        assert isinstance(book, PromotionBook) and "p1" in book.entries
        assert app.tax_rates_of("s001")["std"].rate_bp == 8_00
        assert app.tax_rates_of("s002")["std"].rate_bp == 20_00
        assert isinstance(app.get_or_none(tax_table_id("chain")), TaxTable)

    def test_no_rules_totals_unchanged(self, app: Checkout) -> None:
        sale_id = self.open(app)
        assert app.add_line(sale_id, 1, "sku-a", 3).total_minor == 3_00
        assert app.add_line(sale_id, 2, "sku-b", 1).total_minor == 5_00

    def test_sales_tax_and_promotion_set_amount_due(self, app: Checkout) -> None:
        Feed(app)(promotion("p1", "percentage", percent_bp=10_00, skus=["sku-a"]),
                  tax_rate("s001", "std", 10_00, EXCLUSIVE))
        sale_id = self.open(app)
        added = app.add_line(sale_id, 1, "sku-a", 2)  # 200 - 20 = 180, + 18 tax
        assert added.total_minor == 1_98
        assert added.line_total_minor == 2_00  # before discounts and taxes, as before
        view = app.get_sale(sale_id)
        assert (view.subtotal_minor, view.discount_minor, view.tax_minor) == (200, 20, 18)

    def test_edit_basket(self, app: Checkout) -> None:
        sale_id = self.open(app)
        app.add_line(sale_id, 1, "sku-a", 2)
        app.add_line(sale_id, 2, "sku-c", 1)
        assert app.change_line_quantity(sale_id, 1, 4).total_minor == 9_00
        assert app.remove_line(sale_id, 2).total_minor == 4_00
        assert app.override_price(sale_id, 1, 50, "price match", "sup", True).total_minor == 2_00
        totals = app.apply_line_discount(sale_id, 1, "percent", 10_00, "damaged")
        assert totals.total_minor == 1_80
        totals = app.apply_basket_discount(sale_id, "d1", "amount", 30, "coupon")
        assert (totals.total_minor, totals.discount_minor) == (1_50, 50)
        with pytest.raises(ApprovalRequiredError):
            app.apply_basket_discount(sale_id, "d2", "percent", 90_00, "friend")
        app.apply_basket_discount(sale_id, "d2", "percent", 90_00, "friend", "sup-1")
        assert app.get_sale(sale_id).total_minor == 15

    def test_basket_threshold_and_completion_with_vat(self, app: Checkout) -> None:
        Feed(app)(promotion("t", "basket_threshold", amount=1_00, threshold=10_00),
                  tax_rate("chain", "std", 20_00, INCLUSIVE))
        sale_id = self.open(app)
        app.add_line(sale_id, 1, "sku-a", 6)
        assert app.add_line(sale_id, 2, "sku-c", 1).total_minor == 10_00  # 11_00 - 1_00
        sale = app.get_or_none(sale_id)
        assert isinstance(sale, Sale)
        sale.record_payment("p1", 10_00, "EUR", "card")
        app.save(sale)
        view = app.get_sale(sale_id)
        assert view.status == "completed"
        receipt = receipt_for_sale(app, sale_id)
        assert receipt.total_minor == 10_00
        assert sum(d.amount_minor for d in receipt.discounts) == 1_00
        assert [t.included for t in receipt.taxes] == [True]
        assert "(incl.)" in render_text(receipt)

    def test_a_promotion_ending_later_does_not_move_a_priced_sale(self, app: Checkout) -> None:
        feed = Feed(app)
        feed(promotion("p1", "fixed", amount=50, skus=["sku-c"]))
        sale_id = self.open(app)
        assert app.add_line(sale_id, 1, "sku-c", 1).total_minor == 4_50
        feed(promotion("p1", "fixed", amount=50, skus=["sku-c"], active=False))
        assert app.get_sale(sale_id).total_minor == 4_50  # recorded on the sale
        assert app.add_line(sale_id, 2, "sku-a", 1).total_minor == 6_00  # repriced on edit


class TestBasketWithSQLite(BasketBehaviour):
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return test_settings(tmp_path)


@pytest.mark.postgres
class TestBasketWithPostgres(BasketBehaviour):
    @pytest.fixture
    def settings(self, tmp_path: Path, postgres_dsn: str) -> Settings:
        return test_settings(tmp_path, postgres_dsn=postgres_dsn)


# -- commands and contracts -----------------------------------------------------------------


@pytest.fixture
def commands(tmp_path: Path) -> Iterator[CheckoutCommands]:
    app = build_application(test_settings(tmp_path))
    Feed(app)(product("sku-a", 1_00, "std"), tax_rate("s001", "std", 10_00, EXCLUSIVE))
    app.register_cashier("s001", "c7", "Ann", PIN)
    app.open_shift("s001", "l1", "c7", PIN, 0, "EUR")
    yield CheckoutCommands(app)
    app.close()


def test_basket_commands(commands: CheckoutCommands) -> None:
    sale_id = str(uuid4())
    commands.open_sale({"sale_id": sale_id, "store_id": "s001", "lane_id": "l1",
                        "cashier_id": "c7", "currency": "EUR"})
    assert commands.add_line({"sale_id": sale_id, "line_no": 1, "sku": "sku-a",
                              "quantity": 2})["total_minor"] == 2_20
    reply = commands.change_quantity({"sale_id": sale_id, "line_no": 1, "quantity": 3})
    assert reply == {"total_minor": 3_30, "subtotal_minor": 3_00, "discount_minor": 0,
                     "tax_minor": 30, "currency": "EUR"}
    reply = commands.apply_discount({"sale_id": sale_id, "line_no": 1, "kind": "amount",
                                     "value": 1_00, "reason": "damaged"})
    assert reply["total_minor"] == 2_20
    reply = commands.apply_discount({"sale_id": sale_id, "discount_id": "d1",
                                     "kind": "percent", "value": 50_00, "reason": "staff",
                                     "supervisor_id": "sup"})
    assert reply["total_minor"] == 1_10
    with pytest.raises(CommandError) as refused:
        commands.apply_discount({"sale_id": sale_id, "discount_id": "d2", "kind": "percent",
                                 "value": 50_00, "reason": "staff"})
    assert refused.value.code == "approval_required"
    with pytest.raises(CommandError) as refused:
        commands.override_price({"sale_id": sale_id, "line_no": 1, "unit_price_minor": 1,
                                 "reason": "x", "authorized_by": "c7"})
    assert refused.value.code == "permission_required"
    with pytest.raises(CommandError) as refused:
        commands.override_price({"sale_id": sale_id, "line_no": 1, "unit_price_minor": 1,
                                 "reason": "x", "permission": "yes"})
    assert refused.value.code == "invalid"
    reply = commands.override_price({"sale_id": sale_id, "line_no": 1, "unit_price_minor": 80,
                                     "reason": "match", "authorized_by": "sup",
                                     "permission": True})
    assert reply["subtotal_minor"] == 2_40
    with pytest.raises(CommandError) as refused:
        commands.remove_line({"sale_id": sale_id, "line_no": 7})
    assert refused.value.code == "invalid"
    assert commands.remove_line({"sale_id": sale_id, "line_no": 1})["total_minor"] == 0
    view = commands.get_sale({"sale_id": sale_id})
    assert view["lines"] == [] and view["total_minor"] == 0
    assert {"remove_line", "change_quantity", "apply_discount", "override_price"} \
        <= set(commands.handlers())


def test_sale_completed_carries_taxes_and_discounts(commands: CheckoutCommands) -> None:
    app = commands.app
    sale_id = app.open_sale(uuid4(), "s001", "l1", "c7", "EUR")
    app.add_line(sale_id, 1, "sku-a", 2)
    app.apply_basket_discount(sale_id, "d1", "amount", 50, "coupon")
    sale = app.get_or_none(sale_id)
    assert isinstance(sale, Sale)
    sale.record_payment("p1", sale.total_minor, "EUR", "card",
                        at=datetime(2026, 1, 1, tzinfo=UTC))
    completed = next(e for e in sale.collect_events() if isinstance(e, Sale.Completed))
    event = CheckoutContracts().to_integration(completed)
    assert event is not None
    msg = event.message
    assert isinstance(msg, checkout_pb2.SaleCompleted)
    assert msg.total.amount_minor == 1_65  # 200 - 50 = 150, + 15 tax
    assert (msg.subtotal.amount_minor, msg.discount_total.amount_minor,
            msg.tax_total.amount_minor) == (2_00, 50, 15)
    assert [(t.tax_class, t.included, t.amount.amount_minor) for t in msg.taxes] == [
        ("std", False, 15)]
    assert [(d.kind, d.label, d.amount.amount_minor) for d in msg.discounts] == [
        ("basket", "coupon", 50)]
