"""Analytics' bus: handlers keyed by protobuf name, report commands, DSN handling."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from analytics.application import ProjectionSink, ProjectionStore, postgres_url
from analytics.bus import (
    command_handlers,
    consumer_handlers,
    on_sale_completed,
    subscribed_events,
)
from analytics.domainmodel import ProjectionBatch, SalesKey
from tillstream.codec import ReceivedEvent
from tillstream.consumer import Delivery
from tillstream.events.v1 import checkout_pb2, common_pb2, payments_pb2
from tillstream.service import CommandError
from tillstream.testing import test_settings as settings_for_test


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ProjectionStore]:
    store = ProjectionStore.from_settings(settings_for_test(tmp_path))
    yield store
    store.dispose()


def completed(position: int, store_id: str, total: int) -> Delivery:
    message = checkout_pb2.SaleCompleted(
        sale_id=f"sale-{position}",
        store_id=store_id,
        lines=[common_pb2.SaleLine(sku="A", quantity=1)],
        total=common_pb2.Money(amount_minor=total, currency="EUR"),
        completed_at_ms=1_735_689_600_000,
    )
    return Delivery(
        position,
        ReceivedEvent(
            event_type=message.DESCRIPTOR.full_name,
            message=message,
            subject="x",
            store_id=store_id,
            occurred_at="",
            msg_id=f"checkout:{position}",
            headers={},
        ),
    )


def test_handlers_are_keyed_by_protobuf_full_name() -> None:
    handlers = consumer_handlers()
    assert {
        checkout_pb2.SaleCompleted.DESCRIPTOR.full_name,
        payments_pb2.PaymentCaptured.DESCRIPTOR.full_name,
        "tillstream.events.v1.ReturnCompleted",
        "tillstream.events.v1.SaleVoided",
        "tillstream.events.v1.ShiftClosed",
        "tillstream.events.v1.PaymentFlagged",
        "tillstream.events.v1.StockLow",
        "tillstream.events.v1.LoyaltyPointsEarned",
        "tillstream.events.v1.DeviceStatus",
    } <= set(handlers)
    assert len(handlers) == sum(len(v) for v in subscribed_events().values())


def test_on_sale_completed_folds_into_the_batch() -> None:
    batch = ProjectionBatch()
    on_sale_completed(completed(1, "s001", 450).event, batch)
    totals = batch.sales[SalesKey("s001", date(2025, 1, 1), "EUR")]
    assert (totals.sales_count, totals.total_minor, totals.items_sold) == (1, 450, 1)


class TestCommands:
    @pytest.fixture
    def commands(self, store: ProjectionStore) -> dict[str, Any]:
        ProjectionSink(store, consumer_handlers()).apply(
            "checkout.p0", [completed(1, "s001", 450), completed(2, "s002", 100)]
        )
        return command_handlers(store)

    def test_sales_totals(self, commands: dict[str, Any]) -> None:
        assert commands["sales_totals"]({"store_id": "s001"}) == {
            "rows": [
                {
                    "store_id": "s001",
                    "day": "2025-01-01",
                    "currency": "EUR",
                    "sales_count": 1,
                    "total_minor": 450,
                    "items_sold": 1,
                }
            ]
        }
        assert len(commands["sales_totals"]({})["rows"]) == 2
        assert commands["sales_totals"]({"day": "2025-01-02"}) == {"rows": []}

    def test_payment_mix(self, commands: dict[str, Any]) -> None:
        assert commands["payment_mix"]({}) == {"rows": []}

    @pytest.mark.parametrize("payload", [{"day": "yesterday"}, {"store_id": 7}])
    def test_refusals(self, commands: dict[str, Any], payload: dict[str, Any]) -> None:
        with pytest.raises(CommandError) as refused:
            commands["sales_totals"](payload)
        assert refused.value.code == "invalid"


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        (
            "postgresql://u:p%40ss@db:5433/tills?sslmode=require",
            "postgresql+psycopg://u:***@db:5433/tills?sslmode=require",
        ),
        (
            "host=127.0.0.1 port=5432 user=postgres dbname=x",
            "postgresql+psycopg://postgres@127.0.0.1:5432/x",
        ),
    ],
)
def test_postgres_url(dsn: str, expected: str) -> None:
    url = postgres_url(dsn)
    assert url.render_as_string(hide_password=True) == expected
    if "p%40ss" in dsn:
        assert url.password == "p@ss"


class TestReportCommand:
    @pytest.fixture
    def commands(self, store: ProjectionStore) -> dict[str, Any]:
        ProjectionSink(store, consumer_handlers()).apply(
            "checkout.p0", [completed(1, "s001", 450), completed(2, "s002", 100)]
        )
        return command_handlers(store)

    def test_any_report_by_name(self, commands: dict[str, Any]) -> None:
        reply = commands["report"](
            {"report": "sales-day", "start": "2025-01-01", "end": "2025-01-01"}
        )
        assert reply["report"] == "sales-day"
        assert [(r["store_id"], r["total_minor"]) for r in reply["rows"]] == [
            ("s001", 450),
            ("s002", 100),
        ]

    @pytest.mark.parametrize(
        ("payload", "message"),
        [
            ({}, "report is one of"),
            ({"report": "nope"}, "unknown report 'nope'"),
            ({"report": "sales-day", "start": "2025-13-01"}, "is not YYYY-MM-DD"),
            (
                {"report": "sales-day", "start": "2025-01-02", "end": "2025-01-01"},
                "before start",
            ),
        ],
    )
    def test_refusals(
        self, commands: dict[str, Any], payload: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(CommandError, match=message) as caught:
            commands["report"](payload)
        assert caught.value.code == "invalid"
