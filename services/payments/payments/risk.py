"""Risk rules: pure functions of a request and a small window of recent history (no I/O).

Four rules, each with its action ("flag": the payment goes on, with a `PaymentFlagged`
recorded; "decline": it is declined with response code 59 before the acquirer is asked):

- ``velocity``: more than ``velocity_max_attempts`` authorization attempts with one card token
  within ``velocity_window`` (this attempt included). Counted per keyed card token, so random
  cards never add up; a retry of the same idempotency key is not a new attempt.
- ``amount``: an amount far above the store's usual range: above ``amount_cap_minor[currency]``
  when a cap is configured for the currency, or above ``amount_median_multiple`` times the
  median of the store's last ``amount_history`` captured amounts in that currency (only once
  ``amount_min_samples`` captures are known, so a new store is never judged on three sales).
- ``unreferenced_refund``: an unreferenced refund (no receipt) above
  ``unreferenced_refund_threshold_minor`` (any currency: one threshold in minor units).
- ``lane_declines``: at least ``lane_max_declines`` issuer declines on the request's lane
  within ``lane_window`` (a request with no lane id is not judged by this rule; risk declines
  themselves, code 59, are not counted, so the rule cannot feed itself).

Boundaries: every "more than"/"above" is strict, "at least" is inclusive; windows include an
event exactly ``window`` old. Money is integer minor units throughout, and the median is the
lower middle value (an integer, never a float).

The window (`RiskWindow`) holds only card tokens (keyed HMACs), lane and store ids, amounts
and timestamps: never a PAN. The application rebuilds it from its notification log.
"""

from __future__ import annotations

from bisect import insort
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

FLAG = "flag"
DECLINE = "decline"
ACTIONS = (FLAG, DECLINE)

VELOCITY = "velocity"
AMOUNT = "amount"
UNREFERENCED_REFUND = "unreferenced_refund"
LANE_DECLINES = "lane_declines"
RULES = (VELOCITY, AMOUNT, UNREFERENCED_REFUND, LANE_DECLINES)

#: The response code of a payment declined by a risk rule ("suspected fraud").
RISK_DECLINE_CODE = "59"


