"""Receipts: the document a completed sale prints or e-mails, and its three renderings.

A `Receipt` is built from the sale's `SaleView` plus the store's `StoreProfile`; it is a frozen
value that checks it adds up to the minor unit (lines -> subtotal; subtotal - discounts + taxes
that are not included in prices -> total; tenders -> total + change), so no rendering can ever
print a receipt that does not. Renderers:

* `render_text` -- fixed-width columns for a lane display or a plain printer;
* `render_escpos` -- ESC/POS bytes (python-escpos) for the edge agent's receipt printer;
* `render_html` -- a self-contained e-receipt (inline style and an inline SVG QR code).

Money is integer minor units throughout and is formatted with the currency's ISO 4217 exponent
(EUR/USD 2, JPY 0, KWD 3) by integer arithmetic; never a float.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from checkout.application import Checkout, SaleView
from checkout.domainmodel import (
    COMPLETED,
    PriceEntry,
    Return,
    Sale,
    SaleError,
    price_entry_id,
)

#: ISO 4217 minor-unit exponents other than 2 (every currency not listed here has 2).
CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
         "VND", "VUV", "XAF", "XOF", "XPF"),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}

#: Narrowest text receipt: a money column and a label must still fit side by side.
MIN_WIDTH = 24

#: How tender kinds are labelled on a receipt; other kinds are title-cased.
TENDER_LABELS: dict[str, str] = {
    "card": "Card",
    "cash": "Cash",
    "gift_card": "Gift card",
    "loyalty": "Loyalty points",
    "loyalty_points": "Loyalty points",
    "wallet": "Mobile wallet",
    "mobile_wallet": "Mobile wallet",
}

Style = Literal["normal", "header", "mark", "total"]


class ReceiptError(SaleError):
    """A receipt cannot be made: the sale is not completed, or its figures do not add up."""


# -- money ----------------------------------------------------------------------------------


def currency_exponent(currency: str) -> int:
    """The number of decimal places of a currency's minor unit (ISO 4217)."""
    return CURRENCY_EXPONENTS.get(currency, 2)


def format_money(amount_minor: int, currency: str) -> str:
    """Integer minor units as a decimal string: (123456, "EUR") -> "1234.56";
    (1500, "JPY") -> "1500"; (1234, "KWD") -> "1.234"; negatives get a leading "-"."""
    if not isinstance(amount_minor, int) or isinstance(amount_minor, bool):
        raise TypeError(f"money is an integer of minor units, not {amount_minor!r}")
    exponent = currency_exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    whole, fraction = divmod(abs(amount_minor), 10**exponent)
    if exponent == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:0{exponent}d}"


def mask_card_number(number: str) -> str:
    """A card number with all but its last four digits masked ("************1234").

    Already-masked input keeps only its last four digits visible as well, so a full PAN
    passed by mistake never reaches paper."""
    digits = "".join(c for c in number if c.isdigit())
    if not number:
        return ""
    if len(digits) <= 4:
        return "*" * 4 + digits if digits else "****"
    return "*" * (len(digits) - 4) + digits[-4:]


# -- the document ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreProfile:
    """What a receipt prints about the store: its header and the clock it reads in."""

    name: str
    address: tuple[str, ...] = ()
    vat_id: str = ""
    #: IANA time zone the receipt's date and time are printed in.
    timezone: str = "UTC"

    @classmethod
    def placeholder(cls, store_id: str) -> StoreProfile:
        """A header from the store id alone, until checkout has a store directory."""
        return cls(name=store_id)


@dataclass(frozen=True)
class ReceiptLine:
    """One sold line as printed."""

    line_no: int
    sku: str
    name: str
    quantity: int
    unit_price_minor: int
    line_total_minor: int


@dataclass(frozen=True)
class TaxLine:
    """One tax on the receipt. `included` taxes (VAT in prices) are shown but already in the
    subtotal; the others (sales tax) are added to it."""

    label: str
    amount_minor: int
    included: bool = True
    taxable_minor: int | None = None


@dataclass(frozen=True)
class DiscountLine:
    """A basket discount or promotion: a positive amount taken off the subtotal."""

    label: str
    amount_minor: int


@dataclass(frozen=True)
class ReceiptTender:
    """One payment towards the sale; `masked_pan` only ever holds a masked card number."""

    kind: str
    amount_minor: int
    masked_pan: str = ""

    @property
    def label(self) -> str:
        label = TENDER_LABELS.get(self.kind, self.kind.replace("_", " ").capitalize())
        return f"{label} {self.masked_pan}" if self.masked_pan else label


