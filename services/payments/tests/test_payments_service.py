"""The running payments service on a real NATS: it consumes checkout's returns and the edge
agent's terminal approvals from their streams, and its own timer retries owed reversals over a
real ISO 8583 socket to the acquirer simulator, with nobody sending `retry_reversals`."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from payments import iso8583spec as spec
from payments.acquirersim import AcquirerSimulator
from payments.main import build
from payments.timers import REVERSAL_RETRY_ENV, retry_interval
from tillstream.bus import connect, wait_for
from tillstream.codec import IntegrationEvent
from tillstream.events.v1 import checkout_pb2, common_pb2, edge_pb2, payments_pb2
from tillstream.natsserver import NatsServer
from tillstream.service import ServiceHost
from tillstream.testing import ask_service, test_settings

EXPIRY = f"12/{(datetime.now(UTC).year + 3) % 100:02d}"


def make_pan(ending: str, serial: int) -> str:
    """A Luhn-valid test PAN made in memory; the last four digits pick the simulator's answer."""
    body = f"400000{serial:05d}"
    for digit in "0123456789":
        if spec.luhn_valid(body + digit + ending):
            return body + digit + ending
    raise AssertionError("unreachable")


APPROVE = make_pan("1234", 1)
NO_ANSWER = make_pan("0099", 3)


class SimulatorThread:
    """The acquirer simulator on its own event loop in a thread."""

    def __init__(self, settlement_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sim = AcquirerSimulator(port=0, settlement_dir=settlement_dir)
        asyncio.run_coroutine_threadsafe(self.sim.start(), self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def money(amount_minor: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount_minor, currency="EUR")


def test_retry_interval_setting() -> None:
    assert retry_interval(None) == 30.0 and retry_interval("0") == 0.0
    assert retry_interval("2.5") == 2.5
    with pytest.raises(ValueError):
        retry_interval("-1")
    with pytest.raises(ValueError):
        retry_interval("often")


async def test_service_consumes_and_retries_reversals_by_itself(
    nats: NatsServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(REVERSAL_RETRY_ENV, "0.5")
    # The simulator on its own loop: build() connects the link synchronously.
    sim_thread = SimulatorThread(tmp_path / "acquirer")
    sim = sim_thread.sim
    sim.drop_reversals = 1_000
    settings = test_settings(
        tmp_path / "data",
        nats_url=nats.url,
        acquirer_host="127.0.0.1",
        acquirer_port=sim.port,
        acquirer_timeout=0.3,
    )
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

        sale = {"sale_id": "sale-1", "store_id": "s001", "currency": "EUR", "expiry": EXPIRY}
        paid = await request(
            "authorize", {**sale, "idempotency_key": "k1", "amount_minor": 5000, "pan": APPROVE}
        )
        # No answer, and the simulator drops the reversals: pending, owing its reversal.
        # (It takes the link's five reversal attempts: longer than ask_service's 2 s.)
        answer = await nc.request(
            "cmd.payments.s001.authorize",
            json.dumps(
                {**sale, "idempotency_key": "k2", "amount_minor": 700, "pan": NO_ANSWER}
            ).encode(),
            timeout=30,
        )
        owed = json.loads(answer.data)
        assert owed["status"] == "pending"
        assert host.nc is not None
        host.nc.options["drain_timeout"] = 1  # the kit's pull consumers never unsubscribe

        returned = checkout_pb2.ReturnCompleted(
            return_id="ret-1",
            store_id="s001",
            original_sale_id="sale-1",
            refunds=[
                common_pb2.SaleTender(
                    payment_id=paid["payment_id"], kind="card", amount=money(1200)
                )
            ],
        )
        event = IntegrationEvent(
            "checkout.s001.return.completed", returned, "s001", datetime.now(UTC)
        )
        # The acquirer answers late: the refund sent right after the consumer's batch gets no
        # answer in time (it is made at the acquirer all the same) and stays owed.
        sim.latency = 1.0
        await js.publish(event.subject, event.payload(), headers=event.headers("checkout:1"))
        terminal_id = str(uuid4())
        approval = edge_pb2.TerminalApproval(
            payment_id=terminal_id,
            sale_id="sale-2",
            store_id="s001",
            amount=money(900),
            token="tok",
            masked_pan="400000******1234",
            scheme="visa",
            auth_code="AB12CD",
            terminal_id="term-1",
        )
        edge = IntegrationEvent(
            "edge.s001.payment.terminal_approved", approval, "s001", datetime.now(UTC)
        )
        await js.publish(edge.subject, edge.payload(), headers=edge.headers("edge:1"))

        async def refunded() -> bool:
            reply = await ask_service(
                nc, "payments", "get_payment", {"payment_id": paid["payment_id"]}
            )
            return bool(reply.get("refunded_minor") == 1200)

        async def made_at_the_acquirer() -> bool:
            return sim.stats.refunds == 1

        assert await wait_for(made_at_the_acquirer, timeout=15)
        sim.latency = 0.0
        # The timer sends the owed refund again, under its reference: the acquirer answers it
        # as the refund it already made, and it is recorded, once.
        assert await wait_for(refunded, timeout=15)
        assert sim.stats.refunds == 1 and sim.stats.refund_replays >= 1

        async def terminal_recorded() -> bool:
            reply = await ask_service(nc, "payments", "get_payment", {"payment_id": terminal_id})
            return bool(reply.get("status") == "approved")

        assert await wait_for(terminal_recorded, timeout=15)

        # The acquirer answers reversals again: the service's timer reverses the owed one.
        sim.drop_reversals = 0

        async def reversed_by_timer() -> bool:
            reply = await ask_service(
                nc, "payments", "get_payment", {"payment_id": owed["payment_id"]}
            )
            return bool(reply.get("status") == "reversed")

        assert await wait_for(reversed_by_timer, timeout=15)

        async def refund_published() -> bytes | None:
            try:
                return (await js.get_last_msg("PAYMENTS", "payments.s001.payment.refunded.>")).data
            except Exception:
                return None

        data = await wait_for(refund_published, timeout=15)
        assert data is not None
        refund = payments_pb2.PaymentRefunded.FromString(data)
        assert refund.operation_key == f"ret-1:{paid['payment_id']}"
        assert APPROVE.encode() not in data
    finally:
        await nc.close()
        stop.set()
        await asyncio.wait_for(task, 60)
        sim_thread.stop()
