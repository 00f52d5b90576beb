"""Simulated lanes: they ring up sales through checkout and pay through payments, over NATS
request/reply. Used by `up --demo`, `simulate`, the end-to-end tests and the benchmarks.

A lane either talks to the platform directly (`cmd.<service>.<store>.<command>`) or, as real
lanes do, through its store's edge agent (`lane.<store>.<service>.<command>`, `gateway=True`,
connected to the store's NATS), which keeps it selling offline when checkout is unreachable.
With `terminal=True` (through the agent) the customer pays by card on the lane's terminal
(`lane.<store>.terminal.pay`), trying another card after a decline, then cash.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client

from edge_agent.cards import test_card
from edge_agent.gateway import lane_subject
from tillstream.bus import command_subject
from tillstream.codec import decode

#: The float a simulated lane opens its shift with (EUR 100.00).
DEMO_FLOAT_MINOR = 100_00


def demo_pin(store_id: str, lane_id: str) -> str:
    """The simulated cashier's PIN: six digits derived from store and lane, made in memory and
    never written anywhere. (A demo only: a real cashier chooses a PIN.)"""
    digest = hashlib.sha256(f"tillstream-demo-pin:{store_id}:{lane_id}".encode()).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"


class LaneError(RuntimeError):
    """A command was refused by the platform."""

    def __init__(self, command: str, error: dict[str, Any]) -> None:
        super().__init__(f"{command}: {error.get('code')}: {error.get('message')}")
        self.code = str(error.get("code", ""))


@dataclass
class CompletedSale:
    sale_id: str
    total_minor: int
    quantity: int
    customer_id: str
    tender_to_completed_ms: float
    tender: str = "card"
    offline: bool = False


#: Cards a customer tries on the terminal before paying cash.
TERMINAL_TRIES = 3


@dataclass
class LaneStats:
    completed: list[CompletedSale] = field(default_factory=list)
    declines: int = 0
    #: declines on the terminal by outcome (wrong_pin, card_locked, declined, ...)
    terminal_declines: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


class CompletionWatcher:
    """Resolves a future per sale id when checkout publishes its SaleCompleted event."""

    def __init__(self, nc: Client, store_id: str) -> None:
        self.nc = nc
        self.store_id = store_id
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self.sub: Any = None

    async def start(self) -> None:
        self.sub = await self.nc.subscribe(
            f"checkout.{self.store_id}.sale.completed", cb=self._on_msg
        )

    async def _on_msg(self, msg: Any) -> None:
        event = decode(msg.subject, msg.data, msg.headers)
        future = self.waiting.pop(event.message.sale_id, None)  # type: ignore[attr-defined]
        if future is not None and not future.done():
            future.set_result(time.perf_counter())

    def expect(self, sale_id: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[sale_id] = future
        return future

    async def stop(self) -> None:
        if self.sub is not None:
            await self.sub.unsubscribe()


class Lane:
    """One checkout lane of a store."""

    def __init__(
        self,
        nc: Client,
        store_id: str,
        lane_id: str,
        skus: list[str],
        customers: list[str],
        watcher: CompletionWatcher,
        *,
        seed: int = 0,
        decline_rate: float = 0.05,
        timeout: float = 10.0,
        gateway: bool = False,
        cash_rate: float = 0.0,
        terminal: bool = False,
    ) -> None:
        self.nc = nc
        self.store_id = store_id
        self.lane_id = lane_id
        self.skus = skus
        self.customers = customers
        self.watcher = watcher
        self.rng = random.Random(f"{store_id}-{lane_id}-{seed}")
        self.decline_rate = decline_rate
        self.timeout = timeout
        self.gateway = gateway
        self.cash_rate = cash_rate
        #: cards go through the lane's terminal at the store's agent (needs `gateway`)
        self.terminal = terminal
        self.stats = LaneStats()
        self.cashier_id = f"cashier-{lane_id}"
        #: the lane's open shift, once `start_shift` has opened (or found) it
        self.shift_id: str | None = None

    async def command(self, service: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        subject = (
            lane_subject(self.store_id, service, name)
            if self.gateway
            else command_subject(service, name, self.store_id)
        )
        reply = await self.nc.request(
            subject,
            json.dumps(body).encode(),
            timeout=self.timeout,
        )
        answer = json.loads(reply.data)
        if not answer.get("ok"):
            raise LaneError(name, answer.get("error", {}))
        return dict(answer)

    async def start_shift(self) -> str:
        """Register the lane's cashier (idempotent) and open a shift (or find the one this
        cashier left open on the lane); its id."""
        pin = demo_pin(self.store_id, self.lane_id)
        await self.command(
            "checkout",
            "register_cashier",
            {
                "store_id": self.store_id,
                "cashier_id": self.cashier_id,
                "name": f"Cashier of lane {self.lane_id}",
                "pin": pin,
            },
        )
        answer = await self.command(
            "checkout",
            "open_shift",
            {
                "store_id": self.store_id,
                "lane_id": self.lane_id,
                "cashier_id": self.cashier_id,
                "pin": pin,
                "float_minor": DEMO_FLOAT_MINOR,
                "currency": "EUR",
            },
        )
        del pin
        self.shift_id = str(answer["shift_id"])
        return self.shift_id

    async def ring_up(self) -> CompletedSale:
        """One whole sale: open, scan 1-5 lines, maybe a customer, pay by card, completed.
        The lane's shift is opened first if it is not yet."""
        if self.shift_id is None:
            await self.start_shift()
        sale_id = str(uuid.uuid4())
        try:
            await self.command(
                "checkout",
                "open_sale",
                {
                    "sale_id": sale_id,
                    "store_id": self.store_id,
                    "lane_id": self.lane_id,
                    "cashier_id": self.cashier_id,
                    "currency": "EUR",
                },
            )
        except LaneError as exc:
            if exc.code == "no_shift":  # closed elsewhere: open a new one next time
                self.shift_id = None
            raise
        quantity = 0
        due = 0
        for line_no in range(1, self.rng.randint(1, 5) + 1):
            qty = self.rng.randint(1, 3)
            added = await self.command(
                "checkout",
                "add_line",
                {
                    "sale_id": sale_id,
                    "line_no": line_no,
                    "sku": self.rng.choice(self.skus),
                    "quantity": qty,
                },
            )
            quantity += qty
            due = int(added["total_minor"])  # the lane's display: the basket total so far
        customer_id = ""
        if self.customers and self.rng.random() < 0.3:
            customer_id = self.rng.choice(self.customers)
            await self.command(
                "checkout", "attach_customer", {"sale_id": sale_id, "customer_id": customer_id}
            )
        done = self.watcher.expect(sale_id)
        started = time.perf_counter()
        try:
            if self.rng.random() < self.cash_rate:
                tender, answer = "cash", await self._pay_cash(sale_id, due)
            else:
                try:
                    tender, answer = "card", await self._pay_card(sale_id, due)
                except LaneError as exc:
                    if exc.code != "offline_limit":
                        raise
                    # Over the store's offline card limits: the customer pays cash.
                    tender, answer = "cash", await self._pay_cash(sale_id, due)
            tender = str(answer.get("tender", tender))  # a card refused, then cash
            offline = bool(answer.get("offline"))
            if offline and answer.get("sale_status") == "completed":
                finished = time.perf_counter()  # the agent completed it in the store
            else:
                finished = await asyncio.wait_for(done, self.timeout)
        finally:
            self.watcher.waiting.pop(sale_id, None)
        completed = CompletedSale(
            sale_id, due, quantity, customer_id, (finished - started) * 1000.0, tender, offline
        )
        self.stats.completed.append(completed)
        return completed

    async def _pay_cash(self, sale_id: str, due: int) -> dict[str, Any]:
        """Cash, rounded up to the next whole 5.00 now and then: change to give back."""
        given = due if self.rng.random() < 0.5 else -(-due // 500) * 500
        return await self.command(
            "checkout",
            "tender_cash",
            {"sale_id": sale_id, "amount_minor": given, "idempotency_key": f"{sale_id}:cash"},
        )

    async def _pay_card(self, sale_id: str, due: int) -> dict[str, Any]:
        """Card at the terminal; a decline is retried with another card."""
        if self.terminal:
            return await self._pay_on_terminal(sale_id, due)
        attempt = 0
        while True:
            attempt += 1
            outcome = "51" if attempt == 1 and self.rng.random() < self.decline_rate else "approve"
            pan, expiry = test_card(self.rng, outcome)
            answer = await self.command(
                "payments",
                "authorize",
                {
                    "idempotency_key": f"{sale_id}:{attempt}",
                    "lane_id": self.lane_id,
                    "sale_id": sale_id,
                    "store_id": self.store_id,
                    "amount_minor": due,
                    "currency": "EUR",
                    "pan": pan,
                    "expiry": expiry,
                },
            )
            del pan
            if answer["status"] == "approved":
                return answer
            self.stats.declines += 1

    async def _pay_on_terminal(self, sale_id: str, due: int) -> dict[str, Any]:
        """The customer pays on the lane's card terminal (through the agent). A declined card
        (wrong PIN, locked, refused) is tried again, then the customer pays cash; a terminal
        that did not answer is not retried blindly (the card may have been charged)."""
        for attempt in range(1, TERMINAL_TRIES + 1):
            answer = await self.command(
                "terminal",
                "pay",
                {
                    "idempotency_key": f"terminal:{attempt}",
                    "sale_id": sale_id,
                    "lane_id": self.lane_id,
                    "amount_minor": due,
                    "currency": "EUR",
                },
            )
            if answer["status"] == "approved":
                return answer
            self.stats.declines += 1
            self.stats.terminal_declines[str(answer.get("outcome", ""))] += 1
            if answer["status"] != "declined":
                raise LaneError("terminal.pay", {"code": "no_answer", "message": answer["reason"]})
        return {**await self._pay_cash(sale_id, due), "tender": "cash"}

    async def run(
        self,
        stop: asyncio.Event,
        sales: int | None = None,
        pause: float = 0.0,
        interval: float = 0.0,
    ) -> None:
        """Ring up sales until `stop` is set (or `sales` are done); errors are counted.

        `pause` waits after each sale; `interval` paces sale starts (start to start).
        """
        loop = asyncio.get_running_loop()
        next_start = loop.time()
        done = 0
        while not stop.is_set() and (sales is None or done < sales):
            try:
                await self.ring_up()
                done += 1
            except (LaneError, TimeoutError) as exc:
                self.stats.errors.append(str(exc))
                await asyncio.sleep(0.2)
            except Exception as exc:  # no responders while a service restarts
                self.stats.errors.append(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(0.5)
            if pause:
                await asyncio.sleep(pause)
            if interval:
                next_start += interval
                await asyncio.sleep(max(0.0, next_start - loop.time()))
