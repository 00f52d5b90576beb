"""Checkout's domain events -> its public integration events (tillstream.events.v1)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from checkout.domainmodel import Return, Sale, Shift
from tillstream.codec import IntegrationEvent
from tillstream.events.v1 import checkout_pb2, common_pb2

SERVICE = "checkout"
AGGREGATE = "sale"
SHIFT = "shift"
RETURN = "return"


def _money(amount_minor: int, currency: str) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount_minor, currency=currency)


def _sale_line(line: dict[str, Any], currency: str) -> common_pb2.SaleLine:
    return common_pb2.SaleLine(
        line_no=line["line_no"],
        sku=line["sku"],
        quantity=line["quantity"],
        unit_price=_money(line["unit_price_minor"], currency),
        line_total=_money(line["line_total_minor"], currency),
    )


def _tenders(tenders: list[dict[str, Any]], currency: str) -> list[common_pb2.SaleTender]:
    return [
        common_pb2.SaleTender(payment_id=t["payment_id"], kind=t["kind"],
                              amount=_money(t["amount_minor"], currency))
        for t in tenders
    ]


def _epoch_ms(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp() * 1000)


def _sale_completed(
    e: Any, sale_id: str, discounts: list[dict[str, Any]], offline: bool
) -> checkout_pb2.SaleCompleted:
    """SaleCompleted from a Completed event or (offline sales) an Ingested one."""
    return checkout_pb2.SaleCompleted(
        sale_id=sale_id,
        store_id=e.store_id,
        lane_id=e.lane_id,
        cashier_id=e.cashier_id,
        lines=[_sale_line(line, e.currency) for line in e.lines],
        total=_money(e.total_minor, e.currency),
        tenders=_tenders(e.tenders, e.currency),
        customer_id=e.customer_id,
        completed_at_ms=_epoch_ms(e.completed_at),
        subtotal=_money(e.subtotal_minor, e.currency),
        discount_total=_money(e.discount_minor, e.currency),
        tax_total=_money(e.tax_minor, e.currency),
        taxes=[
            checkout_pb2.SaleTax(
                tax_class=t["tax_class"], name=t["name"], rate_bp=t["rate_bp"],
                included=t["mode"] == "inclusive",
                taxable=_money(t["taxable_minor"], e.currency),
                amount=_money(t["amount_minor"], e.currency),
            )
            for t in e.taxes
        ],
        discounts=[
            checkout_pb2.SaleDiscount(
                label=d["label"], kind=d["kind"], line_no=d["line_no"],
                promotion_id=d["promotion_id"],
                amount=_money(d["amount_minor"], e.currency),
            )
            for d in discounts
        ],
        change=_money(e.change_minor, e.currency),
        receipt_number=e.receipt_number,
        offline=offline,
    )


class CheckoutContracts:
    """Maps Sale and Shift events to checkout's integration events; PriceEntry, Cashier and
    LaneState events stay private (a Cashier's event holds the PIN's hash)."""

    def to_integration(self, domain_event: object) -> IntegrationEvent | None:
        e: Any = domain_event
        if isinstance(e, Shift.Event):
            return self._shift_event(e)
        sale_id = str(getattr(e, "originator_id", ""))
        if isinstance(e, Sale.Opened):
            return self._event(e, "opened", checkout_pb2.SaleOpened(
                sale_id=sale_id, store_id=e.store_id, lane_id=e.lane_id,
                cashier_id=e.cashier_id, currency=e.currency,
            ))
        if isinstance(e, Sale.LineAdded):
            line = {
                "line_no": e.line_no, "sku": e.sku, "quantity": e.quantity,
                "unit_price_minor": e.unit_price_minor,
                "line_total_minor": e.quantity * e.unit_price_minor,
            }
            return self._event(e, "line_added", checkout_pb2.SaleLineAdded(
                sale_id=sale_id, store_id=e.store_id, line=_sale_line(line, e.currency),
            ))
        if isinstance(e, Sale.CustomerAttached):
            return self._event(e, "customer_attached", checkout_pb2.SaleCustomerAttached(
                sale_id=sale_id, store_id=e.store_id, customer_id=e.customer_id,
            ))
        if isinstance(e, Sale.Completed):
            return self._event(e, "completed", _sale_completed(e, sale_id, e.discounts,
                                                               e.offline))
        if isinstance(e, Sale.Ingested):
            # An offline sale, created complete: the same SaleCompleted a Completed makes.
            return self._event(e, "completed", _sale_completed(e, sale_id, [], True))
        if isinstance(e, Sale.Voided):
            return self._event(e, "voided", checkout_pb2.SaleVoided(
                sale_id=sale_id, store_id=e.store_id, lane_id=e.lane_id,
                cashier_id=e.cashier_id, tenders=_tenders(e.tenders, e.currency),
                reason=e.reason, approved_by=e.approved_by,
                voided_at_ms=_epoch_ms(e.voided_at), customer_id=e.customer_id,
            ))
        if isinstance(e, Return.Completed):
            return self._event(e, "completed", checkout_pb2.ReturnCompleted(
                return_id=sale_id, store_id=e.store_id, lane_id=e.lane_id,
                cashier_id=e.cashier_id, original_sale_id=e.original_sale_id,
                lines=[
                    checkout_pb2.ReturnLine(
                        line_no=ln["line_no"], sku=ln["sku"], quantity=ln["quantity"],
                        amount=_money(ln["amount_minor"], e.currency),
                        restock=ln["restock"],
                    )
                    for ln in e.lines
                ],
                refunds=_tenders(e.refunds, e.currency),
                total=_money(e.total_minor, e.currency),
                customer_id=e.customer_id,
                completed_at_ms=_epoch_ms(e.completed_at),
                approved_by=e.approved_by,
                exchange_sale_id=e.exchange_sale_id,
                tax_total=_money(e.tax_minor, e.currency),
            ), RETURN)
        if isinstance(e, Sale.TenderDeclined):
            return self._event(e, "tender_declined", checkout_pb2.SaleTenderDeclined(
                sale_id=sale_id, store_id=e.store_id, payment_id=e.payment_id,
                amount=_money(e.amount_minor, e.currency), response_code=e.response_code,
            ))
        # PriceEntry, PromotionBook and TaxTable events, PaymentRecorded,
        # ExcessPaymentRecorded and (for now) the basket edits -- lines removed or changed,
        # discounts, overrides, pricing context -- are private: SaleCompleted carries the
        # sale as sold.
        return None

    def _shift_event(self, e: Any) -> IntegrationEvent | None:
        shift_id = str(e.originator_id)
        if isinstance(e, Shift.Opened):
            return self._event(e, "opened", checkout_pb2.ShiftOpened(
                shift_id=shift_id, store_id=e.store_id, lane_id=e.lane_id,
                cashier_id=e.cashier_id, opening_float=_money(e.float_minor, e.currency),
                opened_at_ms=_epoch_ms(e.timestamp),
            ), SHIFT)
        if isinstance(e, Shift.CashPaidIn):
            return self._event(e, "paid_in", checkout_pb2.CashPaidIn(
                shift_id=shift_id, store_id=e.store_id,
                amount=_money(e.amount_minor, e.currency), reason=e.reason,
            ), SHIFT)
        if isinstance(e, Shift.CashPaidOut):
            return self._event(e, "paid_out", checkout_pb2.CashPaidOut(
                shift_id=shift_id, store_id=e.store_id,
                amount=_money(e.amount_minor, e.currency), reason=e.reason,
            ), SHIFT)
        if isinstance(e, Shift.DrawerOpened):
            return self._event(e, "drawer_opened", checkout_pb2.DrawerOpened(
                shift_id=shift_id, store_id=e.store_id, lane_id=e.lane_id,
                cashier_id=e.cashier_id, reason=e.reason,
            ), SHIFT)
        if isinstance(e, Shift.Closed):
            return self._event(e, "closed", checkout_pb2.ShiftClosed(
                shift_id=shift_id, store_id=e.store_id, lane_id=e.lane_id,
                cashier_id=e.cashier_id,
                opening_float=_money(e.float_minor, e.currency),
                cash_sales=_money(e.cash_sales_minor, e.currency),
                cash_refunds=_money(e.cash_refunds_minor, e.currency),
                paid_in=_money(e.paid_in_minor, e.currency),
                paid_out=_money(e.paid_out_minor, e.currency),
                expected=_money(e.expected_minor, e.currency),
                counted=_money(e.counted_minor, e.currency),
                variance=_money(e.variance_minor, e.currency),
                counted_by_denomination=[
                    checkout_pb2.DenominationCount(denomination_minor=d, count=c)
                    for d, c in e.counted
                ],
                closed_at_ms=_epoch_ms(e.closed_at),
            ), SHIFT)
        # XReportTaken and the cash sale/refund hooks are private (sales publish their own).
        return None

    @staticmethod
    def _event(
        domain_event: Any, name: str, message: Any, aggregate: str = AGGREGATE
    ) -> IntegrationEvent:
        return IntegrationEvent.of(
            SERVICE, domain_event.store_id, aggregate, name,
            message=message, occurred_at=domain_event.timestamp,
        )
