"""A deterministic demo catalog with opening stock, for `tillstream up --demo` and tests."""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from inventory.application import Inventory
from inventory.domainmodel import gtin_check_digit
from tillstream.consumer import UnitOfWork

DEMO_CURRENCY = "EUR"
DEMO_REFERENCE = "demo-opening-stock"

_BRANDS = (
    "Alpine", "Bio Garden", "Golden Field", "Harbor", "Maple Farm",
    "Nordic", "Riverside", "Sunny Vale", "Village", "Green Hill",
)
_PRODUCTS = (
    ("Whole Milk 1 L", "reduced", 119), ("Butter 250 g", "reduced", 249),
    ("Greek Yogurt 500 g", "reduced", 229), ("Cheddar 200 g", "reduced", 299),
    ("Free-Range Eggs x6", "reduced", 279), ("Sourdough Bread 750 g", "reduced", 349),
    ("Spaghetti 500 g", "reduced", 139), ("Basmati Rice 1 kg", "reduced", 299),
    ("Rolled Oats 500 g", "reduced", 159), ("Tomato Passata 690 g", "reduced", 129),
    ("Olive Oil 500 ml", "reduced", 699), ("Ground Coffee 250 g", "reduced", 449),
    ("Green Tea x20", "reduced", 219), ("Orange Juice 1 L", "reduced", 239),
    ("Sparkling Water 1.5 L", "reduced", 59), ("Dark Chocolate 100 g", "reduced", 189),
    ("Bananas 1 kg", "reduced", 169), ("Apples 1 kg", "reduced", 249),
    ("Carrots 1 kg", "reduced", 119), ("Potatoes 2.5 kg", "reduced", 299),
    ("Chicken Breast 400 g", "reduced", 599), ("Salmon Fillet 250 g", "reduced", 749),
    ("Dish Soap 500 ml", "standard", 189), ("Toilet Paper x8", "standard", 399),
    ("Laundry Liquid 1.5 L", "standard", 899), ("Toothpaste 75 ml", "standard", 219),
    ("Shampoo 250 ml", "standard", 349), ("Paper Towels x2", "standard", 279),
    ("Red Wine 75 cl", "standard", 799), ("Lager Beer 6x33 cl", "standard", 649),
)


def demo_sku(i: int) -> str:
    return f"SKU{i:05d}"


def demo_ean13(i: int) -> str:
    # GS1 prefix 200-299 is for in-store numbering: these codes cannot clash with real goods.
    body = f"2000{i:08d}"
    return body + str(gtin_check_digit(body))


def demo_product(i: int) -> tuple[str, str, int, str, list[str]]:
    """(sku, name, price_minor, tax_class, barcodes) of demo product number `i`."""
    brand = _BRANDS[(i // len(_PRODUCTS)) % len(_BRANDS)]
    item, tax_class, base_price = _PRODUCTS[i % len(_PRODUCTS)]
    # Vary the price a little per brand, in whole cents, so the catalog does not look cloned.
    price_minor = base_price + 10 * ((i // len(_PRODUCTS)) % 5)
    return demo_sku(i), f"{brand} {item}", price_minor, tax_class, [demo_ean13(i)]


def seed_demo_catalog(app: Inventory, store_id: str, n: int = 300) -> int:
    """Create `n` demo products and their opening stock in `store_id`; idempotent.

    Returns how many aggregates changed (0 on a second run). Everything is saved in one
    transaction, so a half-seeded catalog cannot happen.
    """
    # The unit of work loads each aggregate once, so the store's index is shared by all items.
    uow = UnitOfWork(app)
    for i in range(n):
        sku, name, price_minor, tax_class, barcodes = demo_product(i)
        uow.add(
            app.upsert_product_aggregate(sku, name, price_minor, DEMO_CURRENCY, tax_class, barcodes)
        )
        item, index = app.stock_item_for(store_id, sku, get=uow.get)
        if item.received == 0:
            # Opening stock only once: a second run finds it received and leaves it alone.
            # Received before the reorder point is set, so no low-stock signal is raised.
            item.receive(20 + (i * 7) % 60, DEMO_REFERENCE)
            item.set_reorder_point(5 + i % 10)
        uow.add(item)
        uow.add(index)
    changed: list[Aggregate] = [a for a in uow.aggregates.values() if a.pending_events]
    if changed:
        app.save(*changed)
    return len(changed)
