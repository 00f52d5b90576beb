"""Unit tests of CRM's aggregates: each behaviour and each guard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from crm.domainmodel import (
    Customer,
    CustomerErasedError,
    InsufficientPointsError,
    InvalidCustomerError,
    InvalidPointsError,
    LoyaltyAccount,
    points_for_sale,
)

SEALED = {"sealed_name": "v1.bmFtZQ", "sealed_email": "v1.ZW1haWw", "sealed_phone": "v1.cGhvbmU"}
AT = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def register(**overrides: object) -> Customer:
    fields: dict[str, object] = {
        "loyalty_card": "LC0001", "store_id": "s001", "key_id": "key-1", **SEALED,
    }
    fields.update(overrides)
    return Customer.register(**fields)  # type: ignore[arg-type]


class TestCustomer:
    def test_register(self) -> None:
        customer = register()
        assert customer.id == Customer.create_id("LC0001")
        assert (customer.loyalty_card, customer.store_id, customer.key_id) == (
            "LC0001", "s001", "key-1")
        (registered,) = customer.collect_events()
        assert isinstance(registered, Customer.Registered)
        assert registered.sealed_email == "v1.ZW1haWw"
        assert not hasattr(registered, "email")  # only sealed personal data in events

    def test_register_with_given_id(self) -> None:
        customer_id = uuid4()
        assert register(customer_id=customer_id).id == customer_id

    @pytest.mark.parametrize(
        "overrides",
        [
            {"loyalty_card": ""}, {"loyalty_card": "LC 1"}, {"store_id": "s.1"},
            {"store_id": ""}, {"key_id": ""}, {"sealed_name": "Ana Costa"},
            {"sealed_email": "ana@example.com"}, {"sealed_phone": ""},
        ],
    )
    def test_register_guards(self, overrides: dict[str, object]) -> None:
        with pytest.raises(InvalidCustomerError):
            register(**overrides)

    def test_update_contact(self) -> None:
        customer = register()
        customer.update_contact("v1.bmV3", "v1.bmV3", "v1.bmV3")
        assert customer.sealed_name == "v1.bmV3"
        with pytest.raises(InvalidCustomerError):
            customer.update_contact("Ana", "v1.x", "v1.x")

    def test_consent_given_and_withdrawn(self) -> None:
        customer = register()
        assert customer.set_marketing_consent(True, "in_store", AT)
        assert (customer.marketing_consent, customer.consent_channel, customer.consent_at) == (
            True, "in_store", "2025-03-01T09:30:00+00:00")
        assert not customer.set_marketing_consent(True, "email", AT)  # unchanged: no event
        assert customer.set_marketing_consent(False, "sms", AT + timedelta(days=1))
        assert (customer.marketing_consent, customer.consent_channel) == (False, "sms")
        kinds = [type(e) for e in customer.collect_events()]
        assert kinds == [Customer.Registered, Customer.ConsentGiven, Customer.ConsentWithdrawn]

    @pytest.mark.parametrize(
        ("channel", "at"), [("fax", AT), ("sms", datetime(2025, 1, 1)), ("sms", "2025-01-01")])
    def test_consent_guards(self, channel: str, at: object) -> None:
        with pytest.raises(InvalidCustomerError):
            register().set_marketing_consent(True, channel, at)  # type: ignore[arg-type]

    def test_erase_drops_sealed_data_and_refuses_changes(self) -> None:
        customer = register()
        customer.set_marketing_consent(True, "sms", AT)
        assert customer.erase()
        assert not customer.erase()
        assert customer.erased and customer.erased_at
        assert (customer.sealed_name, customer.sealed_email, customer.sealed_phone) == ("", "", "")
        assert not customer.marketing_consent
        with pytest.raises(CustomerErasedError):
            customer.update_contact("v1.a", "v1.b", "v1.c")
        with pytest.raises(CustomerErasedError):
            customer.set_marketing_consent(True, "sms", AT)

    def test_version_1_registration_is_upcast_without_plaintext(self) -> None:
        state: dict[str, object] = {"name": "Ana", "email": "a@example.com", "phone": "+4930555"}
        Customer.Registered.upcast_v1_v2(state)
        assert state == {"key_id": "", "sealed_name": "", "sealed_email": "", "sealed_phone": ""}


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
