"""End to end: a cashier's whole day, the five services as separate OS processes over a real
NATS server, payments authorizing cards over ISO 8583 against the acquirer simulator.

Through the lanes' NATS path (store s001): cashier and supervisor registered, login, a shift
opened with a float, twenty sales with split tenders (card, cash with change, gift card,
loyalty points, a declined card then cash), a void with a supervisor's approval, a suspended
and resumed sale, a partial return against a receipt refunding card and cash (and one refunding
a gift card), pay in, pay out, no-sale, an X report, the close with the counted cash and a Z
report, receipts for every sale and return. Then every service must agree: the drawer, the
stock, the points, the card and gift card refunds, analytics' projections.

Through gRPC CheckoutService (store s002): the key steps of the same day.
"""

from __future__ import annotations

import base64
import json
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from uuid import uuid4

import grpc
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from checkout.receipts import format_money
from tests.e2e.day import (
    Bus,
    SaleRecord,
    Till,
    count_cash,
    eventually,
    gift_card_number,
)
from tillstream.bus import connect
from tillstream.checkout.v1 import checkout_service_pb2 as pb
from tillstream.checkout.v1 import checkout_service_pb2_grpc as pb_grpc
from tillstream.natsserver import free_port
from tillstream.supervisor import Platform, status_of
from tillstream.testing import nats_server, test_settings

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

STORE = "s001"
GRPC_STORE = "s002"
LANE = "01"
CURRENCY = "EUR"
PRICES = {"DAY-COFFEE": 450, "DAY-BREAD": 250, "DAY-CHEESE": 1299, "DAY-WINE": 2500}
RECEIVED = 200
FLOAT = 150_00
CASHIER, CASHIER_PIN = "c1", "2468"
SUPERVISOR, SUPERVISOR_PIN = "sup1", "1357"
GIFT_CARD_VALUE = 30_00
PAID_IN, PAID_OUT = 50_00, 12_50
SHORT = 30  # the drawer is 0.30 short at the close


@dataclass
class Running:
    """The platform, its bus connection, and checkout's gRPC address."""

    platform: Platform
    nc: Any
    grpc_target: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    """NATS, the acquirer simulator and the five services; checkout serves gRPC on a free
    port (the others' gRPC and analytics' dashboard stay off)."""
    tmp: Path = tmp_path_factory.mktemp("cashier-day")
    grpc_port = free_port()
    ports = {name: 0 for name in ("payments", "inventory", "crm", "analytics")}
    with nats_server(tmp) as nats:
        settings = test_settings(
            tmp / "data", nats_url=nats.url, partitions=2, acquirer_port=free_port()
        )
        platform = Platform(
            settings,
            extra_env={
                "TILLSTREAM_GRPC_ENABLED": "true",
                "TILLSTREAM_GRPC_HOST": "127.0.0.1",
                "TILLSTREAM_GRPC_PORTS": json.dumps({"checkout": grpc_port, **ports}),
                "TILLSTREAM_DASHBOARD_PORT": "0",
            },
        )
        nc = None
        try:
            await platform.start(timeout=60)
            nc = await connect(platform.nats_url, "e2e-cashier-day")
            yield Running(platform, nc, f"127.0.0.1:{grpc_port}")
        finally:
            if nc is not None:
                await nc.close()
            platform.stop()
            for name in platform.processes:
                log = platform.log_dir / f"{name}.log"
                text = log.read_text(errors="replace") if log.exists() else ""
                assert "Traceback" not in text, f"{name} logged a traceback:\n{text[-4000:]}"


async def stock_store(bus: Bus) -> None:
    """The back office: the catalog (chain-wide) and the store's opening stock; checkout's
    price replica must have it before a lane can sell."""
    for sku, price in PRICES.items():
        await bus.ask(
            "inventory",
            "upsert_product",
            {
                "sku": sku,
                "name": sku.split("-")[1].title(),
                "price_minor": price,
                "currency": CURRENCY,
            },
        )
        await bus.ask(
            "inventory",
            "receive",
            {
                "store_id": bus.store_id,
                "sku": sku,
                "quantity": RECEIVED,
                "reference": f"po-{bus.store_id}-{sku}",
            },
        )

    async def priced() -> None:
        for sku, price in PRICES.items():
            answer = await bus.request("checkout", "price", {"sku": sku})
            assert answer.get("price_minor") == price, answer

    await eventually(priced)


async def register_staff(bus: Bus) -> None:
    await bus.ask(
        "checkout",
        "register_cashier",
        {"store_id": bus.store_id, "cashier_id": CASHIER, "name": "Casey", "pin": CASHIER_PIN},
    )
    await bus.ask(
        "checkout",
        "register_cashier",
        {
            "store_id": bus.store_id,
            "cashier_id": SUPERVISOR,
            "name": "Sam",
            "pin": SUPERVISOR_PIN,
            "roles": ["supervisor"],
        },
    )


