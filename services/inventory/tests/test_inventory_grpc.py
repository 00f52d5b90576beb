"""InventoryService over gRPC: a real grpc.aio server on a free port, the servicer over a SQLite
Inventory, and a real channel. Every method with good and with bad input."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
import nats as nats_py
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from inventory.api import SERVICE_NAME, grpc_api
from inventory.application import Inventory
from inventory.main import build, build_application
from tillstream.grpcserver import DbRunner
from tillstream.inventory.v1 import inventory_service_pb2 as pb
from tillstream.inventory.v1 import inventory_service_pb2_grpc as pb_grpc
from tillstream.natsserver import NatsServer, free_port
from tillstream.testing import (
    ask_service,
    grpc_test_server,
    refused,
    running_host,
    test_settings,
)

Code = grpc.StatusCode
EAN = "4006381333931"


@dataclass
class Api:
    app: Inventory
    stub: pb_grpc.InventoryServiceStub


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(1, thread_name_prefix="inventory-db")
    yield pool
    pool.shutdown(wait=True)


@pytest.fixture
async def api(tmp_path: Path, executor: ThreadPoolExecutor) -> AsyncIterator[Api]:
    app = build_application(test_settings(tmp_path))
    try:
        async with grpc_test_server("inventory", grpc_api(app), DbRunner(executor, app)) as served:
            yield Api(app, pb_grpc.InventoryServiceStub(served.channel))
    finally:
        app.close()


def eur(amount: int) -> pb.Money:
    return pb.Money(amount_minor=amount, currency="EUR")


async def catalog(stub: pb_grpc.InventoryServiceStub) -> None:
    for sku, name, price, codes in (
        ("APL", "Apple", 45, [EAN]),
        ("BRD", "Bread", 199, []),
        ("CHS", "Cheese", 599, ["96385074"]),
    ):
        await stub.UpsertProduct(
            pb.UpsertProductRequest(sku=sku, name=name, price=eur(price), barcodes=codes)
        )


async def test_products(api: Api) -> None:
    stub = api.stub
    product = await stub.UpsertProduct(
        pb.UpsertProductRequest(sku="APL", name="Apple", price=eur(45), barcodes=[EAN])
    )
    assert (product.sku, product.price.amount_minor, list(product.barcodes), product.active) == (
        "APL",
        45,
        [EAN],
        True,
    )
    assert product.tax_class == "standard"
    await catalog(stub)
    changed = await stub.UpsertProduct(
        pb.UpsertProductRequest(sku="APL", name="Green apple", price=eur(49), tax_class="reduced")
    )
    assert (
        changed.name,
        changed.price.amount_minor,
        changed.tax_class,
        list(changed.barcodes),
    ) == ("Green apple", 49, "reduced", [EAN])  # barcodes left out: unchanged
    cleared = await stub.UpsertProduct(
        pb.UpsertProductRequest(sku="APL", name="Green apple", price=eur(49), clear_barcodes=True)
    )
    assert list(cleared.barcodes) == []
    got = await stub.GetProduct(pb.GetProductRequest(sku="CHS"))
    assert got.name == "Cheese"

    for bad in (
        pb.UpsertProductRequest(sku="X", name="X", price=eur(1), barcodes=["123"]),
        pb.UpsertProductRequest(sku="X", name="X"),
        pb.UpsertProductRequest(sku="X.Y", name="X", price=eur(1)),
        pb.UpsertProductRequest(sku="X", name="", price=eur(1)),
        pb.UpsertProductRequest(sku="X", name="X", price=eur(-1)),
        pb.UpsertProductRequest(sku="X", name="X", price=pb.Money(amount_minor=1, currency="eur")),
        pb.UpsertProductRequest(
            sku="X", name="X", price=eur(1), barcodes=[EAN], clear_barcodes=True
        ),
    ):
        code, message, word = await refused(stub.UpsertProduct, bad)
        assert (code, word) == (Code.INVALID_ARGUMENT, "invalid") and message
    code, message, word = await refused(stub.GetProduct, pb.GetProductRequest(sku="NOPE"))
    assert (code, word) == (Code.NOT_FOUND, "not_found") and "NOPE" in message
    code, _, _ = await refused(stub.GetProduct, pb.GetProductRequest(sku=""))
    assert code == Code.INVALID_ARGUMENT


async def test_list_products_pages_and_searches(api: Api) -> None:
    stub = api.stub
    await catalog(stub)
    first = await stub.ListProducts(pb.ListProductsRequest(page_size=2))
    assert [p.sku for p in first.products] == ["APL", "BRD"] and first.next_page_token
    second = await stub.ListProducts(
        pb.ListProductsRequest(page_size=2, page_token=first.next_page_token)
    )
    assert [p.sku for p in second.products] == ["CHS"] and second.next_page_token == ""
    by_name = await stub.ListProducts(pb.ListProductsRequest(query="chee"))
    by_sku = await stub.ListProducts(pb.ListProductsRequest(query="brd"))
    by_code = await stub.ListProducts(pb.ListProductsRequest(query=EAN))
    assert (
        [p.sku for p in by_name.products],
        [p.sku for p in by_sku.products],
        [p.sku for p in by_code.products],
    ) == (["CHS"], ["BRD"], ["APL"])
    none = await stub.ListProducts(pb.ListProductsRequest(query="zzz"))
    assert list(none.products) == []
    for bad in (
        pb.ListProductsRequest(page_size=201),
        pb.ListProductsRequest(page_size=-1),
        pb.ListProductsRequest(page_token="garbage!"),
    ):
        code, _, word = await refused(stub.ListProducts, bad)
        assert (code, word) == (Code.INVALID_ARGUMENT, "invalid")


async def test_stock_movements(api: Api) -> None:
    stub = api.stub
    await catalog(stub)
    level = await stub.Receive(
        pb.ReceiveRequest(store_id="s001", sku="APL", quantity=10, reference="po-1")
    )
    assert (level.on_hand, level.received) == (10, 10)
    again = await stub.Receive(
        pb.ReceiveRequest(store_id="s001", sku="APL", quantity=10, reference="po-1")
    )
    assert again.on_hand == 10  # a retried receipt adds nothing
    code, _, word = await refused(
        stub.Receive, pb.ReceiveRequest(store_id="s001", sku="APL", quantity=11, reference="po-1")
    )
    assert (code, word) == (Code.ALREADY_EXISTS, "conflict")
    adjusted = await stub.Adjust(
        pb.AdjustRequest(store_id="s001", sku="APL", delta=-3, reason="waste", note="bruised")
    )
    assert adjusted.on_hand == 7
    counted = await stub.Count(pb.CountRequest(store_id="s001", sku="APL", counted_quantity=5))
    assert (counted.delta, counted.level.on_hand) == (-2, 5)
    got = await stub.GetStock(pb.GetStockRequest(store_id="s001", sku="APL"))
    assert got.on_hand == 5
    await stub.Receive(pb.ReceiveRequest(store_id="s001", sku="BRD", quantity=1, reference="po-2"))
    listed = await stub.ListStock(pb.ListStockRequest(store_id="s001", page_size=1))
    assert [i.sku for i in listed.items] == ["APL"] and listed.next_page_token
    rest = await stub.ListStock(
        pb.ListStockRequest(store_id="s001", page_token=listed.next_page_token)
    )
    assert [i.sku for i in rest.items] == ["BRD"]
    empty = await stub.ListStock(pb.ListStockRequest(store_id="s999"))
    assert list(empty.items) == []

    for call, bad, want in (
        (
            stub.Receive,
            pb.ReceiveRequest(store_id="s001", sku="APL", quantity=0, reference="po-9"),
            Code.INVALID_ARGUMENT,
        ),
        (
            stub.Receive,
            pb.ReceiveRequest(store_id="s001", sku="NOPE", quantity=1, reference="po-9"),
            Code.NOT_FOUND,
        ),
        (
            stub.Receive,
            pb.ReceiveRequest(store_id="s001", sku="APL", quantity=1),
            Code.INVALID_ARGUMENT,
        ),
        (
            stub.Adjust,
            pb.AdjustRequest(store_id="s001", sku="APL", delta=1, reason="magic"),
            Code.INVALID_ARGUMENT,
        ),
        (
            stub.Count,
            pb.CountRequest(store_id="s001", sku="APL", counted_quantity=-1),
            Code.INVALID_ARGUMENT,
        ),
        (stub.GetStock, pb.GetStockRequest(store_id="s001", sku="CHS"), Code.NOT_FOUND),
        (stub.ListStock, pb.ListStockRequest(store_id="bad store"), Code.INVALID_ARGUMENT),
        (stub.ListLowStock, pb.ListLowStockRequest(store_id=""), Code.INVALID_ARGUMENT),
    ):
        code, message, _ = await refused(call, bad)
        assert code == want and message


async def test_low_stock(api: Api, executor: ThreadPoolExecutor) -> None:
    stub = api.stub
    await catalog(stub)
    for sku, quantity in (("APL", 10), ("BRD", 2)):
        await stub.Receive(
            pb.ReceiveRequest(store_id="s001", sku=sku, quantity=quantity, reference=f"po-{sku}")
        )
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(executor, api.app.set_reorder_point, "s001", "BRD", 3)
    low = await stub.ListLowStock(pb.ListLowStockRequest(store_id="s001"))
    assert [(i.sku, i.on_hand, i.reorder_point, i.low) for i in low.items] == [("BRD", 2, 3, True)]


async def test_transfers(api: Api) -> None:
    stub = api.stub
    await catalog(stub)
    await stub.Receive(pb.ReceiveRequest(store_id="s001", sku="APL", quantity=10, reference="po-1"))
    lines = [pb.TransferLine(sku="APL", quantity=4)]
    requested = await stub.RequestTransfer(
        pb.RequestTransferRequest(
            transfer_id="t-1", from_store="s001", to_store="s002", lines=lines
        )
    )
    assert requested.status == "requested"
    again = await stub.RequestTransfer(
        pb.RequestTransferRequest(
            transfer_id="t-1", from_store="s001", to_store="s002", lines=lines
        )
    )
    assert again == requested
    code, _, word = await refused(
        stub.RequestTransfer,
        pb.RequestTransferRequest(
            transfer_id="t-1", from_store="s001", to_store="s003", lines=lines
        ),
    )
    assert (code, word) == (Code.ALREADY_EXISTS, "conflict")
    code, _, word = await refused(
        stub.ReceiveTransfer, pb.ReceiveTransferRequest(transfer_id="t-1", lines=lines)
    )
    assert (code, word) == (Code.FAILED_PRECONDITION, "wrong_state")
    shipped = await stub.ShipTransfer(pb.ShipTransferRequest(transfer_id="t-1"))
    assert shipped.status == "shipped"
    assert (await stub.GetStock(pb.GetStockRequest(store_id="s001", sku="APL"))).on_hand == 6
    received = await stub.ReceiveTransfer(
        pb.ReceiveTransferRequest(transfer_id="t-1", lines=[pb.TransferLine(sku="APL", quantity=3)])
    )
    assert received.status == "received"
    assert [(s.sku, s.quantity) for s in received.shortfall] == [("APL", 1)]
    assert (await stub.GetStock(pb.GetStockRequest(store_id="s002", sku="APL"))).on_hand == 3
    assert await stub.GetTransfer(pb.GetTransferRequest(transfer_id="t-1")) == received

    for call, bad, want in (
        (stub.GetTransfer, pb.GetTransferRequest(transfer_id="t-9"), Code.NOT_FOUND),
        (stub.ShipTransfer, pb.ShipTransferRequest(transfer_id="t-9"), Code.NOT_FOUND),
        (stub.ShipTransfer, pb.ShipTransferRequest(transfer_id="t-1"), Code.FAILED_PRECONDITION),
        (
            stub.RequestTransfer,
            pb.RequestTransferRequest(
                transfer_id="t-2", from_store="s001", to_store="s001", lines=lines
            ),
            Code.INVALID_ARGUMENT,
        ),
        (
            stub.RequestTransfer,
            pb.RequestTransferRequest(transfer_id="t-3", from_store="s001", to_store="s002"),
            Code.INVALID_ARGUMENT,
        ),
        (
            stub.RequestTransfer,
            pb.RequestTransferRequest(
                transfer_id="t-4",
                from_store="s001",
                to_store="s002",
                lines=[pb.TransferLine(sku="NOPE", quantity=1)],
            ),
            Code.NOT_FOUND,
        ),
        (stub.GetTransfer, pb.GetTransferRequest(), Code.INVALID_ARGUMENT),
    ):
        code, message, _ = await refused(call, bad)
        assert code == want, (bad, code, message)
        assert message


async def test_service_host_serves_grpc_beside_nats(nats: NatsServer, tmp_path: Path) -> None:
    """The service's host starts InventoryService: a product upserted over NATS is read
    over gRPC (one application), and health says SERVING."""
    port = free_port()
    settings = test_settings(
        tmp_path / "data",
        grpc_enabled=True,
        grpc_ports={"inventory": port},
        grpc_host="127.0.0.1",
        nats_url=nats.url,
    )
    async with running_host(build(settings), settings, nats.url) as running:
        nc = await nats_py.connect(nats.url)
        try:
            reply = await ask_service(
                nc,
                "inventory",
                "upsert_product",
                {"sku": "APL", "name": "Apple", "price_minor": 45, "currency": "EUR"},
            )
            assert reply["ok"]
            assert running.host.nc is not None
            running.host.nc.options["drain_timeout"] = 1  # see test_inventory_main
            assert running.host.grpc is not None and running.host.grpc.port == port
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                health = health_pb2_grpc.HealthStub(channel)
                status = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
                assert status.status == health_pb2.HealthCheckResponse.SERVING
                product = await pb_grpc.InventoryServiceStub(channel).GetProduct(
                    pb.GetProductRequest(sku="APL")
                )
                assert product.price.amount_minor == 45
        finally:
            await nc.close()
