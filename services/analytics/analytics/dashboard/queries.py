"""What the dashboard shows, read from the projection tables on the dashboard's own connections.

The dashboard never goes through the service's database thread: that thread belongs to the
consumers that write the projections. It reads with its own engine instead; on SQLite the
file is switched to WAL, so a reader sees the last committed batch and never blocks the
writer (nor waits for it).
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, create_engine, event, select

from analytics.application import ProjectionStore
from analytics.reports import REPORTS, Reports, StoreHealth, as_rows, run_report, write_csv

log = logging.getLogger(__name__)

#: CSV exports of the page's own views -> the key of their rows
PAGE_EXPORTS = {"stores": "stores", "series": "points"}
#: The longest range one request may ask for: a dashboard, not a data export.
MAX_RANGE_DAYS = 366


class RangeError(ValueError):
    """A date range the dashboard refuses (reversed or too long)."""


@dataclass(frozen=True)
class Filters:
    """The page's filters: an inclusive UTC date range and, optionally, one store."""

    start: date
    end: date
    store_id: str | None = None

    @classmethod
    def of(cls, start: date | None, end: date | None, store_id: str | None, today: date) -> Filters:
        """Defaults: today only, every store. A reversed or over-long range is refused."""
        end = end or start or today
        start = start or end
        if start > end:
            raise RangeError(f"start {start} is after end {end}")
        if (end - start).days >= MAX_RANGE_DAYS:
            raise RangeError(f"a range spans at most {MAX_RANGE_DAYS} days")
        return cls(start, end, store_id or None)

    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "store_id": self.store_id,
        }


def reader_engine(writer: Engine) -> Engine:
    """An engine of the dashboard's own on the projection database.

    SQLite: a second engine on the same file, in WAL mode and query_only, so the dashboard
    can never write. PostgreSQL: the service's engine is a pool of independent connections
    already (MVCC: readers never block writers), so it is shared.
    """
    if writer.dialect.name != "sqlite":
        return writer
    engine = create_engine(writer.url, connect_args={"timeout": 10})
    use_wal(engine)
    engine.dispose()  # that connection could write; the pool's next ones cannot

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    return engine


def use_wal(engine: Engine) -> None:
    """Switch the SQLite file to write-ahead logging, once, at start-up (before the consumers
    write): the mode is stored in the file, so the writer's connections use it too. Readers
    then see the last commit and neither block nor wait for the writer."""
    with engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode=WAL").scalar_one()
    if str(mode).lower() != "wal":
        log.warning("analytics: SQLite stays in %s mode; dashboard reads may wait", mode)


def average_minor(total_minor: int, count: int) -> int:
    """The average basket in minor units, rounded half up, in integers (never floats)."""
    if count <= 0:
        return 0
    return (2 * total_minor + count) // (2 * count)


