"""The acquirer link: ISO 8583 over one pipelined TCP connection (DESIGN.md, Payments).

`AcquirerLink` keeps one connection to the acquirer, frames messages with a 2-byte length,
and matches answers to requests by (response MTI, STAN) so any number of requests can be in
flight at once. Its guarantees, which the payment life cycle builds on:

- An authorization or sale that gets no answer in time is *unknown*, never "failed": the link
  sends a 0400 reversal naming the original (field 90), retrying with backoff until a 0410
  comes, and reports `TimedOut(reversed=True|False)`. `reversed=False` means the caller still
  holds an unknown outcome and must keep trying `reverse()` (or reconcile).
- A dropped connection fails every in-flight request with `AcquirerConnectionLost`, which
  carries the `TransactionRef` to reverse; the link reconnects by itself.
- A referenced refund (`refund`) that gets no answer is *not* reversed: it carries its own
  reference (field 37) and the caller sends it again; the acquirer answers the same refund.
- 0800 echoes keep an idle connection alive and detect a dead one (then it reconnects).
- A full PAN is never logged or kept: log lines carry the masked PAN; references keep none.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType

from payments import iso8583spec as spec

log = logging.getLogger("payments.acquirerlink")


class AcquirerError(Exception):
    """Base of the link's errors."""


class AcquirerUnavailableError(AcquirerError):
    """No connection to the acquirer could be made in time; nothing was sent."""


class AcquirerConnectionLost(AcquirerError):
    """The connection dropped while the request was in flight: its outcome is unknown.

    `original` names the request, so the caller can `reverse()` it once the link is back.
    """

    def __init__(self, message: str, original: TransactionRef | None = None) -> None:
        super().__init__(message)
        self.original = original


@dataclass(frozen=True)
class TransactionRef:
    """What identifies a sent request to the acquirer (for reversals and advices). No PAN."""

    mti: str
    stan: str
    transmission: str
    amount_minor: int
    currency: str

    def original_data(self) -> str:
        return spec.OriginalData(self.mti, self.stan, self.transmission).encode()


@dataclass(frozen=True)
class AuthorizationResult:
    """The acquirer's answer to an authorization, sale or completion."""

    approved: bool
    response_code: str
    auth_code: str
    rrn: str
    stan: str
    reason: str = ""
    ref: TransactionRef | None = None


@dataclass(frozen=True)
class TimedOut:
    """No answer came in time; a reversal was sent. `reversed`: whether a 0410 confirmed it."""

    reversed: bool
    stan: str
    ref: TransactionRef | None = None


@dataclass(frozen=True)
class ReversalResult:
    """The answer to a 0400 (or its absence after every retry)."""

    confirmed: bool
    response_code: str
    attempts: int


@dataclass(frozen=True)
class ReconciliationResult:
    """0510: the acquirer's debit totals and whether they match ours (field 66 = 1)."""

    in_balance: bool
    response_code: str
    debit_count: int
    debit_amount_minor: int


