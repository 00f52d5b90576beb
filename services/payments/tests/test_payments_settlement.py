"""End-of-day batches and reconciliation against the acquirer simulator's settlement file.

Batches add up payments' own events (sales, tips, refunds, voids, cash, per scheme and
terminal). Reconciliation runs against a real simulator over a real socket, with one seeded
difference of each kind: an amount changed in the file, a charge we only have as pending (its
answer never came and its reversal was dropped), a row of the acquirer's we know nothing of,
and a payment of ours the acquirer never saw.
"""

from __future__ import annotations

import asyncio
import csv
import threading
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import pytest

from payments import iso8583spec as spec
from payments.acquirer import SimulatedAcquirer
from payments.acquirersim import AcquirerSimulator
from payments.application import AuthorizationRequest, BatchNotFoundError, Payments
from payments.batch import BatchError, BatchTotal, read_settlement
from payments.bus import HANDLERS, PaymentsCommands
from payments.contracts import PaymentsContracts
from payments.domainmodel import CaptureAboveToleranceError
from payments.hostlink import HostAcquirer
from payments.main import build_application
from tillstream.codec import ReceivedEvent
from tillstream.consumer import Delivery, EventSourcedSink
from tillstream.events.v1 import checkout_pb2, common_pb2, edge_pb2, payments_pb2
from tillstream.service import CommandError
from tillstream.testing import test_settings

T = TypeVar("T")
EXPIRY = f"12/{(datetime.now(UTC).year + 3) % 100:02d}"


def make_pan(ending: str, serial: int, prefix: str = "400000") -> str:
    """A Luhn-valid test PAN made in memory; its last four digits pick the simulator's answer."""
    body = f"{prefix}{serial:05d}"
    for digit in "0123456789":
        if spec.luhn_valid(body + digit + ending):
            return body + digit + ending
    raise AssertionError("unreachable")


APPROVE = make_pan("1234", 1)
NO_ANSWER = make_pan("0099", 3)


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def money(amount_minor: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount_minor, currency="EUR")


def request(key: str, pan: str = APPROVE, amount_minor: int = 1000) -> AuthorizationRequest:
    return AuthorizationRequest(
        idempotency_key=key,
        sale_id=f"sale-{key}",
        store_id="s001",
        amount_minor=amount_minor,
        currency="EUR",
        pan=pan,
        expiry=EXPIRY,
    )


def deliver(
    app: Payments, position: int, message: Any, subject: str, tracking: str = "checkout.p0"
) -> None:
    event = ReceivedEvent(
        event_type=message.DESCRIPTOR.full_name,
        message=message,
        subject=subject,
        store_id="s001",
        occurred_at=datetime.now(UTC).isoformat(),
        msg_id="x:1",
        headers={},
    )
    EventSourcedSink(app, HANDLERS).apply(tracking, [Delivery(position, event)])


def terminal_approval(
    app: Payments, position: int, terminal_id: str, amount_minor: int, auth_code: str = "T00001"
) -> str:
    payment_id = str(uuid4())
    deliver(
        app,
        position,
        edge_pb2.TerminalApproval(
            payment_id=payment_id,
            sale_id=f"sale-{payment_id}",
            store_id="s001",
            lane_id="lane-1",
            amount=money(amount_minor),
            token="tok",
            scheme="visa",
            masked_pan="400000******1234",
            auth_code=auth_code,
            terminal_id=terminal_id,
            approved_at_ms=int(datetime.now(UTC).timestamp() * 1000),
        ),
        "edge.s001.payment.terminal_approved",
        "edge.p0",
    )
    return payment_id


# -- batches ---------------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Payments]:
    application = build_application(test_settings(tmp_path), SimulatedAcquirer())
    yield application
    application.close()


