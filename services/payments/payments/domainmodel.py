"""Payments' aggregates, `Payment` (its whole life cycle) and `GiftCard`, and the card rules
around them.

Card data: the full PAN is only ever an argument to the functions here; what a Payment keeps
(and so what its events store) is the keyed token, the masked PAN, the scheme and the expiry
month and year. Never the PAN, never a CVV. A gift card's number is kept the same way: a keyed
token (its id derives from it) and a masked form.

Illegal transitions raise an error named ...Error (IllegalTransitionError and
GiftCardIllegalTransitionError are the "rejected" ones); nothing is ever a silent no-op, except
a retry of an operation already done under the same key with the same body, which is the
idempotency contract.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

#: Namespace of Payment ids: uuid5(PAYMENT_NAMESPACE, f"{store_id}:{idempotency_key}").
#: Fixed forever: a retried request must find the id its first attempt made.
PAYMENT_NAMESPACE = UUID("0b7a9d2e-5c4f-4e8a-b1d3-7f6e2a9c4b58")

PENDING = "pending"
AUTHORIZED = "authorized"
CAPTURED = "captured"
DECLINED = "declined"
VOIDED = "voided"
REVERSED = "reversed"
REFUNDED = "refunded"

#: Kinds of payment: a sale (authorized and captured at once), a pre-authorization (captured
#: later by a completion), or an unreferenced refund (money back with no original payment).
SALE = "sale"
PREAUTH = "preauth"
UNREFERENCED_REFUND = "refund"

#: Defaults of the application's policy parameters.
DEFAULT_CAPTURE_TOLERANCE_PERCENT = 20
DEFAULT_REFUND_WINDOW = timedelta(days=90)

APPROVED_CODE = "00"


class PaymentError(Exception):
    """Base of the errors a Payment raises when a command is refused."""


class InvalidCardError(PaymentError):
    """A PAN that is not a card number, or an expiry that is not a date."""


class IllegalTransitionError(PaymentError):
    """The command is well formed but not allowed in the payment's present state."""


class PaymentAlreadyFinalError(IllegalTransitionError):
    """The payment already has its result."""


class NotAuthorizedError(IllegalTransitionError):
    """The command needs an approved, not yet captured pre-authorization."""


class NotCapturedError(IllegalTransitionError):
    """A referenced refund needs a captured payment."""


class NotPendingError(IllegalTransitionError):
    """Only a payment whose outcome is unknown (still requested) can be reversed."""


class CaptureAboveToleranceError(IllegalTransitionError):
    """A completion (or a tip) above the authorized amount plus the tolerance."""


class RefundExceedsCapturedError(IllegalTransitionError):
    """The refunds of a payment would add up to more than was captured."""


class RefundWindowExpiredError(IllegalTransitionError):
    """The payment was captured longer ago than the refund window."""


class RefundNotPermittedError(IllegalTransitionError):
    """An unreferenced refund without the permission to give one."""


class OperationKeyConflictError(PaymentError):
    """An operation key re-used for another operation or another body."""


def _check_amount(
    amount_minor: object, name: str = "amount_minor", allow_zero: bool = False
) -> int:
    """An integer number of minor units: positive (or, if allowed, zero)."""
    if (
        not isinstance(amount_minor, int)
        or isinstance(amount_minor, bool)
        or amount_minor < 0
        or (amount_minor == 0 and not allow_zero)
    ):
        qualifier = "non-negative" if allow_zero else "positive"
        raise PaymentError(f"{name} must be a {qualifier} integer of minor units")
    return amount_minor


def _check_currency(currency: str) -> str:
    if not (
        isinstance(currency, str)
        and len(currency) == 3
        and currency.isascii()
        and currency.isalpha()
        and currency.isupper()
    ):
        raise PaymentError(f"not an ISO 4217 currency code: {currency!r}")
    return currency


def _check_store_id(store_id: str) -> str:
    # The store id is a token of every subject the aggregate publishes on.
    if not store_id:
        raise PaymentError("store_id is required")
    if any(c in store_id for c in ".*> \t\r\n"):
        raise PaymentError(f"store_id {store_id!r} may not contain '.', '*', '>' or spaces")
    return store_id


@dataclass(frozen=True)
class Operation:
    """One idempotent operation on an aggregate, remembered under its client key."""

    name: str
    body_hash: str
    amount_minor: int


#: What an operation owed to the acquirer is (see `Payment.owe_to_acquirer`).
OWED_REFUND = "refund"
OWED_VOID = "void"


@dataclass(frozen=True)
class OwedOperation:
    """A refund or void recorded on a host-authorized payment and not yet answered by the
    acquirer: sent (again) by the service's timer until it is. `reference` is the refund's
    retrieval reference number at the acquirer (12 digits, fixed when it is recorded), so a
    resend is the same refund there, never a second one."""

    operation: str
    amount_minor: int
    reference: str
    reason: str


def acquirer_reference(payment_id: UUID, operation_key: str) -> str:
    """The stable 12-digit reference of an operation sent to the acquirer: derived from the
    payment and the operation's key, so every (re)send of it carries the same one."""
    digest = hashlib.sha256(f"{payment_id}:{operation_key}".encode()).hexdigest()
    return f"{int(digest, 16) % 10**12:012d}"


def _replayed(operations: dict[str, Operation], key: str, name: str, body_hash: str) -> bool:
    """True if this key already did this operation with this body (a retry: nothing to do);
    raises OperationKeyConflictError if the key did something else."""
    if not key:
        raise PaymentError("an operation key is required")
    done = operations.get(key)
    if done is None:
        return False
    if done.name != name or done.body_hash != body_hash:
        raise OperationKeyConflictError(
            f"operation key {key!r} was used for another request ({done.name})"
        )
    return True


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
    if not (
        sep
        and len(month_text) == 2
        and len(year_text) == 2
        and month_text.isdigit()
        and year_text.isdigit()
    ):
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


