"""checkout.pricing: worked examples, and randomized property tests over thousands of baskets
(seeded random.Random: hypothesis is not installed, and a failure names its seed)."""

from __future__ import annotations

import random

import pytest

from checkout.pricing import (
    AMOUNT,
    BASKET_THRESHOLD,
    BUY_X_GET_Y,
    EXCLUSIVE,
    FIXED,
    INCLUSIVE,
    PERCENT,
    PERCENTAGE,
    Discount,
    PriceLine,
    Pricing,
    PricingError,
    Promotion,
    TaxRate,
    allocate,
    price_basket,
    round_half_up,
)

# -- helpers --------------------------------------------------------------------------------


def test_round_half_up() -> None:
    assert [round_half_up(n, 10) for n in (4, 5, 6, 14, 15, 25)] == [0, 1, 1, 1, 2, 3]
    with pytest.raises(PricingError):
        round_half_up(-1, 2)


def test_allocate_largest_remainder() -> None:
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate(10, [0, 5, 5]) == [0, 5, 5]
    assert allocate(7, [0, 0]) == [7, 0]
    assert allocate(0, []) == []
    rng = random.Random(7)
    for _ in range(2000):
        weights = [rng.randint(0, 10_000) for _ in range(rng.randint(1, 8))]
        total = rng.randint(0, sum(weights))
        parts = allocate(total, weights)
        assert sum(parts) == total
        assert all(0 <= p <= w for p, w in zip(parts, weights, strict=True)) or not any(weights)


# -- examples -------------------------------------------------------------------------------


def test_no_rules_total_is_subtotal() -> None:
    p = price_basket([PriceLine(1, "A", 3, 250), PriceLine(2, "B", 1, 199)])
    assert (p.subtotal_minor, p.discount_minor, p.tax_minor, p.total_minor) == (949, 0, 0, 949)


def test_inclusive_vat_is_extracted_not_added() -> None:
    vat = {"std": TaxRate("std", 20_00, INCLUSIVE)}
    p = price_basket([PriceLine(1, "A", 1, 1_20, "std")], tax_rates=vat)
    assert p.total_minor == 1_20
    assert (p.lines[0].net_minor, p.lines[0].tax_minor) == (1_00, 20)
    assert p.taxes[0].included and p.added_tax_minor == 0


def test_exclusive_sales_tax_is_added() -> None:
    tax = {"std": TaxRate("std", 8_25, EXCLUSIVE)}
    p = price_basket([PriceLine(1, "A", 1, 10_00, "std")], tax_rates=tax)
    assert p.tax_minor == 83  # 82.5 rounds half-up
    assert p.total_minor == 10_83


def test_tax_is_rounded_per_class_not_per_line() -> None:
    tax = {"std": TaxRate("std", 5_00, EXCLUSIVE)}
    lines = [PriceLine(i, f"S{i}", 1, 10, "std") for i in range(1, 4)]  # 0.5 each
    p = price_basket(lines, tax_rates=tax)
    assert p.tax_minor == 2  # 1.5 on the class's 30, not 3 x round(0.5)
    assert sorted(ln.tax_minor for ln in p.lines) == [0, 1, 1]


def test_percentage_promotion_rounds_half_up_per_line() -> None:
    promo = Promotion("p1", PERCENTAGE, skus=("A",), percent_bp=10_00, name="10% off A")
    p = price_basket([PriceLine(1, "A", 1, 15), PriceLine(2, "B", 1, 100)], promotions=[promo])
    assert p.by_line[1].promotion_minor == 2  # 1.5 -> 2
    assert p.by_line[2].promotion_minor == 0
    assert p.total_minor == 113
    assert [d.label for d in p.discounts] == ["10% off A"]


def test_fixed_promotion_is_per_unit_and_capped() -> None:
    promo = Promotion("p1", FIXED, skus=("A",), amount_minor=300)
    p = price_basket([PriceLine(1, "A", 2, 250)], promotions=[promo])
    assert p.total_minor == 0
    p = price_basket([PriceLine(1, "A", 2, 1000)], promotions=[promo])
    assert p.total_minor == 1400


def test_buy_two_get_one_cheapest_free_pooled_across_lines() -> None:
    promo = Promotion("b2g1", BUY_X_GET_Y, skus=("A", "B"), buy_quantity=2, get_quantity=1)
    p = price_basket([PriceLine(1, "A", 2, 300), PriceLine(2, "B", 4, 200)],
                     promotions=[promo])
    # 6 units -> 2 free, the cheapest (B at 200)
    assert p.by_line[2].promotion_minor == 400
    assert p.total_minor == 600 + 800 - 400