@dataclass(frozen=True)
class Receipt:
    """The receipt of one completed sale; it checks that its figures add up exactly."""

    store: StoreProfile
    store_id: str
    lane_id: str
    sequence: int
    sale_id: str
    issued_at: datetime
    cashier_id: str
    currency: str
    lines: tuple[ReceiptLine, ...]
    subtotal_minor: int
    total_minor: int
    tenders: tuple[ReceiptTender, ...]
    change_minor: int = 0
    taxes: tuple[TaxLine, ...] = ()
    discounts: tuple[DiscountLine, ...] = ()
    customer_id: str = ""
    loyalty_balance: int | None = None
    #: points earned by this sale (printed with the balance, once crm has reported them)
    loyalty_points: int | None = None
    copy: bool = False
    offline: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.sequence, int) or isinstance(self.sequence, bool) \
                or self.sequence < 1:
            raise ReceiptError(f"a receipt sequence is a positive integer, not {self.sequence!r}")
        if self.issued_at.tzinfo is None:
            raise ReceiptError("issued_at must be timezone-aware")
        for line in self.lines:
            if line.quantity * line.unit_price_minor != line.line_total_minor:
                raise ReceiptError(f"line {line.line_no} does not add up")
        if sum(line.line_total_minor for line in self.lines) != self.subtotal_minor:
            raise ReceiptError("the lines do not add up to the subtotal")
        if any(d.amount_minor < 0 for d in self.discounts):
            raise ReceiptError("a discount is a positive amount taken off")
        expected_total = (
            self.subtotal_minor
            - sum(d.amount_minor for d in self.discounts)
            + sum(t.amount_minor for t in self.taxes if not t.included)
        )
        if expected_total != self.total_minor:
            raise ReceiptError(
                f"subtotal, discounts and taxes make {expected_total}, not the total "
                f"{self.total_minor}"
            )
        if self.change_minor < 0:
            raise ReceiptError("change due cannot be negative")
        if sum(t.amount_minor for t in self.tenders) != self.total_minor + self.change_minor:
            raise ReceiptError("the tenders do not equal the total plus the change")

    @property
    def receipt_number(self) -> str:
        """`<store>-<lane>-<sequence>`."""
        return f"{self.store_id}-{self.lane_id}-{self.sequence}"

    @property
    def local_time(self) -> datetime:
        """When the sale completed, on the store's clock."""
        return self.issued_at.astimezone(ZoneInfo(self.store.timezone))

    def money(self, amount_minor: int) -> str:
        """An amount in the receipt's currency, formatted for printing."""
        return format_money(amount_minor, self.currency)

    @classmethod
    def from_view(
        cls,
        view: SaleView,
        store: StoreProfile,
        sequence: int,
        *,
        issued_at: datetime,
        names: Mapping[str, str] | None = None,
        taxes: Sequence[TaxLine] = (),
        discounts: Sequence[DiscountLine] = (),
        loyalty_balance: int | None = None,
        loyalty_points: int | None = None,
        copy: bool = False,
        offline: bool = False,
    ) -> Receipt:
        """The receipt of a completed sale, as `Checkout.get_sale` shows it.

        `names` maps SKUs to product names (a line without one prints its SKU only). Tender
        dicts may carry a `masked_pan` (card number); it is masked again here regardless.
        The loyalty points and balance are the view's (what crm reported for the sale)
        unless given.
        """
        if view.status != COMPLETED:
            raise ReceiptError(f"sale {view.sale_id} is {view.status}, not completed")
        names = names or {}
        lines = tuple(
            ReceiptLine(
                line_no=ln["line_no"], sku=ln["sku"], name=names.get(ln["sku"], ""),
                quantity=ln["quantity"], unit_price_minor=ln["unit_price_minor"],
                line_total_minor=ln["line_total_minor"],
            )
            for ln in view.lines
        )
        tenders = tuple(
            ReceiptTender(kind=t["kind"], amount_minor=t["amount_minor"],
                          masked_pan=mask_card_number(t.get("masked_pan") or ""))
            for t in view.tenders
        )
        paid = sum(t.amount_minor for t in tenders)
        return cls(
            store=store,
            store_id=view.store_id,
            lane_id=view.lane_id,
            sequence=sequence,
            sale_id=view.sale_id,
            issued_at=issued_at,
            cashier_id=view.cashier_id,
            currency=view.currency,
            lines=lines,
            subtotal_minor=sum(line.line_total_minor for line in lines),
            total_minor=view.total_minor,
            tenders=tenders,
            change_minor=max(paid - view.total_minor, 0),
            taxes=tuple(taxes),
            discounts=tuple(discounts),
            customer_id=view.customer_id,
            loyalty_balance=view.loyalty_balance if loyalty_balance is None else loyalty_balance,
            loyalty_points=view.loyalty_points if loyalty_points is None else loyalty_points,
            copy=copy,
            offline=offline,
        )


