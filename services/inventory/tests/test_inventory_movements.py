"""StockItem's returns, adjustments, counts and deduplicated receipts; the Transfer aggregate."""

from __future__ import annotations

import pytest

from inventory.domainmodel import (
    DuplicateReceiptError,
    InvalidStockMovementError,
    InvalidTransferError,
    StockItem,
    Transfer,
    TransferStateError,
)


def item(on_hand: int = 10, reorder_point: int = 0) -> StockItem:
    stock = StockItem.create("s001", "A", reorder_point)
    if on_hand:
        stock.receive(on_hand, "PO-0")
    stock.collect_events()
    return stock


def names(stock: StockItem | Transfer) -> list[str]:
    return [type(e).__name__ for e in stock.collect_events()]


class TestReceiptDeduplication:
    def test_retried_receipt_adds_nothing(self) -> None:
        stock = item(0)
        assert stock.receive(5, "PO-1") is True
        assert stock.receive(5, "PO-1") is False
        assert (stock.on_hand, stock.received) == (5, 5)
        assert names(stock) == ["Received"]

    def test_same_reference_other_quantity_is_refused(self) -> None:
        stock = item(0)
        stock.receive(5, "PO-1")
        with pytest.raises(DuplicateReceiptError):
            stock.receive(6, "PO-1")
        assert stock.on_hand == 5

    def test_dedup_survives_replay(self) -> None:
        stock = StockItem.create("s001", "A")
        stock.receive(5, "PO-1")
        rebuilt = None
        for domain_event in stock.collect_events():
            rebuilt = domain_event.mutate(rebuilt)
        assert isinstance(rebuilt, StockItem) and rebuilt.on_hand == 5
        assert rebuilt.receive(5, "PO-1") is False and rebuilt.on_hand == 5


class TestReturns:
    def test_back_to_stock(self) -> None:
        stock = item(10)
        stock.return_stock(2, "stock", "RET-1")
        assert (stock.on_hand, stock.damaged) == (12, 0)
        assert names(stock) == ["Returned"]

    def test_to_damaged_leaves_on_hand(self) -> None:
        stock = item(10)
        stock.return_stock(3, "damaged", "RET-1")
        assert (stock.on_hand, stock.damaged) == (10, 3)

    @pytest.mark.parametrize(
        ("quantity", "to", "reference"),
        [(0, "stock", "R"), (-1, "stock", "R"), (1, "shelf", "R"), (1, "stock", " "),
         (True, "stock", "R"), (1.5, "stock", "R")],
    )
    def test_guards(self, quantity: object, to: str, reference: str) -> None:
        stock = item(10)
        with pytest.raises(InvalidStockMovementError):
            stock.return_stock(quantity, to, reference)  # type: ignore[arg-type]
        assert stock.collect_events() == []


class TestAdjustments:
    @pytest.mark.parametrize("reason", ["waste", "theft", "damage", "correction"])
    def test_every_reason(self, reason: str) -> None:
        stock = item(10)
        stock.adjust(-3, reason, "broken jar")
        assert stock.on_hand == 7
        (adjusted,) = stock.collect_events()
        assert isinstance(adjusted, StockItem.Adjusted)
        assert (adjusted.delta, adjusted.reason, adjusted.note, adjusted.on_hand) == (
            -3, reason, "broken jar", 7)

    def test_upward_correction_and_negative_stock(self) -> None:
        stock = item(1)
        stock.adjust(4, "correction")
        stock.adjust(-9, "theft")
        assert stock.on_hand == -4  # allowed, like a sale: the shelf is the truth

    @pytest.mark.parametrize(("delta", "reason"), [
        (0, "waste"), (True, "waste"), (2.0, "waste"), (-1, "lost"), (-1, "")])
    def test_guards(self, delta: object, reason: str) -> None:
        stock = item(10)
        with pytest.raises(InvalidStockMovementError):
            stock.adjust(delta, reason)  # type: ignore[arg-type]
        assert stock.on_hand == 10 and stock.collect_events() == []


class TestCounts:
    def test_count_yields_the_adjustment(self) -> None:
        stock = item(10)
        assert stock.count(7) == -3
        assert stock.on_hand == 7
        (counted,) = stock.collect_events()
        assert isinstance(counted, StockItem.Counted)
        assert (counted.counted_quantity, counted.previous_on_hand, counted.delta) == (7, 10, -3)

    def test_count_from_negative_stock(self) -> None:
        stock = item(0)
        stock.sell(4, "sale-1")
        assert stock.count(2) == 6 and stock.on_hand == 2

    def test_matching_count_is_still_recorded(self) -> None:
        stock = item(10)
        assert stock.count(10) == 0
        assert names(stock) == ["Counted"]

    @pytest.mark.parametrize("counted", [-1, True, 1.0, "3"])
    def test_guards(self, counted: object) -> None:
        with pytest.raises(InvalidStockMovementError):
            item(10).count(counted)  # type: ignore[arg-type]