@dataclass
class LaneDay:
    """What the lane did all day, and what the services answered on the way."""

    till: Till
    shift_id: str = ""
    customer_id: str = ""
    gift_card: str = ""
    loyalty_sale: SaleRecord | None = None  # card + cash, then partly returned
    redeeming_sale: SaleRecord | None = None  # paid partly with points
    voided: SaleRecord | None = None
    gift_sale: SaleRecord | None = None  # gift card + card, then one coffee returned
    void_reply: dict[str, Any] = field(default_factory=dict)
    return_reply: dict[str, Any] = field(default_factory=dict)
    gift_return_reply: dict[str, Any] = field(default_factory=dict)
    x_report: dict[str, Any] = field(default_factory=dict)
    z_report: dict[str, Any] = field(default_factory=dict)
    counted_minor: int = 0
    refusals: dict[str, str] = field(default_factory=dict)
    #: sale id -> (points earned, balance after) as crm reported them right after the sale
    crm_points: dict[str, tuple[int, int]] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(4))

    @property
    def bus(self) -> Bus:
        return self.till.bus

    @property
    def first(self) -> SaleRecord:
        assert self.loyalty_sale is not None
        return self.loyalty_sale

    @property
    def second(self) -> SaleRecord:
        assert self.redeeming_sale is not None
        return self.redeeming_sale


