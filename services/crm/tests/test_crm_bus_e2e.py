"""crm on a real NATS server: a loyalty tender through the `redeem_points` command (and its
LoyaltyPointsRedeemed with sale and amount), a return over the bus reversing points and
re-crediting a loyalty refund, and CustomerErased on the stream."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats as nats_py

from crm.main import build
from tillstream.bus import wait_for
from tillstream.codec import IntegrationEvent
from tillstream.events.v1 import checkout_pb2, common_pb2, crm_pb2
from tillstream.natsserver import NatsServer
from tillstream.service import ServiceHost
from tillstream.testing import ask_service
from tillstream.testing import test_settings as settings_for_test


async def ask(nc: nats_py.NATS, command: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = await nc.request(f"cmd.crm.s001.{command}", json.dumps(body).encode(), 5)
    return dict(json.loads(reply.data))


def eur(amount: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount, currency="EUR")


async def test_tender_return_and_erasure_over_the_bus(tmp_path: Path, nats: NatsServer) -> None:
    settings = settings_for_test(tmp_path)
    stop = asyncio.Event()
    host = ServiceHost(build(settings), settings, nats.url)
    task = asyncio.create_task(host.run(stop))
    nc = await nats_py.connect(nats.url)
    js = nc.jetstream()
    try:
        reply = await ask_service(
            nc,
            "crm",
            "register_customer",
            {
                "loyalty_card": "LC0001",
                "name": "Ana",
                "email": "ana@example.com",
                "phone": "+44 20 7946 0958",
                "store_id": "s001",
            },
        )
        customer_id = reply["customer_id"]
        assert host.nc is not None
        host.nc.options["drain_timeout"] = 1  # see test_crm_main

        async def publish(subject: str, message: Any, n: int) -> None:
            event = IntegrationEvent(subject, message, "s001", datetime.now(UTC))
            await js.publish(subject, event.payload(), headers=event.headers(f"checkout:{n}"))

        await publish(
            "checkout.s001.sale.completed",
            checkout_pb2.SaleCompleted(
                sale_id="sale-1", store_id="s001", customer_id=customer_id, total=eur(100_00)
            ),
            1,
        )

        async def balance(wanted: int) -> bool:
            body = await ask(nc, "loyalty", {"customer_id": customer_id})
            return bool(body["ok"]) and body["balance"] == wanted

        assert await wait_for(lambda: balance(100))
        tender = {
            "store_id": "s001",
            "sale_id": "sale-2",
            "customer_id": customer_id,
            "amount_minor": 30,
            "currency": "EUR",
            "idempotency_key": "tk-1",
        }
        first = await ask(nc, "redeem_points", tender)
        assert first == {"ok": True, "status": "approved", "points": 30, "balance": 70}
        assert await ask(nc, "redeem_points", tender) == first
        conflict = await ask(nc, "redeem_points", {**tender, "amount_minor": 31})
        assert conflict["ok"] is False and conflict["error"]["code"] == "conflict"
        declined = await ask(
            nc, "redeem_points", {**tender, "idempotency_key": "tk-2", "amount_minor": 1000}
        )
        assert declined["ok"] and declined["status"] == "declined" and declined["reason"]

        async def last(subject: str) -> bytes | None:
            try:
                return (await js.get_last_msg("CRM", subject)).data
            except Exception:
                return None

        data = await wait_for(lambda: last("crm.s001.loyalty.points_redeemed.>"))
        assert data is not None
        redeemed = crm_pb2.LoyaltyPointsRedeemed.FromString(data)
        assert (
            redeemed.sale_id,
            redeemed.reference,
            redeemed.amount.amount_minor,
            redeemed.amount.currency,
        ) == ("sale-2", "tk-1", 30, "EUR")

        # Half of sale-1 comes back in cash (50 points reversed); sale-2's loyalty tender
        # is voided (30 points back). Both published twice: redelivery changes nothing.
        ret = checkout_pb2.ReturnCompleted(
            return_id="r-1",
            store_id="s001",
            original_sale_id="sale-1",
            customer_id=customer_id,
            total=eur(50_00),
            refunds=[common_pb2.SaleTender(payment_id="c1", kind="cash", amount=eur(50_00))],
        )
        void = checkout_pb2.SaleVoided(
            sale_id="sale-2",
            store_id="s001",
            customer_id=customer_id,
            tenders=[
                common_pb2.SaleTender(payment_id="loyalty:tk-1", kind="loyalty", amount=eur(30))
            ],
        )
        for n, (subject, message) in enumerate(
            [
                ("checkout.s001.return.completed", ret),
                ("checkout.s001.sale.voided", void),
                ("checkout.s001.return.completed", ret),
                ("checkout.s001.sale.voided", void),
            ],
            start=2,
        ):
            await publish(subject, message, n)
        assert await wait_for(lambda: balance(50))
        await asyncio.sleep(0.5)
        assert await balance(50)

        assert (await ask(nc, "erase", {"customer_id": customer_id}))["changed"]
        data = await wait_for(lambda: last("crm.s001.customer.erased.>"))
        assert data is not None
        assert crm_pb2.CustomerErased.FromString(data).customer_id == customer_id
        # No personal data ever went on the bus: every message of the CRM stream is clean.
        info = await js.stream_info("CRM")
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            raw = await js.get_msg("CRM", seq)
            assert b"Ana" not in (raw.data or b"") and b"ana@" not in (raw.data or b"")
            assert b"7946" not in (raw.data or b"")
    finally:
        await nc.close()
        stop.set()
        await asyncio.wait_for(task, 20)
