"""A toy upstream and downstream for testing the kit's pipeline on its own.

Upstream: `Shelf` aggregates whose `Counted` events become StockChanged integration events
(plus a private `Noted` event the relay must skip). Downstream: a `Ledger` per store that records
every upstream delta it applies, so a test can see exactly what was applied and how often.
A tag starting with "poison" makes the downstream handler fail every time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from tillstream.codec import IntegrationEvent, ReceivedEvent, subject
from tillstream.consumer import UnitOfWork
from tillstream.events.v1 import inventory_pb2
from tillstream.eventstore import ServiceApplication

UPSTREAM = "inventory"
DOWNSTREAM = "crm"


class Shelf(Aggregate):
    """Counts of one SKU in one store (upstream)."""

    @event("Opened")
    def __init__(self, store_id: str, sku: str) -> None:
        self.store_id = store_id
        self.sku = sku
        self.on_hand = 0

    @event("Counted")
    def count(self, delta: int, tag: str, store_id: str = "s001") -> None:
        self.on_hand += delta

    @event("Noted")
    def note(self, text: str) -> None:
        pass


class Ledger(Aggregate):
    """Everything the downstream applied (downstream)."""

    @event("Started")
    def __init__(self) -> None:
        self.applied: list[str] = []

    @event("Applied")
    def apply_delta(self, tag: str, delta: int) -> None:
        self.applied.append(tag)


LEDGER_ID = uuid5(NAMESPACE_URL, "tillstream-test-ledger")


def ledger_id(store_id: str) -> UUID:
    """One ledger per store, so consumers of different partitions never contend."""
    if store_id == "s001":
        return LEDGER_ID
    return uuid5(NAMESPACE_URL, f"tillstream-test-ledger/{store_id}")


class Shelves(ServiceApplication):
    def open_shelf(self, store_id: str, sku: str) -> UUID:
        shelf = Shelf(store_id, sku)
        self.save(shelf)
        return shelf.id

    def count(self, shelf_id: UUID, delta: int, tag: str, note: bool = False) -> None:
        shelf: Shelf = self.repository.get(shelf_id)
        shelf.count(delta, tag, shelf.store_id)
        if note:
            shelf.note(f"after {tag}")
        self.save(shelf)


    def note(self, shelf_id: UUID, text: str) -> None:
        """A private event only: a notification the relay reads and skips."""
        shelf: Shelf = self.repository.get(shelf_id)
        shelf.note(text)
        self.save(shelf)


class Ledgers(ServiceApplication):
    def applied(self, store_id: str = "s001") -> list[str]:
        ledger = self.get_or_none(ledger_id(store_id))
        return list(ledger.applied) if ledger else []


class ShelfContracts:
    def to_integration(self, domain_event: object) -> IntegrationEvent | None:
        if isinstance(domain_event, Shelf.Counted):
            store_id = domain_event.store_id
            return IntegrationEvent(
                subject=subject(UPSTREAM, store_id, "stock", "changed"),
                message=inventory_pb2.StockChanged(
                    store_id=store_id, sku=domain_event.tag, delta=domain_event.delta
                ),
                store_id=store_id,
                occurred_at=datetime.now(UTC),
            )
        return None


class Poisoned(Exception):
    pass


def on_stock_changed(event: ReceivedEvent, uow: UnitOfWork) -> None:
    msg = event.message
    assert isinstance(msg, inventory_pb2.StockChanged)
    if msg.sku.startswith("poison"):
        raise Poisoned(f"cannot apply {msg.sku}")
    ledger = uow.get(ledger_id(msg.store_id))
    if ledger is None:
        ledger = _new_ledger(msg.store_id)
        uow.add(ledger)
    ledger.apply_delta(msg.sku, msg.delta)


def _new_ledger(store_id: str = "s001") -> Ledger:
    # A fixed id per store, so every batch finds the same ledger.
    return Ledger._create(Ledger.Started, id=ledger_id(store_id))


HANDLERS = {"tillstream.events.v1.StockChanged": on_stock_changed}
