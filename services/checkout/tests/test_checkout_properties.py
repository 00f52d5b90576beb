"""Property-based arithmetic of a Sale (hypothesis): totals in both tax modes, split tenders
with change, and partial returns that never refund more than was sold, to the cent."""

from __future__ import annotations

from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from checkout.domainmodel import COMPLETED, Sale, Tender
from checkout.pricing import EXCLUSIVE, INCLUSIVE, TaxRate

lines_st = st.lists(
    st.tuples(st.integers(1, 20), st.integers(0, 50_00), st.sampled_from(["std", "red", ""])),
    min_size=1,
    max_size=6,
)
mode_st = st.sampled_from([INCLUSIVE, EXCLUSIVE])


def sale_with(
    lines: list[tuple[int, int, str]],
    mode: str,
    std_bp: int,
    red_bp: int,
    percent_bp: int,
    amount_off: int,
) -> Sale:
    sale = Sale(
        id=uuid4(), store_id="s001", lane_id="l1", cashier_id="c7", currency="EUR", shift_id=""
    )
    sale.set_pricing_context(
        [], {"std": TaxRate("std", std_bp, mode), "red": TaxRate("red", red_bp, mode)}
    )
    for n, (qty, price, tax_class) in enumerate(lines, 1):
        sale.add_line(n, f"sku-{n}", qty, price, tax_class)
    if percent_bp:
        sale.apply_line_discount(1, "percent", percent_bp, "promo", "boss")
    if amount_off:
        sale.apply_basket_discount("d1", "amount", amount_off, "goodwill", "boss")
    return sale


@settings(max_examples=150, deadline=None)
@given(
    lines_st,
    mode_st,
    st.integers(0, 30_00),
    st.integers(0, 10_00),
    st.integers(0, 100_00),
    st.integers(0, 200_00),
)
def test_lines_plus_tax_minus_discounts_is_the_total(
    lines: list[tuple[int, int, str]],
    mode: str,
    std_bp: int,
    red_bp: int,
    percent_bp: int,
    amount_off: int,
) -> None:
    sale = sale_with(lines, mode, std_bp, red_bp, percent_bp, amount_off)
    p = sale.pricing
    added = p.tax_minor if mode == EXCLUSIVE else 0
    assert p.total_minor == p.subtotal_minor - p.discount_minor + added
    assert p.total_minor >= 0 and p.tax_minor >= 0 and p.discount_minor >= 0
    assert p.discount_minor <= p.subtotal_minor
    assert sum(line.gross_minor for line in p.by_line.values()) == p.total_minor
    assert sum(line.tax_minor for line in p.by_line.values()) == p.tax_minor


@settings(max_examples=150, deadline=None)
@given(
    lines_st,
    mode_st,
    st.lists(st.integers(1, 300_00), min_size=1, max_size=5),
    st.integers(0, 500_00),
)
def test_tenders_equal_total_plus_change(
    lines: list[tuple[int, int, str]], mode: str, cards: list[int], cash: int
) -> None:
    sale = sale_with(lines, mode, 20_00, 5_50, 0, 0)
    for n, amount in enumerate(cards):
        if sale.status != "open" or sale.due_minor == 0:
            break
        sale.record_payment(f"p{n}", min(amount, sale.due_minor), "EUR", "card")
    if sale.status == "open" and sale.lines and sale.total_minor > 0:
        due = sale.due_minor
        sale.tender_cash("k", max(cash, due), lambda: "s001-l1-1")
    if sale.total_minor == 0:
        return  # nothing to pay: no tender is taken
    assert sale.status == COMPLETED
    paid = sum(t.amount_minor for t in sale.tenders.values())
    assert paid == sale.total_minor + sale.change_minor
    assert 0 <= sale.change_minor <= sale.cash_minor


@settings(max_examples=120, deadline=None)
@given(
    lines_st,
    mode_st,
    st.integers(0, 50_00),
    st.integers(0, 100_00),
    st.lists(st.tuples(st.integers(1, 6), st.integers(1, 20)), min_size=1, max_size=12),
)
def test_returns_never_exceed_what_was_sold(
    lines: list[tuple[int, int, str]],
    mode: str,
    percent_bp: int,
    amount_off: int,
    attempts: list[tuple[int, int]],
) -> None:
    sale = sale_with(lines, mode, 20_00, 5_50, percent_bp, amount_off)
    total = sale.total_minor
    if total == 0:
        return
    card = total // 2
    if card:
        sale.record_payment("p1", card, "EUR", "card")
    sale.tender_cash("k", total - card + 7, lambda: "s001-l1-1")
    assert sale.status == COMPLETED
    refunded = 0
    for n, (line_no, qty) in enumerate(attempts):
        if line_no not in sale.sold or qty > sale.returnable(line_no):
            continue
        amount, _tax = sale.refund_amounts(line_no, qty)
        plan = sale.plan_refunds(amount)
        assert sum(t.amount_minor for t in plan) == amount
        assert all(isinstance(t, Tender) and t.amount_minor > 0 for t in plan)
        sale.record_return(f"r{n}", {line_no: qty}, plan)
        refunded += amount
    for line_no, (sold_qty, _gross, _tax) in sale.sold.items():
        assert 0 <= sale.returned.get(line_no, 0) <= sold_qty
        left = sale.returnable(line_no)
        if left:  # returning the rest refunds exactly what is left of the line
            rest, _ = sale.refund_amounts(line_no, left)
            assert rest >= 0
    assert refunded <= total
    # Everything returned: the refunds add up to the total, to the cent.
    rest = sum(
        sale.refund_amounts(n, sale.returnable(n))[0] for n in sale.sold if sale.returnable(n)
    )
    assert refunded + rest == total
    # Refunds per tender never exceed what it paid (cash net of its change).
    assert sale.refunded.get("p1", 0) <= card
    assert sale.refunded.get("cash:k", 0) <= total - card
