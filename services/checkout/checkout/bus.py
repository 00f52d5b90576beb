"""Checkout on the bus: upstream event handlers and the lanes' request/reply commands."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from checkout.application import (
    Checkout,
    SaleConflictError,
    SaleNotFoundError,
    UnknownSkuError,
)
from checkout.domainmodel import (
    CurrencyMismatchError,
    InvalidLineError,
    LineConflictError,
    PriceEntry,
    Sale,
    SaleError,
    price_entry_id,
)
from tillstream.codec import ReceivedEvent
from tillstream.commands import integer, refusals, text, uuid
from tillstream.consumer import Handler, UnitOfWork
from tillstream.events.v1 import inventory_pb2, payments_pb2
from tillstream.service import CommandHandler

log = logging.getLogger(__name__)


# -- consumers ------------------------------------------------------------------------------


def on_product_upserted(event: ReceivedEvent, uow: UnitOfWork) -> None:
    """Keep the price replica in step with inventory's catalog."""
    msg: Any = event.message
    entry = uow.get(price_entry_id(msg.sku))
    if entry is None:
        uow.add(PriceEntry.register(
            sku=msg.sku, name=msg.name, price_minor=msg.price.amount_minor,
            currency=msg.price.currency, active=msg.active,
        ))
    else:
        entry.update(name=msg.name, price_minor=msg.price.amount_minor,
                     currency=msg.price.currency, active=msg.active)


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
}

PAYMENTS_HANDLERS: dict[str, Handler] = {
    payments_pb2.PaymentCaptured.DESCRIPTOR.full_name: on_payment_captured,
    payments_pb2.PaymentDeclined.DESCRIPTOR.full_name: on_payment_declined,
}


# -- commands -------------------------------------------------------------------------------


_refusals = refusals(
    {
        SaleNotFoundError: "not_found",
        UnknownSkuError: "unknown_sku",
        (SaleConflictError, LineConflictError): "conflict",
        (InvalidLineError, CurrencyMismatchError): "invalid",
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
            "attach_customer": self.attach_customer,
            "get_sale": self.get_sale,
            "price": self.price,
        }

    def price(self, body: dict[str, Any]) -> dict[str, Any]:
        """{sku} -> {sku, name, price_minor, currency}: what a scan of it would cost now."""
        with _refusals:
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
        with _refusals:
            self.app.open_sale(
                sale_id, text(body, "store_id"), text(body, "lane_id"),
                text(body, "cashier_id"), text(body, "currency"),
            )
            view = self.app.get_sale(sale_id)
        return {"sale_id": view.sale_id, "status": view.status}

    def add_line(self, body: dict[str, Any]) -> dict[str, Any]:
        """{sale_id, line_no, sku, quantity}
        -> {unit_price_minor, line_total_minor, total_minor, currency}."""
        with _refusals:
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

    def attach_customer(self, body: dict[str, Any]) -> dict[str, Any]:
        """{sale_id, customer_id} -> {sale_id, customer_id}."""
        sale_id = uuid(body, "sale_id")
        customer_id = text(body, "customer_id")
        with _refusals:
            self.app.attach_customer(sale_id, customer_id)
        return {"sale_id": str(sale_id), "customer_id": customer_id}

    def get_sale(self, body: dict[str, Any]) -> dict[str, Any]:
        """{sale_id} -> the sale: status, money, lines and tenders."""
        with _refusals:
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
        }
