"""The HQ dashboard's server: JSON equal to the projections, filters, CSV, live events.

A real projection store (SQLite in tmp) is filled through the projection sink, and the real
dashboard server answers over a socket.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from analytics.application import ProjectionSink, ProjectionStore
from analytics.bus import consumer_handlers
from analytics.dashboard.app import STATIC
from analytics.dashboard.live import LiveFeed, NotifyingSink
from analytics.dashboard.queries import Filters, RangeError, average_minor
from analytics.dashboard.server import Dashboard, DashboardError, dashboard_for
from analytics.domainmodel import BASKET_CAP
from analytics.main import build
from tillstream.codec import ReceivedEvent
from tillstream.consumer import Delivery
from tillstream.events.v1 import checkout_pb2, common_pb2, payments_pb2
from tillstream.testing import test_settings as settings_for_test

DAY1 = date(2025, 3, 3)
DAY2 = date(2025, 3, 4)


def _ms(day: date, hour: int = 12) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp() * 1000)


def sale(position: int, store_id: str, total: int, day: date, qty: int = 1, cur: str = "EUR"):
    message = checkout_pb2.SaleCompleted(
        sale_id=f"sale-{position}",
        store_id=store_id,
        lines=[
            common_pb2.SaleLine(
                sku="A",
                quantity=qty,
                line_total=common_pb2.Money(amount_minor=total, currency=cur),
            )
        ],
        total=common_pb2.Money(amount_minor=total, currency=cur),
        completed_at_ms=_ms(day),
    )
    return Delivery(position, _received(message, store_id, day))


def payment(position: int, store_id: str, tender: str, total: int, day: date) -> Delivery:
    message = payments_pb2.PaymentCaptured(
        payment_id=f"p-{position}",
        sale_id=f"sale-{position}",
        store_id=store_id,
        tender=tender,
        amount=common_pb2.Money(amount_minor=total, currency="EUR"),
    )
    return Delivery(position, _received(message, store_id, day))


def _received(message: Any, store_id: str, day: date) -> ReceivedEvent:
    return ReceivedEvent(
        event_type=message.DESCRIPTOR.full_name,
        message=message,
        subject="x",
        store_id=store_id,
        occurred_at=f"{day.isoformat()}T12:00:00+00:00",
        msg_id="x",
        headers={},
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ProjectionStore]:
    store = ProjectionStore.from_settings(settings_for_test(tmp_path))
    sink = ProjectionSink(store, consumer_handlers())
    sink.apply(
        "checkout.p0",
        [
            sale(1, "s001", 1250, DAY1, qty=2),
            sale(2, "s001", 749, DAY1),
            sale(3, "s002", 10000, DAY1, qty=5),
            sale(4, "s002", 500, DAY2),
            sale(5, "s003", 1200, DAY1, cur="JPY"),
        ],
    )
    sink.apply(
        "payments.p0",
        [
            payment(1, "s001", "card", 1250, DAY1),
            payment(2, "s001", "cash", 749, DAY1),
            payment(3, "s002", "card", 10000, DAY1),
        ],
    )
    yield store
    store.dispose()


@pytest.fixture
def dashboard(store: ProjectionStore) -> Iterator[Dashboard]:
    dashboard = Dashboard(store.engine, host="127.0.0.1", port=0).start()
    yield dashboard
    dashboard.close()


@pytest.fixture
def client(dashboard: Dashboard) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dashboard.server.url, timeout=5) as client:
        yield client


def test_average_basket_is_rounded_half_up_in_integers() -> None:
    assert average_minor(1999, 2) == 1000  # 999.5 -> 1000
    assert average_minor(1001, 3) == 334
    assert average_minor(0, 0) == 0


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [(DAY2, DAY1, "after"), (date(2024, 1, 1), date(2025, 6, 1), "at most")],
)
def test_filters_refuse_bad_ranges(start: date, end: date, message: str) -> None:
    with pytest.raises(RangeError, match=message):
        Filters.of(start, end, None, DAY1)


def test_filters_default_to_today() -> None:
    assert Filters.of(None, None, "", DAY2) == Filters(DAY2, DAY2, None)


def test_overview_equals_the_projection(client: httpx.Client, store: ProjectionStore) -> None:
    body = client.get("/api/overview", params={"start": "2025-03-03", "end": "2025-03-04"}).json()
    rows = store.sales_totals()
    for currency in ("EUR", "JPY"):
        mine = [r for r in rows if r["currency"] == currency]
        total = next(t for t in body["totals"] if t["currency"] == currency)
        assert total["total_minor"] == sum(r["total_minor"] for r in mine)
        assert total["sales_count"] == sum(r["sales_count"] for r in mine)
        assert total["items_sold"] == sum(r["items_sold"] for r in mine)
    eur = next(t for t in body["totals"] if t["currency"] == "EUR")
    assert eur == {
        "currency": "EUR",
        "sales_count": 4,
        "total_minor": 12499,
        "items_sold": 9,
        "average_basket_minor": 3125,  # 3124.75 rounded half up
    }
    s001 = next(s for s in body["stores"] if s["store_id"] == "s001")
    assert (s001["total_minor"], s001["sales_count"], s001["average_basket_minor"]) == (
        1999,
        2,
        1000,
    )


def test_filters_by_day_and_store(client: httpx.Client) -> None:
    one_day = client.get("/api/overview", params={"start": "2025-03-04"}).json()
    assert one_day["filters"] == {"start": "2025-03-04", "end": "2025-03-04", "store_id": None}
    assert one_day["totals"] == [
        {
            "currency": "EUR",
            "sales_count": 1,
            "total_minor": 500,
            "items_sold": 1,
            "average_basket_minor": 500,
        }
    ]
    one_store = client.get(
        "/api/overview", params={"start": "2025-03-03", "end": "2025-03-04", "store_id": "s002"}
    ).json()
    assert [s["store_id"] for s in one_store["stores"]] == ["s002"]
    assert one_store["totals"][0]["total_minor"] == 10500


def test_store_drill_down(client: httpx.Client) -> None:
    body = client.get("/api/stores/s001", params={"start": "2025-03-03"}).json()
    assert body["overview"]["totals"][0]["total_minor"] == 1999
    assert [(r["tender"], r["total_minor"]) for r in body["payment_mix"]["rows"]] == [
        ("card", 1250),
        ("cash", 749),
    ]
    missing = client.get("/api/stores/s999", params={"start": "2025-03-03"})
    assert missing.status_code == 404 and "s999" in missing.json()["detail"]


def test_payment_mix_equals_the_projection(client: httpx.Client, store: ProjectionStore) -> None:
    body = client.get("/api/payment-mix", params={"start": "2025-03-03"}).json()
    assert [(r["tender"], r["count"], r["total_minor"]) for r in body["rows"]] == [
        ("card", 2, 11250),
        ("cash", 1, 749),
    ]
    assert sum(r["total_minor"] for r in body["rows"]) == sum(
        r["total_minor"] for r in store.payment_mix()
    )


def test_top_products_equal_the_product_projection(client: httpx.Client) -> None:
    body = client.get("/api/top-products", params={"start": "2025-03-03", "limit": 5}).json()
    # Every test sale sold sku A: its quantities and revenue per currency.
    assert [(r["sku"], r["currency"], r["quantity"], r["revenue_minor"]) for r in body["rows"]] == [
        ("A", "EUR", 8, 11999),
        ("A", "JPY", 1, 1200),
    ]
    assert client.get("/api/top-products", params={"limit": 0}).status_code == 422


def put_rows(store: ProjectionStore, table: str, rows: list[dict[str, Any]]) -> None:
    """Rows as the projection writes them (state tables: stock levels, store links)."""
    with store.engine.begin() as conn:
        conn.execute(store.tables(conn)[table].insert(), rows)


def test_alerts_show_offline_stores_and_low_stock(
    client: httpx.Client, store: ProjectionStore
) -> None:
    put_rows(
        store,
        "store_status",
        [
            {
                "store_id": "s002",
                "online": False,
                "changed_at_ms": _ms(DAY1, 9),
                "offline_sales": 0,
                "offline_duration_ms": 0,
            },
        ],
    )
    put_rows(
        store,
        "stock_levels",
        [
            {"store_id": "s001", "sku": "MILK", "on_hand": 2, "reorder_point": 5},
            {"store_id": "s001", "sku": "EGGS", "on_hand": 0, "reorder_point": 5},
            {"store_id": "s002", "sku": "BREAD", "on_hand": 50, "reorder_point": 5},
        ],
    )
    body = client.get("/api/alerts", params={"start": "2025-03-03"}).json()
    assert [(a["kind"], a["store_id"], a["subject"], a["severity"]) for a in body["rows"]] == [
        ("stock_out", "s001", "EGGS", "critical"),
        ("store_offline", "s002", "s002", "critical"),
        ("low_stock", "s001", "MILK", "warning"),
    ]
    one = client.get("/api/alerts", params={"start": "2025-03-03", "store_id": "s002"}).json()
    assert [a["kind"] for a in one["rows"]] == ["store_offline"]
    overview = client.get("/api/overview", params={"start": "2025-03-03"}).json()
    assert {s["store_id"]: s["online"] for s in overview["stores"]} == {
        "s001": True,
        "s002": False,
        "s003": True,
    }


def test_trend_compares_with_last_week(client: httpx.Client) -> None:
    body = client.get("/api/trend", params={"start": "2025-03-04"}).json()
    eur = next(r for r in body["rows"] if r["currency"] == "EUR")
    assert (eur["day"], eur["day_total_minor"], eur["day_change_bp"]) == ("2025-03-04", 500, None)
    assert eur["week_total_minor"] == 11999 + 500 - 1999 - 10000 + 11999  # Mon 3 + Tue 4
    assert eur["forecast_day"] == "2025-03-05"


def test_dashboard_reads_neither_block_nor_write(
    dashboard: Dashboard, store: ProjectionStore
) -> None:
    """WAL: a dashboard read transaction in progress does not hold the writer back (with a
    rollback journal the commit would wait for it), and its connections cannot write."""
    engine = dashboard.queries.engine
    assert engine is not store.engine
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        table = store.tables(conn)["sales_by_store_day"].name
        with pytest.raises(OperationalError, match="readonly"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        count = f"SELECT sum(sales_count) FROM {table}"
        cursor.execute("BEGIN")  # a read transaction, held open like a slow report
        before = cursor.execute(count).fetchone()[0]
        started = time.monotonic()
        ProjectionSink(store, consumer_handlers()).apply(
            "checkout.p9", [sale(1, "s001", 100, DAY1)]
        )
        assert time.monotonic() - started < 2  # not the 10 s busy timeout
        assert cursor.execute(count).fetchone()[0] == before  # its snapshot
        cursor.execute("COMMIT")
        assert cursor.execute(count).fetchone()[0] == before + 1
    finally:
        raw.close()


def test_series_by_hour_day_and_week(client: httpx.Client) -> None:
    hours = client.get("/api/series", params={"start": "2025-03-03", "store_id": "s001"}).json()
    assert hours["grouping"] == "hour" and len(hours["periods"]) == 24
    noon = [p for p in hours["points"] if p["total_minor"]]
    assert noon == [
        {
            "period": "2025-03-03T12:00:00",
            "currency": "EUR",
            "sales_count": 2,
            "total_minor": 1999,
            "items_sold": 3,
        }
    ]
    days = client.get("/api/series", params={"start": "2025-03-02", "end": "2025-03-05"}).json()
    assert days["grouping"] == "day" and len(days["periods"]) == 4
    eur = {p["period"][:10]: p["total_minor"] for p in days["points"] if p["currency"] == "EUR"}
    assert eur == {"2025-03-02": 0, "2025-03-03": 11999, "2025-03-04": 500, "2025-03-05": 0}
    weeks = client.get("/api/series", params={"start": "2025-01-01", "end": "2025-03-31"}).json()
    assert weeks["grouping"] == "week"
    assert [(p["period"], p["currency"], p["total_minor"]) for p in weeks["points"]] == [
        ("2025-03-03T00:00:00", "EUR", 12499),
        ("2025-03-03T00:00:00", "JPY", 1200),
    ]


def test_details_for_the_drill_down(client: httpx.Client) -> None:
    body = client.get("/api/details", params={"start": "2025-03-03", "store_id": "s001"}).json()
    assert set(body) == {
        "filters",
        "refunds_voids",
        "cash_variances",
        "basket_sizes",
        "discounts",
        "loyalty",
    }
    [rates] = body["refunds_voids"]
    assert (rates["store_id"], rates["sales_count"], rates["sales_minor"]) == ("s001", 2, 1999)
    assert [(b["items"], b["sales_count"]) for b in body["basket_sizes"]] == [(1, 1), (2, 1)]


def test_every_csv_link_of_the_page_answers(client: httpx.Client) -> None:
    script = (STATIC / "dashboard.js").read_text()
    linked = re.findall(r"/api/export/([a-z-]+)\.csv", script)
    assert len(linked) >= 8
    for report in linked:
        response = client.get(f"/api/export/{report}.csv", params={"start": "2025-03-03"})
        assert response.status_code == 200, report
        assert response.headers["content-type"].startswith("text/csv")


def test_the_page_knows_the_basket_cap() -> None:
    """The basket chart labels the projection's top bucket "N+": the page states N."""
    assert f'data-cap="{BASKET_CAP}"' in (STATIC / "index.html").read_text()


