"""Analytics' gRPC `ReportingService` for partners: the same `Reports` as the dashboard.

Report calls run on the service's database thread (through the DbRunner), like the consumers'
writes. StreamSales registers a listener on the projection store: completed sales reach the
stream after their batch is committed, so a partner never sees a sale the reports do not
count yet. A client too slow to keep up (its queue full) gets RESOURCE_EXHAUSTED rather than
holding memory without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, NoReturn, TypeVar

import grpc

from analytics.application import ProjectionStore
from analytics.domainmodel import CompletedSale
from analytics.reports import ReportError, Reports
from tillstream.analytics.v1 import analytics_service_pb2 as pb
from tillstream.analytics.v1 import analytics_service_pb2_grpc as pb_grpc
from tillstream.grpcserver import DbRunner, GrpcFactory

log = logging.getLogger(__name__)

R = TypeVar("R")

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["ReportingService"].full_name
GROUPINGS = {
    pb.GROUPING_UNSPECIFIED: "day",
    pb.GROUPING_HOUR: "hour",
    pb.GROUPING_DAY: "day",
    pb.GROUPING_WEEK: "week",
}
STREAM_QUEUE = 10_000


def _date(value: str, what: str, default: date | None = None) -> date:
    if not value:
        if default is not None:
            return default
        raise ReportError(f"{what} is required (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ReportError(f"{what} {value!r} is not YYYY-MM-DD") from exc


def _range(r: pb.DateRange) -> tuple[date, date]:
    return _date(r.start, "range.start"), _date(r.end, "range.end")


def _money(amount: int, currency: str) -> pb.Money:
    return pb.Money(amount_minor=amount, currency=currency)


def _today() -> date:
    return datetime.now(UTC).date()


class ReportingServicer(pb_grpc.ReportingServiceServicer):
    """protobuf <-> Reports; ReportError is INVALID_ARGUMENT, the unexpected INTERNAL."""

    def __init__(self, store: ProjectionStore, runner: DbRunner) -> None:
        self.store = store
        self.reports = Reports(store)
        self.runner = runner

    async def _run(self, context: grpc.aio.ServicerContext, fn: Callable[..., R], *args: Any) -> R:
        try:
            return await self.runner.call(fn, *args)
        except ReportError as exc:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Exception:
            log.exception("analytics gRPC: report failed")
            await _abort(context, grpc.StatusCode.INTERNAL, "the report failed; see the log")

    async def _checked(self, context: grpc.aio.ServicerContext, fn: Callable[[], R]) -> R:
        """Parse the request (fn) with ReportError -> INVALID_ARGUMENT."""
        try:
            return fn()
        except ReportError as exc:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))

    async def SalesSummary(
        self, request: pb.SalesSummaryRequest, context: grpc.aio.ServicerContext
    ) -> pb.SalesSummaryResponse:
        start, end = await self._checked(context, lambda: _range(request.range))
        grouping = GROUPINGS.get(request.grouping)
        if grouping is None:
            await _abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, f"unknown grouping {request.grouping}"
            )
        buckets = await self._run(
            context, self.reports.sales_summary, start, end, list(request.store_ids), grouping
        )
        return pb.SalesSummaryResponse(
            buckets=[
                pb.SalesBucket(
                    period_start=b.period_start.isoformat(),
                    store_id=b.store_id,
                    total=_money(b.total_minor, b.currency),
                    sales_count=b.sales_count,
                    items_sold=b.items_sold,
                )
                for b in buckets
            ]
        )

    async def TopProducts(
        self, request: pb.TopProductsRequest, context: grpc.aio.ServicerContext
    ) -> pb.TopProductsResponse:
        start, end = await self._checked(context, lambda: _range(request.range))
        products = await self._run(
            context,
            self.reports.top_products,
            start,
            end,
            request.store_id or None,
            request.limit or 10,
            request.slow,
        )
        return pb.TopProductsResponse(
            products=[
                pb.ProductSales(
                    sku=p.sku,
                    quantity=p.quantity,
                    revenue=_money(p.revenue_minor, p.currency),
                    lines=p.lines,
                )
                for p in products
            ]
        )

    async def PaymentMix(
        self, request: pb.PaymentMixRequest, context: grpc.aio.ServicerContext
    ) -> pb.PaymentMixResponse:
        start, end = await self._checked(context, lambda: _range(request.range))
        shares = await self._run(
            context, self.reports.payment_mix, start, end, request.store_id or None
        )
        return pb.PaymentMixResponse(
            shares=[
                pb.PaymentShare(
                    tender=s.tender,
                    scheme=s.scheme,
                    total=_money(s.total_minor, s.currency),
                    count=s.count,
                    share_bp=s.share_bp,
                )
                for s in shares
            ]
        )

    async def Trend(
        self, request: pb.TrendRequest, context: grpc.aio.ServicerContext
    ) -> pb.TrendResponse:
        day = await self._checked(context, lambda: _date(request.day, "day", _today()))
        trends = await self._run(
            context,
            self.reports.trend,
            request.store_id or None,
            day,
            request.moving_days or 7,
            request.weeks or 4,
        )
        return pb.TrendResponse(
            trends=[
                pb.Trend(
                    store_id=t.store_id,
                    currency=t.currency,
                    day=t.day.isoformat(),
                    day_total_minor=t.day_total_minor,
                    same_weekday_last_week_minor=t.same_weekday_last_week_minor,
                    has_day_change=t.day_change_bp is not None,
                    day_change_bp=t.day_change_bp or 0,
                    week_start=t.week_start.isoformat(),
                    week_total_minor=t.week_total_minor,
                    previous_week_total_minor=t.previous_week_total_minor,
                    has_week_change=t.week_change_bp is not None,
                    week_change_bp=t.week_change_bp or 0,
                    moving_average=[
                        pb.DailyValue(day=d.isoformat(), amount_minor=v)
                        for d, v in t.moving_average_minor
                    ],
                    forecast_day=t.forecast_day.isoformat(),
                    forecast_minor=t.forecast_minor,
                    forecast_method=t.forecast_method,
                )
                for t in trends
            ]
        )

    async def Alerts(
        self, request: pb.AlertsRequest, context: grpc.aio.ServicerContext
    ) -> pb.AlertsResponse:
        day = await self._checked(context, lambda: _date(request.day, "day", _today()))
        alerts = await self._run(context, self.reports.alerts, day)
        return pb.AlertsResponse(
            alerts=[
                pb.Alert(
                    kind=a.kind,
                    store_id=a.store_id,
                    subject=a.subject,
                    detail=a.detail,
                    severity=a.severity,
                )
                for a in alerts
            ]
        )

    async def StreamSales(
        self, request: pb.StreamSalesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.CompletedSale]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[CompletedSale | None] = asyncio.Queue(STREAM_QUEUE)
        stores = set(request.store_ids)

        def put(sale: CompletedSale | None) -> None:
            # Full: the overflow marker is already queued, the stream ends there.
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(sale)

        def on_sales(sales: Sequence[CompletedSale]) -> None:
            # On the database thread: hand over to the event loop.
            wanted = [s for s in sales if not stores or s.store_id in stores]
            if not wanted:
                return
            if queue.qsize() + len(wanted) >= STREAM_QUEUE:
                loop.call_soon_threadsafe(put, None)
                return
            for sale in wanted:
                loop.call_soon_threadsafe(put, sale)

        remove = self.store.add_listener(on_sales)
        try:
            while True:
                sale = await queue.get()
                if sale is None:
                    await _abort(
                        context,
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        "the stream fell too far behind; reconnect",
                    )
                yield pb.CompletedSale(
                    sale_id=sale.sale_id,
                    store_id=sale.store_id,
                    total=_money(sale.total_minor, sale.currency),
                    items_sold=sale.items_sold,
                    completed_at_ms=sale.completed_at_ms,
                    offline=sale.offline,
                )
        finally:
            remove()


async def _abort(
    context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str
) -> NoReturn:
    await context.abort(code, message)
    raise AssertionError("unreachable: abort raises")


def grpc_api(store: ProjectionStore) -> GrpcFactory:
    """The GrpcFactory the composition root hands to the service host."""

    def factory(server: grpc.aio.Server, runner: DbRunner) -> Sequence[str]:
        pb_grpc.add_ReportingServiceServicer_to_server(ReportingServicer(store, runner), server)
        return [SERVICE_NAME]

    return factory
