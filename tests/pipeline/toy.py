"""A toy upstream and downstream for testing the kit's pipeline on its own.

Upstream: `Shelf` aggregates whose `Counted` events become StockChanged integration events
(plus a private `Noted` event the relay must skip). Downstream: a `Ledger` that records every
upstream delta it applies, so a test can see exactly what was applied and how often.
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
    def count(self, delta: int, tag: str) -> None:
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


class Shelves(ServiceApplication):
    def open_shelf(self, store_id: str, sku: str) -> UUID:
        shelf = Shelf(store_id, sku)
        self.save(shelf)
        return shelf.id

    def count(self, shelf_id: UUID, delta: int, tag: str, note: bool = False) -> None:
        shelf: Shelf = self.repository.get(shelf_id)
        shelf.count(delta, tag)
        if note:
            shelf.note(f"after {tag}")
        self.save(shelf)


class Ledgers(ServiceApplication):
    def applied(self) -> list[str]:
        ledger = self.get_or_none(LEDGER_ID)
        return list(ledger.applied) if ledger else []


class ShelfContracts:
    def to_integration(self, domain_event: object) -> IntegrationEvent | None:
        if isinstance(domain_event, Shelf.Counted):
            return IntegrationEvent(
                subject=subject(UPSTREAM, "s001", "stock", "changed"),
                message=inventory_pb2.StockChanged(
                    store_id="s001", sku=domain_event.tag, delta=domain_event.delta
                ),
                store_id="s001",
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
    ledger = uow.get(LEDGER_ID)
    if ledger is None:
        ledger = _new_ledger()
        uow.add(ledger)
    ledger.apply_delta(msg.sku, msg.delta)


def _new_ledger() -> Ledger:
    # A fixed id, so every batch finds the same ledger.
    return Ledger._create(Ledger.Started, id=LEDGER_ID)


HANDLERS = {"tillstream.events.v1.StockChanged": on_stock_changed}
