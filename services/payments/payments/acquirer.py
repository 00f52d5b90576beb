"""An in-process, deterministic acquirer stand-in with test card ranges.

It stands where the ISO 8583 link to a real acquirer will go (DESIGN.md, Payments), behind the
same one-method interface, so the application does not change when the real one arrives.

Test cards (any Luhn-valid PAN):
  ... 0051  -> 51 insufficient funds
  ... 0005  -> 05 do not honor
  ... 0091  -> 91 issuer unavailable
  expired   -> 54 expired card
  otherwise -> 00 approved, with a 6-digit auth code and a 12-digit RRN
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

DECLINES_BY_SUFFIX = {
    "0051": ("51", "insufficient funds"),
    "0005": ("05", "do not honor"),
    "0091": ("91", "issuer unavailable"),
}


@dataclass(frozen=True)
class AuthorizationResult:
    """The acquirer's answer: approved with codes, or declined with a response code."""

    approved: bool
    response_code: str
    reason: str = ""
    auth_code: str = ""
    rrn: str = ""
    #: No answer came in time (or the connection dropped with the request in flight): the
    #: acquirer may have charged, so the request was reversed. `reversed` says whether the
    #: acquirer confirmed the reversal; if not, `reference` (no card data) names the request
    #: for a later `reverse(reference)`. Never read as a decline: see `no_answer`.
    unknown: bool = False
    reversed: bool = False
    reference: str = ""

    @classmethod
    def no_answer(cls, reversed: bool, reference: str, reason: str) -> AuthorizationResult:
        return cls(False, "", reason, unknown=True, reversed=reversed, reference=reference)


class AcquirerUnavailableError(Exception):
    """No connection to the acquirer: the request was not sent (nothing can be charged)."""


class SimulatedAcquirer:
    """Answers authorizations from the test card ranges; the same calls give the same answers.

    Auth codes and RRNs come from a hash of the request and a call counter, so they are
    repeatable in tests yet differ between two identical purchases.
    """

    def __init__(self, today: Callable[[], date] | None = None) -> None:
        self._today = today or (lambda: datetime.now(UTC).date())
        self._sequence = itertools.count(1)

    def authorize(
        self, pan: str, expiry: str, amount_minor: int, currency: str
    ) -> AuthorizationResult:
        decline = DECLINES_BY_SUFFIX.get(pan[-4:])
        if decline is not None:
            return AuthorizationResult(False, decline[0], decline[1])
        if self._expired(expiry):
            return AuthorizationResult(False, "54", "expired card")
        digest = hashlib.sha256(
            f"{pan}|{expiry}|{amount_minor}|{currency}|{next(self._sequence)}".encode()
        ).hexdigest()
        number = int(digest, 16)
        return AuthorizationResult(
            True, "00", "approved",
            auth_code=f"{number % 1_000_000:06d}",
            rrn=f"{(number // 1_000_000) % 1_000_000_000_000:012d}",
        )

    def increment(self, rrn: str, amount_minor: int, currency: str) -> AuthorizationResult:
        """An incremental authorization on a held authorization (found by its RRN): approved
        with a new auth code, unless the RRN is not one of ours (12 digits)."""
        if not (len(rrn) == 12 and rrn.isdigit()):
            return AuthorizationResult(False, "25", "original not found")
        digest = hashlib.sha256(
            f"{rrn}|{amount_minor}|{currency}|{next(self._sequence)}".encode()
        ).hexdigest()
        return AuthorizationResult(
            True, "00", "approved", auth_code=f"{int(digest, 16) % 1_000_000:06d}", rrn=rrn
        )

    def wallet_sale(
        self, pan: str, expiry: str, amount_minor: int, currency: str
    ) -> AuthorizationResult:
        """A mobile wallet (QR) payment: the same test ranges as cards."""
        return self.authorize(pan, expiry, amount_minor, currency)

    def advise(self, masked_pan: str, amount_minor: int, currency: str,
               auth_code: str) -> AuthorizationResult:
        """The advice (0220) of a sale a terminal approved offline: accepted, or declined late
        by the issuer (the test ranges' last four digits, visible in the masked PAN)."""
        decline = DECLINES_BY_SUFFIX.get(masked_pan[-4:])
        if decline is not None:
            return AuthorizationResult(False, decline[0], decline[1])
        digest = hashlib.sha256(
            f"{masked_pan}|{amount_minor}|{currency}|{next(self._sequence)}".encode()
        ).hexdigest()
        number = int(digest, 16)
        return AuthorizationResult(
            True, "00", "approved", auth_code=auth_code or f"{number % 1_000_000:06d}",
            rrn=f"{(number // 1_000_000) % 1_000_000_000_000:012d}",
        )

    def _expired(self, expiry: str) -> bool:
        month_text, _, year_text = expiry.partition("/")
        try:
            month, year = int(month_text), 2000 + int(year_text)
        except ValueError:
            return True
        today = self._today()
        # A card is good to the end of its expiry month.
        return (year, month) < (today.year, today.month)
