"""Payments on the bus: the request/reply commands, and the upstream handlers (checkout's
returns, voids and cash sales; the edge agent's terminal approvals: payments.consumers)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from payments.acquirer import AcquirerUnavailableError
from payments.application import (
    TENDERS,
    AuthorizationRequest,
    BatchNotFoundError,
    GiftCardNotFoundError,
    GiftCardOutcome,
    OperationOutcome,
    PaymentConflictError,
    PaymentInProgressError,
    PaymentNotFoundError,
    PaymentOutcome,
    Payments,
)
from payments.batch import BatchError
from payments.consumers import HANDLERS as CONSUMER_HANDLERS
from payments.domainmodel import (
    GiftCardError,
    GiftCardIllegalTransitionError,
    GiftCardInsufficientFundsError,
    GiftCardOperationConflictError,
    IllegalTransitionError,
    InvalidCardError,
    OperationKeyConflictError,
    PaymentError,
)
from payments.vault import VaultError, VaultKeyMissingError
from tillstream.commands import integer, refusals, text, uuid
from tillstream.consumer import Handler
from tillstream.service import CommandError, CommandHandler

#: Upstream event handlers, keyed by protobuf full name (payments.consumers).
HANDLERS: dict[str, Handler] = dict(CONSUMER_HANDLERS)

#: Vault batches one `rotate_vault_key` command re-encrypts at most: the command runs on the
#: service's single database thread, so a long rotation is many short commands.
ROTATION_BATCHES_PER_COMMAND = 5


# Messages never include card data: the errors raised by payments do not carry it (nor a gift
# card's number). Subclasses come before their bases: the first match wins.
_refusals = refusals(
    {
        InvalidCardError: "invalid",
        (PaymentNotFoundError, GiftCardNotFoundError, BatchNotFoundError): "not_found",
        BatchError: "invalid",
        (
            PaymentConflictError,
            OperationKeyConflictError,
            GiftCardOperationConflictError,
        ): "conflict",
        PaymentInProgressError: "in_progress",
        AcquirerUnavailableError: "unavailable",
        GiftCardInsufficientFundsError: "insufficient_funds",
        VaultKeyMissingError: "invalid",
        VaultError: "rejected",
        (IllegalTransitionError, GiftCardIllegalTransitionError): "rejected",
        (PaymentError, GiftCardError): "invalid",
    }
)


def _optional_int(body: Mapping[str, Any], key: str) -> int | None:
    """An integer field that may be absent (or null)."""
    return None if body.get(key) is None else integer(body, key)


def _optional_text(body: Mapping[str, Any], key: str, default: str = "") -> str:
    """A string field that may be absent; when present it is a string."""
    value = body.get(key, default)
    if not isinstance(value, str):
        raise CommandError(f"{key} must be a string", "invalid")
    return value


def _optional_currency(body: Mapping[str, Any]) -> str | None:
    """The currency a gift card amount is in, if the client says (checked against the card)."""
    return None if body.get("currency") is None else text(body, "currency")


def _flag(body: Mapping[str, Any], key: str) -> bool:
    """A boolean field, false when absent; only JSON true is true."""
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise CommandError(f"{key} must be true or false", "invalid")
    return value


def _plain(report: Any) -> dict[str, Any]:
    """A report dataclass as the JSON reply (tuples as lists, as the client will see them)."""
    plain: dict[str, Any] = json.loads(json.dumps(asdict(report)))
    return plain


def _gift_card_sale_args(body: Mapping[str, Any]) -> tuple[str, str, str, str, int, str | None]:
    """A redemption's or refund's fields: number, store, operation key, sale, amount, currency."""
    return (
        text(body, "number"),
        text(body, "store_id"),
        text(body, "operation_key"),
        text(body, "sale_id"),
        integer(body, "amount_minor"),
        _optional_currency(body),
    )


def _authorization_request(body: Mapping[str, Any]) -> AuthorizationRequest:
    return AuthorizationRequest(
        idempotency_key=text(body, "idempotency_key"),
        sale_id=text(body, "sale_id"),
        store_id=text(body, "store_id"),
        amount_minor=integer(body, "amount_minor"),
        currency=text(body, "currency"),
        pan=text(body, "pan"),
        expiry=text(body, "expiry"),
        lane_id=_optional_text(body, "lane_id"),
        tender=_tender(body),
    )


def _tender(body: Mapping[str, Any]) -> str:
    """card (default) or wallet (a mobile wallet's QR code, its own channel at the acquirer)."""
    tender = _optional_text(body, "tender", "card")
    if tender not in TENDERS:
        raise CommandError(f"tender must be one of {', '.join(TENDERS)}", "invalid")
    return tender


def payment_reply(outcome: PaymentOutcome) -> dict[str, Any]:
    """A payment as a JSON reply: every amount in minor units, the card masked."""
    return {
        "payment_id": outcome.payment_id,
        "status": outcome.status,
        "kind": outcome.kind,
        "response_code": outcome.response_code,
        "auth_code": outcome.auth_code,
        "masked_pan": outcome.masked_pan,
        "reason": outcome.reason,
        "amount_minor": outcome.amount_minor,
        "currency": outcome.currency,
        "authorized_minor": outcome.authorized_minor,
        "captured_minor": outcome.captured_minor,
        "tip_minor": outcome.tip_minor,
        "refunded_minor": outcome.refunded_minor,
        "flags": list(outcome.flags),
    }


def operation_reply(outcome: OperationOutcome) -> dict[str, Any]:
    """A keyed operation's reply: the payment after it, and what the key did."""
    return {
        **payment_reply(outcome.payment),
        "operation_key": outcome.operation_key,
        "operation": outcome.operation,
        "operation_amount_minor": outcome.amount_minor,
    }


def gift_card_reply(outcome: GiftCardOutcome) -> dict[str, Any]:
    return {
        "gift_card_id": outcome.gift_card_id,
        "masked_number": outcome.masked_number,
        "status": outcome.status,
        "currency": outcome.currency,
        "balance_minor": outcome.balance_minor,
        "operation_key": outcome.operation_key,
        "operation": outcome.operation,
        "operation_amount_minor": outcome.amount_minor,
    }


class PaymentsCommands:
    """Payments' commands: JSON in, JSON out; refusals raise CommandError."""

    def __init__(self, app: Payments) -> None:
        self.app = app

    def handlers(self) -> dict[str, CommandHandler]:
        return {
            "authorize": self.authorize,
            "preauthorize": self.preauthorize,
            "increment": self.increment,
            "capture": self.capture,
            "adjust_tip": self.adjust_tip,
            "void": self.void,
            "refund": self.refund,
            "reverse": self.reverse,
            "get_payment": self.get_payment,
            "pending_payments": self.pending_payments,
            "retry_reversals": self.retry_reversals,
            "activate_gift_card": self.activate_gift_card,
            "load_gift_card": self.load_gift_card,
            "redeem_gift_card": self.redeem_gift_card,
            "refund_gift_card": self.refund_gift_card,
            "block_gift_card": self.block_gift_card,
            "gift_card_balance": self.gift_card_balance,
            "summary": self.summary,
            "rotate_vault_key": self.rotate_vault_key,
            "send_advices": self.send_advices,
            "send_refunds": self.send_refunds,
            "close_batch": self.close_batch,
            "reconcile": self.reconcile,
            "get_reconciliation": self.get_reconciliation,
        }

    def send_advices(self, body: dict[str, Any]) -> dict[str, Any]:
        """{} -> {payments: [...]}: offline terminal approvals advised to the acquirer now
        (status stays approved; `reason` says why one was declined late)."""
        with _refusals:
            return {"payments": [payment_reply(p) for p in self.app.send_advices()]}

    def send_refunds(self, body: dict[str, Any]) -> dict[str, Any]:
        """{} -> {payments: [...]}: the refunds and voids owed to the acquirer (host-
        authorized payments), sent now; each payment as it is after the acquirer's answer
        (`refunded_minor` counts approved refunds only)."""
        with _refusals:
            return {"payments": [payment_reply(p) for p in self.app.send_owed_operations()]}

    def close_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        """{store_id, business_day: YYYY-MM-DD, terminal_id?} -> the closed batch: totals by
        scheme and type (sale, refund, void, tip, cash), net, in minor units."""
        store_id, day = text(body, "store_id"), text(body, "business_day")
        terminal_id = _optional_text(body, "terminal_id") or None
        with _refusals:
            return _plain(self.app.close_batch(store_id, terminal_id, day))

    def reconcile(self, body: dict[str, Any]) -> dict[str, Any]:
        """{business_day, settlement_path} -> the reconciliation: matched count and every
        difference (missing_ours, missing_acquirer, amount_mismatch). The path must name an
        acquirer settlement file (settlement-*.csv)."""
        day, path = text(body, "business_day"), Path(text(body, "settlement_path"))
        if not (path.name.startswith("settlement-") and path.suffix == ".csv"):
            raise CommandError("settlement_path must name a settlement-*.csv file", "invalid")
        with _refusals:
            return _plain(self.app.reconcile(day, path))

    def get_reconciliation(self, body: dict[str, Any]) -> dict[str, Any]:
        """{reconciliation_id | business_day} -> the last reconciliation of that day."""
        key = _optional_text(body, "reconciliation_id") or text(body, "business_day")
        with _refusals:
            return _plain(self.app.get_reconciliation(key))

    def authorize(self, body: dict[str, Any]) -> dict[str, Any]:
        """{idempotency_key, sale_id, store_id, amount_minor, currency, pan, expiry}
        -> {payment_id, status, response_code, auth_code, masked_pan, reason}."""
        request = _authorization_request(body)
        with _refusals:
            outcome = self.app.authorize(request)
        # The sale's reply keeps its original shape: lanes already parse it.
        return {
            "payment_id": outcome.payment_id,
            "status": outcome.status,
            "response_code": outcome.response_code,
            "auth_code": outcome.auth_code,
            "masked_pan": outcome.masked_pan,
            "reason": outcome.reason,
        }

    def preauthorize(self, body: dict[str, Any]) -> dict[str, Any]:
        """Same body as authorize -> the payment (status authorized | declined)."""
        request = _authorization_request(body)
        with _refusals:
            return payment_reply(self.app.preauthorize(request))

    def increment(self, body: dict[str, Any]) -> dict[str, Any]:
        """{payment_id, operation_key, increment_minor} -> the payment and the operation."""
        payment_id, key = uuid(body, "payment_id"), text(body, "operation_key")
        amount = integer(body, "increment_minor")
        with _refusals:
            return operation_reply(self.app.increment(payment_id, key, amount))

    def capture(self, body: dict[str, Any]) -> dict[str, Any]:
        """{payment_id, operation_key, amount_minor?} (absent: authorized + tip)."""
        payment_id, key = uuid(body, "payment_id"), text(body, "operation_key")
        amount = _optional_int(body, "amount_minor")
        with _refusals:
            return operation_reply(self.app.capture(payment_id, key, amount))

    def adjust_tip(self, body: dict[str, Any]) -> dict[str, Any]:
        """{payment_id, operation_key, tip_minor}."""
        payment_id, key = uuid(body, "payment_id"), text(body, "operation_key")
        tip = integer(body, "tip_minor")
        with _refusals:
            return operation_reply(self.app.adjust_tip(payment_id, key, tip))

    def void(self, body: dict[str, Any]) -> dict[str, Any]:
        """{payment_id, operation_key, reason?}."""
        payment_id, key = uuid(body, "payment_id"), text(body, "operation_key")
        reason = _optional_text(body, "reason")
        with _refusals:
            return operation_reply(self.app.void(payment_id, key, reason))

    def refund(self, body: dict[str, Any]) -> dict[str, Any]:
        """Referenced: {payment_id, operation_key, amount_minor}.
        Unreferenced: {unreferenced: true, permitted: true, idempotency_key, sale_id,
        store_id, amount_minor, currency, pan, expiry} (refused without `permitted`)."""
        if _flag(body, "unreferenced"):
            request = _authorization_request(body)
            permitted = _flag(body, "permitted")
            with _refusals:
                return payment_reply(self.app.refund_unreferenced(request, permitted))
        payment_id, key = uuid(body, "payment_id"), text(body, "operation_key")
        amount = integer(body, "amount_minor")
        with _refusals:
            return operation_reply(self.app.refund(payment_id, key, amount))

    def reverse(self, body: dict[str, Any]) -> dict[str, Any]:
        """{payment_id, operation_key, reason?}: a payment whose outcome never came back."""
        payment_id, key = uuid(body, "payment_id"), text(body, "operation_key")
        reason = _optional_text(body, "reason", "no answer")
        with _refusals:
            return operation_reply(self.app.reverse(payment_id, key, reason))

    def get_payment(self, body: dict[str, Any]) -> dict[str, Any]:
        """{payment_id} -> the payment."""
        payment_id = uuid(body, "payment_id")
        with _refusals:
            return payment_reply(self.app.get_payment(payment_id))

    def pending_payments(self, body: dict[str, Any]) -> dict[str, Any]:
        """{} -> {payments: [...]}: every pending payment; `reversal_owed` marks the ones the
        acquirer may have charged and that wait for a confirmed reversal."""
        return {
            "payments": [
                {**payment_reply(p), "reversal_owed": p.reversal_owed}
                for p in self.app.pending_payments()
            ]
        }

    def retry_reversals(self, body: dict[str, Any]) -> dict[str, Any]:
        """{} -> {payments: [...]}: the reversals still owed, asked again."""
        return {
            "payments": [
                {**payment_reply(p), "reversal_owed": p.reversal_owed}
                for p in self.app.retry_reversals()
            ]
        }

    def activate_gift_card(self, body: dict[str, Any]) -> dict[str, Any]:
        """{number, store_id, operation_key, currency, amount_minor}."""
        args = (
            text(body, "number"),
            text(body, "store_id"),
            text(body, "operation_key"),
            text(body, "currency"),
            integer(body, "amount_minor"),
        )
        with _refusals:
            return gift_card_reply(self.app.activate_gift_card(*args))

    def load_gift_card(self, body: dict[str, Any]) -> dict[str, Any]:
        """{number, store_id, operation_key, amount_minor, currency?}."""
        args = (
            text(body, "number"),
            text(body, "store_id"),
            text(body, "operation_key"),
            integer(body, "amount_minor"),
            _optional_currency(body),
        )
        with _refusals:
            return gift_card_reply(self.app.load_gift_card(*args))

    def redeem_gift_card(self, body: dict[str, Any]) -> dict[str, Any]:
        """{number, store_id, operation_key, sale_id, amount_minor, currency?}."""
        with _refusals:
            return gift_card_reply(self.app.redeem_gift_card(*_gift_card_sale_args(body)))

    def refund_gift_card(self, body: dict[str, Any]) -> dict[str, Any]:
        """{number, store_id, operation_key, sale_id, amount_minor, currency?}."""
        with _refusals:
            return gift_card_reply(self.app.refund_gift_card(*_gift_card_sale_args(body)))

    def block_gift_card(self, body: dict[str, Any]) -> dict[str, Any]:
        """{number, store_id, operation_key, reason?}."""
        args = (
            text(body, "number"),
            text(body, "store_id"),
            text(body, "operation_key"),
            _optional_text(body, "reason"),
        )
        with _refusals:
            return gift_card_reply(self.app.block_gift_card(*args))

    def gift_card_balance(self, body: dict[str, Any]) -> dict[str, Any]:
        """{number} -> {gift_card_id, masked_number, status, currency, balance_minor, ...}."""
        number = text(body, "number")
        with _refusals:
            return gift_card_reply(self.app.gift_card_balance(number))

    def rotate_vault_key(self, body: dict[str, Any]) -> dict[str, Any]:
        """{key_id, max_batches?, batch_size?} -> {key_id, rotated, remaining}: re-encrypt the
        card vault under `key_id` (already in the service's keyring), at most `max_batches`
        batches per command (default ROTATION_BATCHES_PER_COMMAND) so payments keep flowing
        between commands; send it again until `remaining` is 0."""
        key_id = text(body, "key_id")
        max_batches = _optional_int(body, "max_batches") or ROTATION_BATCHES_PER_COMMAND
        batch_size = _optional_int(body, "batch_size")
        if max_batches < 1 or (batch_size is not None and batch_size < 1):
            raise CommandError("max_batches and batch_size must be positive", "invalid")
        with _refusals:
            progress = self.app.rotate_vault_key(
                key_id, max_batches=max_batches, batch_size=batch_size
            )
        return {"key_id": key_id, "rotated": progress.rotated, "remaining": progress.remaining}

    def summary(self, body: dict[str, Any]) -> dict[str, Any]:
        """{} -> {captured_count, captured_total_minor_by_currency, declined_count}."""
        totals = self.app.summary()
        return {
            "captured_count": totals.captured_count,
            "captured_total_minor_by_currency": totals.captured_total_minor_by_currency,
            "declined_count": totals.declined_count,
        }
