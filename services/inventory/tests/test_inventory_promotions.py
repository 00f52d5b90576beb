"""Promotions and tax rates: validation, idempotent upserts, and their catalog events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inventory.application import Inventory
from inventory.contracts import InventoryContracts
from inventory.domainmodel import (
    InvalidPromotionError,
    InvalidTaxRateError,
    Promotion,
    TaxRate,
)
from inventory.main import build_application
from tillstream.events.v1 import inventory_pb2
from tillstream.testing import test_settings


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Inventory]:
    app = build_application(test_settings(tmp_path))
    yield app
    app.close()


PROMO: dict[str, Any] = {
    "promotion_id": "B2G1",
    "kind": "buy_x_get_y",
    "name": "3 for 2",
    "skus": ["A", "B"],
    "buy_quantity": 2,
    "get_quantity": 1,
}


def integration(app: Inventory) -> list[Any]:
    contracts = InventoryContracts()
    events = [contracts.to_integration(n) for n in _domain_events(app)]
    return [e for e in events if e is not None]


def _domain_events(app: Inventory) -> list[Any]:
    return [app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(1, 100)]


def test_promotion_upsert_is_idempotent_and_published(app: Inventory) -> None:
    stored = app.upsert_promotion(PROMO)
    assert stored["active"] is True and stored["percent_bp"] == 0
    app.upsert_promotion(PROMO)  # the same again: nothing recorded
    app.upsert_promotion({**PROMO, "active": False})
    events = integration(app)
    assert [e.subject for e in events] == ["inventory.chain.promotion.upserted"] * 2
    last = events[-1].message
    assert isinstance(last, inventory_pb2.PromotionUpserted)
    assert (last.kind, list(last.skus), last.buy_quantity, last.get_quantity, last.active) == (
        "buy_x_get_y",
        ["A", "B"],
        2,
        1,
        False,
    )
    assert app.repository.get(Promotion.create_id("B2G1")).record["active"] is False


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "mystery"},
        {"promotion_id": "a.b"},
        {"buy_quantity": 0},
        {"kind": "percentage"},
        {"kind": "percentage", "percent_bp": 10_001},
        {"kind": "fixed", "amount_minor": 100},
        {"kind": "fixed", "amount_minor": -1},
        {"skus": "A"},
        {"starts_at_ms": 10, "ends_at_ms": 5},
        {"active": "yes"},
    ],
)
def test_bad_promotions_are_refused(app: Inventory, change: dict[str, Any]) -> None:
    with pytest.raises(InvalidPromotionError):
        app.upsert_promotion({**PROMO, **change})
    assert app.recorder.max_notification_id() in (None, 0)


def test_fixed_promotion_carries_money(app: Inventory) -> None:
    app.upsert_promotion(
        {"promotion_id": "F1", "kind": "fixed", "amount_minor": 50, "currency": "EUR"}
    )
    message = integration(app)[0].message
    assert (message.amount.amount_minor, message.amount.currency) == (50, "EUR")


def test_tax_rates(app: Inventory) -> None:
    assert app.upsert_tax_rate("chain", "standard", 2000, "inclusive", "VAT 20%")
    assert not app.upsert_tax_rate("chain", "standard", 2000, "inclusive", "VAT 20%")
    assert app.upsert_tax_rate("s001", "standard", 800, "exclusive", "Sales tax")
    assert app.upsert_tax_rate("chain", "standard", 1900, "inclusive", "VAT 19%")
    events = integration(app)
    assert [e.subject for e in events] == [
        "inventory.chain.tax_rate.upserted",
        "inventory.s001.tax_rate.upserted",
        "inventory.chain.tax_rate.upserted",
    ]
    assert events[-1].message.rate_bp == 1900
    assert app.repository.get(TaxRate.create_id("s001", "standard")).mode == "exclusive"
    for bad in (
        ("chain", "standard", 10_001, "inclusive"),
        ("chain", "std", 100, "sideways"),
        ("s 1", "standard", 100, "inclusive"),
        ("chain", "", 100, "inclusive"),
        ("chain", "standard", True, "inclusive"),
    ):
        with pytest.raises(InvalidTaxRateError):
            app.upsert_tax_rate(*bad)
