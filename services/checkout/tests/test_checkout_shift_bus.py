"""Shift commands on the bus (JSON in, JSON out, refusal codes) and shift contracts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from checkout.application import Checkout
from checkout.bus import CheckoutCommands
from checkout.contracts import CheckoutContracts
from checkout.domainmodel import Cashier, LaneState, PriceEntry, Shift
from checkout.main import build_application
from tillstream.events.v1 import checkout_pb2
from tillstream.service import CommandError
from tillstream.testing import test_settings

PIN = "4321"
SHIFT = {"store_id": "s001", "lane_id": "l1", "cashier_id": "c7", "pin": PIN,
         "float_minor": 100_00, "currency": "EUR"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Checkout]:
    app = build_application(test_settings(tmp_path))
    app.save(PriceEntry.register("sku-a", "A", 250, "EUR", True))
    yield app
    app.close()


@pytest.fixture
def commands(app: Checkout) -> CheckoutCommands:
    commands = CheckoutCommands(app)
    commands.register_cashier({"store_id": "s001", "cashier_id": "c7", "name": "Ann",
                               "pin": PIN})
    return commands


def refused(handler: Any, body: dict[str, Any]) -> str:
    with pytest.raises(CommandError) as refusal:
        handler(body)
    return refusal.value.code


def open_shift(commands: CheckoutCommands) -> str:
    return str(commands.open_shift(dict(SHIFT))["shift_id"])


class TestCashierCommands:
    def test_register_is_idempotent(self, commands: CheckoutCommands) -> None:
        body = {"store_id": "s001", "cashier_id": "c8", "name": "Bob", "pin": "5678"}
        assert commands.register_cashier(body) == {"cashier_id": "c8", "registered": True}
        assert commands.register_cashier(body) == {"cashier_id": "c8", "registered": False}
        assert refused(commands.register_cashier, {**body, "pin": "8765"}) == "conflict"

    @pytest.mark.parametrize(("change", "code"), [
        ({"pin": "12"}, "invalid"), ({"pin": 1234}, "invalid"), ({"pin": "12ab"}, "invalid"),
        ({"name": ""}, "invalid"), ({"cashier_id": "c.9"}, "invalid"),
        ({"store_id": None}, "invalid"),
    ])
    def test_register_refusals(
        self, commands: CheckoutCommands, change: dict[str, Any], code: str
    ) -> None:
        body = {"store_id": "s001", "cashier_id": "c9", "name": "Cy", "pin": "5678", **change}
        assert refused(commands.register_cashier, body) == code

    def test_login(self, commands: CheckoutCommands) -> None:
        assert commands.login({"store_id": "s001", "cashier_id": "c7", "pin": PIN}) == {
            "cashier_id": "c7", "name": "Ann"}
        for body in ({"store_id": "s001", "cashier_id": "c7", "pin": "0000"},
                     {"store_id": "s001", "cashier_id": "c99", "pin": PIN}):
            assert refused(commands.login, body) == "bad_pin"
        assert refused(commands.login, {"store_id": "s001", "cashier_id": "c7"}) == "invalid"


class TestShiftCommands:
    def test_sale_refused_without_a_shift(self, commands: CheckoutCommands) -> None:
        body = {"sale_id": str(uuid4()), "store_id": "s001", "lane_id": "l1",
                "cashier_id": "c7", "currency": "EUR"}
        assert refused(commands.open_sale, body) == "no_shift"
        open_shift(commands)
        assert commands.open_sale(body)["status"] == "open"
        other = {**body, "sale_id": str(uuid4()), "cashier_id": "c8"}
        assert refused(commands.open_sale, other) == "wrong_cashier"

    @pytest.mark.parametrize(("change", "code"), [
        ({"pin": "9999"}, "bad_pin"), ({"cashier_id": "c99"}, "bad_pin"),
        ({"float_minor": -1}, "invalid"), ({"float_minor": "100"}, "invalid"),
        ({"currency": "eur"}, "invalid"), ({"lane_id": ""}, "invalid"),
        ({"lane_id": "l>1"}, "rejected"),
    ])
    def test_open_shift_refusals(
        self, commands: CheckoutCommands, change: dict[str, Any], code: str
    ) -> None:
        assert refused(commands.open_shift, {**SHIFT, **change}) == code

    def test_open_shift_twice(self, commands: CheckoutCommands) -> None:
        shift_id = open_shift(commands)
        assert open_shift(commands) == shift_id
        commands.register_cashier({"store_id": "s001", "cashier_id": "c8", "name": "Bob",
                                   "pin": "5678"})
        other = {**SHIFT, "cashier_id": "c8", "pin": "5678"}
        assert refused(commands.open_shift, other) == "conflict"

    def test_a_whole_shift_as_json(self, commands: CheckoutCommands) -> None:
        shift_id = open_shift(commands)
        assert commands.pay_in({"shift_id": shift_id, "amount_minor": 25_00,
                                "reason": "coins"}) == {"shift_id": shift_id,
                                                        "expected_minor": 125_00}
        assert commands.pay_out({"shift_id": shift_id, "amount_minor": 5_00,
                                 "reason": "stamps"}) == {"shift_id": shift_id,
                                                          "expected_minor": 120_00}
        assert commands.no_sale({"shift_id": shift_id, "reason": "change"}) == {
            "shift_id": shift_id}
        x = commands.x_report({"shift_id": shift_id})
        assert (x["kind"], x["expected_minor"], x["no_sales"], x["status"]) == (
            "X", 120_00, 1, "open")
        z = commands.close_shift({"shift_id": shift_id,
                                  "counted": {"5000": 2, "1000": 1, "200": 4, "10": 0}})
        assert z == {
            "kind": "Z", "shift_id": shift_id, "store_id": "s001", "lane_id": "l1",
            "cashier_id": "c7", "currency": "EUR", "status": "closed", "float_minor": 100_00,
            "cash_sales_minor": 0, "cash_refunds_minor": 0, "paid_in_minor": 25_00,
            "paid_out_minor": 5_00, "no_sales": 1, "expected_minor": 120_00,
            "counted_minor": 118_00, "variance_minor": -2_00,
            "counted": {"5000": 2, "1000": 1, "200": 4},
        }
        json.dumps(z)
        for handler, body in (
            (commands.pay_in, {"shift_id": shift_id, "amount_minor": 1, "reason": "r"}),
            (commands.no_sale, {"shift_id": shift_id, "reason": "r"}),
            (commands.x_report, {"shift_id": shift_id}),
            (commands.close_shift, {"shift_id": shift_id, "counted": {}}),
        ):
            assert refused(handler, body) == "closed"

    def test_shift_command_refusals(self, commands: CheckoutCommands) -> None:
        shift_id = open_shift(commands)
        cases: list[tuple[Any, dict[str, Any], str]] = [
            (commands.pay_in, {"shift_id": shift_id, "amount_minor": 0, "reason": "r"},
             "invalid"),
            (commands.pay_in, {"shift_id": shift_id, "amount_minor": 1}, "invalid"),
            (commands.pay_in, {"shift_id": shift_id, "amount_minor": 1, "reason": " "},
             "invalid"),
            (commands.pay_out, {"shift_id": shift_id, "amount_minor": 100_01, "reason": "r"},
             "insufficient_cash"),
            (commands.pay_out, {"shift_id": "nope", "amount_minor": 1, "reason": "r"},
             "invalid"),
            (commands.no_sale, {"shift_id": str(uuid4()), "reason": "r"}, "not_found"),
            (commands.x_report, {"shift_id": str(uuid4())}, "not_found"),
            (commands.close_shift, {"shift_id": shift_id}, "invalid"),
            (commands.close_shift, {"shift_id": shift_id, "counted": {"5x": 1}}, "invalid"),
            (commands.close_shift, {"shift_id": shift_id, "counted": {"500": "1"}}, "invalid"),
            (commands.close_shift, {"shift_id": shift_id, "counted": {"500": -1}}, "invalid"),
            (commands.close_shift, {"shift_id": shift_id, "counted": {"0": 1}}, "invalid"),
            (commands.close_shift, {"shift_id": shift_id, "counted": [["500", 1]]},
             "invalid"),
        ]
        for handler, body, code in cases:
            assert refused(handler, body) == code, body
        assert commands.x_report({"shift_id": shift_id})["status"] == "open"

    def test_handlers_are_registered(self, commands: CheckoutCommands) -> None:
        assert {"register_cashier", "login", "open_shift", "pay_in", "pay_out", "no_sale",
                "x_report", "close_shift"} <= set(commands.handlers())


class TestShiftContracts:
    contracts = CheckoutContracts()

    def events(self) -> list[Any]:
        cashier = Cashier.register("s042", "c9", "Cy", PIN)
        shift = Shift.open(cashier, PIN, "l3", 100_00, "EUR")
        lane = LaneState.create("s042", "l3")
        lane.start(shift)
        shift.cash_sale(30_00, "sale-1")
        shift.paid_in(10_00, "coins")
        shift.paid_out(2_50, "stamps")
        shift.no_sale("change")
        shift.x_report()
        shift.close({5000: 2, 2000: 1, 500: 3, 10: 5},
                    at=datetime(2025, 3, 4, 5, 6, 7, 890000, tzinfo=UTC))
        lane.end(shift.id)
        return [*cashier.collect_events(), *lane.collect_events(), *shift.collect_events()]

    def test_public_shift_events_map_to_their_subjects(self) -> None:
        mapped = [self.contracts.to_integration(e) for e in self.events()]
        assert [m.subject for m in mapped if m is not None] == [
            "checkout.s042.shift.opened",
            "checkout.s042.shift.paid_in",
            "checkout.s042.shift.paid_out",
            "checkout.s042.shift.drawer_opened",
            "checkout.s042.shift.closed",
        ]
        # Cashier (its PIN hash), LaneState, the cash sale hook and the X report are private.
        assert sum(m is None for m in mapped) == 6

    def test_payloads(self) -> None:
        events = self.events()
        by_type = {type(e).__name__: self.contracts.to_integration(e) for e in events}
        shift_id = str(events[-1].originator_id)
        opened = checkout_pb2.ShiftOpened.FromString(by_type["Opened"].payload())  # type: ignore[union-attr]
        assert (opened.shift_id, opened.store_id, opened.lane_id, opened.cashier_id,
                opened.opening_float.amount_minor, opened.opening_float.currency) == (
            shift_id, "s042", "l3", "c9", 100_00, "EUR")
        assert opened.opened_at_ms > 0
        paid_in = checkout_pb2.CashPaidIn.FromString(by_type["CashPaidIn"].payload())  # type: ignore[union-attr]
        assert (paid_in.amount.amount_minor, paid_in.reason) == (10_00, "coins")
        paid_out = checkout_pb2.CashPaidOut.FromString(by_type["CashPaidOut"].payload())  # type: ignore[union-attr]
        assert (paid_out.amount.amount_minor, paid_out.reason) == (2_50, "stamps")
        drawer = checkout_pb2.DrawerOpened.FromString(by_type["DrawerOpened"].payload())  # type: ignore[union-attr]
        assert (drawer.cashier_id, drawer.lane_id, drawer.reason) == ("c9", "l3", "change")
        integration = by_type["Closed"]
        assert integration is not None
        assert integration.event_type == "tillstream.events.v1.ShiftClosed"
        closed = checkout_pb2.ShiftClosed.FromString(integration.payload())
        assert closed.shift_id == shift_id
        assert (closed.opening_float.amount_minor, closed.cash_sales.amount_minor,
                closed.cash_refunds.amount_minor, closed.paid_in.amount_minor,
                closed.paid_out.amount_minor, closed.expected.amount_minor,
                closed.counted.amount_minor, closed.variance.amount_minor) == (
            100_00, 30_00, 0, 10_00, 2_50, 137_50, 135_50, -2_00)
        assert closed.variance.currency == "EUR"
        assert [(d.denomination_minor, d.count) for d in closed.counted_by_denomination] == [
            (5000, 2), (2000, 1), (500, 3), (10, 5)]
        assert closed.closed_at_ms == 1741064767890
