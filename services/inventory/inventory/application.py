"""The inventory application: catalog and stock commands and queries."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, Snapshot
from eventsourcing.persistence import JSONTranscoder, Recording, Tracking, Transcoding
from eventsourcing.utils import get_topic

from inventory.domainmodel import (
    DEFAULT_TAX_CLASS,
    InvalidProductError,
    InvalidStockMovementError,
    Product,
    Promotion,
    StockItem,
    StoreStock,
    TaxRate,
    Transfer,
    validate_token,
)
from tillstream.consumer import UnitOfWork
from tillstream.eventstore import ServiceApplication

log = logging.getLogger(__name__)

#: The largest page a list query returns.
MAX_PAGE_SIZE = 200

#: Events between snapshots of a stock item (and a store's index). Every sale line is an event
#: on its item: without snapshots a popular item loads by replaying its whole history
#: (about 40 us an event: 4 s for a year of 100,000 sales) whenever the cache misses it, as
#: after every restart or when a chain's items outnumber the cache.
SNAPSHOT_INTERVAL = 500


class ProductNotFoundError(LookupError):
    """No product has this SKU."""


class StockItemNotFoundError(LookupError):
    """The store holds no stock record for this SKU."""


class TransferNotFoundError(LookupError):
    """No transfer has this id."""


class TransferConflictError(Exception):
    """A transfer id already names a different transfer."""


@dataclass(frozen=True)
class ProductView:
    """A product's catalog record, as plain values."""

    product_id: UUID
    sku: str
    name: str
    price_minor: int
    currency: str
    tax_class: str
    barcodes: tuple[str, ...]
    active: bool


@dataclass(frozen=True)
class StockLevel:
    """One stock item's numbers."""

    store_id: str
    sku: str
    on_hand: int
    sold: int
    received: int
    reorder_point: int
    low: bool
    damaged: int = 0


@dataclass(frozen=True)
class TransferView:
    """A transfer as plain values; `received` and `shortfall` are filled once received."""

    transfer_id: str
    from_store: str
    to_store: str
    status: str
    lines: tuple[tuple[str, int], ...]
    received: tuple[tuple[str, int], ...]
    shortfall: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class StockSummary:
    """A store's stock in three numbers."""

    store_id: str
    items: int
    sold_total: int
    on_hand_total: int


class SetAsList(Transcoding):
    """A set of strings as a sorted list: a stock item's snapshot holds the references of
    the returns it took back, a set, which JSON has no type for."""

    type = set
    name = "set"

    def encode(self, obj: set[str]) -> list[str]:
        return sorted(obj)

    def decode(self, data: list[str]) -> set[str]:
        return set(data)


