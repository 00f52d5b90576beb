"""Unit tests of payments' aggregate and card rules: each behaviour and each guard."""

from __future__ import annotations

from datetime import date

import pytest

from payments.acquirer import SimulatedAcquirer
from payments.domainmodel import (
    CAPTURED,
    DECLINED,
    PENDING,
    Card,
    CardTokenizer,
    InvalidCardError,
    Payment,
    PaymentAlreadyFinalError,
    PaymentError,
    card_scheme,
    luhn_valid,
    mask_pan,
    parse_expiry,
    payment_id_for,
)
from tillstream.testing import card_number

VISA = card_number("411111", ending="1111")
MASTERCARD = card_number("555555", ending="4444")
AMEX = card_number("378282", 15, ending="0005")
DECLINE_51 = card_number("400000", ending="0051")
DECLINE_05 = card_number("550000", ending="0005")
DECLINE_91 = card_number("400000", ending="0091")
TOKENIZER = CardTokenizer(b"k" * 32)


def card(pan: str = VISA, expiry: str = "12/39") -> Card:
    return Card.from_pan(pan, expiry, TOKENIZER)


def new_payment(**overrides: object) -> Payment:
    args: dict[str, object] = {
        "store_id": "s001", "idempotency_key": "k1", "sale_id": "sale-1",
        "amount_minor": 1250, "currency": "EUR", "card": card(), "body_hash": "h",
    }
    args.update(overrides)
    return Payment.request(**args)  # type: ignore[arg-type]


class TestCardRules:
    @pytest.mark.parametrize("pan", [VISA, MASTERCARD, AMEX, card_number("222300", ending="3222"),
                                     DECLINE_51, card_number("6011", 19)])
    def test_luhn_valid(self, pan: str) -> None:
        assert luhn_valid(pan)

    @pytest.mark.parametrize("pan", ["4111111111111112", "41111111111", "4111 1111 1111 1111",
                                     "", "abcd", "4" * 20, "٤١١١١١١١١١١١١١١١"])
    def test_luhn_invalid(self, pan: str) -> None:
        assert not luhn_valid(pan)

    def test_mask_keeps_first_six_and_last_four(self) -> None:
        assert mask_pan(VISA) == "411111******1111"
        assert mask_pan(AMEX) == "378282*****0005"

    @pytest.mark.parametrize(("pan", "scheme"), [
        (VISA, "visa"), (card_number("510510", ending="5100"), "mastercard"),
        (MASTERCARD, "mastercard"),
        (card_number("222100"), "mastercard"), (card_number("272099"), "mastercard"),
        ("2721000000000000", "other"), (card_number("34", 15), "amex"),
        (AMEX, "amex"), (card_number("601111", ending="1117"), "other"),
    ])
    def test_scheme_from_bin(self, pan: str, scheme: str) -> None:
        assert card_scheme(pan) == scheme

    def test_parse_expiry(self) -> None:
        assert parse_expiry("07/29") == (7, 2029)

    @pytest.mark.parametrize("expiry", ["13/29", "00/29", "7/29", "07-29", "0729", "07/2029", ""])
    def test_parse_expiry_refuses(self, expiry: str) -> None:
        with pytest.raises(InvalidCardError):
            parse_expiry(expiry)

    def test_token_is_keyed_and_stable(self) -> None:
        assert TOKENIZER.token(VISA) == TOKENIZER.token(VISA)
        assert CardTokenizer(b"x" * 32).token(VISA) != TOKENIZER.token(VISA)
        assert VISA not in TOKENIZER.token(VISA)
        assert len(TOKENIZER.token(VISA)) == 64

    def test_tokenizer_refuses_short_key(self) -> None:
        with pytest.raises(ValueError):
            CardTokenizer(b"short")

    def test_card_from_pan_keeps_no_pan(self) -> None:
        c = card(VISA, "03/31")
        assert (c.masked_pan, c.scheme, c.expiry_month, c.expiry_year) == (
            "411111******1111", "visa", 3, 2031)
        assert VISA not in repr(c)

    def test_card_from_invalid_pan_refused(self) -> None:
        with pytest.raises(InvalidCardError):
            card("4111111111111112")