def test_stores_list(client: httpx.Client) -> None:
    body = client.get("/api/stores").json()
    assert body["stores"] == ["s001", "s002", "s003"]
    assert date.fromisoformat(body["today"]) == datetime.now(UTC).date()


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"start": "2025-03-04", "end": "2025-03-03"}, "after"),
        ({"start": "yesterday"}, "date"),
        ({"store_id": "s001; DROP TABLE"}, "pattern"),
    ],
)
def test_bad_filters_get_a_clear_422(
    client: httpx.Client, params: dict[str, str], fragment: str
) -> None:
    response = client.get("/api/overview", params=params)
    assert response.status_code == 422
    assert fragment in response.text


def test_csv_export(client: httpx.Client) -> None:
    response = client.get("/api/export/stores.csv", params={"start": "2025-03-03"})
    assert response.headers["content-type"].startswith("text/csv")
    assert "stores_2025-03-03_2025-03-03.csv" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["store_id"], r["currency"], r["total_minor"]) for r in rows] == [
        ("s001", "EUR", "1999"),
        ("s002", "EUR", "10000"),
        ("s003", "JPY", "1200"),
    ]
    mix = client.get("/api/export/payment-mix.csv", params={"start": "2025-03-03"})
    assert mix.text.splitlines()[0] == "tender,scheme,currency,count,total_minor,share_bp"
    assert client.get("/api/export/secrets.csv").status_code == 404


