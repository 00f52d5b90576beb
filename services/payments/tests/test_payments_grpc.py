"""PaymentsService over gRPC: a real grpc.aio server (tillstream.grpcserver) on a free port,
the servicer over a SQLite Payments application, and a real channel. The acquirer is the
in-process stand-in, or the ISO 8583 simulator over a real socket through the host link.

Test card numbers are made in memory (`card_number`): no card number is spelled here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from payments import iso8583spec as spec
from payments.acquirer import AuthorizationResult, SimulatedAcquirer
from payments.acquirersim import AcquirerSimulator
from payments.api import ERROR_CODE_KEY, PAYMENT_ID_KEY, PAYMENT_STATUS_KEY, SERVICE_NAME, grpc_api
from payments.application import Payments
from payments.hostlink import HostAcquirer
from payments.main import build, build_application
from tillstream.bus import connect, wait_for
from tillstream.grpcserver import DbRunner, GrpcServer
from tillstream.natsserver import NatsServer, free_port
from tillstream.payments.v1 import payments_service_pb2 as pb
from tillstream.payments.v1 import payments_service_pb2_grpc as pb_grpc
from tillstream.settings import Settings
from tillstream.testing import (
    ask_service,
    card_number,
    grpc_test_server,
    refused,
    running_host,
    test_settings,
)

Code = grpc.StatusCode
STORE = "s001"
EXPIRY = f"12/{(datetime.now(UTC).year + 3) % 100:02d}"


VISA = card_number("411111", ending="1111")
MASTERCARD = card_number("555555", ending="4444")
DECLINE_51 = card_number("400000", ending="0051")
DECLINE_91 = card_number("400000", ending="0091")
NEVER_ANSWERS = card_number("400000", ending="0099")
#: Luhn-invalid: the last digit of VISA moved by one.
BAD_LUHN = VISA[:-1] + str((int(VISA[-1]) + 1) % 10)
GIFT = "6000" + "1234" * 3


def approving(n: int) -> str:
    """The n-th of several cards the acquirers approve (endings 1000 and up)."""
    return card_number("411111", ending=f"{1000 + n:04d}")


TEST_NUMBERS = (VISA, MASTERCARD, DECLINE_51, DECLINE_91, NEVER_ANSWERS, GIFT)


def eur(amount_minor: int) -> pb.Money:
    return pb.Money(amount_minor=amount_minor, currency="EUR")


def authorize(
    key: str = "k1", pan: str = VISA, amount: int | pb.Money | None = 1250, **fields: Any
) -> pb.AuthorizeRequest:
    """An AuthorizeRequest (an int amount is in EUR); `amount=None` leaves the amount out,
    `fields` override."""
    request = pb.AuthorizeRequest(
        idempotency_key=key,
        sale_id=f"sale-{key}",
        store_id=STORE,
        lane_id="01",
        pan=pan,
        expiry=EXPIRY,
    )
    if amount is not None:
        request.amount.CopyFrom(amount if isinstance(amount, pb.Money) else eur(amount))
    for name, value in fields.items():
        if value is None:
            request.ClearField(name)
        elif isinstance(value, pb.Money):
            getattr(request, name).CopyFrom(value)
        else:
            setattr(request, name, value)
    return request


class CountingAcquirer(SimulatedAcquirer):
    """The in-process stand-in, counting the authorizations it is asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.authorizations = 0

    def authorize(
        self, pan: str, expiry: str, amount_minor: int, currency: str
    ) -> AuthorizationResult:
        self.authorizations += 1
        return super().authorize(pan, expiry, amount_minor, currency)


@dataclass
class Api:
    app: Payments
    runner: DbRunner
    server: GrpcServer
    channel: grpc.aio.Channel
    stub: pb_grpc.PaymentsServiceStub
    #: Every reply and error message this test saw, for the card number scan.
    seen: list[str] = field(default_factory=list)


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(1, thread_name_prefix="payments-db")
    yield pool
    pool.shutdown(wait=True)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return test_settings(tmp_path / "data")


@asynccontextmanager
async def serve(app: Payments, executor: ThreadPoolExecutor) -> AsyncIterator[Api]:
    """PaymentsService over `app` on a free port; `app` is closed afterwards."""
    runner = DbRunner(executor, app)
    try:
        async with grpc_test_server("payments", grpc_api(app), runner) as served:
            channel = served.channel
            yield Api(app, runner, served.server, channel, pb_grpc.PaymentsServiceStub(channel))
    finally:
        app.close()


@pytest.fixture
def acquirer() -> CountingAcquirer:
    return CountingAcquirer()


@pytest.fixture
async def api(
    settings: Settings, acquirer: CountingAcquirer, executor: ThreadPoolExecutor
) -> AsyncIterator[Api]:
    async with serve(build_application(settings, acquirer), executor) as served:
        yield served


@dataclass
class Host:
    """The ISO 8583 simulator (in the test's event loop) and the API over the host link."""

    sim: AcquirerSimulator
    host: HostAcquirer
    api: Api


