import json
import random
import re

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


# -- whatever a received body holds, the answer is an envelope or InvalidMessage -------------
def credit_json(**changes: object) -> dict[str, object]:
    data: dict[str, object] = json.loads(Envelope.new("wallet.credit", {
        "order_id": "ord_1", "customer_id": "cus_1", "amount": 100, "charge_amount": 100, "currency": "EUR",
        "validity_days": 365}).to_json())
    data.update(changes)
    return data


def with_payload(**changes: object) -> bytes:
    data = credit_json()
    data["payload"] = {**data["payload"], **changes}  # type: ignore[dict-item]
    return json.dumps(data, separators=(",", ":")).encode()


DEEP = 200_000
ODD_BODIES = {
    "nested 200,000 deep": (b'{"payload":' + b"[" * DEEP + b"]" * DEEP + b"}", "nests deeper than 32 levels"),
    "an array 200,000 deep": (b"[" * DEEP, "nests deeper than 32 levels"),
    "nested 33 deep, parseable": (with_payload(note=json.loads("[" * 33 + "]" * 33)), "nests deeper than 32"),
    "not UTF-8": (b'{"type": "wallet.credit\xff"}', "not UTF-8"),
    "UTF-16": (json.dumps(credit_json()).encode("utf-16"), "not UTF-8"),
    "a UTF-8 byte order mark": (b"\xef\xbb\xbf" + with_payload(), "not JSON"),
    "empty": (b"", "not JSON"),
    "an integer beyond 64 bits": (with_payload(amount=2**63), "beyond 64 bits"),
    "an integer of 5,000 digits": (with_payload().replace(b'"amount":100', b'"amount":' + b"9" * 5000),
                                   "beyond 64 bits"),
    "a float beyond a float": (with_payload().replace(b'"amount":100', b'"amount":1e999'), "too large for a float"),
    "NaN": (with_payload().replace(b'"amount":100', b'"amount":NaN'), "NaN is not a JSON number"),
    "-Infinity": (with_payload().replace(b'"amount":100', b'"amount":-Infinity'), "-Infinity is not a JSON number"),
    "a NUL in a string": (with_payload(customer_id="cus_\x00"), "NUL"),
    "an array": (b"[1, 2]", "a JSON array, not an object"),
    "a string": (b'"wallet.credit"', "a JSON string, not an object"),
    "a number": (b"42", "a JSON number, not an object"),
    "true": (b"true", "a JSON boolean, not an object"),
    "null": (b"null", "a JSON null, not an object"),
    "no type": (json.dumps({"payload": {}}).encode(), "type is missing"),
    "a list for its type": (json.dumps(credit_json(type=["wallet.credit"])).encode(), "type is not text"),
    "a number for its message_id": (json.dumps(credit_json(message_id=5)).encode(), "message_id is not text"),
    "a message_id that is no UUID": (json.dumps(credit_json(message_id="abc")).encode(), "not a UUID"),
    "a table for its correlation_id": (json.dumps(credit_json(correlation_id={})).encode(), "correlation_id"),
    "no payload": (json.dumps({k: v for k, v in credit_json().items() if k != "payload"}).encode(), "no payload"),
    "an array for its payload": (json.dumps(credit_json(payload=[])).encode(), "Invalid input type"),
    "an unknown type": (json.dumps(credit_json(type="wallet.teleport")).encode(), "unknown message type"),
    "a date that is none": (json.dumps(credit_json(occurred_at="yesterday")).encode(), "yesterday"),
}


@pytest.mark.parametrize(("body", "reason"), ODD_BODIES.values(), ids=ODD_BODIES.keys())
def test_an_odd_body_is_refused_with_its_reason_and_nothing_else(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidMessage, match=re.escape(reason)):
        Envelope.from_json(body)


def test_brackets_in_text_are_not_nesting_and_a_str_body_reads_like_bytes() -> None:
    body = with_payload(customer_id="[{" * 30)
    assert Envelope.from_json(body).payload["customer_id"] == "[{" * 30
    assert Envelope.from_json(body.decode()) == Envelope.from_json(body)


def test_no_mangling_of_a_valid_envelope_raises_anything_but_invalid_message() -> None:
    """A few thousand seeded mutations of a valid envelope: cut, bytes replaced, values swapped
    for odd JSON. Each one reads, or is refused with InvalidMessage."""
    rng = random.Random(8)
    valid = with_payload()
    odd = [b"[", b"]", b"{", b"}", b'"', b"\\", b"\xff", b"\x00", b"NaN", b"1e999", b"9" * 30, b"null", b"[]",
           b"{}", b"-", b".", b"\\ud800", b"\xc3", b"true"]
    for _ in range(3000):
        body = bytearray(valid)
        for _ in range(rng.randint(1, 3)):
            if not body:
                break
            at = rng.randrange(len(body))
            if rng.random() < 0.2:
                del body[at:]
            else:
                body[at:at + rng.randint(0, 4)] = rng.choice(odd)
        try:
            Envelope.from_json(bytes(body))
        except InvalidMessage:
            pass
