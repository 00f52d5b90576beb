"""Risk rules: each rule at its boundary, flag vs decline, the integration event, and the
application on SQLite and PostgreSQL (the window rebuilt after a restart)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from payments.acquirer import AuthorizationResult, SimulatedAcquirer
from payments.application import AuthorizationRequest, Payments
from payments.contracts import PaymentsContracts
from payments.domainmodel import Payment, payment_id_for
from payments.main import build_application
from payments.risk import (
    AMOUNT,
    DECLINE,
    FLAG,
    LANE_DECLINES,
    RISK_DECLINE_CODE,
    UNREFERENCED_REFUND,
    VELOCITY,
    RiskPolicy,
    RiskRequest,
    RiskWindow,
    evaluate,
)
from tillstream.events.v1 import payments_pb2
from tillstream.settings import Settings
from tillstream.testing import card_number, test_settings

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)


VISA = card_number("411111", ending="1111")
MASTERCARD = card_number("555555", ending="4444")
DECLINE_51 = card_number("400000", ending="0051")


def req(**overrides: Any) -> RiskRequest:
    base = RiskRequest(store_id="s001", card_token="tok", amount_minor=1000, currency="EUR",
                       at=NOW)
    return replace(base, **overrides)


def rules(findings: list[Any]) -> list[str]:
    return [f.rule for f in findings]


# -- the pure rules ------------------------------------------------------------------------


class TestVelocity:
    policy = RiskPolicy(velocity_max_attempts=3, velocity_window=timedelta(minutes=5))

    def window(self, *ages: timedelta) -> RiskWindow:
        window = RiskWindow(self.policy)
        for age in ages:
            window.attempt("tok", NOW - age)
        return window

    def test_at_the_limit_does_not_fire(self) -> None:
        # two earlier attempts + this one = 3: not more than 3
        window = self.window(timedelta(minutes=1), timedelta(minutes=2))
        assert evaluate(self.policy, window, req()) == []

    def test_one_above_the_limit_fires(self) -> None:
        window = self.window(timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=3))
        [finding] = evaluate(self.policy, window, req())
        assert (finding.rule, finding.action) == (VELOCITY, DECLINE)
        assert "4 attempts" in finding.reason

    def test_window_edge(self) -> None:
        # exactly 5 minutes old counts; older does not
        inside = self.window(timedelta(minutes=5), timedelta(minutes=1), timedelta(seconds=1))
        assert rules(evaluate(self.policy, inside, req())) == [VELOCITY]
        outside = self.window(timedelta(minutes=5, seconds=1), timedelta(minutes=1),
                              timedelta(seconds=1))
        assert evaluate(self.policy, outside, req()) == []

    def test_other_cards_do_not_count(self) -> None:
        window = self.window(timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=3))
        assert evaluate(self.policy, window, req(card_token="other")) == []


class TestAmount:
    policy = RiskPolicy(amount_median_multiple=10, amount_min_samples=3,
                        amount_cap_minor={"USD": 100_000})

    def window(self, *amounts: int, currency: str = "EUR") -> RiskWindow:
        window = RiskWindow(self.policy)
        for amount in amounts:
            window.capture("s001", currency, amount)
        return window

    def test_median_multiple_boundary(self) -> None:
        window = self.window(500, 1000, 9000)  # median 1000
        assert evaluate(self.policy, window, req(amount_minor=10_000)) == []
        [finding] = evaluate(self.policy, window, req(amount_minor=10_001))
        assert (finding.rule, finding.action) == (AMOUNT, FLAG)
        assert "median of 1000" in finding.reason

    def test_too_few_samples_never_fires(self) -> None:
        window = self.window(10, 10)
        assert evaluate(self.policy, window, req(amount_minor=1_000_000)) == []

    def test_other_store_and_currency_do_not_count(self) -> None:
        window = self.window(10, 10, 10)
        assert evaluate(self.policy, window, req(store_id="s002", amount_minor=5000)) == []
        assert evaluate(self.policy, window, req(currency="GBP", amount_minor=5000)) == []

    def test_fixed_cap_boundary(self) -> None:
        window = RiskWindow(self.policy)
        assert evaluate(self.policy, window, req(currency="USD", amount_minor=100_000)) == []
        [finding] = evaluate(self.policy, window, req(currency="USD", amount_minor=100_001))
        assert finding.rule == AMOUNT and "cap of 100000" in finding.reason

    def test_history_is_bounded(self) -> None:
        policy = RiskPolicy(amount_history=3, amount_min_samples=3, amount_median_multiple=2)
        window = RiskWindow(policy)
        for amount in (1, 1, 1, 100, 100, 100):
            window.capture("s001", "EUR", amount)
        assert window.median("s001", "EUR") == (100, 3)
        assert evaluate(policy, window, req(amount_minor=200)) == []


class TestUnreferencedRefund:
    policy = RiskPolicy(unreferenced_refund_threshold_minor=20_000)

    def test_boundary(self) -> None:
        window = RiskWindow(self.policy)
        at = req(unreferenced_refund=True, amount_minor=20_000)
        assert evaluate(self.policy, window, at) == []
        [finding] = evaluate(self.policy, window, replace(at, amount_minor=20_001))
        assert (finding.rule, finding.action) == (UNREFERENCED_REFUND, FLAG)

    def test_refunds_are_not_judged_by_the_sale_rules(self) -> None:
        policy = RiskPolicy(velocity_max_attempts=1)
        window = RiskWindow(policy)
        window.attempt("tok", NOW)
        assert evaluate(policy, window, req(unreferenced_refund=True)) == []


class TestLaneDeclines:
    policy = RiskPolicy(lane_max_declines=3, lane_window=timedelta(minutes=10))

    def window(self, count: int, age: timedelta = timedelta(minutes=1),
               lane: str = "01") -> RiskWindow:
        window = RiskWindow(self.policy)
        for _ in range(count):
            window.decline("s001", lane, NOW - age)
        return window

    def test_boundary(self) -> None:
        assert evaluate(self.policy, self.window(2), req(lane_id="01")) == []
        [finding] = evaluate(self.policy, self.window(3), req(lane_id="01"))
        assert (finding.rule, finding.action) == (LANE_DECLINES, FLAG)
        assert "lane 01" in finding.reason

    def test_old_declines_other_lanes_and_no_lane(self) -> None:
        old = self.window(3, age=timedelta(minutes=10, seconds=1))
        assert evaluate(self.policy, old, req(lane_id="01")) == []
        assert evaluate(self.policy, self.window(3, lane="02"), req(lane_id="01")) == []
        assert evaluate(self.policy, self.window(3), req(lane_id="")) == []


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        RiskPolicy(velocity_action="block")
    with pytest.raises(ValueError):
        RiskPolicy(velocity_max_attempts=0)
    with pytest.raises(ValueError):
        RiskPolicy(lane_window=timedelta(0))
    assert RiskPolicy(amount_action=DECLINE).action(AMOUNT) == DECLINE


# -- the integration event -------------------------------------------------------------------


def test_flagged_integration_event() -> None:
    from payments.domainmodel import Card, CardTokenizer
    card = Card.from_pan(VISA, "12/30", CardTokenizer(b"k" * 32))
    payment = Payment.request("s001", "k1", "sale-1", 1250, "EUR", card, "hash")
    payment.flag(VELOCITY, FLAG, "6 attempts")
    flagged = payment.collect_events()[-1]
    assert isinstance(flagged, Payment.Flagged)
    integration = PaymentsContracts().to_integration(flagged)
    assert integration is not None
    assert integration.subject == "payments.s001.payment.flagged"
    message = integration.message
    assert isinstance(message, payments_pb2.PaymentFlagged)
    assert (message.payment_id, message.sale_id, message.store_id, message.rule,
            message.action, message.reason) == (
        str(payment.id), "sale-1", "s001", VELOCITY, FLAG, "6 attempts")
    assert (message.amount.amount_minor, message.amount.currency) == (1250, "EUR")
    assert message.card.masked_pan == "411111******1111"
    assert VISA.encode() not in message.SerializeToString()


def test_flag_only_while_pending() -> None:
    from payments.domainmodel import Card, CardTokenizer, PaymentAlreadyFinalError
    card = Card.from_pan(VISA, "12/30", CardTokenizer(b"k" * 32))
    payment = Payment.request("s001", "k1", "sale-1", 1250, "EUR", card, "hash")
    payment.decline("05", "do not honor")
    with pytest.raises(PaymentAlreadyFinalError):
        payment.flag(VELOCITY, FLAG, "late")


# -- the application -------------------------------------------------------------------------


class CountingAcquirer:
    def __init__(self) -> None:
        self.inner = SimulatedAcquirer()
        self.calls = 0

    def authorize(self, pan: str, expiry: str, amount_minor: int,
                  currency: str) -> AuthorizationResult:
        self.calls += 1
        return self.inner.authorize(pan, expiry, amount_minor, currency)


def auth(key: str, pan: str = VISA, **overrides: Any) -> AuthorizationRequest:
    base = AuthorizationRequest(idempotency_key=key, sale_id=f"sale-{key}", store_id="s001",
                                amount_minor=1000, currency="EUR", pan=pan, expiry="12/30")
    return replace(base, **overrides)


class RiskApplicationBehaviour:
    @pytest.fixture
    def settings(self) -> Settings:
        raise NotImplementedError

    @pytest.fixture
    def acquirer(self) -> CountingAcquirer:
        return CountingAcquirer()

    def build(self, settings: Settings, acquirer: CountingAcquirer,
              policy: RiskPolicy) -> Payments:
        return build_application(settings, acquirer, risk_policy=policy)  # type: ignore[arg-type]

    @pytest.fixture
    def app(self, settings: Settings, acquirer: CountingAcquirer) -> Iterator[Payments]:
        app = self.build(settings, acquirer, RiskPolicy(velocity_max_attempts=2))
        yield app
        app.close()

    def events(self, app: Payments, key: str) -> list[object]:
        return list(app.repository.event_store.get(payment_id_for("s001", key)))

    def test_velocity_declines_before_the_acquirer(self, app: Payments,
                                                   acquirer: CountingAcquirer) -> None:
        assert app.authorize(auth("a")).status == "approved"
        assert app.authorize(auth("b")).status == "approved"
        assert app.authorize(auth("m", pan=MASTERCARD)).status == "approved"
        assert acquirer.calls == 3
        third = app.authorize(auth("c"))
        assert (third.status, third.response_code, third.flags) == (
            "declined", RISK_DECLINE_CODE, (VELOCITY,))
        assert "velocity" in third.reason and "suspected fraud" in third.reason
        assert acquirer.calls == 3  # never asked
        kinds = [type(e).__name__ for e in self.events(app, "c")]
        assert kinds == ["Requested", "Flagged", "Declined"]
        # a retry of the declined key returns the first result, asks nobody
        assert app.authorize(auth("c")) == third
        assert acquirer.calls == 3

    def test_flag_lets_the_payment_go_on(self, settings: Settings,
                                         acquirer: CountingAcquirer) -> None:
        app = self.build(settings, acquirer,
                         RiskPolicy(velocity_max_attempts=1, velocity_action=FLAG))
        try:
            assert app.authorize(auth("a")).flags == ()
            second = app.authorize(auth("b"))
            assert (second.status, second.flags) == ("approved", (VELOCITY,))
            assert acquirer.calls == 2
            kinds = [type(e).__name__ for e in self.events(app, "b")]
            assert kinds == ["Requested", "Flagged", "Captured"]
        finally:
            app.close()

    def test_window_rebuilt_after_restart(self, settings: Settings,
                                          acquirer: CountingAcquirer) -> None:
        policy = RiskPolicy(velocity_max_attempts=2)
        first = self.build(settings, acquirer, policy)
        first.authorize(auth("a"))
        first.authorize(auth("b"))
        first.close()
        second = self.build(settings, acquirer, policy)
        try:
            assert second.authorize(auth("c")).response_code == RISK_DECLINE_CODE
        finally:
            second.close()

    def test_lane_declines_and_amount(self, settings: Settings,
                                      acquirer: CountingAcquirer) -> None:
        policy = RiskPolicy(lane_max_declines=2, lane_action=DECLINE,
                            amount_min_samples=2, amount_median_multiple=3)
        app = self.build(settings, acquirer, policy)
        try:
            for key in ("d1", "d2"):
                outcome = app.authorize(auth(key, pan=DECLINE_51, lane_id="01"))
                assert outcome.response_code == "51"
            # lane 01 has 2 issuer declines: declined by the rule; lane 02 is fine
            blocked = app.authorize(auth("x", pan=MASTERCARD, lane_id="01"))
            assert (blocked.response_code, blocked.flags) == ("59", (LANE_DECLINES,))
            assert app.authorize(auth("y", pan=MASTERCARD, lane_id="02")).status == "approved"
            # the 59 did not count as one more lane decline, and the amount rule: two
            # captures of 1000 (y, and z below) make a median of 1000
            assert app.authorize(auth("z", pan=VISA)).status == "approved"
            other_visa = card_number("401288", ending="1881")
            at_limit = app.authorize(auth("big1", pan=other_visa, amount_minor=3000))
            assert at_limit.flags == ()
            other_mastercard = card_number("510510", ending="5100")
            above = app.authorize(auth("big2", pan=other_mastercard, amount_minor=3001))
            assert (above.status, above.flags) == ("approved", (AMOUNT,))
        finally:
            app.close()

    def test_unreferenced_refund(self, settings: Settings,
                                 acquirer: CountingAcquirer) -> None:
        app = self.build(settings, acquirer,
                         RiskPolicy(unreferenced_refund_threshold_minor=5000))
        try:
            small = app.refund_unreferenced(auth("r1", amount_minor=5000), permitted=True)
            assert (small.status, small.flags) == ("refunded", ())
            big = app.refund_unreferenced(auth("r2", amount_minor=5001), permitted=True)
            assert (big.status, big.flags) == ("refunded", (UNREFERENCED_REFUND,))
            assert app.refund_unreferenced(auth("r2", amount_minor=5001), True) == big
        finally:
            app.close()
        app = self.build(settings, acquirer, RiskPolicy(
            unreferenced_refund_threshold_minor=5000, unreferenced_refund_action=DECLINE))
        try:
            refused = app.refund_unreferenced(auth("r3", amount_minor=5001), permitted=True)
            assert (refused.status, refused.response_code, refused.refunded_minor,
                    refused.flags) == ("declined", "59", 0, (UNREFERENCED_REFUND,))
        finally:
            app.close()

    def test_default_policy_lets_a_busy_store_sell(self, settings: Settings,
                                                   acquirer: CountingAcquirer) -> None:
        app = self.build(settings, acquirer, RiskPolicy())
        try:
            # five sales on one card in a minute, and varied amounts: nothing fires
            for n in range(5):
                outcome = app.authorize(auth(f"s{n}", amount_minor=500 + 700 * n,
                                             lane_id="01"))
                assert (outcome.status, outcome.flags) == ("approved", ())
        finally:
            app.close()

    def test_no_pan_in_the_store(self, app: Payments) -> None:
        for key in ("a", "b", "c"):
            app.authorize(auth(key))
        for key in ("a", "b", "c"):
            for stored in app.repository.event_store.get(payment_id_for("s001", key)):
                assert VISA not in repr(stored.__dict__)


class TestRiskWithSQLite(RiskApplicationBehaviour):
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return test_settings(tmp_path)


@pytest.mark.postgres
class TestRiskWithPostgres(RiskApplicationBehaviour):
    @pytest.fixture
    def settings(self, tmp_path: Path, postgres_dsn: str) -> Settings:
        return test_settings(tmp_path, postgres_dsn=postgres_dsn)
