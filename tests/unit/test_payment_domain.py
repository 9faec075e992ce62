"""The payment domain without I/O: the lifecycle table, card checks, webhook signatures."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta

import pytest

from services.payment.domain import signature
from services.payment.domain.cards import (
    card_brand,
    last_four,
    luhn_valid,
    validate_card,
)
from services.payment.domain.errors import InvalidAmount, InvalidCardDetails, InvalidSignature
from services.payment.domain.payment import (
    TRANSITIONS,
    Payment,
    PaymentEvent,
    PaymentStatus,
    failure_reason,
    next_status,
    refund_waits_for_capture,
)
from shared.money import Money

S, E = PaymentStatus, PaymentEvent
TODAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SECRET = "whsec_test"
FULLWIDTH_4242 = "\uff14\uff12\uff14\uff12"  # digits to str.isdigit(), not to a card form
BODY = b'{"id":"evt_1","type":"payment.succeeded"}'


# -- the lifecycle ---------------------------------------------------------------------
@pytest.mark.parametrize(("status", "event", "after"), [
    (S.CREATED, E.CAPTURE, S.CAPTURED),
    (S.CREATED, E.FAIL, S.FAILED),
    (S.CREATED, E.CANCEL, S.CANCELLED),
    (S.CAPTURED, E.REFUND, S.REFUNDED),
    (S.CANCELLED, E.CAPTURE, S.CAPTURED),  # a capture that lost the race with a cancel: money taken
    (S.FAILED, E.CAPTURE, S.CAPTURED),  # a decline followed by a successful retry
])
def test_the_allowed_transitions(status: PaymentStatus, event: PaymentEvent, after: PaymentStatus) -> None:
    assert next_status(status, event) is after


def test_only_those_transitions_exist() -> None:
    assert len(TRANSITIONS) == 6
    allowed = set(TRANSITIONS)
    for status in PaymentStatus:
        for event in PaymentEvent:
            if (status, event) not in allowed:
                assert next_status(status, event) is None, (status, event)


@pytest.mark.parametrize("status", [S.CREATED, S.CANCELLED, S.FAILED])
def test_a_refund_notice_before_any_capture_waits_for_the_capture(status: PaymentStatus) -> None:
    assert next_status(status, E.REFUND) is None  # not applied now...
    assert refund_waits_for_capture(status, E.REFUND)  # ...but not dropped either
    assert next_status(status, E.CAPTURE) is S.CAPTURED and next_status(S.CAPTURED, E.REFUND) is S.REFUNDED


@pytest.mark.parametrize(("status", "event"), [
    (S.CAPTURED, E.REFUND), (S.REFUNDED, E.REFUND), (S.CREATED, E.CAPTURE), (S.CREATED, E.FAIL),
])
def test_nothing_else_waits(status: PaymentStatus, event: PaymentEvent) -> None:
    assert not refund_waits_for_capture(status, event)


@pytest.mark.parametrize(("status", "event"), [
    (S.CAPTURED, E.CAPTURE),  # the same webhook twice
    (S.FAILED, E.FAIL),
    (S.REFUNDED, E.REFUND),  # the gateway's refund notice after we refunded ourselves
    (S.CREATED, E.REFUND),  # refund before capture: nothing to give back
    (S.REFUNDED, E.CANCEL),
])
def test_duplicate_late_or_out_of_order_events_are_no_ops(status: PaymentStatus, event: PaymentEvent) -> None:
    assert next_status(status, event) is None


def test_a_payment_of_nothing_cannot_be_charged() -> None:
    payment = Payment("pay_1", "ord_1", "cus_1", Money(0, "EUR"), "card", S.CREATED)
    with pytest.raises(InvalidAmount):
        payment.check_chargeable()
    Payment("pay_1", "ord_1", "cus_1", Money(1, "EUR"), "card", S.CREATED).check_chargeable()


def test_odd_gateway_failure_codes_become_a_generic_reason() -> None:
    assert failure_reason("insufficient_funds") == "insufficient_funds"
    assert failure_reason("Do Not Honor!") == "payment_failed"
    assert failure_reason(None) == "payment_failed"
    assert failure_reason("Timeout!", generic="gateway_error") == "gateway_error"


# -- card input ------------------------------------------------------------------------
@pytest.mark.parametrize("number", ["4242424242424242", "5555555555554444", "378282246310005",
                                    "6011111111111117", "4222222222222"])
def test_luhn_accepts_valid_numbers(number: str) -> None:
    assert luhn_valid(number)


@pytest.mark.parametrize("number", ["4242424242424241", "1234567812345678", "", "42424242x4242424", FULLWIDTH_4242])
def test_luhn_rejects_invalid_numbers(number: str) -> None:
    assert not luhn_valid(number)


def test_a_valid_card_is_accepted_with_spaces_and_two_digit_year() -> None:
    card = validate_card("4242 4242 4242 4242", "12", "30", "123", TODAY)
    assert (card.number, card.exp_month, card.exp_year) == ("4242424242424242", 12, 2030)
    assert "4242424242424242" not in repr(card), "the number never shows up in logs"


def test_a_card_expiring_this_month_is_still_valid() -> None:
    assert validate_card("4242424242424242", 11, 2026, "1234", TODAY).exp_year == 2026


def errors_for(number: object = "4242424242424242", month: object = "12", year: object = "2030",
               cvc: object = "123") -> dict[str, str]:
    """The errors per field, in English (what a customer reading English sees)."""
    with pytest.raises(InvalidCardDetails) as info:
        validate_card(number, month, year, cvc, TODAY)
    return {name: str(message) for name, message in info.value.errors.items()}


@pytest.mark.parametrize("number", ["", "4242424242424241", "424242424242", "42424242424242424242",
                                    "4242abcd42424242", FULLWIDTH_4242 * 4, None])
def test_bad_card_numbers_are_refused(number: object) -> None:
    assert set(errors_for(number=number)) == {"card_number"}


def test_twelve_luhn_valid_digits_are_too_short() -> None:
    assert luhn_valid("424242424242")  # so only the length rule refuses it
    assert "13 to 19" in errors_for(number="424242424242")["card_number"]


def test_card_errors_are_told_in_the_customers_language() -> None:
    with pytest.raises(InvalidCardDetails) as info:
        validate_card("424242424242", "13", "2030", "1", TODAY)
    errors = {name: message.render("zh-CN") for name, message in info.value.errors.items()}
    assert errors == {"card_number": "卡号应为 13 至 19 位数字。", "exp_month": "请输入 1 至 12 之间的有效期月份。",
                      "cvc": "安全码（CVC）为 3 位或 4 位数字。"}


@pytest.mark.parametrize(("month", "year", "field"), [
    ("0", "2030", "exp_month"), ("13", "2030", "exp_month"), ("", "2030", "exp_month"), ("1a", "2030", "exp_month"),
    ("12", "", "exp_year"), ("12", "203", "exp_year"), ("10", "2026", "exp_year"), ("12", "25", "exp_year"),
    ("12", "2099", "exp_year"), ("\u00b9\u00b2", "2030", "exp_month"),
])
def test_bad_or_past_expiry_is_refused(month: str, year: str, field: str) -> None:
    assert set(errors_for(month=month, year=year)) == {field}


@pytest.mark.parametrize("cvc", ["", "12", "12345", "12a", None])
def test_bad_cvc_is_refused(cvc: object) -> None:
    assert set(errors_for(cvc=cvc)) == {"cvc"}


def test_every_bad_field_is_reported_at_once() -> None:
    assert set(errors_for(number="1", month="13", year="x", cvc="")) == {"card_number", "exp_month", "exp_year", "cvc"}


@pytest.mark.parametrize(("number", "brand"), [
    ("4242424242424242", "visa"), ("5555555555554444", "mastercard"), ("2223003122003222", "mastercard"),
    ("378282246310005", "amex"), ("341111111111111", "amex"), ("6011111111111117", "other"),
    ("2720990000000007", "mastercard"), ("2721000000000004", "other"),
])
def test_brand_detection(number: str, brand: str) -> None:
    assert card_brand(number) == brand


def test_last_four_and_summary() -> None:
    assert last_four("378282246310005") == "0005"
    summary = validate_card("5555 5555 5555 4444", "1", "2031", "123", TODAY).summary
    assert (summary.brand, summary.last4) == ("mastercard", "4444")


# -- webhook signatures ----------------------------------------------------------------
def header(timestamp: int, body: bytes = BODY, secret: str = SECRET) -> str:
    """Built by hand, not with the code under test, so a wrong scheme cannot agree with itself."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(value: str | None, body: bytes = BODY, now: datetime = NOW) -> int:
    return signature.verify(value, body, SECRET, now, tolerance_seconds=300)


