"""An ISO 8583 acquirer simulator: the far end of `AcquirerLink`, for tests, demos and benches.

Speaks the dialect of `payments.iso8583spec` over TCP (2-byte length prefix). Test cards, by
the last four digits of a Luhn-valid PAN (checked in this order):

  not Luhn-valid        -> 14 invalid card number
  locked card           -> 75 PIN tries exceeded (a card locks after three wrong PINs)
  ... 0051              -> 51 insufficient funds
  ... 0005              -> 05 do not honor
  ... 0091              -> 91 issuer unavailable
  expired (field 14)    -> 54 expired card
  ... 0055              -> every PIN is wrong (also a missing one): 55, and counts as a try
  wrong PIN             -> 55 incorrect PIN; the third wrong PIN in a row answers 75 and locks
                           the card (a PIN is wrong when the clear format-0 block in field 52
                           does not hold `TEST_CORRECT_PIN`, "1234"; see iso8583spec)
  ... 0099              -> approved and recorded, but never answered: the classic "charged,
                           answer lost" case that only a reversal can undo
  otherwise             -> 00 approved, 6-digit auth code, 12-digit RRN

Referenced refunds (0200, processing code 20, see iso8583spec): the original is found by
terminal and field 90 among the approved, not reversed transactions (25 when it is not there);
the refunds of one original never add up to more than it (13); an original whose PAN ends
in 0057 approves its sales but declines its refunds (57, transaction not permitted). A refund
is known by its terminal and field 37: the same refund sent again gets the first answer again
and is never applied twice (`stats.refund_replays` counts those). Approved refunds are in the
settlement file with type "refund".

0400 reversals remove the original (found by terminal and field 90) from settlement and
always answer 00 (an unknown original is already "reversed"; answering otherwise would only
make the terminal retry forever). 0800 answers 0810. 0500 answers the acquirer's debit totals
for the terminal and currency, with field 66 = 1 when they match the terminal's, else 2.

The settlement file (`settlement-YYYYMMDD.csv`, one per day) lists every approved and
not-reversed authorization, sale and completion, with the PAN masked; it is written on
reconciliation, on `write_settlement()` and on stop.

Use as `async with AcquirerSimulator(port=0, settlement_dir=d) as sim: sim.port`, or run
`python -m payments.acquirersim --port N --settlement-dir DIR`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import hashlib
import itertools
import logging
import random
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType

from payments import iso8583spec as spec

log = logging.getLogger("payments.acquirersim")

DECLINES_BY_SUFFIX = {"0051": "51", "0005": "05", "0091": "91"}
NEVER_ANSWERS = "0099"
REFUND_DECLINED_CARD = "0057"
WRONG_PIN_CARD = "0055"
PIN_TRIES = 3

SETTLEMENT_COLUMNS = (
    "date",
    "merchant",
    "terminal",
    "stan",
    "rrn",
    "auth_code",
    "masked_pan",
    "amount_minor",
    "currency",
    "type",
)
TYPE_BY_MTI = {
    spec.AUTHORIZATION: "authorization",
    spec.FINANCIAL: "sale",
    spec.COMPLETION_ADVICE: "completion",
}
# What moves money at settlement: an authorization alone only holds funds.
FINANCIAL_TYPES = {"sale", "completion"}


@dataclass(frozen=True)
class SettlementRecord:
    """One approved transaction as the acquirer will settle it. Holds the masked PAN only."""

    day: date
    merchant: str
    terminal: str
    stan: str
    rrn: str
    auth_code: str
    masked_pan: str
    amount_minor: int
    currency: str
    type: str

    def row(self) -> list[str]:
        return [
            self.day.isoformat(),
            self.merchant,
            self.terminal,
            self.stan,
            self.rrn,
            self.auth_code,
            self.masked_pan,
            str(self.amount_minor),
            self.currency,
            self.type,
        ]


@dataclass
class SimulatorStats:
    """Counters tests assert on."""

    requests: int = 0
    echoes: int = 0
    reversals: int = 0
    unanswered: int = 0
    dropped_reversals: int = 0
    #: Refunds applied (approved) and refunds answered again without being applied twice.
    refunds: int = 0
    refund_replays: int = 0
    by_mti: dict[str, int] = field(default_factory=dict)
    #: Requests by POS entry mode (field 22; "" for cards, which do not send it).
    by_entry_mode: dict[str, int] = field(default_factory=dict)


class AcquirerSimulator:
    """An asyncio ISO 8583 acquirer with the test card ranges above.

    `latency` delays every answer (seconds; requests still overlap, as at a real host), plus
    up to `jitter` seconds at random, so answers come back out of order as at a real host;
    `drop_reversals` ignores that many 0400s first (to exercise the link's reversal retries).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        settlement_dir: Path | str | None = None,
        latency: float = 0.0,
        drop_reversals: int = 0,
        jitter: float = 0.0,
        today: Callable[[], date] | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.settlement_dir = Path(settlement_dir) if settlement_dir is not None else None
        self.latency = latency
        self.jitter = jitter
        self._random = random.Random(8583)
        self.drop_reversals = drop_reversals
        self._today = today or (lambda: datetime.now(UTC).date())
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._sequence = itertools.count(1)
        # (terminal, mti, stan, transmission) -> record, insertion ordered.
        self._approved: dict[tuple[str, str, str, str], SettlementRecord] = {}
        self._wrong_pins: dict[str, int] = {}
        # (terminal, field 37) -> the answer a refund got: a refund sent again gets it again.
        self._refund_answers: dict[tuple[str, str], dict[str, str]] = {}
        # original's key -> refunded so far (refunds never exceed their original).
        self._refunded: dict[tuple[str, str, str, str], int] = {}
        # original 0100's key -> the amount its completion (0220) captured.
        self._completed: dict[tuple[str, str, str, str], int] = {}
        self._locked: set[str] = set()
        self.stats = SimulatorStats()

    # --- life cycle -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (the real one when started on port 0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("simulator not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self._requested_port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self.drop_connections()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self.settlement_dir is not None:
            self.write_settlement()

    async def __aenter__(self) -> AcquirerSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def drop_connections(self) -> None:
        """Close every client connection (a network blip); the server keeps listening."""
        writers, self._writers = self._writers, set()
        for writer in writers:
            writer.close()
        for writer in writers:
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    # --- settlement ---------------------------------------------------------------------------

    @property
    def settled(self) -> list[SettlementRecord]:
        """Everything approved and not reversed, in approval order."""
        return list(self._approved.values())

    def write_settlement(self, day: date | None = None) -> list[Path]:
        """Write the settlement file of `day` (default: every day with records, and today)."""
        if self.settlement_dir is None:
            raise RuntimeError("no settlement_dir configured")
        self.settlement_dir.mkdir(parents=True, exist_ok=True)
        days = {day} if day is not None else {r.day for r in self._approved.values()}
        if day is None:
            days.add(self._today())
        paths = []
        for each in sorted(days):
            path = self.settlement_dir / f"settlement-{each:%Y%m%d}.csv"
            # Write then rename so a reader (reconciliation) never sees a half-written file.
            temporary = path.with_suffix(".csv.tmp")
            with temporary.open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(SETTLEMENT_COLUMNS)
                for record in self._approved.values():
                    if record.day == each:
                        writer.writerow(record.row())
            temporary.replace(path)
            paths.append(path)
        return paths

    # --- protocol -----------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    raw = await spec.read_frame(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                if self.latency > 0 or self.jitter > 0:
                    task = asyncio.create_task(self._answer_later(raw, writer))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                else:
                    self._answer(raw, writer)
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _answer_later(self, raw: bytes, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(self.latency + self._random.uniform(0, self.jitter))
        self._answer(raw, writer)

    def _answer(self, raw: bytes, writer: asyncio.StreamWriter) -> None:
        try:
            request = spec.unpack(raw)
        except spec.Iso8583FormatError as error:
            log.warning("undecodable message dropped: %s", error)
            return
        response = self.handle(request)
        if response is None or writer.is_closing():
            return
        writer.write(spec.frame(spec.pack(response)))

    def handle(self, request: dict[str, str]) -> dict[str, str] | None:
        """The answer to one decoded request, or None for no answer."""
        mti = request.get("t", "")
        self.stats.requests += 1
        self.stats.by_mti[mti] = self.stats.by_mti.get(mti, 0) + 1
        mode = request.get("22", "")
        self.stats.by_entry_mode[mode] = self.stats.by_entry_mode.get(mode, 0) + 1
        if mti not in spec.RESPONSE_MTI:
            return None
        echoed = ("3", "4", "7", "11", "41", "42", "49")
        response: dict[str, str] = {k: request[k] for k in echoed if k in request}
        response["t"] = spec.RESPONSE_MTI[mti]
        if mti == spec.NETWORK:
            self.stats.echoes += 1
            response.update({"39": "00", "70": request.get("70", spec.NETWORK_ECHO)})
        elif mti == spec.REVERSAL:
            if self.stats.dropped_reversals < self.drop_reversals:
                self.stats.dropped_reversals += 1
                return None
            self.stats.reversals += 1
            self._reverse(request)
            response["39"] = "00"
        elif mti == spec.RECONCILIATION:
            response.update(self._reconcile(request))
        elif mti == spec.FINANCIAL and request.get("3") == spec.PROCESSING_REFUND:
            response.update(self._refund(request))
        else:
            code = self._authorize(request)
            if code is None:
                self.stats.unanswered += 1
                return None
            response.update(code)
        return response

    def _authorize(self, request: dict[str, str]) -> dict[str, str] | None:
        pan = request.get("2", "")
        if not spec.luhn_valid(pan):
            return {"39": "14"}
        if pan in self._locked:
            return {"39": "75"}
        decline = DECLINES_BY_SUFFIX.get(pan[-4:])
        if decline is not None:
            return {"39": decline}
        if spec.yymm_expired(request.get("14", ""), self._today()):
            return {"39": "54"}
        pin_code = self._check_pin(pan, request.get("52"))
        if pin_code is not None:
            return {"39": pin_code}
        number = int(
            hashlib.sha256(f"{request.get('11')}|{next(self._sequence)}".encode()).hexdigest(), 16
        )
        auth_code = f"{number % 1_000_000:06d}"
        rrn = f"{(number // 1_000_000) % 10**12:012d}"
        try:
            amount = int(request.get("4", ""))
            currency = spec.currency_from_numeric(request.get("49", ""))
        except (ValueError, spec.Iso8583FormatError):
            return {"39": "30"}
        terminal = request.get("41", "")
        key = (terminal, request["t"], request.get("11", ""), request.get("7", ""))
        self._approved[key] = SettlementRecord(
            day=self._today(),
            merchant=request.get("42", "").strip(),
            terminal=terminal,
            stan=request.get("11", ""),
            rrn=rrn,
            auth_code=auth_code,
            masked_pan=spec.mask_pan(pan),
            amount_minor=amount,
            currency=currency,
            type=TYPE_BY_MTI[request["t"]],
        )
        if request["t"] == spec.COMPLETION_ADVICE and "90" in request:
            with contextlib.suppress(spec.Iso8583FormatError):
                original = spec.OriginalData.decode(request["90"])
                self._completed[(terminal, original.mti, original.stan, original.transmission)] = (
                    amount
                )
        if pan.endswith(NEVER_ANSWERS):
            return None
        return {"39": "00", "38": auth_code, "37": rrn}

    def _refund(self, request: dict[str, str]) -> dict[str, str]:
        """A referenced refund (see the module docstring), applied once per field 37."""
        terminal, reference = request.get("41", ""), request.get("37", "")
        if not reference.strip():
            return {"39": "30"}
        seen = self._refund_answers.get((terminal, reference))
        if seen is not None:
            self.stats.refund_replays += 1
            return dict(seen)
        answer = self._apply_refund(request, terminal, reference)
        self._refund_answers[(terminal, reference)] = answer
        return dict(answer)

    def _apply_refund(
        self, request: dict[str, str], terminal: str, reference: str
    ) -> dict[str, str]:
        try:
            original = spec.OriginalData.decode(request.get("90", ""))
            amount = int(request.get("4", ""))
            currency = spec.currency_from_numeric(request.get("49", ""))
        except (ValueError, spec.Iso8583FormatError):
            return {"39": "30", "37": reference}
        key = (terminal, original.mti, original.stan, original.transmission)
        record = self._approved.get(key)
        if record is None or record.currency != currency:
            return {"39": "25", "37": reference}
        if record.masked_pan.endswith(REFUND_DECLINED_CARD):
            return {"39": "57", "37": reference}
        limit = self._completed.get(key, record.amount_minor)
        if amount <= 0 or self._refunded.get(key, 0) + amount > limit:
            return {"39": "13", "37": reference}
        self._refunded[key] = self._refunded.get(key, 0) + amount
        self.stats.refunds += 1
        number = int(hashlib.sha256(f"refund|{terminal}|{reference}".encode()).hexdigest(), 16)
        auth_code = f"{number % 1_000_000:06d}"
        self._approved[(terminal, request["t"], request.get("11", ""), request.get("7", ""))] = (
            SettlementRecord(
                day=self._today(),
                merchant=request.get("42", "").strip(),
                terminal=terminal,
                stan=request.get("11", ""),
                rrn=reference,
                auth_code=auth_code,
                masked_pan=record.masked_pan,
                amount_minor=amount,
                currency=currency,
                type="refund",
            )
        )
        return {"39": "00", "38": auth_code, "37": reference}

    def _check_pin(self, pan: str, block: str | None) -> str | None:
        """None when the PIN is fine (or none is needed), else 55 or 75."""
        always_wrong = pan.endswith(WRONG_PIN_CARD)
        if block is None and not always_wrong:
            return None  # no PIN: a signature / no-CVM transaction
        pin = spec.pin_from_block(block, pan) if block is not None else None
        if not always_wrong and pin == spec.TEST_CORRECT_PIN:
            self._wrong_pins.pop(pan, None)
            return None
        tries = self._wrong_pins.get(pan, 0) + 1
        self._wrong_pins[pan] = tries
        if tries >= PIN_TRIES:
            self._locked.add(pan)
            return "75"
        return "55"

    def _reverse(self, request: dict[str, str]) -> None:
        try:
            original = spec.OriginalData.decode(request.get("90", ""))
        except spec.Iso8583FormatError:
            return
        key = (request.get("41", ""), original.mti, original.stan, original.transmission)
        self._approved.pop(key, None)

    def _reconcile(self, request: dict[str, str]) -> dict[str, str]:
        terminal = request.get("41", "")
        try:
            currency = spec.currency_from_numeric(request.get("49", ""))
        except spec.Iso8583FormatError:
            return {"39": "30"}
        records = [
            r
            for r in self._approved.values()
            if r.terminal == terminal and r.currency == currency and r.type in FINANCIAL_TYPES
        ]
        count, amount = len(records), sum(r.amount_minor for r in records)
        theirs = (int(request.get("76", "0") or 0), int(request.get("88", "0") or 0))
        if self.settlement_dir is not None:
            self.write_settlement()
        return {
            "39": "00",
            "66": "1" if theirs == (count, amount) else "2",
            "76": f"{count:010d}",
            "88": f"{amount:016d}",
        }


async def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m payments.acquirersim",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8583)
    parser.add_argument("--settlement-dir", type=Path, default=None)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    simulator = AcquirerSimulator(
        args.host, args.port, args.settlement_dir, latency=args.latency_ms / 1000
    )
    await simulator.start()
    # One parseable line: scripts started with --port 0 read the real port from it.
    print(f"acquirer-sim listening on {args.host}:{simulator.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await simulator.stop()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1:]))
