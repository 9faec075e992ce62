"""Receipt, reversal and balance emails: what the customer reads, in both parts of the email
and in their language (English and Simplified Chinese)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.notify.domain.balance import ExpiredCredit, ExpiringCredit, LowBalance
from services.notify.domain.layout import RenderedEmail
from services.notify.domain.receipt import CompletedTopUp, Merchant, Receipt, method_label, receipt_number
from services.notify.domain.reversal import ReversedTopUp, reason_in_words
from shared.money import Money

ISSUED = datetime(2026, 3, 14, 9, 26, tzinfo=UTC)
MERCHANT = Merchant("Wanderlink eSIM GmbH", "Torstraße 1, 10119 Berlin", "DE123456789")


def completed(**changes: Any) -> dict[str, Any]:
    payload = {
        "order_id": "ord_7f3a", "customer_id": "cus_1", "email": "ana@example.com",
        "credit_amount": 5000, "charge_amount": 5000, "currency": "EUR", "method": "card",
        "card_brand": "visa", "card_last4": "4242", "completed_at": ISSUED, "balance_after": 7250,
        "language": "en", "time_zone": "Europe/Berlin", "promotion": None, "promotion_name": None,
        "valid_until": datetime(2027, 3, 14, 9, 26, tzinfo=UTC),
    }
    return {**payload, **changes}


def reversed_(**changes: Any) -> dict[str, Any]:
    payload = {
        "order_id": "ord_9c1d", "customer_id": "cus_1", "email": "ana@example.com",
        "charge_amount": 1999, "currency": "USD", "method": "paypal", "reason": "account_frozen",
        "reversed_at": datetime(2026, 3, 14, 10, 0, tzinfo=UTC), "time_zone": "America/New_York",
    }
    return {**payload, **changes}


def receipt(language: str = "en", merchant: Merchant = MERCHANT, **changes: Any) -> RenderedEmail:
    return Receipt("R-2026-000123", ISSUED, CompletedTopUp.from_payload(completed(**changes)), merchant
                   ).email().render(language)


def both_parts(email: RenderedEmail) -> list[str]:
    return [plain(email.text_body), plain(email.html_body)]


def plain(text: str) -> str:
    """CLDR puts a narrow no-break space before AM/PM; these tests write a plain one."""
    return text.replace("\u202f", " ")


def test_receipt_shows_every_field_the_customer_confirmed_in_both_parts() -> None:
    email = receipt()
    assert email.subject == "Your top-up receipt R-2026-000123"
    for body in both_parts(email):
        for fact in ("R-2026-000123", "ord_7f3a", "Amount credited", "€50.00", "Amount charged",
                     "Card (Visa) ending 4242", "New balance", "€72.50", "Credit valid until", "March 14, 2027"):
            assert fact in body, fact
        assert "Promotion" not in body


def test_receipt_is_dated_in_the_customers_time_zone_and_says_which() -> None:
    assert "March 14, 2026, 10:26:00 AM Central European Standard Time" in plain(receipt().text_body)
    assert "2026年3月14日 中国标准时间 17:26:00" in receipt("zh-CN", time_zone="Asia/Shanghai").text_body


def test_receipt_names_the_merchant_for_expense_reports() -> None:
    text = receipt().text_body
    assert "Merchant: Wanderlink eSIM GmbH" in text
    assert "Address: Torstraße 1, 10119 Berlin" in text and "Tax ID: DE123456789" in text
    bare = receipt(merchant=Merchant("topup")).text_body
    assert "Merchant: topup" in bare and "Tax ID" not in bare and "Address" not in bare


def test_receipt_shows_the_promotion_by_name_and_its_discount() -> None:
    email = receipt(credit_amount=11000, charge_amount=10000, promotion="SPEND100GET10",
                    promotion_name="Spend €100.00, get €10.00 off")
    for body in both_parts(email):
        assert "€110.00" in body and "€100.00" in body
        assert "Spend €100.00, get €10.00 off" in body and "-€10.00" in body


def test_a_zh_cn_receipt_is_written_in_chinese_with_chinese_amounts_and_dates() -> None:
    email = receipt("zh-CN", currency="CNY", credit_amount=50000, charge_amount=45000, balance_after=50000,
                    method="alipay", card_brand=None, card_last4=None, time_zone="Asia/Shanghai",
                    promotion="SPEND100GET10", promotion_name="满¥500.00减¥50.00")
    assert email.subject == "您的充值收据 R-2026-000123"
    assert email.language == "zh-CN" and '<html lang="zh-CN">' in email.html_body
    text = email.text_body
    for fact in ("感谢您的充值。", "收据编号：R-2026-000123", "到账金额：¥500.00", "优惠活动：满¥500.00减¥50.00",
                 "优惠金额：-¥50.00", "实付金额：¥450.00", "支付方式：支付宝", "余额有效期至：2027年3月14日",
                 "商户：Wanderlink eSIM GmbH"):
        assert fact in text, fact
    assert "Receipt" not in text and "Amount" not in text, "no English left in a Chinese receipt"


def test_the_receipts_lines_add_up_to_what_was_charged() -> None:
    topup = CompletedTopUp.from_payload(completed(credit_amount=11000, charge_amount=10000, promotion="X",
                                                  promotion_name="Spend €100.00, get €10.00 off"))
    document = Receipt("R-2026-000001", ISSUED, topup, MERCHANT).document("en", "cus_1")
    assert sum(line["amount"] for line in document["lines"]) == document["total_charged"] == 10000
    assert document["lines"][0] == {"description": "Balance top-up", "amount": 11000}
    assert document["merchant"]["tax_id"] == "DE123456789"
    assert Receipt("R-2026-000001", ISSUED, topup, MERCHANT).document("zh-CN", "cus_1")["lines"][0][
        "description"] == "余额充值"


def test_receipt_numbers_name_their_year_and_their_place_in_it() -> None:
    assert receipt_number(2026, 123) == "R-2026-000123"
    assert receipt_number(2027, 1_234_567) == "R-2027-1234567"


def test_currencies_without_minor_units_are_formatted_as_such() -> None:
    email = receipt(currency="JPY", credit_amount=5000, charge_amount=5000, balance_after=12000)
    assert "¥5,000" in email.text_body and "¥12,000" in email.text_body and "¥5,000.00" not in email.text_body


def test_html_part_escapes_what_other_services_sent() -> None:
    email = receipt(order_id="ord_<b>&", card_brand="<script>alert(1)</script>")
    assert "<script>" not in email.html_body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html_body
    assert "ord_&lt;b&gt;&amp;" in email.html_body
    assert "ord_<b>&" in email.text_body, "the text part is not HTML"


def test_subject_stays_one_line() -> None:
    email = Receipt("R-1\r\nBcc: x@example.com", ISSUED, CompletedTopUp.from_payload(completed()), MERCHANT
                    ).email().render("en")
    assert email.subject == "Your top-up receipt R-1 Bcc: x@example.com"


@pytest.mark.parametrize(("method", "brand", "last4", "english", "chinese"), [
    ("card", "visa", "4242", "Card (Visa) ending 4242", "银行卡（Visa）尾号 4242"),
    ("card", "mastercard", None, "Card (Mastercard)", "银行卡（Mastercard）"),
    ("card", "unionpay", "1234", "Card (UnionPay) ending 1234", "银行卡（银联）尾号 1234"),
    ("card", None, "0005", "Card ending 0005", "银行卡 尾号 0005"),
    ("card", None, None, "Card", "银行卡"),
    ("card", "visa", "4242424242424242", "Card (Visa)", "银行卡（Visa）"),
    ("paypal", None, None, "PayPal", "PayPal"),
    ("alipay", None, None, "Alipay", "支付宝"),
    ("wechat_pay", None, None, "WeChat Pay", "微信支付"),
    ("paypal", "visa", "4242", "PayPal", "PayPal"),
])
def test_payment_method_labels(method: str, brand: str | None, last4: str | None, english: str,
                               chinese: str) -> None:
    label = method_label(method, brand, last4)
    assert str(label) == english
    assert getattr(label, "render", lambda _: label)("zh-CN") == chinese


def test_reversal_notice_says_the_money_went_back_and_why() -> None:
    email = ReversedTopUp.from_payload(reversed_()).email().render("en")
    assert email.subject == "Your top-up was reversed (ord_9c1d)"
    for body in both_parts(email):
        assert "ord_9c1d" in body
        assert "$19.99" in body
        assert "returned to your original payment method (PayPal)" in body
        assert "because your account is frozen" in body
        assert "March 14, 2026, 6:00:00 AM Eastern Daylight Time" in body
        assert "account_frozen" not in body


def test_a_reversal_notice_in_chinese() -> None:
    email = ReversedTopUp.from_payload(reversed_(currency="CNY", charge_amount=45000, method="wechat_pay",
                                                 time_zone="Asia/Shanghai")).email().render("zh-CN")
    assert email.subject == "您的充值已撤销（ord_9c1d）"
    assert "由于您的账户已被冻结，您的充值未能存入余额。" in email.text_body
    assert "您支付的 ¥450.00 已原路退回至您的付款方式（微信支付）" in email.text_body


@pytest.mark.parametrize(("code", "words"), [
    ("account_frozen", "your account is frozen"),
    ("balance_cap_exceeded", "the balance would exceed its limit"),
    ("something_new", "we could not add it to your balance"),
])
def test_reasons_are_told_in_words(code: str, words: str) -> None:
    assert str(reason_in_words(code)) == words
    email = ReversedTopUp.from_payload(reversed_(reason=code)).email().render("en")
    assert f"because {words}." in email.text_body


def test_a_low_balance_reminder_says_how_low_and_how_to_top_up() -> None:
    email = LowBalance(Money(300, "EUR"), Money(500, "EUR"), "https://esim.example/top-up").email().render("en")
    assert email.subject == "Your balance is running low: €3.00"
    assert "below the €5.00 you asked us to watch for" in email.text_body
    assert "https://esim.example/top-up" in email.text_body
    hint = LowBalance(Money(3000, "CNY"), Money(4000, "CNY")).email().render("zh-CN")
    assert hint.subject == "余额不足提醒：当前余额 ¥30.00"
    assert "打开 App" in hint.text_body and "关闭提醒" in hint.text_body


def test_expiry_emails_say_what_expires_when() -> None:
    moment = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
    soon = ExpiringCredit(Money(2000, "EUR"), moment, "Europe/Berlin", "ord_1").email().render("en")
    assert soon.subject == "€20.00 of your balance expires on December 1, 2026"
    assert "ord_1" in soon.text_body
    gone = ExpiredCredit(Money(2000, "CNY"), moment, Money(0, "CNY"), "Asia/Shanghai").email().render("zh-CN")
    assert gone.subject == "您有 ¥20.00 余额已过期"
    assert "2026年12月2日 中国标准时间 00:00:00" in gone.text_body and "最新余额：¥0.00" in gone.text_body
