"""The Inventory application on every storage: the same tests on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eventsourcing.persistence import IntegrityError

from inventory.application import (
    Inventory,
    ProductNotFoundError,
    StockItemNotFoundError,
    TransferConflictError,
    TransferNotFoundError,
)
from inventory.catalog_import import import_catalog_file
from inventory.demo import DEMO_CURRENCY, demo_ean13, seed_demo_catalog
from inventory.domainmodel import (
    DuplicateReceiptError,
    InvalidBarcodeError,
    InvalidStockMovementError,
    InvalidTransferError,
    Product,
    ProductDiscontinuedError,
    Transfer,
    TransferStateError,
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

    # Stock movements -------------------------------------------------------------------

    def test_retried_receipt_is_not_counted_twice(self, app: Inventory) -> None:
        app.upsert_product("A", "A", 100, "EUR")
        assert app.receive_stock("s001", "A", 12, "PO-1") == 12
        stored = app.events_stored()
        assert app.receive_stock("s001", "A", 12, "PO-1") == 12
        assert app.events_stored() == stored
        with pytest.raises(DuplicateReceiptError):
            app.receive_stock("s001", "A", 13, "PO-1")
        assert app.receive_stock("s002", "A", 12, "PO-1") == 12  # per store and SKU
        assert app.stock_level("s001", "A").received == 12

    def test_return_adjust_count(self, app: Inventory) -> None:
        app.upsert_product("A", "A", 100, "EUR")
        app.receive_stock("s001", "A", 10, "PO-1")
        assert app.return_stock("s001", "A", 2, "stock", "RET-1").on_hand == 12
        level = app.return_stock("s001", "A", 1, "damaged", "RET-2")
        assert (level.on_hand, level.damaged) == (12, 1)
        assert app.adjust_stock("s001", "A", -3, "waste", "expired").on_hand == 9
        assert app.count_stock("s001", "A", 7) == -2
        level = app.stock_level("s001", "A")
        assert (level.on_hand, level.damaged, level.received) == (7, 1, 10)
        with pytest.raises(InvalidStockMovementError):
            app.adjust_stock("s001", "A", -1, "lost")
        with pytest.raises(ProductNotFoundError):
            app.count_stock("s001", "NOPE", 1)

    # Transfers -------------------------------------------------------------------------

    def _two_products(self, app: Inventory) -> None:
        app.upsert_product("A", "A", 100, "EUR")
        app.upsert_product("B", "B", 100, "EUR")
        app.receive_stock("s001", "A", 10, "PO-1")
        app.receive_stock("s001", "B", 3, "PO-1")

    def test_transfer_with_shortfall(self, app: Inventory, settings: Settings) -> None:
        self._two_products(app)
        view = app.request_transfer("T1", "s001", "s002", [("A", 6), ("B", 3)])
        assert (view.status, view.lines) == ("requested", (("A", 6), ("B", 3)))
        assert app.stock_level("s001", "A").on_hand == 10  # a request moves nothing
        assert app.ship_transfer("T1").status == "shipped"
        assert app.stock_level("s001", "A").on_hand == 4
        assert app.stock_level("s001", "B").on_hand == 0
        view = app.receive_transfer("T1", [("A", 5), ("B", 3)])
        assert view.status == "received"
        assert view.shortfall == (("A", 1),)
        assert app.stock_level("s002", "A").on_hand == 5
        assert app.stock_level("s002", "B").on_hand == 3
        assert app.stock_summary("s002").items == 2
        assert app.get_transfer("T1") == view
        # Rebuilt from the stored events alone (no cache): the same transfer and stock.
        fresh = Inventory(env=event_store_env(settings, "inventory"))
        try:
            assert fresh.get_transfer("T1") == view
            assert fresh.stock_level("s001", "A").on_hand == 4
            assert fresh.receive_stock("s001", "A", 10, "PO-1") == 4  # still deduplicated
        finally:
            fresh.close()

    def test_nothing_received_creates_no_stock(self, app: Inventory) -> None:
        self._two_products(app)
        app.request_transfer("T1", "s001", "s002", [("A", 2)])
        app.ship_transfer("T1")
        assert app.receive_transfer("T1", []).shortfall == (("A", 2),)
        with pytest.raises(StockItemNotFoundError):
            app.stock_level("s002", "A")

    def test_transfer_request_is_idempotent_per_id(self, app: Inventory) -> None:
        self._two_products(app)
        app.request_transfer("T1", "s001", "s002", [("A", 2)])
        stored = app.events_stored()
        assert app.request_transfer("T1", "s001", "s002", [("A", 2)]).status == "requested"
        assert app.events_stored() == stored
        with pytest.raises(TransferConflictError):
            app.request_transfer("T1", "s001", "s002", [("A", 3)])

    def test_transfer_guards(self, app: Inventory) -> None:
        self._two_products(app)
        with pytest.raises(ProductNotFoundError):
            app.request_transfer("T1", "s001", "s002", [("NOPE", 1)])
        with pytest.raises(InvalidTransferError):
            app.request_transfer("T1", "s001", "s001", [("A", 1)])
        with pytest.raises(TransferNotFoundError):
            app.ship_transfer("T1")
        with pytest.raises(TransferNotFoundError):
            app.get_transfer("T1")
        app.request_transfer("T1", "s001", "s002", [("A", 1)])
        with pytest.raises(TransferStateError):
            app.receive_transfer("T1", [("A", 1)])
        app.ship_transfer("T1")
        with pytest.raises(TransferStateError):
            app.ship_transfer("T1")  # a second ship would take the stock out twice
        assert app.stock_level("s001", "A").on_hand == 9
        with pytest.raises(InvalidTransferError):
            app.receive_transfer("T1", [("A", 2)])
        app.receive_transfer("T1", [("A", 1)])
        with pytest.raises(TransferStateError):
            app.receive_transfer("T1", [("A", 1)])
        assert app.stock_level("s002", "A").on_hand == 1

    def test_ship_is_one_transaction(
        self, app: Inventory, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A conflicting write to one stock item fails the ship: neither the transfer nor
        any other item changes."""
        self._two_products(app)
        app.request_transfer("T1", "s001", "s002", [("A", 2), ("B", 1)])
        other = Inventory(env=event_store_env(settings, "inventory"))
        original = app.stock_item_for

        def racing(store_id: str, sku: str, get=None):  # type: ignore[no-untyped-def]
            found = original(store_id, sku, get)
            if sku == "B":  # someone else writes B between our load and our save
                other.receive_stock(store_id, sku, 5, "PO-RACE")
            return found

        monkeypatch.setattr(app, "stock_item_for", racing)
        try:
            with pytest.raises(IntegrityError):
                app.ship_transfer("T1")
        finally:
            monkeypatch.undo()
            other.close()
        assert app.get_transfer("T1").status == "requested"
        assert app.stock_level("s001", "A").on_hand == 10
        assert app.stock_level("s001", "B").on_hand == 8
        assert app.ship_transfer("T1").status == "shipped"  # a retry succeeds
        assert app.stock_level("s001", "A").on_hand == 8
        transfer: Transfer = app.repository.get(Transfer.create_id("T1"))
        assert transfer.version == 2

    # Catalog import --------------------------------------------------------------------

    def test_catalog_import_good_and_bad_rows(self, app: Inventory, tmp_path: Path) -> None:
        app.upsert_product("OLD", "Old", 100, "EUR")
        app.discontinue_product("OLD")
        app.upsert_product("SAME", "Same", 100, "EUR")
        csv_file = tmp_path / "catalog.csv"
        csv_file.write_text(
            "sku,name,price_minor,currency,tax_class,barcodes\n"
            f"A,Apple,45,EUR,reduced,{demo_ean13(1)};96385074\n"  # 2: good
            "B,Bread,abc,EUR,,\n"  # 3: bad price
            "C,Cheese,300,EUR,,4006381333932\n"  # 4: bad check digit
            "D,,100,EUR,,\n"  # 5: no name
            "A,Apple again,46,EUR,,\n"  # 6: duplicate SKU
            "OLD,Old,120,EUR,,\n"  # 7: discontinued (known only to the service)
            "SAME,Same,100,EUR,,\n"  # 8: unchanged
            "E,Eggs,279,eur,,\n"  # 9: bad currency
            "F,Flour,99,EUR,standard,,extra\n"  # 10: too many values
            "G,Grapes,199,EUR\n"  # 11: too few values
            "H,Honey,499,EUR,,036000291452\n",  # 12: good, UPC-A
            encoding="utf-8",
        )
        progress: list[tuple[int, int]] = []
        report = import_catalog_file(app, csv_file, lambda d, t: progress.append((d, t)))
        assert progress[-1] == (11, 11) and len(progress) == 11
        assert (report.imported, report.unchanged) == (2, 1)
        reasons = {r.line: (r.sku, r.reason) for r in report.rejected}
        assert sorted(reasons) == [3, 4, 5, 6, 7, 9, 10, 11]
        assert "price_minor" in reasons[3][1]
        assert "check digit" in reasons[4][1]
        assert "name" in reasons[5][1]
        assert "already on line 2" in reasons[6][1]
        assert reasons[7] == ("OLD", "product OLD is discontinued")
        assert "currency" in reasons[9][1]
        assert "more values" in reasons[10][1] and "fewer values" in reasons[11][1]
        assert app.get_product("A").barcodes == (demo_ean13(1), "96385074")
        assert app.get_product("H").tax_class == "standard"
        with pytest.raises(ProductNotFoundError):
            app.get_product("B")

    def test_catalog_dry_run_saves_nothing(self, app: Inventory, tmp_path: Path) -> None:
        csv_file = tmp_path / "catalog.csv"
        csv_file.write_text("sku,name,price_minor,currency,tax_class,barcodes\nA,A,1,EUR,,\n")
        assert import_catalog_file(app, csv_file, dry_run=True).imported == 1
        assert app.events_stored() == 0

    def test_catalog_import_failing_save_imports_nothing(
        self, app: Inventory, settings: Settings, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        app.upsert_product("P", "P", 100, "EUR")
        csv_file = tmp_path / "catalog.csv"
        csv_file.write_text(
            "sku,name,price_minor,currency,tax_class,barcodes\n"
            "X,X,1,EUR,,\nP,P,200,EUR,,\nY,Y,1,EUR,,\n"
        )
        other = Inventory(env=event_store_env(settings, "inventory"))
        original = app.upsert_product_aggregate

        def racing(sku, *args):  # type: ignore[no-untyped-def]
            product = original(sku, *args)
            if sku == "P":  # a concurrent change of P makes the one save fail
                other.upsert_product("P", "P", 300, "EUR")
            return product

        monkeypatch.setattr(app, "upsert_product_aggregate", racing)
        stored = app.events_stored() + 1
        try:
            with pytest.raises(IntegrityError):
                import_catalog_file(app, csv_file)
        finally:
            monkeypatch.undo()
            other.close()
        assert app.events_stored() == stored  # only the other writer's change
        for sku in ("X", "Y"):
            with pytest.raises(ProductNotFoundError):
                app.get_product(sku)
        assert app.get_product("P").price_minor == 300


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
