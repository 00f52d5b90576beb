"""Loyalty tiers, FIFO lots, expiry, reversal, and purchase history (domain and application)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crm.application import CustomerNotFoundError, Customers
from crm.bus import command_handlers, on_sale_completed
from crm.contracts import CrmContracts
from crm.domainmodel import (
    DEFAULT_POLICY,
    InsufficientPointsError,
    InvalidCustomerError,
    LoyaltyAccount,
    LoyaltyPolicy,
    PurchaseHistory,
    Tier,
    months_before,
)
from crm.pii import PiiVault
from tillstream.codec import ReceivedEvent
from tillstream.consumer import UnitOfWork
from tillstream.events.v1 import checkout_pb2, common_pb2, crm_pb2
from tillstream.eventstore import event_store_env
from tillstream.service import CommandError
from tillstream.settings import Settings

# Aliased: a module-level name starting with "test_" would be collected by pytest.
from tillstream.testing import test_settings as settings_for_test

#: Small thresholds so a handful of sales moves tiers: silver from 1,000.00, gold from 5,000.00.
POLICY = LoyaltyPolicy(
    tiers=(Tier("basic", 0, 1), Tier("silver", 100_000, 2), Tier("gold", 500_000, 3)),
    window_months=12, expiry_months=24, expiring_soon_days=30,
)
T0 = datetime(2025, 1, 15, 12, tzinfo=UTC)


def names(account: LoyaltyAccount) -> list[str]:
    return [type(e).__name__ for e in account.collect_events()]


class TestPolicy:
    def test_default_thresholds_keep_demo_customers_basic(self) -> None:
        # The e2e tests rely on a point being exactly one whole unit for demo volumes.
        assert DEFAULT_POLICY.tiers[0] == Tier("basic", 0, 1)
        assert DEFAULT_POLICY.tiers[1].min_spend_minor >= 10_000_000

    def test_invalid_policies(self) -> None:
        with pytest.raises(ValueError):
            LoyaltyPolicy(tiers=(Tier("basic", 10, 1),))
        with pytest.raises(ValueError):
            LoyaltyPolicy(tiers=(Tier("basic", 0, 1), Tier("x", 5, 2), Tier("y", 5, 3)))

    def test_months_before_clamps_the_day(self) -> None:
        assert months_before(datetime(2025, 3, 31, tzinfo=UTC), 1) == datetime(
            2025, 2, 28, tzinfo=UTC)
        assert months_before(datetime(2025, 1, 15, tzinfo=UTC), 12) == datetime(
            2024, 1, 15, tzinfo=UTC)


class TestTiers:
    def test_rate_rounds_down_per_whole_unit_then_multiplies(self) -> None:
        account = LoyaltyAccount.open("c1")
        assert account.earn_for_sale(1299, "EUR", "s1", "s001", T0, POLICY) == 12
        assert account.earn_for_sale(99, "EUR", "s2", "s001", T0, POLICY) == 0
        assert account.earn_for_sale(-500, "EUR", "s3", "s001", T0, POLICY) == 0
        assert account.earn_for_sale(1299, "JPY", "s4", "s001", T0, POLICY) == 1299
        assert account.earn_for_sale(1299, "EUR", "s1", "s001", T0, POLICY) == 0  # redelivery

    def test_up_after_the_sale_that_crosses_then_at_the_higher_rate(self) -> None:
        account = LoyaltyAccount.open("c1")
        assert account.earn_for_sale(99_900, "EUR", "s1", "s001", T0, POLICY) == 999
        assert account.tier == "basic"
        # This sale is earned at basic (the tier in force) and lifts the account to silver.
        assert account.earn_for_sale(1_000, "EUR", "s2", "s001", T0, POLICY) == 10
        assert account.tier == "silver"
        assert account.earn_for_sale(1_000, "EUR", "s3", "s001", T0, POLICY) == 20
        account.earn_for_sale(400_000, "EUR", "s4", "s001", T0 + timedelta(days=1), POLICY)
        assert account.tier == "gold"
        changes = [e for e in account.collect_events()
                   if isinstance(e, LoyaltyAccount.TierChanged)]
        assert [(e.from_tier, e.to_tier) for e in changes] == [
            ("basic", "silver"), ("silver", "gold")]
        assert changes[0].rolling_spend_minor == 100_900
        assert changes[0].customer_id == "c1" and changes[0].store_id == "s001"

    def test_down_as_spend_leaves_the_rolling_window(self) -> None:
        account = LoyaltyAccount.open("c1")
        account.earn_for_sale(600_000, "EUR", "s1", "s001", T0, POLICY)
        assert account.tier == "gold"
        later = T0 + timedelta(days=200)
        account.earn_for_sale(150_000, "EUR", "s2", "s002", later, POLICY)
        assert account.tier == "gold"
        # A year and a day after the first sale only the second is in the window: silver.
        account.review_tier(T0 + timedelta(days=366), POLICY)
        assert account.tier == "silver"
        assert account.rolling_spend(T0 + timedelta(days=366), POLICY) == 150_000
        # Once the second leaves too: basic; the change is announced where they last bought.
        account.expire(later + timedelta(days=370), POLICY)
        assert account.tier == "basic"
        last = account.collect_events()[-1]
        assert isinstance(last, LoyaltyAccount.TierChanged)
        assert (last.from_tier, last.to_tier, last.store_id) == ("silver", "basic", "s002")

    def test_a_return_can_lower_the_tier(self) -> None:
        account = LoyaltyAccount.open("c1")
        account.earn_for_sale(60_000, "EUR", "s1", "s001", T0, POLICY)
        account.earn_for_sale(60_000, "EUR", "s2", "s001", T0, POLICY)
        assert account.tier == "silver"
        assert account.reverse_earn("s2", at=T0 + timedelta(days=1), policy=POLICY) == 0
        assert account.tier == "basic"


class TestLots:
    def test_redemption_consumes_oldest_lots_first(self) -> None:
        account = LoyaltyAccount.open("c1")
        account.earn(10, "s1", "s001", T0)
        account.earn(20, "s2", "s001", T0 + timedelta(days=1))
        account.redeem(15, "r1", "s001")
        assert [(lot.sale_id, lot.remaining) for lot in account.lots] == [("s1", 0), ("s2", 15)]
        assert account.balance == 15 == sum(lot.remaining for lot in account.lots)

    def test_redemption_never_below_zero(self) -> None:
        account = LoyaltyAccount.open("c1")
        account.earn(10, "s1", "s001", T0)
        with pytest.raises(InsufficientPointsError):
            account.redeem(11, "r1", "s001")
        account.redeem(10, "r1", "s001")
        assert account.balance == 0
        with pytest.raises(InsufficientPointsError):
            account.redeem(1, "r2", "s001")

    def test_expiry_of_old_lots_only(self) -> None:
        account = LoyaltyAccount.open("c1")
        account.earn(10, "s1", "s001", T0)
        account.earn(20, "s2", "s002", T0 + timedelta(days=100))
        account.redeem(4, "r1", "s001")  # from s1: 6 left there
        account.collect_events()
        as_of = T0 + timedelta(days=2 * 365 + 10)  # past s1's 24 months, not s2's
        assert account.expiring(as_of, POLICY) == 6
        assert account.expiring_soon(as_of - timedelta(days=20), POLICY) == 6
        assert account.expiring_soon(as_of - timedelta(days=60), POLICY) == 0
        assert account.expire(as_of, POLICY) == 6
        (expired,) = [e for e in account.collect_events()
                      if isinstance(e, LoyaltyAccount.PointsExpired)]
        assert (expired.sale_id, expired.store_id, expired.points, expired.balance) == (
            "s1", "s001", 6, 20)
        assert (account.balance, account.expired_total) == (20, 6)
        assert account.expire(as_of, POLICY) == 0  # idempotent
        assert account.expire(as_of + timedelta(days=200), POLICY) == 20
        assert account.balance == 0

    def test_reversal_takes_back_what_is_left_and_records_the_shortfall(self) -> None:
        account = LoyaltyAccount.open("c1")
        account.earn(10, "s1", "s001", T0)
        account.earn(30, "s2", "s001", T0)
        account.redeem(35, "r1", "s001")  # s1 empty, s2 has 5
        assert account.reverse_earn("s2", at=T0) == 25
        assert (account.balance, account.reversed_total, account.shortfall_total) == (0, 5, 25)
        assert account.reverse_earn("s2", at=T0) is None  # already reversed
        assert account.reverse_earn("nope", at=T0) is None
        reversed_ = [e for e in account.collect_events()
                     if isinstance(e, LoyaltyAccount.PointsReversed)]
        assert [(e.points, e.shortfall, e.balance) for e in reversed_] == [(5, 25, 0)]

    def test_reversal_takes_from_other_lots_when_its_own_was_spent(self) -> None:
        account = LoyaltyAccount.open("c1")
        account.earn(10, "s1", "s001", T0)
        account.earn(30, "s2", "s001", T0)
        account.redeem(10, "r1", "s001")  # s1 spent
        assert account.reverse_earn("s1", at=T0) == 0
        assert account.balance == 20 == sum(lot.remaining for lot in account.lots)

    def test_replay_gives_the_same_state(self) -> None:
        account = LoyaltyAccount.open("c1")
        account.earn_for_sale(150_000, "EUR", "s1", "s001", T0, POLICY)
        account.redeem(700, "r1", "s001")
        account.reverse_earn("s1", at=T0, policy=POLICY)
        events = account.collect_events()
        copy = None
        for domain_event in events:
            copy = domain_event.mutate(copy)
        assert isinstance(copy, LoyaltyAccount)
        assert (copy.balance, copy.tier, copy.shortfall_total) == (0, "basic", 700)


class TestContracts:
    def test_expired_and_tier_changed_are_published_without_pii(self) -> None:
        contracts = CrmContracts()
        account = LoyaltyAccount.open("c1")
        account.earn_for_sale(100_000, "EUR", "s1", "s001", T0, POLICY)
        account.expire(T0 + timedelta(days=800), POLICY)
        published = [contracts.to_integration(e) for e in account.collect_events()]
        subjects = [p.subject for p in published if p is not None]
        assert subjects == ["crm.s001.loyalty.points_earned", "crm.s001.loyalty.tier_changed",
                            "crm.s001.loyalty.points_expired", "crm.s001.loyalty.tier_changed"]
        expired = next(p for p in published if p and p.subject.endswith("points_expired"))
        assert expired.message == crm_pb2.LoyaltyPointsExpired(
            customer_id="c1", store_id="s001", sale_id="s1", points=1000, balance=0,
            expired_at_ms=int((T0 + timedelta(days=800)).timestamp() * 1000))


class TestPurchaseHistory:
    def test_totals_favourites_last_visit(self) -> None:
        history = PurchaseHistory.start("c1")
        history.record("a", "s001", 1000, "EUR", [("MILK", 2), ("BREAD", 1)], T0)
        history.record("b", "s002", 500, "EUR", [("BREAD", 3)], T0 + timedelta(days=2))
        history.record("c", "s001", 300, "EUR", [("EGGS", 2)], T0 + timedelta(days=1))
        assert not history.record("a", "s001", 1000, "EUR", [], T0)  # redelivery
        assert history.totals == {"EUR": 1800}
        assert history.favourites(2) == [("BREAD", 4), ("EGGS", 2)]
        assert history.last_visit == (T0 + timedelta(days=2)).isoformat()
        assert [p.sale_id for p in history.newest_first()] == ["b", "c", "a"]

    def test_guards(self) -> None:
        with pytest.raises(InvalidCustomerError):
            PurchaseHistory.start("")
        with pytest.raises(InvalidCustomerError):
            PurchaseHistory.start("c1").record("", "s001", 1, "EUR", [], T0)


def sale_event(
    sale_id: str, customer_id: str, total_minor: int, at: datetime,
    lines: tuple[tuple[str, int], ...] = (("SKU1", 1),), store_id: str = "s001",
) -> ReceivedEvent:
    message = checkout_pb2.SaleCompleted(
        sale_id=sale_id, store_id=store_id, customer_id=customer_id,
        total=common_pb2.Money(amount_minor=total_minor, currency="EUR"),
        lines=[common_pb2.SaleLine(line_no=i + 1, sku=sku, quantity=qty)
               for i, (sku, qty) in enumerate(lines)],
        completed_at_ms=int(at.timestamp() * 1000),
    )
    return ReceivedEvent(
        event_type=message.DESCRIPTOR.full_name, message=message,
        subject=f"checkout.{store_id}.sale.completed", store_id=store_id,
        occurred_at=at.isoformat(), msg_id=f"checkout:{sale_id}", headers={},
    )


class LoyaltyApplicationTests:
    """Loyalty and history through the Customers application, on each storage."""

    @pytest.fixture
    def settings(self) -> Settings:
        raise NotImplementedError

    @pytest.fixture
    def app(self, settings: Settings) -> Iterator[Customers]:
        app = Customers(env=event_store_env(settings, "crm"),
                        vault=PiiVault.from_settings(settings), policy=POLICY)
        yield app
        app.close()

    def apply(self, app: Customers, *events: ReceivedEvent) -> None:
        uow = UnitOfWork(app)
        for received in events:
            on_sale_completed(received, uow)
        app.save(*uow.aggregates.values())

    def test_sales_earn_by_tier_and_history_pages(self, app: Customers) -> None:
        sales = [sale_event(f"sale-{i}", "cust-1", 30_000, T0 + timedelta(days=i),
                            (("MILK", 1), (f"X{i % 2}", i))) for i in range(5)]
        self.apply(app, *sales[:2])
        self.apply(app, *sales[2:])
        self.apply(app, sales[0])  # a redelivery changes nothing
        balance = app.loyalty_balance("cust-1", now=T0)
        # 300 * 4 (the fourth crosses 1,000.00 -> silver) + 600 at the silver rate.
        assert (balance.balance, balance.earned_total, balance.tier) == (1800, 1800, "silver")
        first = app.history("cust-1", page_size=2)
        assert [s["sale_id"] for s in first.sales] == ["sale-4", "sale-3"]
        assert first.sales[0]["lines"] == [{"sku": "MILK", "quantity": 1},
                                           {"sku": "X0", "quantity": 4}]
        assert (first.sale_count, first.totals, first.next_page_token) == (5, {"EUR": 150_000}, "2")
        assert first.favourites[:2] == [{"sku": "X0", "quantity": 6},
                                        {"sku": "MILK", "quantity": 5}]
        assert first.last_visit == (T0 + timedelta(days=4)).isoformat()
        second = app.history("cust-1", page_size=2, page_token=first.next_page_token)
        third = app.history("cust-1", page_size=2, page_token=second.next_page_token)
        assert [s["sale_id"] for s in second.sales + third.sales] == [
            "sale-2", "sale-1", "sale-0"]
        assert third.next_page_token == ""
        with pytest.raises(CustomerNotFoundError):
            app.history("nobody")
        with pytest.raises(InvalidCustomerError):
            app.history("cust-1", page_token="x")

    def test_redeem_reverse_expire(self, app: Customers) -> None:
        self.apply(app, sale_event("a", "cust-1", 10_000, T0),
                   sale_event("b", "cust-1", 20_000, T0 + timedelta(days=400)),
                   sale_event("c", "cust-2", 5_000, T0))
        assert app.redeem_points("cust-1", 150, "tender-1", "s001") == 150
        assert app.reverse_points("cust-1", "b", at=T0 + timedelta(days=401)) == 50
        assert app.loyalty_balance("cust-1").balance == 0
        assert app.reverse_points("cust-1", "b") is None
        result = app.expire_points(T0 + timedelta(days=800))
        assert result == {"accounts_changed": 1, "points_expired": 50}  # cust-2's lot
        assert app.loyalty_balance("cust-2").balance == 0
        assert app.expire_points(T0 + timedelta(days=800))["points_expired"] == 0
        with pytest.raises(InsufficientPointsError):
            app.redeem_points("cust-1", 1, "tender-2", "s001")

    def test_commands(self, app: Customers) -> None:
        commands = command_handlers(app)
        self.apply(app, sale_event("a", "cust-1", 10_000, datetime.now(UTC)))
        loyalty: dict[str, Any] = commands["loyalty"]({"customer_id": "cust-1"})
        assert (loyalty["balance"], loyalty["tier"], loyalty["expiring_soon"]) == (
            100, "basic", 0)
        assert commands["redeem_points"]({"customer_id": "cust-1", "points": 40,
                                          "reference": "t1", "store_id": "s001"}) == {
            "balance": 60}
        with pytest.raises(CommandError) as refused:
            commands["redeem_points"]({"customer_id": "cust-1", "points": 61,
                                       "reference": "t2", "store_id": "s001"})
        assert refused.value.code == "insufficient_points"
        with pytest.raises(CommandError):
            commands["redeem_points"]({"customer_id": "cust-1", "points": "1",
                                       "reference": "t2", "store_id": "s001"})
        far = (datetime.now(UTC) + timedelta(days=3 * 365)).isoformat()
        assert commands["expire_points"]({"as_of": far}) == {
            "accounts_changed": 1, "points_expired": 60}
        page = commands["history"]({"customer_id": "cust-1", "page_size": 1})
        assert [s["sale_id"] for s in page["sales"]] == ["a"]
        assert page["next_page_token"] == ""


class TestWithSQLite(LoyaltyApplicationTests):
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return settings_for_test(tmp_path)


@pytest.mark.postgres
class TestWithPostgres(LoyaltyApplicationTests):
    @pytest.fixture
    def settings(self, tmp_path: Path, postgres_dsn: str) -> Settings:
        return settings_for_test(tmp_path, postgres_dsn=postgres_dsn)


def test_version_1_points_earned_is_upcast(tmp_path: Path) -> None:
    # Before tiers and lots, PointsEarned had no spend or time: both are derived on reading.
    from dataclasses import replace
    from json import dumps, loads

    settings = settings_for_test(tmp_path)
    app = Customers(env=event_store_env(settings, "crm"), vault=PiiVault.from_settings(settings))
    try:
        account = LoyaltyAccount.open("c1")
        account.earn(12, "s1", "s001", T0, 1299)
        opened, earned = (app.mapper.to_stored_event(e) for e in account.collect_events())
        state = loads(earned.state)
        for field in ("spend_minor", "at", "class_version"):
            state.pop(field)
        old = replace(earned, state=dumps(state).encode())
        copy = None
        for stored in (opened, old):
            copy = app.mapper.to_domain_event(stored).mutate(copy)
        assert isinstance(copy, LoyaltyAccount)
        (lot,) = copy.lots
        assert (copy.balance, lot.spend_minor, lot.remaining) == (12, 1200, 12)
        assert lot.at == state["timestamp"]["_data_"]
    finally:
        app.close()
