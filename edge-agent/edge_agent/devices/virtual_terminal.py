"""A virtual Concert terminal on a pseudo-terminal, for tests and the demo.

The driver opens `VirtualTerminal.port` (the pty's slave path) with pyserial exactly as it opens
a real terminal; the simulator answers on the master side in a thread. Each payment request
takes the next scenario from its script (then `default`):

- approve, decline: the card is approved / refused by the issuer.
- wrong_pin: one wrong PIN, then the customer gives up; wrong_pin_then_ok: one wrong, then right.
- card_locked: three wrong PINs; the card is locked.
- read_failed: the contactless read fails.
- no_answer: the request is accepted and never answered.
- silent: the terminal does not answer ENQ at all (switched off).
- garbage: noise bytes on the line around the exchange, then approve.
- bad_lrc: the first answer frame has a wrong LRC (the driver NAKs it), then approve.
- nak: the terminal NAKs the request frame once (the driver retransmits), then approve.
- full_pan: a misconfigured terminal that puts the full PAN in its report (the driver masks it).

Cards are made in memory (`edge_agent.cards.test_card`), tokenised and masked here; the full
number never leaves `_card`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import random
import secrets
import threading
import time
import tty
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from edge_agent.cards import test_card
from edge_agent.devices.concert import (
    ENQ,
    REASON_CARD_LOCKED,
    REASON_DECLINED,
    REASON_READ_FAILED,
    REASON_WRONG_PIN,
    STATUS_APPROVED,
    STATUS_NOT_DONE,
    STATUS_REFUSED,
    ConcertError,
    ConcertLink,
    ConcertTimings,
    FdLine,
    LinkError,
    PaymentAnswer,
    PaymentRequest,
    display_message,
    frame,
)

SCENARIOS = frozenset(
    {
        "approve",
        "decline",
        "wrong_pin",
        "wrong_pin_then_ok",
        "card_locked",
        "read_failed",
        "no_answer",
        "silent",
        "garbage",
        "bad_lrc",
        "nak",
        "full_pan",
    }
)
NOISE = b"\x00\xff\x7f#~\x11garbage\x13\x00"


@dataclass
class VirtualTerminalStats:
    """What the simulator saw, for tests and the demo's counters."""

    requests: list[PaymentRequest] = field(default_factory=list)
    scenarios: list[str] = field(default_factory=list)
    link_errors: int = 0


