"""The saga's commands are built from the order; the customer is read only for those that
address them (their words, their email)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from services.order.commands import ADDRESSED, BUILDERS
from services.order.domain.saga import Action

ORDER = SimpleNamespace(
    id="ord_1", customer_id="cus_1", credit_minor=10000, charge_minor=9000, currency="EUR", method="card",
    payment_id="pay_1", failure_reason=None, valid_until=datetime(2027, 1, 1, tzinfo=UTC), validity_days=365,
    return_url=None, card_brand="visa", card_last4="4242", balance_after_minor=10000, promotion=None,
    promotion_names=None)
CUSTOMER = SimpleNamespace(email="ana@example.com", language="zh-CN", country="CN")


@pytest.mark.parametrize("action", sorted(set(Action) - ADDRESSED))
def test_a_command_that_says_nothing_of_the_customer_needs_no_customer(action: Action) -> None:
    message_type, payload = BUILDERS[action](ORDER, None)
    assert payload["order_id"] == "ord_1" and message_type


@pytest.mark.parametrize("action", sorted(ADDRESSED))
def test_a_command_addressed_to_the_customer_carries_their_words(action: Action) -> None:
    _type, payload = BUILDERS[action](ORDER, CUSTOMER)
    assert payload["language"] == "zh-CN"
