"""CRM's domain events -> integration events: subjects, payloads, no personal data."""

from __future__ import annotations

from crm.contracts import CrmContracts
from crm.domainmodel import Customer, LoyaltyAccount
from tillstream.events.v1 import crm_pb2

contracts = CrmContracts()


def test_customer_registered_without_personal_data() -> None:
    customer = Customer.register(
        "LC0001", "s001", "key-1", "v1.QW5h", "v1.YW5hQGV4YW1wbGUuY29t", "v1.KzQ5MzA1NTU")
    (registered,) = customer.collect_events()
    integration = contracts.to_integration(registered)
    assert integration is not None
    assert integration.subject == "crm.s001.customer.registered"
    assert integration.store_id == "s001"
    assert integration.occurred_at == registered.timestamp
    assert integration.message == crm_pb2.CustomerRegistered(
        customer_id=str(customer.id), store_id="s001", loyalty_card="LC0001")
    wire = integration.payload()
    for personal in (b"Ana", b"ana@example.com", b"4930555", b"v1.", b"key-1"):
        assert personal not in wire


def test_points_earned() -> None:
    account = LoyaltyAccount.open("cust-1")
    opened = account.collect_events()
    account.earn(12, "sale-1", "s002")
    (earned,) = account.collect_events()
    assert contracts.to_integration(opened[0]) is None
    integration = contracts.to_integration(earned)
    assert integration is not None
    assert integration.subject == "crm.s002.loyalty.points_earned"
    assert integration.message == crm_pb2.LoyaltyPointsEarned(
        customer_id="cust-1", store_id="s002", sale_id="sale-1", points=12, balance=12)


def test_redemption_is_published() -> None:
    account = LoyaltyAccount.open("cust-1")
    account.earn(12, "sale-1", "s002")
    account.redeem(2, "reward-1", "s002")
    integration = contracts.to_integration(account.collect_events()[-1])
    assert integration is not None
    assert integration.subject == "crm.s002.loyalty.points_redeemed"
    assert (integration.message.points, integration.message.balance) == (2, 10)
