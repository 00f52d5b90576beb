"""Inventory's aggregates: the catalog (`Product`) and stock per store and SKU (`StockItem`).

No I/O here; only eventsourcing.domain and the standard library.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

#: Namespace of inventory's deterministic ids: the same SKU (or store and SKU) is the same
#: aggregate in every process, so an upsert or a replayed sale never creates a second one.
INVENTORY_NAMESPACE = UUID("6f1c4a52-8f0e-4b7a-9d0b-6a3e2f1b9c47")


@lru_cache(maxsize=65536)
def _name_id(name: str) -> UUID:
    """The aggregate id for `name` in inventory's namespace. Cached: a sale line asks for
    two of them (item and store index), and hashing them took a tenth of a consumer batch."""
    return uuid5(INVENTORY_NAMESPACE, name)

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


class DuplicateReceiptError(InvalidStockMovementError):
    """A supplier reference already received for this item, with a different quantity."""


class InvalidTransferError(ValueError):
    """A transfer's stores, lines or received quantities are not acceptable."""


class TransferStateError(Exception):
    """The transfer is not in a state that allows this step (e.g. receiving before shipping)."""


#: Why stock was adjusted by hand.
ADJUSTMENT_REASONS = frozenset({"waste", "theft", "damage", "correction"})
#: Where returned goods go: back to sellable stock, or to the damaged pile.
RETURN_DISPOSITIONS = frozenset({"stock", "damaged"})


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
        return _name_id(f"product:{sku}")

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

    class Returned(Aggregate.Event):
        store_id: str
        sku: str
        quantity: int
        to: str
        reference: str
        on_hand: int
        damaged: int

    class Adjusted(Aggregate.Event):
        store_id: str
        sku: str
        delta: int
        reason: str
        note: str
        on_hand: int

    class Counted(Aggregate.Event):
        """A physical count: it records the count and the adjustment it yields (delta)."""

        store_id: str
        sku: str
        counted_quantity: int
        previous_on_hand: int
        delta: int

    class TransferredOut(Aggregate.Event):
        store_id: str
        sku: str
        quantity: int
        transfer_id: str
        on_hand: int

    class TransferredIn(Aggregate.Event):
        store_id: str
        sku: str
        quantity: int
        transfer_id: str
        on_hand: int

    @staticmethod
    def create_id(store_id: str, sku: str) -> UUID:
        return _name_id(f"{store_id}:{sku}")

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
        self.damaged = 0
        # Supplier reference -> quantity received under it: a retried receipt adds nothing.
        self.receipts: dict[str, int] = {}
        # References of the returns taken back: a redelivered return adds nothing.
        self.returns: set[str] = set()
        # True once the low-stock signal has been raised for the current dip.
        self.low_signalled = False

    @property
    def is_low(self) -> bool:
        return self.on_hand <= self.reorder_point

    def receive(self, quantity: int, reference: str) -> bool:
        """Goods in: a delivery, identified by the supplier's reference.

        The reference deduplicates: receiving it again with the same quantity (a retry)
        records nothing and returns False; with another quantity it raises
        DuplicateReceiptError. Returns True when the receipt was recorded.
        """
        _validate_quantity(quantity)
        if not isinstance(reference, str) or not reference.strip():
            raise InvalidStockMovementError("a receipt needs a reference")
        already = self.receipts.get(reference)
        if already is not None:
            if already != quantity:
                raise DuplicateReceiptError(
                    f"reference {reference!r} was already received for {self.sku} in "
                    f"{self.store_id} with quantity {already}, not {quantity}"
                )
            return False
        self._received(
            store_id=self.store_id,
            sku=self.sku,
            quantity=quantity,
            reference=reference,
            on_hand=self.on_hand + quantity,
        )
        self._signal_if_low()
        return True

    @event(Received)
    def _received(
        self, store_id: str, sku: str, quantity: int, reference: str, on_hand: int
    ) -> None:
        self.on_hand = on_hand
        self.received += quantity
        self.receipts[reference] = self.receipts.get(reference, 0) + quantity
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

    def return_stock(self, quantity: int, to: str, reference: str) -> bool:
        """Goods brought back: to sellable stock (on hand rises) or to the damaged pile.

        The reference (e.g. "<return id>:<line>") deduplicates: a return seen already
        records nothing and returns False."""
        _validate_quantity(quantity)
        if to not in RETURN_DISPOSITIONS:
            raise InvalidStockMovementError(
                f"returned goods go to one of {sorted(RETURN_DISPOSITIONS)}, not {to!r}"
            )
        if not isinstance(reference, str) or not reference.strip():
            raise InvalidStockMovementError("a return needs a reference")
        if reference in self.returns:
            return False
        to_stock = to == "stock"
        self._returned(
            store_id=self.store_id,
            sku=self.sku,
            quantity=quantity,
            to=to,
            reference=reference,
            on_hand=self.on_hand + (quantity if to_stock else 0),
            damaged=self.damaged + (0 if to_stock else quantity),
        )
        return True

    @event(Returned)
    def _returned(
        self,
        store_id: str,
        sku: str,
        quantity: int,
        to: str,
        reference: str,
        on_hand: int,
        damaged: int,
    ) -> None:
        self.on_hand = on_hand
        self.damaged = damaged
        self.returns.add(reference)
        self._rearm_if_not_low()

    def adjust(self, delta: int, reason: str, note: str = "") -> None:
        """A manual correction of on-hand stock by `delta` (non-zero), for a stated reason."""
        if not isinstance(delta, int) or isinstance(delta, bool) or delta == 0:
            raise InvalidStockMovementError(f"delta must be a non-zero integer: {delta!r}")
        if reason not in ADJUSTMENT_REASONS:
            raise InvalidStockMovementError(
                f"reason must be one of {sorted(ADJUSTMENT_REASONS)}, not {reason!r}"
            )
        if not isinstance(note, str):
            raise InvalidStockMovementError("note must be a string")
        self._adjusted(
            store_id=self.store_id,
            sku=self.sku,
            delta=delta,
            reason=reason,
            note=note,
            on_hand=self.on_hand + delta,
        )
        self._signal_if_low()

    @event(Adjusted)
    def _adjusted(
        self, store_id: str, sku: str, delta: int, reason: str, note: str, on_hand: int
    ) -> None:
        self.on_hand = on_hand
        self._rearm_if_not_low()

    def count(self, counted_quantity: int) -> int:
        """A physical count: on hand becomes `counted_quantity`; returns the adjustment.

        The count is recorded even when it matches (delta 0): a confirmed count is a fact.
        """
        if (
            not isinstance(counted_quantity, int)
            or isinstance(counted_quantity, bool)
            or counted_quantity < 0
        ):
            raise InvalidStockMovementError(
                f"counted_quantity must be a non-negative integer: {counted_quantity!r}"
            )
        delta = counted_quantity - self.on_hand
        self._counted(
            store_id=self.store_id,
            sku=self.sku,
            counted_quantity=counted_quantity,
            previous_on_hand=self.on_hand,
            delta=delta,
        )
        self._signal_if_low()
        return delta

    @event(Counted)
    def _counted(
        self, store_id: str, sku: str, counted_quantity: int, previous_on_hand: int, delta: int
    ) -> None:
        self.on_hand = counted_quantity
        self._rearm_if_not_low()

    def transfer_out(self, quantity: int, transfer_id: str) -> None:
        """Stock leaves for another store (a shipped transfer); like a sale, never refused."""
        _validate_quantity(quantity)
        self._transferred_out(
            store_id=self.store_id,
            sku=self.sku,
            quantity=quantity,
            transfer_id=transfer_id,
            on_hand=self.on_hand - quantity,
        )
        self._signal_if_low()

    @event(TransferredOut)
    def _transferred_out(
        self, store_id: str, sku: str, quantity: int, transfer_id: str, on_hand: int
    ) -> None:
        self.on_hand = on_hand

    def transfer_in(self, quantity: int, transfer_id: str) -> None:
        """Stock arrives from another store (a received transfer)."""
        _validate_quantity(quantity)
        self._transferred_in(
            store_id=self.store_id,
            sku=self.sku,
            quantity=quantity,
            transfer_id=transfer_id,
            on_hand=self.on_hand + quantity,
        )

    @event(TransferredIn)
    def _transferred_in(
        self, store_id: str, sku: str, quantity: int, transfer_id: str, on_hand: int
    ) -> None:
        self.on_hand = on_hand
        self._rearm_if_not_low()

    def _rearm_if_not_low(self) -> None:
        if not self.is_low:
            self.low_signalled = False

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
        return _name_id(f"store-stock:{store_id}")

    @classmethod
    def create(cls, store_id: str) -> StoreStock:
        validate_token(store_id, "store_id")
        return cls._create(cls.Created, id=cls.create_id(store_id), store_id=store_id)

    def __init__(self, store_id: str) -> None:
        self.store_id = store_id
        self.skus: list[str] = []
        # The same SKUs as a set: every sale line asks "known already?", and a scan of the
        # list cost about 57 us a line in a store of 10,000 SKUs.
        self.known: set[str] = set()

    def add(self, sku: str) -> None:
        """Record that the store now stocks `sku`; adding it again records nothing."""
        if sku not in self.known:
            self._added(sku=sku)

    @event("SkuAdded")
    def _added(self, sku: str) -> None:
        self.skus.append(sku)
        self.known.add(sku)