def test_a_valid_signature_is_accepted() -> None:
    t = int(NOW.timestamp())
    assert verify(header(t)) == t
    assert signature.sign(SECRET, t, BODY) == header(t)


def test_one_matching_signature_among_several_is_enough() -> None:
    t = int(NOW.timestamp())
    rotated = header(t, secret="old-secret").split(",")[1]
    assert verify(f"{header(t)},{rotated}") == t
    assert verify(f"t={t},{rotated},{header(t).split(',')[1]}") == t


def test_a_signature_with_the_wrong_secret_is_refused() -> None:
    with pytest.raises(InvalidSignature):
        verify(header(int(NOW.timestamp()), secret="not-the-secret"))


def test_a_tampered_body_is_refused() -> None:
    with pytest.raises(InvalidSignature):
        verify(header(int(NOW.timestamp())), body=BODY.replace(b"succeeded", b"failed"))


def test_a_signature_older_than_the_tolerance_is_refused() -> None:
    old = int((NOW - timedelta(seconds=301)).timestamp())
    with pytest.raises(InvalidSignature, match="too old"):
        verify(header(old))
    assert verify(header(int((NOW - timedelta(seconds=299)).timestamp())))


def test_a_signature_from_too_far_in_the_future_is_refused() -> None:
    future = int((NOW + timedelta(seconds=301)).timestamp())
    with pytest.raises(InvalidSignature, match="future"):
        verify(header(future))
    assert verify(header(int((NOW + timedelta(seconds=30)).timestamp())))


@pytest.mark.parametrize("value", [
    None, "", "garbage", "t=abc,v1=00", "v1=deadbeef", "t=1764000000", "t=1764000000;v1=00", "t=-5,v1=00",
])
def test_missing_or_malformed_headers_are_refused(value: str | None) -> None:
    with pytest.raises(InvalidSignature):
        verify(value)
