"""The CRM application: customer registration and loyalty points."""

from __future__ import annotations

import random
import re
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from crm.contact import Contact, email_lookup_key, normalize_contact, normalize_phone
from crm.domainmodel import (
    DEFAULT_POLICY,
    Customer,
    CustomerErasedError,
    InsufficientPointsError,
    InvalidCustomerError,
    InvalidPointsError,
    LoyaltyAccount,
    LoyaltyPolicy,
    PurchaseHistory,
    Redemption,
)
from crm.pii import DataKey, PiiUnavailableError, PiiVault
from tillstream.eventstore import ServiceApplication


class CustomerNotFoundError(LookupError):
    """No customer, and no loyalty account, has this id."""


class CustomerConflictError(Exception):
    """A customer with this id is already registered with another loyalty card."""


class IdempotencyConflictError(Exception):
    """An idempotency key was used before with a different request."""


#: Points a loyalty tender costs per minor unit of its amount: at the base rate 1 point pays
#: 1 minor unit (100 points pay 1.00 EUR; a 100 EUR sale earns 100 points at the base tier,
#: so points give back 1 %). Configurable per application (`points_per_minor_unit`).
POINTS_PER_MINOR_UNIT = 1

#: Attempts of a loyalty write that lost an optimistic-concurrency race before giving up.
WRITE_ATTEMPTS = 20
#: Upper bound of the random pause (seconds, times the attempt number) after a lost race, so
#: two replicas hammering one account stop colliding in lockstep.
RETRY_JITTER = 0.002


@dataclass(frozen=True)
class LoyaltyBalance:
    """A customer's points as plain values."""

    customer_id: str
    balance: int
    earned_total: int
    redeemed_total: int
    tier: str = DEFAULT_POLICY.tiers[0].name
    #: Points that expire within the policy's `expiring_soon_days`.
    expiring_soon: int = 0
    reversed_total: int = 0
    expired_total: int = 0


@dataclass(frozen=True)
class HistoryPage:
    """One page of a customer's purchase history (newest first) and its summary."""

    customer_id: str
    sales: list[dict[str, Any]]
    next_page_token: str
    sale_count: int
    #: Per currency, in minor units.
    totals: dict[str, int]
    favourites: list[dict[str, Any]]
    last_visit: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CustomerView:
    """A customer as plain values; name, email and phone only when asked for and readable."""

    customer_id: str
    loyalty_card: str
    store_id: str
    erased: bool
    erased_at: str | None
    marketing_consent: bool
    consent_channel: str | None
    consent_at: str | None
    #: False once erased (or when the data key is otherwise gone).
    pii_available: bool
    name: str | None = None
    email: str | None = None
    phone: str | None = None

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        if self.name is None:  # not asked for, or unreadable: not even the keys
            for field in ("name", "email", "phone"):
                body.pop(field)
        return body


