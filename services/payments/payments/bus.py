"""Payments on the bus: the request/reply commands (payments subscribes to nothing yet)."""

from __future__ import annotations

from typing import Any

from payments.application import (
    AuthorizationRequest,
    PaymentConflictError,
    PaymentInProgressError,
    PaymentNotFoundError,
    Payments,
)
from payments.domainmodel import InvalidCardError, PaymentError
from tillstream.commands import integer, refusals, text
from tillstream.consumer import Handler
from tillstream.service import CommandHandler

#: Upstream event handlers, keyed by protobuf full name: none yet (refunds will need sales).
HANDLERS: dict[str, Handler] = {}


# Messages never include card data: the errors raised by payments do not carry it.
_refusals = refusals(
    {
        InvalidCardError: "invalid",
        PaymentNotFoundError: "not_found",
        PaymentConflictError: "conflict",
        PaymentInProgressError: "in_progress",
        PaymentError: "invalid",
    }
)


class PaymentsCommands:
    """Payments' commands: JSON in, JSON out; refusals raise CommandError."""

    def __init__(self, app: Payments) -> None:
        self.app = app

    def handlers(self) -> dict[str, CommandHandler]:
        return {"authorize": self.authorize, "summary": self.summary}

    def authorize(self, body: dict[str, Any]) -> dict[str, Any]:
        """{idempotency_key, sale_id, store_id, amount_minor, currency, pan, expiry}
        -> {payment_id, status, response_code, auth_code, masked_pan, reason}."""
        request = AuthorizationRequest(
            idempotency_key=text(body, "idempotency_key"),
            sale_id=text(body, "sale_id"),
            store_id=text(body, "store_id"),
            amount_minor=integer(body, "amount_minor"),
            currency=text(body, "currency"),
            pan=text(body, "pan"),
            expiry=text(body, "expiry"),
        )
        with _refusals:
            outcome = self.app.authorize(request)
        return {
            "payment_id": outcome.payment_id,
            "status": outcome.status,
            "response_code": outcome.response_code,
            "auth_code": outcome.auth_code,
            "masked_pan": outcome.masked_pan,
            "reason": outcome.reason,
        }

    def summary(self, body: dict[str, Any]) -> dict[str, Any]:
        """{} -> {captured_count, captured_total_minor_by_currency, declined_count}."""
        totals = self.app.summary()
        return {
            "captured_count": totals.captured_count,
            "captured_total_minor_by_currency": totals.captured_total_minor_by_currency,
            "declined_count": totals.declined_count,
        }
