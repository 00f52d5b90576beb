"""CRM's bus handlers: loyalty points from SaleCompleted (with a UnitOfWork) and commands."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from crm.application import Customers
from crm.bus import command_handlers, consumer_handlers, on_sale_completed
from crm.domainmodel import LoyaltyAccount, PurchaseHistory
from crm.main import build_application
from tillstream.codec import ReceivedEvent
from tillstream.consumer import Delivery, EventSourcedSink, UnitOfWork
from tillstream.events.v1 import checkout_pb2, common_pb2
from tillstream.service import CommandError
from tillstream.testing import test_settings as settings_for_test


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Customers]:
    app = build_application(settings_for_test(tmp_path))
    yield app
    app.close()


def completed(
    sale_id: str, customer_id: str, total_minor: int, currency: str = "EUR"
) -> ReceivedEvent:
    message = checkout_pb2.SaleCompleted(
        sale_id=sale_id, store_id="s001", customer_id=customer_id,
        total=common_pb2.Money(amount_minor=total_minor, currency=currency),
    )
    return ReceivedEvent(
        event_type=message.DESCRIPTOR.full_name, message=message,
        subject="checkout.s001.sale.completed", store_id="s001",
        occurred_at="2025-01-01T00:00:00+00:00", msg_id="checkout:1", headers={},
    )


def test_handlers_are_keyed_by_protobuf_full_name() -> None:
    assert set(consumer_handlers()) == {
        "tillstream.events.v1.SaleCompleted", "tillstream.events.v1.ReturnCompleted",
        "tillstream.events.v1.SaleVoided",
    }


def test_sale_with_customer_earns_points(app: Customers) -> None:
    customer_id = str(app.register_customer("LC0001", "Ana", "s001"))
    uow = UnitOfWork(app)
    on_sale_completed(completed("sale-1", customer_id, 1299), uow)
    app.save(*uow.aggregates.values())
    balance = app.loyalty_balance(customer_id)
    assert (balance.balance, balance.earned_total) == (12, 12)


def test_sale_without_customer_or_points_changes_nothing(app: Customers) -> None:
    uow = UnitOfWork(app)
    on_sale_completed(completed("sale-1", "", 5000), uow)
    on_sale_completed(completed("sale-2", "cust-1", 99), uow)  # under one whole euro
    on_sale_completed(completed("sale-3", "cust-1", -2000), uow)  # a refund earns nothing
    # Both are in the customer's purchase history; neither opens a loyalty account.
    assert list(uow.aggregates) == [PurchaseHistory.create_id("cust-1")]
    assert LoyaltyAccount.create_id("cust-1") not in uow.aggregates


def test_unknown_customer_still_gets_an_account(app: Customers) -> None:
    unknown = str(uuid4())  # registered elsewhere; its registration has not arrived
    sink = EventSourcedSink(app, consumer_handlers())
    sink.apply("checkout.p0", [Delivery(7, completed("sale-1", unknown, 2500))])
    assert app.loyalty_balance(unknown).balance == 25
    assert sink.position("checkout.p0") == 7


def test_batch_earning_twice_for_one_customer(app: Customers) -> None:
    sink = EventSourcedSink(app, consumer_handlers())
    sink.apply(
        "checkout.p0",
        [Delivery(1, completed("sale-1", "cust-1", 1000)),
         Delivery(2, completed("sale-2", "cust-1", 2050))],
    )
    balance = app.loyalty_balance("cust-1")
    assert (balance.balance, balance.earned_total) == (30, 30)


class TestCommands:
    @pytest.fixture
    def commands(self, app: Customers) -> dict[str, Any]:
        return command_handlers(app)

    def test_register_customer(self, commands: dict[str, Any]) -> None:
        reply = commands["register_customer"](
            {"loyalty_card": "LC0001", "name": "Ana", "email": "ana@example.com",
             "store_id": "s001"})
        assert len(reply["customer_id"]) == 36
        given = str(uuid4())
        assert commands["register_customer"](
            {"loyalty_card": "LC0002", "name": "Ben", "store_id": "s001", "customer_id": given}
        ) == {"customer_id": given}
        assert commands["loyalty"]({"customer_id": given}) == {
            "balance": 0, "earned_total": 0, "redeemed_total": 0, "tier": "basic",
            "expiring_soon": 0, "reversed_total": 0, "expired_total": 0}

    @pytest.mark.parametrize(
        ("command", "payload", "code"),
        [
            ("register_customer", {"loyalty_card": "LC 1", "name": "A", "store_id": "s001"},
             "invalid"),
            ("register_customer", {"loyalty_card": "LC1", "name": "A", "store_id": "s001",
                                   "customer_id": "nope"}, "invalid"),
            ("register_customer", {"name": "A"}, "invalid"),
            ("loyalty", {"customer_id": str(uuid4())}, "not_found"),
        ],
    )
    def test_refusals(
        self, commands: dict[str, Any], command: str, payload: dict[str, Any], code: str
    ) -> None:
        with pytest.raises(CommandError) as refused:
            commands[command](payload)
        assert refused.value.code == code

    def test_conflict(self, commands: dict[str, Any]) -> None:
        given = str(uuid4())
        commands["register_customer"](
            {"loyalty_card": "LC0001", "name": "A", "store_id": "s001", "customer_id": given})
        with pytest.raises(CommandError) as refused:
            commands["register_customer"](
                {"loyalty_card": "LC0002", "name": "B", "store_id": "s001", "customer_id": given})
        assert refused.value.code == "conflict"


def test_seed_demo_is_idempotent_and_names_registered_customers(app: Customers) -> None:
    commands = command_handlers(app)
    first = commands["seed_demo"]({"store_id": "s001", "customers": 5})
    assert first["changed"] == 5 and len(first["customer_ids"]) == 5
    again = commands["seed_demo"]({"store_id": "s001", "customers": 5})
    assert again == {"changed": 0, "customer_ids": first["customer_ids"]}
    for customer_id in first["customer_ids"]:
        assert commands["loyalty"]({"customer_id": customer_id})["balance"] == 0


def test_personal_data_commands(app: Customers) -> None:
    commands = command_handlers(app)
    customer_id = commands["register_customer"](
        {"loyalty_card": "LC0001", "name": " Ana  Costa", "email": "Ana@Example.com",
         "phone": "+49 30 555000", "store_id": "s001"})["customer_id"]
    plain = commands["get_customer"]({"customer_id": customer_id})
    assert plain["pii_available"] and "name" not in plain and "email" not in plain
    full = commands["get_customer"]({"customer_id": customer_id, "include_pii": True})
    assert (full["name"], full["email"], full["phone"]) == (
        "Ana Costa", "Ana@example.com", "+4930555000")
    assert commands["find_customer"]({"email": "ana@example.com"}) == {
        "customer_ids": [customer_id]}
    assert commands["find_customer"]({"phone": "+4930555000"}) == {
        "customer_ids": [customer_id]}
    commands["update_contact"]({"customer_id": customer_id, "phone": "+4930555111"})
    assert commands["find_customer"]({"phone": "+4930555000"}) == {"customer_ids": []}
    assert commands["set_consent"]({"customer_id": customer_id, "marketing": True,
                                    "channel": "sms", "at": "2025-03-01T09:30:00+01:00"}) == {
        "changed": True}
    view = commands["get_customer"]({"customer_id": customer_id})
    assert (view["marketing_consent"], view["consent_channel"], view["consent_at"]) == (
        True, "sms", "2025-03-01T08:30:00+00:00")
    assert commands["erase"]({"customer_id": customer_id}) == {"changed": True}
    erased = commands["get_customer"]({"customer_id": customer_id, "include_pii": True})
    assert erased["erased"] and "name" not in erased
    assert commands["find_customer"]({"phone": "+4930555111"}) == {"customer_ids": []}
    with pytest.raises(CommandError) as refused:
        commands["update_contact"]({"customer_id": customer_id, "name": "Ana"})
    assert refused.value.code == "erased"


@pytest.mark.parametrize(
    ("command", "payload", "code"),
    [
        ("get_customer", {"customer_id": "nope"}, "invalid"),
        ("get_customer", {"customer_id": str(uuid4())}, "not_found"),
        ("get_customer", {"customer_id": str(uuid4()), "include_pii": "yes"}, "invalid"),
        ("find_customer", {}, "invalid"),
        ("find_customer", {"email": "x@"}, "invalid"),
        ("find_customer", {"email": 3}, "invalid"),
        ("set_consent", {"customer_id": str(uuid4()), "marketing": "y", "channel": "sms"},
         "invalid"),
        ("set_consent", {"customer_id": str(uuid4()), "marketing": True, "channel": "sms",
                         "at": "2025-03-01T09:30:00"}, "invalid"),
        ("erase", {"customer_id": str(uuid4())}, "not_found"),
        ("register_customer", {"loyalty_card": "LC0009", "name": "A", "store_id": "s001",
                               "phone": "030 555000"}, "invalid"),
    ],
)
def test_personal_data_refusals(
    app: Customers, command: str, payload: dict[str, Any], code: str
) -> None:
    with pytest.raises(CommandError) as refused:
        command_handlers(app)[command](payload)
    assert refused.value.code == code
