"""Payments' reactions to checkout's and the edge agent's events (run by tracking consumers).

Each handler changes aggregates in the consumer's unit of work: they are saved in one
transaction with the upstream position, so a redelivered event is skipped, and every change
is keyed besides (`<return_id>:<payment_id>` on the payment or gift card, derived ids for
cash and refusals), so even a replay from an earlier position changes nothing twice.

Where the money goes back depends on how the payment was authorized:

- over the ISO 8583 link (the payment has the link's reference): the refund (a referenced
  refund, 0200 processing code 20) or void (a 0400 reversal of the authorization) is recorded
  *owed* on the Payment, in this transaction; no acquirer call runs inside a handler, so no
  crash between an acquirer answer and the commit can make a refund happen twice. The service
  sends what is owed right after the batch commits (`PaymentsSink`) and from its timer
  (`send_refunds`), with a reference fixed when it was recorded, so a resend is the same
  refund at the acquirer; PaymentRefunded / PaymentVoided follow the approval, a decline is
  refused and flagged (RefundRefused).
- by the in-process stand-in acquirer (no link, no money held anywhere): recorded at once.
- by the store's terminal (TerminalApproval): the host never authorized it and has no card
  for it here (token only), so the refund is done on the terminal with the card, at the
  lane: it is refused here with that reason (RefundRefused, not flagged) for the lane to
  follow up, and the payment is not marked refunded.

What cannot be done is never an exception that would dead-letter the event: it is recorded as
a RefundRefusal and published for follow-up.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.sqlite import SQLiteAggregateRecorder

from payments.domainmodel import (
    AUTHORIZED,
    CAPTURED,
    PENDING,
    UNREFERENCED_REFUND,
    Card,
    GiftCard,
    GiftCardError,
    Payment,
    PaymentError,
    payment_id_for,
)
from payments.tenders import CashTender, RefundRefusal
from tillstream.codec import ReceivedEvent
from tillstream.consumer import Delivery, EventSourcedSink, Handler, UnitOfWork
from tillstream.events.v1 import checkout_pb2, common_pb2, edge_pb2

log = logging.getLogger(__name__)

CARD_KINDS = ("card", "wallet")
GIFT_CARD = "gift_card"
CASH = "cash"
AT_TERMINAL = (
    "a terminal-approved card is refunded on the store's terminal with the card: "
    "nothing was sent to the acquirer"
)


def _at(ms: int, event: ReceivedEvent) -> datetime:
    """When it happened: the message's epoch milliseconds, else the bus header, else now."""
    if ms:
        return datetime.fromtimestamp(ms / 1000, UTC)
    try:
        at = datetime.fromisoformat(event.occurred_at)
    except (TypeError, ValueError):
        return datetime.now(UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def payment_uuid(store_id: str, payment_id: str) -> UUID:
    """The aggregate id a tender's payment_id names: the id itself (payments' own ids and
    the edge agent's UUIDs), else the id derived from the store and the key."""
    try:
        return UUID(payment_id)
    except ValueError:
        return payment_id_for(store_id, payment_id)


class _Refunds:
    """Carries out the refunds (and voids) one upstream event asks for."""

    def __init__(self, uow: UnitOfWork, source_id: str, store_id: str, at: datetime) -> None:
        self.uow = uow
        self.app: Any = uow.app
        self.source_id = source_id
        self.store_id = store_id
        self.at = at

    def refuse(
        self, index: int, tender: common_pb2.SaleTender, reason: str, flagged: bool = False
    ) -> None:
        refusal_id = RefundRefusal.create_id(self.source_id, tender.payment_id, index)
        if self.uow.get(refusal_id) is not None:
            return
        log.warning(
            "refund of %s %s for %s refused: %s",
            tender.kind,
            tender.payment_id,
            self.source_id,
            reason,
        )
        self.uow.add(
            RefundRefusal.refuse(
                self.source_id,
                tender.payment_id,
                index,
                self.store_id,
                tender.kind,
                tender.amount.amount_minor,
                tender.amount.currency,
                reason,
                flagged,
            )
        )

    def payment(self, index: int, tender: common_pb2.SaleTender) -> Payment | None:
        found = self.uow.get(payment_uuid(self.store_id, tender.payment_id))
        if not isinstance(found, Payment):
            self.refuse(index, tender, f"no payment {tender.payment_id}")
            return None
        if tender.amount.currency and tender.amount.currency != found.currency:
            self.refuse(
                index, tender, f"tender in {tender.amount.currency}, payment in {found.currency}"
            )
            return None
        return found

    def refund_payment(self, index: int, tender: common_pb2.SaleTender, key: str) -> None:
        payment = self.payment(index, tender)
        if payment is None:
            return
        if payment.kind == UNREFERENCED_REFUND:
            return  # the lane made this refund itself (refund command): nothing more to do
        if payment.terminal_id:
            self.refuse(index, tender, AT_TERMINAL)
            return
        self.refund_captured(index, tender, payment, key, tender.amount.amount_minor)

    def refund_captured(
        self,
        index: int,
        tender: common_pb2.SaleTender,
        payment: Payment,
        key: str,
        amount_minor: int,
    ) -> None:
        body_hash = self.app.operation_hash("refund", {"amount_minor": amount_minor})
        try:
            if self.app.sends_to_acquirer(payment):
                payment.owe_refund(key, body_hash, amount_minor, self.at, self.app.refund_window)
            else:
                payment.refund(key, body_hash, amount_minor, self.at, self.app.refund_window)
        except PaymentError as error:
            self.refuse(index, tender, str(error))

    def void_payment(
        self, index: int, tender: common_pb2.SaleTender, key: str, reason: str
    ) -> None:
        """A voided sale's card tender: released if only authorized, refunded if captured."""
        payment = self.payment(index, tender)
        if payment is None:
            return
        if payment.operation(key) is not None:
            return  # done at an earlier delivery (the amount then was what remained)
        if payment.terminal_id:
            self.refuse(index, tender, AT_TERMINAL)
            return
        try:
            body_hash = self.app.operation_hash("void", {"reason": reason})
            if payment.status == AUTHORIZED and self.app.sends_to_acquirer(payment):
                payment.owe_void(key, body_hash, reason)
            elif payment.status == AUTHORIZED:
                payment.void(key, body_hash, reason)
            elif payment.status == CAPTURED:
                remaining = payment.captured_minor - payment.refunded_minor
                amount = min(tender.amount.amount_minor or remaining, remaining)
                if amount <= 0:
                    return  # already refunded in full by other means
                self.refund_captured(index, tender, payment, key, amount)
            elif payment.status == PENDING:
                self.refuse(index, tender, "the payment's outcome is not known yet")
        except PaymentError as error:
            self.refuse(index, tender, str(error))

    def refund_gift_card(
        self, index: int, tender: common_pb2.SaleTender, key: str, sale_id: str
    ) -> None:
        card_id = self.app.gift_card_for_redemption(tender.payment_id)
        card = self.uow.get(card_id) if card_id is not None else None
        if not isinstance(card, GiftCard):
            self.refuse(index, tender, f"no gift card redemption {tender.payment_id}")
            return
        amount = tender.amount.amount_minor
        body_hash = self.app.operation_hash(
            "refund",
            {
                "store_id": self.store_id,
                "sale_id": sale_id,
                "amount_minor": amount,
                "currency": tender.amount.currency or None,
            },
        )
        try:
            card.refund(
                key, body_hash, self.store_id, sale_id, amount, tender.amount.currency or None
            )
        except GiftCardError as error:
            self.refuse(index, tender, str(error))


def on_return_completed(event: ReceivedEvent, uow: UnitOfWork) -> None:
    """Refund a return's card, wallet and gift card refunds (keyed `<return_id>:<payment_id>`).
    A card refund without a receipt has no card to go back to here: it is refused, flagged
    when no supervisor approved it (the unreferenced refund's permission)."""
    ret = event.message
    assert isinstance(ret, checkout_pb2.ReturnCompleted)
    store_id = ret.store_id or event.store_id
    refunds = _Refunds(uow, ret.return_id, store_id, _at(ret.completed_at_ms, event))
    sale_id = ret.original_sale_id or ret.return_id
    for index, tender in enumerate(ret.refunds):
        key = f"{ret.return_id}:{tender.payment_id}"
        if tender.kind in CARD_KINDS and not tender.payment_id:
            if ret.approved_by:
                refunds.refuse(
                    index,
                    tender,
                    "an unreferenced card refund needs the card "
                    "at the lane (refund command, unreferenced)",
                )
            else:
                refunds.refuse(
                    index,
                    tender,
                    "an unreferenced card refund needs the permission (a supervisor's approval)",
                    flagged=True,
                )
        elif tender.kind in CARD_KINDS:
            refunds.refund_payment(index, tender, key)
        elif tender.kind == GIFT_CARD:
            refunds.refund_gift_card(index, tender, key, sale_id)


def on_sale_voided(event: ReceivedEvent, uow: UnitOfWork) -> None:
    """Give back what a voided sale had taken: card and wallet tenders voided (refunded when
    already captured), gift card tenders refunded; keyed `<sale_id>:void:<payment_id>`."""
    voided = event.message
    assert isinstance(voided, checkout_pb2.SaleVoided)
    store_id = voided.store_id or event.store_id
    refunds = _Refunds(uow, voided.sale_id, store_id, _at(voided.voided_at_ms, event))
    reason = voided.reason or "sale voided"
    for index, tender in enumerate(voided.tenders):
        key = f"{voided.sale_id}:void:{tender.payment_id}"
        if tender.kind in CARD_KINDS and tender.payment_id:
            refunds.void_payment(index, tender, key, reason)
        elif tender.kind == GIFT_CARD:
            refunds.refund_gift_card(index, tender, key, voided.sale_id)


def on_sale_completed(event: ReceivedEvent, uow: UnitOfWork) -> None:
    """Record a completed sale's cash tenders (net of change) for the batch totals."""
    sale = event.message
    assert isinstance(sale, checkout_pb2.SaleCompleted)
    store_id = sale.store_id or event.store_id
    at = _at(sale.completed_at_ms, event)
    change = sale.change.amount_minor
    for index, tender in enumerate(sale.tenders):
        if tender.kind != CASH or uow.get(CashTender.create_id(sale.sale_id, index)):
            continue
        # The change is given back from the cash: the first cash tender carries it.
        amount = tender.amount.amount_minor - change
        change = max(0, -amount)
        if amount <= 0:
            continue
        uow.add(
            CashTender.record(
                sale.sale_id, index, store_id, sale.lane_id, amount, tender.amount.currency, at
            )
        )


def on_terminal_approval(event: ReceivedEvent, uow: UnitOfWork) -> None:
    """Record a sale the store's terminal approved, once per payment_id (the agent's). An
    offline approval owes its advice to the acquirer: the service sends it from its timer,
    outside the consumer (`Payments.send_advices`)."""
    approval = event.message
    assert isinstance(approval, edge_pb2.TerminalApproval)
    store_id = approval.store_id or event.store_id
    payment_id = payment_uuid(store_id, approval.payment_id)
    if uow.get(payment_id) is not None:
        return
    app: Any = uow.app
    card = Card(approval.token, approval.masked_pan, approval.scheme or "unknown", 0, 0)
    body_hash = app.operation_hash(
        "terminal",
        {"payment_id": approval.payment_id, "amount_minor": approval.amount.amount_minor},
    )
    try:
        payment = Payment.from_terminal(
            payment_id,
            store_id,
            approval.sale_id,
            approval.amount.amount_minor,
            approval.amount.currency,
            card,
            approval.auth_code,
            body_hash,
            approval.terminal_id,
            approval.lane_id,
            approval.offline,
            _at(approval.approved_at_ms, event),
        )
    except PaymentError as error:
        # A malformed approval is a bug at the edge: dead-lettered with the reason.
        raise ValueError(f"terminal approval {approval.payment_id}: {error}") from None
    uow.add(payment)


#: Ids asked about in one SQL statement, at most (SQLite's variable limit is 32766).
STORED_CHUNK = 500


def stored_ids(app: Any, aggregate_ids: Iterable[UUID]) -> set[UUID]:
    """Which of these aggregates are in the store: one query per chunk on SQLite (other
    stores: one event read per id, as a lookup would be, but no aggregate replayed)."""
    wanted = list(dict.fromkeys(aggregate_ids))
    recorder = app.recorder
    if not isinstance(recorder, SQLiteAggregateRecorder):
        return {i for i in wanted if recorder.select_events(i, limit=1)}
    found: set[UUID] = set()
    for start in range(0, len(wanted), STORED_CHUNK):
        chunk = wanted[start : start + STORED_CHUNK]
        statement = (
            f"SELECT DISTINCT originator_id FROM {recorder.events_table_name} "
            f"WHERE originator_id IN ({','.join('?' * len(chunk))})"
        )
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, [i.hex for i in chunk])
            found.update(UUID(row[0]) for row in cursor.fetchall())
    return found


