"""Checkout's gRPC `CheckoutService` for partners: a thin adapter over the same application as
the lanes' NATS commands (bus.py).

Commands go through `CheckoutCommands`, so both ways in validate alike and refuse with the same
one-word codes (`sale_refusals`, `shift_refusals`); here each code becomes a gRPC status, and
the code itself travels in the trailing metadata key `tillstream-error-code`. Every call runs
on the service's one database thread (the application is not thread-safe).

"conflict" is ALREADY_EXISTS, not ABORTED: it means a caller-made id (a sale, a line number, a
cashier) is taken with other details, or another shift holds the lane; retrying the same call
can never succeed, which is what ALREADY_EXISTS tells a client. ABORTED is kept for what it
means in gRPC: a concurrent write won an optimistic-concurrency race (the event store's
IntegrityError), so retrying the whole call is the right move.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc

from checkout.application import MAX_PAGE_SIZE, Checkout, SaleView
from checkout.bus import CheckoutCommands, TenderRouter, sale_refusals, shift_refusals
from checkout.domainmodel import COMPLETED, OPEN, SUSPENDED, VOIDED, ShiftReport
from checkout.receipts import receipt_for_sale, render_escpos, render_html, render_text
from tillstream.checkout.v1 import checkout_service_pb2 as pb
from tillstream.checkout.v1 import checkout_service_pb2_grpc as pb_grpc
from tillstream.commands import uuid
from tillstream.grpcserver import (
    COMMON_STATUS_CODES,
    ERROR_CODE_KEY,
    CommandCalls,
    DbRunner,
    GrpcFactory,
    page_position,
    page_token,
    run_command,
)
from tillstream.service import CommandError

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["CheckoutService"].full_name
DEFAULT_PAGE_SIZE = 20

#: The NATS path's refusal codes as gRPC status codes.
STATUS_CODES: dict[str, grpc.StatusCode] = {
    **COMMON_STATUS_CODES,
    "rejected": grpc.StatusCode.FAILED_PRECONDITION,
    "no_shift": grpc.StatusCode.FAILED_PRECONDITION,
    "closed": grpc.StatusCode.FAILED_PRECONDITION,
    "unknown_sku": grpc.StatusCode.FAILED_PRECONDITION,
    "insufficient_cash": grpc.StatusCode.FAILED_PRECONDITION,
    "wrong_cashier": grpc.StatusCode.PERMISSION_DENIED,
    "permission_required": grpc.StatusCode.PERMISSION_DENIED,
    "bad_pin": grpc.StatusCode.UNAUTHENTICATED,
    "approval_required": grpc.StatusCode.FAILED_PRECONDITION,
    "not_open": grpc.StatusCode.FAILED_PRECONDITION,
    "suspended": grpc.StatusCode.FAILED_PRECONDITION,
    "unavailable": grpc.StatusCode.UNAVAILABLE,
    "internal": grpc.StatusCode.INTERNAL,
}

_SALE_STATUS = {
    OPEN: pb.SALE_STATUS_OPEN,
    COMPLETED: pb.SALE_STATUS_COMPLETED,
    SUSPENDED: pb.SALE_STATUS_SUSPENDED,
    VOIDED: pb.SALE_STATUS_VOIDED,
}
_STATUS_FILTER = {pb.SALE_STATUS_UNSPECIFIED: "", **{v: k for k, v in _SALE_STATUS.items()}}


def _money(amount_minor: int, currency: str) -> pb.Money:
    return pb.Money(amount_minor=amount_minor, currency=currency)


def _sale(view: SaleView) -> pb.Sale:
    cur = view.currency
    return pb.Sale(
        sale_id=view.sale_id,
        store_id=view.store_id,
        lane_id=view.lane_id,
        cashier_id=view.cashier_id,
        shift_id=view.shift_id,
        status=_SALE_STATUS.get(view.status, pb.SALE_STATUS_UNSPECIFIED),
        total=_money(view.total_minor, cur),
        paid=_money(view.paid_minor, cur),
        due=_money(view.due_minor, cur),
        customer_id=view.customer_id,
        lines=[
            pb.SaleLine(
                line_no=line["line_no"],
                sku=line["sku"],
                quantity=line["quantity"],
                unit_price=_money(line["unit_price_minor"], cur),
                line_total=_money(line["line_total_minor"], cur),
            )
            for line in view.lines
        ],
        tenders=[
            pb.SaleTender(
                payment_id=t["payment_id"], kind=t["kind"], amount=_money(t["amount_minor"], cur)
            )
            for t in view.tenders
        ],
        change=_money(view.change_minor, cur),
        receipt_number=view.receipt_number,
        offline=view.offline,
        subtotal=_money(view.subtotal_minor, cur),
        discount_total=_money(view.discount_minor, cur),
        tax_total=_money(view.tax_minor, cur),
    )


def _basket(reply: dict[str, Any]) -> pb.BasketTotals:
    cur = reply["currency"]
    return pb.BasketTotals(
        total=_money(reply["total_minor"], cur),
        subtotal=_money(reply["subtotal_minor"], cur),
        discount_total=_money(reply["discount_minor"], cur),
        tax_total=_money(reply["tax_minor"], cur),
    )


def _tenders(tenders: list[dict[str, Any]], currency: str) -> list[pb.SaleTender]:
    return [
        pb.SaleTender(
            payment_id=t["payment_id"], kind=t["kind"], amount=_money(t["amount_minor"], currency)
        )
        for t in tenders
    ]


def _report(report: ShiftReport) -> pb.ShiftReport:
    cur = report.currency
    message = pb.ShiftReport(
        kind=report.kind,
        shift_id=report.shift_id,
        store_id=report.store_id,
        lane_id=report.lane_id,
        cashier_id=report.cashier_id,
        status=report.status,
        float=_money(report.float_minor, cur),
        cash_sales=_money(report.cash_sales_minor, cur),
        cash_refunds=_money(report.cash_refunds_minor, cur),
        paid_in=_money(report.paid_in_minor, cur),
        paid_out=_money(report.paid_out_minor, cur),
        no_sales=report.no_sales,
        expected=_money(report.expected_minor, cur),
    )
    if report.counted_minor is not None:
        message.counted_total.CopyFrom(_money(report.counted_minor, cur))
        message.variance.CopyFrom(_money(report.variance_minor or 0, cur))
        message.counted.extend(
            pb.DenominationCount(denomination_minor=d, count=c)
            for d, c in sorted(report.counted.items(), reverse=True)
        )
    return message


class CheckoutServicer(CommandCalls, pb_grpc.CheckoutServiceServicer):
    """CheckoutService over a Checkout application; calls run through `runner`."""

    service_name = SERVICE_NAME
    status_codes = STATUS_CODES

    def __init__(self, app: Checkout, runner: DbRunner, router: TenderRouter | None = None) -> None:
        self.app = app
        self.commands = CheckoutCommands(app)
        self.runner = runner
        #: forwards card, wallet, gift card and loyalty tenders (None: cash only)
        self.router = router

    # -- sales ------------------------------------------------------------------------------

    async def OpenSale(
        self, request: pb.OpenSaleRequest, context: grpc.aio.ServicerContext
    ) -> pb.OpenSaleResponse:
        return await self._call("OpenSale", self._open_sale, request, context)

    def _open_sale(self, req: pb.OpenSaleRequest) -> pb.OpenSaleResponse:
        reply = self.commands.open_sale(
            {
                "sale_id": req.sale_id,
                "store_id": req.store_id,
                "lane_id": req.lane_id,
                "cashier_id": req.cashier_id,
                "currency": req.currency,
            }
        )
        return pb.OpenSaleResponse(
            sale_id=reply["sale_id"],
            status=_SALE_STATUS.get(reply["status"], pb.SALE_STATUS_UNSPECIFIED),
        )

    async def AddLine(
        self, request: pb.AddLineRequest, context: grpc.aio.ServicerContext
    ) -> pb.AddLineResponse:
        return await self._call("AddLine", self._add_line, request, context)

    def _add_line(self, req: pb.AddLineRequest) -> pb.AddLineResponse:
        reply = self.commands.add_line(
            {
                "sale_id": req.sale_id,
                "line_no": req.line_no,
                "sku": req.sku,
                "quantity": req.quantity,
            }
        )
        cur = reply["currency"]
        return pb.AddLineResponse(
            unit_price=_money(reply["unit_price_minor"], cur),
            line_total=_money(reply["line_total_minor"], cur),
            sale_total=_money(reply["total_minor"], cur),
        )

    async def UpdateLine(
        self, request: pb.UpdateLineRequest, context: grpc.aio.ServicerContext
    ) -> pb.BasketTotals:
        return await self._call("UpdateLine", self._update_line, request, context)

    def _update_line(self, req: pb.UpdateLineRequest) -> pb.BasketTotals:
        return _basket(
            self.commands.change_quantity(
                {"sale_id": req.sale_id, "line_no": req.line_no, "quantity": req.quantity}
            )
        )

    async def RemoveLine(
        self, request: pb.RemoveLineRequest, context: grpc.aio.ServicerContext
    ) -> pb.BasketTotals:
        return await self._call("RemoveLine", self._remove_line, request, context)

    def _remove_line(self, req: pb.RemoveLineRequest) -> pb.BasketTotals:
        return _basket(
            self.commands.remove_line(
                {"sale_id": req.sale_id, "line_no": req.line_no, "reason": req.reason}
            )
        )

    async def ApplyDiscount(
        self, request: pb.ApplyDiscountRequest, context: grpc.aio.ServicerContext
    ) -> pb.BasketTotals:
        return await self._call("ApplyDiscount", self._apply_discount, request, context)

    def _apply_discount(self, req: pb.ApplyDiscountRequest) -> pb.BasketTotals:
        body: dict[str, Any] = {
            "sale_id": req.sale_id,
            "kind": req.kind,
            "value": req.value,
            "reason": req.reason,
            "supervisor_id": req.supervisor_id,
        }
        if req.line_no:
            body["line_no"] = req.line_no
        else:
            body["discount_id"] = req.discount_id
        return _basket(self.commands.apply_discount(body))

    async def Tender(
        self, request: pb.TenderRequest, context: grpc.aio.ServicerContext
    ) -> pb.TenderResponse:
        return await run_command(
            context, SERVICE_NAME, "Tender", lambda: self._tender(request), STATUS_CODES
        )

    async def _tender(self, request: pb.TenderRequest) -> pb.TenderResponse:
        """Cash on the database thread; the other kinds through the router, which awaits
        payments or crm on the event loop."""
        if not request.HasField("amount") or not request.amount.currency:
            raise CommandError("amount with its currency is required", "invalid")
        currency = await self.runner.call(self._currency_of, request.sale_id)
        if request.amount.currency != currency:
            raise CommandError(
                f"amount is in {request.amount.currency}, the sale in {currency}", "invalid"
            )
        body: dict[str, Any] = {
            "sale_id": request.sale_id,
            "kind": request.kind,
            "amount_minor": request.amount.amount_minor,
            "idempotency_key": request.idempotency_key,
        }
        if request.kind in ("card", "wallet"):
            body.update(pan=request.pan, expiry=request.expiry)
        elif request.kind == "gift_card":
            body["number"] = request.gift_card_number
        elif request.kind == "loyalty":
            body["customer_id"] = request.customer_id
        if request.kind == "cash":
            reply = await self.runner.call(self.commands.tender_cash, body)
        elif self.router is not None:
            reply = await self.router.tender(body, self.runner)
        else:
            raise CommandError(
                f"{request.kind} tenders are not routed by this server", "unavailable"
            )
        return pb.TenderResponse(
            sale_id=request.sale_id,
            payment_id=reply["payment_id"],
            status=reply["status"],
            response_code=reply.get("response_code", ""),
            reason=reply.get("reason", ""),
            change=_money(reply.get("change_minor", 0), currency),
            sale_status=_SALE_STATUS.get(reply.get("sale_status", ""), pb.SALE_STATUS_UNSPECIFIED),
            due=_money(reply.get("due_minor", 0), currency),
        )

    def _currency_of(self, sale_id: str) -> str:
        with sale_refusals:
            return self.app.get_sale(uuid({"sale_id": sale_id}, "sale_id")).currency

    async def Void(
        self, request: pb.VoidRequest, context: grpc.aio.ServicerContext
    ) -> pb.VoidResponse:
        return await self._call("Void", self._void, request, context)

    def _void(self, req: pb.VoidRequest) -> pb.VoidResponse:
        reply = self.commands.void(
            {
                "sale_id": req.sale_id,
                "reason": req.reason,
                "supervisor_id": req.supervisor_id,
                "supervisor_pin": req.supervisor_pin,
            }
        )
        currency = self.app.get_sale(uuid(reply, "sale_id")).currency
        return pb.VoidResponse(
            sale_id=reply["sale_id"],
            tenders=_tenders(reply["tenders"], currency),
            cash_back=_money(reply["cash_back_minor"], currency),
        )

    async def Suspend(
        self, request: pb.SuspendRequest, context: grpc.aio.ServicerContext
    ) -> pb.Sale:
        return await self._call("Suspend", self._suspend, request, context)

    def _suspend(self, req: pb.SuspendRequest) -> pb.Sale:
        reply = self.commands.suspend({"sale_id": req.sale_id})
        return _sale(self.app.get_sale(uuid(reply, "sale_id")))

    async def Resume(self, request: pb.ResumeRequest, context: grpc.aio.ServicerContext) -> pb.Sale:
        return await self._call("Resume", self._resume, request, context)

    def _resume(self, req: pb.ResumeRequest) -> pb.Sale:
        reply = self.commands.resume(
            {
                "sale_id": req.sale_id,
                "store_id": req.store_id,
                "lane_id": req.lane_id,
                "cashier_id": req.cashier_id,
            }
        )
        return _sale(self.app.get_sale(uuid(reply, "sale_id")))

    async def Return(
        self, request: pb.ReturnRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReturnResponse:
        return await self._call("Return", self._return, request, context)

    def _return(self, req: pb.ReturnRequest) -> pb.ReturnResponse:
        reply = self.commands.return_goods(
            {
                "return_id": req.return_id,
                "store_id": req.store_id,
                "lane_id": req.lane_id,
                "cashier_id": req.cashier_id,
                "original": req.original,
                "lines": [
                    {
                        "line_no": ln.line_no,
                        "sku": ln.sku,
                        "quantity": ln.quantity,
                        "restock": ln.restock,
                    }
                    for ln in req.lines
                ],
                "permission": req.no_receipt_permission,
                "supervisor_id": req.supervisor_id,
                "supervisor_pin": req.supervisor_pin,
                "exchange_sale_id": req.exchange_sale_id,
            }
        )
        cur = reply["currency"]
        return pb.ReturnResponse(
            return_id=reply["return_id"],
            lines=[
                pb.ReturnLine(
                    line_no=ln["line_no"],
                    sku=ln["sku"],
                    quantity=ln["quantity"],
                    restock=ln["restock"],
                    amount=_money(ln["amount_minor"], cur),
                )
                for ln in reply["lines"]
            ],
            refunds=_tenders(reply["refunds"], cur),
            total=_money(reply["total_minor"], cur),
            cash_back=_money(reply["cash_back_minor"], cur),
            receipt_number=reply["receipt_number"],
            original_sale_id=reply["original_sale_id"],
        )

    async def AttachCustomer(
        self, request: pb.AttachCustomerRequest, context: grpc.aio.ServicerContext
    ) -> pb.AttachCustomerResponse:
        return await self._call("AttachCustomer", self._attach_customer, request, context)

    def _attach_customer(self, req: pb.AttachCustomerRequest) -> pb.AttachCustomerResponse:
        reply = self.commands.attach_customer(
            {"sale_id": req.sale_id, "customer_id": req.customer_id}
        )
        return pb.AttachCustomerResponse(sale_id=reply["sale_id"], customer_id=reply["customer_id"])

    async def GetSale(
        self, request: pb.GetSaleRequest, context: grpc.aio.ServicerContext
    ) -> pb.Sale:
        return await self._call("GetSale", self._get_sale, request, context)

    def _get_sale(self, req: pb.GetSaleRequest) -> pb.Sale:
        sale_id = uuid({"sale_id": req.sale_id}, "sale_id")
        with sale_refusals:
            return _sale(self.app.get_sale(sale_id))

    async def ListSales(
        self, request: pb.ListSalesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSalesResponse:
        return await self._call("ListSales", self._list_sales, request, context)

    def _list_sales(self, req: pb.ListSalesRequest) -> pb.ListSalesResponse:
        if req.page_size < 0:
            raise CommandError("page_size must not be negative", "invalid")
        # More than the maximum is served as the maximum (the usual page-size contract).
        size = min(req.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        if req.status not in _STATUS_FILTER:
            raise CommandError(f"unknown status {req.status}", "invalid")
        after = page_position(req.page_token, "ListSales")
        page = self.app.list_sales(
            store_id=req.store_id,
            lane_id=req.lane_id,
            status=_STATUS_FILTER[req.status],
            after=after,
            limit=size,
        )
        return pb.ListSalesResponse(
            sales=[_sale(view) for view in page.sales],
            next_page_token=page_token(page.next_position) if page.next_position else "",
        )

    # -- shifts -----------------------------------------------------------------------------

    async def OpenShift(
        self, request: pb.OpenShiftRequest, context: grpc.aio.ServicerContext
    ) -> pb.OpenShiftResponse:
        return await self._call("OpenShift", self._open_shift, request, context)

    def _open_shift(self, req: pb.OpenShiftRequest) -> pb.OpenShiftResponse:
        if not req.HasField("float"):
            raise CommandError(
                "float is required: the drawer's opening cash (may be zero) "
                "in the shift's currency",
                "invalid",
            )
        reply = self.commands.open_shift(
            {
                "store_id": req.store_id,
                "lane_id": req.lane_id,
                "cashier_id": req.cashier_id,
                "pin": req.pin,
                "float_minor": req.float.amount_minor,
                "currency": req.float.currency,
            }
        )
        return pb.OpenShiftResponse(shift_id=reply["shift_id"])

    async def PayIn(
        self, request: pb.CashMovementRequest, context: grpc.aio.ServicerContext
    ) -> pb.CashMovementResponse:
        return await self._call("PayIn", self._pay_in, request, context)

    def _pay_in(self, req: pb.CashMovementRequest) -> pb.CashMovementResponse:
        return self._cash_movement(req, self.commands.pay_in)

    async def PayOut(
        self, request: pb.CashMovementRequest, context: grpc.aio.ServicerContext
    ) -> pb.CashMovementResponse:
        return await self._call("PayOut", self._pay_out, request, context)

    def _pay_out(self, req: pb.CashMovementRequest) -> pb.CashMovementResponse:
        return self._cash_movement(req, self.commands.pay_out)

    def _cash_movement(
        self, req: pb.CashMovementRequest, command: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> pb.CashMovementResponse:
        shift_id = uuid({"shift_id": req.shift_id}, "shift_id")
        with shift_refusals:
            currency = self.app.get_shift(shift_id).currency
        if not req.HasField("amount"):
            raise CommandError("amount is required", "invalid")
        if req.amount.currency != currency:
            raise CommandError(
                f"amount is in {req.amount.currency or 'no currency'}, "
                f"shift {shift_id} in {currency}",
                "invalid",
            )
        reply = command(
            {
                "shift_id": req.shift_id,
                "amount_minor": req.amount.amount_minor,
                "reason": req.reason,
            }
        )
        return pb.CashMovementResponse(
            shift_id=reply["shift_id"], expected=_money(reply["expected_minor"], currency)
        )

    async def CloseShift(
        self, request: pb.CloseShiftRequest, context: grpc.aio.ServicerContext
    ) -> pb.ShiftReport:
        return await self._call("CloseShift", self._close_shift, request, context)

    def _close_shift(self, req: pb.CloseShiftRequest) -> pb.ShiftReport:
        shift_id = uuid({"shift_id": req.shift_id}, "shift_id")
        counted: dict[int, int] = {}
        for entry in req.counted:  # a denomination listed twice counts the sum, as on NATS
            counted[entry.denomination_minor] = (
                counted.get(entry.denomination_minor, 0) + entry.count
            )
        with shift_refusals:
            return _report(self.app.close_shift(shift_id, counted))

    # -- receipts ---------------------------------------------------------------------------

    async def GetReceipt(
        self, request: pb.GetReceiptRequest, context: grpc.aio.ServicerContext
    ) -> pb.Receipt:
        return await self._call("GetReceipt", self._get_receipt, request, context)

    def _get_receipt(self, req: pb.GetReceiptRequest) -> pb.Receipt:
        sale_id = uuid({"sale_id": req.sale_id}, "sale_id")
        if req.sequence < 0:
            raise CommandError("sequence must be a positive integer", "invalid")
        if req.format not in pb.ReceiptFormat.values():
            raise CommandError(f"unknown receipt format {req.format}", "invalid")
        with sale_refusals:
            # As on NATS: the sale's own receipt number unless a sequence is given; the header
            # is the store id alone until checkout has a store directory.
            receipt = receipt_for_sale(
                self.app, sale_id, sequence=req.sequence or None, copy=req.copy
            )
        message = pb.Receipt(receipt_number=receipt.receipt_number)
        if req.format == pb.RECEIPT_FORMAT_HTML:
            message.html = render_html(receipt)
        elif req.format == pb.RECEIPT_FORMAT_ESCPOS:
            message.escpos = render_escpos(receipt)
        else:
            message.text = render_text(receipt)
        return message


def grpc_api(app: Checkout, router: TenderRouter | None = None) -> GrpcFactory:
    """The `ServiceDefinition.grpc` factory: CheckoutService over `app`; `router` forwards
    the tenders that payments or crm take."""

    def register(server: grpc.aio.Server, runner: DbRunner) -> Sequence[str]:
        pb_grpc.add_CheckoutServiceServicer_to_server(CheckoutServicer(app, runner, router), server)
        return [SERVICE_NAME]

    return register


__all__ = ["ERROR_CODE_KEY", "SERVICE_NAME", "STATUS_CODES", "CheckoutServicer", "grpc_api"]
