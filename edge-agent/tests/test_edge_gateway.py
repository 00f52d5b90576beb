"""The lanes' gateway against a real hub and a real store leaf node: forwarding while checkout
answers, offline selling when it does not (catalog mirror prices, cash, card limits), events in
the store stream reaching the hub, and the way back online."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from nats.js.api import KeyValueConfig

from edge_agent.cards import test_card
from edge_agent.config import OfflineLimits
from edge_agent.gateway import lane_subject
from edge_agent.harness import Store, StoreOptions, hub_server, start_store
from edge_agent.lanes import CompletionWatcher, Lane
from edge_agent.storenats import CATALOG_BUCKET
from tillstream.bus import EDGE_STREAM, command_subject, connect, wait_for
from tillstream.codec import ReceivedEvent, decode
from tillstream.natsserver import NatsServer

STORE = "s001"
PRODUCTS = {
    "TEA": {"price_minor": 349, "tax_class": "reduced"},
    "PAN": {"price_minor": 2_999, "tax_class": "standard"},
    "TV": {"price_minor": 49_900, "tax_class": "standard"},
}
LIMITS = OfflineLimits(per_payment_minor=10_000, total_minor=15_000, max_offline_hours=24)


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
    for sku, fields in PRODUCTS.items():
        value = {
            "sku": sku,
            "name": sku.title(),
            "barcodes": [],
            "currency": "EUR",
            "active": True,
            **fields,
        }
        await kv.put(sku, json.dumps(value).encode())
    yield nc
    await nc.close()


@pytest.fixture
async def store(hub: NatsServer, hub_nc: Client, tmp_path: Path) -> AsyncIterator[Store]:
    options = StoreOptions(
        limits=LIMITS,
        tax_rates_bp={"standard": 2_000, "reduced": 700},
        command_timeout=1.0,
        probe_interval=0.2,
    )
    running = await start_store(hub, STORE, tmp_path / STORE, options)
    lane_nc = await connect(running.nats_url, "test-lane")
    replica_ready = await wait_for(lambda: _mirrored(lane_nc), timeout=20)
    await lane_nc.close()
    assert replica_ready, "the catalog did not reach the store"
    try:
        yield running
    finally:
        await running.stop()


async def _mirrored(nc: Client) -> bool:
    try:
        info = await nc.jetstream().stream_info("KV_catalog")
    except Exception:
        return False
    return info.state.messages >= len(PRODUCTS)


@pytest.fixture
async def lane_nc(store: Store) -> AsyncIterator[Client]:
    nc = await connect(store.nats_url, "test-lane")
    yield nc
    await nc.close()


async def send(nc: Client, service: str, command: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = await nc.request(
        lane_subject(STORE, service, command), json.dumps(body).encode(), timeout=10
    )
    return dict(json.loads(reply.data))


async def hub_events(hub_nc: Client, count: int, timeout: float = 20) -> list[ReceivedEvent]:
    """The hub's EDGE stream once it holds `count` messages (or what it has then)."""
    js = hub_nc.jetstream()

    async def enough() -> bool:
        try:
            return (await js.stream_info(EDGE_STREAM)).state.messages >= count
        except Exception:
            return False

    await wait_for(enough, timeout=timeout)
    info = await js.stream_info(EDGE_STREAM)
    events = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(EDGE_STREAM, seq)
        events.append(decode(msg.subject, msg.data or b"", msg.headers))
    return events


async def open_offline_sale(nc: Client, lines: list[tuple[str, int]]) -> tuple[str, int]:
    sale_id = str(uuid.uuid4())
    opened = await send(
        nc,
        "checkout",
        "open_sale",
        {
            "sale_id": sale_id,
            "store_id": STORE,
            "lane_id": "01",
            "cashier_id": "c1",
            "currency": "EUR",
        },
    )
    assert opened["ok"] and opened["offline"], opened
    total = 0
    for n, (sku, qty) in enumerate(lines, start=1):
        added = await send(
            nc,
            "checkout",
            "add_line",
            {"sale_id": sale_id, "line_no": n, "sku": sku, "quantity": qty},
        )
        assert added["ok"], added
        total = added["total_minor"]
    return sale_id, total


