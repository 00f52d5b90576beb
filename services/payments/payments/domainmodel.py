"""Payments' aggregate, `Payment`, and the card rules around it.

Card data: the full PAN is only ever an argument to the functions here; what a Payment keeps
(and so what its events store) is the keyed token, the masked PAN, the scheme and the expiry
month and year. Never the PAN, never a CVV.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

#: Namespace of Payment ids: uuid5(PAYMENT_NAMESPACE, f"{store_id}:{idempotency_key}").
#: Fixed forever: a retried request must find the id its first attempt made.
PAYMENT_NAMESPACE = UUID("0b7a9d2e-5c4f-4e8a-b1d3-7f6e2a9c4b58")

PENDING = "pending"
CAPTURED = "captured"
DECLINED = "declined"

APPROVED_CODE = "00"


class PaymentError(Exception):
    """Base of the errors a Payment raises when a command is refused."""


class InvalidCardError(PaymentError):
    """A PAN that is not a card number, or an expiry that is not a date."""


class PaymentAlreadyFinalError(PaymentError):
    """The payment already has its result."""


def payment_id_for(store_id: str, idempotency_key: str) -> UUID:
    """The id of the payment a client's idempotency key names, in its store."""
    return uuid5(PAYMENT_NAMESPACE, f"{store_id}:{idempotency_key}")


# -- card rules -----------------------------------------------------------------------------