def test_page_and_vendored_chart_library_are_served(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and '<html lang="en">' in page.text
    links = re.findall(r'(?:src|href)="([^"]*)"', page.text)
    assert "/static/vendor/chart.umd.js" in links
    assert all(link.startswith(("/", "#")) for link in links), "nothing from another host"
    chart = client.get("/static/vendor/chart.umd.js")
    assert chart.status_code == 200 and "Chart.js v4." in chart.text[:200]
    assert client.get("/static/dashboard.js").status_code == 200


async def test_live_feed_carries_notifications_across_threads() -> None:
    feed = LiveFeed()
    stream = feed.stream(heartbeat_s=0.05)
    assert (await anext(stream)).startswith("event: hello")
    assert feed.listeners == 1
    threading.Thread(target=feed.notify, args=({"events": 3},)).start()
    message = await asyncio.wait_for(anext(stream), 5)
    while message.startswith(":"):  # keep-alives while the thread starts
        message = await asyncio.wait_for(anext(stream), 5)
    assert message.startswith("event: changed\n") and '"events":3' in message
    feed.close()
    with pytest.raises(StopAsyncIteration):
        while True:
            await asyncio.wait_for(anext(stream), 5)
    assert feed.listeners == 0


class RecordingFeed(LiveFeed):
    """A live feed that records what it is told, and what the store holds at that moment."""

    def __init__(self, store: ProjectionStore) -> None:
        super().__init__()
        self.store = store
        self.heard: list[tuple[Any, str, list[dict[str, Any]]]] = []

    def notify(self, detail: Any = None, event_name: str = "changed") -> None:
        self.heard.append((detail, event_name, self.store.sales_totals("s009")))


def test_notifying_sink_notifies_after_the_commit(store: ProjectionStore) -> None:
    feed = RecordingFeed(store)
    sink = NotifyingSink(ProjectionSink(store, consumer_handlers()), feed)
    sink.apply("checkout.p1", [sale(1, "s009", 100, DAY1)])
    [(detail, name, rows)] = feed.heard
    assert (detail, name) == ({"upstream": "checkout.p1", "events": 1}, "changed")
    assert rows[0]["sales_count"] == 1  # the listener already reads the committed row
    assert sink.position("checkout.p1") == 1


def test_sales_listener_sends_the_committed_sales(store: ProjectionStore) -> None:
    feed = RecordingFeed(store)
    store.add_listener(feed.sales_committed)
    ProjectionSink(store, consumer_handlers()).apply("checkout.p2", [sale(7, "s005", 321, DAY2)])
    [(sales, name, _)] = feed.heard
    assert name == "sales"
    assert [(s["sale_id"], s["store_id"], s["total_minor"], s["currency"]) for s in sales] == [
        ("sale-7", "s005", 321, "EUR")
    ]


def test_events_endpoint_streams_server_sent_events(dashboard: Dashboard) -> None:
    with (
        httpx.Client(base_url=dashboard.server.url, timeout=5) as client,
        client.stream("GET", "/api/events") as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert next(lines) == "event: hello"
        dashboard.feed.sales_committed([{"sale_id": "sale-9"}])
        assert [next(lines) for _ in range(3)] == ['data: {"seq":0}', "", "event: sales"]
        assert '"detail":[{"sale_id":"sale-9"}]' in next(lines)


def test_a_taken_port_is_a_loud_error_not_a_dead_service(
    store: ProjectionStore, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(DashboardError, match="cannot listen"):
            Dashboard(store.engine, host="127.0.0.1", port=port).server.start()
        dashboard = Dashboard(store.engine, host="127.0.0.1", port=port).start()
        assert not dashboard.running
        assert "runs without its dashboard" in caplog.text and str(port) in caplog.text
        dashboard.close()


def test_port_zero_turns_the_dashboard_off(tmp_path: Path) -> None:
    settings = settings_for_test(tmp_path)
    assert settings.dashboard_port == 0
    assert dashboard_for(settings, ProjectionStore.from_settings(settings).engine) is None


def test_the_service_serves_the_dashboard(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    definition = build(settings_for_test(tmp_path, dashboard_port=port))
    try:
        assert all(
            isinstance(s.sink, NotifyingSink)  # type: ignore[union-attr]
            for s in definition.subscriptions.values()
        )
        response = httpx.get(f"http://127.0.0.1:{port}/api/overview", timeout=5)
        assert response.status_code == 200 and response.json()["totals"] == []
    finally:
        assert definition.close is not None
        definition.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
