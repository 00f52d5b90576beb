"""Inventory's gRPC `InventoryService` for partners: a thin adapter over the same command
handlers as the NATS path (bus.command_handlers), so both ways in validate alike and refuse
with the same one-word codes. Each code becomes a gRPC status (see the proto's header) and
travels itself in the trailing metadata key `tillstream-error-code`. Every call runs on the
service's one database thread (the application is not thread-safe).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

from inventory.application import Inventory
from inventory.bus import command_handlers
from tillstream.grpcserver import (
    COMMON_STATUS_CODES,
    ERROR_CODE_KEY,
    CommandCalls,
    DbRunner,
    GrpcFactory,
)
from tillstream.inventory.v1 import inventory_service_pb2 as pb
from tillstream.inventory.v1 import inventory_service_pb2_grpc as pb_grpc
from tillstream.service import CommandError, CommandHandler

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["InventoryService"].full_name

#: The NATS path's refusal codes as gRPC status codes.
STATUS_CODES: dict[str, grpc.StatusCode] = {
    **COMMON_STATUS_CODES,
    "discontinued": grpc.StatusCode.FAILED_PRECONDITION,
    "wrong_state": grpc.StatusCode.FAILED_PRECONDITION,
    "internal": grpc.StatusCode.INTERNAL,
}


def _product(body: dict[str, Any]) -> pb.Product:
    return pb.Product(
        sku=body["sku"],
        name=body["name"],
        price=pb.Money(amount_minor=body["price_minor"], currency=body["currency"]),
        tax_class=body["tax_class"],
        barcodes=body["barcodes"],
        active=body["active"],
    )


def _level(body: dict[str, Any]) -> pb.StockLevel:
    return pb.StockLevel(
        **{
            key: body[key]
            for key in (
                "store_id",
                "sku",
                "on_hand",
                "sold",
                "received",
                "reorder_point",
                "low",
                "damaged",
            )
        }
    )


def _lines(pairs: list[dict[str, Any]]) -> list[pb.TransferLine]:
    return [pb.TransferLine(sku=line["sku"], quantity=line["quantity"]) for line in pairs]


def _transfer(body: dict[str, Any]) -> pb.Transfer:
    return pb.Transfer(
        transfer_id=body["transfer_id"],
        from_store=body["from_store"],
        to_store=body["to_store"],
        status=body["status"],
        lines=_lines(body["lines"]),
        received=_lines(body["received"]),
        shortfall=_lines(body["shortfall"]),
    )


def _line_bodies(lines: Sequence[pb.TransferLine]) -> list[dict[str, Any]]:
    return [{"sku": line.sku, "quantity": line.quantity} for line in lines]


class InventoryServicer(CommandCalls, pb_grpc.InventoryServiceServicer):
    """InventoryService over the NATS command handlers of an Inventory application."""

    service_name = SERVICE_NAME
    status_codes = STATUS_CODES

    def __init__(self, app: Inventory, runner: DbRunner) -> None:
        self.commands: dict[str, CommandHandler] = command_handlers(app)
        self.runner = runner

    def _do(self, command: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.commands[command](body)

    # -- catalog ----------------------------------------------------------------------------

    async def GetProduct(
        self, request: pb.GetProductRequest, context: grpc.aio.ServicerContext
    ) -> pb.Product:
        return await self._call(
            "GetProduct",
            lambda r: _product(self._do("get_product", {"sku": r.sku})),
            request,
            context,
        )

    async def ListProducts(
        self, request: pb.ListProductsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListProductsResponse:
        def list_products(r: pb.ListProductsRequest) -> pb.ListProductsResponse:
            reply = self._do(
                "list_products",
                {"query": r.query, "page_size": r.page_size, "page_token": r.page_token},
            )
            return pb.ListProductsResponse(
                products=[_product(p) for p in reply["products"]],
                next_page_token=reply["next_page_token"],
            )

        return await self._call("ListProducts", list_products, request, context)

    async def UpsertProduct(
        self, request: pb.UpsertProductRequest, context: grpc.aio.ServicerContext
    ) -> pb.Product:
        def upsert(r: pb.UpsertProductRequest) -> pb.Product:
            if not r.HasField("price") or not r.price.currency:
                raise CommandError("price with its currency is required", "invalid")
            body: dict[str, Any] = {
                "sku": r.sku,
                "name": r.name,
                "price_minor": r.price.amount_minor,
                "currency": r.price.currency,
                "tax_class": r.tax_class or None,
                "barcodes": list(r.barcodes) or None,
            }
            if r.clear_barcodes:
                if r.barcodes:
                    raise CommandError("clear_barcodes goes without barcodes", "invalid")
                body["barcodes"] = []
            self._do("upsert_product", body)
            return _product(self._do("get_product", {"sku": r.sku}))

        return await self._call("UpsertProduct", upsert, request, context)

    # -- stock ------------------------------------------------------------------------------

    def _stock(self, store_id: str, sku: str) -> pb.StockLevel:
        return _level(self._do("stock", {"store_id": store_id, "sku": sku}))

    async def GetStock(
        self, request: pb.GetStockRequest, context: grpc.aio.ServicerContext
    ) -> pb.StockLevel:
        return await self._call(
            "GetStock", lambda r: self._stock(r.store_id, r.sku), request, context
        )

    def _list_stock(
        self, store_id: str, low_only: bool, page_size: int = 0, page_token: str = ""
    ) -> pb.ListStockResponse:
        reply = self._do(
            "list_stock",
            {
                "store_id": store_id,
                "low_only": low_only,
                "page_size": page_size,
                "page_token": page_token,
            },
        )
        return pb.ListStockResponse(
            items=[_level(item) for item in reply["items"]],
            next_page_token=reply["next_page_token"],
        )

    async def ListStock(
        self, request: pb.ListStockRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListStockResponse:
        return await self._call(
            "ListStock",
            lambda r: self._list_stock(r.store_id, False, r.page_size, r.page_token),
            request,
            context,
        )

    async def ListLowStock(
        self, request: pb.ListLowStockRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListStockResponse:
        def low(r: pb.ListLowStockRequest) -> pb.ListStockResponse:
            items: list[pb.StockLevel] = []
            token = ""
            while True:  # every low item: a store has few, so no paging here
                page = self._list_stock(r.store_id, True, 200, token)
                items.extend(page.items)
                token = page.next_page_token
                if not token:
                    return pb.ListStockResponse(items=items)

        return await self._call("ListLowStock", low, request, context)

    async def Receive(
        self, request: pb.ReceiveRequest, context: grpc.aio.ServicerContext
    ) -> pb.StockLevel:
        def receive(r: pb.ReceiveRequest) -> pb.StockLevel:
            self._do(
                "receive",
                {
                    "store_id": r.store_id,
                    "sku": r.sku,
                    "quantity": r.quantity,
                    "reference": r.reference,
                },
            )
            return self._stock(r.store_id, r.sku)

        return await self._call("Receive", receive, request, context)

    async def Adjust(
        self, request: pb.AdjustRequest, context: grpc.aio.ServicerContext
    ) -> pb.StockLevel:
        def adjust(r: pb.AdjustRequest) -> pb.StockLevel:
            self._do(
                "adjust_stock",
                {
                    "store_id": r.store_id,
                    "sku": r.sku,
                    "delta": r.delta,
                    "reason": r.reason,
                    "note": r.note,
                },
            )
            return self._stock(r.store_id, r.sku)

        return await self._call("Adjust", adjust, request, context)

    async def Count(
        self, request: pb.CountRequest, context: grpc.aio.ServicerContext
    ) -> pb.CountResponse:
        def count(r: pb.CountRequest) -> pb.CountResponse:
            reply = self._do(
                "count_stock",
                {"store_id": r.store_id, "sku": r.sku, "counted_quantity": r.counted_quantity},
            )
            return pb.CountResponse(delta=reply["delta"], level=self._stock(r.store_id, r.sku))

        return await self._call("Count", count, request, context)

    # -- transfers --------------------------------------------------------------------------

    async def RequestTransfer(
        self, request: pb.RequestTransferRequest, context: grpc.aio.ServicerContext
    ) -> pb.Transfer:
        return await self._call(
            "RequestTransfer",
            lambda r: _transfer(
                self._do(
                    "request_transfer",
                    {
                        "transfer_id": r.transfer_id,
                        "from_store": r.from_store,
                        "to_store": r.to_store,
                        "lines": _line_bodies(r.lines),
                    },
                )
            ),
            request,
            context,
        )

    async def ShipTransfer(
        self, request: pb.ShipTransferRequest, context: grpc.aio.ServicerContext
    ) -> pb.Transfer:
        return await self._call(
            "ShipTransfer",
            lambda r: _transfer(self._do("ship_transfer", {"transfer_id": r.transfer_id})),
            request,
            context,
        )

    async def ReceiveTransfer(
        self, request: pb.ReceiveTransferRequest, context: grpc.aio.ServicerContext
    ) -> pb.Transfer:
        return await self._call(
            "ReceiveTransfer",
            lambda r: _transfer(
                self._do(
                    "receive_transfer",
                    {"transfer_id": r.transfer_id, "lines": _line_bodies(r.lines)},
                )
            ),
            request,
            context,
        )

    async def GetTransfer(
        self, request: pb.GetTransferRequest, context: grpc.aio.ServicerContext
    ) -> pb.Transfer:
        return await self._call(
            "GetTransfer",
            lambda r: _transfer(self._do("get_transfer", {"transfer_id": r.transfer_id})),
            request,
            context,
        )


def grpc_api(app: Inventory) -> GrpcFactory:
    """The `ServiceDefinition.grpc` factory: InventoryService over `app`."""

    def register(server: grpc.aio.Server, runner: DbRunner) -> Sequence[str]:
        pb_grpc.add_InventoryServiceServicer_to_server(InventoryServicer(app, runner), server)
        return [SERVICE_NAME]

    return register


__all__ = ["ERROR_CODE_KEY", "SERVICE_NAME", "STATUS_CODES", "InventoryServicer", "grpc_api"]
