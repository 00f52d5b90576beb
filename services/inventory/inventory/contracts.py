"""Inventory's domain events -> its integration events (tillstream.events.v1, inventory.proto)."""

from __future__ import annotations

from inventory.domainmodel import Product, StockItem
from tillstream.codec import CHAIN, IntegrationEvent, subject
from tillstream.events.v1 import common_pb2, inventory_pb2

SERVICE = "inventory"


class InventoryContracts:
    """Maps catalog and stock events to ProductUpserted, StockChanged and StockLow."""

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
        if isinstance(domain_event, StockItem.LowStockSignalled):
            message = inventory_pb2.StockLow(
                store_id=domain_event.store_id,
                sku=domain_event.sku,
                on_hand=domain_event.on_hand,
                reorder_point=domain_event.reorder_point,
            )
            return IntegrationEvent(
                subject=subject(SERVICE, domain_event.store_id, "stock", "low"),
                message=message,
                store_id=domain_event.store_id,
                occurred_at=domain_event.timestamp,
            )
        # StockItem.Created, ReorderPointSet and the StoreStock index stay private.
        return None

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
        return IntegrationEvent(
            subject=subject(SERVICE, CHAIN, "product", "upserted"),
            message=message,
            store_id=CHAIN,
            occurred_at=domain_event.timestamp,
        )

    @staticmethod
    def _stock_changed(
        domain_event: StockItem.Received | StockItem.Sold, delta: int, reason: str, reference: str
    ) -> IntegrationEvent:
        message = inventory_pb2.StockChanged(
            store_id=domain_event.store_id,
            sku=domain_event.sku,
            delta=delta,
            on_hand=domain_event.on_hand,
            reason=reason,
            reference=reference,
        )
        return IntegrationEvent(
            subject=subject(SERVICE, domain_event.store_id, "stock", "changed"),
            message=message,
            store_id=domain_event.store_id,
            occurred_at=domain_event.timestamp,
        )
