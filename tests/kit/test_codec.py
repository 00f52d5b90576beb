"""The integration-event codec: subjects, headers, decoding and its errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tillstream.codec import (
    H_EVENT_TYPE,
    H_MSG_ID,
    H_STORE_ID,
    IntegrationEvent,
    UndecodableEventError,
    decode,
    subject,
)
from tillstream.events.v1 import common_pb2, payments_pb2


def test_subject_is_four_validated_tokens() -> None:
    assert subject("payments", "s001", "payment", "captured") == "payments.s001.payment.captured"
    for bad in ("", "a.b", "*", ">", "s 1"):
        with pytest.raises(ValueError, match="invalid subject token"):
            subject("payments", bad, "payment", "captured")


def test_headers_and_payload_round_trip() -> None:
    message = payments_pb2.PaymentCaptured(
        payment_id="p1", sale_id="s1", store_id="s001",
        amount=common_pb2.Money(amount_minor=1234, currency="EUR"),
    )
    event = IntegrationEvent(
        subject="payments.s001.payment.captured",
        message=message,
        store_id="s001",
        occurred_at=datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
        trace_headers={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"},
    )
    headers = event.headers("payments:7")
    assert headers[H_MSG_ID] == "payments:7"
    assert headers[H_EVENT_TYPE] == "tillstream.events.v1.PaymentCaptured"
    assert headers[H_STORE_ID] == "s001"
    assert headers["Tillstream-Occurred-At"] == "2026-11-24T12:00:00+00:00"
    assert headers["traceparent"].startswith("00-111")
    received = decode(event.subject, event.payload(), headers)
    assert received.message == message
    assert received.msg_id == "payments:7"


def test_decode_refuses_missing_type_unknown_type_and_garbage() -> None:
    with pytest.raises(UndecodableEventError, match="no Tillstream-Event-Type"):
        decode("x.s.a.e", b"", {})
    with pytest.raises(UndecodableEventError, match="unknown integration event type"):
        decode("x.s.a.e", b"", {H_EVENT_TYPE: "tillstream.events.v1.NoSuchThing"})
    with pytest.raises(UndecodableEventError):
        decode("x.s.a.e", b"\xff\xff\xff", {H_EVENT_TYPE: "tillstream.events.v1.PaymentCaptured"})
