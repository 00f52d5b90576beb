"""Analytics' contracts: upstream integration events -> the facts its reports count.

Analytics publishes nothing (no outbox, no relay), so this is the inbound half of a mapping:
protobuf messages in, plain values of analytics' model out.
"""

from __future__ import annotations

from datetime import date

from analytics.domainmodel import PaymentFact, SaleFact, utc_day_of_iso, utc_day_of_ms
from tillstream.codec import ReceivedEvent
from tillstream.events.v1 import checkout_pb2, payments_pb2


def sale_day(event: ReceivedEvent, sale: checkout_pb2.SaleCompleted) -> date:
    """The UTC day of a sale: its completed_at_ms, else the event's occurred-at header."""
    if sale.completed_at_ms:
        return utc_day_of_ms(sale.completed_at_ms)
    # A producer may leave completed_at_ms unset; the header is the next best moment, and
    # unlike "now" it gives the same answer on every replay.
    return utc_day_of_iso(event.occurred_at)


def sale_completed_fact(event: ReceivedEvent) -> SaleFact:
    sale = event.message
    assert isinstance(sale, checkout_pb2.SaleCompleted)
    return SaleFact(
        store_id=sale.store_id or event.store_id,
        day=sale_day(event, sale),
        currency=sale.total.currency,
        total_minor=sale.total.amount_minor,
        items_sold=sum(line.quantity for line in sale.lines),
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
