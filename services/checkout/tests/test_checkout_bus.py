"""Checkout on the bus: consumer handlers with a UnitOfWork, commands, and the contracts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from google.protobuf.message import Message

from checkout.application import Checkout, SaleNotFoundError, UnknownSkuError
from checkout.bus import INVENTORY_HANDLERS, PAYMENTS_HANDLERS, CheckoutCommands
from checkout.contracts import CheckoutContracts
from checkout.domainmodel import PriceEntry, Sale, price_entry_id
from checkout.main import build, build_application
from tillstream.bus import connect, wait_for
from tillstream.codec import H_EVENT_TYPE, H_MSG_ID, H_STORE_ID, ReceivedEvent
from tillstream.consumer import Delivery, EventSourcedSink
from tillstream.events.v1 import checkout_pb2, common_pb2, inventory_pb2, payments_pb2
from tillstream.natsserver import NatsServer
from tillstream.service import CommandError, ServiceHost
from tillstream.testing import ask_service, test_settings

PIN = "4321"


def received(message: Message, subject: str, store_id: str = "s001") -> ReceivedEvent:
    return ReceivedEvent(
        event_type=message.DESCRIPTOR.full_name, message=message, subject=subject,
        store_id=store_id, occurred_at="", msg_id="", headers={},
    )


def product(sku: str, price: int, active: bool = True, currency: str = "EUR") -> ReceivedEvent:
    return received(
        inventory_pb2.ProductUpserted(
            sku=sku, name=sku.title(), active=active,
            price=common_pb2.Money(amount_minor=price, currency=currency),
        ),
        "inventory.chain.product.upserted", "chain",
    )


def captured(sale_id: UUID, payment_id: str, amount: int, currency: str = "EUR") -> ReceivedEvent:
    return received(
        payments_pb2.PaymentCaptured(
            payment_id=payment_id, sale_id=str(sale_id), store_id="s001", tender="card",
            amount=common_pb2.Money(amount_minor=amount, currency=currency),
        ),
        "payments.s001.payment.captured",
    )


def declined(sale_id: UUID, payment_id: str, amount: int) -> ReceivedEvent:
    return received(
        payments_pb2.PaymentDeclined(
            payment_id=payment_id, sale_id=str(sale_id), store_id="s001", tender="card",
            amount=common_pb2.Money(amount_minor=amount, currency="EUR"), response_code="51",
        ),
        "payments.s001.payment.declined",
    )


class Feed:
    """Applies upstream events through the real sinks, one batch per call."""

    def __init__(self, app: Checkout) -> None:
        self.sinks = {
            "inventory": EventSourcedSink(app, INVENTORY_HANDLERS),
            "payments": EventSourcedSink(app, PAYMENTS_HANDLERS),
        }
        self.positions = {"inventory": 0, "payments": 0}

    def __call__(self, upstream: str, *events: ReceivedEvent) -> None:
        deliveries = []
        for event in events:
            self.positions[upstream] += 1
            deliveries.append(Delivery(self.positions[upstream], event))
        self.sinks[upstream].apply(f"{upstream}.p0", deliveries)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Checkout]:
    app = build_application(test_settings(tmp_path))
    yield app
    app.close()


@pytest.fixture
def feed(app: Checkout) -> Feed:
    return Feed(app)


@pytest.fixture
def commands(app: Checkout, feed: Feed) -> CheckoutCommands:
    feed("inventory", product("sku-a", 250), product("sku-b", 199))
    commands = CheckoutCommands(app)
    commands.register_cashier({"store_id": "s001", "cashier_id": "c7", "name": "Ann",
                               "pin": PIN})
    commands.open_shift({"store_id": "s001", "lane_id": "l1", "cashier_id": "c7", "pin": PIN,
                         "float_minor": 100_00, "currency": "EUR"})
    return commands


def open_sale(commands: CheckoutCommands, sale_id: UUID | None = None) -> UUID:
    sale_id = sale_id or uuid4()
    commands.open_sale({"sale_id": str(sale_id), "store_id": "s001", "lane_id": "l1",
                        "cashier_id": "c7", "currency": "EUR"})
    return sale_id


# -- consumer handlers ----------------------------------------------------------------------


class TestCheckoutConsumers:
    def test_product_upserted_builds_price_replica(self, app: Checkout, feed: Feed) -> None:
        feed("inventory", product("sku-a", 250))
        assert app.price_of("sku-a").price_minor == 250
        assert app.tracked_position("inventory.p0") == 1

    def test_product_upserted_updates_and_deactivates(self, app: Checkout, feed: Feed) -> None:
        feed("inventory", product("sku-a", 250), product("sku-a", 275))
        assert app.price_of("sku-a").price_minor == 275
        feed("inventory", product("sku-a", 275, active=False))
        assert app.get_or_none(price_entry_id("sku-a")).active is False
        with pytest.raises(UnknownSkuError):
            app.price_of("sku-a")

    def test_payment_captured_completes_sale(
        self, app: Checkout, feed: Feed, commands: CheckoutCommands
    ) -> None:
        sale_id = open_sale(commands)
        commands.add_line({"sale_id": str(sale_id), "line_no": 1, "sku": "sku-a",
                           "quantity": 2})
        feed("payments", captured(sale_id, "p1", 200))
        assert commands.get_sale({"sale_id": str(sale_id)})["due_minor"] == 300
        feed("payments", captured(sale_id, "p1", 200), captured(sale_id, "p2", 300))
        view = commands.get_sale({"sale_id": str(sale_id)})
        assert (view["status"], view["paid_minor"], view["due_minor"]) == ("completed", 500, 0)
        assert [t["payment_id"] for t in view["tenders"]] == ["p1", "p2"]

    def test_payment_after_completion_is_excess(
        self, app: Checkout, feed: Feed, commands: CheckoutCommands
    ) -> None:
        sale_id = open_sale(commands)
        commands.add_line({"sale_id": str(sale_id), "line_no": 1, "sku": "sku-a",
                           "quantity": 1})
        feed("payments", captured(sale_id, "p1", 250), captured(sale_id, "p2", 250))
        sale = app.repository.get(sale_id)
        assert sale.status == "completed" and list(sale.excess) == ["p2"]

    def test_payment_declined_recorded(
        self, app: Checkout, feed: Feed, commands: CheckoutCommands
    ) -> None:
        sale_id = open_sale(commands)
        feed("payments", declined(sale_id, "p9", 250))
        assert app.repository.get(sale_id).declines == {"p9": "51"}

    def test_payment_for_unknown_sale_raises_and_applies_nothing(
        self, app: Checkout, feed: Feed
    ) -> None:
        with pytest.raises(SaleNotFoundError):
            feed("payments", captured(uuid4(), "p1", 100))
        assert app.tracked_position("payments.p0") == 0

    def test_batch_is_all_or_nothing(
        self, app: Checkout, feed: Feed, commands: CheckoutCommands
    ) -> None:
        sale_id = open_sale(commands)
        with pytest.raises(SaleNotFoundError):
            feed("payments", captured(sale_id, "p1", 100), captured(uuid4(), "p2", 100))
        assert app.repository.get(sale_id).paid_minor == 0


# -- commands -------------------------------------------------------------------------------


class TestCheckoutCommands:
    def test_open_sale_and_reopen(self, commands: CheckoutCommands) -> None:
        sale_id = uuid4()
        body = {"sale_id": str(sale_id), "store_id": "s001", "lane_id": "l1",
                "cashier_id": "c7", "currency": "EUR"}
        assert commands.open_sale(body) == {"sale_id": str(sale_id), "status": "open"}
        assert commands.open_sale(body) == {"sale_id": str(sale_id), "status": "open"}
        with pytest.raises(CommandError) as refused:
            commands.open_sale({**body, "lane_id": "l2"})
        assert refused.value.code == "conflict"

    def test_add_line_reply(self, commands: CheckoutCommands) -> None:
        sale_id = open_sale(commands)
        reply = commands.add_line({"sale_id": str(sale_id), "line_no": 1, "sku": "sku-a",
                                   "quantity": 3})
        assert reply == {"unit_price_minor": 250, "line_total_minor": 750,
                         "total_minor": 750, "currency": "EUR"}

    def test_attach_customer_and_get_sale(self, commands: CheckoutCommands) -> None:
        sale_id = open_sale(commands)
        commands.add_line({"sale_id": str(sale_id), "line_no": 1, "sku": "sku-b",
                           "quantity": 1})
        assert commands.attach_customer({"sale_id": str(sale_id), "customer_id": "cu1"}) == {
            "sale_id": str(sale_id), "customer_id": "cu1"}
        view = commands.get_sale({"sale_id": str(sale_id)})
        assert view == {
            "sale_id": str(sale_id), "store_id": "s001", "lane_id": "l1", "cashier_id": "c7",
            "status": "open", "currency": "EUR", "total_minor": 199, "paid_minor": 0,
            "due_minor": 199, "customer_id": "cu1",
            "lines": [{"line_no": 1, "sku": "sku-b", "quantity": 1, "unit_price_minor": 199,
                       "line_total_minor": 199, "tax_class": "", "discount_minor": 0,
                       "net_minor": 199, "tax_minor": 0, "gross_minor": 199}],
            "tenders": [], "change_minor": 0, "receipt_number": "", "offline": False,
            "subtotal_minor": 199, "discount_minor": 0, "tax_minor": 0, "taxes": [],
            "discounts": [], "loyalty_points": None, "loyalty_balance": None,
        }
        json.dumps(view)  # the reply is plain JSON

    @pytest.mark.parametrize(("body", "code"), [
        ({"line_no": 1, "sku": "sku-a", "quantity": 0}, "invalid"),
        ({"line_no": 1, "sku": "sku-a", "quantity": "2"}, "invalid"),
        ({"line_no": 1, "sku": "sku-a", "quantity": True}, "invalid"),
        ({"line_no": 1, "sku": "nope", "quantity": 1}, "unknown_sku"),
        ({"sku": "sku-a", "quantity": 1}, "invalid"),
    ])
    def test_add_line_refusals(
        self, commands: CheckoutCommands, body: dict[str, Any], code: str
    ) -> None:
        sale_id = open_sale(commands)
        with pytest.raises(CommandError) as refused:
            commands.add_line({"sale_id": str(sale_id), **body})
        assert refused.value.code == code

    def test_line_conflict_and_not_found_and_bad_uuid(self, commands: CheckoutCommands) -> None:
        sale_id = open_sale(commands)
        commands.add_line({"sale_id": str(sale_id), "line_no": 1, "sku": "sku-a",
                           "quantity": 1})
        for body, code in (
            ({"sale_id": str(sale_id), "line_no": 1, "sku": "sku-b", "quantity": 1},
             "conflict"),
            ({"sale_id": str(uuid4()), "line_no": 1, "sku": "sku-a", "quantity": 1},
             "not_found"),
            ({"sale_id": "not-a-uuid", "line_no": 1, "sku": "sku-a", "quantity": 1},
             "invalid"),
        ):
            with pytest.raises(CommandError) as refused:
                commands.add_line(body)
            assert refused.value.code == code

    def test_open_sale_refusals(self, commands: CheckoutCommands) -> None:
        base = {"sale_id": str(uuid4()), "store_id": "s001", "lane_id": "l1",
                "cashier_id": "c7", "currency": "EUR"}
        for change, code in (({"currency": "euro"}, "invalid"),
                             ({"store_id": "s.1"}, "rejected"),
                             ({"cashier_id": ""}, "invalid")):
            with pytest.raises(CommandError) as refused:
                commands.open_sale({**base, **change})
            assert refused.value.code == code

    def test_attach_customer_to_completed_sale_is_rejected(
        self, commands: CheckoutCommands, feed: Feed
    ) -> None:
        sale_id = open_sale(commands)
        commands.add_line({"sale_id": str(sale_id), "line_no": 1, "sku": "sku-a",
                           "quantity": 1})
        feed("payments", captured(sale_id, "p1", 250))
        with pytest.raises(CommandError) as refused:
            commands.attach_customer({"sale_id": str(sale_id), "customer_id": "late"})
        assert refused.value.code == "rejected"


# -- contracts ------------------------------------------------------------------------------


class TestCheckoutContracts:
    contracts = CheckoutContracts()

    def completed_sale(self) -> Sale:
        sale = Sale(id=uuid4(), store_id="s042", lane_id="l3", cashier_id="c9", currency="EUR")
        sale.add_line(1, "sku-a", 2, 250)
        sale.attach_customer("cu1")
        sale.record_decline("p0", 500, "EUR", "05")
        sale.record_payment("p1", 500, "EUR", "card",
                            at=datetime(2025, 3, 4, 5, 6, 7, 890000, tzinfo=UTC))
        return sale

    def test_every_public_event_maps_to_its_subject(self) -> None:
        sale = self.completed_sale()
        mapped = [self.contracts.to_integration(e) for e in sale.collect_events()]
        subjects = [m.subject for m in mapped if m is not None]
        assert subjects == [
            "checkout.s042.sale.opened",
            "checkout.s042.sale.line_added",
            "checkout.s042.sale.customer_attached",
            "checkout.s042.sale.tender_declined",
            "checkout.s042.sale.completed",
        ]
        # PaymentRecorded is private: its tender is in SaleCompleted.
        assert sum(m is None for m in mapped) == 1
        assert all(m.store_id == "s042" for m in mapped if m is not None)

    def test_sale_completed_payload(self) -> None:
        sale = self.completed_sale()
        events = sale.collect_events()
        integration = self.contracts.to_integration(events[-1])
        assert integration is not None
        msg = checkout_pb2.SaleCompleted.FromString(integration.payload())
        assert integration.event_type == "tillstream.events.v1.SaleCompleted"
        assert (msg.sale_id, msg.store_id, msg.lane_id, msg.cashier_id, msg.customer_id) == (
            str(sale.id), "s042", "l3", "c9", "cu1")
        assert (msg.total.amount_minor, msg.total.currency) == (500, "EUR")
        assert [(ln.sku, ln.quantity, ln.unit_price.amount_minor, ln.line_total.amount_minor)
                for ln in msg.lines] == [("sku-a", 2, 250, 500)]
        assert [(t.payment_id, t.kind, t.amount.amount_minor) for t in msg.tenders] == [
            ("p1", "card", 500)]
        assert msg.completed_at_ms == 1741064767890

    def test_line_added_and_declined_payloads(self) -> None:
        events = self.completed_sale().collect_events()
        line = self.contracts.to_integration(events[1])
        assert line is not None
        added = checkout_pb2.SaleLineAdded.FromString(line.payload())
        assert (added.line.line_no, added.line.line_total.amount_minor,
                added.line.unit_price.currency) == (1, 500, "EUR")
        tender = self.contracts.to_integration(events[3])
        assert tender is not None
        decline = checkout_pb2.SaleTenderDeclined.FromString(tender.payload())
        assert (decline.payment_id, decline.amount.amount_minor, decline.response_code) == (
            "p0", 500, "05")

    def test_price_entry_and_excess_events_are_private(self) -> None:
        entry = PriceEntry.register("sku-a", "A", 1, "EUR", True)
        entry.update("A", 2, "EUR", True)
        sale = self.completed_sale()
        sale.collect_events()
        sale.record_payment("p2", 1, "EUR", "card")
        for domain_event in [*entry.collect_events(), *sale.collect_events()]:
            assert self.contracts.to_integration(domain_event) is None


# -- the service on a real NATS server ------------------------------------------------------


async def test_checkout_service_end_to_end_on_nats(nats: NatsServer, tmp_path: Path) -> None:
    """build() wired into the host: commands answer, upstream events apply, the relay
    publishes SaleCompleted."""
    settings = test_settings(tmp_path / "data")
    host = ServiceHost(build(settings), settings, nats.url)
    stop = asyncio.Event()
    task = asyncio.create_task(host.run(stop))
    nc = await connect(nats.url, "test-client")
    js = nc.jetstream()
    try:
        async def request(command: str, body: dict[str, Any]) -> dict[str, Any]:
            reply = await ask_service(nc, "checkout", command, body)
            return reply

        async def publish(subject: str, upstream_id: str, message: Message) -> None:
            await js.publish(subject, message.SerializeToString(), headers={
                H_MSG_ID: upstream_id, H_EVENT_TYPE: message.DESCRIPTOR.full_name,
                H_STORE_ID: subject.split(".")[1],
            })

        reply = await request("register_cashier", {"store_id": "s001", "cashier_id": "c7",
                                                   "name": "Ann", "pin": PIN})
        assert reply == {"ok": True, "cashier_id": "c7", "registered": True}
        reply = await request("open_shift", {"store_id": "s001", "lane_id": "l1",
                                             "cashier_id": "c7", "pin": PIN,
                                             "float_minor": 100_00, "currency": "EUR"})
        assert reply["ok"] is True
        sale_id = str(uuid4())
        reply = await request("open_sale", {"sale_id": sale_id, "store_id": "s001",
                                            "lane_id": "l1", "cashier_id": "c7",
                                            "currency": "EUR"})
        assert reply == {"ok": True, "sale_id": sale_id, "status": "open"}
        await publish("inventory.chain.product.upserted", "inventory:1",
                      inventory_pb2.ProductUpserted(
                          sku="sku-a", name="A", active=True,
                          price=common_pb2.Money(amount_minor=250, currency="EUR")))

        async def priced() -> dict[str, Any] | None:
            reply = await request("add_line", {"sale_id": sale_id, "line_no": 1,
                                               "sku": "sku-a", "quantity": 2})
            return reply if reply["ok"] else None
        assert await wait_for(priced, timeout=15) == {
            "ok": True, "unit_price_minor": 250, "line_total_minor": 500, "total_minor": 500,
            "currency": "EUR"}

        refused = await request("add_line", {"sale_id": sale_id, "line_no": 2,
                                             "sku": "nope", "quantity": 1})
        assert refused["ok"] is False and refused["error"]["code"] == "unknown_sku"

        await publish("payments.s001.payment.captured", "payments:1",
                      payments_pb2.PaymentCaptured(
                          payment_id="p1", sale_id=sale_id, store_id="s001", tender="card",
                          amount=common_pb2.Money(amount_minor=500, currency="EUR")))

        async def completed() -> bool:
            reply = await request("get_sale", {"sale_id": sale_id})
            return bool(reply["status"] == "completed")
        assert await wait_for(completed, timeout=15)

        async def published() -> list[str]:
            info = await js.stream_info("CHECKOUT")
            if info.state.messages < 4:
                return []
            sub = await js.subscribe("checkout.>", ordered_consumer=True)
            subjects = []
            for _ in range(info.state.messages):
                msg = await sub.next_msg(timeout=2)
                subjects.append(msg.subject)
            await sub.unsubscribe()
            return subjects if any(".completed." in s for s in subjects) else []
        subjects = await wait_for(published, timeout=15)
        assert [s.rsplit(".", 1)[0] for s in subjects] == [
            "checkout.s001.shift.opened", "checkout.s001.sale.opened",
            "checkout.s001.sale.line_added", "checkout.s001.sale.completed"]
    finally:
        await nc.close()
        stop.set()
        # Workaround: Consumer.run leaves its pull subscription open when it stops, so the
        # host's nc.drain() would wait out nats-py's 30 s drain timeout. Closing the
        # connection before the host gets to its drain skips that (the drain then fails fast).
        if host.nc is not None:
            await host.nc.close()
        await asyncio.wait_for(task, 30)
