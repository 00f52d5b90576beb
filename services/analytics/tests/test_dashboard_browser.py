"""The HQ dashboard in headless Chromium, against the real analytics service.

A real nats-server, the analytics service host (SQLite in tmp) with its dashboard on a free
port, completed sales published on the CHECKOUT stream as checkout's relay would. The page's
numbers must equal the projection's, and a sale published while the page is open must appear
without a reload. The test saves a screenshot (pytest tmp dir, and TILLSTREAM_SCREENSHOT_DIR).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import nats as nats_py
import pytest

from analytics.main import build
from tillstream.bus import wait_for
from tillstream.codec import IntegrationEvent
from tillstream.events.v1 import checkout_pb2, common_pb2, edge_pb2, inventory_pb2, payments_pb2
from tillstream.natsserver import NatsServer
from tillstream.service import ServiceHost
from tillstream.testing import test_settings as settings_for_test

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

pytestmark = pytest.mark.skipif(
    not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)),
    reason=f"headless browser test needs {CHROMIUM} and {CHROMEDRIVER} (Debian chromium, "
    "chromium-driver)",
)

T = TypeVar("T")
_ids = itertools.count(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def euros(minor: int) -> str:
    """How an en-locale browser writes an EUR amount: integer arithmetic, no floats."""
    return f"€{minor // 100:,}.{minor % 100:02d}"


@pytest.fixture
def driver() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1360,2000",
        "--lang=en-US",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(20)
    try:
        yield browser
    finally:
        browser.quit()


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Selenium blocks: it runs off the loop that the service under test runs on."""
    return await asyncio.to_thread(fn, *args)


async def publish_sale(
    js: Any, store_id: str, lines: list[tuple[str, int, int]], tender: str = "card"
) -> int:
    """One completed sale (lines of sku, quantity, unit price in cents) and its captured
    payment, as checkout and payments publish them; returns the sale's total."""
    n = next(_ids)
    now = datetime.now(UTC)
    total = sum(qty * unit for _, qty, unit in lines)
    sale = checkout_pb2.SaleCompleted(
        sale_id=f"sale-{n}",
        store_id=store_id,
        lines=[
            common_pb2.SaleLine(
                line_no=i,
                sku=sku,
                quantity=qty,
                unit_price=common_pb2.Money(amount_minor=unit, currency="EUR"),
                line_total=common_pb2.Money(amount_minor=qty * unit, currency="EUR"),
            )
            for i, (sku, qty, unit) in enumerate(lines, 1)
        ],
        total=common_pb2.Money(amount_minor=total, currency="EUR"),
        completed_at_ms=int(now.timestamp() * 1000),
    )
    paid = payments_pb2.PaymentCaptured(
        payment_id=f"pay-{n}",
        sale_id=f"sale-{n}",
        store_id=store_id,
        tender=tender,
        amount=common_pb2.Money(amount_minor=total, currency="EUR"),
    )
    for subject, message, msg_id in (
        (f"checkout.{store_id}.sale.completed", sale, f"checkout:{n}"),
        (f"payments.{store_id}.payment.captured", paid, f"payments:{n}"),
    ):
        event = IntegrationEvent(subject, message, store_id, now)
        await js.publish(subject, event.payload(), headers=event.headers(msg_id))
    return total


async def publish(js: Any, subject: str, store_id: str, message: Any) -> None:
    """Another upstream's event, as its relay (or the store's stream) publishes it."""
    event = IntegrationEvent(subject, message, store_id, datetime.now(UTC))
    msg_id = f"{subject.split('.')[0]}:{next(_ids)}"
    await js.publish(subject, event.payload(), headers=event.headers(msg_id))


async def projected_totals(nc: Any, today: str) -> dict[str, Any] | None:
    """Today's EUR totals per store from the service's own report command."""
    try:
        reply = await nc.request(
            "cmd.analytics.hq.sales_totals", json.dumps({"day": today}).encode(), 5
        )
    except Exception:  # no responder yet: the service is still starting
        return None
    rows = [r for r in json.loads(reply.data).get("rows", []) if r["currency"] == "EUR"]
    return {r["store_id"]: r for r in rows}


def page_numbers(browser: Any) -> dict[str, Any]:
    """The KPI cards and store rows as the page shows them (text and machine values)."""
    return browser.execute_script(
        """
        const line = (id) => document.querySelector(`#${id} .line`);
        const kpi = (id) => line(id) ? {text: line(id).textContent, ...line(id).dataset} : null;
        return {
          loaded: Number(document.body.dataset.loaded || 0),
          marker: window.__sameDocument === true,
          total: kpi('kpi-total'), count: kpi('kpi-count'),
          average: kpi('kpi-average'), items: kpi('kpi-items'),
          stores: [...document.querySelectorAll('#stores-table tbody tr')].map((tr) => ({
            store: tr.dataset.store, total_minor: Number(tr.dataset.totalMinor),
            cells: [...tr.cells].map((c) => c.textContent)})),
          live: document.getElementById('live-text').textContent,
        };
        """
    )