TransferLines = list[tuple[str, int]]


def _transfer_lines(lines: Iterable[tuple[str, int]], what: str) -> TransferLines:
    if isinstance(lines, (str, bytes)):
        raise InvalidTransferError(f"{what} is a list of (sku, quantity)")
    result: dict[str, int] = {}
    for line in lines:
        try:
            sku, quantity = line
        except (TypeError, ValueError) as exc:
            raise InvalidTransferError(f"{what}: {line!r} is not (sku, quantity)") from exc
        try:
            validate_token(sku, "sku")
        except InvalidStockMovementError as exc:
            raise InvalidTransferError(str(exc)) from exc
        if sku in result:
            raise InvalidTransferError(f"{what}: SKU {sku!r} appears twice")
        result[sku] = quantity
    return list(result.items())


class Transfer(Aggregate):
    """Goods moving between two stores: requested, shipped (in transit), received.

    Shipping takes the stock out of the source store and receiving puts what arrived into
    the destination; the application saves the transfer and those stock items together.
    A receipt may be short: the shortfall per line is recorded, never silently lost.
    """

    REQUESTED = "requested"
    SHIPPED = "shipped"
    RECEIVED = "received"

    class Requested(Aggregate.Created):
        transfer_id: str
        from_store: str
        to_store: str
        lines: list[list[Any]]

    class Shipped(Aggregate.Event):
        transfer_id: str
        from_store: str
        to_store: str
        lines: list[list[Any]]

    class Received(Aggregate.Event):
        """`lines` are [sku, shipped, received, shortfall]."""

        transfer_id: str
        from_store: str
        to_store: str
        lines: list[list[Any]]
        shortfall_total: int

    @staticmethod
    def create_id(transfer_id: str) -> UUID:
        return uuid5(INVENTORY_NAMESPACE, f"transfer:{transfer_id}")

    @classmethod
    def request(
        cls,
        transfer_id: str,
        from_store: str,
        to_store: str,
        lines: Iterable[tuple[str, int]],
    ) -> Transfer:
        try:
            validate_token(transfer_id, "transfer_id")
            validate_token(from_store, "from_store")
            validate_token(to_store, "to_store")
        except InvalidStockMovementError as exc:
            raise InvalidTransferError(str(exc)) from exc
        if from_store == to_store:
            raise InvalidTransferError("a transfer goes between two different stores")
        checked = _transfer_lines(lines, "lines")
        if not checked:
            raise InvalidTransferError("a transfer needs at least one line")
        for sku, quantity in checked:
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
                raise InvalidTransferError(
                    f"quantity of {sku} must be a positive integer: {quantity!r}"
                )
        return cls._create(
            cls.Requested,
            id=cls.create_id(transfer_id),
            transfer_id=transfer_id,
            from_store=from_store,
            to_store=to_store,
            lines=[[sku, quantity] for sku, quantity in checked],
        )

    def __init__(
        self, transfer_id: str, from_store: str, to_store: str, lines: list[list[Any]]
    ) -> None:
        self.transfer_id = transfer_id
        self.from_store = from_store
        self.to_store = to_store
        self.lines: dict[str, int] = {str(sku): int(qty) for sku, qty in lines}
        self.status = self.REQUESTED
        self.received: dict[str, int] = {}
        self.shortfall: dict[str, int] = {}

    def ship(self) -> None:
        """The goods leave the source store; only a requested transfer can ship."""
        if self.status != self.REQUESTED:
            raise TransferStateError(
                f"transfer {self.transfer_id} is {self.status}; only a requested one ships"
            )
        self._shipped(
            transfer_id=self.transfer_id,
            from_store=self.from_store,
            to_store=self.to_store,
            lines=[[sku, quantity] for sku, quantity in self.lines.items()],
        )

    @event(Shipped)
    def _shipped(
        self, transfer_id: str, from_store: str, to_store: str, lines: list[list[Any]]
    ) -> None:
        self.status = self.SHIPPED

    def receive(self, received_lines: Iterable[tuple[str, int]]) -> dict[str, int]:
        """What arrived at the destination; a shipped line left out arrived as zero.

        Returns the shortfall per SKU (only SKUs that came short). Receiving more than was
        shipped, or a SKU the transfer does not carry, is refused.
        """
        if self.status != self.SHIPPED:
            raise TransferStateError(
                f"transfer {self.transfer_id} is {self.status}; only a shipped one is received"
            )
        arrived = dict(_transfer_lines(received_lines, "received lines"))
        for sku, quantity in arrived.items():
            if sku not in self.lines:
                raise InvalidTransferError(f"transfer {self.transfer_id} carries no {sku!r}")
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
                raise InvalidTransferError(
                    f"received quantity of {sku} must be a non-negative integer: {quantity!r}"
                )
            if quantity > self.lines[sku]:
                raise InvalidTransferError(
                    f"received {quantity} of {sku} but only {self.lines[sku]} were shipped"
                )
        lines: list[list[Any]] = []
        for sku, shipped in self.lines.items():
            got = arrived.get(sku, 0)
            lines.append([sku, shipped, got, shipped - got])
        self._received(
            transfer_id=self.transfer_id,
            from_store=self.from_store,
            to_store=self.to_store,
            lines=lines,
            shortfall_total=sum(int(line[3]) for line in lines),
        )
        return dict(self.shortfall)

    @event(Received)
    def _received(
        self,
        transfer_id: str,
        from_store: str,
        to_store: str,
        lines: list[list[Any]],
        shortfall_total: int,
    ) -> None:
        self.status = self.RECEIVED
        for sku, _shipped, got, short in lines:
            self.received[str(sku)] = int(got)
            if int(short):
                self.shortfall[str(sku)] = int(short)


