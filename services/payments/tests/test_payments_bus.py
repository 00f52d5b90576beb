"""Payments on the bus: command handlers, the contracts, and the service on a real NATS."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from payments.acquirer import SimulatedAcquirer
from payments.application import Payments
from payments.bus import HANDLERS, PaymentsCommands
from payments.contracts import PaymentsContracts
from payments.domainmodel import Card, CardTokenizer, Payment
from payments.main import build, build_application, card_token_key
from tillstream.bus import command_subject, connect, wait_for
from tillstream.events.v1 import payments_pb2
from tillstream.natsserver import NatsServer
from tillstream.service import CommandError, ServiceHost
from tillstream.testing import test_settings

VISA = "4111111111111111"
DECLINE_51 = "4000000000000051"


def body(key: str = "k1", **overrides: Any) -> dict[str, Any]:
    return {"idempotency_key": key, "sale_id": "sale-1", "store_id": "s001",
            "amount_minor": 1250, "currency": "EUR", "pan": VISA, "expiry": "12/30",
            **overrides}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Payments]:
    app = build_application(test_settings(tmp_path),
                            SimulatedAcquirer(today=lambda: date(2025, 6, 15)))
    yield app
    app.close()


@pytest.fixture
def commands(app: Payments) -> PaymentsCommands:
    return PaymentsCommands(app)


class TestPaymentsCommands:
    def test_authorize_approved_reply(self, commands: PaymentsCommands) -> None:
        reply = commands.authorize(body())
        assert set(reply) == {"payment_id", "status", "response_code", "auth_code",
                              "masked_pan", "reason"}
        assert (reply["status"], reply["response_code"], reply["masked_pan"]) == (
            "approved", "00", "411111******1111")
        assert commands.authorize(body()) == reply
        json.dumps(reply)

    def test_authorize_declined_reply(self, commands: PaymentsCommands) -> None:
        reply = commands.authorize(body(pan=DECLINE_51))
        assert (reply["status"], reply["response_code"], reply["auth_code"]) == (
            "declined", "51", "")

    @pytest.mark.parametrize("change", [
        {"pan": "4111111111111112"}, {"pan": ""}, {"expiry": "1230"}, {"amount_minor": "12"},
        {"amount_minor": 0}, {"amount_minor": True}, {"currency": "eur"}, {"store_id": ""},
        {"idempotency_key": None},
    ])
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

    def test_no_consumers_yet(self) -> None:
        assert HANDLERS == {}


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
            str(payment.id), "sale-9", "s007", "card")
        assert (msg.amount.amount_minor, msg.amount.currency) == (1250, "EUR")
        assert (msg.card.masked_pan, msg.card.scheme, msg.card.token) == (
            "411111******1111", "visa", payment.card_token)
        assert (msg.auth_code, msg.rrn) == ("123456", "000000000042")

    def test_declined(self) -> None:
        payment = self.payment()
        payment.decline("05", "do not honor")
        integration = self.contracts.to_integration(payment.collect_events()[-1])
        assert integration is not None
        assert integration.subject == "payments.s007.payment.declined"
        msg = payments_pb2.PaymentDeclined.FromString(integration.payload())
        assert (msg.response_code, msg.reason, msg.amount.amount_minor) == (
            "05", "do not honor", 1250)


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
            async def ask() -> dict[str, Any] | None:
                try:
                    msg = await nc.request(command_subject("payments", command, "s001"),
                                           json.dumps(payload).encode(), timeout=2)
                except Exception:
                    return None  # the host is not subscribed yet
                return dict(json.loads(msg.data))
            reply = await wait_for(ask, timeout=15)
            assert reply is not None
            return reply

        approved = await request("authorize", body("k1"))
        assert approved["ok"] is True and approved["status"] == "approved"
        declined = await request("authorize", body("k2", pan=DECLINE_51))
        assert declined["status"] == "declined" and declined["response_code"] == "51"
        assert await request("authorize", body("k1")) == approved
        invalid = await request("authorize", body("k3", pan="4111111111111112"))
        assert invalid == {"ok": False, "error": {"code": "invalid",
                                                  "message": "card number is not valid"}}
        summary = await request("summary", {})
        assert summary == {"ok": True, "captured_count": 1,
                           "captured_total_minor_by_currency": {"EUR": 1250},
                           "declined_count": 1}

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
            "payments.s001.payment.captured", "payments.s001.payment.declined"]
        assert msgs[0].headers["Tillstream-Event-Type"] == "tillstream.events.v1.PaymentCaptured"
        captured = payments_pb2.PaymentCaptured.FromString(msgs[0].data)
        assert captured.payment_id == approved["payment_id"]
        assert all(VISA.encode() not in m.data and DECLINE_51.encode() not in m.data
                   for m in msgs)
    finally:
        await nc.close()
        stop.set()
        await asyncio.wait_for(task, 60)