async def card(nc: Client, sale_id: str, amount: int, key: str = "1") -> dict[str, Any]:
    pan, expiry = test_card(random.Random(key), "approve")
    return await send(
        nc,
        "payments",
        "authorize",
        {
            "idempotency_key": f"{sale_id}:{key}",
            "sale_id": sale_id,
            "store_id": STORE,
            "lane_id": "01",
            "amount_minor": amount,
            "currency": "EUR",
            "pan": pan,
            "expiry": expiry,
        },
    )


async def test_commands_are_forwarded_while_checkout_answers(
    hub_nc: Client, lane_nc: Client, store: Store
) -> None:
    async def checkout(msg: Any) -> None:
        body = json.loads(msg.data)
        await msg.respond(json.dumps({"ok": True, "subject": msg.subject, **body}).encode())

    await hub_nc.subscribe(command_subject("checkout", "*", STORE), cb=checkout)
    await hub_nc.flush()
    await asyncio.sleep(0.3)  # the subscription's interest crosses the leaf connection
    answer = await send(lane_nc, "checkout", "open_sale", {"sale_id": "x"})
    assert answer == {"ok": True, "subject": "cmd.checkout.s001.open_sale", "sale_id": "x"}
    assert store.agent.gateway is not None and store.agent.gateway.online


async def test_offline_sale_priced_from_the_mirror_paid_cash_reaches_the_hub(
    hub_nc: Client, lane_nc: Client, store: Store
) -> None:
    sale_id, total = await open_offline_sale(lane_nc, [("TEA", 2), ("PAN", 1)])
    assert total == 2 * 349 + 2_999
    paid = await send(
        lane_nc,
        "checkout",
        "tender_cash",
        {"sale_id": sale_id, "amount_minor": 4_000, "idempotency_key": "k"},
    )
    assert paid["ok"] and paid["sale_status"] == "completed", paid
    assert paid["change_minor"] == 4_000 - total
    assert paid["receipt"].startswith("*** OFFLINE ***")
    again = await send(
        lane_nc,
        "checkout",
        "tender_cash",
        {"sale_id": sale_id, "amount_minor": 4_000, "idempotency_key": "k"},
    )
    assert again["payment_id"] == paid["payment_id"]

    events = await hub_events(hub_nc, 2)
    kinds = [e.event_type.rsplit(".", 1)[1] for e in events]
    assert kinds == ["StoreWentOffline", "OfflineSaleCompleted"]
    assert all(len(e.subject.split(".")) == 5 for e in events)
    sale: Any = events[1].message
    assert (sale.sale_id, sale.store_id, sale.total.amount_minor) == (sale_id, STORE, total)
    assert [(ln.sku, ln.quantity) for ln in sale.lines] == [("TEA", 2), ("PAN", 1)]
    assert sale.change.amount_minor == 4_000 - total
    taxes = {t.tax_class: t.amount.amount_minor for t in sale.taxes}
    assert taxes == {"reduced": 46, "standard": 500}  # 698 * 7/107, 2999 * 20/120
    assert sale.tax_total.amount_minor == 546 and sale.receipt_number.startswith("s001-01-OFF")
    assert events[1].msg_id == f"edge:{STORE}:sale:{sale_id}"


async def test_offline_cards_are_held_to_the_limits_and_never_stored_in_full(
    hub_nc: Client, lane_nc: Client, store: Store
) -> None:
    sale_id, total = await open_offline_sale(lane_nc, [("TV", 1)])
    over = await card(lane_nc, sale_id, total)
    assert not over["ok"] and over["error"]["code"] == "offline_limit", over
    first = await card(lane_nc, sale_id, 9_000, key="a")
    assert first["ok"] and first["status"] == "approved" and first["sale_status"] == "open"
    second = await card(lane_nc, sale_id, 9_000, key="b")  # 18,000 > the 15,000 total cap
    assert not second["ok"] and second["error"]["code"] == "offline_limit"
    cash = await send(
        lane_nc,
        "checkout",
        "tender_cash",
        {"sale_id": sale_id, "amount_minor": total - 9_000, "idempotency_key": "rest"},
    )
    assert cash["sale_status"] == "completed"

    events = await hub_events(hub_nc, 3)
    approval: Any = next(e.message for e in events if e.event_type.endswith("TerminalApproval"))
    assert approval.offline and approval.amount.amount_minor == 9_000 and not approval.auth_code
    assert "*" in approval.masked_pan and approval.scheme
    pan, _ = test_card(random.Random("a"), "approve")
    js = hub_nc.jetstream()
    info = await js.stream_info(EDGE_STREAM)
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        assert pan.encode() not in (await js.get_msg(EDGE_STREAM, seq)).data


