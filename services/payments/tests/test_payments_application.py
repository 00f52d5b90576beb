"""The Payments application on every storage: the same tests on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID

import psycopg
import pytest
from psycopg import sql

from payments.acquirer import AuthorizationResult, SimulatedAcquirer
from payments.application import (
    AuthorizationRequest,
    GiftCardNotFoundError,
    PaymentConflictError,
    PaymentInProgressError,
    PaymentNotFoundError,
    Payments,
)
from payments.domainmodel import (
    CaptureAboveToleranceError,
    GiftCardAlreadyActivatedError,
    GiftCardBlockedError,
    GiftCardInsufficientFundsError,
    GiftCardOperationConflictError,
    InvalidCardError,
    InvalidGiftCardError,
    NotAuthorizedError,
    NotPendingError,
    OperationKeyConflictError,
    RefundExceedsCapturedError,
    RefundNotPermittedError,
    RefundWindowExpiredError,
    payment_id_for,
)
from payments.main import build_application
from tillstream.settings import Settings
from tillstream.testing import card_number, test_settings

VISA = card_number("411111", ending="1111")
MASTERCARD = card_number("555555", ending="4444")
DECLINE_51 = card_number("400000", ending="0051")
DECLINE_05 = card_number("550000", ending="0005")
DECLINE_91 = card_number("400000", ending="0091")
TEST_PANS = (VISA, MASTERCARD, DECLINE_51, DECLINE_05, DECLINE_91)


class RecordingAcquirer:
    """A fake acquirer: counts calls, can fail, and can look at the store while asked."""

    def __init__(self) -> None:
        self.inner = SimulatedAcquirer(today=lambda: date(2025, 6, 15))
        self.calls = 0
        self.fail_next = False
        self.on_call: list[object] = []
        self.during_call: object = None

    def authorize(
        self, pan: str, expiry: str, amount_minor: int, currency: str
    ) -> AuthorizationResult:
        self.calls += 1
        if callable(self.during_call):
            self.on_call.append(self.during_call())
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("acquirer link down")
        return self.inner.authorize(pan, expiry, amount_minor, currency)

    def increment(self, rrn: str, amount_minor: int, currency: str) -> AuthorizationResult:
        self.calls += 1
        return self.inner.increment(rrn, amount_minor, currency)


def request(key: str = "k1", pan: str = VISA, **overrides: object) -> AuthorizationRequest:
    base = AuthorizationRequest(
        idempotency_key=key, sale_id="sale-1", store_id="s001", amount_minor=1250,
        currency="EUR", pan=pan, expiry="12/30",
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def blind_once(app: Payments, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the app's first look-up miss: as if it loaded before another replica saved."""
    real = app._payment_or_none
    calls: list[object] = []

    def lookup(payment_id: object) -> object:
        calls.append(payment_id)
        return None if len(calls) == 1 else real(payment_id)  # type: ignore[arg-type]

    monkeypatch.setattr(app, "_payment_or_none", lookup)


