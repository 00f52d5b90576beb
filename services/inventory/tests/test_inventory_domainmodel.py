"""Unit tests of inventory's aggregates: each behaviour and each guard."""

from __future__ import annotations

import pytest

from inventory.domainmodel import (
    InvalidBarcodeError,
    InvalidProductError,
    InvalidStockMovementError,
    Product,
    ProductDiscontinuedError,
    StockItem,
    StoreStock,
    gtin_check_digit,
    validate_barcode,
)


def event_names(aggregate: object) -> list[str]:
    return [type(e).__name__ for e in aggregate.collect_events()]  # type: ignore[attr-defined]


def new_product(**overrides: object) -> Product:
    fields: dict[str, object] = {
        "sku": "MILK1L", "name": "Whole Milk 1 L", "price_minor": 119, "currency": "EUR",
        "tax_class": "reduced", "barcodes": ["4006381333931"],
    }
    fields.update(overrides)
    return Product.create(**fields)  # type: ignore[arg-type]


class TestBarcodes:
    @pytest.mark.parametrize(
        "code", ["4006381333931", "96385074", "036000291452", "5901234123457"]
    )
    def test_valid_ean13_ean8_upca(self, code: str) -> None:
        assert validate_barcode(code) == code

    @pytest.mark.parametrize(
        "code", ["4006381333932", "96385075", "036000291453", "12345", "40063813339a1", ""]
    )
    def test_invalid(self, code: str) -> None:
        with pytest.raises(InvalidBarcodeError):
            validate_barcode(code)

    def test_check_digit(self) -> None:
        assert gtin_check_digit("400638133393") == 1
        assert gtin_check_digit("03600029145") == 2


class TestProduct:
    def test_create(self) -> None:
        product = new_product()
        assert product.id == Product.create_id("MILK1L")
        assert (product.name, product.price_minor, product.currency) == (
            "Whole Milk 1 L", 119, "EUR")
        assert product.barcodes == ["4006381333931"]
        assert product.active
        assert event_names(product) == ["Created"]

    def test_id_is_deterministic_per_sku(self) -> None:
        assert new_product().id == new_product(name="Other").id != new_product(sku="X").id

    @pytest.mark.parametrize(
        "overrides",
        [
            {"sku": "a.b"}, {"sku": ""}, {"name": "  "}, {"price_minor": -1},
            {"price_minor": 1.19}, {"price_minor": True}, {"currency": "eur"},
            {"tax_class": "a b"},
        ],
    )
    def test_create_guards(self, overrides: dict[str, object]) -> None:
        with pytest.raises(InvalidProductError):
            new_product(**overrides)

    def test_create_refuses_bad_barcode(self) -> None:
        with pytest.raises(InvalidBarcodeError):
            new_product(barcodes=["4006381333932"])

    def test_change_price(self) -> None:
        product = new_product()
        product.collect_events()
        product.change_price(129, "EUR")
        product.change_price(129, "EUR")  # the same price again: nothing recorded
        (changed,) = product.collect_events()
        assert isinstance(changed, Product.PriceChanged)
        assert product.price_minor == 129
        # The event carries the whole record (for ProductUpserted).
        assert (changed.sku, changed.name, changed.active) == ("MILK1L", "Whole Milk 1 L", True)

    def test_change_price_guard(self) -> None:
        with pytest.raises(InvalidProductError):
            new_product().change_price(-5, "EUR")

    def test_rename(self) -> None:
        product = new_product()
        product.collect_events()
        product.rename("Fresh Milk 1 L")
        product.rename("Fresh Milk 1 L")
        assert event_names(product) == ["Renamed"]
        assert product.name == "Fresh Milk 1 L"
        with pytest.raises(InvalidProductError):
            product.rename("")

    def test_change_tax_class_and_barcodes(self) -> None:
        product = new_product()
        product.collect_events()
        product.change_tax_class("standard")
        product.change_barcodes(["96385074", "96385074"])
        assert event_names(product) == ["TaxClassChanged", "BarcodesChanged"]
        assert product.barcodes == ["96385074"]

    def test_discontinue(self) -> None:
        product = new_product()
        product.collect_events()
        product.discontinue()
        product.discontinue()
        assert event_names(product) == ["Discontinued"]
        assert not product.active
        with pytest.raises(ProductDiscontinuedError):
            product.change_price(1, "EUR")
        with pytest.raises(ProductDiscontinuedError):
            product.rename("x")


