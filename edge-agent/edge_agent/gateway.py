"""The lanes' gateway: lane commands arrive on the store's NATS and go on to checkout and
payments; when checkout cannot be reached the gateway sells offline.

Subjects: a lane sends `lane.<store>.<service>.<command>` (JSON, request/reply, the same body
checkout or payments takes on `cmd.<service>.<store>.<command>`). Online, the gateway forwards
it over the leaf connection and returns the answer as is. When checkout does not answer (no
responders, timeout) it writes StoreWentOffline and answers from the store: prices from the
catalog mirror, cash, and cards within the offline limits (TerminalApproval, offline=true);
each sale it completes is an OfflineSaleCompleted in the store stream, keyed by the sale id the
lane made. A probe brings it back online by itself (StoreCameOnline).

Some services live in the store itself (`local`): the agent registers them, e.g. `terminal.pay`
(a card-present payment on the lane's terminal). Listeners hear every answered command, so
the agent can print a receipt when a sale completes or kick the drawer on a cash tender.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from edge_agent.catalog import CatalogReplica, UnknownProductError
from edge_agent.config import EdgeConfig
from edge_agent.offline import (
    OfflineLedger,
    OfflineLimitError,
    OfflineSale,
    OfflineSaleError,
    mask_pan,
    money,
)
from tillstream.bus import command_subject, store_stream_name
from tillstream.codec import IntegrationEvent
from tillstream.commands import integer, text
from tillstream.events.v1 import edge_pb2
from tillstream.service import CommandError, encode_reply

log = logging.getLogger(__name__)

#: Services a lane may address through the gateway.
FORWARDED = ("checkout", "payments")
STATE_BUCKET = "edge_state"
LEDGER_KEY = "offline_ledger"
#: Namespace of the payment ids the agent makes from a lane's idempotency key.
PAYMENT_NAMESPACE = uuid.UUID("6f1c2a55-7f3e-4b7e-9a4e-2f0d7c1e5b10")
#: How many open_sale commands the gateway remembers the lane of (for the lane's devices).
SALE_LANES_KEPT = 10_000

#: A command the store answers itself: body -> answer (with "ok").
LocalHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
#: Hears every answered lane command: (service, command, body, answer).
Listener = Callable[[str, str, dict[str, Any], dict[str, Any]], Awaitable[None]]


def lane_subject(store_id: str, service: str, command: str) -> str:
    """Where a lane sends a command for `service` through the store's gateway."""
    return f"lane.{store_id}.{service}.{command}"


def now_ms() -> int:
    return int(time.time() * 1000)


def refusal(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}


