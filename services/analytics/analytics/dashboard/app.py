"""The HQ dashboard's web app: one static page, the JSON behind it, CSV, and live events.

The page is plain HTML and a small script (no build step); Chart.js is served from
static/vendor, never from a CDN: stores and test machines are offline. Every number on the
page comes from the JSON endpoints, which read the projections through `DashboardQueries`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from analytics.dashboard.live import LiveFeed
from analytics.dashboard.queries import DashboardQueries, Filters, RangeError
from analytics.reports import ReportError

STATIC = Path(__file__).parent / "static"

DateParam = Annotated[date | None, Query(description="first UTC day, YYYY-MM-DD")]
EndParam = Annotated[date | None, Query(description="last UTC day (inclusive), YYYY-MM-DD")]
StoreParam = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_-]*$")]


def utc_today() -> date:
    return datetime.now(UTC).date()


def create_app(
    queries: DashboardQueries, feed: LiveFeed, today: Callable[[], date] = utc_today
) -> FastAPI:
    """The dashboard app over `queries`; `feed` drives the live updates."""
    app = FastAPI(title="Tillstream HQ dashboard", docs_url="/api/docs", redoc_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def filters(start: date | None, end: date | None, store_id: str | None) -> Filters:
        try:
            return Filters.of(start, end, store_id, today())
        except RangeError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc

    async def read(fn: Callable[..., Any], *args: Any) -> Any:
        # SQLAlchemy is blocking: off the server's loop, so streams keep flowing.
        try:
            return await asyncio.to_thread(fn, *args)
        except ReportError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/stores")
    async def stores() -> dict[str, Any]:
        """The stores to filter by."""
        return {"stores": await read(queries.stores), "today": today().isoformat()}

    @app.get("/api/overview")
    async def overview(
        start: DateParam = None, end: EndParam = None, store_id: StoreParam = None
    ) -> dict[str, Any]:
        """Sales count, total, items and average basket: for the chain and per store."""
        result: dict[str, Any] = await read(queries.overview, filters(start, end, store_id))
        return result

    @app.get("/api/series")
    async def series(
        start: DateParam = None, end: EndParam = None, store_id: StoreParam = None
    ) -> dict[str, Any]:
        """Sales over time for the chart: by hour (one day), day (up to 62) or week."""
        result: dict[str, Any] = await read(queries.series, filters(start, end, store_id))
        return result

    @app.get("/api/details")
    async def details(
        start: DateParam = None, end: EndParam = None, store_id: StoreParam = None
    ) -> dict[str, Any]:
        """Refund and void rates, cash variances, basket sizes, discounts, loyalty."""
        result: dict[str, Any] = await read(queries.details, filters(start, end, store_id))
        return result

    @app.get("/api/stores/{store_id}")
    async def store(
        store_id: Annotated[str, StoreParam], start: DateParam = None, end: EndParam = None
    ) -> dict[str, Any]:
        """One store's drill-down: its overview and its payment mix."""
        chosen = filters(start, end, store_id)
        result = {
            "store_id": store_id,
            "overview": await read(queries.overview, chosen),
            "payment_mix": await read(queries.payment_mix, chosen),
        }
        if not result["overview"]["totals"]:
            known = await read(queries.stores)
            if store_id not in known:
                raise HTTPException(status_code=404, detail=f"no sales for store {store_id!r}")
        return result

    @app.get("/api/payment-mix")
    async def payment_mix(
        start: DateParam = None, end: EndParam = None, store_id: StoreParam = None
    ) -> dict[str, Any]:
        """Captured payments by tender and card scheme."""
        result: dict[str, Any] = await read(queries.payment_mix, filters(start, end, store_id))
        return result

    @app.get("/api/top-products")
    async def top_products(
        start: DateParam = None,
        end: EndParam = None,
        store_id: StoreParam = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> dict[str, Any]:
        """Best sellers by quantity, with their revenue."""
        result: dict[str, Any] = await read(
            queries.top_products, filters(start, end, store_id), limit
        )
        return result

    @app.get("/api/trend")
    async def trend(
        start: DateParam = None, end: EndParam = None, store_id: StoreParam = None
    ) -> dict[str, Any]:
        """The range's last day against the same weekday last week, and a next-day forecast."""
        result: dict[str, Any] = await read(queries.trend, filters(start, end, store_id))
        return result

    @app.get("/api/alerts")
    async def alerts(
        start: DateParam = None, end: EndParam = None, store_id: StoreParam = None
    ) -> dict[str, Any]:
        """Offline stores, troubled devices, flagged payments, low stock, anomalous hours."""
        result: dict[str, Any] = await read(queries.alerts, filters(start, end, store_id))
        return result

    @app.get("/api/export/{report}.csv")
    async def export(
        report: str, start: DateParam = None, end: EndParam = None, store_id: StoreParam = None
    ) -> Response:
        """A report as CSV (money in minor units, with its currency): the page's own views
        (`stores`, `series`) or any report analytics.reports knows by name."""
        if report not in queries.exports():
            raise HTTPException(status_code=404, detail=f"no report {report!r}")
        chosen = filters(start, end, store_id)
        body = await read(queries.export, report, chosen)
        name = f"{report}_{chosen.start}_{chosen.end}.csv"
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @app.get("/api/events")
    async def events() -> StreamingResponse:
        """Server-sent events: `sales` whenever new sales are projected."""
        return StreamingResponse(
            feed.stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return app
