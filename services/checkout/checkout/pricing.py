"""Pricing of a basket: discounts, promotions and taxes, in integer minor units only.

A pure function, `price_basket`, with no I/O: the `Sale` calls it with its lines and the
pricing context it recorded (promotions and tax rates in effect), so a sale's total is always
a function of its own events.

Order of application, and the rounding rule of each step (one rule, *half-up*, throughout;
every amount here is non-negative, so half-up means "a half rounds away from zero"):

1. **Extended amount** of a line: ``quantity * unit_price_minor`` (exact).
2. **Line promotions** (kinds ``percentage``, ``fixed`` and ``buy_x_get_y``), for the SKUs a
   promotion names (no SKUs: every SKU). A line gets at most one line promotion: the one that
   takes the most off it (ties: the smallest promotion id).

   * ``percentage``: ``round_half_up(extended * percent_bp / 10_000)`` per line;
   * ``fixed``: ``amount_minor`` off each unit, at most the extended amount;
   * ``buy_x_get_y``: the eligible units of all lines are pooled; of every ``x + y`` units the
     ``y`` cheapest are free (exact: whole unit prices).
3. **Line discount** (manual, one per line): a percentage (basis points) of what is left after
   the promotion, rounded half-up, or a fixed amount; never more than what is left.
4. **Basket promotions** (``basket_threshold``): when the basket after steps 2-3 reaches
   ``threshold_minor``, ``percent_bp`` of it (rounded half-up) or ``amount_minor`` off; of
   several that qualify, the one that takes the most off.
5. **Basket discounts** (manual), in the order applied: a percentage of what is left (rounded
   half-up) or a fixed amount; never more than what is left.
6. The basket reductions of steps 4-5 are **allocated to the lines** pro rata to their amount
   after step 3, by the *largest-remainder* method (floor every share, then give the cents
   left one each to the largest fractional remainders; ties to the lower line number), so the
   allocations sum exactly to the basket reduction and no line goes below zero.
7. **Tax**, per tax class, on the class's summed line amounts after step 6 (its *base*),
   rounded half-up once per class:

   * inclusive (VAT: prices contain the tax): ``tax = round_half_up(base * r / (10_000 + r))``;
     net = base - tax, gross = base;
   * exclusive (sales tax: added on top): ``tax = round_half_up(base * r / 10_000)``;
     net = base, gross = base + tax.

   A class's tax is then allocated to its lines by largest remainder (pro rata to the line
   amounts) so the line taxes sum to the class tax. A class without a rate is untaxed.

Invariants (tested over thousands of random baskets): per line ``net + tax == gross``;
``sum(line gross) == total``; ``subtotal - discount_total + exclusive taxes == total``;
``sum(line tax) == sum(class tax)``; nothing is negative. With no promotions, discounts or
taxes, ``total == subtotal``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

BP = 10_000

PERCENT = "percent"
AMOUNT = "amount"
DISCOUNT_KINDS = (PERCENT, AMOUNT)

PERCENTAGE = "percentage"
FIXED = "fixed"
BUY_X_GET_Y = "buy_x_get_y"
BASKET_THRESHOLD = "basket_threshold"
PROMOTION_KINDS = (PERCENTAGE, FIXED, BUY_X_GET_Y, BASKET_THRESHOLD)

INCLUSIVE = "inclusive"
EXCLUSIVE = "exclusive"
TAX_MODES = (INCLUSIVE, EXCLUSIVE)


class PricingError(ValueError):
    """Bad pricing input: a negative amount, an unknown kind or mode."""


def round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half-up, for a non-negative numerator."""
    if numerator < 0 or denominator <= 0:
        raise PricingError("round_half_up takes a non-negative fraction")
    return (2 * numerator + denominator) // (2 * denominator)


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split `total` (>= 0) pro rata to non-negative `weights` by the largest-remainder method.

    The parts sum exactly to `total`; ties in the remainder go to the earlier weight. With all
    weights zero the whole amount goes to the first part (there is nothing to weigh by).
    """
    if total < 0 or any(w < 0 for w in weights):
        raise PricingError("allocate takes non-negative amounts")
    if not weights:
        if total:
            raise PricingError("nothing to allocate to")
        return []
    whole = sum(weights)
    if whole == 0:
        return [total] + [0] * (len(weights) - 1)
    shares = [total * w // whole for w in weights]
    remainders = [total * w % whole for w in weights]
    left = total - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        shares[i] += 1
    return shares


@dataclass(frozen=True)
class PriceLine:
    line_no: int
    sku: str
    quantity: int
    unit_price_minor: int
    tax_class: str = ""


@dataclass(frozen=True)
class Discount:
    """A manual discount: `kind` percent (value in basis points) or amount (minor units)."""

    kind: str
    value: int
    reason: str = ""

    def __post_init__(self) -> None:
        if self.kind not in DISCOUNT_KINDS:
            raise PricingError(f"a discount kind is one of {DISCOUNT_KINDS}")
        if not isinstance(self.value, int) or self.value < 0 or (
                self.kind == PERCENT and self.value > BP):
            raise PricingError("a discount is 0..10000 bp or a non-negative amount")

    def off(self, amount: int) -> int:
        """What this discount takes off `amount` (never more than it)."""
        if self.kind == PERCENT:
            return min(round_half_up(amount * self.value, BP), amount)
        return min(self.value, amount)


@dataclass(frozen=True)
class Promotion:
    promotion_id: str
    kind: str
    skus: tuple[str, ...] = ()
    percent_bp: int = 0
    amount_minor: int = 0
    buy_quantity: int = 0
    get_quantity: int = 0
    threshold_minor: int = 0
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in PROMOTION_KINDS:
            raise PricingError(f"unknown promotion kind {self.kind!r}")
        if not 0 <= self.percent_bp <= BP or self.amount_minor < 0 \
                or self.threshold_minor < 0:
            raise PricingError(f"promotion {self.promotion_id}: bad amounts")
        if self.kind == BUY_X_GET_Y and (self.buy_quantity < 1 or self.get_quantity < 1):
            raise PricingError(f"promotion {self.promotion_id}: buy and get must be >= 1")

    def applies_to(self, sku: str) -> bool:
        return not self.skus or sku in self.skus

    def as_dict(self) -> dict[str, Any]:
        return {"promotion_id": self.promotion_id, "kind": self.kind, "skus": list(self.skus),
                "percent_bp": self.percent_bp, "amount_minor": self.amount_minor,
                "buy_quantity": self.buy_quantity, "get_quantity": self.get_quantity,
                "threshold_minor": self.threshold_minor, "name": self.name}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Promotion:
        return cls(promotion_id=d["promotion_id"], kind=d["kind"], skus=tuple(d["skus"]),
                   percent_bp=d["percent_bp"], amount_minor=d["amount_minor"],
                   buy_quantity=d["buy_quantity"], get_quantity=d["get_quantity"],
                   threshold_minor=d["threshold_minor"], name=d.get("name", ""))


@dataclass(frozen=True)
class TaxRate:
    tax_class: str
    rate_bp: int
    mode: str
    name: str = ""

    def __post_init__(self) -> None:
        if self.mode not in TAX_MODES:
            raise PricingError(f"a tax mode is one of {TAX_MODES}")
        if not isinstance(self.rate_bp, int) or not 0 <= self.rate_bp <= BP:
            raise PricingError("a tax rate is 0..10000 basis points")

    def as_dict(self) -> dict[str, Any]:
        return {"tax_class": self.tax_class, "rate_bp": self.rate_bp, "mode": self.mode,
                "name": self.name}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TaxRate:
        return cls(d["tax_class"], d["rate_bp"], d["mode"], d.get("name", ""))


@dataclass(frozen=True)
class PricedLine:
    line_no: int
    extended_minor: int  # quantity * unit price
    promotion_minor: int  # off by its line promotion
    promotion_id: str
    line_discount_minor: int  # off by the manual line discount
    basket_minor: int  # its share of basket promotions and discounts
    net_minor: int
    tax_minor: int
    gross_minor: int  # what the customer pays for the line

    @property
    def discount_minor(self) -> int:
        return self.promotion_minor + self.line_discount_minor + self.basket_minor


@dataclass(frozen=True)
class ClassTax:
    tax_class: str
    rate_bp: int
    mode: str
    base_minor: int
    tax_minor: int
    name: str = ""

    @property
    def included(self) -> bool:
        return self.mode == INCLUSIVE


@dataclass(frozen=True)
class AppliedDiscount:
    """One discount or promotion as the receipt lists it."""

    label: str
    amount_minor: int
    kind: str  # promotion, line, basket
    line_no: int = 0
    promotion_id: str = ""


@dataclass(frozen=True)
class Pricing:
    lines: tuple[PricedLine, ...]
    taxes: tuple[ClassTax, ...]
    discounts: tuple[AppliedDiscount, ...]
    subtotal_minor: int
    discount_minor: int
    tax_minor: int  # all taxes, included and added
    added_tax_minor: int  # exclusive taxes only
    total_minor: int
    by_line: dict[int, PricedLine] = field(default_factory=dict)


def _buy_x_get_y(promo: Promotion, lines: Sequence[PriceLine]) -> dict[int, int]:
    eligible = sorted((ln for ln in lines if promo.applies_to(ln.sku)),
                      key=lambda ln: (ln.unit_price_minor, ln.line_no))
    units = sum(ln.quantity for ln in eligible)
    free = units // (promo.buy_quantity + promo.get_quantity) * promo.get_quantity
    off: dict[int, int] = {}
    for ln in eligible:
        if free <= 0:
            break
        n = min(free, ln.quantity)
        off[ln.line_no] = n * ln.unit_price_minor
        free -= n
    return off


def price_basket(
    lines: Sequence[PriceLine],
    line_discounts: Mapping[int, Discount] | None = None,
    basket_discounts: Iterable[Discount] = (),
    promotions: Iterable[Promotion] = (),
    tax_rates: Mapping[str, TaxRate] | None = None,
) -> Pricing:
    """Price a basket; see the module docstring for the order and the rounding."""
    line_discounts = line_discounts or {}
    tax_rates = tax_rates or {}
    lines = sorted(lines, key=lambda ln: ln.line_no)
    for ln in lines:
        if ln.quantity < 0 or ln.unit_price_minor < 0:
            raise PricingError(f"line {ln.line_no}: negative quantity or price")
    promos = sorted(promotions, key=lambda p: p.promotion_id)
    extended = [ln.quantity * ln.unit_price_minor for ln in lines]

    # 2. line promotions: the best one per line
    candidates: dict[int, list[tuple[int, str]]] = {ln.line_no: [] for ln in lines}
    for promo in promos:
        if promo.kind == BUY_X_GET_Y:
            for line_no, off in _buy_x_get_y(promo, lines).items():
                candidates[line_no].append((off, promo.promotion_id))
        elif promo.kind in (PERCENTAGE, FIXED):
            for ln, ext in zip(lines, extended, strict=True):
                if not promo.applies_to(ln.sku):
                    continue
                if promo.kind == PERCENTAGE:
                    off = round_half_up(ext * promo.percent_bp, BP)
                else:
                    off = min(promo.amount_minor * ln.quantity, ext)
                candidates[ln.line_no].append((off, promo.promotion_id))
    names = {p.promotion_id: p.name or p.promotion_id for p in promos}
    discounts: list[AppliedDiscount] = []
    promo_off: list[int] = []
    promo_of: list[str] = []
    line_off: list[int] = []
    after_line: list[int] = []
    for ln, ext in zip(lines, extended, strict=True):
        best = max(((min(off, ext), -i, pid) for i, (off, pid)
                    in enumerate(sorted(candidates[ln.line_no], key=lambda c: c[1]))),
                   default=(0, 0, ""))
        off, _, pid = best
        if off <= 0:
            pid = ""
        promo_off.append(off)
        promo_of.append(pid)
        if off:
            discounts.append(AppliedDiscount(names[pid], off, "promotion", ln.line_no, pid))
        left = ext - off
        manual = line_discounts.get(ln.line_no)
        moff = manual.off(left) if manual else 0
        if manual and moff:
            discounts.append(AppliedDiscount(manual.reason or "Discount", moff, "line",
                                             ln.line_no))
        line_off.append(moff)
        after_line.append(left - moff)

    # 4-5. basket promotions and discounts
    basket = sum(after_line)
    best_basket = (0, "")
    for promo in promos:
        if promo.kind == BASKET_THRESHOLD and basket >= promo.threshold_minor and basket > 0:
            off = round_half_up(basket * promo.percent_bp, BP) + promo.amount_minor
            off = min(off, basket)
            if off > best_basket[0]:
                best_basket = (off, promo.promotion_id)
    left = basket
    if best_basket[0]:
        left -= best_basket[0]
        discounts.append(AppliedDiscount(names[best_basket[1]], best_basket[0], "promotion",
                                         0, best_basket[1]))
    for d in basket_discounts:
        off = d.off(left)
        if off:
            left -= off
            discounts.append(AppliedDiscount(d.reason or "Discount", off, "basket"))
    basket_off = basket - left
    shares = allocate(basket_off, after_line) if lines else []
    amounts = [a - s for a, s in zip(after_line, shares, strict=True)]

    # 7. taxes per class
    class_lines: dict[str, list[int]] = {}
    for i, ln in enumerate(lines):
        class_lines.setdefault(ln.tax_class, []).append(i)
    line_tax = [0] * len(lines)
    taxes: list[ClassTax] = []
    for tax_class in sorted(class_lines):
        rate = tax_rates.get(tax_class)
        if rate is None:
            continue
        idx = class_lines[tax_class]
        base = sum(amounts[i] for i in idx)
        if rate.mode == INCLUSIVE:
            tax = round_half_up(base * rate.rate_bp, BP + rate.rate_bp)
        else:
            tax = round_half_up(base * rate.rate_bp, BP)
        for i, part in zip(idx, allocate(tax, [amounts[i] for i in idx]), strict=True):
            line_tax[i] = part
        taxes.append(ClassTax(tax_class, rate.rate_bp, rate.mode, base, tax, rate.name))

    inclusive = {t.tax_class for t in taxes if t.mode == INCLUSIVE}
    priced = []
    for i, ln in enumerate(lines):
        if ln.tax_class in inclusive:
            gross, net = amounts[i], amounts[i] - line_tax[i]
        else:
            net, gross = amounts[i], amounts[i] + line_tax[i]
        priced.append(PricedLine(ln.line_no, extended[i], promo_off[i], promo_of[i],
                                 line_off[i], shares[i], net, line_tax[i], gross))
    subtotal = sum(extended)
    discount = subtotal - sum(amounts)
    added = sum(t.tax_minor for t in taxes if t.mode == EXCLUSIVE)
    total = sum(p.gross_minor for p in priced)
    assert total == subtotal - discount + added  # the invariant the module promises
    return Pricing(
        lines=tuple(priced), taxes=tuple(taxes), discounts=tuple(discounts),
        subtotal_minor=subtotal, discount_minor=discount,
        tax_minor=sum(t.tax_minor for t in taxes), added_tax_minor=added, total_minor=total,
        by_line={p.line_no: p for p in priced},
    )
