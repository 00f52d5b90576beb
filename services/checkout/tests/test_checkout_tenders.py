"""Split tenders, voids, suspend/resume, returns and offline ingest: the application through
its lane commands and the real consumer sinks (SQLite event store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from google.protobuf.message import Message

from checkout.application import Checkout
from checkout.bus import (
    CRM_HANDLERS,
    EDGE_HANDLERS,
    INVENTORY_HANDLERS,
    PAYMENTS_HANDLERS,
    CheckoutCommands,
    forwarded_key,
)
from checkout.contracts import CheckoutContracts
from checkout.domainmodel import Return, Sale, SaleError
from checkout.main import build_application
from tillstream.codec import ReceivedEvent
from tillstream.consumer import Delivery, EventSourcedSink
from tillstream.events.v1 import (
    checkout_pb2,
    common_pb2,
    crm_pb2,
    edge_pb2,
    inventory_pb2,
    payments_pb2,
)
from tillstream.service import CommandError
from tillstream.testing import test_settings

PIN = "4321"
BOSS_PIN = "9876"


def money(amount: int, currency: str = "EUR") -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount, currency=currency)


def received(message: Message, subject: str, store_id: str = "s001") -> ReceivedEvent:
    return ReceivedEvent(
        event_type=message.DESCRIPTOR.full_name,
        message=message,
        subject=subject,
        store_id=store_id,
        occurred_at="",
        msg_id="",
        headers={},
    )


def captured(sale_id: UUID, payment_id: str, amount: int, tender: str = "card") -> ReceivedEvent:
    return received(
        payments_pb2.PaymentCaptured(
            payment_id=payment_id,
            sale_id=str(sale_id),
            store_id="s001",
            tender=tender,
            amount=money(amount),
        ),
        "payments.s001.payment.captured",
    )


def declined(sale_id: UUID, payment_id: str, amount: int) -> ReceivedEvent:
    return received(
        payments_pb2.PaymentDeclined(
            payment_id=payment_id,
            sale_id=str(sale_id),
            store_id="s001",
            tender="card",
            amount=money(amount),
            response_code="51",
        ),
        "payments.s001.payment.declined",
    )


def gift_card(sale_id: UUID, key: str, amount: int) -> ReceivedEvent:
    return received(
        payments_pb2.GiftCardRedeemed(
            store_id="s001",
            operation_key=key,
            sale_id=str(sale_id),
            amount=money(amount),
            balance=money(1000),
        ),
        "payments.s001.gift_card.redeemed",
    )


def points(sale_id: UUID | None, reference: str, amount: int) -> ReceivedEvent:
    return received(
        crm_pb2.LoyaltyPointsRedeemed(
            customer_id="cu1",
            store_id="s001",
            reference=reference,
            points=amount,
            balance=10,
            sale_id=str(sale_id) if sale_id else "",
            amount=money(amount),
        ),
        "crm.s001.loyalty.points_redeemed",
    )


def earned(sale_id: UUID | str, points: int, balance: int) -> ReceivedEvent:
    return received(
        crm_pb2.LoyaltyPointsEarned(
            customer_id="cu1",
            store_id="s001",
            sale_id=str(sale_id),
            points=points,
            balance=balance,
        ),
        "crm.s001.loyalty.points_earned",
    )


class Feed:
    """Applies upstream events through the real sinks, one batch per call."""

    def __init__(self, app: Checkout) -> None:
        self.sinks = {
            "inventory": EventSourcedSink(app, INVENTORY_HANDLERS),
            "payments": EventSourcedSink(app, PAYMENTS_HANDLERS),
            "crm": EventSourcedSink(app, CRM_HANDLERS),
            "edge": EventSourcedSink(app, EDGE_HANDLERS),
        }
        self.positions = dict.fromkeys(self.sinks, 0)

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
    feed = Feed(app)
    feed(
        "inventory",
        *[
            received(
                inventory_pb2.ProductUpserted(sku=sku, name=sku, active=True, price=money(price)),
                "inventory.chain.product.upserted",
                "chain",
            )
            for sku, price in (("sku-a", 250), ("sku-b", 199), ("sku-c", 1000))
        ],
    )
    return feed


@pytest.fixture
def commands(app: Checkout, feed: Feed) -> CheckoutCommands:
    commands = CheckoutCommands(app)
    commands.register_cashier({"store_id": "s001", "cashier_id": "c7", "name": "Ann", "pin": PIN})
    commands.register_cashier(
        {
            "store_id": "s001",
            "cashier_id": "boss",
            "name": "Bea",
            "pin": BOSS_PIN,
            "roles": ["supervisor"],
        }
    )
    commands.open_shift(
        {
            "store_id": "s001",
            "lane_id": "l1",
            "cashier_id": "c7",
            "pin": PIN,
            "float_minor": 50_00,
            "currency": "EUR",
        }
    )
    return commands


def shift_id(commands: CheckoutCommands, lane: str = "l1") -> str:
    shift = commands.app.open_shift_of("s001", lane)
    assert shift is not None
    return str(shift.id)


def new_sale(commands: CheckoutCommands, *lines: tuple[str, int], lane: str = "l1") -> UUID:
    sale_id = uuid4()
    commands.open_sale(
        {
            "sale_id": str(sale_id),
            "store_id": "s001",
            "lane_id": lane,
            "cashier_id": "c7",
            "currency": "EUR",
        }
    )
    for n, (sku, qty) in enumerate(lines, 1):
        commands.add_line({"sale_id": str(sale_id), "line_no": n, "sku": sku, "quantity": qty})
    return sale_id


def cash(commands: CheckoutCommands, sale_id: UUID, amount: int, key: str) -> dict[str, Any]:
    return commands.tender_cash(
        {"sale_id": str(sale_id), "amount_minor": amount, "idempotency_key": key}
    )


def refused(handler: Any, body: dict[str, Any]) -> str:
    with pytest.raises(CommandError) as refusal:
        handler(body)
    return refusal.value.code


def published(app: Checkout, kind: type) -> list[Any]:
    """The integration events of domain events of `kind` in the store."""
    contracts = CheckoutContracts()
    out = []
    for notification in app.recorder.select_notifications(start=1, limit=10_000):
        domain_event = app.mapper.to_domain_event(notification)
        if isinstance(domain_event, kind):
            out.append(contracts.to_integration(domain_event))
    return out


class TestSplitTenders:
    def test_card_then_cash_with_change(
        self, app: Checkout, commands: CheckoutCommands, feed: Feed
    ) -> None:
        sale_id = new_sale(commands, ("sku-a", 2), ("sku-b", 1))  # 699
        feed("payments", captured(sale_id, "p1", 400))
        reply = cash(commands, sale_id, 500, "k1")
        assert reply["sale_status"] == "completed"
        assert reply["change_minor"] == 201
        assert reply["receipt_number"] == "s001-l1-1"
        # The same key again is the same tender: no second cash, no second change.
        assert cash(commands, sale_id, 500, "k1") == reply
        assert (
            refused(
                commands.tender_cash,
                {"sale_id": str(sale_id), "amount_minor": 600, "idempotency_key": "k1"},
            )
            == "conflict"
        )
        view = commands.get_sale({"sale_id": str(sale_id)})
        assert view["paid_minor"] == 900 and view["change_minor"] == 201
        assert (
            sum(t["amount_minor"] for t in view["tenders"])
            == view["total_minor"] + view["change_minor"]
        )
        # The drawer holds the cash kept: 500 in, 201 back out.
        report = commands.x_report({"shift_id": shift_id(commands)})
        assert report["cash_sales_minor"] == 299
        assert report["expected_minor"] == 50_00 + 299
        [event] = published(app, Sale.Completed)
        assert event.subject.startswith("checkout.s001.sale.completed")
        message: Any = event.message
        assert message.change.amount_minor == 201
        assert message.receipt_number == "s001-l1-1"
        assert {(t.kind, t.amount.amount_minor) for t in message.tenders} == {
            ("card", 400),
            ("cash", 500),
        }

    def test_receipt_numbers_count_per_lane(self, commands: CheckoutCommands) -> None:
        numbers = []
        for key in ("a", "b", "c"):
            sale_id = new_sale(commands, ("sku-a", 1))
            numbers.append(cash(commands, sale_id, 250, key)["receipt_number"])
        assert numbers == ["s001-l1-1", "s001-l1-2", "s001-l1-3"]

    def test_gift_card_and_loyalty_tenders_from_events(
        self, commands: CheckoutCommands, feed: Feed
    ) -> None:
        sale_id = new_sale(commands, ("sku-c", 1))  # 1000
        feed("payments", gift_card(sale_id, "gc-op-1", 300))
        feed("payments", gift_card(sale_id, "gc-op-1", 300))  # the same operation again
        feed("crm", points(None, "not-a-sale", 100))  # points not spent on a sale
        feed("crm", points(sale_id, "r9", 200))
        view = commands.get_sale({"sale_id": str(sale_id)})
        assert view["status"] == "open" and view["paid_minor"] == 500
        assert {(t["payment_id"], t["kind"]) for t in view["tenders"]} == {
            ("gc-op-1", "gift_card"),
            ("loyalty:r9", "loyalty"),
        }
        feed("payments", captured(sale_id, "p2", 500, tender="wallet"))
        view = commands.get_sale({"sale_id": str(sale_id)})
        assert view["status"] == "completed" and view["change_minor"] == 0

    def test_decline_leaves_the_sale_open(self, commands: CheckoutCommands, feed: Feed) -> None:
        sale_id = new_sale(commands, ("sku-a", 1))
        feed("payments", declined(sale_id, "p1", 250))
        assert commands.get_sale({"sale_id": str(sale_id)})["status"] == "open"
        assert cash(commands, sale_id, 250, "k")["sale_status"] == "completed"

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            ({"amount_minor": 0}, "invalid"),
            ({"amount_minor": -5}, "invalid"),
            ({"amount_minor": "5"}, "invalid"),
            ({"idempotency_key": ""}, "invalid"),
            ({"sale_id": "nope"}, "invalid"),
            ({"sale_id": str(UUID(int=7))}, "not_found"),
        ],
    )
    def test_cash_refusals(
        self, commands: CheckoutCommands, body: dict[str, Any], code: str
    ) -> None:
        sale_id = new_sale(commands, ("sku-a", 1))
        full = {"sale_id": str(sale_id), "amount_minor": 100, "idempotency_key": "k", **body}
        assert refused(commands.tender_cash, full) == code

    def test_only_cash_may_overpay_and_empty_baskets_take_nothing(
        self, commands: CheckoutCommands
    ) -> None:
        sale_id = new_sale(commands, ("sku-a", 1))
        check = commands.check_tender
        assert (
            refused(check, {"sale_id": str(sale_id), "kind": "card", "amount_minor": 251})
            == "invalid"
        )
        assert (
            refused(check, {"sale_id": str(sale_id), "kind": "bitcoin", "amount_minor": 1})
            == "invalid"
        )
        assert (
            check({"sale_id": str(sale_id), "kind": "card", "amount_minor": 250})["currency"]
            == "EUR"
        )
        empty = new_sale(commands)
        assert (
            refused(
                commands.tender_cash,
                {"sale_id": str(empty), "amount_minor": 100, "idempotency_key": "k"},
            )
            == "invalid"
        )

    def test_a_completed_sale_takes_no_more_cash(self, commands: CheckoutCommands) -> None:
        sale_id = new_sale(commands, ("sku-a", 1))
        cash(commands, sale_id, 250, "k1")
        assert (
            refused(
                commands.tender_cash,
                {"sale_id": str(sale_id), "amount_minor": 100, "idempotency_key": "k2"},
            )
            == "rejected"
        )


class TestForwardedTenderKeys:
    """Tender keys are per sale: the request is recorded on the sale before it is forwarded,
    so a retry is forwarded again whatever the sale has counted since."""

    @staticmethod
    def check(
        commands: CheckoutCommands, sale_id: UUID, key: str, amount: int, kind: str = "card"
    ) -> dict[str, Any]:
        return commands.check_tender(
            {"sale_id": str(sale_id), "kind": kind, "amount_minor": amount, "idempotency_key": key}
        )

    def test_a_retry_is_forwarded_again_even_once_completed(
        self, commands: CheckoutCommands, feed: Feed
    ) -> None:
        sale_id = new_sale(commands, ("sku-a", 2))  # 500
        assert self.check(commands, sale_id, "card-1", 500)["retry"] is False
        assert self.check(commands, sale_id, "card-1", 500)["retry"] is True
        feed("payments", captured(sale_id, "p1", 500))
        assert commands.get_sale({"sale_id": str(sale_id)})["status"] == "completed"
        # Completed: a new tender is refused, the retry still goes through.
        assert refused(lambda b: self.check(commands, sale_id, "card-2", 100), {}) == "rejected"
        assert self.check(commands, sale_id, "card-1", 500)["retry"] is True

    def test_the_same_key_for_another_tender_is_a_conflict(
        self, commands: CheckoutCommands
    ) -> None:
        sale_id = new_sale(commands, ("sku-a", 2))
        self.check(commands, sale_id, "k", 300)
        assert refused(lambda b: self.check(commands, sale_id, "k", 200), {}) == "conflict"
        assert (
            refused(lambda b: self.check(commands, sale_id, "k", 300, "gift_card"), {})
            == "conflict"
        )
        # A refused request leaves nothing behind: the key stays free.
        assert refused(lambda b: self.check(commands, sale_id, "big", 999), {}) == "invalid"
        assert self.check(commands, sale_id, "big", 200)["retry"] is False

    def test_keys_recur_across_sales(self, commands: CheckoutCommands) -> None:
        first, second = new_sale(commands, ("sku-a", 1)), new_sale(commands, ("sku-b", 1))
        assert self.check(commands, first, "card-1", 250)["retry"] is False
        assert self.check(commands, second, "card-1", 199)["retry"] is False

    def test_forwarded_key_is_scoped_by_sale(self) -> None:
        sale_id = uuid4()
        assert forwarded_key(sale_id, "card-1") == f"{sale_id}:card-1"
        assert forwarded_key(uuid4(), "card-1") != forwarded_key(sale_id, "card-1")


class TestLoyaltyOnReceipts:
    def test_points_earned_show_on_receipts_and_copies(
        self, app: Checkout, commands: CheckoutCommands, feed: Feed
    ) -> None:
        sale_id = new_sale(commands, ("sku-c", 1))
        commands.attach_customer({"sale_id": str(sale_id), "customer_id": "cu1"})
        cash(commands, sale_id, 10_00, "cash-1")
        before = commands.receipt({"sale_id": str(sale_id)})["text"]
        assert "Points earned" not in before and "Loyalty points balance" not in before
        feed("crm", earned(sale_id, 10, 130), earned(sale_id, 10, 130))
        feed("crm", earned(sale_id, 99, 999))  # a later copy changes nothing
        view = commands.get_sale({"sale_id": str(sale_id)})
        assert (view["loyalty_points"], view["loyalty_balance"]) == (10, 130)
        stored = list(app.events.get(sale_id))
        assert sum(isinstance(e, Sale.LoyaltyRecorded) for e in stored) == 1
        for body in ({}, {"copy": True}, {"format": "html"}):
            printed = commands.receipt({"sale_id": str(sale_id), **body})
            shown = printed.get("text") or printed["html"]
            assert "Points earned" in shown and "130" in shown
        copy = commands.receipt({"sale_id": str(sale_id), "copy": True})["text"]
        assert "COPY" in copy
        assert any(
            ln.startswith("Loyalty points balance") and ln.endswith(" 130")
            for ln in copy.splitlines()
        )

    def test_points_for_unknown_or_no_sale_are_ignored(
        self, commands: CheckoutCommands, feed: Feed
    ) -> None:
        feed("crm", earned(uuid4(), 5, 5), earned("", 5, 5), earned("not-a-uuid", 5, 5))
        sale_id = new_sale(commands, ("sku-a", 1))
        feed("crm", earned(sale_id, 2, 7))
        assert commands.get_sale({"sale_id": str(sale_id)})["loyalty_balance"] == 7

    def test_record_loyalty_refuses_nonsense(self) -> None:
        sale = Sale(id=uuid4(), store_id="s001", lane_id="l1", cashier_id="c7", currency="EUR")
        with pytest.raises(SaleError):
            sale.record_loyalty("cu1", -1, 5)
        assert sale.record_loyalty("cu1", 3, 5) is True
        assert sale.record_loyalty("cu1", 3, 5) is False


class TestVoidSuspendResume:
    def test_void_gives_back_cash_and_lists_tenders(
        self, app: Checkout, commands: CheckoutCommands, feed: Feed
    ) -> None:
        sale_id = new_sale(commands, ("sku-a", 1), ("sku-b", 1))  # 449
        cash(commands, sale_id, 100, "k1")
        feed("payments", captured(sale_id, "p1", 200))
        reply = commands.void({"sale_id": str(sale_id), "reason": "customer left"})
        assert reply["cash_back_minor"] == 100
        assert {t["payment_id"] for t in reply["tenders"]} == {"cash:k1", "p1"}
        report = commands.x_report({"shift_id": shift_id(commands)})
        assert report["cash_sales_minor"] == 0
        assert commands.get_sale({"sale_id": str(sale_id)})["status"] == "voided"
        [event] = published(app, Sale.Voided)
        message: Any = event.message
        assert isinstance(message, checkout_pb2.SaleVoided)
        assert message.reason == "customer left" and len(message.tenders) == 2
        # A voided sale takes nothing more; a late capture is kept as excess.
        assert (
            refused(
                commands.tender_cash,
                {"sale_id": str(sale_id), "amount_minor": 5, "idempotency_key": "k2"},
            )
            == "rejected"
        )
        feed("payments", captured(sale_id, "p-late", 49))

    def test_void_above_threshold_needs_a_supervisor(self, commands: CheckoutCommands) -> None:
        sale_id = new_sale(commands, ("sku-c", 11))  # 110.00 > 100.00
        body = {"sale_id": str(sale_id), "reason": "wrong basket"}
        assert refused(commands.void, body) == "approval_required"
        assert (
            refused(commands.void, {**body, "supervisor_id": "boss", "supervisor_pin": "0000"})
            == "bad_pin"
        )
        assert (
            refused(commands.void, {**body, "supervisor_id": "c7", "supervisor_pin": PIN})
            == "permission_required"
        )
        assert refused(commands.void, {**body, "reason": ""}) == "invalid"
        reply = commands.void({**body, "supervisor_id": "boss", "supervisor_pin": BOSS_PIN})
        assert reply["status"] == "voided"

    def test_suspend_and_resume_on_another_lane(self, commands: CheckoutCommands) -> None:
        first = new_sale(commands, ("sku-a", 1))
        second = new_sale(commands, ("sku-b", 1))
        for sale_id in (first, second):  # a lane parks several
            assert commands.suspend({"sale_id": str(sale_id)})["status"] == "suspended"
        assert (
            refused(
                commands.tender_cash,
                {"sale_id": str(first), "amount_minor": 250, "idempotency_key": "k"},
            )
            == "suspended"
        )
        assert (
            refused(
                commands.add_line,
                {"sale_id": str(first), "line_no": 2, "sku": "sku-a", "quantity": 1},
            )
            == "rejected"
        )
        parked = commands.list_sales({"store_id": "s001", "status": "suspended"})
        assert {s["sale_id"] for s in parked["sales"]} == {str(first), str(second)}
        body = {"sale_id": str(first), "store_id": "s001", "lane_id": "l2", "cashier_id": "c7"}
        assert refused(commands.resume, body) == "no_shift"
        commands.close_shift({"shift_id": shift_id(commands), "counted": {"5000": 1}})
        commands.open_shift(
            {
                "store_id": "s001",
                "lane_id": "l2",
                "cashier_id": "c7",
                "pin": PIN,
                "float_minor": 0,
                "currency": "EUR",
            }
        )
        assert refused(commands.resume, {**body, "store_id": "s002"}) == "no_shift"
        view = commands.resume(body)
        assert view["status"] == "open" and view["lane_id"] == "l2"
        assert cash(commands, first, 300, "k")["receipt_number"] == "s001-l2-1"
        assert refused(commands.suspend, {"sale_id": "x"}) == "invalid"

    def test_a_sale_with_tenders_cannot_be_parked(
        self, commands: CheckoutCommands, feed: Feed
    ) -> None:
        sale_id = new_sale(commands, ("sku-c", 1))
        feed("payments", captured(sale_id, "p1", 100))
        assert refused(commands.suspend, {"sale_id": str(sale_id)}) == "rejected"


class TestReturns:
    def completed_sale(self, commands: CheckoutCommands, feed: Feed) -> UUID:
        sale_id = new_sale(commands, ("sku-a", 3), ("sku-b", 2))  # 750 + 398 = 1148
        feed("payments", captured(sale_id, "p1", 1000))
        cash(commands, sale_id, 200, "k1")  # 52 change
        return sale_id

    def ret(
        self, commands: CheckoutCommands, original: str, *lines: dict[str, Any], **extra: Any
    ) -> dict[str, Any]:
        return commands.return_goods(
            {
                "return_id": str(uuid4()),
                "store_id": "s001",
                "lane_id": "l1",
                "cashier_id": "c7",
                "original": original,
                "lines": list(lines),
                **extra,
            }
        )

    def test_partial_returns_never_exceed_what_was_sold(
        self, app: Checkout, commands: CheckoutCommands, feed: Feed
    ) -> None:
        sale_id = self.completed_sale(commands, feed)
        first = self.ret(commands, str(sale_id), {"line_no": 1, "quantity": 1})
        assert first["total_minor"] == 250
        # Card first: the original card tender refunds, the drawer is untouched.
        assert first["refunds"] == [{"payment_id": "p1", "kind": "card", "amount_minor": 250}]
        receipt = commands.get_sale({"sale_id": str(sale_id)})["receipt_number"]
        second = self.ret(
            commands,
            receipt,
            {"line_no": 1, "quantity": 2},
            {"line_no": 2, "quantity": 2, "restock": False},
        )
        assert second["total_minor"] == 898
        # 750 left on the card, then the cash kept (148).
        assert second["refunds"] == [
            {"payment_id": "p1", "kind": "card", "amount_minor": 750},
            {"payment_id": "cash:k1", "kind": "cash", "amount_minor": 148},
        ]
        assert second["cash_back_minor"] == 148
        with pytest.raises(CommandError) as refusal:
            self.ret(commands, str(sale_id), {"line_no": 1, "quantity": 1})
        assert refusal.value.code == "invalid" and "only 0 left" in str(refusal.value)
        report = commands.x_report({"shift_id": shift_id(commands)})
        assert report["cash_refunds_minor"] == 148
        events = published(app, Return.Completed)
        assert [e.subject for e in events] == ["checkout.s001.return.completed"] * 2
        message: Any = events[1].message
        assert isinstance(message, checkout_pb2.ReturnCompleted)
        assert message.original_sale_id == str(sale_id)
        assert [(ln.line_no, ln.restock) for ln in message.lines] == [(1, True), (2, False)]
        assert sum(r.amount.amount_minor for r in message.refunds) == 898

    def test_return_refusals(self, commands: CheckoutCommands, feed: Feed) -> None:
        sale_id = self.completed_sale(commands, feed)
        open_one = new_sale(commands, ("sku-a", 1))
        cases = [
            (str(sale_id), [{"line_no": 9, "quantity": 1}], "invalid"),
            (str(sale_id), [{"line_no": 1, "quantity": 4}], "invalid"),
            (str(sale_id), [{"line_no": 1, "quantity": 0}], "invalid"),
            (str(sale_id), [{"line_no": 1}], "invalid"),
            (str(sale_id), [], "invalid"),
            (str(open_one), [{"line_no": 1, "quantity": 1}], "invalid"),
            ("s001-l1-999", [{"line_no": 1, "quantity": 1}], "not_found"),
        ]
        for original, lines, code in cases:
            body = {
                "return_id": str(uuid4()),
                "store_id": "s001",
                "lane_id": "l1",
                "cashier_id": "c7",
                "original": original,
                "lines": lines,
            }
            assert refused(commands.return_goods, body) == code, (original, lines)

    def test_without_receipt_needs_permission_and_supervisor(
        self, commands: CheckoutCommands
    ) -> None:
        small = {
            "return_id": str(uuid4()),
            "store_id": "s001",
            "lane_id": "l1",
            "cashier_id": "c7",
            "lines": [{"sku": "sku-a", "quantity": 1}],
        }
        assert refused(commands.return_goods, small) == "permission_required"
        reply = commands.return_goods({**small, "permission": True})
        assert reply["refunds"][0]["kind"] == "cash" and reply["cash_back_minor"] == 250
        # The same return id again is the same return (no second refund).
        assert commands.return_goods({**small, "permission": True}) == reply
        big = {
            **small,
            "return_id": str(uuid4()),
            "permission": True,
            "lines": [{"sku": "sku-c", "quantity": 6}],
        }
        assert refused(commands.return_goods, big) == "approval_required"
        approved = {**big, "supervisor_id": "boss", "supervisor_pin": BOSS_PIN}
        # The drawer holds 47.50: it cannot pay 60.00 back until cash is paid in.
        assert refused(commands.return_goods, approved) == "insufficient_cash"
        commands.pay_in(
            {"shift_id": shift_id(commands), "amount_minor": 20_00, "reason": "from the safe"}
        )
        reply = commands.return_goods(approved)
        assert reply["approved_by"] == "boss" and reply["total_minor"] == 60_00

    def test_receipts_of_returns_and_of_numbered_sales(
        self, commands: CheckoutCommands, feed: Feed
    ) -> None:
        sale_id = self.completed_sale(commands, feed)
        sale_receipt = commands.receipt({"sale_id": str(sale_id)})
        assert sale_receipt["receipt_number"] == "s001-l1-1"
        assert "Change" in sale_receipt["text"]
        reply = self.ret(commands, str(sale_id), {"line_no": 2, "quantity": 1, "restock": False})
        assert reply["receipt_number"] == "s001-l1-2"
        text = commands.return_receipt({"return_id": reply["return_id"]})["text"]
        assert "*** RETURN ***" in text and "s001-l1-2" in text and "(damaged)" in text
        assert str(sale_id)[:20] in text
        html = commands.return_receipt(
            {"return_id": reply["return_id"], "format": "html", "copy": True}
        )["html"]
        assert "*** COPY ***" in html
        escpos = commands.return_receipt({"return_id": reply["return_id"], "format": "escpos"})[
            "escpos_b64"
        ]
        assert escpos
        assert refused(commands.return_receipt, {"return_id": str(uuid4())}) == "not_found"
        assert (
            refused(commands.return_receipt, {"return_id": reply["return_id"], "format": "pdf"})
            == "invalid"
        )

    def test_exchange_links_the_new_sale(self, commands: CheckoutCommands, feed: Feed) -> None:
        sale_id = self.completed_sale(commands, feed)
        new_one = new_sale(commands, ("sku-c", 1))
        reply = self.ret(
            commands, str(sale_id), {"line_no": 2, "quantity": 1}, exchange_sale_id=str(new_one)
        )
        assert reply["exchange_sale_id"] == str(new_one)


class TestOfflineIngest:
    def offline(self, sale_id: UUID) -> ReceivedEvent:
        return received(
            edge_pb2.OfflineSaleCompleted(
                sale_id=str(sale_id),
                store_id="s001",
                lane_id="l3",
                cashier_id="c7",
                currency="EUR",
                lines=[
                    common_pb2.SaleLine(
                        line_no=1,
                        sku="sku-a",
                        quantity=2,
                        unit_price=money(250),
                        line_total=money(500),
                    )
                ],
                tenders=[
                    common_pb2.SaleTender(payment_id="cash:o1", kind="cash", amount=money(1000))
                ],
                subtotal=money(500),
                discount_total=money(0),
                tax_total=money(83),
                total=money(500),
                change=money(500),
                receipt_number="s001-l3-77",
                completed_at_ms=1_700_000_000_000,
            ),
            "edge.s001.sale.offline_completed",
        )

    def test_once_per_sale_id(self, app: Checkout, commands: CheckoutCommands, feed: Feed) -> None:
        sale_id = uuid4()
        feed("edge", self.offline(sale_id))
        feed("edge", self.offline(sale_id))  # a second copy from the store
        view = commands.get_sale({"sale_id": str(sale_id)})
        assert view["status"] == "completed" and view["offline"] is True
        assert view["total_minor"] == 500 and view["change_minor"] == 500
        [event] = published(app, Sale.Ingested)  # offline: created complete
        message: Any = event.message
        assert message.offline and message.receipt_number == "s001-l3-77"
        assert message.change.amount_minor == 500
        # It takes returns like any sale, found by the store's receipt number.
        back = commands.return_goods(
            {
                "return_id": str(uuid4()),
                "store_id": "s001",
                "lane_id": "l1",
                "cashier_id": "c7",
                "original": "s001-l3-77",
                "lines": [{"line_no": 1, "quantity": 2}],
            }
        )
        assert back["total_minor"] == 500 and back["tax_minor"] == 83


def test_an_inconsistent_offline_sale_is_refused(feed: Feed) -> None:
    """Tenders that do not cover total + change: raised, so the consumer dead-letters it."""
    bad = TestOfflineIngest().offline(uuid4())
    message: Any = bad.message
    message.change.amount_minor = 1
    with pytest.raises(SaleError, match="tenders"):
        feed("edge", bad)
