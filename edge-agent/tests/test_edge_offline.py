"""Offline selling without I/O: the sale's arithmetic, the offline limits, PAN masking, and the
agent's configuration file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_agent.catalog import Product, product_from_json
from edge_agent.config import ConfigError, OfflineLimits, load_config
from edge_agent.offline import (
    HOUR_MS,
    OfflineLedger,
    OfflineLimitError,
    OfflineSale,
    OfflineSaleError,
    included_tax,
    mask_pan,
)

TEA = Product("TEA", "Tea", 349, "EUR", "reduced", True)
PAN_ = Product("PAN", "Pan", 2_999, "EUR", "standard", True)


def sale() -> OfflineSale:
    return OfflineSale("0b0f8d7e-3c7a-4f7e-9d2e-5a1c2b3d4e5f", "s001", "01", "c1", "EUR")


def test_cash_over_the_total_gives_change_and_completes() -> None:
    s = sale()
    s.add_line(1, TEA, 2)
    s.add_line(2, PAN_, 1)
    assert s.total_minor == 3_697 and not s.completed
    s.pay_cash("p1", 5_000)
    assert s.completed and s.change_minor == 1_303
    event = s.completed_event(1_700_000_000_000, {"standard": 2_000, "reduced": 700})
    assert event.total.amount_minor == 3_697 and event.change.amount_minor == 1_303
    assert [t.kind for t in event.tenders] == ["cash"] and event.tax_total.amount_minor == 546
    assert "OFFLINE" in s.receipt_text().splitlines()[0]


def test_a_card_pays_at_most_what_is_due_and_baskets_are_checked() -> None:
    s = sale()
    with pytest.raises(OfflineSaleError):
        s.pay_cash("p0", 100)  # empty basket
    s.add_line(1, TEA, 1)
    with pytest.raises(OfflineSaleError):
        s.add_line(1, TEA, 1)  # line taken
    with pytest.raises(OfflineSaleError):
        s.add_line(2, Product("X", "x", 1, "USD", "", True), 1)
    with pytest.raises(OfflineSaleError):
        s.pay_card("p1", 350)
    s.pay_card("p1", 349)
    with pytest.raises(OfflineSaleError):
        s.pay_cash("p2", 1)  # already paid


@pytest.mark.parametrize(
    ("gross", "rate", "tax"),
    [(120, 2_000, 20), (107, 700, 7), (0, 2_000, 0), (1, 2_000, 0), (3, 2_000, 1)],
)
def test_included_tax_rounds_half_up(gross: int, rate: int, tax: int) -> None:
    assert included_tax(gross, rate) == tax


def test_the_ledger_holds_cards_to_each_limit() -> None:
    ledger = OfflineLedger(
        OfflineLimits(per_payment_minor=100, total_minor=150, max_offline_hours=2)
    )
    ledger.begin(1_000)
    ledger.check_card(100, 1_000)
    with pytest.raises(OfflineLimitError, match="per-payment"):
        ledger.check_card(101, 1_000)
    ledger.record_card(100)
    with pytest.raises(OfflineLimitError, match="total"):
        ledger.check_card(60, 1_000)
    ledger.check_card(50, 1_000)
    with pytest.raises(OfflineLimitError, match="offline for more"):
        ledger.check_card(1, 1_000 + 2 * HOUR_MS + 1)
    restored = OfflineLedger(ledger.limits)
    restored.restore(ledger.as_dict())
    assert restored == ledger
    ledger.end()
    assert ledger.card_total_minor == 0 and ledger.since_ms == 0


def test_pans_are_masked_and_bad_ones_refused() -> None:
    assert mask_pan("4111111111111111") == ("411111******1111", "visa")
    with pytest.raises(OfflineSaleError):
        mask_pan("4111-1111")


def test_catalog_values_need_integer_prices() -> None:
    raw = {"sku": "A", "name": "a", "price_minor": 1.5, "currency": "EUR"}
    with pytest.raises(ValueError, match="price_minor"):
        product_from_json(json.dumps(raw).encode())
    raw["price_minor"] = 150
    assert product_from_json(json.dumps(raw).encode()).price_minor == 150


def test_config_from_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "edge.toml"
    toml.write_text(
        'hub_leaf_url = "nats-leaf://hub:7422"\npartitions = 2\n'
        "[limits]\nper_payment_minor = 5000\n[tax_rates_bp]\nstandard = 2000\n"
    )
    config = load_config(toml, store_id="s007")
    assert (config.store_id, config.partitions, config.limits.per_payment_minor) == (
        "s007",
        2,
        5000,
    )
    assert config.tax_rates_bp == {"standard": 2000}
    as_json = tmp_path / "edge.json"
    as_json.write_text(json.dumps({"store_id": "s1", "nats_url": "nats://127.0.0.1:4222"}))
    assert load_config(as_json).nats_url == "nats://127.0.0.1:4222"


@pytest.mark.parametrize(
    "text",
    [
        'store_id = "a.b"\nhub_leaf_url = "x"',
        'store_id = "s1"',
        'store_id = "s1"\nhub_leaf_url = "x"\nsurprise = 1',
        'store_id = "s1"\nhub_leaf_url = "x"\n[limits]\nmax_offline_hours = 48',
        "store_id = ",
    ],
)
def test_bad_configs_are_refused_clearly(tmp_path: Path, text: str) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_config(path)
