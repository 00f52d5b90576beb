"""Stock stays exact when two replicas sell the same SKU at once: each applies its sales
through the consumer's sink; a save that loses the optimistic-concurrency race (IntegrityError)
is retried, as the consumer retries it, and no sale is lost or counted twice."""

from __future__ import annotations

import threading
from pathlib import Path

from eventsourcing.persistence import IntegrityError

from inventory.application import Inventory
from inventory.bus import consumer_handlers
from tillstream.codec import ReceivedEvent
from tillstream.consumer import Delivery, EventSourcedSink
from tillstream.events.v1 import checkout_pb2, common_pb2
from tillstream.eventstore import event_store_env
from tillstream.testing import test_settings

SALES_PER_REPLICA = 40


def sale(sale_id: str, quantity: int) -> ReceivedEvent:
    message = checkout_pb2.SaleCompleted(
        sale_id=sale_id,
        store_id="s001",
        lines=[common_pb2.SaleLine(line_no=1, sku="HOT", quantity=quantity)],
        total=common_pb2.Money(amount_minor=100 * quantity, currency="EUR"),
    )
    return ReceivedEvent(
        event_type=message.DESCRIPTOR.full_name,
        message=message,
        subject="checkout.s001.sale.completed",
        store_id="s001",
        occurred_at="",
        msg_id="",
        headers={},
    )


def test_concurrent_sales_of_one_sku_stay_exact(tmp_path: Path) -> None:
    settings = test_settings(tmp_path)
    # Two processes share the store (as replicas on PostgreSQL do): the cache must look for
    # newer events, or a replica would keep selling from a stale stock level.
    env = {**event_store_env(settings, "inventory"), "AGGREGATE_CACHE_FASTFORWARD": "y"}
    replicas = [Inventory(env=env) for _ in range(2)]
    conflicts = [0, 0]
    try:
        replicas[0].upsert_product("HOT", "Hot item", 100, "EUR")
        replicas[0].receive_stock("s001", "HOT", 500, "po-1")

        def consume(n: int) -> None:
            sink = EventSourcedSink(replicas[n], consumer_handlers())
            for position in range(1, SALES_PER_REPLICA + 1):
                delivery = Delivery(position, sale(f"sale-{n}-{position}", 1 + position % 3))
                while True:
                    try:
                        sink.apply(f"checkout.p{n}", [delivery])
                        break
                    except IntegrityError:
                        conflicts[n] += 1  # the other replica won: reload and retry

        threads = [threading.Thread(target=consume, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        sold = 2 * sum(1 + p % 3 for p in range(1, SALES_PER_REPLICA + 1))
        for replica in replicas:
            level = replica.stock_level("s001", "HOT")
            assert (level.sold, level.on_hand) == (sold, 500 - sold)
        assert replicas[1].tracked_position("checkout.p0") == SALES_PER_REPLICA
        assert replicas[0].tracked_position("checkout.p1") == SALES_PER_REPLICA
        print(f"optimistic-concurrency retries: {conflicts}")
    finally:
        for replica in replicas:
            replica.close()