@dataclass(frozen=True)
class RiskPolicy:
    """The rules' thresholds and actions. The defaults are ones a normal store never trips:
    a card used more than 5 times in 10 minutes, an amount 20 times the store's median,
    a no-receipt refund above 500.00, 10 issuer declines on one lane in 10 minutes."""

    velocity_max_attempts: int = 5
    velocity_window: timedelta = timedelta(minutes=10)
    velocity_action: str = DECLINE

    amount_median_multiple: int = 20
    amount_min_samples: int = 20
    amount_history: int = 200
    amount_cap_minor: Mapping[str, int] = field(default_factory=dict)
    amount_action: str = FLAG

    unreferenced_refund_threshold_minor: int = 50_000
    unreferenced_refund_action: str = FLAG

    lane_max_declines: int = 10
    lane_window: timedelta = timedelta(minutes=10)
    lane_action: str = FLAG

    def __post_init__(self) -> None:
        for rule in RULES:
            if self.action(rule) not in ACTIONS:
                raise ValueError(f"{rule} action must be one of {ACTIONS}")
        for name in ("velocity_max_attempts", "amount_median_multiple", "amount_min_samples",
                     "amount_history", "lane_max_declines"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer")
        if self.unreferenced_refund_threshold_minor < 0:
            raise ValueError("unreferenced_refund_threshold_minor must not be negative")
        if self.velocity_window <= timedelta(0) or self.lane_window <= timedelta(0):
            raise ValueError("risk windows must be positive")
        for currency, cap in self.amount_cap_minor.items():
            if not isinstance(cap, int) or cap < 1:
                raise ValueError(f"amount cap for {currency} must be a positive integer")

    def action(self, rule: str) -> str:
        return str(getattr(self, {VELOCITY: "velocity_action", AMOUNT: "amount_action",
                                  UNREFERENCED_REFUND: "unreferenced_refund_action",
                                  LANE_DECLINES: "lane_action"}[rule]))


@dataclass(frozen=True)
class RiskFinding:
    """One rule that fired: its name, what it does, and why (no card data)."""

    rule: str
    action: str
    reason: str


@dataclass(frozen=True)
class RiskRequest:
    """What the rules look at: never the PAN, only its keyed token."""

    store_id: str
    card_token: str
    amount_minor: int
    currency: str
    at: datetime
    lane_id: str = ""
    unreferenced_refund: bool = False


class RiskWindow:
    """Recent history the rules need, in memory: attempt times per card token, issuer decline
    times per (store, lane), and the last captured amounts per (store, currency), kept sorted
    for the median. Entries older than the longest window are dropped as time goes on."""

    def __init__(self, policy: RiskPolicy) -> None:
        self.policy = policy
        self._attempts: dict[str, deque[datetime]] = defaultdict(deque)
        self._declines: dict[tuple[str, str], deque[datetime]] = defaultdict(deque)
        self._amounts: dict[tuple[str, str], deque[int]] = defaultdict(deque)
        self._sorted_amounts: dict[tuple[str, str], list[int]] = defaultdict(list)

    def attempt(self, card_token: str, at: datetime) -> None:
        self._attempts[card_token].append(at)

    def decline(self, store_id: str, lane_id: str, at: datetime) -> None:
        if lane_id:
            self._declines[(store_id, lane_id)].append(at)

    def capture(self, store_id: str, currency: str, amount_minor: int) -> None:
        key = (store_id, currency)
        recent, ordered = self._amounts[key], self._sorted_amounts[key]
        recent.append(amount_minor)
        insort(ordered, amount_minor)
        if len(recent) > self.policy.amount_history:
            ordered.remove(recent.popleft())

    def attempts_since(self, card_token: str, since: datetime) -> int:
        times = self._attempts.get(card_token)
        if not times:
            return 0
        while times and times[0] < since:
            times.popleft()  # out of every window from now on (time moves forward)
        if not times:
            del self._attempts[card_token]
        return sum(1 for t in times if t >= since)

    def declines_since(self, store_id: str, lane_id: str, since: datetime) -> int:
        times = self._declines.get((store_id, lane_id))
        if not times:
            return 0
        while times and times[0] < since:
            times.popleft()
        return sum(1 for t in times if t >= since)

    def median(self, store_id: str, currency: str) -> tuple[int, int]:
        """(median of the recent captured amounts, how many there are); (0, 0) if none."""
        ordered = self._sorted_amounts.get((store_id, currency))
        if not ordered:
            return 0, 0
        return ordered[(len(ordered) - 1) // 2], len(ordered)


def evaluate(policy: RiskPolicy, window: RiskWindow, request: RiskRequest) -> list[RiskFinding]:
    """Every rule the request trips, in RULES order (the request itself is not yet in the
    window: it counts as one more attempt)."""
    findings: list[RiskFinding] = []

    def fire(rule: str, reason: str) -> None:
        findings.append(RiskFinding(rule, policy.action(rule), reason))

    if request.unreferenced_refund:
        if request.amount_minor > policy.unreferenced_refund_threshold_minor:
            fire(UNREFERENCED_REFUND,
                 f"unreferenced refund of {request.amount_minor} above the threshold of "
                 f"{policy.unreferenced_refund_threshold_minor}")
        return findings

    attempts = window.attempts_since(request.card_token,
                                     request.at - policy.velocity_window) + 1
    if attempts > policy.velocity_max_attempts:
        minutes = int(policy.velocity_window.total_seconds() // 60)
        fire(VELOCITY, f"{attempts} attempts with one card in {minutes} minutes (more than "
                       f"{policy.velocity_max_attempts})")

    cap = policy.amount_cap_minor.get(request.currency)
    median, samples = window.median(request.store_id, request.currency)
    if cap is not None and request.amount_minor > cap:
        fire(AMOUNT, f"amount {request.amount_minor} above the {request.currency} cap of {cap}")
    elif samples >= policy.amount_min_samples and \
            request.amount_minor > policy.amount_median_multiple * median:
        fire(AMOUNT, f"amount {request.amount_minor} above {policy.amount_median_multiple} "
                     f"times the store's median of {median}")

    if request.lane_id:
        declines = window.declines_since(request.store_id, request.lane_id,
                                         request.at - policy.lane_window)
        if declines >= policy.lane_max_declines:
            fire(LANE_DECLINES, f"{declines} declines on lane {request.lane_id} in the last "
                                f"{int(policy.lane_window.total_seconds() // 60)} minutes")
    return findings
