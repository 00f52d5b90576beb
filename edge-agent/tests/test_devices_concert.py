"""Concert framing and the terminal driver against the virtual terminal over real ptys."""

from __future__ import annotations

import os
import re
import threading
import tty
from collections.abc import Iterator

import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.devices.base import TerminalOutcome, TerminalResult
from edge_agent.devices.concert import (
    ACK,
    ENQ,
    EOT,
    NAK,
    STX,
    ConcertError,
    ConcertLink,
    ConcertTimings,
    FdLine,
    LinkError,
    PaymentAnswer,
    PaymentRequest,
    SerialLine,
    frame,
    lrc,
    mask_pan,
)
from edge_agent.devices.terminal import ConcertTerminal
from edge_agent.devices.virtual_terminal import VirtualTerminal
from tillstream.events.v1.edge_pb2 import TerminalEvent

# Short enough to keep the suite quick, long enough that a loaded CI machine does not miss a
# handshake (0.3 s once dropped a prompt frame under load).
FAST = ConcertTimings(ack_timeout=1.0, char_timeout=0.5, eot_timeout=0.5)
FULL_PAN = re.compile(r"\d{13,19}")


@pytest.fixture
def virtual() -> Iterator[VirtualTerminal]:
    with VirtualTerminal(timings=FAST, seed=7) as terminal:
        yield terminal


@pytest.fixture
def events() -> list[TerminalEvent]:
    return []


@pytest.fixture
def driver(virtual: VirtualTerminal, events: list[TerminalEvent]) -> Iterator[ConcertTerminal]:
    terminal = ConcertTerminal(
        virtual.port, store_id="s1", events=events.append, timings=FAST, answer_timeout=2.0
    )
    yield terminal
    terminal.close()


def names(events: list[TerminalEvent]) -> list[str]:
    return [event.event for event in events]


# -- frames ------------------------------------------------------------------------------------
def test_lrc_covers_body_and_etx() -> None:
    data = frame(b"0100001234")
    assert data[0] == STX and data[-2] == 0x03
    assert data[-1] == lrc(b"0100001234\x03")


def test_request_has_amount_in_minor_units_and_numeric_currency() -> None:
    body = PaymentRequest(amount_minor=1234, currency="EUR", reference="ABC").encode()
    assert len(body) == 34
    assert body[2:10] == b"00001234" and body[13:16] == b"978"
    assert PaymentRequest.decode(body).amount_minor == 1234


@pytest.mark.parametrize(
    ("amount", "currency"), [(0, "EUR"), (100_000_000, "EUR"), (-5, "EUR"), (100, "XXX")]
)
def test_request_refuses_bad_amount_or_currency(amount: int, currency: str) -> None:
    with pytest.raises(ConcertError):
        PaymentRequest(amount_minor=amount, currency=currency).encode()


def test_answer_masks_a_full_pan_on_decode() -> None:
    answer = PaymentAnswer(
        status="0", amount_minor=500, currency="EUR", masked_pan="4111111111111111"
    )
    decoded = PaymentAnswer.decode(answer.encode())
    assert decoded.masked_pan == "411111******1111"
    assert mask_pan("card 5555555555554444 end") == "card 555555******4444 end"


def test_malformed_answer_is_refused() -> None:
    with pytest.raises(ConcertError):
        PaymentAnswer.decode(b"01X" + b"0" * 77)
    with pytest.raises(ConcertError):
        PaymentAnswer.decode(b"short")


# -- link layer over a raw pty: NAK, bad LRC, noise, timeouts ---------------------------------
@pytest.fixture
def pty_pair() -> Iterator[tuple[ConcertLink, serial.Serial]]:
    master, slave = os.openpty()
    tty.setraw(slave)
    port = serial.Serial(os.ttyname(slave), timeout=0)
    yield ConcertLink(FdLine(master), FAST), port
    port.close()
    os.close(master)
    os.close(slave)


def test_receiver_naks_a_bad_lrc_and_takes_the_retransmission(
    pty_pair: tuple[ConcertLink, serial.Serial],
) -> None:
    link, port = pty_pair
    peer = ConcertLink(SerialLine(port), FAST)
    good = frame(b"HELLO")
    received: list[bytes | None] = []
    thread = threading.Thread(target=lambda: received.append(link.receive(2.0)))
    thread.start()
    peer.open_session()
    port.write(good[:-1] + bytes([good[-1] ^ 1]))
    assert peer.await_byte({ACK, NAK}, 1.0) == NAK
    port.write(good)
    assert peer.await_byte({ACK, NAK}, 1.0) == ACK
    port.write(bytes([EOT]))
    thread.join(3)
    assert received == [b"HELLO"]


def test_receiver_naks_a_frame_cut_short_by_a_timeout(
    pty_pair: tuple[ConcertLink, serial.Serial],
) -> None:
    link, port = pty_pair
    peer = ConcertLink(SerialLine(port), FAST)
    received: list[bytes | None] = []
    thread = threading.Thread(target=lambda: received.append(link.receive(2.0)))
    thread.start()
    peer.open_session()
    port.write(frame(b"CUT SHORT")[:5])  # then the line goes quiet past the char timeout
    assert peer.await_byte({ACK, NAK}, 1.0) == NAK
    peer.transmit(iter([frame(b"WHOLE")]))
    thread.join(3)
    assert received == [b"WHOLE"]


