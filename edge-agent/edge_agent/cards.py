"""Test cards for simulated lanes: Luhn-valid numbers made in memory, never written anywhere."""

from __future__ import annotations

import random

#: Last four digits that the acquirer stand-in answers with a decline code.
DECLINE_ENDINGS = {"51": "0051", "05": "0005", "91": "0091"}
#: Endings an approving card avoids as well: the acquirer simulator never answers ...0099
#: (the payment ends reversed) and wants a PIN for ...0055.
NOT_APPROVED_ENDINGS = {*DECLINE_ENDINGS.values(), "0099", "0055"}


def luhn_valid(pan: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(pan)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def test_card(rng: random.Random, outcome: str = "approve") -> tuple[str, str]:
    """(pan, expiry MM/YY) that the acquirer stand-in approves, or declines with `outcome`."""
    bin_ = rng.choice(["411111", "555555", "400000"])
    ending = DECLINE_ENDINGS.get(outcome)
    while True:
        if ending:
            prefix = bin_ + "".join(str(rng.randrange(10)) for _ in range(5))
            for digit in "0123456789":
                pan = prefix + digit + ending
                if luhn_valid(pan):
                    return pan, "12/30"
        else:
            body = bin_ + "".join(str(rng.randrange(10)) for _ in range(9))
            for digit in "0123456789":
                pan = body + digit
                if luhn_valid(pan) and pan[-4:] not in NOT_APPROVED_ENDINGS:
                    return pan, "12/30"


test_card.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