@pytest.fixture
async def host(
    settings: Settings, tmp_path: Path, executor: ThreadPoolExecutor
) -> AsyncIterator[Host]:
    sim = AcquirerSimulator(port=0, settlement_dir=tmp_path / "acquirer", latency=0.02)
    await sim.start()
    # A 1 s answer timeout: short for the test that never gets an answer, long enough that a
    # loaded machine does not turn an approval into a timeout.
    link = HostAcquirer(
        "127.0.0.1", sim.port, 1.0, echo_interval=None, reversal_attempts=3, reversal_backoff=0.02
    )
    try:
        async with serve(build_application(settings, link), executor) as served:
            yield Host(sim, link, served)
    finally:
        await asyncio.to_thread(link.close)
        await sim.stop()


def no_card_number_in(*messages: Any) -> None:
    for message in messages:
        text = message if isinstance(message, str) else str(message)
        for number in TEST_NUMBERS:
            assert number not in text


# -- happy paths --------------------------------------------------------------------------


async def test_sale_retry_get_and_refunds(api: Api, acquirer: CountingAcquirer) -> None:
    stub = api.stub
    sale = await stub.Authorize(authorize("k1"))
    assert UUID(sale.payment_id)
    assert (sale.status, sale.kind, sale.response_code) == (
        pb.PAYMENT_STATUS_APPROVED,
        pb.PAYMENT_KIND_SALE,
        "00",
    )
    assert sale.masked_pan == spec.mask_pan(VISA) and len(sale.auth_code) == 6
    assert (sale.amount, sale.captured) == (eur(1250), eur(1250))
    assert (sale.store_id, sale.sale_id, sale.tender) == (STORE, "sale-k1", "card")
    assert abs(sale.created_at.ToDatetime(UTC) - datetime.now(UTC)) < timedelta(minutes=1)
    # The same key and body: the first result, and the acquirer is not asked again.
    assert await stub.Authorize(authorize("k1")) == sale
    assert acquirer.authorizations == 1
    assert await stub.GetPayment(pb.GetPaymentRequest(payment_id=sale.payment_id)) == sale

    first = await stub.Refund(
        pb.RefundRequest(payment_id=sale.payment_id, operation_key="r1", amount=eur(250))
    )
    assert first.WhichOneof("result") == "referenced"
    assert (first.referenced.operation, first.referenced.amount) == ("refund", eur(250))
    assert first.referenced.payment.refunded == eur(250)
    second = await stub.Refund(
        pb.RefundRequest(payment_id=sale.payment_id, operation_key="r2", amount=eur(1000))
    )
    # Fully refunded, the sale stays approved (captured): the refunds are on top of it.
    assert second.referenced.payment.status == pb.PAYMENT_STATUS_APPROVED
    assert second.referenced.payment.refunded == eur(1250)
    no_card_number_in(sale, first, second)


async def test_preauthorization_life_cycle(api: Api) -> None:
    stub = api.stub
    held = await stub.PreAuthorize(authorize("p1", amount=1000))
    assert (held.status, held.kind, held.authorized) == (
        pb.PAYMENT_STATUS_AUTHORIZED,
        pb.PAYMENT_KIND_PREAUTH,
        eur(1000),
    )
    pid = held.payment_id
    raised = await stub.IncrementAuthorization(
        pb.IncrementAuthorizationRequest(payment_id=pid, operation_key="i1", increment=eur(500))
    )
    assert (raised.operation, raised.payment.authorized) == ("increment", eur(1500))
    tipped = await stub.AdjustTip(
        pb.AdjustTipRequest(payment_id=pid, operation_key="t1", tip=eur(200))
    )
    assert (tipped.operation, tipped.payment.tip) == ("adjust_tip", eur(200))
    captured = await stub.Capture(pb.CaptureRequest(payment_id=pid, operation_key="c1"))
    assert captured.payment.status == pb.PAYMENT_STATUS_APPROVED
    assert (captured.operation, captured.amount, captured.payment.captured) == (
        "capture",
        eur(1700),
        eur(1700),
    )
    # A retried capture answers as the first did.
    assert await stub.Capture(pb.CaptureRequest(payment_id=pid, operation_key="c1")) == captured

    other = await stub.PreAuthorize(authorize("p2", amount=800))
    partial = await stub.Capture(
        pb.CaptureRequest(payment_id=other.payment_id, operation_key="c1", amount=eur(600))
    )
    assert partial.payment.captured == eur(600)

    third = await stub.PreAuthorize(authorize("p3", pan=MASTERCARD))
    voided = await stub.Void(
        pb.VoidRequest(payment_id=third.payment_id, operation_key="v1", reason="customer left")
    )
    assert (voided.operation, voided.payment.status) == ("void", pb.PAYMENT_STATUS_VOIDED)