def _ceiling(authorized_minor: int, tolerance_percent: int) -> int:
    """The most a pre-authorization may be completed for: authorized + tolerance, rounded down
    (integer arithmetic: never a float near money)."""
    return authorized_minor + authorized_minor * tolerance_percent // 100


class Payment(Aggregate):
    """One payment and its life cycle.

    sale:    requested -> captured | declined | reversed;  captured -> refunds
    preauth: requested -> authorized | declined | reversed;
             authorized -> (increments, tip adjusts) -> captured (completion) | voided
    refund:  an unreferenced refund is born refunded (money back with no original payment)

    `Requested` is saved before the acquirer is asked, so an outcome that never came back is
    visible (a pending payment, which can then be reversed) rather than lost. Every operation
    after the request carries its own client key, remembered in `operations`: all of them go
    through this one aggregate, so two concurrent operations (duplicates or not) collide on
    the aggregate's version and the loser re-runs against the winner's state.
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
        kind: str

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
        captured_at: datetime | None
        operation_key: str
        body_hash: str
        #: The acquirer link's name of an approved sale (message type, STAN, transmission
        #: time; no card data) that a referenced refund names. Empty with the in-process
        #: acquirer, for terminal approvals and completions, and in events stored before it.
        reference: str = ""

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
        #: The lane that asked (empty when unknown, and in events stored before lanes were
        #: recorded): the risk rules count issuer declines per lane.
        lane_id: str = ""

    class Flagged(Aggregate.Event):
        # A risk rule fired on the request (see payments.risk): `action` is "flag" (the
        # payment went on) or "decline" (declined with code 59, the acquirer never asked).
        store_id: str
        sale_id: str
        rule: str
        action: str
        reason: str
        amount_minor: int
        currency: str
        card_token: str
        masked_pan: str
        scheme: str

    class Authorized(Aggregate.Event):
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
        #: What the acquirer link needs to name this authorization in its completion advice
        #: (message type, STAN, transmission time; no card data). Empty with the in-process
        #: acquirer, and in events stored before it was kept.
        reference: str = ""

    class AuthorizationIncreased(Aggregate.Event):
        operation_key: str
        body_hash: str
        store_id: str
        increment_minor: int
        authorized_minor: int
        currency: str
        auth_code: str

    class TipAdjusted(Aggregate.Event):
        operation_key: str
        body_hash: str
        store_id: str
        tip_minor: int
        currency: str

    class Voided(Aggregate.Event):
        operation_key: str
        body_hash: str
        store_id: str
        amount_minor: int
        currency: str
        reason: str

    class Refunded(Aggregate.Event):
        operation_key: str
        body_hash: str
        store_id: str
        sale_id: str
        amount_minor: int
        currency: str
        refunded_total_minor: int
        referenced: bool
        tender: str
        card_token: str
        masked_pan: str
        scheme: str

    class Reversed(Aggregate.Event):
        operation_key: str
        body_hash: str
        store_id: str
        sale_id: str
        amount_minor: int
        currency: str
        reason: str

    class AtTerminal(Aggregate.Event):
        # Private: the card terminal (and lane) that approved a terminal-authorized sale.
        store_id: str
        terminal_id: str
        lane_id: str
        offline: bool

    class Advised(Aggregate.Event):
        # The acquirer's answer to the advice (0220) of an offline terminal approval;
        # approved false publishes PaymentLateDeclined.
        store_id: str
        sale_id: str
        amount_minor: int
        currency: str
        card_token: str
        masked_pan: str
        scheme: str
        terminal_id: str
        response_code: str
        approved: bool
        reason: str

    class AcquirerOperationOwed(Aggregate.Event):
        # Private: a refund or void of a host-authorized payment, recorded (in the consumer's
        # transaction) and owed to the acquirer; `Refunded`/`Voided` follow its approval,
        # `AcquirerRefusedOperation` its decline.
        operation_key: str
        body_hash: str
        store_id: str
        operation: str
        amount_minor: int
        currency: str
        reference: str
        reason: str

    class AcquirerRefusedOperation(Aggregate.Event):
        # The acquirer declined an owed refund: nothing went back to the card; published as
        # RefundRefused (flagged) for a person to follow up.
        operation_key: str
        store_id: str
        sale_id: str
        operation: str
        amount_minor: int
        currency: str
        tender: str
        response_code: str
        reason: str

    class OutcomeUnknown(Aggregate.Event):
        # Private (no integration event): the request went to the acquirer, no answer came,
        # and its reversal was not confirmed either. `reference` is what the acquirer needs
        # to reverse it later (message type, STAN, transmission time): never card data.
        store_id: str
        reference: str
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
        kind: str = SALE,
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
        self.kind = kind
        self.status = PENDING
        self.response_code = ""
        self.reason = ""
        self.auth_code = ""
        self.rrn = ""
        self.authorized_minor = 0
        self.captured_minor = 0
        self.tip_minor = 0
        self.refunded_minor = 0
        self.captured_at: datetime | None = None
        #: The risk rules that fired on the request (see `flag`).
        self.flags: list[str] = []
        #: Client keys of the operations after the request, and what each one did.
        self.operations: dict[str, Operation] = {}
        #: A request sent with no answer and no confirmed reversal: what to reverse (see
        #: `outcome_unknown`); empty otherwise.
        self.reversal_reference = ""
        #: The acquirer link's name of an approved pre-authorization (see Authorized).
        self.authorization_reference = ""
        #: A terminal-authorized sale (`from_terminal`): where, and whether its advice is owed.
        self.terminal_id = ""
        self.lane_id = ""
        self.advice_owed = False
        self.late_declined = False
        #: Refunds and voids recorded and owed to the acquirer, by operation key.
        self.owed: dict[str, OwedOperation] = {}

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
        kind: str = SALE,
    ) -> Payment:
        """A new payment request, its id derived from the store and idempotency key."""
        if not idempotency_key or not sale_id or not store_id:
            raise PaymentError("idempotency_key, sale_id and store_id are required")
        _check_store_id(store_id)
        _check_amount(amount_minor)
        _check_currency(currency)
        if kind not in (SALE, PREAUTH, UNREFERENCED_REFUND):
            raise PaymentError(f"unknown payment kind {kind!r}")
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
            kind=kind,
        )

    @classmethod
    def from_terminal(
        cls,
        payment_id: UUID,
        store_id: str,
        sale_id: str,
        amount_minor: int,
        currency: str,
        card: Card,
        auth_code: str,
        body_hash: str,
        terminal_id: str,
        lane_id: str,
        offline: bool,
        approved_at: datetime,
    ) -> Payment:
        """A sale the store's card terminal approved on its own (the edge agent reports it):
        born captured, under the id the agent made, so checkout's tender names it. An offline
        approval (no auth code, under the floor limit) still owes its advice to the acquirer
        (`advice_owed`)."""
        if not sale_id or not store_id:
            raise PaymentError("sale_id and store_id are required")
        _check_store_id(store_id)
        _check_amount(amount_minor)
        _check_currency(currency)
        payment = cls(
            id=payment_id,
            idempotency_key=str(payment_id),
            sale_id=sale_id,
            store_id=store_id,
            amount_minor=amount_minor,
            currency=currency,
            tender="card",
            card_token=card.token,
            masked_pan=card.masked_pan,
            scheme=card.scheme,
            expiry_month=card.expiry_month,
            expiry_year=card.expiry_year,
            body_hash=body_hash,
            kind=SALE,
        )
        payment._at_terminal(
            store_id=store_id, terminal_id=terminal_id, lane_id=lane_id, offline=offline
        )
        payment.capture(auth_code=auth_code, rrn="", captured_at=approved_at)
        return payment

    @event(AtTerminal)
    def _at_terminal(self, store_id: str, terminal_id: str, lane_id: str, offline: bool) -> None:
        self.terminal_id = terminal_id
        self.lane_id = lane_id
        self.advice_owed = offline

    def advised(self, response_code: str, approved: bool, reason: str = "") -> None:
        """The acquirer answered the advice of an offline terminal approval. Declined: the
        money was never collected (a late decline, followed up by a person)."""
        if not self.advice_owed:
            raise IllegalTransitionError(f"payment {self.id} owes no advice")
        self._advised(
            store_id=self.store_id,
            sale_id=self.sale_id,
            amount_minor=self.captured_minor,
            currency=self.currency,
            card_token=self.card_token,
            masked_pan=self.masked_pan,
            scheme=self.scheme,
            terminal_id=self.terminal_id,
            response_code=response_code,
            approved=approved,
            reason=reason,
        )

    @event(Advised)
    def _advised(
        self,
        store_id: str,
        sale_id: str,
        amount_minor: int,
        currency: str,
        card_token: str,
        masked_pan: str,
        scheme: str,
        terminal_id: str,
        response_code: str,
        approved: bool,
        reason: str,
    ) -> None:
        self.advice_owed = False
        if not approved:
            self.late_declined = True
            self.reason = reason

    @classmethod
    def refund_unreferenced(
        cls,
        store_id: str,
        idempotency_key: str,
        sale_id: str,
        amount_minor: int,
        currency: str,
        card: Card,
        body_hash: str,
        permitted: bool,
        tender: str = "card",
    ) -> Payment:
        """Money back onto a card with no original payment to refer to.

        Only with the permission flag: it is the classic way to move money out of a till,
        so the caller (a supervisor's override) must say it may.
        """
        if permitted is not True:
            raise RefundNotPermittedError("an unreferenced refund needs the permission flag")
        payment = cls.request(
            store_id,
            idempotency_key,
            sale_id,
            amount_minor,
            currency,
            card,
            body_hash,
            tender,
            kind=UNREFERENCED_REFUND,
        )
        payment._refunded(
            operation_key=idempotency_key,
            body_hash=body_hash,
            store_id=store_id,
            sale_id=sale_id,
            amount_minor=amount_minor,
            currency=currency,
            refunded_total_minor=amount_minor,
            referenced=False,
            tender=tender,
            card_token=card.token,
            masked_pan=card.masked_pan,
            scheme=card.scheme,
        )
        return payment

    # -- the acquirer's answer to the request ----------------------------------------------

    def capture(
        self, auth_code: str, rrn: str, captured_at: datetime | None = None, reference: str = ""
    ) -> None:
        """The acquirer approved a sale: the money is captured."""
        self._check_pending()
        if self.kind != SALE:
            raise IllegalTransitionError(
                f"a {self.kind} is not captured by its approval; use authorize/complete"
            )
        self._captured(
            **self._facts(),
            auth_code=auth_code,
            rrn=rrn,
            captured_at=captured_at or _now(),
            operation_key="",
            body_hash="",
            reference=reference,
        )

    @event(Captured)
    def _captured(
        self,
        sale_id: str,
        store_id: str,
        amount_minor: int,
        currency: str,
        tender: str,
        card_token: str,
        masked_pan: str,
        scheme: str,
        auth_code: str,
        rrn: str,
        captured_at: datetime | None = None,
        operation_key: str = "",
        body_hash: str = "",
        reference: str = "",
    ) -> None:
        # The event repeats the payment's public details: it is what PaymentCaptured
        # publishes, for a sale and for a completion alike (checkout counts either).
        self.status = CAPTURED
        self.response_code = APPROVED_CODE
        self.auth_code = auth_code
        self.rrn = rrn
        self.captured_minor = amount_minor
        self.captured_at = captured_at
        if self.kind == SALE:
            self.authorized_minor = amount_minor
        if reference:
            self.authorization_reference = reference
        if operation_key:
            self.operations[operation_key] = Operation("capture", body_hash, amount_minor)

    def _facts(self) -> dict[str, Any]:
        """What every outcome event of a payment repeats: its sale, store, amount and card."""
        return {
            "sale_id": self.sale_id,
            "store_id": self.store_id,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "tender": self.tender,
            "card_token": self.card_token,
            "masked_pan": self.masked_pan,
            "scheme": self.scheme,
        }

    def authorize(self, auth_code: str, rrn: str, reference: str = "") -> None:
        """The acquirer approved a pre-authorization: the amount is held, not captured."""
        self._check_pending()
        if self.kind != PREAUTH:
            raise IllegalTransitionError(f"a {self.kind} is captured, not only authorized")
        self._authorized(
            **self._facts(),
            auth_code=auth_code,
            rrn=rrn,
            reference=reference,
        )

    @event(Authorized)
    def _authorized(
        self,
        sale_id: str,
        store_id: str,
        amount_minor: int,
        currency: str,
        tender: str,
        card_token: str,
        masked_pan: str,
        scheme: str,
        auth_code: str,
        rrn: str,
        reference: str = "",
    ) -> None:
        self.status = AUTHORIZED
        self.authorization_reference = reference
        self.response_code = APPROVED_CODE
        self.auth_code = auth_code
        self.rrn = rrn
        self.authorized_minor = amount_minor

    def flag(self, rule: str, action: str, reason: str) -> None:
        """A risk rule fired on the request (before the acquirer is asked): recorded with
        the payment; a "decline" action is followed by `decline` with code 59. An
        unreferenced refund is born refunded, so it is flagged right after its birth."""
        if self.kind != UNREFERENCED_REFUND:
            self._check_pending()
        if not rule or action not in ("flag", "decline"):
            raise PaymentError("a flag names its rule and an action of flag or decline")
        self._flagged(
            store_id=self.store_id,
            sale_id=self.sale_id,
            rule=rule,
            action=action,
            reason=reason,
            amount_minor=self.amount_minor,
            currency=self.currency,
            card_token=self.card_token,
            masked_pan=self.masked_pan,
            scheme=self.scheme,
        )

    @event(Flagged)
    def _flagged(
        self,
        store_id: str,
        sale_id: str,
        rule: str,
        action: str,
        reason: str,
        amount_minor: int,
        currency: str,
        card_token: str,
        masked_pan: str,
        scheme: str,
    ) -> None:
        self.flags.append(rule)

    def decline(self, response_code: str, reason: str, lane_id: str = "") -> None:
        """The acquirer (or the issuer behind it, or a risk rule) said no."""
        self._check_pending()
        if response_code == APPROVED_CODE:
            raise PaymentError("a decline cannot carry the approval code")
        self._declined(
            **self._facts(),
            response_code=response_code,
            reason=reason,
            lane_id=lane_id,
        )

    @event(Declined)
    def _declined(
        self,
        sale_id: str,
        store_id: str,
        amount_minor: int,
        currency: str,
        tender: str,
        card_token: str,
        masked_pan: str,
        scheme: str,
        response_code: str,
        reason: str,
        lane_id: str = "",
    ) -> None:
        self.status = DECLINED
        self.response_code = response_code
        self.reason = reason

    # -- operations after the request, each under its own client key -----------------------

    def increase(
        self, operation_key: str, body_hash: str, increment_minor: int, auth_code: str = ""
    ) -> None:
        """Incremental authorization: the issuer approved holding `increment_minor` more."""
        if not self.increase_needed(operation_key, body_hash, increment_minor):
            return
        self._authorization_increased(
            operation_key=operation_key,
            body_hash=body_hash,
            store_id=self.store_id,
            increment_minor=increment_minor,
            authorized_minor=self.authorized_minor + increment_minor,
            currency=self.currency,
            auth_code=auth_code,
        )

    def increase_needed(self, operation_key: str, body_hash: str, increment_minor: int) -> bool:
        """The guards of `increase`, without changing anything: False for a retry of a done
        increment, an error if it is not allowed, else True (the issuer may be asked)."""
        if _replayed(self.operations, operation_key, "increment", body_hash):
            return False
        _check_amount(increment_minor, "increment_minor")
        self._check_authorized("increment")
        return True

    @event(AuthorizationIncreased)
    def _authorization_increased(
        self,
        operation_key: str,
        body_hash: str,
        store_id: str,
        increment_minor: int,
        authorized_minor: int,
        currency: str,
        auth_code: str,
    ) -> None:
        self.authorized_minor = authorized_minor
        self.operations[operation_key] = Operation("increment", body_hash, increment_minor)

    def adjust_tip(
        self, operation_key: str, body_hash: str, tip_minor: int, tolerance_percent: int
    ) -> None:
        """Set the tip on an authorized (not yet captured) pre-authorization.

        The tip replaces any earlier one; authorized amount + tip stays within the tolerance.
        """
        if _replayed(self.operations, operation_key, "adjust_tip", body_hash):
            return
        _check_amount(tip_minor, "tip_minor", allow_zero=True)
        self._check_authorized("tip adjust")
        ceiling = _ceiling(self.authorized_minor, tolerance_percent)
        if self.authorized_minor + tip_minor > ceiling:
            raise CaptureAboveToleranceError(
                f"tip {tip_minor} takes the payment above {ceiling} "
                f"({self.authorized_minor} authorized + {tolerance_percent}%)"
            )
        self._tip_adjusted(
            operation_key=operation_key,
            body_hash=body_hash,
            store_id=self.store_id,
            tip_minor=tip_minor,
            currency=self.currency,
        )

    @event(TipAdjusted)
    def _tip_adjusted(
        self, operation_key: str, body_hash: str, store_id: str, tip_minor: int, currency: str
    ) -> None:
        self.tip_minor = tip_minor
        self.operations[operation_key] = Operation("adjust_tip", body_hash, tip_minor)

    def complete(
        self,
        operation_key: str,
        body_hash: str,
        tolerance_percent: int,
        amount_minor: int | None = None,
        captured_at: datetime | None = None,
        rrn: str | None = None,
    ) -> None:
        """Capture a pre-authorization: `amount_minor` (tip included), or by default the
        authorized amount plus the adjusted tip; never above authorized + tolerance."""
        if _replayed(self.operations, operation_key, "capture", body_hash):
            return
        self._check_authorized("capture")
        total = (
            self.authorized_minor + self.tip_minor
            if amount_minor is None
            else _check_amount(amount_minor)
        )
        ceiling = _ceiling(self.authorized_minor, tolerance_percent)
        if total > ceiling:
            raise CaptureAboveToleranceError(
                f"capture of {total} is above {ceiling} "
                f"({self.authorized_minor} authorized + {tolerance_percent}%)"
            )
        self._captured(
            sale_id=self.sale_id,
            store_id=self.store_id,
            amount_minor=total,
            currency=self.currency,
            tender=self.tender,
            card_token=self.card_token,
            masked_pan=self.masked_pan,
            scheme=self.scheme,
            auth_code=self.auth_code,
            rrn=self.rrn if rrn is None else rrn,
            captured_at=captured_at or _now(),
            operation_key=operation_key,
            body_hash=body_hash,
        )

    def void(self, operation_key: str, body_hash: str, reason: str = "") -> None:
        """Release an authorized, not yet captured pre-authorization."""
        if _replayed(self.operations, operation_key, "void", body_hash):
            return
        self._check_authorized("void")
        self._voided(
            operation_key=operation_key,
            body_hash=body_hash,
            store_id=self.store_id,
            amount_minor=self.authorized_minor,
            currency=self.currency,
            reason=reason,
        )

    @event(Voided)
    def _voided(
        self,
        operation_key: str,
        body_hash: str,
        store_id: str,
        amount_minor: int,
        currency: str,
        reason: str,
    ) -> None:
        self.status = VOIDED
        self.owed.pop(operation_key, None)
        self.operations[operation_key] = Operation("void", body_hash, amount_minor)

    def refund(
        self,
        operation_key: str,
        body_hash: str,
        amount_minor: int,
        now: datetime,
        window: timedelta,
    ) -> None:
        """Give back part or all of a captured payment, within the refund window.

        Several refunds are fine; their sum never goes above the captured amount.
        """
        if _replayed(self.operations, operation_key, "refund", body_hash):
            return
        self._check_refund(amount_minor, now, window)
        self._refunded(
            operation_key=operation_key,
            body_hash=body_hash,
            store_id=self.store_id,
            sale_id=self.sale_id,
            amount_minor=amount_minor,
            currency=self.currency,
            refunded_total_minor=self.refunded_minor + amount_minor,
            referenced=True,
            tender=self.tender,
            card_token=self.card_token,
            masked_pan=self.masked_pan,
            scheme=self.scheme,
        )

    def _check_refund(self, amount_minor: int, now: datetime, window: timedelta) -> None:
        _check_amount(amount_minor)
        if self.status != CAPTURED:
            raise NotCapturedError(
                f"payment {self.id} is {self.status}: only a captured payment is refunded"
            )
        if self.captured_at is None:
            # Only a capture recorded before capture times were kept: refuse rather than
            # guess (an unreferenced refund, with its permission, is the way out).
            raise RefundWindowExpiredError(f"payment {self.id} has no recorded capture time")
        if now - self.captured_at > window:
            raise RefundWindowExpiredError(
                f"payment {self.id} was captured more than {window.days} days ago"
            )
        already = self.refunded_minor + self.owed_refunds_minor
        if already + amount_minor > self.captured_minor:
            raise RefundExceedsCapturedError(
                f"refund of {amount_minor} would make {already + amount_minor} "
                f"refunded of {self.captured_minor} captured"
            )

    @event(Refunded)
    def _refunded(
        self,
        operation_key: str,
        body_hash: str,
        store_id: str,
        sale_id: str,
        amount_minor: int,
        currency: str,
        refunded_total_minor: int,
        referenced: bool,
        tender: str,
        card_token: str,
        masked_pan: str,
        scheme: str,
    ) -> None:
        self.refunded_minor = refunded_total_minor
        self.owed.pop(operation_key, None)
        if not referenced:
            self.status = REFUNDED
        self.operations[operation_key] = Operation("refund", body_hash, amount_minor)

    def reverse(self, operation_key: str, body_hash: str, reason: str) -> None:
        """The outcome of the request is unknown (no answer came): it is reversed, so a
        charge the acquirer may have made is undone and the payment ends reversed."""
        if _replayed(self.operations, operation_key, "reverse", body_hash):
            return
        if self.status != PENDING:
            raise NotPendingError(
                f"payment {self.id} is {self.status}: only a payment with no outcome is "
                "reversed (void or refund it instead)"
            )
        self._reversed(
            operation_key=operation_key,
            body_hash=body_hash,
            store_id=self.store_id,
            sale_id=self.sale_id,
            amount_minor=self.amount_minor,
            currency=self.currency,
            reason=reason,
        )

    @event(Reversed)
    def _reversed(
        self,
        operation_key: str,
        body_hash: str,
        store_id: str,
        sale_id: str,
        amount_minor: int,
        currency: str,
        reason: str,
    ) -> None:
        self.status = REVERSED
        self.reason = reason
        self.operations[operation_key] = Operation("reverse", body_hash, amount_minor)

    def outcome_unknown(self, reference: str, reason: str) -> None:
        """The acquirer was asked, no answer came, and the reversal was not confirmed: the
        payment stays pending (it may be charged) and owes a reversal of `reference`."""
        self._check_pending()
        if not reference:
            raise PaymentError("an unknown outcome needs the reference to reverse")
        self._outcome_unknown(store_id=self.store_id, reference=reference, reason=reason)

    @event(OutcomeUnknown)
    def _outcome_unknown(self, store_id: str, reference: str, reason: str) -> None:
        self.reversal_reference = reference
        self.reason = reason

    @property
    def reversal_owed(self) -> bool:
        """Pending with a request the acquirer may have charged and has not reversed."""
        return self.status == PENDING and bool(self.reversal_reference)

    def operation(self, operation_key: str) -> Operation | None:
        """What an operation key did on this payment, if anything."""
        return self.operations.get(operation_key)

    def _check_pending(self) -> None:
        if self.status != PENDING:
            raise PaymentAlreadyFinalError(f"payment {self.id} is already {self.status}")

    def _check_authorized(self, what: str) -> None:
        if self.kind != PREAUTH or self.status != AUTHORIZED:
            raise NotAuthorizedError(
                f"{what} needs an authorized pre-authorization; payment {self.id} is a "
                f"{self.status} {self.kind}"
            )
        if any(owed.operation == OWED_VOID for owed in self.owed.values()):
            raise IllegalTransitionError(
                f"payment {self.id} is being voided at the acquirer: no {what}"
            )

    @property
    def owed_refunds_minor(self) -> int:
        """What owed refunds will give back once the acquirer approves them."""
        return sum(o.amount_minor for o in self.owed.values() if o.operation == OWED_REFUND)

    # -- refunds and voids owed to the acquirer (host-authorized payments) --------------------

    def owe_refund(
        self,
        operation_key: str,
        body_hash: str,
        amount_minor: int,
        now: datetime,
        window: timedelta,
    ) -> None:
        """Record a refund the acquirer still has to make: the refund's guards hold now
        (counting the refunds already owed), `Refunded` only follows the approval."""
        if _replayed(self.operations, operation_key, "refund", body_hash):
            return
        self._check_refund(amount_minor, now, window)
        self._acquirer_operation_owed(
            operation_key=operation_key,
            body_hash=body_hash,
            store_id=self.store_id,
            operation=OWED_REFUND,
            amount_minor=amount_minor,
            currency=self.currency,
            reference=acquirer_reference(self.id, operation_key),
            reason="",
        )

    def owe_void(self, operation_key: str, body_hash: str, reason: str = "") -> None:
        """Record a void (a reversal of the authorization) the acquirer still has to confirm;
        until it does, nothing else may happen to the authorization."""
        if _replayed(self.operations, operation_key, "void", body_hash):
            return
        self._check_authorized("void")
        self._acquirer_operation_owed(
            operation_key=operation_key,
            body_hash=body_hash,
            store_id=self.store_id,
            operation=OWED_VOID,
            amount_minor=self.authorized_minor,
            currency=self.currency,
            reference=acquirer_reference(self.id, operation_key),
            reason=reason,
        )

    @event(AcquirerOperationOwed)
    def _acquirer_operation_owed(
        self,
        operation_key: str,
        body_hash: str,
        store_id: str,
        operation: str,
        amount_minor: int,
        currency: str,
        reference: str,
        reason: str,
    ) -> None:
        self.owed[operation_key] = OwedOperation(operation, amount_minor, reference, reason)
        self.operations[operation_key] = Operation(operation, body_hash, amount_minor)

    def acquirer_answered(
        self, operation_key: str, approved: bool, response_code: str = "", reason: str = ""
    ) -> None:
        """The acquirer's answer to an owed operation: approved -> Refunded / Voided (what
        is published and counted in the batch); declined -> AcquirerRefusedOperation."""
        owed = self.owed.get(operation_key)
        if owed is None:
            raise IllegalTransitionError(
                f"payment {self.id} owes the acquirer no operation {operation_key!r}"
            )
        body_hash = self.operations[operation_key].body_hash
        if approved and owed.operation == OWED_VOID:
            self._voided(
                operation_key=operation_key,
                body_hash=body_hash,
                store_id=self.store_id,
                amount_minor=owed.amount_minor,
                currency=self.currency,
                reason=owed.reason,
            )
        elif approved:
            self._refunded(
                operation_key=operation_key,
                body_hash=body_hash,
                store_id=self.store_id,
                sale_id=self.sale_id,
                amount_minor=owed.amount_minor,
                currency=self.currency,
                refunded_total_minor=self.refunded_minor + owed.amount_minor,
                referenced=True,
                tender=self.tender,
                card_token=self.card_token,
                masked_pan=self.masked_pan,
                scheme=self.scheme,
            )
        else:
            self._acquirer_refused_operation(
                operation_key=operation_key,
                store_id=self.store_id,
                sale_id=self.sale_id,
                operation=owed.operation,
                amount_minor=owed.amount_minor,
                currency=self.currency,
                tender=self.tender,
                response_code=response_code,
                reason=reason,
            )

    @event(AcquirerRefusedOperation)
    def _acquirer_refused_operation(
        self,
        operation_key: str,
        store_id: str,
        sale_id: str,
        operation: str,
        amount_minor: int,
        currency: str,
        tender: str,
        response_code: str,
        reason: str,
    ) -> None:
        self.owed.pop(operation_key, None)
        # The key stays used (a redelivery does nothing) but gave nothing back.
        done = self.operations[operation_key]
        self.operations[operation_key] = Operation(done.name, done.body_hash, 0)


def _now() -> datetime:
    return datetime.now(UTC)


# -- gift cards ------------------------------------------------------------------------------

#: Namespace of GiftCard ids: uuid5(GIFT_CARD_NAMESPACE, card token). Fixed forever.
GIFT_CARD_NAMESPACE = UUID("5d0c3b7e-2a61-4f9e-8c47-1e9b6a3f0d25")

ACTIVE = "active"
BLOCKED = "blocked"


class GiftCardError(Exception):
    """Base of the errors a GiftCard raises when a command is refused."""


class InvalidGiftCardError(GiftCardError):
    """A gift card number that is not one, or a bad amount or currency."""


class GiftCardIllegalTransitionError(GiftCardError):
    """The command is not allowed in the card's present state."""


