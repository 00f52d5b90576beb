"""Analytics on the bus: the events it projects and the report commands it answers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from analytics import contracts as c
from analytics.application import ProjectionHandler, ProjectionStore
from analytics.contracts import payment_captured_fact, sale_completed_fact
from analytics.domainmodel import ProjectionBatch
from analytics.reports import REPORTS, ReportError, Reports, as_rows, run_report
from tillstream.codec import ReceivedEvent
from tillstream.events.v1 import checkout_pb2, crm_pb2, edge_pb2, inventory_pb2, payments_pb2
from tillstream.service import CommandError, CommandHandler


def on_sale_completed(event: ReceivedEvent, batch: ProjectionBatch) -> None:
    """A completed sale counts towards its store's day (UTC) in its currency."""
    batch.add_sale(sale_completed_fact(event))


def on_payment_captured(event: ReceivedEvent, batch: ProjectionBatch) -> None:
    """A captured payment counts towards the payment mix of its store and day."""
    batch.add_payment(payment_captured_fact(event))


#: What analytics subscribes to, per upstream: `<aggregate>.<event>` subjects (the server
#: filters by them) and the handler of each event's message type.
PROJECTED: dict[str, tuple[tuple[str, type, ProjectionHandler], ...]] = {
    "checkout": (
        ("sale.completed", checkout_pb2.SaleCompleted, on_sale_completed),
        ("sale.voided", checkout_pb2.SaleVoided, c.fold_sale_voided),
        ("return.completed", checkout_pb2.ReturnCompleted, c.fold_return_completed),
        ("shift.closed", checkout_pb2.ShiftClosed, c.fold_shift_closed),
    ),
    "payments": (
        ("payment.captured", payments_pb2.PaymentCaptured, on_payment_captured),
        ("payment.refunded", payments_pb2.PaymentRefunded, c.fold_payment_refunded),
        ("payment.voided", payments_pb2.PaymentVoided, c.fold_payment_voided),
        ("payment.reversed", payments_pb2.PaymentReversed, c.fold_payment_reversed),
        ("payment.flagged", payments_pb2.PaymentFlagged, c.fold_payment_flagged),
    ),
    "inventory": (
        ("stock.changed", inventory_pb2.StockChanged, c.fold_stock_level),
        ("stock.adjusted", inventory_pb2.StockAdjusted, c.fold_stock_level),
        ("stock.counted", inventory_pb2.StockCounted, c.fold_stock_level),
        ("stock.returned", inventory_pb2.StockReturned, c.fold_stock_level),
        ("stock.low", inventory_pb2.StockLow, c.fold_stock_low),
    ),
    "crm": (
        ("loyalty.points_earned", crm_pb2.LoyaltyPointsEarned, c.fold_points_earned),
        ("loyalty.points_redeemed", crm_pb2.LoyaltyPointsRedeemed, c.fold_points_redeemed),
    ),
    "edge": (
        ("store.offline", edge_pb2.StoreWentOffline, c.fold_store_offline),
        ("store.online", edge_pb2.StoreCameOnline, c.fold_store_online),
        ("device.status", edge_pb2.DeviceStatus, c.fold_device_status),
    ),
}


def subscribed_events() -> dict[str, tuple[str, ...]]:
    """upstream -> the `<aggregate>.<event>` subjects analytics consumes from it."""
    return {up: tuple(subject for subject, _, _ in events) for up, events in PROJECTED.items()}


def consumer_handlers() -> dict[str, ProjectionHandler]:
    """Handlers of upstream integration events, keyed by protobuf full name."""
    return {
        cls.DESCRIPTOR.full_name: handler  # type: ignore[attr-defined]
        for events in PROJECTED.values()
        for _, cls, handler in events
    }


def _day(payload: dict[str, Any]) -> date | None:
    value = payload.get("day")
    if not value:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise CommandError(f"day {value!r} is not YYYY-MM-DD", "invalid") from exc


def _store(payload: dict[str, Any]) -> str | None:
    value = payload.get("store_id")
    if value is not None and not isinstance(value, str):
        raise CommandError("store_id is a string", "invalid")
    return value or None


def command_handlers(store: ProjectionStore) -> dict[str, CommandHandler]:
    """Analytics' request/reply commands (JSON in, JSON out)."""

    def sales_totals(payload: dict[str, Any]) -> dict[str, Any]:
        return {"rows": store.sales_totals(_store(payload), _day(payload))}

    def payment_mix(payload: dict[str, Any]) -> dict[str, Any]:
        return {"rows": store.payment_mix(_store(payload), _day(payload))}

    reports = Reports(store)

    def report(payload: dict[str, Any]) -> dict[str, Any]:
        """Any named report (see analytics.reports.REPORTS) over start..end, as JSON rows."""
        name = payload.get("report")
        if not isinstance(name, str) or not name:
            raise CommandError(f"report is one of: {', '.join(REPORTS)}", "invalid")
        end = _date_field(payload, "end") or datetime.now(UTC).date()
        start = _date_field(payload, "start") or end
        try:
            rows = run_report(reports, name, start, end, _store(payload))
        except ReportError as exc:
            raise CommandError(str(exc), "invalid") from exc
        return {"report": name, "rows": as_rows(rows)}

    commands: list[Callable[[dict[str, Any]], dict[str, Any]]] = [
        sales_totals,
        payment_mix,
        report,
    ]
    return {fn.__name__: fn for fn in commands}


def _date_field(payload: dict[str, Any], key: str) -> date | None:
    value = payload.get(key)
    if not value:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise CommandError(f"{key} {value!r} is not YYYY-MM-DD", "invalid") from exc