class InvalidPromotionError(ValueError):
    """A promotion's kind, amounts, SKUs or window are not acceptable."""


class InvalidTaxRateError(ValueError):
    """A tax rate's store, class, rate or mode is not acceptable."""


#: Promotion kinds checkout prices (see checkout.pricing and inventory.proto).
PROMOTION_KINDS = ("percentage", "fixed", "buy_x_get_y", "basket_threshold")
#: Tax modes: in the shelf price (VAT) or added at the till (sales tax).
TAX_MODES = ("inclusive", "exclusive")
#: Basis points in 100 %.
BP = 10_000
#: The store token of chain-wide catalog records (a store's own tax rate overrides it).
CHAIN_STORE = "chain"


def _non_negative(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidPromotionError(f"{what} must be a non-negative integer: {value!r}")
    return value


def validate_promotion(record: dict[str, Any]) -> dict[str, Any]:
    """The promotion record checked and normalized (as PromotionUpserted carries it)."""
    promotion_id = record.get("promotion_id")
    if not isinstance(promotion_id, str) or not _TOKEN.match(promotion_id):
        raise InvalidPromotionError(f"promotion_id {promotion_id!r} must be 1-64 of "
                                    "[A-Za-z0-9_-]")
    kind = record.get("kind")
    if kind not in PROMOTION_KINDS:
        raise InvalidPromotionError(f"a promotion kind is one of {PROMOTION_KINDS}")
    name = record.get("name", "")
    if not isinstance(name, str):
        raise InvalidPromotionError("name must be text")
    skus = record.get("skus", [])
    if isinstance(skus, str) or not all(isinstance(s, str) and _TOKEN.match(s) for s in skus):
        raise InvalidPromotionError("skus is a list of SKUs")
    fields = {f: _non_negative(record.get(f, 0), f) for f in (
        "percent_bp", "amount_minor", "buy_quantity", "get_quantity", "threshold_minor",
        "starts_at_ms", "ends_at_ms")}
    if fields["percent_bp"] > BP:
        raise InvalidPromotionError("percent_bp is at most 10000 (100 %)")
    currency = record.get("currency", "")
    if (fields["amount_minor"] or fields["threshold_minor"]) and not (
            isinstance(currency, str) and _CURRENCY.match(currency)):
        raise InvalidPromotionError(f"currency must be an ISO 4217 code: {currency!r}")
    if kind == "percentage" and not fields["percent_bp"]:
        raise InvalidPromotionError("a percentage promotion needs percent_bp")
    if kind == "fixed" and not fields["amount_minor"]:
        raise InvalidPromotionError("a fixed promotion needs amount_minor")
    if kind == "buy_x_get_y" and (fields["buy_quantity"] < 1 or fields["get_quantity"] < 1):
        raise InvalidPromotionError("buy_x_get_y needs buy_quantity and get_quantity >= 1")
    if kind == "basket_threshold" and not (fields["percent_bp"] or fields["amount_minor"]):
        raise InvalidPromotionError("a basket_threshold promotion needs percent_bp or amount")
    if fields["ends_at_ms"] and fields["ends_at_ms"] <= fields["starts_at_ms"]:
        raise InvalidPromotionError("ends_at_ms must be after starts_at_ms")
    active = record.get("active", True)
    if not isinstance(active, bool):
        raise InvalidPromotionError("active must be true or false")
    return {"promotion_id": promotion_id, "kind": kind, "name": name.strip(),
            "skus": list(dict.fromkeys(skus)), "currency": currency or "", "active": active,
            **fields}


class Promotion(Aggregate):
    """A catalog promotion (checkout applies those in effect). Each event carries the whole
    record, so the relay maps it to PromotionUpserted without loading the aggregate."""

    class Created(Aggregate.Created):
        record: dict[str, Any]

    class Changed(Aggregate.Event):
        record: dict[str, Any]

    @staticmethod
    def create_id(promotion_id: str) -> UUID:
        return uuid5(INVENTORY_NAMESPACE, f"promotion:{promotion_id}")

    @classmethod
    def create(cls, record: dict[str, Any]) -> Promotion:
        checked = validate_promotion(record)
        return cls._create(cls.Created, id=cls.create_id(checked["promotion_id"]),
                           record=checked)

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = dict(record)

    def change(self, record: dict[str, Any]) -> bool:
        """Bring the promotion to `record` (the same id); False when nothing changed."""
        checked = validate_promotion(record)
        if checked["promotion_id"] != self.record["promotion_id"]:
            raise InvalidPromotionError("a promotion's id cannot change")
        if checked == self.record:
            return False
        self._changed(record=checked)
        return True

    @event(Changed)
    def _changed(self, record: dict[str, Any]) -> None:
        self.record = dict(record)


class TaxRate(Aggregate):
    """The tax rate of a tax class in a store, or chain-wide (store "chain")."""

    class Created(Aggregate.Created):
        store_id: str
        tax_class: str
        rate_bp: int
        mode: str
        name: str

    class Changed(Aggregate.Event):
        store_id: str
        tax_class: str
        rate_bp: int
        mode: str
        name: str

    @staticmethod
    def create_id(store_id: str, tax_class: str) -> UUID:
        return uuid5(INVENTORY_NAMESPACE, f"tax_rate:{store_id}:{tax_class}")

    @staticmethod
    def validate(store_id: str, tax_class: str, rate_bp: int, mode: str, name: str) -> None:
        if not isinstance(store_id, str) or not _TOKEN.match(store_id):
            raise InvalidTaxRateError(f"store_id {store_id!r} must be 1-64 of [A-Za-z0-9_-]")
        if not isinstance(tax_class, str) or not _TOKEN.match(tax_class):
            raise InvalidTaxRateError(f"tax_class {tax_class!r} must be 1-64 of [A-Za-z0-9_-]")
        if not isinstance(rate_bp, int) or isinstance(rate_bp, bool) or not 0 <= rate_bp <= BP:
            raise InvalidTaxRateError("rate_bp is 0..10000 basis points")
        if mode not in TAX_MODES:
            raise InvalidTaxRateError(f"a tax mode is one of {TAX_MODES}")
        if not isinstance(name, str):
            raise InvalidTaxRateError("name must be text")

    @classmethod
    def create(
        cls, store_id: str, tax_class: str, rate_bp: int, mode: str, name: str = ""
    ) -> TaxRate:
        cls.validate(store_id, tax_class, rate_bp, mode, name)
        return cls._create(cls.Created, id=cls.create_id(store_id, tax_class),
                           store_id=store_id, tax_class=tax_class, rate_bp=rate_bp, mode=mode,
                           name=name)

    def __init__(self, store_id: str, tax_class: str, rate_bp: int, mode: str, name: str):
        self.store_id = store_id
        self.tax_class = tax_class
        self.rate_bp = rate_bp
        self.mode = mode
        self.name = name

    def change(self, rate_bp: int, mode: str, name: str = "") -> bool:
        """Set rate, mode and name; False when nothing changed."""
        self.validate(self.store_id, self.tax_class, rate_bp, mode, name)
        if (rate_bp, mode, name) == (self.rate_bp, self.mode, self.name):
            return False
        self._changed(store_id=self.store_id, tax_class=self.tax_class, rate_bp=rate_bp,
                      mode=mode, name=name)
        return True

    @event(Changed)
    def _changed(self, store_id: str, tax_class: str, rate_bp: int, mode: str, name: str
                 ) -> None:
        self.rate_bp = rate_bp
        self.mode = mode
        self.name = name