class TestLowStockSignalAcrossMovements:
    def test_one_signal_per_crossing(self) -> None:
        stock = item(10, reorder_point=5)
        stock.adjust(-6, "waste")  # 4: crosses
        stock.adjust(-1, "theft")  # 3: still low, no second signal
        assert names(stock) == ["Adjusted", "LowStockSignalled", "Adjusted"]
        stock.count(9)  # back above: re-armed
        stock.transfer_out(5, "T1")  # 4: crosses again
        assert names(stock) == ["Counted", "TransferredOut", "LowStockSignalled"]
        stock.return_stock(3, "stock", "R1")  # 7: re-armed
        stock.count(5)  # at the reorder point: low
        assert names(stock) == ["Returned", "Counted", "LowStockSignalled"]

    def test_damaged_return_does_not_rearm(self) -> None:
        stock = item(10, reorder_point=5)
        stock.adjust(-7, "damage")
        stock.collect_events()
        stock.return_stock(10, "damaged", "R1")
        stock.adjust(-1, "waste")
        assert names(stock) == ["Returned", "Adjusted"]


class TestTransfer:
    def transfer(self) -> Transfer:
        return Transfer.request("T1", "s001", "s002", [("A", 5), ("B", 2)])

    def test_request_ship_receive_short(self) -> None:
        transfer = self.transfer()
        assert transfer.id == Transfer.create_id("T1")
        assert transfer.status == "requested" and transfer.lines == {"A": 5, "B": 2}
        transfer.ship()
        assert transfer.status == "shipped"
        assert transfer.receive([("A", 4)]) == {"A": 1, "B": 2}
        assert transfer.status == "received"
        assert transfer.received == {"A": 4, "B": 0}
        events = transfer.collect_events()
        assert [type(e).__name__ for e in events] == ["Requested", "Shipped", "Received"]
        received = events[-1]
        assert isinstance(received, Transfer.Received)
        assert received.lines == [["A", 5, 4, 1], ["B", 2, 0, 2]]
        assert received.shortfall_total == 3

    def test_receive_in_full(self) -> None:
        transfer = self.transfer()
        transfer.ship()
        assert transfer.receive([("A", 5), ("B", 2)]) == {}

    @pytest.mark.parametrize(("args", "match"), [
        (("T1", "s001", "s001", [("A", 1)]), "different stores"),
        (("T1", "s001", "s002", []), "at least one line"),
        (("T1", "s001", "s002", [("A", 0)]), "positive"),
        (("T1", "s001", "s002", [("A", True)]), "positive"),
        (("T1", "s001", "s002", [("A", 1), ("A", 2)]), "twice"),
        (("T1", "s001", "s002", [("A.B", 1)]), "sku"),
        (("T.1", "s001", "s002", [("A", 1)]), "transfer_id"),
        (("T1", "s001", "s>", [("A", 1)]), "to_store"),
        (("T1", "s001", "s002", "A"), "list"),
        (("T1", "s001", "s002", [("A",)]), "not"),
    ])
    def test_request_guards(self, args: tuple, match: str) -> None:  # type: ignore[type-arg]
        with pytest.raises(InvalidTransferError, match=match):
            Transfer.request(*args)

    def test_illegal_transitions(self) -> None:
        transfer = self.transfer()
        with pytest.raises(TransferStateError):
            transfer.receive([("A", 5)])
        transfer.ship()
        with pytest.raises(TransferStateError):
            transfer.ship()
        transfer.receive([("A", 5), ("B", 2)])
        with pytest.raises(TransferStateError):
            transfer.receive([("A", 5)])
        with pytest.raises(TransferStateError):
            transfer.ship()

    @pytest.mark.parametrize("lines", [
        [("A", 6)], [("C", 1)], [("A", -1)], [("A", 1), ("A", 1)], [("A", 1.0)]])
    def test_receive_guards(self, lines: list) -> None:  # type: ignore[type-arg]
        transfer = self.transfer()
        transfer.ship()
        with pytest.raises(InvalidTransferError):
            transfer.receive(lines)
        assert transfer.status == "shipped"
