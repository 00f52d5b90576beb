"""The lanes' devices in the agent: a card terminal and a receipt printer per lane.

- `lane.<store>.terminal.pay` {sale_id, lane_id, amount_minor, currency, idempotency_key}: the
  lane's terminal takes the card (the blocking driver runs in a thread). Approved online, the
  agent writes a TerminalApproval (offline=false) to the store stream: payments records it as
  captured and checkout completes the sale from its PaymentCaptured. Offline, the store takes
  it within its offline limits (checked before the card is charged) and completes the sale
  itself. Declined: the lane hears why (wrong PIN, card locked, ...). The terminal's prompts and
  outcomes are TerminalEvents on the store stream.
- Receipts: a sale checkout completes (SaleCompleted on the store's NATS) is printed from
  checkout's `receipt` text; an offline sale from the agent's own OFFLINE receipt. Each is a
  durable print job (PrintJournal, one job per sale id), printed by the lane's PrintWorker and
  reported once as ReceiptPrinted.
- A cash tender kicks the lane's drawer. Device health changes are DeviceStatus events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.message import Message
from nats.aio.msg import Msg

from edge_agent.config import EdgeConfig
from edge_agent.devices import (
    PrintJournal,
    PrintWorker,
    Receipt,
    ReceiptLine,
    TerminalOutcome,
    TerminalResult,
    VirtualTerminal,
    terminal_approval,
)
from edge_agent.devices.factory import StoreDevices, open_devices
from edge_agent.devices.virtual_terminal import SCENARIOS
from edge_agent.gateway import PAYMENT_NAMESPACE, Gateway, now_ms
from edge_agent.offline import OfflineLimitError
from tillstream.codec import decode
from tillstream.commands import integer, text
from tillstream.events.v1.edge_pb2 import DeviceStatus, ReceiptPrinted, TerminalEvent
from tillstream.service import CommandError

log = logging.getLogger(__name__)

#: What the lane is told for each way a card payment can fail.
REASONS = {
    TerminalOutcome.DECLINED: "declined by the card issuer",
    TerminalOutcome.WRONG_PIN: "wrong PIN",
    TerminalOutcome.CARD_LOCKED: "card locked after three wrong PINs",
    TerminalOutcome.READ_FAILED: "the card could not be read",
    TerminalOutcome.NO_ANSWER: "the terminal did not answer: check it before taking another card",
}
#: Tries to write an approval to the store stream before the lane is told it failed.
APPROVAL_TRIES = 5
#: The refusal code of a card approved on the terminal whose approval could not be written.
UNRECORDED = "unrecorded"
#: Seconds a printed receipt's event may take to reach the store stream before it is retried.
PUBLISH_TIMEOUT = 10.0


def parse_mix(value: str) -> dict[str, float]:
    """ "approve:0.9,decline:0.1" -> weights of a virtual terminal's scenarios."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        name, _, weight = part.partition(":")
        if name not in SCENARIOS:
            raise ValueError(f"terminal_mix: unknown scenario {name!r}; known: {sorted(SCENARIOS)}")
        try:
            mix[name] = float(weight)
        except ValueError:
            raise ValueError(f"terminal_mix: weight of {name!r} is not a number") from None
        if mix[name] < 0:
            raise ValueError(f"terminal_mix: weight of {name!r} is negative")
    if mix and not sum(mix.values()) > 0:
        raise ValueError("terminal_mix: the weights add up to nothing")
    return mix


def receipt_of(sale_id: str, receipt_number: str, text_: str) -> Receipt:
    """A printable receipt from rendered text (checkout's, or the agent's OFFLINE one). The
    drawer is kicked at the cash tender, not by the receipt."""
    lines = tuple(ReceiptLine(line) for line in text_.splitlines())
    return Receipt(receipt_number=receipt_number, sale_id=sale_id, lines=lines)


@dataclass
class Till:
    """One lane's opened devices and its print worker's thread."""

    lane_id: str
    devices: StoreDevices
    worker: PrintWorker | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def simulators(self) -> list[Any]:
        return self.devices.simulators

    @property
    def virtual_terminal(self) -> VirtualTerminal | None:
        return next((s for s in self.simulators if isinstance(s, VirtualTerminal)), None)