def receipt_for_sale(
    app: Checkout,
    sale_id: UUID,
    store: StoreProfile | None = None,
    sequence: int | None = None,
    *,
    copy: bool = False,
    offline: bool = False,
) -> Receipt:
    """The receipt of a completed sale in `app`: its view, completion time and product names.

    Raises SaleNotFoundError for an unknown sale and ReceiptError for one not completed.
    Product names are the price replica's current ones (the sale records SKUs only). The
    points earned and balance are on it once crm has reported them (LoyaltyPointsEarned);
    a receipt printed before then has no loyalty lines.
    """
    view = app.get_sale(sale_id)
    sale = app.get_or_none(sale_id)
    completed_at = sale.completed_at if isinstance(sale, Sale) else None
    if sequence is None:
        # The number the sale completed under; a lane's own sequence only when it has none.
        sequence = _sequence_of(view.receipt_number)
    offline = offline or view.offline
    names: dict[str, str] = {}
    for line in view.lines:
        entry = app.get_or_none(price_entry_id(line["sku"]))
        if isinstance(entry, PriceEntry) and entry.name:
            names[line["sku"]] = entry.name
    return Receipt.from_view(
        view,
        store or StoreProfile.placeholder(view.store_id),
        sequence,
        issued_at=completed_at or datetime.now(UTC),
        names=names,
        taxes=[
            TaxLine(label=t["name"] or _tax_label(t["tax_class"], t["rate_bp"]),
                    amount_minor=t["amount_minor"], included=t["mode"] == "inclusive",
                    taxable_minor=t["taxable_minor"])
            for t in view.taxes
        ],
        discounts=[DiscountLine(d["label"], d["amount_minor"]) for d in view.discounts],
        copy=copy,
        offline=offline,
    )


def _sequence_of(receipt_number: str) -> int:
    """The sequence of `<store>-<lane>-<sequence>` (1 when there is no such number)."""
    tail = receipt_number.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() and int(tail) > 0 else 1


def _tax_label(tax_class: str, rate_bp: int) -> str:
    whole, frac = divmod(rate_bp, 100)
    rate = f"{whole}.{frac:02d}".rstrip("0").rstrip(".")
    return f"Tax {tax_class} {rate}%".replace("  ", " ")


# -- layout shared by text and ESC/POS ------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    text: str
    style: Style = "normal"


@dataclass
class _Layout:
    width: int
    rows: list[_Row] = field(default_factory=list)

    def add(self, text: str, style: Style = "normal") -> None:
        self.rows.append(_Row(text, style))

    def center(self, text: str, style: Style = "normal") -> None:
        for part in textwrap.wrap(text, self.width) or [""]:
            self.add(part.center(self.width).rstrip(), style)

    def wrap(self, text: str, indent: str = "") -> None:
        for part in textwrap.wrap(text, self.width, subsequent_indent=indent) or [""]:
            self.add(part)

    def pair(self, left: str, right: str, style: Style = "normal") -> None:
        """`left` flush left, `right` flush right; a left too long gets its own rows."""
        room = self.width - len(right) - 1
        if len(left) > room:
            parts = textwrap.wrap(left, self.width)
            for part in parts[:-1]:
                self.add(part, style)
            left = parts[-1] if parts else ""
            if len(left) > room:
                self.add(left, style)
                left = ""
        self.add(left + right.rjust(self.width - len(left)), style)

    def rule(self) -> None:
        self.add("-" * self.width)


