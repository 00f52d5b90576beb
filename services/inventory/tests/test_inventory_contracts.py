"""Inventory's domain events -> integration events: subjects, payloads, private events."""

from __future__ import annotations

from inventory.contracts import InventoryContracts
from inventory.domainmodel import Product, StockItem, StoreStock
from tillstream.codec import CHAIN
from tillstream.events.v1 import inventory_pb2

contracts = InventoryContracts()


def test_product_created_is_upserted_on_the_chain_subject() -> None:
    product = Product.create("MILK1L", "Milk", 119, "EUR", "reduced", ["96385074"])
    (created,) = product.collect_events()
    integration = contracts.to_integration(created)
    assert integration is not None
    assert integration.subject == f"inventory.{CHAIN}.product.upserted"
    assert integration.store_id == CHAIN
    assert integration.occurred_at == created.timestamp
    message = integration.message
    assert isinstance(message, inventory_pb2.ProductUpserted)
    assert (message.sku, message.name, message.tax_class, message.active) == (
        "MILK1L", "Milk", "reduced", True)
    assert (message.price.amount_minor, message.price.currency) == (119, "EUR")
    assert list(message.barcodes) == ["96385074"]


def test_every_product_change_is_a_full_upsert() -> None:
    product = Product.create("MILK1L", "Milk", 119, "EUR")
    product.collect_events()
    product.change_price(129, "EUR")
    product.rename("Fresh Milk")
    product.discontinue()
    messages = [contracts.to_integration(e) for e in product.collect_events()]
    assert all(m is not None for m in messages)
    last = messages[-1]
    assert last is not None and isinstance(last.message, inventory_pb2.ProductUpserted)
    assert (last.message.name, last.message.price.amount_minor, last.message.active) == (
        "Fresh Milk", 129, False)


def test_stock_events() -> None:
    item = StockItem.create("s001", "MILK1L", reorder_point=2)
    created = item.collect_events()
    item.receive(3, "PO-1")
    item.sell(2, "sale-9")
    received, sold, low = item.collect_events()
    assert contracts.to_integration(created[0]) is None

    receipt = contracts.to_integration(received)
    assert receipt is not None and receipt.subject == "inventory.s001.stock.changed"
    assert receipt.message == inventory_pb2.StockChanged(
        store_id="s001", sku="MILK1L", delta=3, on_hand=3, reason="receipt", reference="PO-1")

    sale = contracts.to_integration(sold)
    assert sale is not None and sale.store_id == "s001"
    assert sale.message == inventory_pb2.StockChanged(
        store_id="s001", sku="MILK1L", delta=-2, on_hand=1, reason="sale", reference="sale-9")

    alert = contracts.to_integration(low)
    assert alert is not None and alert.subject == "inventory.s001.stock.low"
    assert alert.message == inventory_pb2.StockLow(
        store_id="s001", sku="MILK1L", on_hand=1, reorder_point=2)


def test_private_events() -> None:
    item = StockItem.create("s001", "A")
    item.set_reorder_point(3)
    index = StoreStock.create("s001")
    index.add("A")
    events = [*item.collect_events(), *index.collect_events()]
    mapped = {type(e).__name__: contracts.to_integration(e) for e in events}
    assert mapped["Created"] is None
    assert mapped["ReorderPointSet"] is None
    assert mapped["SkuAdded"] is None
    assert mapped["LowStockSignalled"] is not None  # raising the point above 0 stock