class Inventory(ServiceApplication):
    """The catalog (one Product per SKU) and stock (one StockItem per store and SKU)."""

    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        StockItem: SNAPSHOT_INTERVAL,
        StoreStock: SNAPSHOT_INTERVAL,
    }

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(SetAsList())

    def record_processed(
        self, aggregates: Iterable[Aggregate], tracking: Tracking
    ) -> list[Recording[UUID]]:
        """A consumer batch, then a snapshot of each aggregate it carried past a multiple
        of its snapshot interval.

        The snapshot is taken from the aggregate in memory, which is the recorded state once
        the batch has committed: eventsourcing's own `save` path would read the aggregate
        back from the store for it (up to an interval of events each time). A snapshot is
        only a shortcut for loading, so one that fails is logged, never raised: the batch is
        committed by then.
        """
        aggregates = list(aggregates)
        due = [a for a in aggregates if self._crosses_snapshot(a)]
        recordings = super().record_processed(aggregates, tracking)
        for aggregate in due:
            try:
                assert self.snapshots is not None
                self.snapshots.put([Snapshot.take(aggregate)])
            except Exception as exc:
                log.warning(
                    "snapshot of %s v%d not taken: %r", aggregate.id, aggregate.version, exc
                )
        return recordings

    def _crosses_snapshot(self, aggregate: Aggregate) -> bool:
        interval = self.snapshotting_intervals.get(type(aggregate))
        pending = aggregate.pending_events
        if not interval or not pending or self.snapshots is None:
            return False
        first, last = pending[0].originator_version, pending[-1].originator_version
        return bool(last // interval > (first - 1) // interval)

    # Catalog ---------------------------------------------------------------------------

    def upsert_product(
        self,
        sku: str,
        name: str,
        price_minor: int,
        currency: str,
        tax_class: str | None = None,
        barcodes: Iterable[str] | None = None,
    ) -> UUID:
        """Create the product, or bring it to these values; unchanged values record nothing.

        A tax class or barcodes left out (None) keep what the product has.
        """
        product = self.upsert_product_aggregate(
            sku, name, price_minor, currency, tax_class, barcodes
        )
        self.save(product)
        return product.id

    def upsert_product_aggregate(
        self,
        sku: str,
        name: str,
        price_minor: int,
        currency: str,
        tax_class: str | None = None,
        barcodes: Iterable[str] | None = None,
    ) -> Product:
        """The changed (not yet saved) product; lets a caller save many in one transaction."""
        product: Product | None = self.get_or_none(Product.create_id(sku))
        if product is None:
            return Product.create(
                sku,
                name,
                price_minor,
                currency,
                tax_class if tax_class is not None else DEFAULT_TAX_CLASS,
                barcodes if barcodes is not None else (),
            )
        product.change_price(price_minor, currency)
        product.rename(name)
        if tax_class is not None:
            product.change_tax_class(tax_class)
        if barcodes is not None:
            product.change_barcodes(barcodes)
        return product

    def discontinue_product(self, sku: str) -> None:
        product = self._product(sku)
        product.discontinue()
        self.save(product)

    def get_product(self, sku: str) -> ProductView:
        return self._view(self._product(sku))

    def list_products(
        self, query: str = "", offset: int = 0, limit: int = 50
    ) -> tuple[list[ProductView], int | None]:
        """Products by SKU whose name (case-insensitive substring), SKU or barcode matches
        `query` (empty: all); a page from `offset` and the next page's offset (None: last).

        The SKUs come from the products' Created events in the notification log (a scan
        by topic); each match is read from its own aggregate.
        """
        if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidProductError(f"page size must be 1-{MAX_PAGE_SIZE}")
        if not isinstance(offset, int) or offset < 0:
            raise InvalidProductError("bad page position")
        wanted = query.strip().casefold()
        views = [self._view(p) for p in self._all_products()]
        matches = sorted(
            (v for v in views if not wanted or wanted in v.name.casefold()
             or wanted == v.sku.casefold() or wanted in v.barcodes),
            key=lambda v: v.sku,
        )
        page = matches[offset:offset + limit]
        following = offset + limit
        return page, following if following < len(matches) else None

    def _all_products(self, batch: int = 1000) -> list[Product]:
        topic = get_topic(Product.Created)
        products: list[Product] = []
        start = 1
        while True:
            notifications = self.recorder.select_notifications(
                start, batch, topics=[topic], inclusive_of_start=True
            )
            for notification in notifications:
                product: Product | None = self.get_or_none(UUID(str(notification.originator_id)))
                if product is not None:
                    products.append(product)
            if len(notifications) < batch:
                return products
            start = notifications[-1].id + 1

    @staticmethod
    def _view(product: Product) -> ProductView:
        return ProductView(
            product_id=product.id, sku=product.sku, name=product.name,
            price_minor=product.price_minor, currency=product.currency,
            tax_class=product.tax_class, barcodes=tuple(product.barcodes),
            active=product.active,
        )

    def _product(self, sku: str) -> Product:
        product: Product | None = self.get_or_none(Product.create_id(sku))
        if product is None:
            raise ProductNotFoundError(f"no product with SKU {sku!r}")
        return product

    def upsert_promotion(self, record: dict[str, Any]) -> dict[str, Any]:
        """Create or change a promotion (published as PromotionUpserted); the record as
        stored. The same record again records nothing."""
        wanted = Promotion.create(record)  # validates; saved only when new
        promotion: Promotion | None = self.get_or_none(wanted.id)
        if promotion is None:
            self.save(wanted)
            return dict(wanted.record)
        if promotion.change(record):
            self.save(promotion)
        return dict(promotion.record)

    def upsert_tax_rate(
        self, store_id: str, tax_class: str, rate_bp: int, mode: str, name: str = ""
    ) -> bool:
        """Set a tax rate (store "chain": chain-wide), published as TaxRateUpserted; True
        when something was recorded."""
        TaxRate.validate(store_id, tax_class, rate_bp, mode, name)
        rate: TaxRate | None = self.get_or_none(TaxRate.create_id(store_id, tax_class))
        if rate is None:
            self.save(TaxRate.create(store_id, tax_class, rate_bp, mode, name))
            return True
        if rate.change(rate_bp, mode, name):
            self.save(rate)
            return True
        return False

    # Stock -----------------------------------------------------------------------------

    def receive_stock(self, store_id: str, sku: str, quantity: int, reference: str) -> int:
        """Goods in for a known product; returns the new quantity on hand."""
        self._product(sku)  # only catalogued goods are received; sales never block, though
        item, index = self.stock_item_for(store_id, sku)
        # A retried receipt (same supplier reference) records nothing: stock is not doubled.
        item.receive(quantity, reference)
        self._save_changed(item, index)
        return int(item.on_hand)

    def return_stock(
        self, store_id: str, sku: str, quantity: int, to: str, reference: str
    ) -> StockLevel:
        """Goods brought back, to sellable stock (`to="stock"`) or damaged (`"damaged"`)."""
        self._product(sku)
        item, index = self.stock_item_for(store_id, sku)
        item.return_stock(quantity, to, reference)
        self._save_changed(item, index)
        return self._level(item)

    def adjust_stock(
        self, store_id: str, sku: str, delta: int, reason: str, note: str = ""
    ) -> StockLevel:
        """A manual correction (waste, theft, damage, correction) of on-hand stock."""
        self._product(sku)
        item, index = self.stock_item_for(store_id, sku)
        item.adjust(delta, reason, note)
        self.save(item, index)
        return self._level(item)

    def count_stock(self, store_id: str, sku: str, counted_quantity: int) -> int:
        """Record a physical count; returns the adjustment it made (counted - on hand)."""
        self._product(sku)
        item, index = self.stock_item_for(store_id, sku)
        delta = item.count(counted_quantity)
        self.save(item, index)
        return delta

    def _save_changed(self, *aggregates: Aggregate) -> None:
        changed = [a for a in aggregates if a.pending_events]
        if changed:
            self.save(*changed)

    def set_reorder_point(self, store_id: str, sku: str, reorder_point: int) -> int:
        self._product(sku)
        item, index = self.stock_item_for(store_id, sku)
        item.set_reorder_point(reorder_point)
        self.save(item, index)
        return int(item.reorder_point)

    def stock_item_for(
        self, store_id: str, sku: str, get: Callable[[UUID], Any] | None = None
    ) -> tuple[StockItem, StoreStock]:
        """The store's stock item for `sku` and the store's index, created when missing.

        `get` (an id -> aggregate-or-None lookup, such as a UnitOfWork's) defaults to this
        application's repository. Both are returned so the caller saves them together.
        """
        lookup = get or self.get_or_none
        validate_token(store_id, "store_id")
        item: StockItem | None = lookup(StockItem.create_id(store_id, sku))
        index: StoreStock | None = lookup(StoreStock.create_id(store_id))
        if index is None:
            index = StoreStock.create(store_id)
        if item is None:
            item = StockItem.create(store_id, sku)
        index.add(sku)
        return item, index

    def stock_level(self, store_id: str, sku: str) -> StockLevel:
        item: StockItem | None = self.get_or_none(StockItem.create_id(store_id, sku))
        if item is None:
            raise StockItemNotFoundError(f"store {store_id!r} holds no stock of {sku!r}")
        return self._level(item)

    @staticmethod
    def _level(item: StockItem) -> StockLevel:
        return StockLevel(
            store_id=item.store_id,
            sku=item.sku,
            on_hand=item.on_hand,
            sold=item.sold,
            received=item.received,
            reorder_point=item.reorder_point,
            low=item.is_low,
            damaged=item.damaged,
        )

    def list_stock(
        self, store_id: str, offset: int = 0, limit: int = 50, low_only: bool = False
    ) -> tuple[list[StockLevel], int | None]:
        """A store's stock items by SKU (only the low ones with `low_only`): a page from
        `offset` and the next page's offset (None: the last page)."""
        validate_token(store_id, "store_id")
        if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidStockMovementError(f"page size must be 1-{MAX_PAGE_SIZE}")
        if not isinstance(offset, int) or offset < 0:
            raise InvalidStockMovementError("bad page position")
        index: StoreStock | None = self.get_or_none(StoreStock.create_id(store_id))
        levels = [
            self._level(self.repository.get(StockItem.create_id(store_id, sku)))
            for sku in sorted(index.skus if index is not None else [])
        ]
        if low_only:
            levels = [level for level in levels if level.low]
        following = offset + limit
        return levels[offset:following], following if following < len(levels) else None

    def stock_summary(self, store_id: str) -> StockSummary:
        """Items, units sold and units on hand over the store's stock (zero for no stock)."""
        index: StoreStock | None = self.get_or_none(StoreStock.create_id(store_id))
        skus = index.skus if index is not None else []
        sold_total = on_hand_total = 0
        for sku in skus:
            item: StockItem = self.repository.get(StockItem.create_id(store_id, sku))
            sold_total += item.sold
            on_hand_total += item.on_hand
        return StockSummary(
            store_id=store_id, items=len(skus), sold_total=sold_total, on_hand_total=on_hand_total
        )

    # Transfers -------------------------------------------------------------------------

    def request_transfer(
        self,
        transfer_id: str,
        from_store: str,
        to_store: str,
        lines: Iterable[tuple[str, int]],
    ) -> TransferView:
        """Ask for goods to move between stores; the same request again is a no-op.

        The id is the client's: a retried request finds its transfer, while a different
        transfer under a used id raises TransferConflictError.
        """
        new = Transfer.request(transfer_id, from_store, to_store, lines)
        for sku in new.lines:
            self._product(sku)
        existing: Transfer | None = self.get_or_none(new.id)
        if existing is not None:
            if (existing.from_store, existing.to_store, existing.lines) != (
                new.from_store, new.to_store, new.lines
            ):
                raise TransferConflictError(
                    f"transfer {transfer_id!r} already exists with other stores or lines"
                )
            return self._transfer_view(existing)
        self.save(new)
        return self._transfer_view(new)

    def ship_transfer(self, transfer_id: str) -> TransferView:
        """The goods leave: the source store's stock falls, in the same transaction."""
        uow = UnitOfWork(self)
        transfer = self._transfer(transfer_id, uow.get)
        transfer.ship()
        for sku, quantity in transfer.lines.items():
            item, index = self.stock_item_for(transfer.from_store, sku, get=uow.get)
            item.transfer_out(quantity, transfer.transfer_id)
            uow.add(item)
            uow.add(index)
        uow.add(transfer)
        self._save_changed(*uow.aggregates.values())
        return self._transfer_view(transfer)

    def receive_transfer(
        self, transfer_id: str, received_lines: Iterable[tuple[str, int]]
    ) -> TransferView:
        """What arrived at the destination goes into its stock; any shortfall is recorded."""
        uow = UnitOfWork(self)
        transfer = self._transfer(transfer_id, uow.get)
        transfer.receive(received_lines)
        for sku, quantity in transfer.received.items():
            if quantity > 0:
                item, index = self.stock_item_for(transfer.to_store, sku, get=uow.get)
                item.transfer_in(quantity, transfer.transfer_id)
                uow.add(item)
                uow.add(index)
        uow.add(transfer)
        self._save_changed(*uow.aggregates.values())
        return self._transfer_view(transfer)

    def get_transfer(self, transfer_id: str) -> TransferView:
        return self._transfer_view(self._transfer(transfer_id, self.get_or_none))

    @staticmethod
    def _transfer(transfer_id: str, get: Callable[[UUID], Any]) -> Transfer:
        transfer: Transfer | None = (
            get(Transfer.create_id(transfer_id)) if isinstance(transfer_id, str) else None
        )
        if transfer is None:
            raise TransferNotFoundError(f"no transfer {transfer_id!r}")
        return transfer

    @staticmethod
    def _transfer_view(transfer: Transfer) -> TransferView:
        return TransferView(
            transfer_id=transfer.transfer_id,
            from_store=transfer.from_store,
            to_store=transfer.to_store,
            status=transfer.status,
            lines=tuple(transfer.lines.items()),
            received=tuple(transfer.received.items()),
            shortfall=tuple(transfer.shortfall.items()),
        )
