"""Catalog import from CSV: every row checked, every rejected row reported, the rest saved in
one transaction (a failed save writes nothing, so a catalog is never half-imported).

The CSV has a header row with the columns ``sku,name,price_minor,currency,tax_class,barcodes``;
``barcodes`` is semicolon-separated (EAN-13, EAN-8 or UPC-A, check digits verified) and may be
empty; an empty ``tax_class`` means the default for a new product and "unchanged" for an
existing one. Line numbers are the file's physical line numbers (the header is line 1).

Two halves, so the CLI can check a file without a service and the service can import what
the CLI sends: `parse_catalog_csv` (no I/O beyond reading the text) and `import_catalog`
(validates again and saves through the application).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eventsourcing.domain import Aggregate

from inventory.application import Inventory
from inventory.domainmodel import (
    DEFAULT_TAX_CLASS,
    InvalidProductError,
    Product,
    ProductDiscontinuedError,
)

COLUMNS = ("sku", "name", "price_minor", "currency", "tax_class", "barcodes")

#: Called after each row with (rows done, rows in all).
Progress = Callable[[int, int], None]


class CatalogFileError(ValueError):
    """The file as a whole cannot be read as a catalog (no header, missing columns)."""


@dataclass(frozen=True)
class CatalogRow:
    """One valid row of the file, typed."""

    line: int
    sku: str
    name: str
    price_minor: int
    currency: str
    tax_class: str | None
    barcodes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["barcodes"] = list(self.barcodes)
        return body

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> CatalogRow:
        barcodes = body.get("barcodes") or ()
        if isinstance(barcodes, str):
            raise InvalidProductError("barcodes is a list of strings, not one string")
        return cls(
            line=int(body.get("line", 0)),
            sku=body["sku"],
            name=body["name"],
            price_minor=body["price_minor"],
            currency=body["currency"],
            tax_class=body.get("tax_class") or None,
            barcodes=tuple(barcodes),
        )


@dataclass(frozen=True)
class RejectedRow:
    line: int
    sku: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ParsedCatalog:
    rows: list[CatalogRow] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.rows) + len(self.rejected)


@dataclass
class ImportReport:
    """What an import did: rows imported (created or changed), unchanged, and rejected."""

    imported: int = 0
    unchanged: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "unchanged": self.unchanged,
            "rejected": [r.to_json() for r in self.rejected],
            "dry_run": self.dry_run,
        }


def check_row(row: CatalogRow) -> None:
    """Raise InvalidProductError when the row could not become a product.

    Builds a throwaway Product (pure, in memory) so the rules are exactly the domain's.
    """
    Product.create(
        row.sku,
        row.name,
        row.price_minor,
        row.currency,
        row.tax_class if row.tax_class is not None else DEFAULT_TAX_CLASS,
        row.barcodes,
    )


def _row_from_csv(line: int, record: Mapping[str, str | None]) -> CatalogRow:
    values = {column: (record.get(column) or "").strip() for column in COLUMNS}
    price_text = values["price_minor"]
    if not price_text.isascii() or not price_text.isdigit():
        raise InvalidProductError(
            f"price_minor must be a whole number of minor units: {price_text!r}"
        )
    barcodes = tuple(code.strip() for code in values["barcodes"].split(";") if code.strip())
    return CatalogRow(
        line=line,
        sku=values["sku"],
        name=values["name"],
        price_minor=int(price_text),
        currency=values["currency"],
        tax_class=values["tax_class"] or None,
        barcodes=barcodes,
    )


def parse_catalog_csv(text: str, progress: Progress | None = None) -> ParsedCatalog:
    """Every row of the CSV `text`, checked: the valid rows and the rejected ones with why.

    A SKU seen again in the same file is rejected (which of two prices would be meant?).
    Raises CatalogFileError when the header lacks a column.
    """
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in (reader.fieldnames or [])]
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        raise CatalogFileError(f"the header lacks the column(s) {', '.join(missing)}")
    reader.fieldnames = header
    # line_num is the line the record ended on: its line, for every one-line record.
    records = [(reader.line_num, record) for record in reader]
    parsed = ParsedCatalog()
    first_line: dict[str, int] = {}
    total = len(records)
    for done, (line_no, record) in enumerate(records, start=1):
        sku = (record.get("sku") or "").strip()
        try:
            if None in record:  # DictReader's key for values beyond the header
                raise InvalidProductError("more values than columns")
            if any(record.get(column) is None for column in COLUMNS):
                raise InvalidProductError("fewer values than columns")
            row = _row_from_csv(line_no, record)
            check_row(row)
            if sku in first_line:
                raise InvalidProductError(f"SKU {sku!r} already on line {first_line[sku]}")
        except InvalidProductError as exc:
            parsed.rejected.append(RejectedRow(line_no, sku, str(exc)))
        else:
            first_line[sku] = line_no
            parsed.rows.append(row)
        if progress is not None:
            progress(done, total)
    return parsed


def import_catalog(
    app: Inventory,
    rows: Sequence[CatalogRow],
    progress: Progress | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Upsert every acceptable row in ONE transaction; report the others.

    Rows are checked again here (the service does not trust its caller); a row whose product
    is discontinued, or that repeats a SKU, is rejected. If the save fails, nothing is
    written and the error propagates. With `dry_run` nothing is saved at all.
    """
    report = ImportReport(dry_run=dry_run)
    changed: list[Aggregate] = []
    seen: dict[str, int] = {}
    total = len(rows)
    for done, row in enumerate(rows, start=1):
        try:
            check_row(row)
            if row.sku in seen:
                raise InvalidProductError(f"SKU {row.sku!r} already on line {seen[row.sku]}")
            product = app.upsert_product_aggregate(
                row.sku, row.name, row.price_minor, row.currency, row.tax_class,
                list(row.barcodes),
            )
        except (InvalidProductError, ProductDiscontinuedError) as exc:
            report.rejected.append(RejectedRow(row.line, row.sku, str(exc)))
        else:
            seen[row.sku] = row.line
            if product.pending_events:
                changed.append(product)
                report.imported += 1
            else:
                report.unchanged += 1
        if progress is not None:
            progress(done, total)
    if changed and not dry_run:
        app.save(*changed)  # one transaction: all of these products, or none of them
    return report


def import_catalog_file(
    app: Inventory,
    path: str | Path,
    progress: Progress | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Parse and import a CSV file in-process: the file's rejected rows plus the import's."""
    parsed = parse_catalog_csv(Path(path).read_text(encoding="utf-8-sig"), progress)
    report = import_catalog(app, parsed.rows, dry_run=dry_run)
    report.rejected = sorted([*parsed.rejected, *report.rejected], key=lambda r: r.line)
    return report


def rows_from_json(rows: Iterable[Any]) -> tuple[list[CatalogRow], list[RejectedRow]]:
    """Rows of an `import_catalog` command; a malformed one is rejected, not fatal."""
    good: list[CatalogRow] = []
    bad: list[RejectedRow] = []
    for index, body in enumerate(rows):
        if not isinstance(body, Mapping):
            bad.append(RejectedRow(index, "", "a row is a JSON object"))
            continue
        try:
            good.append(CatalogRow.from_json(body))
        except (KeyError, TypeError, ValueError) as exc:
            line = body.get("line", index)
            bad.append(RejectedRow(line if isinstance(line, int) else index,
                                   str(body.get("sku", "")), f"malformed row: {exc!r}"))
    return good, bad
