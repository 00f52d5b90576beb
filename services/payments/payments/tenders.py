"""What payments records of checkout's tenders beyond card payments: cash taken (it needs no
authorization but counts in the batch) and the refunds it was asked for and could not make.

Both are small aggregates whose id derives from what they record (the sale and tender, the
return and payment), so a redelivered upstream event finds them already there and adds
nothing: the consumer's tracking record makes that rare, the ids make it harmless.
"""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

#: Namespace of these aggregates' ids. Fixed forever: ids are derived, never stored apart.
TENDER_NAMESPACE = uuid5(NAMESPACE_URL, "tillstream:payments:tenders")


class CashTender(Aggregate):
    """A cash tender of a completed sale, kept for the batch totals of its store and lane."""

    class Recorded(Aggregate.Created):
        sale_id: str
        store_id: str
        lane_id: str
        amount_minor: int
        currency: str
        taken_at: datetime

    @staticmethod
    def create_id(sale_id: str, index: int) -> UUID:
        return uuid5(TENDER_NAMESPACE, f"cash:{sale_id}:{index}")

    @classmethod
    def record(
        cls,
        sale_id: str,
        index: int,
        store_id: str,
        lane_id: str,
        amount_minor: int,
        currency: str,
        taken_at: datetime,
    ) -> CashTender:
        return cls._create(
            cls.Recorded,
            id=cls.create_id(sale_id, index),
            sale_id=sale_id,
            store_id=store_id,
            lane_id=lane_id,
            amount_minor=amount_minor,
            currency=currency,
            taken_at=taken_at,
        )

    @event(Recorded)
    def __init__(
        self,
        sale_id: str,
        store_id: str,
        lane_id: str,
        amount_minor: int,
        currency: str,
        taken_at: datetime,
    ) -> None:
        self.sale_id = sale_id
        self.store_id = store_id
        self.lane_id = lane_id
        self.amount_minor = amount_minor
        self.currency = currency
        self.taken_at = taken_at


class RefundRefusal(Aggregate):
    """A refund (or a void) checkout asked for that payments could not carry out: kept and
    published (RefundRefused) so a person follows it up; nothing moved. `flagged` marks an
    unreferenced card refund asked for without its permission (a classic till fraud)."""

    class Refused(Aggregate.Created):
        source_id: str
        payment_id: str
        store_id: str
        kind: str
        amount_minor: int
        currency: str
        reason: str
        flagged: bool

    @staticmethod
    def create_id(source_id: str, payment_id: str, index: int) -> UUID:
        return uuid5(TENDER_NAMESPACE, f"refused:{source_id}:{payment_id}:{index}")

    @classmethod
    def refuse(
        cls,
        source_id: str,
        payment_id: str,
        index: int,
        store_id: str,
        kind: str,
        amount_minor: int,
        currency: str,
        reason: str,
        flagged: bool = False,
    ) -> RefundRefusal:
        return cls._create(
            cls.Refused,
            id=cls.create_id(source_id, payment_id, index),
            source_id=source_id,
            payment_id=payment_id,
            store_id=store_id,
            kind=kind,
            amount_minor=amount_minor,
            currency=currency,
            reason=reason,
            flagged=flagged,
        )

    @event(Refused)
    def __init__(
        self,
        source_id: str,
        payment_id: str,
        store_id: str,
        kind: str,
        amount_minor: int,
        currency: str,
        reason: str,
        flagged: bool,
    ) -> None:
        self.source_id = source_id
        self.payment_id = payment_id
        self.store_id = store_id
        self.kind = kind
        self.amount_minor = amount_minor
        self.currency = currency
        self.reason = reason
        self.flagged = flagged