def _layout(receipt: Receipt, width: int) -> _Layout:
    if width < MIN_WIDTH:
        raise ValueError(f"a receipt is at least {MIN_WIDTH} columns wide")
    out = _Layout(width)
    money = receipt.money
    out.center(receipt.store.name, "header")
    for address_line in receipt.store.address:
        out.center(address_line)
    if receipt.store.vat_id:
        out.center(f"VAT ID {receipt.store.vat_id}")
    if receipt.copy:
        out.center("*** COPY ***", "mark")
    if receipt.offline:
        out.center("*** OFFLINE ***", "mark")
    out.rule()
    out.pair("Receipt", receipt.receipt_number)
    out.pair("Date", receipt.local_time.strftime("%Y-%m-%d %H:%M"))
    out.pair("Cashier", receipt.cashier_id)
    out.rule()
    for line in receipt.lines:
        if line.name:
            out.wrap(line.name, "  ")
        out.pair(f"  {line.quantity} x {money(line.unit_price_minor)}  {line.sku}",
                 money(line.line_total_minor))
    out.rule()
    out.pair("Subtotal", money(receipt.subtotal_minor))
    for discount in receipt.discounts:
        out.pair(discount.label, money(-discount.amount_minor))
    for tax in receipt.taxes:
        label = f"{tax.label} (incl.)" if tax.included else tax.label
        out.pair(label, money(tax.amount_minor))
    out.pair(f"TOTAL {receipt.currency}", money(receipt.total_minor), "total")
    out.rule()
    for tender in receipt.tenders:
        out.pair(tender.label, money(tender.amount_minor))
    if receipt.change_minor:
        out.pair("Change", money(receipt.change_minor))
    if receipt.loyalty_balance is not None:
        out.rule()
        if receipt.loyalty_points is not None:
            out.pair("Points earned", str(receipt.loyalty_points))
        out.pair("Loyalty points balance", str(receipt.loyalty_balance))
    out.rule()
    out.center("Sale id (for returns)")
    out.center(receipt.sale_id)
    return out


# -- renderers ------------------------------------------------------------------------------


def render_text(receipt: Receipt, width: int = 42) -> str:
    """The receipt as fixed-width text, money right-aligned; ends with a newline."""
    return "".join(f"{row.text}\n" for row in _layout(receipt, width).rows)


def render_escpos(receipt: Receipt, width: int = 42) -> bytes:
    """The receipt as ESC/POS bytes: init, bold header, the body, a QR code of the sale id
    (printed natively, so its payload is in the bytes) and a full cut."""
    from escpos.printer import Dummy  # python-escpos; imported here so text/HTML need none

    printer = Dummy()
    printer.hw("INIT")
    for row in _layout(receipt, width).rows:
        if row.style == "header":
            printer.set(align="center", bold=True, double_height=True)
            printer.textln(row.text.strip())
            printer.set(align="left", bold=False, normal_textsize=True)
        elif row.style in ("mark", "total"):
            printer.set(bold=True)
            printer.textln(row.text)
            printer.set(bold=False)
        else:
            printer.textln(row.text)
    printer.set(align="center")
    printer.qr(receipt.sale_id, size=6, native=True)
    printer.set(align="left")
    printer.cut()
    output: bytes = printer.output
    return output


_HTML_STYLE = """
body{font-family:system-ui,sans-serif;max-width:28rem;margin:1rem auto;color:#111}
header,footer{text-align:center}
.mark{font-weight:bold;border:2px solid #111;padding:.2rem;text-align:center;margin:.5rem 0}
table{width:100%;border-collapse:collapse}
td{padding:.15rem 0;vertical-align:top}
td.amount{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
tr.total td{font-weight:bold;border-top:1px solid #111}
.sku{color:#555;font-size:.85em}
section{border-top:1px dashed #999;margin-top:.5rem;padding-top:.5rem}
svg{width:8rem;height:8rem}
"""


def _qr_svg(payload: str) -> str:
    """An inline SVG QR code; empty if the qrcode library is not available."""
    try:
        import qrcode
        import qrcode.image.svg
    except ImportError:  # pragma: no cover - python-escpos depends on qrcode
        return ""
    image: Any = qrcode.make(payload, image_factory=qrcode.image.svg.SvgPathImage)
    svg: str = image.to_string(encoding="unicode")
    return svg


