"""Payments' domain events -> its public integration events (tillstream.events.v1)."""

from __future__ import annotations

from typing import Any

from payments.domainmodel import Payment
from tillstream.codec import IntegrationEvent, subject
from tillstream.events.v1 import common_pb2, payments_pb2

SERVICE = "payments"
AGGREGATE = "payment"


class PaymentsContracts:
    """Maps a Payment's results to PaymentCaptured / PaymentDeclined; Requested is private."""

    def to_integration(self, domain_event: object) -> IntegrationEvent | None:
        e: Any = domain_event
        if isinstance(e, Payment.Captured):
            return self._event(e, "captured", payments_pb2.PaymentCaptured(
                **self._common(e), auth_code=e.auth_code, rrn=e.rrn,
            ))
        if isinstance(e, Payment.Declined):
            return self._event(e, "declined", payments_pb2.PaymentDeclined(
                **self._common(e), response_code=e.response_code, reason=e.reason,
            ))
        return None

    @staticmethod
    def _common(e: Any) -> dict[str, Any]:
        return {
            "payment_id": str(e.originator_id),
            "sale_id": e.sale_id,
            "store_id": e.store_id,
            "amount": common_pb2.Money(amount_minor=e.amount_minor, currency=e.currency),
            "tender": e.tender,
            "card": payments_pb2.Card(
                token=e.card_token, masked_pan=e.masked_pan, scheme=e.scheme
            ),
        }

    @staticmethod
    def _event(domain_event: Any, name: str, message: Any) -> IntegrationEvent:
        store_id: str = domain_event.store_id
        return IntegrationEvent(
            subject=subject(SERVICE, store_id, AGGREGATE, name),
            message=message,
            store_id=store_id,
            occurred_at=domain_event.timestamp,
        )
