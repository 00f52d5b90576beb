"""CheckoutService over gRPC: a real grpc.aio server (tillstream.grpcserver) on a free port,
the servicer over a SQLite Checkout, and a real channel."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from checkout.api import SERVICE_NAME, grpc_api
from checkout.application import Checkout
from checkout.bus import INVENTORY_HANDLERS, PAYMENTS_HANDLERS
from checkout.main import build, build_application
from tillstream.bus import command_subject, connect, wait_for
from tillstream.checkout.v1 import checkout_service_pb2 as pb
from tillstream.checkout.v1 import checkout_service_pb2_grpc as pb_grpc
from tillstream.codec import ReceivedEvent
from tillstream.consumer import Delivery, EventSourcedSink
from tillstream.events.v1 import common_pb2, inventory_pb2, payments_pb2
from tillstream.grpcserver import (
    DEFAULT_GRPC_PORTS,
    DbRunner,
    GrpcServer,
    TlsFiles,
    grpc_port,
    tls_files,
)
from tillstream.natsserver import NatsServer, free_port
from tillstream.settings import Settings
from tillstream.testing import grpc_test_server, refused, running_host, test_settings

PIN = "4321"
STORE = "s001"
Code = grpc.StatusCode


def eur(amount_minor: int) -> pb.Money:
    return pb.Money(amount_minor=amount_minor, currency="EUR")


def received(message: Any, subject: str) -> ReceivedEvent:
    return ReceivedEvent(
        event_type=message.DESCRIPTOR.full_name,
        message=message,
        subject=subject,
        store_id=STORE,
        occurred_at="",
        msg_id="",
        headers={},
    )


def seed(app: Checkout) -> None:
    """The price replica (through the inventory consumer's handler) and two cashiers."""
    products = [
        received(
            inventory_pb2.ProductUpserted(
                sku=sku,
                name=name,
                active=active,
                price=common_pb2.Money(amount_minor=price, currency=currency),
            ),
            "inventory.chain.product.upserted",
        )
        for sku, name, price, currency, active in (
            ("sku-a", "Apple", 250, "EUR", True),
            ("sku-b", "Bread", 199, "EUR", True),
            ("sku-gone", "Gone", 100, "EUR", False),
            ("sku-usd", "Dollar thing", 100, "USD", True),
        )
    ]
    EventSourcedSink(app, INVENTORY_HANDLERS).apply(
        "inventory.p0", [Delivery(n, e) for n, e in enumerate(products, start=1)]
    )
    app.register_cashier(STORE, "c7", "Casey", PIN)
    app.register_cashier(STORE, "c8", "Dana", PIN)


_payments = iter(range(1, 1_000_000))


def pay(app: Checkout, sale_id: str, amount: int, tender: str = "card") -> None:
    n = next(_payments)
    EventSourcedSink(app, PAYMENTS_HANDLERS).apply(
        "payments.p0",
        [
            Delivery(
                n,
                received(
                    payments_pb2.PaymentCaptured(
                        payment_id=f"p{n}",
                        sale_id=sale_id,
                        store_id=STORE,
                        tender=tender,
                        amount=common_pb2.Money(amount_minor=amount, currency="EUR"),
                    ),
                    "payments.s001.payment.captured",
                ),
            )
        ],
    )


@dataclass
class Api:
    app: Checkout
    runner: DbRunner
    server: GrpcServer
    channel: grpc.aio.Channel
    stub: pb_grpc.CheckoutServiceStub

    async def db(self, fn: Any, *args: Any) -> Any:
        """Test set-up on the server's database thread (the application is not thread-safe)."""
        return await self.runner.call(fn, *args)

    async def shift(self, lane: str = "l1", cashier: str = "c7") -> str:
        reply = await self.stub.OpenShift(
            pb.OpenShiftRequest(
                store_id=STORE, lane_id=lane, cashier_id=cashier, pin=PIN, float=eur(100_00)
            )
        )
        return str(reply.shift_id)

    async def sale(self, lane: str = "l1", cashier: str = "c7", lines: int = 1) -> str:
        sale_id = str(uuid4())
        await self.stub.OpenSale(
            pb.OpenSaleRequest(
                sale_id=sale_id, store_id=STORE, lane_id=lane, cashier_id=cashier, currency="EUR"
            )
        )
        for n in range(1, lines + 1):
            await self.stub.AddLine(
                pb.AddLineRequest(sale_id=sale_id, line_no=n, sku="sku-a", quantity=1)
            )
        return sale_id


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(1, thread_name_prefix="checkout-db")
    yield pool
    pool.shutdown(wait=True)


@pytest.fixture
async def api(tmp_path: Path, executor: ThreadPoolExecutor) -> AsyncIterator[Api]:
    app = build_application(test_settings(tmp_path))
    runner = DbRunner(executor, app)
    try:
        await runner.call(seed, app)
        async with grpc_test_server("checkout", grpc_api(app), runner) as served:
            yield Api(
                app,
                runner,
                served.server,
                served.channel,
                pb_grpc.CheckoutServiceStub(served.channel),
            )
    finally:
        app.close()


# -- the happy path -----------------------------------------------------------------------


async def test_a_shift_and_a_sale_end_to_end(api: Api) -> None:
    stub = api.stub
    shift_id = await api.shift()
    assert UUID(shift_id)
    # The same cashier again on the same lane: the open shift (a lane restarted).
    assert await api.shift() == shift_id

    sale_id = str(uuid4())
    opened = await stub.OpenSale(
        pb.OpenSaleRequest(
            sale_id=sale_id, store_id=STORE, lane_id="l1", cashier_id="c7", currency="EUR"
        )
    )
    assert (opened.sale_id, opened.status) == (sale_id, pb.SALE_STATUS_OPEN)

    added = await stub.AddLine(
        pb.AddLineRequest(sale_id=sale_id, line_no=1, sku="sku-a", quantity=2)
    )
    assert added.unit_price == eur(250)
    assert added.line_total == eur(500)
    assert added.sale_total == eur(500)
    added = await stub.AddLine(
        pb.AddLineRequest(sale_id=sale_id, line_no=2, sku="sku-b", quantity=1)
    )
    assert added.sale_total == eur(699)
    # A retried line answers as the first time.
    again = await stub.AddLine(
        pb.AddLineRequest(sale_id=sale_id, line_no=2, sku="sku-b", quantity=1)
    )
    assert again == added

    attached = await stub.AttachCustomer(
        pb.AttachCustomerRequest(sale_id=sale_id, customer_id="cust-9")
    )
    assert attached.customer_id == "cust-9"

    sale = await stub.GetSale(pb.GetSaleRequest(sale_id=sale_id))
    assert (sale.store_id, sale.lane_id, sale.cashier_id, sale.shift_id) == (
        STORE,
        "l1",
        "c7",
        shift_id,
    )
    assert sale.status == pb.SALE_STATUS_OPEN
    assert (sale.total, sale.paid, sale.due) == (eur(699), eur(0), eur(699))
    assert sale.customer_id == "cust-9"
    assert [
        (ln.line_no, ln.sku, ln.quantity, ln.unit_price.amount_minor, ln.line_total.amount_minor)
        for ln in sale.lines
    ] == [(1, "sku-a", 2, 250, 500), (2, "sku-b", 1, 199, 199)]

    await api.db(pay, api.app, sale_id, 699)
    sale = await stub.GetSale(pb.GetSaleRequest(sale_id=sale_id))
    assert sale.status == pb.SALE_STATUS_COMPLETED
    assert [(t.kind, t.amount) for t in sale.tenders] == [("card", eur(699))]
    assert sale.due == eur(0)

    receipt = await stub.GetReceipt(pb.GetReceiptRequest(sale_id=sale_id, sequence=17))
    assert receipt.receipt_number == "s001-l1-17"
    assert receipt.WhichOneof("body") == "text"
    assert "Apple" in receipt.text and "6.99" in receipt.text
    html = await stub.GetReceipt(
        pb.GetReceiptRequest(sale_id=sale_id, format=pb.RECEIPT_FORMAT_HTML, copy=True)
    )
    assert html.receipt_number == "s001-l1-1"
    assert html.html.lstrip().lower().startswith("<!doctype html")
    assert "COPY" in html.html.upper()
    escpos = await stub.GetReceipt(
        pb.GetReceiptRequest(sale_id=sale_id, format=pb.RECEIPT_FORMAT_ESCPOS)
    )
    assert escpos.escpos.startswith(b"\x1b@")

    paid_in = await stub.PayIn(
        pb.CashMovementRequest(shift_id=shift_id, amount=eur(20_00), reason="change from the safe")
    )
    assert paid_in.expected == eur(120_00)
    paid_out = await stub.PayOut(
        pb.CashMovementRequest(shift_id=shift_id, amount=eur(5_00), reason="window cleaner")
    )
    assert paid_out.expected == eur(115_00)

    report = await stub.CloseShift(
        pb.CloseShiftRequest(
            shift_id=shift_id,
            counted=[
                pb.DenominationCount(denomination_minor=50_00, count=2),
                pb.DenominationCount(denomination_minor=10_00, count=1),
                pb.DenominationCount(denomination_minor=2_00, count=2),
            ],
        )
    )
    assert (report.kind, report.status, report.shift_id) == ("Z", "closed", shift_id)
    assert report.float == eur(100_00)
    assert (report.paid_in, report.paid_out) == (eur(20_00), eur(5_00))
    assert report.expected == eur(115_00)
    assert report.counted_total == eur(114_00)
    assert report.variance == eur(-1_00)
    assert [(c.denomination_minor, c.count) for c in report.counted] == [
        (50_00, 2),
        (10_00, 1),
        (2_00, 2),
    ]


async def test_list_sales_pages_and_filters(api: Api) -> None:
    stub = api.stub
    await api.shift("l1", "c7")
    await api.shift("l2", "c8")
    l1 = [await api.sale("l1", "c7") for _ in range(3)]
    l2 = [await api.sale("l2", "c8") for _ in range(2)]
    await api.db(pay, api.app, l1[1], 250)  # completes it

    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await stub.ListSales(pb.ListSalesRequest(page_size=2, page_token=token))
        pages += 1
        assert len(page.sales) <= 2
        seen.extend(s.sale_id for s in page.sales)
        token = page.next_page_token
        if not token:
            break
    assert pages == 3
    assert seen == l1 + l2  # the order they were opened, each once

    by_lane = await stub.ListSales(pb.ListSalesRequest(store_id=STORE, lane_id="l2"))
    assert [s.sale_id for s in by_lane.sales] == l2
    assert by_lane.next_page_token == ""
    done = await stub.ListSales(pb.ListSalesRequest(status=pb.SALE_STATUS_COMPLETED))
    assert [(s.sale_id, s.status) for s in done.sales] == [(l1[1], pb.SALE_STATUS_COMPLETED)]
    still_open = await stub.ListSales(pb.ListSalesRequest(lane_id="l1", status=pb.SALE_STATUS_OPEN))
    assert [s.sale_id for s in still_open.sales] == [l1[0], l1[2]]
    assert (await stub.ListSales(pb.ListSalesRequest(store_id="s999"))).sales == []
    # Exactly a page's worth: no token to an empty page.
    exact = await stub.ListSales(pb.ListSalesRequest(lane_id="l2", page_size=2))
    assert len(exact.sales) == 2 and exact.next_page_token == ""
    # Bigger than the maximum is served as the maximum.
    assert len((await stub.ListSales(pb.ListSalesRequest(page_size=10_000))).sales) == 5


# -- refusals -----------------------------------------------------------------------------


async def test_sale_refusals(api: Api) -> None:
    stub = api.stub
    unknown = str(uuid4())

    def open_(**kw: Any) -> pb.OpenSaleRequest:
        body = {
            "sale_id": str(uuid4()),
            "store_id": STORE,
            "lane_id": "l1",
            "cashier_id": "c7",
            "currency": "EUR",
            **kw,
        }
        return pb.OpenSaleRequest(**body)

    # No shift open on the lane yet.
    assert await refused(stub.OpenSale, open_()) == (
        Code.FAILED_PRECONDITION,
        "lane l1 of store s001 has no open shift",
        "no_shift",
    )
    await api.shift()
    assert await refused(stub.OpenSale, open_(sale_id="not-a-uuid")) == (
        Code.INVALID_ARGUMENT,
        "sale_id must be a UUID",
        "invalid",
    )
    assert await refused(stub.OpenSale, open_(store_id="")) == (
        Code.INVALID_ARGUMENT,
        "store_id must be a non-empty string",
        "invalid",
    )
    code, message, kind = await refused(stub.OpenSale, open_(currency="euro"))
    assert (code, kind) == (Code.INVALID_ARGUMENT, "invalid") and "ISO 4217" in message
    assert await refused(stub.OpenSale, open_(cashier_id="c8")) == (
        Code.PERMISSION_DENIED,
        "lane l1 is in the shift of c7, not c8",
        "wrong_cashier",
    )

    sale_id = await api.sale()
    code, message, kind = await refused(stub.OpenSale, open_(sale_id=sale_id, lane_id="l2"))
    assert (code, kind) == (Code.ALREADY_EXISTS, "conflict")
    assert message == f"sale {sale_id} was opened with other details"

    def line(**kw: Any) -> pb.AddLineRequest:
        body = {"sale_id": sale_id, "line_no": 5, "sku": "sku-a", "quantity": 1, **kw}
        return pb.AddLineRequest(**body)

    assert await refused(stub.AddLine, line(sale_id=unknown)) == (
        Code.NOT_FOUND,
        f"no sale {unknown}",
        "not_found",
    )
    assert await refused(stub.AddLine, line(sale_id="")) == (
        Code.INVALID_ARGUMENT,
        "sale_id must be a non-empty string",
        "invalid",
    )
    assert await refused(stub.AddLine, line(sku="")) == (
        Code.INVALID_ARGUMENT,
        "sku must be a non-empty string",
        "invalid",
    )
    assert await refused(stub.AddLine, line(quantity=0)) == (
        Code.INVALID_ARGUMENT,
        "quantity must be 1..99999",
        "invalid",
    )
    assert await refused(stub.AddLine, line(line_no=0)) == (
        Code.INVALID_ARGUMENT,
        "line_no must be 1..9999",
        "invalid",
    )
    assert await refused(stub.AddLine, line(sku="sku-nope")) == (
        Code.FAILED_PRECONDITION,
        "unknown SKU 'sku-nope'",
        "unknown_sku",
    )
    assert await refused(stub.AddLine, line(sku="sku-gone")) == (
        Code.FAILED_PRECONDITION,
        "SKU 'sku-gone' is not for sale",
        "unknown_sku",
    )
    # The catalog's state, not the request, is at fault: as on NATS, "rejected".
    assert await refused(stub.AddLine, line(sku="sku-usd")) == (
        Code.FAILED_PRECONDITION,
        "sku-usd is priced in USD, the sale is in EUR",
        "rejected",
    )
    assert await refused(stub.AddLine, line(line_no=1, quantity=7)) == (
        Code.ALREADY_EXISTS,
        "line 1 is already 1 x sku-a",
        "conflict",
    )

    assert await refused(stub.AttachCustomer, pb.AttachCustomerRequest(sale_id=sale_id)) == (
        Code.INVALID_ARGUMENT,
        "customer_id must be a non-empty string",
        "invalid",
    )
    assert await refused(
        stub.AttachCustomer, pb.AttachCustomerRequest(sale_id=unknown, customer_id="x")
    ) == (Code.NOT_FOUND, f"no sale {unknown}", "not_found")
    assert await refused(stub.GetSale, pb.GetSaleRequest(sale_id=unknown)) == (
        Code.NOT_FOUND,
        f"no sale {unknown}",
        "not_found",
    )
    assert await refused(stub.GetSale, pb.GetSaleRequest(sale_id="x")) == (
        Code.INVALID_ARGUMENT,
        "sale_id must be a UUID",
        "invalid",
    )

    # A completed sale takes no more lines: the state refuses, not the input.
    await api.db(pay, api.app, sale_id, 250)
    code, message, kind = await refused(stub.AddLine, line(line_no=9))
    assert (code, kind) == (Code.FAILED_PRECONDITION, "rejected") and "completed" in message


async def test_list_sales_refusals(api: Api) -> None:
    stub = api.stub
    assert await refused(stub.ListSales, pb.ListSalesRequest(page_size=-1)) == (
        Code.INVALID_ARGUMENT,
        "page_size must not be negative",
        "invalid",
    )
    for token in ("garbage", "djE6eA==", "djI6NQ=="):  # not base64; "v1:x"; "v2:5"
        assert await refused(stub.ListSales, pb.ListSalesRequest(page_token=token)) == (
            Code.INVALID_ARGUMENT,
            "page_token is not one ListSales gave",
            "invalid",
        )
    assert await refused(stub.ListSales, pb.ListSalesRequest(status=99)) == (  # type: ignore[arg-type]
        Code.INVALID_ARGUMENT,
        "unknown status 99",
        "invalid",
    )


async def test_shift_refusals(api: Api) -> None:
    stub = api.stub
    unknown = str(uuid4())

    def shift(**kw: Any) -> pb.OpenShiftRequest:
        body = {
            "store_id": STORE,
            "lane_id": "l1",
            "cashier_id": "c7",
            "pin": PIN,
            "float": eur(100_00),
            **kw,
        }
        return pb.OpenShiftRequest(**body)

    assert await refused(stub.OpenShift, shift(pin="0000")) == (
        Code.UNAUTHENTICATED,
        "unknown cashier or wrong PIN",
        "bad_pin",
    )
    assert await refused(stub.OpenShift, shift(cashier_id="nobody")) == (
        Code.UNAUTHENTICATED,
        "unknown cashier or wrong PIN",
        "bad_pin",
    )
    code, message, kind = await refused(
        stub.OpenShift, pb.OpenShiftRequest(store_id=STORE, lane_id="l1", cashier_id="c7", pin=PIN)
    )
    assert (code, kind) == (Code.INVALID_ARGUMENT, "invalid") and "float is required" in message
    code, message, kind = await refused(stub.OpenShift, shift(float=eur(-1)))
    assert (code, kind) == (Code.INVALID_ARGUMENT, "invalid") and "float" in message
    code, message, kind = await refused(
        stub.OpenShift, shift(float=pb.Money(amount_minor=0, currency="eu"))
    )
    assert (code, kind) == (Code.INVALID_ARGUMENT, "invalid") and "ISO 4217" in message
    assert await refused(stub.OpenShift, shift(lane_id="")) == (
        Code.INVALID_ARGUMENT,
        "lane_id must be a non-empty string",
        "invalid",
    )
    shift_id = await api.shift()
    code, message, kind = await refused(stub.OpenShift, shift(cashier_id="c8"))
    assert (code, kind) == (Code.ALREADY_EXISTS, "conflict") and "open on lane l1" in message

    def move(**kw: Any) -> pb.CashMovementRequest:
        body = {"shift_id": shift_id, "amount": eur(1_00), "reason": "float top-up", **kw}
        return pb.CashMovementRequest(**body)

    for call in (stub.PayIn, stub.PayOut):
        assert await refused(call, move(shift_id=unknown)) == (
            Code.NOT_FOUND,
            f"no shift {unknown}",
            "not_found",
        )
        assert await refused(call, move(shift_id="nope")) == (
            Code.INVALID_ARGUMENT,
            "shift_id must be a UUID",
            "invalid",
        )
        assert await refused(call, pb.CashMovementRequest(shift_id=shift_id, reason="r")) == (
            Code.INVALID_ARGUMENT,
            "amount is required",
            "invalid",
        )
        assert await refused(call, move(amount=pb.Money(amount_minor=1_00, currency="USD"))) == (
            Code.INVALID_ARGUMENT,
            f"amount is in USD, shift {shift_id} in EUR",
            "invalid",
        )
        code, message, kind = await refused(call, move(amount=eur(0)))
        assert (code, kind) == (Code.INVALID_ARGUMENT, "invalid") and "positive" in message
        assert await refused(call, move(reason="")) == (
            Code.INVALID_ARGUMENT,
            "reason must be a non-empty string",
            "invalid",
        )
    code, message, kind = await refused(stub.PayOut, move(amount=eur(1_000_00)))
    assert (code, kind) == (Code.FAILED_PRECONDITION, "insufficient_cash")
    assert message == "100000 out of a drawer expected to hold 10000"

    def close(*counted: tuple[int, int], shift: str = shift_id) -> pb.CloseShiftRequest:
        return pb.CloseShiftRequest(
            shift_id=shift,
            counted=[pb.DenominationCount(denomination_minor=d, count=c) for d, c in counted],
        )

    assert await refused(stub.CloseShift, close(shift=unknown)) == (
        Code.NOT_FOUND,
        f"no shift {unknown}",
        "not_found",
    )
    assert await refused(stub.CloseShift, close(shift="")) == (
        Code.INVALID_ARGUMENT,
        "shift_id must be a non-empty string",
        "invalid",
    )
    assert await refused(stub.CloseShift, close((0, 1))) == (
        Code.INVALID_ARGUMENT,
        "bad denomination 0",
        "invalid",
    )
    assert await refused(stub.CloseShift, close((100, -1))) == (
        Code.INVALID_ARGUMENT,
        "bad count -1 of denomination 100",
        "invalid",
    )
    report = await stub.CloseShift(close())
    assert report.variance == eur(-100_00)  # nothing counted: an empty drawer
    for call, request in ((stub.CloseShift, close()), (stub.PayIn, move()), (stub.PayOut, move())):
        assert await refused(call, request) == (
            Code.FAILED_PRECONDITION,
            f"shift {shift_id} is closed",
            "closed",
        )


async def test_receipt_refusals(api: Api) -> None:
    stub = api.stub
    unknown = str(uuid4())
    assert await refused(stub.GetReceipt, pb.GetReceiptRequest(sale_id=unknown)) == (
        Code.NOT_FOUND,
        f"no sale {unknown}",
        "not_found",
    )
    assert await refused(stub.GetReceipt, pb.GetReceiptRequest(sale_id="")) == (
        Code.INVALID_ARGUMENT,
        "sale_id must be a non-empty string",
        "invalid",
    )
    await api.shift()
    sale_id = await api.sale()
    assert await refused(stub.GetReceipt, pb.GetReceiptRequest(sale_id=sale_id, sequence=-1)) == (
        Code.INVALID_ARGUMENT,
        "sequence must be a positive integer",
        "invalid",
    )
    assert await refused(stub.GetReceipt, pb.GetReceiptRequest(sale_id=sale_id, format=42)) == (  # type: ignore[arg-type]
        Code.INVALID_ARGUMENT,
        "unknown receipt format 42",
        "invalid",
    )
    code, message, kind = await refused(stub.GetReceipt, pb.GetReceiptRequest(sale_id=sale_id))
    assert (code, kind) == (Code.FAILED_PRECONDITION, "rejected") and "not completed" in message


# -- health, reflection, TLS, hosting -----------------------------------------------------


async def test_health_is_serving(api: Api) -> None:
    health = health_pb2_grpc.HealthStub(api.channel)
    serving = health_pb2.HealthCheckResponse.SERVING
    for service in ("", SERVICE_NAME):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == serving
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await health.Check(health_pb2.HealthCheckRequest(service="nope.Service"))
    assert info.value.code() == Code.NOT_FOUND


async def test_reflection_lists_the_service(api: Api) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(api.channel)

    async def ask() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        yield reflection_pb2.ServerReflectionRequest(list_services="")
        yield reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE_NAME)

    replies = [reply async for reply in stub.ServerReflectionInfo(ask())]
    names = {s.name for s in replies[0].list_services_response.service}
    assert {
        SERVICE_NAME,
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names
    assert replies[1].file_descriptor_response.file_descriptor_proto


async def test_graceful_stop_turns_health_off(tmp_path: Path, executor: ThreadPoolExecutor) -> None:
    app = build_application(test_settings(tmp_path))
    server = GrpcServer(
        "checkout", grpc_api(app), DbRunner(executor, app), host="127.0.0.1", grace=0.5
    )
    port = await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        assert (
            await health.Check(health_pb2.HealthCheckRequest())
        ).status == health_pb2.HealthCheckResponse.SERVING
        await server.stop()
        with pytest.raises(grpc.aio.AioRpcError):
            await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
    await server.stop()  # twice is fine
    app.close()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "server.pem", tmp_path / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_tls(tmp_path: Path, executor: ThreadPoolExecutor) -> None:
    cert, key = _self_signed(tmp_path)
    settings = test_settings(tmp_path, grpc_tls_cert=str(cert), grpc_tls_key=str(key))
    tls = tls_files(settings)
    assert tls == TlsFiles(cert, key)
    app = build_application(settings)
    server = GrpcServer(
        "checkout", grpc_api(app), DbRunner(executor, app), host="127.0.0.1", tls=tls, grace=0.5
    )
    port = await server.start()
    try:
        creds = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        async with grpc.aio.secure_channel(f"localhost:{port}", creds) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=SERVICE_NAME)
            )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as plain:
            with pytest.raises(grpc.aio.AioRpcError):
                await health_pb2_grpc.HealthStub(plain).Check(
                    health_pb2.HealthCheckRequest(), timeout=2
                )
    finally:
        await server.stop()
        app.close()


