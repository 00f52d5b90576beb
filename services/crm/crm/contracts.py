"""CRM's domain events -> its integration events (tillstream.events.v1, crm.proto).

No personal data goes on the bus: a customer is named by id and loyalty card only.
"""

from __future__ import annotations

from datetime import datetime

from crm.domainmodel import Customer, LoyaltyAccount
from tillstream.codec import CHAIN, IntegrationEvent
from tillstream.events.v1 import common_pb2, crm_pb2

SERVICE = "crm"


class CrmContracts:
    """Maps registrations and loyalty changes (earned, redeemed, expired, tier) to crm.proto."""

    def to_integration(self, domain_event: object) -> IntegrationEvent | None:
        if isinstance(domain_event, Customer.Registered):
            return IntegrationEvent.of(
                SERVICE, domain_event.store_id, "customer", "registered",
                # Deliberately without name, email and phone.
                message=crm_pb2.CustomerRegistered(
                    customer_id=str(domain_event.originator_id),
                    store_id=domain_event.store_id,
                    loyalty_card=domain_event.loyalty_card,
                ),
                occurred_at=domain_event.timestamp,
            )
        if isinstance(domain_event, LoyaltyAccount.PointsEarned):
            return IntegrationEvent.of(
                SERVICE, domain_event.store_id, "loyalty", "points_earned",
                message=crm_pb2.LoyaltyPointsEarned(
                    customer_id=domain_event.customer_id,
                    store_id=domain_event.store_id,
                    sale_id=domain_event.sale_id,
                    points=domain_event.points,
                    balance=domain_event.balance,
                ),
                occurred_at=domain_event.timestamp,
            )
        if isinstance(
            domain_event,
            (LoyaltyAccount.PointsRedeemed, LoyaltyAccount.PointsRedeemedForSale),
        ):
            message = crm_pb2.LoyaltyPointsRedeemed(
                customer_id=domain_event.customer_id,
                store_id=domain_event.store_id,
                reference=domain_event.reference,
                points=domain_event.points,
                balance=domain_event.balance,
            )
            if isinstance(domain_event, LoyaltyAccount.PointsRedeemedForSale):
                # A loyalty tender: checkout records the money value against the sale.
                message.sale_id = domain_event.sale_id
                message.amount.CopyFrom(common_pb2.Money(
                    amount_minor=domain_event.amount_minor, currency=domain_event.currency
                ))
            return IntegrationEvent.of(
                SERVICE, domain_event.store_id, "loyalty", "points_redeemed",
                message=message, occurred_at=domain_event.timestamp,
            )
        if isinstance(domain_event, Customer.Erased):
            erased_at = datetime.fromisoformat(domain_event.at)
            return IntegrationEvent.of(
                SERVICE, domain_event.store_id or CHAIN, "customer", "erased",
                message=crm_pb2.CustomerErased(
                    customer_id=str(domain_event.originator_id),
                    store_id=domain_event.store_id,
                    erased_at_ms=int(erased_at.timestamp() * 1000),
                ),
                occurred_at=domain_event.timestamp,
            )
        if isinstance(domain_event, LoyaltyAccount.PointsExpired):
            as_of = datetime.fromisoformat(domain_event.as_of)
            return IntegrationEvent.of(
                SERVICE, domain_event.store_id, "loyalty", "points_expired",
                message=crm_pb2.LoyaltyPointsExpired(
                    customer_id=domain_event.customer_id,
                    store_id=domain_event.store_id,
                    sale_id=domain_event.sale_id,
                    points=domain_event.points,
                    balance=domain_event.balance,
                    expired_at_ms=int(as_of.timestamp() * 1000),
                ),
                occurred_at=domain_event.timestamp,
            )
        if isinstance(domain_event, LoyaltyAccount.TierChanged):
            return IntegrationEvent.of(
                SERVICE, domain_event.store_id, "loyalty", "tier_changed",
                message=crm_pb2.LoyaltyTierChanged(
                    customer_id=domain_event.customer_id,
                    store_id=domain_event.store_id,
                    from_tier=domain_event.from_tier,
                    to_tier=domain_event.to_tier,
                    rolling_spend_minor=domain_event.rolling_spend_minor,
                ),
                occurred_at=domain_event.timestamp,
            )
        # Account opening, reversals, credits and purchase history have no public contract.
        return None
