"""The report tables, per generation, and what kind of row each one keeps.

A rebuild writes a whole new generation of tables (names suffixed `_g<N>`) next to the one
readers use, then flips one row of `projection_generation`: readers and the live writer look
the generation up per transaction, so the swap is atomic and nobody is taken down. Generation 0
keeps the plain names.

Two kinds of tables:
- counter tables: key columns and integer counters, written as "add these increments" upserts
  (sums of minor units, counts); a batch's increments per key are summed before writing;
- state tables: key columns and the latest values (a shift's Z report, a store's link state,
  a device's status), written as "set these columns" upserts, in upstream order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
)
from sqlalchemy.types import TypeEngine


@dataclass(frozen=True)
class TableSpec:
    """A report table: its key columns (in order) and its value columns (in order)."""

    name: str
    keys: tuple[str, ...]
    values: tuple[str, ...]
    counter: bool  # True: values are added up; False: values are replaced (latest state)


_KEY_TYPES: dict[str, Callable[[], TypeEngine[Any]]] = {
    "store_id": lambda: String(64),
    "day": Date,
    "week": Date,
    "hour": DateTime,
    "currency": lambda: String(3),
    "tender": lambda: String(32),
    "scheme": lambda: String(32),
    "sku": lambda: String(64),
    "items": Integer,
    "kind": lambda: String(32),
    "label": lambda: String(128),
    "shift_id": lambda: String(64),
    "payment_id": lambda: String(64),
    "rule": lambda: String(64),
    "device_id": lambda: String(64),
}

_STRING_VALUES = {
    "lane_id",
    "cashier_id",
    "currency",
    "action",
    "reason",
    "status",
    "detail",
    "kind",
    "store_id",
    "occurred_at",
    "sale_id",
}
_DATE_VALUES = {"day"}
_BOOL_VALUES = {"online"}

SPECS: tuple[TableSpec, ...] = (
    TableSpec(
        "sales_by_store_day",
        ("store_id", "day", "currency"),
        ("sales_count", "total_minor", "items_sold"),
        True,
    ),
    TableSpec(
        "sales_by_store_hour",
        ("store_id", "hour", "currency"),
        (
            "sales_count",
            "total_minor",
            "items_sold",
            "discount_minor",
            "tax_minor",
            "offline_count",
        ),
        True,
    ),
    TableSpec(
        "sales_by_store_week",
        ("store_id", "week", "currency"),
        ("sales_count", "total_minor", "items_sold"),
        True,
    ),
    TableSpec(
        "product_sales",
        ("store_id", "day", "sku", "currency"),
        ("quantity", "revenue_minor", "lines"),
        True,
    ),
    TableSpec("basket_sizes", ("store_id", "day", "items"), ("sales_count",), True),
    TableSpec(
        "payment_mix",
        ("store_id", "day", "tender", "scheme", "currency"),
        ("count", "total_minor"),
        True,
    ),
    # kind: return, void (checkout); refund, payment_void, reversal (payments)
    TableSpec(
        "refunds_voids", ("store_id", "day", "kind", "currency"), ("count", "total_minor"), True
    ),
    TableSpec(
        "discounts",
        ("store_id", "day", "kind", "label", "currency"),
        ("count", "total_minor"),
        True,
    ),
    TableSpec(
        "loyalty_activity",
        ("store_id", "day", "currency"),
        ("earned_count", "earned_points", "redeemed_count", "redeemed_points", "redeemed_minor"),
        True,
    ),
    # kind: low (StockLow), out (a StockChanged that left nothing on hand)
    TableSpec("stock_alerts", ("store_id", "day", "sku", "kind"), ("count",), True),
    TableSpec(
        "cash_variances",
        ("shift_id",),
        (
            "store_id",
            "lane_id",
            "cashier_id",
            "day",
            "currency",
            "expected_minor",
            "counted_minor",
            "variance_minor",
            "closed_at_ms",
        ),
        False,
    ),
    TableSpec("stock_levels", ("store_id", "sku"), ("on_hand", "reorder_point"), False),
    TableSpec(
        "flagged_payments",
        ("payment_id", "rule"),
        (
            "store_id",
            "day",
            "sale_id",
            "action",
            "reason",
            "currency",
            "amount_minor",
            "occurred_at",
        ),
        False,
    ),
    TableSpec(
        "store_status",
        ("store_id",),
        ("online", "changed_at_ms", "offline_sales", "offline_duration_ms"),
        False,
    ),
    TableSpec(
        "device_status", ("store_id", "device_id"), ("kind", "status", "detail", "at_ms"), False
    ),
)
SPEC_BY_NAME = {spec.name: spec for spec in SPECS}


def table_name(base: str, generation: int) -> str:
    """Generation 0 keeps the plain name; later generations get a `_g<N>` suffix."""
    return base if generation == 0 else f"{base}_g{generation}"


def _value_column(name: str) -> Column[Any]:
    if name in _STRING_VALUES:
        return Column(name, String(200), nullable=False, default="")
    if name in _DATE_VALUES:
        return Column(name, Date, nullable=True)
    if name in _BOOL_VALUES:
        return Column(name, Boolean, nullable=False, default=True)
    return Column(name, BigInteger, nullable=False, default=0)


@dataclass(frozen=True)
class Generation:
    """The tables of one generation (and the metadata that creates and drops them)."""

    number: int
    metadata: MetaData
    tables: dict[str, Table]

    def __getitem__(self, base: str) -> Table:
        return self.tables[base]


@cache
def generation(number: int) -> Generation:
    """The Table objects of generation `number` (built once per process)."""
    meta = MetaData()
    tables: dict[str, Table] = {}
    for spec in SPECS:
        columns: list[Column[Any]] = [
            Column(k, _KEY_TYPES[k](), primary_key=True) for k in spec.keys
        ]
        columns += [_value_column(v) for v in spec.values]
        tables[spec.name] = Table(table_name(spec.name, number), meta, *columns)
    tables["projection_tracking"] = Table(
        table_name("projection_tracking", number),
        meta,
        Column("name", String(200), primary_key=True),
        Column("position", BigInteger, nullable=False),
    )
    return Generation(number, meta, tables)


#: The pointer readers and the live writer follow; outside every generation.
control_metadata = MetaData()
projection_generation = Table(
    "projection_generation",
    control_metadata,
    Column("id", Integer, primary_key=True),
    Column("generation", Integer, nullable=False),
)
