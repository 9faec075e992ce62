import json

import pytest

from shared.contracts import ContractViolation
from shared.messaging.envelope import Envelope, InvalidMessage


def test_envelope_round_trips_with_its_ids() -> None:
    cause = Envelope.new("wallet.authorize_credit",
                         {"order_id": "ord_1", "customer_id": "cus_1", "amount": 100, "currency": "EUR"},
                         correlation_id="ord_1")
    effect = Envelope.new("wallet.credit_authorized", {"order_id": "ord_1", "customer_id": "cus_1"}, caused_by=cause)
    parsed = Envelope.from_json(effect.to_json())
    assert parsed == effect
    assert parsed.correlation_id == "ord_1" and parsed.causation_id == cause.message_id


def test_a_payload_that_breaks_its_contract_is_refused_at_the_source() -> None:
    with pytest.raises(ContractViolation):
        Envelope.new("wallet.credit_authorized", {"order_id": "ord_1"})
    with pytest.raises(ContractViolation):
        Envelope.new("wallet.authorize_credit",
                     {"order_id": "o", "customer_id": "c", "amount": 1.5, "currency": "EUR"})


@pytest.mark.parametrize("body", [b"not json", b"{}", json.dumps({"type": "nope", "payload": {}}).encode(),
                                  json.dumps({"type": "receipt.sent", "message_id": "x", "occurred_at": "now",
                                              "payload": {}}).encode()])
def test_unreadable_messages_are_recognised(body: bytes) -> None:
    with pytest.raises(InvalidMessage):
        Envelope.from_json(body)
