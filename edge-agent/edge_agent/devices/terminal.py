"""A card terminal speaking Concert over a serial line (pyserial): the `PaymentTerminal` driver."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import termios
import threading
import time

import serial

from edge_agent.devices.base import (
    PaymentMode,
    PaymentTerminal,
    TerminalEventSink,
    TerminalOutcome,
    TerminalPrompt,
    TerminalResult,
    terminal_event,
)
from edge_agent.devices.concert import (
    EOT,
    REASON_CARD_LOCKED,
    REASON_READ_FAILED,
    REASON_WRONG_PIN,
    STATUS_APPROVED,
    STATUS_NOT_DONE,
    ConcertError,
    ConcertLink,
    ConcertTimings,
    LinkError,
    PaymentAnswer,
    PaymentRequest,
    SerialLine,
    decode_display,
)

log = logging.getLogger(__name__)

#: What a dead or vanished serial line raises (pyserial, the OS, termios).
_LINE_ERRORS = (serial.SerialException, OSError, termios.error)

_REFUSALS = {
    REASON_WRONG_PIN: TerminalOutcome.WRONG_PIN,
    REASON_CARD_LOCKED: TerminalOutcome.CARD_LOCKED,
    REASON_READ_FAILED: TerminalOutcome.READ_FAILED,
}


def sale_reference(sale_id: str) -> str:
    """Ten characters that tie a terminal answer to its sale (the request's private field)."""
    return hashlib.sha256(sale_id.encode()).hexdigest()[:10].upper()


def outcome_of(answer: PaymentAnswer) -> TerminalOutcome:
    """What an answer means for the sale."""
    if answer.status == STATUS_APPROVED:
        return TerminalOutcome.APPROVED
    if answer.reason in _REFUSALS:
        return _REFUSALS[answer.reason]
    if answer.status == STATUS_NOT_DONE:
        return TerminalOutcome.READ_FAILED
    return TerminalOutcome.DECLINED


class ConcertTerminal(PaymentTerminal):
    """A Telium terminal in Concert mode on a serial port (USB CDC or RS-232).

    One payment at a time (a lock): the terminal serves one customer. A NO_ANSWER result after
    the terminal accepted the request means "unknown", not "declined": the customer may have
    paid, so the agent must not silently ring the sale up as unpaid.
    """

    def __init__(
        self,
        port: str,
        *,
        store_id: str,
        device_id: str = "terminal-1",
        events: TerminalEventSink | None = None,
        baudrate: int = 9600,
        bytesize: int = serial.EIGHTBITS,
        parity: str = serial.PARITY_NONE,
        timings: ConcertTimings | None = None,
        answer_timeout: float = 120.0,
        pos_number: str = "01",
    ) -> None:
        self.port_path = port
        self.store_id = store_id
        self.device_id = device_id
        self.events = events
        self.serial_settings = {"baudrate": baudrate, "bytesize": bytesize, "parity": parity}
        self.timings = timings or ConcertTimings()
        self.answer_timeout = answer_timeout
        self.pos_number = pos_number
        self._port: serial.Serial | None = None
        self._link: ConcertLink | None = None
        self._lock = threading.Lock()

    @property
    def noise_bytes(self) -> int:
        """Bytes on the line that were not protocol bytes (a sign of a bad cable)."""
        return self._link.noise_bytes if self._link else 0

    def pay(
        self,
        amount_minor: int,
        currency: str,
        sale_id: str,
        mode: PaymentMode = PaymentMode.DEBIT,
    ) -> TerminalResult:
        request = PaymentRequest(
            amount_minor=amount_minor,
            currency=currency,
            mode=mode,
            pos_number=self.pos_number,
            reference=sale_reference(sale_id),
        )
        body = request.encode()  # ConcertError for a bad amount or currency, before any I/O
        with self._lock:
            try:
                return self._pay(request, body, sale_id)
            except _LINE_ERRORS as exc:
                self._drop_port()
                return self._finish(request, sale_id, TerminalOutcome.NO_ANSWER, f"line: {exc}")

    def _pay(self, request: PaymentRequest, body: bytes, sale_id: str) -> TerminalResult:
        link = self._open()
        try:
            link.send(body)
        except LinkError as exc:
            return self._finish(request, sale_id, TerminalOutcome.NO_ANSWER, str(exc))
        self._emit(sale_id, TerminalPrompt.INSERT_CARD)
        deadline = time.monotonic() + self.answer_timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                message = link.receive(remaining)
            except LinkError as exc:
                log.warning("terminal %s: %s", self.device_id, exc)
                continue
            if message is None:
                break
            answer = self._answer_for(request, message, sale_id)
            if answer is not None:
                return self._result(request, sale_id, answer)
        return self._finish(request, sale_id, TerminalOutcome.NO_ANSWER, "no answer in time")

    def _answer_for(
        self, request: PaymentRequest, message: bytes, sale_id: str
    ) -> PaymentAnswer | None:
        """The answer to `request` in `message`; None for prompts, stale or malformed answers."""
        prompt = decode_display(message)
        if prompt is not None:
            self._emit(sale_id, prompt)
            return None
        try:
            answer = PaymentAnswer.decode(message)
        except ConcertError as exc:
            log.warning("terminal %s: %s", self.device_id, exc)
            return None
        if answer.reference and answer.reference != request.reference:
            log.warning("terminal %s: answer for another sale ignored", self.device_id)
            return None
        wrong_amount = (answer.amount_minor, answer.currency) != (
            request.amount_minor,
            request.currency,
        )
        if wrong_amount and answer.status == STATUS_APPROVED:
            log.warning("terminal %s: approved amount differs from request", self.device_id)
            return None
        return answer

    def _result(
        self, request: PaymentRequest, sale_id: str, answer: PaymentAnswer
    ) -> TerminalResult:
        outcome = outcome_of(answer)
        result = TerminalResult(
            outcome=outcome,
            amount_minor=answer.amount_minor,
            currency=answer.currency,
            sale_id=sale_id,
            token=answer.token,
            masked_pan=answer.masked_pan,
            scheme=answer.scheme,
            auth_code=answer.auth_code,
            detail=answer.reason,
        )
        self._emit(sale_id, outcome, answer.masked_pan)
        return result

    def _finish(
        self, request: PaymentRequest, sale_id: str, outcome: TerminalOutcome, detail: str
    ) -> TerminalResult:
        self._emit(sale_id, outcome, detail)
        return TerminalResult(
            outcome=outcome,
            amount_minor=request.amount_minor,
            currency=request.currency,
            sale_id=sale_id,
            detail=detail,
        )

    def is_ready(self) -> bool:
        """ENQ answered by ACK, then EOT: the terminal is there and idle. A terminal busy with
        a payment is there too: the probe does not wait for the customer."""
        if not self._lock.acquire(blocking=False):
            return True
        try:
            link = self._open()
            link.open_session()
            link.line.write(bytes([EOT]))
            return True
        except (LinkError, *_LINE_ERRORS):
            self._drop_port()
            return False
        finally:
            self._lock.release()

    def close(self) -> None:
        with self._lock:
            self._drop_port()

    def _open(self) -> ConcertLink:
        if self._link is None:
            self._port = serial.Serial(self.port_path, timeout=0, **self.serial_settings)
            self._link = ConcertLink(SerialLine(self._port), self.timings)
        return self._link

    def _drop_port(self) -> None:
        if self._port is not None:
            with contextlib.suppress(*_LINE_ERRORS):
                self._port.close()
        self._port, self._link = None, None

    def _emit(self, sale_id: str, event: str, detail: str = "") -> None:
        if self.events is not None:
            self.events(terminal_event(self.store_id, self.device_id, sale_id, event, detail))
