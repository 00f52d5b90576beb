"""Inventory's aggregates: the catalog (`Product`) and stock per store and SKU (`StockItem`).

No I/O here; only eventsourcing.domain and the standard library.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

#: Namespace of inventory's deterministic ids: the same SKU (or store and SKU) is the same
#: aggregate in every process, so an upsert or a replayed sale never creates a second one.
INVENTORY_NAMESPACE = UUID("6f1c4a52-8f0e-4b7a-9d0b-6a3e2f1b9c47")

DEFAULT_TAX_CLASS = "standard"

# A store id and a SKU end up as subject tokens or ids; NATS wildcards and separators would
# break the subject (and with it the relay), so refuse them at the door.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
#: GTIN lengths we accept: EAN-8, UPC-A, EAN-13.
_GTIN_LENGTHS = {8: "EAN-8", 12: "UPC-A", 13: "EAN-13"}


class InvalidProductError(ValueError):
    """A product's SKU, name, price, currency, tax class or barcode is not acceptable."""


class InvalidBarcodeError(InvalidProductError):
    """A barcode is not an EAN-13, EAN-8 or UPC-A with a correct check digit."""


class ProductDiscontinuedError(Exception):
    """A discontinued product cannot be repriced or renamed."""


class InvalidStockMovementError(ValueError):
    """A stock quantity, reference, store id or reorder point is not acceptable."""


def gtin_check_digit(body: str) -> int:
    """The GS1 check digit for the digits of a GTIN without its check digit."""
    # Weights alternate 3, 1, 3, ... from the rightmost body digit, for every GTIN length.
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def validate_barcode(code: str) -> str:
    """Return `code` when it is a valid EAN-13, EAN-8 or UPC-A; raise InvalidBarcodeError."""
    if not isinstance(code, str) or not code.isdigit() or not code.isascii():
        raise InvalidBarcodeError(f"barcode {code!r} is not all digits")
    kind = _GTIN_LENGTHS.get(len(code))
    if kind is None:
        raise InvalidBarcodeError(f"barcode {code!r} has {len(code)} digits (want 8, 12 or 13)")
    if gtin_check_digit(code[:-1]) != int(code[-1]):
        raise InvalidBarcodeError(f"{kind} {code!r} has a wrong check digit")
    return code


def validate_token(value: str, what: str) -> str:
    if not isinstance(value, str) or not _TOKEN.match(value):
        raise InvalidStockMovementError(f"{what} {value!r} must be 1-64 of [A-Za-z0-9_-]")
    return value


def _validate_price(price_minor: int, currency: str) -> None:
    # bool is an int in Python; a price of True is a bug, not one cent.
    if not isinstance(price_minor, int) or isinstance(price_minor, bool) or price_minor < 0:
        raise InvalidProductError(f"price_minor must be a non-negative integer: {price_minor!r}")
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise InvalidProductError(f"currency must be an ISO 4217 code: {currency!r}")


def _validate_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidProductError("a product needs a name")
    return name.strip()


def _validate_tax_class(tax_class: str) -> str:
    if not isinstance(tax_class, str) or not _TOKEN.match(tax_class):
        raise InvalidProductError(f"tax_class {tax_class!r} must be 1-64 of [A-Za-z0-9_-]")
    return tax_class


def _validate_barcodes(barcodes: Iterable[str]) -> list[str]:
    if isinstance(barcodes, str):
        raise InvalidBarcodeError("barcodes is a list of strings, not one string")
    codes = [validate_barcode(code) for code in barcodes]
    # Keep the caller's order but drop repeats, so an upsert with the same set is a no-op.
    return list(dict.fromkeys(codes))


def _validate_quantity(quantity: int) -> None:
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
        raise InvalidStockMovementError(f"quantity must be a positive integer: {quantity!r}")


