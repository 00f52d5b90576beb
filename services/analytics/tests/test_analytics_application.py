"""The projection store on every database: the same tests on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message
from sqlalchemy import select

from analytics.application import (
    ProjectionSink,
    ProjectionStore,
    metadata,
    payment_mix,
    sales_by_store_day,
)
from analytics.bus import consumer_handlers
from tillstream.codec import ReceivedEvent
from tillstream.consumer import Delivery
from tillstream.events.v1 import checkout_pb2, common_pb2, payments_pb2
from tillstream.settings import Settings

# Aliased: a module-level name starting with "test_" would be collected by pytest.
from tillstream.testing import test_settings as settings_for_test

DAY_MS = 86_400_000
JAN_1 = 1_735_689_600_000  # 2025-01-01T00:00:00Z


def delivery(
    position: int,
    message: Message,
    occurred_at: str = "2025-01-01T12:00:00+00:00",
) -> Delivery:
    return Delivery(
        position,
        ReceivedEvent(
            event_type=message.DESCRIPTOR.full_name,
            message=message,
            subject="x",
            store_id="s001",
            occurred_at=occurred_at,
            msg_id=f"x:{position}",
            headers={},
        ),
    )


def sale(sale_id: str, store_id: str, total: int, at_ms: int, *quantities: int) -> Message:
    return checkout_pb2.SaleCompleted(
        sale_id=sale_id,
        store_id=store_id,
        lines=[
            common_pb2.SaleLine(line_no=i, sku=f"S{i}", quantity=q)
            for i, q in enumerate(quantities)
        ],
        total=common_pb2.Money(amount_minor=total, currency="EUR"),
        completed_at_ms=at_ms,
    )


def captured(payment_id: str, tender: str, scheme: str, amount: int) -> Message:
    return payments_pb2.PaymentCaptured(
        payment_id=payment_id,
        store_id="s001",
        tender=tender,
        amount=common_pb2.Money(amount_minor=amount, currency="EUR"),
        card=payments_pb2.Card(scheme=scheme) if scheme else None,
    )


def checkout_stream() -> list[Delivery]:
    return [
        delivery(1, sale("a", "s001", 1000, JAN_1 + 1000, 2, 1)),
        delivery(2, sale("b", "s001", 550, JAN_1 + 5000, 1)),
        delivery(3, sale("c", "s002", 300, JAN_1 + 7000, 4)),
        delivery(4, sale("d", "s001", 200, JAN_1 + DAY_MS, 1)),
    ]


def payments_stream() -> list[Delivery]:
    return [
        delivery(1, captured("p1", "card", "visa", 1000)),
        delivery(2, captured("p2", "card", "visa", 550)),
        delivery(3, captured("p3", "cash", "", 300)),
        delivery(4, captured("p4", "card", "mastercard", 200), "2025-01-02T08:00:00+00:00"),
    ]


def dump(store: ProjectionStore) -> dict[str, Any]:
    with store.engine.connect() as conn:
        return {
            table.name: [
                tuple(row)
                for row in conn.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in metadata.sorted_tables
        }


class ProjectionStoreTests:
    """The behaviour of the projection store, whatever database holds it."""

    @pytest.fixture
    def settings(self) -> Settings:
        raise NotImplementedError

    @pytest.fixture
    def store(self, settings: Settings) -> Iterator[ProjectionStore]:
        store = ProjectionStore.from_settings(settings)
        yield store
        store.dispose()

    @pytest.fixture
    def sink(self, store: ProjectionStore) -> ProjectionSink:
        return ProjectionSink(store, consumer_handlers())

    def test_sales_by_store_day(self, store: ProjectionStore, sink: ProjectionSink) -> None:
        sink.apply("checkout.p0", checkout_stream())
        assert sink.position("checkout.p0") == 4
        assert store.sales_totals() == [
            {
                "store_id": "s001",
                "day": "2025-01-01",
                "currency": "EUR",
                "sales_count": 2,
                "total_minor": 1550,
                "items_sold": 4,
            },
            {
                "store_id": "s001",
                "day": "2025-01-02",
                "currency": "EUR",
                "sales_count": 1,
                "total_minor": 200,
                "items_sold": 1,
            },
            {
                "store_id": "s002",
                "day": "2025-01-01",
                "currency": "EUR",
                "sales_count": 1,
                "total_minor": 300,
                "items_sold": 4,
            },
        ]
        assert [r["store_id"] for r in store.sales_totals(store_id="s002")] == ["s002"]
        assert [r["day"] for r in store.sales_totals("s001", date(2025, 1, 2))] == ["2025-01-02"]

    def test_payment_mix(self, store: ProjectionStore, sink: ProjectionSink) -> None:
        sink.apply("payments.p0", payments_stream())
        rows = store.payment_mix("s001")
        assert [
            (r["day"], r["tender"], r["scheme"], r["count"], r["total_minor"]) for r in rows
        ] == [
            ("2025-01-01", "card", "visa", 2, 1550),
            ("2025-01-01", "cash", "", 1, 300),
            ("2025-01-02", "card", "mastercard", 1, 200),
        ]
        assert all(r["currency"] == "EUR" for r in rows)

    def test_batches_accumulate(self, store: ProjectionStore, sink: ProjectionSink) -> None:
        stream = checkout_stream()
        sink.apply("checkout.p0", stream[:1])
        sink.apply("checkout.p0", stream[1:])
        assert store.sales_totals("s001", date(2025, 1, 1))[0]["sales_count"] == 2

    def test_redelivered_batch_changes_nothing(
        self, store: ProjectionStore, sink: ProjectionSink
    ) -> None:
        sink.apply("checkout.p0", checkout_stream())
        before = dump(store)
        sink.apply("checkout.p0", checkout_stream())  # the whole batch again
        sink.apply("checkout.p0", checkout_stream()[1:3])  # a part of it
        assert dump(store) == before
        # A batch that overlaps: only the new delivery counts.
        sink.apply(
            "checkout.p0", [*checkout_stream()[2:], delivery(5, sale("e", "s002", 100, JAN_1, 1))]
        )
        assert store.sales_totals("s002")[0]["sales_count"] == 2
        assert sink.position("checkout.p0") == 5

    def test_tracking_is_per_upstream(self, store: ProjectionStore, sink: ProjectionSink) -> None:
        sink.apply("checkout.p0", checkout_stream())
        sink.apply("payments.p0", payments_stream()[:2])
        assert store.tracking() == {"checkout.p0": 4, "payments.p0": 2}

    def test_failed_batch_writes_nothing(
        self, store: ProjectionStore, sink: ProjectionSink
    ) -> None:
        bad = delivery(2, payments_pb2.PaymentCaptured(payment_id="x"), occurred_at="not a time")
        with pytest.raises(ValueError):
            sink.apply("payments.p0", [payments_stream()[0], bad])
        assert store.payment_mix() == []
        assert sink.position("payments.p0") == 0

    def test_unhandled_event_types_are_tracked_but_not_counted(
        self, store: ProjectionStore, sink: ProjectionSink
    ) -> None:
        opened = checkout_pb2.SaleOpened(sale_id="a", store_id="s001")
        sink.apply("checkout.p0", [delivery(1, opened)])
        assert store.sales_totals() == []
        assert sink.position("checkout.p0") == 1

    def test_reset_and_replay_rebuilds_identical_tables(
        self, store: ProjectionStore, sink: ProjectionSink
    ) -> None:
        for batch in (checkout_stream()[:2], checkout_stream()[2:]):
            sink.apply("checkout.p0", batch)
        sink.apply("payments.p0", payments_stream())
        before = dump(store)
        assert before["sales_by_store_day"] and before["payment_mix"]

        store.reset()
        assert dump(store) == {t.name: [] for t in metadata.sorted_tables}
        assert sink.position("checkout.p0") == 0
        # A consumer from position 0, batched differently, gives the same tables.
        for one in checkout_stream():
            sink.apply("checkout.p0", [one])
        sink.apply("payments.p0", payments_stream())
        assert dump(store) == before

    def test_replay_into_a_fresh_store_is_identical(
        self, store: ProjectionStore, sink: ProjectionSink, tmp_path: Path
    ) -> None:
        sink.apply("checkout.p0", checkout_stream())
        sink.apply("payments.p0", payments_stream())
        fresh = ProjectionStore.from_settings(settings_for_test(tmp_path / "fresh"))
        try:
            fresh_sink = ProjectionSink(fresh, consumer_handlers())
            fresh_sink.apply("payments.p0", payments_stream())
            fresh_sink.apply("checkout.p0", checkout_stream())
            assert dump(fresh) == dump(store)
        finally:
            fresh.dispose()

    def test_stats(self, store: ProjectionStore, sink: ProjectionSink) -> None:
        sink.apply("checkout.p0", checkout_stream())
        assert store.stats() == {
            "sales_rows": 3,
            "payment_mix_rows": 0,
            "generation": 0,
            "tracked": {"checkout.p0": 4},
        }


class TestWithSQLite(ProjectionStoreTests):
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return settings_for_test(tmp_path)

    def test_sqlite_file_under_data_dir(self, store: ProjectionStore, tmp_path: Path) -> None:
        assert (tmp_path / "analytics" / "analytics.sqlite").exists()


@pytest.mark.postgres
class TestWithPostgres(ProjectionStoreTests):
    @pytest.fixture
    def settings(self, tmp_path: Path, postgres_dsn: str) -> Settings:
        return settings_for_test(tmp_path, postgres_dsn=postgres_dsn)

    def test_tables_live_in_the_analytics_schema(self, store: ProjectionStore) -> None:
        from sqlalchemy import inspect

        names = inspect(store.engine).get_table_names(schema="analytics")
        assert {sales_by_store_day.name, payment_mix.name, "projection_tracking"} <= set(names)
