"""Checkout on the bus: upstream event handlers and the lanes' request/reply commands.

Tender idempotency keys are per sale, for every kind: a lane may use "card-1" or "cash-1"
in every sale. Checkout forwards `<sale_id>:<key>` to payments and crm (`forwarded_key`)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import nats.errors

from checkout.application import (
    BasketTotals,
    CashierConflictError,
    Checkout,
    NoShiftError,
    ReturnNotFoundError,
    ReturnRequestLine,
    SaleConflictError,
    SaleNotFoundError,
    ShiftNotFoundError,
    TenderResult,
    UnknownSkuError,
    WrongCashierError,
    next_receipt_of,
    settle,
)
from checkout.domainmodel import (
    PROMOTION_BOOK_ID,
    ApprovalRequiredError,
    BadPinError,
    CashierError,
    CurrencyMismatchError,
    InsufficientCashError,
    InvalidCashError,
    InvalidLineError,
    InvalidTenderError,
    LaneBusyError,
    LineConflictError,
    PermissionRequiredError,
    PriceEntry,
    PromotionBook,
    ReceiptRef,
    Return,
    ReturnError,
    Sale,
    SaleError,
    SaleSuspendedError,
    ShiftClosedError,
    ShiftError,
    ShiftReport,
    TaxTable,
    price_entry_id,
    receipt_ref_id,
    tax_table_id,
)
from checkout.receipts import (
    receipt_for_sale,
    render_escpos,
    render_html,
    render_return,
    render_text,
)
from tillstream.bus import command_subject, connect
from tillstream.codec import ReceivedEvent
from tillstream.commands import integer, refusals, text, uuid
from tillstream.consumer import Delivery, EventSourcedSink, Handler, UnitOfWork
from tillstream.events.v1 import crm_pb2, edge_pb2, inventory_pb2, payments_pb2
from tillstream.grpcserver import DbRunner
from tillstream.service import CommandError, CommandHandler

log = logging.getLogger(__name__)

OFFLINE_SALE_COMPLETED = edge_pb2.OfflineSaleCompleted.DESCRIPTOR.full_name


# -- consumers ------------------------------------------------------------------------------


def on_product_upserted(event: ReceivedEvent, uow: UnitOfWork) -> None:
    """Keep the price replica in step with inventory's catalog."""
    msg: Any = event.message
    entry = uow.get(price_entry_id(msg.sku))
    if entry is None:
        entry = PriceEntry.register(
            sku=msg.sku, name=msg.name, price_minor=msg.price.amount_minor,
            currency=msg.price.currency, active=msg.active,
        )
        uow.add(entry)
    else:
        entry.update(name=msg.name, price_minor=msg.price.amount_minor,
                     currency=msg.price.currency, active=msg.active)
    if isinstance(entry, PriceEntry):
        entry.set_tax_class(msg.tax_class)


def on_promotion_upserted(event: ReceivedEvent, uow: UnitOfWork) -> None:
    """Keep the promotion replica in step with the catalog's promotions."""
    msg: Any = event.message
    book = uow.get(PROMOTION_BOOK_ID)
    if not isinstance(book, PromotionBook):
        book = PromotionBook.create()
        uow.add(book)
    book.upsert({
        "promotion_id": msg.promotion_id, "kind": msg.kind, "name": msg.name,
        "skus": list(msg.skus), "percent_bp": msg.percent_bp,
        "amount_minor": msg.amount.amount_minor, "buy_quantity": msg.buy_quantity,
        "get_quantity": msg.get_quantity, "threshold_minor": msg.threshold.amount_minor,
        "starts_at_ms": msg.starts_at_ms, "ends_at_ms": msg.ends_at_ms, "active": msg.active,
    })


def on_tax_rate_upserted(event: ReceivedEvent, uow: UnitOfWork) -> None:
    """Keep a store's (or the chain's) tax table in step with the catalog."""
    msg: Any = event.message
    table = uow.get(tax_table_id(msg.store_id))
    if not isinstance(table, TaxTable):
        table = TaxTable.create(msg.store_id)
        uow.add(table)
    table.upsert(msg.tax_class, msg.rate_bp, msg.mode, msg.name)


def _sale_of(uow: UnitOfWork, sale_id: str, what: str) -> Sale:
    sale = uow.get(UUID(sale_id))
    if not isinstance(sale, Sale):
        # Raised, not skipped: a payment for a sale checkout never saw needs a person to look
        # at it, and the consumer's dead-letter stream and alert are where that happens.
        raise SaleNotFoundError(f"{what} for unknown sale {sale_id}")
    return sale


def _record_tender(
    uow: UnitOfWork, sale_id: str, payment_id: str, amount: Any, kind: str
) -> None:
    sale = _sale_of(uow, sale_id, f"{kind} tender {payment_id}")
    sale.record_payment(
        payment_id=payment_id, amount_minor=amount.amount_minor, currency=amount.currency,
        tender=kind, next_receipt=next_receipt_of(uow, sale),
    )
    settle(uow, sale)


def on_payment_captured(event: ReceivedEvent, uow: UnitOfWork) -> None:
    """A captured payment (card or wallet) counts towards its sale (and may complete it)."""
    msg: Any = event.message
    _record_tender(uow, msg.sale_id, msg.payment_id, msg.amount, msg.tender or "card")