class GiftCardAlreadyActivatedError(GiftCardIllegalTransitionError):
    """An activation (under another key) of a card that is already activated."""


class GiftCardBlockedError(GiftCardIllegalTransitionError):
    """The card is blocked: no more redemption nor load."""


class GiftCardCurrencyMismatchError(InvalidGiftCardError):
    """An amount in another currency than the card's."""


class GiftCardInsufficientFundsError(GiftCardError):
    """A redemption above the balance: the balance is never negative."""


class GiftCardRefundExceedsRedeemedError(GiftCardIllegalTransitionError):
    """More refunded onto the card than was ever redeemed from it."""


class GiftCardOperationConflictError(GiftCardError):
    """An operation key re-used for another operation or another body."""


def gift_card_number_checked(number: str) -> str:
    """8 to 19 ASCII digits."""
    if not (
        isinstance(number, str) and number.isascii() and number.isdigit() and 8 <= len(number) <= 19
    ):
        raise InvalidGiftCardError("a gift card number is 8 to 19 digits")
    return number


def mask_gift_card(number: str) -> str:
    """Only the last four digits show: enough for a receipt or a support call."""
    return "*" * (len(number) - 4) + number[-4:]


def gift_card_id_for(token: str) -> UUID:
    """The id of the gift card with this token (the number never names anything)."""
    return uuid5(GIFT_CARD_NAMESPACE, token)