async def test_unreferenced_refund(api: Api) -> None:
    request = pb.RefundRequest(
        unreferenced=True,
        permitted=True,
        idempotency_key="u1",
        sale_id="return-1",
        store_id=STORE,
        amount=eur(900),
        pan=VISA,
        expiry=EXPIRY,
    )
    refund = await api.stub.Refund(request)
    assert refund.WhichOneof("result") == "unreferenced"
    payment = refund.unreferenced
    assert (payment.status, payment.kind, payment.refunded) == (
        pb.PAYMENT_STATUS_REFUNDED,
        pb.PAYMENT_KIND_REFUND,
        eur(900),
    )
    assert await api.stub.Refund(request) == refund
    no_card_number_in(refund)


async def test_declines_are_results(api: Api) -> None:
    declined = await api.stub.Authorize(authorize("d1", pan=DECLINE_51))
    assert (declined.status, declined.response_code, declined.reason) == (
        pb.PAYMENT_STATUS_DECLINED,
        "51",
        "insufficient funds",
    )
    assert declined.captured == eur(0)


async def test_list_payments_pages_and_filters(api: Api) -> None:
    stub = api.stub
    before = datetime.now(UTC)
    # A card each: the velocity risk rule declines many attempts on one card.
    ids = [
        (await stub.Authorize(authorize(f"k{n}", pan=approving(n), amount=100 + n))).payment_id
        for n in range(5)
    ]
    declined = (await stub.Authorize(authorize("d", pan=DECLINE_51))).payment_id
    other_store = await stub.Authorize(authorize("k0", pan=approving(5), store_id="s002"))
    held = (await stub.PreAuthorize(authorize("p", pan=approving(6)))).payment_id

    listed: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await stub.ListPayments(
            pb.ListPaymentsRequest(store_id=STORE, page_size=3, page_token=token)
        )
        listed += [p.payment_id for p in page.payments]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert listed == [*ids, declined, held] and pages == 3

    everything = await stub.ListPayments(pb.ListPaymentsRequest())
    assert len(everything.payments) == 8 and not everything.next_page_token
    assert other_store.payment_id in [p.payment_id for p in everything.payments]

    by_status = await stub.ListPayments(
        pb.ListPaymentsRequest(store_id=STORE, status=pb.PAYMENT_STATUS_DECLINED)
    )
    assert [p.payment_id for p in by_status.payments] == [declined]
    authorized = await stub.ListPayments(
        pb.ListPaymentsRequest(status=pb.PAYMENT_STATUS_AUTHORIZED)
    )
    assert [p.payment_id for p in authorized.payments] == [held]
    assert (
        len(
            (
                await stub.ListPayments(pb.ListPaymentsRequest(store_id=STORE, tender="card"))
            ).payments
        )
        == 7
    )
    assert not (await stub.ListPayments(pb.ListPaymentsRequest(tender="cash"))).payments
    assert not (await stub.ListPayments(pb.ListPaymentsRequest(store_id="s999"))).payments

    def stamp(moment: datetime) -> Timestamp:
        value = Timestamp()
        value.FromDatetime(moment)
        return value

    after = datetime.now(UTC) + timedelta(seconds=1)
    in_range = await stub.ListPayments(
        pb.ListPaymentsRequest(
            created_from=stamp(before - timedelta(seconds=1)), created_to=stamp(after)
        )
    )
    assert len(in_range.payments) == 8
    assert not (await stub.ListPayments(pb.ListPaymentsRequest(created_from=stamp(after)))).payments
    assert not (
        await stub.ListPayments(
            pb.ListPaymentsRequest(created_to=stamp(before - timedelta(seconds=1)))
        )
    ).payments
    # More than the maximum page is served as the maximum.
    assert len((await stub.ListPayments(pb.ListPaymentsRequest(page_size=1000))).payments) == 8


async def test_gift_card_operations(api: Api) -> None:
    stub = api.stub
    activated = await stub.ActivateGiftCard(
        pb.ActivateGiftCardRequest(
            number=GIFT, store_id=STORE, operation_key="a1", amount=eur(5000)
        )
    )
    assert (activated.status, activated.balance, activated.operation) == (
        "active",
        eur(5000),
        "activate",
    )
    assert activated.masked_number.endswith(GIFT[-4:]) and GIFT not in str(activated)
    loaded = await stub.LoadGiftCard(
        pb.LoadGiftCardRequest(number=GIFT, store_id=STORE, operation_key="l1", amount=eur(1000))
    )
    assert (loaded.balance, loaded.operation_amount) == (eur(6000), eur(1000))
    redeemed = await stub.RedeemGiftCard(
        pb.RedeemGiftCardRequest(
            number=GIFT, store_id=STORE, operation_key="r1", sale_id="sale-9", amount=eur(2500)
        )
    )
    assert (redeemed.balance, redeemed.operation) == (eur(3500), "redeem")
    # A retried redemption answers as the first did: redeemed once.
    assert (
        await stub.RedeemGiftCard(
            pb.RedeemGiftCardRequest(
                number=GIFT, store_id=STORE, operation_key="r1", sale_id="sale-9", amount=eur(2500)
            )
        )
        == redeemed
    )
    refunded = await stub.RefundGiftCard(
        pb.RefundGiftCardRequest(
            number=GIFT, store_id=STORE, operation_key="f1", sale_id="sale-9", amount=eur(500)
        )
    )
    assert refunded.balance == eur(4000)
    balance = await stub.GetGiftCardBalance(pb.GetGiftCardBalanceRequest(number=GIFT))
    assert (balance.balance, balance.status, balance.operation_key) == (eur(4000), "active", "")
    blocked = await stub.BlockGiftCard(
        pb.BlockGiftCardRequest(
            number=GIFT, store_id=STORE, operation_key="b1", reason="reported stolen"
        )
    )
    assert (blocked.status, blocked.balance) == ("blocked", eur(4000))
    code, message, error = await refused(
        stub.RedeemGiftCard,
        pb.RedeemGiftCardRequest(
            number=GIFT, store_id=STORE, operation_key="r2", sale_id="sale-10", amount=eur(1)
        ),
    )
    assert (code, error) == (Code.FAILED_PRECONDITION, "rejected") and "blocked" in message


