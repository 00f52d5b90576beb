"""Loyalty points as a checkout tender, returns and voids, and erasure on the bus (crm)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crm.application import Customers
from crm.bus import command_handlers, on_return_completed, on_sale_completed, on_sale_voided
from crm.contracts import CrmContracts
from crm.domainmodel import Customer, LoyaltyAccount, PurchaseHistory
from crm.main import build_application
from crm.pii import PiiVault
from tillstream.codec import ReceivedEvent
from tillstream.consumer import Delivery, EventSourcedSink, UnitOfWork
from tillstream.events.v1 import checkout_pb2, common_pb2, crm_pb2
from tillstream.eventstore import event_store_env
from tillstream.service import CommandError
from tillstream.testing import test_settings as settings_for_test

STORE = "s001"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Customers]:
    app = build_application(settings_for_test(tmp_path))
    yield app
    app.close()


def money(amount: int, currency: str = "EUR") -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount, currency=currency)


def received(message: Any, subject: str, position: int = 1) -> ReceivedEvent:
    return ReceivedEvent(
        event_type=message.DESCRIPTOR.full_name,
        message=message,
        subject=subject,
        store_id=STORE,
        occurred_at="2026-01-01T00:00:00+00:00",
        msg_id=f"checkout:{position}",
        headers={},
    )


def apply(app: Customers, *events: ReceivedEvent) -> None:
    uow = UnitOfWork(app)
    for event in events:
        handler = {
            "tillstream.events.v1.SaleCompleted": on_sale_completed,
            "tillstream.events.v1.ReturnCompleted": on_return_completed,
            "tillstream.events.v1.SaleVoided": on_sale_voided,
        }[event.event_type]
        handler(event, uow)
    changed = [a for a in uow.aggregates.values() if a.pending_events]
    if changed:
        app.save(*changed)


def sale(sale_id: str, customer_id: str, total: int) -> ReceivedEvent:
    return received(
        checkout_pb2.SaleCompleted(
            sale_id=sale_id,
            store_id=STORE,
            customer_id=customer_id,
            total=money(total),
            lines=[common_pb2.SaleLine(line_no=1, sku="SKU-1", quantity=2)],
            completed_at_ms=1_767_225_600_000,
        ),
        f"checkout.{STORE}.sale.completed",
    )


def with_points(app: Customers, points_eur: int, card: str = "LC0001") -> str:
    customer_id = str(app.register_customer(card, "Ana", STORE, email="ana@example.com"))
    apply(app, sale(f"earn-{card}", customer_id, points_eur * 100))
    return customer_id


def redeem_body(
    customer_id: str, amount: int, key: str = "k1", sale_id: str = "sale-9"
) -> dict[str, Any]:
    return {
        "store_id": STORE,
        "sale_id": sale_id,
        "customer_id": customer_id,
        "amount_minor": amount,
        "currency": "EUR",
        "idempotency_key": key,
    }


class TestRedeemAsTender:
    def test_approved_converts_money_to_points(self, app: Customers) -> None:
        customer_id = with_points(app, 50)  # 50 points at the base tier
        redeem = command_handlers(app)["redeem_points"]
        answer = redeem(redeem_body(customer_id, 30))
        assert answer == {"status": "approved", "points": 30, "balance": 20}
        assert app.loyalty_balance(customer_id).balance == 20

    def test_insufficient_points_is_declined_not_raised(self, app: Customers) -> None:
        customer_id = with_points(app, 5)
        answer = command_handlers(app)["redeem_points"](redeem_body(customer_id, 6))
        assert answer["status"] == "declined"
        assert "balance is 5" in answer["reason"]
        assert app.loyalty_balance(customer_id).balance == 5

    def test_no_account_is_declined(self, app: Customers) -> None:
        answer = command_handlers(app)["redeem_points"](redeem_body("nobody", 1))
        assert answer["status"] == "declined"

    def test_same_key_same_body_same_answer(self, app: Customers) -> None:
        customer_id = with_points(app, 50)
        redeem = command_handlers(app)["redeem_points"]
        first = redeem(redeem_body(customer_id, 30))
        assert redeem(redeem_body(customer_id, 30)) == first
        assert app.loyalty_balance(customer_id).balance == 20  # spent once

    def test_same_key_other_body_is_a_conflict(self, app: Customers) -> None:
        customer_id = with_points(app, 50)
        redeem = command_handlers(app)["redeem_points"]
        redeem(redeem_body(customer_id, 30))
        with pytest.raises(CommandError) as refused:
            redeem(redeem_body(customer_id, 31))
        assert refused.value.code == "conflict"

    @pytest.mark.parametrize(
        "change",
        [
            {"amount_minor": 0},
            {"amount_minor": -5},
            {"amount_minor": "10"},
            {"currency": "eur"},
            {"idempotency_key": ""},
            {"sale_id": ""},
        ],
    )
    def test_bad_input_is_invalid(self, app: Customers, change: dict[str, Any]) -> None:
        customer_id = with_points(app, 50)
        with pytest.raises(CommandError) as refused:
            command_handlers(app)["redeem_points"]({**redeem_body(customer_id, 1), **change})
        assert refused.value.code == "invalid"

    def test_event_carries_sale_and_amount(self, app: Customers) -> None:
        customer_id = with_points(app, 50)
        command_handlers(app)["redeem_points"](redeem_body(customer_id, 30, key="tender-7"))
        account: LoyaltyAccount = app.repository.get(LoyaltyAccount.create_id(customer_id))
        events = [
            e
            for e in app.repository.event_store.get(account.id)
            if isinstance(e, LoyaltyAccount.PointsRedeemedForSale)
        ]
        assert len(events) == 1
        redeemed = CrmContracts().to_integration(events[0])
        assert redeemed is not None
        message = redeemed.message
        assert isinstance(message, crm_pb2.LoyaltyPointsRedeemed)
        assert (message.sale_id, message.reference, message.points) == ("sale-9", "tender-7", 30)
        assert (message.amount.amount_minor, message.amount.currency) == (30, "EUR")


def test_concurrent_redemptions_never_overdraw(tmp_path: Path) -> None:
    """Two application instances on one event store (two replicas) race 40 redemptions of 10
    points against a 100-point balance: exactly 10 are approved, the balance ends at 0."""
    settings = settings_for_test(tmp_path)
    env = {**event_store_env(settings, "crm"), "AGGREGATE_CACHE_FASTFORWARD": "y"}
    apps = [Customers(env=env, vault=PiiVault.from_settings(settings, "crm")) for _ in range(2)]
    try:
        customer_id = with_points(apps[0], 100)
        answers: list[dict[str, Any]] = []
        lock = threading.Lock()

        def worker(n: int) -> None:
            for i in range(20):
                answer = apps[n].redeem_for_sale(
                    STORE, f"sale-{n}-{i}", customer_id, 10, "EUR", f"key-{n}-{i}"
                )
                with lock:
                    answers.append(answer)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        approved = [a for a in answers if a["status"] == "approved"]
        assert len(answers) == 40
        assert len(approved) == 10
        assert sorted(a["balance"] for a in approved) == list(range(0, 100, 10))
        assert apps[1].loyalty_balance(customer_id).balance == 0
    finally:
        for each in apps:
            each.close()


def returned(
    return_id: str, customer_id: str, total: int, refunds: list[Any], original: str = "earn-LC0001"
) -> ReceivedEvent:
    return received(
        checkout_pb2.ReturnCompleted(
            return_id=return_id,
            store_id=STORE,
            original_sale_id=original,
            customer_id=customer_id,
            total=money(total),
            refunds=refunds,
            lines=[
                checkout_pb2.ReturnLine(
                    line_no=1, sku="SKU-1", quantity=1, amount=money(total), restock=True
                )
            ],
        ),
        f"checkout.{STORE}.return.completed",
    )


class TestReturnsAndVoids:
    def test_partial_return_reverses_points_on_the_returned_amount(self, app: Customers) -> None:
        customer_id = with_points(app, 100)  # 100 points on 100.00 EUR
        cash = common_pb2.SaleTender(payment_id="cash-1", kind="cash", amount=money(2500))
        apply(app, returned("r1", customer_id, 2500, [cash]))
        assert app.loyalty_balance(customer_id).balance == 75
        apply(app, returned("r1", customer_id, 2500, [cash]))  # redelivered
        assert app.loyalty_balance(customer_id).balance == 75
        page = app.history(customer_id)  # purchase history net of the return
        assert (page.totals, page.favourites) == ({"EUR": 7500}, [{"sku": "SKU-1", "quantity": 1}])
        apply(app, returned("r2", customer_id, 7500, [cash]))  # the rest comes back
        balance = app.loyalty_balance(customer_id)
        assert (balance.balance, balance.reversed_total) == (0, 100)
        page = app.history(customer_id)
        assert (page.sale_count, page.totals, page.favourites) == (1, {"EUR": 0}, [])

    def test_loyalty_refund_is_credited_back_once(self, app: Customers) -> None:
        customer_id = with_points(app, 100)
        command_handlers(app)["redeem_points"](redeem_body(customer_id, 40, key="t1"))
        assert app.loyalty_balance(customer_id).balance == 60
        refund = common_pb2.SaleTender(payment_id="loyalty:t1", kind="loyalty", amount=money(40))
        # A return of the paid-with-points sale (which earned nothing here): no customer on
        # the return, the redemption says whose points they were.
        event = returned("r9", "", 40, [refund], original="sale-9")
        apply(app, event)
        apply(app, event)
        assert app.loyalty_balance(customer_id).balance == 100

    def test_void_recredits_loyalty_tenders(self, app: Customers) -> None:
        customer_id = with_points(app, 100)
        command_handlers(app)["redeem_points"](redeem_body(customer_id, 25, key="t2"))
        void = received(
            checkout_pb2.SaleVoided(
                sale_id="sale-9",
                store_id=STORE,
                customer_id=customer_id,
                reason="mistake",
                tenders=[
                    common_pb2.SaleTender(
                        payment_id="loyalty:t2", kind="loyalty", amount=money(25)
                    ),
                    common_pb2.SaleTender(payment_id="p1", kind="card", amount=money(5)),
                ],
            ),
            f"checkout.{STORE}.sale.voided",
        )
        apply(app, void)
        apply(app, void)
        assert app.loyalty_balance(customer_id).balance == 100

    def test_redelivery_through_the_sink_changes_nothing(self, app: Customers) -> None:
        customer_id = with_points(app, 100)
        sink = EventSourcedSink(
            app,
            {
                "tillstream.events.v1.ReturnCompleted": on_return_completed,
            },
        )
        event = returned("r1", customer_id, 5000, [])
        sink.apply("checkout.p0", [Delivery(7, event)])
        # The same return again at a later position (a second copy) takes nothing more.
        sink.apply("checkout.p0", [Delivery(8, event)])
        assert sink.position("checkout.p0") == 8
        assert app.loyalty_balance(customer_id).balance == 50


class TestErasure:
    def test_erase_publishes_customer_erased_and_drops_history(self, app: Customers) -> None:
        customer_id = with_points(app, 10)
        assert app.history(customer_id).sale_count == 1
        command_handlers(app)["erase"]({"customer_id": customer_id})
        customer: Customer = app.repository.get(Customer.create_id("LC0001"))
        events = [
            e for e in app.repository.event_store.get(customer.id) if isinstance(e, Customer.Erased)
        ]
        erased = CrmContracts().to_integration(events[0])
        assert erased is not None
        assert erased.subject == f"crm.{STORE}.customer.erased"
        assert isinstance(erased.message, crm_pb2.CustomerErased)
        assert erased.message.customer_id == customer_id
        assert erased.message.erased_at_ms > 0
        page = app.history(customer_id)
        assert (page.sale_count, page.sales, page.totals, page.last_visit) == (0, [], {}, None)
        history: PurchaseHistory = app.repository.get(PurchaseHistory.create_id(customer_id))
        assert history.erased
        # A later sale naming the erased customer is not recorded in the history.
        apply(app, sale("after", customer_id, 1000))
        assert app.history(customer_id).sale_count == 0