class Gateway:
    """Forwards lane commands while checkout answers; sells offline while it does not."""

    def __init__(
        self,
        nc: Client,
        js: JetStreamContext,
        config: EdgeConfig,
        catalog: CatalogReplica,
        state: KeyValue | None = None,
    ) -> None:
        self.nc = nc
        self.js = js
        self.config = config
        self.store_id = config.store_id
        self.catalog = catalog
        self.state = state
        self.online = True
        self.offline_reason = ""
        self.ledger = OfflineLedger(config.limits)
        self.sales: dict[str, OfflineSale] = {}
        self.approvals: dict[str, dict[str, Any]] = {}
        self.lock = asyncio.Lock()
        self.counters = {"forwarded": 0, "offline_sales": 0, "offline_cards": 0, "refused": 0}
        self._subs: list[Any] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._probe: asyncio.Task[None] | None = None
        #: services answered in the store: service -> command -> handler
        self.local: dict[str, dict[str, LocalHandler]] = {}
        self.listeners: list[Listener] = []
        #: the lane of each sale opened through the gateway (most recent kept)
        self.sale_lanes: OrderedDict[str, str] = OrderedDict()
        self._offline: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "checkout.open_sale": self.open_sale,
            "checkout.add_line": self.add_line,
            "checkout.attach_customer": self.attach_customer,
            "checkout.get_sale": self.get_sale,
            "checkout.price": self.price,
            "checkout.tender_cash": self.tender_cash,
            "payments.authorize": self.authorize,
        }

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Restore an offline period a previous run left open, then serve the lanes."""
        await self._restore_ledger()
        if self.ledger.since_ms:
            self.online = False
            self.offline_reason = "offline at restart"
            self._start_probe()
        sub = await self.nc.subscribe(
            f"lane.{self.store_id}.*.*", queue="edge-gateway", cb=self._on_msg
        )
        self._subs.append(sub)

    async def stop(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()
        if self._probe is not None:
            self._probe.cancel()
        for task in list(self._tasks):
            task.cancel()

    async def _on_msg(self, msg: Msg) -> None:
        # One task per command: lanes do not wait for one another's forwarded round trips.
        task = asyncio.create_task(self._serve(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, msg: Msg) -> None:
        _, _, service, command = msg.subject.split(".", 3)
        body: Any = None
        try:
            body = json.loads(msg.data or b"{}")
            if not isinstance(body, dict):
                raise CommandError("a command is a JSON object", "invalid")
            answer = await self.handle(service, command, body, msg.data)
        except json.JSONDecodeError as exc:
            answer = refusal("invalid", f"not JSON: {exc}")
        except CommandError as exc:
            answer = refusal(exc.code, str(exc))
        except (ValueError, TypeError) as exc:  # a malformed field (a sale id not a UUID...)
            answer = refusal("invalid", str(exc))
        except Exception as exc:  # the lane gets an answer, not a timeout
            log.exception("lane command %s failed", msg.subject)
            answer = refusal("internal", f"{type(exc).__name__}: {exc}")
        if not answer.get("ok"):
            self.counters["refused"] += 1
        if msg.reply:
            await msg.respond(encode_reply(answer))
        if answer.get("ok") and isinstance(body, dict):
            await self._tell_listeners(service, command, body, answer)

    async def _tell_listeners(
        self, service: str, command: str, body: dict[str, Any], answer: dict[str, Any]
    ) -> None:
        """After the lane has its answer: a listener's failure (a printer that is off) never
        changes what the lane was told."""
        if service == "checkout" and command == "open_sale":
            self.remember_lane(str(body.get("sale_id", "")), str(body.get("lane_id", "")))
        for listener in self.listeners:
            try:
                await listener(service, command, body, answer)
            except Exception:
                log.exception("listener of %s.%s failed", service, command)

    def remember_lane(self, sale_id: str, lane_id: str) -> None:
        if not sale_id or not lane_id:
            return
        self.sale_lanes[sale_id] = lane_id
        self.sale_lanes.move_to_end(sale_id)
        while len(self.sale_lanes) > SALE_LANES_KEPT:
            self.sale_lanes.popitem(last=False)

    def lane_of(self, sale_id: str) -> str | None:
        """The lane a sale was opened on, when it was opened through this gateway."""
        sale = self.sales.get(sale_id)
        return sale.lane_id if sale is not None else self.sale_lanes.get(sale_id)

    def sells_offline(self, sale_id: str) -> bool:
        """Whether a payment for `sale_id` is taken by the store (offline) now."""
        return not self.online or sale_id in self.sales

    # -- routing ------------------------------------------------------------------------------

    async def handle(
        self, service: str, command: str, body: dict[str, Any], raw: bytes | None = None
    ) -> dict[str, Any]:
        """One lane command: forwarded while online, answered here while offline. A sale
        begun offline stays offline to its end."""
        local = self.local.get(service)
        if local is not None:
            handler = local.get(command)
            if handler is None:
                raise CommandError(f"no command {command!r} for {service}", "invalid")
            return await handler(body)
        if service not in FORWARDED:
            raise CommandError(f"no service {service!r} behind the gateway", "invalid")
        key = f"{service}.{command}"
        if self.online and str(body.get("sale_id", "")) not in self.sales:
            try:
                return await self._forward(service, command, raw or json.dumps(body).encode())
            except NoRespondersError:
                await self.go_offline(f"{service}: no responders")
            except (NatsTimeoutError, TimeoutError):
                if service == "payments":
                    # The payment may have gone through: never re-take it offline.
                    raise CommandError(
                        "payments did not answer in time; retry with the same key", "unavailable"
                    ) from None
                await self.go_offline(f"{service}: timeout")
        handler = self._offline.get(key)
        if handler is None:
            raise CommandError(f"{key} is not available while the store is offline", "offline")
        try:
            async with self.lock:
                answer = await handler(body)
        except OfflineLimitError as exc:
            raise CommandError(str(exc), "offline_limit") from exc
        except UnknownProductError as exc:
            raise CommandError(str(exc), "unknown_sku") from exc
        except OfflineSaleError as exc:
            raise CommandError(str(exc), "rejected") from exc
        except KeyError as exc:
            raise CommandError(f"missing field {exc.args[0]!r}", "invalid") from exc
        return {"ok": True, "offline": True, **answer}

    async def _forward(self, service: str, command: str, data: bytes) -> dict[str, Any]:
        reply = await self.nc.request(
            command_subject(service, command, self.store_id),
            data,
            timeout=self.config.command_timeout,
        )
        self.counters["forwarded"] += 1
        return dict(json.loads(reply.data))

    # -- going offline and back ---------------------------------------------------------------

    async def go_offline(self, reason: str) -> None:
        async with self.lock:
            if not self.online:
                return
            self.online = False
            self.offline_reason = reason
            self.ledger.begin(now_ms())
            await self._save_ledger()
            await self.publish(
                "store",
                "offline",
                edge_pb2.StoreWentOffline(
                    store_id=self.store_id, at_ms=self.ledger.since_ms, reason=reason
                ),
                f"offline:{self.ledger.since_ms}",
            )
        log.warning("store %s offline: %s", self.store_id, reason)
        self._start_probe()

    async def go_online(self) -> None:
        async with self.lock:
            if self.online:
                return
            since = self.ledger.since_ms
            await self.publish(
                "store",
                "online",
                edge_pb2.StoreCameOnline(
                    store_id=self.store_id,
                    at_ms=now_ms(),
                    offline_sales=self.ledger.sales,
                    offline_duration_ms=max(0, now_ms() - since),
                ),
                f"online:{since}",
            )
            self.ledger.end()
            self.approvals.clear()  # offline retries end with the offline period
            await self._save_ledger()
            self.online = True
            self.offline_reason = ""
        log.warning("store %s back online", self.store_id)

    def _start_probe(self) -> None:
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._probe_checkout())

    async def _probe_checkout(self) -> None:
        """Ask checkout a harmless question until it answers (any answer will do)."""
        subject = command_subject("checkout", "price", self.store_id)
        while not self.online:
            await asyncio.sleep(self.config.probe_interval)
            try:
                await self.nc.request(subject, b'{"sku":"probe"}', timeout=1.0)
            except Exception:  # no responders, timeout, reconnecting: still offline
                continue
            await self.go_online()

    # -- events and state ---------------------------------------------------------------------

    async def publish(self, aggregate: str, event: str, message: Message, key: str) -> None:
        """Write one edge event to the store stream; the key makes Nats-Msg-Id, so a retry
        (or a restart that repeats it) is stored once, here and in the hub."""
        integration = IntegrationEvent.of(
            "edge",
            self.store_id,
            aggregate,
            event,
            message=message,
            occurred_at=datetime.now(UTC),
        )
        await self.js.publish(
            integration.subject,
            integration.payload(),
            headers=integration.headers(f"edge:{self.store_id}:{key}"),
            stream=store_stream_name(self.store_id),
        )

    async def _save_ledger(self) -> None:
        if self.state is not None:
            await self.state.put(LEDGER_KEY, json.dumps(self.ledger.as_dict()).encode())

    async def _restore_ledger(self) -> None:
        if self.state is None:
            return
        try:
            entry = await self.state.get(LEDGER_KEY)
        except Exception:  # no entry yet: never offline before
            return
        if entry.value:
            self.ledger.restore(json.loads(entry.value))

    # -- offline commands ---------------------------------------------------------------------

    def _sale(self, body: dict[str, Any]) -> OfflineSale:
        sale_id = text(body, "sale_id")
        sale = self.sales.get(sale_id)
        if sale is None:
            raise CommandError(
                f"sale {sale_id} is not open in the store (opened online? start a new one)",
                "unavailable",
            )
        return sale

    async def open_sale(self, body: dict[str, Any]) -> dict[str, Any]:
        sale_id = str(uuid.UUID(text(body, "sale_id")))
        if sale_id in self.sales:
            return {"sale_id": sale_id, "status": "open"}
        currency = text(body, "currency")
        if currency != self.config.currency:
            raise CommandError(f"the store sells in {self.config.currency}", "invalid")
        self.sales[sale_id] = OfflineSale(
            sale_id=sale_id,
            store_id=self.store_id,
            lane_id=text(body, "lane_id"),
            cashier_id=text(body, "cashier_id"),
            currency=currency,
        )
        return {"sale_id": sale_id, "status": "open"}

    async def add_line(self, body: dict[str, Any]) -> dict[str, Any]:
        sale = self._sale(body)
        product = await self.catalog.product(text(body, "sku"))
        line = sale.add_line(integer(body, "line_no"), product, integer(body, "quantity"))
        return {
            "unit_price_minor": line.unit_price_minor,
            "line_total_minor": line.total_minor,
            "total_minor": sale.total_minor,
            "currency": sale.currency,
        }

    async def attach_customer(self, body: dict[str, Any]) -> dict[str, Any]:
        sale = self._sale(body)
        sale.customer_id = text(body, "customer_id")
        return {"sale_id": sale.sale_id, "customer_id": sale.customer_id}

    async def get_sale(self, body: dict[str, Any]) -> dict[str, Any]:
        sale = self._sale(body)
        return {
            "sale_id": sale.sale_id,
            "status": "completed" if sale.completed else "open",
            "currency": sale.currency,
            "total_minor": sale.total_minor,
            "paid_minor": sale.paid_minor,
            "due_minor": sale.due_minor,
        }

    async def price(self, body: dict[str, Any]) -> dict[str, Any]:
        product = await self.catalog.product(text(body, "sku"))
        return {
            "sku": product.sku,
            "name": product.name,
            "price_minor": product.price_minor,
            "currency": product.currency,
        }

    async def tender_cash(self, body: dict[str, Any]) -> dict[str, Any]:
        """Cash, possibly more than due (change); the same key again is the same tender."""
        key = f"cash:{text(body, 'sale_id')}:{text(body, 'idempotency_key')}"
        if key in self.approvals:
            return self.approvals[key]
        sale = self._sale(body)
        payment_id = str(uuid.uuid5(PAYMENT_NAMESPACE, f"{self.store_id}:{key}"))
        sale.pay_cash(payment_id, integer(body, "amount_minor"))
        answer = {"payment_id": payment_id, "status": "accepted", **await self._after_tender(sale)}
        self.approvals[key] = answer
        return answer

    async def authorize(self, body: dict[str, Any]) -> dict[str, Any]:
        """A card approved by the store under the offline limits. The PAN lives only in this
        call: the event keeps its masked form and scheme."""
        key = text(body, "idempotency_key")
        if key in self.approvals:
            if self.approvals[key].get("sale_id") != body.get("sale_id"):
                raise CommandError("idempotency_key already used for another sale", "conflict")
            return self.approvals[key]
        sale = self._sale(body)
        amount = integer(body, "amount_minor")
        if text(body, "currency") != sale.currency:
            raise CommandError(f"the sale is in {sale.currency}", "invalid")
        at = now_ms()
        self.ledger.check_card(amount, at)
        masked, scheme = mask_pan(text(body, "pan"))
        payment_id = str(uuid.uuid5(PAYMENT_NAMESPACE, f"{self.store_id}:{key}"))
        approval = edge_pb2.TerminalApproval(
            payment_id=payment_id,
            sale_id=sale.sale_id,
            store_id=self.store_id,
            lane_id=sale.lane_id,
            amount=money(amount, sale.currency),
            masked_pan=masked,
            scheme=scheme,
            offline=True,
            approved_at_ms=at,
            terminal_id=self.config.devices.get("terminal_id", f"{sale.lane_id}-terminal"),
        )
        answer = await self.record_offline_card(sale, approval)
        self.approvals[key] = answer
        return answer

    def offline_sale(self, sale_id: str) -> OfflineSale:
        """The open offline sale `sale_id` (CommandError when the store does not hold it)."""
        return self._sale({"sale_id": sale_id})

    async def record_offline_card(
        self, sale: OfflineSale, approval: edge_pb2.TerminalApproval
    ) -> dict[str, Any]:
        """Book a card the store approved offline on `sale`: the approval goes to the store
        stream (payments records it), the ledger counts it, the sale may complete. The caller
        holds `lock` and has checked the limits before the card was charged."""
        amount = approval.amount.amount_minor
        sale.pay_card(approval.payment_id, amount)
        await self.publish(
            "payment", "terminal_approved", approval, f"approval:{approval.payment_id}"
        )
        self.ledger.record_card(amount)
        await self._save_ledger()
        self.counters["offline_cards"] += 1
        return {
            "payment_id": approval.payment_id,
            "status": "approved",
            **await self._after_tender(sale),
        }

    async def _after_tender(self, sale: OfflineSale) -> dict[str, Any]:
        if not sale.completed:
            return {
                "sale_id": sale.sale_id,
                "sale_status": "open",
                "paid_minor": sale.paid_minor,
                "due_minor": sale.due_minor,
                "currency": sale.currency,
            }
        event = sale.completed_event(now_ms(), self.config.tax_rates_bp)
        await self.publish("sale", "offline_completed", event, f"sale:{sale.sale_id}")
        del self.sales[sale.sale_id]
        self.ledger.sales += 1
        await self._save_ledger()
        self.counters["offline_sales"] += 1
        return {
            "sale_status": "completed",
            "sale_id": sale.sale_id,
            "total_minor": sale.total_minor,
            "paid_minor": sale.paid_minor,
            "due_minor": 0,
            "currency": sale.currency,
            "change_minor": sale.change_minor,
            "receipt_number": sale.receipt_number(),
            "receipt": sale.receipt_text(),
        }

    def status(self) -> dict[str, Any]:
        return {
            "store_id": self.store_id,
            "online": self.online,
            "offline_reason": self.offline_reason,
            "open_offline_sales": len(self.sales),
            "ledger": self.ledger.as_dict(),
            **self.counters,
        }
