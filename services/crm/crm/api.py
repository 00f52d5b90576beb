"""CRM's gRPC `CustomerService` for partners: a thin adapter over the same command handlers
as the NATS path (bus.command_handlers), so both ways in validate alike and refuse with the
same one-word codes. Each code becomes a gRPC status (see the proto's header) and travels
itself in the trailing metadata key `tillstream-error-code`. Every call runs on the
service's one database thread.

Scopes: the partner gateway puts the caller's scopes in the metadata key `tillstream-scopes`
(space separated). Personal data (name, email, phone) leaves only through GetCustomer with
`include_pii` and the scope `customers.pii`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import grpc

from crm.application import Customers
from crm.bus import command_handlers
from tillstream.crm.v1 import crm_service_pb2 as pb
from tillstream.crm.v1 import crm_service_pb2_grpc as pb_grpc
from tillstream.grpcserver import (
    COMMON_STATUS_CODES,
    ERROR_CODE_KEY,
    CommandCalls,
    DbRunner,
    GrpcFactory,
)
from tillstream.service import CommandError, CommandHandler

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["CustomerService"].full_name
#: Metadata key of the caller's scopes, space separated.
SCOPES_KEY = "tillstream-scopes"
#: The scope that lets a caller read a customer's personal data.
PII_SCOPE = "customers.pii"

#: The NATS path's refusal codes as gRPC status codes.
STATUS_CODES: dict[str, grpc.StatusCode] = {
    **COMMON_STATUS_CODES,
    "erased": grpc.StatusCode.FAILED_PRECONDITION,
    "insufficient_points": grpc.StatusCode.FAILED_PRECONDITION,
    "forbidden": grpc.StatusCode.PERMISSION_DENIED,
    "internal": grpc.StatusCode.INTERNAL,
}


def scopes_of(metadata: Sequence[tuple[str, Any]] | None) -> frozenset[str]:
    """The caller's scopes from the `tillstream-scopes` metadata entries."""
    scopes: set[str] = set()
    for key, value in metadata or ():
        if str(key).lower() == SCOPES_KEY:
            scopes.update(str(value).split())
    return frozenset(scopes)


def _customer(body: dict[str, Any]) -> pb.Customer:
    return pb.Customer(
        customer_id=body["customer_id"],
        loyalty_card=body["loyalty_card"],
        store_id=body["store_id"],
        erased=body["erased"],
        erased_at=body["erased_at"] or "",
        marketing_consent=body["marketing_consent"],
        consent_channel=body["consent_channel"] or "",
        consent_at=body["consent_at"] or "",
        pii_available=body["pii_available"],
        name=body.get("name") or "",
        email=body.get("email") or "",
        phone=body.get("phone") or "",
    )


def _history(body: dict[str, Any]) -> pb.History:
    return pb.History(
        customer_id=body["customer_id"],
        sales=[
            pb.Purchase(
                sale_id=sale["sale_id"],
                store_id=sale["store_id"],
                total=pb.Money(amount_minor=sale["total_minor"], currency=sale["currency"]),
                at=sale["at"],
                lines=[
                    pb.PurchaseLine(sku=line["sku"], quantity=line["quantity"])
                    for line in sale["lines"]
                ],
            )
            for sale in body["sales"]
        ],
        next_page_token=body["next_page_token"],
        sale_count=body["sale_count"],
        totals=[
            pb.Money(amount_minor=amount, currency=currency)
            for currency, amount in sorted(body["totals"].items())
        ],
        favourites=[
            pb.PurchaseLine(sku=f["sku"], quantity=f["quantity"]) for f in body["favourites"]
        ],
        last_visit=body["last_visit"] or "",
    )