# -- refusals -----------------------------------------------------------------------------


async def test_authorize_refusals(api: Api, acquirer: CountingAcquirer) -> None:
    cases: list[tuple[pb.AuthorizeRequest, str]] = [
        (authorize(pan=BAD_LUHN), "card number"),
        (authorize(pan=""), "pan"),
        (authorize(pan="4111 1111"), "card number"),
        (authorize(expiry=""), "expiry"),
        (authorize(expiry="13/30"), "expiry"),
        (authorize(amount=None), "amount is required"),
        (authorize(amount=0), "amount"),
        (authorize(amount=-5), "amount"),
        (authorize(amount=pb.Money(amount_minor=100, currency="eur")), "currency"),
        (authorize(amount=pb.Money(amount_minor=100)), "currency"),
        (authorize(idempotency_key=""), "idempotency_key"),
        (authorize(sale_id=""), "sale_id"),
        (authorize(store_id=""), "store_id"),
        (authorize(store_id="s 1"), "store"),
    ]
    for request, fragment in cases:
        for call in (api.stub.Authorize, api.stub.PreAuthorize):
            code, message, error = await refused(call, request)
            assert (code, error) == (Code.INVALID_ARGUMENT, "invalid"), (request, message)
            assert fragment in message.lower(), (fragment, message)
            no_card_number_in(message)
    assert acquirer.authorizations == 0


