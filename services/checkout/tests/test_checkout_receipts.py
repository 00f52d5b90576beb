"""Receipts: the document, its text, ESC/POS and HTML renderings, and the `receipt` command."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from checkout.application import Checkout, SaleView
from checkout.bus import INVENTORY_HANDLERS, PAYMENTS_HANDLERS, CheckoutCommands
from checkout.main import build_application
from checkout.receipts import (
    DiscountLine,
    Receipt,
    ReceiptError,
    StoreProfile,
    TaxLine,
    format_money,
    mask_card_number,
    render_escpos,
    render_html,
    render_text,
)
from tillstream.codec import ReceivedEvent
from tillstream.consumer import Delivery, EventSourcedSink
from tillstream.events.v1 import common_pb2, inventory_pb2, payments_pb2
from tillstream.service import CommandError
from tillstream.testing import test_settings

SALE_ID = "0b6e8f3a-1d2c-4e5f-8a9b-7c6d5e4f3a2b"
STORE = StoreProfile(name="Tillstream Corner Shop", address=("1 Main Street", "1000 Brussels"),
                     vat_id="BE0123456789", timezone="Europe/Brussels")
WHEN = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def view(
    lines: list[tuple[str, int, int]],
    tenders: list[tuple[str, int]],
    currency: str = "EUR",
    status: str = "completed",
    total_minor: int | None = None,
    masked_pans: dict[int, str] | None = None,
) -> SaleView:
    """A SaleView from (sku, quantity, unit price) lines and (kind, amount) tenders."""
    line_dicts: list[dict[str, Any]] = [
        {"line_no": n, "sku": sku, "quantity": q, "unit_price_minor": p,
         "line_total_minor": q * p}
        for n, (sku, q, p) in enumerate(lines, start=1)
    ]
    subtotal = sum(d["line_total_minor"] for d in line_dicts)
    total = subtotal if total_minor is None else total_minor
    tender_dicts: list[dict[str, Any]] = [
        {"payment_id": f"p{n}", "kind": kind, "amount_minor": amount}
        for n, (kind, amount) in enumerate(tenders)
    ]
    for n, pan in (masked_pans or {}).items():
        tender_dicts[n]["masked_pan"] = pan
    paid = sum(t["amount_minor"] for t in tender_dicts)
    return SaleView(
        sale_id=SALE_ID, store_id="s001", lane_id="l3", cashier_id="c7", status=status,
        currency=currency, total_minor=total, paid_minor=paid,
        due_minor=max(total - paid, 0), customer_id="", lines=line_dicts,
        tenders=tender_dicts,
    )


def money_column(text: str, label: str) -> Decimal:
    """The amount printed at the right of the (first) row starting with `label`."""
    for row in text.splitlines():
        if row.startswith(label + " "):
            return Decimal(row.split()[-1])
    raise AssertionError(f"no row {label!r} in\n{text}")


@pytest.fixture
def basket() -> Receipt:
    sale = view(
        [("sku-apple", 3, 129), ("sku-bread", 1, 249), ("sku-milk", 2, 1_05),
         ("sku-tv", 1, 4999_99)],
        [("card", 5000_00), ("cash", 20_00)],
        masked_pans={0: "4111111111111111"},
    )
    return Receipt.from_view(sale, STORE, 42, issued_at=WHEN,
                             names={"sku-apple": "Apples, Granny Smith", "sku-tv": "TV 55\""})


# -- the document and money -----------------------------------------------------------------


class TestMoney:
    @pytest.mark.parametrize(("amount", "currency", "expected"), [
        (0, "EUR", "0.00"), (5, "EUR", "0.05"), (123456, "EUR", "1234.56"),
        (-1999, "USD", "-19.99"), (0, "JPY", "0"), (1500, "JPY", "1500"),
        (-7, "JPY", "-7"), (1234, "KWD", "1.234"), (5, "KWD", "0.005"),
        (-1000, "KWD", "-1.000"), (10**18 + 1, "EUR", "10000000000000000.01"),
    ])
    def test_format_money(self, amount: int, currency: str, expected: str) -> None:
        assert format_money(amount, currency) == expected

    @pytest.mark.parametrize("bad", [1.5, True, "100"])
    def test_format_money_refuses_non_integers(self, bad: Any) -> None:
        with pytest.raises(TypeError):
            format_money(bad, "EUR")

    def test_mask_card_number(self) -> None:
        assert mask_card_number("4111 1111 1111 1234") == "************1234"
        assert mask_card_number("************1234") == "****1234"
        assert mask_card_number("") == ""

    @pytest.mark.parametrize(("currency", "unit", "shown"), [
        ("JPY", 1500, "1500"), ("KWD", 1250, "1.250"), ("USD", 199, "1.99"),
    ])
    def test_receipt_in_other_exponents(self, currency: str, unit: int, shown: str) -> None:
        sale = view([("sku-a", 2, unit)], [("cash", 2 * unit)], currency=currency)
        text = render_text(Receipt.from_view(sale, STORE, 1, issued_at=WHEN))
        assert f"2 x {shown}" in text
        assert money_column(text, f"TOTAL {currency}") == Decimal(
            format_money(2 * unit, currency))


class TestReceiptDocument:
    def test_figures(self, basket: Receipt) -> None:
        assert basket.receipt_number == "s001-l3-42"
        assert basket.subtotal_minor == basket.total_minor == 3 * 129 + 249 + 2 * 105 + 499999
        assert basket.change_minor == 5000_00 + 20_00 - basket.total_minor
        assert basket.tenders[0].masked_pan == "************1111"

    def test_refuses_an_open_sale(self) -> None:
        sale = view([("sku-a", 1, 100)], [], status="open")
        with pytest.raises(ReceiptError):
            Receipt.from_view(sale, STORE, 1, issued_at=WHEN)

    @pytest.mark.parametrize("sequence", [0, -1, True])
    def test_refuses_a_bad_sequence(self, sequence: Any) -> None:
        sale = view([("sku-a", 1, 100)], [("cash", 100)])
        with pytest.raises(ReceiptError):
            Receipt.from_view(sale, STORE, sequence, issued_at=WHEN)

    def test_refuses_figures_that_do_not_add_up(self) -> None:
        sale = view([("sku-a", 1, 100)], [("cash", 100)], total_minor=90)
        with pytest.raises(ReceiptError):
            Receipt.from_view(sale, STORE, 1, issued_at=WHEN)


# -- text -----------------------------------------------------------------------------------


class TestText:
    def test_adds_up_exactly(self, basket: Receipt) -> None:
        text = render_text(basket)
        rows = text.splitlines()
        assert all(len(row) <= 42 for row in rows)
        # Line totals: the money at the right of each "  q x unit  sku" row.
        line_rows = [r for r in rows if re.match(r"^  \d+ x ", r)]
        assert len(line_rows) == 4
        for row in line_rows:
            match = re.match(r"^  (\d+) x (\S+)\s+\S+\s+(\S+)$", row)
            assert match is not None, row
            qty, unit, total = match.groups()
            assert int(qty) * Decimal(unit) == Decimal(total)
        line_sum = sum(Decimal(r.split()[-1]) for r in line_rows)
        total = money_column(text, "TOTAL EUR")
        assert line_sum == money_column(text, "Subtotal") == total
        assert total == Decimal(basket.total_minor) / 100 == Decimal("5008.45")
        tenders = money_column(text, "Card") + money_column(text, "Cash")
        assert tenders == total + money_column(text, "Change")
        # Money is right-aligned in one column.
        assert {len(r) for r in rows if r.startswith(("Subtotal", "TOTAL", "Card", "Cash"))} \
            == {42}

    def test_header_and_details(self, basket: Receipt) -> None:
        text = render_text(basket)
        assert text.splitlines()[0].strip() == "Tillstream Corner Shop"
        for expected in ("1 Main Street", "VAT ID BE0123456789", "s001-l3-42",
                         "2024-05-01 14:30", "Cashier", "Apples, Granny Smith", "sku-apple",
                         "************1111", SALE_ID):
            assert expected in text
        assert "4111111111111111" not in text
        assert "COPY" not in text and "OFFLINE" not in text

    def test_copy_and_offline_marks(self) -> None:
        sale = view([("sku-a", 1, 100)], [("cash", 100)])
        text = render_text(Receipt.from_view(sale, STORE, 7, issued_at=WHEN, copy=True,
                                             offline=True))
        assert "*** COPY ***" in text and "*** OFFLINE ***" in text

    def test_taxes_discounts_and_loyalty_are_rendered(self) -> None:
        sale = view([("sku-a", 2, 1000)], [("cash", 2000)], total_minor=2000 - 150 + 146)
        receipt = Receipt.from_view(
            sale, STORE, 1, issued_at=WHEN,
            discounts=[DiscountLine("Spring promo", 150)],
            taxes=[TaxLine("Sales tax 8%", 146, included=False),
                   TaxLine("VAT 21%", 300, included=True)],
            loyalty_balance=1234,
        )
        text = render_text(receipt)
        assert money_column(text, "Spring promo") == Decimal("-1.50")
        assert money_column(text, "Sales tax 8%") == Decimal("1.46")
        assert money_column(text, "VAT 21% (incl.)") == Decimal("3.00")
        assert money_column(text, "TOTAL EUR") == Decimal("19.96")
        assert money_column(text, "Loyalty points balance") == 1234
        assert "Change" in text and money_column(text, "Change") == Decimal("0.04")

    def test_points_earned_come_from_the_sale(self) -> None:
        sale = view([("sku-a", 1, 500)], [("card", 500)])
        plain = render_text(Receipt.from_view(sale, STORE, 1, issued_at=WHEN))
        assert "Points earned" not in plain and "Loyalty points balance" not in plain
        sale = dataclasses.replace(sale, loyalty_points=5, loyalty_balance=205)
        receipt = Receipt.from_view(sale, STORE, 1, issued_at=WHEN, copy=True)
        text = render_text(receipt)
        assert money_column(text, "Points earned") == 5
        assert money_column(text, "Loyalty points balance") == 205
        assert "COPY" in text
        assert b"Points earned" in render_escpos(receipt)
        assert "Points earned" in render_html(receipt)

    def test_narrow_width_and_long_names(self) -> None:
        sale = view([("sku-a", 99_999, 100_000_000_00)], [("cash", 99_999 * 100_000_000_00)])
        receipt = Receipt.from_view(sale, STORE, 1, issued_at=WHEN, names={"sku-a": "x" * 90})
        text = render_text(receipt, width=32)
        assert all(len(row) <= 36 for row in text.splitlines())  # a UUID row is 36 wide
        assert money_column(text, "TOTAL EUR") == Decimal("9999900000000.00")
        with pytest.raises(ValueError):
            render_text(receipt, width=10)


# -- ESC/POS and HTML -----------------------------------------------------------------------


class TestEscpos:
    def test_bytes(self, basket: Receipt) -> None:
        data = render_escpos(basket)
        assert data.startswith(b"\x1b@")  # ESC @: initialise
        assert b"\x1bE\x01" in data  # bold on, for the header and the total
        assert b"\x1dV\x00" in data  # GS V 0: full cut
        assert data.rstrip(b"\x00").endswith(b"\x1dV")
        # The QR code's store-data command carries the sale id.
        assert b"\x1d(k" + (len(SALE_ID) + 3).to_bytes(2, "little") + b"1P0" \
            + SALE_ID.encode() in data
        assert b"Tillstream Corner Shop" in data and b"s001-l3-42" in data


class TestHtml:
    def test_escapes_a_hostile_product_name(self) -> None:
        hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
        sale = view([("sku-<b>", 1, 100)], [("cash", 100)])
        store = StoreProfile(name="A & B <Shop>")
        html_text = render_html(Receipt.from_view(sale, store, 1, issued_at=WHEN,
                                                  names={"sku-<b>": hostile}))
        assert "<script" not in html_text and "<img" not in html_text and "<b>" not in html_text
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html_text
        assert "A &amp; B &lt;Shop&gt;" in html_text

    def test_self_contained_with_marks_and_qr(self, basket: Receipt) -> None:
        copy = Receipt.from_view(
            view([("sku-a", 1, 100)], [("cash", 100)]), STORE, 1, issued_at=WHEN,
            copy=True, offline=True,
        )
        for receipt in (basket, copy):
            html_text = render_html(receipt)
            assert html_text.startswith("<!DOCTYPE html>")
            assert not re.search(r"<(link|script|img|iframe)|src=|href=|url\(", html_text)
            assert "<svg" in html_text and SALE_ID in html_text
        assert ">COPY<" in render_html(copy) and ">OFFLINE<" in render_html(copy)
        assert "COPY" not in render_html(basket)
        assert "5008.45" in render_html(basket)


# -- the command ----------------------------------------------------------------------------


def received(message: Any, subject: str, store_id: str = "s001") -> ReceivedEvent:
    return ReceivedEvent(
        event_type=message.DESCRIPTOR.full_name, message=message, subject=subject,
        store_id=store_id, occurred_at="", msg_id="", headers={},
    )


def captured(sale_id: UUID, payment_id: str, amount: int, tender: str) -> ReceivedEvent:
    return received(
        payments_pb2.PaymentCaptured(
            payment_id=payment_id, sale_id=str(sale_id), store_id="s001", tender=tender,
            amount=common_pb2.Money(amount_minor=amount, currency="EUR"),
        ),
        "payments.s001.payment.captured",
    )


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Checkout]:
    app = build_application(test_settings(tmp_path))
    yield app
    app.close()


@pytest.fixture
def commands(app: Checkout) -> CheckoutCommands:
    products = [
        received(inventory_pb2.ProductUpserted(
            sku=sku, name=name, active=True,
            price=common_pb2.Money(amount_minor=price, currency="EUR")),
            "inventory.chain.product.upserted", "chain")
        for sku, name, price in (("sku-a", "Apple", 250), ("sku-b", "Bread & <Butter>", 199))
    ]
    EventSourcedSink(app, INVENTORY_HANDLERS).apply(
        "inventory.p0", [Delivery(n, e) for n, e in enumerate(products, start=1)])
    # A lane sells only in an open shift.
    app.register_cashier("s001", "c7", "Casey", "4321")
    app.open_shift("s001", "l1", "c7", "4321", 100_00, "EUR")
    return CheckoutCommands(app)


def completed_sale(app: Checkout, commands: CheckoutCommands) -> UUID:
    sale_id = uuid4()
    commands.open_sale({"sale_id": str(sale_id), "store_id": "s001", "lane_id": "l1",
                        "cashier_id": "c7", "currency": "EUR"})
    commands.add_line({"sale_id": str(sale_id), "line_no": 1, "sku": "sku-a", "quantity": 2})
    commands.add_line({"sale_id": str(sale_id), "line_no": 2, "sku": "sku-b", "quantity": 3})
    EventSourcedSink(app, PAYMENTS_HANDLERS).apply("payments.p0", [
        Delivery(1, captured(sale_id, "p1", 500, "card")),
        Delivery(2, captured(sale_id, "p2", 1000, "cash")),
    ])
    return sale_id


class TestReceiptCommand:
    def test_registered(self, commands: CheckoutCommands) -> None:
        assert commands.handlers()["receipt"] == commands.receipt

    def test_text_for_a_completed_sale(self, app: Checkout, commands: CheckoutCommands) -> None:
        sale_id = completed_sale(app, commands)
        reply = commands.receipt({"sale_id": str(sale_id), "sequence": 17})
        json.dumps(reply)
        assert set(reply) == {"receipt_number", "text"}
        assert reply["receipt_number"] == "s001-l1-17"
        text = reply["text"]
        assert money_column(text, "TOTAL EUR") == Decimal("10.97")
        assert money_column(text, "Card") == Decimal("5.00")
        assert money_column(text, "Cash") == Decimal("10.00")
        assert money_column(text, "Change") == Decimal("4.03")
        assert "Apple" in text and "Bread & <Butter>" in text and str(sale_id) in text
        assert "COPY" not in text
        assert "*** COPY ***" in commands.receipt({"sale_id": str(sale_id), "copy": True})["text"]
        assert commands.receipt({"sale_id": str(sale_id)})["receipt_number"] == "s001-l1-1"

    def test_html_and_escpos(self, app: Checkout, commands: CheckoutCommands) -> None:
        sale_id = completed_sale(app, commands)
        page = commands.receipt({"sale_id": str(sale_id), "format": "html", "offline": True})
        assert set(page) == {"receipt_number", "html"}
        assert "Bread &amp; &lt;Butter&gt;" in page["html"] and ">OFFLINE<" in page["html"]
        raw = commands.receipt({"sale_id": str(sale_id), "format": "escpos"})
        assert set(raw) == {"receipt_number", "escpos_b64"}
        data = base64.b64decode(raw["escpos_b64"])
        assert data.startswith(b"\x1b@") and b"\x1dV\x00" in data and str(sale_id).encode() in data

    def test_refusals(self, app: Checkout, commands: CheckoutCommands) -> None:
        sale_id = completed_sale(app, commands)
        open_id = uuid4()
        commands.open_sale({"sale_id": str(open_id), "store_id": "s001", "lane_id": "l1",
                            "cashier_id": "c7", "currency": "EUR"})
        for body, code in (
            ({"sale_id": str(uuid4())}, "not_found"),
            ({"sale_id": str(open_id)}, "rejected"),
            ({"sale_id": "nope"}, "invalid"),
            ({"sale_id": str(sale_id), "format": "pdf"}, "invalid"),
            ({"sale_id": str(sale_id), "copy": "yes"}, "invalid"),
            ({"sale_id": str(sale_id), "sequence": 0}, "invalid"),
            ({"sale_id": str(sale_id), "sequence": "3"}, "invalid"),
        ):
            with pytest.raises(CommandError) as refused:
                commands.receipt(body)
            assert refused.value.code == code, body
