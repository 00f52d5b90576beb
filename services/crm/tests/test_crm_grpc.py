"""CustomerService over gRPC: a real grpc.aio server on a free port, the servicer over a SQLite
Customers application, and a real channel. Every method with good and with bad input."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import grpc
import nats as nats_py
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from crm.api import SCOPES_KEY, SERVICE_NAME, grpc_api, scopes_of
from crm.application import Customers
from crm.bus import on_sale_completed
from crm.main import build, build_application
from tillstream.codec import ReceivedEvent
from tillstream.consumer import Delivery, EventSourcedSink
from tillstream.crm.v1 import crm_service_pb2 as pb
from tillstream.crm.v1 import crm_service_pb2_grpc as pb_grpc
from tillstream.events.v1 import checkout_pb2, common_pb2
from tillstream.grpcserver import DbRunner
from tillstream.natsserver import NatsServer, free_port
from tillstream.testing import (
    ask_service,
    grpc_test_server,
    refused,
    running_host,
    test_settings,
)

Code = grpc.StatusCode
PII = ((SCOPES_KEY, "customers.read customers.pii"),)
READ_ONLY = ((SCOPES_KEY, "customers.read"),)


@dataclass
class Api:
    app: Customers
    runner: DbRunner
    stub: pb_grpc.CustomerServiceStub


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(1, thread_name_prefix="crm-db")
    yield pool
    pool.shutdown(wait=True)


@pytest.fixture
async def api(tmp_path: Path, executor: ThreadPoolExecutor) -> AsyncIterator[Api]:
    app = build_application(test_settings(tmp_path))
    runner = DbRunner(executor, app)
    try:
        async with grpc_test_server("crm", grpc_api(app), runner) as served:
            yield Api(app, runner, pb_grpc.CustomerServiceStub(served.channel))
    finally:
        app.close()


async def register(stub: pb_grpc.CustomerServiceStub, card: str = "LC0001") -> str:
    reply = await stub.Register(
        pb.RegisterRequest(
            loyalty_card=card,
            name="Ana Lima",
            store_id="s001",
            email="Ana@Example.com",
            phone="+44 20 7946 0958",
        )
    )
    return str(reply.customer_id)


def test_scopes_from_metadata() -> None:
    assert scopes_of(
        [("tillstream-scopes", "a  b"), ("other", "c"), ("Tillstream-Scopes", "d")]
    ) == {"a", "b", "d"}
    assert scopes_of(None) == frozenset()


async def test_register_and_get_with_and_without_the_scope(api: Api) -> None:
    stub = api.stub
    customer_id = await register(stub)
    assert customer_id == await register(stub)  # the same card again: the same customer
    plain = await stub.GetCustomer(
        pb.GetCustomerRequest(customer_id=customer_id), metadata=READ_ONLY
    )
    assert (plain.loyalty_card, plain.pii_available, plain.name, plain.email) == (
        "LC0001",
        True,
        "",
        "",
    )
    full = await stub.GetCustomer(
        pb.GetCustomerRequest(customer_id=customer_id, include_pii=True), metadata=PII
    )
    assert (full.name, full.email, full.phone) == ("Ana Lima", "Ana@example.com", "+442079460958")
    code, message, word = await refused(
        stub.GetCustomer,
        pb.GetCustomerRequest(customer_id=customer_id, include_pii=True),
        metadata=READ_ONLY,
    )
    assert (code, word) == (Code.PERMISSION_DENIED, "forbidden") and "customers.pii" in message
    code, _, _ = await refused(
        stub.GetCustomer, pb.GetCustomerRequest(customer_id=customer_id, include_pii=True)
    )
    assert code == Code.PERMISSION_DENIED

    for call, bad, want, word in (
        (
            stub.Register,
            pb.RegisterRequest(loyalty_card="LC 1", name="A", store_id="s001"),
            Code.INVALID_ARGUMENT,
            "invalid",
        ),
        (
            stub.Register,
            pb.RegisterRequest(
                loyalty_card="LC0009", name="A", store_id="s001", email="not-an-email"
            ),
            Code.INVALID_ARGUMENT,
            "invalid",
        ),
        (
            stub.Register,
            pb.RegisterRequest(
                loyalty_card="LC0009", name="A", store_id="s001", customer_id="nope"
            ),
            Code.INVALID_ARGUMENT,
            "invalid",
        ),
        (
            stub.Register,
            pb.RegisterRequest(
                loyalty_card="LC0009", name="A", store_id="s001", customer_id=customer_id
            ),
            Code.ALREADY_EXISTS,
            "conflict",
        ),
        (
            stub.GetCustomer,
            pb.GetCustomerRequest(customer_id="nope"),
            Code.INVALID_ARGUMENT,
            "invalid",
        ),
        (
            stub.GetCustomer,
            pb.GetCustomerRequest(customer_id=str(uuid4())),
            Code.NOT_FOUND,
            "not_found",
        ),
    ):
        code, message, got = await refused(call, bad)
        assert (code, got) == (want, word), (bad, message)
        assert message


async def test_find_update_consent(api: Api) -> None:
    stub = api.stub
    customer_id = await register(stub)
    found = await stub.FindCustomer(pb.FindCustomerRequest(email="ana@example.com"))
    assert list(found.customer_ids) == [customer_id]
    by_phone = await stub.FindCustomer(pb.FindCustomerRequest(phone="+442079460958"))
    assert list(by_phone.customer_ids) == [customer_id]
    await stub.UpdateContact(
        pb.UpdateContactRequest(customer_id=customer_id, email="ana@new.example")
    )
    assert (
        list(
            (await stub.FindCustomer(pb.FindCustomerRequest(email="ana@example.com"))).customer_ids
        )
        == []
    )
    assert list(
        (await stub.FindCustomer(pb.FindCustomerRequest(email="ana@new.example"))).customer_ids
    ) == [customer_id]
    await stub.UpdateContact(pb.UpdateContactRequest(customer_id=customer_id, phone=""))
    full = await stub.GetCustomer(
        pb.GetCustomerRequest(customer_id=customer_id, include_pii=True), metadata=PII
    )
    assert (full.name, full.email, full.phone) == ("Ana Lima", "ana@new.example", "")
    given = await stub.SetConsent(
        pb.SetConsentRequest(
            customer_id=customer_id, marketing=True, channel="email", at_ms=1_767_225_600_000
        )
    )
    assert given.changed
    again = await stub.SetConsent(
        pb.SetConsentRequest(customer_id=customer_id, marketing=True, channel="email")
    )
    assert not again.changed
    plain = await stub.GetCustomer(pb.GetCustomerRequest(customer_id=customer_id))
    assert (plain.marketing_consent, plain.consent_channel) == (True, "email")
    assert plain.consent_at.startswith("2026-01-01")

    for call, bad, want in (
        (stub.FindCustomer, pb.FindCustomerRequest(), Code.INVALID_ARGUMENT),
        (
            stub.FindCustomer,
            pb.FindCustomerRequest(email="a@b.example", phone="+4420"),
            Code.INVALID_ARGUMENT,
        ),
        (stub.FindCustomer, pb.FindCustomerRequest(phone="12"), Code.INVALID_ARGUMENT),
        (
            stub.UpdateContact,
            pb.UpdateContactRequest(customer_id=customer_id),
            Code.INVALID_ARGUMENT,
        ),
        (
            stub.UpdateContact,
            pb.UpdateContactRequest(customer_id=customer_id, email="broken"),
            Code.INVALID_ARGUMENT,
        ),
        (
            stub.UpdateContact,
            pb.UpdateContactRequest(customer_id=str(uuid4()), name="X"),
            Code.NOT_FOUND,
        ),
        (
            stub.SetConsent,
            pb.SetConsentRequest(customer_id=customer_id, marketing=True, channel="pigeon"),
            Code.INVALID_ARGUMENT,
        ),
        (
            stub.SetConsent,
            pb.SetConsentRequest(customer_id=customer_id, marketing=True, channel="sms", at_ms=-5),
            Code.INVALID_ARGUMENT,
        ),
        (
            stub.SetConsent,
            pb.SetConsentRequest(customer_id="x", channel="sms"),
            Code.INVALID_ARGUMENT,
        ),
    ):
        code, message, _ = await refused(call, bad)
        assert code == want, (bad, code, message)
        assert message


def _sale(customer_id: str, sale_id: str, total: int) -> ReceivedEvent:
    message = checkout_pb2.SaleCompleted(
        sale_id=sale_id,
        store_id="s001",
        customer_id=customer_id,
        total=common_pb2.Money(amount_minor=total, currency="EUR"),
        lines=[common_pb2.SaleLine(line_no=1, sku="APL", quantity=3)],
        completed_at_ms=1_767_225_600_000,
    )
    return ReceivedEvent(
        event_type=message.DESCRIPTOR.full_name,
        message=message,
        subject="checkout.s001.sale.completed",
        store_id="s001",
        occurred_at="",
        msg_id="",
        headers={},
    )


async def test_loyalty_history_and_erase(api: Api) -> None:
    stub = api.stub
    customer_id = await register(stub)
    sink = EventSourcedSink(api.app, {"tillstream.events.v1.SaleCompleted": on_sale_completed})
    deliveries = [Delivery(n, _sale(customer_id, f"sale-{n}", 1000 * n)) for n in (1, 2, 3)]
    await api.runner.call(sink.apply, "checkout.p0", deliveries)
    loyalty = await stub.GetLoyalty(pb.GetLoyaltyRequest(customer_id=customer_id))
    assert (loyalty.balance, loyalty.earned_total, loyalty.tier) == (60, 60, "basic")
    page = await stub.ListHistory(pb.ListHistoryRequest(customer_id=customer_id, page_size=2))
    assert page.sale_count == 3 and len(page.sales) == 2 and page.next_page_token
    assert [(m.currency, m.amount_minor) for m in page.totals] == [("EUR", 6000)]
    assert [(f.sku, f.quantity) for f in page.favourites] == [("APL", 9)]
    rest = await stub.ListHistory(
        pb.ListHistoryRequest(customer_id=customer_id, page_token=page.next_page_token)
    )
    assert len(rest.sales) == 1 and rest.next_page_token == ""

    erased = await stub.Erase(pb.EraseRequest(customer_id=customer_id))
    assert erased.changed
    assert not (await stub.Erase(pb.EraseRequest(customer_id=customer_id))).changed
    after = await stub.GetCustomer(
        pb.GetCustomerRequest(customer_id=customer_id, include_pii=True), metadata=PII
    )
    assert (after.erased, after.pii_available, after.name, after.email) == (True, False, "", "")
    history = await stub.ListHistory(pb.ListHistoryRequest(customer_id=customer_id))
    assert (history.sale_count, list(history.sales)) == (0, [])
    code, _, word = await refused(
        stub.UpdateContact, pb.UpdateContactRequest(customer_id=customer_id, name="Back")
    )
    assert (code, word) == (Code.FAILED_PRECONDITION, "erased")

    for call, bad, want in (
        (stub.GetLoyalty, pb.GetLoyaltyRequest(), Code.INVALID_ARGUMENT),
        (stub.GetLoyalty, pb.GetLoyaltyRequest(customer_id=str(uuid4())), Code.NOT_FOUND),
        (stub.ListHistory, pb.ListHistoryRequest(), Code.INVALID_ARGUMENT),
        (
            stub.ListHistory,
            pb.ListHistoryRequest(customer_id=customer_id, page_size=500),
            Code.INVALID_ARGUMENT,
        ),
        (
            stub.ListHistory,
            pb.ListHistoryRequest(customer_id=customer_id, page_token="x"),
            Code.INVALID_ARGUMENT,
        ),
        (stub.ListHistory, pb.ListHistoryRequest(customer_id=str(uuid4())), Code.NOT_FOUND),
        (stub.Erase, pb.EraseRequest(customer_id="x"), Code.INVALID_ARGUMENT),
        (stub.Erase, pb.EraseRequest(customer_id=str(uuid4())), Code.NOT_FOUND),
    ):
        code, message, _ = await refused(call, bad)
        assert code == want, (bad, code, message)
        assert message
    await asyncio.sleep(0)


async def test_service_host_serves_grpc_beside_nats(nats: NatsServer, tmp_path: Path) -> None:
    """The service's host starts CustomerService: a customer registered over NATS is read
    over gRPC (one application), and health says SERVING."""
    port = free_port()
    settings = test_settings(
        tmp_path / "data", grpc_enabled=True, grpc_ports={"crm": port}, grpc_host="127.0.0.1"
    )
    async with running_host(build(settings), settings, nats.url) as running:
        nc = await nats_py.connect(nats.url)
        try:
            reply = await ask_service(
                nc,
                "crm",
                "register_customer",
                {"loyalty_card": "LC0001", "name": "Ana", "store_id": "s001"},
            )
            assert reply["ok"]
            assert running.host.nc is not None
            running.host.nc.options["drain_timeout"] = 1  # see test_crm_main
            assert running.host.grpc is not None and running.host.grpc.port == port
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                health = health_pb2_grpc.HealthStub(channel)
                status = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
                assert status.status == health_pb2.HealthCheckResponse.SERVING
                customer = await pb_grpc.CustomerServiceStub(channel).GetCustomer(
                    pb.GetCustomerRequest(customer_id=reply["customer_id"], include_pii=True),
                    metadata=PII,
                )
                assert customer.name == "Ana"
        finally:
            await nc.close()
