"""Inventory's domain events -> integration events: subjects, payloads, private events."""

from __future__ import annotations

from inventory.contracts import InventoryContracts
from inventory.domainmodel import Product, StockItem, StoreStock, Transfer
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


def _only(stock: StockItem | Transfer):  # type: ignore[no-untyped-def]
    integrations = [contracts.to_integration(e) for e in stock.collect_events()]
    assert all(i is not None for i in integrations)
    return integrations


def test_stock_movements_have_their_own_events() -> None:
    item = StockItem.create("s001", "A")
    item.receive(10, "PO-1")
    item.collect_events()
    item.adjust(-2, "theft", "shelf 4")
    item.count(9)
    item.return_stock(1, "damaged", "RET-1")
    adjusted, counted, returned = _only(item)
    assert adjusted.subject == "inventory.s001.stock.adjusted"
    assert isinstance(adjusted.message, inventory_pb2.StockAdjusted)
    assert (adjusted.message.delta, adjusted.message.reason, adjusted.message.note,
            adjusted.message.on_hand) == (-2, "theft", "shelf 4", 8)
    assert counted.subject == "inventory.s001.stock.counted"
    assert isinstance(counted.message, inventory_pb2.StockCounted)
    assert (counted.message.counted_quantity, counted.message.previous_on_hand,
            counted.message.delta, counted.message.on_hand) == (9, 8, 1, 9)
    assert returned.subject == "inventory.s001.stock.returned"
    assert isinstance(returned.message, inventory_pb2.StockReturned)
    assert (returned.message.disposition, returned.message.on_hand,
            returned.message.damaged, returned.message.reference) == ("damaged", 9, 1, "RET-1")


def test_transfer_movements_are_stock_changes() -> None:
    item = StockItem.create("s001", "A")
    item.collect_events()
    item.transfer_out(2, "T1")
    item.transfer_in(1, "T2")
    out, low, into = _only(item)
    assert low.subject == "inventory.s001.stock.low"
    assert out.subject == into.subject == "inventory.s001.stock.changed"
    assert (out.message.delta, out.message.reason, out.message.reference) == (
        -2, "transfer_out", "T1")
    assert (into.message.delta, into.message.reason, into.message.on_hand) == (
        1, "transfer_in", -1)


def test_transfer_events() -> None:
    transfer = Transfer.request("T1", "s001", "s002", [("A", 5), ("B", 2)])
    transfer.ship()
    transfer.receive([("A", 4), ("B", 2)])
    requested, shipped, received = _only(transfer)
    assert requested.subject == "inventory.s001.transfer.requested"
    assert isinstance(requested.message, inventory_pb2.TransferRequested)
    assert [(x.sku, x.quantity) for x in requested.message.lines] == [("A", 5), ("B", 2)]
    assert shipped.subject == "inventory.s001.transfer.shipped"
    assert isinstance(shipped.message, inventory_pb2.TransferShipped)
    assert received.subject == "inventory.s002.transfer.received"
    assert received.store_id == "s002"
    message = received.message
    assert isinstance(message, inventory_pb2.TransferReceived)
    assert message.shortfall_total == 1
    assert [(x.sku, x.shipped, x.received, x.shortfall) for x in message.lines] == [
        ("A", 5, 4, 1), ("B", 2, 2, 0)]
    assert inventory_pb2.TransferReceived.FromString(message.SerializeToString()) == message
