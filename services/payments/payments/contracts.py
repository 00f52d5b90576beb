"""Payments' domain events -> its public integration events (tillstream.events.v1)."""

from __future__ import annotations

from typing import Any

from payments.batch import Batch, Reconciliation
from payments.domainmodel import GiftCard, Payment
from payments.tenders import RefundRefusal
from tillstream.codec import IntegrationEvent
from tillstream.events.v1 import common_pb2, payments_pb2

SERVICE = "payments"
AGGREGATE = "payment"
GIFT_CARD = "gift_card"
#: The store segment of events about every store (a reconciliation covers the acquirer's day).
ALL_STORES = "all"


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
            return self._event(
                e,
                AGGREGATE,
                "captured",
                payments_pb2.PaymentCaptured(
                    **self._common(e),
                    auth_code=e.auth_code,
                    rrn=e.rrn,
                ),
            )
        if isinstance(e, Payment.Declined):
            return self._event(
                e,
                AGGREGATE,
                "declined",
                payments_pb2.PaymentDeclined(
                    **self._common(e),
                    response_code=e.response_code,
                    reason=e.reason,
                ),
            )
        if isinstance(e, Payment.Flagged):
            return self._event(
                e,
                AGGREGATE,
                "flagged",
                payments_pb2.PaymentFlagged(
                    payment_id=str(e.originator_id),
                    sale_id=e.sale_id,
                    store_id=e.store_id,
                    rule=e.rule,
                    action=e.action,
                    reason=e.reason,
                    amount=_money(e.amount_minor, e.currency),
                    card=payments_pb2.Card(
                        token=e.card_token, masked_pan=e.masked_pan, scheme=e.scheme
                    ),
                ),
            )
        if isinstance(e, Payment.Authorized):
            return self._event(
                e,
                AGGREGATE,
                "authorized",
                payments_pb2.PaymentAuthorized(
                    **self._common(e),
                    auth_code=e.auth_code,
                    rrn=e.rrn,
                ),
            )
        if isinstance(e, Payment.AuthorizationIncreased):
            return self._event(
                e,
                AGGREGATE,
                "authorization_increased",
                payments_pb2.PaymentAuthorizationIncreased(
                    payment_id=str(e.originator_id),
                    store_id=e.store_id,
                    operation_key=e.operation_key,
                    increment=_money(e.increment_minor, e.currency),
                    authorized=_money(e.authorized_minor, e.currency),
                    auth_code=e.auth_code,
                ),
            )
        if isinstance(e, Payment.TipAdjusted):
            return self._event(
                e,
                AGGREGATE,
                "tip_adjusted",
                payments_pb2.PaymentTipAdjusted(
                    payment_id=str(e.originator_id),
                    store_id=e.store_id,
                    operation_key=e.operation_key,
                    tip=_money(e.tip_minor, e.currency),
                ),
            )
        if isinstance(e, Payment.Voided):
            return self._event(
                e,
                AGGREGATE,
                "voided",
                payments_pb2.PaymentVoided(
                    payment_id=str(e.originator_id),
                    store_id=e.store_id,
                    operation_key=e.operation_key,
                    amount=_money(e.amount_minor, e.currency),
                    reason=e.reason,
                ),
            )
        if isinstance(e, Payment.Refunded):
            return self._event(
                e,
                AGGREGATE,
                "refunded",
                payments_pb2.PaymentRefunded(
                    payment_id=str(e.originator_id),
                    sale_id=e.sale_id,
                    store_id=e.store_id,
                    operation_key=e.operation_key,
                    amount=_money(e.amount_minor, e.currency),
                    refunded_total=_money(e.refunded_total_minor, e.currency),
                    referenced=e.referenced,
                    tender=e.tender,
                    card=payments_pb2.Card(
                        token=e.card_token, masked_pan=e.masked_pan, scheme=e.scheme
                    ),
                ),
            )
        if isinstance(e, Payment.Reversed):
            return self._event(
                e,
                AGGREGATE,
                "reversed",
                payments_pb2.PaymentReversed(
                    payment_id=str(e.originator_id),
                    sale_id=e.sale_id,
                    store_id=e.store_id,
                    operation_key=e.operation_key,
                    amount=_money(e.amount_minor, e.currency),
                    reason=e.reason,
                ),
            )
        if isinstance(e, Payment.AcquirerRefusedOperation):
            # The acquirer declined a refund (or void) asked for by checkout: nothing went
            # back to the card. Flagged, for a person to follow up.
            return self._event(
                e,
                "refund",
                "refused",
                payments_pb2.RefundRefused(
                    source_id=e.operation_key,
                    payment_id=str(e.originator_id),
                    store_id=e.store_id,
                    kind=e.tender,
                    amount=_money(e.amount_minor, e.currency),
                    reason=f"the acquirer declined the {e.operation}: {e.response_code} "
                    f"{e.reason}".strip(),
                    flagged=True,
                ),
            )
        if isinstance(e, Payment.Advised):
            if e.approved:
                return None  # an accepted advice changes nothing anyone acts on
            return self._event(
                e,
                AGGREGATE,
                "late_declined",
                payments_pb2.PaymentLateDeclined(
                    payment_id=str(e.originator_id),
                    sale_id=e.sale_id,
                    store_id=e.store_id,
                    terminal_id=e.terminal_id,
                    amount=_money(e.amount_minor, e.currency),
                    card=payments_pb2.Card(
                        token=e.card_token, masked_pan=e.masked_pan, scheme=e.scheme
                    ),
                    response_code=e.response_code,
                    reason=e.reason,
                ),
            )
        return self._gift_card(e) or self._settlement(e)

    def _settlement(self, e: Any) -> IntegrationEvent | None:
        """Refusals, batches and reconciliations (payments.tenders, payments.batch)."""
        if isinstance(e, RefundRefusal.Refused):
            return self._event(
                e,
                "refund",
                "refused",
                payments_pb2.RefundRefused(
                    source_id=e.source_id,
                    payment_id=e.payment_id,
                    store_id=e.store_id,
                    kind=e.kind,
                    amount=_money(e.amount_minor, e.currency),
                    reason=e.reason,
                    flagged=e.flagged,
                ),
            )
        if isinstance(e, Batch.Closed):
            totals = [
                payments_pb2.BatchTotal(
                    scheme=str(scheme),
                    type=str(kind),
                    count=int(str(count)),
                    amount=_money(int(str(amount)), e.currency),
                )
                for scheme, kind, count, amount in e.totals
            ]
            return self._event(
                e,
                "batch",
                "closed",
                payments_pb2.BatchClosed(
                    batch_id=str(e.originator_id),
                    store_id=e.store_id,
                    terminal_id=e.terminal_id,
                    business_day=e.business_day,
                    totals=totals,
                    net=_money(e.net_minor, e.currency),
                    closed_at_ms=e.closed_at_ms,
                ),
            )
        if isinstance(e, Reconciliation.Completed):
            differences = [
                payments_pb2.ReconciliationDifference(
                    kind=str(kind),
                    payment_id=str(payment_id),
                    rrn=str(rrn),
                    auth_code=str(auth_code),
                    ours=_money(int(str(ours)), str(currency)),
                    acquirer=_money(int(str(theirs)), str(currency)),
                    action=str(action),
                )
                for kind, payment_id, rrn, auth_code, ours, theirs, currency, action in (
                    e.differences
                )
            ]
            return IntegrationEvent.of(
                SERVICE,
                ALL_STORES,
                "reconciliation",
                "completed",
                message=payments_pb2.ReconciliationCompleted(
                    reconciliation_id=str(e.originator_id),
                    business_day=e.business_day,
                    matched=e.matched,
                    differences=differences,
                    completed_at_ms=e.completed_at_ms,
                ),
                occurred_at=e.timestamp,
            )
        return None

    def _gift_card(self, e: Any) -> IntegrationEvent | None:
        if not isinstance(
            e,
            GiftCard.Activated
            | GiftCard.Loaded
            | GiftCard.Redeemed
            | GiftCard.Refunded
            | GiftCard.Blocked,
        ):
            return None
        ref = payments_pb2.GiftCardRef(
            gift_card_id=str(e.originator_id), token=e.token, masked_number=e.masked_number
        )
        common: dict[str, Any] = {
            "gift_card": ref,
            "store_id": e.store_id,
            "operation_key": e.operation_key,
        }
        if isinstance(e, GiftCard.Activated):
            return self._event(
                e,
                GIFT_CARD,
                "activated",
                payments_pb2.GiftCardActivated(**common, amount=_money(e.amount_minor, e.currency)),
            )
        if isinstance(e, GiftCard.Blocked):
            return self._event(
                e, GIFT_CARD, "blocked", payments_pb2.GiftCardBlocked(**common, reason=e.reason)
            )
        amounts: dict[str, Any] = {
            "amount": _money(e.amount_minor, e.currency),
            "balance": _money(e.balance_minor, e.currency),
        }
        if isinstance(e, GiftCard.Loaded):
            return self._event(
                e, GIFT_CARD, "loaded", payments_pb2.GiftCardLoaded(**common, **amounts)
            )
        if isinstance(e, GiftCard.Redeemed):
            return self._event(
                e,
                GIFT_CARD,
                "redeemed",
                payments_pb2.GiftCardRedeemed(**common, sale_id=e.sale_id, **amounts),
            )
        return self._event(
            e,
            GIFT_CARD,
            "refunded",
            payments_pb2.GiftCardRefunded(**common, sale_id=e.sale_id, **amounts),
        )

    @staticmethod
    def _common(e: Any) -> dict[str, Any]:
        return {
            "payment_id": str(e.originator_id),
            "sale_id": e.sale_id,
            "store_id": e.store_id,
            "amount": _money(e.amount_minor, e.currency),
            "tender": e.tender,
            "card": payments_pb2.Card(token=e.card_token, masked_pan=e.masked_pan, scheme=e.scheme),
        }

    @staticmethod
    def _event(domain_event: Any, aggregate: str, name: str, message: Any) -> IntegrationEvent:
        return IntegrationEvent.of(
            SERVICE,
            domain_event.store_id,
            aggregate,
            name,
            message=message,
            occurred_at=domain_event.timestamp,
        )