def test_sender_retransmits_on_nak_and_gives_up_after_the_bound(
    pty_pair: tuple[ConcertLink, serial.Serial],
) -> None:
    link, port = pty_pair
    peer = ConcertLink(SerialLine(port), FAST)
    errors: list[Exception] = []

    def send() -> None:
        try:
            link.send(b"PAY")
        except LinkError as exc:
            errors.append(exc)

    thread = threading.Thread(target=send)
    thread.start()
    assert peer.await_byte({ENQ}, 1.0) == ENQ
    port.write(bytes([ACK]))
    frames = 0
    for _ in range(FAST.frame_tries):
        assert peer.await_byte({STX}, 1.0) == STX
        frames += 1
        port.write(bytes([NAK]))
    thread.join(3)
    assert frames == 3 and len(errors) == 1 and "3 tries" in str(errors[0])


def test_noise_before_enq_is_skipped(pty_pair: tuple[ConcertLink, serial.Serial]) -> None:
    link, port = pty_pair
    peer = ConcertLink(SerialLine(port), FAST)
    received: list[bytes | None] = []
    thread = threading.Thread(target=lambda: received.append(link.receive(2.0)))
    thread.start()
    port.write(b"\x00\xffnoise~")
    peer.send(b"DATA")
    thread.join(3)
    assert received == [b"DATA"] and link.noise_bytes >= 7


def test_sender_times_out_when_nobody_answers_enq(
    pty_pair: tuple[ConcertLink, serial.Serial],
) -> None:
    link, _port = pty_pair
    with pytest.raises(LinkError, match="no ACK to ENQ"):
        link.send(b"PAY")


# -- the driver against the virtual terminal --------------------------------------------------
def assert_no_full_pan(result: TerminalResult, events: list[TerminalEvent]) -> None:
    texts = [result.masked_pan, result.token, result.detail] + [e.detail for e in events]
    assert not any(FULL_PAN.search(text) for text in texts)


def test_approved_payment_gives_token_and_masked_pan(
    virtual: VirtualTerminal, driver: ConcertTerminal, events: list[TerminalEvent]
) -> None:
    result = driver.pay(1999, "EUR", "sale-1")
    assert result.outcome is TerminalOutcome.APPROVED and result.approved
    assert (result.amount_minor, result.currency) == (1999, "EUR")
    assert result.token.startswith("tok_") and re.fullmatch(r"\d{6}\*{6}\d{4}", result.masked_pan)
    assert len(result.auth_code) == 6
    assert names(events) == ["insert_card", "enter_pin", "approved"]
    assert all(e.sale_id == "sale-1" and e.store_id == "s1" for e in events)
    assert virtual.stats.requests[0].amount_minor == 1999
    assert_no_full_pan(result, events)


@pytest.mark.parametrize(
    ("scenario", "outcome", "expected_events"),
    [
        ("decline", TerminalOutcome.DECLINED, ["insert_card", "enter_pin", "declined"]),
        (
            "wrong_pin",
            TerminalOutcome.WRONG_PIN,
            ["insert_card", "enter_pin", "wrong_pin", "wrong_pin"],
        ),
        (
            "wrong_pin_then_ok",
            TerminalOutcome.APPROVED,
            ["insert_card", "enter_pin", "wrong_pin", "enter_pin", "approved"],
        ),
        (
            "card_locked",
            TerminalOutcome.CARD_LOCKED,
            ["insert_card", "enter_pin"] + ["wrong_pin"] * 3 + ["card_locked", "card_locked"],
        ),
        (
            "read_failed",
            TerminalOutcome.READ_FAILED,
            ["insert_card", "present_card", "read_failed"],
        ),
        ("garbage", TerminalOutcome.APPROVED, ["insert_card", "enter_pin", "approved"]),
        ("bad_lrc", TerminalOutcome.APPROVED, ["insert_card", "enter_pin", "approved"]),
        ("nak", TerminalOutcome.APPROVED, ["insert_card", "enter_pin", "approved"]),
        ("full_pan", TerminalOutcome.APPROVED, ["insert_card", "enter_pin", "approved"]),
    ],
)
def test_scripted_outcomes(
    virtual: VirtualTerminal,
    driver: ConcertTerminal,
    events: list[TerminalEvent],
    scenario: str,
    outcome: TerminalOutcome,
    expected_events: list[str],
) -> None:
    virtual.script(scenario)
    result = driver.pay(2500, "EUR", f"sale-{scenario}")
    assert result.outcome is outcome
    assert names(events) == expected_events
    assert_no_full_pan(result, events)
    if scenario == "garbage":
        assert driver.noise_bytes > 0
    assert virtual.stats.scenarios == [scenario]


