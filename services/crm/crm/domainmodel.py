"""CRM's aggregates: `Customer` (a registered shopper) and `LoyaltyAccount` (their points).

No I/O here; only eventsourcing.domain and the standard library.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

#: Namespace of CRM's deterministic ids (customers by loyalty card, accounts by customer).
CRM_NAMESPACE = UUID("3b2d9a6e-51c7-4e0f-8f7a-2c9d4e6b1a85")

# Store ids end up as subject tokens: NATS separators or wildcards would break the subject.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CARD = re.compile(r"^[A-Za-z0-9]{4,32}$")

#: ISO 4217 minor-unit exponents that are not 2 (the common case).
_MINOR_UNIT_EXPONENTS = {
    "BHD": 3, "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "IQD": 3, "ISK": 0, "JOD": 3, "JPY": 0,
    "KMF": 0, "KRW": 0, "KWD": 3, "LYD": 3, "OMR": 3, "PYG": 0, "RWF": 0, "TND": 3, "UGX": 0,
    "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
}


class InvalidCustomerError(ValueError):
    """A customer's loyalty card, name, email, phone or store id is not acceptable."""


class InvalidPointsError(ValueError):
    """Points must be a positive whole number, with a sale or reference to account for them."""


class InsufficientPointsError(Exception):
    """A redemption asks for more points than the account holds."""


def points_for_sale(total_minor: int, currency: str) -> int:
    """1 point per whole currency unit of a sale's total (integer math; none for refunds)."""
    if not re.fullmatch(r"[A-Z]{3}", currency or ""):
        raise InvalidPointsError(f"currency must be an ISO 4217 code: {currency!r}")
    if total_minor <= 0:
        return 0
    return total_minor // 10 ** _MINOR_UNIT_EXPONENTS.get(currency, 2)


def _check_store(store_id: str) -> str:
    if not isinstance(store_id, str) or not _TOKEN.match(store_id):
        raise InvalidCustomerError(f"store_id {store_id!r} must be 1-64 of [A-Za-z0-9_-]")
    return store_id


def _check_points(points: int) -> None:
    if not isinstance(points, int) or isinstance(points, bool) or points <= 0:
        raise InvalidPointsError(f"points must be a positive integer: {points!r}")


#: Channels through which marketing consent is given or withdrawn.
CONSENT_CHANNELS = ("sms", "email", "in_store")


class CustomerErasedError(Exception):
    """The customer was erased: their personal data is gone and they cannot be changed."""


def _check_sealed(**sealed: str) -> None:
    # The aggregate never sees plaintext: only values sealed by crm.pii ("v1.<base64>").
    for field, value in sealed.items():
        if not isinstance(value, str) or not value.startswith("v1."):
            raise InvalidCustomerError(f"{field} must be sealed (encrypted) personal data")


