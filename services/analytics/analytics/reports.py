"""The reports HQ reads: queries over the projection tables, shared by dashboard, gRPC and CLI.

Every method reads the generation of tables current at the time of the call (a rebuild swaps
generations underneath without readers noticing), and returns plain frozen dataclasses with
money as integer minor units next to its ISO 4217 currency: amounts of two currencies are
never added up, so most rows carry a currency.

Date ranges are whole UTC days, `start` and `end` both included. `stores` / `store` None (or
empty) means the whole chain.

Trend methods (documented where they are defined):
- period over period: a day against the same weekday a week before; a week against the week
  before;
- moving averages: the trailing N-day mean of daily totals;
- next-day forecast: the mean of the same weekday over the last N weeks (weeks with data),
  scaled by the recent trend (last 7 days against the 7 before, clamped to 0.5 .. 2);
- anomalies: an hour of a day whose total is below a fraction (default 50 %) of that store's
  mean for the same hour over the previous N same weekdays (with at least a minimum mean).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import IO, Any, Literal

from sqlalchemy import Connection, Table, and_, func, select

from analytics.application import ProjectionStore
from analytics.domainmodel import week_of

Grouping = Literal["hour", "day", "week"]
GROUPINGS: tuple[str, ...] = ("hour", "day", "week")


class ReportError(ValueError):
    """A report request that cannot be answered as asked (bad range, grouping, limit...)."""


# Result types ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SalesBucket:
    """Sales of one store in one period (hour, day or week) in one currency."""

    period_start: datetime  # naive UTC: the hour, or midnight of the day / week's Monday
    store_id: str
    currency: str
    sales_count: int
    total_minor: int
    items_sold: int


@dataclass(frozen=True)
class ProductSales:
    sku: str
    currency: str
    quantity: int
    revenue_minor: int
    lines: int


@dataclass(frozen=True)
class PaymentShare:
    tender: str
    scheme: str
    currency: str
    count: int
    total_minor: int
    share_bp: int  # of this currency's total, in basis points (10000 = 100 %)


@dataclass(frozen=True)
class BasketBucket:
    items: int  # items in the basket; the last bucket holds that many or more
    sales_count: int


@dataclass(frozen=True)
class RefundVoidRate:
    """Returns and voids of a store against its sales, per currency; rates in basis points."""

    store_id: str
    currency: str
    sales_count: int
    sales_minor: int
    returns_count: int
    returns_minor: int
    voids_count: int
    voids_minor: int
    refunds_count: int  # card/wallet/gift refunds made by payments
    refunds_minor: int
    payment_voids_count: int
    reversals_count: int
    return_rate_bp: int  # returns_minor / sales_minor
    void_rate_bp: int  # voids_count / (sales_count + voids_count)


@dataclass(frozen=True)
class DiscountTotal:
    kind: str
    label: str
    currency: str
    count: int
    total_minor: int


@dataclass(frozen=True)
class CashVariance:
    shift_id: str
    store_id: str
    lane_id: str
    cashier_id: str
    day: date | None
    currency: str
    expected_minor: int
    counted_minor: int
    variance_minor: int  # counted - expected: negative when the drawer is short


@dataclass(frozen=True)
class LoyaltyTotal:
    store_id: str
    currency: str
    earned_count: int
    earned_points: int
    redeemed_count: int
    redeemed_points: int
    redeemed_minor: int


@dataclass(frozen=True)
class StockAlert:
    store_id: str
    sku: str
    on_hand: int
    reorder_point: int
    out: bool


@dataclass(frozen=True)
class FlaggedPayment:
    payment_id: str
    rule: str
    store_id: str
    sale_id: str
    action: str
    reason: str
    currency: str
    amount_minor: int
    occurred_at: str


@dataclass(frozen=True)
class StoreHealth:
    store_id: str
    online: bool
    changed_at_ms: int
    offline_sales: int  # the backlog the store reported when it came back (0 while offline)
    offline_duration_ms: int
    devices_in_trouble: tuple[str, ...]  # "<device_id>: <status>"


@dataclass(frozen=True)
class Alert:
    """Something HQ should look at now."""

    kind: str  # store_offline, device, flagged_payment, low_stock, stock_out, anomaly
    store_id: str
    subject: str  # the device, payment, sku or hour concerned
    detail: str
    severity: str  # warning | critical


@dataclass(frozen=True)
class Anomaly:
    store_id: str
    currency: str
    hour: datetime
    total_minor: int
    usual_minor: int  # the mean of the same hour over previous same weekdays


@dataclass(frozen=True)
class Trend:
    """A store's (or the chain's, store "") trend around `day`, in one currency."""

    store_id: str
    currency: str
    day: date
    day_total_minor: int
    same_weekday_last_week_minor: int
    day_change_bp: int | None  # None when last week had nothing to compare with
    week_start: date
    week_total_minor: int
    previous_week_total_minor: int
    week_change_bp: int | None
    moving_average_minor: tuple[tuple[date, int], ...]  # (day, trailing N-day mean)
    forecast_day: date
    forecast_minor: int
    forecast_method: str


@dataclass(frozen=True)
class StoreOverview:
    store_id: str
    currency: str
    sales_count: int
    total_minor: int
    items_sold: int
    average_basket_minor: int
    online: bool
    offline_sales: int


@dataclass(frozen=True)
class ChainOverview:
    start: date
    end: date
    totals: tuple[SalesBucket, ...]  # per currency, store_id "", period_start = start
    stores: tuple[StoreOverview, ...]
    alerts: tuple[Alert, ...]


# Helpers -----------------------------------------------------------------------------------


def check_range(start: date, end: date) -> None:
    if end < start:
        raise ReportError(f"end {end} is before start {start}")
    if (end - start).days > 3660:
        raise ReportError("a range is at most 10 years")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time())


def _bp(part: int, whole: int) -> int:
    """part/whole in basis points, rounded half up, in integers (0 when whole is 0)."""
    return (part * 10_000 * 2 + whole) // (whole * 2) if whole else 0


def _change_bp(now: int, before: int) -> int | None:
    return None if before == 0 else _bp(now - before, before)


def _stores(stores: Iterable[str] | str | None) -> list[str]:
    if stores is None:
        return []
    if isinstance(stores, str):
        return [stores] if stores else []
    return [s for s in stores if s]


def as_rows(items: Sequence[Any]) -> list[dict[str, Any]]:
    """Dataclasses as dicts of plain values (dates and datetimes as ISO strings)."""
    return [{f.name: _plain(getattr(item, f.name)) for f in fields(item)} for item in items]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


# The reports ---------------------------------------------------------------------------------


class Reports:
    """Read-only queries over the analytics projection store."""

    def __init__(self, store: ProjectionStore) -> None:
        self.store = store

    def _table(self, conn: Connection, name: str) -> Table:
        return self.store.tables(conn)[name]

    # Sales ------------------------------------------------------------------------------

    def sales_summary(
        self,
        start: date,
        end: date,
        stores: Iterable[str] | str | None = None,
        grouping: str = "day",
    ) -> list[SalesBucket]:
        """Sales per store and period, oldest first (weeks start on Monday)."""
        check_range(start, end)
        if grouping not in GROUPINGS:
            raise ReportError(f"grouping {grouping!r} is not one of {', '.join(GROUPINGS)}")
        wanted = _stores(stores)
        with self.store.engine.connect() as conn:
            if grouping == "hour":
                table = self._table(conn, "sales_by_store_hour")
                period = table.c.hour
                low, high = _midnight(start), _midnight(end + timedelta(days=1))
                where = and_(period >= low, period < high)
            elif grouping == "day":
                table = self._table(conn, "sales_by_store_day")
                period = table.c.day
                where = and_(period >= start, period <= end)
            else:
                table = self._table(conn, "sales_by_store_week")
                period = table.c.week
                where = and_(period >= week_of(start), period <= end)
            c = table.c
            if wanted:
                where = and_(where, c.store_id.in_(wanted))
            query = (
                select(period, c.store_id, c.currency, c.sales_count, c.total_minor, c.items_sold)
                .where(where)
                .order_by(period, c.store_id, c.currency)
            )
            rows = conn.execute(query).all()
        return [
            SalesBucket(
                r[0] if isinstance(r[0], datetime) else _midnight(r[0]),
                r.store_id,
                r.currency,
                r.sales_count,
                r.total_minor,
                r.items_sold,
            )
            for r in rows
        ]

    def top_products(
        self,
        start: date,
        end: date,
        store: str | None = None,
        limit: int = 10,
        slow: bool = False,
    ) -> list[ProductSales]:
        """Best sellers by quantity (slow=True: the slowest movers that sold at all)."""
        check_range(start, end)
        if not 1 <= limit <= 1000:
            raise ReportError("limit is between 1 and 1000")
        with self.store.engine.connect() as conn:
            t = self._table(conn, "product_sales").c
            qty = func.sum(t.quantity).label("quantity")
            query = (
                select(
                    t.sku,
                    t.currency,
                    qty,
                    func.sum(t.revenue_minor).label("revenue"),
                    func.sum(t.lines).label("lines"),
                )
                .where(t.day >= start, t.day <= end)
                .group_by(t.sku, t.currency)
                .order_by(qty.asc() if slow else qty.desc(), t.sku, t.currency)
                .limit(limit)
            )
            if store:
                query = query.where(t.store_id == store)
            return [
                ProductSales(r.sku, r.currency, int(r.quantity), int(r.revenue), int(r.lines))
                for r in conn.execute(query)
            ]

    def payment_mix(self, start: date, end: date, store: str | None = None) -> list[PaymentShare]:
        """Captured payments per tender and card scheme, with each one's share of its currency."""
        check_range(start, end)
        with self.store.engine.connect() as conn:
            t = self._table(conn, "payment_mix").c
            query = (
                select(
                    t.tender,
                    t.scheme,
                    t.currency,
                    func.sum(t.count).label("n"),
                    func.sum(t.total_minor).label("total"),
                )
                .where(t.day >= start, t.day <= end)
                .group_by(t.tender, t.scheme, t.currency)
                .order_by(t.currency, t.tender, t.scheme)
            )
            if store:
                query = query.where(t.store_id == store)
            rows = conn.execute(query).all()
        per_currency: dict[str, int] = defaultdict(int)
        for r in rows:
            per_currency[r.currency] += int(r.total)
        return [
            PaymentShare(
                r.tender,
                r.scheme,
                r.currency,
                int(r.n),
                int(r.total),
                _bp(int(r.total), per_currency[r.currency]),
            )
            for r in rows
        ]

    def basket_sizes(self, start: date, end: date, store: str | None = None) -> list[BasketBucket]:
        """How many sales had 1, 2, 3... items (the distribution of basket sizes)."""
        check_range(start, end)
        with self.store.engine.connect() as conn:
            t = self._table(conn, "basket_sizes").c
            items = t["items"]  # not t.items: that is the collection's own method
            query = (
                select(items.label("size"), func.sum(t.sales_count).label("n"))
                .where(t.day >= start, t.day <= end)
                .group_by(items)
                .order_by(items)
            )
            if store:
                query = query.where(t.store_id == store)
            return [BasketBucket(int(r.size), int(r.n)) for r in conn.execute(query)]

    def refund_void_rates(
        self, start: date, end: date, store: str | None = None
    ) -> list[RefundVoidRate]:
        """Returns, voids and payment refunds per store against its sales."""
        check_range(start, end)
        with self.store.engine.connect() as conn:
            s = self._table(conn, "sales_by_store_day").c
            sales_q = (
                select(
                    s.store_id,
                    s.currency,
                    func.sum(s.sales_count).label("n"),
                    func.sum(s.total_minor).label("total"),
                )
                .where(s.day >= start, s.day <= end)
                .group_by(s.store_id, s.currency)
            )
            r = self._table(conn, "refunds_voids").c
            rv_q = (
                select(
                    r.store_id,
                    r.currency,
                    r.kind,
                    func.sum(r.count).label("n"),
                    func.sum(r.total_minor).label("total"),
                )
                .where(r.day >= start, r.day <= end)
                .group_by(r.store_id, r.currency, r.kind)
            )
            if store:
                sales_q = sales_q.where(s.store_id == store)
                rv_q = rv_q.where(r.store_id == store)
            sales = {
                (x.store_id, x.currency): (int(x.n), int(x.total)) for x in conn.execute(sales_q)
            }
            kinds: dict[tuple[str, str], dict[str, tuple[int, int]]] = defaultdict(dict)
            for x in conn.execute(rv_q):
                kinds[(x.store_id, x.currency)][x.kind] = (int(x.n), int(x.total))
        result = []
        for key in sorted(set(sales) | set(kinds)):
            n, total = sales.get(key, (0, 0))
            k = kinds.get(key, {})
            returns, voids = k.get("return", (0, 0)), k.get("void", (0, 0))
            refunds = k.get("refund", (0, 0))
            result.append(
                RefundVoidRate(
                    key[0],
                    key[1],
                    n,
                    total,
                    returns[0],
                    returns[1],
                    voids[0],
                    voids[1],
                    refunds[0],
                    refunds[1],
                    k.get("payment_void", (0, 0))[0],
                    k.get("reversal", (0, 0))[0],
                    _bp(returns[1], total),
                    _bp(voids[0], n + voids[0]),
                )
            )
        return result

    def discounts(self, start: date, end: date, store: str | None = None) -> list[DiscountTotal]:
        """Discounts and promotions given, largest first."""
        check_range(start, end)
        with self.store.engine.connect() as conn:
            t = self._table(conn, "discounts").c
            total = func.sum(t.total_minor).label("total")
            query = (
                select(t.kind, t.label, t.currency, func.sum(t.count).label("n"), total)
                .where(t.day >= start, t.day <= end)
                .group_by(t.kind, t.label, t.currency)
                .order_by(total.desc(), t.kind, t.label)
            )
            if store:
                query = query.where(t.store_id == store)
            return [
                DiscountTotal(r.kind, r.label, r.currency, int(r.n), int(r.total))
                for r in conn.execute(query)
            ]

    def cash_variances(
        self, start: date, end: date, store: str | None = None, only_nonzero: bool = False
    ) -> list[CashVariance]:
        """Closed shifts' counted-vs-expected cash, worst shortfall first."""
        check_range(start, end)
        with self.store.engine.connect() as conn:
            t = self._table(conn, "cash_variances").c
            query = (
                select(self._table(conn, "cash_variances"))
                .where(t.day >= start, t.day <= end)
                .order_by(t.variance_minor, t.shift_id)
            )
            if store:
                query = query.where(t.store_id == store)
            if only_nonzero:
                query = query.where(t.variance_minor != 0)
            return [
                CashVariance(
                    r.shift_id,
                    r.store_id,
                    r.lane_id,
                    r.cashier_id,
                    r.day,
                    r.currency,
                    r.expected_minor,
                    r.counted_minor,
                    r.variance_minor,
                )
                for r in conn.execute(query)
            ]

    def loyalty(self, start: date, end: date, store: str | None = None) -> list[LoyaltyTotal]:
        """Points earned and redeemed per store (money value of redemptions per currency)."""
        check_range(start, end)
        with self.store.engine.connect() as conn:
            t = self._table(conn, "loyalty_activity").c
            sums = [
                func.sum(c).label(c.name)
                for c in (
                    t.earned_count,
                    t.earned_points,
                    t.redeemed_count,
                    t.redeemed_points,
                    t.redeemed_minor,
                )
            ]
            query = (
                select(t.store_id, t.currency, *sums)
                .where(t.day >= start, t.day <= end)
                .group_by(t.store_id, t.currency)
                .order_by(t.store_id, t.currency)
            )
            if store:
                query = query.where(t.store_id == store)
            return [
                LoyaltyTotal(
                    r.store_id,
                    r.currency,
                    int(r.earned_count),
                    int(r.earned_points),
                    int(r.redeemed_count),
                    int(r.redeemed_points),
                    int(r.redeemed_minor),
                )
                for r in conn.execute(query)
            ]

    def low_stock(self, store: str | None = None) -> list[StockAlert]:
        """Items now at or below their reorder point, or out of stock; outs first."""
        with self.store.engine.connect() as conn:
            table = self._table(conn, "stock_levels")
            t = table.c
            query = (
                select(table)
                .where((t.on_hand <= 0) | ((t.reorder_point > 0) & (t.on_hand <= t.reorder_point)))
                .order_by(t.on_hand, t.store_id, t.sku)
            )
            if store:
                query = query.where(t.store_id == store)
            return [
                StockAlert(r.store_id, r.sku, r.on_hand, r.reorder_point, r.on_hand <= 0)
                for r in conn.execute(query)
            ]

    def flagged_payments(
        self, start: date, end: date, store: str | None = None
    ) -> list[FlaggedPayment]:
        check_range(start, end)
        with self.store.engine.connect() as conn:
            table = self._table(conn, "flagged_payments")
            t = table.c
            query = (
                select(table)
                .where(t.day >= start, t.day <= end)
                .order_by(t.occurred_at.desc(), t.payment_id, t.rule)
            )
            if store:
                query = query.where(t.store_id == store)
            return [
                FlaggedPayment(
                    r.payment_id,
                    r.rule,
                    r.store_id,
                    r.sale_id,
                    r.action,
                    r.reason,
                    r.currency,
                    r.amount_minor,
                    r.occurred_at,
                )
                for r in conn.execute(query)
            ]

    def store_health(self, store: str | None = None) -> list[StoreHealth]:
        """Link state, offline backlog and troubled devices of every store heard from."""
        ok = {"connected", "ok", ""}
        with self.store.engine.connect() as conn:
            st = self._table(conn, "store_status")
            dv = self._table(conn, "device_status")
            status_q = select(st).order_by(st.c.store_id)
            device_q = select(dv).order_by(dv.c.store_id, dv.c.device_id)
            if store:
                status_q = status_q.where(st.c.store_id == store)
                device_q = device_q.where(dv.c.store_id == store)
            statuses = {r.store_id: r for r in conn.execute(status_q)}
            troubled: dict[str, list[str]] = defaultdict(list)
            for d in conn.execute(device_q):
                if d.status not in ok:
                    troubled[d.store_id].append(f"{d.device_id}: {d.status}")
        result = []
        for store_id in sorted(set(statuses) | set(troubled)):
            r = statuses.get(store_id)
            result.append(
                StoreHealth(
                    store_id,
                    bool(r.online) if r else True,
                    r.changed_at_ms if r else 0,
                    r.offline_sales if r else 0,
                    r.offline_duration_ms if r else 0,
                    tuple(troubled.get(store_id, ())),
                )
            )
        return result

    def alerts(self, today: date | None = None, flagged_days: int = 1) -> list[Alert]:
        """What needs looking at: offline stores, troubled devices, flagged payments (of the
        last `flagged_days` days), stock outs and low stock, today's anomalous hours."""
        today = today or datetime.now(UTC).date()
        found: list[Alert] = []
        for health in self.store_health():
            if not health.online:
                found.append(
                    Alert(
                        "store_offline",
                        health.store_id,
                        health.store_id,
                        "store offline since " + _ms_iso(health.changed_at_ms),
                        "critical",
                    )
                )
            for device in health.devices_in_trouble:
                found.append(
                    Alert("device", health.store_id, device.split(":")[0], device, "warning")
                )
        start = today - timedelta(days=max(flagged_days - 1, 0))
        for flag in self.flagged_payments(start, today):
            found.append(
                Alert(
                    "flagged_payment",
                    flag.store_id,
                    flag.payment_id,
                    f"{flag.rule} ({flag.action}): {flag.reason}",
                    "critical" if flag.action == "decline" else "warning",
                )
            )
        for stock in self.low_stock():
            found.append(
                Alert(
                    "stock_out" if stock.out else "low_stock",
                    stock.store_id,
                    stock.sku,
                    f"on hand {stock.on_hand}, reorder point {stock.reorder_point}",
                    "critical" if stock.out else "warning",
                )
            )
        for anomaly in self.anomalies(today):
            found.append(
                Alert(
                    "anomaly",
                    anomaly.store_id,
                    anomaly.hour.isoformat(),
                    f"{anomaly.total_minor} {anomaly.currency} against a usual "
                    f"{anomaly.usual_minor}",
                    "warning",
                )
            )
        return found

    # Trends -------------------------------------------------------------------------------

    def daily_totals(self, store: str | None, start: date, end: date) -> dict[str, dict[date, int]]:
        """currency -> day -> total (minor units) of a store, or the chain when store is None."""
        with self.store.engine.connect() as conn:
            t = self._table(conn, "sales_by_store_day").c
            query = (
                select(t.currency, t.day, func.sum(t.total_minor).label("total"))
                .where(t.day >= start, t.day <= end)
                .group_by(t.currency, t.day)
            )
            if store:
                query = query.where(t.store_id == store)
            out: dict[str, dict[date, int]] = defaultdict(dict)
            for r in conn.execute(query):
                out[r.currency][r.day] = int(r.total)
        return dict(out)

    def trend(
        self,
        store: str | None,
        day: date,
        moving_days: int = 7,
        weeks: int = 4,
    ) -> list[Trend]:
        """A store's day against last week's same weekday, its week against the previous one,
        the trailing moving average of the last 28 days, and tomorrow's forecast (see
        `forecast`); one Trend per currency the store sold in."""
        if not 1 <= moving_days <= 90 or not 1 <= weeks <= 52:
            raise ReportError("moving_days is 1..90 and weeks 1..52")
        span_start = day - timedelta(days=max(7 * weeks + 7, 28 + moving_days))
        totals = self.daily_totals(store, span_start, day)
        week_start = week_of(day)
        result = []
        for currency, per_day in sorted(totals.items()):
            last_week = per_day.get(day - timedelta(days=7), 0)
            this_week = sum(
                per_day.get(week_start + timedelta(days=i), 0)
                for i in range((day - week_start).days + 1)
            )
            prev_week = sum(
                per_day.get(week_start - timedelta(days=7 - i), 0)
                for i in range((day - week_start).days + 1)
            )
            moving = tuple(
                (d, moving_average(per_day, d, moving_days))
                for d in (day - timedelta(days=27 - i) for i in range(28))
            )
            result.append(
                Trend(
                    store or "",
                    currency,
                    day,
                    per_day.get(day, 0),
                    last_week,
                    _change_bp(per_day.get(day, 0), last_week),
                    week_start,
                    this_week,
                    prev_week,
                    _change_bp(this_week, prev_week),
                    moving,
                    day + timedelta(days=1),
                    forecast(per_day, day + timedelta(days=1), weeks),
                    FORECAST_METHOD,
                )
            )
        return result

    def anomalies(
        self,
        day: date,
        store: str | None = None,
        weeks: int = 4,
        threshold_bp: int = 5000,
        min_usual_minor: int = 1,
        until: datetime | None = None,
    ) -> list[Anomaly]:
        """Hours of `day` (up to `until`, default the current hour) whose total is below
        threshold_bp of the store's usual for that hour: the mean over the previous `weeks`
        same weekdays (weeks without any sales that day are left out of the mean)."""
        now = until or datetime.now(UTC).replace(tzinfo=None)
        history_start = _midnight(day - timedelta(days=7 * weeks))
        with self.store.engine.connect() as conn:
            t = self._table(conn, "sales_by_store_hour").c
            query = select(t.store_id, t.currency, t.hour, t.total_minor).where(
                t.hour >= history_start, t.hour < _midnight(day + timedelta(1))
            )
            if store:
                query = query.where(t.store_id == store)
            rows = conn.execute(query).all()
        hourly: dict[tuple[str, str], dict[datetime, int]] = defaultdict(dict)
        for r in rows:
            hourly[(r.store_id, r.currency)][r.hour] = int(r.total_minor)
        found = []
        for (store_id, currency), per_hour in sorted(hourly.items()):
            past_days = [day - timedelta(days=7 * w) for w in range(1, weeks + 1)]
            active = [d for d in past_days if any(h.date() == d for h in per_hour)]
            if not active:
                continue
            for hour_no in range(24):
                moment = _midnight(day) + timedelta(hours=hour_no)
                if moment + timedelta(hours=1) > now:
                    break
                usual = sum(
                    per_hour.get(_midnight(d) + timedelta(hours=hour_no), 0) for d in active
                ) // len(active)
                actual = per_hour.get(moment, 0)
                if usual >= min_usual_minor and actual * 10_000 < usual * threshold_bp:
                    found.append(Anomaly(store_id, currency, moment, actual, usual))
        return found

    def chain_overview(self, start: date, end: date) -> ChainOverview:
        """The whole chain over a range: totals per currency, each store, and the alerts."""
        check_range(start, end)
        per_store: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        for bucket in self.sales_summary(start, end, None, "day"):
            row = per_store[(bucket.store_id, bucket.currency)]
            row[0] += bucket.sales_count
            row[1] += bucket.total_minor
            row[2] += bucket.items_sold
        health = {h.store_id: h for h in self.store_health()}
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        stores = []
        for (store_id, currency), (n, total, items) in sorted(per_store.items()):
            for i, v in enumerate((n, total, items)):
                totals[currency][i] += v
            h = health.get(store_id)
            stores.append(
                StoreOverview(
                    store_id,
                    currency,
                    n,
                    total,
                    items,
                    total // n if n else 0,
                    h.online if h else True,
                    h.offline_sales if h else 0,
                )
            )
        return ChainOverview(
            start,
            end,
            tuple(
                SalesBucket(_midnight(start), "", c, v[0], v[1], v[2])
                for c, v in sorted(totals.items())
            ),
            tuple(stores),
            tuple(self.alerts(end)),
        )