class Tills:
    """Every lane's terminal and printer, wired to the gateway and the store stream."""

    def __init__(self, gateway: Gateway, config: EdgeConfig) -> None:
        self.gateway = gateway
        self.config = config
        self.store_id = config.store_id
        self.tills: dict[str, Till] = {}
        self.journal: PrintJournal | None = None
        self.counters = {"terminal_approved": 0, "terminal_declined": 0, "receipts_queued": 0,
                         "receipts_printed": 0, "drawer_kicks": 0}  # fmt: skip
        self._answers: dict[str, asyncio.Future[dict[str, Any]]] = {}
        #: offline card amounts on terminals right now, not yet in the ledger
        self._reserved = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sub: Any = None

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open each lane's devices, resume the print journal, serve `terminal.pay`."""
        if not self.config.lanes:
            return
        self._loop = asyncio.get_running_loop()
        Path(self.config.data_dir).mkdir(parents=True, exist_ok=True)
        self.journal = PrintJournal(Path(self.config.data_dir) / "print-jobs.sqlite")
        try:
            for lane_id, settings in self.config.lanes.items():
                self.tills[lane_id] = await asyncio.to_thread(self._open, lane_id, settings)
        except BaseException:
            await self.stop()
            raise
        for till in self.tills.values():
            self._start_worker(till)
        self.gateway.local["terminal"] = {"pay": self.pay}
        self.gateway.listeners.append(self.on_lane_answer)
        self._sub = await self.gateway.nc.subscribe(
            f"checkout.{self.store_id}.sale.completed", cb=self._on_sale_completed
        )

    def _open(self, lane_id: str, settings: Mapping[str, str]) -> Till:
        mix = parse_mix(settings.get("terminal_mix", ""))
        lane_settings = {
            "terminal_id": f"terminal-{lane_id}",
            "printer_id": f"printer-{lane_id}",
            **settings,
        }
        devices = open_devices(
            lane_settings,
            store_id=self.store_id,
            on_terminal_event=self._on_terminal_event,
            on_device_status=self._on_device_status,
            health_interval=self.config.device_health_interval,
        )
        till = Till(lane_id, devices)
        if mix and till.virtual_terminal is not None:
            till.virtual_terminal.mix = mix  # the demo's weighted outcomes
        return till

    def _start_worker(self, till: Till) -> None:
        if till.devices.printer is None or self.journal is None:
            return
        till.worker = PrintWorker(
            self.journal, till.devices.printer, store_id=self.store_id, on_printed=self._printed
        )
        till.thread = threading.Thread(
            target=self._print_loop, args=(till,), name=f"print-{till.lane_id}", daemon=True
        )
        till.thread.start()

    def _print_loop(self, till: Till) -> None:
        """The worker until stopped; an event that could not be published is retried."""
        assert till.worker is not None
        while not till.stop.is_set():
            try:
                till.worker.run(till.stop)
            except Exception:
                log.exception("print worker of lane %s", till.lane_id)
                till.stop.wait(1.0)

    async def stop(self) -> None:
        """Stop the workers, close the devices (and their simulators), close the journal."""
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        self.gateway.local.pop("terminal", None)
        if self.on_lane_answer in self.gateway.listeners:
            self.gateway.listeners.remove(self.on_lane_answer)
        tills, self.tills = self.tills, {}
        for till in tills.values():
            till.stop.set()
        for till in tills.values():
            if till.thread is not None:
                await asyncio.to_thread(till.thread.join, 15)
            await asyncio.to_thread(till.devices.close)
        if self.journal is not None:
            self.journal.close()
            self.journal = None

    def till(self, lane_id: str) -> Till:
        till = self.tills.get(lane_id)
        if till is None:
            raise CommandError(f"lane {lane_id!r} has no devices in store {self.store_id}",
                               "not_found")  # fmt: skip
        return till

    # -- events from the drivers' threads -----------------------------------------------------

    def _publish_from_thread(
        self, aggregate: str, event: str, message: Message, key: str
    ) -> Future[None]:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(
            self.gateway.publish(aggregate, event, message, key), self._loop
        )

    def _on_terminal_event(self, event: TerminalEvent) -> None:
        future = self._publish_from_thread(
            "device", "terminal_event", event, f"terminal:{uuid.uuid4()}"
        )
        future.add_done_callback(_log_failure("terminal event"))

    def _on_device_status(self, status: DeviceStatus) -> None:
        key = f"status:{status.device_id}:{status.status}:{status.at_ms}"
        future = self._publish_from_thread("device", "status", status, key)
        future.add_done_callback(_log_failure("device status"))

    def _printed(self, printed: ReceiptPrinted) -> None:
        """Called by the worker after "printed" is committed: the event is in the stream
        before the job counts as reported (its id is the job's, so a retry is stored once)."""
        self._publish_from_thread("print", "printed", printed, f"print:{printed.job_id}").result(
            PUBLISH_TIMEOUT
        )
        self.counters["receipts_printed"] += 1

    # -- card payments ------------------------------------------------------------------------

    async def pay(self, body: dict[str, Any]) -> dict[str, Any]:
        """A card on the lane's terminal; the same idempotency key gets the same answer (the
        card is never charged twice for one key)."""
        key = f"{text(body, 'sale_id')}:{text(body, 'idempotency_key')}"
        pending = self._answers.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._answers[key] = future
        try:
            answer = await self._pay(body, key)
        except BaseException as exc:
            if not (isinstance(exc, CommandError) and exc.code == UNRECORDED):
                del self._answers[key]  # nothing was charged: the lane may try again
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning
            raise
        future.set_result(answer)
        return answer

    async def _pay(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        sale_id = str(uuid.UUID(text(body, "sale_id")))
        lane_id = text(body, "lane_id")
        amount = integer(body, "amount_minor")
        currency = text(body, "currency")
        if amount <= 0:
            raise CommandError("amount_minor must be positive", "invalid")
        terminal = self.till(lane_id).devices.terminal
        if terminal is None:
            raise CommandError(f"lane {lane_id!r} has no card terminal", "not_found")
        offline = self.gateway.sells_offline(sale_id)
        if not offline:
            result = await asyncio.to_thread(terminal.pay, amount, currency, sale_id)
            return await self._answer(result, key, lane_id, terminal.device_id, offline=False)
        await self._check_offline(sale_id, amount, currency)
        self._reserved += amount  # other lanes' cards meanwhile count against the limits
        try:
            result = await asyncio.to_thread(terminal.pay, amount, currency, sale_id)
            return await self._answer(result, key, lane_id, terminal.device_id, offline=True)
        finally:
            self._reserved -= amount

    async def _answer(
        self, result: TerminalResult, key: str, lane_id: str, terminal_id: str, *, offline: bool
    ) -> dict[str, Any]:
        """The lane's answer to the terminal's result; an approval is booked first."""
        sale_id = result.sale_id
        if not result.approved:
            self.counters["terminal_declined"] += 1
            return {
                "ok": True,
                "status": "declined" if result.outcome != TerminalOutcome.NO_ANSWER else "unknown",
                "outcome": str(result.outcome),
                "reason": REASONS.get(result.outcome, str(result.outcome)),
                "sale_id": sale_id,
            }
        self.counters["terminal_approved"] += 1
        payment_id = str(uuid.uuid5(PAYMENT_NAMESPACE, f"{self.store_id}:terminal:{key}"))
        approval = terminal_approval(
            result,
            payment_id=payment_id,
            store_id=self.store_id,
            lane_id=lane_id,
            terminal_id=terminal_id,
            offline=offline,
        )
        card = _card_fields(result)
        if offline:
            try:
                async with self.gateway.lock:
                    sale = self.gateway.offline_sale(sale_id)
                    answer = await self.gateway.record_offline_card(sale, approval)
            except Exception as exc:
                log.exception("offline approval %s not booked", payment_id)
                raise CommandError(
                    f"the card was approved but could not be booked offline ({exc}): call a "
                    "supervisor",
                    UNRECORDED,
                ) from exc
            # A completed sale's OFFLINE receipt is queued by `on_lane_answer`.
            return {"ok": True, "offline": True, **answer, **card}
        await self._publish_approval(approval)
        return {
            "ok": True,
            "status": "approved",
            "payment_id": payment_id,
            "sale_id": sale_id,
            "sale_status": "pending",  # checkout completes it from payments' capture
            **card,
        }

    async def _publish_approval(self, approval: Message) -> None:
        """The approval into the store stream (the store's own server: a failure is brief).
        The card is charged already: if it cannot be written the lane is told so, and the
        same key never charges the card again."""
        key = f"approval:{approval.payment_id}"  # type: ignore[attr-defined]
        for attempt in range(1, APPROVAL_TRIES + 1):
            try:
                await self.gateway.publish("payment", "terminal_approved", approval, key)
                return
            except Exception as exc:
                log.warning("terminal approval not written (try %d): %s", attempt, exc)
                await asyncio.sleep(0.5 * attempt)
        raise CommandError(
            "the card was approved but the approval could not be recorded: call a supervisor",
            UNRECORDED,
        )

    async def _check_offline(self, sale_id: str, amount: int, currency: str) -> None:
        """Refuse before the card is charged what the store may not take offline."""
        async with self.gateway.lock:
            sale = self.gateway.offline_sale(sale_id)
            if currency != sale.currency:
                raise CommandError(f"the sale is in {sale.currency}", "invalid")
            if amount > sale.due_minor:
                raise CommandError(f"{amount} is more than the {sale.due_minor} due", "invalid")
            ledger = self.gateway.ledger
            try:
                ledger.check_card(amount, now_ms())
            except OfflineLimitError as exc:
                raise CommandError(str(exc), "offline_limit") from exc
            if ledger.card_total_minor + self._reserved + amount > ledger.limits.total_minor:
                raise CommandError(
                    f"offline card total would exceed {ledger.limits.total_minor} "
                    "with the cards being paid on other lanes",
                    "offline_limit",
                )

    # -- receipts and the drawer --------------------------------------------------------------

    async def on_lane_answer(
        self, service: str, command: str, body: dict[str, Any], answer: dict[str, Any]
    ) -> None:
        """A lane command answered through the gateway: cash kicks the drawer; a sale the
        store completed offline (cash or card) gets its OFFLINE receipt."""
        sale_id = str(body.get("sale_id", ""))
        lane_id = self.gateway.lane_of(sale_id)
        if service == "checkout" and command == "tender_cash":
            till = self.tills.get(lane_id or "")
            if till is not None and till.devices.printer is not None:
                await asyncio.to_thread(till.devices.printer.kick_drawer)
                self.counters["drawer_kicks"] += 1
        if answer.get("offline"):
            await self._print_offline(answer, lane_id)

    async def _print_offline(self, answer: dict[str, Any], lane_id: str | None = None) -> None:
        if answer.get("sale_status") != "completed" or not answer.get("receipt"):
            return
        sale_id = str(answer["sale_id"])
        lane = lane_id or self.gateway.lane_of(sale_id) or _lane_in(answer["receipt_number"])
        await self.queue_receipt(
            lane, receipt_of(sale_id, str(answer["receipt_number"]), str(answer["receipt"]))
        )

    async def _on_sale_completed(self, msg: Msg) -> None:
        try:
            event = decode(msg.subject, msg.data, msg.headers)
            sale: Any = event.message
            if sale.offline or sale.lane_id not in self.tills:
                return  # an offline sale had its receipt in the store already
            reply = await self.gateway.handle(
                "checkout", "receipt", {"sale_id": sale.sale_id, "format": "text"}
            )
            if not reply.get("ok"):
                log.warning("no receipt for sale %s: %s", sale.sale_id, reply.get("error"))
                return
            receipt = receipt_of(sale.sale_id, reply["receipt_number"], reply["text"])
            await self.queue_receipt(sale.lane_id, receipt)
        except Exception:
            log.exception("receipt of a completed sale")

    async def queue_receipt(self, lane_id: str, receipt: Receipt) -> bool:
        """A durable print job on the lane's printer, one per sale id; False when the lane has
        no printer or the job was already queued."""
        till = self.tills.get(lane_id)
        if till is None or till.devices.printer is None or self.journal is None:
            return False
        job_id = f"receipt:{receipt.sale_id}"
        queued = await asyncio.to_thread(
            self.journal.enqueue, job_id, till.devices.printer.device_id, receipt
        )
        if queued:
            self.counters["receipts_queued"] += 1
        return queued

    def status(self) -> dict[str, Any]:
        return {
            "lanes": {
                lane_id: {
                    "terminal": till.devices.terminal.device_id if till.devices.terminal else None,
                    "printer": till.devices.printer.device_id if till.devices.printer else None,
                    "health": {k: list(v) for k, v in till.devices.health.last.items()},
                }
                for lane_id, till in self.tills.items()
            },
            "print_jobs": self.journal.counts() if self.journal is not None else {},
            **self.counters,
        }


def _card_fields(result: TerminalResult) -> dict[str, str]:
    """What the lane may show of the card: masked PAN, scheme, auth code; nothing more."""
    return {"masked_pan": result.masked_pan, "scheme": result.scheme, "auth_code": result.auth_code}


def _lane_in(receipt_number: str) -> str:
    """The lane of an offline receipt number (<store>-<lane>-OFF-<id>)."""
    parts = receipt_number.split("-")
    return parts[1] if len(parts) >= 4 else ""


def _log_failure(what: str) -> Any:
    def done(future: Future[None]) -> None:
        exc = future.exception()
        if exc is not None:
            log.warning("could not publish a %s: %s", what, exc)

    return done
