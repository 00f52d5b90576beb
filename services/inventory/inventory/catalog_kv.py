"""The edge agents' catalog: a NATS KV bucket `catalog` kept up to date by inventory.

Inventory consumes its own stream's `product.upserted` events (a consumer like any other,
durable and tracked) and puts each product's latest record into the bucket: key = SKU, value =
JSON {sku, name, barcodes, price_minor, currency, tax_class, active, revision}. Products have
one chain-wide price (no per-store prices yet), so there is no `prices` member. `revision` is
the event's position in inventory's notification log: a put only replaces an older revision
(compare-and-set on the KV entry), so a redelivered or stale event never overwrites a newer
record. The stores mirror the bucket into their own JetStream domain (edge agent).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from eventsourcing.persistence import Tracking
from nats.aio.client import Client
from nats.js.errors import BadRequestError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.errors import NotFoundError as JsNotFoundError
from nats.js.kv import KeyValue

from inventory.application import Inventory
from tillstream.bus import connect
from tillstream.consumer import Delivery
from tillstream.events.v1 import inventory_pb2

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The bucket's name; edge-agent/edge_agent/storenats.py mirrors the same one.
CATALOG_BUCKET = "catalog"
#: The upstream events the catalog is built from.
CATALOG_EVENTS = ("product.upserted",)
#: Attempts of a compare-and-set put that lost a race against another writer.
PUT_ATTEMPTS = 5


def catalog_record(product: inventory_pb2.ProductUpserted, revision: int) -> dict[str, Any]:
    """The bucket value of one product (money as integer minor units)."""
    return {
        "sku": product.sku,
        "name": product.name,
        "barcodes": list(product.barcodes),
        "price_minor": int(product.price.amount_minor),
        "currency": product.price.currency,
        "tax_class": product.tax_class,
        "active": product.active,
        "revision": revision,
    }


class CatalogBucket:
    """The `catalog` bucket, used from synchronous code (a consumer's sink).

    It keeps its own NATS connection on an event loop in a thread of its own, started on
    first use (nothing connects at import or construction); callers block until done.
    """

    def __init__(self, nats_url: str, bucket: str = CATALOG_BUCKET, timeout: float = 10.0):
        self.nats_url = nats_url
        self.bucket = bucket
        self.timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._nc: Client | None = None
        self._kv: KeyValue | None = None
        self._lock = threading.Lock()

    def use_server(self, nats_url: str) -> None:
        """Point the bucket at the server the service host connected to (before first use)."""
        self.nats_url = nats_url

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="catalog-kv", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.timeout)

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            if self._nc is None:
                self._nc = await connect(self.nats_url, "tillstream-inventory-catalog")
            js = self._nc.jetstream()
            try:
                self._kv = await js.key_value(self.bucket)
            except (BadRequestError, JsNotFoundError):
                self._kv = await js.create_key_value(bucket=self.bucket, history=1)
        return self._kv

    def get(self, sku: str) -> dict[str, Any] | None:
        """The record of `sku`, or None."""
        return self._run(self._get(sku))

    async def _get(self, sku: str) -> dict[str, Any] | None:
        kv = await self._bucket()
        try:
            entry = await kv.get(sku)
        except KeyNotFoundError:
            return None
        return dict(json.loads(entry.value or b"{}"))

    def put_latest(self, record: dict[str, Any]) -> bool:
        """Put `record` unless the bucket holds the same or a newer revision; True if put."""
        return self._run(self._put_latest(record))

    async def _put_latest(self, record: dict[str, Any]) -> bool:
        kv = await self._bucket()
        data = json.dumps(record, separators=(",", ":"), sort_keys=True).encode()
        for _ in range(PUT_ATTEMPTS):
            try:
                entry = await kv.get(record["sku"])
            except KeyNotFoundError:
                entry = None
            try:
                if entry is None or entry.value is None:
                    await kv.create(record["sku"], data)
                    return True
                if json.loads(entry.value).get("revision", 0) >= record["revision"]:
                    return False  # stale or redelivered: the newer record stays
                await kv.update(record["sku"], data, last=entry.revision)
                return True
            except (KeyWrongLastSequenceError, BadRequestError):
                continue  # another writer got there first: look again
        raise RuntimeError(f"catalog put of {record['sku']!r} kept losing races")

    def close(self) -> None:
        """Close the connection and stop the thread (idempotent)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._nc is not None:
            try:
                self._run(self._nc.close())
            except Exception as exc:  # the server may already be gone on shutdown
                log.debug("catalog bucket close: %s", exc)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(self.timeout)
        loop.close()
        self._loop = self._thread = None
        self._nc = self._kv = None


class CatalogKvSink:
    """A consumer sink: inventory's own ProductUpserted events -> the `catalog` bucket.

    Its position is a tracking record in inventory's own store (name "catalog:<upstream>"),
    written after the puts: a crash in between replays puts that the revision check skips.
    """

    def __init__(self, app: Inventory, bucket: CatalogBucket) -> None:
        self.app = app
        self.bucket = bucket

    @staticmethod
    def _name(tracking_name: str) -> str:
        return f"catalog:{tracking_name}"

    def position(self, tracking_name: str) -> int:
        return self.app.tracked_position(self._name(tracking_name))

    def apply(self, tracking_name: str, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            product = delivery.event.message
            if isinstance(product, inventory_pb2.ProductUpserted):
                self.bucket.put_latest(catalog_record(product, delivery.position))
        self.app.record_processed([], Tracking(self._name(tracking_name), deliveries[-1].position))