async def test_the_agent_comes_back_online_by_itself(
    hub_nc: Client, lane_nc: Client, store: Store
) -> None:
    sale_id, total = await open_offline_sale(lane_nc, [("TEA", 1)])
    await send(
        lane_nc,
        "checkout",
        "tender_cash",
        {"sale_id": sale_id, "amount_minor": total, "idempotency_key": "k"},
    )
    gateway = store.agent.gateway
    assert gateway is not None and not gateway.online

    async def checkout(msg: Any) -> None:
        await msg.respond(b'{"ok": true, "online": true}')

    await hub_nc.subscribe(command_subject("checkout", "*", STORE), cb=checkout)
    assert await wait_for(lambda: _online(gateway), timeout=10)
    answer = await send(lane_nc, "checkout", "open_sale", {"sale_id": str(uuid.uuid4())})
    assert answer == {"ok": True, "online": True}
    events = await hub_events(hub_nc, 3)
    back: Any = events[-1].message
    assert events[-1].event_type.endswith("StoreCameOnline") and back.offline_sales == 1


async def _online(gateway: Any) -> bool:
    return bool(gateway.online)


async def test_the_offline_card_total_survives_an_agent_restart(
    hub: NatsServer, hub_nc: Client, store: Store, tmp_path: Path
) -> None:
    nc = await connect(store.nats_url, "test-lane")
    sale_id, _ = await open_offline_sale(nc, [("TV", 1)])
    assert (await card(nc, sale_id, 9_000, key="a"))["ok"]
    await nc.close()
    await store.stop()

    again = await start_store(
        hub, STORE, tmp_path / STORE, StoreOptions(limits=LIMITS, command_timeout=1.0)
    )
    try:
        nc = await connect(again.nats_url, "test-lane")
        gateway = again.agent.gateway
        assert gateway is not None and not gateway.online  # the offline period goes on
        sale_id, _ = await open_offline_sale(nc, [("TV", 1)])
        refused = await card(nc, sale_id, 9_000, key="b")
        assert refused["error"]["code"] == "offline_limit", refused
        await nc.close()
    finally:
        await again.stop()


async def test_a_simulated_lane_sells_through_the_agent_while_offline(
    hub_nc: Client, lane_nc: Client, store: Store
) -> None:
    watcher = CompletionWatcher(lane_nc, STORE)
    await watcher.start()
    lane = Lane(
        lane_nc,
        STORE,
        "01",
        ["TEA", "PAN"],
        [],
        watcher,
        seed=3,
        gateway=True,
        cash_rate=0.5,
        decline_rate=0.0,
    )
    lane.shift_id = "opened-before-the-outage"
    sales = [await lane.ring_up() for _ in range(6)]
    assert all(s.offline for s in sales) and {s.tender for s in sales} == {"cash", "card"}
    events = await hub_events(hub_nc, 1 + 6 + sum(s.tender == "card" for s in sales))
    completed = [e.message for e in events if e.event_type.endswith("OfflineSaleCompleted")]
    assert sorted(m.sale_id for m in completed) == sorted(s.sale_id for s in sales)  # type: ignore[attr-defined]
    await watcher.stop()


async def test_bad_lane_commands_get_clear_refusals(lane_nc: Client, store: Store) -> None:
    bad_id = await send(
        lane_nc,
        "checkout",
        "open_sale",
        {
            "sale_id": "not-a-uuid",
            "store_id": STORE,
            "lane_id": "01",
            "cashier_id": "c1",
            "currency": "EUR",
        },
    )
    assert bad_id["error"]["code"] == "invalid"
    unknown = await send(lane_nc, "crm", "erase", {})
    assert unknown["error"]["code"] == "invalid"
    reply = await lane_nc.request(lane_subject(STORE, "checkout", "open_sale"), b"[1]", timeout=10)
    assert json.loads(reply.data)["error"]["code"] == "invalid"
    sale_id, _ = await open_offline_sale(lane_nc, [("TEA", 1)])
    missing = await send(
        lane_nc,
        "checkout",
        "add_line",
        {"sale_id": sale_id, "sku": "NOPE", "line_no": 2, "quantity": 1},
    )
    assert missing["error"]["code"] == "unknown_sku"
    not_open = await send(lane_nc, "checkout", "close_shift", {"shift_id": "x"})
    assert not_open["error"]["code"] == "offline"
