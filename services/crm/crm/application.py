"""The CRM application: customer registration and loyalty points."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from crm.domainmodel import Customer, LoyaltyAccount
from tillstream.eventstore import ServiceApplication


class CustomerNotFoundError(LookupError):
    """No customer, and no loyalty account, has this id."""


class CustomerConflictError(Exception):
    """A customer with this id is already registered with another loyalty card."""


@dataclass(frozen=True)
class LoyaltyBalance:
    """A customer's points as plain values."""

    customer_id: str
    balance: int
    earned_total: int
    redeemed_total: int


class Customers(ServiceApplication):
    """Customers and their loyalty accounts."""

    def register_customer(
        self,
        loyalty_card: str,
        name: str,
        store_id: str,
        email: str = "",
        phone: str = "",
        customer_id: UUID | None = None,
    ) -> UUID:
        """Register a customer and return their id.

        Registering the same card again (a retried request) returns the existing id without
        recording anything; an id already taken by another card is a conflict.
        """
        customer = self.register_customer_aggregate(
            loyalty_card, name, store_id, email, phone, customer_id
        )
        if customer.pending_events:
            self.save(customer)
        return customer.id

    def register_customer_aggregate(
        self,
        loyalty_card: str,
        name: str,
        store_id: str,
        email: str = "",
        phone: str = "",
        customer_id: UUID | None = None,
    ) -> Customer:
        """The existing or new (unsaved) customer; lets a caller save many together."""
        wanted = customer_id or Customer.create_id(loyalty_card)
        existing: Customer | None = self.get_or_none(wanted)
        if existing is not None:
            if existing.loyalty_card != loyalty_card:
                raise CustomerConflictError(
                    f"customer {wanted} is registered with another loyalty card"
                )
            return existing
        return Customer.register(loyalty_card, name, email, phone, store_id, wanted)

    def loyalty_balance(self, customer_id: str) -> LoyaltyBalance:
        """The customer's points; zeros for a registered customer who has not earned yet."""
        account: LoyaltyAccount | None = self.get_or_none(LoyaltyAccount.create_id(customer_id))
        if account is not None:
            return LoyaltyBalance(
                customer_id, account.balance, account.earned_total, account.redeemed_total
            )
        if self._customer_exists(customer_id):
            return LoyaltyBalance(customer_id, 0, 0, 0)
        raise CustomerNotFoundError(f"no customer {customer_id!r}")

    def redeem_points(self, customer_id: str, points: int, reference: str, store_id: str) -> int:
        """Spend points; returns the new balance."""
        account: LoyaltyAccount | None = self.get_or_none(LoyaltyAccount.create_id(customer_id))
        if account is None:
            raise CustomerNotFoundError(f"customer {customer_id!r} has no loyalty account")
        account.redeem(points, reference, store_id)
        self.save(account)
        return int(account.balance)

    def _customer_exists(self, customer_id: str) -> bool:
        try:
            uuid = UUID(customer_id)
        except ValueError:
            return False
        return self.get_or_none(uuid) is not None
