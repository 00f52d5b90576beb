"""Payments' domain events -> its public integration events (tillstream.events.v1)."""

from __future__ import annotations

from typing import Any

from payments.domainmodel import GiftCard, Payment
from tillstream.codec import IntegrationEvent
from tillstream.events.v1 import common_pb2, payments_pb2

SERVICE = "payments"
AGGREGATE = "payment"
GIFT_CARD = "gift_card"


def _money(amount_minor: int, currency: str) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount_minor, currency=currency)


class PaymentsContracts:
    """Maps Payment and GiftCard events to their integration events.

    Payment.Requested is private (an attempt, not a fact others act on). Captured covers a
    sale and a pre-authorization's completion alike, so checkout counts either as a tender.
    Every event carries what its message needs (currency, card token and masked PAN, the
    store): the mapping is given the event alone, never the aggregate.
    """

    def to_integration(self, domain_event: object) -> IntegrationEvent | None:
        e: Any = domain_event
        if isinstance(e, Payment.Captured):
            return self._event(e, AGGREGATE, "captured", payments_pb2.PaymentCaptured(
                **self._common(e), auth_code=e.auth_code, rrn=e.rrn,
            ))
        if isinstance(e, Payment.Declined):
            return self._event(e, AGGREGATE, "declined", payments_pb2.PaymentDeclined(
                **self._common(e), response_code=e.response_code, reason=e.reason,
            ))
        if isinstance(e, Payment.Flagged):
            return self._event(e, AGGREGATE, "flagged", payments_pb2.PaymentFlagged(
                payment_id=str(e.originator_id), sale_id=e.sale_id, store_id=e.store_id,
                rule=e.rule, action=e.action, reason=e.reason,
                amount=_money(e.amount_minor, e.currency),
                card=payments_pb2.Card(token=e.card_token, masked_pan=e.masked_pan,
                                       scheme=e.scheme),
            ))
        if isinstance(e, Payment.Authorized):
            return self._event(e, AGGREGATE, "authorized", payments_pb2.PaymentAuthorized(
                **self._common(e), auth_code=e.auth_code, rrn=e.rrn,
            ))
        if isinstance(e, Payment.AuthorizationIncreased):
            return self._event(
                e, AGGREGATE, "authorization_increased",
                payments_pb2.PaymentAuthorizationIncreased(
                    payment_id=str(e.originator_id), store_id=e.store_id,
                    operation_key=e.operation_key,
                    increment=_money(e.increment_minor, e.currency),
                    authorized=_money(e.authorized_minor, e.currency), auth_code=e.auth_code,
                ))
        if isinstance(e, Payment.TipAdjusted):
            return self._event(e, AGGREGATE, "tip_adjusted", payments_pb2.PaymentTipAdjusted(
                payment_id=str(e.originator_id), store_id=e.store_id,
                operation_key=e.operation_key, tip=_money(e.tip_minor, e.currency),
            ))
        if isinstance(e, Payment.Voided):
            return self._event(e, AGGREGATE, "voided", payments_pb2.PaymentVoided(
                payment_id=str(e.originator_id), store_id=e.store_id,
                operation_key=e.operation_key, amount=_money(e.amount_minor, e.currency),
                reason=e.reason,
            ))
        if isinstance(e, Payment.Refunded):
            return self._event(e, AGGREGATE, "refunded", payments_pb2.PaymentRefunded(
                payment_id=str(e.originator_id), sale_id=e.sale_id, store_id=e.store_id,
                operation_key=e.operation_key, amount=_money(e.amount_minor, e.currency),
                refunded_total=_money(e.refunded_total_minor, e.currency),
                referenced=e.referenced, tender=e.tender,
                card=payments_pb2.Card(token=e.card_token, masked_pan=e.masked_pan,
                                       scheme=e.scheme),
            ))
        if isinstance(e, Payment.Reversed):
            return self._event(e, AGGREGATE, "reversed", payments_pb2.PaymentReversed(
                payment_id=str(e.originator_id), sale_id=e.sale_id, store_id=e.store_id,
                operation_key=e.operation_key, amount=_money(e.amount_minor, e.currency),
                reason=e.reason,
            ))
        return self._gift_card(e)

    def _gift_card(self, e: Any) -> IntegrationEvent | None:
        if not isinstance(e, GiftCard.Activated | GiftCard.Loaded | GiftCard.Redeemed
                          | GiftCard.Refunded | GiftCard.Blocked):
            return None
        ref = payments_pb2.GiftCardRef(gift_card_id=str(e.originator_id), token=e.token,
                                       masked_number=e.masked_number)
        common: dict[str, Any] = {
            "gift_card": ref, "store_id": e.store_id, "operation_key": e.operation_key,
        }
        if isinstance(e, GiftCard.Activated):
            return self._event(e, GIFT_CARD, "activated", payments_pb2.GiftCardActivated(
                **common, amount=_money(e.amount_minor, e.currency)))
        if isinstance(e, GiftCard.Blocked):
            return self._event(e, GIFT_CARD, "blocked", payments_pb2.GiftCardBlocked(
                **common, reason=e.reason))
        amounts: dict[str, Any] = {"amount": _money(e.amount_minor, e.currency),
                                   "balance": _money(e.balance_minor, e.currency)}
        if isinstance(e, GiftCard.Loaded):
            return self._event(e, GIFT_CARD, "loaded", payments_pb2.GiftCardLoaded(
                **common, **amounts))
        if isinstance(e, GiftCard.Redeemed):
            return self._event(e, GIFT_CARD, "redeemed", payments_pb2.GiftCardRedeemed(
                **common, sale_id=e.sale_id, **amounts))
        return self._event(e, GIFT_CARD, "refunded", payments_pb2.GiftCardRefunded(
            **common, sale_id=e.sale_id, **amounts))

    @staticmethod
    def _common(e: Any) -> dict[str, Any]:
        return {
            "payment_id": str(e.originator_id),
            "sale_id": e.sale_id,
            "store_id": e.store_id,
            "amount": _money(e.amount_minor, e.currency),
            "tender": e.tender,
            "card": payments_pb2.Card(
                token=e.card_token, masked_pan=e.masked_pan, scheme=e.scheme
            ),
        }

    @staticmethod
    def _event(domain_event: Any, aggregate: str, name: str, message: Any) -> IntegrationEvent:
        return IntegrationEvent.of(
            SERVICE, domain_event.store_id, aggregate, name,
            message=message, occurred_at=domain_event.timestamp,
        )
