"""Split tenders over a real nats-server: the `tender` command routed to (stand-in) payments
and crm responders on the bus, gift card and loyalty redemptions and offline sales arriving
through checkout's new subscriptions, and the relay publishing what follows."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, uuid4, uuid5

from google.protobuf.message import Message

from checkout.main import build
from tillstream.bus import command_subject, connect, wait_for
from tillstream.codec import H_EVENT_TYPE, H_MSG_ID, H_STORE_ID
from tillstream.events.v1 import (
    checkout_pb2,
    common_pb2,
    crm_pb2,
    edge_pb2,
    inventory_pb2,
    payments_pb2,
)
from tillstream.natsserver import NatsServer
from tillstream.service import ServiceHost
from tillstream.testing import ask_service, test_settings

PIN = "4321"


def eur(amount: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount, currency="EUR")


async def test_split_tenders_offline_ingest_on_nats(nats: NatsServer, tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "data", nats_url=nats.url)
    host = ServiceHost(build(settings), settings, nats.url)
    stop = asyncio.Event()
    task = asyncio.create_task(host.run(stop))
    nc = await connect(nats.url, "test-client")
    js = nc.jetstream()
    asked: list[tuple[str, dict[str, Any]]] = []
    published_ids = iter(range(1, 1000))

    async def publish(subject: str, message: Message) -> None:
        await js.publish(
            subject,
            message.SerializeToString(),
            headers={
                H_MSG_ID: f"{subject.split('.')[0]}:{next(published_ids)}",
                H_EVENT_TYPE: message.DESCRIPTOR.full_name,
                H_STORE_ID: subject.split(".")[1],
            },
        )

    authorized: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    redeemed: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}

    def known(
        answers: dict[str, tuple[dict[str, Any], dict[str, Any]]], key: str, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        # As payments and crm do: the same key and body get the first answer again, the same
        # key with another body is refused "conflict" (their keys are per store).
        if key not in answers:
            return None
        first_body, first_answer = answers[key]
        if first_body != body:
            return {"ok": False, "error": {"code": "conflict", "message": f"key {key} reused"}}
        return first_answer

    async def payments_authorize(msg: Any) -> None:
        # Stands in for payments: answers exactly what PaymentsCommands.authorize does (its
        # PaymentOutcome: "approved" for a captured sale), and publishes PaymentCaptured.
        body = json.loads(msg.data)
        asked.append(("authorize", body))
        key = body["idempotency_key"]
        answer = known(authorized, key, body)
        if answer is None:
            declined = body["pan"].endswith("0002")
            answer = {
                "ok": True,
                "payment_id": str(uuid5(NAMESPACE_URL, f"{body['store_id']}:{key}")),
                "status": "declined" if declined else "approved",
                "response_code": "51" if declined else "00",
                "auth_code": "" if declined else "A1B2C3",
                "masked_pan": body["pan"][:6] + "*" * (len(body["pan"]) - 10) + body["pan"][-4:],
                "reason": "insufficient funds" if declined else "",
            }
            authorized[key] = (body, answer)
            if not declined:
                await publish(
                    "payments.s001.payment.captured",
                    payments_pb2.PaymentCaptured(
                        payment_id=answer["payment_id"],
                        sale_id=body["sale_id"],
                        store_id="s001",
                        tender=body["tender"],
                        amount=eur(body["amount_minor"]),
                    ),
                )
        await msg.respond(json.dumps(answer).encode())

    async def crm_redeem(msg: Any) -> None:
        # Stands in for crm's redeem_points (a loyalty tender): the answer, then the event
        # whose reference is the key checkout forwarded.
        body = json.loads(msg.data)
        asked.append(("redeem_points", body))
        key = body["idempotency_key"]
        answer = known(redeemed, key, body)
        if answer is None:
            answer = {"ok": True, "status": "approved", "points": 100, "balance": 5}
            redeemed[key] = (body, answer)
            await publish(
                "crm.s001.loyalty.points_redeemed",
                crm_pb2.LoyaltyPointsRedeemed(
                    customer_id=body["customer_id"],
                    store_id="s001",
                    reference=key,
                    points=100,
                    balance=5,
                    sale_id=body["sale_id"],
                    amount=eur(body["amount_minor"]),
                ),
            )
        await msg.respond(json.dumps(answer).encode())

    await nc.subscribe(command_subject("payments", "authorize"), cb=payments_authorize)
    await nc.subscribe(command_subject("crm", "redeem_points"), cb=crm_redeem)
    try:

        async def request(command: str, body: dict[str, Any]) -> dict[str, Any]:
            return await ask_service(nc, "checkout", command, body)

        await request(
            "register_cashier", {"store_id": "s001", "cashier_id": "c7", "name": "Ann", "pin": PIN}
        )
        await request(
            "open_shift",
            {
                "store_id": "s001",
                "lane_id": "l1",
                "cashier_id": "c7",
                "pin": PIN,
                "float_minor": 20_00,
                "currency": "EUR",
            },
        )
        await publish(
            "inventory.chain.product.upserted",
            inventory_pb2.ProductUpserted(sku="sku-a", name="A", active=True, price=eur(10_00)),
        )
        sale_id = str(uuid4())
        await request(
            "open_sale",
            {
                "sale_id": sale_id,
                "store_id": "s001",
                "lane_id": "l1",
                "cashier_id": "c7",
                "currency": "EUR",
            },
        )
        await request("attach_customer", {"sale_id": sale_id, "customer_id": "cu1"})

        async def priced() -> dict[str, Any] | None:
            reply = await request(
                "add_line", {"sale_id": sale_id, "line_no": 1, "sku": "sku-a", "quantity": 4}
            )
            return reply if reply["ok"] else None

        assert (await wait_for(priced, timeout=15))["total_minor"] == 40_00

        tender = {
            "sale_id": sale_id,
            "idempotency_key": "t1",
            "kind": "card",
            "amount_minor": 10_00,
            "pan": "4000000000000002",
            "expiry": "2912",
        }
        reply = await request("tender", tender)
        assert reply["ok"] and reply["status"] == "declined"
        assert reply["reason"] == "insufficient funds"
        # Keys are per sale: payments is asked under "<sale_id>:<key>".
        assert asked[-1][1]["idempotency_key"] == f"{sale_id}:t1"
        card = {**tender, "idempotency_key": "t2", "pan": "4000000000000010"}
        first = await request("tender", card)
        assert first["ok"] and first["status"] == "approved"
        assert asked[-1][1]["tender"] == "card" and asked[-1][1]["currency"] == "EUR"
        assert asked[-1][1]["idempotency_key"] == f"{sale_id}:t2"
        reply = await request(
            "tender",
            {"sale_id": sale_id, "idempotency_key": "t3", "kind": "loyalty", "amount_minor": 5_00},
        )
        assert reply["ok"] and reply["payment_id"] == f"loyalty:{sale_id}:t3"
        assert asked[-1] == (
            "redeem_points",
            {
                "store_id": "s001",
                "sale_id": sale_id,
                "amount_minor": 5_00,
                "currency": "EUR",
                "customer_id": "cu1",
                "idempotency_key": f"{sale_id}:t3",
            },
        )
        # More by card than is due: refused before payments is asked.
        reply = await request("tender", {**tender, "idempotency_key": "t4", "amount_minor": 99_00})
        assert reply["error"]["code"] == "invalid"
        # The same key for another amount in the same sale: a conflict, payments not asked.
        asked_before = len(asked)
        reply = await request("tender", {**card, "amount_minor": 1_00})
        assert reply["error"]["code"] == "conflict"
        assert len(asked) == asked_before
        await publish(
            "payments.s001.gift_card.redeemed",
            payments_pb2.GiftCardRedeemed(
                store_id="s001",
                operation_key="gc-1",
                sale_id=sale_id,
                amount=eur(5_00),
                balance=eur(0),
            ),
        )

        async def paid(amount: int) -> bool:
            return bool((await request("get_sale", {"sale_id": sale_id}))["paid_minor"] == amount)

        assert await wait_for(lambda: paid(20_00), timeout=15)
        # A retry of the card tender (a lane that lost the answer), after the sale counted
        # it: the first answer again, and nothing counted twice.
        again = await request("tender", card)
        assert again == first
        assert (await request("get_sale", {"sale_id": sale_id}))["paid_minor"] == 20_00
        reply = await request(
            "tender",
            {"sale_id": sale_id, "idempotency_key": "t5", "kind": "cash", "amount_minor": 50_00},
        )
        assert reply["ok"] and reply["change_minor"] == 30_00
        assert reply["sale_status"] == "completed" and reply["receipt_number"] == "s001-l1-1"
        # ... and once the sale is completed, still the first answer.
        assert await request("tender", card) == first
        view = await request("get_sale", {"sale_id": sale_id})
        assert view["paid_minor"] == 70_00 and len(view["tenders"]) == 4

        # A receipt printed before crm reports the points has no loyalty lines.
        early = await request("receipt", {"sale_id": sale_id})
        assert "Loyalty points balance" not in early["text"]
        for _ in range(2):  # a redelivery changes nothing
            await publish(
                "crm.s001.loyalty.points_earned",
                crm_pb2.LoyaltyPointsEarned(
                    customer_id="cu1", store_id="s001", sale_id=sale_id, points=40, balance=45
                ),
            )
        await publish(  # points for a sale checkout never saw: no dead letter, no effect
            "crm.s001.loyalty.points_earned",
            crm_pb2.LoyaltyPointsEarned(
                customer_id="cu1", store_id="s001", sale_id=str(uuid4()), points=1, balance=46
            ),
        )

        async def points_known() -> dict[str, Any] | None:
            view = await request("get_sale", {"sale_id": sale_id})
            return view if view["loyalty_balance"] is not None else None

        view = await wait_for(points_known, timeout=15)
        assert view["loyalty_points"] == 40 and view["loyalty_balance"] == 45
        for copy in (False, True):
            printed = await request("receipt", {"sale_id": sale_id, "copy": copy})
            lines = printed["text"].splitlines()
            assert any(ln.startswith("Points earned") and ln.endswith(" 40") for ln in lines)
            assert any(
                ln.startswith("Loyalty points balance") and ln.endswith(" 45") for ln in lines
            )
            assert ("COPY" in printed["text"]) == copy

        # Another sale reuses the card key "t2": another tender, not a conflict.
        other_id = str(uuid4())
        await request(
            "open_sale",
            {
                "sale_id": other_id,
                "store_id": "s001",
                "lane_id": "l1",
                "cashier_id": "c7",
                "currency": "EUR",
            },
        )
        await request(
            "add_line", {"sale_id": other_id, "line_no": 1, "sku": "sku-a", "quantity": 1}
        )
        reply = await request("tender", {**card, "sale_id": other_id, "amount_minor": 10_00})
        assert reply["ok"] and reply["status"] == "approved", reply
        assert reply["payment_id"] != first["payment_id"]

        async def other_completed() -> bool:
            view = await request("get_sale", {"sale_id": other_id})
            return bool(view["status"] == "completed")

        assert await wait_for(other_completed, timeout=15)

        offline_id = str(uuid4())
        offline = edge_pb2.OfflineSaleCompleted(
            sale_id=offline_id,
            store_id="s001",
            lane_id="l2",
            cashier_id="c7",
            currency="EUR",
            lines=[
                common_pb2.SaleLine(
                    line_no=1, sku="sku-a", quantity=1, unit_price=eur(10_00), line_total=eur(10_00)
                )
            ],
            tenders=[common_pb2.SaleTender(payment_id="cash:x", kind="cash", amount=eur(10_00))],
            subtotal=eur(10_00),
            total=eur(10_00),
            change=eur(0),
            discount_total=eur(0),
            tax_total=eur(0),
            receipt_number="s001-l2-9",
            completed_at_ms=1_700_000_000_000,
        )
        for _ in range(2):  # a second copy does nothing
            await publish("edge.s001.sale.offline_completed", offline)

        async def completions() -> list[Any] | None:
            sub = await js.subscribe("checkout.>", ordered_consumer=True)
            found = []
            try:
                while True:
                    msg = await sub.next_msg(timeout=1)
                    if ".sale.completed." in msg.subject:
                        found.append(checkout_pb2.SaleCompleted.FromString(msg.data))
            except Exception:
                pass
            await sub.unsubscribe()
            return found if len(found) >= 3 else None

        done = await wait_for(completions, timeout=20)
        assert done is not None and len(done) == 3
        online, _, ingested = done
        assert online.sale_id == sale_id and online.change.amount_minor == 30_00
        assert sorted(t.kind for t in online.tenders) == ["card", "cash", "gift_card", "loyalty"]
        assert ingested.sale_id == offline_id and ingested.offline
    finally:
        await nc.close()
        stop.set()
        if host.nc is not None:
            await host.nc.close()
        await asyncio.wait_for(task, 30)
