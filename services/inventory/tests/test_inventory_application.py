"""The Inventory application on every storage: the same tests on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from inventory.application import Inventory, ProductNotFoundError, StockItemNotFoundError
from inventory.demo import DEMO_CURRENCY, seed_demo_catalog
from inventory.domainmodel import (
    InvalidBarcodeError,
    Product,
    ProductDiscontinuedError,
    validate_barcode,
)
from tillstream.eventstore import event_store_env
from tillstream.settings import Settings

# Aliased: a module-level name starting with "test_" would be collected by pytest.
from tillstream.testing import test_settings as settings_for_test


class InventoryApplicationTests:
    """The behaviour of Inventory, whatever stores its events (subclassed per storage)."""

    @pytest.fixture
    def settings(self) -> Settings:
        raise NotImplementedError

    @pytest.fixture
    def app(self, settings: Settings) -> Iterator[Inventory]:
        app = Inventory(env=event_store_env(settings, "inventory"))
        yield app
        app.close()

    def test_upsert_creates_then_changes(self, app: Inventory) -> None:
        product_id = app.upsert_product("MILK1L", "Milk", 119, "EUR", barcodes=["96385074"])
        assert product_id == Product.create_id("MILK1L")
        assert app.upsert_product("MILK1L", "Fresh Milk", 129, "EUR") == product_id
        view = app.get_product("MILK1L")
        assert (view.name, view.price_minor, view.tax_class, view.barcodes) == (
            "Fresh Milk", 129, "standard", ("96385074",))

    def test_upsert_unchanged_records_nothing(self, app: Inventory) -> None:
        app.upsert_product("MILK1L", "Milk", 119, "EUR")
        before = app.events_stored()
        app.upsert_product("MILK1L", "Milk", 119, "EUR")
        assert app.events_stored() == before

    def test_upsert_refuses_bad_barcode(self, app: Inventory) -> None:
        with pytest.raises(InvalidBarcodeError):
            app.upsert_product("MILK1L", "Milk", 119, "EUR", barcodes=["96385075"])

    def test_discontinued_product_cannot_be_repriced(self, app: Inventory) -> None:
        app.upsert_product("MILK1L", "Milk", 119, "EUR")
        app.discontinue_product("MILK1L")
        assert not app.get_product("MILK1L").active
        with pytest.raises(ProductDiscontinuedError):
            app.upsert_product("MILK1L", "Milk", 139, "EUR")

    def test_unknown_product(self, app: Inventory) -> None:
        with pytest.raises(ProductNotFoundError):
            app.get_product("NOPE")
        with pytest.raises(ProductNotFoundError):
            app.receive_stock("s001", "NOPE", 1, "PO-1")

    def test_receive_and_stock_level(self, app: Inventory) -> None:
        app.upsert_product("MILK1L", "Milk", 119, "EUR")
        assert app.receive_stock("s001", "MILK1L", 12, "PO-1") == 12
        assert app.receive_stock("s001", "MILK1L", 3, "PO-2") == 15
        level = app.stock_level("s001", "MILK1L")
        assert (level.on_hand, level.sold, level.received) == (15, 0, 15)

    def test_reorder_point(self, app: Inventory) -> None:
        app.upsert_product("MILK1L", "Milk", 119, "EUR")
        app.receive_stock("s001", "MILK1L", 4, "PO-1")
        assert app.set_reorder_point("s001", "MILK1L", 6) == 6
        assert app.stock_level("s001", "MILK1L").low

    def test_unknown_stock_item(self, app: Inventory) -> None:
        with pytest.raises(StockItemNotFoundError):
            app.stock_level("s001", "MILK1L")

    def test_stock_summary(self, app: Inventory) -> None:
        assert app.stock_summary("s001").items == 0
        app.upsert_product("A", "A", 100, "EUR")
        app.upsert_product("B", "B", 100, "EUR")
        app.receive_stock("s001", "A", 5, "PO-1")
        app.receive_stock("s001", "B", 7, "PO-1")
        app.receive_stock("s002", "B", 1, "PO-1")
        summary = app.stock_summary("s001")
        assert (summary.items, summary.sold_total, summary.on_hand_total) == (2, 0, 12)

    def test_seed_demo_catalog_is_deterministic_and_idempotent(self, app: Inventory) -> None:
        assert seed_demo_catalog(app, "s001", n=40) > 0
        stored = app.events_stored()
        assert seed_demo_catalog(app, "s001", n=40) == 0
        assert app.events_stored() == stored
        summary = app.stock_summary("s001")
        assert summary.items == 40 and summary.on_hand_total > 0
        product = app.get_product("SKU00003")
        assert product.currency == DEMO_CURRENCY and product.price_minor > 0
        assert all(validate_barcode(code) for code in product.barcodes)
        assert len(product.barcodes[0]) == 13


class TestWithSQLite(InventoryApplicationTests):
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return settings_for_test(tmp_path)


@pytest.mark.postgres
class TestWithPostgres(InventoryApplicationTests):
    @pytest.fixture
    def settings(self, tmp_path: Path, postgres_dsn: str) -> Settings:
        settings = settings_for_test(tmp_path, postgres_dsn=postgres_dsn)
        return settings