class TestPayment:
    def test_request_derives_id_and_is_pending(self) -> None:
        payment = new_payment()
        assert payment.id == payment_id_for("s001", "k1")
        assert payment.status == PENDING
        assert payment.masked_pan == "411111******1111"
        (requested,) = payment.collect_events()
        assert isinstance(requested, Payment.Requested)
        assert VISA not in str(requested.__dict__)

    def test_payment_id_depends_on_store_and_key(self) -> None:
        assert payment_id_for("s001", "k1") != payment_id_for("s002", "k1")
        assert payment_id_for("s001", "k1") != payment_id_for("s001", "k2")

    def test_capture(self) -> None:
        payment = new_payment()
        payment.capture("123456", "000000000001")
        assert (payment.status, payment.response_code, payment.auth_code, payment.rrn) == (
            CAPTURED, "00", "123456", "000000000001")
        captured = payment.collect_events()[-1]
        assert isinstance(captured, Payment.Captured)
        assert (captured.store_id, captured.amount_minor, captured.masked_pan) == (
            "s001", 1250, "411111******1111")

    def test_decline(self) -> None:
        payment = new_payment()
        payment.decline("51", "insufficient funds")
        assert (payment.status, payment.response_code, payment.reason) == (
            DECLINED, "51", "insufficient funds")

    def test_no_second_result(self) -> None:
        payment = new_payment()
        payment.capture("123456", "000000000001")
        with pytest.raises(PaymentAlreadyFinalError):
            payment.capture("654321", "000000000002")
        with pytest.raises(PaymentAlreadyFinalError):
            payment.decline("05", "do not honor")

    def test_decline_cannot_carry_approval(self) -> None:
        with pytest.raises(PaymentError):
            new_payment().decline("00", "approved")

    @pytest.mark.parametrize("overrides", [
        {"amount_minor": 0}, {"amount_minor": -1}, {"amount_minor": True},
        {"currency": "eur"}, {"currency": "EURO"}, {"idempotency_key": ""},
        {"sale_id": ""}, {"store_id": ""}, {"store_id": "s 1"}, {"store_id": "s.1"},
    ])
    def test_request_guards(self, overrides: dict[str, object]) -> None:
        with pytest.raises(PaymentError):
            new_payment(**overrides)


class TestSimulatedAcquirer:
    acquirer = SimulatedAcquirer(today=lambda: date(2025, 6, 15))

    @pytest.mark.parametrize(("pan", "code"), [
        (DECLINE_51, "51"), (DECLINE_05, "05"), (DECLINE_91, "91"),
    ])
    def test_decline_ranges(self, pan: str, code: str) -> None:
        result = self.acquirer.authorize(pan, "12/30", 100, "EUR")
        assert (result.approved, result.response_code) == (False, code)
        assert result.auth_code == result.rrn == ""

    def test_approves_with_codes(self) -> None:
        result = self.acquirer.authorize(VISA, "12/30", 100, "EUR")
        assert (result.approved, result.response_code) == (True, "00")
        assert len(result.auth_code) == 6 and result.auth_code.isdigit()
        assert len(result.rrn) == 12 and result.rrn.isdigit()

    def test_rrns_differ_between_identical_purchases(self) -> None:
        acquirer = SimulatedAcquirer(today=lambda: date(2025, 6, 15))
        first = acquirer.authorize(VISA, "12/30", 100, "EUR")
        second = acquirer.authorize(VISA, "12/30", 100, "EUR")
        assert first.rrn != second.rrn

    def test_deterministic_from_a_fresh_start(self) -> None:
        one = SimulatedAcquirer(today=lambda: date(2025, 6, 15))
        two = SimulatedAcquirer(today=lambda: date(2025, 6, 15))
        assert one.authorize(VISA, "12/30", 100, "EUR") == two.authorize(VISA, "12/30", 100,
                                                                          "EUR")

    def test_expired_card_declined_54(self) -> None:
        assert self.acquirer.authorize(VISA, "05/25", 100, "EUR").response_code == "54"
        assert self.acquirer.authorize(VISA, "06/25", 100, "EUR").approved
