"""CRM's domain events -> its integration events (tillstream.events.v1, crm.proto).

No personal data goes on the bus: a customer is named by id and loyalty card only.
"""

from __future__ import annotations

from crm.domainmodel import Customer, LoyaltyAccount
from tillstream.codec import IntegrationEvent, subject
from tillstream.events.v1 import crm_pb2

SERVICE = "crm"


class CrmContracts:
    """Maps registrations and earned points to CustomerRegistered and LoyaltyPointsEarned."""

    def to_integration(self, domain_event: object) -> IntegrationEvent | None:
        if isinstance(domain_event, Customer.Registered):
            return IntegrationEvent(
                subject=subject(SERVICE, domain_event.store_id, "customer", "registered"),
                # Deliberately without name, email and phone.
                message=crm_pb2.CustomerRegistered(
                    customer_id=str(domain_event.originator_id),
                    store_id=domain_event.store_id,
                    loyalty_card=domain_event.loyalty_card,
                ),
                store_id=domain_event.store_id,
                occurred_at=domain_event.timestamp,
            )
        if isinstance(domain_event, LoyaltyAccount.PointsEarned):
            return IntegrationEvent(
                subject=subject(SERVICE, domain_event.store_id, "loyalty", "points_earned"),
                message=crm_pb2.LoyaltyPointsEarned(
                    customer_id=domain_event.customer_id,
                    store_id=domain_event.store_id,
                    sale_id=domain_event.sale_id,
                    points=domain_event.points,
                    balance=domain_event.balance,
                ),
                store_id=domain_event.store_id,
                occurred_at=domain_event.timestamp,
            )
        # Account opening and redemptions have no public contract yet.
        return None