def render_html(receipt: Receipt) -> str:
    """The receipt as a self-contained HTML e-receipt: every text escaped, inline style, an
    inline SVG QR code of the sale id, no external resources."""
    e = html.escape
    money = receipt.money

    def row(label: str, amount: str, cls: str = "") -> str:
        attr = f' class="{cls}"' if cls else ""
        return f'<tr{attr}><td>{e(label)}</td><td class="amount">{e(amount)}</td></tr>'

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Receipt {e(receipt.receipt_number)}</title>",
        f"<style>{_HTML_STYLE}</style></head><body>",
        f"<header><h1>{e(receipt.store.name)}</h1>",
        *(f"<div>{e(line)}</div>" for line in receipt.store.address),
    ]
    if receipt.store.vat_id:
        parts.append(f"<div>VAT ID {e(receipt.store.vat_id)}</div>")
    parts.append("</header>")
    if receipt.copy:
        parts.append('<div class="mark">COPY</div>')
    if receipt.offline:
        parts.append('<div class="mark">OFFLINE</div>')
    parts.append("<section><table>")
    parts.append(row("Receipt", receipt.receipt_number))
    parts.append(row("Date", receipt.local_time.strftime("%Y-%m-%d %H:%M")))
    parts.append(row("Cashier", receipt.cashier_id))
    parts.append("</table></section><section><table>")
    for line in receipt.lines:
        name = f"{e(line.name)}<br>" if line.name else ""
        detail = f"{line.quantity} x {money(line.unit_price_minor)} {line.sku}"
        parts.append(
            f'<tr><td>{name}<span class="sku">{e(detail)}</span></td>'
            f'<td class="amount">{e(money(line.line_total_minor))}</td></tr>'
        )
    parts.append("</table></section><section><table>")
    parts.append(row("Subtotal", money(receipt.subtotal_minor)))
    for discount in receipt.discounts:
        parts.append(row(discount.label, money(-discount.amount_minor)))
    for tax in receipt.taxes:
        parts.append(row(f"{tax.label} (incl.)" if tax.included else tax.label,
                         money(tax.amount_minor)))
    parts.append(row(f"Total {receipt.currency}", money(receipt.total_minor), "total"))
    parts.append("</table></section><section><table>")
    for tender in receipt.tenders:
        parts.append(row(tender.label, money(tender.amount_minor)))
    if receipt.change_minor:
        parts.append(row("Change", money(receipt.change_minor)))
    if receipt.loyalty_balance is not None:
        if receipt.loyalty_points is not None:
            parts.append(row("Points earned", str(receipt.loyalty_points)))
        parts.append(row("Loyalty points balance", str(receipt.loyalty_balance)))
    parts.append("</table></section>")
    parts.append(
        f"<footer><section>{_qr_svg(receipt.sale_id)}"
        f"<div>Sale id (for returns)</div><div>{e(receipt.sale_id)}</div></section></footer>"
    )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# -- returns --------------------------------------------------------------------------------


def _return_layout(ret: Return, store: StoreProfile, width: int, copy: bool) -> _Layout:
    """A return's receipt: what came back, what each original tender refunds, the drawer's
    cash back, and the original sale it was taken against (if any)."""
    out = _Layout(width)

    def money(amount_minor: int) -> str:
        return format_money(amount_minor, ret.currency)

    out.center(store.name, "header")
    for address_line in store.address:
        out.center(address_line)
    if copy:
        out.center("*** COPY ***", "mark")
    out.center("*** RETURN ***", "mark")
    out.rule()
    out.pair("Receipt", ret.receipt_number)
    out.pair("Date", ret.completed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    out.pair("Cashier", ret.cashier_id)
    if ret.original_sale_id:
        out.add("Original sale")
        out.add(f"  {ret.original_sale_id}")
    else:
        out.add("No receipt")
    if ret.approved_by:
        out.pair("Approved by", ret.approved_by)
    out.rule()
    for line in ret.lines:
        label = f"  {line['quantity']} x {line['sku']}"
        if not line["restock"]:
            label += " (damaged)"
        out.pair(label, money(-line["amount_minor"]))
    out.rule()
    if ret.tax_minor:
        out.pair("Tax refunded", money(-ret.tax_minor))
    out.pair(f"REFUND {ret.currency}", money(ret.total_minor), "total")
    for refund in ret.refunds:
        out.pair(f"To {refund['kind'].replace('_', ' ')}", money(refund["amount_minor"]))
    if ret.exchange_sale_id:
        out.rule()
        out.add("Exchanged for sale")
        out.add(f"  {ret.exchange_sale_id}")
    return out


def render_return(
    ret: Return, fmt: str = "text", store: StoreProfile | None = None, *, copy: bool = False,
    width: int = 42,
) -> str | bytes:
    """A return's receipt as text, HTML or ESC/POS bytes (reprints marked as copies)."""
    layout = _return_layout(ret, store or StoreProfile.placeholder(ret.store_id), width, copy)
    if fmt == "text":
        return "".join(f"{row.text}\n" for row in layout.rows)
    if fmt == "html":
        body = "\n".join(f"<pre>{html.escape(row.text)}</pre>" for row in layout.rows)
        return (f"<!doctype html><html><head><meta charset=\"utf-8\">"
                f"<title>Return {html.escape(ret.receipt_number)}</title>"
                f"<style>pre{{margin:0;font-family:monospace}}</style></head>"
                f"<body>{body}</body></html>")
    if fmt == "escpos":
        from escpos.printer import Dummy

        printer = Dummy()
        printer.hw("INIT")
        for row in layout.rows:
            printer.set(bold=row.style != "normal")
            printer.textln(row.text)
        printer.set(bold=False)
        printer.cut()
        output: bytes = printer.output
        return output
    raise ReceiptError(f"unknown receipt format {fmt!r}")