async def test_payment_operation_refusals(api: Api) -> None:
    stub = api.stub
    sale = (await stub.Authorize(authorize("k1"))).payment_id
    held = (await stub.PreAuthorize(authorize("p1", amount=1000))).payment_id
    missing = "00000000-0000-4000-8000-000000000000"
    Ops = pb.IncrementAuthorizationRequest
    cases: list[tuple[Any, Any, grpc.StatusCode, str, str]] = [
        # bad input
        (
            stub.GetPayment,
            pb.GetPaymentRequest(payment_id="nope"),
            Code.INVALID_ARGUMENT,
            "invalid",
            "payment_id must be a uuid",
        ),
        (stub.GetPayment, pb.GetPaymentRequest(), Code.INVALID_ARGUMENT, "invalid", "payment_id"),
        (
            stub.Capture,
            pb.CaptureRequest(payment_id=held),
            Code.INVALID_ARGUMENT,
            "invalid",
            "operation_key",
        ),
        (
            stub.Capture,
            pb.CaptureRequest(
                payment_id=held, operation_key="c", amount=pb.Money(amount_minor=5, currency="USD")
            ),
            Code.INVALID_ARGUMENT,
            "invalid",
            "in usd",
        ),
        (
            stub.Void,
            pb.VoidRequest(payment_id="x", operation_key="v"),
            Code.INVALID_ARGUMENT,
            "invalid",
            "payment_id must be a uuid",
        ),
        (
            stub.Refund,
            pb.RefundRequest(payment_id=sale, operation_key="r"),
            Code.INVALID_ARGUMENT,
            "invalid",
            "amount is required",
        ),
        (
            stub.Refund,
            pb.RefundRequest(payment_id=sale, operation_key="r", amount=eur(-1)),
            Code.INVALID_ARGUMENT,
            "invalid",
            "amount",
        ),
        (
            stub.Refund,
            pb.RefundRequest(unreferenced=True, payment_id=sale, permitted=True),
            Code.INVALID_ARGUMENT,
            "invalid",
            "unreferenced",
        ),
        (
            stub.AdjustTip,
            pb.AdjustTipRequest(payment_id=held, operation_key="t"),
            Code.INVALID_ARGUMENT,
            "invalid",
            "tip is required",
        ),
        (
            stub.AdjustTip,
            pb.AdjustTipRequest(payment_id=held, operation_key="t", tip=eur(-10)),
            Code.INVALID_ARGUMENT,
            "invalid",
            "tip",
        ),
        (
            stub.IncrementAuthorization,
            Ops(payment_id=held, operation_key="i"),
            Code.INVALID_ARGUMENT,
            "invalid",
            "increment is required",
        ),
        (
            stub.IncrementAuthorization,
            Ops(payment_id=held, operation_key="i", increment=eur(0)),
            Code.INVALID_ARGUMENT,
            "invalid",
            "increment",
        ),
        # no such payment
        (
            stub.GetPayment,
            pb.GetPaymentRequest(payment_id=missing),
            Code.NOT_FOUND,
            "not_found",
            missing,
        ),
        (
            stub.Void,
            pb.VoidRequest(payment_id=missing, operation_key="v"),
            Code.NOT_FOUND,
            "not_found",
            missing,
        ),
        (
            stub.Capture,
            pb.CaptureRequest(payment_id=missing, operation_key="c"),
            Code.NOT_FOUND,
            "not_found",
            missing,
        ),
        (
            stub.Refund,
            pb.RefundRequest(payment_id=missing, operation_key="r", amount=eur(1)),
            Code.NOT_FOUND,
            "not_found",
            missing,
        ),
        (
            stub.AdjustTip,
            pb.AdjustTipRequest(payment_id=missing, operation_key="t", tip=eur(1)),
            Code.NOT_FOUND,
            "not_found",
            missing,
        ),
        (
            stub.IncrementAuthorization,
            Ops(payment_id=missing, operation_key="i", increment=eur(1)),
            Code.NOT_FOUND,
            "not_found",
            missing,
        ),
        # illegal transitions
        (
            stub.Capture,
            pb.CaptureRequest(payment_id=sale, operation_key="c"),
            Code.FAILED_PRECONDITION,
            "rejected",
            "",
        ),
        (
            stub.Void,
            pb.VoidRequest(payment_id=sale, operation_key="v"),
            Code.FAILED_PRECONDITION,
            "rejected",
            "",
        ),
        (
            stub.AdjustTip,
            pb.AdjustTipRequest(payment_id=sale, operation_key="t", tip=eur(10)),
            Code.FAILED_PRECONDITION,
            "rejected",
            "",
        ),
        (
            stub.Refund,
            pb.RefundRequest(payment_id=held, operation_key="r", amount=eur(10)),
            Code.FAILED_PRECONDITION,
            "rejected",
            "",
        ),
        (
            stub.Refund,
            pb.RefundRequest(payment_id=sale, operation_key="r", amount=eur(1251)),
            Code.FAILED_PRECONDITION,
            "rejected",
            "",
        ),
        (
            stub.Capture,
            pb.CaptureRequest(payment_id=held, operation_key="c", amount=eur(1201)),
            Code.FAILED_PRECONDITION,
            "rejected",
            "",
        ),
        (
            stub.Refund,
            pb.RefundRequest(
                unreferenced=True,
                idempotency_key="u",
                sale_id="s",
                store_id=STORE,
                amount=eur(5),
                pan=VISA,
                expiry=EXPIRY,
            ),
            Code.FAILED_PRECONDITION,
            "rejected",
            "permission",
        ),
    ]
    for call, request, status, error_code, fragment in cases:
        code, message, error = await refused(call, request)
        assert (code, error) == (status, error_code), (request, message)
        assert message, request
        assert fragment in message.lower(), (fragment, message)
        no_card_number_in(message)


async def test_list_payments_refusals(api: Api) -> None:
    cases: list[tuple[pb.ListPaymentsRequest, str]] = [
        (pb.ListPaymentsRequest(page_size=-1), "page_size"),
        (pb.ListPaymentsRequest(page_token="not a token"), "page_token"),
        (pb.ListPaymentsRequest(status=99), "status"),  # type: ignore[arg-type]
        (
            pb.ListPaymentsRequest(
                created_from=Timestamp(seconds=200), created_to=Timestamp(seconds=100)
            ),
            "created_from",
        ),
    ]
    for request, fragment in cases:
        code, message, error = await refused(api.stub.ListPayments, request)
        assert (code, error) == (Code.INVALID_ARGUMENT, "invalid"), message
        assert fragment in message


