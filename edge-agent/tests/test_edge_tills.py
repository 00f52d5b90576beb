"""The lanes' devices in the agent, against a real hub and store leaf node, with a virtual
Concert terminal and a virtual ESC/POS printer on pseudo-terminals (the same drivers a real
store runs). Checkout is not on the hub here, so the store sells offline: card payments on the
terminal within the offline limits, OFFLINE receipts printed by the agent, the drawer kicked
on cash, device health and terminal prompts in the store stream. (The online path, with the
five services, is tests/e2e/test_edge_devices.py.)"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from nats.js.api import KeyValueConfig

from edge_agent.config import ConfigError, EdgeConfig, OfflineLimits, load_config
from edge_agent.devices import VirtualPrinter, VirtualTerminal
from edge_agent.gateway import lane_subject
from edge_agent.harness import Store, StoreOptions, hub_server, start_store
from edge_agent.storenats import CATALOG_BUCKET
from edge_agent.tills import parse_mix
from tillstream.bus import connect, store_stream_name, wait_for
from tillstream.codec import ReceivedEvent, decode
from tillstream.events.v1 import edge_pb2
from tillstream.natsserver import NatsServer

STORE = "s001"
LANE = "01"
PRODUCTS = {"TEA": 349, "PAN": 2_999, "TV": 49_900}
LIMITS = OfflineLimits(per_payment_minor=10_000, total_minor=20_000, max_offline_hours=24)
FULL_PAN = re.compile(r"\d{13,19}")


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[NatsServer]:
    server = hub_server(tmp_path / "hub").start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
async def hub_nc(hub: NatsServer) -> AsyncIterator[Client]:
    nc = await connect(hub.url, "test-hub")
    kv = await nc.jetstream().create_key_value(KeyValueConfig(bucket=CATALOG_BUCKET))
    for sku, price in PRODUCTS.items():
        value = {"sku": sku, "name": sku.title(), "barcodes": [], "currency": "EUR",
                 "active": True, "price_minor": price, "tax_class": "standard"}  # fmt: skip
        await kv.put(sku, json.dumps(value).encode())
    yield nc
    await nc.close()


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
    hub: NatsServer,
    hub_nc: Client,
    tmp_path: Path,
    terminal: VirtualTerminal,
    printer: VirtualPrinter,
) -> AsyncIterator[Store]:
    options = StoreOptions(
        limits=LIMITS,
        tax_rates_bp={"standard": 2_000},
        command_timeout=1.0,
        probe_interval=0.2,
        lanes={LANE: {"terminal": terminal.port, "printer": printer.port}},
        device_health_interval=0.2,
    )
    running = await start_store(hub, STORE, tmp_path / STORE, options)
    lane_nc = await connect(running.nats_url, "test-lane")

    async def mirrored() -> bool:
        try:
            info = await lane_nc.jetstream().stream_info("KV_catalog")
        except Exception:
            return False
        return info.state.messages >= len(PRODUCTS)

    ready = await wait_for(mirrored, timeout=20)
    await lane_nc.close()
    assert ready, "the catalog did not reach the store"
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def lane_nc(store: Store) -> AsyncIterator[Client]:
    nc = await connect(store.nats_url, "test-lane")
    yield nc
    await nc.close()


async def send(nc: Client, service: str, command: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = await nc.request(
        lane_subject(STORE, service, command), json.dumps(body).encode(), timeout=20
    )
    return dict(json.loads(reply.data))


async def open_sale(nc: Client, *skus: str) -> tuple[str, int]:
    sale_id = str(uuid.uuid4())
    opened = await send(nc, "checkout", "open_sale", {
        "sale_id": sale_id, "store_id": STORE, "lane_id": LANE, "cashier_id": "c1",
        "currency": "EUR"})  # fmt: skip
    assert opened["ok"] and opened["offline"], opened
    total = 0
    for line_no, sku in enumerate(skus, 1):
        added = await send(
            nc,
            "checkout",
            "add_line",
            {"sale_id": sale_id, "line_no": line_no, "sku": sku, "quantity": 1},
        )
        assert added["ok"], added
        total = added["total_minor"]
    return sale_id, total


def pay(sale_id: str, amount: int, key: str = "1", lane: str = LANE) -> dict[str, Any]:
    return {"sale_id": sale_id, "lane_id": lane, "amount_minor": amount, "currency": "EUR",
            "idempotency_key": key}  # fmt: skip


async def store_events(nc: Client, subject: str) -> list[ReceivedEvent]:
    """The store stream's events on `subject` (a filter), in order."""
    js = nc.jetstream()
    stream = store_stream_name(STORE)
    info = await js.stream_info(stream)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            msg = await js.get_msg(stream, seq)
        except Exception:
            continue
        if re.fullmatch(subject.replace(".", r"\.").replace("*", r"[^.]+"), msg.subject):
            found.append(decode(msg.subject, msg.data or b"", msg.headers))
    return found