def test_tls_settings_go_together(tmp_path: Path) -> None:
    assert tls_files(test_settings(tmp_path)) is None
    with pytest.raises(ValueError, match="go together"):
        tls_files(test_settings(tmp_path, grpc_tls_cert="c.pem"))
    with pytest.raises(ValueError, match="needs grpc_tls_cert"):
        tls_files(test_settings(tmp_path, grpc_tls_client_ca="ca.pem"))
    mutual = tls_files(
        test_settings(tmp_path, grpc_tls_cert="c", grpc_tls_key="k", grpc_tls_client_ca="ca")
    )
    assert mutual == TlsFiles(Path("c"), Path("k"), Path("ca"))


def test_ports_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on = test_settings(tmp_path, grpc_enabled=True)
    assert {name: grpc_port(on, name) for name in DEFAULT_GRPC_PORTS} == {
        "checkout": 50051,
        "payments": 50052,
        "inventory": 50053,
        "crm": 50054,
        "analytics": 50055,
    }
    assert grpc_port(test_settings(tmp_path), "checkout") == 0  # tests: off unless asked
    monkeypatch.setenv("TILLSTREAM_GRPC_PORTS", '{"checkout": 6051, "crm": 0}')
    from_env = Settings(data_dir=tmp_path)
    assert grpc_port(from_env, "checkout") == 6051
    assert grpc_port(from_env, "crm") == 0
    assert grpc_port(from_env, "payments") == 50052  # not listed: its default
    monkeypatch.setenv("TILLSTREAM_GRPC_ENABLED", "false")
    assert grpc_port(Settings(data_dir=tmp_path), "checkout") == 0