class AcquirerLink:
    """An asyncio ISO 8583 client to one acquirer host. Use `async with` or start()/close().

    `timeout` bounds each request; reversals are retried `reversal_attempts` times starting at
    `reversal_backoff` seconds and doubling. `echo_interval` (None: off) sends 0800 echoes.
    """

    def __init__(
        self,
        host: str,
        port: int,
        terminal_id: str,
        merchant_id: str,
        timeout: float = 5.0,
        *,
        reversal_attempts: int = 5,
        reversal_backoff: float = 0.2,
        echo_interval: float | None = 30.0,
        reconnect_delay: float = 0.05,
        max_reconnect_delay: float = 2.0,
    ) -> None:
        if len(terminal_id) > 8 or len(merchant_id) > 15:
            raise ValueError("terminal id is at most 8 and merchant id at most 15 characters")
        self.host = host
        self.port = port
        self.terminal_id = terminal_id.ljust(8)
        self.merchant_id = merchant_id.ljust(15)
        self.timeout = timeout
        self.reversal_attempts = reversal_attempts
        self.reversal_backoff = reversal_backoff
        self.echo_interval = echo_interval
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self._stans = itertools.cycle(range(1, 1_000_000))
        # (answer MTI, STAN) -> the waiting future and what to reverse if it never resolves.
        self._pending: dict[
            tuple[str, str], tuple[asyncio.Future[dict[str, str]], TransactionRef]
        ] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._connected = asyncio.Event()
        self._closing = False
        self._runner: asyncio.Task[None] | None = None
        self._echoer: asyncio.Task[None] | None = None
        self.connections = 0  # how many times it has connected (tests watch reconnects)

    # --- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (waiting up to `timeout`) and keep the connection up from then on."""
        self._closing = False
        self._runner = asyncio.create_task(self._run(), name="acquirer-link")
        if self.echo_interval:
            self._echoer = asyncio.create_task(self._keep_alive(), name="acquirer-echo")
        try:
            await asyncio.wait_for(self._connected.wait(), self.timeout)
        except TimeoutError:
            await self.close()
            raise AcquirerUnavailableError(
                f"cannot connect to acquirer {self.host}:{self.port}"
            ) from None

    async def close(self) -> None:
        self._closing = True
        for task in (self._echoer, self._runner):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._echoer = self._runner = None
        self._drop_writer()
        self._fail_pending("acquirer link closed")

    async def __aenter__(self) -> AcquirerLink:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def _run(self) -> None:
        delay = self.reconnect_delay
        while not self._closing:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError as error:
                log.warning(
                    "acquirer %s:%s unreachable (%s); retrying", self.host, self.port, error
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_reconnect_delay)
                continue
            delay = self.reconnect_delay
            self._writer = writer
            self.connections += 1
            self._connected.set()
            try:
                await self._read(reader)
            finally:
                self._connected.clear()
                self._drop_writer()
                # Outcomes are unknown now: fail fast so callers can reverse, rather than let
                # them sit out the full timeout.
                self._fail_pending("connection to the acquirer dropped")
            if not self._closing:
                log.warning("acquirer connection dropped; reconnecting")
                await asyncio.sleep(self.reconnect_delay)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                raw = await spec.read_frame(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            try:
                message = spec.unpack(raw)
            except spec.Iso8583FormatError as error:
                log.warning("undecodable answer dropped: %s", error)
                continue
            entry = self._pending.pop((message.get("t", ""), message.get("11", "")), None)
            if entry is None:
                # A late answer to a request we already timed out (and reversed): nothing waits.
                log.info("unmatched answer %s stan %s", message.get("t"), message.get("11"))
                continue
            future, _ = entry
            if not future.done():
                future.set_result(message)

    def _drop_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _fail_pending(self, why: str) -> None:
        pending, self._pending = self._pending, {}
        for future, ref in pending.values():
            if not future.done():
                future.set_exception(AcquirerConnectionLost(why, ref))

    async def _keep_alive(self) -> None:
        assert self.echo_interval is not None
        while True:
            await asyncio.sleep(self.echo_interval)
            if not self.connected:
                continue
            try:
                await self.echo()
            except (TimeoutError, AcquirerError):
                # A silent peer: drop the connection so _run reconnects.
                log.warning("echo unanswered; dropping the acquirer connection")
                self._drop_writer()

    # --- requests -----------------------------------------------------------------------------

    def _base(self, mti: str) -> dict[str, str]:
        answer_mti = spec.RESPONSE_MTI[mti]
        stan = f"{next(self._stans):06d}"
        # Skip a STAN still in flight (the counter wraps after 999,999 on a long-lived link).
        while (answer_mti, stan) in self._pending:
            stan = f"{next(self._stans):06d}"
        fields = {"t": mti, "11": stan, "41": self.terminal_id, "42": self.merchant_id}
        fields.update(spec.transmission_fields(datetime.now(UTC)))
        return fields

    async def _send(self, fields: dict[str, str], timeout: float | None = None) -> dict[str, str]:
        """Send one request and wait for its answer; TimeoutError when none comes in time."""
        timeout = self.timeout if timeout is None else timeout
        if not self.connected:
            try:
                await asyncio.wait_for(self._connected.wait(), timeout)
            except TimeoutError:
                raise AcquirerUnavailableError("no connection to the acquirer") from None
        writer = self._writer
        if writer is None:
            raise AcquirerUnavailableError("no connection to the acquirer")
        ref = TransactionRef(
            fields["t"],
            fields["11"],
            fields["7"],
            int(fields.get("4", "0")),
            spec.currency_from_numeric(fields["49"]) if "49" in fields else "",
        )
        key = (spec.RESPONSE_MTI[fields["t"]], fields["11"])
        future: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
        self._pending[key] = (future, ref)
        try:
            writer.write(spec.frame(spec.pack(fields)))
            # drain() only waits when the socket buffer is above its high-water mark, so
            # pipelined requests are not serialized by it.
            await writer.drain()
            return await asyncio.wait_for(future, timeout)
        except ConnectionError as error:
            raise AcquirerConnectionLost(str(error), ref) from None
        finally:
            self._pending.pop(key, None)

    def _card_fields(
        self, mti: str, pan: str, expiry: str, amount_minor: int, currency: str, pin: str | None
    ) -> dict[str, str]:
        fields = self._base(mti)
        fields.update(
            {
                "2": pan,
                "3": spec.PROCESSING_PURCHASE,
                "4": spec.format_amount(amount_minor),
                "14": spec.expiry_to_yymm(expiry),
                "49": spec.currency_to_numeric(currency),
            }
        )
        if pin is not None:
            fields["52"] = spec.pin_block(pin, pan)
        return fields

    async def _card_request(
        self, fields: dict[str, str], masked: str
    ) -> AuthorizationResult | TimedOut:
        mti, stan = fields["t"], fields["11"]
        try:
            answer = await self._send(fields)
        except TimeoutError:
            ref = TransactionRef(
                mti, stan, fields["7"], int(fields["4"]), spec.currency_from_numeric(fields["49"])
            )
            log.warning("no answer to %s stan %s card %s; reversing", mti, stan, masked)
            reversal = await self.reverse(ref)
            return TimedOut(reversed=reversal.confirmed, stan=stan, ref=ref)
        code = answer.get("39", "96")
        ref = TransactionRef(
            mti, stan, fields["7"], int(fields["4"]), spec.currency_from_numeric(fields["49"])
        )
        log.debug("%s stan %s card %s -> %s", mti, stan, masked, code)
        return AuthorizationResult(
            approved=code == "00",
            response_code=code,
            auth_code=answer.get("38", ""),
            rrn=answer.get("37", ""),
            stan=stan,
            reason=spec.RESPONSE_REASONS.get(code, "declined"),
            ref=ref,
        )

    async def authorize(
        self, pan: str, expiry: str, amount_minor: int, currency: str, pin: str | None = None
    ) -> AuthorizationResult | TimedOut:
        """0100 authorization (a hold). No answer in time -> reversal -> TimedOut."""
        fields = self._card_fields(spec.AUTHORIZATION, pan, expiry, amount_minor, currency, pin)
        return await self._card_request(fields, spec.mask_pan(pan))

    async def sale(
        self,
        pan: str,
        expiry: str,
        amount_minor: int,
        currency: str,
        pin: str | None = None,
        entry_mode: str | None = None,
    ) -> AuthorizationResult | TimedOut:
        """0200 financial request (authorize and capture at once). `entry_mode` (field 22)
        names the channel when it is not a card: a mobile wallet's QR code."""
        fields = self._card_fields(spec.FINANCIAL, pan, expiry, amount_minor, currency, pin)
        if entry_mode is not None:
            fields["22"] = entry_mode
        return await self._card_request(fields, spec.mask_pan(pan))

    async def complete(
        self,
        pan: str,
        expiry: str,
        amount_minor: int,
        currency: str,
        original: TransactionRef,
        auth_code: str,
    ) -> AuthorizationResult | TimedOut:
        """0220 completion advice: capture `amount_minor` against an approved 0100."""
        fields = self._card_fields(
            spec.COMPLETION_ADVICE, pan, expiry, amount_minor, currency, None
        )
        fields["38"] = auth_code
        fields["90"] = original.original_data()
        return await self._card_request(fields, spec.mask_pan(pan))

    async def increment(
        self,
        pan: str,
        expiry: str,
        amount_minor: int,
        currency: str,
        original: TransactionRef,
    ) -> AuthorizationResult | TimedOut:
        """Incremental authorization: a 0100 for `amount_minor` more, naming the approved 0100
        it adds to (field 90), so the issuer raises that hold rather than opening another."""
        fields = self._card_fields(spec.AUTHORIZATION, pan, expiry, amount_minor, currency, None)
        fields["90"] = original.original_data()
        return await self._card_request(fields, spec.mask_pan(pan))

    async def refund(
        self, original: TransactionRef, amount_minor: int, currency: str, reference: str
    ) -> AuthorizationResult | TimedOut:
        """Referenced refund: a 0200 with processing code 20 naming the approved `original`
        (field 90; no PAN), `reference` (12 digits, field 37) being the refund's own
        idempotency key at the acquirer. No answer in time -> `TimedOut(reversed=False)` and
        no reversal: the caller sends the same refund (same reference) again later, which the
        acquirer answers as the refund it already knows."""
        if len(reference) != 12 or not reference.isdigit():
            raise spec.Iso8583FormatError("a refund reference is 12 digits")
        fields = self._base(spec.FINANCIAL)
        fields.update(
            {
                "3": spec.PROCESSING_REFUND,
                "4": spec.format_amount(amount_minor),
                "37": reference,
                "49": spec.currency_to_numeric(currency),
                "90": original.original_data(),
            }
        )
        stan = fields["11"]
        ref = TransactionRef(spec.FINANCIAL, stan, fields["7"], amount_minor, currency)
        try:
            answer = await self._send(fields)
        except TimeoutError:
            log.warning("no answer to refund %s (stan %s); it stays owed", reference, stan)
            return TimedOut(reversed=False, stan=stan, ref=ref)
        code = answer.get("39", "96")
        log.info("refund %s of stan %s -> %s", reference, original.stan, code)
        return AuthorizationResult(
            approved=code == "00",
            response_code=code,
            auth_code=answer.get("38", ""),
            rrn=answer.get("37", reference),
            stan=stan,
            reason=spec.RESPONSE_REASONS.get(code, "declined"),
            ref=ref,
        )

    async def reverse(self, original: TransactionRef) -> ReversalResult:
        """0400 reversal of `original`, retried with backoff until a 0410 comes."""
        delay = self.reversal_backoff
        code = ""
        for attempt in range(1, self.reversal_attempts + 1):
            fields = self._base(spec.REVERSAL)
            fields.update(
                {
                    "3": spec.PROCESSING_PURCHASE,
                    "4": spec.format_amount(original.amount_minor),
                    "49": spec.currency_to_numeric(original.currency),
                    "90": original.original_data(),
                }
            )
            try:
                answer = await self._send(fields)
                code = answer.get("39", "96")
                log.info(
                    "reversal of %s stan %s: %s (attempt %d)",
                    original.mti,
                    original.stan,
                    code,
                    attempt,
                )
                return ReversalResult(True, code, attempt)
            except (TimeoutError, AcquirerError) as error:
                log.warning(
                    "reversal of stan %s attempt %d failed: %s",
                    original.stan,
                    attempt,
                    type(error).__name__,
                )
            if attempt < self.reversal_attempts:
                await asyncio.sleep(delay)
                delay *= 2
        return ReversalResult(False, code, self.reversal_attempts)

    async def echo(self) -> bool:
        """0800 echo test; True when answered 00. TimeoutError when unanswered."""
        fields = self._base(spec.NETWORK)
        fields["70"] = spec.NETWORK_ECHO
        answer = await self._send(fields)
        return answer.get("39") == "00"

    async def reconcile(
        self, currency: str, debit_count: int, debit_amount_minor: int
    ) -> ReconciliationResult:
        """0500: send our debit totals for this terminal; the acquirer answers its own."""
        fields = self._base(spec.RECONCILIATION)
        fields.update(
            {
                "3": spec.PROCESSING_RECONCILIATION,
                "15": fields["13"],
                "49": spec.currency_to_numeric(currency),
                "76": f"{debit_count:010d}",
                "88": f"{debit_amount_minor:016d}",
            }
        )
        answer = await self._send(fields)
        return ReconciliationResult(
            in_balance=answer.get("66") == "1",
            response_code=answer.get("39", "96"),
            debit_count=int(answer.get("76", "0") or 0),
            debit_amount_minor=int(answer.get("88", "0") or 0),
        )
