"""The store's catalog replica: prices for offline selling, read from the mirror of the hub's
catalog KV bucket in the store's own JetStream domain (so it answers with the link down)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from edge_agent.storenats import CATALOG_BUCKET, CATALOG_STREAM

KV_OPERATION = "KV-Operation"


class UnknownProductError(LookupError):
    """The SKU is not in the replica, was deleted, or is not for sale."""


@dataclass(frozen=True)
class Product:
    """One catalog entry as inventory publishes it into the bucket."""

    sku: str
    name: str
    price_minor: int
    currency: str
    tax_class: str
    active: bool


def product_from_json(data: bytes) -> Product:
    """Parse a bucket value; money must be integer minor units."""
    raw = json.loads(data)
    price = raw["price_minor"]
    if not isinstance(price, int) or isinstance(price, bool) or price < 0:
        raise ValueError(f"bad price_minor {price!r} for {raw.get('sku')!r}")
    return Product(
        sku=str(raw["sku"]),
        name=str(raw.get("name", "")),
        price_minor=price,
        currency=str(raw["currency"]),
        tax_class=str(raw.get("tax_class", "")),
        active=bool(raw.get("active", True)),
    )


class CatalogReplica:
    """Looks up SKUs in the local KV_catalog mirror (last message per key subject)."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    async def product(self, sku: str) -> Product:
        if not sku or any(c in sku for c in ".*> "):
            raise UnknownProductError(f"invalid sku {sku!r}")
        try:
            msg = await self.js.get_last_msg(CATALOG_STREAM, f"$KV.{CATALOG_BUCKET}.{sku}")
        except NotFoundError as exc:
            raise UnknownProductError(f"sku {sku} not in the store's catalog") from exc
        if msg.headers and msg.headers.get(KV_OPERATION) in {"DEL", "PURGE"}:
            raise UnknownProductError(f"sku {sku} was removed from the catalog")
        product = product_from_json(msg.data or b"")
        if not product.active:
            raise UnknownProductError(f"sku {sku} is not for sale")
        return product

    async def size(self) -> int:
        """How many messages the mirror holds (for status and tests)."""
        try:
            info = await self.js.stream_info(CATALOG_STREAM)
        except NotFoundError:
            return 0
        return int(info.state.messages)