def test_checkout_definition_has_the_grpc_api(tmp_path: Path) -> None:
    definition = build(test_settings(tmp_path))
    try:
        assert definition.grpc is not None
    finally:
        assert definition.app is not None
        definition.app.close()


async def test_service_host_serves_grpc_beside_nats(nats: NatsServer, tmp_path: Path) -> None:
    """ServiceHost starts the definition's gRPC API on the configured port, runs it on the
    same database thread as the NATS commands, and stops it on shutdown."""
    port = free_port()
    settings = test_settings(
        tmp_path / "data", grpc_enabled=True, grpc_ports={"checkout": port}, grpc_host="127.0.0.1"
    )
    async with running_host(build(settings), settings, nats.url) as running:
        nc = await connect(nats.url, "test-client")
        try:

            async def registered() -> bool | None:
                try:
                    msg = await nc.request(
                        command_subject("checkout", "register_cashier", STORE),
                        json.dumps(
                            {"store_id": STORE, "cashier_id": "c7", "name": "Ann", "pin": PIN}
                        ).encode(),
                        timeout=2,
                    )
                except Exception:
                    return None  # the host is not subscribed yet
                return bool(json.loads(msg.data)["ok"])

            assert await wait_for(registered, timeout=15)
            assert running.host.grpc is not None and running.host.grpc.port == port
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                health = health_pb2_grpc.HealthStub(channel)
                reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
                stub = pb_grpc.CheckoutServiceStub(channel)
                # The cashier registered over NATS opens a shift over gRPC: one application.
                opened = await stub.OpenShift(
                    pb.OpenShiftRequest(
                        store_id=STORE, lane_id="l1", cashier_id="c7", pin=PIN, float=eur(0)
                    )
                )
                paid = await stub.PayIn(
                    pb.CashMovementRequest(
                        shift_id=opened.shift_id, amount=eur(5_00), reason="float"
                    )
                )
                assert paid.expected == eur(5_00)
                await running.stop()
                with pytest.raises(grpc.aio.AioRpcError):
                    await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
        finally:
            await nc.close()