class CustomerServicer(CommandCalls, pb_grpc.CustomerServiceServicer):
    """CustomerService over the NATS command handlers of a Customers application."""

    service_name = SERVICE_NAME
    status_codes = STATUS_CODES

    def __init__(self, app: Customers, runner: DbRunner) -> None:
        self.commands: dict[str, CommandHandler] = command_handlers(app)
        self.runner = runner

    def _do(self, command: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.commands[command](body)

    async def Register(
        self, request: pb.RegisterRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterResponse:
        def register(r: pb.RegisterRequest) -> pb.RegisterResponse:
            reply = self._do(
                "register_customer",
                {
                    "loyalty_card": r.loyalty_card,
                    "name": r.name,
                    "store_id": r.store_id,
                    "email": r.email,
                    "phone": r.phone,
                    "customer_id": r.customer_id or None,
                },
            )
            return pb.RegisterResponse(customer_id=reply["customer_id"])

        return await self._call("Register", register, request, context)

    async def GetCustomer(
        self, request: pb.GetCustomerRequest, context: grpc.aio.ServicerContext
    ) -> pb.Customer:
        scopes = scopes_of(context.invocation_metadata())

        def get(r: pb.GetCustomerRequest, allowed: bool) -> pb.Customer:
            if r.include_pii and not allowed:
                raise CommandError(f"personal data needs the {PII_SCOPE} scope", "forbidden")
            return _customer(
                self._do(
                    "get_customer", {"customer_id": r.customer_id, "include_pii": r.include_pii}
                )
            )

        return await self._call("GetCustomer", get, request, context, PII_SCOPE in scopes)

    async def FindCustomer(
        self, request: pb.FindCustomerRequest, context: grpc.aio.ServicerContext
    ) -> pb.FindCustomerResponse:
        return await self._call(
            "FindCustomer",
            lambda r: pb.FindCustomerResponse(
                customer_ids=self._do("find_customer", {"email": r.email, "phone": r.phone})[
                    "customer_ids"
                ]
            ),
            request,
            context,
        )

    async def UpdateContact(
        self, request: pb.UpdateContactRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateContactResponse:
        def update(r: pb.UpdateContactRequest) -> pb.UpdateContactResponse:
            body: dict[str, Any] = {"customer_id": r.customer_id}
            for field in ("name", "email", "phone"):
                if r.HasField(field):
                    body[field] = getattr(r, field)
            if len(body) == 1:
                raise CommandError("nothing to update: give name, email or phone", "invalid")
            self._do("update_contact", body)
            return pb.UpdateContactResponse()

        return await self._call("UpdateContact", update, request, context)

    async def SetConsent(
        self, request: pb.SetConsentRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetConsentResponse:
        def consent(r: pb.SetConsentRequest) -> pb.SetConsentResponse:
            if r.at_ms < 0:
                raise CommandError("at_ms must not be negative", "invalid")
            body: dict[str, Any] = {
                "customer_id": r.customer_id,
                "marketing": r.marketing,
                "channel": r.channel,
            }
            if r.at_ms:
                body["at"] = datetime.fromtimestamp(r.at_ms / 1000, UTC).isoformat()
            return pb.SetConsentResponse(changed=self._do("set_consent", body)["changed"])

        return await self._call("SetConsent", consent, request, context)

    async def Erase(
        self, request: pb.EraseRequest, context: grpc.aio.ServicerContext
    ) -> pb.EraseResponse:
        return await self._call(
            "Erase",
            lambda r: pb.EraseResponse(
                changed=self._do("erase", {"customer_id": r.customer_id})["changed"]
            ),
            request,
            context,
        )

    async def GetLoyalty(
        self, request: pb.GetLoyaltyRequest, context: grpc.aio.ServicerContext
    ) -> pb.Loyalty:
        def loyalty(r: pb.GetLoyaltyRequest) -> pb.Loyalty:
            if not r.customer_id:
                raise CommandError("customer_id is required", "invalid")
            reply = self._do("loyalty", {"customer_id": r.customer_id})
            return pb.Loyalty(customer_id=r.customer_id, **reply)

        return await self._call("GetLoyalty", loyalty, request, context)

    async def ListHistory(
        self, request: pb.ListHistoryRequest, context: grpc.aio.ServicerContext
    ) -> pb.History:
        def history(r: pb.ListHistoryRequest) -> pb.History:
            if not r.customer_id:
                raise CommandError("customer_id is required", "invalid")
            return _history(
                self._do(
                    "history",
                    {
                        "customer_id": r.customer_id,
                        "page_size": r.page_size or 20,
                        "page_token": r.page_token,
                    },
                )
            )

        return await self._call("ListHistory", history, request, context)


def grpc_api(app: Customers) -> GrpcFactory:
    """The `ServiceDefinition.grpc` factory: CustomerService over `app`."""

    def register(server: grpc.aio.Server, runner: DbRunner) -> Sequence[str]:
        pb_grpc.add_CustomerServiceServicer_to_server(CustomerServicer(app, runner), server)
        return [SERVICE_NAME]

    return register


__all__ = [
    "ERROR_CODE_KEY",
    "PII_SCOPE",
    "SCOPES_KEY",
    "SERVICE_NAME",
    "CustomerServicer",
    "grpc_api",
    "scopes_of",
]
