"""A cashier's lane, driven over the real bus: the commands a lane sends to checkout (and the
setup a back office sends to inventory, crm and payments), with a ledger of what the lane saw,
so the tests can say what every service must now hold.

Card numbers are Luhn test PANs made in memory (edge_agent.cards); gift card numbers are
random digits made in memory. Neither is written anywhere by the test.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import uuid4

import nats.errors

from edge_agent.cards import test_card
from tillstream.bus import command_subject

T = TypeVar("T")

#: EUR notes and coins, largest first, in minor units.
EUR_DENOMINATIONS = (5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1)


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
    """Retry `check` until it stops raising AssertionError (events travel asynchronously)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


def count_cash(amount_minor: int) -> dict[str, int]:
    """The drawer's content as a cashier counts it: {"<denomination>": count}, greedy."""
    counted: dict[str, int] = {}
    left = amount_minor
    for denomination in EUR_DENOMINATIONS:
        count, left = divmod(left, denomination)
        if count:
            counted[str(denomination)] = count
    return counted


class Refused(AssertionError):
    """A command was refused where the test expected an answer."""


#: Fields of a command that carry a card or gift card number: never in a message.
SECRET_FIELDS = ("pan", "number")


def redacted(body: dict[str, Any]) -> dict[str, Any]:
    """The body with card and gift card numbers masked (for assertion messages)."""
    return {k: f"...{v[-4:]}" if k in SECRET_FIELDS else v for k, v in body.items()}


@dataclass
class Bus:
    """Request/reply commands to the services for one store."""

    nc: Any
    store_id: str
    #: Seconds a command may take (a card tender waits for the acquirer).
    timeout: float = 20.0

    async def request(self, service: str, command: str, body: dict[str, Any]) -> dict[str, Any]:
        """The JSON reply. Sent once (a timed-out tender is not resent: its second answer
        could be "in progress"), retried only while nobody listens on the subject yet."""
        subject = command_subject(service, command, self.store_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            try:
                msg = await self.nc.request(
                    subject, json.dumps(body).encode(), timeout=self.timeout
                )
            except nats.errors.NoRespondersError:
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.05)
                continue
            reply: dict[str, Any] = json.loads(msg.data)
            return reply

    async def ask(self, service: str, command: str, body: dict[str, Any]) -> dict[str, Any]:
        """The reply of a command that must succeed."""
        reply = await self.request(service, command, body)
        if not reply.get("ok"):
            raise Refused(f"{service}.{command} {redacted(body)}: {reply}")
        return reply

    async def refusal(self, service: str, command: str, body: dict[str, Any]) -> str:
        """The error code of a command that must be refused."""
        reply = await self.request(service, command, body)
        assert not reply.get("ok"), f"{service}.{command} was not refused: {reply}"
        return str(reply["error"]["code"])


@dataclass
class SaleRecord:
    """A sale as the lane rang it up: what it expects of every service afterwards."""

    sale_id: str
    lines: list[tuple[int, str, int, int]]  # (line_no, sku, quantity, unit price)
    customer_id: str = ""
    tenders: list[tuple[str, int]] = field(default_factory=list)  # (kind, amount) accepted
    card_payment_ids: list[str] = field(default_factory=list)
    declined: int = 0
    change_minor: int = 0
    status: str = "open"
    receipt_number: str = ""
    asked: dict[str, int] = field(default_factory=dict)  # tender requests per kind

    def next_key(self, kind: str) -> str:
        """The lane's key of the sale's next tender of `kind` ("card-1", "card-2"): per sale,
        the same keys recur in every sale (checkout scopes every tender key by its sale)."""
        self.asked[kind] = self.asked.get(kind, 0) + 1
        return f"{kind}-{self.asked[kind]}"

    @property
    def total_minor(self) -> int:
        return sum(quantity * price for _, _, quantity, price in self.lines)

    @property
    def items(self) -> int:
        return sum(quantity for _, _, quantity, _ in self.lines)

    def tendered(self, kind: str) -> int:
        return sum(amount for k, amount in self.tenders if k == kind)

    @property
    def cash_kept_minor(self) -> int:
        """The cash the drawer keeps from this sale: tendered minus change."""
        return self.tendered("cash") - self.change_minor

    @property
    def due_minor(self) -> int:
        return self.total_minor - sum(amount for _, amount in self.tenders)