def on_gift_card_redeemed(event: ReceivedEvent, uow: UnitOfWork) -> None:
    """A gift card redeemed for a sale is a gift_card tender (id: the operation key). A
    redemption with no sale (a partner's) is not checkout's."""
    msg: Any = event.message
    if msg.sale_id:
        _record_tender(uow, msg.sale_id, msg.operation_key, msg.amount, "gift_card")


def on_loyalty_points_redeemed(event: ReceivedEvent, uow: UnitOfWork) -> None:
    """Points redeemed to pay a sale are a loyalty tender (id: "loyalty:<reference>"); points
    redeemed for anything else (no sale, no money value) are crm's business alone."""
    msg: Any = event.message
    if msg.sale_id and msg.amount.amount_minor > 0:
        _record_tender(uow, msg.sale_id, f"loyalty:{msg.reference}", msg.amount, "loyalty")


def ingest_offline_sale(
    event: ReceivedEvent, uow: UnitOfWork, exists: Callable[[UUID], bool]
) -> None:
    """A sale the store rang up offline: taken as the store computed it, once per sale id (a
    redelivery or a second copy finds the sale and does nothing); one Ingested event, which
    the relay publishes as SaleCompleted(offline=true). `exists` says whether an aggregate
    is in the store (this batch's own additions are checked here)."""
    msg: Any = event.message
    sale_id = UUID(msg.sale_id)
    if sale_id in uow.aggregates or exists(sale_id):
        return
    currency = msg.currency or msg.total.currency
    sale = Sale.ingest_offline(
        sale_id, msg.store_id, msg.lane_id, msg.cashier_id, currency,
        lines=[{"line_no": ln.line_no, "sku": ln.sku, "quantity": ln.quantity,
                "unit_price_minor": ln.unit_price.amount_minor,
                "line_total_minor": ln.line_total.amount_minor, "tax_class": ""}
               for ln in msg.lines],
        tenders=[{"payment_id": t.payment_id, "kind": t.kind,
                  "amount_minor": t.amount.amount_minor} for t in msg.tenders],
        subtotal_minor=msg.subtotal.amount_minor, discount_minor=msg.discount_total.amount_minor,
        tax_minor=msg.tax_total.amount_minor, total_minor=msg.total.amount_minor,
        change_minor=msg.change.amount_minor,
        taxes=[{"tax_class": t.tax_class, "name": t.name, "rate_bp": t.rate_bp,
                "mode": "inclusive" if t.included else "exclusive",
                "taxable_minor": t.taxable.amount_minor, "amount_minor": t.amount.amount_minor}
               for t in msg.taxes],
        receipt_number=msg.receipt_number,
        completed_at=datetime.fromtimestamp(msg.completed_at_ms / 1000, UTC),
        customer_id=msg.customer_id,
    )
    uow.add(sale)
    # Indexed for returns by receipt number; the first sale to claim a number keeps it (as
    # `settle` does). An offline sale has no shift, so no drawer to give change from.
    ref_id = receipt_ref_id(sale.receipt_number)
    if sale.receipt_number and ref_id not in uow.aggregates and not exists(ref_id):
        uow.add(ReceiptRef.create(sale.receipt_number, sale.id))


def on_offline_sale_completed(event: ReceivedEvent, uow: UnitOfWork) -> None:
    """An offline sale, checked for duplicates by reading its aggregate (see OfflineSaleSink
    for the batched check the service uses)."""
    ingest_offline_sale(event, uow, lambda aggregate_id: uow.get(aggregate_id) is not None)


def _offline_ids(deliveries: Sequence[Delivery]) -> list[UUID]:
    """The sale ids and receipt-number index ids a batch of offline sales would create (an
    unreadable sale id is left to the handler, which refuses it)."""
    ids: list[UUID] = []
    for delivery in deliveries:
        msg: Any = delivery.event.message
        if delivery.event.event_type != OFFLINE_SALE_COMPLETED:
            continue
        try:
            ids.append(UUID(msg.sale_id))
        except ValueError:
            continue
        if msg.receipt_number:
            ids.append(receipt_ref_id(msg.receipt_number))
    return ids


class OfflineSaleSink(EventSourcedSink):
    """The edge subscription's sink. A reconnecting store sends its whole offline backlog at
    once; the batch's duplicates (sales and receipt numbers already stored) are found with
    one query before it is applied, not two reads per sale (issue 6)."""

    #: The consumer fetches the next batch of a backlog while one is applied (issue 6).
    fetch_ahead = True

    def __init__(self, app: Checkout) -> None:
        super().__init__(app, {OFFLINE_SALE_COMPLETED: self._on_offline_sale})
        self.checkout = app
        self._stored: set[UUID] = set()

    def apply(self, tracking_name: str, deliveries: Sequence[Delivery]) -> None:
        # On the database thread, like the apply: nothing is written in between.
        self._stored = self.checkout.existing(_offline_ids(deliveries))
        try:
            super().apply(tracking_name, deliveries)
        finally:
            self._stored = set()

    def _on_offline_sale(self, event: ReceivedEvent, uow: UnitOfWork) -> None:
        ingest_offline_sale(event, uow, self._stored.__contains__)


