"""Payments reacting to checkout's and the edge agent's events, through the tracking sink on a
real SQLite store: returns refunded (partial, gift card, unreferenced refused), voided sales
given back, cash recorded, terminal approvals recorded; every one exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from google.protobuf.message import Message

from payments.acquirer import SimulatedAcquirer
from payments.application import AuthorizationRequest, Payments
from payments.bus import HANDLERS, PaymentsCommands
from payments.consumers import PaymentsSink
from payments.contracts import PaymentsContracts
from payments.domainmodel import Payment
from payments.main import build_application
from payments.tenders import CashTender, RefundRefusal
from tillstream.codec import ReceivedEvent
from tillstream.consumer import Delivery, EventSourcedSink
from tillstream.events.v1 import checkout_pb2, common_pb2, edge_pb2, payments_pb2
from tillstream.testing import card_number, test_settings

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


VISA = card_number("411111", ending="1111")
GIFT = "6035" + "7" * 12


def money(amount_minor: int, currency: str = "EUR") -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount_minor, currency=currency)


def tender(payment_id: str, kind: str, amount_minor: int) -> common_pb2.SaleTender:
    return common_pb2.SaleTender(payment_id=payment_id, kind=kind, amount=money(amount_minor))


def received(message: Message, subject: str) -> ReceivedEvent:
    return ReceivedEvent(
        event_type=message.DESCRIPTOR.full_name,
        message=message,
        subject=subject,
        store_id="s001",
        occurred_at=NOW.isoformat(),
        msg_id="checkout:1",
        headers={},
    )


def returned(
    return_id: str, *refunds: common_pb2.SaleTender, approved_by: str = "", sale_id: str = "sale-1"
) -> ReceivedEvent:
    return received(
        checkout_pb2.ReturnCompleted(
            return_id=return_id,
            store_id="s001",
            lane_id="lane-1",
            original_sale_id=sale_id,
            refunds=list(refunds),
            completed_at_ms=NOW_MS,
            approved_by=approved_by,
        ),
        "checkout.s001.return.completed",
    )


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Payments]:
    application = build_application(
        test_settings(tmp_path),
        SimulatedAcquirer(today=lambda: date(2025, 6, 15)),
        clock=lambda: NOW,
    )
    yield application
    application.close()


class Flow:
    """The sink as the tracking consumer drives it, numbering the deliveries."""

    def __init__(self, app: Payments) -> None:
        self.app = app
        self.sink = EventSourcedSink(app, HANDLERS)
        self.position = 0

    def deliver(self, event: ReceivedEvent, tracking: str = "checkout.p0") -> None:
        self.position += 1
        self.sink.apply(tracking, [Delivery(self.position, event)])

    def published(self, kind: type[Message]) -> list[Message]:
        contracts = PaymentsContracts()
        found = []
        for notification in self.app.notifications(1, 10_000):
            integration = contracts.to_integration(self.app.mapper.to_domain_event(notification))
            if integration is not None and isinstance(integration.message, kind):
                found.append(integration.message)
        return found


@pytest.fixture
def flow(app: Payments) -> Flow:
    return Flow(app)


def paid(app: Payments, key: str = "k1", amount_minor: int = 5000) -> str:
    outcome = app.authorize(
        AuthorizationRequest(
            idempotency_key=key,
            sale_id="sale-1",
            store_id="s001",
            amount_minor=amount_minor,
            currency="EUR",
            pan=VISA,
            expiry="12/30",
        )
    )
    assert outcome.status == "approved"
    return outcome.payment_id


def test_handlers_cover_returns_voids_sales_and_terminal_approvals() -> None:
    assert set(HANDLERS) == {
        "tillstream.events.v1.ReturnCompleted",
        "tillstream.events.v1.SaleVoided",
        "tillstream.events.v1.SaleCompleted",
        "tillstream.events.v1.TerminalApproval",
    }


def test_return_refunds_the_card_partially_once(app: Payments, flow: Flow) -> None:
    payment_id = paid(app)
    event = returned("ret-1", tender(payment_id, "card", 1200))
    flow.deliver(event)
    flow.deliver(event)  # redelivered at a later position: the key makes it a no-op
    outcome = app.get_payment(UUID(payment_id))
    assert outcome.refunded_minor == 1200
    refunds = flow.published(payments_pb2.PaymentRefunded)
    assert len(refunds) == 1
    refund = refunds[0]
    assert isinstance(refund, payments_pb2.PaymentRefunded)
    assert (refund.operation_key, refund.amount.amount_minor, refund.referenced) == (
        f"ret-1:{payment_id}",
        1200,
        True,
    )
    # The refund command with the same key is the same refund, not another one.
    again = app.refund(UUID(payment_id), f"ret-1:{payment_id}", 1200)
    assert again.payment.refunded_minor == 1200
    # A second return refunds the rest; a third one above what is left is refused, not raised.
    flow.deliver(returned("ret-2", tender(payment_id, "card", 3800)))
    flow.deliver(returned("ret-3", tender(payment_id, "card", 1)))
    assert app.get_payment(UUID(payment_id)).refunded_minor == 5000
    refused = flow.published(payments_pb2.RefundRefused)
    assert len(refused) == 1
    assert isinstance(refused[0], payments_pb2.RefundRefused)
    assert refused[0].source_id == "ret-3" and "refund of 1" in refused[0].reason


def test_wallet_refund_and_unknown_payment(app: Payments, flow: Flow) -> None:
    payment_id = paid(app, "w1", 900)
    unknown = str(uuid4())
    flow.deliver(
        returned(
            "ret-1",
            tender(payment_id, "wallet", 900),
            tender(unknown, "card", 100),
            tender("", "cash", 50),
        )
    )
    assert app.get_payment(UUID(payment_id)).refunded_minor == 900
    refusal = app.get_or_none(RefundRefusal.create_id("ret-1", unknown, 1))
    assert isinstance(refusal, RefundRefusal) and "no payment" in refusal.reason
    assert not refusal.flagged
    assert len(flow.published(payments_pb2.RefundRefused)) == 1  # cash is not payments'


def test_unreferenced_card_refund_is_refused_and_flagged_without_permission(
    flow: Flow,
) -> None:
    flow.deliver(returned("ret-1", tender("", "card", 700), sale_id=""))
    flow.deliver(returned("ret-2", tender("", "card", 700), sale_id="", approved_by="sup-1"))
    refused = flow.published(payments_pb2.RefundRefused)
    assert [
        (r.source_id, r.flagged)
        for r in refused  # type: ignore[attr-defined]
    ] == [("ret-1", True), ("ret-2", False)]
    assert "permission" in refused[0].reason  # type: ignore[attr-defined]
    assert flow.published(payments_pb2.PaymentRefunded) == []


def test_gift_card_refund_by_redemption_key(app: Payments, flow: Flow) -> None:
    app.activate_gift_card(GIFT, "s001", "act-1", "EUR", 5000)
    app.redeem_gift_card(GIFT, "s001", "red-1", "sale-1", 3000)
    event = returned("ret-1", tender("red-1", "gift_card", 1000))
    flow.deliver(event)
    flow.deliver(event)
    assert app.gift_card_balance(GIFT).balance_minor == 3000
    refunds = flow.published(payments_pb2.GiftCardRefunded)
    assert len(refunds) == 1
    assert refunds[0].operation_key == "ret-1:red-1"  # type: ignore[attr-defined]
    flow.deliver(returned("ret-2", tender("nope", "gift_card", 10)))
    assert len(flow.published(payments_pb2.RefundRefused)) == 1


def test_sale_voided_voids_preauth_refunds_capture_and_gift_card(
    app: Payments,
    flow: Flow,
) -> None:
    captured = paid(app, "v1", 1500)
    held = app.preauthorize(
        AuthorizationRequest(
            idempotency_key="v2",
            sale_id="sale-1",
            store_id="s001",
            amount_minor=2000,
            currency="EUR",
            pan=VISA,
            expiry="12/30",
        )
    ).payment_id
    app.activate_gift_card(GIFT, "s001", "act-1", "EUR", 5000)
    app.redeem_gift_card(GIFT, "s001", "red-1", "sale-1", 500)
    event = received(
        checkout_pb2.SaleVoided(
            sale_id="sale-1",
            store_id="s001",
            reason="customer left",
            voided_at_ms=NOW_MS,
            tenders=[
                tender(captured, "card", 1500),
                tender(held, "card", 2000),
                tender("red-1", "gift_card", 500),
                tender("", "cash", 100),
            ],
        ),
        "checkout.s001.sale.voided",
    )
    flow.deliver(event)
    flow.deliver(event)
    assert app.get_payment(UUID(captured)).refunded_minor == 1500
    assert app.get_payment(UUID(held)).status == "voided"
    assert app.gift_card_balance(GIFT).balance_minor == 5000
    assert len(flow.published(payments_pb2.PaymentVoided)) == 1
    assert len(flow.published(payments_pb2.PaymentRefunded)) == 1
    assert flow.published(payments_pb2.RefundRefused) == []


def test_cash_tenders_recorded_net_of_change(app: Payments, flow: Flow) -> None:
    sale = checkout_pb2.SaleCompleted(
        sale_id="sale-9",
        store_id="s001",
        lane_id="lane-2",
        completed_at_ms=NOW_MS,
        tenders=[tender("", "cash", 2000), tender("p", "card", 100)],
        change=money(350),
    )
    flow.deliver(received(sale, "checkout.s001.sale.completed"))
    flow.deliver(received(sale, "checkout.s001.sale.completed"))
    cash = app.get_or_none(CashTender.create_id("sale-9", 0))
    assert isinstance(cash, CashTender)
    assert (cash.amount_minor, cash.lane_id, cash.currency) == (1650, "lane-2", "EUR")
    assert app.get_or_none(CashTender.create_id("sale-9", 1)) is None


def approval(
    payment_id: str, offline: bool = False, auth_code: str = "A1B2C3", amount_minor: int = 2500
) -> ReceivedEvent:
    message = edge_pb2.TerminalApproval(
        payment_id=payment_id,
        sale_id="sale-t",
        store_id="s001",
        lane_id="lane-1",
        amount=money(amount_minor),
        token="tok-1",
        masked_pan="411111******1111",
        scheme="visa",
        auth_code=auth_code,
        offline=offline,
        approved_at_ms=NOW_MS,
        terminal_id="term-1",
    )
    return ReceivedEvent(
        event_type=message.DESCRIPTOR.full_name,
        message=message,
        subject="edge.s001.payment.terminal_approved",
        store_id="s001",
        occurred_at=NOW.isoformat(),
        msg_id="edge:1",
        headers={},
    )


def test_terminal_approval_recorded_once_and_refunded_on_the_terminal(
    app: Payments, flow: Flow
) -> None:
    payment_id = str(uuid4())
    flow.deliver(approval(payment_id), "edge.p0")
    flow.deliver(approval(payment_id), "edge.p0")
    payment = app.get_or_none(UUID(payment_id))
    assert isinstance(payment, Payment)
    assert (
        payment.status,
        payment.captured_minor,
        payment.auth_code,
        payment.terminal_id,
        payment.advice_owed,
    ) == ("captured", 2500, "A1B2C3", "term-1", False)
    captured = flow.published(payments_pb2.PaymentCaptured)
    assert len(captured) == 1
    assert captured[0].card.masked_pan == "411111******1111"  # type: ignore[attr-defined]
    # checkout's later return names the agent's payment_id: the host never saw this card, so
    # the refund is done on the terminal; payments refuses it with that reason (not flagged)
    # and does not mark the payment refunded.
    flow.deliver(returned("ret-t", tender(payment_id, "card", 500)))
    assert app.get_payment(UUID(payment_id)).refunded_minor == 0
    refused = flow.published(payments_pb2.RefundRefused)
    assert [(r.payment_id, r.flagged) for r in refused] == [(payment_id, False)]  # type: ignore[attr-defined]
    assert "on the store's terminal" in refused[0].reason  # type: ignore[attr-defined]
    assert flow.published(payments_pb2.PaymentRefunded) == []


def test_offline_terminal_approvals_are_advised_and_late_declines_published(
    app: Payments, flow: Flow
) -> None:
    accepted, declined = str(uuid4()), str(uuid4())
    flow.deliver(approval(accepted, offline=True, auth_code=""), "edge.p0")
    late = approval(declined, offline=True, auth_code="")
    assert isinstance(late.message, edge_pb2.TerminalApproval)
    late.message.masked_pan = "400000******0051"  # the simulator's insufficient-funds range
    flow.deliver(late, "edge.p0")
    flow.deliver(approval(str(uuid4())), "edge.p0")  # online: no advice owed
    for payment_id in (accepted, declined):
        payment = app.get_or_none(UUID(payment_id))
        assert isinstance(payment, Payment) and payment.advice_owed

    advised = PaymentsCommands(app).send_advices({})["payments"]
    assert {p["payment_id"] for p in advised} == {accepted, declined}
    assert PaymentsCommands(app).send_advices({}) == {"payments": []}  # nothing owed now
    late_declines = flow.published(payments_pb2.PaymentLateDeclined)
    assert len(late_declines) == 1
    message = late_declines[0]
    assert isinstance(message, payments_pb2.PaymentLateDeclined)
    assert (message.payment_id, message.response_code, message.terminal_id) == (
        declined,
        "51",
        "term-1",
    )
    assert message.amount.amount_minor == 2500
    payment = app.get_or_none(UUID(declined))
    assert isinstance(payment, Payment) and payment.late_declined and not payment.advice_owed


def test_malformed_terminal_approval_fails_for_the_dead_letter(flow: Flow) -> None:
    with pytest.raises(ValueError, match="terminal approval"):
        flow.deliver(approval(str(uuid4()), amount_minor=0), "edge.p0")


def test_backlog_batch_checks_duplicates_in_one_query_and_records_each_once(
    app: Payments,
) -> None:
    """An offline backlog arrives in large batches (issue 6): the sink finds which cash
    tenders and terminal payments are stored already with one query per batch. Stored ones,
    copies within the batch and new ones are each recorded exactly once."""
    sink = PaymentsSink(app, HANDLERS)
    stored, fresh = str(uuid4()), str(uuid4())
    sink.apply("edge.p0", [Delivery(1, approval(stored))])

    def cash_sale(sale_id: str) -> ReceivedEvent:
        sale = checkout_pb2.SaleCompleted(
            sale_id=sale_id,
            store_id="s001",
            lane_id="lane-2",
            completed_at_ms=NOW_MS,
            tenders=[tender("", "cash", 1000)],
        )
        return received(sale, "checkout.s001.sale.completed")

    sink.apply("checkout.p0", [Delivery(1, cash_sale("sale-a"))])
    edge = [approval(stored), approval(fresh), approval(fresh)]
    sink.apply("edge.p0", [Delivery(n, event) for n, event in enumerate(edge, start=2)])
    sales = [cash_sale("sale-a"), cash_sale("sale-b"), cash_sale("sale-b")]
    sink.apply("checkout.p0", [Delivery(n, event) for n, event in enumerate(sales, start=2)])

    uow = sink.unit_of_work([Delivery(9, approval(stored)), Delivery(10, approval(str(uuid4())))])
    assert UUID(stored) not in uow.absent and len(uow.absent) == 1
    assert isinstance(app.get_or_none(UUID(fresh)), Payment)
    for sale_id in ("sale-a", "sale-b"):
        assert isinstance(app.get_or_none(CashTender.create_id(sale_id, 0)), CashTender)
    captured = Flow(app).published(payments_pb2.PaymentCaptured)
    assert sorted(c.payment_id for c in captured) == sorted([stored, fresh])  # type: ignore[attr-defined]
    recorded = [n for n in app.notifications(1, 10_000) if n.topic.endswith("CashTender.Recorded")]
    assert len(recorded) == 2
