"""CRM's aggregates: `Customer` (a registered shopper) and `LoyaltyAccount` (their points).

No I/O here; only eventsourcing.domain and the standard library.
"""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
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
        class_version = 2
        key_id: str
        at: str
        store_id: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            state["store_id"] = ""  # version 1 did not say; the contract uses "chain"

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
        self._erased(key_id=self.key_id, at=datetime.now(UTC).isoformat(),
                     store_id=self.store_id)
        return True

    @event(Erased)
    def _erased(self, key_id: str, at: str, store_id: str) -> None:
        # Projections drop the personal data: nothing sealed is kept in memory any more.
        self.erased = True
        self.erased_at = at
        self.sealed_name = self.sealed_email = self.sealed_phone = ""
        self.marketing_consent = False


@dataclass(frozen=True)
class Tier:
    """A loyalty tier: reached with `min_spend_minor` over the rolling window, earning
    `rate` points per whole currency unit."""

    name: str
    min_spend_minor: int
    rate: int


@dataclass(frozen=True)
class LoyaltyPolicy:
    """How points are earned, tiers reached and points expire (all integer arithmetic).

    * Points for a sale: ``total_minor // unit * rate`` where ``unit`` is one whole currency
      unit (100 minor units for EUR) and ``rate`` the tier's: the remainder below a whole
      unit is dropped (rounded down) before multiplying. Refunds (total <= 0) earn nothing.
    * The rate is that of the tier in force when the sale is made (spend over the window
      before the sale); the sale's spend then counts towards the tier.
    * Tier: the highest tier whose ``min_spend_minor`` the spend over the last
      ``window_months`` (calendar months, ending at the time of evaluation) reaches; spend is
      assumed to be in the chain's one currency. Tiers go up on earning and down when old
      spend leaves the window (re-evaluated on every sale, return and expiry run).
    * Expiry: the unspent points of an earning (a lot) expire ``expiry_months`` after it.
    * The default thresholds are far above demo and test volumes: demo customers stay basic,
      where a point is exactly one whole currency unit.
    """

    tiers: tuple[Tier, ...] = (
        Tier("basic", 0, 1),
        Tier("silver", 10_000_000, 2),  # 100,000.00 in a year
        Tier("gold", 50_000_000, 3),  # 500,000.00 in a year
    )
    window_months: int = 12
    expiry_months: int = 24
    expiring_soon_days: int = 30

    def __post_init__(self) -> None:
        if not self.tiers or self.tiers[0].min_spend_minor != 0:
            raise ValueError("the first tier must start at zero spend")
        spends = [tier.min_spend_minor for tier in self.tiers]
        if spends != sorted(set(spends)) or any(tier.rate < 0 for tier in self.tiers):
            raise ValueError("tiers must have ascending thresholds and non-negative rates")

    def tier_for(self, spend_minor: int) -> Tier:
        reached = self.tiers[0]
        for tier in self.tiers:
            if spend_minor >= tier.min_spend_minor:
                reached = tier
        return reached

    def tier_named(self, name: str) -> Tier:
        for tier in self.tiers:
            if tier.name == name:
                return tier
        return self.tiers[0]


DEFAULT_POLICY = LoyaltyPolicy()


def months_before(at: datetime, months: int) -> datetime:
    """`at` moved back by whole calendar months (the day clamped to the month's length)."""
    index = at.year * 12 + at.month - 1 - months
    year, month = divmod(index, 12)
    day = min(at.day, monthrange(year, month + 1)[1])
    return at.replace(year=year, month=month + 1, day=day)


def _stamp(at: datetime | None) -> str:
    if at is None:
        return datetime.now(UTC).isoformat()
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise InvalidPointsError("times must be datetimes with a timezone")
    return at.astimezone(UTC).isoformat()


def _parse(stamp: str) -> datetime:
    # An unknown time (only from upcast old events) counts as long ago.
    return datetime.fromisoformat(stamp) if stamp else datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class PointsLot:
    """The points of one earning; redemptions and expiry consume the oldest lots first."""

    sale_id: str
    store_id: str
    at: str
    points: int
    remaining: int
    spend_minor: int
    expired: int = 0
    reversed: bool = False
    #: Spend returned so far and the points taken back for it (partial returns).
    returned_minor: int = 0
    reversed_points: int = 0


