"""Payments on the bus: the request/reply commands (payments subscribes to nothing yet)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from payments.application import (
    AuthorizationRequest,
    PaymentConflictError,
    PaymentInProgressError,
    PaymentNotFoundError,
    Payments,
)
from payments.domainmodel import InvalidCardError, PaymentError
from tillstream.consumer import Handler
from tillstream.service import CommandError, CommandHandler

#: Upstream event handlers, keyed by protobuf full name: none yet (refunds will need sales).
HANDLERS: dict[str, Handler] = {}


def _str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise CommandError(f"{key} must be a non-empty string", "invalid")
    return value


def _int(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise CommandError(f"{key} must be an integer", "invalid")
    return value


@contextmanager
def _refusals() -> Iterator[None]:
    """Domain and application errors -> a CommandError with a one-word code.

    Messages never include card data: the errors raised below do not carry it.
    """
    try:
        yield
    except (InvalidCardError, PaymentNotFoundError) as exc:
        code = "invalid" if isinstance(exc, InvalidCardError) else "not_found"
        raise CommandError(str(exc), code) from exc
    except PaymentConflictError as exc:
        raise CommandError(str(exc), "conflict") from exc
    except PaymentInProgressError as exc:
        raise CommandError(str(exc), "in_progress") from exc
    except PaymentError as exc:
        raise CommandError(str(exc), "invalid") from exc


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
            idempotency_key=_str(body, "idempotency_key"),
            sale_id=_str(body, "sale_id"),
            store_id=_str(body, "store_id"),
            amount_minor=_int(body, "amount_minor"),
            currency=_str(body, "currency"),
            pan=_str(body, "pan"),
            expiry=_str(body, "expiry"),
        )
        with _refusals():
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