def luhn_valid(pan: str) -> bool:
    """The Luhn check digit holds (and the PAN is 12 to 19 digits)."""
    if not (pan.isascii() and pan.isdigit() and 12 <= len(pan) <= 19):
        return False
    total = 0
    for index, char in enumerate(reversed(pan)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def mask_pan(pan: str) -> str:
    """First 6 and last 4 digits, a `*` for each digit between (PCI DSS display rule)."""
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def card_scheme(pan: str) -> str:
    """The card scheme from the BIN: visa, mastercard, amex, or other."""
    if pan.startswith("4"):
        return "visa"
    if 51 <= int(pan[:2]) <= 55 or 2221 <= int(pan[:4]) <= 2720:
        return "mastercard"
    if pan[:2] in {"34", "37"}:
        return "amex"
    return "other"


def parse_expiry(expiry: str) -> tuple[int, int]:
    """`MM/YY` -> (month, four-digit year)."""
    month_text, sep, year_text = expiry.partition("/")
    if not (sep and len(month_text) == 2 and len(year_text) == 2
            and month_text.isdigit() and year_text.isdigit()):
        raise InvalidCardError("expiry must be MM/YY")
    month = int(month_text)
    if not 1 <= month <= 12:
        raise InvalidCardError("expiry month must be 01..12")
    return month, 2000 + int(year_text)


class CardTokenizer:
    """Keyed HMAC-SHA256 of a PAN: the same card always gets the same token, and the token
    cannot be turned back into the PAN (or guessed by hashing candidate PANs) without the key.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a card token key has at least 16 bytes")
        self._key = key

    def token(self, pan: str) -> str:
        return hmac.new(self._key, pan.encode("ascii"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Card:
    """What payments may keep of a card."""

    token: str
    masked_pan: str
    scheme: str
    expiry_month: int
    expiry_year: int

    @classmethod
    def from_pan(cls, pan: str, expiry: str, tokenizer: CardTokenizer) -> Card:
        """Tokenize and mask a PAN; raises InvalidCardError for a bad number or expiry."""
        if not luhn_valid(pan):
            raise InvalidCardError("card number is not valid")
        month, year = parse_expiry(expiry)
        return cls(tokenizer.token(pan), mask_pan(pan), card_scheme(pan), month, year)


# -- the aggregate ---------------------------------------------------------------------------


class Payment(Aggregate):
    """One payment request and its result: requested -> captured | declined.

    `Requested` is saved before the acquirer is asked, so an outcome that never came back is
    visible (a pending payment) rather than lost.
    """

    # The events, declared so their fields are explicit (and visible to type checkers).
    # Card fields: token, masked PAN, scheme, expiry month/year. Never the PAN.
    class Requested(Aggregate.Created):
        idempotency_key: str
        sale_id: str
        store_id: str
        amount_minor: int
        currency: str
        tender: str
        card_token: str
        masked_pan: str
        scheme: str
        expiry_month: int
        expiry_year: int
        body_hash: str

    class Captured(Aggregate.Event):
        sale_id: str
        store_id: str
        amount_minor: int
        currency: str
        tender: str
        card_token: str
        masked_pan: str
        scheme: str
        auth_code: str
        rrn: str

    class Declined(Aggregate.Event):
        sale_id: str
        store_id: str
        amount_minor: int
        currency: str
        tender: str
        card_token: str
        masked_pan: str
        scheme: str
        response_code: str
        reason: str

    @event(Requested)
    def __init__(
        self,
        id: UUID,
        idempotency_key: str,
        sale_id: str,
        store_id: str,
        amount_minor: int,
        currency: str,
        tender: str,
        card_token: str,
        masked_pan: str,
        scheme: str,
        expiry_month: int,
        expiry_year: int,
        body_hash: str,
    ) -> None:
        self.idempotency_key = idempotency_key
        self.sale_id = sale_id
        self.store_id = store_id
        self.amount_minor = amount_minor
        self.currency = currency
        self.tender = tender
        self.card_token = card_token
        self.masked_pan = masked_pan
        self.scheme = scheme
        self.expiry_month = expiry_month
        self.expiry_year = expiry_year
        self.body_hash = body_hash
        self.status = PENDING
        self.response_code = ""
        self.reason = ""
        self.auth_code = ""
        self.rrn = ""

    @classmethod
    def request(
        cls,
        store_id: str,
        idempotency_key: str,
        sale_id: str,
        amount_minor: int,
        currency: str,
        card: Card,
        body_hash: str,
        tender: str = "card",
    ) -> Payment:
        """A new payment request, its id derived from the store and idempotency key."""
        if not idempotency_key or not sale_id or not store_id:
            raise PaymentError("idempotency_key, sale_id and store_id are required")
        # The store id is a token of every subject this payment publishes on.
        if any(c in store_id for c in ".*> \t\r\n"):
            raise PaymentError(f"store_id {store_id!r} may not contain '.', '*', '>' or spaces")
        if not isinstance(amount_minor, int) or isinstance(amount_minor, bool) \
                or amount_minor <= 0:
            raise PaymentError("amount_minor must be a positive integer of minor units")
        if not (len(currency) == 3 and currency.isalpha() and currency.isupper()):
            raise PaymentError(f"not an ISO 4217 currency code: {currency!r}")
        return cls(
            id=payment_id_for(store_id, idempotency_key),
            idempotency_key=idempotency_key,
            sale_id=sale_id,
            store_id=store_id,
            amount_minor=amount_minor,
            currency=currency,
            tender=tender,
            card_token=card.token,
            masked_pan=card.masked_pan,
            scheme=card.scheme,
            expiry_month=card.expiry_month,
            expiry_year=card.expiry_year,
            body_hash=body_hash,
        )

    def capture(self, auth_code: str, rrn: str) -> None:
        """The acquirer approved: the money is captured."""
        self._check_pending()
        self._captured(
            sale_id=self.sale_id, store_id=self.store_id, amount_minor=self.amount_minor,
            currency=self.currency, tender=self.tender, card_token=self.card_token,
            masked_pan=self.masked_pan, scheme=self.scheme, auth_code=auth_code, rrn=rrn,
        )

    @event(Captured)
    def _captured(
        self, sale_id: str, store_id: str, amount_minor: int, currency: str, tender: str,
        card_token: str, masked_pan: str, scheme: str, auth_code: str, rrn: str,
    ) -> None:
        # The event repeats the request's public details: it is what PaymentCaptured publishes.
        self.status = CAPTURED
        self.response_code = APPROVED_CODE
        self.auth_code = auth_code
        self.rrn = rrn

    def decline(self, response_code: str, reason: str) -> None:
        """The acquirer (or the issuer behind it) said no."""
        self._check_pending()
        if response_code == APPROVED_CODE:
            raise PaymentError("a decline cannot carry the approval code")
        self._declined(
            sale_id=self.sale_id, store_id=self.store_id, amount_minor=self.amount_minor,
            currency=self.currency, tender=self.tender, card_token=self.card_token,
            masked_pan=self.masked_pan, scheme=self.scheme, response_code=response_code,
            reason=reason,
        )

    @event(Declined)
    def _declined(
        self, sale_id: str, store_id: str, amount_minor: int, currency: str, tender: str,
        card_token: str, masked_pan: str, scheme: str, response_code: str, reason: str,
    ) -> None:
        self.status = DECLINED
        self.response_code = response_code
        self.reason = reason

    def _check_pending(self) -> None:
        if self.status != PENDING:
            raise PaymentAlreadyFinalError(f"payment {self.id} is already {self.status}")