def on_loyalty_points_earned(event: ReceivedEvent, uow: UnitOfWork) -> None:
    """Points crm credited for a sale, and the customer's balance after: kept on the sale for
    its receipts (the first copy counts; a redelivery changes nothing). Points earned with no
    sale, or for a sale checkout does not hold (another system's), are crm's business alone:
    a receipt without the line is the worst that follows, not worth a dead letter."""
    msg: Any = event.message
    if not msg.sale_id:
        return
    try:
        sale = uow.get(UUID(msg.sale_id))
    except ValueError:
        sale = None
    if not isinstance(sale, Sale):
        log.info("points earned for sale %s, which checkout does not hold", msg.sale_id)
        return
    sale.record_loyalty(msg.customer_id, msg.points, msg.balance)


def on_payment_declined(event: ReceivedEvent, uow: UnitOfWork) -> None:
    """A declined payment is noted on its sale; the lane asks for another tender."""
    msg: Any = event.message
    sale = _sale_of(uow, msg.sale_id, f"declined payment {msg.payment_id}")
    sale.record_decline(
        payment_id=msg.payment_id, amount_minor=msg.amount.amount_minor,
        currency=msg.amount.currency, response_code=msg.response_code,
    )


INVENTORY_HANDLERS: dict[str, Handler] = {
    inventory_pb2.ProductUpserted.DESCRIPTOR.full_name: on_product_upserted,
    inventory_pb2.PromotionUpserted.DESCRIPTOR.full_name: on_promotion_upserted,
    inventory_pb2.TaxRateUpserted.DESCRIPTOR.full_name: on_tax_rate_upserted,
}

PAYMENTS_HANDLERS: dict[str, Handler] = {
    payments_pb2.PaymentCaptured.DESCRIPTOR.full_name: on_payment_captured,
    payments_pb2.PaymentDeclined.DESCRIPTOR.full_name: on_payment_declined,
    payments_pb2.GiftCardRedeemed.DESCRIPTOR.full_name: on_gift_card_redeemed,
}

CRM_HANDLERS: dict[str, Handler] = {
    crm_pb2.LoyaltyPointsRedeemed.DESCRIPTOR.full_name: on_loyalty_points_redeemed,
    crm_pb2.LoyaltyPointsEarned.DESCRIPTOR.full_name: on_loyalty_points_earned,
}

EDGE_HANDLERS: dict[str, Handler] = {
    OFFLINE_SALE_COMPLETED: on_offline_sale_completed,
}


# -- commands -------------------------------------------------------------------------------


sale_refusals = refusals(
    {
        SaleNotFoundError: "not_found",
        NoShiftError: "no_shift",
        WrongCashierError: "wrong_cashier",
        UnknownSkuError: "unknown_sku",
        (SaleConflictError, LineConflictError): "conflict",
        (InvalidLineError, CurrencyMismatchError): "invalid",
        ApprovalRequiredError: "approval_required",
        PermissionRequiredError: "permission_required",
        BadPinError: "bad_pin",
        SaleSuspendedError: "suspended",
        ReturnNotFoundError: "not_found",
        InsufficientCashError: "insufficient_cash",
        (InvalidTenderError, ReturnError, ShiftError): "invalid",
        SaleError: "rejected",
    }
)


