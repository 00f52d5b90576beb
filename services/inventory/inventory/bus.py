"""Inventory on the bus: what it consumes (checkout's sales) and the commands it answers."""

from __future__ import annotations

import logging
from typing import Any

from inventory.application import (
    Inventory,
    ProductNotFoundError,
    StockItemNotFoundError,
    StockLevel,
    TransferConflictError,
    TransferNotFoundError,
    TransferView,
)
from inventory.catalog_import import import_catalog as import_catalog_rows
from inventory.catalog_import import rows_from_json
from inventory.demo import demo_sku, seed_demo_catalog
from inventory.domainmodel import (
    InvalidProductError,
    InvalidStockMovementError,
    InvalidTransferError,
    ProductDiscontinuedError,
    TransferStateError,
)
from tillstream.codec import ReceivedEvent
from tillstream.commands import integer, refusals, text
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
        (ProductNotFoundError, StockItemNotFoundError, TransferNotFoundError): "not_found",
        ProductDiscontinuedError: "discontinued",
        TransferConflictError: "conflict",
        TransferStateError: "wrong_state",
        (InvalidProductError, InvalidStockMovementError, InvalidTransferError): "invalid",
    }
)


DEMO_PRODUCTS = 300


def _level(level: StockLevel) -> dict[str, Any]:
    return {"on_hand": level.on_hand, "damaged": level.damaged, "low": level.low}


def _lines(payload: dict[str, Any], key: str) -> list[tuple[str, int]]:
    """`[{"sku": ..., "quantity": ...}, ...]` as (sku, quantity) pairs."""
    lines = payload[key]
    if not isinstance(lines, list) or not all(isinstance(line, dict) for line in lines):
        raise InvalidTransferError(f"{key} is a list of {{sku, quantity}} objects")
    return [(text(line, "sku"), integer(line, "quantity")) for line in lines]


def _transfer(view: TransferView) -> dict[str, Any]:
    return {
        "transfer_id": view.transfer_id,
        "from_store": view.from_store,
        "to_store": view.to_store,
        "status": view.status,
        "lines": [{"sku": sku, "quantity": qty} for sku, qty in view.lines],
        "received": [{"sku": sku, "quantity": qty} for sku, qty in view.received],
        "shortfall": [{"sku": sku, "quantity": qty} for sku, qty in view.shortfall],
    }


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

    def return_stock(payload: dict[str, Any]) -> dict[str, Any]:
        level = app.return_stock(
            text(payload, "store_id"), text(payload, "sku"), integer(payload, "quantity"),
            text(payload, "to"), text(payload, "reference"),
        )
        return _level(level)

    def adjust_stock(payload: dict[str, Any]) -> dict[str, Any]:
        note = payload.get("note", "")
        level = app.adjust_stock(
            text(payload, "store_id"), text(payload, "sku"), integer(payload, "delta"),
            text(payload, "reason"), note if isinstance(note, str) else str(note),
        )
        return _level(level)

    def count_stock(payload: dict[str, Any]) -> dict[str, Any]:
        store_id, sku = text(payload, "store_id"), text(payload, "sku")
        delta = app.count_stock(store_id, sku, integer(payload, "counted_quantity"))
        return {"delta": delta, **_level(app.stock_level(store_id, sku))}

    def request_transfer(payload: dict[str, Any]) -> dict[str, Any]:
        return _transfer(app.request_transfer(
            text(payload, "transfer_id"), text(payload, "from_store"),
            text(payload, "to_store"), _lines(payload, "lines"),
        ))

    def ship_transfer(payload: dict[str, Any]) -> dict[str, Any]:
        return _transfer(app.ship_transfer(text(payload, "transfer_id")))

    def receive_transfer(payload: dict[str, Any]) -> dict[str, Any]:
        return _transfer(app.receive_transfer(
            text(payload, "transfer_id"), _lines(payload, "lines")
        ))

    def get_transfer(payload: dict[str, Any]) -> dict[str, Any]:
        return _transfer(app.get_transfer(text(payload, "transfer_id")))

    def import_catalog(payload: dict[str, Any]) -> dict[str, Any]:
        """Upsert the rows sent in ONE transaction: all-or-nothing per call.

        `{"rows": [{line, sku, name, price_minor, currency, tax_class, barcodes}], "dry_run"}`
        -> `{imported, unchanged, rejected: [{line, sku, reason}], dry_run}`. A rejected
        row is reported and left out; if the save fails, nothing of this call is written.
        """
        rows = payload["rows"]
        if not isinstance(rows, list):
            raise InvalidProductError("rows is a list of objects")
        good, bad = rows_from_json(rows)
        report = import_catalog_rows(app, good, dry_run=bool(payload.get("dry_run", False)))
        report.rejected = sorted([*bad, *report.rejected], key=lambda r: r.line)
        return report.to_json()

    def seed_demo(payload: dict[str, Any]) -> dict[str, Any]:
        """The demo catalog and opening stock for a store (idempotent): `up` calls it."""
        count = int(payload.get("products", DEMO_PRODUCTS))
        changed = seed_demo_catalog(app, payload["store_id"], count)
        return {"changed": changed, "skus": [demo_sku(i) for i in range(count)]}

    handlers = [
        upsert_product, discontinue_product, receive, set_reorder_point, stock, stock_summary,
        seed_demo, return_stock, adjust_stock, count_stock, request_transfer, ship_transfer,
        receive_transfer, get_transfer, import_catalog,
    ]
    return {fn.__name__: _refusals(fn) for fn in handlers}
