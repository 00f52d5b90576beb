"""The payments application: idempotent card authorizations, and their running totals."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from payments import batch
from payments.acquirer import AcquirerUnavailableError, AuthorizationResult
from payments.batch import Batch, BatchReport, Reconciliation, ReconciliationReport
from payments.domainmodel import (
    CAPTURED,
    DECLINED,
    DEFAULT_CAPTURE_TOLERANCE_PERCENT,
    DEFAULT_REFUND_WINDOW,
    OWED_REFUND,
    OWED_VOID,
    PENDING,
    PREAUTH,
    SALE,
    UNREFERENCED_REFUND,
    Card,
    CardTokenizer,
    GiftCard,
    GiftCardAlreadyActivatedError,
    GiftCardOperationConflictError,
    IllegalTransitionError,
    Operation,
    OwedOperation,
    Payment,
    gift_card_id_for,
    gift_card_number_checked,
    mask_gift_card,
    payment_id_for,
)
from payments.risk import (
    DECLINE,
    RISK_DECLINE_CODE,
    RiskFinding,
    RiskPolicy,
    RiskRequest,
    RiskWindow,
    evaluate,
)
from payments.tenders import CashTender
from payments.vault import CardVault, RotationProgress, VaultError
from tillstream.eventstore import ServiceApplication

log = logging.getLogger(__name__)


class PaymentNotFoundError(Exception):
    """No payment with this id."""


class PaymentConflictError(Exception):
    """An idempotency key is re-used with a different request body."""


class PaymentInProgressError(Exception):
    """The same request is being authorized right now (a concurrent duplicate)."""


class PaymentDeclinedError(IllegalTransitionError):
    """The issuer refused an incremental authorization (nothing was recorded)."""

    def __init__(self, message: str, response_code: str) -> None:
        super().__init__(message)
        self.response_code = response_code


class GiftCardNotFoundError(Exception):
    """No activated gift card with this number."""


class BatchNotFoundError(Exception):
    """No closed batch (or completed reconciliation) with this key."""


#: The operation key of the reversal the application makes itself (no answer came).
AUTO_REVERSAL_KEY = "auto-reversal"
#: What a payment reversed for lack of an answer says, unless the acquirer adapter says more.
NO_ANSWER_REASON = "no answer from the acquirer"

#: How many times an operation re-runs after losing an optimistic-concurrency race before it
#: gives up (each loss means another operation on the same aggregate just won).
MAX_ATTEMPTS = 5

A = TypeVar("A", Payment, GiftCard)


class Acquirer(Protocol):
    """The port to the acquirer: one authorization, one answer."""

    def authorize(
        self, pan: str, expiry: str, amount_minor: int, currency: str
    ) -> AuthorizationResult: ...


@runtime_checkable
class SellingAcquirer(Protocol):
    """An acquirer with a financial request (authorize and capture at once) for sales."""

    def sale(
        self, pan: str, expiry: str, amount_minor: int, currency: str
    ) -> AuthorizationResult: ...


@runtime_checkable
class ReversingAcquirer(Protocol):
    """An acquirer that can be asked again to reverse a request whose outcome is unknown
    (named by `AuthorizationResult.reference`); True once it confirmed the reversal."""

    def reverse(self, reference: str) -> bool: ...


@runtime_checkable
class RefundingAcquirer(Protocol):
    """An acquirer link that makes referenced refunds of the approved request named by
    `reference`; `refund_reference` is the refund's own idempotency key there (a resend with
    it is answered as the same refund). Unknown (no answer) is never a decline."""

    def refund(
        self, reference: str, amount_minor: int, currency: str, refund_reference: str
    ) -> AuthorizationResult: ...


@runtime_checkable
class IncrementingAcquirer(Protocol):
    """An acquirer that can ask the issuer to raise a held authorization (by its RRN)."""

    def increment(self, rrn: str, amount_minor: int, currency: str) -> AuthorizationResult: ...


@runtime_checkable
class LinkIncrementingAcquirer(Protocol):
    """An acquirer link raising a held authorization (named by its reference) with the card."""

    def increment_authorization(
        self, pan: str, expiry: str, amount_minor: int, currency: str, reference: str
    ) -> AuthorizationResult: ...


@runtime_checkable
class CompletingAcquirer(Protocol):
    """An acquirer told of a pre-authorization's capture by a completion advice (0220)."""

    def complete(
        self,
        pan: str,
        expiry: str,
        amount_minor: int,
        currency: str,
        reference: str,
        auth_code: str,
    ) -> AuthorizationResult: ...


@runtime_checkable
class WalletAcquirer(Protocol):
    """An acquirer that takes mobile wallet (QR) sales as their own channel."""

    def wallet_sale(
        self, pan: str, expiry: str, amount_minor: int, currency: str
    ) -> AuthorizationResult: ...


#: The tenders payments authorizes: a card, or a mobile wallet paid by QR code.
WALLET = "wallet"
TENDERS = ("card", WALLET)


@runtime_checkable
class AdvisingAcquirer(Protocol):
    """An acquirer that takes the advice (0220) of a sale a terminal approved offline."""

    def advise(
        self, masked_pan: str, amount_minor: int, currency: str, auth_code: str
    ) -> AuthorizationResult: ...


@dataclass(frozen=True)
class AuthorizationRequest:
    """A card authorization as a client asks for it. Lives in memory only."""

    idempotency_key: str
    sale_id: str
    store_id: str
    amount_minor: int
    currency: str
    # Kept out of repr so no log line or traceback can show the card.
    pan: str = field(repr=False)
    expiry: str = field(repr=False)
    tender: str = "card"
    #: The lane that asks (optional): the lane-declines risk rule counts per lane. Not part
    #: of the idempotency body (a retry from another lane is still the same request).
    lane_id: str = ""


@dataclass(frozen=True)
class PaymentOutcome:
    """The result a client gets back (the first one, on every retry)."""

    payment_id: str
    #: approved (captured) | declined | pending | authorized | voided | reversed | refunded
    status: str
    response_code: str
    auth_code: str
    masked_pan: str
    reason: str
    kind: str = SALE
    amount_minor: int = 0
    currency: str = ""
    authorized_minor: int = 0
    captured_minor: int = 0
    tip_minor: int = 0
    refunded_minor: int = 0
    #: Pending, and a request the acquirer may have charged still waits for its reversal.
    reversal_owed: bool = False
    #: The risk rules that fired on the request (payments.risk), in order.
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class OperationOutcome:
    """The result of one keyed operation on a payment: the payment after it, and what the
    key did (the first time, on every retry)."""

    payment: PaymentOutcome
    operation_key: str
    operation: str
    amount_minor: int


@dataclass(frozen=True)
class GiftCardOutcome:
    """A gift card as a client sees it: never its number, only the masked form."""

    gift_card_id: str
    masked_number: str
    status: str
    currency: str
    balance_minor: int
    operation_key: str = ""
    operation: str = ""
    amount_minor: int = 0


@dataclass
class PaymentTotals:
    """Running totals of the payment results, read from the notification log."""

    position: int = 0
    captured_count: int = 0
    captured_total_minor_by_currency: dict[str, int] = field(default_factory=dict)
    declined_count: int = 0


