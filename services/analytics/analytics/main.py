"""Analytics' composition root: settings in, a ServiceDefinition out; no I/O at import."""

from __future__ import annotations

from analytics.application import SERVICE, ProjectionSink, ProjectionStore
from analytics.bus import command_handlers, consumer_handlers
from tillstream.service import ServiceDefinition, Subscription, run_service
from tillstream.settings import Settings


def build(settings: Settings) -> ServiceDefinition:
    """Wire analytics: the projection store, one sink for both upstreams, the report commands."""
    store = ProjectionStore.from_settings(settings)
    sink = ProjectionSink(store, consumer_handlers())
    return ServiceDefinition(
        name=SERVICE,
        app=None,
        contracts=None,
        subscriptions={
            "checkout": Subscription(sink, ("sale.completed",)),
            "payments": Subscription(sink, ("payment.captured",)),
        },
        commands=command_handlers(store),
        stats=store.stats,
        close=store.engine.dispose,
    )


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