async def test_a_card_approved_on_the_terminal_completes_the_offline_sale_and_prints(
    store: Store, lane_nc: Client, terminal: VirtualTerminal, printer: VirtualPrinter
) -> None:
    sale_id, total = await open_sale(lane_nc, "TEA", "PAN")
    terminal.script("approve")

    answer = await send(lane_nc, "terminal", "pay", pay(sale_id, total))

    assert answer["ok"] and answer["offline"] and answer["status"] == "approved", answer
    assert answer["sale_status"] == "completed"
    assert "*" in answer["masked_pan"] and not FULL_PAN.search(json.dumps(answer))
    approvals = await store_events(lane_nc, f"edge.{STORE}.payment.terminal_approved")
    assert len(approvals) == 1
    approval: Any = approvals[0].message
    assert approval.offline and approval.sale_id == sale_id
    assert approval.amount.amount_minor == total and approval.token.startswith("tok_")
    assert approval.terminal_id == f"terminal-{LANE}" and approval.lane_id == LANE
    prompts = [e.message.event for e in  # type: ignore[attr-defined]
               await store_events(lane_nc, f"edge.{STORE}.device.terminal_event")]  # fmt: skip
    assert prompts[:2] == ["insert_card", "enter_pin"] and prompts[-1] == "approved"
    # Paid again with the same key: the same answer, the card is not charged twice.
    again = await send(lane_nc, "terminal", "pay", pay(sale_id, total))
    assert again["payment_id"] == answer["payment_id"]
    assert len(terminal.stats.requests) == 1

    assert await wait_for(lambda: _printed(printer, 1), timeout=15)
    receipt = printer.receipts[0]
    assert "*** OFFLINE ***" in receipt.text
    assert answer["receipt_number"] in receipt.text
    assert f"TOTAL EUR {total // 100}.{total % 100:02d}" in receipt.text
    assert receipt.qr_codes == [sale_id] and receipt.cut

    async def reported() -> bool:
        return len(await store_events(lane_nc, f"edge.{STORE}.print.printed")) == 1

    assert await wait_for(reported, timeout=15)
    printed: Any = (await store_events(lane_nc, f"edge.{STORE}.print.printed"))[0].message
    assert printed.receipt_number == answer["receipt_number"] and not printed.copy


async def _printed(printer: VirtualPrinter, count: int) -> bool:
    return len(printer.receipts) >= count


async def test_wrong_pin_and_locked_card_are_declined_with_their_reason(
    store: Store, lane_nc: Client, terminal: VirtualTerminal
) -> None:
    sale_id, total = await open_sale(lane_nc, "PAN")
    terminal.script("wrong_pin", "card_locked", "wrong_pin_then_ok")

    wrong = await send(lane_nc, "terminal", "pay", pay(sale_id, total, "1"))
    locked = await send(lane_nc, "terminal", "pay", pay(sale_id, total, "2"))

    assert (wrong["status"], wrong["outcome"], wrong["reason"]) == (
        "declined", "wrong_pin", "wrong PIN")  # fmt: skip
    assert (locked["status"], locked["outcome"]) == ("declined", "card_locked")
    assert "locked" in locked["reason"]
    assert await store_events(lane_nc, f"edge.{STORE}.payment.terminal_approved") == []
    events = [e.message.event for e in  # type: ignore[attr-defined]
              await store_events(lane_nc, f"edge.{STORE}.device.terminal_event")]  # fmt: skip
    assert events[-1] == "card_locked" and events.count("wrong_pin") >= 4  # 1 + 3 wrong PINs

    ok = await send(lane_nc, "terminal", "pay", pay(sale_id, total, "3"))
    assert ok["status"] == "approved" and ok["sale_status"] == "completed", ok


