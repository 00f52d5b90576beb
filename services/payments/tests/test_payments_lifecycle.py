"""Unit tests of the Payment life cycle and the GiftCard aggregate: every transition, every
guard, and the idempotency of every keyed operation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from payments.domainmodel import (
    ACTIVE,
    AUTHORIZED,
    BLOCKED,
    CAPTURED,
    PREAUTH,
    REFUNDED,
    REVERSED,
    UNREFERENCED_REFUND,
    VOIDED,
    CaptureAboveToleranceError,
    Card,
    CardTokenizer,
    GiftCard,
    GiftCardBlockedError,
    GiftCardCurrencyMismatchError,
    GiftCardInsufficientFundsError,
    GiftCardOperationConflictError,
    GiftCardRefundExceedsRedeemedError,
    IllegalTransitionError,
    InvalidGiftCardError,
    NotAuthorizedError,
    NotCapturedError,
    NotPendingError,
    OperationKeyConflictError,
    Payment,
    PaymentAlreadyFinalError,
    PaymentError,
    RefundExceedsCapturedError,
    RefundNotPermittedError,
    RefundWindowExpiredError,
    gift_card_id_for,
    gift_card_number_checked,
    mask_gift_card,
)
from tillstream.testing import card_number

VISA = card_number("411111", ending="1111")
TOKENIZER = CardTokenizer(b"k" * 32)
T0 = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
WINDOW = timedelta(days=90)


def card() -> Card:
    return Card.from_pan(VISA, "12/39", TOKENIZER)


def sale(amount: int = 1000) -> Payment:
    payment = Payment.request("s001", "k1", "sale-1", amount, "EUR", card(), "h")
    payment.capture("123456", "000000000001", captured_at=T0)
    return payment


def preauth(amount: int = 1000) -> Payment:
    payment = Payment.request("s001", "k1", "sale-1", amount, "EUR", card(), "h", kind=PREAUTH)
    payment.authorize("654321", "000000000002")
    return payment


def pending(kind: str = "sale") -> Payment:
    return Payment.request("s001", "k1", "sale-1", 1000, "EUR", card(), "h", kind=kind)


def last_event(aggregate: Payment | GiftCard) -> object:
    return aggregate.collect_events()[-1]


class TestPreauthorization:
    def test_authorize_holds_without_capture(self) -> None:
        payment = preauth()
        assert (payment.status, payment.authorized_minor, payment.captured_minor) == (
            AUTHORIZED, 1000, 0)
        assert isinstance(last_event(payment), Payment.Authorized)

    def test_a_sale_is_not_only_authorized_nor_a_preauth_captured_by_approval(self) -> None:
        with pytest.raises(IllegalTransitionError):
            pending().authorize("1", "2")
        with pytest.raises(IllegalTransitionError):
            pending(PREAUTH).capture("1", "2")

    def test_authorize_twice_refused(self) -> None:
        with pytest.raises(PaymentAlreadyFinalError):
            preauth().authorize("1", "2")

    def test_declined_preauth_cannot_be_captured(self) -> None:
        payment = pending(PREAUTH)
        payment.decline("51", "insufficient funds")
        with pytest.raises(NotAuthorizedError):
            payment.complete("c1", "h", 20)


class TestIncrement:
    def test_raises_the_authorized_amount(self) -> None:
        payment = preauth()
        payment.increase("i1", "h1", 500, "111111")
        payment.increase("i2", "h2", 250)
        assert payment.authorized_minor == 1750
        event = last_event(payment)
        assert isinstance(event, Payment.AuthorizationIncreased)
        assert (event.increment_minor, event.authorized_minor, event.currency) == (
            250, 1750, "EUR")

    def test_same_key_same_body_is_a_retry(self) -> None:
        payment = preauth()
        payment.increase("i1", "h1", 500)
        payment.increase("i1", "h1", 500)
        assert payment.authorized_minor == 1500 and len(payment.collect_events()) == 3

    def test_same_key_other_body_is_a_conflict(self) -> None:
        payment = preauth()
        payment.increase("i1", "h1", 500)
        with pytest.raises(OperationKeyConflictError):
            payment.increase("i1", "h2", 600)
        with pytest.raises(OperationKeyConflictError):
            payment.void("i1", "h1")  # a key names one operation only

    @pytest.mark.parametrize("amount", [0, -5, True])
    def test_amount_guard(self, amount: int) -> None:
        with pytest.raises(PaymentError):
            preauth().increase("i1", "h", amount)

    def test_only_an_authorized_preauth(self) -> None:
        with pytest.raises(NotAuthorizedError):
            sale().increase("i1", "h", 10)
        with pytest.raises(NotAuthorizedError):
            pending(PREAUTH).increase("i1", "h", 10)
        with pytest.raises(PaymentError):
            preauth().increase("", "h", 10)


class TestTipAndCapture:
    def test_capture_defaults_to_authorized_plus_tip(self) -> None:
        payment = preauth()
        payment.adjust_tip("t1", "h", 150, 20)
        payment.adjust_tip("t2", "h", 200, 20)  # replaces the first tip
        payment.complete("c1", "hc", 20, captured_at=T0)
        assert (payment.status, payment.tip_minor, payment.captured_minor) == (
            CAPTURED, 200, 1200)
        captured = last_event(payment)
        assert isinstance(captured, Payment.Captured)
        assert (captured.amount_minor, captured.auth_code, captured.operation_key) == (
            1200, "654321", "c1")

    def test_capture_explicit_amount_up_to_tolerance(self) -> None:
        payment = preauth()
        payment.complete("c1", "h", 20, amount_minor=1200)
        assert payment.captured_minor == 1200

    def test_capture_less_than_authorized(self) -> None:
        payment = preauth()
        payment.complete("c1", "h", 20, amount_minor=400)
        assert payment.captured_minor == 400

    def test_capture_above_tolerance_refused(self) -> None:
        with pytest.raises(CaptureAboveToleranceError):
            preauth().complete("c1", "h", 20, amount_minor=1201)
        with pytest.raises(CaptureAboveToleranceError):
            preauth().complete("c1", "h", 0, amount_minor=1001)

    def test_tolerance_rounds_down(self) -> None:
        with pytest.raises(CaptureAboveToleranceError):
            preauth(999).complete("c1", "h", 20, amount_minor=1199)  # 999*1.2 = 1198.8
        preauth(999).complete("c1", "h", 20, amount_minor=1198)

    def test_tip_above_tolerance_refused(self) -> None:
        with pytest.raises(CaptureAboveToleranceError):
            preauth().adjust_tip("t1", "h", 201, 20)

    def test_tip_guards(self) -> None:
        with pytest.raises(PaymentError):
            preauth().adjust_tip("t1", "h", -1, 20)
        with pytest.raises(NotAuthorizedError):
            sale().adjust_tip("t1", "h", 100, 20)  # a sale is captured already

    def test_no_tip_or_second_capture_after_capture(self) -> None:
        payment = preauth()
        payment.complete("c1", "h", 20)
        with pytest.raises(NotAuthorizedError):
            payment.adjust_tip("t1", "h", 10, 20)
        with pytest.raises(NotAuthorizedError):
            payment.complete("c2", "h", 20)

    def test_capture_retry_is_idempotent_and_conflict_detected(self) -> None:
        payment = preauth()
        payment.complete("c1", "h", 20, amount_minor=900)
        payment.complete("c1", "h", 20, amount_minor=900)
        assert len(payment.collect_events()) == 3
        with pytest.raises(OperationKeyConflictError):
            payment.complete("c1", "other", 20, amount_minor=800)

    def test_cannot_capture_a_sale_again(self) -> None:
        with pytest.raises(NotAuthorizedError):
            sale().complete("c1", "h", 20)


class TestVoid:
    def test_void_releases_the_authorization(self) -> None:
        payment = preauth()
        payment.increase("i1", "h", 100)
        payment.void("v1", "h", "customer left")
        assert payment.status == VOIDED
        voided = last_event(payment)
        assert isinstance(voided, Payment.Voided)
        assert (voided.amount_minor, voided.reason) == (1100, "customer left")

    def test_void_guards(self) -> None:
        with pytest.raises(NotAuthorizedError):
            sale().void("v1", "h")  # captured: refund it instead
        with pytest.raises(NotAuthorizedError):
            pending(PREAUTH).void("v1", "h")  # unknown outcome: reverse it instead
        payment = preauth()
        payment.void("v1", "h")
        payment.void("v1", "h")  # a retry
        with pytest.raises(NotAuthorizedError):
            payment.void("v2", "h")
        with pytest.raises(NotAuthorizedError):
            payment.complete("c1", "h", 20)


class TestRefund:
    def test_partial_and_several_refunds_up_to_the_captured_amount(self) -> None:
        payment = sale(1000)
        payment.refund("r1", "h1", 300, T0, WINDOW)
        payment.refund("r2", "h2", 700, T0 + timedelta(days=1), WINDOW)
        assert payment.refunded_minor == 1000 and payment.status == CAPTURED
        refunded = last_event(payment)
        assert isinstance(refunded, Payment.Refunded)
        assert (refunded.amount_minor, refunded.refunded_total_minor, refunded.referenced,
                refunded.masked_pan) == (700, 1000, True, "411111******1111")
        with pytest.raises(RefundExceedsCapturedError):
            payment.refund("r3", "h3", 1, T0, WINDOW)

    def test_refund_above_captured_refused(self) -> None:
        payment = sale(1000)
        payment.refund("r1", "h1", 600, T0, WINDOW)
        with pytest.raises(RefundExceedsCapturedError):
            payment.refund("r2", "h2", 401, T0, WINDOW)

    def test_refund_of_a_completed_preauth_counts_the_captured_amount(self) -> None:
        payment = preauth(1000)
        payment.complete("c1", "h", 20, amount_minor=1150, captured_at=T0)
        payment.refund("r1", "h", 1150, T0, WINDOW)
        assert payment.refunded_minor == 1150

    def test_refund_window(self) -> None:
        payment = sale()
        payment.refund("r1", "h", 1, T0 + WINDOW, WINDOW)  # the last moment is still in
        with pytest.raises(RefundWindowExpiredError):
            payment.refund("r2", "h", 1, T0 + WINDOW + timedelta(seconds=1), WINDOW)

    def test_unknown_capture_time_is_refused_not_guessed(self) -> None:
        payment = sale()
        payment.captured_at = None  # as a capture recorded before capture times were kept
        with pytest.raises(RefundWindowExpiredError):
            payment.refund("r1", "h", 1, T0, WINDOW)

    def test_retry_and_conflict(self) -> None:
        payment = sale()
        payment.refund("r1", "h", 500, T0, WINDOW)
        payment.refund("r1", "h", 500, T0, WINDOW)
        assert payment.refunded_minor == 500
        with pytest.raises(OperationKeyConflictError):
            payment.refund("r1", "other", 400, T0, WINDOW)

    def test_only_captured_payments(self) -> None:
        with pytest.raises(NotCapturedError):
            preauth().refund("r1", "h", 1, T0, WINDOW)
        with pytest.raises(NotCapturedError):
            pending().refund("r1", "h", 1, T0, WINDOW)
        declined = pending()
        declined.decline("05", "do not honor")
        with pytest.raises(NotCapturedError):
            declined.refund("r1", "h", 1, T0, WINDOW)

    @pytest.mark.parametrize("amount", [0, -1, False])
    def test_amount_guard(self, amount: int) -> None:
        with pytest.raises(PaymentError):
            sale().refund("r1", "h", amount, T0, WINDOW)


class TestUnreferencedRefund:
    def test_needs_the_permission(self) -> None:
        with pytest.raises(RefundNotPermittedError):
            Payment.refund_unreferenced("s001", "u1", "sale-1", 500, "EUR", card(), "h", False)

    def test_born_refunded(self) -> None:
        payment = Payment.refund_unreferenced("s001", "u1", "sale-1", 500, "EUR", card(), "h",
                                              True)
        assert (payment.kind, payment.status, payment.refunded_minor) == (
            UNREFERENCED_REFUND, REFUNDED, 500)
        _requested, refunded = payment.collect_events()
        assert isinstance(refunded, Payment.Refunded) and refunded.referenced is False
        with pytest.raises(NotCapturedError):
            payment.refund("r1", "h", 1, T0, WINDOW)
        with pytest.raises(NotPendingError):
            payment.reverse("x1", "h", "no answer")

    def test_guards(self) -> None:
        with pytest.raises(PaymentError):
            Payment.refund_unreferenced("s001", "u1", "sale-1", 0, "EUR", card(), "h", True)


class TestReversal:
    @pytest.mark.parametrize("kind", ["sale", PREAUTH])
    def test_unknown_outcome_is_reversed(self, kind: str) -> None:
        payment = pending(kind)
        payment.reverse("x1", "h", "no answer")
        assert (payment.status, payment.reason) == (REVERSED, "no answer")
        reversed_ = last_event(payment)
        assert isinstance(reversed_, Payment.Reversed) and reversed_.amount_minor == 1000
        payment.reverse("x1", "h", "no answer")  # a retry
        with pytest.raises(PaymentAlreadyFinalError):
            payment.capture("1", "2")  # a late answer does not resurrect it

    def test_a_payment_with_an_outcome_is_not_reversed(self) -> None:
        with pytest.raises(NotPendingError):
            sale().reverse("x1", "h", "no answer")
        with pytest.raises(NotPendingError):
            preauth().reverse("x1", "h", "no answer")


class TestGiftCardRules:
    def test_number_checks_and_mask(self) -> None:
        assert gift_card_number_checked("6000123412341234") == "6000123412341234"
        assert mask_gift_card("6000123412341234") == "************1234"
        for bad in ("", "1234567", "6000 1234", "6" * 20, "abcdefghij"):
            with pytest.raises(InvalidGiftCardError):
                gift_card_number_checked(bad)


def gift_card(amount: int = 5000) -> GiftCard:
    return GiftCard.activate("tok", "****1234", "s001", "EUR", amount, "a1", "ha")


class TestGiftCard:
    def test_activate(self) -> None:
        card_ = gift_card()
        assert (card_.id, card_.status, card_.balance_minor, card_.currency) == (
            gift_card_id_for("tok"), ACTIVE, 5000, "EUR")
        assert gift_card(0).balance_minor == 0

    @pytest.mark.parametrize(("currency", "amount", "store", "key"), [
        ("eur", 1, "s001", "a1"), ("EUR", -1, "s001", "a1"), ("EUR", 1, "s.1", "a1"),
        ("EUR", 1, "s001", ""), ("EUR", True, "s001", "a1"),
    ])
    def test_activate_guards(self, currency: str, amount: int, store: str, key: str) -> None:
        with pytest.raises(InvalidGiftCardError):
            GiftCard.activate("tok", "****1234", store, currency, amount, key, "h")

    def test_load_redeem_refund(self) -> None:
        card_ = gift_card(1000)
        card_.load("l1", "h", "s002", 500)
        card_.redeem("r1", "h", "s001", "sale-1", 1500)
        assert card_.balance_minor == 0
        card_.refund("f1", "h", "s001", "sale-1", 400)
        assert card_.balance_minor == 400
        events = card_.collect_events()
        assert [type(e).__name__ for e in events] == [
            "Activated", "Loaded", "Redeemed", "Refunded"]
        assert all(getattr(e, "masked_number", "") == "****1234" for e in events)

    def test_never_below_zero(self) -> None:
        card_ = gift_card(1000)
        with pytest.raises(GiftCardInsufficientFundsError):
            card_.redeem("r1", "h", "s001", "sale-1", 1001)
        card_.redeem("r2", "h", "s001", "sale-1", 1000)
        with pytest.raises(GiftCardInsufficientFundsError):
            card_.redeem("r3", "h", "s001", "sale-1", 1)

    def test_refund_never_more_than_redeemed(self) -> None:
        card_ = gift_card(1000)
        with pytest.raises(GiftCardRefundExceedsRedeemedError):
            card_.refund("f1", "h", "s001", "sale-1", 1)
        card_.redeem("r1", "h", "s001", "sale-1", 300)
        card_.refund("f2", "h", "s001", "sale-1", 300)
        with pytest.raises(GiftCardRefundExceedsRedeemedError):
            card_.refund("f3", "h", "s001", "sale-1", 1)

    def test_block(self) -> None:
        card_ = gift_card(1000)
        card_.redeem("r1", "h", "s001", "sale-1", 200)
        card_.block("b1", "h", "s001", "lost")
        assert card_.status == BLOCKED
        with pytest.raises(GiftCardBlockedError):
            card_.redeem("r2", "h", "s001", "sale-1", 1)
        with pytest.raises(GiftCardBlockedError):
            card_.load("l1", "h", "s001", 1)
        with pytest.raises(GiftCardBlockedError):
            card_.block("b2", "h", "s001", "again")
        card_.block("b1", "h", "s001", "lost")  # a retry of the block is fine
        card_.refund("f1", "h", "s001", "sale-1", 200)  # money still goes back onto it
        assert card_.balance_minor == 1000

    def test_idempotency_per_operation_key(self) -> None:
        card_ = gift_card(1000)
        card_.redeem("r1", "h", "s001", "sale-1", 300)
        card_.redeem("r1", "h", "s001", "sale-1", 300)
        assert card_.balance_minor == 700
        with pytest.raises(GiftCardOperationConflictError):
            card_.redeem("r1", "other", "s001", "sale-1", 200)
        with pytest.raises(GiftCardOperationConflictError):
            card_.load("r1", "h", "s001", 300)
        with pytest.raises(GiftCardOperationConflictError):
            card_.load("a1", "h", "s001", 300)  # the activation's key

    @pytest.mark.parametrize("amount", [0, -1, True])
    def test_amount_guards(self, amount: int) -> None:
        card_ = gift_card()
        with pytest.raises(InvalidGiftCardError):
            card_.load("l1", "h", "s001", amount)
        with pytest.raises(InvalidGiftCardError):
            card_.redeem("r1", "h", "s001", "sale-1", amount)
        with pytest.raises(InvalidGiftCardError):
            card_.refund("f1", "h", "s001", "sale-1", amount)

    def test_currency_must_be_the_cards(self) -> None:
        card_ = gift_card(1000)
        card_.load("l1", "h", "s001", 100, "EUR")
        card_.redeem("r1", "h", "s001", "sale-1", 100, "EUR")
        with pytest.raises(GiftCardCurrencyMismatchError):
            card_.redeem("r2", "h", "s001", "sale-1", 100, "USD")
        with pytest.raises(GiftCardCurrencyMismatchError):
            card_.load("l2", "h", "s001", 100, "USD")
        with pytest.raises(GiftCardCurrencyMismatchError):
            card_.refund("f1", "h", "s001", "sale-1", 100, "GBP")
        assert card_.balance_minor == 1000

    def test_other_guards(self) -> None:
        card_ = gift_card()
        with pytest.raises(InvalidGiftCardError):
            card_.redeem("r1", "h", "s001", "", 1)
        with pytest.raises(InvalidGiftCardError):
            card_.load("", "h", "s001", 1)
        with pytest.raises(InvalidGiftCardError):
            card_.load("l1", "h", "s 1", 1)
