"""The Customers application on every storage: the same tests on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from crm.application import CustomerConflictError, CustomerNotFoundError, Customers
from crm.demo import seed_demo_customers
from crm.domainmodel import Customer, InsufficientPointsError, InvalidCustomerError
from tillstream.eventstore import event_store_env
from tillstream.settings import Settings

# Aliased: a module-level name starting with "test_" would be collected by pytest.
from tillstream.testing import test_settings as settings_for_test


class CustomersApplicationTests:
    """The behaviour of Customers, whatever stores its events (subclassed per storage)."""

    @pytest.fixture
    def settings(self) -> Settings:
        raise NotImplementedError

    @pytest.fixture
    def app(self, settings: Settings) -> Iterator[Customers]:
        app = Customers(env=event_store_env(settings, "crm"))
        yield app
        app.close()

    def test_register_derives_the_id_from_the_card(self, app: Customers) -> None:
        customer_id = app.register_customer("LC0001", "Ana Costa", "s001", "ana@example.com")
        assert customer_id == Customer.create_id("LC0001")
        customer: Customer = app.repository.get(customer_id)
        assert (customer.name, customer.email, customer.phone) == (
            "Ana Costa", "ana@example.com", "")

    def test_register_with_given_id(self, app: Customers) -> None:
        wanted = uuid4()
        assert app.register_customer("LC0001", "Ana", "s001", customer_id=wanted) == wanted

    def test_register_again_is_idempotent(self, app: Customers) -> None:
        first = app.register_customer("LC0001", "Ana", "s001")
        stored = app.events_stored()
        assert app.register_customer("LC0001", "Ana", "s001") == first
        assert app.events_stored() == stored

    def test_id_taken_by_another_card(self, app: Customers) -> None:
        wanted = uuid4()
        app.register_customer("LC0001", "Ana", "s001", customer_id=wanted)
        with pytest.raises(CustomerConflictError):
            app.register_customer("LC0002", "Ben", "s001", customer_id=wanted)

    def test_register_guard(self, app: Customers) -> None:
        with pytest.raises(InvalidCustomerError):
            app.register_customer("", "Ana", "s001")

    def test_loyalty_of_registered_customer_without_points(self, app: Customers) -> None:
        customer_id = app.register_customer("LC0001", "Ana", "s001")
        balance = app.loyalty_balance(str(customer_id))
        assert (balance.balance, balance.earned_total) == (0, 0)

    def test_loyalty_of_unknown_customer(self, app: Customers) -> None:
        with pytest.raises(CustomerNotFoundError):
            app.loyalty_balance(str(uuid4()))
        with pytest.raises(CustomerNotFoundError):
            app.loyalty_balance("not-a-uuid")

    def test_redeem_points(self, app: Customers) -> None:
        from crm.domainmodel import LoyaltyAccount

        account = LoyaltyAccount.open("cust-1")
        account.earn(10, "sale-1", "s001")
        app.save(account)
        assert app.redeem_points("cust-1", 4, "reward-1", "s001") == 6
        with pytest.raises(InsufficientPointsError):
            app.redeem_points("cust-1", 7, "reward-2", "s001")
        with pytest.raises(CustomerNotFoundError):
            app.redeem_points("nobody", 1, "reward-3", "s001")

    def test_seed_demo_customers_is_deterministic_and_idempotent(self, app: Customers) -> None:
        assert seed_demo_customers(app, "s001", n=20) == 20
        stored = app.events_stored()
        assert seed_demo_customers(app, "s001", n=20) == 0
        assert app.events_stored() == stored
        assert seed_demo_customers(app, "s002", n=5) == 5


class TestWithSQLite(CustomersApplicationTests):
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return settings_for_test(tmp_path)


@pytest.mark.postgres
class TestWithPostgres(CustomersApplicationTests):
    @pytest.fixture
    def settings(self, tmp_path: Path, postgres_dsn: str) -> Settings:
        settings = settings_for_test(tmp_path, postgres_dsn=postgres_dsn)
        return settings
