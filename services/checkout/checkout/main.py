"""Checkout's composition root: `python -m checkout.main` runs the service."""

from __future__ import annotations

import asyncio
from typing import Any

from checkout.api import grpc_api
from checkout.application import Checkout
from checkout.bus import (
    CRM_HANDLERS,
    INVENTORY_HANDLERS,
    PAYMENTS_HANDLERS,
    CheckoutCommands,
    Forwarder,
    OfflineSaleSink,
    TenderRouter,
)
from checkout.contracts import SERVICE, CheckoutContracts
from tillstream.consumer import EventSourcedSink
from tillstream.eventstore import event_store_env
from tillstream.service import ServiceDefinition, Subscription, run_service
from tillstream.settings import Settings


def build_application(settings: Settings) -> Checkout:
    """The Checkout application on the configured event store."""
    return Checkout(env=event_store_env(settings, SERVICE))


def build(settings: Settings) -> ServiceDefinition:
    """Wire checkout: its event store, contracts, subscriptions, commands and gRPC API."""
    app = build_application(settings)
    commands = CheckoutCommands(app)
    # payments and crm are asked for tenders at the NATS server the service itself uses.
    forwarder = Forwarder(settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}")
    router = TenderRouter(commands, forwarder)

    def close() -> None:
        # Called by the host inside its event loop, as it stops.
        if forwarder.nc is not None:
            asyncio.get_running_loop().create_task(forwarder.close())

    def stats() -> dict[str, Any]:
        # How far the replicas have read upstream, summed over partitions.
        return {
            f"{upstream}_position": sum(
                app.tracked_position(f"{upstream}.p{p}") for p in range(settings.partitions)
            )
            for upstream in ("inventory", "payments", "crm", "edge")
        }

    return ServiceDefinition(
        name=SERVICE,
        app=app,
        contracts=CheckoutContracts(),
        subscriptions={
            "inventory": Subscription(
                EventSourcedSink(app, INVENTORY_HANDLERS),
                ("product.upserted", "promotion.upserted", "tax_rate.upserted"),
            ),
            "payments": Subscription(
                EventSourcedSink(app, PAYMENTS_HANDLERS),
                ("payment.captured", "payment.declined", "gift_card.redeemed"),
            ),
            "crm": Subscription(
                EventSourcedSink(app, CRM_HANDLERS),
                ("loyalty.points_redeemed", "loyalty.points_earned"),
            ),
            # Sales the stores rang up while checkout was unreachable.
            "edge": Subscription(
                OfflineSaleSink(app), ("sale.offline_completed",)
            ),
        },
        commands={**commands.handlers(), "tender": router.tender},  # type: ignore[dict-item]
        grpc=grpc_api(app, router),
        stats=stats,
        close=close,
    )


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