def created_ids(deliveries: Sequence[Delivery]) -> list[UUID]:
    """The ids of the aggregates a batch's sales and terminal approvals would create (cash
    tenders, terminal payments): a store's offline backlog brings thousands at once."""
    ids: list[UUID] = []
    for delivery in deliveries:
        msg = delivery.event.message
        if isinstance(msg, edge_pb2.TerminalApproval):
            store_id = msg.store_id or delivery.event.store_id
            ids.append(payment_uuid(store_id, msg.payment_id))
        elif isinstance(msg, checkout_pb2.SaleCompleted):
            ids.extend(
                CashTender.create_id(msg.sale_id, index)
                for index, tender in enumerate(msg.tenders)
                if tender.kind == CASH
            )
    return ids


class PaymentsSink(EventSourcedSink):
    """The tracking sink, plus a nudge once a batch has committed: when refunds or voids became
    owed to the acquirer, they are sent now rather than at the next timer tick. The
    nudge runs after the commit on the same thread as the batch (the service's database
    thread), so it never races a command; if it fails, what is owed stays owed for the
    timer (the batch itself is committed and never retried for it)."""

    def unit_of_work(self, deliveries: Sequence[Delivery]) -> UnitOfWork:
        """The new cash tenders and terminal payments are checked for duplicates with one
        query per batch, not one read each (issue 6: an offline backlog's catch-up). On the
        database thread, within the batch: nothing is written in between."""
        ids = created_ids(deliveries)
        if not ids:
            return super().unit_of_work(deliveries)
        return UnitOfWork(self.app, frozenset(ids) - stored_ids(self.app, ids))

    def apply(self, tracking_name: str, deliveries: Sequence[Delivery]) -> None:
        super().apply(tracking_name, deliveries)
        app: Any = self.app
        try:
            app.send_owed_operations(only_if_new=True)
        except Exception as error:  # the timer sends what is still owed
            log.warning("owed refunds not sent after the batch: %s", error)


#: Upstream event handlers, keyed by protobuf full name.
HANDLERS: dict[str, Handler] = {
    checkout_pb2.ReturnCompleted.DESCRIPTOR.full_name: on_return_completed,
    checkout_pb2.SaleVoided.DESCRIPTOR.full_name: on_sale_voided,
    checkout_pb2.SaleCompleted.DESCRIPTOR.full_name: on_sale_completed,
    edge_pb2.TerminalApproval.DESCRIPTOR.full_name: on_terminal_approval,
}

#: The subjects payments consumes, per upstream.
CHECKOUT_EVENTS = ("return.completed", "sale.voided", "sale.completed")
EDGE_EVENTS = ("payment.terminal_approved",)