def test_no_answer_times_out_then_the_next_payment_works(
    virtual: VirtualTerminal, driver: ConcertTerminal, events: list[TerminalEvent]
) -> None:
    virtual.script("no_answer")
    driver.answer_timeout = 0.5
    result = driver.pay(700, "EUR", "sale-lost")
    assert result.outcome is TerminalOutcome.NO_ANSWER
    assert names(events) == ["insert_card", "no_answer"]
    assert driver.pay(800, "EUR", "sale-next").approved


def test_switched_off_terminal_is_no_answer(
    virtual: VirtualTerminal, driver: ConcertTerminal, events: list[TerminalEvent]
) -> None:
    virtual.script("silent")
    result = driver.pay(700, "EUR", "sale-off")
    assert result.outcome is TerminalOutcome.NO_ANSWER and "ENQ" in result.detail
    assert names(events) == ["no_answer"]


def test_readiness_probe(virtual: VirtualTerminal, driver: ConcertTerminal) -> None:
    assert driver.is_ready()
    assert driver.pay(100, "EUR", "after-probe").approved
    virtual.stop()
    assert not driver.is_ready()


def test_refund_mode_reaches_the_terminal(
    virtual: VirtualTerminal, driver: ConcertTerminal
) -> None:
    from edge_agent.devices.base import PaymentMode

    assert driver.pay(450, "GBP", "sale-r", PaymentMode.REFUND).approved
    request = virtual.stats.requests[0]
    assert (request.mode, request.currency) == (PaymentMode.REFUND, "GBP")


def test_approved_result_becomes_a_terminal_approval(driver: ConcertTerminal) -> None:
    from edge_agent.devices import terminal_approval

    result = driver.pay(1250, "EUR", "sale-ap")
    approval = terminal_approval(
        result,
        payment_id="pay-1",
        store_id="s1",
        lane_id="lane-1",
        terminal_id=driver.device_id,
        offline=True,
    )
    assert (approval.amount.amount_minor, approval.amount.currency) == (1250, "EUR")
    assert approval.token == result.token and approval.masked_pan == result.masked_pan
    assert approval.offline and approval.auth_code == result.auth_code
    assert not FULL_PAN.search(approval.SerializeToString().decode("latin-1"))


def test_declined_result_is_no_approval(virtual: VirtualTerminal, driver: ConcertTerminal) -> None:
    from edge_agent.devices import terminal_approval

    virtual.script("decline")
    result = driver.pay(1250, "EUR", "sale-dec")
    with pytest.raises(ValueError, match="not approved"):
        terminal_approval(
            result, payment_id="p", store_id="s1", lane_id="l", terminal_id="t", offline=False
        )


def test_demo_mix_draws_weighted_outcomes(events: list[TerminalEvent]) -> None:
    mix = {"approve": 0.5, "decline": 0.5}
    with VirtualTerminal(mix=mix, timings=FAST, seed=3) as virtual:
        terminal = ConcertTerminal(virtual.port, store_id="s1", timings=FAST, answer_timeout=2)
        outcomes = {terminal.pay(100 + i, "EUR", f"mix-{i}").outcome for i in range(12)}
        terminal.close()
    assert outcomes == {TerminalOutcome.APPROVED, TerminalOutcome.DECLINED}
    assert virtual.stats.scenarios.count("decline") >= 1
    with pytest.raises(ValueError, match="unknown scenario"):
        VirtualTerminal(mix={"explode": 1.0})


@settings(max_examples=60, deadline=None)
@given(
    amount=st.integers(min_value=1, max_value=99_999_999),
    currency=st.sampled_from(["EUR", "USD", "GBP", "JPY"]),
    status=st.sampled_from(["0", "7", "9"]),
    masked=st.from_regex(r"[0-9]{6}\*{6}[0-9]{4}", fullmatch=True),
    auth=st.from_regex(r"[0-9A-Z]{6}", fullmatch=True),
)
def test_answer_round_trip(amount: int, currency: str, status: str, masked: str, auth: str) -> None:
    answer = PaymentAnswer(
        status=status,
        amount_minor=amount,
        currency=currency,
        token="tok_abc",
        masked_pan=masked,
        scheme="VISA",
        auth_code=auth,
        reference="REF1",
    )
    body = answer.encode()
    assert len(body) == 80 and lrc(frame(body)[1:-1]) == frame(body)[-1]
    assert PaymentAnswer.decode(body) == answer


def test_seven_bit_even_parity_line(virtual: VirtualTerminal) -> None:
    """Telium terminals on a native RS-232 port speak 7E1; the driver sets the line so."""
    virtual.script("garbage", "bad_lrc")
    terminal = ConcertTerminal(
        virtual.port,
        store_id="s1",
        timings=FAST,
        bytesize=serial.SEVENBITS,
        parity=serial.PARITY_EVEN,
        answer_timeout=2.0,
    )
    try:
        assert terminal.pay(300, "EUR", "seven-1").approved
        assert terminal.pay(300, "EUR", "seven-2").approved
    finally:
        terminal.close()
