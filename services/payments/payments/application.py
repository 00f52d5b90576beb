"""The payments application: idempotent card authorizations, and their running totals."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from payments.acquirer import AuthorizationResult
from payments.domainmodel import (
    CAPTURED,
    DECLINED,
    PENDING,
    Card,
    CardTokenizer,
    Payment,
    payment_id_for,
)
from tillstream.eventstore import ServiceApplication


class PaymentNotFoundError(Exception):
    """No payment with this id."""


class PaymentConflictError(Exception):
    """An idempotency key is re-used with a different request body."""


class PaymentInProgressError(Exception):
    """The same request is being authorized right now (a concurrent duplicate)."""


class Acquirer(Protocol):
    """The port to the acquirer: one authorization, one answer."""

    def authorize(
        self, pan: str, expiry: str, amount_minor: int, currency: str
    ) -> AuthorizationResult: ...


@dataclass(frozen=True)
class AuthorizationRequest:
    """A card authorization as a client asks for it. Lives in memory only."""

    idempotency_key: str
    sale_id: str
    store_id: str
    amount_minor: int
    currency: str
    # Kept out of repr so no log line or traceback can show the card.
    pan: str = field(repr=False)
    expiry: str = field(repr=False)
    tender: str = "card"


@dataclass(frozen=True)
class PaymentOutcome:
    """The result a client gets back (the first one, on every retry)."""

    payment_id: str
    status: str  # approved | declined
    response_code: str
    auth_code: str
    masked_pan: str
    reason: str


@dataclass
class PaymentTotals:
    """Running totals of the payment results, read from the notification log."""

    position: int = 0
    captured_count: int = 0
    captured_total_minor_by_currency: dict[str, int] = field(default_factory=dict)
    declined_count: int = 0


class Payments(ServiceApplication):
    """Card payments: tokenized at the door, authorized once per idempotency key."""

    name = "payments"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        acquirer: Acquirer,
        tokenizer: CardTokenizer,
    ) -> None:
        super().__init__(env)
        self.acquirer = acquirer
        self.tokenizer = tokenizer
        self._totals = PaymentTotals()
        self._totals_lock = threading.Lock()
        self._captured_topic = get_topic(Payment.Captured)
        self._declined_topic = get_topic(Payment.Declined)

    def authorize(self, request: AuthorizationRequest) -> PaymentOutcome:
        """Authorize a card payment; the same key and body returns the first result.

        Raises InvalidCardError before anything is stored, PaymentConflictError for a key
        re-used with another body, PaymentInProgressError for a concurrent duplicate.
        """
        # Tokenize first: a bad card is refused before anything is stored, and from here on
        # only the token, the masked PAN and the expiry month/year go anywhere but the acquirer.
        card = Card.from_pan(request.pan, request.expiry, self.tokenizer)
        body_hash = self._body_hash(request, card)
        payment_id = payment_id_for(request.store_id, request.idempotency_key)
        payment = self._payment_or_none(payment_id)
        if payment is None:
            payment = Payment.request(
                store_id=request.store_id, idempotency_key=request.idempotency_key,
                sale_id=request.sale_id, amount_minor=request.amount_minor,
                currency=request.currency, card=card, body_hash=body_hash,
                tender=request.tender,
            )
            try:
                # Saved before the acquirer is asked: an answer that never comes back leaves
                # a visible pending payment, never a charge nobody knows about.
                self.save(payment)
            except IntegrityError:
                # A concurrent duplicate wrote the same id first (optimistic concurrency).
                first = self._payment(payment_id)
                self._check_same_body(first, body_hash)
                if first.status == PENDING:
                    raise PaymentInProgressError(
                        f"payment {payment_id} is being authorized; retry shortly"
                    ) from None
                return self._outcome(first)
        else:
            self._check_same_body(payment, body_hash)
            if payment.status != PENDING:
                return self._outcome(payment)
            # Pending on a retry: the first attempt died before its result was saved. The
            # stand-in acquirer is in-process and deterministic, so asking again is safe;
            # a real acquirer link must query the status (or reverse) here instead.
        result = self.acquirer.authorize(
            request.pan, request.expiry, request.amount_minor, request.currency
        )
        if result.approved:
            payment.capture(auth_code=result.auth_code, rrn=result.rrn)
        else:
            payment.decline(response_code=result.response_code, reason=result.reason)
        try:
            self.save(payment)
        except IntegrityError:
            # Another attempt recorded the result first; its result is the first result.
            return self._outcome(self._payment(payment_id))
        return self._outcome(payment)

    def get_payment(self, payment_id: UUID) -> PaymentOutcome:
        return self._outcome(self._payment(payment_id))

    def summary(self) -> PaymentTotals:
        """Captured count and totals per currency, declined count.

        Read forward from the notification log from where the last call stopped, so it is
        right after a restart (it starts from zero and reads everything) and counts what
        other replicas wrote too.
        """
        with self._totals_lock:
            totals = self._totals
            while True:
                notifications = self.notifications(totals.position + 1, 500)
                if not notifications:
                    break
                for notification in notifications:
                    if notification.topic == self._captured_topic:
                        captured: Any = self.mapper.to_domain_event(notification)
                        totals.captured_count += 1
                        by_currency = totals.captured_total_minor_by_currency
                        by_currency[captured.currency] = (
                            by_currency.get(captured.currency, 0) + captured.amount_minor
                        )
                    elif notification.topic == self._declined_topic:
                        totals.declined_count += 1
                    totals.position = notification.id
            return PaymentTotals(
                position=totals.position,
                captured_count=totals.captured_count,
                captured_total_minor_by_currency=dict(totals.captured_total_minor_by_currency),
                declined_count=totals.declined_count,
            )

    @staticmethod
    def _body_hash(request: AuthorizationRequest, card: Card) -> str:
        # The card enters as its token: an unkeyed hash of a PAN could be brute-forced.
        body = {
            "sale_id": request.sale_id,
            "store_id": request.store_id,
            "amount_minor": request.amount_minor,
            "currency": request.currency,
            "tender": request.tender,
            "card_token": card.token,
            "expiry": [card.expiry_month, card.expiry_year],
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    @staticmethod
    def _check_same_body(payment: Payment, body_hash: str) -> None:
        if payment.body_hash != body_hash:
            raise PaymentConflictError(
                f"idempotency key {payment.idempotency_key!r} was used for another request"
            )

    @staticmethod
    def _outcome(payment: Payment) -> PaymentOutcome:
        status = {CAPTURED: "approved", DECLINED: "declined"}.get(payment.status, payment.status)
        return PaymentOutcome(
            payment_id=str(payment.id),
            status=status,
            response_code=payment.response_code,
            auth_code=payment.auth_code,
            masked_pan=payment.masked_pan,
            reason=payment.reason,
        )

    def _payment_or_none(self, payment_id: UUID) -> Payment | None:
        payment = self.get_or_none(payment_id)
        return payment if isinstance(payment, Payment) else None

    def _payment(self, payment_id: UUID) -> Payment:
        payment = self._payment_or_none(payment_id)
        if payment is None:
            raise PaymentNotFoundError(f"no payment {payment_id}")
        return payment
