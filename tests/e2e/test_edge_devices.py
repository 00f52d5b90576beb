"""End to end: a store's lane pays by card on a terminal and gets its receipt from a printer,
through the store's edge agent, with the five services as processes on the hub.

The terminal (Concert) and the printer (ESC/POS) are the simulators on pseudo-terminals, opened
by the agent with the drivers a real store uses; they outlive the agent, like real devices, so
the agent can be restarted in between.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent.agent import EdgeAgent
from edge_agent.devices import VirtualPrinter, VirtualTerminal
from edge_agent.devices.virtual_printer import PrintedReceipt
from edge_agent.harness import Store, StoreOptions, start_store
from edge_agent.lanes import CompletionWatcher, Lane
from edge_agent.simulate import Hub, running_hub
from tillstream.bus import EDGE_STREAM, command_subject, connect, wait_for
from tillstream.codec import ReceivedEvent, decode

pytestmark = pytest.mark.e2e
STORE = "s001"
LANE = "01"
FULL_PAN = re.compile(r"\d{13,19}")


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    async with running_hub(tmp_path, [STORE], partitions=2) as running:
        yield running
        for name in running.platform.processes:
            log = running.platform.log_dir / f"{name}.log"
            if log.exists():
                text = log.read_text(errors="replace")
                assert "Traceback" not in text, f"{name} logged a traceback:\n{text[-4000:]}"


@pytest.fixture
def terminal() -> Iterator[VirtualTerminal]:
    with VirtualTerminal(default="approve") as running:
        yield running


@pytest.fixture
def printer() -> Iterator[VirtualPrinter]:
    with VirtualPrinter() as running:
        yield running


@pytest.fixture
async def store(
    hub: Hub, tmp_path: Path, terminal: VirtualTerminal, printer: VirtualPrinter
) -> AsyncIterator[Store]:
    options = StoreOptions(
        partitions=2,
        command_timeout=5.0,
        lanes={LANE: {"terminal": terminal.port, "printer": printer.port}},
        device_health_interval=0.5,
    )
    running = await start_store(hub.server, STORE, tmp_path / "store", options)
    try:
        yield running
    finally:
        await running.stop()


class Till:
    """The lane's side: commands through the store's gateway, completions from checkout."""

    def __init__(self, lane: Lane, hub: Hub) -> None:
        self.lane = lane
        self.hub = hub

    async def open_sale(self, count: int = 2) -> tuple[str, int]:
        sale_id = str(uuid.uuid4())
        await self.lane.command("checkout", "open_sale", {
            "sale_id": sale_id, "store_id": STORE, "lane_id": LANE,
            "cashier_id": self.lane.cashier_id, "currency": "EUR"})  # fmt: skip
        total = 0
        for line_no, sku in enumerate(self.hub.skus[STORE][:count], 1):
            added = await self.lane.command("checkout", "add_line",
                {"sale_id": sale_id, "line_no": line_no, "sku": sku, "quantity": 1})  # fmt: skip
            total = int(added["total_minor"])
        return sale_id, total

    async def pay(self, sale_id: str, total: int, key: str) -> dict[str, Any]:
        return await self.lane.command("terminal", "pay", {
            "sale_id": sale_id, "lane_id": LANE, "amount_minor": total, "currency": "EUR",
            "idempotency_key": key})  # fmt: skip

    async def sell_by_card(self, terminal: VirtualTerminal, *scenarios: str) -> dict[str, Any]:
        """One sale paid on the terminal, the card tried until approved; checkout completes
        it. The approval's answer, with the declines before it."""
        sale_id, total = await self.open_sale()
        terminal.script(*scenarios)
        done = self.lane.watcher.expect(sale_id)
        declines = []
        for attempt in range(1, len(scenarios) + 1):
            answer = await self.pay(sale_id, total, str(attempt))
            if answer["status"] == "approved":
                await asyncio.wait_for(done, 60)
                return {**answer, "total_minor": total, "declines": declines}
            declines.append(answer)
        raise AssertionError(f"never approved: {declines}")


@pytest.fixture
async def till(hub: Hub, store: Store) -> AsyncIterator[Till]:
    nc = await connect(store.nats_url, "test-lane")
    watcher = CompletionWatcher(nc, STORE)
    await watcher.start()
    lane = Lane(nc, STORE, LANE, hub.skus[STORE], [], watcher, gateway=True, terminal=True,
                timeout=30)  # fmt: skip
    await lane.start_shift()
    try:
        yield Till(lane, hub)
    finally:
        await watcher.stop()
        await nc.close()