def test_batch_totals_by_scheme_and_type(app: Payments) -> None:
    sale = app.authorize(request("s1", amount_minor=5000)).payment_id
    held = app.preauthorize(request("p1", amount_minor=2000)).payment_id
    app.adjust_tip(UUID(held), "tip-1", 300)
    app.capture(UUID(held), "cap-1")
    voided = app.preauthorize(request("p2", amount_minor=800)).payment_id
    app.void(UUID(voided), "void-1")
    app.refund(UUID(sale), "ref-1", 1200)
    deliver(
        app,
        1,
        checkout_pb2.SaleCompleted(
            sale_id="cash-sale",
            store_id="s001",
            lane_id="lane-2",
            tenders=[common_pb2.SaleTender(kind="cash", amount=money(2000))],
            change=money(350),
        ),
        "checkout.s001.sale.completed",
    )
    terminal_approval(app, 1, "term-1", 2500)
    app.authorize(
        AuthorizationRequest(  # another store: not in this batch
            idempotency_key="o1",
            sale_id="o",
            store_id="s002",
            amount_minor=9999,
            currency="EUR",
            pan=APPROVE,
            expiry=EXPIRY,
        )
    )

    report = app.close_batch("s001", None, today())
    assert set(report.totals) == {
        BatchTotal("visa", "sale", 3, 9500),
        BatchTotal("visa", "tip", 1, 300),
        BatchTotal("visa", "refund", 1, 1200),
        BatchTotal("visa", "void", 1, 800),
        BatchTotal("cash", "cash", 1, 1650),
    }
    assert (report.net_minor, report.currency, report.terminal_id) == (10250, "EUR", "")
    # Closed once: closing again returns the first close, even after more sales.
    app.authorize(request("s2", amount_minor=100))
    assert app.close_batch("s001", None, today()) == report
    assert app.get_batch("s001", None, today()) == report

    terminal = app.close_batch("s001", "term-1", today())
    assert terminal.totals == (BatchTotal("visa", "sale", 1, 2500),)
    lane = app.close_batch("s001", "lane-2", today())
    assert lane.totals == (BatchTotal("cash", "cash", 1, 1650),)

    closed = [
        PaymentsContracts().to_integration(app.mapper.to_domain_event(n))
        for n in app.notifications(1, 10_000)
    ]
    batches = [
        e.message
        for e in closed
        if e is not None and isinstance(e.message, payments_pb2.BatchClosed)
    ]
    assert len(batches) == 3
    first = batches[0]
    assert isinstance(first, payments_pb2.BatchClosed)
    assert first.net.amount_minor == 10250 and len(first.totals) == 5
    assert closed[-1] is not None and closed[-1].subject == "payments.s001.batch.closed"


def test_batch_commands_and_refusals(app: Payments) -> None:
    commands = PaymentsCommands(app)
    app.authorize(request("s1", amount_minor=700))
    reply = commands.close_batch({"store_id": "s001", "business_day": today()})
    assert reply["net_minor"] == 700 and reply["totals"] == [
        {"scheme": "visa", "type": "sale", "count": 1, "amount_minor": 700}
    ]
    with pytest.raises(CommandError) as refused:
        commands.close_batch({"store_id": "s001", "business_day": "yesterday"})
    assert refused.value.code == "invalid"
    with pytest.raises(CommandError) as refused:
        commands.get_reconciliation({"business_day": today()})
    assert refused.value.code == "not_found"
    with pytest.raises(CommandError) as refused:
        commands.reconcile({"business_day": today(), "settlement_path": "/etc/passwd"})
    assert refused.value.code == "invalid"
    with pytest.raises(BatchNotFoundError):
        app.get_batch("s009", None, today())
    with pytest.raises(BatchError):
        app.reconcile(today(), Path("/nonexistent/settlement-1.csv"))


# -- reconciliation against the simulator ------------------------------------------------------


