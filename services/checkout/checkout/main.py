"""Checkout's composition root: `python -m checkout.main` runs the service."""

from __future__ import annotations

from typing import Any

from checkout.api import grpc_api
from checkout.application import Checkout
from checkout.bus import INVENTORY_HANDLERS, PAYMENTS_HANDLERS, CheckoutCommands
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

    def stats() -> dict[str, Any]:
        # How far the replicas have read upstream, summed over partitions.
        return {
            f"{upstream}_position": sum(
                app.tracked_position(f"{upstream}.p{p}") for p in range(settings.partitions)
            )
            for upstream in ("inventory", "payments")
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
                ("payment.captured", "payment.declined"),
            ),
        },
        commands=CheckoutCommands(app).handlers(),
        grpc=grpc_api(app),
        stats=stats,
    )


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
