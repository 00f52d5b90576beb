"""Upstream integration events -> analytics facts."""

from __future__ import annotations

from datetime import date, datetime

from google.protobuf.message import Message

from analytics.contracts import payment_captured_fact, sale_completed_fact
from analytics.domainmodel import LineFact, PaymentFact, SaleFact
from tillstream.codec import ReceivedEvent
from tillstream.events.v1 import checkout_pb2, common_pb2, payments_pb2


def received(message: Message, occurred_at: str = "2025-03-01T10:00:00+00:00") -> ReceivedEvent:
    return ReceivedEvent(
        event_type=message.DESCRIPTOR.full_name,
        message=message,
        subject="x.s001.y.z",
        store_id="s001",
        occurred_at=occurred_at,
        msg_id="x:1",
        headers={},
    )


def test_sale_completed() -> None:
    sale = checkout_pb2.SaleCompleted(
        sale_id="sale-1",
        store_id="s002",
        lines=[common_pb2.SaleLine(sku="A", quantity=2), common_pb2.SaleLine(sku="B", quantity=3)],
        total=common_pb2.Money(amount_minor=1234, currency="EUR"),
        completed_at_ms=1_735_689_599_999,  # the last millisecond of 2024 in UTC
    )
    assert sale_completed_fact(received(sale)) == SaleFact(
        "s002",
        date(2024, 12, 31),
        "EUR",
        1234,
        5,
        sale_id="sale-1",
        hour=datetime(2024, 12, 31, 23),
        lines=(LineFact("A", 2, 0), LineFact("B", 3, 0)),
        completed_at_ms=1_735_689_599_999,
    )


def test_sale_without_completed_at_uses_the_header() -> None:
    sale = checkout_pb2.SaleCompleted(
        sale_id="sale-1", total=common_pb2.Money(amount_minor=1, currency="EUR")
    )
    fact = sale_completed_fact(received(sale, "2025-03-01T23:30:00-02:00"))
    assert (fact.store_id, fact.day) == ("s001", date(2025, 3, 2))


def test_payment_captured() -> None:
    payment = payments_pb2.PaymentCaptured(
        payment_id="p1",
        store_id="s001",
        tender="card",
        amount=common_pb2.Money(amount_minor=999, currency="EUR"),
        card=payments_pb2.Card(token="t", masked_pan="411111******1111", scheme="visa"),
    )
    assert payment_captured_fact(received(payment)) == PaymentFact(
        "s001", date(2025, 3, 1), "card", "visa", "EUR", 999
    )


def test_cash_payment_has_no_scheme() -> None:
    payment = payments_pb2.PaymentCaptured(
        payment_id="p1",
        store_id="s001",
        tender="cash",
        amount=common_pb2.Money(amount_minor=500, currency="EUR"),
    )
    assert payment_captured_fact(received(payment)).scheme == ""