class TestStockItem:
    def new_item(self, reorder_point: int = 0) -> StockItem:
        item = StockItem.create("s001", "MILK1L", reorder_point)
        item.collect_events()
        return item

    def test_create(self) -> None:
        item = StockItem.create("s001", "MILK1L")
        assert item.id == StockItem.create_id("s001", "MILK1L")
        assert (item.on_hand, item.sold, item.reorder_point) == (0, 0, 0)

    @pytest.mark.parametrize(
        ("store_id", "sku", "reorder_point"),
        [("s.1", "A", 0), ("s1", "A>", 0), ("", "A", 0), ("s1", "A", -1)],
    )
    def test_create_guards(self, store_id: str, sku: str, reorder_point: int) -> None:
        with pytest.raises(InvalidStockMovementError):
            StockItem.create(store_id, sku, reorder_point)

    def test_receive(self) -> None:
        item = self.new_item()
        item.receive(10, "PO-1")
        assert item.on_hand == 10 and item.received == 10
        (received,) = item.collect_events()
        assert isinstance(received, StockItem.Received)
        assert (received.quantity, received.on_hand, received.reference) == (10, 10, "PO-1")

    @pytest.mark.parametrize(("quantity", "reference"), [(0, "PO"), (-1, "PO"), (1, " ")])
    def test_receive_guards(self, quantity: int, reference: str) -> None:
        with pytest.raises(InvalidStockMovementError):
            self.new_item().receive(quantity, reference)

    def test_sell(self) -> None:
        item = self.new_item()
        item.receive(10, "PO-1")
        item.collect_events()
        item.sell(3, "sale-1")
        assert (item.on_hand, item.sold, item.oversold_sales) == (7, 3, 0)
        (sold,) = item.collect_events()
        assert isinstance(sold, StockItem.Sold)
        assert (sold.quantity, sold.on_hand, sold.sale_id, sold.oversold) == (3, 7, "sale-1", False)

    def test_sell_below_zero_is_allowed_and_flagged(self) -> None:
        item = self.new_item()
        item.receive(1, "PO-1")
        item.collect_events()
        item.sell(3, "sale-1")
        assert item.on_hand == -2
        assert item.oversold_sales == 1
        sold = item.collect_events()[0]
        assert isinstance(sold, StockItem.Sold) and sold.oversold

    @pytest.mark.parametrize(("quantity", "sale_id"), [(0, "s"), (-2, "s"), (1, "")])
    def test_sell_guards(self, quantity: int, sale_id: str) -> None:
        with pytest.raises(InvalidStockMovementError):
            self.new_item().sell(quantity, sale_id)

    def test_low_stock_signalled_once_per_crossing(self) -> None:
        item = self.new_item(reorder_point=5)
        item.receive(10, "PO-1")
        item.sell(4, "a")  # 6: above
        assert event_names(item) == ["Received", "Sold"]
        item.sell(1, "b")  # 5: at the reorder point, crossing
        assert event_names(item) == ["Sold", "LowStockSignalled"]
        item.sell(1, "c")  # still low: no second signal
        item.sell(1, "d")
        assert event_names(item) == ["Sold", "Sold"]
        item.receive(10, "PO-2")  # 13: re-armed
        item.sell(9, "e")  # 4: crossing again
        assert event_names(item) == ["Received", "Sold", "LowStockSignalled"]

    def test_receipt_that_stays_low_keeps_one_signal(self) -> None:
        item = self.new_item(reorder_point=5)
        item.receive(10, "PO-1")
        item.sell(8, "a")
        item.receive(1, "PO-2")  # 3: still low, already signalled
        assert event_names(item) == ["Received", "Sold", "LowStockSignalled", "Received"]

    def test_set_reorder_point(self) -> None:
        item = self.new_item()
        item.receive(10, "PO-1")
        item.collect_events()
        item.set_reorder_point(3)
        item.set_reorder_point(3)
        assert event_names(item) == ["ReorderPointSet"]
        item.set_reorder_point(12)  # raising it above stock is a crossing too
        assert event_names(item) == ["ReorderPointSet", "LowStockSignalled"]
        with pytest.raises(InvalidStockMovementError):
            item.set_reorder_point(-1)


class TestStoreStock:
    def test_add_is_idempotent(self) -> None:
        index = StoreStock.create("s001")
        index.add("A")
        index.add("B")
        index.add("A")
        assert index.skus == ["A", "B"]
        assert event_names(index) == ["Created", "SkuAdded", "SkuAdded"]

    def test_guard(self) -> None:
        with pytest.raises(InvalidStockMovementError):
            StoreStock.create("s 1")
