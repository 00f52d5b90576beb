"""Inventory on the bus: what it consumes (checkout's sales) and the commands it answers."""

from __future__ import annotations

import base64
import logging
from typing import Any

from inventory.application import (
    MAX_PAGE_SIZE,
    Inventory,
    ProductNotFoundError,
    ProductView,
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
    DuplicateReceiptError,
    InvalidProductError,
    InvalidPromotionError,
    InvalidStockMovementError,
    InvalidTaxRateError,
    InvalidTransferError,
    ProductDiscontinuedError,
    TransferStateError,
)
from tillstream.codec import ReceivedEvent
from tillstream.commands import integer, refusals, text
from tillstream.consumer import Handler, UnitOfWork
from tillstream.events.v1 import checkout_pb2
from tillstream.service import CommandError, CommandHandler

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


def on_return_completed(event: ReceivedEvent, uow: UnitOfWork) -> None:
    """Put each returned line back: restock true -> sellable stock, false -> damaged. The
    reference "<return id>:<line>" makes a second copy of the return add nothing."""
    ret = event.message
    assert isinstance(ret, checkout_pb2.ReturnCompleted)
    store_id = ret.store_id or event.store_id
    app = uow.app
    assert isinstance(app, Inventory)
    for index, line in enumerate(ret.lines, start=1):
        if line.quantity <= 0 or not line.sku:
            log.warning("return %s line %d: %r x %d not restocked",
                        ret.return_id, index, line.sku, line.quantity)
            continue
        item, stock_index = app.stock_item_for(store_id, line.sku, get=uow.get)
        # Lines without a receipt have line_no 0: their position in the return names them.
        reference = f"{ret.return_id}:{line.line_no or f'n{index}'}"
        if item.return_stock(line.quantity, "stock" if line.restock else "damaged", reference):
            uow.add(item)
            uow.add(stock_index)


def consumer_handlers() -> dict[str, Handler]:
    """Handlers of upstream integration events, keyed by protobuf full name."""
    return {
        checkout_pb2.SaleCompleted.DESCRIPTOR.full_name: on_sale_completed,
        checkout_pb2.ReturnCompleted.DESCRIPTOR.full_name: on_return_completed,
    }


#: The checkout events inventory consumes (`<aggregate>.<event>` subjects). A voided sale
#: never took stock (stock falls on SaleCompleted), so sale.voided is not among them.
CHECKOUT_EVENTS = ("sale.completed", "return.completed")


_refusals = refusals(
    {
        (ProductNotFoundError, StockItemNotFoundError, TransferNotFoundError): "not_found",
        ProductDiscontinuedError: "discontinued",
        (TransferConflictError, DuplicateReceiptError): "conflict",
        TransferStateError: "wrong_state",
        (InvalidProductError, InvalidStockMovementError, InvalidTransferError,
         InvalidPromotionError, InvalidTaxRateError): "invalid",
    }
)


DEMO_PRODUCTS = 300


def _level(level: StockLevel) -> dict[str, Any]:
    return {"on_hand": level.on_hand, "damaged": level.damaged, "low": level.low}


def _full_level(level: StockLevel) -> dict[str, Any]:
    return {"store_id": level.store_id, "sku": level.sku, "on_hand": level.on_hand,
            "sold": level.sold, "received": level.received,
            "reorder_point": level.reorder_point, "low": level.low, "damaged": level.damaged}


def _product(view: ProductView) -> dict[str, Any]:
    return {"sku": view.sku, "product_id": str(view.product_id), "name": view.name,
            "price_minor": view.price_minor, "currency": view.currency,
            "tax_class": view.tax_class, "barcodes": list(view.barcodes),
            "active": view.active}


def page_token(offset: int | None) -> str:
    """An opaque page token for `offset` ("" for no further page)."""
    if offset is None:
        return ""
    return base64.urlsafe_b64encode(f"v1:{offset}".encode()).decode("ascii")


def page_offset(payload: dict[str, Any]) -> int:
    token = payload.get("page_token") or ""
    if not token:
        return 0
    try:
        version, _, offset = base64.urlsafe_b64decode(str(token).encode("ascii")).decode() \
            .partition(":")
    except (ValueError, UnicodeError) as exc:
        raise CommandError("page_token is not one a list gave", "invalid") from exc
    if version != "v1" or not offset.isdigit():
        raise CommandError("page_token is not one a list gave", "invalid")
    return int(offset)


def page_size(payload: dict[str, Any], default: int = 50) -> int:
    size = payload.get("page_size") or default
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_PAGE_SIZE:
        raise CommandError(f"page_size must be 1-{MAX_PAGE_SIZE}", "invalid")
    return size


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
        """{store_id, sku} -> the stock item's numbers."""
        return _full_level(app.stock_level(text(payload, "store_id"), text(payload, "sku")))

    def get_product(payload: dict[str, Any]) -> dict[str, Any]:
        return _product(app.get_product(text(payload, "sku")))

    def list_products(payload: dict[str, Any]) -> dict[str, Any]:
        """{query?, page_size? (1-200, default 50), page_token?} -> {products,
        next_page_token}; query matches name (substring), SKU or barcode."""
        query = payload.get("query") or ""
        if not isinstance(query, str):
            raise CommandError("query must be text", "invalid")
        products, following = app.list_products(query, page_offset(payload),
                                                page_size(payload))
        return {"products": [_product(p) for p in products],
                "next_page_token": page_token(following)}

    def list_stock(payload: dict[str, Any]) -> dict[str, Any]:
        """{store_id, low_only?, page_size?, page_token?} -> {items, next_page_token}."""
        low_only = payload.get("low_only", False)
        if not isinstance(low_only, bool):
            raise CommandError("low_only must be true or false", "invalid")
        levels, following = app.list_stock(text(payload, "store_id"), page_offset(payload),
                                           page_size(payload), low_only)
        return {"items": [_full_level(level) for level in levels],
                "next_page_token": page_token(following)}

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

    def upsert_promotion(payload: dict[str, Any]) -> dict[str, Any]:
        """{promotion_id, kind, name?, skus?, percent_bp?, amount_minor?, currency?,
        buy_quantity?, get_quantity?, threshold_minor?, starts_at_ms?, ends_at_ms?, active?}
        -> the promotion as recorded (published as PromotionUpserted for checkout)."""
        return app.upsert_promotion(payload)

    def upsert_tax_rate(payload: dict[str, Any]) -> dict[str, Any]:
        """{store_id ("chain": chain-wide), tax_class, rate_bp, mode: inclusive|exclusive,
        name?} -> {changed} (published as TaxRateUpserted for checkout)."""
        name = payload.get("name", "")
        changed = app.upsert_tax_rate(
            text(payload, "store_id"), text(payload, "tax_class"),
            integer(payload, "rate_bp"), text(payload, "mode"),
            name if isinstance(name, str) else str(name),
        )
        return {"changed": changed}

    handlers = [
        upsert_promotion, upsert_tax_rate, get_product, list_products, list_stock,
        upsert_product, discontinue_product, receive, set_reorder_point, stock, stock_summary,
        seed_demo, return_stock, adjust_stock, count_stock, request_transfer, ship_transfer,
        receive_transfer, get_transfer, import_catalog,
    ]
    return {fn.__name__: _refusals(fn) for fn in handlers}