async def test_gift_card_refusals(api: Api) -> None:
    stub = api.stub
    await stub.ActivateGiftCard(
        pb.ActivateGiftCardRequest(
            number=GIFT, store_id=STORE, operation_key="a1", amount=eur(1000)
        )
    )
    unknown = "6000" + "9876" * 3
    cases: list[tuple[Any, Any, grpc.StatusCode, str]] = [
        (
            stub.ActivateGiftCard,
            pb.ActivateGiftCardRequest(number=GIFT, store_id=STORE, operation_key="a2"),
            Code.INVALID_ARGUMENT,
            "invalid",
        ),
        (
            stub.ActivateGiftCard,
            pb.ActivateGiftCardRequest(
                number="12ab", store_id=STORE, operation_key="a2", amount=eur(1)
            ),
            Code.INVALID_ARGUMENT,
            "invalid",
        ),
        (
            stub.ActivateGiftCard,
            pb.ActivateGiftCardRequest(
                number=GIFT, store_id=STORE, operation_key="a9", amount=eur(1000)
            ),
            Code.FAILED_PRECONDITION,
            "rejected",
        ),
        (
            stub.LoadGiftCard,
            pb.LoadGiftCardRequest(number=GIFT, store_id=STORE, operation_key="l1", amount=eur(0)),
            Code.INVALID_ARGUMENT,
            "invalid",
        ),
        (
            stub.LoadGiftCard,
            pb.LoadGiftCardRequest(
                number=GIFT,
                store_id=STORE,
                operation_key="l1",
                amount=pb.Money(amount_minor=5, currency="USD"),
            ),
            Code.INVALID_ARGUMENT,
            "invalid",
        ),
        (
            stub.LoadGiftCard,
            pb.LoadGiftCardRequest(
                number=unknown, store_id=STORE, operation_key="l1", amount=eur(5)
            ),
            Code.NOT_FOUND,
            "not_found",
        ),
        (
            stub.RedeemGiftCard,
            pb.RedeemGiftCardRequest(
                number=GIFT, store_id=STORE, operation_key="r1", sale_id="s", amount=eur(1001)
            ),
            Code.FAILED_PRECONDITION,
            "insufficient_funds",
        ),
        (
            stub.RedeemGiftCard,
            pb.RedeemGiftCardRequest(
                number=GIFT, store_id=STORE, operation_key="r1", amount=eur(5)
            ),
            Code.INVALID_ARGUMENT,
            "invalid",
        ),
        (
            stub.RefundGiftCard,
            pb.RefundGiftCardRequest(
                number=GIFT, store_id=STORE, operation_key="f1", sale_id="s", amount=eur(5)
            ),
            Code.FAILED_PRECONDITION,
            "rejected",
        ),
        (
            stub.RefundGiftCard,
            pb.RefundGiftCardRequest(number=GIFT, store_id=STORE, operation_key="f1", sale_id="s"),
            Code.INVALID_ARGUMENT,
            "invalid",
        ),
        (
            stub.BlockGiftCard,
            pb.BlockGiftCardRequest(number=GIFT, store_id=STORE),
            Code.INVALID_ARGUMENT,
            "invalid",
        ),
        (
            stub.BlockGiftCard,
            pb.BlockGiftCardRequest(number=unknown, store_id=STORE, operation_key="b1"),
            Code.NOT_FOUND,
            "not_found",
        ),
        (
            stub.GetGiftCardBalance,
            pb.GetGiftCardBalanceRequest(number=unknown),
            Code.NOT_FOUND,
            "not_found",
        ),
        (stub.GetGiftCardBalance, pb.GetGiftCardBalanceRequest(), Code.INVALID_ARGUMENT, "invalid"),
    ]
    for call, request, status, error_code in cases:
        code, message, error = await refused(call, request)
        assert (code, error) == (status, error_code), (request, message)
        assert message
        assert GIFT not in message and unknown not in message


async def test_a_key_reused_with_another_body_already_exists(api: Api) -> None:
    stub = api.stub
    sale = await stub.Authorize(authorize("k1"))
    for other in (authorize("k1", amount=999), authorize("k1", pan=MASTERCARD)):
        code, message, error = await refused(stub.Authorize, other)
        assert (code, error) == (Code.ALREADY_EXISTS, "conflict")
        assert "k1" in message and "another request" in message
        no_card_number_in(message)
    await stub.Refund(
        pb.RefundRequest(payment_id=sale.payment_id, operation_key="r1", amount=eur(100))
    )
    code, _, error = await refused(
        stub.Refund,
        pb.RefundRequest(payment_id=sale.payment_id, operation_key="r1", amount=eur(200)),
    )
    assert (code, error) == (Code.ALREADY_EXISTS, "conflict")
    await stub.ActivateGiftCard(
        pb.ActivateGiftCardRequest(
            number=GIFT, store_id=STORE, operation_key="a1", amount=eur(1000)
        )
    )
    await stub.LoadGiftCard(
        pb.LoadGiftCardRequest(number=GIFT, store_id=STORE, operation_key="l1", amount=eur(100))
    )
    code, _, error = await refused(
        stub.LoadGiftCard,
        pb.LoadGiftCardRequest(number=GIFT, store_id=STORE, operation_key="l1", amount=eur(200)),
    )
    assert (code, error) == (Code.ALREADY_EXISTS, "conflict")


async def test_issuer_unavailable_is_unavailable(api: Api) -> None:
    code, message, error = await refused(api.stub.Authorize, authorize("u1", pan=DECLINE_91))
    assert (code, error) == (Code.UNAVAILABLE, "unavailable")
    assert "91" in message and "issuer unavailable" in message


