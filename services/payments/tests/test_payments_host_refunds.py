"""Returns and voids of host-authorized payments made at the acquirer, over a real ISO 8583
socket to the acquirer simulator: recorded owed in the consumer's transaction, sent after the
batch commits (or by the timer's `send_refunds`), applied once at the acquirer even when the
service dies between the acquirer's answer and the commit, declines recorded and flagged.

Test PANs are made in memory (Luhn helper): no card number sits in this file.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest
from google.protobuf.message import Message

from payments import iso8583spec as spec
from payments.acquirerlink import AcquirerLink, TimedOut
from payments.application import AuthorizationRequest, PaymentDeclinedError, Payments
from payments.bus import HANDLERS, PaymentsCommands
from payments.consumers import PaymentsSink
from payments.contracts import PaymentsContracts
from payments.domainmodel import OWED_REFUND, Payment
from payments.hostlink import HostAcquirer, decode_reference
from payments.main import build_application
from tillstream.codec import ReceivedEvent
from tillstream.consumer import Delivery, EventSourcedSink
from tillstream.events.v1 import checkout_pb2, common_pb2, payments_pb2
from tillstream.settings import Settings
from tillstream.testing import test_settings

from .test_payments_hostlink import EXPIRY, SimulatorThread, host_for, make_pan

APPROVE = make_pan("1234", 11)
REFUND_REFUSED = make_pan("0057", 12)  # the simulator approves its sales, declines refunds


def money(amount_minor: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount_minor, currency="EUR")


def tender(payment_id: str, amount_minor: int) -> common_pb2.SaleTender:
    return common_pb2.SaleTender(payment_id=payment_id, kind="card", amount=money(amount_minor))


def received(message: Message, subject: str) -> ReceivedEvent:
    return ReceivedEvent(
        event_type=message.DESCRIPTOR.full_name,
        message=message,
        subject=subject,
        store_id="s001",
        occurred_at=datetime.now(UTC).isoformat(),
        msg_id=f"checkout:{subject}",
        headers={},
    )


def returned(return_id: str, *refunds: common_pb2.SaleTender) -> ReceivedEvent:
    return received(
        checkout_pb2.ReturnCompleted(
            return_id=return_id,
            store_id="s001",
            lane_id="lane-1",
            original_sale_id="sale-1",
            refunds=list(refunds),
            completed_at_ms=int(datetime.now(UTC).timestamp() * 1000),
        ),
        "checkout.s001.return.completed",
    )


def voided(sale_id: str, *tenders: common_pb2.SaleTender) -> ReceivedEvent:
    return received(
        checkout_pb2.SaleVoided(
            sale_id=sale_id,
            store_id="s001",
            tenders=list(tenders),
            reason="customer changed their mind",
            voided_at_ms=int(datetime.now(UTC).timestamp() * 1000),
        ),
        "checkout.s001.sale.voided",
    )


class Flow:
    """A sink as the tracking consumer drives it, numbering the deliveries."""

    def __init__(self, sink: EventSourcedSink) -> None:
        self.sink = sink
        self.position = 0

    def deliver(self, event: ReceivedEvent) -> None:
        self.position += 1
        self.sink.apply("checkout.p0", [Delivery(self.position, event)])


def published(app: Payments, kind: type[Message]) -> list[Message]:
    contracts = PaymentsContracts()
    found = []
    for notification in app.notifications(1, 10_000):
        integration = contracts.to_integration(app.mapper.to_domain_event(notification))
        if integration is not None and isinstance(integration.message, kind):
            found.append(integration.message)
    return found


def request(key: str, pan: str, amount_minor: int = 5000) -> AuthorizationRequest:
    return AuthorizationRequest(
        idempotency_key=key,
        sale_id="sale-1",
        store_id="s001",
        amount_minor=amount_minor,
        currency="EUR",
        pan=pan,
        expiry=EXPIRY,
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return test_settings(tmp_path / "data")


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimulatorThread]:
    running = SimulatorThread(tmp_path / "data" / "acquirer")
    yield running
    running.stop()


@pytest.fixture
def host(sim: SimulatorThread) -> Iterator[HostAcquirer]:
    acquirer = host_for(sim)
    yield acquirer
    acquirer.close()


@pytest.fixture
def app(settings: Settings, host: HostAcquirer) -> Iterator[Payments]:
    application = build_application(settings, host)
    yield application
    application.close()


def refunds_at_acquirer(sim: SimulatorThread) -> list[dict[str, str]]:
    return [row for row in sim.settlement_rows() if row["type"] == "refund"]


def settlement_file(sim: SimulatorThread, day: str) -> Path:
    sim.settlement_rows()  # writes the files
    assert sim.sim.settlement_dir is not None
    return sim.sim.settlement_dir / f"settlement-{day.replace('-', '')}.csv"


def test_a_return_refunds_the_card_at_the_acquirer_once(
    app: Payments, sim: SimulatorThread
) -> None:
    sale = app.authorize(request("k1", APPROVE))
    assert sale.status == "approved"
    flow = Flow(PaymentsSink(app, HANDLERS))
    flow.deliver(returned("ret-1", tender(sale.payment_id, 2000)))
    # sent right after the batch committed (the nudge), approved, then recorded
    payment = app.get_payment(UUID(sale.payment_id))
    assert payment.refunded_minor == 2000
    assert app.owed_operations(UUID(sale.payment_id)) == {}
    assert (sim.sim.stats.refunds, sim.sim.stats.refund_replays) == (1, 0)
    rows = refunds_at_acquirer(sim)
    assert [(r["amount_minor"], r["masked_pan"]) for r in rows] == [
        ("2000", spec.mask_pan(APPROVE))
    ]
    refunded = published(app, payments_pb2.PaymentRefunded)
    assert [(m.payment_id, m.amount.amount_minor) for m in refunded] == [  # type: ignore[attr-defined]
        (sale.payment_id, 2000)
    ]
    # redelivered (a replay past the tracking record): nothing recorded, nothing sent
    requests = sim.sim.stats.requests
    flow.deliver(returned("ret-1", tender(sale.payment_id, 2000)))
    assert app.get_payment(UUID(sale.payment_id)).refunded_minor == 2000
    assert sim.sim.stats.requests == requests
    assert len(published(app, payments_pb2.PaymentRefunded)) == 1
    # a second return of the rest: its own refund, with its own reference
    flow.deliver(returned("ret-2", tender(sale.payment_id, 3000)))
    assert app.get_payment(UUID(sale.payment_id)).refunded_minor == 5000
    assert sim.sim.stats.refunds == 2
    assert len({r["rrn"] for r in refunds_at_acquirer(sim)}) == 2


def test_killed_between_the_answer_and_the_commit_refunds_once(
    settings: Settings, sim: SimulatorThread
) -> None:
    first_host = host_for(sim)
    app = build_application(settings, first_host)
    sale = app.authorize(request("k1", APPROVE))
    # the consumer records the refund owed (no nudge here: the pieces run by hand)
    Flow(EventSourcedSink(app, HANDLERS)).deliver(returned("ret-1", tender(sale.payment_id, 1500)))
    payment = app.get_or_none(UUID(sale.payment_id))
    assert isinstance(payment, Payment)
    [(key, owed)] = payment.owed.items()
    assert (key, owed.operation, owed.amount_minor) == (
        f"ret-1:{sale.payment_id}",
        OWED_REFUND,
        1500,
    )
    # the acquirer is asked and approves, and the service dies before recording the answer
    answer = app._send_owed(payment, owed)
    assert answer is not None and answer.approved
    assert sim.sim.stats.refunds == 1
    app.close()
    first_host.close()
    # restarted: the refund is still owed, and is sent again with the same reference
    second_host = host_for(sim)
    restarted = build_application(settings, second_host)
    try:
        assert restarted.get_payment(UUID(sale.payment_id)).refunded_minor == 0
        # reconciliation sees the acquirer's refund we have not recorded yet
        day = datetime.now(UTC).date().isoformat()
        report = restarted.reconcile(day, settlement_file(sim, day))
        assert [(d.kind, d.payment_id, d.acquirer_minor) for d in report.differences] == [
            ("missing_ours", sale.payment_id, 1500)
        ]
        results = PaymentsCommands(restarted).send_refunds({})["payments"]
        assert [p["payment_id"] for p in results] == [sale.payment_id]
        assert restarted.get_payment(UUID(sale.payment_id)).refunded_minor == 1500
        # the acquirer knew it: answered again, applied once
        assert (sim.sim.stats.refunds, sim.sim.stats.refund_replays) == (1, 1)
        assert len(refunds_at_acquirer(sim)) == 1
        assert len(published(restarted, payments_pb2.PaymentRefunded)) == 1
        # nothing more owed: the timer's next run sends nothing
        requests = sim.sim.stats.requests
        assert restarted.send_owed_operations() == []
        assert sim.sim.stats.requests == requests
    finally:
        restarted.close()
        second_host.close()


def test_a_refund_the_acquirer_declines_is_recorded_and_flagged(
    app: Payments, sim: SimulatorThread
) -> None:
    sale = app.authorize(request("k1", REFUND_REFUSED))
    assert sale.status == "approved"
    flow = Flow(PaymentsSink(app, HANDLERS))
    flow.deliver(returned("ret-1", tender(sale.payment_id, 2000)))
    payment = app.get_payment(UUID(sale.payment_id))
    assert (payment.refunded_minor, app.owed_operations(UUID(sale.payment_id))) == (0, {})
    refused = published(app, payments_pb2.RefundRefused)
    assert len(refused) == 1
    message = refused[0]
    assert (message.payment_id, message.flagged, message.amount.amount_minor) == (  # type: ignore[attr-defined]
        sale.payment_id,
        True,
        2000,
    )
    assert "declined the refund: 57" in message.reason  # type: ignore[attr-defined]
    assert published(app, payments_pb2.PaymentRefunded) == []
    assert refunds_at_acquirer(sim) == []
    # redelivered: the key is used (declined), nothing is sent again
    requests = sim.sim.stats.requests
    flow.deliver(returned("ret-1", tender(sale.payment_id, 2000)))
    assert sim.sim.stats.requests == requests
    assert len(published(app, payments_pb2.RefundRefused)) == 1


def test_no_answer_leaves_the_refund_owed_and_the_resend_is_the_same_refund(
    settings: Settings, sim: SimulatorThread
) -> None:
    host = host_for(sim, timeout=0.3)
    app = build_application(settings, host)
    try:
        sale = app.authorize(request("k1", APPROVE))
        sim.sim.latency = 0.6  # the refund is applied at the acquirer, its answer comes late
        Flow(PaymentsSink(app, HANDLERS)).deliver(returned("ret-1", tender(sale.payment_id, 700)))
        assert app.get_payment(UUID(sale.payment_id)).refunded_minor == 0
        assert list(app.owed_operations(UUID(sale.payment_id))) == [f"ret-1:{sale.payment_id}"]
        sim.sim.latency = 0.0
        for _ in range(50):  # until the late one has been applied at the acquirer
            if sim.sim.stats.refunds:
                break
            time.sleep(0.05)
        app.send_owed_operations()  # the timer's run
        assert app.get_payment(UUID(sale.payment_id)).refunded_minor == 700
        assert (sim.sim.stats.refunds, sim.sim.stats.refund_replays) == (1, 1)
    finally:
        app.close()
        host.close()


def test_batch_counts_a_refund_once_approved(settings: Settings, sim: SimulatorThread) -> None:
    host = host_for(sim)
    app = build_application(settings, host)
    try:
        sale = app.authorize(request("k1", APPROVE))
        day = datetime.now(UTC).date().isoformat()
        Flow(EventSourcedSink(app, HANDLERS)).deliver(
            returned("ret-1", tender(sale.payment_id, 900))
        )
        owed_only = app._day_totals("s001", "", day).totals()
        assert not [t for t in owed_only if t.type == "refund"]
        app.send_owed_operations()
        closed = app.close_batch("s001", None, day)
        refunds = [(t.count, t.amount_minor) for t in closed.totals if t.type == "refund"]
        assert refunds == [(1, 900)]
        # reconciled against the acquirer's file: the sale and the refund both match
        report = app.reconcile(day, settlement_file(sim, day))
        assert (report.matched, report.differences) == (2, ())
    finally:
        app.close()
        host.close()


def test_a_voided_preauthorization_is_reversed_at_the_acquirer(
    app: Payments, sim: SimulatorThread
) -> None:
    held = app.preauthorize(request("p1", APPROVE))
    assert held.status == "authorized"
    assert [r["type"] for r in sim.settlement_rows()] == ["authorization"]
    flow = Flow(PaymentsSink(app, HANDLERS))
    flow.deliver(voided("sale-1", tender(held.payment_id, 5000)))
    assert app.get_payment(UUID(held.payment_id)).status == "voided"
    assert sim.sim.stats.reversals == 1
    assert sim.settlement_rows() == []  # the hold is gone at the acquirer
    assert len(published(app, payments_pb2.PaymentVoided)) == 1
    flow.deliver(voided("sale-1", tender(held.payment_id, 5000)))
    assert sim.sim.stats.reversals == 1


def test_a_void_owed_blocks_the_capture(settings: Settings, sim: SimulatorThread) -> None:
    host = host_for(sim)
    app = build_application(settings, host)
    try:
        held = app.preauthorize(request("p1", APPROVE))
        Flow(EventSourcedSink(app, HANDLERS)).deliver(
            voided("sale-1", tender(held.payment_id, 5000))
        )
        with pytest.raises(Exception, match="being voided at the acquirer"):
            app.capture(UUID(held.payment_id), "cap-1")
        app.send_owed_operations()
        assert app.get_payment(UUID(held.payment_id)).status == "voided"
    finally:
        app.close()
        host.close()


def test_simulator_refund_guards_over_the_socket(app: Payments, sim: SimulatorThread) -> None:
    """Straight on the link: an unknown original is 25, more than the original is 13, and
    a resend under the same reference is answered the same without being applied again."""
    sale = app.authorize(request("k1", APPROVE, amount_minor=1000))
    payment = app.get_or_none(UUID(sale.payment_id))
    assert isinstance(payment, Payment)
    original = decode_reference(payment.authorization_reference)

    async def run() -> list[str]:
        async with AcquirerLink(
            "127.0.0.1", sim.sim.port, "TS000001", "TILLSTREAM", 2.0, echo_interval=None
        ) as link:
            codes = []
            unknown = type(original)("0200", "999999", original.transmission, 1000, "EUR")
            for ref, amount, reference in (
                (unknown, 100, "000000000001"),
                (original, 1001, "000000000002"),
                (original, 600, "000000000003"),
                (original, 600, "000000000003"),
                (original, 500, "000000000004"),
            ):
                result = await link.refund(ref, amount, "EUR", reference)
                assert not isinstance(result, TimedOut)
                codes.append(result.response_code)
            return codes

    assert asyncio.run(run()) == ["25", "13", "00", "00", "13"]
    assert (sim.sim.stats.refunds, sim.sim.stats.refund_replays) == (1, 1)


def test_refund_and_void_commands_go_to_the_acquirer(app: Payments, sim: SimulatorThread) -> None:
    """The refund and void commands (NATS and gRPC alike) of a host-authorized payment take
    the same road: recorded owed, sent, answered; a retry of the key sends nothing."""
    sale = app.authorize(request("k1", APPROVE))
    done = app.refund(UUID(sale.payment_id), "r1", 1200)
    assert (done.operation, done.amount_minor, done.payment.refunded_minor) == (
        "refund",
        1200,
        1200,
    )
    assert sim.sim.stats.refunds == 1
    requests = sim.sim.stats.requests
    assert app.refund(UUID(sale.payment_id), "r1", 1200) == done
    assert sim.sim.stats.requests == requests
    refused = app.authorize(request("k2", REFUND_REFUSED))
    for _attempt in range(2):  # declined, and declined again on the key's retry
        with pytest.raises(PaymentDeclinedError, match="declined refund 'r2'"):
            app.refund(UUID(refused.payment_id), "r2", 100)
    assert app.get_payment(UUID(refused.payment_id)).refunded_minor == 0
    held = app.preauthorize(request("p1", APPROVE))
    assert app.void(UUID(held.payment_id), "v1", "no show").payment.status == "voided"
    assert sim.sim.stats.reversals == 1


def test_a_wallet_payment_is_refunded_over_the_link_too(
    app: Payments, sim: SimulatorThread
) -> None:
    wallet = app.authorize(
        AuthorizationRequest(
            idempotency_key="w1",
            sale_id="sale-1",
            store_id="s001",
            amount_minor=800,
            currency="EUR",
            pan=make_pan("4321", 13),
            expiry=EXPIRY,
            tender="wallet",
        )
    )
    assert wallet.status == "approved"
    refund = common_pb2.SaleTender(payment_id=wallet.payment_id, kind="wallet", amount=money(800))
    Flow(PaymentsSink(app, HANDLERS)).deliver(returned("ret-w", refund))
    assert app.get_payment(UUID(wallet.payment_id)).refunded_minor == 800
    assert [r["amount_minor"] for r in refunds_at_acquirer(sim)] == ["800"]


#: A payments process that sends the owed refunds and is killed (exit 9) the moment the
#: acquirer's answer is back, before anything of it is saved.
DYING_SENDER = """
import os, sys
from pathlib import Path
from payments.hostlink import HostAcquirer
from payments.main import build_application
from tillstream.testing import test_settings