def wait_until(browser: Any, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15):
    deadline = time.monotonic() + timeout
    numbers = page_numbers(browser)
    while not predicate(numbers):
        if time.monotonic() > deadline:
            return numbers
        time.sleep(0.1)
        numbers = page_numbers(browser)
    return numbers


def poll(browser: Any, script: str, predicate: Callable[[Any], bool], timeout: float = 15) -> Any:
    """Run `script` in the page until its result satisfies `predicate` (or time runs out)."""
    deadline = time.monotonic() + timeout
    value = browser.execute_script(script)
    while not predicate(value) and time.monotonic() < deadline:
        time.sleep(0.1)
        value = browser.execute_script(script)
    return value


def expected_kpis(rows: dict[str, Any]) -> dict[str, Any]:
    total = sum(r["total_minor"] for r in rows.values())
    count = sum(r["sales_count"] for r in rows.values())
    return {
        "total": total,
        "count": count,
        "items": sum(r["items_sold"] for r in rows.values()),
        "average": (2 * total + count) // (2 * count),
    }


def assert_page_matches(numbers: dict[str, Any], rows: dict[str, Any]) -> None:
    want = expected_kpis(rows)
    assert int(numbers["total"]["minor"]) == want["total"]
    assert numbers["total"]["text"] == euros(want["total"])
    assert numbers["count"]["text"] == f"{want['count']:,}"
    assert numbers["items"]["text"] == f"{want['items']:,}"
    assert numbers["average"]["text"] == euros(want["average"])
    assert {s["store"]: s["total_minor"] for s in numbers["stores"]} == {
        store_id: r["total_minor"] for store_id, r in rows.items()
    }
    for shown in numbers["stores"]:
        row = rows[shown["store"]]
        assert shown["cells"][1] == "Online"
        assert shown["cells"][2] == euros(row["total_minor"])
        assert shown["cells"][3] == str(row["sales_count"])