class SimulatorThread:
    """The simulator on its own event loop in a thread (the application is synchronous)."""

    def __init__(self, settlement_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sim = AcquirerSimulator(port=0, settlement_dir=settlement_dir)
        self.run(self.sim.start())

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def write_settlement(self) -> Path:
        async def write() -> list[Path]:
            return self.sim.write_settlement(datetime.now(UTC).date())

        return self.run(write())[0]

    def stop(self) -> None:
        self.run(self.sim.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimulatorThread]:
    running = SimulatorThread(tmp_path / "acquirer")
    yield running
    running.stop()


@pytest.fixture
def host_app(tmp_path: Path, sim: SimulatorThread) -> Iterator[Payments]:
    host = HostAcquirer(
        "127.0.0.1",
        sim.sim.port,
        0.3,
        echo_interval=None,
        reversal_backoff=0.02,
        reversal_attempts=2,
    )
    application = build_application(test_settings(tmp_path / "data"), host)
    yield application
    application.close()
    host.close()


def edit_settlement(path: Path, rrn: str, amount_minor: int, extra: list[str]) -> None:
    """Seed differences into the acquirer's file: one amount changed, one row added."""
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    for row in rows[1:]:
        if row[4] == rrn:
            row[7] = str(amount_minor)
    rows.append(extra)
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)


def test_reconciliation_lists_every_kind_of_difference(
    host_app: Payments,
    sim: SimulatorThread,
) -> None:
    app = host_app
    matched = app.authorize(request("m1", amount_minor=1000))
    mismatched = app.authorize(request("m2", amount_minor=2000))
    assert matched.status == mismatched.status == "approved"
    # Charged at the acquirer, but neither its answer nor its reversal came back to us.
    sim.sim.drop_reversals = 1_000
    pending = app.authorize(request("u1", NO_ANSWER, 3000))
    assert (pending.status, pending.reversal_owed) == ("pending", True)
    sim.sim.drop_reversals = 0
    ours_only = terminal_approval(app, 1, "term-1", 4000, auth_code="ZZ9999")

    path = sim.write_settlement()
    mismatched_rrn = app.get_or_none(UUID(mismatched.payment_id)).rrn  # type: ignore[union-attr]
    edit_settlement(
        path,
        mismatched_rrn,
        2100,
        [
            today(),
            "TILLSTREAM",
            "TS000001",
            "999999",
            "999999999999",
            "QQ1111",
            "400000******9999",
            "777",
            "EUR",
            "sale",
        ],
    )

    report = app.reconcile(today(), path)
    assert report.matched == 1
    found = {
        (d.kind, d.payment_id, d.ours_minor, d.acquirer_minor, d.action) for d in report.differences
    }
    assert found == {
        ("amount_mismatch", mismatched.payment_id, 2000, 2100, "alerted"),
        ("missing_ours", pending.payment_id, 0, 3000, "recorded_capture"),
        ("missing_ours", "", 0, 777, "alerted"),
        ("missing_acquirer", ours_only, 4000, 0, "alerted"),
    }
    # The charge we missed is now recorded captured, with the acquirer's codes.
    recorded = app.get_payment(UUID(pending.payment_id))
    assert (recorded.status, recorded.captured_minor) == ("approved", 3000)
    assert app.get_reconciliation(today()) == report
    assert app.get_reconciliation(report.reconciliation_id) == report

    # Run again: the capture now matches; the other differences stay.
    again = app.reconcile(today(), path)
    assert again.matched == 2 and len(again.differences) == 3
    assert app.get_reconciliation(today()) == again

    events = [
        PaymentsContracts().to_integration(app.mapper.to_domain_event(n))
        for n in app.notifications(1, 10_000)
    ]
    completed = [
        e
        for e in events
        if e is not None and isinstance(e.message, payments_pb2.ReconciliationCompleted)
    ]
    assert [e.subject for e in completed] == ["payments.all.reconciliation.completed"] * 2
    first = completed[0].message
    assert isinstance(first, payments_pb2.ReconciliationCompleted)
    assert sorted(d.kind for d in first.differences) == [
        "amount_mismatch",
        "missing_acquirer",
        "missing_ours",
        "missing_ours",
    ]
    # No full card number anywhere in what reconciliation published.
    assert all(APPROVE not in str(e.message) and NO_ANSWER not in str(e.message) for e in completed)