def test_best_line_promotion_wins() -> None:
    promos = [Promotion("a", PERCENTAGE, percent_bp=10_00),
              Promotion("b", FIXED, amount_minor=50)]
    p = price_basket([PriceLine(1, "A", 1, 1000)], promotions=promos)
    assert p.by_line[1].promotion_id == "a"
    p = price_basket([PriceLine(1, "A", 1, 300)], promotions=promos)
    assert p.by_line[1].promotion_id == "b"


def test_basket_threshold_promotion() -> None:
    promo = Promotion("t", BASKET_THRESHOLD, amount_minor=5_00, threshold_minor=50_00)
    below = price_basket([PriceLine(1, "A", 1, 49_99)], promotions=[promo])
    assert below.discount_minor == 0
    at = price_basket([PriceLine(1, "A", 1, 30_00), PriceLine(2, "B", 1, 20_00)],
                      promotions=[promo])
    assert at.discount_minor == 5_00 and at.total_minor == 45_00
    assert (at.by_line[1].basket_minor, at.by_line[2].basket_minor) == (3_00, 2_00)


def test_manual_discounts_stack_after_promotions() -> None:
    promo = Promotion("p", PERCENTAGE, percent_bp=10_00)
    p = price_basket(
        [PriceLine(1, "A", 1, 10_00), PriceLine(2, "B", 1, 10_00)],
        line_discounts={1: Discount(PERCENT, 50_00, "damaged")},
        basket_discounts=[Discount(AMOUNT, 1_00, "staff")],
        promotions=[promo],
    )
    # line 1: 1000 - 100 promo - 450 manual = 450; line 2: 900; basket 1350 - 100 = 1250
    assert p.total_minor == 12_50
    assert sum(d.amount_minor for d in p.discounts) == p.discount_minor == 7_50


def test_basket_discount_then_inclusive_tax() -> None:
    rates = {"std": TaxRate("std", 20_00, INCLUSIVE), "red": TaxRate("red", 5_00, INCLUSIVE)}
    p = price_basket(
        [PriceLine(1, "A", 1, 12_00, "std"), PriceLine(2, "B", 1, 10_50, "red")],
        basket_discounts=[Discount(PERCENT, 10_00, "coupon")], tax_rates=rates,
    )
    assert p.total_minor == 22_50 - 2_25
    std = next(t for t in p.taxes if t.tax_class == "std")
    assert std.base_minor == 10_80 and std.tax_minor == 1_80


def test_bad_inputs() -> None:
    with pytest.raises(PricingError):
        Discount(PERCENT, 10_001)
    with pytest.raises(PricingError):
        Discount("half", 1)
    with pytest.raises(PricingError):
        Promotion("x", "mystery")
    with pytest.raises(PricingError):
        Promotion("x", BUY_X_GET_Y, buy_quantity=0, get_quantity=1)
    with pytest.raises(PricingError):
        TaxRate("std", 20_00, "sideways")


# -- properties over random baskets -------------------------------------------------------

SKUS = [f"SKU{i}" for i in range(8)]
CLASSES = ["std", "red", "zero", "none"]


def random_basket(rng: random.Random) -> dict:
    mode_of = {c: rng.choice([INCLUSIVE, EXCLUSIVE]) for c in CLASSES}
    if rng.random() < 0.5:  # a store is usually all VAT or all sales tax
        mode = rng.choice([INCLUSIVE, EXCLUSIVE])
        mode_of = dict.fromkeys(CLASSES, mode)
    rates = {c: TaxRate(c, rng.choice([0, 5_00, 7_25, 8_875, 19_00, 20_00, 25_00]), mode_of[c])
             for c in CLASSES[:3] if rng.random() < 0.9}
    lines = [
        PriceLine(n, rng.choice(SKUS), rng.randint(1, 12),
                  rng.choice([0, 1, 9, 99, rng.randint(1, 100_000)]), rng.choice(CLASSES))
        for n in range(1, rng.randint(1, 10) + 1)
    ]
    promos = []
    for i in range(rng.randint(0, 4)):
        kind = rng.choice([PERCENTAGE, FIXED, BUY_X_GET_Y, BASKET_THRESHOLD])
        promos.append(Promotion(
            f"p{i}", kind, skus=tuple(rng.sample(SKUS, rng.randint(0, 3))),
            percent_bp=rng.randint(0, 10_000) if kind != FIXED else 0,
            amount_minor=rng.randint(0, 5_000) if kind in (FIXED, BASKET_THRESHOLD) else 0,
            buy_quantity=rng.randint(1, 3), get_quantity=rng.randint(1, 2),
            threshold_minor=rng.randint(0, 200_000),
        ))
    line_discounts = {
        ln.line_no: Discount(PERCENT, rng.randint(0, 10_000)) if rng.random() < 0.5
        else Discount(AMOUNT, rng.randint(0, 50_000))
        for ln in lines if rng.random() < 0.3
    }
    basket = [Discount(PERCENT, rng.randint(0, 10_000)) if rng.random() < 0.5
              else Discount(AMOUNT, rng.randint(0, 100_000)) for _ in range(rng.randint(0, 2))]
    return {"lines": lines, "line_discounts": line_discounts, "basket_discounts": basket,
            "promotions": promos, "tax_rates": rates}