class PaymentsApplicationBehaviour:
    """Application behaviours; subclasses say which event store they run on."""

    @pytest.fixture
    def settings(self) -> Settings:
        raise NotImplementedError

    @pytest.fixture
    def acquirer(self) -> RecordingAcquirer:
        return RecordingAcquirer()

    @pytest.fixture
    def app(self, settings: Settings, acquirer: RecordingAcquirer) -> Iterator[Payments]:
        app = build_application(settings, acquirer)  # type: ignore[arg-type]
        yield app
        app.close()

    def replica(self, settings: Settings, acquirer: RecordingAcquirer) -> Payments:
        """A second application on the same store: another replica, or a restart."""
        return build_application(settings, acquirer)  # type: ignore[arg-type]

    def stored_bytes(self, settings: Settings) -> bytes:
        raise NotImplementedError

    def test_approve(self, app: Payments) -> None:
        outcome = app.authorize(request())
        assert outcome.payment_id == str(payment_id_for("s001", "k1"))
        assert (outcome.status, outcome.response_code, outcome.masked_pan) == (
            "approved", "00", "411111******1111")
        assert len(outcome.auth_code) == 6
        assert app.get_payment(payment_id_for("s001", "k1")) == outcome

    @pytest.mark.parametrize(("pan", "code", "reason"), [
        (DECLINE_51, "51", "insufficient funds"),
        (DECLINE_05, "05", "do not honor"),
        (DECLINE_91, "91", "issuer unavailable"),
    ])
    def test_decline_ranges(self, app: Payments, pan: str, code: str, reason: str) -> None:
        outcome = app.authorize(request(pan=pan))
        assert (outcome.status, outcome.response_code, outcome.reason, outcome.auth_code) == (
            "declined", code, reason, "")

    def test_requested_is_stored_before_the_acquirer_is_asked(
        self, app: Payments, acquirer: RecordingAcquirer
    ) -> None:
        payment_id = payment_id_for("s001", "k1")
        acquirer.during_call = lambda: app.repository.get(payment_id).status
        app.authorize(request())
        assert acquirer.on_call == ["pending"]

    def test_same_key_same_body_returns_first_result(
        self, app: Payments, acquirer: RecordingAcquirer
    ) -> None:
        first = app.authorize(request())
        stored = app.events_stored()
        assert app.authorize(request()) == first
        assert acquirer.calls == 1
        assert app.events_stored() == stored

    def test_same_key_other_body_is_a_conflict(self, app: Payments) -> None:
        app.authorize(request())
        with pytest.raises(PaymentConflictError):
            app.authorize(request(amount_minor=1300))
        with pytest.raises(PaymentConflictError):
            app.authorize(request(pan=MASTERCARD))

    def test_same_key_in_another_store_is_another_payment(self, app: Payments) -> None:
        first = app.authorize(request())
        other = app.authorize(request(store_id="s002"))
        assert first.payment_id != other.payment_id

    def test_invalid_card_refused_before_anything_is_stored(
        self, app: Payments, acquirer: RecordingAcquirer
    ) -> None:
        with pytest.raises(InvalidCardError):
            app.authorize(request(pan="4111111111111112"))
        with pytest.raises(InvalidCardError):
            app.authorize(request(expiry="13/30"))
        assert app.events_stored() == 0
        assert acquirer.calls == 0

    def test_unknown_outcome_stays_pending_and_a_retry_completes_it(
        self, app: Payments, acquirer: RecordingAcquirer
    ) -> None:
        acquirer.fail_next = True
        with pytest.raises(ConnectionError):
            app.authorize(request())
        assert app.repository.get(payment_id_for("s001", "k1")).status == "pending"
        assert app.authorize(request()).status == "approved"
        assert acquirer.calls == 2

    def test_concurrent_duplicate_returns_the_winners_result(
        self, app: Payments, settings: Settings, acquirer: RecordingAcquirer,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        first = app.authorize(request())
        other = self.replica(settings, acquirer)
        try:
            # The other replica loaded before the first one saved: it creates, and collides.
            blind_once(other, monkeypatch)
            assert other.authorize(request()) == first
            blind_once(other, monkeypatch)
            with pytest.raises(PaymentConflictError):
                other.authorize(request(amount_minor=1))
        finally:
            other.close()

    def test_concurrent_duplicate_in_flight_is_in_progress(
        self, app: Payments, settings: Settings, acquirer: RecordingAcquirer,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        acquirer.fail_next = True
        with pytest.raises(ConnectionError):
            app.authorize(request())  # leaves a pending payment, as if still in flight
        other = self.replica(settings, acquirer)
        try:
            blind_once(other, monkeypatch)
            with pytest.raises(PaymentInProgressError):
                other.authorize(request())
        finally:
            other.close()

    def test_result_saved_by_another_attempt_wins(
        self, app: Payments, settings: Settings, acquirer: RecordingAcquirer
    ) -> None:
        acquirer.fail_next = True
        with pytest.raises(ConnectionError):
            app.authorize(request())
        other = self.replica(settings, acquirer)
        try:
            # While `app` retries and asks the acquirer, the other replica records a result.
            def other_records_first() -> object:
                acquirer.during_call = None
                return other.authorize(request())

            acquirer.during_call = other_records_first
            outcome = app.authorize(request())
            assert outcome == acquirer.on_call[0]
            payment = app.repository.get(payment_id_for("s001", "k1"))
            assert payment.version == 2  # Requested, and one result only
        finally:
            other.close()

    def test_unknown_payment(self, app: Payments) -> None:
        with pytest.raises(PaymentNotFoundError):
            app.get_payment(payment_id_for("s001", "nope"))

    def test_summary_counts_and_totals(self, app: Payments) -> None:
        assert app.summary().captured_count == 0
        app.authorize(request("k1"))
        app.authorize(request("k2", amount_minor=50))
        app.authorize(request("k3", currency="USD", amount_minor=700))
        app.authorize(request("k4", pan=DECLINE_51))
        app.authorize(request("k1"))  # a retry counts once
        totals = app.summary()
        assert (totals.captured_count, totals.declined_count) == (3, 1)
        assert totals.captured_total_minor_by_currency == {"EUR": 1300, "USD": 700}
        app.authorize(request("k5", amount_minor=1))
        assert app.summary().captured_total_minor_by_currency["EUR"] == 1301

    def test_summary_is_right_after_a_restart(
        self, app: Payments, settings: Settings, acquirer: RecordingAcquirer
    ) -> None:
        app.authorize(request("k1"))
        app.authorize(request("k2", pan=DECLINE_05))
        restarted = self.replica(settings, acquirer)
        try:
            totals = restarted.summary()
            assert (totals.captured_count, totals.declined_count) == (1, 1)
            assert totals.captured_total_minor_by_currency == {"EUR": 1250}
        finally:
            restarted.close()

    def test_no_pan_in_the_event_store(self, app: Payments, settings: Settings) -> None:
        for index, pan in enumerate(TEST_PANS):
            app.authorize(request(f"k{index}", pan=pan))
        stored = self.stored_bytes(settings)
        assert b"411111******1111" in stored  # the scan does see the payments
        for pan in TEST_PANS:
            assert stored.count(pan.encode()) == 0, pan
            # ...nor the digits between the first six and the last four.
            assert stored.count(pan[6:-4].encode() + pan[-4:].encode()) == 0, pan


NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
GIFT = "6000123412345678"
GIFT_2 = "6000987698769876"


def stale_once(app: Payments, monkeypatch: pytest.MonkeyPatch, attribute: str,
               stale: object) -> None:
    """Make the app's next load return `stale`: as if it loaded just before another replica
    saved a change (so its own save must collide on the aggregate's version)."""
    real = getattr(app, attribute)
    calls: list[object] = []

    def load(aggregate_id: object) -> object:
        calls.append(aggregate_id)
        return stale if len(calls) == 1 else real(aggregate_id)

    monkeypatch.setattr(app, attribute, load)


class PaymentsLifecycleBehaviour(PaymentsApplicationBehaviour):
    """The life cycle after the request, and gift cards, on the application and its store."""

    clock_now: list[datetime]

    @pytest.fixture
    def app(self, settings: Settings, acquirer: RecordingAcquirer) -> Iterator[Payments]:
        self.clock_now = [NOW]
        app = build_application(settings, acquirer,  # type: ignore[arg-type]
                                clock=lambda: self.clock_now[0])
        yield app
        app.close()

    def replica(self, settings: Settings, acquirer: RecordingAcquirer) -> Payments:
        return build_application(settings, acquirer,  # type: ignore[arg-type]
                                 clock=lambda: self.clock_now[0])

    def preauth(self, app: Payments, key: str = "p1", amount: int = 1000) -> UUID:
        outcome = app.preauthorize(request(key, amount_minor=amount))
        assert outcome.status == "authorized"
        return UUID(outcome.payment_id)

    def sale(self, app: Payments, key: str = "k1", amount: int = 1000) -> UUID:
        outcome = app.authorize(request(key, amount_minor=amount))
        assert outcome.status == "approved"
        return UUID(outcome.payment_id)

    def test_preauth_increment_tip_capture(self, app: Payments) -> None:
        payment_id = self.preauth(app)
        assert app.increment(payment_id, "i1", 500).payment.authorized_minor == 1500
        assert app.adjust_tip(payment_id, "t1", 200).payment.tip_minor == 200
        captured = app.capture(payment_id, "c1")
        assert (captured.payment.status, captured.payment.captured_minor, captured.operation,
                captured.amount_minor) == ("approved", 1700, "capture", 1700)
        assert app.get_payment(payment_id) == captured.payment
        # A completion is a captured tender like a sale: the totals count it.
        assert app.summary().captured_total_minor_by_currency == {"EUR": 1700}

    def test_preauth_declined(self, app: Payments) -> None:
        outcome = app.preauthorize(request(pan=DECLINE_51))
        assert (outcome.status, outcome.kind, outcome.response_code) == (
            "declined", "preauth", "51")
        with pytest.raises(NotAuthorizedError):
            app.capture(UUID(outcome.payment_id), "c1")

    def test_sale_key_reused_for_preauth_is_a_conflict(self, app: Payments) -> None:
        app.authorize(request("k1"))
        with pytest.raises(PaymentConflictError):
            app.preauthorize(request("k1"))

    def test_capture_tolerance_is_the_applications(
        self, app: Payments, settings: Settings, acquirer: RecordingAcquirer
    ) -> None:
        payment_id = self.preauth(app)
        with pytest.raises(CaptureAboveToleranceError):
            app.capture(payment_id, "c1", 1201)
        strict = build_application(settings, acquirer,  # type: ignore[arg-type]
                                   capture_tolerance_percent=0)
        try:
            with pytest.raises(CaptureAboveToleranceError):
                strict.capture(payment_id, "c2", 1001)
        finally:
            strict.close()
        assert app.capture(payment_id, "c3", 1200).payment.captured_minor == 1200

    def test_operation_retry_and_conflict(
        self, app: Payments, acquirer: RecordingAcquirer
    ) -> None:
        payment_id = self.preauth(app)
        first = app.increment(payment_id, "i1", 300)
        stored, calls = app.events_stored(), acquirer.calls
        assert app.increment(payment_id, "i1", 300) == first
        assert (app.events_stored(), acquirer.calls) == (stored, calls)  # not asked again
        with pytest.raises(OperationKeyConflictError):
            app.increment(payment_id, "i1", 301)
        with pytest.raises(OperationKeyConflictError):
            app.void(payment_id, "i1")

    def test_void(self, app: Payments) -> None:
        payment_id = self.preauth(app)
        assert app.void(payment_id, "v1", "customer left").payment.status == "voided"
        with pytest.raises(NotAuthorizedError):
            app.capture(payment_id, "c1")
        with pytest.raises(NotAuthorizedError):
            app.void(self.sale(app), "v2")

    def test_refunds_partial_several_and_bounded(self, app: Payments) -> None:
        payment_id = self.sale(app)
        app.refund(payment_id, "r1", 400)
        assert app.refund(payment_id, "r2", 600).payment.refunded_minor == 1000
        assert app.refund(payment_id, "r1", 400).amount_minor == 400  # a retry
        with pytest.raises(RefundExceedsCapturedError):
            app.refund(payment_id, "r3", 1)

    def test_refund_window(self, app: Payments) -> None:
        payment_id = self.sale(app)
        self.clock_now[0] = NOW + timedelta(days=90)
        app.refund(payment_id, "r1", 1)
        self.clock_now[0] = NOW + timedelta(days=91)
        with pytest.raises(RefundWindowExpiredError):
            app.refund(payment_id, "r2", 1)

    def test_unreferenced_refund(self, app: Payments, acquirer: RecordingAcquirer) -> None:
        with pytest.raises(RefundNotPermittedError):
            app.refund_unreferenced(request("u1"), permitted=False)
        assert app.events_stored() == 0
        outcome = app.refund_unreferenced(request("u1"), permitted=True)
        assert (outcome.status, outcome.kind, outcome.refunded_minor) == (
            "refunded", "refund", 1250)
        assert app.refund_unreferenced(request("u1"), permitted=True) == outcome
        with pytest.raises(PaymentConflictError):
            app.refund_unreferenced(request("u1", amount_minor=1), permitted=True)
        assert acquirer.calls == 0
        assert app.summary().captured_count == 0  # money out is not a captured tender

    def test_reversal_of_an_unknown_outcome(
        self, app: Payments, acquirer: RecordingAcquirer
    ) -> None:
        acquirer.fail_next = True
        with pytest.raises(ConnectionError):
            app.authorize(request())
        payment_id = payment_id_for("s001", "k1")
        reversed_ = app.reverse(payment_id, "x1")
        assert (reversed_.payment.status, reversed_.payment.reason) == (
            "reversed", "no answer")
        # A retry of the request now returns the reversal: no second try at charging.
        assert app.authorize(request()).status == "reversed"
        assert acquirer.calls == 1
        with pytest.raises(NotPendingError):
            app.reverse(self.sale(app, "k2"), "x2")

    def test_unknown_payment_operations(self, app: Payments) -> None:
        with pytest.raises(PaymentNotFoundError):
            app.refund(payment_id_for("s001", "nope"), "r1", 1)

    def test_concurrent_duplicate_refund_collides_and_returns_the_first(
        self, app: Payments, settings: Settings, acquirer: RecordingAcquirer,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        payment_id = self.sale(app)
        stale = app.repository.get(payment_id)
        first = app.refund(payment_id, "r1", 600)
        other = self.replica(settings, acquirer)
        try:
            stale_once(other, monkeypatch, "_payment", stale)
            assert other.refund(payment_id, "r1", 600) == first
            assert app.repository.get(payment_id).version == 3  # one refund, not two
        finally:
            other.close()

    def test_concurrent_refunds_never_exceed_the_capture(
        self, app: Payments, settings: Settings, acquirer: RecordingAcquirer,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        payment_id = self.sale(app)
        stale = app.repository.get(payment_id)
        app.refund(payment_id, "r1", 600)
        other = self.replica(settings, acquirer)
        try:
            # Judged on the stale state, 600 more would fit; the collision re-judges it.
            stale_once(other, monkeypatch, "_payment", stale)
            with pytest.raises(RefundExceedsCapturedError):
                other.refund(payment_id, "r2", 600)
        finally:
            other.close()

    def test_concurrent_duplicate_requests_in_threads(self, app: Payments) -> None:
        payment_id = self.sale(app)
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda _: app.refund(payment_id, "r1", 100), range(8)))
        assert all(result == results[0] for result in results)
        assert app.repository.get(payment_id).refunded_minor == 100

    # -- gift cards -------------------------------------------------------------------------

    def test_gift_card_flow(self, app: Payments) -> None:
        activated = app.activate_gift_card(GIFT, "s001", "a1", "EUR", 5000)
        assert (activated.status, activated.balance_minor, activated.masked_number) == (
            "active", 5000, "************5678")
        assert app.activate_gift_card(GIFT, "s001", "a1", "EUR", 5000) == activated
        assert app.load_gift_card(GIFT, "s002", "l1", 1000).balance_minor == 6000
        redeemed = app.redeem_gift_card(GIFT, "s001", "x1", "sale-1", 2500)
        assert (redeemed.balance_minor, redeemed.operation, redeemed.amount_minor) == (
            3500, "redeem", 2500)
        assert app.redeem_gift_card(GIFT, "s001", "x1", "sale-1", 2500) == redeemed
        assert app.refund_gift_card(GIFT, "s001", "f1", "sale-1", 500).balance_minor == 4000
        blocked = app.block_gift_card(GIFT, "s001", "b1", "lost")
        assert blocked.status == "blocked"
        with pytest.raises(GiftCardBlockedError):
            app.redeem_gift_card(GIFT, "s001", "x2", "sale-2", 1)
        balance = app.gift_card_balance(GIFT)
        assert (balance.status, balance.balance_minor, balance.operation) == (
            "blocked", 4000, "")

    def test_gift_card_refusals(self, app: Payments) -> None:
        with pytest.raises(GiftCardNotFoundError):
            app.gift_card_balance(GIFT)
        with pytest.raises(GiftCardNotFoundError):
            app.redeem_gift_card(GIFT, "s001", "x1", "sale-1", 1)
        with pytest.raises(InvalidGiftCardError):
            app.gift_card_balance("12")
        app.activate_gift_card(GIFT, "s001", "a1", "EUR", 100)
        with pytest.raises(GiftCardOperationConflictError):
            app.activate_gift_card(GIFT, "s001", "a1", "EUR", 200)
        with pytest.raises(GiftCardAlreadyActivatedError):
            app.activate_gift_card(GIFT, "s001", "a2", "EUR", 100)
        with pytest.raises(GiftCardInsufficientFundsError):
            app.redeem_gift_card(GIFT, "s001", "x1", "sale-1", 101)
        with pytest.raises(GiftCardOperationConflictError):
            app.load_gift_card(GIFT, "s001", "a1", 100)

    def test_concurrent_redemptions_never_go_below_zero(
        self, app: Payments, settings: Settings, acquirer: RecordingAcquirer,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        app.activate_gift_card(GIFT, "s001", "a1", "EUR", 1000)
        card_id = app.gift_card_id(GIFT)
        stale = app.repository.get(card_id)
        first = app.redeem_gift_card(GIFT, "s001", "x1", "sale-1", 700)
        other = self.replica(settings, acquirer)
        try:
            stale_once(other, monkeypatch, "_gift_card", stale)
            assert other.redeem_gift_card(GIFT, "s001", "x1", "sale-1", 700) == first
            stale_once(other, monkeypatch, "_gift_card", stale)
            with pytest.raises(GiftCardInsufficientFundsError):
                other.redeem_gift_card(GIFT, "s001", "x2", "sale-2", 700)
        finally:
            other.close()
        assert app.gift_card_balance(GIFT).balance_minor == 300

    def test_concurrent_activation_collides(
        self, app: Payments, settings: Settings, acquirer: RecordingAcquirer,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        first = app.activate_gift_card(GIFT, "s001", "a1", "EUR", 1000)
        other = self.replica(settings, acquirer)
        try:
            blind = iter([None])
            real = other._gift_card_or_none
            monkeypatch.setattr(other, "_gift_card_or_none",
                                lambda card_id: next(blind, None) or real(card_id))
            assert other.activate_gift_card(GIFT, "s001", "a1", "EUR", 1000) == first
        finally:
            other.close()

    def test_no_card_number_in_the_store_after_every_flow(
        self, app: Payments, settings: Settings, acquirer: RecordingAcquirer
    ) -> None:
        for index, pan in enumerate(TEST_PANS):
            app.preauthorize(request(f"p{index}", pan=pan))
            app.refund_unreferenced(request(f"u{index}", pan=pan), permitted=True)
        payment_id = self.preauth(app, "p-main")
        app.increment(payment_id, "i1", 100)
        app.adjust_tip(payment_id, "t1", 50)
        app.capture(payment_id, "c1")
        app.refund(payment_id, "r1", 100)
        self.preauth(app, "p-void")
        app.void(payment_id_for("s001", "p-void"), "v1")
        acquirer.fail_next = True
        with pytest.raises(ConnectionError):
            app.authorize(request("k-lost", pan=MASTERCARD))
        app.reverse(payment_id_for("s001", "k-lost"), "x1")
        for number in (GIFT, GIFT_2):
            app.activate_gift_card(number, "s001", "a1", "EUR", 1000)
            app.redeem_gift_card(number, "s001", "x1", "sale-1", 100)
            app.refund_gift_card(number, "s001", "f1", "sale-1", 100)
            app.load_gift_card(number, "s001", "l1", 100)
            app.block_gift_card(number, "s001", "b1")
        stored = self.stored_bytes(settings)
        assert b"************5678" in stored and b"555555******4444" in stored
        for secret in (*TEST_PANS, GIFT, GIFT_2):
            assert stored.count(secret.encode()) == 0, secret
            assert stored.count(secret[6:].encode()) == 0, secret


class TestPaymentsWithSQLite(PaymentsLifecycleBehaviour):
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return test_settings(tmp_path)

    def stored_bytes(self, settings: Settings) -> bytes:
        files = sorted(settings.service_dir("payments").glob("events.sqlite*"))
        assert files, "no event store file"
        return b"".join(path.read_bytes() for path in files)


@pytest.mark.postgres
class TestPaymentsWithPostgres(PaymentsLifecycleBehaviour):
    @pytest.fixture
    def settings(self, tmp_path: Path, postgres_dsn: str) -> Settings:
        return test_settings(tmp_path, postgres_dsn=postgres_dsn)

    def stored_bytes(self, settings: Settings) -> bytes:
        chunks: list[bytes] = []
        with psycopg.connect(settings.postgres_dsn) as conn:
            tables = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                ("payments",),
            ).fetchall()
            assert tables, "no event store tables"
            for (table,) in tables:
                query = sql.SQL("SELECT t::text FROM {}.{} t").format(
                    sql.Identifier("payments"), sql.Identifier(table))
                chunks.extend(row[0].encode() for row in conn.execute(query))
                # bytea columns print as hex in ::text; decode the payloads as well.
                query = sql.SQL("SELECT state FROM {}.{}").format(
                    sql.Identifier("payments"), sql.Identifier(table))
                try:
                    chunks.extend(bytes(row[0]) for row in conn.execute(query))
                except psycopg.errors.UndefinedColumn:
                    conn.rollback()
        return b"\n".join(chunks)