# -- the rest of CheckoutService: basket edits, tenders, void, suspend/resume, returns ----


async def test_basket_tender_and_return_over_grpc(api: Api) -> None:
    stub = api.stub
    await api.shift()
    sale_id = await api.sale(lines=2)  # 2 x 250
    totals = await stub.UpdateLine(pb.UpdateLineRequest(sale_id=sale_id, line_no=2, quantity=3))
    assert totals.total == eur(1000)
    totals = await stub.ApplyDiscount(
        pb.ApplyDiscountRequest(
            sale_id=sale_id, kind="amount", value=100, reason="dented", line_no=2
        )
    )
    assert totals.total == eur(900) and totals.discount_total == eur(100)
    await stub.AddLine(pb.AddLineRequest(sale_id=sale_id, line_no=3, sku="sku-b", quantity=1))
    totals = await stub.RemoveLine(
        pb.RemoveLineRequest(sale_id=sale_id, line_no=3, reason="changed mind")
    )
    assert totals.total == eur(900)
    pay(api.app, sale_id, 400)
    paid = await stub.Tender(
        pb.TenderRequest(sale_id=sale_id, kind="cash", amount=eur(1000), idempotency_key="t1")
    )
    assert (paid.status, paid.change, paid.sale_status) == (
        "approved",
        eur(500),
        pb.SALE_STATUS_COMPLETED,
    )
    sale = await stub.GetSale(pb.GetSaleRequest(sale_id=sale_id))
    assert sale.receipt_number == "s001-l1-1" and sale.change == eur(500)
    back = await stub.Return(
        pb.ReturnRequest(
            return_id=str(uuid4()),
            store_id=STORE,
            lane_id="l1",
            cashier_id="c7",
            original=sale.receipt_number,
            lines=[pb.ReturnLine(line_no=1, quantity=1, restock=True)],
        )
    )
    assert back.total == eur(250) and back.original_sale_id == sale_id
    assert [(r.kind, r.amount.amount_minor) for r in back.refunds] == [("card", 250)]