host = HostAcquirer("127.0.0.1", int(sys.argv[2]), 2.0, echo_interval=None)
app = build_application(test_settings(Path(sys.argv[1])), host)

def killed(*args, **kwargs):
    os._exit(9)

app._record_acquirer_answer = killed
app.send_owed_operations()
sys.exit(3)
"""


def test_a_process_killed_after_the_answer_refunds_once(
    settings: Settings, sim: SimulatorThread
) -> None:
    host = host_for(sim)
    app = build_application(settings, host)
    sale = app.authorize(request("k1", APPROVE))
    Flow(EventSourcedSink(app, HANDLERS)).deliver(returned("ret-1", tender(sale.payment_id, 2500)))
    app.close()
    host.close()
    child = subprocess.run(
        [sys.executable, "-c", DYING_SENDER, str(settings.data_dir), str(sim.sim.port)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 9, child.stderr.decode()[-2000:]
    assert sim.sim.stats.refunds == 1  # made at the acquirer, not recorded here
    host = host_for(sim)
    restarted = build_application(settings, host)
    try:
        assert restarted.get_payment(UUID(sale.payment_id)).refunded_minor == 0
        restarted.send_owed_operations()
        assert restarted.get_payment(UUID(sale.payment_id)).refunded_minor == 2500
        assert (sim.sim.stats.refunds, sim.sim.stats.refund_replays) == (1, 1)
        assert len(published(restarted, payments_pb2.PaymentRefunded)) == 1
    finally:
        restarted.close()
        host.close()
