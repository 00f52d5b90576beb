"""Analytics' composition root, and the service running against a real NATS server."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats as nats_py

from analytics.application import ProjectionSink
from analytics.main import build
from tillstream.bus import wait_for
from tillstream.codec import IntegrationEvent
from tillstream.events.v1 import checkout_pb2, common_pb2, payments_pb2
from tillstream.natsserver import NatsServer
from tillstream.service import ServiceHost, Subscription
from tillstream.testing import test_settings as settings_for_test


def test_build(tmp_path: Path) -> None:
    definition = build(settings_for_test(tmp_path))
    try:
        assert definition.name == "analytics"
        assert definition.app is None and definition.contracts is None
        assert set(definition.subscriptions) == {"checkout", "payments", "inventory", "crm", "edge"}
        subscriptions = definition.subscriptions.values()
        assert all(isinstance(s, Subscription) for s in subscriptions)
        assert all(isinstance(s.sink, ProjectionSink) for s in subscriptions)  # type: ignore[union-attr]
        checkout = definition.subscriptions["checkout"].events  # type: ignore[union-attr]
        assert checkout[0] == "sale.completed" and "return.completed" in checkout
        assert set(definition.commands) == {"sales_totals", "payment_mix", "report"}
        assert definition.stats is not None and definition.stats()["sales_rows"] == 0
    finally:
        assert definition.close is not None
        definition.close()


async def request(nc: nats_py.NATS, command: str, body: dict[str, Any]) -> Any:
    try:
        reply = await nc.request(f"cmd.analytics.hq.{command}", json.dumps(body).encode(), 5)
    except Exception:  # no responder yet: the service is still starting
        return None
    return json.loads(reply.data)


async def test_service_projects_both_streams(tmp_path: Path, nats: NatsServer) -> None:
    settings = settings_for_test(tmp_path)
    stop = asyncio.Event()
    host = ServiceHost(build(settings), settings, nats.url)
    task = asyncio.create_task(host.run(stop))
    nc = await nats_py.connect(nats.url)
    try:
        js = nc.jetstream()
        assert await wait_for(lambda: request(nc, "sales_totals", {}))
        # Kit workaround: Consumer.run never unsubscribes its pull subscription, so the host's
        # nc.drain() on shutdown waits out nats-py's 30 s drain timeout. Shorten it here.
        assert host.nc is not None
        host.nc.options["drain_timeout"] = 1
        now = datetime.now(UTC)
        sale = checkout_pb2.SaleCompleted(
            sale_id="sale-1",
            store_id="s001",
            lines=[common_pb2.SaleLine(sku="A", quantity=2)],
            total=common_pb2.Money(amount_minor=900, currency="EUR"),
            completed_at_ms=int(now.timestamp() * 1000),
        )
        payment = payments_pb2.PaymentCaptured(
            payment_id="p1",
            sale_id="sale-1",
            store_id="s001",
            tender="cash",
            amount=common_pb2.Money(amount_minor=900, currency="EUR"),
        )
        for subject, message, msg_id in (
            ("checkout.s001.sale.completed", sale, "checkout:1"),
            ("payments.s001.payment.captured", payment, "payments:1"),
        ):
            event = IntegrationEvent(subject, message, "s001", now)
            await js.publish(subject, event.payload(), headers=event.headers(msg_id))

        async def projected() -> Any:
            sales = await request(nc, "sales_totals", {"store_id": "s001"})
            mix = await request(nc, "payment_mix", {"store_id": "s001"})
            return sales and mix and sales["rows"] and mix["rows"] and (sales, mix)

        result = await wait_for(projected)
        assert result, "both projections filled"
        sales, mix = result
        assert sales["rows"][0]["total_minor"] == 900 and sales["rows"][0]["items_sold"] == 2
        assert mix["rows"][0]["tender"] == "cash" and mix["rows"][0]["count"] == 1
    finally:
        await nc.close()
        stop.set()
        await asyncio.wait_for(task, 20)
