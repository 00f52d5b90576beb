"""Analytics on the bus: the events it projects and the report commands it answers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from analytics.application import ProjectionHandler, ProjectionStore
from analytics.contracts import payment_captured_fact, sale_completed_fact
from analytics.domainmodel import ProjectionBatch
from tillstream.codec import ReceivedEvent
from tillstream.events.v1 import checkout_pb2, payments_pb2
from tillstream.service import CommandError, CommandHandler


def on_sale_completed(event: ReceivedEvent, batch: ProjectionBatch) -> None:
    """A completed sale counts towards its store's day (UTC) in its currency."""
    batch.add_sale(sale_completed_fact(event))


def on_payment_captured(event: ReceivedEvent, batch: ProjectionBatch) -> None:
    """A captured payment counts towards the payment mix of its store and day."""
    batch.add_payment(payment_captured_fact(event))


def consumer_handlers() -> dict[str, ProjectionHandler]:
    """Handlers of upstream integration events, keyed by protobuf full name."""
    return {
        checkout_pb2.SaleCompleted.DESCRIPTOR.full_name: on_sale_completed,
        payments_pb2.PaymentCaptured.DESCRIPTOR.full_name: on_payment_captured,
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

    commands: list[Callable[[dict[str, Any]], dict[str, Any]]] = [sales_totals, payment_mix]
    return {fn.__name__: fn for fn in commands}