class CheckoutCommands:
    """The lanes' commands: JSON in, JSON out; refusals raise CommandError."""

    def __init__(self, app: Checkout) -> None:
        self.app = app

    def handlers(self) -> dict[str, CommandHandler]:
        return {
            "open_sale": self.open_sale,
            "add_line": self.add_line,
            "remove_line": self.remove_line,
            "change_quantity": self.change_quantity,
            "apply_discount": self.apply_discount,
            "override_price": self.override_price,
            "attach_customer": self.attach_customer,
            "get_sale": self.get_sale,
            "price": self.price,
            "register_cashier": self.register_cashier,
            "login": self.login,
            "open_shift": self.open_shift,
            "pay_in": self.pay_in,
            "pay_out": self.pay_out,
            "no_sale": self.no_sale,
            "x_report": self.x_report,
            "close_shift": self.close_shift,
            "receipt": self.receipt,
            "tender_cash": self.tender_cash,
            "void": self.void,
            "suspend": self.suspend,
            "resume": self.resume,
            "return": self.return_goods,
            "get_return": self.get_return,
            "list_sales": self.list_sales,
            "return_receipt": self.return_receipt,
        }

    def return_receipt(self, body: dict[str, Any]) -> dict[str, Any]:
        """{return_id, copy?: bool, format?: "text"|"html"|"escpos"} -> {receipt_number,
        text | html | escpos_b64} of a return."""
        return_id = uuid(body, "return_id")
        copy = body.get("copy", False)
        if not isinstance(copy, bool):
            raise CommandError("copy must be true or false", "invalid")
        fmt = body.get("format", "text")
        if fmt not in ("text", "html", "escpos"):
            raise CommandError('format must be "text", "html" or "escpos"', "invalid")
        with sale_refusals:
            ret = self.app.get_return(return_id)
        rendered = render_return(ret, fmt, copy=copy)
        reply: dict[str, Any] = {"receipt_number": ret.receipt_number}
        if isinstance(rendered, bytes):
            reply["escpos_b64"] = base64.b64encode(rendered).decode("ascii")
        else:
            reply[fmt] = rendered
        return reply

    # -- tenders, void, suspend, resume, returns ------------------------------------------

    def tender_cash(self, body: dict[str, Any]) -> dict[str, Any]:
        """{sale_id, amount_minor, idempotency_key} -> the tender result (change_minor set
        when this cash completed the sale). The same key again is the same tender."""
        sale_id = uuid(body, "sale_id")
        amount = integer(body, "amount_minor")
        key = text(body, "idempotency_key")
        with sale_refusals:
            result = self.app.tender_cash(sale_id, key, amount)
        return tender_reply(sale_id, result)

    def check_tender(self, body: dict[str, Any]) -> dict[str, Any]:
        """{sale_id, kind, amount_minor, idempotency_key?} -> the sale's store, lane,
        currency and customer, and `retry`, if it takes this tender now (used by the tender
        router before it asks payments/crm). With the key the request is recorded on the
        sale: the same key again is a retry (forwarded again, whatever the sale's state), the
        same key for another kind or amount a "conflict"."""
        sale_id = uuid(body, "sale_id")
        key = _optional_text(body, "idempotency_key")
        with sale_refusals:
            view, retry = self.app.check_tender(sale_id, text(body, "kind"),
                                                integer(body, "amount_minor"), key)
        return {"store_id": view.store_id, "lane_id": view.lane_id,
                "currency": view.currency, "customer_id": view.customer_id, "retry": retry}

    def void(self, body: dict[str, Any]) -> dict[str, Any]:
        """{sale_id, reason, supervisor_id?, supervisor_pin?} -> {sale_id, status, tenders,
        cash_back_minor}: the tenders paid, to give back (cash leaves the drawer now)."""
        sale_id = uuid(body, "sale_id")
        reason = text(body, "reason")
        supervisor = _optional_text(body, "supervisor_id")
        pin = _optional_text(body, "supervisor_pin")
        with sale_refusals:
            tenders = self.app.void_sale(sale_id, reason, supervisor, pin)
        return {"sale_id": str(sale_id), "status": "voided",
                "tenders": [t.as_dict() for t in tenders],
                "cash_back_minor": sum(t.amount_minor for t in tenders if t.kind == "cash")}

    def suspend(self, body: dict[str, Any]) -> dict[str, Any]:
        """{sale_id} -> {sale_id, status}: the basket is parked."""
        sale_id = uuid(body, "sale_id")
        with sale_refusals:
            self.app.suspend_sale(sale_id)
        return {"sale_id": str(sale_id), "status": "suspended"}

    def resume(self, body: dict[str, Any]) -> dict[str, Any]:
        """{sale_id, store_id, lane_id, cashier_id} -> the sale, open on this lane."""
        sale_id = uuid(body, "sale_id")
        with sale_refusals:
            self.app.resume_sale(sale_id, text(body, "store_id"), text(body, "lane_id"),
                                 text(body, "cashier_id"))
        return self.get_sale({"sale_id": str(sale_id)})

    def return_goods(self, body: dict[str, Any]) -> dict[str, Any]:
        """{return_id, store_id, lane_id, cashier_id, original?: sale id or receipt number,
        lines: [{line_no | sku, quantity, restock?}], permission?: bool (no receipt),
        supervisor_id?, supervisor_pin?, exchange_sale_id?} -> the return."""
        return_id = uuid(body, "return_id")
        lines = _return_lines(body)
        permitted = body.get("permission", False)
        if not isinstance(permitted, bool):
            raise CommandError("permission must be true or false", "invalid")
        with sale_refusals:
            ret = self.app.return_goods(
                return_id, text(body, "store_id"), text(body, "lane_id"),
                text(body, "cashier_id"), lines, _optional_text(body, "original"),
                permitted=permitted, supervisor_id=_optional_text(body, "supervisor_id"),
                supervisor_pin=_optional_text(body, "supervisor_pin"),
                exchange_sale_id=_optional_text(body, "exchange_sale_id"),
            )
        return return_reply(ret)

    def get_return(self, body: dict[str, Any]) -> dict[str, Any]:
        """{return_id} -> the return."""
        with sale_refusals:
            return return_reply(self.app.get_return(uuid(body, "return_id")))

    def list_sales(self, body: dict[str, Any]) -> dict[str, Any]:
        """{store_id?, lane_id?, status?, after?, limit?} -> {sales, next_position}."""
        after = body.get("after", 0)
        limit = body.get("limit", 20)
        for key, value in (("after", after), ("limit", limit)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise CommandError(f"{key} must be an integer", "invalid")
        status = _optional_text(body, "status")
        if status and status not in SALE_STATUSES:
            raise CommandError(f"status is one of {SALE_STATUSES}", "invalid")
        try:
            page = self.app.list_sales(_optional_text(body, "store_id"),
                                       _optional_text(body, "lane_id"), status, after, limit)
        except ValueError as exc:
            raise CommandError(str(exc), "invalid") from exc
        return {"sales": [{"sale_id": v.sale_id, "store_id": v.store_id, "lane_id": v.lane_id,
                           "status": v.status, "total_minor": v.total_minor,
                           "currency": v.currency} for v in page.sales],
                "next_position": page.next_position}

    # -- cashiers and shifts ----------------------------------------------------------------

    def register_cashier(self, body: dict[str, Any]) -> dict[str, Any]:
        """{store_id, cashier_id, name, pin, roles?: ["supervisor"]} -> {cashier_id,
        registered} (supervisor setup).

        The same cashier again with the same name and PIN is a no-op (registered false),
        except that `roles`, when given, are set."""
        roles = body.get("roles")
        if roles is not None and not (isinstance(roles, list)
                                      and all(isinstance(r, str) for r in roles)):
            raise CommandError("roles must be a list of strings", "invalid")
        with shift_refusals:
            registered = self.app.register_cashier(
                text(body, "store_id"), text(body, "cashier_id"), text(body, "name"),
                text(body, "pin"), roles,
            )
        return {"cashier_id": body["cashier_id"], "registered": registered}

    def login(self, body: dict[str, Any]) -> dict[str, Any]:
        """{store_id, cashier_id, pin} -> {cashier_id, name}; a wrong PIN is "bad_pin"."""
        with shift_refusals:
            cashier = self.app.login(text(body, "store_id"), text(body, "cashier_id"),
                                     text(body, "pin"))
        return {"cashier_id": cashier.cashier_id, "name": cashier.name}

    def open_shift(self, body: dict[str, Any]) -> dict[str, Any]:
        """{store_id, lane_id, cashier_id, pin, float_minor, currency} -> {shift_id}."""
        with shift_refusals:
            shift_id = self.app.open_shift(
                text(body, "store_id"), text(body, "lane_id"), text(body, "cashier_id"),
                text(body, "pin"), integer(body, "float_minor"), text(body, "currency"),
            )
        return {"shift_id": str(shift_id)}

    def pay_in(self, body: dict[str, Any]) -> dict[str, Any]:
        """{shift_id, amount_minor, reason} -> {shift_id, expected_minor}."""
        shift_id = uuid(body, "shift_id")
        with shift_refusals:
            expected = self.app.pay_in(shift_id, integer(body, "amount_minor"),
                                       text(body, "reason"))
        return {"shift_id": str(shift_id), "expected_minor": expected}

    def pay_out(self, body: dict[str, Any]) -> dict[str, Any]:
        """{shift_id, amount_minor, reason} -> {shift_id, expected_minor}."""
        shift_id = uuid(body, "shift_id")
        with shift_refusals:
            expected = self.app.pay_out(shift_id, integer(body, "amount_minor"),
                                        text(body, "reason"))
        return {"shift_id": str(shift_id), "expected_minor": expected}

    def no_sale(self, body: dict[str, Any]) -> dict[str, Any]:
        """{shift_id, reason} -> {shift_id}: the drawer opens, and that is audited."""
        shift_id = uuid(body, "shift_id")
        with shift_refusals:
            self.app.no_sale(shift_id, text(body, "reason"))
        return {"shift_id": str(shift_id)}

    def x_report(self, body: dict[str, Any]) -> dict[str, Any]:
        """{shift_id} -> the X report (mid-shift; taking it is recorded)."""
        with shift_refusals:
            report = self.app.x_report(uuid(body, "shift_id"))
        return _report(report)

    def close_shift(self, body: dict[str, Any]) -> dict[str, Any]:
        """{shift_id, counted: {"<denomination_minor>": count, ...}} -> the Z report."""
        shift_id = uuid(body, "shift_id")
        counted = _counted(body)
        with shift_refusals:
            report = self.app.close_shift(shift_id, counted)
        return _report(report)

    def price(self, body: dict[str, Any]) -> dict[str, Any]:
        """{sku} -> {sku, name, price_minor, currency}: what a scan of it would cost now."""
        with sale_refusals:
            entry = self.app.price_of(text(body, "sku"))
        return {
            "sku": entry.sku,
            "name": entry.name,
            "price_minor": entry.price_minor,
            "currency": entry.currency,
        }

    def open_sale(self, body: dict[str, Any]) -> dict[str, Any]:
        """{sale_id, store_id, lane_id, cashier_id, currency} -> {sale_id, status}."""
        sale_id = uuid(body, "sale_id")
        with sale_refusals:
            self.app.open_sale(
                sale_id, text(body, "store_id"), text(body, "lane_id"),
                text(body, "cashier_id"), text(body, "currency"),
            )
            view = self.app.get_sale(sale_id)
        return {"sale_id": view.sale_id, "status": view.status}

    def add_line(self, body: dict[str, Any]) -> dict[str, Any]:
        """{sale_id, line_no, sku, quantity}
        -> {unit_price_minor, line_total_minor, total_minor, currency}."""
        with sale_refusals:
            added = self.app.add_line(
                uuid(body, "sale_id"), integer(body, "line_no"), text(body, "sku"),
                integer(body, "quantity"),
            )
        return {
            "unit_price_minor": added.unit_price_minor,
            "line_total_minor": added.line_total_minor,
            "total_minor": added.total_minor,
            "currency": added.currency,
        }

    def remove_line(self, body: dict[str, Any]) -> dict[str, Any]:
        """{sale_id, line_no, reason?} -> the basket's totals (removing again: a no-op)."""
        with sale_refusals:
            totals = self.app.remove_line(uuid(body, "sale_id"), integer(body, "line_no"),
                                          _optional_text(body, "reason"))
        return _totals(totals)

    def change_quantity(self, body: dict[str, Any]) -> dict[str, Any]:
        """{sale_id, line_no, quantity} -> the basket's totals."""
        with sale_refusals:
            totals = self.app.change_line_quantity(
                uuid(body, "sale_id"), integer(body, "line_no"), integer(body, "quantity"))
        return _totals(totals)

    def apply_discount(self, body: dict[str, Any]) -> dict[str, Any]:
        """{sale_id, kind: "percent"|"amount", value, reason, supervisor_id?,
        line_no? | discount_id?} -> the basket's totals.

        With `line_no` the line's discount (replacing any); without it a basket discount
        under the lane's `discount_id` (a retry with the same id is a no-op). `value` is basis
        points (percent) or minor units (amount). Above the approval threshold a
        `supervisor_id` is required ("approval_required")."""
        sale_id = uuid(body, "sale_id")
        kind = text(body, "kind")
        value = integer(body, "value")
        reason = text(body, "reason")
        supervisor = _optional_text(body, "supervisor_id")
        with sale_refusals:
            if "line_no" in body:
                totals = self.app.apply_line_discount(
                    sale_id, integer(body, "line_no"), kind, value, reason, supervisor)
            else:
                totals = self.app.apply_basket_discount(
                    sale_id, text(body, "discount_id"), kind, value, reason, supervisor)
        return _totals(totals)

    def override_price(self, body: dict[str, Any]) -> dict[str, Any]:
        """{sale_id, line_no, unit_price_minor, reason, authorized_by, permission: bool}
        -> the basket's totals; without the permission "permission_required"."""
        permitted = body.get("permission", False)
        if not isinstance(permitted, bool):
            raise CommandError("permission must be true or false", "invalid")
        with sale_refusals:
            totals = self.app.override_price(
                uuid(body, "sale_id"), integer(body, "line_no"),
                integer(body, "unit_price_minor"), text(body, "reason"),
                _optional_text(body, "authorized_by"), permitted)
        return _totals(totals)

    def attach_customer(self, body: dict[str, Any]) -> dict[str, Any]:
        """{sale_id, customer_id} -> {sale_id, customer_id}."""
        sale_id = uuid(body, "sale_id")
        customer_id = text(body, "customer_id")
        with sale_refusals:
            self.app.attach_customer(sale_id, customer_id)
        return {"sale_id": str(sale_id), "customer_id": customer_id}

    def get_sale(self, body: dict[str, Any]) -> dict[str, Any]:
        """{sale_id} -> the sale: status, money, lines and tenders."""
        with sale_refusals:
            view = self.app.get_sale(uuid(body, "sale_id"))
        return {
            "sale_id": view.sale_id,
            "store_id": view.store_id,
            "lane_id": view.lane_id,
            "cashier_id": view.cashier_id,
            "status": view.status,
            "currency": view.currency,
            "total_minor": view.total_minor,
            "paid_minor": view.paid_minor,
            "due_minor": view.due_minor,
            "customer_id": view.customer_id,
            "lines": view.lines,
            "tenders": view.tenders,
            "change_minor": view.change_minor,
            "receipt_number": view.receipt_number,
            "offline": view.offline,
            "subtotal_minor": view.subtotal_minor,
            "discount_minor": view.discount_minor,
            "tax_minor": view.tax_minor,
            "taxes": view.taxes,
            "discounts": view.discounts,
            "loyalty_points": view.loyalty_points,
            "loyalty_balance": view.loyalty_balance,
        }

    def receipt(self, body: dict[str, Any]) -> dict[str, Any]:
        """{sale_id, copy?: bool, offline?: bool, sequence?: int, format?: "text"|"html"|"escpos"}
        -> {receipt_number, text | html | escpos_b64} of a completed sale.

        The receipt number is `<store>-<lane>-<sequence>`: the one the sale completed under
        (each lane counts its receipts); a `sequence` sent by the lane overrides it (a sale
        from before the counter). `offline` is set for sales ingested from a store's offline
        journal, and the lane may set it too.
        """
        sale_id = uuid(body, "sale_id")
        flags: dict[str, bool] = {}
        for key in ("copy", "offline"):
            value = body.get(key, False)
            if not isinstance(value, bool):
                raise CommandError(f"{key} must be true or false", "invalid")
            flags[key] = value
        sequence = body.get("sequence")
        if sequence is not None and (not isinstance(sequence, int) or isinstance(sequence, bool)
                                     or sequence < 1):
            raise CommandError("sequence must be a positive integer", "invalid")
        fmt = body.get("format", "text")
        if fmt not in ("text", "html", "escpos"):
            raise CommandError('format must be "text", "html" or "escpos"', "invalid")
        with sale_refusals:
            # The header is the store id alone until checkout has a store directory.
            receipt = receipt_for_sale(self.app, sale_id, sequence=sequence,
                                       copy=flags["copy"], offline=flags["offline"])
        reply: dict[str, Any] = {"receipt_number": receipt.receipt_number}
        if fmt == "html":
            reply["html"] = render_html(receipt)
        elif fmt == "escpos":
            reply["escpos_b64"] = base64.b64encode(render_escpos(receipt)).decode("ascii")
        else:
            reply["text"] = render_text(receipt)
        return reply


shift_refusals = refusals(
    {
        ShiftNotFoundError: "not_found",
        BadPinError: "bad_pin",
        (CashierConflictError, LaneBusyError): "conflict",
        ShiftClosedError: "closed",
        InsufficientCashError: "insufficient_cash",
        (InvalidCashError, CashierError, CurrencyMismatchError): "invalid",
        ShiftError: "rejected",
    }
)


def _counted(body: dict[str, Any]) -> dict[int, int]:
    """The `counted` field: JSON object keys are strings, the denominations integers."""
    raw = body.get("counted")
    if not isinstance(raw, dict):
        raise CommandError('counted must be an object {"<denomination_minor>": count}',
                           "invalid")
    counted: dict[int, int] = {}
    for key, count in raw.items():
        if not (isinstance(key, str) and key.isascii() and key.isdigit()):
            raise CommandError(f"denomination {key!r} is not an integer of minor units",
                               "invalid")
        if not isinstance(count, int) or isinstance(count, bool):
            raise CommandError(f"the count of {key} must be an integer", "invalid")
        counted[int(key)] = counted.get(int(key), 0) + count
    return counted


def _optional_text(body: dict[str, Any], key: str) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise CommandError(f"{key} must be a string", "invalid")
    return value


def _totals(totals: BasketTotals) -> dict[str, Any]:
    return {
        "total_minor": totals.total_minor,
        "subtotal_minor": totals.subtotal_minor,
        "discount_minor": totals.discount_minor,
        "tax_minor": totals.tax_minor,
        "currency": totals.currency,
    }


def _report(report: ShiftReport) -> dict[str, Any]:
    return report.as_dict()


SALE_STATUSES = ("open", "completed", "suspended", "voided")


def tender_reply(sale_id: UUID, result: TenderResult) -> dict[str, Any]:
    return {
        "sale_id": str(sale_id), "payment_id": result.payment_id, "status": result.status,
        "sale_status": result.sale_status, "paid_minor": result.paid_minor,
        "due_minor": result.due_minor, "change_minor": result.change_minor,
        "receipt_number": result.receipt_number, "currency": result.currency,
    }


def return_reply(ret: Return) -> dict[str, Any]:
    return {
        "return_id": str(ret.id), "store_id": ret.store_id, "lane_id": ret.lane_id,
        "cashier_id": ret.cashier_id, "original_sale_id": ret.original_sale_id,
        "lines": ret.lines, "refunds": ret.refunds, "total_minor": ret.total_minor,
        "tax_minor": ret.tax_minor, "currency": ret.currency,
        "approved_by": ret.approved_by, "exchange_sale_id": ret.exchange_sale_id,
        "receipt_number": ret.receipt_number, "cash_back_minor": ret.cash_minor,
    }


def _return_lines(body: dict[str, Any]) -> list[ReturnRequestLine]:
    raw = body.get("lines")
    if not isinstance(raw, list) or not raw:
        raise CommandError("lines must be a non-empty list", "invalid")
    lines = []
    for item in raw:
        if not isinstance(item, dict):
            raise CommandError("a return line is an object", "invalid")
        restock = item.get("restock", True)
        if not isinstance(restock, bool):
            raise CommandError("restock must be true or false", "invalid")
        line_no = item.get("line_no", 0)
        if not isinstance(line_no, int) or isinstance(line_no, bool) or line_no < 0:
            raise CommandError("line_no must be a non-negative integer", "invalid")
        lines.append(ReturnRequestLine(quantity=integer(item, "quantity"), line_no=line_no,
                                       sku=_optional_text(item, "sku"), restock=restock))
    return lines


# -- tenders forwarded to payments and crm --------------------------------------------------


class Forwarder:
    """Request/reply to another service's commands, on checkout's own NATS connection (opened
    on first use, in the event loop that uses it). Used by `tender`, awaited on the event
    loop: the database thread never waits on payments or crm."""

    def __init__(self, nats_url: str, timeout: float = 30.0) -> None:
        self.nats_url = nats_url
        self.timeout = timeout
        self.nc: Any = None
        self._lock: asyncio.Lock | None = None

    async def _client(self) -> Any:
        if self.nc is None or self.nc.is_closed:
            if self._lock is None:
                self._lock = asyncio.Lock()
            async with self._lock:
                if self.nc is None or self.nc.is_closed:
                    self.nc = await connect(self.nats_url, "tillstream-checkout-tenders")
        return self.nc

    async def request(
        self, service: str, store_id: str, command: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """The service's reply ({ok, ...}); CommandError "unavailable" when none comes."""
        nc = await self._client()
        try:
            msg = await nc.request(command_subject(service, command, store_id),
                                   json.dumps(body).encode(), timeout=self.timeout)
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError) as exc:
            raise CommandError(f"{service} did not answer {command}", "unavailable") from exc
        reply = json.loads(msg.data)
        if not isinstance(reply, dict):
            raise CommandError(f"{service} answered {command} with no object", "internal")
        return reply

    async def close(self) -> None:
        if self.nc is not None and not self.nc.is_closed:
            await self.nc.close()


#: Codes of a forwarded refusal that are the lane's mistake, passed on as they are; any
#: other refusal (no funds, a blocked card, too few points) is a declined tender.
PASSED_ON = ("invalid", "not_found", "conflict", "unavailable", "internal")


def forwarded_key(sale_id: UUID, key: str) -> str:
    """The idempotency key checkout forwards to payments or crm for a lane's tender key.

    Every tender key is scoped to its sale: lanes number their tenders per sale ("card-1",
    "cash-1" in every sale), and payments and crm scope keys per store (or globally), so the
    key they get is `<sale_id>:<key>`. A retry of the same tender under the same key in the
    same sale forwards the same key, and gets the first answer; the same key in another sale
    is another tender. The ids payments and crm give the tender follow from it: a gift card
    tender's id is the forwarded key (GiftCardRedeemed.operation_key), a loyalty tender's
    `loyalty:<forwarded key>` (LoyaltyPointsRedeemed.reference); a card's is payments'
    payment_id (PaymentCaptured carries it with the sale id). Cash never leaves checkout:
    its tender id is `cash:<key>` on the sale, per sale by construction."""
    return f"{sale_id}:{key}"


class TenderRouter:
    """The `tender` command and gRPC Tender: routes by kind. Cash is taken in checkout at once;
    card and wallet go to payments' `authorize`, gift cards to `redeem_gift_card`, loyalty to
    crm's `redeem_points`. The answer is approved or declined; the sale completes later, when
    the PaymentCaptured, GiftCardRedeemed or LoyaltyPointsRedeemed event arrives.

    Tender keys are per sale (see `forwarded_key`); the request is recorded on the sale
    before it is forwarded, so a retry under the same key is forwarded again (and answered
    by payments or crm with the first answer) even after the sale counted it or completed."""

    def __init__(self, commands: CheckoutCommands, forwarder: Forwarder) -> None:
        self.commands = commands
        self.forwarder = forwarder

    async def tender(self, body: dict[str, Any], db: DbRunner) -> dict[str, Any]:
        """{sale_id, kind, amount_minor, idempotency_key, + per kind: pan, expiry (card,
        wallet); number (gift_card); customer_id? (loyalty: the sale's by default)}."""
        sale_id = uuid(body, "sale_id")
        kind = text(body, "kind")
        amount = integer(body, "amount_minor")
        key = text(body, "idempotency_key")
        if kind == "cash":
            return await db.call(self.commands.tender_cash, body)
        # Read before the request is recorded: a bad card or gift card field is refused
        # without leaving a request behind.
        details = self._details(kind, body)
        sale = await db.call(self.commands.check_tender,
                             {"sale_id": str(sale_id), "kind": kind, "amount_minor": amount,
                              "idempotency_key": key})
        scoped = forwarded_key(sale_id, key)
        common = {"store_id": sale["store_id"], "sale_id": str(sale_id),
                  "amount_minor": amount, "currency": sale["currency"]}
        if kind in ("card", "wallet"):
            request = {**common, "idempotency_key": scoped, **details,
                       "lane_id": sale["lane_id"], "tender": kind}
            reply = await self.forwarder.request("payments", sale["store_id"], "authorize",
                                                 request)
            # payments' authorize answers "approved" for a captured sale (PaymentOutcome).
            approved = reply.get("status") == "approved"
            payment_id = str(reply.get("payment_id", ""))
        elif kind == "gift_card":
            request = {**common, "operation_key": scoped, **details}
            reply = await self.forwarder.request("payments", sale["store_id"],
                                                 "redeem_gift_card", request)
            approved = bool(reply.get("ok"))
            payment_id = scoped
        else:  # loyalty (check_tender refused unknown kinds)
            customer = details.get("customer_id") or sale["customer_id"]
            if not customer:
                raise CommandError("a loyalty tender needs a customer on the sale", "invalid")
            request = {**common, "customer_id": customer, "idempotency_key": scoped}
            reply = await self.forwarder.request("crm", sale["store_id"], "redeem_points",
                                                 request)
            approved = reply.get("status") == "approved"
            payment_id = f"loyalty:{scoped}"
        return self._answer(sale_id, kind, amount, payment_id, approved, reply)

    @staticmethod
    def _details(kind: str, body: dict[str, Any]) -> dict[str, str]:
        """The kind's own fields of a tender request (checked before anything is recorded)."""
        if kind in ("card", "wallet"):
            return {"pan": text(body, "pan"), "expiry": text(body, "expiry")}
        if kind == "gift_card":
            return {"number": text(body, "number")}
        if kind == "loyalty":
            return {"customer_id": _optional_text(body, "customer_id")}
        return {}

    @staticmethod
    def _answer(
        sale_id: UUID, kind: str, amount: int, payment_id: str, approved: bool,
        reply: dict[str, Any],
    ) -> dict[str, Any]:
        if not reply.get("ok"):
            error = reply.get("error") or {}
            code, message = str(error.get("code", "")), str(error.get("message", ""))
            if code in PASSED_ON:
                raise CommandError(message or f"{kind} tender refused", code)
            approved = False
            reason = message
        else:
            reason = str(reply.get("reason", ""))
        return {
            "sale_id": str(sale_id), "kind": kind, "amount_minor": amount,
            "payment_id": payment_id, "status": "approved" if approved else "declined",
            "response_code": str(reply.get("response_code", "")), "reason": reason,
        }
