"""Inventory's composition root: settings in, a ServiceDefinition out; no I/O at import."""

from __future__ import annotations

from typing import Any

from inventory.api import grpc_api
from inventory.application import Inventory
from inventory.bus import CHECKOUT_EVENTS, command_handlers, consumer_handlers
from inventory.catalog_kv import CATALOG_EVENTS, CatalogBucket, CatalogKvSink
from inventory.contracts import SERVICE, InventoryContracts
from tillstream.consumer import EventSourcedSink
from tillstream.eventstore import event_store_env
from tillstream.service import ServiceDefinition, Subscription, run_service
from tillstream.settings import Settings


def build_application(settings: Settings) -> Inventory:
    """The Inventory application on the configured event store."""
    return Inventory(env=event_store_env(settings, SERVICE))


def build(settings: Settings) -> ServiceDefinition:
    """Wire the inventory service: its event store, contracts, subscriptions and commands."""
    app = build_application(settings)

    def stats() -> dict[str, Any]:
        # Upstream positions applied, per partition: how far behind checkout we are.
        names = [f"checkout.p{p}" for p in range(settings.partitions)]
        return {"tracked": {name: app.tracked_position(name) for name in names}}

    # The edge agents' catalog bucket, fed by a consumer of inventory's own stream; it
    # connects on first use, not here, to the server the host connected to (`connected`).
    bucket = CatalogBucket(settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}")
    return ServiceDefinition(
        name=SERVICE,
        app=app,
        connected=bucket.use_server,
        contracts=InventoryContracts(),
        subscriptions={
            "checkout": Subscription(
                EventSourcedSink(app, consumer_handlers()), CHECKOUT_EVENTS
            ),
            SERVICE: Subscription(CatalogKvSink(app, bucket), CATALOG_EVENTS),
        },
        commands=command_handlers(app),
        stats=stats,
        close=bucket.close,
        grpc=grpc_api(app),
    )


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