FORECAST_METHOD = (
    "mean of the same weekday over the last N weeks with sales, scaled by the last 7 days "
    "against the 7 before (factor clamped to 0.5..2)"
)


def moving_average(per_day: dict[date, int], day: date, days: int) -> int:
    """The trailing `days`-day mean of daily totals ending on `day` (days without sales count
    as 0), in integer minor units rounded down."""
    return sum(per_day.get(day - timedelta(days=i), 0) for i in range(days)) // days


def forecast(per_day: dict[date, int], target: date, weeks: int = 4) -> int:
    """A next-day forecast, deliberately simple and explainable (FORECAST_METHOD): the mean of
    the same weekday over the last `weeks` weeks (leaving out weeks with no sales that day, a
    store closed or not yet open), times recent / previous 7-day totals, clamped to 0.5..2 so
    one odd week cannot run away with it. Integer arithmetic throughout."""
    same_days = [per_day.get(target - timedelta(days=7 * w), 0) for w in range(1, weeks + 1)]
    seen = [v for v in same_days if v]
    if not seen:
        return 0
    base = sum(seen) // len(seen)
    last = target - timedelta(days=1)
    recent = sum(per_day.get(last - timedelta(days=i), 0) for i in range(7))
    previous = sum(per_day.get(last - timedelta(days=7 + i), 0) for i in range(7))
    if not previous or not recent:
        return base
    recent = max(min(recent, 2 * previous), previous // 2)
    return base * recent // previous


def _ms_iso(epoch_ms: int) -> str:
    if not epoch_ms:
        return "unknown"
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).isoformat(timespec="seconds")