class Product(Aggregate):
    """A catalog entry: one per SKU, chain-wide."""

    class Created(Aggregate.Created):
        sku: str
        name: str
        price_minor: int
        currency: str
        tax_class: str
        barcodes: list[str]

    class Changed(Aggregate.Event):
        """Every change carries the product's whole record after it.

        The catalog's integration event (ProductUpserted) is a full record, and the relay maps
        events one by one without loading aggregates; so each event must carry all of it.
        """

        sku: str
        name: str
        price_minor: int
        currency: str
        tax_class: str
        barcodes: list[str]
        active: bool

        def apply(self, aggregate: Product) -> None:
            aggregate.name = self.name
            aggregate.price_minor = self.price_minor
            aggregate.currency = self.currency
            aggregate.tax_class = self.tax_class
            aggregate.barcodes = list(self.barcodes)
            aggregate.active = self.active

    class PriceChanged(Changed):
        pass

    class Renamed(Changed):
        pass

    class TaxClassChanged(Changed):
        pass

    class BarcodesChanged(Changed):
        pass

    class Discontinued(Changed):
        pass

    @staticmethod
    def create_id(sku: str) -> UUID:
        return uuid5(INVENTORY_NAMESPACE, f"product:{sku}")

    @classmethod
    def create(
        cls,
        sku: str,
        name: str,
        price_minor: int,
        currency: str,
        tax_class: str = DEFAULT_TAX_CLASS,
        barcodes: Iterable[str] = (),
    ) -> Product:
        """Register a new product; every field is checked before anything is recorded."""
        try:
            validate_token(sku, "sku")
        except InvalidStockMovementError as exc:
            raise InvalidProductError(str(exc)) from exc
        _validate_price(price_minor, currency)
        return cls._create(
            cls.Created,
            id=cls.create_id(sku),
            sku=sku,
            name=_validate_name(name),
            price_minor=price_minor,
            currency=currency,
            tax_class=_validate_tax_class(tax_class),
            barcodes=_validate_barcodes(barcodes),
        )

    def __init__(
        self,
        sku: str,
        name: str,
        price_minor: int,
        currency: str,
        tax_class: str,
        barcodes: list[str],
    ) -> None:
        self.sku = sku
        self.name = name
        self.price_minor = price_minor
        self.currency = currency
        self.tax_class = tax_class
        self.barcodes = list(barcodes)
        self.active = True

    def _record(self, event_class: type[Changed], **changes: object) -> None:
        fields: dict[str, object] = {
            "sku": self.sku,
            "name": self.name,
            "price_minor": self.price_minor,
            "currency": self.currency,
            "tax_class": self.tax_class,
            "barcodes": list(self.barcodes),
            "active": self.active,
        }
        fields.update(changes)
        self.trigger_event(event_class, **fields)

    def _check_active(self) -> None:
        if not self.active:
            raise ProductDiscontinuedError(f"product {self.sku} is discontinued")

    def change_price(self, price_minor: int, currency: str) -> None:
        """Set a new price; the same price again records nothing."""
        _validate_price(price_minor, currency)
        self._check_active()
        if (price_minor, currency) != (self.price_minor, self.currency):
            self._record(self.PriceChanged, price_minor=price_minor, currency=currency)

    def rename(self, name: str) -> None:
        """Give the product a new name; the same name again records nothing."""
        name = _validate_name(name)
        self._check_active()
        if name != self.name:
            self._record(self.Renamed, name=name)

    def change_tax_class(self, tax_class: str) -> None:
        _validate_tax_class(tax_class)
        self._check_active()
        if tax_class != self.tax_class:
            self._record(self.TaxClassChanged, tax_class=tax_class)

    def change_barcodes(self, barcodes: Iterable[str]) -> None:
        codes = _validate_barcodes(barcodes)
        self._check_active()
        if codes != self.barcodes:
            self._record(self.BarcodesChanged, barcodes=codes)

    def discontinue(self) -> None:
        """Take the product off sale; discontinuing twice records nothing."""
        if self.active:
            self._record(self.Discontinued, active=False)


