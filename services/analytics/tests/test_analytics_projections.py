"""Every projection equals a brute-force recomputation from the events (property-based).

Random event sequences of every projected type go through the real sink into real SQLite,
split into random batches with random redeliveries; the tables must equal what a naive,
independent recomputation from the whole event list says, row for row.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.application import ProjectionSink, ProjectionStore, create_projection_engine
from analytics.bus import PROJECTED, consumer_handlers
from analytics.main import build
from analytics.rebuild import rebuild
from analytics.reports import Reports
from analytics.streamreader import ReplayClient
from tillstream.bus import wait_for
from tillstream.codec import IntegrationEvent, ReceivedEvent
from tillstream.consumer import Delivery
from tillstream.events.v1 import (
    checkout_pb2,
    common_pb2,
    crm_pb2,
    edge_pb2,
    inventory_pb2,
    payments_pb2,
)
from tillstream.service import ServiceHost
from tillstream.testing import nats_server
from tillstream.testing import test_settings as settings_for_test

T0 = 1_735_689_600_000  # 2025-01-01T00:00:00Z
STORES = st.sampled_from(["s001", "s002"])
CURRENCIES = st.sampled_from(["EUR", "CHF"])
SKUS = st.sampled_from(["A", "B", "C"])
AT = st.integers(T0, T0 + 20 * 86_400_000)
UPSTREAM_OF = {
    cls.DESCRIPTOR.full_name: up  # type: ignore[attr-defined]
    for up, events in PROJECTED.items()
    for _, cls, _ in events
}


def money(amount: int, currency: str) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount, currency=currency)


@st.composite
def sales(draw: st.DrawFn) -> Message:
    cur = draw(CURRENCIES)
    lines = [
        common_pb2.SaleLine(line_no=i, sku=draw(SKUS), quantity=q, line_total=money(q * 100, cur))
        for i, q in enumerate(draw(st.lists(st.integers(1, 30), max_size=4)))
    ]
    discounts = [
        checkout_pb2.SaleDiscount(
            kind=draw(st.sampled_from(["promotion", "line"])),
            label=draw(st.sampled_from(["10%", "bogo"])),
            amount=money(draw(st.integers(1, 50)), cur),
        )
        for _ in range(draw(st.integers(0, 2)))
    ]
    return checkout_pb2.SaleCompleted(
        sale_id=f"sale-{draw(st.integers(0, 10**6))}",
        store_id=draw(STORES),
        lines=lines,
        total=money(draw(st.integers(0, 10_000)), cur),
        completed_at_ms=draw(AT),
        discounts=discounts,
        discount_total=money(sum(d.amount.amount_minor for d in discounts), cur),
        tax_total=money(draw(st.integers(0, 500)), cur),
        offline=draw(st.booleans()),
    )


def _simple(draw: st.DrawFn) -> Message:
    """One of the other projected events. Ids of a shift or payment include the store: they
    belong to one store, so to one partition (no order holds across partitions)."""
    store, cur = draw(STORES), draw(CURRENCIES)
    amount = money(draw(st.integers(1, 5000)), cur)
    kind = draw(st.integers(0, 14))
    at = draw(AT)
    if kind == 0:
        return checkout_pb2.ReturnCompleted(
            return_id="r", store_id=store, total=amount, completed_at_ms=at
        )
    if kind == 1:
        tenders = [common_pb2.SaleTender(kind="cash", amount=amount)] * draw(st.integers(0, 2))
        return checkout_pb2.SaleVoided(
            sale_id="v", store_id=store, tenders=tenders, voided_at_ms=at
        )
    if kind == 2:
        var = draw(st.integers(-500, 500))
        return checkout_pb2.ShiftClosed(
            shift_id=f"{store}-sh{draw(st.integers(0, 3))}",
            store_id=store,
            lane_id="l1",
            cashier_id="c1",
            expected=amount,
            counted=money(amount.amount_minor + var, cur),
            variance=money(var, cur),
            closed_at_ms=at,
        )
    if kind == 3:
        return payments_pb2.PaymentCaptured(
            payment_id="p",
            store_id=store,
            amount=amount,
            tender=draw(st.sampled_from(["card", "cash", "wallet"])),
            card=payments_pb2.Card(scheme=draw(st.sampled_from(["visa", "mc"]))),
        )
    if kind in (4, 5, 6):
        cls = (
            payments_pb2.PaymentRefunded,
            payments_pb2.PaymentVoided,
            payments_pb2.PaymentReversed,
        )[kind - 4]
        return cls(payment_id="p", store_id=store, amount=amount)
    if kind == 7:
        return payments_pb2.PaymentFlagged(
            payment_id=f"{store}-p{draw(st.integers(0, 3))}",
            store_id=store,
            rule="velocity",
            action=draw(st.sampled_from(["flag", "decline"])),
            reason="too many",
            amount=amount,
        )
    if kind in (8, 9):
        on_hand = draw(st.integers(-2, 5))
        if kind == 8:
            return inventory_pb2.StockChanged(
                store_id=store, sku=draw(SKUS), delta=draw(st.integers(-3, 3)), on_hand=on_hand
            )
        return inventory_pb2.StockLow(
            store_id=store, sku=draw(SKUS), on_hand=on_hand, reorder_point=draw(st.integers(1, 5))
        )
    if kind == 10:
        return crm_pb2.LoyaltyPointsEarned(
            customer_id="c", store_id=store, points=draw(st.integers(1, 100))
        )
    if kind == 11:
        return crm_pb2.LoyaltyPointsRedeemed(
            customer_id="c", store_id=store, points=draw(st.integers(1, 100)), amount=amount
        )
    if kind == 12:
        return edge_pb2.StoreWentOffline(store_id=store, at_ms=at)
    if kind == 13:
        return edge_pb2.StoreCameOnline(
            store_id=store,
            at_ms=at,
            offline_sales=draw(st.integers(0, 9)),
            offline_duration_ms=draw(st.integers(0, 10**6)),
        )
    return edge_pb2.DeviceStatus(
        store_id=store,
        device_id=draw(st.sampled_from(["t1", "p1"])),
        kind="printer",
        status=draw(st.sampled_from(["ok", "paper_out"])),
        at_ms=at,
    )


EVENTS = st.lists(st.one_of(sales(), st.composite(_simple)()), max_size=40)


def occurred_at(message: Message, index: int) -> str:
    return (datetime.fromtimestamp(T0 / 1000, UTC) + timedelta(hours=index * 7)).isoformat()


def received(message: Message, index: int) -> ReceivedEvent:
    return ReceivedEvent(
        event_type=message.DESCRIPTOR.full_name,
        message=message,
        subject="x",
        store_id="s001",
        occurred_at=occurred_at(message, index),
        msg_id="x",
        headers={},
    )


# The brute force: straight from the event list, no batches, no SQL. ----------------------


def _day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).date()


def brute_force(events: list[Message]) -> dict[str, list[tuple[Any, ...]]]:
    counters: dict[str, dict[tuple[Any, ...], list[int]]] = defaultdict(dict)
    state: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = defaultdict(dict)

    def add(table: str, key: tuple[Any, ...], *values: int) -> None:
        row = counters[table].setdefault(key, [0] * len(values))
        for i, v in enumerate(values):
            row[i] += v

    for index, m in enumerate(events):
        header_day = datetime.fromisoformat(occurred_at(m, index)).date()
        name = type(m).__name__
        if name == "SaleCompleted":
            cur, day = m.total.currency, _day(m.completed_at_ms)
            items = sum(ln.quantity for ln in m.lines)
            hour = datetime.fromtimestamp(m.completed_at_ms / 1000, UTC).replace(
                minute=0, second=0, microsecond=0, tzinfo=None
            )
            add("sales_by_store_day", (m.store_id, day, cur), 1, m.total.amount_minor, items)
            add(
                "sales_by_store_hour",
                (m.store_id, hour, cur),
                1,
                m.total.amount_minor,
                items,
                m.discount_total.amount_minor,
                m.tax_total.amount_minor,
                int(m.offline),
            )
            monday = day - timedelta(days=day.weekday())
            add("sales_by_store_week", (m.store_id, monday, cur), 1, m.total.amount_minor, items)
            for ln in m.lines:
                add(
                    "product_sales",
                    (m.store_id, day, ln.sku, cur),
                    ln.quantity,
                    ln.line_total.amount_minor,
                    1,
                )
            add("basket_sizes", (m.store_id, day, min(items, 50)), 1)
            for d in m.discounts:
                add("discounts", (m.store_id, day, d.kind, d.label, cur), 1, d.amount.amount_minor)
        elif name == "ReturnCompleted":
            add(
                "refunds_voids",
                (m.store_id, _day(m.completed_at_ms), "return", m.total.currency),
                1,
                m.total.amount_minor,
            )
        elif name == "SaleVoided":
            cur = m.tenders[0].amount.currency if m.tenders else ""
            add(
                "refunds_voids",
                (m.store_id, _day(m.voided_at_ms), "void", cur),
                1,
                sum(t.amount.amount_minor for t in m.tenders),
            )
        elif name == "ShiftClosed":
            state["cash_variances"][(m.shift_id,)] = {
                "store_id": m.store_id,
                "lane_id": m.lane_id,
                "cashier_id": m.cashier_id,
                "day": _day(m.closed_at_ms),
                "currency": m.expected.currency,
                "expected_minor": m.expected.amount_minor,
                "counted_minor": m.counted.amount_minor,
                "variance_minor": m.variance.amount_minor,
                "closed_at_ms": m.closed_at_ms,
            }
        elif name == "PaymentCaptured":
            add(
                "payment_mix",
                (m.store_id, header_day, m.tender, m.card.scheme, m.amount.currency),
                1,
                m.amount.amount_minor,
            )
        elif name in ("PaymentRefunded", "PaymentVoided", "PaymentReversed"):
            kind = {
                "PaymentRefunded": "refund",
                "PaymentVoided": "payment_void",
                "PaymentReversed": "reversal",
            }[name]
            add(
                "refunds_voids",
                (m.store_id, header_day, kind, m.amount.currency),
                1,
                m.amount.amount_minor,
            )
        elif name == "PaymentFlagged":
            state["flagged_payments"][(m.payment_id, m.rule)] = {
                "store_id": m.store_id,
                "day": header_day,
                "sale_id": m.sale_id,
                "action": m.action,
                "reason": m.reason,
                "currency": m.amount.currency,
                "amount_minor": m.amount.amount_minor,
                "occurred_at": occurred_at(m, index),
            }
        elif name == "StockChanged":
            row = state["stock_levels"].setdefault((m.store_id, m.sku), {"reorder_point": 0})
            row["on_hand"] = m.on_hand
            if m.on_hand <= 0 and m.on_hand - m.delta > 0:
                add("stock_alerts", (m.store_id, header_day, m.sku, "out"), 1)
        elif name == "StockLow":
            state["stock_levels"][(m.store_id, m.sku)] = {
                "on_hand": m.on_hand,
                "reorder_point": m.reorder_point,
            }
            add("stock_alerts", (m.store_id, header_day, m.sku, "low"), 1)
        elif name == "LoyaltyPointsEarned":
            add("loyalty_activity", (m.store_id, header_day, ""), 1, m.points, 0, 0, 0)
        elif name == "LoyaltyPointsRedeemed":
            add(
                "loyalty_activity",
                (m.store_id, header_day, m.amount.currency),
                0,
                0,
                1,
                m.points,
                m.amount.amount_minor,
            )
        elif name == "StoreWentOffline":
            state["store_status"][(m.store_id,)] = {
                "online": False,
                "changed_at_ms": m.at_ms,
                "offline_sales": 0,
                "offline_duration_ms": 0,
            }
        elif name == "StoreCameOnline":
            state["store_status"][(m.store_id,)] = {
                "online": True,
                "changed_at_ms": m.at_ms,
                "offline_sales": m.offline_sales,
                "offline_duration_ms": m.offline_duration_ms,
            }
        elif name == "DeviceStatus":
            state["device_status"][(m.store_id, m.device_id)] = {
                "kind": m.kind,
                "status": m.status,
                "detail": m.detail,
                "at_ms": m.at_ms,
            }
    from analytics.tables import SPECS

    result: dict[str, list[tuple[Any, ...]]] = {}
    for spec in SPECS:
        if spec.counter:
            rows = [(*k, *v) for k, v in counters[spec.name].items()]
        else:
            rows = [
                (*k, *(values.get(c, "" if c in ("sale_id",) else 0) for c in spec.values))
                for k, values in state[spec.name].items()
            ]
        result[spec.name] = sorted(rows)
    return result


# The tests ----------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ProjectionStore]:
    s = ProjectionStore(create_projection_engine(settings_for_test(tmp_path)))
    s.create()
    yield s
    s.dispose()


def deliveries_by_upstream(events: list[Message]) -> dict[str, list[Delivery]]:
    out: dict[str, list[Delivery]] = defaultdict(list)
    for index, message in enumerate(events):
        upstream = UPSTREAM_OF[message.DESCRIPTOR.full_name]
        out[upstream].append(Delivery(len(out[upstream]) + 1, received(message, index)))
    return out


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=EVENTS, data=st.data())
def test_projections_equal_brute_force_with_batches_and_redeliveries(
    store: ProjectionStore, events: list[Message], data: st.DataObject
) -> None:
    store.reset()
    sink = ProjectionSink(store, consumer_handlers())
    for upstream, deliveries in deliveries_by_upstream(events).items():
        done = 0
        while done < len(deliveries):
            size = data.draw(st.integers(1, 8))
            # Sometimes the broker redelivers what is already applied, with the new ones.
            back = data.draw(st.integers(0, done))
            sink.apply(f"{upstream}.p0", deliveries[done - back : done + size])
            done += size
    assert store.dump() == brute_force(events)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=EVENTS)
def test_redelivering_everything_changes_nothing(
    store: ProjectionStore, events: list[Message]
) -> None:
    store.reset()
    sink = ProjectionSink(store, consumer_handlers())
    by_upstream = deliveries_by_upstream(events)
    for upstream, deliveries in by_upstream.items():
        sink.apply(f"{upstream}.p0", deliveries)
    before = store.dump()
    for upstream, deliveries in by_upstream.items():
        for one in deliveries:
            sink.apply(f"{upstream}.p0", [one])
    assert store.dump() == before


def test_listeners_hear_committed_sales_once(store: ProjectionStore) -> None:
    heard: list[str] = []
    stop = store.add_listener(lambda sales: heard.extend(s.sale_id for s in sales))
    sink = ProjectionSink(store, consumer_handlers())
    sale = checkout_pb2.SaleCompleted(
        sale_id="x1", store_id="s001", total=money(5, "EUR"), completed_at_ms=T0
    )
    first = [Delivery(1, received(sale, 0))]
    sink.apply("checkout.p0", first)
    sink.apply("checkout.p0", first)  # a redelivery: nothing new to hear
    assert heard == ["x1"]
    stop()
    sink.apply("checkout.p0", [Delivery(2, received(sale, 1))])
    assert heard == ["x1"]


# Rebuild over a real NATS server, with the live service running. --------------------------

SUBJECT_OF = {
    cls.DESCRIPTOR.full_name: (up, subject)  # type: ignore[attr-defined]
    for up, events in PROJECTED.items()
    for subject, cls, _ in events
}


async def _publish(
    js: Any, events: list[Message], first_index: int, counters: dict[str, int]
) -> None:
    for offset, message in enumerate(events):
        index = first_index + offset
        upstream, what = SUBJECT_OF[message.DESCRIPTOR.full_name]
        aggregate, name = what.split(".")
        store_id = getattr(message, "store_id", "") or "s001"
        event = IntegrationEvent.of(
            upstream,
            store_id,
            aggregate,
            name,
            message=message,
            occurred_at=datetime.fromisoformat(occurred_at(message, index)),
        )
        counters[upstream] += 1
        await js.publish(
            event.subject,
            event.payload(),
            headers=event.headers(f"{upstream}:{counters[upstream]}"),
        )


async def _rebuild_scenario(tmp_path: Path, url: str, events: list[Message]) -> None:
    settings = settings_for_test(tmp_path, partitions=2)
    stop = asyncio.Event()
    host = ServiceHost(build(settings), settings, url)
    task = asyncio.create_task(host.run(stop))
    reader = ProjectionStore(create_projection_engine(settings))
    nc = ReplayClient()  # as `tillstream analytics rebuild` reads the streams
    await nc.connect(url)
    counters: dict[str, int] = defaultdict(int)
    try:
        js = nc.jetstream()
        assert await wait_for(lambda: _streams_ready(js), timeout=20)
        assert host.nc is not None
        host.nc.options["drain_timeout"] = 1
        half = len(events) // 2
        await _publish(js, events[:half], 0, counters)
        expected = brute_force(events[:half])
        ok = await _eventually(lambda: reader.dump() == expected)
        assert ok, f"live projection: {_diff(reader.dump(), expected)} {reader.tracking()}"

        progress: list[tuple[str, int, int]] = []
        result = await rebuild(reader, js, lambda *p: progress.append(p), drop_grace=0.1)
        assert result.generation == 1 and reader.current_generation() == 1
        assert reader.dump() == expected, "a rebuild yields identical tables"
        assert result.events >= half and (half == 0 or progress)

        # The live consumers go on in the new generation: nothing lost, nothing twice.
        await _publish(js, events[half:], half, counters)
        expected = brute_force(events)
        assert await _eventually(lambda: reader.dump() == expected), "live after the swap"

        # A rebuild while events keep arriving: the live writers and the swap race.
        extra = events[: max(1, len(events) // 3)]
        reading = asyncio.Event()
        reads = asyncio.create_task(_keep_reading(reader, reading))
        rebuilding = asyncio.create_task(rebuild(reader, js, drop_grace=0.5))
        await _publish(js, extra, len(events), counters)
        again = await rebuilding
        reading.set()
        assert await reads > 0, "readers kept being answered during the rebuild"
        assert again.generation == 2
        expected = brute_force([*events, *extra])
        ok = await _eventually(lambda: reader.dump() == expected)
        assert ok, f"live during a rebuild: {_diff(reader.dump(), expected)} {reader.tracking()}"
    finally:
        await nc.close()
        stop.set()
        await asyncio.wait_for(task, 20)
        reader.dispose()


async def _keep_reading(store: ProjectionStore, stop: asyncio.Event) -> int:
    """Run a report over and over until `stop`: any error fails the test (readers stay up)."""
    reports, answered = Reports(store), 0
    while not stop.is_set():
        await asyncio.to_thread(reports.sales_summary, date(2025, 1, 1), date(2025, 2, 1))
        await asyncio.to_thread(reports.alerts, date(2025, 1, 5))
        answered += 1
    return answered


def _diff(got: dict[str, list[Any]], want: dict[str, list[Any]]) -> dict[str, Any]:
    return {
        name: {
            "extra": sorted(set(got[name]) - set(rows)),
            "missing": sorted(set(rows) - set(got[name])),
        }
        for name, rows in want.items()
        if got[name] != rows
    }


async def _streams_ready(js: Any) -> bool:
    try:
        for name in ("CHECKOUT", "PAYMENTS", "INVENTORY", "CRM", "EDGE"):
            await js.stream_info(name)
    except Exception:
        return False
    return True


async def _eventually(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    async def probe() -> bool:
        return check()

    return bool(await wait_for(probe, timeout=timeout, interval=0.1))


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=st.lists(st.one_of(sales(), st.composite(_simple)()), min_size=4, max_size=30))
def test_rebuild_while_live_yields_identical_tables(
    tmp_path_factory: pytest.TempPathFactory, events: list[Message]
) -> None:
    tmp = tmp_path_factory.mktemp("rebuild")
    with nats_server(tmp / "nats") as server:
        asyncio.run(_rebuild_scenario(tmp / "data", server.url, events))