def test_wallet_qr_payment_is_its_own_channel_over_the_link(
    host_app: Payments, sim: SimulatorThread
) -> None:
    app = host_app
    card = app.authorize(request("c1", amount_minor=1100))
    wallet_request = AuthorizationRequest(
        idempotency_key="w1",
        sale_id="sale-w1",
        store_id="s001",
        amount_minor=2200,
        currency="EUR",
        pan=make_pan("5678", 7),
        expiry=EXPIRY,
        tender="wallet",
    )
    wallet = app.authorize(wallet_request)
    assert card.status == wallet.status == "approved"
    # The wallet's request carried the QR entry mode; the card's sent no field 22.
    assert sim.sim.stats.by_entry_mode == {"": 1, spec.ENTRY_MODE_WALLET_QR: 1}
    assert app.authorize(wallet_request) == wallet  # a retry: answered from the store
    assert sim.sim.stats.by_entry_mode[spec.ENTRY_MODE_WALLET_QR] == 1
    report = app.reconcile(today(), sim.write_settlement())
    assert (report.matched, report.differences) == (2, ())
    events = [
        PaymentsContracts().to_integration(app.mapper.to_domain_event(n))
        for n in app.notifications(1, 10_000)
    ]
    tenders = [
        e.message.tender
        for e in events
        if e is not None and isinstance(e.message, payments_pb2.PaymentCaptured)
    ]
    assert tenders == ["card", "wallet"]


def test_wallet_tender_in_the_authorize_command(app: Payments) -> None:
    commands = PaymentsCommands(app)
    body = {
        "idempotency_key": "w1",
        "sale_id": "s",
        "store_id": "s001",
        "amount_minor": 300,
        "currency": "EUR",
        "pan": APPROVE,
        "expiry": EXPIRY,
    }
    assert commands.authorize({**body, "tender": "wallet"})["status"] == "approved"
    with pytest.raises(CommandError) as refused:
        commands.authorize({**body, "idempotency_key": "w2", "tender": "cheque"})
    assert refused.value.code == "invalid"


def test_preauth_capture_is_a_completion_advice_over_the_link(
    host_app: Payments, sim: SimulatorThread
) -> None:
    app = host_app
    held = app.preauthorize(request("p1", amount_minor=2000))
    assert held.status == "authorized"
    app.adjust_tip(UUID(held.payment_id), "tip-1", 300)
    captured = app.capture(UUID(held.payment_id), "cap-1")
    assert captured.payment.captured_minor == 2300
    assert sim.sim.stats.by_mti.get(spec.COMPLETION_ADVICE) == 1
    assert app.capture(UUID(held.payment_id), "cap-1") == captured  # a retry sends nothing
    assert sim.sim.stats.by_mti.get(spec.COMPLETION_ADVICE) == 1
    path = sim.write_settlement()
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["type"], r["amount_minor"]) for r in rows] == [
        ("authorization", "2000"),
        ("completion", "2300"),
    ]
    report = app.reconcile(today(), path)
    assert (report.matched, report.differences) == (1, ())
    # Above the tolerance: refused before anything is sent.
    other = app.preauthorize(request("p2", amount_minor=1000))
    with pytest.raises(CaptureAboveToleranceError):
        app.capture(UUID(other.payment_id), "cap-2", 5000)
    assert sim.sim.stats.by_mti.get(spec.COMPLETION_ADVICE) == 1


def test_incremental_authorization_over_the_link_then_completion(
    host_app: Payments, sim: SimulatorThread
) -> None:
    app = host_app
    held = app.preauthorize(request("h1", amount_minor=1000))
    raised = app.increment(UUID(held.payment_id), "inc-1", 500)
    assert (raised.operation, raised.payment.authorized_minor) == ("increment", 1500)
    assert sim.sim.stats.by_mti.get(spec.AUTHORIZATION) == 2  # the hold, then its increment
    assert app.increment(UUID(held.payment_id), "inc-1", 500) == raised  # retry: unsent
    assert sim.sim.stats.by_mti.get(spec.AUTHORIZATION) == 2
    app.capture(UUID(held.payment_id), "cap-1")
    assert app.get_payment(UUID(held.payment_id)).captured_minor == 1500
    rows = [(r.type, r.amount_minor) for r in read_settlement(sim.write_settlement(), today())]
    assert rows == [("completion", 1500)]