def write_csv(items: Sequence[Any], out: IO[str]) -> int:
    """Any report (a list of its dataclasses) as CSV with a header row; returns rows written.

    Money stays integer minor units next to its currency column: a spreadsheet divides, a
    CSV never carries a rounded float.
    """
    if not items:
        return 0
    writer = csv.DictWriter(out, fieldnames=[f.name for f in fields(items[0])], lineterminator="\n")
    writer.writeheader()
    for row in as_rows(items):
        writer.writerow(
            {k: ";".join(map(str, v)) if isinstance(v, list) else v for k, v in row.items()}
        )
    return len(items)


#: Report name -> how the CLI (and anything else taking a name) runs it over a date range.
REPORTS: dict[str, Any] = {
    "sales-hour": lambda r, s, e, store: r.sales_summary(s, e, store, "hour"),
    "sales-day": lambda r, s, e, store: r.sales_summary(s, e, store, "day"),
    "sales-week": lambda r, s, e, store: r.sales_summary(s, e, store, "week"),
    "top-products": lambda r, s, e, store: r.top_products(s, e, store, 100),
    "slow-products": lambda r, s, e, store: r.top_products(s, e, store, 100, slow=True),
    "payment-mix": lambda r, s, e, store: r.payment_mix(s, e, store),
    "basket-sizes": lambda r, s, e, store: r.basket_sizes(s, e, store),
    "refund-void-rates": lambda r, s, e, store: r.refund_void_rates(s, e, store),
    "discounts": lambda r, s, e, store: r.discounts(s, e, store),
    "cash-variances": lambda r, s, e, store: r.cash_variances(s, e, store),
    "loyalty": lambda r, s, e, store: r.loyalty(s, e, store),
    "flagged-payments": lambda r, s, e, store: r.flagged_payments(s, e, store),
    "low-stock": lambda r, s, e, store: r.low_stock(store),
    "store-health": lambda r, s, e, store: r.store_health(store),
    "alerts": lambda r, s, e, store: r.alerts(e),
    "trend": lambda r, s, e, store: r.trend(store, e),
    "anomalies": lambda r, s, e, store: r.anomalies(e, store),
}


def run_report(
    reports: Reports, name: str, start: date, end: date, store: str | None = None
) -> list[Any]:
    """Run a report by its REPORTS name, or raise ReportError naming the known ones."""
    runner = REPORTS.get(name)
    if runner is None:
        raise ReportError(f"unknown report {name!r}; one of: {', '.join(REPORTS)}")
    check_range(start, end)
    return list(runner(reports, start, end, store))
