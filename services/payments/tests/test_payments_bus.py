"""Payments on the bus: command handlers, the contracts, and the service on a real NATS."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from payments.acquirer import SimulatedAcquirer
from payments.application import Payments
from payments.bus import HANDLERS, PaymentsCommands
from payments.contracts import PaymentsContracts
from payments.domainmodel import PREAUTH, Card, CardTokenizer, GiftCard, Payment
from payments.main import build, build_application, card_token_key
from tillstream.bus import connect, wait_for
from tillstream.events.v1 import payments_pb2
from tillstream.natsserver import NatsServer
from tillstream.service import CommandError, ServiceHost
from tillstream.testing import ask_service, card_number, test_settings

VISA = card_number("411111", ending="1111")
DECLINE_51 = card_number("400000", ending="0051")


def body(key: str = "k1", **overrides: Any) -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "sale_id": "sale-1",
        "store_id": "s001",
        "amount_minor": 1250,
        "currency": "EUR",
        "pan": VISA,
        "expiry": "12/30",
        **overrides,
    }


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Payments]:
    app = build_application(
        test_settings(tmp_path), SimulatedAcquirer(today=lambda: date(2025, 6, 15))
    )
    yield app
    app.close()


@pytest.fixture
def commands(app: Payments) -> PaymentsCommands:
    return PaymentsCommands(app)


class TestPaymentsCommands:
    def test_authorize_approved_reply(self, commands: PaymentsCommands) -> None:
        reply = commands.authorize(body())
        assert set(reply) == {
            "payment_id",
            "status",
            "response_code",
            "auth_code",
            "masked_pan",
            "reason",
        }
        assert (reply["status"], reply["response_code"], reply["masked_pan"]) == (
            "approved",
            "00",
            "411111******1111",
        )
        assert commands.authorize(body()) == reply
        json.dumps(reply)

    def test_authorize_declined_reply(self, commands: PaymentsCommands) -> None:
        reply = commands.authorize(body(pan=DECLINE_51))
        assert (reply["status"], reply["response_code"], reply["auth_code"]) == (
            "declined",
            "51",
            "",
        )

    @pytest.mark.parametrize(
        "change",
        [
            {"pan": "4111111111111112"},
            {"pan": ""},
            {"expiry": "1230"},
            {"amount_minor": "12"},
            {"amount_minor": 0},
            {"amount_minor": True},
            {"currency": "eur"},
            {"store_id": ""},
            {"idempotency_key": None},
        ],
    )
    def test_authorize_invalid(
        self, commands: PaymentsCommands, app: Payments, change: dict[str, Any]
    ) -> None:
        with pytest.raises(CommandError) as refused:
            commands.authorize(body(**change))
        assert refused.value.code == "invalid"
        assert VISA not in str(refused.value)
        assert app.events_stored() == 0

    def test_authorize_conflict(self, commands: PaymentsCommands) -> None:
        commands.authorize(body())
        with pytest.raises(CommandError) as refused:
            commands.authorize(body(amount_minor=99))
        assert refused.value.code == "conflict"

    def test_summary_reply(self, commands: PaymentsCommands) -> None:
        commands.authorize(body("k1"))
        commands.authorize(body("k2", currency="USD", amount_minor=5))
        commands.authorize(body("k3", pan=DECLINE_51))
        assert commands.summary({}) == {
            "captured_count": 2,
            "captured_total_minor_by_currency": {"EUR": 1250, "USD": 5},
            "declined_count": 1,
        }

    def test_no_pan_in_logs(
        self, commands: PaymentsCommands, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.DEBUG):
            commands.authorize(body("k1"))
            commands.authorize(body("k2", pan=DECLINE_51))
            with pytest.raises(CommandError):
                commands.authorize(body("k3", pan="4111111111111112"))
        assert VISA not in caplog.text and DECLINE_51 not in caplog.text

    def test_consumes_returns_voids_sales_and_terminal_approvals(self) -> None:
        assert {name.rsplit(".", 1)[-1] for name in HANDLERS} == {
            "ReturnCompleted",
            "SaleVoided",
            "SaleCompleted",
            "TerminalApproval",
        }


GIFT = "6000123412345678"


class TestLifecycleCommands:
    def preauth(self, commands: PaymentsCommands, key: str = "p1") -> str:
        reply = commands.preauthorize(body(key, amount_minor=1000))
        assert (reply["status"], reply["kind"], reply["authorized_minor"]) == (
            "authorized",
            "preauth",
            1000,
        )
        return str(reply["payment_id"])

    def test_preauth_increment_tip_capture_refund(self, commands: PaymentsCommands) -> None:
        payment_id = self.preauth(commands)
        reply = commands.increment(
            {"payment_id": payment_id, "operation_key": "i1", "increment_minor": 200}
        )
        assert (reply["authorized_minor"], reply["operation"]) == (1200, "increment")
        commands.adjust_tip({"payment_id": payment_id, "operation_key": "t1", "tip_minor": 100})
        reply = commands.capture({"payment_id": payment_id, "operation_key": "c1"})
        assert (reply["status"], reply["captured_minor"], reply["operation_amount_minor"]) == (
            "approved",
            1300,
            1300,
        )
        reply = commands.refund(
            {"payment_id": payment_id, "operation_key": "r1", "amount_minor": 300}
        )
        assert reply["refunded_minor"] == 300
        assert commands.get_payment({"payment_id": payment_id})["refunded_minor"] == 300
        json.dumps(reply)

    def test_void_and_reverse(self, commands: PaymentsCommands) -> None:
        payment_id = self.preauth(commands)
        reply = commands.void({"payment_id": payment_id, "operation_key": "v1"})
        assert reply["status"] == "voided"
        with pytest.raises(CommandError) as refused:
            commands.reverse({"payment_id": payment_id, "operation_key": "x1"})
        assert refused.value.code == "rejected"

    def test_unreferenced_refund(self, commands: PaymentsCommands) -> None:
        with pytest.raises(CommandError) as refused:
            commands.refund({**body("u1"), "unreferenced": True})
        assert refused.value.code == "rejected"
        reply = commands.refund({**body("u1"), "unreferenced": True, "permitted": True})
        assert (reply["status"], reply["kind"]) == ("refunded", "refund")
        with pytest.raises(CommandError) as refused:
            commands.refund({**body("u2"), "unreferenced": "yes", "permitted": True})
        assert refused.value.code == "invalid"

    @pytest.mark.parametrize(
        ("command", "extra", "code"),
        [
            ("capture", {"amount_minor": 1201}, "rejected"),
            ("capture", {"amount_minor": "12"}, "invalid"),
            ("capture", {"amount_minor": 0}, "invalid"),
            ("increment", {"increment_minor": -1}, "invalid"),
            ("adjust_tip", {"tip_minor": 500}, "rejected"),
            ("refund", {"amount_minor": 1}, "rejected"),
            ("reverse", {"reason": 5}, "invalid"),
            ("void", {"operation_key": ""}, "invalid"),
            ("void", {"payment_id": "not-a-uuid"}, "invalid"),
        ],
    )
    def test_refusals(
        self, commands: PaymentsCommands, command: str, extra: dict[str, Any], code: str
    ) -> None:
        payment_id = self.preauth(commands)
        handler = commands.handlers()[command]
        with pytest.raises(CommandError) as refused:
            handler(
                {
                    "payment_id": payment_id,
                    "operation_key": "o1",
                    "increment_minor": 1,
                    "tip_minor": 1,
                    "amount_minor": 1,
                    **extra,
                }
            )
        assert refused.value.code == code

    def test_not_found_and_conflict(self, commands: PaymentsCommands) -> None:
        with pytest.raises(CommandError) as refused:
            commands.get_payment({"payment_id": "00000000-0000-0000-0000-000000000000"})
        assert refused.value.code == "not_found"
        payment_id = self.preauth(commands)
        commands.void({"payment_id": payment_id, "operation_key": "v1"})
        with pytest.raises(CommandError) as refused:
            commands.void({"payment_id": payment_id, "operation_key": "v1", "reason": "x"})
        assert refused.value.code == "conflict"

    def test_gift_card_commands(self, commands: PaymentsCommands) -> None:
        card = {"number": GIFT, "store_id": "s001"}
        reply = commands.activate_gift_card(
            {**card, "operation_key": "a1", "currency": "EUR", "amount_minor": 1000}
        )
        assert (reply["status"], reply["balance_minor"], reply["masked_number"]) == (
            "active",
            1000,
            "************5678",
        )
        assert GIFT not in json.dumps(reply)
        commands.load_gift_card({**card, "operation_key": "l1", "amount_minor": 500})
        reply = commands.redeem_gift_card(
            {**card, "operation_key": "x1", "sale_id": "sale-1", "amount_minor": 1500}
        )
        assert reply["balance_minor"] == 0
        with pytest.raises(CommandError) as refused:
            commands.redeem_gift_card(
                {**card, "operation_key": "x2", "sale_id": "sale-1", "amount_minor": 1}
            )
        assert refused.value.code == "insufficient_funds"
        assert GIFT not in str(refused.value)
        with pytest.raises(CommandError) as refused:
            commands.load_gift_card(
                {**card, "operation_key": "l9", "amount_minor": 1, "currency": "USD"}
            )
        assert refused.value.code == "invalid"
        commands.refund_gift_card(
            {**card, "operation_key": "f1", "sale_id": "sale-1", "amount_minor": 200}
        )
        assert commands.block_gift_card({**card, "operation_key": "b1"})["status"] == "blocked"
        with pytest.raises(CommandError) as refused:
            commands.load_gift_card({**card, "operation_key": "l2", "amount_minor": 1})
        assert refused.value.code == "rejected"
        assert commands.gift_card_balance({"number": GIFT})["balance_minor"] == 200
        with pytest.raises(CommandError) as refused:
            commands.gift_card_balance({"number": "6000000000000000"})
        assert refused.value.code == "not_found"
        with pytest.raises(CommandError) as refused:
            commands.gift_card_balance({"number": "12"})
        assert refused.value.code == "invalid"

    def test_every_command_is_registered(self, commands: PaymentsCommands) -> None:
        assert set(commands.handlers()) == {
            "authorize",
            "preauthorize",
            "increment",
            "capture",
            "adjust_tip",
            "void",
            "refund",
            "reverse",
            "get_payment",
            "activate_gift_card",
            "load_gift_card",
            "redeem_gift_card",
            "refund_gift_card",
            "block_gift_card",
            "gift_card_balance",
            "summary",
            "pending_payments",
            "retry_reversals",
            "rotate_vault_key",
            "send_advices",
            "send_refunds",
            "close_batch",
            "reconcile",
            "get_reconciliation",
        }


class TestPaymentsContracts:
    contracts = PaymentsContracts()

    def payment(self) -> Payment:
        card = Card.from_pan(VISA, "12/30", CardTokenizer(b"k" * 32))
        return Payment.request("s007", "k1", "sale-9", 1250, "EUR", card, "hash")

    def test_requested_is_private(self) -> None:
        (requested,) = self.payment().collect_events()
        assert self.contracts.to_integration(requested) is None

    def test_captured(self) -> None:
        payment = self.payment()
        payment.capture("123456", "000000000042")
        integration = self.contracts.to_integration(payment.collect_events()[-1])
        assert integration is not None
        assert integration.subject == "payments.s007.payment.captured"
        assert integration.store_id == "s007"
        msg = payments_pb2.PaymentCaptured.FromString(integration.payload())
        assert (msg.payment_id, msg.sale_id, msg.store_id, msg.tender) == (
            str(payment.id),
            "sale-9",
            "s007",
            "card",
        )
        assert (msg.amount.amount_minor, msg.amount.currency) == (1250, "EUR")
        assert (msg.card.masked_pan, msg.card.scheme, msg.card.token) == (
            "411111******1111",
            "visa",
            payment.card_token,
        )
        assert (msg.auth_code, msg.rrn) == ("123456", "000000000042")

    def test_declined(self) -> None:
        payment = self.payment()
        payment.decline("05", "do not honor")
        integration = self.contracts.to_integration(payment.collect_events()[-1])
        assert integration is not None
        assert integration.subject == "payments.s007.payment.declined"
        msg = payments_pb2.PaymentDeclined.FromString(integration.payload())
        assert (msg.response_code, msg.reason, msg.amount.amount_minor) == (
            "05",
            "do not honor",
            1250,
        )

    def preauth(self) -> Payment:
        card = Card.from_pan(VISA, "12/30", CardTokenizer(b"k" * 32))
        payment = Payment.request("s007", "p1", "sale-9", 1000, "EUR", card, "hash", kind=PREAUTH)
        payment.authorize("111111", "000000000007")
        return payment

    def mapped(self, payment: Payment | GiftCard) -> Any:
        integration = self.contracts.to_integration(payment.collect_events()[-1])
        assert integration is not None
        assert VISA.encode() not in integration.payload()
        assert GIFT.encode() not in integration.payload()
        return integration

    def test_authorized(self) -> None:
        integration = self.mapped(self.preauth())
        assert integration.subject == "payments.s007.payment.authorized"
        msg = payments_pb2.PaymentAuthorized.FromString(integration.payload())
        assert (msg.amount.amount_minor, msg.auth_code, msg.card.masked_pan, msg.sale_id) == (
            1000,
            "111111",
            "411111******1111",
            "sale-9",
        )

    def test_increment_tip_and_completion(self) -> None:
        payment = self.preauth()
        payment.increase("i1", "h", 200, "222222")
        integration = self.mapped(payment)
        assert integration.subject == "payments.s007.payment.authorization_increased"
        msg = payments_pb2.PaymentAuthorizationIncreased.FromString(integration.payload())
        assert (
            msg.increment.amount_minor,
            msg.authorized.amount_minor,
            msg.authorized.currency,
            msg.operation_key,
        ) == (200, 1200, "EUR", "i1")
        payment.adjust_tip("t1", "h", 100, 20)
        integration = self.mapped(payment)
        assert integration.subject == "payments.s007.payment.tip_adjusted"
        tip = payments_pb2.PaymentTipAdjusted.FromString(integration.payload())
        assert (tip.tip.amount_minor, tip.tip.currency) == (100, "EUR")
        payment.complete("c1", "h", 20)
        integration = self.mapped(payment)
        # Checkout counts a completion as it counts a sale: the same PaymentCaptured.
        assert integration.subject == "payments.s007.payment.captured"
        captured = payments_pb2.PaymentCaptured.FromString(integration.payload())
        assert (captured.amount.amount_minor, captured.sale_id, captured.auth_code) == (
            1300,
            "sale-9",
            "111111",
        )

    def test_voided(self) -> None:
        payment = self.preauth()
        payment.void("v1", "h", "walked out")
        integration = self.mapped(payment)
        assert integration.subject == "payments.s007.payment.voided"
        msg = payments_pb2.PaymentVoided.FromString(integration.payload())
        assert (msg.amount.amount_minor, msg.reason, msg.payment_id) == (
            1000,
            "walked out",
            str(payment.id),
        )

    def test_refunded(self) -> None:
        payment = self.payment()
        payment.capture("123456", "000000000042")
        payment.refund("r1", "h", 250, datetime.now(UTC), timedelta(days=90))
        integration = self.mapped(payment)
        assert integration.subject == "payments.s007.payment.refunded"
        msg = payments_pb2.PaymentRefunded.FromString(integration.payload())
        assert (
            msg.amount.amount_minor,
            msg.refunded_total.amount_minor,
            msg.referenced,
            msg.card.masked_pan,
            msg.sale_id,
        ) == (250, 250, True, "411111******1111", "sale-9")

    def test_unreferenced_refund(self) -> None:
        card = Card.from_pan(VISA, "12/30", CardTokenizer(b"k" * 32))
        payment = Payment.refund_unreferenced("s007", "u1", "sale-9", 500, "EUR", card, "h", True)
        msg = payments_pb2.PaymentRefunded.FromString(self.mapped(payment).payload())
        assert (msg.referenced, msg.amount.amount_minor) == (False, 500)

    def test_reversed(self) -> None:
        payment = self.payment()
        payment.reverse("x1", "h", "no answer")
        integration = self.mapped(payment)
        assert integration.subject == "payments.s007.payment.reversed"
        msg = payments_pb2.PaymentReversed.FromString(integration.payload())
        assert (msg.amount.amount_minor, msg.reason, msg.sale_id) == (1250, "no answer", "sale-9")

    def test_gift_card_events(self) -> None:
        card = GiftCard.activate("tok", "************5678", "s007", "EUR", 1000, "a1", "h")
        activated = self.mapped(card)
        assert activated.subject == "payments.s007.gift_card.activated"
        msg: Any = payments_pb2.GiftCardActivated.FromString(activated.payload())
        assert (
            msg.gift_card.token,
            msg.gift_card.masked_number,
            msg.amount.amount_minor,
            msg.gift_card.gift_card_id,
        ) == ("tok", "************5678", 1000, str(card.id))
        card.load("l1", "h", "s008", 500)
        loaded = self.mapped(card)
        assert loaded.subject == "payments.s008.gift_card.loaded"
        msg = payments_pb2.GiftCardLoaded.FromString(loaded.payload())
        assert (msg.amount.amount_minor, msg.balance.amount_minor) == (500, 1500)
        card.redeem("x1", "h", "s007", "sale-9", 700)
        msg = payments_pb2.GiftCardRedeemed.FromString(self.mapped(card).payload())
        assert (msg.sale_id, msg.amount.amount_minor, msg.balance.amount_minor) == (
            "sale-9",
            700,
            800,
        )
        card.refund("f1", "h", "s007", "sale-9", 200)
        refunded = self.mapped(card)
        assert refunded.subject == "payments.s007.gift_card.refunded"
        msg = payments_pb2.GiftCardRefunded.FromString(refunded.payload())
        assert msg.balance.amount_minor == 1000
        card.block("b1", "h", "s007", "stolen")
        blocked = self.mapped(card)
        assert blocked.subject == "payments.s007.gift_card.blocked"
        msg = payments_pb2.GiftCardBlocked.FromString(blocked.payload())
        assert (msg.reason, msg.gift_card.masked_number) == ("stolen", "************5678")


class TestCardTokenKey:
    def test_configured_key(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TILLSTREAM_CARD_TOKEN_KEY", "a-production-secret-of-some-length")
        assert card_token_key(test_settings(tmp_path)) == b"a-production-secret-of-some-length"

    def test_dev_key_is_stable_per_data_dir(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("TILLSTREAM_CARD_TOKEN_KEY", raising=False)
        one = card_token_key(test_settings(tmp_path / "a"))
        assert one == card_token_key(test_settings(tmp_path / "a"))
        assert one != card_token_key(test_settings(tmp_path / "b"))


async def test_payments_service_end_to_end_on_nats(nats: NatsServer, tmp_path: Path) -> None:
    """build() wired into the host: authorize over NATS; the relay publishes the result."""
    settings = test_settings(tmp_path / "data")
    host = ServiceHost(build(settings), settings, nats.url)
    stop = asyncio.Event()
    task = asyncio.create_task(host.run(stop))
    nc = await connect(nats.url, "test-client")
    js = nc.jetstream()
    try:

        async def request(command: str, payload: dict[str, Any]) -> dict[str, Any]:
            reply = await ask_service(nc, "payments", command, payload)
            return reply

        approved = await request("authorize", body("k1"))
        assert approved["ok"] is True and approved["status"] == "approved"
        declined = await request("authorize", body("k2", pan=DECLINE_51))
        assert declined["status"] == "declined" and declined["response_code"] == "51"
        assert await request("authorize", body("k1")) == approved
        invalid = await request("authorize", body("k3", pan="4111111111111112"))
        assert invalid == {
            "ok": False,
            "error": {"code": "invalid", "message": "card number is not valid"},
        }
        summary = await request("summary", {})
        assert summary == {
            "ok": True,
            "captured_count": 1,
            "captured_total_minor_by_currency": {"EUR": 1250},
            "declined_count": 1,
        }

        async def published() -> list[Any]:
            info = await js.stream_info("PAYMENTS")
            if info.state.messages < 2:
                return []
            sub = await js.subscribe("payments.>", ordered_consumer=True)
            msgs = [await sub.next_msg(timeout=2) for _ in range(info.state.messages)]
            await sub.unsubscribe()
            return msgs

        msgs = await wait_for(published, timeout=15)
        assert [m.subject.rsplit(".", 1)[0] for m in msgs] == [
            "payments.s001.payment.captured",
            "payments.s001.payment.declined",
        ]
        assert msgs[0].headers["Tillstream-Event-Type"] == "tillstream.events.v1.PaymentCaptured"
        captured = payments_pb2.PaymentCaptured.FromString(msgs[0].data)
        assert captured.payment_id == approved["payment_id"]
        assert all(VISA.encode() not in m.data and DECLINE_51.encode() not in m.data for m in msgs)
    finally:
        await nc.close()
        stop.set()
        await asyncio.wait_for(task, 60)


async def test_preauth_and_completion_publish_on_nats(nats: NatsServer, tmp_path: Path) -> None:
    """A pre-authorization publishes PaymentAuthorized; its completion, PaymentCaptured (the
    event checkout counts tenders by); a gift card redemption, GiftCardRedeemed."""
    settings = test_settings(tmp_path / "data")
    host = ServiceHost(build(settings), settings, nats.url)
    stop = asyncio.Event()
    task = asyncio.create_task(host.run(stop))
    nc = await connect(nats.url, "test-client")
    js = nc.jetstream()
    try:

        async def request(command: str, payload: dict[str, Any]) -> dict[str, Any]:
            reply = await ask_service(nc, "payments", command, payload)
            assert reply["ok"] is True, reply
            return reply

        preauth = await request("preauthorize", body("p1", amount_minor=1000))
        await request(
            "adjust_tip",
            {"payment_id": preauth["payment_id"], "operation_key": "t1", "tip_minor": 150},
        )
        await request("capture", {"payment_id": preauth["payment_id"], "operation_key": "c1"})
        await request(
            "activate_gift_card",
            {
                "number": GIFT,
                "store_id": "s001",
                "operation_key": "a1",
                "currency": "EUR",
                "amount_minor": 500,
            },
        )
        await request(
            "redeem_gift_card",
            {
                "number": GIFT,
                "store_id": "s001",
                "operation_key": "x1",
                "sale_id": "sale-1",
                "amount_minor": 200,
            },
        )

        async def published() -> list[Any]:
            info = await js.stream_info("PAYMENTS")
            if info.state.messages < 5:
                return []
            sub = await js.subscribe("payments.>", ordered_consumer=True)
            msgs = [await sub.next_msg(timeout=2) for _ in range(info.state.messages)]
            await sub.unsubscribe()
            return msgs

        msgs = await wait_for(published, timeout=15)
        assert [m.subject.rsplit(".", 1)[0] for m in msgs] == [
            "payments.s001.payment.authorized",
            "payments.s001.payment.tip_adjusted",
            "payments.s001.payment.captured",
            "payments.s001.gift_card.activated",
            "payments.s001.gift_card.redeemed",
        ]
        captured = payments_pb2.PaymentCaptured.FromString(msgs[2].data)
        assert (captured.payment_id, captured.amount.amount_minor) == (preauth["payment_id"], 1150)
        assert all(VISA.encode() not in m.data and GIFT.encode() not in m.data for m in msgs)
    finally:
        await nc.close()
        stop.set()
        await asyncio.wait_for(task, 60)
