"""Inventory's bus handlers: the SaleCompleted consumer (with a UnitOfWork) and commands."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from eventsourcing.persistence import Tracking
from google.protobuf.message import Message

from inventory.application import Inventory
from inventory.bus import (
    command_handlers,
    consumer_handlers,
    on_return_completed,
    on_sale_completed,
)
from inventory.domainmodel import StockItem, StoreStock
from inventory.main import build_application
from tillstream import telemetry
from tillstream.codec import ReceivedEvent
from tillstream.consumer import Delivery, EventSourcedSink, UnitOfWork
from tillstream.events.v1 import checkout_pb2, common_pb2
from tillstream.service import CommandError
from tillstream.testing import test_settings as settings_for_test


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Inventory]:
    app = build_application(settings_for_test(tmp_path))
    yield app
    app.close()


def received(message: Message, store_id: str = "s001", position: int = 1) -> ReceivedEvent:
    return ReceivedEvent(
        event_type=message.DESCRIPTOR.full_name,
        message=message,
        subject=f"checkout.{store_id}.sale.completed",
        store_id=store_id,
        occurred_at="2025-01-01T00:00:00+00:00",
        msg_id=f"checkout:{position}",
        headers={},
    )


def sale(
    sale_id: str, *lines: tuple[str, int], store_id: str = "s001"
) -> checkout_pb2.SaleCompleted:
    return checkout_pb2.SaleCompleted(
        sale_id=sale_id,
        store_id=store_id,
        lines=[
            common_pb2.SaleLine(
                line_no=n, sku=sku, quantity=qty,
                unit_price=common_pb2.Money(amount_minor=100, currency="EUR"),
                line_total=common_pb2.Money(amount_minor=100 * qty, currency="EUR"),
            )
            for n, (sku, qty) in enumerate(lines, start=1)
        ],
        total=common_pb2.Money(amount_minor=100, currency="EUR"),
        completed_at_ms=1_735_689_600_000,
    )


def test_handlers_are_keyed_by_protobuf_full_name() -> None:
    assert set(consumer_handlers()) == {
        "tillstream.events.v1.SaleCompleted", "tillstream.events.v1.ReturnCompleted"
    }


def test_sale_takes_stock_and_creates_missing_items(app: Inventory) -> None:
    app.upsert_product("A", "A", 100, "EUR")
    app.receive_stock("s001", "A", 10, "PO-1")
    uow = UnitOfWork(app)
    on_sale_completed(received(sale("sale-1", ("A", 2), ("UNKNOWN", 1))), uow)
    app.record_processed(uow.aggregates.values(), Tracking("checkout.p0", 1))
    assert app.stock_level("s001", "A").on_hand == 8
    unknown = app.stock_level("s001", "UNKNOWN")
    assert (unknown.on_hand, unknown.sold) == (-1, 1)  # never blocks the sale
    assert app.stock_summary("s001").items == 2
    assert app.tracked_position("checkout.p0") == 1


def test_batch_touching_one_item_twice(app: Inventory) -> None:
    """Two sales and a repeated line in one batch: every quantity counts, one save."""
    sink = EventSourcedSink(app, consumer_handlers())
    sink.apply(
        "checkout.p0",
        [
            Delivery(1, received(sale("sale-1", ("A", 2), ("A", 1)), position=1)),
            Delivery(2, received(sale("sale-2", ("A", 4), ("B", 1)), position=2)),
        ],
    )
    level = app.stock_level("s001", "A")
    assert (level.on_hand, level.sold) == (-7, 7)
    item: StockItem = app.repository.get(StockItem.create_id("s001", "A"))
    assert item.version == 1 + 3 + 1  # created, three sales, one low-stock signal
    assert sink.position("checkout.p0") == 2
    assert app.stock_summary("s001").sold_total == 8


def test_non_positive_lines_are_skipped(app: Inventory) -> None:
    uow = UnitOfWork(app)
    on_sale_completed(received(sale("sale-1", ("A", 0), ("B", -1))), uow)
    assert uow.aggregates == {}


class TestCommands:
    @pytest.fixture
    def commands(self, app: Inventory) -> dict:  # type: ignore[type-arg]
        return command_handlers(app)

    def test_upsert_product(self, commands: dict) -> None:  # type: ignore[type-arg]
        reply = commands["upsert_product"](
            {"sku": "A", "name": "Apple", "price_minor": 45, "currency": "EUR",
             "tax_class": "reduced", "barcodes": ["96385074"]}
        )
        assert reply["sku"] == "A" and len(reply["product_id"]) == 36

    def test_receive_stock_and_summary(self, commands: dict) -> None:  # type: ignore[type-arg]
        commands["upsert_product"]({"sku": "A", "name": "A", "price_minor": 1, "currency": "EUR"})
        reply = commands["receive"]({"store_id": "s001", "sku": "A", "quantity": 5,
                                     "reference": "PO-1"})
        assert reply == {"on_hand": 5}
        assert commands["stock"]({"store_id": "s001", "sku": "A"}) == {
            "store_id": "s001", "sku": "A", "on_hand": 5, "sold": 0, "received": 5,
            "reorder_point": 0, "low": False, "damaged": 0}
        assert commands["stock_summary"]({"store_id": "s001"}) == {
            "items": 1, "sold_total": 0, "on_hand_total": 5}
        assert commands["set_reorder_point"](
            {"store_id": "s001", "sku": "A", "reorder_point": 2}) == {"reorder_point": 2}

    @pytest.mark.parametrize(
        ("command", "payload", "code"),
        [
            ("stock", {"store_id": "s001", "sku": "A"}, "not_found"),
            ("receive", {"store_id": "s001", "sku": "A", "quantity": 1, "reference": "x"},
             "not_found"),
            ("upsert_product", {"sku": "A", "name": "A", "price_minor": -1, "currency": "EUR"},
             "invalid"),
            ("upsert_product", {"sku": "A", "name": "A", "price_minor": 1, "currency": "EUR",
                                "barcodes": ["123"]}, "invalid"),
            ("upsert_product", {"sku": "A"}, "invalid"),
        ],
    )
    def test_refusals(self, commands: dict, command: str, payload: dict, code: str) -> None:  # type: ignore[type-arg]
        with pytest.raises(CommandError) as refused:
            commands[command](payload)
        assert refused.value.code == code

    def test_discontinued(self, commands: dict) -> None:  # type: ignore[type-arg]
        product = {"sku": "A", "name": "A", "price_minor": 1, "currency": "EUR"}
        commands["upsert_product"](product)
        assert commands["discontinue_product"]({"sku": "A"}) == {"sku": "A", "active": False}
        with pytest.raises(CommandError) as refused:
            commands["upsert_product"]({**product, "price_minor": 2})
        assert refused.value.code == "discontinued"


def test_seed_demo_is_idempotent_and_lists_skus_in_stock(app: Inventory) -> None:
    commands = command_handlers(app)
    first = commands["seed_demo"]({"store_id": "s001", "products": 10})
    assert first["changed"] > 0 and len(first["skus"]) == 10
    again = commands["seed_demo"]({"store_id": "s001", "products": 10})
    assert again == {"changed": 0, "skus": first["skus"]}
    for sku in first["skus"]:
        assert commands["stock"]({"store_id": "s001", "sku": sku})["on_hand"] > 0


class TestMovementAndTransferCommands:
    @pytest.fixture
    def commands(self, app: Inventory) -> dict:  # type: ignore[type-arg]
        commands = command_handlers(app)
        for sku in ("A", "B"):
            commands["upsert_product"](
                {"sku": sku, "name": sku, "price_minor": 1, "currency": "EUR"})
            commands["receive"](
                {"store_id": "s001", "sku": sku, "quantity": 10, "reference": "PO-1"})
        return commands

    def test_retried_receive(self, commands: dict) -> None:  # type: ignore[type-arg]
        body = {"store_id": "s001", "sku": "A", "quantity": 10, "reference": "PO-1"}
        assert commands["receive"](body) == {"on_hand": 10}
        with pytest.raises(CommandError) as refused:
            commands["receive"]({**body, "quantity": 11})
        assert refused.value.code == "conflict"  # the reference names another receipt

    def test_return_adjust_count(self, commands: dict) -> None:  # type: ignore[type-arg]
        stock = {"store_id": "s001", "sku": "A"}
        assert commands["return_stock"](
            {**stock, "quantity": 2, "to": "damaged", "reference": "R1"}) == {
            "on_hand": 10, "damaged": 2, "low": False}
        assert commands["adjust_stock"](
            {**stock, "delta": -4, "reason": "waste", "note": "mould"})["on_hand"] == 6
        assert commands["count_stock"]({**stock, "counted_quantity": 5}) == {
            "delta": -1, "on_hand": 5, "damaged": 2, "low": False}

    def test_transfer_flow(self, commands: dict) -> None:  # type: ignore[type-arg]
        reply = commands["request_transfer"]({
            "transfer_id": "T1", "from_store": "s001", "to_store": "s002",
            "lines": [{"sku": "A", "quantity": 4}, {"sku": "B", "quantity": 1}]})
        assert reply["status"] == "requested"
        assert commands["ship_transfer"]({"transfer_id": "T1"})["status"] == "shipped"
        assert commands["stock"]({"store_id": "s001", "sku": "A"})["on_hand"] == 6
        reply = commands["receive_transfer"](
            {"transfer_id": "T1", "lines": [{"sku": "A", "quantity": 3}]})
        assert reply["shortfall"] == [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 1}]
        assert reply["received"] == [{"sku": "A", "quantity": 3}, {"sku": "B", "quantity": 0}]
        assert commands["get_transfer"]({"transfer_id": "T1"}) == reply
        assert commands["stock"]({"store_id": "s002", "sku": "A"})["on_hand"] == 3

    @pytest.mark.parametrize(
        ("command", "payload", "code"),
        [
            ("get_transfer", {"transfer_id": "T9"}, "not_found"),
            ("ship_transfer", {"transfer_id": "T9"}, "not_found"),
            ("ship_transfer", {}, "invalid"),
            ("request_transfer", {"transfer_id": "T1", "from_store": "s001",
                                  "to_store": "s001", "lines": [{"sku": "A", "quantity": 1}]},
             "invalid"),
            ("request_transfer", {"transfer_id": "T1", "from_store": "s001",
                                  "to_store": "s002", "lines": [["A", 1]]}, "invalid"),
            ("request_transfer", {"transfer_id": "T1", "from_store": "s001",
                                  "to_store": "s002", "lines": [{"sku": "A", "quantity": "1"}]},
             "invalid"),
            ("request_transfer", {"transfer_id": "T1", "from_store": "s001",
                                  "to_store": "s002", "lines": [{"sku": "Z", "quantity": 1}]},
             "not_found"),
            ("adjust_stock", {"store_id": "s001", "sku": "A", "delta": 1, "reason": "x"},
             "invalid"),
            ("count_stock", {"store_id": "s001", "sku": "A", "counted_quantity": -1},
             "invalid"),
            ("return_stock", {"store_id": "s001", "sku": "A", "quantity": 1, "to": "bin",
                              "reference": "R"}, "invalid"),
            ("import_catalog", {"rows": "nope"}, "invalid"),
            ("import_catalog", {}, "invalid"),
        ],
    )
    def test_refusals(self, commands: dict, command: str, payload: dict, code: str) -> None:  # type: ignore[type-arg]
        with pytest.raises(CommandError) as refused:
            commands[command](payload)
        assert refused.value.code == code

    def test_transfer_state_and_conflict(self, commands: dict) -> None:  # type: ignore[type-arg]
        request = {"transfer_id": "T1", "from_store": "s001", "to_store": "s002",
                   "lines": [{"sku": "A", "quantity": 1}]}
        commands["request_transfer"](request)
        with pytest.raises(CommandError) as refused:
            commands["receive_transfer"]({"transfer_id": "T1", "lines": []})
        assert refused.value.code == "wrong_state"
        with pytest.raises(CommandError) as refused:
            commands["request_transfer"]({**request, "to_store": "s003"})
        assert refused.value.code == "conflict"

    def test_import_catalog(self, commands: dict, app: Inventory) -> None:  # type: ignore[type-arg]
        rows = [
            {"line": 2, "sku": "C", "name": "Cheese", "price_minor": 300, "currency": "EUR",
             "tax_class": None, "barcodes": ["96385074"]},
            {"line": 3, "sku": "D", "name": "D", "price_minor": -1, "currency": "EUR"},
            {"line": 4, "sku": "E"},
            "junk",
        ]
        stored = app.events_stored()
        dry = commands["import_catalog"]({"rows": rows, "dry_run": True})
        assert dry["imported"] == 1 and dry["dry_run"] is True
        assert app.events_stored() == stored
        reply = commands["import_catalog"]({"rows": rows})
        assert (reply["imported"], reply["unchanged"]) == (1, 0)
        rejected = {(r["line"], r["sku"]): r["reason"] for r in reply["rejected"]}
        assert set(rejected) == {(3, "D"), (3, ""), (4, "E")}  # "junk" is the 4th (index 3)
        assert "price_minor" in rejected[(3, "D")]
        assert "JSON object" in rejected[(3, "")]
        assert "malformed" in rejected[(4, "E")]
        assert app.get_product("C").barcodes == ("96385074",)
        again = commands["import_catalog"]({"rows": rows[:1]})
        assert (again["imported"], again["unchanged"], again["rejected"]) == (0, 1, [])


def test_batch_keeps_each_sales_trace(app: Inventory) -> None:
    """Sales of one batch from different traces touch the same items: every new event carries
    the trace of the sale that caused it (stamped once, not overwritten by later sales)."""
    telemetry.setup("test")
    traces = ["1" * 32, "2" * 32, "3" * 32]
    deliveries = []
    for position, trace_id in enumerate(traces, start=1):
        event = received(sale(f"sale-{position}", ("A", 1), ("B", position)), position=position)
        event = replace(event, headers={"traceparent": f"00-{trace_id}-{'a' * 16}-01"})
        deliveries.append(Delivery(position, event))
    EventSourcedSink(app, consumer_handlers()).apply("checkout.p0", deliveries)
    events = [app.mapper.to_domain_event(n) for n in app.notifications(1, 100)]
    stamped = [(e.sale_id, e.__dict__.get("traceparent", "")) for e in events
               if type(e).__name__ == "Sold"]
    assert len(stamped) == 6  # two lines in each of three sales
    for sale_id, traceparent in stamped:
        position = int(sale_id.removeprefix("sale-"))
        assert traceparent.split("-")[1] == traces[position - 1], (sale_id, traceparent)


def test_batches_snapshot_stock_items(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch that carries an item past a multiple of the interval snapshots it (from the
    committed state in memory), and a fresh process loads the item from that snapshot."""
    monkeypatch.setitem(Inventory.snapshotting_intervals, StockItem, 5)
    monkeypatch.setitem(Inventory.snapshotting_intervals, StoreStock, 2)
    settings = settings_for_test(tmp_path)
    app = build_application(settings)
    try:
        sink = EventSourcedSink(app, consumer_handlers())
        item_id = StockItem.create_id("s001", "A")
        sink.apply("checkout.p0", [Delivery(1, received(sale("sale-1", ("A", 1)), position=1))])
        assert app.snapshots is not None and list(app.snapshots.get(item_id)) == []
        uow = UnitOfWork(app)
        on_return_completed(received(checkout_pb2.ReturnCompleted(
            return_id="r-1", store_id="s001",
            lines=[checkout_pb2.ReturnLine(line_no=1, sku="A", quantity=1, restock=True)],
        ), position=2), uow)
        app.record_processed(uow.aggregates.values(), Tracking("checkout.p0", 2))
        sink.apply("checkout.p0", [
            Delivery(n, received(sale(f"sale-{n}", ("A", 2)), position=n)) for n in range(3, 6)
        ])
        versions = [s.originator_version for s in app.snapshots.get(item_id)]
        assert versions == [7]  # v5-v7 crossed 5: snapshot at the batch's end
        sink.apply("checkout.p0", [Delivery(6, received(sale("sale-6", ("A", 1)), position=6))])
    finally:
        app.close()
    again = build_application(settings)
    try:
        assert again.snapshots is not None
        (snapshot,) = again.snapshots.get(item_id)
        restored = snapshot.mutate(None)  # type: ignore[attr-defined]
        assert (restored.version, restored.on_hand, restored.returns) == (7, -6, {"r-1:1"})
        item: StockItem = again.repository.get(item_id)  # the snapshot, then v8
        index_id = StoreStock.create_id("s001")
        assert [s.originator_version for s in again.snapshots.get(index_id)] == [2]
        index: StoreStock = again.repository.get(index_id)  # from its snapshot alone
        index.add("A")
        assert (index.skus, index.known, index.pending_events) == (["A"], {"A"}, [])
        assert (item.version, item.on_hand, item.sold, item.returns) == (8, -7, 8, {"r-1:1"})
        assert again.stock_summary("s001").sold_total == 8
    finally:
        again.close()
