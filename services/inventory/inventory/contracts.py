"""Inventory's domain events -> its integration events (tillstream.events.v1, inventory.proto)."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from inventory.domainmodel import Product, Promotion, StockItem, TaxRate, Transfer
from tillstream.codec import CHAIN, IntegrationEvent
from tillstream.events.v1 import common_pb2, inventory_pb2

SERVICE = "inventory"


class InventoryContracts:
    """Maps catalog, stock and transfer events to their integration events.

    Stock: receipts, sales and transfer movements are StockChanged (on ...stock.changed);
    adjustments, counts and returns have their own messages (...stock.adjusted, .counted,
    .returned). Transfers: inventory.<source store>.transfer.requested and .shipped,
    inventory.<destination store>.transfer.received.
    """

    def to_integration(self, domain_event: object) -> IntegrationEvent | None:
        if isinstance(domain_event, Product.Created):
            return self._product_upserted(domain_event, active=True)
        if isinstance(domain_event, Product.Changed):
            return self._product_upserted(domain_event, active=domain_event.active)
        if isinstance(domain_event, StockItem.Received):
            return self._stock_changed(
                domain_event, domain_event.quantity, "receipt", domain_event.reference
            )
        if isinstance(domain_event, StockItem.Sold):
            return self._stock_changed(
                domain_event, -domain_event.quantity, "sale", domain_event.sale_id
            )
        if isinstance(domain_event, StockItem.TransferredOut):
            return self._stock_changed(
                domain_event, -domain_event.quantity, "transfer_out", domain_event.transfer_id
            )
        if isinstance(domain_event, StockItem.TransferredIn):
            return self._stock_changed(
                domain_event, domain_event.quantity, "transfer_in", domain_event.transfer_id
            )
        if isinstance(domain_event, StockItem.Adjusted):
            return self._event(domain_event.store_id, "stock", "adjusted", domain_event,
                               inventory_pb2.StockAdjusted(
                                   store_id=domain_event.store_id,
                                   sku=domain_event.sku,
                                   delta=domain_event.delta,
                                   on_hand=domain_event.on_hand,
                                   reason=domain_event.reason,
                                   note=domain_event.note,
                               ))
        if isinstance(domain_event, StockItem.Counted):
            return self._event(domain_event.store_id, "stock", "counted", domain_event,
                               inventory_pb2.StockCounted(
                                   store_id=domain_event.store_id,
                                   sku=domain_event.sku,
                                   counted_quantity=domain_event.counted_quantity,
                                   previous_on_hand=domain_event.previous_on_hand,
                                   delta=domain_event.delta,
                                   on_hand=domain_event.counted_quantity,
                               ))
        if isinstance(domain_event, StockItem.Returned):
            return self._event(domain_event.store_id, "stock", "returned", domain_event,
                               inventory_pb2.StockReturned(
                                   store_id=domain_event.store_id,
                                   sku=domain_event.sku,
                                   quantity=domain_event.quantity,
                                   disposition=domain_event.to,
                                   reference=domain_event.reference,
                                   on_hand=domain_event.on_hand,
                                   damaged=domain_event.damaged,
                               ))
        if isinstance(domain_event, Transfer.Requested):
            return self._event(domain_event.from_store, "transfer", "requested", domain_event,
                               inventory_pb2.TransferRequested(
                                   transfer_id=domain_event.transfer_id,
                                   from_store=domain_event.from_store,
                                   to_store=domain_event.to_store,
                                   lines=_lines(domain_event.lines),
                               ))
        if isinstance(domain_event, Transfer.Shipped):
            return self._event(domain_event.from_store, "transfer", "shipped", domain_event,
                               inventory_pb2.TransferShipped(
                                   transfer_id=domain_event.transfer_id,
                                   from_store=domain_event.from_store,
                                   to_store=domain_event.to_store,
                                   lines=_lines(domain_event.lines),
                               ))
        if isinstance(domain_event, Transfer.Received):
            return self._event(domain_event.to_store, "transfer", "received", domain_event,
                               inventory_pb2.TransferReceived(
                                   transfer_id=domain_event.transfer_id,
                                   from_store=domain_event.from_store,
                                   to_store=domain_event.to_store,
                                   lines=[
                                       inventory_pb2.TransferReceivedLine(
                                           sku=sku, shipped=shipped, received=got,
                                           shortfall=short,
                                       )
                                       for sku, shipped, got, short in domain_event.lines
                                   ],
                                   shortfall_total=domain_event.shortfall_total,
                               ))
        if isinstance(domain_event, StockItem.LowStockSignalled):
            message = inventory_pb2.StockLow(
                store_id=domain_event.store_id,
                sku=domain_event.sku,
                on_hand=domain_event.on_hand,
                reorder_point=domain_event.reorder_point,
            )
            return self._event(domain_event.store_id, "stock", "low", domain_event, message)
        if isinstance(domain_event, (Promotion.Created, Promotion.Changed)):
            return self._event(CHAIN, "promotion", "upserted", domain_event,
                               _promotion(domain_event.record))
        if isinstance(domain_event, (TaxRate.Created, TaxRate.Changed)):
            return self._event(domain_event.store_id, "tax_rate", "upserted", domain_event,
                               inventory_pb2.TaxRateUpserted(
                                   store_id=domain_event.store_id,
                                   tax_class=domain_event.tax_class,
                                   rate_bp=domain_event.rate_bp,
                                   mode=domain_event.mode,
                                   name=domain_event.name,
                               ))
        # StockItem.Created, ReorderPointSet and the StoreStock index stay private.
        return None

    @staticmethod
    def _event(
        store_id: str, aggregate: str, name: str, domain_event: Any, message: Message
    ) -> IntegrationEvent:
        return IntegrationEvent.of(
            SERVICE, store_id, aggregate, name, message=message, occurred_at=domain_event.timestamp
        )

    @staticmethod
    def _product_upserted(
        domain_event: Product.Created | Product.Changed, active: bool
    ) -> IntegrationEvent:
        message = inventory_pb2.ProductUpserted(
            sku=domain_event.sku,
            name=domain_event.name,
            price=common_pb2.Money(
                amount_minor=domain_event.price_minor, currency=domain_event.currency
            ),
            tax_class=domain_event.tax_class,
            active=active,
            barcodes=list(domain_event.barcodes),
        )
        return InventoryContracts._event(CHAIN, "product", "upserted", domain_event, message)

    @staticmethod
    def _stock_changed(
        domain_event: StockItem.Received
        | StockItem.Sold
        | StockItem.TransferredOut
        | StockItem.TransferredIn,
        delta: int,
        reason: str,
        reference: str,
    ) -> IntegrationEvent:
        message = inventory_pb2.StockChanged(
            store_id=domain_event.store_id,
            sku=domain_event.sku,
            delta=delta,
            on_hand=domain_event.on_hand,
            reason=reason,
            reference=reference,
        )
        return InventoryContracts._event(
            domain_event.store_id, "stock", "changed", domain_event, message
        )


def _lines(lines: list[list[Any]]) -> list[inventory_pb2.TransferLine]:
    return [inventory_pb2.TransferLine(sku=sku, quantity=quantity) for sku, quantity in lines]


def _promotion(record: dict[str, Any]) -> inventory_pb2.PromotionUpserted:
    currency = record.get("currency", "")
    return inventory_pb2.PromotionUpserted(
        promotion_id=record["promotion_id"],
        kind=record["kind"],
        name=record["name"],
        skus=list(record["skus"]),
        percent_bp=record["percent_bp"],
        amount=common_pb2.Money(amount_minor=record["amount_minor"], currency=currency),
        buy_quantity=record["buy_quantity"],
        get_quantity=record["get_quantity"],
        threshold=common_pb2.Money(amount_minor=record["threshold_minor"], currency=currency),
        starts_at_ms=record["starts_at_ms"],
        ends_at_ms=record["ends_at_ms"],
        active=record["active"],
    )
