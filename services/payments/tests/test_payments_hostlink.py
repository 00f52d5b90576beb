"""The Payments application authorizing over a real ISO 8583 socket to the acquirer simulator.

The application is synchronous (it runs on the service's DB thread); the simulator runs on its
own event loop in a thread here, as the link does inside `HostAcquirer`. Test PANs are made in
memory (Luhn helper) so no card number sits in this file.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from payments import iso8583spec as spec
from payments.acquirersim import AcquirerSimulator
from payments.application import AuthorizationRequest, Payments
from payments.hostlink import HostAcquirer
from payments.main import build_acquirer, build_application
from tillstream.natsserver import free_port
from tillstream.settings import Settings
from tillstream.testing import test_settings

T = TypeVar("T")


def make_pan(ending: str, serial: int = 0, prefix: str = "400000") -> str:
    body = f"{prefix}{serial:05d}"
    for digit in "0123456789":
        pan = body + digit + ending
        if spec.luhn_valid(pan):
            return pan
    raise AssertionError("unreachable")


EXPIRY = f"12/{(datetime.now(UTC).year + 3) % 100:02d}"
APPROVE = make_pan("1234", 1)
DECLINE_51 = make_pan("0051", 2)
NO_ANSWER = make_pan("0099", 3)
LOST = make_pan("4321", 4)
PANS = (APPROVE, DECLINE_51, NO_ANSWER, LOST)


class SimulatorThread:
    """The simulator on its own event loop in a thread (the test's code is synchronous)."""

    def __init__(self, settlement_dir: Path, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sim = AcquirerSimulator(port=0, settlement_dir=settlement_dir, **options)
        self.run(self.sim.start())

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def settlement_rows(self) -> list[dict[str, str]]:
        written = self.run(_in_loop(self.sim.write_settlement))
        rows: list[dict[str, str]] = []
        for path in written:
            with path.open(newline="") as handle:
                rows.extend(csv.DictReader(handle))
        return rows

    def stop(self) -> None:
        self.run(self.sim.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


async def _in_loop(function: Any) -> Any:
    return function()


def request(key: str, pan: str, amount_minor: int = 1250) -> AuthorizationRequest:
    return AuthorizationRequest(idempotency_key=key, sale_id=f"sale-{key}", store_id="s001",
                                amount_minor=amount_minor, currency="EUR", pan=pan,
                                expiry=EXPIRY)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return test_settings(tmp_path / "data")


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimulatorThread]:
    running = SimulatorThread(tmp_path / "data" / "acquirer")
    yield running
    running.stop()


def host_for(sim: SimulatorThread, **options: Any) -> HostAcquirer:
    link: dict[str, Any] = {"echo_interval": None, "reversal_backoff": 0.02}
    link.update(options)
    timeout = link.pop("timeout", 0.5)
    return HostAcquirer("127.0.0.1", sim.sim.port, timeout, **link)


@pytest.fixture
def app(settings: Settings, sim: SimulatorThread) -> Iterator[Payments]:
    host = host_for(sim)
    application = build_application(settings, host)
    yield application
    application.close()
    host.close()


def test_approved_sale_goes_over_the_socket_and_is_settled(
    app: Payments, sim: SimulatorThread
) -> None:
    outcome = app.authorize(request("k1", APPROVE))
    assert (outcome.status, outcome.response_code) == ("approved", "00")
    assert len(outcome.auth_code) == 6 and outcome.masked_pan == spec.mask_pan(APPROVE)
    assert sim.sim.stats.by_mti.get(spec.FINANCIAL) == 1  # a sale is one 0200
    rows = sim.settlement_rows()
    assert [(r["masked_pan"], r["amount_minor"], r["type"]) for r in rows] == [
        (spec.mask_pan(APPROVE), "1250", "sale")]
    # A retry with the same key answers from the store: no second request.
    assert app.authorize(request("k1", APPROVE)) == outcome
    assert sim.sim.stats.by_mti.get(spec.FINANCIAL) == 1


def test_preauthorization_is_a_0100(app: Payments, sim: SimulatorThread) -> None:
    outcome = app.preauthorize(request("p1", APPROVE))
    assert (outcome.status, outcome.authorized_minor) == ("authorized", 1250)
    assert sim.sim.stats.by_mti.get(spec.AUTHORIZATION) == 1


def test_decline_51(app: Payments, sim: SimulatorThread) -> None:
    outcome = app.authorize(request("k1", DECLINE_51))
    assert (outcome.status, outcome.response_code, outcome.reason) == (
        "declined", "51", "insufficient funds")
    assert app.summary().declined_count == 1
    assert sim.settlement_rows() == []


def test_no_answer_ends_reversed_and_is_not_settled(
    app: Payments, sim: SimulatorThread
) -> None:
    outcome = app.authorize(request("k1", NO_ANSWER))
    # Never "failed but charged": the simulator approved it, the link reversed it.
    assert (outcome.status, outcome.reason) == ("reversed", "no answer from the acquirer")
    assert sim.sim.stats.unanswered == 1 and sim.sim.stats.reversals == 1
    assert sim.settlement_rows() == []
    assert app.pending_payments() == []
    # The same key again returns the reversal: no second try at charging.
    assert app.authorize(request("k1", NO_ANSWER)).status == "reversed"
    assert sim.sim.stats.unanswered == 1
    summary = app.summary()
    assert (summary.captured_count, summary.declined_count) == (0, 0)


def test_unconfirmed_reversal_stays_pending_and_a_later_call_reverses(
    settings: Settings, sim: SimulatorThread
) -> None:
    sim.sim.drop_reversals = 1_000
    with host_for(sim, reversal_attempts=2, timeout=0.3) as host:
        app = build_application(settings, host)
        try:
            outcome = app.authorize(request("k1", NO_ANSWER))
            assert (outcome.status, outcome.reversal_owed) == ("pending", True)
            pending = app.pending_payments()
            assert [p.payment_id for p in pending] == [outcome.payment_id]
            assert pending[0].reversal_owed
            assert [r["masked_pan"] for r in sim.settlement_rows()] == [
                spec.mask_pan(NO_ANSWER)]  # charged, for now
            # Still dropped: a retry of the request only retries the reversal, never charges.
            assert app.authorize(request("k1", NO_ANSWER)).status == "pending"
            assert sim.sim.stats.unanswered == 1
            sim.sim.drop_reversals = 0  # the acquirer answers reversals again
            sim.sim.stats.dropped_reversals = 0
            assert [p.status for p in app.retry_reversals()] == ["reversed"]
            assert app.pending_payments() == []
            assert app.authorize(request("k1", NO_ANSWER)).status == "reversed"
            assert sim.settlement_rows() == []
        finally:
            app.close()


def test_connection_lost_in_flight_ends_reversed(
    settings: Settings, sim: SimulatorThread
) -> None:
    sim.sim.latency = 0.4
    with host_for(sim, timeout=3.0) as host:
        app = build_application(settings, host)
        try:
            with ThreadPoolExecutor(1) as pool:
                future = pool.submit(app.authorize, request("k1", LOST))
                deadline = time.monotonic() + 5
                # Received and waiting out the latency, not answered yet: then the line drops.
                while not sim.sim._tasks:
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
                sim.run(sim.sim.drop_connections())
                outcome = future.result(20)
            assert (outcome.status, outcome.reason) == (
                "reversed", "connection to the acquirer lost")
            assert host.link.connections >= 2  # it reconnected to send the reversal
            assert sim.sim.stats.reversals == 1
            assert sim.settlement_rows() == []
        finally:
            app.close()


def test_no_connection_is_a_decline_with_nothing_sent(settings: Settings) -> None:
    with HostAcquirer("127.0.0.1", free_port(), 0.3, echo_interval=None) as host:
        app = build_application(settings, host)
        try:
            outcome = app.authorize(request("k1", APPROVE))
            assert (outcome.status, outcome.response_code) == ("declined", "91")
            assert app.pending_payments() == []
        finally:
            app.close()


def test_settings_choose_the_host_link(settings: Settings, sim: SimulatorThread) -> None:
    assert type(build_acquirer(settings)).__name__ == "SimulatedAcquirer"
    host = build_acquirer(settings.model_copy(update={"acquirer_port": sim.sim.port}))
    assert isinstance(host, HostAcquirer)
    try:
        assert host.link.connected
    finally:
        host.close()


def test_no_pan_in_store_settlement_or_logs(
    settings: Settings, sim: SimulatorThread, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    sim.sim.latency = 0.0
    with host_for(sim) as host:
        app = build_application(settings, host)
        try:
            for index, pan in enumerate(PANS):
                app.authorize(request(f"k{index}", pan))
            app.preauthorize(request("p1", APPROVE))
        finally:
            app.close()
    sim.settlement_rows()
    produced = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    produced += caplog.text.encode()
    assert spec.mask_pan(APPROVE).encode() in produced  # the scan sees the payments
    for pan in PANS:
        assert pan.encode() not in produced, "a full PAN leaked"
        assert pan[6:].encode() not in produced, "a PAN's tail beyond the last four leaked"