class DashboardQueries:
    """The reports behind the page, as plain JSON-ready values (money in minor units).

    A thin layer over `analytics.reports.Reports` (the same numbers the gRPC API and the CLI
    give), run on the dashboard's own engine; it only shapes them for the page.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # A read-only view of the same tables: it follows the generation pointer like the
        # live store does, so a rebuild's swap shows up here without a restart.
        self.reports = Reports(ProjectionStore(engine))

    def stores(self) -> list[str]:
        """Every store that has sold something, for the store filter."""
        with self.engine.connect() as conn:
            t = self.reports.store.tables(conn)["sales_by_store_day"].c
            return list(conn.execute(select(t.store_id).distinct().order_by(t.store_id)).scalars())

    def overview(self, filters: Filters) -> dict[str, Any]:
        """Totals per currency and per store over the range (a currency never mixes), with
        each store's link state."""
        buckets = self.reports.sales_summary(filters.start, filters.end, filters.store_id, "day")
        totals: dict[str, dict[str, int]] = {}
        stores: dict[tuple[str, str], dict[str, int]] = {}
        for b in buckets:
            for bucket in (
                totals.setdefault(b.currency, _zero()),
                stores.setdefault((b.store_id, b.currency), _zero()),
            ):
                bucket["sales_count"] += b.sales_count
                bucket["total_minor"] += b.total_minor
                bucket["items_sold"] += b.items_sold
        health = {h.store_id: h for h in self.reports.store_health(filters.store_id)}
        return {
            "filters": filters.as_dict(),
            "totals": [_with_average({"currency": c, **v}) for c, v in sorted(totals.items())],
            "stores": [
                _with_average({"store_id": s, "currency": c, **v, "online": _online(health.get(s))})
                for (s, c), v in sorted(stores.items())
            ],
        }

    def series(self, filters: Filters) -> dict[str, Any]:
        """The chart's sales over time, summed over the stores in scope, per currency: by hour
        for a single day, by day up to 62 days, by week beyond. Every period of the range is
        listed (0 where nothing sold), so gaps show as gaps."""
        span = (filters.end - filters.start).days + 1
        grouping = "hour" if span == 1 else "day" if span <= 62 else "week"
        buckets = self.reports.sales_summary(filters.start, filters.end, filters.store_id, grouping)
        sums: dict[tuple[datetime, str], dict[str, int]] = {}
        for b in buckets:
            point = sums.setdefault((b.period_start, b.currency), _zero())
            point["sales_count"] += b.sales_count
            point["total_minor"] += b.total_minor
            point["items_sold"] += b.items_sold
        periods = sorted({p for p, _ in sums} | set(_periods(filters, grouping)))
        currencies = sorted({c for _, c in sums})
        return {
            "filters": filters.as_dict(),
            "grouping": grouping,
            "periods": [p.isoformat() for p in periods],
            "points": [
                {"period": p.isoformat(), "currency": c, **sums.get((p, c), _zero())}
                for c in currencies
                for p in periods
            ],
        }

    def payment_mix(self, filters: Filters) -> dict[str, Any]:
        """Captured payments by tender and scheme, per currency, with each one's share."""
        rows = self.reports.payment_mix(filters.start, filters.end, filters.store_id)
        return {"filters": filters.as_dict(), "rows": as_rows(rows)}

    def top_products(self, filters: Filters, limit: int = 10) -> dict[str, Any]:
        """Best sellers by quantity over the range."""
        rows = self.reports.top_products(filters.start, filters.end, filters.store_id, limit)
        return {"filters": filters.as_dict(), "rows": as_rows(rows)}

    def trend(self, filters: Filters) -> dict[str, Any]:
        """The last day of the range against the same weekday a week before, and tomorrow's
        forecast (the method is in analytics.reports)."""
        rows = self.reports.trend(filters.store_id, filters.end)
        return {"filters": filters.as_dict(), "rows": as_rows(rows)}

    def alerts(self, filters: Filters) -> dict[str, Any]:
        """What HQ should look at now (as of the range's last day), worst first."""
        found = [
            a
            for a in self.reports.alerts(filters.end)
            if not filters.store_id or a.store_id == filters.store_id
        ]
        found.sort(key=lambda a: (a.severity != "critical", a.kind, a.store_id, a.subject))
        return {"filters": filters.as_dict(), "rows": as_rows(found)}

    def details(self, filters: Filters) -> dict[str, Any]:
        """The rest of the reports, for the drill-down: refund and void rates, cash variances
        by shift (worst shortfall first), basket sizes, discounts and loyalty."""
        r, start, end, store = self.reports, filters.start, filters.end, filters.store_id
        return {
            "filters": filters.as_dict(),
            "refunds_voids": as_rows(r.refund_void_rates(start, end, store)),
            "cash_variances": as_rows(r.cash_variances(start, end, store)),
            "basket_sizes": as_rows(r.basket_sizes(start, end, store)),
            "discounts": as_rows(r.discounts(start, end, store)),
            "loyalty": as_rows(r.loyalty(start, end, store)),
        }

    def exports(self) -> list[str]:
        """The reports `export` writes as CSV."""
        return [*PAGE_EXPORTS, *REPORTS]

    def export(self, name: str, filters: Filters) -> str:
        """A report as CSV: the page's per-store or over-time view, or a named report of
        analytics.reports (its own CSV writer: minor units next to their currency)."""
        out = io.StringIO()
        if name in PAGE_EXPORTS:
            view = self.overview(filters) if name == "stores" else self.series(filters)
            _write_dicts(view[PAGE_EXPORTS[name]], out)
        else:
            write_csv(
                run_report(self.reports, name, filters.start, filters.end, filters.store_id), out
            )
        return out.getvalue()

    def dispose(self) -> None:
        self.engine.dispose()


def _periods(filters: Filters, grouping: str) -> list[datetime]:
    """Every hour of the day, or every day of the range (weeks: only those with sales)."""
    first = datetime.combine(filters.start, time())
    if grouping == "hour":
        return [first + timedelta(hours=h) for h in range(24)]
    if grouping == "day":
        return [datetime.combine(day, time()) for day in filters.days()]
    return []


def _write_dicts(rows: list[dict[str, Any]], out: io.StringIO) -> None:
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _online(health: StoreHealth | None) -> bool:
    return True if health is None else health.online


def _zero() -> dict[str, int]:
    return {"sales_count": 0, "total_minor": 0, "items_sold": 0}


def _with_average(row: dict[str, Any]) -> dict[str, Any]:
    row["average_basket_minor"] = average_minor(row["total_minor"], row["sales_count"])
    return row
