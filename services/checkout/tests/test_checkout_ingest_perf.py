"""Offline backlog ingest (issue 6): the edge sink takes a batch of offline sales with one
duplicate check for the whole batch, one event per sale, and publishes the same SaleCompleted
as before; duplicates, redeliveries and inconsistent sales are handled as before."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from checkout.application import Checkout
from checkout.bus import OfflineSaleSink
from checkout.contracts import CheckoutContracts
from checkout.domainmodel import ReceiptRef, Sale, SaleError, receipt_ref_id
from checkout.main import build_application
from tillstream.bus import connect, ensure_platform_streams
from tillstream.codec import IntegrationEvent, ReceivedEvent
from tillstream.consumer import Consumer, Delivery
from tillstream.events.v1 import checkout_pb2, common_pb2, edge_pb2
from tillstream.natsserver import NatsServer
from tillstream.testing import test_settings

COMPLETED_AT_MS = 1_700_000_000_000


def eur(amount: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount, currency="EUR")


def offline_sale(sale_id: UUID, receipt: str, change: int = 500) -> edge_pb2.OfflineSaleCompleted:
    """Two lines of 5.00 and 2.50, VAT 20% included, paid 20.00 in cash (or by card)."""
    return edge_pb2.OfflineSaleCompleted(
        sale_id=str(sale_id),
        store_id="s001",
        lane_id="03",
        cashier_id="c7",
        currency="EUR",
        customer_id="cust-1",
        lines=[
            common_pb2.SaleLine(
                line_no=1, sku="sku-a", quantity=2, unit_price=eur(250), line_total=eur(500)
            ),
            common_pb2.SaleLine(
                line_no=2, sku="sku-b", quantity=1, unit_price=eur(250), line_total=eur(250)
            ),
        ],
        tenders=[
            common_pb2.SaleTender(
                payment_id=f"cash:{receipt}", kind="cash", amount=eur(750 + change)
            )
        ],
        subtotal=eur(750),
        discount_total=eur(0),
        tax_total=eur(125),
        total=eur(750),
        change=eur(change),
        taxes=[
            checkout_pb2.SaleTax(
                tax_class="std",
                name="VAT",
                rate_bp=2000,
                included=True,
                taxable=eur(750),
                amount=eur(125),
            )
        ],
        receipt_number=receipt,
        completed_at_ms=COMPLETED_AT_MS,
    )


def received(message: edge_pb2.OfflineSaleCompleted) -> ReceivedEvent:
    return ReceivedEvent(
        event_type=message.DESCRIPTOR.full_name,
        message=message,
        subject="edge.s001.sale.offline_completed",
        store_id="s001",
        occurred_at="",
        msg_id="",
        headers={},
    )


def batch(start: int, *messages: edge_pb2.OfflineSaleCompleted) -> list[Delivery]:
    return [Delivery(start + n, received(m)) for n, m in enumerate(messages)]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Checkout]:
    application = build_application(test_settings(tmp_path))
    yield application
    application.close()


def stored_events(app: Checkout) -> list[Any]:
    return [
        app.mapper.to_domain_event(n)
        for n in app.recorder.select_notifications(start=1, limit=100_000)
    ]


def test_a_backlog_batch_is_one_event_per_sale_and_no_read_per_sale(
    app: Checkout, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = OfflineSaleSink(app)
    sales = [(uuid4(), f"s001-03-{n}") for n in range(300)]
    reads: list[object] = []
    original = app.recorder.select_events

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(app.recorder, "select_events", counted)
    sink.apply("edge.p0", batch(1, *(offline_sale(i, r) for i, r in sales)))
    assert reads == []  # one IN query for the batch, not a load per sale or receipt
    events = stored_events(app)
    assert sorted(type(e).__name__ for e in events) == ["Created"] * 300 + ["Ingested"] * 300
    assert {e.originator_id for e in events if isinstance(e, Sale.Ingested)} == {
        i for i, _ in sales
    }
    assert app.tracked_position("edge.p0") == 300


def test_copies_in_a_batch_and_across_batches_do_nothing(app: Checkout) -> None:
    sink = OfflineSaleSink(app)
    first, second = uuid4(), uuid4()
    sink.apply("edge.p0", batch(1, offline_sale(first, "r-1"), offline_sale(first, "r-1")))
    # A later copy (the store resent it) and a new sale in the same batch.
    sink.apply("edge.p0", batch(3, offline_sale(first, "r-1"), offline_sale(second, "r-2")))
    events = stored_events(app)
    assert [e.originator_id for e in events if isinstance(e, Sale.Ingested)] == [first, second]
    refs = [e for e in events if e.originator_id in (receipt_ref_id("r-1"), receipt_ref_id("r-2"))]
    assert len(refs) == 2
    assert app.find_sale("r-2").id == second


def test_a_receipt_number_already_indexed_keeps_its_first_sale(app: Checkout) -> None:
    sink = OfflineSaleSink(app)
    first, other = uuid4(), uuid4()
    sink.apply("edge.p0", batch(1, offline_sale(first, "r-9")))
    sink.apply("edge.p0", batch(2, offline_sale(other, "r-9")))
    ref = app.get_or_none(receipt_ref_id("r-9"))
    assert isinstance(ref, ReceiptRef) and ref.sale_id == first
    assert app.get_sale(other).offline  # the sale itself is taken


def test_sale_completed_is_the_same_as_a_completed_event_made(app: Checkout) -> None:
    """The Ingested event maps to the SaleCompleted that Opened+Completed used to publish."""
    sale_id = uuid4()
    OfflineSaleSink(app).apply("edge.p0", batch(1, offline_sale(sale_id, "s001-03-7")))
    [ingested] = [e for e in stored_events(app) if isinstance(e, Sale.Ingested)]
    integration = CheckoutContracts().to_integration(ingested)
    assert integration is not None
    assert integration.subject == "checkout.s001.sale.completed"
    expected = checkout_pb2.SaleCompleted(
        sale_id=str(sale_id),
        store_id="s001",
        lane_id="03",
        cashier_id="c7",
        lines=[
            common_pb2.SaleLine(
                line_no=1, sku="sku-a", quantity=2, unit_price=eur(250), line_total=eur(500)
            ),
            common_pb2.SaleLine(
                line_no=2, sku="sku-b", quantity=1, unit_price=eur(250), line_total=eur(250)
            ),
        ],
        total=eur(750),
        tenders=[common_pb2.SaleTender(payment_id="cash:s001-03-7", kind="cash", amount=eur(1250))],
        customer_id="cust-1",
        completed_at_ms=COMPLETED_AT_MS,
        subtotal=eur(750),
        discount_total=eur(0),
        tax_total=eur(125),
        taxes=[
            checkout_pb2.SaleTax(
                tax_class="std",
                name="VAT",
                rate_bp=2000,
                included=True,
                taxable=eur(750),
                amount=eur(125),
            )
        ],
        change=eur(500),
        receipt_number="s001-03-7",
        offline=True,
    )
    assert integration.message == expected
    # The same content as the Completed event the old ingest wrote, mapped the same way.
    legacy = Sale.Completed(
        originator_id=sale_id,
        originator_version=2,
        timestamp=ingested.timestamp,
        completed_at=ingested.completed_at,
        store_id="s001",
        lane_id="03",
        cashier_id="c7",
        currency="EUR",
        customer_id="cust-1",
        total_minor=750,
        lines=ingested.lines,
        tenders=ingested.tenders,
        subtotal_minor=750,
        discount_minor=0,
        tax_minor=125,
        taxes=ingested.taxes,
        discounts=[],
        change_minor=500,
        receipt_number="s001-03-7",
        offline=True,
    )
    old = CheckoutContracts().to_integration(legacy)
    assert old is not None and old.message == expected


def test_an_ingested_sale_reads_back_and_lists_like_before(app: Checkout) -> None:
    sale_id = uuid4()
    OfflineSaleSink(app).apply("edge.p0", batch(1, offline_sale(sale_id, "s001-03-8")))
    view = app.get_sale(sale_id)
    assert view.status == "completed" and view.offline and view.receipt_number == "s001-03-8"
    assert view.total_minor == 750 and view.change_minor == 500
    sale = app.find_sale("s001-03-8")
    assert sale.id == sale_id and sum(gross for _, gross, _ in sale.sold.values()) == 750
    assert [s.sale_id for s in app.list_sales(store_id="s001").sales] == [str(sale_id)]


def test_tenders_that_miss_total_plus_change_fail_the_batch_and_write_nothing(
    app: Checkout,
) -> None:
    """Raised, so the consumer goes one by one and dead-letters that sale alone."""
    sink = OfflineSaleSink(app)
    bad = offline_sale(uuid4(), "r-bad")
    bad.change.amount_minor = 1
    with pytest.raises(SaleError, match="tenders"):
        sink.apply("edge.p0", batch(1, offline_sale(uuid4(), "r-ok"), bad))
    assert app.events_stored() == 0 and app.tracked_position("edge.p0") == 0


def test_existing_answers_for_more_ids_than_one_statement_takes(app: Checkout) -> None:
    sink = OfflineSaleSink(app)
    stored = [uuid4() for _ in range(3)]
    sink.apply("edge.p0", batch(1, *(offline_sale(i, f"r-{n}") for n, i in enumerate(stored))))
    asked = [uuid4() for _ in range(Checkout.EXISTING_CHUNK * 2)] + stored
    assert app.existing(asked) == set(stored)
    assert app.existing([]) == set()


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_backlog_fetched_ahead_is_applied_once_in_order_across_a_restart(
    nats: NatsServer, app: Checkout
) -> None:
    """The edge consumer fetches a backlog's next batch while one is applied (issue 6). A
    consumer stopped mid-backlog hands back the batch it fetched ahead; the next one goes on
    from there: every sale ingested once, in the store's order, none lost."""
    nc = await connect(nats.url, "test-backlog")
    executor = ThreadPoolExecutor(1)
    try:
        js = nc.jetstream()
        await ensure_platform_streams(js, 1)
        sales = [(uuid4(), f"s001-03-{n}") for n in range(40)]
        for n, (sale_id, receipt) in enumerate(sales):
            event = IntegrationEvent.of(
                "edge",
                "s001",
                "sale",
                "offline_completed",
                message=offline_sale(sale_id, receipt),
                occurred_at=datetime.now(UTC),
            )
            await js.publish(event.subject, event.payload(), headers=event.headers(f"e:{n}"))

        def consumer() -> Consumer:
            return Consumer(
                "checkout", "edge", 0, js, OfflineSaleSink(app), executor=executor, batch_size=4
            )

        first, second = consumer(), consumer()
        assert first.fetch_ahead
        stop = asyncio.Event()
        running = asyncio.create_task(first.run(stop))
        await until(lambda: first.stats.applied >= 8)
        stop.set()
        await running
        assert first.stats.applied < len(sales)
        stop = asyncio.Event()
        running = asyncio.create_task(second.run(stop))
        await until(lambda: app.tracked_position("edge.p0") >= len(sales))
        stop.set()
        await running
    finally:
        await nc.close()
        executor.shutdown()
    ingested = [e.originator_id for e in stored_events(app) if isinstance(e, Sale.Ingested)]
    assert ingested == [sale_id for sale_id, _ in sales]
    assert first.stats.applied + second.stats.applied == len(sales)
    assert first.stats.dead_lettered == second.stats.dead_lettered == 0