def check_invariants(p: Pricing) -> None:
    for ln in p.lines:
        assert ln.net_minor + ln.tax_minor == ln.gross_minor
        assert min(ln.net_minor, ln.tax_minor, ln.gross_minor, ln.promotion_minor,
                   ln.line_discount_minor, ln.basket_minor) >= 0
        assert ln.discount_minor <= ln.extended_minor
    assert sum(ln.gross_minor for ln in p.lines) == p.total_minor
    assert sum(ln.extended_minor for ln in p.lines) == p.subtotal_minor
    assert sum(ln.tax_minor for ln in p.lines) == sum(t.tax_minor for t in p.taxes) \
        == p.tax_minor
    assert sum(ln.discount_minor for ln in p.lines) == p.discount_minor
    assert sum(d.amount_minor for d in p.discounts) == p.discount_minor
    assert p.subtotal_minor - p.discount_minor + p.added_tax_minor == p.total_minor
    assert p.total_minor >= 0
    for t in p.taxes:
        assert t.tax_minor <= t.base_minor or t.mode == EXCLUSIVE


@pytest.mark.parametrize("seed", range(20))
def test_random_baskets_add_up_to_the_cent(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(250):  # 5,000 baskets in all
        check_invariants(price_basket(**random_basket(rng)))


@pytest.mark.parametrize("seed", range(5))
def test_tax_mode_property(seed: int) -> None:
    """Inclusive: the total is the discounted basket, tax inside it; exclusive: on top. The
    class tax is within half a cent of the exact rational figure."""
    rng = random.Random(1000 + seed)
    for _ in range(400):
        lines = [PriceLine(n, "S", rng.randint(1, 9), rng.randint(0, 99_999), "std")
                 for n in range(1, rng.randint(1, 6) + 1)]
        rate = rng.randint(0, 30_00)
        base = sum(ln.quantity * ln.unit_price_minor for ln in lines)
        inc = price_basket(lines, tax_rates={"std": TaxRate("std", rate, INCLUSIVE)})
        exc = price_basket(lines, tax_rates={"std": TaxRate("std", rate, EXCLUSIVE)})
        assert inc.total_minor == base
        assert exc.total_minor == base + exc.tax_minor
        assert abs(2 * inc.tax_minor * (10_000 + rate) - 2 * base * rate) <= 10_000 + rate
        assert abs(2 * exc.tax_minor * 10_000 - 2 * base * rate) <= 10_000
        check_invariants(inc)
        check_invariants(exc)


@pytest.mark.parametrize("seed", range(5))
def test_threshold_promotion_only_at_or_above_threshold(seed: int) -> None:
    rng = random.Random(2000 + seed)
    for _ in range(400):
        threshold = rng.randint(1, 50_000)
        promo = Promotion("t", BASKET_THRESHOLD, percent_bp=rng.randint(1, 5_000),
                          threshold_minor=threshold)
        lines = [PriceLine(n, "S", rng.randint(1, 5), rng.randint(1, 10_000))
                 for n in range(1, rng.randint(1, 5) + 1)]
        p = price_basket(lines, promotions=[promo])
        check_invariants(p)
        if p.subtotal_minor < threshold:
            assert p.discount_minor == 0
        else:
            expected = round_half_up(p.subtotal_minor * promo.percent_bp, 10_000)
            assert p.discount_minor == expected


def test_order_of_lines_does_not_change_the_result() -> None:
    rng = random.Random(99)
    for _ in range(300):
        basket = random_basket(rng)
        shuffled = dict(basket, lines=rng.sample(basket["lines"], len(basket["lines"])))
        assert price_basket(**basket).total_minor == price_basket(**shuffled).total_minor