class Payments(ServiceApplication):
    """Card payments: tokenized at the door, authorized once per idempotency key."""

    name = "payments"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        acquirer: Acquirer,
        tokenizer: CardTokenizer,
        capture_tolerance_percent: int = DEFAULT_CAPTURE_TOLERANCE_PERCENT,
        refund_window: timedelta = DEFAULT_REFUND_WINDOW,
        clock: Callable[[], datetime] | None = None,
        vault: CardVault | None = None,
        risk_policy: RiskPolicy | None = None,
    ) -> None:
        """`capture_tolerance_percent`: how far above the authorized amount a completion may
        go (tips); `refund_window`: how long after its capture a payment may be refunded;
        `vault`: where the PAN of every approved card is kept, encrypted (closed with the
        application); None keeps no PAN at all; `risk_policy`: the risk rules' thresholds and
        actions (payments.risk; the defaults when None)."""
        if not (
            isinstance(capture_tolerance_percent, int) and 0 <= capture_tolerance_percent <= 100
        ):
            raise ValueError("capture_tolerance_percent is an integer from 0 to 100")
        if refund_window <= timedelta(0):
            raise ValueError("refund_window must be positive")
        super().__init__(env)
        self.acquirer = acquirer
        self.tokenizer = tokenizer
        self.capture_tolerance_percent = capture_tolerance_percent
        self.refund_window = refund_window
        self.clock = clock or (lambda: datetime.now(UTC))
        self.vault = vault
        self._totals = PaymentTotals()
        self._totals_lock = threading.Lock()
        self._captured_topic = get_topic(Payment.Captured)
        self._declined_topic = get_topic(Payment.Declined)
        self._requested_topic = get_topic(Payment.Requested)
        self._final_topics = {
            get_topic(e)
            for e in (
                Payment.Captured,
                Payment.Declined,
                Payment.Authorized,
                Payment.Reversed,
                Payment.Refunded,
            )
        }
        self._pending_position = 0
        self._pending_ids: dict[UUID, None] = {}
        self._pending_lock = threading.Lock()
        self.risk_policy = risk_policy or RiskPolicy()
        # The rules' memory: rebuilt from the notification log (read forward before every
        # evaluation, from 0 after a start), so it also sees what other replicas wrote.
        self._risk_window = RiskWindow(self.risk_policy)
        self._risk_position = 0
        self._risk_lock = threading.Lock()
        self._redeemed_topic = get_topic(GiftCard.Redeemed)
        self._redemptions: dict[str, UUID] = {}
        self._redemptions_position = 0
        self._redemptions_lock = threading.Lock()
        self._advice_topics = {get_topic(Payment.AtTerminal), get_topic(Payment.Advised)}
        self._advices: dict[UUID, None] = {}
        self._advices_position = 0
        self._advices_lock = threading.Lock()
        self._owed_topic = get_topic(Payment.AcquirerOperationOwed)
        self._owed_ids: dict[UUID, None] = {}
        self._owed_position = 0
        self._owed_lock = threading.Lock()

    def authorize(self, request: AuthorizationRequest) -> PaymentOutcome:
        """Authorize and capture a card sale; the same key and body returns the first result.

        Raises InvalidCardError before anything is stored, PaymentConflictError for a key
        re-used with another body, PaymentInProgressError for a concurrent duplicate.
        """
        return self._authorize(request, SALE)

    def preauthorize(self, request: AuthorizationRequest) -> PaymentOutcome:
        """Hold an amount on a card (captured later by `capture`); idempotent like authorize."""
        return self._authorize(request, PREAUTH)

    def _authorize(self, request: AuthorizationRequest, kind: str) -> PaymentOutcome:
        # Tokenize first: a bad card is refused before anything is stored, and from here on
        # only the token, the masked PAN and the expiry month/year go anywhere but the acquirer.
        card = Card.from_pan(request.pan, request.expiry, self.tokenizer)
        body_hash = self._body_hash(request, card, kind)
        payment_id = payment_id_for(request.store_id, request.idempotency_key)
        payment = self._payment_or_none(payment_id)
        if payment is None:
            payment = Payment.request(
                store_id=request.store_id,
                idempotency_key=request.idempotency_key,
                sale_id=request.sale_id,
                amount_minor=request.amount_minor,
                currency=request.currency,
                card=card,
                body_hash=body_hash,
                tender=request.tender,
                kind=kind,
            )
            if self._apply_risk(payment, request, card, unreferenced_refund=False):
                # A rule declined it: saved declined, the acquirer never asked.
                try:
                    self.save(payment)
                except IntegrityError:
                    first = self._payment(payment_id)
                    self._check_same_body(first, body_hash)
                    return self._outcome(first)
                return self._outcome(payment)
            try:
                # Saved before the acquirer is asked: an answer that never comes back leaves
                # a visible pending payment, never a charge nobody knows about.
                self.save(payment)
            except IntegrityError:
                # A concurrent duplicate wrote the same id first (optimistic concurrency).
                first = self._payment(payment_id)
                self._check_same_body(first, body_hash)
                if first.status == PENDING:
                    raise PaymentInProgressError(
                        f"payment {payment_id} is being authorized; retry shortly"
                    ) from None
                return self._outcome(first)
        else:
            self._check_same_body(payment, body_hash)
            if payment.reversal_owed:
                # The first attempt got no answer and its reversal was not confirmed: never
                # ask again (that could charge twice); try the reversal once more instead.
                return self._outcome(self._retry_reversal(payment))
            if payment.status != PENDING:
                return self._outcome(payment)
            # Pending on a retry: the first attempt died before its result was saved. The
            # stand-in acquirer is in-process and deterministic, so asking again is safe;
            # with the host link this is the gap reconciliation (settlement file) closes.
        try:
            if kind == SALE and request.tender == WALLET:
                if not isinstance(self.acquirer, WalletAcquirer):
                    raise AcquirerUnavailableError("the acquirer takes no wallet payments")
                result = self.acquirer.wallet_sale(
                    request.pan, request.expiry, request.amount_minor, request.currency
                )
            elif kind == SALE and isinstance(self.acquirer, SellingAcquirer):
                result = self.acquirer.sale(
                    request.pan, request.expiry, request.amount_minor, request.currency
                )
            else:
                result = self.acquirer.authorize(
                    request.pan, request.expiry, request.amount_minor, request.currency
                )
        except AcquirerUnavailableError:
            # Nothing was sent, so nothing can have been charged: a final decline (91, as
            # a terminal answers when its host is down); the client tries again with a new key.
            result = AuthorizationResult(False, "91", "acquirer unavailable")
        if result.unknown:
            reason = result.reason or NO_ANSWER_REASON
            if result.reversed:
                # Reversed and confirmed: the payment ends reversed, never "failed but charged".
                payment.reverse(
                    AUTO_REVERSAL_KEY, self._hash("reverse", {"reason": reason}), reason
                )
            elif result.reference:
                # Not confirmed: it stays pending, owing its reversal (pending_payments).
                payment.outcome_unknown(result.reference, reason)
            else:
                return self._outcome(payment)  # nothing to reverse by: pending, as it is
        elif result.approved and kind == PREAUTH:
            payment.authorize(
                auth_code=result.auth_code, rrn=result.rrn, reference=result.reference
            )
        elif result.approved:
            payment.capture(
                auth_code=result.auth_code,
                rrn=result.rrn,
                captured_at=self.clock(),
                reference=result.reference,
            )
        else:
            payment.decline(
                response_code=result.response_code, reason=result.reason, lane_id=request.lane_id
            )
        try:
            self.save(payment)
        except IntegrityError:
            # Another attempt recorded the result first; its result is the first result.
            return self._outcome(self._payment(payment_id))
        if result.approved:
            self._keep_card(card.token, request.pan)
        return self._outcome(payment)

    def _keep_card(self, token: str, pan: str) -> None:
        """Keep an approved card's PAN in the vault (encrypted) for the operations that may
        need it later. After the result is saved: a vault failure never makes a charged
        payment look failed; it is logged (by token) and the card is simply not kept."""
        if self.vault is None:
            return
        try:
            self.vault.put(token, pan)
        except Exception as error:  # never fail a charge for the vault
            log.error("card %s not kept in the vault: %s", token, type(error).__name__)

    def vaulted_pan(self, card_token: str) -> str | None:
        """The PAN kept for a card token, for an operation inside payments that needs it
        (never sent on the bus nor logged); None when the card was not kept."""
        if self.vault is None:
            return None
        return self.vault.pan(card_token)

    def rotate_vault_key(
        self, key_id: str, max_batches: int | None = None, batch_size: int | None = None
    ) -> RotationProgress:
        """Re-encrypt the vault under `key_id` (in the keyring); see CardVault.rotate."""
        if self.vault is None:
            raise VaultError("this payments service keeps no card vault")
        if batch_size is None:
            return self.vault.rotate(key_id, max_batches=max_batches)
        return self.vault.rotate(key_id, batch_size=batch_size, max_batches=max_batches)

    def close(self) -> None:
        super().close()
        if self.vault is not None:
            self.vault.close()

    def get_payment(self, payment_id: UUID) -> PaymentOutcome:
        return self._outcome(self._payment(payment_id))

    # -- keyed operations on a payment ----------------------------------------------------------

    def increment(
        self, payment_id: UUID, operation_key: str, increment_minor: int
    ) -> OperationOutcome:
        """Raise a pre-authorization's held amount, if the issuer approves.

        The issuer is asked before anything is recorded; a retry of an increment already
        recorded under this key is answered from the store without asking again.
        """
        body = {"increment_minor": increment_minor}
        payment = self._payment(payment_id)
        auth_code = ""
        # Checked before the issuer is asked, so a refused increment never reaches it.
        if payment.increase_needed(operation_key, self._hash("increment", body), increment_minor):
            result = self._ask_increment(payment, increment_minor)
            if not result.approved:
                raise PaymentDeclinedError(
                    f"increment declined: {result.response_code} {result.reason}".strip(),
                    result.response_code,
                )
            auth_code = result.auth_code
        return self._operate(
            payment_id,
            operation_key,
            "increment",
            body,
            lambda p, h: p.increase(operation_key, h, increment_minor, auth_code),
        )

    def capture(
        self, payment_id: UUID, operation_key: str, amount_minor: int | None = None
    ) -> OperationOutcome:
        """Complete a pre-authorization: `amount_minor` (tip included) or, when None, the
        authorized amount plus the adjusted tip; at most authorized + the tolerance.

        Over the acquirer link (an authorization with its reference), the acquirer is told by
        a completion advice (0220) first, checked against the guards before it is sent; its
        approval's RRN is then the capture's. A retry of a recorded capture sends nothing.
        """
        body = {"amount_minor": amount_minor}
        payment = self._payment(payment_id)
        if (
            payment.operation(operation_key) is None
            and payment.authorization_reference
            and isinstance(self.acquirer, CompletingAcquirer)
        ):
            return self._complete_over_link(payment, operation_key, amount_minor, body)
        return self._operate(
            payment_id,
            operation_key,
            "capture",
            {"amount_minor": amount_minor},
            lambda p, h: p.complete(
                operation_key,
                h,
                self.capture_tolerance_percent,
                amount_minor,
                captured_at=self.clock(),
            ),
        )

    def _ask_increment(self, payment: Payment, increment_minor: int) -> AuthorizationResult:
        """The issuer's answer to an increment: over the link with the vaulted card when the
        authorization has a link reference, else by RRN (the in-process acquirer)."""
        if payment.authorization_reference and isinstance(self.acquirer, LinkIncrementingAcquirer):
            pan = self._vaulted_pan_for(payment, "raise")
            result = self.acquirer.increment_authorization(
                pan,
                self._expiry(payment),
                increment_minor,
                payment.currency,
                payment.authorization_reference,
            )
            if result.unknown:
                raise AcquirerUnavailableError(
                    f"no answer to the increment of payment {payment.id}; nothing recorded"
                )
            return result
        if not isinstance(self.acquirer, IncrementingAcquirer):
            raise IllegalTransitionError("the acquirer does not do incremental authorizations")
        return self.acquirer.increment(payment.rrn, increment_minor, payment.currency)

    def _vaulted_pan_for(self, payment: Payment, what: str) -> str:
        pan = self.vaulted_pan(payment.card_token)
        if pan is None:
            raise IllegalTransitionError(
                f"the card of this pre-authorization is not in the vault: cannot {what} it "
                "at the acquirer"
            )
        return pan

    @staticmethod
    def _expiry(payment: Payment) -> str:
        return f"{payment.expiry_month:02d}/{payment.expiry_year % 100:02d}"

    def _complete_over_link(
        self, payment: Payment, operation_key: str, amount_minor: int | None, body: dict[str, Any]
    ) -> OperationOutcome:
        # Dry run on a copy of the state: a capture the guards refuse is never sent.
        body_hash = self._hash("capture", body)
        trial = self._payment(payment.id)
        trial.complete(operation_key, body_hash, self.capture_tolerance_percent, amount_minor)
        total = trial.captured_minor
        pan = self._vaulted_pan_for(payment, "complete")
        assert isinstance(self.acquirer, CompletingAcquirer)
        result = self.acquirer.complete(
            pan,
            self._expiry(payment),
            total,
            payment.currency,
            payment.authorization_reference,
            payment.auth_code,
        )
        if result.unknown:
            raise AcquirerUnavailableError(
                f"no answer to the completion of payment {payment.id}; it stays authorized"
            )
        if not result.approved:
            raise PaymentDeclinedError(
                f"completion declined: {result.response_code} {result.reason}".strip(),
                result.response_code,
            )
        return self._operate(
            payment.id,
            operation_key,
            "capture",
            body,
            lambda p, h: p.complete(
                operation_key,
                h,
                self.capture_tolerance_percent,
                amount_minor,
                captured_at=self.clock(),
                rrn=result.rrn,
            ),
        )

    def adjust_tip(self, payment_id: UUID, operation_key: str, tip_minor: int) -> OperationOutcome:
        """Set the tip of an authorized pre-authorization before its capture."""
        return self._operate(
            payment_id,
            operation_key,
            "adjust_tip",
            {"tip_minor": tip_minor},
            lambda p, h: p.adjust_tip(operation_key, h, tip_minor, self.capture_tolerance_percent),
        )

    def void(self, payment_id: UUID, operation_key: str, reason: str = "") -> OperationOutcome:
        """Release an authorized pre-authorization before its capture (over the link: a
        reversal of the authorization at the acquirer, see `_at_acquirer`)."""
        if self.sends_to_acquirer(self._payment(payment_id)):
            return self._at_acquirer(
                payment_id,
                operation_key,
                "void",
                {"reason": reason},
                lambda p, h: p.owe_void(operation_key, h, reason),
            )
        return self._operate(
            payment_id,
            operation_key,
            "void",
            {"reason": reason},
            lambda p, h: p.void(operation_key, h, reason),
        )

    def refund(self, payment_id: UUID, operation_key: str, amount_minor: int) -> OperationOutcome:
        """Refund part or all of a captured payment, within the refund window (over the
        link: a referenced refund at the acquirer, see `_at_acquirer`)."""
        if self.sends_to_acquirer(self._payment(payment_id)):
            return self._at_acquirer(
                payment_id,
                operation_key,
                "refund",
                {"amount_minor": amount_minor},
                lambda p, h: p.owe_refund(
                    operation_key, h, amount_minor, self.clock(), self.refund_window
                ),
            )
        return self._operate(
            payment_id,
            operation_key,
            "refund",
            {"amount_minor": amount_minor},
            lambda p, h: p.refund(operation_key, h, amount_minor, self.clock(), self.refund_window),
        )

    def reverse(
        self, payment_id: UUID, operation_key: str, reason: str = "no answer"
    ) -> OperationOutcome:
        """Reverse a payment whose outcome never came back (still requested).

        If the acquirer was asked and its reversal is still owed, the acquirer is asked to
        reverse it first; AcquirerUnavailableError when it does not confirm (still pending).
        """
        payment = self._payment(payment_id)
        if payment.reversal_owed and payment.operation(operation_key) is None:
            self._confirm_reversal(payment)
        return self._operate(
            payment_id,
            operation_key,
            "reverse",
            {"reason": reason},
            lambda p, h: p.reverse(operation_key, h, reason),
        )

    # -- unknown outcomes -----------------------------------------------------------------------

    def pending_payments(self) -> list[PaymentOutcome]:
        """Every payment still pending: in flight now, or owing a reversal (`reversal_owed`)
        that needs a follow-up (`retry_reversals`). Read forward from the notification log."""
        with self._pending_lock:
            while True:
                notifications = self.notifications(self._pending_position + 1, 500)
                if not notifications:
                    break
                for notification in notifications:
                    originator = notification.originator_id
                    payment_id = originator if isinstance(originator, UUID) else UUID(originator)
                    if notification.topic == self._requested_topic:
                        self._pending_ids[payment_id] = None
                    elif notification.topic in self._final_topics:
                        self._pending_ids.pop(payment_id, None)
                    self._pending_position = notification.id
            ids = list(self._pending_ids)
        outcomes = []
        for payment_id in ids:
            payment = self._payment_or_none(payment_id)
            if payment is not None and payment.status == PENDING:
                outcomes.append(self._outcome(payment))
        return outcomes

    def retry_reversals(self) -> list[PaymentOutcome]:
        """Ask the acquirer again to reverse every payment that owes a reversal; the
        payments after the attempt (reversed when confirmed, else still pending)."""
        results = []
        for pending in self.pending_payments():
            if pending.reversal_owed:
                payment = self._payment(UUID(pending.payment_id))
                results.append(self._outcome(self._retry_reversal(payment)))
        return results

    def _retry_reversal(self, payment: Payment) -> Payment:
        """One more reversal of a payment that owes one; the payment after it."""
        try:
            self._confirm_reversal(payment)
        except AcquirerUnavailableError:
            return payment
        reason = payment.reason or NO_ANSWER_REASON
        body_hash = self._hash("reverse", {"reason": reason})
        return self._operate_on(
            payment.id,
            lambda p, h: p.reverse(AUTO_REVERSAL_KEY, h, reason) if p.status == PENDING else None,
            body_hash,
        )

    def _confirm_reversal(self, payment: Payment) -> None:
        if not isinstance(self.acquirer, ReversingAcquirer):
            raise AcquirerUnavailableError("this acquirer cannot be asked for a reversal")
        if not self.acquirer.reverse(payment.reversal_reference):
            raise AcquirerUnavailableError(
                f"the acquirer did not confirm the reversal of payment {payment.id}; it stays "
                "pending"
            )

    def refund_unreferenced(self, request: AuthorizationRequest, permitted: bool) -> PaymentOutcome:
        """Money back onto a card with no original payment: only when `permitted`.

        The request's idempotency key names the refund (like a sale's); the same key and body
        returns the first result, another body is a conflict.
        """
        card = Card.from_pan(request.pan, request.expiry, self.tokenizer)
        body_hash = self._body_hash(request, card, "refund")
        payment_id = payment_id_for(request.store_id, request.idempotency_key)
        existing = self._payment_or_none(payment_id)
        if existing is not None:
            self._check_same_body(existing, body_hash)
            return self._outcome(existing)
        payment = Payment.refund_unreferenced(
            store_id=request.store_id,
            idempotency_key=request.idempotency_key,
            sale_id=request.sale_id,
            amount_minor=request.amount_minor,
            currency=request.currency,
            card=card,
            body_hash=body_hash,
            permitted=permitted,
            tender=request.tender,
        )
        findings = self._risk_findings(request, card, unreferenced_refund=True)
        if any(f.action == DECLINE for f in findings):
            # Declined by a rule: the same id, born requested (kind refund) then declined 59,
            # so no money moves and a retry finds the decline.
            payment = Payment.request(
                store_id=request.store_id,
                idempotency_key=request.idempotency_key,
                sale_id=request.sale_id,
                amount_minor=request.amount_minor,
                currency=request.currency,
                card=card,
                body_hash=body_hash,
                tender=request.tender,
                kind=UNREFERENCED_REFUND,
            )
            self._record_findings(payment, findings, request.lane_id)
        else:
            # Flags of a refund are recorded after its Refunded event (it is born refunded).
            for finding in findings:
                payment.flag(finding.rule, finding.action, finding.reason)
        try:
            self.save(payment)
        except IntegrityError:
            # A concurrent duplicate created it first: its result is the first result.
            first = self._payment(payment_id)
            self._check_same_body(first, body_hash)
            return self._outcome(first)
        return self._outcome(payment)

    # -- risk rules -----------------------------------------------------------------------------

    def _apply_risk(
        self, payment: Payment, request: AuthorizationRequest, card: Card, unreferenced_refund: bool
    ) -> bool:
        """Evaluate the rules on a new request and record what fired on `payment`; True when
        a rule declined it (the payment is then declined with code 59)."""
        findings = self._risk_findings(request, card, unreferenced_refund)
        return self._record_findings(payment, findings, request.lane_id)

    @staticmethod
    def _record_findings(payment: Payment, findings: list[RiskFinding], lane_id: str) -> bool:
        for finding in findings:
            payment.flag(finding.rule, finding.action, finding.reason)
        declining = [f for f in findings if f.action == DECLINE]
        if declining:
            reason = "; ".join(f"{f.rule}: {f.reason}" for f in declining)
            payment.decline(RISK_DECLINE_CODE, f"suspected fraud ({reason})", lane_id=lane_id)
            return True
        return False

    def _risk_findings(
        self, request: AuthorizationRequest, card: Card, unreferenced_refund: bool
    ) -> list[RiskFinding]:
        with self._risk_lock:
            self._catch_up_risk_window()
            return evaluate(
                self.risk_policy,
                self._risk_window,
                RiskRequest(
                    store_id=request.store_id,
                    card_token=card.token,
                    amount_minor=request.amount_minor,
                    currency=request.currency,
                    at=self.clock(),
                    lane_id=request.lane_id,
                    unreferenced_refund=unreferenced_refund,
                ),
            )

    def _catch_up_risk_window(self) -> None:
        """Read the notification log forward into the risk window: attempts (Requested),
        issuer declines per lane (Declined, not the rules' own 59s) and captured amounts."""
        window = self._risk_window
        while True:
            notifications = self.notifications(self._risk_position + 1, 500)
            if not notifications:
                return
            for notification in notifications:
                topic = notification.topic
                if topic in (self._requested_topic, self._declined_topic, self._captured_topic):
                    e: Any = self.mapper.to_domain_event(notification)
                    if topic == self._requested_topic:
                        if e.kind != UNREFERENCED_REFUND:
                            window.attempt(e.card_token, e.timestamp)
                    elif topic == self._declined_topic:
                        if e.response_code != RISK_DECLINE_CODE:
                            window.decline(e.store_id, getattr(e, "lane_id", ""), e.timestamp)
                    else:
                        window.capture(e.store_id, e.currency, e.amount_minor)
                self._risk_position = notification.id

    def _operate(
        self,
        payment_id: UUID,
        operation_key: str,
        name: str,
        body: dict[str, Any],
        apply: Callable[[Payment, str], None],
    ) -> OperationOutcome:
        """Run one keyed operation on a payment, and save it.

        A retry with the same key and body changes nothing and returns the first result.
        Two concurrent operations on one payment write the same next version: the store
        takes one (optimistic concurrency), and the other re-runs on the new state, where a
        duplicate finds its key done and any other operation meets the guards afresh (so two
        refunds racing can never add up to more than was captured).
        """
        body_hash = self._hash(name, body)
        payment = self._operate_on(payment_id, apply, body_hash)
        done = payment.operation(operation_key)
        assert done is not None  # apply() recorded it or raised
        return OperationOutcome(self._outcome(payment), operation_key, done.name, done.amount_minor)

    def _operate_on(
        self,
        aggregate_id: UUID,
        apply: Callable[[A, str], None],
        body_hash: str,
        loader: Callable[[UUID], A] | None = None,
    ) -> A:
        load: Callable[[UUID], Any] = loader or self._payment
        for _attempt in range(MAX_ATTEMPTS):
            aggregate = load(aggregate_id)
            apply(aggregate, body_hash)
            if not aggregate.pending_events:
                return aggregate  # a retry of a done operation: the first result stands
            try:
                self.save(aggregate)
            except IntegrityError:
                continue  # another operation won the version: re-run on its state
            return aggregate
        raise PaymentInProgressError(
            f"{aggregate_id} is changing too often to apply this operation; retry shortly"
        )

    # -- gift cards -----------------------------------------------------------------------------

    def gift_card_id(self, number: str) -> UUID:
        """The gift card's id: from its keyed token, so the number names nothing stored."""
        return gift_card_id_for(self._gift_card_token(number))

    def activate_gift_card(
        self, number: str, store_id: str, operation_key: str, currency: str, amount_minor: int
    ) -> GiftCardOutcome:
        """Activate a card with its initial amount; the same key and body is a retry."""
        token = self._gift_card_token(number)
        body_hash = self._hash(
            "activate", {"currency": currency, "amount_minor": amount_minor, "store_id": store_id}
        )
        card = GiftCard.activate(
            token,
            mask_gift_card(number),
            store_id,
            currency,
            amount_minor,
            operation_key,
            body_hash,
        )
        existing = self._gift_card_or_none(card.id)
        if existing is None:
            try:
                self.save(card)
                return self._gift_outcome(card, operation_key)
            except IntegrityError:
                # A concurrent activation won; judge this one against it.
                existing = self._gift_card(card.id)
        done = existing.operations.get(operation_key)
        if done is None:
            raise GiftCardAlreadyActivatedError("the gift card is already activated")
        if done.name != "activate" or done.body_hash != body_hash:
            raise GiftCardOperationConflictError(
                f"operation key {operation_key!r} was used for another request"
            )
        return self._gift_outcome(existing, operation_key)

    def load_gift_card(
        self,
        number: str,
        store_id: str,
        operation_key: str,
        amount_minor: int,
        currency: str | None = None,
    ) -> GiftCardOutcome:
        """Add value to an active card (`currency`, when given, must be the card's)."""
        return self._gift_operate(
            number,
            operation_key,
            "load",
            {"store_id": store_id, "amount_minor": amount_minor, "currency": currency},
            lambda c, h: c.load(operation_key, h, store_id, amount_minor, currency),
        )

    def redeem_gift_card(
        self,
        number: str,
        store_id: str,
        operation_key: str,
        sale_id: str,
        amount_minor: int,
        currency: str | None = None,
    ) -> GiftCardOutcome:
        """Pay with the card (a tender of `sale_id`); never below a zero balance."""
        return self._gift_operate(
            number,
            operation_key,
            "redeem",
            {
                "store_id": store_id,
                "sale_id": sale_id,
                "amount_minor": amount_minor,
                "currency": currency,
            },
            lambda c, h: c.redeem(operation_key, h, store_id, sale_id, amount_minor, currency),
        )

    def refund_gift_card(
        self,
        number: str,
        store_id: str,
        operation_key: str,
        sale_id: str,
        amount_minor: int,
        currency: str | None = None,
    ) -> GiftCardOutcome:
        """Money back onto the card."""
        return self._gift_operate(
            number,
            operation_key,
            "refund",
            {
                "store_id": store_id,
                "sale_id": sale_id,
                "amount_minor": amount_minor,
                "currency": currency,
            },
            lambda c, h: c.refund(operation_key, h, store_id, sale_id, amount_minor, currency),
        )

    def block_gift_card(
        self, number: str, store_id: str, operation_key: str, reason: str = ""
    ) -> GiftCardOutcome:
        """No more redemption nor load on this card."""
        return self._gift_operate(
            number,
            operation_key,
            "block",
            {"store_id": store_id, "reason": reason},
            lambda c, h: c.block(operation_key, h, store_id, reason),
        )

    def gift_card_balance(self, number: str) -> GiftCardOutcome:
        """The card's status and balance."""
        return self._gift_outcome(self._gift_card(self.gift_card_id(number)), "")

    def _gift_operate(
        self,
        number: str,
        operation_key: str,
        name: str,
        body: dict[str, Any],
        apply: Callable[[GiftCard, str], None],
    ) -> GiftCardOutcome:
        card = self._operate_on(
            self.gift_card_id(number), apply, self._hash(name, body), loader=self._gift_card
        )
        return self._gift_outcome(card, operation_key)

    def _gift_card_token(self, number: str) -> str:
        # Prefixed so a gift card and a payment card with the same digits get different
        # tokens: the two never match each other in CRM or risk rules.
        return self.tokenizer.token("giftcard:" + gift_card_number_checked(number))

    def _gift_card_or_none(self, gift_card_id: UUID) -> GiftCard | None:
        card = self.get_or_none(gift_card_id)
        return card if isinstance(card, GiftCard) else None

    def _gift_card(self, gift_card_id: UUID) -> GiftCard:
        card = self._gift_card_or_none(gift_card_id)
        if card is None:
            raise GiftCardNotFoundError("no activated gift card with this number")
        return card

    @staticmethod
    def _gift_outcome(card: GiftCard, operation_key: str) -> GiftCardOutcome:
        done: Operation | None = card.operations.get(operation_key) if operation_key else None
        return GiftCardOutcome(
            gift_card_id=str(card.id),
            masked_number=card.masked_number,
            status=card.status,
            currency=card.currency,
            balance_minor=card.balance_minor,
            operation_key=operation_key if done else "",
            operation=done.name if done else "",
            amount_minor=done.amount_minor if done else 0,
        )

    # -- offline terminal approvals ---------------------------------------------------------------

    def send_advices(self) -> list[PaymentOutcome]:
        """Forward every offline terminal approval still owing its advice to the acquirer; an
        advice the acquirer declines is recorded (PaymentLateDeclined follows). Run by the
        service's timer, never inside a consumer: an acquirer answer lost to a crash before
        the save means the advice is sent again, which an acquirer takes as the same advice
        (it is a notification of a done sale, not a request that can charge twice)."""
        if not isinstance(self.acquirer, AdvisingAcquirer):
            return []
        results = []
        for payment_id in self._advices_owed():
            payment = self._payment_or_none(payment_id)
            if payment is None or not payment.advice_owed:
                continue
            try:
                answer = self.acquirer.advise(
                    payment.masked_pan, payment.captured_minor, payment.currency, payment.auth_code
                )
            except AcquirerUnavailableError:
                break  # the next run tries again
            if answer.unknown:
                continue
            results.append(self._outcome(self._record_advice(payment_id, answer)))
        return results

    # -- refunds and voids owed to the acquirer ---------------------------------------------------

    def sends_to_acquirer(self, payment: Payment) -> bool:
        """Whether a refund or void of `payment` must be made at the acquirer (it was
        authorized over the ISO 8583 link: it has the link's reference), rather than only
        recorded (the in-process stand-in acquirer, which holds no money)."""
        return bool(payment.authorization_reference) and not payment.terminal_id

    def send_owed_operations(self, only_if_new: bool = False) -> list[PaymentOutcome]:
        """Send every refund and void owed to the acquirer and record its answer: approved ->
        Refunded / Voided (published, counted in the batch), declined -> refused and
        flagged. Run by the service's timer and right after a consumer batch commits, never
        inside a consumer's transaction: an answer lost to a crash before it is saved means
        the operation is sent again, with the same reference, and the acquirer answers it as
        the same refund (a void is a reversal, which is idempotent by its original).
        `only_if_new` (the nudge after a consumer batch): nothing is sent unless something
        became owed since the last run, so an acquirer that is down slows no batch that owes
        it nothing."""
        results: list[PaymentOutcome] = []
        payment_ids, new = self._operations_owed()
        if only_if_new and not new:
            return results
        for payment_id in payment_ids:
            payment = self._payment_or_none(payment_id)
            if payment is None:
                continue
            for key, owed in list(payment.owed.items()):
                try:
                    answer = self._send_owed(payment, owed)
                except AcquirerUnavailableError as error:
                    log.warning(
                        "owed %s of payment %s not sent: %s", owed.operation, payment.id, error
                    )
                    return results  # the next run tries again
                if answer is None:
                    continue  # no answer: still owed, sent again next time
                payment = self._record_acquirer_answer(payment.id, key, answer)
            results.append(self._outcome(payment))
        return results

    def _at_acquirer(
        self,
        payment_id: UUID,
        operation_key: str,
        name: str,
        body: dict[str, Any],
        apply: Callable[[Payment, str], None],
    ) -> OperationOutcome:
        """A refund or void of a host-authorized payment asked for by a command: recorded
        owed (saved) first, then sent, then its answer recorded, so a crash anywhere leaves
        it owed for the timer, never made twice. No answer: returned still owed (the payment's
        refunded amount unchanged; the timer sends it again). Declined: PaymentDeclinedError
        (now and on every retry of the key)."""
        self._operate(payment_id, operation_key, name, body, apply)
        payment = self._payment(payment_id)
        owed = payment.owed.get(operation_key)
        if owed is not None:
            try:
                answer = self._send_owed(payment, owed)
            except AcquirerUnavailableError as error:
                log.warning("%s of payment %s owed to the acquirer: %s", name, payment_id, error)
                answer = None
            if answer is not None:
                payment = self._record_acquirer_answer(payment_id, operation_key, answer)
        done = payment.operation(operation_key)
        assert done is not None
        if operation_key not in payment.owed and done.amount_minor == 0 and name == "refund":
            raise PaymentDeclinedError(
                f"the acquirer declined refund {operation_key!r} of payment {payment_id}", ""
            )
        return OperationOutcome(self._outcome(payment), operation_key, done.name, done.amount_minor)

    def owed_operations(self, payment_id: UUID) -> dict[str, OwedOperation]:
        """The refunds and voids of a payment still owed to the acquirer, by key."""
        return dict(self._payment(payment_id).owed)

    def _send_owed(self, payment: Payment, owed: OwedOperation) -> AuthorizationResult | None:
        """The acquirer's answer to one owed operation; None when it gave none."""
        if owed.operation == OWED_VOID:
            if not isinstance(self.acquirer, ReversingAcquirer):
                raise AcquirerUnavailableError("this acquirer cannot reverse an authorization")
            confirmed = self.acquirer.reverse(payment.authorization_reference)
            return AuthorizationResult(True, "00", "reversed") if confirmed else None
        if not isinstance(self.acquirer, RefundingAcquirer):
            raise AcquirerUnavailableError("this acquirer makes no referenced refunds")
        answer = self.acquirer.refund(
            payment.authorization_reference, owed.amount_minor, payment.currency, owed.reference
        )
        return None if answer.unknown else answer

    def _record_acquirer_answer(
        self, payment_id: UUID, operation_key: str, answer: AuthorizationResult
    ) -> Payment:
        def apply(payment: Payment, _hash: str) -> None:
            if operation_key in payment.owed:
                payment.acquirer_answered(
                    operation_key, answer.approved, answer.response_code, answer.reason
                )

        return self._operate_on(payment_id, apply, "")

    def _operations_owed(self) -> tuple[list[UUID], bool]:
        """Payments with a refund or void owed to the acquirer: read forward from the
        notification log (new owed operations), dropped once nothing is owed; and whether
        any became owed since the last call."""
        new = False
        with self._owed_lock:
            while True:
                notifications = self.notifications(self._owed_position + 1, 500)
                if not notifications:
                    break
                for notification in notifications:
                    if notification.topic == self._owed_topic:
                        new = True
                        originator = notification.originator_id
                        self._owed_ids[
                            originator if isinstance(originator, UUID) else UUID(originator)
                        ] = None
                    self._owed_position = notification.id
            for payment_id in list(self._owed_ids):
                payment = self._payment_or_none(payment_id)
                if payment is None or not payment.owed:
                    self._owed_ids.pop(payment_id, None)
            return list(self._owed_ids), new

    def _advices_owed(self) -> list[UUID]:
        """Offline terminal approvals not yet advised, read forward from the notification log
        (from where the last call stopped: each tick reads only what is new)."""
        with self._advices_lock:
            while True:
                notifications = self.notifications(self._advices_position + 1, 500)
                if not notifications:
                    break
                for notification in notifications:
                    if notification.topic in self._advice_topics:
                        e: Any = self.mapper.to_domain_event(notification)
                        if isinstance(e, Payment.AtTerminal) and e.offline:
                            self._advices[e.originator_id] = None
                        elif isinstance(e, Payment.Advised):
                            self._advices.pop(e.originator_id, None)
                    self._advices_position = notification.id
            return list(self._advices)

    def _record_advice(self, payment_id: UUID, answer: AuthorizationResult) -> Payment:
        def apply(payment: Payment, _hash: str) -> None:
            if payment.advice_owed:
                payment.advised(answer.response_code, answer.approved, answer.reason)

        return self._operate_on(payment_id, apply, "")

    # -- batches and reconciliation -------------------------------------------------------------

    def gift_card_for_redemption(self, operation_key: str) -> UUID | None:
        """The gift card a redemption was made on, by the redemption's operation key (what
        checkout names a gift card tender by); None when no such redemption is stored."""
        with self._redemptions_lock:
            while True:
                notifications = self.notifications(self._redemptions_position + 1, 500)
                if not notifications:
                    break
                for notification in notifications:
                    if notification.topic == self._redeemed_topic:
                        e: Any = self.mapper.to_domain_event(notification)
                        self._redemptions[e.operation_key] = e.originator_id
                    self._redemptions_position = notification.id
            return self._redemptions.get(operation_key)

    def _domain_events(self, topics: set[str]) -> Iterator[Any]:
        """Every stored domain event of `topics`, in order (batches read the whole log)."""
        position = 0
        while True:
            notifications = self.notifications(position + 1, 500)
            if not notifications:
                return
            for notification in notifications:
                if notification.topic in topics:
                    yield self.mapper.to_domain_event(notification)
                position = notification.id

    def close_batch(self, store_id: str, terminal_id: str | None, business_day: str) -> BatchReport:
        """Close a store's (or one terminal's) business day: totals by scheme and type.
        Idempotent: closing the same store, terminal and day again returns the first close."""
        day = batch.business_day(business_day).isoformat()
        terminal = terminal_id or ""
        existing = self.get_or_none(Batch.create_id(store_id, terminal, day))
        if isinstance(existing, Batch):
            return existing.report()
        totals = self._day_totals(store_id, terminal, day)
        closed = Batch.close(
            store_id,
            terminal,
            day,
            totals.currency,
            totals.totals(),
            int(self.clock().timestamp() * 1000),
        )
        try:
            self.save(closed)
        except IntegrityError:
            found = self.get_or_none(closed.id)
            assert isinstance(found, Batch)
            return found.report()
        return closed.report()

    def get_batch(self, store_id: str, terminal_id: str | None, business_day: str) -> BatchReport:
        day = batch.business_day(business_day).isoformat()
        found = self.get_or_none(Batch.create_id(store_id, terminal_id or "", day))
        if not isinstance(found, Batch):
            raise BatchNotFoundError(f"no closed batch for {store_id} on {day}")
        return found.report()

    def _day_totals(self, store_id: str, terminal: str, day: str) -> batch.Totals:
        topics = {
            get_topic(c)
            for c in (
                Payment.Requested,
                Payment.AtTerminal,
                Payment.TipAdjusted,
                Payment.Captured,
                Payment.Refunded,
                Payment.Voided,
                CashTender.Recorded,
            )
        }
        schemes: dict[UUID, str] = {}
        terminals: dict[UUID, str] = {}
        tips: dict[UUID, int] = {}
        totals = batch.Totals()
        for e in self._domain_events(topics):
            pid = e.originator_id
            if isinstance(e, Payment.Requested):
                schemes[pid] = e.scheme
            elif isinstance(e, Payment.AtTerminal):
                terminals[pid] = e.terminal_id
            elif isinstance(e, Payment.TipAdjusted):
                tips[pid] = e.tip_minor
            elif e.store_id != store_id:
                continue
            elif isinstance(e, CashTender.Recorded):
                if _on_day(e.taken_at, day) and terminal in ("", e.lane_id):
                    totals.add(batch.CASH, batch.CASH, e.amount_minor, e.currency)
            elif terminal and terminals.get(pid, "") != terminal:
                continue
            elif isinstance(e, Payment.Captured):
                if _on_day(e.captured_at or e.timestamp, day):
                    tip = min(tips.get(pid, 0), e.amount_minor) if e.operation_key else 0
                    totals.add(e.scheme, batch.SALE, e.amount_minor - tip, e.currency)
                    totals.add(e.scheme, batch.TIP, tip, e.currency)
            elif _on_day(e.timestamp, day):
                kind = batch.REFUND if isinstance(e, Payment.Refunded) else batch.VOID
                totals.add(schemes.get(pid, ""), kind, e.amount_minor, e.currency)
        return totals

    def reconcile(self, business_day: str, settlement_path: Path) -> ReconciliationReport:
        """Compare the day's captured payments with the acquirer's settlement file by RRN
        (auth code and amount for terminal approvals, STAN for payments whose answer never
        came). A charge we have as pending is recorded captured; every difference is listed
        (and logged as an alert) in the ReconciliationCompleted event."""
        day = batch.business_day(business_day).isoformat()
        rows = batch.read_settlement(settlement_path, day)
        ours = self._captured_on(day)
        by_rrn = {c.rrn: c for c in ours.values() if c.rrn}
        by_auth = {
            (c.auth_code, c.amount_minor): c for c in ours.values() if not c.rrn and c.auth_code
        }
        unknown = self._unknown_by_stan()
        matched, differences = 0, []
        for row in rows:
            mine = by_rrn.get(row.rrn) or by_auth.get((row.auth_code, row.amount_minor))
            if mine is not None:
                ours.pop(mine.payment_id, None)
                if mine.amount_minor == row.amount_minor and mine.currency == row.currency:
                    matched += 1
                    continue
                differences.append(
                    batch.Difference(
                        batch.AMOUNT_MISMATCH,
                        str(mine.payment_id),
                        row.rrn,
                        row.auth_code,
                        mine.amount_minor,
                        row.amount_minor,
                        row.currency,
                        "alerted",
                    )
                )
                continue
            differences.append(self._missing_ours(row, unknown.get(row.stan)))
        for mine in ours.values():
            differences.append(
                batch.Difference(
                    batch.MISSING_ACQUIRER,
                    str(mine.payment_id),
                    mine.rrn,
                    mine.auth_code,
                    mine.amount_minor,
                    0,
                    mine.currency,
                    "alerted",
                )
            )
        refunds_matched, refund_differences = self._reconcile_refunds(day, settlement_path)
        matched += refunds_matched
        differences.extend(refund_differences)
        for difference in differences:
            log.error(
                "reconciliation %s: %s payment %s rrn %s (ours %d, acquirer %d)",
                day,
                difference.kind,
                difference.payment_id or "-",
                difference.rrn or "-",
                difference.ours_minor,
                difference.acquirer_minor,
            )
        return self._record_reconciliation(day, matched, differences)

    def _reconcile_refunds(
        self, day: str, settlement_path: Path
    ) -> tuple[int, list[batch.Difference]]:
        """The day's refunds made at the acquirer against the ones we recorded approved, by
        the refund's reference (the RRN we gave it). A refund the acquirer made that we still
        hold owed (its answer was lost) is listed missing on our side: the next
        `send_refunds` records it (the acquirer answers the resend as the same refund)."""
        rows = batch.read_settlement(settlement_path, day, batch.REFUND_TYPES)
        owed_by_reference, ours = self._host_refunds_on(day)
        matched, differences = 0, []
        for row in rows:
            mine = ours.pop(row.rrn, None)
            if mine is None:
                payment_id = owed_by_reference.get(row.rrn, "")
                differences.append(
                    batch.Difference(
                        batch.MISSING_OURS,
                        str(payment_id),
                        row.rrn,
                        row.auth_code,
                        0,
                        row.amount_minor,
                        row.currency,
                        "alerted",
                    )
                )
            elif (mine.amount_minor, mine.currency) == (row.amount_minor, row.currency):
                matched += 1
            else:
                differences.append(
                    batch.Difference(
                        batch.AMOUNT_MISMATCH,
                        str(mine.payment_id),
                        row.rrn,
                        row.auth_code,
                        mine.amount_minor,
                        row.amount_minor,
                        row.currency,
                        "alerted",
                    )
                )
        for mine in ours.values():
            differences.append(
                batch.Difference(
                    batch.MISSING_ACQUIRER,
                    str(mine.payment_id),
                    mine.rrn,
                    "",
                    mine.amount_minor,
                    0,
                    mine.currency,
                    "alerted",
                )
            )
        return matched, differences

    def _host_refunds_on(self, day: str) -> tuple[dict[str, UUID], dict[str, _Captured]]:
        """Refunds sent to the acquirer: every one by its reference (-> payment), and the
        ones approved on `day` by reference."""
        topics = {get_topic(Payment.AcquirerOperationOwed), get_topic(Payment.Refunded)}
        owed: dict[tuple[UUID, str], str] = {}
        approved: dict[str, _Captured] = {}
        for e in self._domain_events(topics):
            if isinstance(e, Payment.AcquirerOperationOwed):
                if e.operation == OWED_REFUND:
                    owed[(e.originator_id, e.operation_key)] = e.reference
                continue
            reference = owed.get((e.originator_id, e.operation_key))
            if reference is not None and _on_day(e.timestamp, day):
                approved[reference] = _Captured(
                    e.originator_id, reference, "", e.amount_minor, e.currency
                )
        return {ref: pid for (pid, _key), ref in owed.items()}, approved

    def _missing_ours(self, row: batch.SettlementRow, payment_id: UUID | None) -> batch.Difference:
        """The acquirer charged what we do not have captured. A payment still pending (its
        answer never came) is recorded captured with the acquirer's codes."""
        payment = self._payment_or_none(payment_id) if payment_id else None
        if (
            payment is not None
            and payment.status == PENDING
            and payment.kind == SALE
            and payment.amount_minor == row.amount_minor
        ):
            payment.capture(auth_code=row.auth_code, rrn=row.rrn, captured_at=self.clock())
            self.save(payment)
            return batch.Difference(
                batch.MISSING_OURS,
                str(payment.id),
                row.rrn,
                row.auth_code,
                0,
                row.amount_minor,
                row.currency,
                "recorded_capture",
            )
        return batch.Difference(
            batch.MISSING_OURS,
            str(payment.id) if payment else "",
            row.rrn,
            row.auth_code,
            0,
            row.amount_minor,
            row.currency,
            "alerted",
        )

    def _record_reconciliation(
        self, day: str, matched: int, differences: list[batch.Difference]
    ) -> ReconciliationReport:
        for _attempt in range(MAX_ATTEMPTS):
            found = self.get_or_none(Reconciliation.create_id(day))
            run = found if isinstance(found, Reconciliation) else Reconciliation.start(day)
            run.complete(matched, differences, int(self.clock().timestamp() * 1000))
            try:
                self.save(run)
            except IntegrityError:
                continue
            return run.report()
        raise PaymentInProgressError(f"reconciliation of {day} is running elsewhere")

    def get_reconciliation(self, key: str) -> ReconciliationReport:
        """A day's last reconciliation, by its id or by the business day (YYYY-MM-DD)."""
        try:
            reconciliation_id = UUID(key)
        except ValueError:
            reconciliation_id = Reconciliation.create_id(batch.business_day(key).isoformat())
        found = self.get_or_none(reconciliation_id)
        if not isinstance(found, Reconciliation) or not found.completed_at_ms:
            raise BatchNotFoundError(f"no reconciliation {key}")
        return found.report()

    def _captured_on(self, day: str) -> dict[UUID, _Captured]:
        topics = {get_topic(Payment.Captured)}
        captured: dict[UUID, _Captured] = {}
        for e in self._domain_events(topics):
            if _on_day(e.captured_at or e.timestamp, day):
                captured[e.originator_id] = _Captured(
                    e.originator_id, e.rrn, e.auth_code, e.amount_minor, e.currency
                )
        return captured

    def _unknown_by_stan(self) -> dict[str, UUID]:
        """Payments whose answer never came, by the STAN of the request the acquirer got."""
        found: dict[str, UUID] = {}
        for e in self._domain_events({get_topic(Payment.OutcomeUnknown)}):
            try:
                found[str(json.loads(e.reference)["stan"])] = e.originator_id
            except (ValueError, KeyError, TypeError):
                continue
        return found

    @staticmethod
    def operation_hash(operation: str, body: dict[str, Any]) -> str:
        """The body hash of a keyed operation, as the commands compute it (so an upstream
        event and a command with the same key agree)."""
        return Payments._hash(operation, body)

    @staticmethod
    def _hash(operation: str, body: dict[str, Any]) -> str:
        """The hash an operation key's body is compared by: the operation and its fields."""
        payload = json.dumps({"operation": operation, **body}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    def summary(self) -> PaymentTotals:
        """Captured count and totals per currency, declined count.

        Read forward from the notification log from where the last call stopped, so it is
        right after a restart (it starts from zero and reads everything) and counts what
        other replicas wrote too.
        """
        with self._totals_lock:
            totals = self._totals
            while True:
                notifications = self.notifications(totals.position + 1, 500)
                if not notifications:
                    break
                for notification in notifications:
                    if notification.topic == self._captured_topic:
                        captured: Any = self.mapper.to_domain_event(notification)
                        totals.captured_count += 1
                        by_currency = totals.captured_total_minor_by_currency
                        by_currency[captured.currency] = (
                            by_currency.get(captured.currency, 0) + captured.amount_minor
                        )
                    elif notification.topic == self._declined_topic:
                        totals.declined_count += 1
                    totals.position = notification.id
            return PaymentTotals(
                position=totals.position,
                captured_count=totals.captured_count,
                captured_total_minor_by_currency=dict(totals.captured_total_minor_by_currency),
                declined_count=totals.declined_count,
            )

    @staticmethod
    def _body_hash(request: AuthorizationRequest, card: Card, kind: str = SALE) -> str:
        # The card enters as its token: an unkeyed hash of a PAN could be brute-forced.
        body: dict[str, Any] = {
            "sale_id": request.sale_id,
            "store_id": request.store_id,
            "amount_minor": request.amount_minor,
            "currency": request.currency,
            "tender": request.tender,
            "card_token": card.token,
            "expiry": [card.expiry_month, card.expiry_year],
        }
        if kind != SALE:
            # Only added for the newer kinds: a sale's hash stays what it always was, so keys
            # stored before pre-authorizations existed still match their retries.
            body["kind"] = kind
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    @staticmethod
    def _check_same_body(payment: Payment, body_hash: str) -> None:
        if payment.body_hash != body_hash:
            raise PaymentConflictError(
                f"idempotency key {payment.idempotency_key!r} was used for another request"
            )

    @staticmethod
    def _outcome(payment: Payment) -> PaymentOutcome:
        status = {CAPTURED: "approved", DECLINED: "declined"}.get(payment.status, payment.status)
        return PaymentOutcome(
            payment_id=str(payment.id),
            status=status,
            response_code=payment.response_code,
            auth_code=payment.auth_code,
            masked_pan=payment.masked_pan,
            reason=payment.reason,
            kind=payment.kind,
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            authorized_minor=payment.authorized_minor,
            captured_minor=payment.captured_minor,
            tip_minor=payment.tip_minor,
            refunded_minor=payment.refunded_minor,
            reversal_owed=payment.reversal_owed,
            flags=tuple(payment.flags),
        )

    def _payment_or_none(self, payment_id: UUID) -> Payment | None:
        payment = self.get_or_none(payment_id)
        return payment if isinstance(payment, Payment) else None

    def _payment(self, payment_id: UUID) -> Payment:
        payment = self._payment_or_none(payment_id)
        if payment is None:
            raise PaymentNotFoundError(f"no payment {payment_id}")
        return payment


@dataclass(frozen=True)
class _Captured:
    payment_id: UUID
    rrn: str
    auth_code: str
    amount_minor: int
    currency: str


def _on_day(at: datetime, day: str) -> bool:
    """Whether `at` falls on the business day `day` (UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).date().isoformat() == day
