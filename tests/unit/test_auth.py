"""Access tokens: what the order API accepts as a customer's identity, cached or not."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.order.auth import VerifiedTokens, issue_token

ISSUED = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SECRET = "a secret long enough for HS256 tokens, 32+ bytes"


class Clock:
    def __init__(self) -> None:
        self.now = ISSUED.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_token_names_its_customer_until_it_expires_even_once_remembered(clock: Clock) -> None:
    tokens = VerifiedTokens(SECRET, clock=clock)
    token = issue_token("cus_1", SECRET, 60, ISSUED)
    assert tokens.customer(token) == "cus_1"
    clock.now += 59
    assert tokens.customer(token) == "cus_1"
    clock.now += 1
    assert tokens.customer(token) is None


@pytest.mark.parametrize("forge", [
    lambda t: issue_token("cus_1", "another secret, just as long as ours is", 60, ISSUED),
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
    lambda t: "not a token",
    lambda t: "",
])
def test_a_forged_or_damaged_token_names_nobody_and_is_not_remembered(clock: Clock, forge: object) -> None:
    tokens = VerifiedTokens(SECRET, clock=clock)
    genuine = issue_token("cus_1", SECRET, 60, ISSUED)
    bad = forge(genuine)  # type: ignore[operator]
    assert tokens.customer(bad) is None
    assert tokens.customer(bad) is None
    assert tokens.customer(genuine) == "cus_1"


def test_an_expired_token_is_refused_on_first_sight(clock: Clock) -> None:
    clock.now += 3600
    assert VerifiedTokens(SECRET, clock=clock).customer(issue_token("cus_1", SECRET, 60, ISSUED)) is None


def test_the_cache_stays_bounded_and_forgetting_costs_only_a_new_check(clock: Clock) -> None:
    tokens = VerifiedTokens(SECRET, size=2, clock=clock)
    issued = [issue_token(f"cus_{i}", SECRET, 60, ISSUED) for i in range(5)]
    assert [tokens.customer(t) for t in issued] == [f"cus_{i}" for i in range(5)]
    assert len(tokens._known) == 2
    assert tokens.customer(issued[0]) == "cus_0"
