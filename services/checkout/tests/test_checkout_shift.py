"""Unit tests of the cash side of checkout: Cashier (PIN login), Shift (drawer) and LaneState."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from checkout.domainmodel import (
    SHIFT_CLOSED,
    SHIFT_OPEN,
    BadPinError,
    Cashier,
    CashierError,
    InsufficientCashError,
    InvalidCashError,
    LaneBusyError,
    LaneState,
    Sale,
    Shift,
    ShiftClosedError,
    ShiftError,
    ShiftNotClosedError,
    cashier_key,
    lane_key,
)

PIN = "4321"


@pytest.fixture(scope="module")
def cashier() -> Cashier:
    return Cashier.register("s001", "c7", "Ann", PIN)


def open_shift(cashier: Cashier, float_minor: int = 100_00) -> Shift:
    return Shift.open(cashier, PIN, "l1", float_minor, "EUR")


def names(shift: Shift) -> list[str]:
    return [type(e).__name__ for e in shift.collect_events()]


class TestCashier:
    def test_id_derives_from_store_and_cashier(self, cashier: Cashier) -> None:
        assert cashier.id == cashier_key("s001", "c7")
        assert cashier_key("s001", "c7") != cashier_key("s002", "c7")
        assert (cashier.store_id, cashier.cashier_id, cashier.name) == ("s001", "c7", "Ann")

    def test_pin_verifies(self, cashier: Cashier) -> None:
        assert cashier.verify_pin(PIN)
        assert not cashier.verify_pin("4322")
        assert not cashier.verify_pin("")
        assert not cashier.verify_pin(4321)
        cashier.check_pin(PIN)
        with pytest.raises(BadPinError):
            cashier.check_pin("0000")

    def test_event_holds_a_salted_scrypt_hash_never_the_pin(self) -> None:
        one = Cashier.register("s001", "c8", "Bob", "987654")
        two = Cashier.register("s001", "c9", "Cy", "987654")
        (registered,) = one.collect_events()
        assert isinstance(registered, Cashier.Registered)
        state = json.dumps(registered.__dict__, default=str)
        assert "987654" not in state
        assert registered.kdf == {"n": 2**14, "r": 8, "p": 1}
        assert len(bytes.fromhex(registered.pin_hash)) == 32
        assert one.pin_salt != two.pin_salt and one.pin_hash != two.pin_hash

    def test_reconstructed_cashier_still_verifies(self) -> None:
        one = Cashier.register("s001", "c8", "Bob", "987654")
        copy = None
        for domain_event in one.collect_events():
            copy = domain_event.mutate(copy)
        assert isinstance(copy, Cashier) and copy.verify_pin("987654")

    @pytest.mark.parametrize("pin", ["123", "123456789", "12a4", "", "\uff11\uff12\uff13\uff14",
                                     1234, None])
    def test_pin_shape(self, pin: object) -> None:
        with pytest.raises(CashierError):
            Cashier.register("s001", "c7", "Ann", pin)  # type: ignore[arg-type]

    @pytest.mark.parametrize(("store", "cashier_id", "name"), [
        ("", "c7", "Ann"), ("s.1", "c7", "Ann"), ("s001", "", "Ann"), ("s001", "c:7", "Ann"),
        ("s001", "c7", " "),
    ])
    def test_ids_and_name_required(self, store: str, cashier_id: str, name: str) -> None:
        with pytest.raises(CashierError):
            Cashier.register(store, cashier_id, name, PIN)


class TestShiftOpen:
    def test_open_after_pin_check(self, cashier: Cashier) -> None:
        shift = open_shift(cashier)
        assert (shift.store_id, shift.lane_id, shift.cashier_id, shift.currency) == (
            "s001", "l1", "c7", "EUR")
        assert shift.status == SHIFT_OPEN and shift.is_open
        assert shift.expected_minor == shift.float_minor == 100_00
        assert names(shift) == ["Opened"]

    def test_wrong_pin_opens_nothing(self, cashier: Cashier) -> None:
        with pytest.raises(BadPinError):
            Shift.open(cashier, "1111", "l1", 100_00, "EUR")

    def test_zero_float_allowed(self, cashier: Cashier) -> None:
        assert open_shift(cashier, 0).expected_minor == 0

    @pytest.mark.parametrize(("lane", "float_minor", "currency"), [
        ("", 100, "EUR"), ("l.1", 100, "EUR"), ("l1", -1, "EUR"), ("l1", 1.5, "EUR"),
        ("l1", True, "EUR"), ("l1", 100, "eur"), ("l1", 100, "EURO"),
    ])
    def test_open_guards(
        self, cashier: Cashier, lane: str, float_minor: int, currency: str
    ) -> None:
        with pytest.raises(ShiftError):
            Shift.open(cashier, PIN, lane, float_minor, currency)


class TestShiftCash:
    def test_paid_in_and_out_move_expected_cash(self, cashier: Cashier) -> None:
        shift = open_shift(cashier)
        shift.paid_in(50_00, "change from the safe")
        shift.paid_out(12_34, "window cleaner")
        assert (shift.paid_in_minor, shift.paid_out_minor) == (50_00, 12_34)
        assert shift.expected_minor == 100_00 + 50_00 - 12_34
        events = shift.collect_events()[1:]
        assert [type(e).__name__ for e in events] == ["CashPaidIn", "CashPaidOut"]
        assert events[1].reason == "window cleaner"  # type: ignore[attr-defined]

    @pytest.mark.parametrize("reason", ["", "   ", None, "x" * 201])
    def test_a_reason_is_required(self, cashier: Cashier, reason: object) -> None:
        shift = open_shift(cashier)
        for operation in (shift.paid_in, shift.paid_out):
            with pytest.raises(InvalidCashError):
                operation(1_00, reason)  # type: ignore[arg-type]
        with pytest.raises(InvalidCashError):
            shift.no_sale(reason)  # type: ignore[arg-type]

    @pytest.mark.parametrize("amount", [0, -1, 1.0, True, "100", 100_000_000_01])
    def test_amounts_are_positive_integers(self, cashier: Cashier, amount: object) -> None:
        shift = open_shift(cashier)
        for operation in (shift.paid_in, shift.paid_out):
            with pytest.raises(InvalidCashError):
                operation(amount, "reason")  # type: ignore[arg-type]
        with pytest.raises(InvalidCashError):
            shift.cash_sale(amount)  # type: ignore[arg-type]
        with pytest.raises(InvalidCashError):
            shift.cash_refund(amount)  # type: ignore[arg-type]

    def test_paid_out_cannot_exceed_the_drawer(self, cashier: Cashier) -> None:
        shift = open_shift(cashier, 10_00)
        with pytest.raises(InsufficientCashError):
            shift.paid_out(10_01, "too much")
        shift.paid_out(10_00, "all of it")
        assert shift.expected_minor == 0

    def test_no_sale_is_audited(self, cashier: Cashier) -> None:
        shift = open_shift(cashier)
        shift.collect_events()
        shift.no_sale("customer wanted change")
        (opened,) = shift.collect_events()
        assert isinstance(opened, Shift.DrawerOpened)
        assert (opened.cashier_id, opened.lane_id, opened.reason) == (
            "c7", "l1", "customer wanted change")
        assert shift.no_sales == 1 and shift.expected_minor == 100_00

    def test_cash_sale_and_refund_hooks(self, cashier: Cashier) -> None:
        shift = open_shift(cashier)
        shift.cash_sale(23_50, "sale-1")
        shift.cash_sale(23_50, "sale-1")  # a retry
        shift.cash_sale(1_00)
        shift.cash_refund(5_00, "return-1")
        shift.cash_refund(5_00, "return-1")
        assert (shift.cash_sales_minor, shift.cash_refunds_minor) == (24_50, 5_00)
        assert shift.expected_minor == 100_00 + 24_50 - 5_00
        with pytest.raises(InsufficientCashError):
            shift.cash_refund(1_000_00)


class TestShiftReports:
    def test_x_report_is_a_recorded_query(self, cashier: Cashier) -> None:
        shift = open_shift(cashier)
        shift.cash_sale(40_00)
        shift.paid_in(10_00, "coins")
        shift.paid_out(5_00, "stamps")
        shift.no_sale("check")
        shift.collect_events()
        report = shift.x_report()
        (taken,) = shift.collect_events()
        assert isinstance(taken, Shift.XReportTaken) and taken.expected_minor == 145_00
        assert (report.kind, report.status, report.float_minor, report.cash_sales_minor,
                report.paid_in_minor, report.paid_out_minor, report.no_sales,
                report.expected_minor) == ("X", "open", 100_00, 40_00, 10_00, 5_00, 1, 145_00)
        assert report.counted_minor is None and "variance_minor" not in report.as_dict()
        # Nothing but the audit changed.
        assert shift.expected_minor == 145_00 and shift.is_open

    @pytest.mark.parametrize(("counted", "variance"), [
        ({5000: 2, 2000: 2, 500: 1, 200: 2, 50: 1}, 0),      # 14950 exactly
        ({5000: 2, 2000: 2, 500: 1, 200: 2}, -50),           # 50 cents short
        ({5000: 3}, 15000 - 14950),                           # over
        ({}, -14950),                                         # an empty drawer
        ({5000: 2, 2000: 2, 500: 1, 200: 2, 50: 1, 10: 0}, 0),  # a zero count is fine
    ])
    def test_close_gives_expected_counted_and_variance(
        self, cashier: Cashier, counted: dict[int, int], variance: int
    ) -> None:
        shift = open_shift(cashier)
        shift.cash_sale(58_50)
        shift.cash_refund(4_00)
        shift.paid_in(10_00, "coins")
        shift.paid_out(15_00, "supplier")
        at = datetime(2025, 5, 6, 22, 0, tzinfo=UTC)
        shift.collect_events()
        z = shift.close(counted, at=at)
        (closed,) = shift.collect_events()
        assert isinstance(closed, Shift.Closed)
        counted_minor = sum(d * c for d, c in counted.items())
        assert (z.kind, z.status, z.expected_minor, z.counted_minor, z.variance_minor) == (
            "Z", SHIFT_CLOSED, 149_50, counted_minor, variance)
        assert (closed.expected_minor, closed.counted_minor, closed.variance_minor) == (
            149_50, counted_minor, variance)
        assert closed.counted == sorted(([d, c] for d, c in counted.items() if c),
                                        reverse=True)
        assert closed.closed_at == at and shift.closed_at == at
        assert z.counted == {d: c for d, c in counted.items() if c}
        assert z == shift.z_report()
        assert z.as_dict()["counted"] == {str(d): c for d, c in counted.items() if c}

    @pytest.mark.parametrize("counted", [
        {0: 1}, {-100: 1}, {100: -1}, {100: 1.5}, {"100": 1}, {100: True}, [(100, 1)],
        {100: 1_000_001},
    ])
    def test_close_guards(self, cashier: Cashier, counted: object) -> None:
        shift = open_shift(cashier)
        with pytest.raises(InvalidCashError):
            shift.close(counted)  # type: ignore[arg-type]
        assert shift.is_open

    def test_z_report_only_of_a_closed_shift(self, cashier: Cashier) -> None:
        with pytest.raises(ShiftNotClosedError):
            open_shift(cashier).z_report()

    def test_closed_shift_refuses_everything(self, cashier: Cashier) -> None:
        shift = open_shift(cashier)
        shift.close({1000: 10})
        shift.collect_events()
        for operation in (
            lambda: shift.paid_in(1, "r"), lambda: shift.paid_out(1, "r"),
            lambda: shift.no_sale("r"), lambda: shift.cash_sale(1),
            lambda: shift.cash_refund(1), shift.x_report, lambda: shift.close({}),
        ):
            with pytest.raises(ShiftClosedError):
                operation()
        assert shift.collect_events() == []
        assert shift.z_report().variance_minor == 0

    def test_shift_reconstructs_from_its_events(self, cashier: Cashier) -> None:
        shift = open_shift(cashier)
        shift.cash_sale(10_00, "s1")
        shift.paid_out(3_00, "r")
        shift.close({500: 21, 200: 1})
        copy = None
        for domain_event in shift.collect_events():
            copy = domain_event.mutate(copy)
        assert isinstance(copy, Shift)
        assert copy.z_report() == shift.z_report()
        assert copy.z_report().variance_minor == 107_00 - 107_00


class TestLaneState:
    def test_one_open_shift_per_lane(self, cashier: Cashier) -> None:
        lane = LaneState.create("s001", "l1")
        assert lane.id == lane_key("s001", "l1") and lane.shift_id is None
        first, second = open_shift(cashier), open_shift(cashier)
        lane.start(first)
        lane.start(first)  # again: a no-op
        assert lane.shift_id == first.id and lane.cashier_id == "c7"
        with pytest.raises(LaneBusyError):
            lane.start(second)
        lane.end(second.id)  # not the lane's shift: nothing
        assert lane.shift_id == first.id
        lane.end(first.id)
        assert lane.shift_id is None
        lane.start(second)
        assert [type(e).__name__ for e in lane.collect_events()] == [
            "Created", "ShiftStarted", "ShiftEnded", "ShiftStarted"]

    def test_lane_ids_are_tokens(self) -> None:
        with pytest.raises(ShiftError):
            LaneState.create("s001", "l:1")


class TestSaleRecordsItsShift:
    def test_sale_opened_carries_shift_id(self) -> None:
        shift_id = str(uuid4())
        sale = Sale(id=uuid4(), store_id="s001", lane_id="l1", cashier_id="c7",
                    currency="EUR", shift_id=shift_id)
        (opened,) = sale.collect_events()
        assert sale.shift_id == shift_id == opened.shift_id  # type: ignore[attr-defined]

    def test_v1_sale_opened_upcasts_without_a_shift(self) -> None:
        state = {"store_id": "s001"}
        Sale.Opened.upcast_v1_v2(state)
        assert state == {"store_id": "s001", "shift_id": ""}