async def test_dashboard_live_in_chromium(tmp_path: Path, nats: NatsServer, driver: Any) -> None:
    port = free_port()
    settings = settings_for_test(tmp_path, dashboard_port=port)
    stop = asyncio.Event()
    host = ServiceHost(build(settings), settings, nats.url)
    task = asyncio.create_task(host.run(stop))
    nc = await nats_py.connect(nats.url)
    today = datetime.now(UTC).date().isoformat()
    try:
        js = nc.jetstream()
        assert await wait_for(lambda: projected_totals(nc, today)) is not None
        assert host.nc is not None
        host.nc.options["drain_timeout"] = 1  # see test_analytics_main: kit drain workaround
        await publish_sale(js, "s001", [("COFFEE", 2, 320), ("CROISSANT", 1, 605)])
        await publish_sale(js, "s001", [("SANDWICH", 1, 699)], tender="cash")
        await publish_sale(js, "s002", [("TV-55", 1, 126_900), ("HDMI", 3, 1_000)])

        async def three_sales() -> Any:
            rows = await projected_totals(nc, today)
            return rows if rows and sum(r["sales_count"] for r in rows.values()) == 3 else None

        rows = await wait_for(three_sales)
        assert rows, "the three sales are projected"

        await in_thread(driver.get, f"http://127.0.0.1:{port}/")
        numbers = await in_thread(
            wait_until, driver, lambda n: n["loaded"] >= 1 and n["total"] is not None
        )
        assert_page_matches(numbers, rows)
        assert numbers["total"]["text"] == "€1,318.44"  # 12.45 + 6.99 + 1,299.00

        # Live: a new sale at a new store appears without a reload.
        await in_thread(driver.execute_script, "window.__sameDocument = true;")
        numbers = await in_thread(wait_until, driver, lambda n: n["live"] == "Live")
        assert numbers["live"] == "Live", "the page subscribed to server-sent events"
        await publish_sale(js, "s003", [("FLOWERS", 1, 1_850)])

        async def four_sales() -> Any:
            rows = await projected_totals(nc, today)
            return rows if rows and sum(r["sales_count"] for r in rows.values()) == 4 else None

        rows = await wait_for(four_sales)
        assert rows, "the fourth sale is projected"
        numbers = await in_thread(
            wait_until, driver, lambda n: any(s["store"] == "s003" for s in n["stores"])
        )
        assert numbers["marker"], "updated in place, not reloaded"
        assert_page_matches(numbers, rows)
        assert numbers["total"]["text"] == "€1,336.94"

        feed = await in_thread(
            driver.execute_script,
            "return [...document.querySelectorAll('#sales-feed li')].map((li) => li.textContent);",
        )
        assert any("s003" in item and "€18.50" in item for item in feed), feed
        products = await in_thread(
            driver.execute_script,
            "return [...document.querySelectorAll('#products-table tbody tr')]"
            ".map((tr) => [tr.dataset.sku, Number(tr.dataset.quantity)]);",
        )
        assert products[:2] == [["HDMI", 3], ["COFFEE", 2]]
        assert sorted(products[2:]) == [
            ["CROISSANT", 1],
            ["FLOWERS", 1],
            ["SANDWICH", 1],
            ["TV-55", 1],
        ]
        # The payment arrives on its own stream: its "changed" event refreshes the mix.
        want_mix = [["card", 132_995], ["cash", 699]]
        mix = await in_thread(
            poll,
            driver,
            "return [...document.querySelectorAll('#mix-table tbody tr')]"
            ".map((tr) => [tr.dataset.tender, Number(tr.dataset.totalMinor)]);",
            lambda rows: rows == want_mix,
        )
        assert mix == want_mix
        assert await in_thread(driver.execute_script, "return window.__sameDocument === true;")

        # Drill down into one store, then back to the chain.
        await in_thread(
            driver.execute_script,
            "document.querySelector('#stores-table tr[data-store=s001] button').click();",
        )
        store_view = await in_thread(
            poll,
            driver,
            "return [document.getElementById('scope-title').textContent,"
            " document.querySelector('#kpi-total .line').dataset.minor,"
            " document.querySelectorAll('#stores-table tbody tr').length,"
            " document.getElementById('store').value];",
            lambda v: v[0] == "Store s001" and v[2] == 1,
        )
        assert store_view == ["Store s001", str(rows["s001"]["total_minor"]), 1, "s001"]
        await in_thread(driver.execute_script, "document.getElementById('today').click();")
        numbers = await in_thread(wait_until, driver, lambda n: len(n["stores"]) == 3)
        assert_page_matches(numbers, rows)

        # Alerts: a store's link drops, an item runs low; both show up without a reload.
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        await publish(
            js,
            "edge.s002.store.offline",
            "s002",
            edge_pb2.StoreWentOffline(store_id="s002", at_ms=now_ms, reason="timeout"),
        )
        await publish(
            js,
            "inventory.s001.stock.low",
            "s001",
            inventory_pb2.StockLow(store_id="s001", sku="CROISSANT", on_hand=2, reorder_point=10),
        )
        eur = lambda minor: common_pb2.Money(amount_minor=minor, currency="EUR")  # noqa: E731
        await publish(
            js,
            "checkout.s001.shift.closed",
            "s001",
            checkout_pb2.ShiftClosed(
                shift_id="shift-1",
                store_id="s001",
                lane_id="lane-2",
                cashier_id="c-17",
                expected=eur(10_699),
                counted=eur(10_199),
                variance=eur(-500),
                closed_at_ms=now_ms,
            ),
        )
        cash = await in_thread(
            poll,
            driver,
            "return [...document.querySelectorAll('#cash-table tbody td')]"
            ".map((td) => td.textContent);",
            lambda cells: len(cells) == 4,
        )
        assert cash == ["s001 lane-2cashier c-17", "€106.99", "€101.99", "-€5.00"]
        alerts = await in_thread(
            poll,
            driver,
            "return [...document.querySelectorAll('#alerts-list li')]"
            ".map((li) => [li.dataset.kind, li.dataset.store]);",
            lambda rows: len(rows) == 2,
        )
        assert alerts == [["store_offline", "s002"], ["low_stock", "s001"]]
        link = await in_thread(
            poll,
            driver,
            "return document.querySelector('#stores-table tr[data-store=s002] .pill').textContent;",
            lambda text: text == "Offline",
        )
        assert link == "Offline"
        assert await in_thread(driver.execute_script, "return window.__sameDocument === true;")

        title = await in_thread(
            driver.execute_script, "return document.getElementById('days-title').textContent;"
        )
        assert title == "Sales by hour (UTC)"
        errors = [e for e in await in_thread(driver.get_log, "browser") if e["level"] == "SEVERE"]
        assert not errors, errors

        png = await in_thread(driver.get_screenshot_as_png)
        assert png.startswith(b"\x89PNG")
        (tmp_path / "dashboard.png").write_bytes(png)
        if target := os.environ.get("TILLSTREAM_SCREENSHOT_DIR"):
            Path(target).mkdir(parents=True, exist_ok=True)
            (Path(target) / "dashboard.png").write_bytes(png)
    finally:
        await nc.close()
        stop.set()
        await asyncio.wait_for(task, 20)