class GiftCard(Aggregate):
    """A stored-value card: active with a balance in one currency, or blocked.

    The number is kept only as a keyed token and a masked form. Every operation carries a
    client key kept in `operations`: a retry returns the first result, and two concurrent
    operations collide on the aggregate's version (the loser re-runs on the winner's state),
    which is also what keeps the balance from going below zero under concurrency.
    """

    class Activated(Aggregate.Created):
        token: str
        masked_number: str
        store_id: str
        currency: str
        amount_minor: int
        operation_key: str
        body_hash: str

    class Loaded(Aggregate.Event):
        operation_key: str
        body_hash: str
        store_id: str
        token: str
        masked_number: str
        currency: str
        amount_minor: int
        balance_minor: int

    class Redeemed(Aggregate.Event):
        operation_key: str
        body_hash: str
        store_id: str
        token: str
        masked_number: str
        currency: str
        sale_id: str
        amount_minor: int
        balance_minor: int

    class Refunded(Aggregate.Event):
        operation_key: str
        body_hash: str
        store_id: str
        token: str
        masked_number: str
        currency: str
        sale_id: str
        amount_minor: int
        balance_minor: int

    class Blocked(Aggregate.Event):
        operation_key: str
        body_hash: str
        store_id: str
        token: str
        masked_number: str
        reason: str

    @event(Activated)
    def __init__(
        self,
        id: UUID,
        token: str,
        masked_number: str,
        store_id: str,
        currency: str,
        amount_minor: int,
        operation_key: str,
        body_hash: str,
    ) -> None:
        self.token = token
        self.masked_number = masked_number
        self.currency = currency
        self.balance_minor = amount_minor
        self.redeemed_minor = 0
        self.refunded_minor = 0
        self.status = ACTIVE
        self.operations: dict[str, Operation] = {
            operation_key: Operation("activate", body_hash, amount_minor)
        }

    @classmethod
    def activate(
        cls,
        token: str,
        masked_number: str,
        store_id: str,
        currency: str,
        amount_minor: int,
        operation_key: str,
        body_hash: str,
    ) -> GiftCard:
        """A new active card with its initial amount (zero allowed: a card loaded later)."""
        if not operation_key:
            raise InvalidGiftCardError("an operation key is required")
        cls._guard(
            lambda: (
                _check_store_id(store_id),
                _check_currency(currency),
                _check_amount(amount_minor, allow_zero=True),
            )
        )
        return cls(
            id=gift_card_id_for(token),
            token=token,
            masked_number=masked_number,
            store_id=store_id,
            currency=currency,
            amount_minor=amount_minor,
            operation_key=operation_key,
            body_hash=body_hash,
        )

    def replayed(self, operation_key: str, name: str, body_hash: str) -> bool:
        """True if the key already did this (a retry); raises if it did something else."""
        try:
            return _replayed(self.operations, operation_key, name, body_hash)
        except OperationKeyConflictError as exc:
            raise GiftCardOperationConflictError(str(exc)) from None
        except PaymentError as exc:
            raise InvalidGiftCardError(str(exc)) from None

    def load(
        self,
        operation_key: str,
        body_hash: str,
        store_id: str,
        amount_minor: int,
        currency: str | None = None,
    ) -> None:
        """Add value to the card (in its currency: `currency`, when given, must be it)."""
        if self.replayed(operation_key, "load", body_hash):
            return
        self._check_usable(store_id, amount_minor, "loaded", currency)
        self._loaded(
            operation_key=operation_key,
            body_hash=body_hash,
            store_id=store_id,
            **self._public(),
            amount_minor=amount_minor,
            balance_minor=self.balance_minor + amount_minor,
        )

    @event(Loaded)
    def _loaded(
        self,
        operation_key: str,
        body_hash: str,
        store_id: str,
        token: str,
        masked_number: str,
        currency: str,
        amount_minor: int,
        balance_minor: int,
    ) -> None:
        self.balance_minor = balance_minor
        self.operations[operation_key] = Operation("load", body_hash, amount_minor)

    def redeem(
        self,
        operation_key: str,
        body_hash: str,
        store_id: str,
        sale_id: str,
        amount_minor: int,
        currency: str | None = None,
    ) -> None:
        """Pay with the card: never below a zero balance."""
        if self.replayed(operation_key, "redeem", body_hash):
            return
        self._check_usable(store_id, amount_minor, "redeemed", currency)
        if not sale_id:
            raise InvalidGiftCardError("sale_id is required")
        if amount_minor > self.balance_minor:
            raise GiftCardInsufficientFundsError(
                f"redemption of {amount_minor} above the balance of {self.balance_minor}"
            )
        self._redeemed(
            operation_key=operation_key,
            body_hash=body_hash,
            store_id=store_id,
            **self._public(),
            sale_id=sale_id,
            amount_minor=amount_minor,
            balance_minor=self.balance_minor - amount_minor,
        )

    @event(Redeemed)
    def _redeemed(
        self,
        operation_key: str,
        body_hash: str,
        store_id: str,
        token: str,
        masked_number: str,
        currency: str,
        sale_id: str,
        amount_minor: int,
        balance_minor: int,
    ) -> None:
        self.balance_minor = balance_minor
        self.redeemed_minor += amount_minor
        self.operations[operation_key] = Operation("redeem", body_hash, amount_minor)

    def refund(
        self,
        operation_key: str,
        body_hash: str,
        store_id: str,
        sale_id: str,
        amount_minor: int,
        currency: str | None = None,
    ) -> None:
        """Money back onto the card (a return paid by it). Allowed on a blocked card too:
        the customer's money goes back where it came from, it just cannot be spent there.
        Never more than was ever redeemed, so a refund cannot mint value."""
        if self.replayed(operation_key, "refund", body_hash):
            return
        self._guard(lambda: (_check_store_id(store_id), _check_amount(amount_minor)))
        self._check_currency(currency)
        if not sale_id:
            raise InvalidGiftCardError("sale_id is required")
        if self.refunded_minor + amount_minor > self.redeemed_minor:
            raise GiftCardRefundExceedsRedeemedError(
                f"refund of {amount_minor} above the {self.redeemed_minor - self.refunded_minor}"
                " redeemed and not yet refunded"
            )
        self._refunded(
            operation_key=operation_key,
            body_hash=body_hash,
            store_id=store_id,
            **self._public(),
            sale_id=sale_id,
            amount_minor=amount_minor,
            balance_minor=self.balance_minor + amount_minor,
        )

    @event(Refunded)
    def _refunded(
        self,
        operation_key: str,
        body_hash: str,
        store_id: str,
        token: str,
        masked_number: str,
        currency: str,
        sale_id: str,
        amount_minor: int,
        balance_minor: int,
    ) -> None:
        self.balance_minor = balance_minor
        self.refunded_minor += amount_minor
        self.operations[operation_key] = Operation("refund", body_hash, amount_minor)

    def block(self, operation_key: str, body_hash: str, store_id: str, reason: str) -> None:
        """No more redemption nor load (lost, stolen, fraud); the balance is kept."""
        if self.replayed(operation_key, "block", body_hash):
            return
        self._guard(lambda: _check_store_id(store_id))
        if self.status == BLOCKED:
            raise GiftCardBlockedError("the gift card is already blocked")
        self._blocked(
            operation_key=operation_key,
            body_hash=body_hash,
            store_id=store_id,
            token=self.token,
            masked_number=self.masked_number,
            reason=reason,
        )

    @event(Blocked)
    def _blocked(
        self,
        operation_key: str,
        body_hash: str,
        store_id: str,
        token: str,
        masked_number: str,
        reason: str,
    ) -> None:
        self.status = BLOCKED
        self.operations[operation_key] = Operation("block", body_hash, 0)

    def _public(self) -> dict[str, str]:
        """What every balance event repeats for its integration event: token, masked
        number and currency (never the number)."""
        return {"token": self.token, "masked_number": self.masked_number, "currency": self.currency}

    def _check_usable(
        self, store_id: str, amount_minor: int, what: str, currency: str | None
    ) -> None:
        self._guard(lambda: (_check_store_id(store_id), _check_amount(amount_minor)))
        self._check_currency(currency)
        if self.status == BLOCKED:
            raise GiftCardBlockedError(f"the gift card is blocked and cannot be {what}")

    def _check_currency(self, currency: str | None) -> None:
        # A card holds one currency; an amount in another is refused, never converted.
        if currency is not None and currency != self.currency:
            raise GiftCardCurrencyMismatchError(
                f"the gift card holds {self.currency}, not {currency!r}"
            )

    @staticmethod
    def _guard(check: Callable[[], object]) -> None:
        """Run shared value checks, turning their PaymentError into InvalidGiftCardError."""
        try:
            check()
        except PaymentError as exc:
            raise InvalidGiftCardError(str(exc)) from None