async def test_void_suspend_and_resume_over_grpc(api: Api) -> None:
    stub = api.stub
    await api.shift()
    parked = await api.sale()
    sale = await stub.Suspend(pb.SuspendRequest(sale_id=parked))
    assert sale.status == pb.SALE_STATUS_SUSPENDED
    assert await refused(
        stub.Tender,
        pb.TenderRequest(sale_id=parked, kind="cash", amount=eur(250), idempotency_key="k"),
    ) == (Code.FAILED_PRECONDITION, f"sale {parked} is suspended: resume it first", "suspended")
    sale = await stub.Resume(
        pb.ResumeRequest(sale_id=parked, store_id=STORE, lane_id="l1", cashier_id="c7")
    )
    assert sale.status == pb.SALE_STATUS_OPEN
    await stub.Tender(
        pb.TenderRequest(sale_id=parked, kind="cash", amount=eur(100), idempotency_key="k")
    )
    voided = await stub.Void(pb.VoidRequest(sale_id=parked, reason="walked out"))
    assert voided.cash_back == eur(100) and len(voided.tenders) == 1
    got = await stub.GetSale(pb.GetSaleRequest(sale_id=parked))
    assert got.status == pb.SALE_STATUS_VOIDED


async def test_new_methods_refuse_bad_input(api: Api) -> None:
    stub = api.stub
    await api.shift()
    sale_id = await api.sale()
    unknown = str(uuid4())
    cases: list[tuple[Any, Any, Code, str]] = [
        (
            stub.UpdateLine,
            pb.UpdateLineRequest(sale_id=sale_id, line_no=1, quantity=0),
            Code.INVALID_ARGUMENT,
            "invalid",
        ),
        (
            stub.UpdateLine,
            pb.UpdateLineRequest(sale_id=sale_id, line_no=7, quantity=1),
            Code.INVALID_ARGUMENT,
            "invalid",
        ),
        (
            stub.RemoveLine,
            pb.RemoveLineRequest(sale_id="nope", line_no=1),
            Code.INVALID_ARGUMENT,
            "invalid",
        ),
        (
            stub.RemoveLine,
            pb.RemoveLineRequest(sale_id=unknown, line_no=1),
            Code.NOT_FOUND,
            "not_found",
        ),
        (
            stub.ApplyDiscount,
            pb.ApplyDiscountRequest(
                sale_id=sale_id, kind="free", value=1, reason="x", discount_id="d"
            ),
            Code.FAILED_PRECONDITION,
            "rejected",
        ),
        (
            stub.ApplyDiscount,
            pb.ApplyDiscountRequest(
                sale_id=sale_id, kind="percent", value=90_00, reason="x", discount_id="d"
            ),
            Code.FAILED_PRECONDITION,
            "approval_required",
        ),
        (
            stub.Tender,
            pb.TenderRequest(sale_id=sale_id, kind="cash", amount=eur(0), idempotency_key="k"),
            Code.INVALID_ARGUMENT,
            "invalid",
        ),
        (
            stub.Tender,
            pb.TenderRequest(sale_id=sale_id, kind="cash", idempotency_key="k"),
            Code.INVALID_ARGUMENT,
            "invalid",
        ),
        (
            stub.Tender,
            pb.TenderRequest(
                sale_id=sale_id,
                kind="cash",
                idempotency_key="k",
                amount=pb.Money(amount_minor=5, currency="USD"),
            ),
            Code.INVALID_ARGUMENT,
            "invalid",
        ),
        (
            stub.Tender,
            pb.TenderRequest(sale_id=sale_id, kind="cash", amount=eur(5)),
            Code.INVALID_ARGUMENT,
            "invalid",
        ),
        (
            stub.Tender,
            pb.TenderRequest(sale_id=unknown, kind="cash", amount=eur(5), idempotency_key="k"),
            Code.NOT_FOUND,
            "not_found",
        ),
        (
            stub.Tender,
            pb.TenderRequest(
                sale_id=sale_id,
                kind="card",
                amount=eur(5),
                idempotency_key="k",
                pan="x",
                expiry="2912",
            ),
            Code.UNAVAILABLE,
            "unavailable",
        ),  # this server has no router
        (stub.Void, pb.VoidRequest(sale_id=sale_id), Code.INVALID_ARGUMENT, "invalid"),
        (stub.Void, pb.VoidRequest(sale_id=unknown, reason="x"), Code.NOT_FOUND, "not_found"),
        (stub.Suspend, pb.SuspendRequest(sale_id=""), Code.INVALID_ARGUMENT, "invalid"),
        (
            stub.Resume,
            pb.ResumeRequest(sale_id=sale_id, store_id=STORE, lane_id="l9", cashier_id="c7"),
            Code.FAILED_PRECONDITION,
            "rejected",
        ),  # open, not suspended
        (
            stub.Resume,
            pb.ResumeRequest(sale_id=sale_id, store_id=STORE, lane_id="l1", cashier_id="c8"),
            Code.FAILED_PRECONDITION,
            "rejected",
        ),  # open, not suspended
        (
            stub.Return,
            pb.ReturnRequest(return_id="r", store_id=STORE, lane_id="l1", cashier_id="c7"),
            Code.INVALID_ARGUMENT,
            "invalid",
        ),
        (
            stub.Return,
            pb.ReturnRequest(
                return_id=str(uuid4()),
                store_id=STORE,
                lane_id="l1",
                cashier_id="c7",
                original=sale_id,
                lines=[pb.ReturnLine(line_no=1, quantity=1)],
            ),
            Code.INVALID_ARGUMENT,
            "invalid",
        ),  # the sale is not completed
        (
            stub.Return,
            pb.ReturnRequest(
                return_id=str(uuid4()),
                store_id=STORE,
                lane_id="l1",
                cashier_id="c7",
                lines=[pb.ReturnLine(sku="sku-a", quantity=1)],
            ),
            Code.PERMISSION_DENIED,
            "permission_required",
        ),
    ]
    for call, request, code, kind in cases:
        got_code, message, got_kind = await refused(call, request)
        assert (got_code, got_kind) == (code, kind), (request, message)
        assert message
