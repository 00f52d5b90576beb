"""Checkout on the bus: upstream event handlers and the lanes' request/reply commands."""

from __future__ import annotations

import base64
import logging
from typing import Any
from uuid import UUID

from checkout.application import (
    BasketTotals,
    CashierConflictError,
    Checkout,
    NoShiftError,
    SaleConflictError,
    SaleNotFoundError,
    ShiftNotFoundError,
    UnknownSkuError,
    WrongCashierError,
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
    LaneBusyError,
    LineConflictError,
    PermissionRequiredError,
    PriceEntry,
    PromotionBook,
    Sale,
    SaleError,
    ShiftClosedError,
    ShiftError,
    ShiftReport,
    TaxTable,
    price_entry_id,
    tax_table_id,
)
from checkout.receipts import receipt_for_sale, render_escpos, render_html, render_text
from tillstream.codec import ReceivedEvent
from tillstream.commands import integer, refusals, text, uuid
from tillstream.consumer import Handler, UnitOfWork
from tillstream.events.v1 import inventory_pb2, payments_pb2
from tillstream.service import CommandError, CommandHandler

log = logging.getLogger(__name__)


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


def on_payment_captured(event: ReceivedEvent, uow: UnitOfWork) -> None:
    """A captured payment counts towards its sale (and may complete it)."""
    msg: Any = event.message
    sale = _sale_of(uow, msg.sale_id, f"payment {msg.payment_id}")
    sale.record_payment(
        payment_id=msg.payment_id, amount_minor=msg.amount.amount_minor,
        currency=msg.amount.currency, tender=msg.tender or "card",
    )


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
        }

    # -- cashiers and shifts ----------------------------------------------------------------

    def register_cashier(self, body: dict[str, Any]) -> dict[str, Any]:
        """{store_id, cashier_id, name, pin} -> {cashier_id, registered} (supervisor setup).

        The same cashier again with the same name and PIN is a no-op (registered false)."""
        with shift_refusals:
            registered = self.app.register_cashier(
                text(body, "store_id"), text(body, "cashier_id"), text(body, "name"),
                text(body, "pin"),
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
            "subtotal_minor": view.subtotal_minor,
            "discount_minor": view.discount_minor,
            "tax_minor": view.tax_minor,
            "taxes": view.taxes,
            "discounts": view.discounts,
        }

    def receipt(self, body: dict[str, Any]) -> dict[str, Any]:
        """{sale_id, copy?: bool, offline?: bool, sequence?: int, format?: "text"|"html"|"escpos"}
        -> {receipt_number, text | html | escpos_b64} of a completed sale.

        The receipt number is `<store>-<lane>-<sequence>`. Checkout keeps no per-lane receipt
        counter yet (counting a lane's completed sales is not cheap without a new event), so
        the lane sends the `sequence` it prints under; it defaults to 1. Likewise `offline` is
        the lane's word that it sold the sale offline: the sale records no such flag yet.
        """
        sale_id = uuid(body, "sale_id")
        flags: dict[str, bool] = {}
        for key in ("copy", "offline"):
            value = body.get(key, False)
            if not isinstance(value, bool):
                raise CommandError(f"{key} must be true or false", "invalid")
            flags[key] = value
        sequence = body.get("sequence", 1)
        if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
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
