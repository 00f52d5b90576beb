"""Analytics' composition root: settings in, a ServiceDefinition out; no I/O at import."""

from __future__ import annotations

from analytics.api import grpc_api
from analytics.application import SERVICE, ProjectionSink, ProjectionStore
from analytics.bus import command_handlers, consumer_handlers, subscribed_events
from analytics.dashboard.live import NotifyingSink
from analytics.dashboard.server import dashboard_for
from tillstream.consumer import Sink
from tillstream.service import ServiceDefinition, Subscription, run_service
from tillstream.settings import Settings


def build(settings: Settings) -> ServiceDefinition:
    """Wire analytics: the projection store, one sink for both upstreams, the report commands."""
    store = ProjectionStore.from_settings(settings)
    sink: Sink = ProjectionSink(store, consumer_handlers())
    # --- HQ dashboard (issue 7 item 4): on settings.dashboard_port, 0 = off ---------------
    dashboard = dashboard_for(settings, store.engine)
    if dashboard is not None:
        sink = NotifyingSink(sink, dashboard.feed)  # committed batches -> live page updates
        store.add_listener(dashboard.feed.sales_committed)  # and the new sales themselves
    # --- end HQ dashboard ---------------------------------------------------------------
    definition = ServiceDefinition(
        name=SERVICE,
        app=None,
        contracts=None,
        subscriptions={
            upstream: Subscription(sink, events) for upstream, events in subscribed_events().items()
        },
        commands=command_handlers(store),
        stats=store.stats,
        close=store.engine.dispose,
        grpc=grpc_api(store),
    )
    if dashboard is not None:  # HQ dashboard: started last, closed first
        definition.close = dashboard.start().closing(definition.close)
    return definition


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
