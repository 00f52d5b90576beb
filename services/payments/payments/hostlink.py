"""The application's synchronous acquirer port on the asyncio ISO 8583 `AcquirerLink`.

The service's commands run on a worker thread (ServiceHost's DB thread), the link on asyncio:
`HostAcquirer` runs the link on its own event loop in a dedicated thread and calls it with
`run_coroutine_threadsafe(...).result(timeout)`. What it maps:

- an answer            -> AuthorizationResult (approved, or declined with the response code);
- no answer in time    -> the link has sent a reversal: `AuthorizationResult.no_answer`,
  `reversed` as the 0410 said (the application records REVERSED, or a pending payment owing
  a reversal, named by a PAN-free `reference` that `reverse()` takes later);
- connection lost with the request in flight -> the same: this adapter reverses it;
- no connection at all -> AcquirerUnavailableError (nothing was sent).

Refunds (`refund`) are never reversed when unanswered: they carry their own fixed reference
(field 37), so the caller simply sends the same refund again later (`Payments.send_owed_
operations`); a void of a held authorization is `reverse` of the authorization's reference.

The PAN is passed through to the link and never logged or kept here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import json
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from payments import iso8583spec as spec
from payments.acquirer import AcquirerUnavailableError, AuthorizationResult
from payments.acquirerlink import (
    AcquirerConnectionLost,
    AcquirerError,
    AcquirerLink,
    TimedOut,
    TransactionRef,
)
from payments.acquirerlink import AcquirerUnavailableError as LinkUnavailableError
from payments.acquirerlink import AuthorizationResult as LinkResult

log = logging.getLogger("payments.hostlink")

T = TypeVar("T")

DEFAULT_TERMINAL_ID = "TS000001"
DEFAULT_MERCHANT_ID = "TILLSTREAM"
NO_ANSWER = "no answer from the acquirer"
CONNECTION_LOST = "connection to the acquirer lost"


def encode_reference(ref: TransactionRef) -> str:
    """What a later reversal needs, as text to store on the payment: no card data."""
    return json.dumps(
        {
            "mti": ref.mti,
            "stan": ref.stan,
            "transmission": ref.transmission,
            "amount_minor": ref.amount_minor,
            "currency": ref.currency,
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def decode_reference(reference: str) -> TransactionRef:
    data = json.loads(reference)
    return TransactionRef(
        str(data["mti"]),
        str(data["stan"]),
        str(data["transmission"]),
        int(data["amount_minor"]),
        str(data["currency"]),
    )


class HostAcquirer:
    """The acquirer port over a real ISO 8583 connection (see the module docstring).

    `timeout` bounds one request at the link; a call waits for the request and, if needed,
    every reversal attempt, so its own bound is computed from the link's settings.
    """

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float = 5.0,
        *,
        terminal_id: str = DEFAULT_TERMINAL_ID,
        merchant_id: str = DEFAULT_MERCHANT_ID,
        **link_options: Any,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="acquirer-link", daemon=True
        )
        self._thread.start()
        self.link = AcquirerLink(host, port, terminal_id, merchant_id, timeout, **link_options)
        self._started = False
        self._start_lock = threading.Lock()
        self._closed = False
        link = self.link
        # The longest a request can take at the link: the request, then every reversal
        # attempt with its backoff (doubling), plus a margin for reconnects.
        backoff = sum(link.reversal_backoff * 2**n for n in range(link.reversal_attempts))
        self.call_timeout = link.timeout * (2 + link.reversal_attempts) + backoff + 5.0

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Connect now (AcquirerUnavailableError when the host does not answer in time).
        Optional: the first request connects if this was not called or did not succeed."""
        with self._start_lock:
            if self._started:
                return
            if self._closed:
                raise AcquirerUnavailableError("the acquirer link is closed")
            try:
                self._call(self.link.start())
            except LinkUnavailableError as error:
                raise AcquirerUnavailableError(str(error)) from None
            self._started = True
            log.info("acquirer link up to %s:%s", self.link.host, self.link.port)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._started:
            with contextlib.suppress(Exception):
                self._call(self.link.close(), timeout=10.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10.0)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> HostAcquirer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(self.call_timeout if timeout is None else timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    # --- the port ---------------------------------------------------------------------------

    def authorize(
        self, pan: str, expiry: str, amount_minor: int, currency: str
    ) -> AuthorizationResult:
        """0100: a hold (pre-authorizations)."""
        return self._card(self.link.authorize, pan, expiry, amount_minor, currency)

    def sale(self, pan: str, expiry: str, amount_minor: int, currency: str) -> AuthorizationResult:
        """0200: authorize and capture at once (sales)."""
        return self._card(self.link.sale, pan, expiry, amount_minor, currency)

    def complete(
        self,
        pan: str,
        expiry: str,
        amount_minor: int,
        currency: str,
        reference: str,
        auth_code: str,
    ) -> AuthorizationResult:
        """0220 completion advice: capture `amount_minor` against the approved 0100 named by
        `reference`. No answer: the link reversed the advice (the result is unknown)."""
        original = decode_reference(reference)
        return self._card(
            lambda p, e, a, c: self.link.complete(p, e, a, c, original, auth_code),
            pan,
            expiry,
            amount_minor,
            currency,
        )

    def wallet_sale(
        self, pan: str, expiry: str, amount_minor: int, currency: str
    ) -> AuthorizationResult:
        """0200 for a mobile wallet payment scanned from a QR code: the wallet's card number
        (a device PAN) over the same link, as its own channel (field 22, QR entry)."""
        return self._card(
            functools.partial(self.link.sale, entry_mode=spec.ENTRY_MODE_WALLET_QR),
            pan,
            expiry,
            amount_minor,
            currency,
        )

    def increment(self, rrn: str, amount_minor: int, currency: str) -> AuthorizationResult:
        """An increment by RRN alone cannot go over the link (it needs the card and the
        original's reference: see `increment_authorization`): refused, 12, unsent."""
        return AuthorizationResult(
            False, "12", "an incremental authorization over the link needs the card"
        )

    def increment_authorization(
        self, pan: str, expiry: str, amount_minor: int, currency: str, reference: str
    ) -> AuthorizationResult:
        """0100 for `amount_minor` more on the approved 0100 named by `reference`."""
        original = decode_reference(reference)
        return self._card(
            lambda p, e, a, c: self.link.increment(p, e, a, c, original),
            pan,
            expiry,
            amount_minor,
            currency,
        )

    def refund(
        self, reference: str, amount_minor: int, currency: str, refund_reference: str
    ) -> AuthorizationResult:
        """A referenced refund of the approved request named by `reference` (see
        `AcquirerLink.refund`). No answer, or the connection lost with it in flight: unknown,
        and nothing reversed (sent again later under the same `refund_reference`).
        AcquirerUnavailableError when nothing could be sent."""
        self.start()
        original = decode_reference(reference)
        try:
            answer = self._call(
                self.link.refund(original, amount_minor, currency, refund_reference)
            )
        except concurrent.futures.TimeoutError:
            return AuthorizationResult.no_answer(False, "", NO_ANSWER)
        except AcquirerConnectionLost:
            return AuthorizationResult.no_answer(False, "", CONNECTION_LOST)
        except LinkUnavailableError as error:
            raise AcquirerUnavailableError(str(error)) from None
        if isinstance(answer, TimedOut):
            return AuthorizationResult.no_answer(False, "", NO_ANSWER)
        return AuthorizationResult(
            approved=answer.approved,
            response_code=answer.response_code,
            reason=answer.reason,
            auth_code=answer.auth_code,
            rrn=answer.rrn,
        )

    def reverse(self, reference: str) -> bool:
        """0400 again for a request whose outcome is unknown; True once confirmed (0410)."""
        try:
            self.start()
            result = self._call(self.link.reverse(decode_reference(reference)))
        except (AcquirerUnavailableError, concurrent.futures.TimeoutError):
            return False
        return result.confirmed

    def _card(
        self, send: Any, pan: str, expiry: str, amount_minor: int, currency: str
    ) -> AuthorizationResult:
        self.start()
        try:
            answer = self._call(self._guarded(send(pan, expiry, amount_minor, currency)))
        except concurrent.futures.TimeoutError:
            # The link is still at it (reversal retries): unknown, with nothing to name it by.
            log.error("acquirer call gave no result in %.1fs", self.call_timeout)
            return AuthorizationResult.no_answer(False, "", NO_ANSWER)
        if isinstance(answer, AuthorizationResult):
            return answer
        if isinstance(answer, TimedOut):
            reference = encode_reference(answer.ref) if answer.ref is not None else ""
            return AuthorizationResult.no_answer(answer.reversed, reference, NO_ANSWER)
        # An approval carries its own reference (a completion advice names the original).
        reference = encode_reference(answer.ref) if answer.approved and answer.ref else ""
        return AuthorizationResult(
            approved=answer.approved,
            response_code=answer.response_code,
            reason=answer.reason,
            auth_code=answer.auth_code,
            rrn=answer.rrn,
            reference=reference,
        )

    async def _guarded(
        self, request: Coroutine[Any, Any, LinkResult | TimedOut]
    ) -> LinkResult | TimedOut | AuthorizationResult:
        """The request, with a dropped connection turned into a reversal (in the loop)."""
        try:
            return await request
        except AcquirerConnectionLost as lost:
            if lost.original is None:
                return AuthorizationResult.no_answer(False, "", CONNECTION_LOST)
            log.warning("connection lost with stan %s in flight; reversing", lost.original.stan)
            reversal = await self.link.reverse(lost.original)
            return AuthorizationResult.no_answer(
                reversal.confirmed, encode_reference(lost.original), CONNECTION_LOST
            )
        except LinkUnavailableError as error:
            raise AcquirerUnavailableError(str(error)) from None
        except AcquirerError as error:  # pragma: no cover - every subclass is handled above
            raise AcquirerUnavailableError(str(error)) from None
