"""Payments' gRPC API (tillstream.payments.v1.PaymentsService) over the same command handlers
as the NATS path (payments.bus.PaymentsCommands): one validation, one set of refusals.

Each call runs on the service's database thread (DbRunner), as NATS commands do. Refusals
become gRPC statuses with a message, and the NATS path's one-word code goes in the trailing
metadata (`tillstream-error-code`). The card number arrives in AuthorizeRequest and is only
passed on in memory; no reply, error message or log line of this module holds it.

Two outcomes are results on the NATS path but errors here, because a gRPC client must not
read them as "paid": a payment declined 91 (the acquirer or the issuer is unavailable:
UNAVAILABLE) and a payment whose answer never came (reversed, or pending while its reversal
is owed: DEADLINE_EXCEEDED). Both are recorded, and the payment id and status go in the
trailing metadata so the client can look it up; a retry with the same key answers the same.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import grpc
from eventsourcing.utils import get_topic
from google.protobuf.timestamp_pb2 import Timestamp

from payments.application import PaymentNotFoundError, Payments
from payments.bus import PaymentsCommands
from payments.domainmodel import PREAUTH, SALE, UNREFERENCED_REFUND
from payments.domainmodel import Payment as PaymentAggregate
from tillstream.commands import uuid
from tillstream.grpcserver import (
    COMMON_STATUS_CODES,
    ERROR_CODE_KEY,
    CommandCalls,
    DbRunner,
    GrpcFactory,
    page_position,
    page_token,
)
from tillstream.payments.v1 import payments_service_pb2 as pb
from tillstream.payments.v1 import payments_service_pb2_grpc as pb_grpc
from tillstream.service import CommandError

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["PaymentsService"].full_name
PAYMENT_ID_KEY = "tillstream-payment-id"
PAYMENT_STATUS_KEY = "tillstream-payment-status"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
#: Notifications read per query of the log while listing payments.
LIST_BATCH = 500
#: The response code of "issuer or acquirer unavailable" (ISO 8583 field 39).
UNAVAILABLE_CODE = "91"

#: The NATS path's refusal codes (and this adapter's own) as gRPC status codes.
STATUS_CODES: dict[str, grpc.StatusCode] = {
    **COMMON_STATUS_CODES,
    "rejected": grpc.StatusCode.FAILED_PRECONDITION,
    "insufficient_funds": grpc.StatusCode.FAILED_PRECONDITION,
    "in_progress": grpc.StatusCode.ABORTED,
    "unavailable": grpc.StatusCode.UNAVAILABLE,
    "no_answer": grpc.StatusCode.DEADLINE_EXCEEDED,
}

_STATUS = {
    "pending": pb.PAYMENT_STATUS_PENDING,
    "approved": pb.PAYMENT_STATUS_APPROVED,
    "declined": pb.PAYMENT_STATUS_DECLINED,
    "authorized": pb.PAYMENT_STATUS_AUTHORIZED,
    "voided": pb.PAYMENT_STATUS_VOIDED,
    "reversed": pb.PAYMENT_STATUS_REVERSED,
    "refunded": pb.PAYMENT_STATUS_REFUNDED,
}
_STATUS_FILTER = {v: k for k, v in _STATUS.items()}
_KIND = {
    SALE: pb.PAYMENT_KIND_SALE,
    PREAUTH: pb.PAYMENT_KIND_PREAUTH,
    UNREFERENCED_REFUND: pb.PAYMENT_KIND_REFUND,
}
_REQUESTED_TOPIC = get_topic(PaymentAggregate.Requested)


@dataclass(frozen=True)
class _Requested:
    """A payment request as ListPayments filters it: where it is in the log, and by whom."""

    position: int
    payment_id: UUID
    store_id: str
    tender: str
    at: datetime


class PaymentOutcomeError(CommandError):
    """A payment recorded with an outcome a client must not read as paid (see the module
    docstring); it names the payment so the client can look it up."""

    def __init__(self, message: str, code: str, payment_id: str, status: str) -> None:
        super().__init__(message, code)
        self.payment_id = payment_id
        self.status = status


def _money(amount_minor: int, currency: str) -> pb.Money:
    return pb.Money(amount_minor=amount_minor, currency=currency)


def _amount(money: pb.Money, name: str, present: bool) -> tuple[int, str]:
    """A required Money field as (minor units, currency); the handlers check the values."""
    if not present:
        raise CommandError(
            f"{name} is required (integer minor units and an ISO 4217 currency)", "invalid"
        )
    return money.amount_minor, money.currency


def _timestamp(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def _timestamp_ms(epoch_ms: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromMilliseconds(epoch_ms)
    return stamp


def _payment_uuid(payment_id: str) -> UUID:
    return uuid({"payment_id": payment_id}, "payment_id")


def _gift_card(reply: dict[str, Any]) -> pb.GiftCard:
    currency = reply["currency"]
    return pb.GiftCard(
        gift_card_id=reply["gift_card_id"],
        masked_number=reply["masked_number"],
        status=reply["status"],
        balance=_money(reply["balance_minor"], currency),
        operation_key=reply["operation_key"],
        operation=reply["operation"],
        operation_amount=_money(reply["operation_amount_minor"], currency),
    )


class PaymentsServicer(CommandCalls, pb_grpc.PaymentsServiceServicer):
    """PaymentsService over a Payments application; calls run through `runner`."""

    service_name = SERVICE_NAME
    status_codes = STATUS_CODES
    # No ValueError/KeyError/TypeError as "invalid": its text could hold request data (a
    # card); it is INTERNAL without its text.
    bad_input_is_invalid = False

    def __init__(self, app: Payments, runner: DbRunner) -> None:
        self.app = app
        self.commands = PaymentsCommands(app)
        self.runner = runner

    def refusal_metadata(self, error: CommandError) -> Sequence[tuple[str, str]]:
        """A PaymentOutcomeError names its payment in the trailing metadata."""
        if isinstance(error, PaymentOutcomeError):
            return ((PAYMENT_ID_KEY, error.payment_id), (PAYMENT_STATUS_KEY, error.status))
        return ()

    def _payment(self, payment_id: str | UUID) -> pb.Payment:
        """The payment as the API shows it: the application's outcome, with the request's
        store, sale, tender and time from the aggregate."""
        pid = payment_id if isinstance(payment_id, UUID) else UUID(payment_id)
        try:
            outcome = self.app.get_payment(pid)
        except PaymentNotFoundError as exc:
            raise CommandError(str(exc), "not_found") from None
        aggregate = self.app.get_or_none(pid)
        cur = outcome.currency
        message = pb.Payment(
            payment_id=outcome.payment_id,
            status=_STATUS.get(outcome.status, pb.PAYMENT_STATUS_UNSPECIFIED),
            kind=_KIND.get(outcome.kind, pb.PAYMENT_KIND_UNSPECIFIED),
            response_code=outcome.response_code,
            auth_code=outcome.auth_code,
            masked_pan=outcome.masked_pan,
            reason=outcome.reason,
            amount=_money(outcome.amount_minor, cur),
            authorized=_money(outcome.authorized_minor, cur),
            captured=_money(outcome.captured_minor, cur),
            tip=_money(outcome.tip_minor, cur),
            refunded=_money(outcome.refunded_minor, cur),
            flags=list(outcome.flags),
            reversal_owed=outcome.reversal_owed,
        )
        if isinstance(aggregate, PaymentAggregate):
            message.store_id, message.sale_id = aggregate.store_id, aggregate.sale_id
            message.tender = aggregate.tender
            created = _timestamp(aggregate.created_on)
            if created is not None:
                message.created_at.CopyFrom(created)
        return message

    def _operation(self, reply: dict[str, Any]) -> pb.PaymentOperation:
        return pb.PaymentOperation(
            payment=self._payment(reply["payment_id"]),
            operation_key=reply["operation_key"],
            operation=reply["operation"],
            amount=_money(reply["operation_amount_minor"], reply["currency"]),
        )

    def _in_payment_currency(self, payment_id: str, money: pb.Money, name: str) -> int:
        """The amount, after checking it is in the payment's currency (the NATS commands
        take minor units alone: the payment's currency is implied there)."""
        pid = _payment_uuid(payment_id)
        try:
            currency = self.app.get_payment(pid).currency
        except PaymentNotFoundError as exc:
            raise CommandError(str(exc), "not_found") from None
        if money.currency != currency:
            raise CommandError(
                f"{name} is in {money.currency or 'no currency'}, payment {pid} in {currency}",
                "invalid",
            )
        return money.amount_minor

    @staticmethod
    def _final(payment: pb.Payment) -> pb.Payment:
        """The payment, unless its outcome is one a client must not read as a result."""
        pid, name = payment.payment_id, pb.PaymentStatus.Name(payment.status)
        if (
            payment.status == pb.PAYMENT_STATUS_DECLINED
            and payment.response_code == UNAVAILABLE_CODE
        ):
            raise PaymentOutcomeError(
                f"payment {pid} declined 91: {payment.reason or 'unavailable'}; nothing was "
                "charged, retry later with a new idempotency key",
                "unavailable",
                pid,
                name,
            )
        if payment.status == pb.PAYMENT_STATUS_REVERSED:
            raise PaymentOutcomeError(
                f"payment {pid}: {payment.reason or 'no answer in time'}; the request was "
                "reversed and nothing is charged",
                "no_answer",
                pid,
                name,
            )
        if payment.status == pb.PAYMENT_STATUS_PENDING:
            owed = (
                "its reversal is still owed (retried by retry_reversals)"
                if payment.reversal_owed
                else "its outcome is unknown"
            )
            raise PaymentOutcomeError(
                f"payment {pid}: no answer from the acquirer in time; {owed}",
                "no_answer",
                pid,
                name,
            )
        return payment

    # -- card payments ----------------------------------------------------------------------

    @staticmethod
    def _card_body(req: pb.AuthorizeRequest | pb.RefundRequest) -> dict[str, Any]:
        amount, currency = _amount(req.amount, "amount", req.HasField("amount"))
        return {
            "idempotency_key": req.idempotency_key,
            "sale_id": req.sale_id,
            "store_id": req.store_id,
            "lane_id": req.lane_id,
            "amount_minor": amount,
            "currency": currency,
            "pan": req.pan,
            "expiry": req.expiry,
        }

    async def Authorize(
        self, request: pb.AuthorizeRequest, context: grpc.aio.ServicerContext
    ) -> pb.Payment:
        return await self._call("Authorize", self._authorize, request, context)

    def _authorize(self, req: pb.AuthorizeRequest) -> pb.Payment:
        reply = self.commands.authorize(self._card_body(req))
        return self._final(self._payment(reply["payment_id"]))

    async def PreAuthorize(
        self, request: pb.AuthorizeRequest, context: grpc.aio.ServicerContext
    ) -> pb.Payment:
        return await self._call("PreAuthorize", self._preauthorize, request, context)

    def _preauthorize(self, req: pb.AuthorizeRequest) -> pb.Payment:
        reply = self.commands.preauthorize(self._card_body(req))
        return self._final(self._payment(reply["payment_id"]))

    async def IncrementAuthorization(
        self, request: pb.IncrementAuthorizationRequest, context: grpc.aio.ServicerContext
    ) -> pb.PaymentOperation:
        return await self._call("IncrementAuthorization", self._increment, request, context)

    def _increment(self, req: pb.IncrementAuthorizationRequest) -> pb.PaymentOperation:
        _amount(req.increment, "increment", req.HasField("increment"))
        amount = self._in_payment_currency(req.payment_id, req.increment, "increment")
        return self._operation(
            self.commands.increment(
                {
                    "payment_id": req.payment_id,
                    "operation_key": req.operation_key,
                    "increment_minor": amount,
                }
            )
        )

    async def Capture(
        self, request: pb.CaptureRequest, context: grpc.aio.ServicerContext
    ) -> pb.PaymentOperation:
        return await self._call("Capture", self._capture, request, context)

    def _capture(self, req: pb.CaptureRequest) -> pb.PaymentOperation:
        amount = None
        if req.HasField("amount"):
            amount = self._in_payment_currency(req.payment_id, req.amount, "amount")
        return self._operation(
            self.commands.capture(
                {
                    "payment_id": req.payment_id,
                    "operation_key": req.operation_key,
                    "amount_minor": amount,
                }
            )
        )

    async def Void(
        self, request: pb.VoidRequest, context: grpc.aio.ServicerContext
    ) -> pb.PaymentOperation:
        return await self._call("Void", self._void, request, context)

    def _void(self, req: pb.VoidRequest) -> pb.PaymentOperation:
        return self._operation(
            self.commands.void(
                {
                    "payment_id": req.payment_id,
                    "operation_key": req.operation_key,
                    "reason": req.reason,
                }
            )
        )

    async def Refund(
        self, request: pb.RefundRequest, context: grpc.aio.ServicerContext
    ) -> pb.RefundResponse:
        return await self._call("Refund", self._refund, request, context)

    def _refund(self, req: pb.RefundRequest) -> pb.RefundResponse:
        if req.unreferenced:
            if req.payment_id or req.operation_key:
                raise CommandError(
                    "an unreferenced refund names no payment_id nor "
                    "operation_key (its idempotency_key names it)",
                    "invalid",
                )
            body = {**self._card_body(req), "unreferenced": True, "permitted": req.permitted}
            reply = self.commands.refund(body)
            return pb.RefundResponse(unreferenced=self._final(self._payment(reply["payment_id"])))
        _amount(req.amount, "amount", req.HasField("amount"))
        amount = self._in_payment_currency(req.payment_id, req.amount, "amount")
        reply = self.commands.refund(
            {
                "payment_id": req.payment_id,
                "operation_key": req.operation_key,
                "amount_minor": amount,
            }
        )
        return pb.RefundResponse(referenced=self._operation(reply))

    async def AdjustTip(
        self, request: pb.AdjustTipRequest, context: grpc.aio.ServicerContext
    ) -> pb.PaymentOperation:
        return await self._call("AdjustTip", self._adjust_tip, request, context)

    def _adjust_tip(self, req: pb.AdjustTipRequest) -> pb.PaymentOperation:
        _amount(req.tip, "tip", req.HasField("tip"))
        tip = self._in_payment_currency(req.payment_id, req.tip, "tip")
        return self._operation(
            self.commands.adjust_tip(
                {
                    "payment_id": req.payment_id,
                    "operation_key": req.operation_key,
                    "tip_minor": tip,
                }
            )
        )

    async def GetPayment(
        self, request: pb.GetPaymentRequest, context: grpc.aio.ServicerContext
    ) -> pb.Payment:
        return await self._call("GetPayment", self._get_payment, request, context)

    def _get_payment(self, req: pb.GetPaymentRequest) -> pb.Payment:
        return self._payment(_payment_uuid(req.payment_id))

    async def ListPayments(
        self, request: pb.ListPaymentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPaymentsResponse:
        return await self._call("ListPayments", self._list_payments, request, context)

    def _list_payments(self, req: pb.ListPaymentsRequest) -> pb.ListPaymentsResponse:
        if req.page_size < 0:
            raise CommandError("page_size must not be negative", "invalid")
        # More than the maximum is served as the maximum (the usual page-size contract).
        size = min(req.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        if req.status != pb.PAYMENT_STATUS_UNSPECIFIED and req.status not in _STATUS_FILTER:
            raise CommandError(f"unknown status {req.status}", "invalid")
        start = req.created_from.ToDatetime(UTC) if req.HasField("created_from") else None
        end = req.created_to.ToDatetime(UTC) if req.HasField("created_to") else None
        if start is not None and end is not None and start >= end:
            raise CommandError("created_from must be before created_to", "invalid")
        after = page_position(req.page_token, "ListPayments")
        page: list[pb.Payment] = []
        last = after
        for requested in self._requests_after(after):
            if (
                (req.store_id and requested.store_id != req.store_id)
                or (req.tender and requested.tender != req.tender)
                or (start is not None and requested.at < start)
                or (end is not None and requested.at >= end)
            ):
                continue
            payment = self._payment(requested.payment_id)
            if req.status and payment.status != req.status:
                continue
            if len(page) == size:  # one more match exists: there is a next page
                return pb.ListPaymentsResponse(payments=page, next_page_token=page_token(last))
            page.append(payment)
            last = requested.position
        return pb.ListPaymentsResponse(payments=page)

    def _requests_after(self, position: int) -> Iterator[_Requested]:
        """Every payment request after `position` in the notification log, in order. The
        application has no list query yet, so this reads its log forward, a batch at a time."""
        while True:
            notifications = self.app.notifications(position + 1, LIST_BATCH)
            if not notifications:
                return
            for notification in notifications:
                position = notification.id
                if notification.topic != _REQUESTED_TOPIC:
                    continue
                event: Any = self.app.mapper.to_domain_event(notification)
                yield _Requested(
                    position, event.originator_id, event.store_id, event.tender, event.timestamp
                )

    # -- gift cards -------------------------------------------------------------------------

    async def ActivateGiftCard(
        self, request: pb.ActivateGiftCardRequest, context: grpc.aio.ServicerContext
    ) -> pb.GiftCard:
        return await self._call("ActivateGiftCard", self._activate_gift_card, request, context)

    def _activate_gift_card(self, req: pb.ActivateGiftCardRequest) -> pb.GiftCard:
        amount, currency = _amount(req.amount, "amount", req.HasField("amount"))
        return _gift_card(
            self.commands.activate_gift_card(
                {
                    "number": req.number,
                    "store_id": req.store_id,
                    "operation_key": req.operation_key,
                    "currency": currency,
                    "amount_minor": amount,
                }
            )
        )

    async def LoadGiftCard(
        self, request: pb.LoadGiftCardRequest, context: grpc.aio.ServicerContext
    ) -> pb.GiftCard:
        return await self._call("LoadGiftCard", self._load_gift_card, request, context)

    def _load_gift_card(self, req: pb.LoadGiftCardRequest) -> pb.GiftCard:
        amount, currency = _amount(req.amount, "amount", req.HasField("amount"))
        return _gift_card(
            self.commands.load_gift_card(
                {
                    "number": req.number,
                    "store_id": req.store_id,
                    "operation_key": req.operation_key,
                    "amount_minor": amount,
                    "currency": currency or None,
                }
            )
        )

    async def RedeemGiftCard(
        self, request: pb.RedeemGiftCardRequest, context: grpc.aio.ServicerContext
    ) -> pb.GiftCard:
        return await self._call("RedeemGiftCard", self._redeem_gift_card, request, context)

    def _redeem_gift_card(self, req: pb.RedeemGiftCardRequest) -> pb.GiftCard:
        return _gift_card(self.commands.redeem_gift_card(self._gift_tender(req)))

    async def RefundGiftCard(
        self, request: pb.RefundGiftCardRequest, context: grpc.aio.ServicerContext
    ) -> pb.GiftCard:
        return await self._call("RefundGiftCard", self._refund_gift_card, request, context)

    def _refund_gift_card(self, req: pb.RefundGiftCardRequest) -> pb.GiftCard:
        return _gift_card(self.commands.refund_gift_card(self._gift_tender(req)))

    @staticmethod
    def _gift_tender(req: pb.RedeemGiftCardRequest | pb.RefundGiftCardRequest) -> dict[str, Any]:
        amount, currency = _amount(req.amount, "amount", req.HasField("amount"))
        return {
            "number": req.number,
            "store_id": req.store_id,
            "operation_key": req.operation_key,
            "sale_id": req.sale_id,
            "amount_minor": amount,
            "currency": currency or None,
        }

    async def BlockGiftCard(
        self, request: pb.BlockGiftCardRequest, context: grpc.aio.ServicerContext
    ) -> pb.GiftCard:
        return await self._call("BlockGiftCard", self._block_gift_card, request, context)

    def _block_gift_card(self, req: pb.BlockGiftCardRequest) -> pb.GiftCard:
        return _gift_card(
            self.commands.block_gift_card(
                {
                    "number": req.number,
                    "store_id": req.store_id,
                    "operation_key": req.operation_key,
                    "reason": req.reason,
                }
            )
        )

    async def GetGiftCardBalance(
        self, request: pb.GetGiftCardBalanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.GiftCard:
        return await self._call("GetGiftCardBalance", self._gift_card_balance, request, context)

    def _gift_card_balance(self, req: pb.GetGiftCardBalanceRequest) -> pb.GiftCard:
        return _gift_card(self.commands.gift_card_balance({"number": req.number}))

    # -- batch and reconciliation -----------------------------------------------------------

    async def CloseBatch(
        self, request: pb.CloseBatchRequest, context: grpc.aio.ServicerContext
    ) -> pb.Batch:
        return await self._call("CloseBatch", self._close_batch, request, context)

    def _close_batch(self, req: pb.CloseBatchRequest) -> pb.Batch:
        reply = self.commands.close_batch(
            {
                "store_id": req.store_id,
                "terminal_id": req.terminal_id,
                "business_day": req.business_day,
            }
        )
        currency = reply["currency"]
        return pb.Batch(
            batch_id=reply["batch_id"],
            store_id=reply["store_id"],
            terminal_id=reply["terminal_id"],
            business_day=reply["business_day"],
            totals=[
                pb.BatchTotal(
                    scheme=total["scheme"],
                    type=total["type"],
                    count=total["count"],
                    total=_money(total["amount_minor"], currency),
                )
                for total in reply["totals"]
            ],
            net=_money(reply["net_minor"], currency),
            closed_at=_timestamp_ms(reply["closed_at_ms"]),
        )

    async def GetReconciliation(
        self, request: pb.GetReconciliationRequest, context: grpc.aio.ServicerContext
    ) -> pb.Reconciliation:
        return await self._call("GetReconciliation", self._get_reconciliation, request, context)

    def _get_reconciliation(self, req: pb.GetReconciliationRequest) -> pb.Reconciliation:
        key = req.WhichOneof("key")
        if key is None:
            raise CommandError("reconciliation_id or business_day is required", "invalid")
        reply = self.commands.get_reconciliation({key: getattr(req, key)})
        return pb.Reconciliation(
            reconciliation_id=reply["reconciliation_id"],
            business_day=reply["business_day"],
            matched_count=reply["matched"],
            differences=[
                pb.ReconciliationDifference(
                    kind=d["kind"],
                    payment_id=d["payment_id"],
                    rrn=d["rrn"],
                    auth_code=d["auth_code"],
                    ours=_money(d["ours_minor"], d["currency"]),
                    acquirer=_money(d["acquirer_minor"], d["currency"]),
                    action=d["action"],
                )
                for d in reply["differences"]
            ],
            completed_at=_timestamp_ms(reply["completed_at_ms"]),
        )


def grpc_api(app: Payments) -> GrpcFactory:
    """The `ServiceDefinition.grpc` factory: PaymentsService over `app`."""

    def register(server: grpc.aio.Server, runner: DbRunner) -> Sequence[str]:
        pb_grpc.add_PaymentsServiceServicer_to_server(PaymentsServicer(app, runner), server)
        return [SERVICE_NAME]

    return register


__all__ = [
    "ERROR_CODE_KEY",
    "PAYMENT_ID_KEY",
    "PAYMENT_STATUS_KEY",
    "SERVICE_NAME",
    "STATUS_CODES",
    "PaymentsServicer",
    "grpc_api",
]
