"""The ISO 8583 acquirer link against the acquirer simulator, over real TCP sockets.

Test PANs are generated in memory (Luhn helper below) so no card number sits in this file.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from payments import iso8583spec as spec
from payments.acquirerlink import (
    AcquirerConnectionLost,
    AcquirerLink,
    AuthorizationResult,
    TimedOut,
)
from payments.acquirersim import AcquirerSimulator

TERMINAL = "T0000001"
STORE = "s001"
GOOD_PIN = spec.TEST_CORRECT_PIN


def make_pan(ending: str, serial: int = 0, prefix: str = "400000") -> str:
    """A Luhn-valid 16-digit PAN ending in `ending`: one free digit fixes the check sum."""
    body = f"{prefix}{serial:05d}"
    for digit in "0123456789":
        pan = body + digit + ending
        if spec.luhn_valid(pan):
            return pan
    raise AssertionError("unreachable: exactly one digit satisfies Luhn")


def valid_expiry() -> str:
    return f"12/{(datetime.now(UTC).year + 3) % 100:02d}"


EXPIRED = "01/20"


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[AcquirerSimulator]:
    async with AcquirerSimulator(port=0, settlement_dir=tmp_path / "settlement") as simulator:
        yield simulator


def link_to(simulator: AcquirerSimulator, **options: Any) -> AcquirerLink:
    settings: dict[str, Any] = {
        "timeout": 1.0, "echo_interval": None, "reversal_backoff": 0.02,
    }
    settings.update(options)
    return AcquirerLink("127.0.0.1", simulator.port, TERMINAL, STORE, **settings)


@pytest.fixture
async def link(sim: AcquirerSimulator) -> AsyncIterator[AcquirerLink]:
    async with link_to(sim) as client:
        yield client


def approved(result: AuthorizationResult | TimedOut) -> AuthorizationResult:
    assert isinstance(result, AuthorizationResult), result
    return result


# --- simulator outcomes over the socket ---------------------------------------------------------


async def test_luhn_valid_card_is_approved_with_codes(link: AcquirerLink) -> None:
    result = approved(await link.authorize(make_pan("1234"), valid_expiry(), 1250, "EUR"))
    assert result.approved and result.response_code == "00"
    assert len(result.auth_code) == 6 and result.auth_code.isdigit()
    assert len(result.rrn) == 12 and result.rrn.isdigit()
    assert len(result.stan) == 6


async def test_sale_is_approved(link: AcquirerLink, sim: AcquirerSimulator) -> None:
    result = approved(await link.sale(make_pan("4242"), valid_expiry(), 999, "GBP"))
    assert result.approved
    assert [r.type for r in sim.settled] == ["sale"]
    assert sim.settled[0].currency == "GBP" and sim.settled[0].amount_minor == 999


@pytest.mark.parametrize(
    ("ending", "expiry", "code"),
    [("0051", None, "51"), ("0005", None, "05"), ("0091", None, "91"), ("7777", EXPIRED, "54")],
)
async def test_declines(link: AcquirerLink, ending: str, expiry: str | None, code: str) -> None:
    result = approved(
        await link.authorize(make_pan(ending), expiry or valid_expiry(), 100, "EUR")
    )
    assert not result.approved
    assert result.response_code == code
    assert result.auth_code == ""


async def test_invalid_luhn_is_14(link: AcquirerLink) -> None:
    pan = make_pan("1234")
    broken = pan[:-5] + str((int(pan[-5]) + 1) % 10) + pan[-4:]
    result = approved(await link.authorize(broken, valid_expiry(), 100, "EUR"))
    assert result.response_code == "14"


async def test_wrong_pin_card_answers_55(link: AcquirerLink) -> None:
    result = approved(await link.authorize(make_pan("0055"), valid_expiry(), 100, "EUR", GOOD_PIN))
    assert (result.approved, result.response_code) == (False, "55")


async def test_correct_pin_approves(link: AcquirerLink) -> None:
    result = approved(await link.authorize(make_pan("3333"), valid_expiry(), 100, "EUR", GOOD_PIN))
    assert result.approved


async def test_three_wrong_pins_lock_the_card(link: AcquirerLink) -> None:
    pan, expiry = make_pan("8888", serial=7), valid_expiry()
    codes = [
        approved(await link.authorize(pan, expiry, 100, "EUR", "9999")).response_code
        for _ in range(3)
    ]
    assert codes == ["55", "55", "75"]
    # Locked: even the right PIN, or no PIN, is refused from now on.
    assert approved(await link.authorize(pan, expiry, 100, "EUR", GOOD_PIN)).response_code == "75"
    assert approved(await link.authorize(pan, expiry, 100, "EUR")).response_code == "75"
    # Another card is unaffected.
    other = await link.authorize(make_pan("8888", 8), expiry, 100, "EUR", GOOD_PIN)
    assert approved(other).approved


async def test_a_correct_pin_resets_the_wrong_pin_count(link: AcquirerLink) -> None:
    pan, expiry = make_pan("6666"), valid_expiry()
    for pin in ("0000", "0000", GOOD_PIN, "0000", "0000"):
        result = approved(await link.authorize(pan, expiry, 100, "EUR", pin))
    assert result.response_code == "55"


async def test_no_answer_sends_a_reversal(sim: AcquirerSimulator) -> None:
    async with link_to(sim, timeout=0.2) as client:
        result = await client.authorize(make_pan("0099"), valid_expiry(), 4200, "EUR")
    assert isinstance(result, TimedOut)
    assert result.reversed is True
    assert sim.stats.unanswered == 1 and sim.stats.reversals == 1
    # The acquirer had approved it silently; the reversal took it out of settlement.
    assert sim.settled == []


async def test_reversal_is_retried_until_answered(tmp_path: Path) -> None:
    async with (
        AcquirerSimulator(settlement_dir=tmp_path, drop_reversals=2) as simulator,
        link_to(simulator, timeout=0.15, reversal_attempts=5) as client,
    ):
        result = await client.sale(make_pan("0099"), valid_expiry(), 100, "EUR")
    assert result == TimedOut(reversed=True, stan=result.stan, ref=result.ref)
    assert simulator.stats.dropped_reversals == 2 and simulator.stats.reversals == 1
    assert simulator.settled == []


async def test_unconfirmed_reversal_is_reported(tmp_path: Path) -> None:
    async with (
        AcquirerSimulator(settlement_dir=tmp_path, drop_reversals=100) as simulator,
        link_to(simulator, timeout=0.1, reversal_attempts=2) as client,
    ):
        result = await client.authorize(make_pan("0099"), valid_expiry(), 100, "EUR")
    assert isinstance(result, TimedOut) and result.reversed is False
    assert result.ref is not None and result.ref.mti == "0100"
    # Still in the acquirer's books: the caller must keep reversing or reconcile.
    assert len(simulator.settled) == 1


async def test_explicit_reversal_removes_an_approval(
    link: AcquirerLink, sim: AcquirerSimulator
) -> None:
    result = approved(await link.authorize(make_pan("2222"), valid_expiry(), 700, "EUR"))
    assert result.ref is not None
    reversal = await link.reverse(result.ref)
    assert reversal.confirmed and reversal.response_code == "00"
    assert sim.settled == []


async def test_completion_advice(link: AcquirerLink, sim: AcquirerSimulator) -> None:
    pan, expiry = make_pan("5151"), valid_expiry()
    hold = approved(await link.authorize(pan, expiry, 5000, "EUR"))
    assert hold.ref is not None
    done = approved(await link.complete(pan, expiry, 4500, "EUR", hold.ref, hold.auth_code))
    assert done.approved
    assert [(r.type, r.amount_minor) for r in sim.settled] == [
        ("authorization", 5000), ("completion", 4500),
    ]


# --- pipelining, reconnect, keep-alive ----------------------------------------------------------


async def test_pipelined_requests_are_matched_by_stan(tmp_path: Path) -> None:
    endings = ["1111", "0051", "0005", "2468"]
    async with (
        AcquirerSimulator(settlement_dir=tmp_path, latency=0.01, jitter=0.05) as simulator,
        link_to(simulator, timeout=5.0) as client,
    ):
        requests = [(make_pan(endings[i % 4], serial=i), 100 + i) for i in range(200)]
        results = await asyncio.gather(
            *(client.authorize(pan, valid_expiry(), amount, "EUR") for pan, amount in requests)
        )
    assert client.connections == 1
    assert len({approved(r).stan for r in results}) == 200
    by_stan = {r.stan: r for r in simulator.settled}
    for (pan, amount), result in zip(requests, results, strict=True):
        result = approved(result)
        assert result.ref is not None and result.ref.amount_minor == amount
        expected = {"0051": "51", "0005": "05"}.get(pan[-4:], "00")
        assert result.response_code == expected
        if expected == "00":
            # The acquirer's own record for this STAN has this request's amount and codes.
            record = by_stan[result.stan]
            assert (record.amount_minor, record.rrn, record.auth_code) == (
                amount, result.rrn, result.auth_code,
            )
            assert record.masked_pan == spec.mask_pan(pan)
    assert len(by_stan) == 100


async def test_reconnects_after_the_acquirer_drops_the_connection(
    link: AcquirerLink, sim: AcquirerSimulator
) -> None:
    assert approved(await link.authorize(make_pan("1212"), valid_expiry(), 100, "EUR")).approved
    await sim.drop_connections()
    # The link notices the EOF and reconnects by itself, without a request to prompt it.
    async with asyncio.timeout(2):
        while link.connections < 2 or not link.connected:
            await asyncio.sleep(0.01)
    result = approved(await link.authorize(make_pan("1313"), valid_expiry(), 100, "EUR"))
    assert result.approved
    assert link.connections == 2


async def test_in_flight_requests_fail_clearly_on_a_drop_and_can_be_reversed(
    tmp_path: Path,
) -> None:
    async with (
        AcquirerSimulator(settlement_dir=tmp_path, latency=0.3) as simulator,
        link_to(simulator, timeout=2.0) as client,
    ):
        pending = asyncio.create_task(
            client.authorize(make_pan("1414"), valid_expiry(), 300, "EUR")
        )
        await asyncio.sleep(0.05)
        await simulator.drop_connections()
        with pytest.raises(AcquirerConnectionLost) as lost:
            await pending
        original = lost.value.original
        assert original is not None and original.mti == "0100" and original.amount_minor == 300
        # The simulator still approves it after the drop (the answer is lost): reverse it.
        async with asyncio.timeout(3):
            while len(simulator.settled) != 1:
                await asyncio.sleep(0.02)
        reversal = await client.reverse(original)
        assert reversal.confirmed
        assert simulator.settled == []


async def test_echo_keep_alive(sim: AcquirerSimulator) -> None:
    async with link_to(sim, echo_interval=0.05) as client:
        assert await client.echo() is True
        # The keep-alive sends more on its own while the link is idle.
        async with asyncio.timeout(3):
            while sim.stats.echoes < 4:
                await asyncio.sleep(0.02)
        assert client.connections == 1


async def test_link_waits_for_the_acquirer_to_come_back(tmp_path: Path) -> None:
    simulator = AcquirerSimulator(settlement_dir=tmp_path)
    await simulator.start()
    port = simulator.port
    client = link_to(simulator, timeout=3.0)
    await client.start()
    try:
        await simulator.stop()
        restarted = AcquirerSimulator(port=port, settlement_dir=tmp_path)
        await asyncio.sleep(0.1)
        await restarted.start()
        try:
            result = await client.authorize(make_pan("1515"), valid_expiry(), 100, "EUR")
            assert approved(result).approved
        finally:
            await restarted.stop()
    finally:
        await client.close()


# --- reconciliation and settlement --------------------------------------------------------------


async def test_reconciliation_totals(link: AcquirerLink) -> None:
    expiry = valid_expiry()
    for serial, amount in enumerate((1000, 250, 75)):
        assert approved(await link.sale(make_pan("9090", serial), expiry, amount, "EUR")).approved
    await link.authorize(make_pan("9191"), expiry, 5000, "EUR")  # a hold is not a debit
    await link.sale(make_pan("9292"), expiry, 1, "USD")  # another currency
    balanced = await link.reconcile("EUR", 3, 1325)
    assert balanced.in_balance and (balanced.debit_count, balanced.debit_amount_minor) == (3, 1325)
    off = await link.reconcile("EUR", 3, 1300)
    assert not off.in_balance and off.debit_amount_minor == 1325


async def test_settlement_file_lists_approved_not_reversed_and_no_full_pan(
    sim: AcquirerSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    expiry = valid_expiry()
    pans = {name: make_pan(ending, serial) for serial, (name, ending) in enumerate(
        [("ok1", "1001"), ("ok2", "1002"), ("undone", "1003"), ("declined", "0051"),
         ("lost", "0099"), ("sale", "1004")]
    )}
    async with link_to(sim, timeout=0.2) as client:
        ok1 = approved(await client.authorize(pans["ok1"], expiry, 100, "EUR"))
        ok2 = approved(await client.authorize(pans["ok2"], expiry, 200, "SEK"))
        undone = approved(await client.authorize(pans["undone"], expiry, 300, "EUR"))
        assert undone.ref is not None
        assert (await client.reverse(undone.ref)).confirmed
        await client.authorize(pans["declined"], expiry, 400, "EUR")
        assert isinstance(await client.authorize(pans["lost"], expiry, 500, "EUR"), TimedOut)
        sale = approved(await client.sale(pans["sale"], expiry, 600, "EUR", GOOD_PIN))
    paths = sim.write_settlement()
    assert [p.name for p in paths] == [f"settlement-{datetime.now(UTC):%Y%m%d}.csv"]
    text = paths[0].read_text()
    rows = list(csv.DictReader(text.splitlines()))
    assert [(r["stan"], r["amount_minor"], r["currency"], r["type"]) for r in rows] == [
        (ok1.stan, "100", "EUR", "authorization"),
        (ok2.stan, "200", "SEK", "authorization"),
        (sale.stan, "600", "EUR", "sale"),
    ]
    assert rows[0]["masked_pan"] == spec.mask_pan(pans["ok1"])
    assert {r["terminal"] for r in rows} == {TERMINAL} and {r["merchant"] for r in rows} == {STORE}
    assert rows[2]["rrn"] == sale.rrn and rows[2]["auth_code"] == sale.auth_code
    for pan in pans.values():
        assert pan not in text
        assert pan not in caplog.text


async def test_simulator_runs_as_a_module(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "payments.acquirersim", "--port", "0",
         "--settlement-dir", str(tmp_path)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.to_thread(process.stdout.readline)
        port = int(line.rsplit(":", 1)[1])
        async with AcquirerLink("127.0.0.1", port, TERMINAL, STORE, timeout=2.0,
                                echo_interval=None) as client:
            assert await client.echo()
            assert approved(await client.sale(make_pan("3030"), valid_expiry(), 10, "NOK")).approved
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 10)
    files = list(tmp_path.glob("settlement-*.csv"))
    assert len(files) == 1 and len(files[0].read_text().splitlines()) == 2


# --- the spec -----------------------------------------------------------------------------------


def _sample(mti: str) -> dict[str, str]:
    fields = {"t": mti, "11": "000042", "41": TERMINAL, "42": STORE.ljust(15)}
    fields.update(spec.transmission_fields())
    card = {"2": make_pan("4321"), "3": "000000", "4": "000000012345", "14": "2912", "49": "978"}
    answer = {"39": "00", "38": "123456", "37": "000000000001"}
    original = spec.OriginalData("0100", "000041", fields["7"]).encode()
    extra: dict[str, dict[str, str]] = {
        "0100": {**card, "52": spec.pin_block("1234", card["2"])},
        "0110": {**card, **answer},
        "0200": card,
        "0210": {**card, **answer},
        "0220": {**card, "38": "123456", "90": original},
        "0230": {**card, "39": "00"},
        "0400": {"3": "000000", "4": "000000012345", "49": "978", "90": original},
        "0410": {"4": "000000012345", "49": "978", "39": "00"},
        "0500": {"3": "920000", "15": "0101", "49": "978", "76": "0000000003",
                 "88": "0000000000001325"},
        "0510": {"39": "00", "66": "1", "76": "0000000003", "88": "0000000000001325"},
        "0800": {"70": "301"},
        "0810": {"70": "301", "39": "00"},
    }
    fields.update(extra[mti])
    return fields


@pytest.mark.parametrize("mti", [*spec.REQUEST_MTIS, *spec.RESPONSE_MTI.values()])
def test_pack_unpack_round_trip(mti: str) -> None:
    fields = _sample(mti)
    raw = spec.pack(fields)
    assert raw[:4] == mti.encode()
    decoded = spec.unpack(raw)
    assert {k: v for k, v in decoded.items() if k not in ("p", "1")} == fields


def test_framing_is_a_two_byte_big_endian_length() -> None:
    message = spec.pack(_sample("0800"))
    framed = spec.frame(message)
    assert int.from_bytes(framed[:2], "big") == len(message) and framed[2:] == message


def test_pin_block_round_trip() -> None:
    pan = make_pan("5555")
    block = spec.pin_block("1234", pan)
    assert len(block) == 16 and block.startswith("0412")
    # Format 0 binds the block to the card: the same PIN on another card is another block.
    assert spec.pin_block("1234", make_pan("5555", serial=98765, prefix="412345")) != block
    assert spec.pin_from_block(block, pan) == "1234"
    assert spec.pin_from_block(spec.pin_block("987654", pan), pan) == "987654"
    assert spec.pin_from_block("zz", pan) is None


def test_currency_table_and_helpers() -> None:
    assert {a: spec.currency_to_numeric(a) for a in ("EUR", "USD", "GBP", "JPY")} == {
        "EUR": "978", "USD": "840", "GBP": "826", "JPY": "392",
    }
    assert all(spec.currency_from_numeric(n) == a for a, n in spec.CURRENCY_NUMERIC.items())
    with pytest.raises(spec.Iso8583FormatError):
        spec.currency_to_numeric("XXX")
    assert spec.expiry_to_yymm("07/29") == "2907" and spec.expiry_to_yymm("2907") == "2907"
    pan = make_pan("9876")
    assert spec.mask_pan(pan) == pan[:6] + "******" + "9876"
    with pytest.raises(spec.Iso8583FormatError):
        spec.format_amount(-1)