class StockItem(Aggregate):
    """The stock of one SKU in one store.

    A sale is never refused for lack of stock (the goods are in the customer's hands): stock
    may go negative, and such a sale is flagged as oversold. Falling to or below the reorder
    point raises one low-stock signal per crossing, re-armed when stock rises above it again.
    """

    class Created(Aggregate.Created):
        store_id: str
        sku: str
        reorder_point: int

    # Every stock event names its store and SKU: the relay maps events one at a time, and
    # the integration events (and their subjects) need both.
    class Received(Aggregate.Event):
        store_id: str
        sku: str
        quantity: int
        reference: str
        on_hand: int

    class Sold(Aggregate.Event):
        store_id: str
        sku: str
        quantity: int
        sale_id: str
        on_hand: int
        oversold: bool

    class ReorderPointSet(Aggregate.Event):
        store_id: str
        sku: str
        reorder_point: int

    class LowStockSignalled(Aggregate.Event):
        store_id: str
        sku: str
        on_hand: int
        reorder_point: int

    @staticmethod
    def create_id(store_id: str, sku: str) -> UUID:
        return uuid5(INVENTORY_NAMESPACE, f"{store_id}:{sku}")

    @classmethod
    def create(cls, store_id: str, sku: str, reorder_point: int = 0) -> StockItem:
        validate_token(store_id, "store_id")
        validate_token(sku, "sku")
        _validate_reorder_point(reorder_point)
        return cls._create(
            cls.Created,
            id=cls.create_id(store_id, sku),
            store_id=store_id,
            sku=sku,
            reorder_point=reorder_point,
        )

    def __init__(self, store_id: str, sku: str, reorder_point: int) -> None:
        self.store_id = store_id
        self.sku = sku
        self.reorder_point = reorder_point
        self.on_hand = 0
        self.received = 0
        self.sold = 0
        self.oversold_sales = 0
        # True once the low-stock signal has been raised for the current dip.
        self.low_signalled = False

    @property
    def is_low(self) -> bool:
        return self.on_hand <= self.reorder_point

    def receive(self, quantity: int, reference: str) -> None:
        """Goods in: a delivery, identified by the supplier's reference."""
        _validate_quantity(quantity)
        if not isinstance(reference, str) or not reference.strip():
            raise InvalidStockMovementError("a receipt needs a reference")
        self._received(
            store_id=self.store_id,
            sku=self.sku,
            quantity=quantity,
            reference=reference,
            on_hand=self.on_hand + quantity,
        )
        self._signal_if_low()

    @event(Received)
    def _received(
        self, store_id: str, sku: str, quantity: int, reference: str, on_hand: int
    ) -> None:
        self.on_hand = on_hand
        self.received += quantity
        if not self.is_low:
            self.low_signalled = False

    def sell(self, quantity: int, sale_id: str) -> None:
        """Goods out on a completed sale; never refused, flagged when stock goes negative."""
        _validate_quantity(quantity)
        if not isinstance(sale_id, str) or not sale_id:
            raise InvalidStockMovementError("a sale needs its sale id")
        on_hand = self.on_hand - quantity
        self._sold(
            store_id=self.store_id,
            sku=self.sku,
            quantity=quantity,
            sale_id=sale_id,
            on_hand=on_hand,
            oversold=on_hand < 0,
        )
        self._signal_if_low()

    @event(Sold)
    def _sold(
        self, store_id: str, sku: str, quantity: int, sale_id: str, on_hand: int, oversold: bool
    ) -> None:
        self.on_hand = on_hand
        self.sold += quantity
        if oversold:
            self.oversold_sales += 1

    def set_reorder_point(self, reorder_point: int) -> None:
        """Change the level at or below which stock counts as low."""
        _validate_reorder_point(reorder_point)
        if reorder_point == self.reorder_point:
            return
        self._reorder_point_set(store_id=self.store_id, sku=self.sku, reorder_point=reorder_point)
        self._signal_if_low()

    @event(ReorderPointSet)
    def _reorder_point_set(self, store_id: str, sku: str, reorder_point: int) -> None:
        self.reorder_point = reorder_point
        if not self.is_low:
            self.low_signalled = False

    def _signal_if_low(self) -> None:
        if self.is_low and not self.low_signalled:
            self._low_stock_signalled(
                store_id=self.store_id,
                sku=self.sku,
                on_hand=self.on_hand,
                reorder_point=self.reorder_point,
            )

    @event(LowStockSignalled)
    def _low_stock_signalled(
        self, store_id: str, sku: str, on_hand: int, reorder_point: int
    ) -> None:
        self.low_signalled = True


def _validate_reorder_point(reorder_point: int) -> None:
    if (
        not isinstance(reorder_point, int)
        or isinstance(reorder_point, bool)
        or reorder_point < 0
    ):
        raise InvalidStockMovementError(
            f"reorder_point must be a non-negative integer: {reorder_point!r}"
        )


class StoreStock(Aggregate):
    """The SKUs a store holds stock of: an index, so a store's stock can be listed.

    An event store has no "all stock items of store X" query; this aggregate answers it.
    Its events are private to inventory.
    """

    class Created(Aggregate.Created):
        store_id: str

    @staticmethod
    def create_id(store_id: str) -> UUID:
        return uuid5(INVENTORY_NAMESPACE, f"store-stock:{store_id}")

    @classmethod
    def create(cls, store_id: str) -> StoreStock:
        validate_token(store_id, "store_id")
        return cls._create(cls.Created, id=cls.create_id(store_id), store_id=store_id)

    def __init__(self, store_id: str) -> None:
        self.store_id = store_id
        self.skus: list[str] = []

    def add(self, sku: str) -> None:
        """Record that the store now stocks `sku`; adding it again records nothing."""
        if sku not in self.skus:
            self._added(sku=sku)

    @event("SkuAdded")
    def _added(self, sku: str) -> None:
        self.skus.append(sku)