class LoyaltyAccount(Aggregate):
    """A customer's points: earned on sales, spent on redemptions, never below zero.

    Points are held in lots, one per earning, consumed oldest first (FIFO) by redemptions,
    reversals and expiry; `balance` is always the sum of the lots' remaining points.
    """

    class Opened(Aggregate.Created):
        customer_id: str

    # Each event carries the customer id: the account id is a hash of it, not invertible.
    class PointsEarned(Aggregate.Event):
        class_version = 2
        customer_id: str
        points: int
        sale_id: str
        store_id: str
        balance: int
        spend_minor: int
        at: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Version 1 earned 1 point per whole unit and did not record spend or time: the
            # spend is taken as points * 100 and the time as the event's.
            stamp = state.get("timestamp")
            state["spend_minor"] = int(state["points"]) * 100
            state["at"] = stamp.isoformat() if isinstance(stamp, datetime) else str(stamp or "")

    class PointsRedeemed(Aggregate.Event):
        customer_id: str
        points: int
        reference: str
        store_id: str
        balance: int

    class PointsRedeemedForSale(Aggregate.Event):
        """Points that paid a sale as a loyalty tender: `amount_minor` in `currency` is the
        money they paid (checkout records it as the sale's loyalty tender)."""

        customer_id: str
        points: int
        reference: str
        store_id: str
        balance: int
        sale_id: str
        amount_minor: int
        currency: str

    class PointsCredited(Aggregate.Event):
        """Points given back (a loyalty tender refunded on a return, or of a voided sale):
        one new lot, keyed by `reference` so a redelivery credits nothing twice."""

        customer_id: str
        points: int
        reference: str
        store_id: str
        balance: int
        at: str

    class PointsReversed(Aggregate.Event):
        """A return took back the points of `sale_id`; `shortfall` could not be taken
        (already spent) and is recorded rather than making the balance negative."""

        customer_id: str
        sale_id: str
        store_id: str
        points: int
        shortfall: int
        balance: int

    class PointsReversedForReturn(Aggregate.Event):
        """Return `return_id` brought back `returned_minor` of `sale_id`: the points earned
        on that part are taken back (`shortfall`: already spent, not taken)."""

        customer_id: str
        sale_id: str
        return_id: str
        store_id: str
        returned_minor: int
        points: int
        shortfall: int
        balance: int

    class PointsExpired(Aggregate.Event):
        customer_id: str
        sale_id: str
        store_id: str
        points: int
        balance: int
        as_of: str

    class TierChanged(Aggregate.Event):
        customer_id: str
        store_id: str
        from_tier: str
        to_tier: str
        rolling_spend_minor: int
        as_of: str

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
        #: Points ever credited (reversals and expiry do not lower it).
        self.earned_total = 0
        self.redeemed_total = 0
        self.reversed_total = 0
        self.shortfall_total = 0
        self.expired_total = 0
        self.tier = DEFAULT_POLICY.tiers[0].name
        self.last_store_id = ""
        self.lots: list[PointsLot] = []
        #: References of redemptions and credits recorded: a retry records nothing twice.
        self.references: set[str] = set()
        self.credited_total = 0

    # Queries ---------------------------------------------------------------------------------

    def has_sale(self, sale_id: str) -> bool:
        return any(lot.sale_id == sale_id for lot in self.lots)

    def rolling_spend(self, as_of: datetime, policy: LoyaltyPolicy = DEFAULT_POLICY) -> int:
        """Spend (minor units) of the sales in the window ending at `as_of` (returns excluded)."""
        since = months_before(as_of, policy.window_months)
        return sum(
            lot.spend_minor - lot.returned_minor for lot in self.lots
            if not lot.reversed and since < _parse(lot.at) <= as_of
        )

    def expiring(self, as_of: datetime, policy: LoyaltyPolicy = DEFAULT_POLICY) -> int:
        """Points that will have expired by `as_of` (unspent points of old enough lots)."""
        cutoff = months_before(as_of, policy.expiry_months)
        return sum(lot.remaining for lot in self.lots if _parse(lot.at) <= cutoff)

    def expiring_soon(self, now: datetime, policy: LoyaltyPolicy = DEFAULT_POLICY) -> int:
        """Points that expire within the policy's `expiring_soon_days` of `now`."""
        return self.expiring(now + timedelta(days=policy.expiring_soon_days), policy)

    # Commands --------------------------------------------------------------------------------

    def earn(
        self, points: int, sale_id: str, store_id: str,
        at: datetime | None = None, spend_minor: int = 0,
    ) -> bool:
        """Credit `points` for a sale made in `store_id`; False if this sale already earned."""
        _check_points(points)
        if not sale_id:
            raise InvalidPointsError("earned points need the sale id")
        _check_store(store_id)
        if not isinstance(spend_minor, int) or spend_minor < 0:
            raise InvalidPointsError("spend must be a non-negative number of minor units")
        if self.has_sale(sale_id):
            return False
        self._earned(customer_id=self.customer_id, points=points, sale_id=sale_id,
                     store_id=store_id, balance=self.balance + points,
                     spend_minor=spend_minor, at=_stamp(at))
        return True

    def earn_for_sale(
        self, total_minor: int, currency: str, sale_id: str, store_id: str, at: datetime,
        policy: LoyaltyPolicy = DEFAULT_POLICY,
    ) -> int:
        """Credit a completed sale at the rate of the tier in force; the points earned.

        The tier is re-evaluated before (old spend may have left the window) and after (this
        sale may lift it); each change is a TierChanged.
        """
        _stamp(at)
        _check_store(store_id)
        if self.has_sale(sale_id):
            return 0
        self.review_tier(at, policy, store_id)
        points = points_for_sale(total_minor, currency) * policy.tier_named(self.tier).rate
        if points <= 0:
            return 0
        self.earn(points, sale_id, store_id, at, total_minor)
        self.review_tier(at, policy, store_id)
        return points

    @event(PointsEarned)
    def _earned(
        self, customer_id: str, points: int, sale_id: str, store_id: str, balance: int,
        spend_minor: int, at: str,
    ) -> None:
        self.lots.append(PointsLot(sale_id, store_id, at, points, points, spend_minor))
        self.balance = balance
        self.earned_total += points
        self.last_store_id = store_id

    def redeem(self, points: int, reference: str, store_id: str) -> None:
        """Spend points, oldest lots first; refused when the balance would go negative.

        Expiry is only what `expire` records: lots past their expiry but not yet expired by
        a run can still be spent (the expiry job's period bounds that grace).
        """
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
        self._consume(points)
        self.balance = balance
        self.redeemed_total += points
        self.references.add(f"redeem:{reference}")

    def redeem_for_sale(
        self, points: int, reference: str, store_id: str, sale_id: str, amount_minor: int,
        currency: str,
    ) -> None:
        """Spend points as a loyalty tender of `sale_id` worth `amount_minor` `currency`;
        refused (InsufficientPointsError) when the balance would go negative."""
        _check_points(points)
        if not reference or not sale_id:
            raise InvalidPointsError("a loyalty tender needs a reference and the sale id")
        _check_store(store_id)
        if not isinstance(amount_minor, int) or amount_minor <= 0:
            raise InvalidPointsError("a loyalty tender's amount must be positive minor units")
        if not re.fullmatch(r"[A-Z]{3}", currency or ""):
            raise InvalidPointsError(f"currency must be an ISO 4217 code: {currency!r}")
        if points > self.balance:
            raise InsufficientPointsError(
                f"cannot redeem {points} points: the balance is {self.balance}"
            )
        self._redeemed_for_sale(
            customer_id=self.customer_id, points=points, reference=reference,
            store_id=store_id, balance=self.balance - points, sale_id=sale_id,
            amount_minor=amount_minor, currency=currency,
        )

    @event(PointsRedeemedForSale)
    def _redeemed_for_sale(
        self, customer_id: str, points: int, reference: str, store_id: str, balance: int,
        sale_id: str, amount_minor: int, currency: str,
    ) -> None:
        self._consume(points)
        self.balance = balance
        self.redeemed_total += points
        self.references.add(f"redeem:{reference}")

    def credit(
        self, points: int, reference: str, store_id: str, at: datetime | None = None
    ) -> bool:
        """Give points back (a refunded or voided loyalty tender) as a new lot, which expires
        like earned points; False when `reference` was credited already."""
        _check_points(points)
        if not reference:
            raise InvalidPointsError("a credit needs a reference")
        _check_store(store_id)
        if f"credit:{reference}" in self.references:
            return False
        self._credited(customer_id=self.customer_id, points=points, reference=reference,
                       store_id=store_id, balance=self.balance + points, at=_stamp(at))
        return True

    @event(PointsCredited)
    def _credited(
        self, customer_id: str, points: int, reference: str, store_id: str, balance: int,
        at: str,
    ) -> None:
        # A lot without spend: it does not count towards the tier.
        self.lots.append(PointsLot(f"credit:{reference}", store_id, at, points, points, 0))
        self.balance = balance
        self.credited_total += points
        self.references.add(f"credit:{reference}")

    def reverse_earn(
        self, sale_id: str, store_id: str | None = None, at: datetime | None = None,
        policy: LoyaltyPolicy = DEFAULT_POLICY,
    ) -> int | None:
        """Take back the points a returned sale earned; returns the shortfall (points already
        spent, which cannot be taken back), or None if the sale earned nothing here or was
        already reversed.

        The points still usable from that earning (earned less expired) are taken from its own
        lot first, then from the oldest other lots; the balance never goes below zero. The
        sale's spend leaves the tier window, so the tier is reviewed.
        """
        lot = next((lot for lot in self.lots if lot.sale_id == sale_id), None)
        if lot is None or lot.reversed:
            return None
        store = _check_store(store_id or lot.store_id)
        owed = lot.points - lot.expired
        taken = min(owed, self.balance)
        self._reversed(customer_id=self.customer_id, sale_id=sale_id, store_id=store,
                       points=taken, shortfall=owed - taken, balance=self.balance - taken)
        self.review_tier(at or datetime.now(UTC), policy, store)
        return owed - taken

    @event(PointsReversed)
    def _reversed(
        self, customer_id: str, sale_id: str, store_id: str, points: int, shortfall: int,
        balance: int,
    ) -> None:
        lot = next(lot for lot in self.lots if lot.sale_id == sale_id)
        lot.reversed = True
        own = min(lot.remaining, points)
        lot.remaining -= own
        self._consume(points - own)
        self.balance = balance
        self.reversed_total += points
        self.shortfall_total += shortfall

    def reverse_for_return(
        self, sale_id: str, return_id: str, returned_minor: int, store_id: str,
        at: datetime | None = None, policy: LoyaltyPolicy = DEFAULT_POLICY,
    ) -> int | None:
        """Take back the points earned on `returned_minor` of sale `sale_id` (proportional
        to the sale's spend, rounded down; all of them once all of it came back). Returns
        the shortfall, or None when the sale earned nothing here or this return was seen.
        """
        if not return_id:
            raise InvalidPointsError("a reversal for a return needs the return id")
        if not isinstance(returned_minor, int) or returned_minor <= 0:
            raise InvalidPointsError("the returned amount must be positive minor units")
        lot = next((lot for lot in self.lots if lot.sale_id == sale_id), None)
        if lot is None or lot.reversed or f"return:{return_id}" in self.references:
            return None
        store = _check_store(store_id or lot.store_id)
        returned = min(lot.spend_minor, lot.returned_minor + returned_minor)
        due = lot.points if returned >= lot.spend_minor else (
            lot.points * returned // lot.spend_minor if lot.spend_minor else 0)
        owed = max(0, min(due - lot.reversed_points, lot.points - lot.expired))
        taken = min(owed, self.balance)
        self._reversed_for_return(
            customer_id=self.customer_id, sale_id=sale_id, return_id=return_id,
            store_id=store, returned_minor=returned_minor, points=taken,
            shortfall=owed - taken, balance=self.balance - taken,
        )
        self.review_tier(at or datetime.now(UTC), policy, store)
        return owed - taken

    @event(PointsReversedForReturn)
    def _reversed_for_return(
        self, customer_id: str, sale_id: str, return_id: str, store_id: str,
        returned_minor: int, points: int, shortfall: int, balance: int,
    ) -> None:
        lot = next(lot for lot in self.lots if lot.sale_id == sale_id)
        lot.returned_minor = min(lot.spend_minor, lot.returned_minor + returned_minor)
        lot.reversed_points += points + shortfall
        lot.reversed = lot.returned_minor >= lot.spend_minor
        own = min(lot.remaining, points)
        lot.remaining -= own
        self._consume(points - own)
        self.balance = balance
        self.reversed_total += points
        self.shortfall_total += shortfall
        self.references.add(f"return:{return_id}")

    def expire(self, as_of: datetime, policy: LoyaltyPolicy = DEFAULT_POLICY) -> int:
        """Expire the unspent points of lots earned `expiry_months` or more before `as_of`
        (one PointsExpired per lot) and review the tier; returns the points expired."""
        stamp = _stamp(as_of)
        cutoff = months_before(as_of, policy.expiry_months)
        expired = 0
        for lot in list(self.lots):
            if lot.remaining > 0 and _parse(lot.at) <= cutoff:
                expired += lot.remaining
                self._expired(customer_id=self.customer_id, sale_id=lot.sale_id,
                              store_id=lot.store_id, points=lot.remaining,
                              balance=self.balance - lot.remaining, as_of=stamp)
        self.review_tier(as_of, policy)
        return expired

    @event(PointsExpired)
    def _expired(
        self, customer_id: str, sale_id: str, store_id: str, points: int, balance: int,
        as_of: str,
    ) -> None:
        lot = next(lot for lot in self.lots if lot.sale_id == sale_id and lot.remaining)
        lot.remaining -= points
        lot.expired += points
        self.balance = balance
        self.expired_total += points

    def review_tier(
        self, as_of: datetime, policy: LoyaltyPolicy = DEFAULT_POLICY, store_id: str = ""
    ) -> bool:
        """Record a TierChanged if the spend over the window ending at `as_of` puts the
        account in another tier; True if it changed."""
        spend = self.rolling_spend(as_of, policy)
        wanted = policy.tier_for(spend).name
        if wanted == self.tier:
            return False
        store = store_id or self.last_store_id
        if not store:
            return False  # nothing was ever earned: nowhere to announce it, nothing to change
        self._tier_changed(customer_id=self.customer_id, store_id=_check_store(store),
                           from_tier=self.tier, to_tier=wanted, rolling_spend_minor=spend,
                           as_of=_stamp(as_of))
        return True

    @event(TierChanged)
    def _tier_changed(
        self, customer_id: str, store_id: str, from_tier: str, to_tier: str,
        rolling_spend_minor: int, as_of: str,
    ) -> None:
        self.tier = to_tier

    def _consume(self, points: int) -> None:
        # Oldest lots first; callers guarantee the lots hold at least `points`.
        for lot in self.lots:
            if points <= 0:
                break
            used = min(lot.remaining, points)
            lot.remaining -= used
            points -= used


class Redemption(Aggregate):
    """The answer given to one `redeem_points` request, kept under its idempotency key: the
    same key with the same request gets the same answer, with another request a conflict."""

    class Answered(Aggregate.Created):
        idempotency_key: str
        request: dict[str, Any]
        answer: dict[str, Any]

    @staticmethod
    def create_id(idempotency_key: str) -> UUID:
        return uuid5(CRM_NAMESPACE, f"redemption:{idempotency_key}")

    @classmethod
    def answer_for(
        cls, idempotency_key: str, request: dict[str, Any], answer: dict[str, Any]
    ) -> Redemption:
        if not isinstance(idempotency_key, str) or not idempotency_key.strip():
            raise InvalidPointsError("a redemption needs an idempotency key")
        return cls._create(cls.Answered, id=cls.create_id(idempotency_key),
                           idempotency_key=idempotency_key, request=dict(request),
                           answer=dict(answer))

    def __init__(
        self, idempotency_key: str, request: dict[str, Any], answer: dict[str, Any]
    ) -> None:
        self.idempotency_key = idempotency_key
        self.request = request
        self.answer = answer


class PurchaseHistory(Aggregate):
    """A customer's completed sales (no personal data: the customer is named by id).

    One aggregate per customer, written in the same unit of work as their loyalty points, so
    the history is exactly-once with the consumer's tracking and needs no projection of its
    own. Reads are in memory: totals, favourites and last visit are kept up to date.
    """

    class Started(Aggregate.Created):
        customer_id: str

    class PurchaseRecorded(Aggregate.Event):
        customer_id: str
        sale_id: str
        store_id: str
        total_minor: int
        currency: str
        #: [[sku, quantity], ...]
        lines: list[list[Any]]
        at: str

    class HistoryErased(Aggregate.Event):
        customer_id: str

    class ReturnRecorded(Aggregate.Event):
        """Goods of a recorded sale came back: totals and favourites are net of them."""

        customer_id: str
        return_id: str
        sale_id: str
        total_minor: int
        currency: str
        #: [[sku, quantity], ...]
        lines: list[list[Any]]

    @staticmethod
    def create_id(customer_id: str) -> UUID:
        return uuid5(CRM_NAMESPACE, f"history:{customer_id}")

    @classmethod
    def start(cls, customer_id: str) -> PurchaseHistory:
        if not isinstance(customer_id, str) or not customer_id.strip():
            raise InvalidCustomerError("a purchase history needs a customer id")
        return cls._create(cls.Started, id=cls.create_id(customer_id), customer_id=customer_id)

    def __init__(self, customer_id: str) -> None:
        self.customer_id = customer_id
        self.sales: list[Purchase] = []
        self.sale_ids: set[str] = set()
        #: Total per currency, in minor units.
        self.totals: dict[str, int] = {}
        self.quantities: dict[str, int] = {}
        self.last_visit: str | None = None
        self.erased = False
        self.return_ids: set[str] = set()

    def record(
        self, sale_id: str, store_id: str, total_minor: int, currency: str,
        lines: list[tuple[str, int]], at: datetime,
    ) -> bool:
        """Record a completed sale; False if it was recorded already (a redelivery)."""
        if not sale_id:
            raise InvalidCustomerError("a purchase needs the sale id")
        _check_store(store_id)
        if sale_id in self.sale_ids or self.erased:
            return False
        self._recorded(customer_id=self.customer_id, sale_id=sale_id, store_id=store_id,
                       total_minor=int(total_minor), currency=currency,
                       lines=[[sku, int(quantity)] for sku, quantity in lines],
                       at=_stamp(at))
        return True

    @event(PurchaseRecorded)
    def _recorded(
        self, customer_id: str, sale_id: str, store_id: str, total_minor: int, currency: str,
        lines: list[list[Any]], at: str,
    ) -> None:
        purchase = Purchase(sale_id, store_id, total_minor, currency,
                            tuple((str(sku), int(qty)) for sku, qty in lines), at)
        self.sales.append(purchase)
        self.sale_ids.add(sale_id)
        self.totals[currency] = self.totals.get(currency, 0) + total_minor
        for sku, quantity in purchase.lines:
            self.quantities[sku] = self.quantities.get(sku, 0) + quantity
        if self.last_visit is None or _parse(at) > _parse(self.last_visit):
            self.last_visit = at

    def record_return(
        self, return_id: str, sale_id: str, total_minor: int, currency: str,
        lines: list[tuple[str, int]],
    ) -> bool:
        """A return of one of the customer's sales; False when seen already, erased, or
        the sale is not in this history (nothing to net it against)."""
        if not return_id:
            raise InvalidCustomerError("a return needs its id")
        if self.erased or return_id in self.return_ids or sale_id not in self.sale_ids:
            return False
        self._return_recorded(customer_id=self.customer_id, return_id=return_id,
                              sale_id=sale_id, total_minor=int(total_minor), currency=currency,
                              lines=[[sku, int(quantity)] for sku, quantity in lines])
        return True

    @event(ReturnRecorded)
    def _return_recorded(
        self, customer_id: str, return_id: str, sale_id: str, total_minor: int,
        currency: str, lines: list[list[Any]],
    ) -> None:
        self.return_ids.add(return_id)
        self.totals[currency] = self.totals.get(currency, 0) - total_minor
        for sku, quantity in lines:
            self.quantities[str(sku)] = self.quantities.get(str(sku), 0) - int(quantity)

    def erase(self) -> bool:
        """The customer was erased: forget their purchases here (the events stay, keyed by a
        customer id that no longer leads to a person); False if already done."""
        if self.erased:
            return False
        self._history_erased(customer_id=self.customer_id)
        return True

    @event(HistoryErased)
    def _history_erased(self, customer_id: str) -> None:
        self.erased = True
        self.sales = []
        self.sale_ids = set()
        self.totals = {}
        self.quantities = {}
        self.return_ids = set()
        self.last_visit = None

    def newest_first(self) -> list[Purchase]:
        return sorted(self.sales, key=lambda p: (_parse(p.at), p.sale_id), reverse=True)

    def favourites(self, n: int = 5) -> list[tuple[str, int]]:
        """The top `n` SKUs by quantity bought (ties by SKU); net of returned quantities."""
        ranked = sorted(self.quantities.items(), key=lambda item: (-item[1], item[0]))
        return [(sku, qty) for sku, qty in ranked if qty > 0][:n]


@dataclass(frozen=True)
class Purchase:
    sale_id: str
    store_id: str
    total_minor: int
    currency: str
    lines: tuple[tuple[str, int], ...] = ()
    at: str = ""
