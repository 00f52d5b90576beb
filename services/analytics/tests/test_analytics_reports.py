"""Reports over real SQLite: trends, forecast, anomalies, rates, alerts and CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from google.protobuf.message import Message

from analytics.application import ProjectionSink, ProjectionStore
from analytics.bus import consumer_handlers
from analytics.reports import (
    REPORTS,
    ReportError,
    Reports,
    forecast,
    moving_average,
    run_report,
    write_csv,
)
from tillstream.codec import ReceivedEvent
from tillstream.consumer import Delivery
from tillstream.events.v1 import (
    checkout_pb2,
    common_pb2,
    edge_pb2,
    inventory_pb2,
    payments_pb2,
)
from tillstream.testing import test_settings as settings_for_test

MONDAY = date(2025, 3, 10)


def ms(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp() * 1000)


def eur(amount: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount, currency="EUR")


class Feed:
    def __init__(self, store: ProjectionStore) -> None:
        self.sink = ProjectionSink(store, consumer_handlers())
        self.position = 0

    def __call__(self, *messages: Message, at: str = "2025-03-10T12:00:00+00:00") -> None:
        deliveries = []
        for m in messages:
            self.position += 1
            deliveries.append(
                Delivery(
                    self.position,
                    ReceivedEvent(
                        event_type=m.DESCRIPTOR.full_name,
                        message=m,
                        subject="x",
                        store_id="s001",
                        occurred_at=at,
                        msg_id="x",
                        headers={},
                    ),
                )
            )
        self.sink.apply("any.p0", deliveries)


def sale(store: str, moment: datetime, total: int, items: int = 1) -> Message:
    return checkout_pb2.SaleCompleted(
        sale_id=f"{store}-{moment.isoformat()}-{total}",
        store_id=store,
        completed_at_ms=ms(moment),
        total=eur(total),
        lines=[common_pb2.SaleLine(sku="A", quantity=items, line_total=eur(total))],
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ProjectionStore]:
    s = ProjectionStore.from_settings(settings_for_test(tmp_path))
    yield s
    s.dispose()


@pytest.fixture
def feed(store: ProjectionStore) -> Feed:
    return Feed(store)


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour)


def test_period_over_period_and_moving_average(store: ProjectionStore, feed: Feed) -> None:
    # Four Mondays: 1000, 1000, 2000 (last week), 3000 (today); one sale on Sunday.
    for weeks_back, total in ((3, 1000), (2, 1000), (1, 2000), (0, 3000)):
        feed(sale("s001", at(MONDAY - timedelta(weeks=weeks_back)), total))
    feed(sale("s001", at(MONDAY - timedelta(days=1)), 700))
    (trend,) = Reports(store).trend("s001", MONDAY)
    assert (trend.day_total_minor, trend.same_weekday_last_week_minor) == (3000, 2000)
    assert trend.day_change_bp == 5000  # +50 %
    # Week (Monday only so far) against the previous week's Monday.
    assert (trend.week_total_minor, trend.previous_week_total_minor) == (3000, 2000)
    assert trend.week_change_bp == 5000
    moving = dict(trend.moving_average_minor)
    assert moving[MONDAY] == (3000 + 700) // 7
    assert moving[MONDAY - timedelta(days=1)] == (700 + 2000) // 7


def test_forecast_method() -> None:
    target = MONDAY
    history = {target - timedelta(weeks=w): v for w, v in ((1, 1200), (2, 1000), (3, 800))}
    # Same-weekday mean 1000; last 7 days hold 1200, the 7 before 1000: x1.2.
    assert forecast(history, target, weeks=4) == 1200
    # No same weekday in the window: nothing to base a forecast on.
    assert forecast({}, target) == 0
    # A huge jump is clamped to x2.
    jump = {**history, target - timedelta(days=2): 100_000}
    assert forecast(jump, target) == 2000
    assert moving_average({MONDAY: 70}, MONDAY, 7) == 10


def test_anomaly_when_an_hour_is_far_below_its_usual(store: ProjectionStore, feed: Feed) -> None:
    for weeks_back in (1, 2, 3):
        day = MONDAY - timedelta(weeks=weeks_back)
        feed(sale("s001", at(day, 9), 1000), sale("s001", at(day, 10), 1000))
    feed(sale("s001", at(MONDAY, 9), 900), sale("s001", at(MONDAY, 10), 100))
    found = Reports(store).anomalies(MONDAY, until=at(MONDAY, 12))
    assert [(a.store_id, a.hour, a.total_minor, a.usual_minor) for a in found] == [
        ("s001", at(MONDAY, 10), 100, 1000)
    ]
    # Hours not over yet are not judged.
    assert (
        Reports(store).anomalies(
            MONDAY,
            until=at(
                MONDAY,
                10,
            ),
        )
        == []
    )


def test_refund_void_rates(store: ProjectionStore, feed: Feed) -> None:
    feed(*(sale("s001", at(MONDAY), 1000) for _ in range(3)))
    feed(
        checkout_pb2.ReturnCompleted(
            return_id="r1", store_id="s001", total=eur(500), completed_at_ms=ms(at(MONDAY))
        ),
        checkout_pb2.SaleVoided(
            sale_id="v1",
            store_id="s001",
            voided_at_ms=ms(at(MONDAY)),
            tenders=[common_pb2.SaleTender(kind="cash", amount=eur(50))],
        ),
        payments_pb2.PaymentRefunded(payment_id="p1", store_id="s001", amount=eur(500)),
    )
    (rate,) = Reports(store).refund_void_rates(MONDAY, MONDAY)
    assert (rate.sales_count, rate.sales_minor, rate.returns_minor, rate.refunds_minor) == (
        3,
        3000,
        500,
        500,
    )
    assert rate.return_rate_bp == 1667 and rate.void_rate_bp == 2500
    assert rate.currency == "EUR" and rate.voids_minor == 50


def test_alerts_and_chain_overview(store: ProjectionStore, feed: Feed) -> None:
    feed(sale("s001", at(MONDAY), 1000, items=3), sale("s002", at(MONDAY), 500))
    feed(
        edge_pb2.StoreWentOffline(store_id="s002", at_ms=ms(at(MONDAY))),
        edge_pb2.DeviceStatus(
            store_id="s001", device_id="printer-1", kind="printer", status="paper_out"
        ),
        inventory_pb2.StockLow(store_id="s001", sku="A", on_hand=2, reorder_point=5),
        inventory_pb2.StockChanged(store_id="s001", sku="B", delta=-1, on_hand=0),
        payments_pb2.PaymentFlagged(
            payment_id="p9",
            store_id="s001",
            rule="velocity",
            action="decline",
            reason="5 in a minute",
            amount=eur(9000),
        ),
    )
    reports = Reports(store)
    kinds = {(a.kind, a.store_id, a.subject) for a in reports.alerts(MONDAY)}
    assert kinds == {
        ("store_offline", "s002", "s002"),
        ("device", "s001", "printer-1"),
        ("low_stock", "s001", "A"),
        ("stock_out", "s001", "B"),
        ("flagged_payment", "s001", "p9"),
    }
    overview = reports.chain_overview(MONDAY, MONDAY)
    assert [(t.currency, t.sales_count, t.total_minor) for t in overview.totals] == [
        ("EUR", 2, 1500)
    ]
    assert [(s.store_id, s.online, s.average_basket_minor) for s in overview.stores] == [
        ("s001", True, 1000),
        ("s002", False, 500),
    ]
    # The offline store comes back with a backlog.
    feed(edge_pb2.StoreCameOnline(store_id="s002", at_ms=ms(at(MONDAY, 11)), offline_sales=4))
    (health,) = reports.store_health("s002")
    assert (health.online, health.offline_sales) == (True, 4)


def test_csv_export_of_any_report(store: ProjectionStore, feed: Feed) -> None:
    feed(sale("s001", at(MONDAY), 1234, items=2))
    reports = Reports(store)
    for name in REPORTS:  # every report runs and exports
        out = io.StringIO()
        write_csv(run_report(reports, name, MONDAY, MONDAY), out)
    out = io.StringIO()
    assert write_csv(run_report(reports, "sales-day", MONDAY, MONDAY, "s001"), out) == 1
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows == [
        {
            "period_start": "2025-03-10T00:00:00",
            "store_id": "s001",
            "currency": "EUR",
            "sales_count": "1",
            "total_minor": "1234",
            "items_sold": "2",
        }
    ]


def test_bad_report_requests(store: ProjectionStore) -> None:
    reports = Reports(store)
    with pytest.raises(ReportError, match="unknown report"):
        run_report(reports, "nope", MONDAY, MONDAY)
    with pytest.raises(ReportError, match="before start"):
        reports.sales_summary(MONDAY, MONDAY - timedelta(days=1))
    with pytest.raises(ReportError, match="grouping"):
        reports.sales_summary(MONDAY, MONDAY, grouping="month")
