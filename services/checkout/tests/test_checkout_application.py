"""The Checkout application on every storage: the same tests on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from checkout.application import (
    CashierConflictError,
    Checkout,
    NoShiftError,
    PriceCurrencyError,
    SaleConflictError,
    SaleNotFoundError,
    ShiftNotFoundError,
    UnknownSkuError,
    WrongCashierError,
)
from checkout.domainmodel import (
    BadPinError,
    LaneBusyError,
    LineConflictError,
    PriceEntry,
    SaleNotOpenError,
    ShiftClosedError,
)
from checkout.main import build_application
from tillstream.eventstore import event_store_env
from tillstream.settings import Settings
from tillstream.testing import test_settings

PIN = "4321"


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
        app.register_cashier("s001", "cashier-7", "Ann", PIN)
        app.open_shift("s001", "lane-1", "cashier-7", PIN, 100_00, "EUR")
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


    # -- shifts ------------------------------------------------------------------------------

    def test_sale_needs_an_open_shift_on_its_lane(self, app: Checkout) -> None:
        with pytest.raises(NoShiftError):
            app.open_sale(uuid4(), "s001", "lane-2", "cashier-7", "EUR")
        with pytest.raises(NoShiftError):
            app.open_sale(uuid4(), "s002", "lane-1", "cashier-7", "EUR")

    def test_sale_records_the_shift(self, app: Checkout) -> None:
        shift = app.open_shift_of("s001", "lane-1")
        assert shift is not None
        sale_id = self.open(app)
        assert app.get_sale(sale_id).shift_id == str(shift.id)

    def test_sale_by_another_cashier_than_the_shifts_is_refused(self, app: Checkout) -> None:
        with pytest.raises(WrongCashierError):
            app.open_sale(uuid4(), "s001", "lane-1", "cashier-8", "EUR")

    def test_register_cashier_is_idempotent_and_conflicts(self, app: Checkout) -> None:
        assert app.register_cashier("s001", "cashier-8", "Bob", "5678") is True
        before = app.events_stored()
        assert app.register_cashier("s001", "cashier-8", "Bob", "5678") is False
        assert app.events_stored() == before
        with pytest.raises(CashierConflictError):
            app.register_cashier("s001", "cashier-8", "Bob", "0000")
        with pytest.raises(CashierConflictError):
            app.register_cashier("s001", "cashier-8", "Robert", "5678")

    def test_login(self, app: Checkout) -> None:
        assert app.login("s001", "cashier-7", PIN).name == "Ann"
        with pytest.raises(BadPinError):
            app.login("s001", "cashier-7", "0000")
        with pytest.raises(BadPinError):  # an unknown cashier looks the same
            app.login("s001", "nobody", PIN)
        with pytest.raises(BadPinError):  # cashiers are per store
            app.login("s002", "cashier-7", PIN)

    def test_open_shift_needs_the_pin(self, app: Checkout) -> None:
        before = app.events_stored()
        with pytest.raises(BadPinError):
            app.open_shift("s001", "lane-2", "cashier-7", "0000", 0, "EUR")
        assert app.events_stored() == before
        assert app.open_shift_of("s001", "lane-2") is None

    def test_one_shift_per_lane(self, app: Checkout) -> None:
        app.register_cashier("s001", "cashier-8", "Bob", "5678")
        with pytest.raises(LaneBusyError):
            app.open_shift("s001", "lane-1", "cashier-8", "5678", 0, "EUR")
        # The same cashier again (a lane restarted) finds the shift already open.
        shift = app.open_shift_of("s001", "lane-1")
        assert shift is not None
        assert app.open_shift("s001", "lane-1", "cashier-7", PIN, 100_00, "EUR") == shift.id

    def test_a_whole_shift(self, app: Checkout) -> None:
        shift_id = app.open_shift_of("s001", "lane-1").id  # type: ignore[union-attr]
        assert app.pay_in(shift_id, 20_00, "coins from the safe") == 120_00
        assert app.pay_out(shift_id, 7_50, "milk for the staff room") == 112_50
        app.no_sale(shift_id, "customer asked for change")
        x = app.x_report(shift_id)
        assert (x.kind, x.expected_minor, x.no_sales) == ("X", 112_50, 1)
        z = app.close_shift(shift_id, {5000: 2, 1000: 1, 200: 1})
        assert (z.kind, z.expected_minor, z.counted_minor, z.variance_minor) == (
            "Z", 112_50, 112_00, -50)
        assert app.z_report(shift_id) == z
        with pytest.raises(ShiftClosedError):
            app.pay_in(shift_id, 1, "late")
        # The lane is free: no sale until the next shift, which any cashier may open.
        with pytest.raises(NoShiftError):
            self.open(app)
        app.register_cashier("s001", "cashier-8", "Bob", "5678")
        next_id = app.open_shift("s001", "lane-1", "cashier-8", "5678", 50_00, "EUR")
        assert next_id != shift_id
        sale_id = app.open_sale(uuid4(), "s001", "lane-1", "cashier-8", "EUR")
        assert app.get_sale(sale_id).shift_id == str(next_id)

    def test_unknown_shift_is_not_found(self, app: Checkout) -> None:
        for operation in (lambda s: app.pay_in(s, 1, "r"), lambda s: app.pay_out(s, 1, "r"),
                          lambda s: app.no_sale(s, "r"), app.x_report, app.z_report,
                          lambda s: app.close_shift(s, {})):
            with pytest.raises(ShiftNotFoundError):
                operation(uuid4())
        with pytest.raises(ShiftNotFoundError):  # a sale's id is not a shift's
            app.x_report(self.open(app))

    def test_shift_survives_a_restart(self, app: Checkout, settings: Settings) -> None:
        shift_id = app.open_shift_of("s001", "lane-1").id  # type: ignore[union-attr]
        app.pay_in(shift_id, 1_00, "coins")
        again = Checkout(env=event_store_env(settings, "checkout"))
        try:
            assert again.login("s001", "cashier-7", PIN).cashier_id == "cashier-7"
            assert again.close_shift(shift_id, {100: 101}).variance_minor == 0
            assert again.open_shift_of("s001", "lane-1") is None
        finally:
            again.close()


class TestCheckoutWithSQLite(CheckoutApplicationBehaviour):
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return test_settings(tmp_path)

    def test_no_pin_in_the_event_store_file(
        self, app: Checkout, settings: Settings, tmp_path: Path
    ) -> None:
        pin = "97531864"  # eight digits: unlikely anywhere in the store by chance
        app.register_cashier("s001", "cashier-9", "Dee", pin)
        app.open_shift("s001", "lane-9", "cashier-9", pin, 0, "EUR")
        app.login("s001", "cashier-9", pin)
        app.close()
        files = [f for f in tmp_path.rglob("*") if f.is_file()]
        assert any(f.name == "events.sqlite" for f in files)
        for f in files:
            data = f.read_bytes()
            assert pin.encode() not in data, f
            assert pin.encode("utf-16-le") not in data, f


@pytest.mark.postgres
class TestCheckoutWithPostgres(CheckoutApplicationBehaviour):
    @pytest.fixture
    def settings(self, tmp_path: Path, postgres_dsn: str) -> Settings:
        return test_settings(tmp_path, postgres_dsn=postgres_dsn)
