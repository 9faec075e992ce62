"""Receipt and reversal emails: what the customer reads, in both parts of the email."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from services.notify.domain.layout import RenderedEmail
from services.notify.domain.receipt import CompletedTopUp, method_label, render_receipt
from services.notify.domain.reversal import ReversedTopUp, reason_in_words, render_reversal_notice


def completed(**changes: Any) -> dict[str, Any]:
    payload = {
        "order_id": "ord_7f3a", "customer_id": "cus_1", "email": "ana@example.com",
        "credit_amount": 5000, "charge_amount": 5000, "currency": "EUR", "method": "card",
        "card_brand": "visa", "card_last4": "4242",
        "completed_at": datetime(2026, 3, 14, 9, 26, tzinfo=UTC), "balance_after": 7250,
    }
    return {**payload, **changes}


def reversed_(**changes: Any) -> dict[str, Any]:
    payload = {
        "order_id": "ord_9c1d", "customer_id": "cus_1", "email": "ana@example.com",
        "charge_amount": 1999, "currency": "USD", "method": "paypal", "reason": "account_frozen",
        "reversed_at": datetime(2026, 3, 14, 10, 0, tzinfo=UTC),
    }
    return {**payload, **changes}


def receipt(**changes: Any) -> RenderedEmail:
    return render_receipt(CompletedTopUp.from_payload(completed(**changes)))


def both_parts(email: RenderedEmail) -> list[str]:
    return [email.text_body, email.html_body]


def test_receipt_shows_every_field_the_customer_confirmed_in_both_parts() -> None:
    email = receipt()
    assert email.subject == "Your top-up receipt (ord_7f3a)"
    for body in both_parts(email):
        assert "ord_7f3a" in body
        assert "Amount credited" in body and "50.00 EUR" in body
        assert "Amount charged" in body
        assert "Card (Visa) ending 4242" in body
        assert "14 Mar 2026, 09:26 UTC" in body
        assert "New balance" in body and "72.50 EUR" in body
        assert "Promotion" not in body


def test_receipt_shows_the_promotion_discount_when_the_charge_is_smaller() -> None:
    email = receipt(credit_amount=11000, charge_amount=10000)
    for body in both_parts(email):
        assert "110.00 EUR" in body and "100.00 EUR" in body
        assert "Promotion discount" in body and "10.00 EUR" in body


def test_receipt_date_is_given_in_utc_whatever_zone_it_arrived_in() -> None:
    bangkok = timezone(timedelta(hours=7))
    email = receipt(completed_at=datetime(2026, 3, 14, 16, 26, tzinfo=bangkok))
    assert "14 Mar 2026, 09:26 UTC" in email.text_body


def test_currencies_without_minor_units_are_formatted_as_such() -> None:
    email = receipt(currency="JPY", credit_amount=5000, charge_amount=5000, balance_after=12000)
    assert "5000 JPY" in email.text_body and "12000 JPY" in email.text_body


def test_html_part_escapes_what_other_services_sent() -> None:
    email = receipt(order_id="ord_<b>&", card_brand="<script>alert(1)</script>")
    assert "<script>" not in email.html_body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html_body
    assert "ord_&lt;b&gt;&amp;" in email.html_body
    assert "ord_<b>&" in email.text_body, "the text part is not HTML"


def test_subject_stays_one_line() -> None:
    assert receipt(order_id="ord_1\r\nBcc: x@example.com").subject == "Your top-up receipt (ord_1 Bcc: x@example.com)"


@pytest.mark.parametrize(("method", "brand", "last4", "label"), [
    ("card", "visa", "4242", "Card (Visa) ending 4242"),
    ("card", "mastercard", None, "Card (Mastercard)"),
    ("card", None, "0005", "Card ending 0005"),
    ("card", None, None, "Card"),
    ("card", "visa", "4242424242424242", "Card (Visa)"),
    ("paypal", None, None, "PayPal"),
    ("alipay", None, None, "Alipay"),
    ("wechat_pay", None, None, "WeChat Pay"),
    ("paypal", "visa", "4242", "PayPal"),
])
def test_payment_method_labels(method: str, brand: str | None, last4: str | None, label: str) -> None:
    assert method_label(method, brand, last4) == label


def test_reversal_notice_says_the_money_went_back_and_why() -> None:
    email = render_reversal_notice(ReversedTopUp.from_payload(reversed_()))
    assert email.subject == "Your top-up was reversed (ord_9c1d)"
    for body in both_parts(email):
        assert "ord_9c1d" in body
        assert "reversed" in body
        assert "19.99 USD" in body
        assert "returned to your original payment method (PayPal)" in body
        assert "because your account is frozen" in body
        assert "14 Mar 2026, 10:00 UTC" in body
        assert "account_frozen" not in body


@pytest.mark.parametrize(("code", "words"), [
    ("account_frozen", "your account is frozen"),
    ("balance_cap_exceeded", "the balance would exceed its limit"),
    ("something_new", "we could not add it to your balance"),
])
def test_reasons_are_told_in_words(code: str, words: str) -> None:
    assert reason_in_words(code) == words
    email = render_reversal_notice(ReversedTopUp.from_payload(reversed_(reason=code)))
    assert f"because {words}." in email.text_body
