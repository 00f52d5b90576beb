"""Analytics' contracts: upstream integration events -> the facts its reports count.

Analytics publishes nothing (no outbox, no relay), so this is the inbound half of a mapping:
protobuf messages in, plain values of analytics' model out.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from google.protobuf.message import Message

from analytics.domainmodel import (
    DiscountFact,
    LineFact,
    PaymentFact,
    ProjectionBatch,
    SaleFact,
    utc_day_of_iso,
    utc_day_of_ms,
    utc_hour_of_iso,
    utc_hour_of_ms,
)
from tillstream.codec import ReceivedEvent
from tillstream.events.v1 import checkout_pb2, crm_pb2, edge_pb2, inventory_pb2, payments_pb2

ProjectionHandler = Callable[[ReceivedEvent, ProjectionBatch], None]


def sale_day(event: ReceivedEvent, sale: checkout_pb2.SaleCompleted) -> date:
    """The UTC day of a sale: its completed_at_ms, else the event's occurred-at header."""
    if sale.completed_at_ms:
        return utc_day_of_ms(sale.completed_at_ms)
    # A producer may leave completed_at_ms unset; the header is the next best moment, and
    # unlike "now" it gives the same answer on every replay.
    return utc_day_of_iso(event.occurred_at)


def sale_completed_fact(event: ReceivedEvent) -> SaleFact:
    """The sale as analytics counts it. Called once per sale on every replay, so each
    protobuf field is read once (the lines once, not once for the items and once more)."""
    sale = event.message
    assert isinstance(sale, checkout_pb2.SaleCompleted)
    completed_at_ms = sale.completed_at_ms
    if completed_at_ms:
        hour = utc_hour_of_ms(completed_at_ms)
        day = hour.date()
    else:
        hour = utc_hour_of_iso(event.occurred_at)
        day = sale_day(event, sale)
    lines = tuple(
        [LineFact(line.sku, line.quantity, line.line_total.amount_minor) for line in sale.lines]
    )
    total = sale.total
    return SaleFact(
        store_id=sale.store_id or event.store_id,
        day=day,
        currency=total.currency,
        total_minor=total.amount_minor,
        items_sold=sum([line.quantity for line in lines]),
        sale_id=sale.sale_id,
        hour=hour,
        lines=lines,
        discounts=tuple(
            [DiscountFact(d.kind, d.label, d.amount.amount_minor) for d in sale.discounts]
        ),
        discount_minor=sale.discount_total.amount_minor,
        tax_minor=sale.tax_total.amount_minor,
        offline=sale.offline,
        completed_at_ms=completed_at_ms,
    )


def payment_captured_fact(event: ReceivedEvent) -> PaymentFact:
    payment = event.message
    assert isinstance(payment, payments_pb2.PaymentCaptured)
    return PaymentFact(
        store_id=payment.store_id or event.store_id,
        # PaymentCaptured has no time field: the occurred-at header (the producer's domain
        # event time) is the capture time, and stays the same across replays.
        day=utc_day_of_iso(event.occurred_at),
        tender=payment.tender,
        scheme=payment.card.scheme if payment.HasField("card") else "",
        currency=payment.amount.currency,
        amount_minor=payment.amount.amount_minor,
    )


# The other upstream events: each folds straight into a batch's increments and states. ----


def event_day(event: ReceivedEvent, at_ms: int = 0) -> date:
    """An event's UTC day: its own time field when set, else the occurred-at header (never
    "now", so a replay gives the same day)."""
    return utc_day_of_ms(at_ms) if at_ms else utc_day_of_iso(event.occurred_at)


def _store(event: ReceivedEvent, message: Message) -> str:
    return getattr(message, "store_id", "") or event.store_id


def fold_return_completed(event: ReceivedEvent, batch: ProjectionBatch) -> None:
    ret = event.message
    assert isinstance(ret, checkout_pb2.ReturnCompleted)
    batch.count(
        "refunds_voids",
        (_store(event, ret), event_day(event, ret.completed_at_ms), "return", ret.total.currency),
        1,
        ret.total.amount_minor,
    )


def fold_sale_voided(event: ReceivedEvent, batch: ProjectionBatch) -> None:
    """A voided sale counts once; its value is what had been tendered (per currency)."""
    void = event.message
    assert isinstance(void, checkout_pb2.SaleVoided)
    currency = void.tenders[0].amount.currency if void.tenders else ""
    paid = sum(t.amount.amount_minor for t in void.tenders if t.amount.currency == currency)
    batch.count(
        "refunds_voids",
        (_store(event, void), event_day(event, void.voided_at_ms), "void", currency),
        1,
        paid,
    )