async def ask(hub: Hub, service: str, command: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = await hub.nc.request(
        command_subject(service, command, STORE), json.dumps(body).encode(), timeout=10
    )
    answer: dict[str, Any] = json.loads(reply.data)
    assert answer.get("ok"), answer
    return answer


async def hub_edge_events(hub: Hub, suffix: str) -> list[ReceivedEvent]:
    """The hub's EDGE stream events of this store on `edge.<store>.<suffix>`."""
    js = hub.nc.jetstream()
    info = await js.stream_info(EDGE_STREAM)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            msg = await js.get_msg(EDGE_STREAM, seq)
        except Exception:
            continue
        # The hub's copy carries the store's partition token at the end.
        if msg.subject.rsplit(".", 1)[0] == f"edge.{STORE}.{suffix}":
            found.append(decode(msg.subject, msg.data or b"", msg.headers))
    return found


def receipts_of(printer: VirtualPrinter, sale_id: str) -> list[PrintedReceipt]:
    return [r for r in printer.receipts if sale_id in r.qr_codes]


async def test_card_sale_on_the_terminal_completes_in_checkout_and_prints_once(
    hub: Hub, till: Till, terminal: VirtualTerminal, printer: VirtualPrinter
) -> None:
    paid = await till.sell_by_card(terminal, "approve")
    sale_id, payment_id, total = paid["sale_id"], paid["payment_id"], paid["total_minor"]

    sale = await ask(hub, "checkout", "get_sale", {"sale_id": sale_id})
    assert sale["status"] == "completed" and sale["total_minor"] == total
    payment = await ask(hub, "payments", "get_payment", {"payment_id": payment_id})
    assert payment["captured_minor"] == total and payment["auth_code"] == paid["auth_code"]
    assert payment["masked_pan"] == paid["masked_pan"] and "*" in payment["masked_pan"]
    approvals = await hub_edge_events(hub, "payment.terminal_approved")
    approval: Any = next(e.message for e in approvals if e.message.sale_id == sale_id)  # type: ignore[attr-defined]
    assert not approval.offline and approval.token.startswith("tok_")
    assert re.fullmatch(r"\d{6}\*+\d{4}", approval.masked_pan)
    texts = [v for v in (*paid.values(), *payment.values()) if isinstance(v, str)]
    texts += [v for _, v in approval.ListFields() if isinstance(v, str)]
    assert not [t for t in texts if FULL_PAN.search(t)]  # no card number anywhere

    async def printed() -> bool:
        return len(receipts_of(printer, sale_id)) >= 1

    assert await wait_for(printed, timeout=30), printer.receipts
    receipt_number = (await ask(hub, "checkout", "receipt", {"sale_id": sale_id}))["receipt_number"]
    paper = receipts_of(printer, sale_id)
    assert len(paper) == 1
    lines = paper[0].text
    assert any(receipt_number in line for line in lines), lines
    total_line = next(line for line in lines if line.startswith("TOTAL EUR"))
    assert re.sub(r"\D", "", total_line).endswith(str(total)), total_line

    async def reported_once() -> bool:
        events = await hub_edge_events(hub, "print.printed")
        mine = [e for e in events if e.message.job_id == f"receipt:{sale_id}"]  # type: ignore[attr-defined]
        return len(mine) == 1 and mine[0].message.receipt_number == receipt_number  # type: ignore[attr-defined]

    assert await wait_for(reported_once, timeout=30)
    await asyncio.sleep(1.0)  # nothing more comes out for this sale
    assert len(receipts_of(printer, sale_id)) == 1


async def test_a_wrong_pin_then_the_right_one(
    hub: Hub, till: Till, terminal: VirtualTerminal
) -> None:
    paid = await till.sell_by_card(terminal, "wrong_pin", "approve")
    [declined] = paid["declines"]
    assert (declined["status"], declined["outcome"], declined["reason"]) == (
        "declined", "wrong_pin", "wrong PIN")  # fmt: skip
    sale = await ask(hub, "checkout", "get_sale", {"sale_id": paid["sale_id"]})
    assert sale["status"] == "completed"
    payment = await ask(hub, "payments", "get_payment", {"payment_id": paid["payment_id"]})
    assert payment["captured_minor"] == paid["total_minor"]


async def test_a_card_locked_after_three_wrong_pins(
    hub: Hub, till: Till, terminal: VirtualTerminal
) -> None:
    paid = await till.sell_by_card(terminal, "card_locked", "approve")
    [locked] = paid["declines"]
    assert (locked["status"], locked["outcome"]) == ("declined", "card_locked")
    assert "three wrong PINs" in locked["reason"]

    async def prompts_reached_the_hub() -> bool:
        events = await hub_edge_events(hub, "device.terminal_event")
        shown = [
            e.message.event
            for e in events  # type: ignore[attr-defined]
            if e.message.sale_id == paid["sale_id"]
        ]  # type: ignore[attr-defined]
        locked_at = shown.index("card_locked") if "card_locked" in shown else -1
        return locked_at > 0 and shown[:locked_at].count("wrong_pin") == 3

    assert await wait_for(prompts_reached_the_hub, timeout=30)
    sale = await ask(hub, "checkout", "get_sale", {"sale_id": paid["sale_id"]})
    assert sale["status"] == "completed" and sale["paid_minor"] == paid["total_minor"]


async def test_a_print_job_survives_an_agent_restart_and_prints_once(
    hub: Hub, store: Store, till: Till, terminal: VirtualTerminal, printer: VirtualPrinter
) -> None:
    printer.set_mode("paper_out")  # the job waits in the journal
    paid = await till.sell_by_card(terminal, "approve")
    sale_id = paid["sale_id"]
    agent = store.agent

    async def queued() -> bool:
        tills = agent.tills
        return tills is not None and tills.counters["receipts_queued"] >= 1

    assert await wait_for(queued, timeout=30)
    await agent.stop()
    assert receipts_of(printer, sale_id) == []

    printer.set_mode("ok")
    store.agent = EdgeAgent(store.config)  # the fixture stops this one
    await store.agent.start()

    async def printed() -> bool:
        return len(receipts_of(printer, sale_id)) >= 1

    assert await wait_for(printed, timeout=30)

    async def reported() -> bool:
        events = await hub_edge_events(hub, "print.printed")
        return [e.message.job_id for e in events].count(f"receipt:{sale_id}") == 1  # type: ignore[attr-defined]

    assert await wait_for(reported, timeout=30)
    await asyncio.sleep(1.0)
    [receipt] = receipts_of(printer, sale_id)
    assert "*** COPY ***" not in receipt.text  # queued, never begun: the original