@dataclass
class Till:
    """One lane of the store with its cashier: rings up sales over the lanes' NATS path."""

    bus: Bus
    lane_id: str
    cashier_id: str
    prices: dict[str, int]
    currency: str = "EUR"
    rng: random.Random = field(default_factory=lambda: random.Random(20261124))
    sales: list[SaleRecord] = field(default_factory=list)

    def _sale_body(self, sale: SaleRecord, **extra: Any) -> dict[str, Any]:
        return {"sale_id": sale.sale_id, **extra}

    async def checkout(self, command: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.bus.ask("checkout", command, body)

    async def ring_up(self, items: list[tuple[str, int]], customer_id: str = "") -> SaleRecord:
        """Open a sale, scan its lines (and the loyalty card); the lane's running total must
        be the catalog prices times the quantities."""
        sale = SaleRecord(str(uuid4()), [], customer_id)
        opened = await self.checkout(
            "open_sale",
            {
                "sale_id": sale.sale_id,
                "store_id": self.bus.store_id,
                "lane_id": self.lane_id,
                "cashier_id": self.cashier_id,
                "currency": self.currency,
            },
        )
        assert opened["status"] == "open"
        for line_no, (sku, quantity) in enumerate(items, start=1):
            added = await self.checkout(
                "add_line",
                {"sale_id": sale.sale_id, "line_no": line_no, "sku": sku, "quantity": quantity},
            )
            sale.lines.append((line_no, sku, quantity, self.prices[sku]))
            assert added["unit_price_minor"] == self.prices[sku]
            assert added["line_total_minor"] == quantity * self.prices[sku]
            assert added["total_minor"] == sale.total_minor
        if customer_id:
            await self.checkout(
                "attach_customer", {"sale_id": sale.sale_id, "customer_id": customer_id}
            )
        self.sales.append(sale)
        return sale

    async def view(self, sale: SaleRecord) -> dict[str, Any]:
        return await self.checkout("get_sale", {"sale_id": sale.sale_id})

    async def wait_paid(self, sale: SaleRecord) -> dict[str, Any]:
        """Wait until checkout has counted every accepted tender (card, gift card and points
        arrive as events from payments and crm)."""
        paid = sum(amount for _, amount in sale.tenders)

        async def counted() -> dict[str, Any]:
            view = await self.view(sale)
            assert view["paid_minor"] == paid, view
            return view

        view = await eventually(counted)
        if view["status"] == "completed":
            self._completed(sale, view)
        return view

    def _completed(self, sale: SaleRecord, view: dict[str, Any]) -> None:
        assert view["total_minor"] == sale.total_minor
        sale.status = "completed"
        sale.change_minor = view["change_minor"]
        sale.receipt_number = view["receipt_number"]

    async def cash(
        self, sale: SaleRecord, amount_minor: int, retried: bool = False
    ) -> dict[str, Any]:
        """Cash handed over; when it completes the sale, the change is what was over.

        The key numbers the sale's cash tenders ("cash-1", "cash-2"), as a lane does: the
        same keys recur in every sale. `retried` sends the tender twice (a lane that lost the
        first answer): the second answer must be the first, and nothing counted twice."""
        due = sale.due_minor
        body = {
            "sale_id": sale.sale_id,
            "kind": "cash",
            "amount_minor": amount_minor,
            "idempotency_key": sale.next_key("cash"),
        }
        reply = await self.checkout("tender", body)
        if retried:
            assert await self.checkout("tender", body) == reply
        sale.tenders.append(("cash", amount_minor))
        if amount_minor >= due:
            assert reply["sale_status"] == "completed", reply
            assert reply["change_minor"] == amount_minor - due
            self._completed(sale, await self.view(sale))
        else:
            assert reply["sale_status"] == "open" and reply["due_minor"] == due - amount_minor
        return reply

    async def forwarded(self, sale: SaleRecord, body: dict[str, Any]) -> dict[str, Any]:
        """A tender checkout forwards to payments or crm, under the sale's next key of its
        kind; sent twice (a lane that lost the answer): the retry gets the first answer."""
        body = {"sale_id": sale.sale_id, "idempotency_key": sale.next_key(body["kind"]), **body}
        reply = await self.checkout("tender", body)
        assert await self.checkout("tender", body) == reply
        return reply

    async def retried_after_counted(
        self, sale: SaleRecord, body: dict[str, Any], reply: dict[str, Any]
    ) -> None:
        """Once checkout counted the tender (even completed the sale), the same request
        again still gets the first answer, and nothing is counted twice."""
        key = f"{body['kind']}-{sale.asked[body['kind']]}"
        again = await self.checkout(
            "tender", {"sale_id": sale.sale_id, "idempotency_key": key, **body}
        )
        assert again == reply, (again, reply)
        view = await self.view(sale)
        assert view["paid_minor"] == sum(amount for _, amount in sale.tenders), view

    async def card(self, sale: SaleRecord, amount_minor: int, outcome: str = "approve") -> bool:
        """A card tender through payments (ISO 8583 to the acquirer simulator); approved or
        declined as the test card's range says. Waits until checkout counted it."""
        pan, expiry = test_card(self.rng, outcome)
        body = {"kind": "card", "amount_minor": amount_minor, "pan": pan, "expiry": expiry}
        reply = await self.forwarded(sale, body)
        approved = reply["status"] == "approved"
        assert approved == (outcome == "approve"), reply
        if approved:
            sale.tenders.append(("card", amount_minor))
            sale.card_payment_ids.append(reply["payment_id"])
            await self.wait_paid(sale)
            await self.retried_after_counted(sale, body, reply)
        else:
            sale.declined += 1
            assert reply["response_code"] == outcome, reply
        return approved

    async def gift_card(self, sale: SaleRecord, number: str, amount_minor: int) -> None:
        body = {"kind": "gift_card", "amount_minor": amount_minor, "number": number}
        reply = await self.forwarded(sale, body)
        assert reply["status"] == "approved", reply
        sale.tenders.append(("gift_card", amount_minor))
        await self.wait_paid(sale)
        await self.retried_after_counted(sale, body, reply)

    async def points(self, sale: SaleRecord, amount_minor: int) -> None:
        """Loyalty points as a tender (crm redeems them for the sale's customer)."""
        body = {"kind": "loyalty", "amount_minor": amount_minor}
        reply = await self.forwarded(sale, body)
        assert reply["status"] == "approved", reply
        sale.tenders.append(("loyalty", amount_minor))
        await self.wait_paid(sale)
        await self.retried_after_counted(sale, body, reply)

    @property
    def completed(self) -> list[SaleRecord]:
        return [sale for sale in self.sales if sale.status == "completed"]

    def total_by_tender(self) -> dict[str, int]:
        """What the completed sales took per tender kind (cash net of change)."""
        totals: dict[str, int] = {}
        for sale in self.completed:
            for kind, amount in sale.tenders:
                totals[kind] = totals.get(kind, 0) + amount
            if sale.change_minor:
                totals["cash"] -= sale.change_minor
        return totals


def gift_card_number(rng: random.Random) -> str:
    """A 16-digit gift card number, made in memory."""
    return "".join(str(rng.randrange(10)) for _ in range(16))