class Customers(ServiceApplication):
    """Customers and their loyalty accounts.

    Personal data is sealed through `vault` (crm.pii.PiiVault) before it reaches an event;
    `default_country_code` (digits, e.g. "49") lets national phone numbers be given without
    "+<country>"; without it they are refused.
    """

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        vault: PiiVault,
        default_country_code: str | None = None,
        policy: LoyaltyPolicy = DEFAULT_POLICY,
        points_per_minor_unit: int = POINTS_PER_MINOR_UNIT,
    ) -> None:
        super().__init__(env)
        if not isinstance(points_per_minor_unit, int) or points_per_minor_unit <= 0:
            raise ValueError("points_per_minor_unit must be a positive integer")
        self.vault = vault
        self.policy = policy
        self.points_per_minor_unit = points_per_minor_unit
        self.default_country_code = default_country_code

    def close(self) -> None:
        super().close()
        self.vault.close()

    # Registration ----------------------------------------------------------------------------

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
        """The existing or new (unsaved) customer; lets a caller save many together.

        For a new customer the data key is created and the blind-index entries are added
        already (a save that then fails leaves only entries that lookups skip).
        """
        Customer.check_card(loyalty_card)
        contact = normalize_contact(name, email, phone, self.default_country_code)
        wanted = customer_id or Customer.create_id(loyalty_card)
        existing: Customer | None = self.get_or_none(wanted)
        if existing is not None:
            if existing.loyalty_card != loyalty_card:
                raise CustomerConflictError(
                    f"customer {wanted} is registered with another loyalty card"
                )
            if existing.erased:
                raise CustomerErasedError(f"customer {wanted} was erased")
            return existing
        key = self.vault.data_key_for(wanted)
        customer = Customer.register(
            loyalty_card, store_id, key.key_id, *self._seal(key, wanted, contact), wanted
        )
        self.vault.index_customer(wanted, _lookup_entries(contact), replace=False)
        return customer

    # Reading ---------------------------------------------------------------------------------

    def get_customer(self, customer_id: UUID, include_pii: bool = False) -> CustomerView:
        """The customer; personal data only with `include_pii` (and never once erased)."""
        customer = self._customer(customer_id)
        contact: Contact | None = None
        available = not customer.erased and bool(customer.key_id)
        if available:
            try:
                key = self.vault.data_key(customer.id, customer.key_id)
                if include_pii:
                    contact = self._open(key, customer)
            except PiiUnavailableError:
                available = False
        return CustomerView(
            customer_id=str(customer.id),
            loyalty_card=customer.loyalty_card,
            store_id=customer.store_id,
            erased=customer.erased,
            erased_at=customer.erased_at,
            marketing_consent=customer.marketing_consent,
            consent_channel=customer.consent_channel,
            consent_at=customer.consent_at,
            pii_available=available,
            name=contact.name if contact else None,
            email=contact.email if contact else None,
            phone=contact.phone if contact else None,
        )

    def find_customers(self, email: str = "", phone: str = "") -> list[UUID]:
        """Customers with this email or phone, through the blind index (no bulk decryption).

        Each candidate is verified by opening only its own record, so stale index entries
        (a failed save, an erased customer) are never returned.
        """
        if bool(email) == bool(phone):
            raise InvalidCustomerError("find a customer by exactly one of email or phone")
        if email:
            kind, wanted = "email", email_lookup_key(email)
        else:
            kind, wanted = "phone", normalize_phone(phone, self.default_country_code)
        found: list[UUID] = []
        for candidate in self.vault.lookup(kind, wanted):
            customer: Customer | None = self.get_or_none(UUID(candidate))
            if customer is None or customer.erased or not customer.key_id:
                continue
            try:
                contact = self._open(self.vault.data_key(customer.id, customer.key_id), customer)
            except PiiUnavailableError:
                continue
            if _lookup_entries(contact).get(kind) == wanted:
                found.append(customer.id)
        return found

    # Changes ---------------------------------------------------------------------------------

    def update_contact(
        self,
        customer_id: UUID,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> None:
        """Change name, email and/or phone (None: unchanged; "" clears email or phone)."""
        customer = self._customer(customer_id)
        if customer.erased:
            raise CustomerErasedError(f"customer {customer_id} was erased")
        try:
            key = self.vault.data_key(customer.id, customer.key_id)
        except PiiUnavailableError as exc:
            raise CustomerErasedError(f"customer {customer_id} has no readable data") from exc
        current = self._open(key, customer)
        contact = normalize_contact(
            current.name if name is None else name,
            current.email if email is None else email,
            current.phone if phone is None else phone,
            self.default_country_code,
        )
        if contact == current:
            return
        customer.update_contact(*self._seal(key, customer.id, contact))
        entries = _lookup_entries(contact)
        # Add the new entries first, drop the old ones once the change is recorded: a failure
        # in between leaves an extra entry (which lookups verify away), never a missing one.
        self.vault.index_customer(customer.id, entries, replace=False)
        self.save(customer)
        self.vault.index_customer(customer.id, entries)

    def set_consent(
        self, customer_id: UUID, given: bool, channel: str, at: datetime | None = None
    ) -> bool:
        """Marketing consent given or withdrawn through `channel` at `at` (default: now)."""
        customer = self._customer(customer_id)
        changed = customer.set_marketing_consent(given, channel, at or datetime.now(UTC))
        if changed:
            self.save(customer)
        return changed

    def erase(self, customer_id: UUID) -> bool:
        """Erase the customer's personal data for good (crypto-shredding).

        The data key and the blind-index entries are destroyed first: from then on no event
        (stored, cached or replicated) can be read. The Erased event records it afterwards;
        repeating the call completes an erasure whose event was not saved. True when
        something changed.
        """
        customer = self._customer(customer_id)
        shredded = self.vault.shred(customer.id)
        recorded = customer.erase()
        # The purchase history is dropped in the same transaction as the Erased event.
        history: PurchaseHistory | None = self.get_or_none(
            PurchaseHistory.create_id(str(customer.id))
        )
        changed: list[Aggregate] = [customer] if recorded else []
        if history is not None and history.erase():
            changed.append(history)
        if changed:
            self.save(*changed)
        return shredded or bool(changed)

    # Helpers ---------------------------------------------------------------------------------

    def _customer(self, customer_id: UUID) -> Customer:
        customer: Customer | None = self.get_or_none(customer_id)
        if not isinstance(customer, Customer):
            raise CustomerNotFoundError(f"no customer {customer_id}")
        return customer

    @staticmethod
    def _seal(key: DataKey, customer_id: UUID, contact: Contact) -> tuple[str, str, str]:
        seal = PiiVault.seal
        return (seal(key, customer_id, "name", contact.name),
                seal(key, customer_id, "email", contact.email),
                seal(key, customer_id, "phone", contact.phone))

    @staticmethod
    def _open(key: DataKey, customer: Customer) -> Contact:
        open_ = PiiVault.open
        return Contact(open_(key, customer.id, "name", customer.sealed_name),
                       open_(key, customer.id, "email", customer.sealed_email),
                       open_(key, customer.id, "phone", customer.sealed_phone))

    def loyalty_balance(self, customer_id: str, now: datetime | None = None) -> LoyaltyBalance:
        """The customer's points; zeros for a registered customer who has not earned yet."""
        account: LoyaltyAccount | None = self.get_or_none(LoyaltyAccount.create_id(customer_id))
        if account is not None:
            return LoyaltyBalance(
                customer_id, account.balance, account.earned_total, account.redeemed_total,
                tier=account.tier,
                expiring_soon=account.expiring_soon(now or datetime.now(UTC), self.policy),
                reversed_total=account.reversed_total, expired_total=account.expired_total,
            )
        if self._customer_exists(customer_id):
            return LoyaltyBalance(customer_id, 0, 0, 0)
        raise CustomerNotFoundError(f"no customer {customer_id!r}")

    def redeem_points(self, customer_id: str, points: int, reference: str, store_id: str) -> int:
        """Spend points (oldest lots first); returns the new balance."""
        account = self._account(customer_id)
        account.redeem(points, reference, store_id)
        self.save(account)
        return int(account.balance)

    def redeem_for_sale(
        self, store_id: str, sale_id: str, customer_id: str, amount_minor: int,
        currency: str, idempotency_key: str,
    ) -> dict[str, Any]:
        """Pay `amount_minor` of a sale with points (a loyalty tender), idempotently.

        The answer is {"status": "approved", "points", "balance"} or {"status": "declined",
        "reason"} (not enough points, no account); it is recorded under the key with the
        points change in one transaction, so a retry gets the first answer and a concurrent
        writer (another replica) makes this attempt retry rather than overdraw the account.
        """
        if not isinstance(amount_minor, int) or isinstance(amount_minor, bool) \
                or amount_minor <= 0:
            raise InvalidPointsError("amount_minor must be a positive whole number")
        if not re.fullmatch(r"[A-Z]{3}", currency or ""):
            raise InvalidPointsError(f"currency must be an ISO 4217 code: {currency!r}")
        for name, value in (("store_id", store_id), ("sale_id", sale_id),
                            ("customer_id", customer_id), ("idempotency_key", idempotency_key)):
            if not isinstance(value, str) or not value.strip():
                raise InvalidPointsError(f"{name} must be a non-empty string")
        request: dict[str, Any] = {
            "store_id": store_id, "sale_id": sale_id, "customer_id": customer_id,
            "amount_minor": amount_minor, "currency": currency,
        }
        for attempt in range(WRITE_ATTEMPTS):
            try:
                return self._redeem_once(request, idempotency_key)
            except IntegrityError:
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0, RETRY_JITTER * (attempt + 1)))
        raise AssertionError("unreachable")

    def _redeem_once(self, request: dict[str, Any], key: str) -> dict[str, Any]:
        known: Redemption | None = self.get_or_none(Redemption.create_id(key))
        if known is not None:
            if known.request != request:
                raise IdempotencyConflictError(
                    f"idempotency key {key!r} was used for another redemption"
                )
            return dict(known.answer)
        points = request["amount_minor"] * self.points_per_minor_unit
        account: LoyaltyAccount | None = self.get_or_none(
            LoyaltyAccount.create_id(request["customer_id"])
        )
        answer: dict[str, Any]
        if account is None:
            answer = {"status": "declined", "reason": "the customer has no loyalty points"}
        else:
            try:
                account.redeem_for_sale(points, key, request["store_id"], request["sale_id"],
                                        request["amount_minor"], request["currency"])
                answer = {"status": "approved", "points": points,
                          "balance": int(account.balance)}
            except InsufficientPointsError as exc:
                answer = {"status": "declined", "reason": str(exc)}
        record = Redemption.answer_for(key, request, answer)
        changed = [record, account] if account is not None and account.pending_events \
            else [record]
        self.save(*changed)
        return answer

    def reverse_points(
        self, customer_id: str, sale_id: str, store_id: str | None = None,
        at: datetime | None = None,
    ) -> int | None:
        """Take back a returned sale's points; the shortfall (None: nothing to reverse)."""
        account = self._account(customer_id)
        shortfall = account.reverse_earn(sale_id, store_id, at, self.policy)
        if account.pending_events:
            self.save(account)
        return shortfall

    def expire_points(self, as_of: datetime | None = None, batch: int = 500) -> dict[str, int]:
        """Run expiry (and the tier review) over every loyalty account as of `as_of`.

        Accounts are found from their Opened events in the notification log (a periodic
        batch: a scan by topic, not by aggregate). Each account is saved on its own, retried
        once on a concurrent write. Returns accounts changed and points expired.
        """
        as_of = as_of or datetime.now(UTC)
        topic = get_topic(LoyaltyAccount.Opened)
        changed = expired = 0
        start = 1
        while True:
            notifications = self.recorder.select_notifications(
                start, batch, topics=[topic], inclusive_of_start=True
            )
            for notification in notifications:
                for attempt in range(2):
                    account: LoyaltyAccount | None = self.get_or_none(
                        UUID(str(notification.originator_id))
                    )
                    if account is None:
                        break
                    points = account.expire(as_of, self.policy)
                    if not account.pending_events:
                        break
                    try:
                        self.save(account)
                    except IntegrityError:
                        if attempt:
                            raise
                        continue
                    changed += 1
                    expired += points
                    break
            if len(notifications) < batch:
                break
            start = notifications[-1].id + 1
        return {"accounts_changed": changed, "points_expired": expired}

    def history(
        self, customer_id: str, page_size: int = 20, page_token: str = "", favourites: int = 5,
    ) -> HistoryPage:
        """The customer's completed sales, newest first, paged (the token is an offset)."""
        if not isinstance(page_size, int) or not 1 <= page_size <= 200:
            raise InvalidCustomerError("page_size must be 1-200")
        try:
            offset = int(page_token or 0)
        except ValueError as exc:
            raise InvalidCustomerError(f"bad page token {page_token!r}") from exc
        if offset < 0:
            raise InvalidCustomerError(f"bad page token {page_token!r}")
        history: PurchaseHistory | None = self.get_or_none(PurchaseHistory.create_id(customer_id))
        if history is None:
            if self._customer_exists(customer_id):
                return HistoryPage(customer_id, [], "", 0, {}, [], None)
            raise CustomerNotFoundError(f"no customer {customer_id!r}")
        sales = history.newest_first()
        page = sales[offset:offset + page_size]
        following = offset + page_size
        return HistoryPage(
            customer_id=customer_id,
            sales=[
                {"sale_id": p.sale_id, "store_id": p.store_id, "total_minor": p.total_minor,
                 "currency": p.currency, "at": p.at,
                 "lines": [{"sku": sku, "quantity": qty} for sku, qty in p.lines]}
                for p in page
            ],
            next_page_token=str(following) if following < len(sales) else "",
            sale_count=len(sales),
            totals=dict(history.totals),
            favourites=[{"sku": sku, "quantity": qty}
                        for sku, qty in history.favourites(favourites)],
            last_visit=history.last_visit,
        )

    def _account(self, customer_id: str) -> LoyaltyAccount:
        account: LoyaltyAccount | None = self.get_or_none(LoyaltyAccount.create_id(customer_id))
        if account is None:
            raise CustomerNotFoundError(f"customer {customer_id!r} has no loyalty account")
        return account

    def _customer_exists(self, customer_id: str) -> bool:
        try:
            uuid = UUID(customer_id)
        except ValueError:
            return False
        return self.get_or_none(uuid) is not None


def _lookup_entries(contact: Contact) -> dict[str, str]:
    """The blind-index lookup forms of a contact's email and phone (empty ones left out)."""
    return {"email": contact.email.lower(), "phone": contact.phone}
