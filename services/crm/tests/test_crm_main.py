"""CRM's composition root, and the service running against a real NATS server."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats as nats_py

from crm.contracts import CrmContracts
from crm.main import build
from tillstream.bus import wait_for
from tillstream.codec import IntegrationEvent
from tillstream.consumer import EventSourcedSink
from tillstream.events.v1 import checkout_pb2, common_pb2, crm_pb2
from tillstream.natsserver import NatsServer
from tillstream.service import ServiceHost, Subscription
from tillstream.testing import test_settings as settings_for_test


def test_build(tmp_path: Path) -> None:
    definition = build(settings_for_test(tmp_path))
    try:
        assert definition.name == "crm"
        assert isinstance(definition.contracts, CrmContracts)
        subscription = definition.subscriptions["checkout"]
        assert isinstance(subscription, Subscription)
        assert isinstance(subscription.sink, EventSourcedSink)
        assert subscription.events == ("sale.completed", "return.completed", "sale.voided")
        assert set(definition.commands) == {
            "register_customer", "loyalty", "seed_demo", "get_customer", "find_customer",
            "update_contact", "set_consent", "erase", "redeem_points", "expire_points",
            "history"}
        assert definition.grpc is not None  # the partner API (port from settings)
    finally:
        assert definition.app is not None
        definition.app.close()


async def request(nc: nats_py.NATS, command: str, body: dict[str, Any]) -> Any:
    try:
        reply = await nc.request(f"cmd.crm.s001.{command}", json.dumps(body).encode(), 5)
    except Exception:  # no responder yet: the service is still starting
        return None
    return json.loads(reply.data)


async def test_service_relays_and_consumes(tmp_path: Path, nats: NatsServer) -> None:
    settings = settings_for_test(tmp_path)
    stop = asyncio.Event()
    host = ServiceHost(build(settings), settings, nats.url)
    task = asyncio.create_task(host.run(stop))
    nc = await nats_py.connect(nats.url)
    try:
        js = nc.jetstream()
        reply = await wait_for(lambda: request(nc, "register_customer", {
            "loyalty_card": "LC0001", "name": "Ana", "email": "ana@example.com",
            "store_id": "s001"}))
        assert reply["ok"]
        customer_id = reply["customer_id"]
        # Kit workaround: Consumer.run never unsubscribes its pull subscription, so the host's
        # nc.drain() on shutdown waits out nats-py's 30 s drain timeout. Shorten it here.
        assert host.nc is not None
        host.nc.options["drain_timeout"] = 1

        async def last(filter_subject: str) -> bytes | None:
            try:
                return (await js.get_last_msg("CRM", filter_subject)).data
            except Exception:
                return None

        data = await wait_for(lambda: last("crm.s001.customer.registered.>"))
        assert data is not None
        registered = crm_pb2.CustomerRegistered.FromString(data)
        assert registered.customer_id == customer_id and b"Ana" not in data

        sale = checkout_pb2.SaleCompleted(
            sale_id="sale-1", store_id="s001", customer_id=customer_id,
            total=common_pb2.Money(amount_minor=4599, currency="EUR"),
        )
        event = IntegrationEvent("checkout.s001.sale.completed", sale, "s001", datetime.now(UTC))
        await js.publish(event.subject, event.payload(), headers=event.headers("checkout:1"))

        async def earned() -> bool:
            body = await request(nc, "loyalty", {"customer_id": customer_id})
            return bool(body and body["ok"] and body["balance"] == 45)

        assert await wait_for(earned)
        data = await wait_for(lambda: last("crm.s001.loyalty.points_earned.>"))
        assert data is not None
        assert crm_pb2.LoyaltyPointsEarned.FromString(data).points == 45
    finally:
        await nc.close()
        stop.set()
        await asyncio.wait_for(task, 20)