class VirtualTerminal:
    """A scriptable Concert terminal on a pty; `start()` / `stop()` or use as a context manager."""

    def __init__(
        self,
        script: Iterable[str] = (),
        *,
        default: str = "approve",
        mix: Mapping[str, float] | None = None,
        timings: ConcertTimings | None = None,
        seed: int | None = None,
    ) -> None:
        self._check(default)
        for scenario in mix or {}:
            self._check(scenario)
        self.default = default
        self.mix = dict(mix or {})
        self._script: deque[str] = deque()
        self._drawn: str | None = None
        self.timings = timings or ConcertTimings()
        self.stats = VirtualTerminalStats()
        self._rng = random.Random(seed)
        self._token_key = secrets.token_bytes(16)
        self._auth_codes = itertools.count(100001)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._master = self._slave = -1
        self.port = ""
        self.script(*script)

    @staticmethod
    def _check(scenario: str) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; known: {sorted(SCENARIOS)}")

    def script(self, *scenarios: str) -> None:
        """Queue scenarios for the next payment requests, in order."""
        for scenario in scenarios:
            self._check(scenario)
        self._script.extend(scenarios)

    def _peek(self) -> str:
        """The scenario the next request gets (drawn once, kept until taken)."""
        if self._script:
            return self._script[0]
        if self._drawn is None:
            self._drawn = self._unscripted()
        return self._drawn

    def _take(self) -> str:
        scenario = self._peek()
        if self._script:
            self._script.popleft()
        else:
            self._drawn = None
        return scenario

    def _unscripted(self) -> str:
        """The scenario when the script is empty: `default`, or a draw from `mix` (the demo's
        weighted outcomes, e.g. {"approve": 0.9, "decline": 0.05, "wrong_pin": 0.05})."""
        if not self.mix:
            return self.default
        scenarios, weights = zip(*self.mix.items(), strict=True)
        return self._rng.choices(scenarios, weights)[0]

    def start(self) -> VirtualTerminal:
        """Open the pty and answer on it in a thread."""
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line discipline, before anyone opens it
        self.port = os.ttyname(self._slave)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="virtual-terminal", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and close the pty (the port vanishes)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1

    def __enter__(self) -> VirtualTerminal:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the terminal's loop -----------------------------------------------------------------
    def _run(self) -> None:
        line = FdLine(self._master)
        link = ConcertLink(line, self.timings)
        while not self._stop.is_set():
            try:
                if link.await_byte({ENQ}, 0.05) is None:
                    continue
                # The scenario is read when the session starts, so a script set just before
                # the request applies to it.
                upcoming = self._peek()
                if upcoming == "silent":
                    self._stay_silent(link)
                    continue
                body = link.receive(0, refuse_first=int(upcoming == "nak"), enq_seen=True)
            except (LinkError, OSError):
                self.stats.link_errors += 1
                continue
            if body is None:
                continue
            try:
                request = PaymentRequest.decode(body)
            except ConcertError:
                self.stats.link_errors += 1
                continue
            scenario = self._take()
            self.stats.requests.append(request)
            self.stats.scenarios.append(scenario)
            try:
                self._play(link, request, scenario)
            except (LinkError, OSError):
                self.stats.link_errors += 1

    def _stay_silent(self, link: ConcertLink) -> None:
        """A switched-off terminal: swallow the driver's ENQ tries without answering. The
        scenario is used up by one request; then the terminal is back on."""
        self.stats.scenarios.append(self._take())
        deadline = time.monotonic() + self.timings.ack_timeout * self.timings.enq_tries
        while time.monotonic() < deadline and not self._stop.is_set():
            link.await_byte(set(), 0.05)

    def _play(self, link: ConcertLink, request: PaymentRequest, scenario: str) -> None:
        noisy = scenario == "garbage"
        say = self._sayer(link, noisy)
        if scenario == "no_answer":
            return
        if scenario == "read_failed":
            say("present_card")
            self._answer(link, request, STATUS_NOT_DONE, REASON_READ_FAILED, noisy=noisy)
            return
        say("enter_pin")
        if scenario in ("wrong_pin", "wrong_pin_then_ok"):
            say("wrong_pin")
            if scenario == "wrong_pin":
                self._answer(link, request, STATUS_REFUSED, REASON_WRONG_PIN)
                return
            say("enter_pin")
        if scenario == "card_locked":
            for _ in range(3):
                say("wrong_pin")
            say("card_locked")
            self._answer(link, request, STATUS_REFUSED, REASON_CARD_LOCKED)
            return
        if scenario == "decline":
            self._answer(link, request, STATUS_REFUSED, REASON_DECLINED)
            return
        self._answer(
            link,
            request,
            STATUS_APPROVED,
            "",
            noisy=noisy,
            bad_lrc=scenario == "bad_lrc",
            full_pan=scenario == "full_pan",
        )

    def _sayer(self, link: ConcertLink, noisy: bool) -> Callable[[str], None]:
        def say(prompt: str) -> None:
            if noisy:
                link.line.write(NOISE)
            link.send(display_message(prompt))

        return say

    def _answer(
        self,
        link: ConcertLink,
        request: PaymentRequest,
        status: str,
        reason: str,
        *,
        noisy: bool = False,
        bad_lrc: bool = False,
        full_pan: bool = False,
    ) -> None:
        token, shown_pan, scheme = self._card(full_pan)
        answer = PaymentAnswer(
            status=status,
            amount_minor=request.amount_minor,
            currency=request.currency,
            pos_number=request.pos_number,
            token=token if status == STATUS_APPROVED else "",
            masked_pan=shown_pan,
            scheme=scheme,
            auth_code=f"{next(self._auth_codes):06d}" if status == STATUS_APPROVED else "",
            reason=reason,
            reference=request.reference,
        )
        good = frame(answer.encode())
        if noisy:
            link.line.write(NOISE)
        link.open_session()
        if bad_lrc:
            broken = good[:-1] + bytes([good[-1] ^ 0x5A])
            link.transmit(itertools.chain([broken], itertools.repeat(good)))
        else:
            link.transmit(itertools.repeat(good))

    def _card(self, full_pan: bool) -> tuple[str, str, str]:
        """(token, PAN as the terminal shows it, scheme) of a test card made in memory."""
        pan, _expiry = test_card(self._rng)
        token = hmac.new(self._token_key, pan.encode(), hashlib.sha256).hexdigest()[:16]
        scheme = {"4": "VISA", "5": "MC"}.get(pan[0], "CARD")
        shown = pan if full_pan else pan[:6] + "*" * (len(pan) - 10) + pan[-4:]
        return f"tok_{token}", shown, scheme
