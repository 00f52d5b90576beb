"""The Checkout application on every storage: the same tests on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from checkout.application import (
    Checkout,
    PriceCurrencyError,
    SaleConflictError,
    SaleNotFoundError,
    UnknownSkuError,
)
from checkout.domainmodel import LineConflictError, PriceEntry, SaleNotOpenError
from checkout.main import build_application
from tillstream.eventstore import event_store_env
from tillstream.settings import Settings
from tillstream.testing import test_settings


class CheckoutApplicationBehaviour:
    """Application behaviours; subclasses say which event store they run on."""

    @pytest.fixture
    def settings(self) -> Settings:
        raise NotImplementedError

    @pytest.fixture
    def app(self, settings: Settings) -> Iterator[Checkout]:
        app = build_application(settings)
        app.save(
            PriceEntry.register("SKU-A", "Apple", 250, "EUR", True),
            PriceEntry.register("SKU-B", "Bread", 199, "EUR", True),
            PriceEntry.register("SKU-OLD", "Gone", 100, "EUR", False),
            PriceEntry.register("SKU-USD", "Import", 100, "USD", True),
        )
        yield app
        app.close()

    def open(self, app: Checkout) -> UUID:
        return app.open_sale(uuid4(), "s001", "lane-1", "cashier-7", "EUR")

    def test_open_sale_returns_its_id(self, app: Checkout) -> None:
        sale_id = uuid4()
        assert app.open_sale(sale_id, "s001", "lane-1", "cashier-7", "EUR") == sale_id
        view = app.get_sale(sale_id)
        assert (view.status, view.total_minor, view.currency, view.lines) == (
            "open", 0, "EUR", [])

    def test_reopen_same_sale_is_idempotent(self, app: Checkout) -> None:
        sale_id = self.open(app)
        before = app.events_stored()
        assert app.open_sale(sale_id, "s001", "lane-1", "cashier-7", "EUR") == sale_id
        assert app.events_stored() == before

    def test_reopen_with_other_details_is_a_conflict(self, app: Checkout) -> None:
        sale_id = self.open(app)
        with pytest.raises(SaleConflictError):
            app.open_sale(sale_id, "s001", "lane-2", "cashier-7", "EUR")

    def test_add_line_prices_from_replica(self, app: Checkout) -> None:
        sale_id = self.open(app)
        added = app.add_line(sale_id, 1, "SKU-A", 2)
        assert (added.unit_price_minor, added.line_total_minor, added.total_minor) == (
            250, 500, 500)
        added = app.add_line(sale_id, 2, "SKU-B", 1)
        assert added.total_minor == 699
        view = app.get_sale(sale_id)
        assert [line["sku"] for line in view.lines] == ["SKU-A", "SKU-B"]
        assert view.due_minor == 699

    def test_add_line_retry_keeps_first_price(self, app: Checkout) -> None:
        sale_id = self.open(app)
        app.add_line(sale_id, 1, "SKU-A", 2)
        entry = app.price_of("SKU-A")
        entry.update("Apple", 300, "EUR", True)
        app.save(entry)
        before = app.events_stored()
        added = app.add_line(sale_id, 1, "SKU-A", 2)
        assert added.unit_price_minor == 250
        assert app.events_stored() == before

    def test_add_line_conflict(self, app: Checkout) -> None:
        sale_id = self.open(app)
        app.add_line(sale_id, 1, "SKU-A", 2)
        with pytest.raises(LineConflictError):
            app.add_line(sale_id, 1, "SKU-A", 5)
        with pytest.raises(LineConflictError):  # the conflict, not the unknown SKU
            app.add_line(sale_id, 1, "SKU-NOPE", 2)

    def test_unknown_and_inactive_sku_refused(self, app: Checkout) -> None:
        sale_id = self.open(app)
        with pytest.raises(UnknownSkuError):
            app.add_line(sale_id, 1, "SKU-NOPE", 1)
        with pytest.raises(UnknownSkuError):
            app.add_line(sale_id, 1, "SKU-OLD", 1)

    def test_sku_priced_in_other_currency_refused(self, app: Checkout) -> None:
        sale_id = self.open(app)
        with pytest.raises(PriceCurrencyError):
            app.add_line(sale_id, 1, "SKU-USD", 1)

    def test_unknown_sale_is_not_found(self, app: Checkout) -> None:
        with pytest.raises(SaleNotFoundError):
            app.get_sale(uuid4())
        with pytest.raises(SaleNotFoundError):
            app.add_line(uuid4(), 1, "SKU-A", 1)
        with pytest.raises(SaleNotFoundError):
            app.attach_customer(uuid4(), "cust-1")

    def test_price_entry_id_is_not_a_sale(self, app: Checkout) -> None:
        with pytest.raises(SaleNotFoundError):
            app.get_sale(app.price_of("SKU-A").id)

    def test_attach_customer(self, app: Checkout) -> None:
        sale_id = self.open(app)
        app.attach_customer(sale_id, "cust-1")
        assert app.get_sale(sale_id).customer_id == "cust-1"

    def test_completed_sale_refuses_lines(self, app: Checkout) -> None:
        sale_id = self.open(app)
        app.add_line(sale_id, 1, "SKU-A", 1)
        sale = app.repository.get(sale_id)
        sale.record_payment("p1", 250, "EUR", "card")
        app.save(sale)
        assert app.get_sale(sale_id).status == "completed"
        with pytest.raises(SaleNotOpenError):
            app.add_line(sale_id, 2, "SKU-B", 1)

    def test_sales_survive_a_restart(self, app: Checkout, settings: Settings) -> None:
        sale_id = self.open(app)
        app.add_line(sale_id, 1, "SKU-A", 3)
        again = Checkout(env=event_store_env(settings, "checkout"))
        try:
            assert again.get_sale(sale_id).total_minor == 750
        finally:
            again.close()


class TestCheckoutWithSQLite(CheckoutApplicationBehaviour):
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return test_settings(tmp_path)


@pytest.mark.postgres
class TestCheckoutWithPostgres(CheckoutApplicationBehaviour):
    @pytest.fixture
    def settings(self, tmp_path: Path, postgres_dsn: str) -> Settings:
        return test_settings(tmp_path, postgres_dsn=postgres_dsn)
