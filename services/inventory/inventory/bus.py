"""Inventory on the bus: what it consumes (checkout's sales) and the commands it answers."""

from __future__ import annotations

import logging
from typing import Any

from inventory.application import Inventory, ProductNotFoundError, StockItemNotFoundError
from inventory.demo import demo_sku, seed_demo_catalog
from inventory.domainmodel import (
    InvalidProductError,
    InvalidStockMovementError,
    ProductDiscontinuedError,
)
from tillstream.codec import ReceivedEvent
from tillstream.commands import refusals
from tillstream.consumer import Handler, UnitOfWork
from tillstream.events.v1 import checkout_pb2
from tillstream.service import CommandHandler

log = logging.getLogger(__name__)


def on_sale_completed(event: ReceivedEvent, uow: UnitOfWork) -> None:
    """Take each sold line out of the store's stock (creating the stock item if missing)."""
    sale = event.message
    assert isinstance(sale, checkout_pb2.SaleCompleted)
    store_id = sale.store_id or event.store_id
    app = uow.app
    assert isinstance(app, Inventory)
    for line in sale.lines:
        if line.quantity <= 0:
            # Returns (negative lines) restock through their own flow, in a later issue;
            # refusing the whole sale here would dead-letter a valid sale.
            log.warning("sale %s line %d: quantity %d not taken from stock",
                        sale.sale_id, line.line_no, line.quantity)
            continue
        # Through the unit of work, so two lines (or two sales) of one batch touching the
        # same item see each other's changes and are saved together.
        item, index = app.stock_item_for(store_id, line.sku, get=uow.get)
        item.sell(line.quantity, sale.sale_id)
        uow.add(item)
        uow.add(index)


def consumer_handlers() -> dict[str, Handler]:
    """Handlers of upstream integration events, keyed by protobuf full name."""
    return {
        checkout_pb2.SaleCompleted.DESCRIPTOR.full_name: on_sale_completed,
    }


_refusals = refusals(
    {
        (ProductNotFoundError, StockItemNotFoundError): "not_found",
        ProductDiscontinuedError: "discontinued",
        (InvalidProductError, InvalidStockMovementError): "invalid",
    }
)


DEMO_PRODUCTS = 300


def command_handlers(app: Inventory) -> dict[str, CommandHandler]:
    """Inventory's request/reply commands (JSON in, JSON out)."""

    def upsert_product(payload: dict[str, Any]) -> dict[str, Any]:
        sku = payload["sku"]
        product_id = app.upsert_product(
            sku=sku,
            name=payload["name"],
            price_minor=payload["price_minor"],
            currency=payload["currency"],
            tax_class=payload.get("tax_class"),
            barcodes=payload.get("barcodes"),
        )
        return {"sku": sku, "product_id": str(product_id)}

    def discontinue_product(payload: dict[str, Any]) -> dict[str, Any]:
        app.discontinue_product(payload["sku"])
        return {"sku": payload["sku"], "active": False}

    def receive(payload: dict[str, Any]) -> dict[str, Any]:
        on_hand = app.receive_stock(
            payload["store_id"], payload["sku"], payload["quantity"], payload["reference"]
        )
        return {"on_hand": on_hand}

    def set_reorder_point(payload: dict[str, Any]) -> dict[str, Any]:
        reorder_point = app.set_reorder_point(
            payload["store_id"], payload["sku"], payload["reorder_point"]
        )
        return {"reorder_point": reorder_point}

    def stock(payload: dict[str, Any]) -> dict[str, Any]:
        level = app.stock_level(payload["store_id"], payload["sku"])
        return {"on_hand": level.on_hand, "sold": level.sold}

    def stock_summary(payload: dict[str, Any]) -> dict[str, Any]:
        summary = app.stock_summary(payload["store_id"])
        return {
            "items": summary.items,
            "sold_total": summary.sold_total,
            "on_hand_total": summary.on_hand_total,
        }

    def seed_demo(payload: dict[str, Any]) -> dict[str, Any]:
        """The demo catalog and opening stock for a store (idempotent): `up` calls it."""
        count = int(payload.get("products", DEMO_PRODUCTS))
        changed = seed_demo_catalog(app, payload["store_id"], count)
        return {"changed": changed, "skus": [demo_sku(i) for i in range(count)]}

    handlers = [
        upsert_product, discontinue_product, receive, set_reorder_point, stock, stock_summary,
        seed_demo,
    ]
    return {fn.__name__: _refusals(fn) for fn in handlers}