async def test_offline_limits_are_checked_before_the_card_is_charged(
    store: Store, lane_nc: Client, terminal: VirtualTerminal
) -> None:
    sale_id, total = await open_sale(lane_nc, "TV")
    refused = await send(lane_nc, "terminal", "pay", pay(sale_id, total))
    assert refused["error"]["code"] == "offline_limit", refused
    assert terminal.stats.requests == []  # the customer's card never touched


async def test_bad_terminal_commands_are_refused_clearly(store: Store, lane_nc: Client) -> None:
    sale_id, total = await open_sale(lane_nc, "TEA")
    unknown_lane = await send(lane_nc, "terminal", "pay", pay(sale_id, total, lane="09"))
    too_much = await send(lane_nc, "terminal", "pay", pay(sale_id, total + 1))
    no_amount = await send(lane_nc, "terminal", "pay", {"sale_id": sale_id, "lane_id": LANE})
    unknown_command = await send(lane_nc, "terminal", "refund", pay(sale_id, total))
    assert unknown_lane["error"]["code"] == "not_found"
    assert too_much["error"]["code"] == "invalid"
    assert no_amount["error"]["code"] == "invalid"
    assert unknown_command["error"]["code"] == "invalid"


async def test_cash_kicks_the_drawer_and_health_is_reported(
    store: Store, lane_nc: Client, printer: VirtualPrinter
) -> None:
    sale_id, _ = await open_sale(lane_nc, "TEA")
    paid = await send(
        lane_nc,
        "checkout",
        "tender_cash",
        {"sale_id": sale_id, "amount_minor": 500, "idempotency_key": "k"},
    )
    assert paid["ok"] and paid["sale_status"] == "completed"

    async def kicked() -> bool:
        return len(printer.drawer_kicks) == 1

    assert await wait_for(kicked, timeout=15)  # after the lane has its answer
    assert await wait_for(lambda: _printed(printer, 1), timeout=15)
    assert "CHANGE 1.51" in printer.receipts[0].text

    printer.set_mode("paper_out")

    async def paper_out() -> bool:
        statuses = await store_events(lane_nc, f"edge.{STORE}.device.status")
        return any(
            s.message.status == "paper_out"  # type: ignore[attr-defined]
            for s in statuses
        )

    assert await wait_for(paper_out, timeout=15)
    statuses = await store_events(lane_nc, f"edge.{STORE}.device.status")
    devices = {(s.message.device_id, s.message.kind) for s in statuses}  # type: ignore[attr-defined]
    assert {(f"terminal-{LANE}", "terminal"), (f"printer-{LANE}", "printer")} <= devices
    assert isinstance(statuses[0].message, edge_pb2.DeviceStatus)


def test_lanes_devices_load_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(
        'store_id = "s001"\nhub_leaf_url = "nats-leaf://hub:7422"\n'
        '[lanes.01]\nterminal = "virtual"\nprinter = "tcp://10.0.0.21:9100"\n'
        '[lanes.02]\nprinter = "virtual"\n'
    )
    config = load_config(path)
    assert config.lanes == {
        "01": {"terminal": "virtual", "printer": "tcp://10.0.0.21:9100"},
        "02": {"printer": "virtual"},
    }
    path.write_text('store_id = "s001"\nhub_leaf_url = "x"\n[lanes.01]\nterminal = 7\n')
    with pytest.raises(ConfigError, match="text settings"):
        load_config(path)


def test_terminal_mix_and_lane_settings_are_checked() -> None:
    assert parse_mix("approve:0.9, decline:0.1") == {"approve": 0.9, "decline": 0.1}
    for bad in ("approve:x", "nope:1", "approve:-1", "approve:0"):
        with pytest.raises(ValueError):
            parse_mix(bad)
    with pytest.raises(ConfigError):
        EdgeConfig(store_id=STORE, nats_url="nats://x", lanes={"a.b": {}})
    with pytest.raises(ConfigError):
        EdgeConfig(store_id=STORE, nats_url="nats://x", lanes={"01": {"terminal": 3}})  # type: ignore[dict-item]