def round_up(amount_minor: int, step: int = 5_00) -> int:
    """What a customer hands over in cash: the next note up."""
    return -(-amount_minor // step) * step


async def open_the_lane(day: LaneDay) -> None:
    """Login, the refusals before a shift, the shift with its float; the loyalty customer
    and the gift card the day's customers bring."""
    bus = day.bus
    who = {"store_id": STORE, "cashier_id": CASHIER}
    login = await bus.ask("checkout", "login", {**who, "pin": CASHIER_PIN})
    assert login["name"] == "Casey"
    day.refusals["bad_pin"] = await bus.refusal("checkout", "login", {**who, "pin": "0000"})
    day.refusals["no_shift"] = await bus.refusal(
        "checkout",
        "open_sale",
        {"sale_id": str(uuid4()), **who, "lane_id": LANE, "currency": CURRENCY},
    )
    opened = await bus.ask(
        "checkout",
        "open_shift",
        {**who, "lane_id": LANE, "pin": CASHIER_PIN, "float_minor": FLOAT, "currency": CURRENCY},
    )
    day.shift_id = opened["shift_id"]
    registered = await bus.ask(
        "crm",
        "register_customer",
        {
            "loyalty_card": f"DAY{day.rng.randrange(10**9):09d}",
            "name": "Lou Loyal",
            "store_id": STORE,
            "email": "lou@example.com",
        },
    )
    day.customer_id = registered["customer_id"]
    day.gift_card = gift_card_number(day.rng)
    activated = await bus.ask(
        "payments",
        "activate_gift_card",
        {
            "number": day.gift_card,
            "store_id": STORE,
            "operation_key": uuid4().hex,
            "currency": CURRENCY,
            "amount_minor": GIFT_CARD_VALUE,
        },
    )
    assert activated["balance_minor"] == GIFT_CARD_VALUE


async def sell_the_morning(day: LaneDay) -> None:
    """Sales 1-9: every kind of tender, a decline, points, a parked basket."""
    till, bus = day.till, day.bus
    # 1-2: cash, exact and with change (the second tender sent twice, as after a lost reply).
    sale = await till.ring_up([("DAY-COFFEE", 2)])
    await till.cash(sale, 9_00)
    sale = await till.ring_up([("DAY-BREAD", 3)])
    await till.cash(sale, 10_00, retried=True)
    # 3: card.
    sale = await till.ring_up([("DAY-CHEESE", 1)])
    await till.card(sale, sale.total_minor)
    # 4: the loyalty customer, part card, part cash with change (50.98: 30.00 + 25.00).
    day.loyalty_sale = await till.ring_up([("DAY-CHEESE", 2), ("DAY-WINE", 1)], day.customer_id)
    await till.card(day.first, 30_00)
    await till.cash(day.first, 25_00)
    assert day.first.change_minor == 4_02

    async def earned(balance: int) -> int:
        points = await bus.ask("crm", "loyalty", {"customer_id": day.customer_id})
        assert points["balance"] == balance, points
        return int(points["balance"])

    reported = await eventually(lambda: earned(day.first.total_minor // 100))
    day.crm_points[day.first.sale_id] = (day.first.total_minor // 100, reported)
    # 5: a declined card, then cash.
    sale = await till.ring_up([("DAY-WINE", 1)])
    await till.card(sale, sale.total_minor, outcome="51")
    assert (await till.view(sale))["status"] == "open"
    await till.cash(sale, 30_00)
    # 6: gift card for its whole value, the rest by card.
    day.gift_sale = sale = await till.ring_up([("DAY-COFFEE", 3), ("DAY-CHEESE", 2)])
    await till.gift_card(sale, day.gift_card, GIFT_CARD_VALUE)
    await till.card(sale, sale.due_minor)
    # 7: the loyalty customer pays 20 points' worth (0.20) and the rest in cash.
    day.redeeming_sale = await till.ring_up([("DAY-BREAD", 4), ("DAY-COFFEE", 1)], day.customer_id)
    await till.points(day.second, 20)
    await till.cash(day.second, round_up(day.second.due_minor))
    reported = await eventually(lambda: earned(reported - 20 + day.second.total_minor // 100))
    day.crm_points[day.second.sale_id] = (day.second.total_minor // 100, reported)
    # 8-9: a basket parked while the next customer is served, then resumed and paid.
    parked = await till.ring_up([("DAY-WINE", 2)])
    await till.checkout("suspend", {"sale_id": parked.sale_id})
    day.refusals["suspended"] = await bus.refusal(
        "checkout",
        "tender",
        {"sale_id": parked.sale_id, "kind": "cash", "amount_minor": 100, "idempotency_key": "x"},
    )
    sale = await till.ring_up([("DAY-COFFEE", 1)])
    await till.cash(sale, 5_00)
    resumed = await till.checkout(
        "resume",
        {"sale_id": parked.sale_id, "store_id": STORE, "lane_id": LANE, "cashier_id": CASHIER},
    )
    assert resumed["status"] == "open" and resumed["due_minor"] == 50_00
    await till.card(parked, 20_00)
    await till.cash(parked, 30_50)


async def void_a_sale(day: LaneDay) -> None:
    """A sale voided after part was paid (card and cash): above the threshold, so only with
    a supervisor's approval; the tenders go back."""
    day.voided = voided = await day.till.ring_up([("DAY-WINE", 5)])
    await day.till.card(voided, 40_00)
    await day.till.cash(voided, 20_00)
    void = {"sale_id": voided.sale_id, "reason": "customer changed their mind"}
    day.refusals["void_without_supervisor"] = await day.bus.refusal("checkout", "void", void)
    day.refusals["void_by_cashier"] = await day.bus.refusal(
        "checkout", "void", {**void, "supervisor_id": CASHIER, "supervisor_pin": CASHIER_PIN}
    )
    day.void_reply = await day.bus.ask(
        "checkout",
        "void",
        {**void, "supervisor_id": SUPERVISOR, "supervisor_pin": SUPERVISOR_PIN},
    )
    voided.status = "voided"


async def sell_the_afternoon(day: LaneDay) -> None:
    """Sales 10-20, tenders in turn: card, cash with change, card and cash."""
    till, skus = day.till, sorted(PRICES)
    for n in range(11):
        picked = day.rng.sample(skus, day.rng.randint(1, 3))
        sale = await till.ring_up([(sku, day.rng.randint(1, 3)) for sku in picked])
        if n % 3 == 0:
            await till.card(sale, sale.total_minor)
        elif n % 3 == 1:
            await till.cash(sale, round_up(sale.total_minor))
        else:
            await till.card(sale, sale.total_minor // 2)
            await till.cash(sale, round_up(sale.due_minor))
    assert len(till.completed) == 20


async def move_cash_and_take_x(day: LaneDay) -> None:
    """Pay in, pay out, a no-sale, and the mid-shift X report."""
    shift = {"shift_id": day.shift_id}
    await day.bus.ask(
        "checkout", "pay_in", {**shift, "amount_minor": PAID_IN, "reason": "coins from the safe"}
    )
    await day.bus.ask(
        "checkout", "pay_out", {**shift, "amount_minor": PAID_OUT, "reason": "window cleaner"}
    )
    await day.bus.ask("checkout", "no_sale", {**shift, "reason": "change for a customer"})
    day.x_report = await day.bus.ask("checkout", "x_report", shift)


async def take_back(day: LaneDay) -> None:
    """The loyalty customer brings back one cheese and the wine, with the receipt: more than
    the card paid, so the card is refunded in full and the rest is cash. Asking for more
    than was sold is refused first."""
    body = {
        "store_id": STORE,
        "lane_id": LANE,
        "cashier_id": CASHIER,
        "original": day.first.receipt_number,
    }
    day.refusals["return_too_many"] = await day.bus.refusal(
        "checkout",
        "return",
        {**body, "return_id": str(uuid4()), "lines": [{"line_no": 2, "quantity": 2}]},
    )
    day.return_reply = await day.bus.ask(
        "checkout",
        "return",
        {
            **body,
            "return_id": str(uuid4()),
            "lines": [{"line_no": 1, "quantity": 1}, {"line_no": 2, "quantity": 1}],
        },
    )
    # One coffee of the gift card sale comes back: the gift card was paid first, so the
    # gift card takes the refund (no cash leaves the drawer).
    assert day.gift_sale is not None
    day.gift_return_reply = await day.bus.ask(
        "checkout",
        "return",
        {
            **body,
            "original": day.gift_sale.sale_id,
            "return_id": str(uuid4()),
            "lines": [{"line_no": 1, "quantity": 1}],
        },
    )


async def close_the_shift(day: LaneDay) -> None:
    """Count the drawer (0.30 short of what the lane's own arithmetic expects) and close."""
    expected = FLOAT + cash_kept(day) - day.return_reply["cash_back_minor"] + PAID_IN - PAID_OUT
    day.counted_minor = expected - SHORT
    day.z_report = await day.bus.ask(
        "checkout",
        "close_shift",
        {"shift_id": day.shift_id, "counted": count_cash(day.counted_minor)},
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def day(running: Running) -> LaneDay:
    """The lane's whole day, in order; every answer on the way is checked against the lane's
    own arithmetic (Till and SaleRecord), the tests below check every service afterwards."""
    bus = Bus(running.nc, STORE)
    await stock_store(bus)
    await register_staff(bus)
    lane_day = LaneDay(Till(bus, LANE, CASHIER, PRICES))
    for step in (
        open_the_lane,
        sell_the_morning,
        void_a_sale,
        sell_the_afternoon,
        move_cash_and_take_x,
        take_back,
        close_the_shift,
    ):
        await step(lane_day)
    return lane_day


def cash_kept(day: LaneDay) -> int:
    return sum(s.cash_kept_minor for s in day.till.completed)


def sold(day: LaneDay) -> dict[str, int]:
    quantities = dict.fromkeys(PRICES, 0)
    for sale in day.till.completed:
        for _, sku, quantity, _ in sale.lines:
            quantities[sku] += quantity
    return quantities


# -- checkout: refusals, tenders, the void, the return, the drawer ------------------------------


async def test_refusals_on_the_way_are_clear(day: LaneDay) -> None:
    assert day.refusals == {
        "bad_pin": "bad_pin",
        "no_shift": "no_shift",
        "suspended": "suspended",
        "void_without_supervisor": "approval_required",
        "void_by_cashier": "permission_required",
        "return_too_many": "invalid",
    }


async def test_every_sale_completed_with_its_tenders(day: LaneDay, running: Running) -> None:
    bus = Bus(running.nc, STORE)
    numbers = set()
    for sale in day.till.completed:
        view = await bus.ask("checkout", "get_sale", {"sale_id": sale.sale_id})
        assert view["status"] == "completed"
        assert view["total_minor"] == sale.total_minor
        assert view["paid_minor"] == sum(amount for _, amount in sale.tenders)
        assert view["change_minor"] == sale.change_minor
        assert sorted((t["kind"], t["amount_minor"]) for t in view["tenders"]) == sorted(
            sale.tenders
        )
        assert view["receipt_number"].startswith(f"{STORE}-{LANE}-")
        numbers.add(view["receipt_number"])
    assert len(numbers) == 20
    kinds = day.till.total_by_tender()
    assert set(kinds) == {"cash", "card", "gift_card", "loyalty"}
    assert kinds["gift_card"] == GIFT_CARD_VALUE and kinds["loyalty"] == 20
    assert sum(kinds.values()) == sum(s.total_minor for s in day.till.completed)

    page = await bus.ask(
        "checkout", "list_sales", {"store_id": STORE, "lane_id": LANE, "limit": 100}
    )
    statuses = {s["sale_id"]: s["status"] for s in page["sales"]}
    assert statuses == {s.sale_id: s.status for s in day.till.sales}


async def test_void_gave_back_what_was_paid(day: LaneDay) -> None:
    reply = day.void_reply
    assert reply["status"] == "voided"
    assert reply["cash_back_minor"] == 20_00
    assert sorted((t["kind"], t["amount_minor"]) for t in reply["tenders"]) == [
        ("card", 40_00),
        ("cash", 20_00),
    ]


async def test_partial_return_refunds_card_then_cash(day: LaneDay) -> None:
    ret, sale = day.return_reply, day.first
    returned = PRICES["DAY-CHEESE"] + PRICES["DAY-WINE"]
    assert ret["original_sale_id"] == sale.sale_id
    assert ret["total_minor"] == returned
    card_id = sale.card_payment_ids[0]
    refunds = sorted((r["kind"], r["payment_id"], r["amount_minor"]) for r in ret["refunds"])
    assert refunds[0] == ("card", card_id, 30_00)
    assert refunds[1][0] == "cash" and refunds[1][2] == returned - 30_00
    assert ret["cash_back_minor"] == returned - 30_00
    assert ret["receipt_number"].startswith(f"{STORE}-{LANE}-")

    gift = day.gift_return_reply
    coffee = PRICES["DAY-COFFEE"]
    assert gift["total_minor"] == coffee and gift["cash_back_minor"] == 0
    assert [(r["kind"], r["amount_minor"]) for r in gift["refunds"]] == [("gift_card", coffee)]


async def test_drawer_expected_counted_and_variance(day: LaneDay) -> None:
    cash_back = day.return_reply["cash_back_minor"]
    x, z = day.x_report, day.z_report
    assert (x["kind"], x["status"]) == ("X", "open")
    assert x["float_minor"] == FLOAT
    assert x["cash_sales_minor"] == cash_kept(day)
    assert (x["paid_in_minor"], x["paid_out_minor"], x["no_sales"]) == (PAID_IN, PAID_OUT, 1)
    assert x["cash_refunds_minor"] == 0
    assert x["expected_minor"] == FLOAT + cash_kept(day) + PAID_IN - PAID_OUT
    assert "variance_minor" not in x

    expected = x["expected_minor"] - cash_back
    assert (z["kind"], z["status"], z["shift_id"]) == ("Z", "closed", day.shift_id)
    assert z["cash_sales_minor"] == cash_kept(day)
    assert z["cash_refunds_minor"] == cash_back
    assert z["expected_minor"] == expected
    assert z["counted_minor"] == day.counted_minor == expected - SHORT
    assert z["variance_minor"] == -SHORT
    assert z["counted"] == count_cash(day.counted_minor)
    assert sum(int(d) * n for d, n in z["counted"].items()) == day.counted_minor


async def receipt_shows_points(
    bus: Bus, sale_id: str, points: int, balance: int, copy: bool
) -> None:
    """The sale's receipt (a reprint when `copy`) has the points earned and the balance."""
    printed = await bus.ask("checkout", "receipt", {"sale_id": sale_id, "copy": copy})
    lines = printed["text"].splitlines()
    assert any(ln.startswith("Points earned") and ln.split()[-1] == str(points) for ln in lines), (
        printed["text"]
    )
    assert any(
        ln.startswith("Loyalty points balance") and ln.split()[-1] == str(balance) for ln in lines
    ), printed["text"]
    assert ("COPY" in printed["text"]) == copy


async def test_receipts_for_every_sale_and_the_return(day: LaneDay, running: Running) -> None:
    bus = Bus(running.nc, STORE)
    for sale in day.till.completed:
        text = await bus.ask("checkout", "receipt", {"sale_id": sale.sale_id})
        html = await bus.ask("checkout", "receipt", {"sale_id": sale.sale_id, "format": "html"})
        total = format_money(sale.total_minor, CURRENCY)
        assert text["receipt_number"] == html["receipt_number"] == sale.receipt_number
        assert sale.receipt_number in text["text"] and sale.sale_id in text["text"]
        assert any(
            line.startswith(f"TOTAL {CURRENCY}") and line.endswith(total)
            for line in text["text"].splitlines()
        ), text["text"]
        if sale.change_minor:
            assert format_money(sale.change_minor, CURRENCY) in text["text"]
        assert sale.receipt_number in html["html"] and total in html["html"]
    for ret in (day.return_reply, day.gift_return_reply):
        text = await bus.ask("checkout", "return_receipt", {"return_id": ret["return_id"]})
        html = await bus.ask(
            "checkout", "return_receipt", {"return_id": ret["return_id"], "format": "html"}
        )
        total = format_money(ret["total_minor"], CURRENCY)
        assert text["receipt_number"] == ret["receipt_number"]
        assert "RETURN" in text["text"] and total in text["text"]
        assert ret["receipt_number"] in html["html"] and total in html["html"]
    copy = await bus.ask("checkout", "receipt", {"sale_id": day.first.sale_id, "copy": True})
    assert "COPY" in copy["text"]
    # The loyalty customer's receipts (and reprints) show the points earned and the balance
    # crm reported after each sale; the other sales' receipts have no loyalty lines.
    for sale in day.till.completed:
        body = {"sale_id": sale.sale_id}
        if sale.sale_id not in day.crm_points:
            printed = await bus.ask("checkout", "receipt", body)
            assert "Loyalty points balance" not in printed["text"]
            continue
        points, balance = day.crm_points[sale.sale_id]
        for copy_flag in (False, True):
            # crm's LoyaltyPointsEarned reaches checkout on its own schedule.
            await eventually(
                partial(receipt_shows_points, bus, sale.sale_id, points, balance, copy_flag)
            )
        html = await bus.ask("checkout", "receipt", {**body, "format": "html"})
        assert "Loyalty points balance" in html["html"] and str(balance) in html["html"]
    printed = await bus.ask(
        "checkout", "receipt", {"sale_id": day.first.sale_id, "format": "escpos"}
    )
    escpos = base64.b64decode(printed["escpos_b64"])
    assert escpos.startswith(b"\x1b@")  # ESC @: the printer initialised
    assert day.first.receipt_number.encode() in escpos


# -- the other services ---------------------------------------------------------------------------


async def test_stock_fell_by_the_sales_and_rose_by_the_return(
    day: LaneDay, running: Running
) -> None:
    bus = Bus(running.nc, STORE)
    returned = {"DAY-CHEESE": 1, "DAY-WINE": 1, "DAY-COFFEE": 1}

    async def stock_adds_up() -> None:
        for sku, quantity in sold(day).items():
            level = await bus.ask("inventory", "stock", {"store_id": STORE, "sku": sku})
            assert level["sold"] == quantity, (sku, level)
            assert level["on_hand"] == RECEIVED - quantity + returned.get(sku, 0), (sku, level)

    await eventually(stock_adds_up)


async def test_points_earned_redeemed_and_reversed(day: LaneDay, running: Running) -> None:
    bus = Bus(running.nc, STORE)
    first, second = day.first, day.second
    earned = first.total_minor // 100 + second.total_minor // 100
    returned = day.return_reply["total_minor"]
    reversed_ = (first.total_minor // 100) * returned // first.total_minor

    async def points_add_up() -> None:
        points = await bus.ask("crm", "loyalty", {"customer_id": day.customer_id})
        assert points["earned_total"] == earned, points
        assert points["redeemed_total"] == 20, points
        assert points["reversed_total"] == reversed_, points
        assert points["balance"] == earned - 20 - reversed_, points

    await eventually(points_add_up)

    async def history_adds_up() -> None:
        history = await bus.ask("crm", "history", {"customer_id": day.customer_id})
        assert history["sale_count"] == 2, history
        assert {s["sale_id"] for s in history["sales"]} == {first.sale_id, second.sale_id}
        spent = first.total_minor + second.total_minor - returned
        assert history["totals"] == {CURRENCY: spent}, history

    await eventually(history_adds_up)


async def test_payments_refunded_the_cards_and_emptied_the_gift_card(
    day: LaneDay, running: Running
) -> None:
    bus = Bus(running.nc, STORE)
    returned_card = day.first.card_payment_ids[0]
    assert day.voided is not None
    voided_card = day.voided.card_payment_ids[0]

    async def refunded() -> None:
        payment = await bus.ask("payments", "get_payment", {"payment_id": returned_card})
        assert (payment["captured_minor"], payment["refunded_minor"]) == (30_00, 30_00), payment
        payment = await bus.ask("payments", "get_payment", {"payment_id": voided_card})
        assert (payment["captured_minor"], payment["refunded_minor"]) == (40_00, 40_00), payment

    await eventually(refunded)
    for sale in day.till.completed:
        for payment_id in sale.card_payment_ids:
            if payment_id != returned_card:
                payment = await bus.ask("payments", "get_payment", {"payment_id": payment_id})
                assert payment["status"] == "approved" and payment["refunded_minor"] == 0

    async def gift_card_refunded() -> None:
        # Emptied by sale 6, then one coffee's worth back from its return.
        balance = await bus.ask("payments", "gift_card_balance", {"number": day.gift_card})
        assert balance["balance_minor"] == PRICES["DAY-COFFEE"], balance

    await eventually(gift_card_refunded)

    card_total = day.till.total_by_tender()["card"] + 40_00
    card_count = sum(len(s.card_payment_ids) for s in day.till.sales)
    summary = await bus.ask("payments", "summary", {})
    assert summary["captured_count"] == card_count
    assert summary["captured_total_minor_by_currency"] == {CURRENCY: card_total}
    assert summary["declined_count"] == 1
    assert (await bus.ask("payments", "pending_payments", {}))["payments"] == []


async def test_analytics_agrees(day: LaneDay, running: Running) -> None:
    bus = Bus(running.nc, STORE)
    completed = day.till.completed
    total = sum(s.total_minor for s in completed)
    items = sum(s.items for s in completed)
    card_total = day.till.total_by_tender()["card"] + 40_00  # the voided sale's card too
    card_count = sum(len(s.card_payment_ids) for s in day.till.sales)
    today = datetime.now(UTC).date()
    # From yesterday: a run across midnight (UTC) still finds all of its day.
    span = {"start": (today - timedelta(days=1)).isoformat(), "end": today.isoformat()}

    async def totals() -> None:
        rows = (await bus.ask("analytics", "sales_totals", {"store_id": STORE}))["rows"]
        sums = [sum(r[k] for r in rows) for k in ("sales_count", "total_minor", "items_sold")]
        assert sums == [20, total, items] and {r["currency"] for r in rows} == {CURRENCY}, rows
        mix = (await bus.ask("analytics", "payment_mix", {"store_id": STORE}))["rows"]
        cards = [r for r in mix if r["tender"] in ("card", "")]
        assert sum(r["count"] for r in cards) == card_count, mix
        assert sum(r["total_minor"] for r in cards) == card_total, mix

    async def report(name: str) -> list[dict[str, Any]]:
        reply = await bus.ask("analytics", "report", {"report": name, "store_id": STORE, **span})
        return list(reply["rows"])

    async def refunds_and_voids() -> None:
        rows = await report("refund-void-rates")
        assert len(rows) == 1, rows
        row = rows[0]
        assert (row["sales_count"], row["sales_minor"]) == (20, total), row
        returned = day.return_reply["total_minor"] + day.gift_return_reply["total_minor"]
        assert (row["returns_count"], row["returns_minor"]) == (2, returned), row
        assert (row["voids_count"], row["voids_minor"]) == (1, 60_00), row
        assert (row["refunds_count"], row["refunds_minor"]) == (2, 70_00), row

    async def variance() -> None:
        rows = await report("cash-variances")
        assert [
            (r["shift_id"], r["expected_minor"], r["counted_minor"], r["variance_minor"])
            for r in rows
        ] == [(day.shift_id, day.z_report["expected_minor"], day.counted_minor, -SHORT)], rows

    async def loyalty() -> None:
        rows = await report("loyalty")
        earned = sum(r["earned_points"] for r in rows)
        redeemed = sum(r["redeemed_points"] for r in rows)
        assert (earned, redeemed) == (
            day.first.total_minor // 100 + day.second.total_minor // 100,
            20,
        ), rows
        assert sum(r["redeemed_minor"] for r in rows) == 20, rows

    async def products_and_baskets() -> None:
        revenue = dict.fromkeys(PRICES, 0)
        for sale in completed:
            for _, sku, quantity, price in sale.lines:
                revenue[sku] += quantity * price
        rows = await report("top-products")
        assert {r["sku"]: (r["quantity"], r["revenue_minor"]) for r in rows} == {
            sku: (quantity, revenue[sku]) for sku, quantity in sold(day).items()
        }, rows
        baskets = Counter(sale.items for sale in completed)
        rows = await report("basket-sizes")
        assert {r["items"]: r["sales_count"] for r in rows} == dict(baskets), rows

    for check in (totals, refunds_and_voids, variance, loyalty, products_and_baskets):
        await eventually(check)

    statuses = await status_of(running.nc)
    assert all(s["up"] for s in statuses.values())
    assert sum(s.get("dead_letters", 0) for s in statuses.values()) == 0


# -- the same day's key steps through gRPC ---------------------------------------------


def eur(amount_minor: int) -> pb.Money:
    return pb.Money(amount_minor=amount_minor, currency=CURRENCY)


async def test_key_steps_through_grpc(running: Running) -> None:
    bus = Bus(running.nc, GRPC_STORE)
    await stock_store(bus)
    await register_staff(bus)
    async with grpc.aio.insecure_channel(running.grpc_target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        checked = await health.Check(
            health_pb2.HealthCheckRequest(service="tillstream.checkout.v1.CheckoutService"),
            timeout=10,
        )
        assert checked.status == health_pb2.HealthCheckResponse.SERVING
        api = pb_grpc.CheckoutServiceStub(channel)

        with pytest.raises(grpc.aio.AioRpcError) as bad_pin:
            await api.OpenShift(
                pb.OpenShiftRequest(
                    store_id=GRPC_STORE,
                    lane_id="07",
                    cashier_id=CASHIER,
                    pin="0000",
                    float=eur(50_00),
                )
            )
        assert bad_pin.value.code() == grpc.StatusCode.UNAUTHENTICATED
        shift = await api.OpenShift(
            pb.OpenShiftRequest(
                store_id=GRPC_STORE,
                lane_id="07",
                cashier_id=CASHIER,
                pin=CASHIER_PIN,
                float=eur(50_00),
            )
        )

        sales = []
        for basket, handed in (
            ([("DAY-WINE", 1), ("DAY-COFFEE", 2)], 40_00),
            ([("DAY-CHEESE", 1)], 15_00),
        ):
            sale_id = str(uuid4())
            opened = await api.OpenSale(
                pb.OpenSaleRequest(
                    sale_id=sale_id,
                    store_id=GRPC_STORE,
                    lane_id="07",
                    cashier_id=CASHIER,
                    currency=CURRENCY,
                )
            )
            assert opened.status == pb.SALE_STATUS_OPEN
            total = 0
            for line_no, (sku, quantity) in enumerate(basket, start=1):
                added = await api.AddLine(
                    pb.AddLineRequest(sale_id=sale_id, line_no=line_no, sku=sku, quantity=quantity)
                )
                total += PRICES[sku] * quantity
                assert added.line_total == eur(PRICES[sku] * quantity)
                assert added.sale_total == eur(total)
            paid = await api.Tender(
                pb.TenderRequest(
                    sale_id=sale_id, kind="cash", amount=eur(handed), idempotency_key="cash-1"
                )
            )
            assert paid.status == "approved"
            assert paid.sale_status == pb.SALE_STATUS_COMPLETED
            assert paid.change == eur(handed - total)
            sale = await api.GetSale(pb.GetSaleRequest(sale_id=sale_id))
            assert sale.status == pb.SALE_STATUS_COMPLETED
            assert (sale.total, sale.paid, sale.change) == (
                eur(total),
                eur(handed),
                eur(handed - total),
            )
            assert sale.shift_id == shift.shift_id
            sales.append((sale_id, total, handed, sale.receipt_number))
            with pytest.raises(grpc.aio.AioRpcError) as paid_again:
                await api.Tender(
                    pb.TenderRequest(
                        sale_id=sale_id, kind="cash", amount=eur(1_00), idempotency_key="cash-2"
                    )
                )
            assert paid_again.value.code() == grpc.StatusCode.FAILED_PRECONDITION

        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await api.GetSale(pb.GetSaleRequest(sale_id=str(uuid4())))
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        first = await api.ListSales(
            pb.ListSalesRequest(store_id=GRPC_STORE, status=pb.SALE_STATUS_COMPLETED, page_size=1)
        )
        assert [s.sale_id for s in first.sales] == [sales[0][0]] and first.next_page_token
        second = await api.ListSales(
            pb.ListSalesRequest(
                store_id=GRPC_STORE,
                status=pb.SALE_STATUS_COMPLETED,
                page_size=1,
                page_token=first.next_page_token,
            )
        )
        assert [s.sale_id for s in second.sales] == [sales[1][0]]
        assert not second.next_page_token

        # One coffee of the first sale comes back, against its receipt number: cash.
        returned = await api.Return(
            pb.ReturnRequest(
                return_id=str(uuid4()),
                store_id=GRPC_STORE,
                lane_id="07",
                cashier_id=CASHIER,
                original=sales[0][3],
                lines=[pb.ReturnLine(line_no=2, quantity=1, restock=True)],
            )
        )
        coffee = PRICES["DAY-COFFEE"]
        assert returned.total == eur(coffee) and returned.cash_back == eur(coffee)
        assert returned.original_sale_id == sales[0][0]
        assert [(r.kind, r.amount.amount_minor) for r in returned.refunds] == [("cash", coffee)]

        kept = sum(total for _, total, _, _ in sales)
        paid_in = await api.PayIn(
            pb.CashMovementRequest(shift_id=shift.shift_id, amount=eur(10_00), reason="coins")
        )
        assert paid_in.expected == eur(50_00 + kept - coffee + 10_00)
        paid_out = await api.PayOut(
            pb.CashMovementRequest(shift_id=shift.shift_id, amount=eur(4_00), reason="milk")
        )
        expected = 50_00 + kept - coffee + 10_00 - 4_00
        assert paid_out.expected == eur(expected)
        counted = [
            pb.DenominationCount(denomination_minor=int(d), count=n)
            for d, n in count_cash(expected).items()
        ]
        z = await api.CloseShift(pb.CloseShiftRequest(shift_id=shift.shift_id, counted=counted))
        assert (z.kind, z.status) == ("Z", "closed")
        assert z.float == eur(50_00) and z.cash_sales == eur(kept)
        assert z.cash_refunds == eur(coffee) and z.expected == eur(expected)
        assert (z.paid_in, z.paid_out) == (eur(10_00), eur(4_00))
        assert z.counted_total == eur(expected) and z.variance == eur(0)

        for sale_id, total, handed, number in sales:
            text = await api.GetReceipt(pb.GetReceiptRequest(sale_id=sale_id))
            html = await api.GetReceipt(
                pb.GetReceiptRequest(sale_id=sale_id, format=pb.RECEIPT_FORMAT_HTML)
            )
            assert text.receipt_number == html.receipt_number == number
            assert format_money(total, CURRENCY) in text.text
            assert format_money(handed - total, CURRENCY) in text.text
            assert number in html.html and format_money(total, CURRENCY) in html.html

    async def stock_and_analytics() -> None:
        coffee_level = await bus.ask(
            "inventory", "stock", {"store_id": GRPC_STORE, "sku": "DAY-COFFEE"}
        )
        assert (coffee_level["sold"], coffee_level["on_hand"]) == (2, RECEIVED - 1)
        rows = (await bus.ask("analytics", "sales_totals", {"store_id": GRPC_STORE}))["rows"]
        assert [sum(r[k] for r in rows) for k in ("sales_count", "total_minor")] == [2, kept]

    await eventually(stock_and_analytics)
