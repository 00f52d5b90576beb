"""Unit tests of CRM's aggregates: each behaviour and each guard."""

from __future__ import annotations

from uuid import uuid4

import pytest

from crm.domainmodel import (
    Customer,
    InsufficientPointsError,
    InvalidCustomerError,
    InvalidPointsError,
    LoyaltyAccount,
    points_for_sale,
)


def register(**overrides: object) -> Customer:
    fields: dict[str, object] = {
        "loyalty_card": "LC0001", "name": "Ana Costa", "email": "ana@example.com",
        "phone": "+49 30 555000", "store_id": "s001",
    }
    fields.update(overrides)
    return Customer.register(**fields)  # type: ignore[arg-type]


class TestCustomer:
    def test_register(self) -> None:
        customer = register()
        assert customer.id == Customer.create_id("LC0001")
        assert (customer.loyalty_card, customer.name, customer.store_id) == (
            "LC0001", "Ana Costa", "s001")
        (registered,) = customer.collect_events()
        assert isinstance(registered, Customer.Registered)
        assert registered.email == "ana@example.com"  # PII in the event until encryption lands

    def test_register_with_given_id(self) -> None:
        customer_id = uuid4()
        assert register(customer_id=customer_id).id == customer_id

    def test_email_and_phone_are_optional(self) -> None:
        customer = register(email="", phone="")
        assert (customer.email, customer.phone) == ("", "")

    @pytest.mark.parametrize(
        "overrides",
        [
            {"loyalty_card": ""}, {"loyalty_card": "LC 1"}, {"name": " "},
            {"email": "not-an-email"}, {"phone": "call me"}, {"store_id": "s.1"},
            {"store_id": ""},
        ],
    )
    def test_register_guards(self, overrides: dict[str, object]) -> None:
        with pytest.raises(InvalidCustomerError):
            register(**overrides)


class TestPointsForSale:
    @pytest.mark.parametrize(
        ("total_minor", "currency", "points"),
        [(1299, "EUR", 12), (99, "EUR", 0), (100, "EUR", 1), (1500, "JPY", 1500),
         (12345, "KWD", 12), (0, "EUR", 0), (-500, "EUR", 0)],
    )
    def test_one_point_per_whole_unit(self, total_minor: int, currency: str, points: int) -> None:
        assert points_for_sale(total_minor, currency) == points

    def test_currency_guard(self) -> None:
        with pytest.raises(InvalidPointsError):
            points_for_sale(100, "eur")


class TestLoyaltyAccount:
    def new_account(self) -> LoyaltyAccount:
        account = LoyaltyAccount.open("cust-1")
        account.collect_events()
        return account

    def test_open(self) -> None:
        account = LoyaltyAccount.open("cust-1")
        assert account.id == LoyaltyAccount.create_id("cust-1")
        assert (account.balance, account.earned_total) == (0, 0)
        with pytest.raises(InvalidPointsError):
            LoyaltyAccount.open("")

    def test_earn(self) -> None:
        account = self.new_account()
        account.earn(12, "sale-1", "s001")
        account.earn(3, "sale-2", "s002")
        assert (account.balance, account.earned_total) == (15, 15)
        _, second = account.collect_events()
        assert isinstance(second, LoyaltyAccount.PointsEarned)
        assert (second.customer_id, second.points, second.balance, second.store_id) == (
            "cust-1", 3, 15, "s002")

    @pytest.mark.parametrize(
        ("points", "sale_id", "store_id"),
        [(0, "s", "s001"), (-1, "s", "s001"), (True, "s", "s001"), (1, "", "s001"),
         (1, "s", "s 1")],
    )
    def test_earn_guards(self, points: int, sale_id: str, store_id: str) -> None:
        with pytest.raises((InvalidPointsError, InvalidCustomerError)):
            self.new_account().earn(points, sale_id, store_id)

    def test_redeem(self) -> None:
        account = self.new_account()
        account.earn(10, "sale-1", "s001")
        account.redeem(4, "reward-1", "s001")
        assert (account.balance, account.earned_total, account.redeemed_total) == (6, 10, 4)

    def test_redeem_never_below_zero(self) -> None:
        account = self.new_account()
        account.earn(5, "sale-1", "s001")
        account.collect_events()
        with pytest.raises(InsufficientPointsError):
            account.redeem(6, "reward-1", "s001")
        assert account.balance == 5
        assert account.collect_events() == []
        account.redeem(5, "reward-1", "s001")
        assert account.balance == 0

    @pytest.mark.parametrize(("points", "reference"), [(0, "r"), (-3, "r"), (1, "")])
    def test_redeem_guards(self, points: int, reference: str) -> None:
        account = self.new_account()
        account.earn(10, "sale-1", "s001")
        with pytest.raises(InvalidPointsError):
            account.redeem(points, reference, "s001")
