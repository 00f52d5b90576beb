"""CRM's composition root: settings in, a ServiceDefinition out; no I/O at import."""

from __future__ import annotations

from typing import Any

from crm.api import grpc_api
from crm.application import Customers
from crm.bus import CHECKOUT_EVENTS, command_handlers, consumer_handlers
from crm.contracts import SERVICE, CrmContracts
from crm.pii import PiiVault
from tillstream.consumer import EventSourcedSink
from tillstream.eventstore import event_store_env
from tillstream.service import ServiceDefinition, Subscription, run_service
from tillstream.settings import Settings


def build_application(settings: Settings) -> Customers:
    """The Customers application on the configured event store, with its key store (the
    wrapped data keys and the blind index) beside it."""
    return Customers(
        env=event_store_env(settings, SERVICE), vault=PiiVault.from_settings(settings, SERVICE)
    )


def build(settings: Settings) -> ServiceDefinition:
    """Wire the crm service: its event store, contracts, subscriptions and commands."""
    app = build_application(settings)

    def stats() -> dict[str, Any]:
        # Upstream positions applied, per partition: how far behind checkout we are.
        names = [f"checkout.p{p}" for p in range(settings.partitions)]
        return {"tracked": {name: app.tracked_position(name) for name in names}}

    return ServiceDefinition(
        name=SERVICE,
        app=app,
        contracts=CrmContracts(),
        subscriptions={
            "checkout": Subscription(
                EventSourcedSink(app, consumer_handlers()), CHECKOUT_EVENTS
            )
        },
        commands=command_handlers(app),
        stats=stats,
        grpc=grpc_api(app),
    )


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