def _payment_kind(kind: str) -> ProjectionHandler:
    def fold(event: ReceivedEvent, batch: ProjectionBatch) -> None:
        message = event.message
        amount = message.amount  # type: ignore[attr-defined]
        batch.count(
            "refunds_voids",
            (_store(event, message), event_day(event), kind, amount.currency),
            1,
            amount.amount_minor,
        )

    fold.__doc__ = f"A payments event counted as a {kind} of its store and day."
    return fold


fold_payment_refunded = _payment_kind("refund")
fold_payment_voided = _payment_kind("payment_void")
fold_payment_reversed = _payment_kind("reversal")


def fold_shift_closed(event: ReceivedEvent, batch: ProjectionBatch) -> None:
    """A closed shift's Z report: one row per shift (a redelivery rewrites the same values)."""
    shift = event.message
    assert isinstance(shift, checkout_pb2.ShiftClosed)
    batch.put(
        "cash_variances",
        (shift.shift_id,),
        store_id=_store(event, shift),
        lane_id=shift.lane_id,
        cashier_id=shift.cashier_id,
        day=event_day(event, shift.closed_at_ms),
        currency=shift.expected.currency,
        expected_minor=shift.expected.amount_minor,
        counted_minor=shift.counted.amount_minor,
        variance_minor=shift.variance.amount_minor,
        closed_at_ms=shift.closed_at_ms,
    )


def fold_stock_level(event: ReceivedEvent, batch: ProjectionBatch) -> None:
    """Any stock movement carries the new on-hand; reaching zero from above is a stock-out."""
    stock = event.message
    store, sku = _store(event, stock), stock.sku  # type: ignore[attr-defined]
    on_hand = int(stock.on_hand)  # type: ignore[attr-defined]
    batch.put("stock_levels", (store, sku), on_hand=on_hand)
    delta = int(getattr(stock, "delta", 0))
    if on_hand <= 0 < on_hand - delta:
        batch.count("stock_alerts", (store, event_day(event), sku, "out"), 1)


def fold_stock_low(event: ReceivedEvent, batch: ProjectionBatch) -> None:
    low = event.message
    assert isinstance(low, inventory_pb2.StockLow)
    store = _store(event, low)
    batch.put(
        "stock_levels", (store, low.sku), on_hand=low.on_hand, reorder_point=low.reorder_point
    )
    batch.count("stock_alerts", (store, event_day(event), low.sku, "low"), 1)


def fold_points_earned(event: ReceivedEvent, batch: ProjectionBatch) -> None:
    """Points have no currency: earned points count on the store's currency-less row."""
    earned = event.message
    assert isinstance(earned, crm_pb2.LoyaltyPointsEarned)
    batch.count(
        "loyalty_activity", (_store(event, earned), event_day(event), ""), 1, earned.points, 0, 0, 0
    )


def fold_points_redeemed(event: ReceivedEvent, batch: ProjectionBatch) -> None:
    redeemed = event.message
    assert isinstance(redeemed, crm_pb2.LoyaltyPointsRedeemed)
    batch.count(
        "loyalty_activity",
        (_store(event, redeemed), event_day(event), redeemed.amount.currency),
        0,
        0,
        1,
        redeemed.points,
        redeemed.amount.amount_minor,
    )


def fold_payment_flagged(event: ReceivedEvent, batch: ProjectionBatch) -> None:
    flag = event.message
    assert isinstance(flag, payments_pb2.PaymentFlagged)
    batch.put(
        "flagged_payments",
        (flag.payment_id, flag.rule),
        store_id=_store(event, flag),
        day=event_day(event),
        sale_id=flag.sale_id,
        action=flag.action,
        reason=flag.reason,
        currency=flag.amount.currency,
        amount_minor=flag.amount.amount_minor,
        occurred_at=event.occurred_at,
    )


def fold_store_offline(event: ReceivedEvent, batch: ProjectionBatch) -> None:
    went = event.message
    assert isinstance(went, edge_pb2.StoreWentOffline)
    batch.put(
        "store_status",
        (_store(event, went),),
        online=False,
        changed_at_ms=went.at_ms,
        offline_sales=0,
        offline_duration_ms=0,
    )


def fold_store_online(event: ReceivedEvent, batch: ProjectionBatch) -> None:
    came = event.message
    assert isinstance(came, edge_pb2.StoreCameOnline)
    batch.put(
        "store_status",
        (_store(event, came),),
        online=True,
        changed_at_ms=came.at_ms,
        offline_sales=came.offline_sales,
        offline_duration_ms=came.offline_duration_ms,
    )


def fold_device_status(event: ReceivedEvent, batch: ProjectionBatch) -> None:
    device = event.message
    assert isinstance(device, edge_pb2.DeviceStatus)
    batch.put(
        "device_status",
        (_store(event, device), device.device_id),
        kind=device.kind,
        status=device.status,
        detail=device.detail,
        at_ms=device.at_ms,
    )