async def test_close_batch(api: Api) -> None:
    stub = api.stub
    today = datetime.now(UTC).date().isoformat()
    visa = await stub.Authorize(authorize("b1", amount=1250))
    await stub.Authorize(authorize("b2", pan=MASTERCARD, amount=800))
    await stub.Authorize(authorize("b3", pan=DECLINE_51, amount=999))  # not in the totals
    await stub.Refund(
        pb.RefundRequest(payment_id=visa.payment_id, operation_key="r1", amount=eur(250))
    )
    await stub.Authorize(authorize("b4", pan=approving(1), store_id="s002"))  # another store

    closed = await stub.CloseBatch(pb.CloseBatchRequest(store_id=STORE, business_day=today))
    assert (closed.store_id, closed.business_day, closed.terminal_id) == (STORE, today, "")
    assert UUID(closed.batch_id)
    totals = {(t.scheme, t.type): (t.count, t.total) for t in closed.totals}
    assert totals == {
        ("visa", "sale"): (1, eur(1250)),
        ("mastercard", "sale"): (1, eur(800)),
        ("visa", "refund"): (1, eur(250)),
    }
    assert closed.net == eur(1250 + 800 - 250)
    assert abs(closed.closed_at.ToDatetime(UTC) - datetime.now(UTC)) < timedelta(minutes=1)
    # Closing the same day again returns the first close.
    again = await stub.CloseBatch(pb.CloseBatchRequest(store_id=STORE, business_day=today))
    assert again == closed

    for request, fragment in (
        (pb.CloseBatchRequest(store_id=STORE, business_day="yesterday"), "business_day"),
        (pb.CloseBatchRequest(store_id=STORE), "business_day"),
        (pb.CloseBatchRequest(business_day=today), "store_id"),
    ):
        code, message, error = await refused(stub.CloseBatch, request)
        assert (code, error) == (Code.INVALID_ARGUMENT, "invalid"), message
        assert fragment in message


# -- over the ISO 8583 link ---------------------------------------------------------------


async def test_concurrent_duplicates_make_one_payment_and_one_authorization(
    host: Host,
) -> None:
    stub = host.api.stub
    results = await asyncio.gather(*(stub.Authorize(authorize("dup")) for _ in range(10)))
    assert len({r.payment_id for r in results}) == 1
    assert all(r == results[0] for r in results)
    assert results[0].status == pb.PAYMENT_STATUS_APPROVED
    assert host.sim.stats.by_mti.get(spec.FINANCIAL) == 1
    assert len(host.sim.settled) == 1
    listed = await stub.ListPayments(pb.ListPaymentsRequest())
    assert [p.payment_id for p in listed.payments] == [results[0].payment_id]


async def test_acquirer_not_answering_is_deadline_exceeded_and_reversed(host: Host) -> None:
    stub = host.api.stub
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Authorize(authorize("late", pan=NEVER_ANSWERS))
    error = info.value
    trailing = dict(error.trailing_metadata() or ())
    assert error.code() == Code.DEADLINE_EXCEEDED
    assert trailing[ERROR_CODE_KEY] == "no_answer"
    assert "reversed" in (error.details() or "")
    assert trailing[PAYMENT_STATUS_KEY] == "PAYMENT_STATUS_REVERSED"
    payment = await stub.GetPayment(pb.GetPaymentRequest(payment_id=trailing[PAYMENT_ID_KEY]))
    assert payment.status == pb.PAYMENT_STATUS_REVERSED and payment.captured == eur(0)
    # The simulator approved it, then took the reversal: nothing left to settle.
    assert host.sim.stats.unanswered == 1 and host.sim.stats.reversals >= 1
    assert host.sim.settled == []
    # A retry with the same key answers the same, and asks the acquirer nothing more.
    code, _, _ = await refused(stub.Authorize, authorize("late", pan=NEVER_ANSWERS))
    assert code == Code.DEADLINE_EXCEEDED
    assert host.sim.stats.unanswered == 1
    no_card_number_in(error.details() or "", payment)


async def test_get_reconciliation(host: Host, tmp_path: Path) -> None:
    stub = host.api.stub
    today = datetime.now(UTC).date().isoformat()
    sale = await stub.Authorize(authorize("r1"))
    await stub.Authorize(authorize("r2", pan=DECLINE_51))
    (settlement,) = await asyncio.to_thread(host.sim.write_settlement)
    # Reconciliation runs as the NATS command does (it reads a file on the service's side).
    await host.api.runner.call(host.api.app.reconcile, today, settlement)
    report = await stub.GetReconciliation(pb.GetReconciliationRequest(business_day=today))
    assert (report.business_day, report.matched_count, list(report.differences)) == (
        today,
        1,
        [],
    )
    assert UUID(report.reconciliation_id)
    by_id = await stub.GetReconciliation(
        pb.GetReconciliationRequest(reconciliation_id=report.reconciliation_id)
    )
    assert by_id == report
    assert sale.status == pb.PAYMENT_STATUS_APPROVED

    code, message, error = await refused(
        stub.GetReconciliation, pb.GetReconciliationRequest(business_day="2001-01-01")
    )
    assert (code, error) == (Code.NOT_FOUND, "not_found") and "2001-01-01" in message
    for request, fragment in (
        (pb.GetReconciliationRequest(), "reconciliation_id or business_day"),
        (pb.GetReconciliationRequest(business_day="today"), "business_day"),
    ):
        code, message, error = await refused(stub.GetReconciliation, request)
        assert (code, error) == (Code.INVALID_ARGUMENT, "invalid"), message
        assert fragment in message