class Customer(Aggregate):
    """A shopper registered with a loyalty card in one of the chain's stores.

    Name, email and phone are held, and recorded, only as ciphertexts sealed under the
    customer's data key (`key_id`; see crm.pii). Erasure destroys that key elsewhere and is
    recorded here: afterwards the aggregate drops the ciphertexts and refuses every change.
    """

    class Registered(Aggregate.Created):
        class_version = 2
        loyalty_card: str
        store_id: str
        key_id: str
        sealed_name: str
        sealed_email: str
        sealed_phone: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            # Version 1 carried name, email and phone in plain text (before encryption). Those
            # values are not brought back into memory; such a customer has no readable PII.
            for field in ("name", "email", "phone"):
                state.pop(field, None)
            state.update(key_id="", sealed_name="", sealed_email="", sealed_phone="")

    class ContactUpdated(Aggregate.Event):
        sealed_name: str
        sealed_email: str
        sealed_phone: str

    class ConsentGiven(Aggregate.Event):
        channel: str
        at: str

    class ConsentWithdrawn(Aggregate.Event):
        channel: str
        at: str

    class Erased(Aggregate.Event):
        key_id: str
        at: str

    @staticmethod
    def create_id(loyalty_card: str) -> UUID:
        return uuid5(CRM_NAMESPACE, f"card:{loyalty_card}")

    @staticmethod
    def check_card(loyalty_card: str) -> str:
        if not isinstance(loyalty_card, str) or not _CARD.match(loyalty_card):
            raise InvalidCustomerError(f"loyalty card {loyalty_card!r} must be 4-32 letters/digits")
        return loyalty_card

    @classmethod
    def register(
        cls,
        loyalty_card: str,
        store_id: str,
        key_id: str,
        sealed_name: str,
        sealed_email: str,
        sealed_phone: str,
        customer_id: UUID | None = None,
    ) -> Customer:
        """A new customer; the id is `customer_id`, or else derived from the loyalty card."""
        cls.check_card(loyalty_card)
        _check_store(store_id)
        if not isinstance(key_id, str) or not key_id:
            raise InvalidCustomerError("a customer's personal data needs its data key id")
        _check_sealed(name=sealed_name, email=sealed_email, phone=sealed_phone)
        return cls._create(
            cls.Registered,
            id=customer_id or cls.create_id(loyalty_card),
            loyalty_card=loyalty_card,
            store_id=store_id,
            key_id=key_id,
            sealed_name=sealed_name,
            sealed_email=sealed_email,
            sealed_phone=sealed_phone,
        )

    def __init__(
        self, loyalty_card: str, store_id: str, key_id: str,
        sealed_name: str, sealed_email: str, sealed_phone: str,
    ) -> None:
        self.loyalty_card = loyalty_card
        self.store_id = store_id
        self.key_id = key_id
        self.sealed_name = sealed_name
        self.sealed_email = sealed_email
        self.sealed_phone = sealed_phone
        self.erased = False
        self.erased_at: str | None = None
        self.marketing_consent = False
        self.consent_channel: str | None = None
        self.consent_at: str | None = None

    def _check_not_erased(self) -> None:
        if self.erased:
            raise CustomerErasedError(f"customer {self.id} was erased")

    def update_contact(self, sealed_name: str, sealed_email: str, sealed_phone: str) -> None:
        """Replace the sealed name, email and phone (all three, sealed afresh)."""
        self._check_not_erased()
        _check_sealed(name=sealed_name, email=sealed_email, phone=sealed_phone)
        self._contact_updated(sealed_name=sealed_name, sealed_email=sealed_email,
                              sealed_phone=sealed_phone)

    @event(ContactUpdated)
    def _contact_updated(self, sealed_name: str, sealed_email: str, sealed_phone: str) -> None:
        self.sealed_name = sealed_name
        self.sealed_email = sealed_email
        self.sealed_phone = sealed_phone

    def set_marketing_consent(self, given: bool, channel: str, at: datetime) -> bool:
        """Record consent given or withdrawn (through `channel`, at `at`); False if unchanged."""
        self._check_not_erased()
        if channel not in CONSENT_CHANNELS:
            raise InvalidCustomerError(f"consent channel must be one of {CONSENT_CHANNELS}")
        if not isinstance(at, datetime) or at.tzinfo is None:
            raise InvalidCustomerError("the time of consent must be a datetime with a timezone")
        if bool(given) == self.marketing_consent and self.consent_channel is not None:
            return False
        stamp = at.astimezone(UTC).isoformat()
        if given:
            self._consent_given(channel=channel, at=stamp)
        else:
            self._consent_withdrawn(channel=channel, at=stamp)
        return True

    @event(ConsentGiven)
    def _consent_given(self, channel: str, at: str) -> None:
        self.marketing_consent = True
        self.consent_channel = channel
        self.consent_at = at

    @event(ConsentWithdrawn)
    def _consent_withdrawn(self, channel: str, at: str) -> None:
        self.marketing_consent = False
        self.consent_channel = channel
        self.consent_at = at

    def erase(self) -> bool:
        """Record the erasure (the data key is destroyed by the caller); False if already."""
        if self.erased:
            return False
        self._erased(key_id=self.key_id, at=datetime.now(UTC).isoformat())
        return True

    @event(Erased)
    def _erased(self, key_id: str, at: str) -> None:
        # Projections drop the personal data: nothing sealed is kept in memory any more.
        self.erased = True
        self.erased_at = at
        self.sealed_name = self.sealed_email = self.sealed_phone = ""
        self.marketing_consent = False


class LoyaltyAccount(Aggregate):
    """A customer's points: earned on sales, spent on redemptions, never below zero."""

    class Opened(Aggregate.Created):
        customer_id: str

    # Each event carries the customer id: the account id is a hash of it, not invertible.
    class PointsEarned(Aggregate.Event):
        customer_id: str
        points: int
        sale_id: str
        store_id: str
        balance: int

    class PointsRedeemed(Aggregate.Event):
        customer_id: str
        points: int
        reference: str
        store_id: str
        balance: int

    @staticmethod
    def create_id(customer_id: str) -> UUID:
        return uuid5(CRM_NAMESPACE, f"loyalty:{customer_id}")

    @classmethod
    def open(cls, customer_id: str) -> LoyaltyAccount:
        # The customer id is kept as the string checkout sends: the account must be opened
        # even before (or without) the customer's registration reaching this store.
        if not isinstance(customer_id, str) or not customer_id.strip():
            raise InvalidPointsError("a loyalty account needs a customer id")
        return cls._create(cls.Opened, id=cls.create_id(customer_id), customer_id=customer_id)

    def __init__(self, customer_id: str) -> None:
        self.customer_id = customer_id
        self.balance = 0
        self.earned_total = 0
        self.redeemed_total = 0

    def earn(self, points: int, sale_id: str, store_id: str) -> None:
        """Credit points for a sale made in `store_id`."""
        _check_points(points)
        if not sale_id:
            raise InvalidPointsError("earned points need the sale id")
        _check_store(store_id)
        self._earned(customer_id=self.customer_id, points=points, sale_id=sale_id,
                     store_id=store_id, balance=self.balance + points)

    @event(PointsEarned)
    def _earned(
        self, customer_id: str, points: int, sale_id: str, store_id: str, balance: int
    ) -> None:
        self.balance = balance
        self.earned_total += points

    def redeem(self, points: int, reference: str, store_id: str) -> None:
        """Spend points; refused when the balance would go negative."""
        _check_points(points)
        if not reference:
            raise InvalidPointsError("a redemption needs a reference")
        _check_store(store_id)
        if points > self.balance:
            raise InsufficientPointsError(
                f"cannot redeem {points} points: the balance is {self.balance}"
            )
        self._redeemed(customer_id=self.customer_id, points=points, reference=reference,
                       store_id=store_id, balance=self.balance - points)

    @event(PointsRedeemed)
    def _redeemed(
        self, customer_id: str, points: int, reference: str, store_id: str, balance: int
    ) -> None:
        self.balance = balance
        self.redeemed_total += points
