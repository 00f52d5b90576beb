"""ReportingService over a real gRPC socket, on a real SQLite projection store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

import grpc
import nats as nats_py
import pytest
from google.protobuf.message import Message

from analytics.api import grpc_api
from analytics.application import ProjectionSink, ProjectionStore
from analytics.bus import consumer_handlers
from analytics.main import build
from tillstream.analytics.v1 import analytics_service_pb2 as pb
from tillstream.analytics.v1 import analytics_service_pb2_grpc as pb_grpc
from tillstream.codec import IntegrationEvent, ReceivedEvent
from tillstream.consumer import Delivery
from tillstream.events.v1 import checkout_pb2, common_pb2, edge_pb2, payments_pb2
from tillstream.grpcserver import DbRunner, GrpcServer
from tillstream.natsserver import NatsServer, free_port
from tillstream.service import ServiceHost
from tillstream.testing import test_settings as settings_for_test

DAY = date(2025, 3, 10)  # a Monday
AT = int(datetime(2025, 3, 10, 9, 30, tzinfo=UTC).timestamp() * 1000)


def delivery(position: int, message: Message) -> Delivery:
    return Delivery(
        position,
        ReceivedEvent(
            event_type=message.DESCRIPTOR.full_name,
            message=message,
            subject="x",
            store_id="s001",
            occurred_at="2025-03-10T09:30:00+00:00",
            msg_id="x",
            headers={},
        ),
    )


def sale(sale_id: str, store: str, total: int, sku: str, qty: int) -> Message:
    eur = "EUR"
    return checkout_pb2.SaleCompleted(
        sale_id=sale_id,
        store_id=store,
        completed_at_ms=AT,
        total=common_pb2.Money(amount_minor=total, currency=eur),
        lines=[
            common_pb2.SaleLine(
                sku=sku, quantity=qty, line_total=common_pb2.Money(amount_minor=total, currency=eur)
            )
        ],
    )


class Harness:
    def __init__(
        self,
        store: ProjectionStore,
        stub: pb_grpc.ReportingServiceStub,
        executor: ThreadPoolExecutor,
    ) -> None:
        self.store, self.stub, self.executor = store, stub, executor
        self.sink = ProjectionSink(store, consumer_handlers())
        self.positions: dict[str, int] = {}

    async def apply(self, tracking: str, *messages: Message) -> None:
        deliveries = []
        for m in messages:
            self.positions[tracking] = self.positions.get(tracking, 0) + 1
            deliveries.append(delivery(self.positions[tracking], m))
        await asyncio.get_running_loop().run_in_executor(
            self.executor, self.sink.apply, tracking, deliveries
        )


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    store = ProjectionStore.from_settings(settings_for_test(tmp_path))
    executor = ThreadPoolExecutor(1)
    server = GrpcServer("analytics", grpc_api(store), DbRunner(executor), host="127.0.0.1")
    port = await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Harness(store, pb_grpc.ReportingServiceStub(channel), executor)
    finally:
        await channel.close()
        await server.stop()
        executor.shutdown()
        store.dispose()


def span(start: date = DAY, end: date = DAY) -> pb.DateRange:
    return pb.DateRange(start=start.isoformat(), end=end.isoformat())


async def test_sales_summary_by_grouping(harness: Harness) -> None:
    await harness.apply(
        "checkout.p0",
        sale("a", "s001", 1000, "A", 2),
        sale("b", "s001", 500, "B", 1),
        sale("c", "s002", 300, "A", 1),
    )
    day = await harness.stub.SalesSummary(pb.SalesSummaryRequest(range=span()))
    assert [
        (b.store_id, b.total.amount_minor, b.total.currency, b.sales_count, b.items_sold)
        for b in day.buckets
    ] == [("s001", 1500, "EUR", 2, 3), ("s002", 300, "EUR", 1, 1)]
    hour = await harness.stub.SalesSummary(
        pb.SalesSummaryRequest(range=span(), store_ids=["s001"], grouping=pb.GROUPING_HOUR)
    )
    assert [(b.period_start, b.total.amount_minor) for b in hour.buckets] == [
        ("2025-03-10T09:00:00", 1500)
    ]
    week = await harness.stub.SalesSummary(
        pb.SalesSummaryRequest(range=span(), grouping=pb.GROUPING_WEEK)
    )
    assert {b.period_start for b in week.buckets} == {"2025-03-10T00:00:00"}


async def test_top_products_payment_mix_trend_alerts(harness: Harness) -> None:
    await harness.apply(
        "checkout.p0", sale("a", "s001", 1000, "A", 2), sale("b", "s001", 500, "B", 5)
    )
    top = await harness.stub.TopProducts(pb.TopProductsRequest(range=span(), limit=1))
    assert [(p.sku, p.quantity, p.revenue.amount_minor) for p in top.products] == [("B", 5, 500)]
    slow = await harness.stub.TopProducts(pb.TopProductsRequest(range=span(), slow=True))
    assert [p.sku for p in slow.products] == ["A", "B"]

    await harness.apply(
        "payments.p0",
        *[
            payments_pb2.PaymentCaptured(
                payment_id=f"p{i}",
                store_id="s001",
                tender=tender,
                amount=common_pb2.Money(amount_minor=amount, currency="EUR"),
            )
            for i, (tender, amount) in enumerate([("card", 750), ("cash", 250)])
        ],
    )
    mix = await harness.stub.PaymentMix(pb.PaymentMixRequest(range=span()))
    assert [(s.tender, s.total.amount_minor, s.share_bp) for s in mix.shares] == [
        ("card", 750, 7500),
        ("cash", 250, 2500),
    ]

    trend = await harness.stub.Trend(pb.TrendRequest(store_id="s001", day=DAY.isoformat()))
    (t,) = trend.trends
    assert (t.day_total_minor, t.has_day_change, t.forecast_day) == (1500, False, "2025-03-11")
    assert len(t.moving_average) == 28 and t.moving_average[-1].amount_minor == 1500 // 7

    await harness.apply("edge.p0", edge_pb2.StoreWentOffline(store_id="s002", at_ms=AT))
    alerts = await harness.stub.Alerts(pb.AlertsRequest(day=DAY.isoformat()))
    assert [(a.kind, a.store_id, a.severity) for a in alerts.alerts] == [
        ("store_offline", "s002", "critical")
    ]


@pytest.mark.parametrize(
    "request_, message",
    [
        (
            pb.SalesSummaryRequest(range=pb.DateRange(start="2025-13-01", end="2025-01-01")),
            "range.start '2025-13-01' is not YYYY-MM-DD",
        ),
        (
            pb.SalesSummaryRequest(range=pb.DateRange(start="2025-02-01", end="2025-01-01")),
            "end 2025-01-01 is before start 2025-02-01",
        ),
        (pb.SalesSummaryRequest(range=pb.DateRange(end="2025-01-01")), "range.start is required"),
        (pb.SalesSummaryRequest(range=span(), grouping=42), "unknown grouping 42"),
    ],
)
async def test_bad_requests_are_invalid_argument(
    harness: Harness, request_: pb.SalesSummaryRequest, message: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.SalesSummary(request_)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in (caught.value.details() or "")


async def test_top_products_limit_out_of_range(harness: Harness) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.TopProducts(pb.TopProductsRequest(range=span(), limit=5000))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "limit" in (caught.value.details() or "")


async def test_stream_sales_delivers_committed_sales_as_they_happen(harness: Harness) -> None:
    call = harness.stub.StreamSales(pb.StreamSalesRequest(store_ids=["s002"]))
    received: list[pb.CompletedSale] = []

    async def read() -> None:
        async for sale_ in call:
            received.append(sale_)
            if len(received) == 2:
                return

    reader = asyncio.create_task(read())
    # The listener is registered when the call is running; wait until it is.
    for _ in range(100):
        if harness.store.listener_count:
            break
        await asyncio.sleep(0.02)
    await harness.apply(
        "checkout.p0", sale("a", "s001", 100, "A", 1), sale("b", "s002", 200, "A", 1)
    )
    await harness.apply("checkout.p0", sale("c", "s002", 300, "B", 3))
    await asyncio.wait_for(reader, 5)
    call.cancel()
    assert [(s.sale_id, s.store_id, s.total.amount_minor, s.items_sold) for s in received] == [
        ("b", "s002", 200, 1),
        ("c", "s002", 300, 3),
    ]
    for _ in range(100):  # the cancelled stream removes its listener
        if not harness.store.listener_count:
            break
        await asyncio.sleep(0.02)
    assert not harness.store.listener_count


async def test_service_streams_live_sales_over_grpc(tmp_path: Path, nats: NatsServer) -> None:
    """The whole path: a SaleCompleted on the bus -> the service's consumer -> StreamSales."""
    port = free_port()
    settings = settings_for_test(
        tmp_path, grpc_enabled=True, grpc_ports={"analytics": port}, grpc_host="127.0.0.1"
    )
    stop = asyncio.Event()
    host = ServiceHost(build(settings), settings, nats.url)
    task = asyncio.create_task(host.run(stop))
    nc = await nats_py.connect(nats.url)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        await asyncio.wait_for(channel.channel_ready(), 20)
        assert host.nc is not None
        host.nc.options["drain_timeout"] = 1
        stub = pb_grpc.ReportingServiceStub(channel)
        call = stub.StreamSales(pb.StreamSalesRequest())
        first = asyncio.create_task(call.read())  # type: ignore[arg-type]
        await asyncio.sleep(0.5)  # the stream's listener is registered
        message = sale("live-1", "s001", 4200, "A", 3)
        event = IntegrationEvent.of(
            "checkout", "s001", "sale", "completed", message=message, occurred_at=datetime.now(UTC)
        )
        await nc.jetstream().publish(
            event.subject, event.payload(), headers=event.headers("checkout:1")
        )
        got = await asyncio.wait_for(first, 20)
        assert (got.sale_id, got.total.amount_minor, got.items_sold) == ("live-1", 4200, 3)
        summary = await stub.SalesSummary(pb.SalesSummaryRequest(range=span()))
        assert [(b.store_id, b.total.amount_minor) for b in summary.buckets] == [("s001", 4200)]
        call.cancel()
    finally:
        await channel.close()
        await nc.close()
        stop.set()
        await asyncio.wait_for(task, 20)