async def test_acquirer_down_is_unavailable(
    settings: Settings, executor: ThreadPoolExecutor
) -> None:
    link = HostAcquirer("127.0.0.1", free_port(), 0.2, echo_interval=None)
    try:
        async with serve(build_application(settings, link), executor) as served:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await served.stub.Authorize(authorize("down"))
            error = info.value
            trailing = dict(error.trailing_metadata() or ())
            assert (error.code(), trailing[ERROR_CODE_KEY]) == (Code.UNAVAILABLE, "unavailable")
            assert "acquirer unavailable" in (error.details() or "")
            # Recorded, declined 91 (nothing was sent, so nothing was charged).
            payment = await served.stub.GetPayment(
                pb.GetPaymentRequest(payment_id=trailing[PAYMENT_ID_KEY])
            )
            assert (payment.status, payment.response_code) == (pb.PAYMENT_STATUS_DECLINED, "91")
    finally:
        await asyncio.to_thread(link.close)


# -- hosting ------------------------------------------------------------------------------


async def test_health_is_serving(api: Api) -> None:
    health = health_pb2_grpc.HealthStub(api.channel)
    for service in ("", SERVICE_NAME):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_service(api: Api) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(api.channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async for reply in stub.ServerReflectionInfo(iter([request])):
        names = {s.name for s in reply.list_services_response.service}
        assert SERVICE_NAME in names and "grpc.health.v1.Health" in names
        break


def test_payments_definition_has_the_grpc_api(settings: Settings) -> None:
    definition = build(settings)
    try:
        assert definition.grpc is not None
    finally:
        definition.app.close()


async def test_service_host_serves_grpc_beside_nats(nats: NatsServer, tmp_path: Path) -> None:
    """ServiceHost serves the definition's gRPC API beside the NATS commands, over one
    application and one set of handlers: a payment made on NATS is the same payment over
    gRPC, and a bad card is refused with the same message on both."""
    port = free_port()
    settings = test_settings(
        tmp_path / "data",
        grpc_enabled=True,
        grpc_ports={"payments": port},
        grpc_host="127.0.0.1",
    )
    body = {
        "idempotency_key": "k1",
        "sale_id": "sale-k1",
        "store_id": STORE,
        "lane_id": "01",
        "amount_minor": 1250,
        "currency": "EUR",
        "pan": VISA,
        "expiry": EXPIRY,
    }
    async with running_host(build(settings), settings, nats.url) as running:
        nc = await connect(nats.url, "test-client")
        try:

            async def on_nats(payload: dict[str, Any]) -> dict[str, Any] | None:
                try:
                    return await ask_service(nc, "payments", "authorize", payload)
                except Exception:
                    return None  # the host is not subscribed yet

            approved = await wait_for(lambda: on_nats(body), timeout=15)
            assert approved["ok"] is True
            refused_on_nats = await on_nats({**body, "idempotency_key": "k2", "pan": BAD_LUHN})
            assert refused_on_nats is not None
            assert running.host.grpc is not None and running.host.grpc.port == port
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = pb_grpc.PaymentsServiceStub(channel)
                again = await stub.Authorize(authorize("k1"))
                assert (again.payment_id, again.auth_code) == (
                    approved["payment_id"],
                    approved["auth_code"],
                )
                code, message, error = await refused(stub.Authorize, authorize("k2", pan=BAD_LUHN))
                assert {"code": error, "message": message} == refused_on_nats["error"]
                assert code == Code.INVALID_ARGUMENT
                await running.stop()
                health = health_pb2_grpc.HealthStub(channel)
                with pytest.raises(grpc.aio.AioRpcError):
                    await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
        finally:
            await nc.close()


async def test_no_card_number_anywhere_after_the_grpc_flows(
    host: Host, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Every gRPC card flow over the ISO 8583 link, then a scan of every file they wrote (the
    event store, the vault, the settlement file) and every log record: no test card number
    in any of them (the vault holds the approved ones encrypted)."""
    stub = host.api.stub
    caplog.set_level(logging.DEBUG)
    await stub.Authorize(authorize("a1"))
    await stub.PreAuthorize(authorize("a2", pan=MASTERCARD))
    await stub.Authorize(authorize("a3", pan=DECLINE_51))
    for pan, key in ((DECLINE_91, "a4"), (NEVER_ANSWERS, "a5"), (BAD_LUHN, "a6")):
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.Authorize(authorize(key, pan=pan))
    await stub.ListPayments(pb.ListPaymentsRequest())
    await asyncio.to_thread(host.sim.write_settlement)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.startswith("settlement-") for p in written)
    produced = b"".join(p.read_bytes() for p in written)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for number in (*TEST_NUMBERS, BAD_LUHN):
        assert number.encode() not in produced
        assert number not in logged
