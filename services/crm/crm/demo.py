"""Deterministic demo customers, for `tillstream up --demo` and tests."""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from crm.application import Customers

_FIRST = ("Ana", "Ben", "Chloe", "David", "Emma", "Felix", "Greta", "Hugo", "Ines", "Jonas",
          "Katja", "Luca", "Mia", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara")
_LAST = ("Almeida", "Berger", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hansen",
         "Ivanova", "Jansen", "Kowalski", "Lambert", "Moreau", "Novak", "Olsen")


def demo_loyalty_card(store_id: str, i: int) -> str:
    # Cards are per store, so seeding two stores gives two sets of customers.
    digits = "".join(c for c in store_id if c.isalnum())
    return f"LC{digits}{i:06d}"


def seed_demo_customers(app: Customers, store_id: str, n: int = 50) -> int:
    """Register `n` demo customers in `store_id`; idempotent. Returns how many were new."""
    new: list[Aggregate] = []
    for i in range(n):
        first = _FIRST[i % len(_FIRST)]
        last = _LAST[(i * 7) % len(_LAST)]
        customer = app.register_customer_aggregate(
            loyalty_card=demo_loyalty_card(store_id, i),
            name=f"{first} {last}",
            store_id=store_id,
            # example.com is reserved for examples: no real mailbox gets demo mail.
            email=f"{first.lower()}.{i:03d}@example.com",
            phone=f"+49 30 5550{i:04d}",
        )
        if customer.pending_events:
            new.append(customer)
    if new:
        app.save(*new)  # one transaction: a half-seeded store cannot happen
    return len(new)
