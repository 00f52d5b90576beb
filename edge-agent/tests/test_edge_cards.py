"""Simulated lanes' test cards: Luhn-valid, with the endings the acquirer stand-in reads."""

import random

import pytest

from edge_agent.cards import DECLINE_ENDINGS, luhn_valid, test_card


@pytest.mark.parametrize("outcome", ["approve", "51", "05", "91"])
def test_cards_are_luhn_valid_with_the_right_ending(outcome: str) -> None:
    rng = random.Random(outcome)
    for _ in range(50):
        pan, expiry = test_card(rng, outcome)
        assert len(pan) == 16 and luhn_valid(pan)
        assert expiry == "12/30"
        if outcome == "approve":
            assert pan[-4:] not in DECLINE_ENDINGS.values()
        else:
            assert pan.endswith(DECLINE_ENDINGS[outcome])


def test_luhn_rejects_a_changed_digit() -> None:
    pan, _ = test_card(random.Random(1))
    broken = pan[:-1] + str((int(pan[-1]) + 1) % 10)
    assert not luhn_valid(broken)
