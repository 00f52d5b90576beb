"""The Payments application on every storage: the same tests on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from payments.acquirer import AuthorizationResult, SimulatedAcquirer
from payments.application import (
    AuthorizationRequest,
    PaymentConflictError,
    PaymentInProgressError,
    PaymentNotFoundError,
    Payments,
)
from payments.domainmodel import InvalidCardError, payment_id_for
from payments.main import build_application
from tillstream.settings import Settings
from tillstream.testing import test_settings

VISA = "4111111111111111"
MASTERCARD = "5555555555554444"
DECLINE_51 = "4000000000000051"
DECLINE_05 = "5500000000090005"
DECLINE_91 = "4000000000020091"
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


class TestPaymentsWithSQLite(PaymentsApplicationBehaviour):
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return test_settings(tmp_path)

    def stored_bytes(self, settings: Settings) -> bytes:
        files = sorted(settings.service_dir("payments").glob("events.sqlite*"))
        assert files, "no event store file"
        return b"".join(path.read_bytes() for path in files)


@pytest.mark.postgres
class TestPaymentsWithPostgres(PaymentsApplicationBehaviour):
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

