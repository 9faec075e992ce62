"""The gateway's pages as a customer sees them, in a real Chromium: in their language, with
Chinese drawn as characters (a CJK font is there), errors by the fields, and the result."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.browser import draws_as_characters, pay_by_card
from tests.e2e.frontend import DECLINED, Frontend

SCREENSHOTS = Path("var/screenshots")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    opened = browser.new_page(viewport={"width": 520, "height": 900})
    yield opened
    opened.close()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_a_chinese_speaking_customer_pays_on_pages_in_chinese(frontend: Frontend, page: Page) -> None:
    who = frontend.register("CN")
    order = frontend.top_up(who, 20000, method="alipay")
    page.goto(order["next_action"]["url"])
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("h1").inner_text() == "使用支付宝付款"
    assert page.locator(".amount").inner_text() == "¥200.00"
    assert draws_as_characters(page, "付", "款"), "Chinese would show as boxes: install fonts-noto-cjk"
    assert not draws_as_characters(page, "\ue000", "\ue001"), "the check tells boxes apart from characters"
    shot(page, "alipay-zh-CN")
    page.click("button[value=approve]")
    page.wait_for_url("**/return")  # the payment service's page: the payment settled as the customer came back
    assert page.locator("h1").inner_text() == "已收到付款" and page.locator(".amount").inner_text() == "¥200.00"
    shot(page, "alipay-returned-zh-CN")
    frontend.wait_status(who, order["order_id"], "completed", timeout=20)


def test_the_card_page_shows_errors_and_the_decline_in_the_customers_words(frontend: Frontend, page: Page) -> None:
    who = frontend.register("CN")
    order = frontend.top_up(who, 10000)
    page.goto(order["next_action"]["url"])
    page.fill("#card_number", "4242 4242 4242 4241")
    page.fill("#exp_month", "13")
    page.click("button[type=submit]")
    errors = page.locator(".error").all_inner_texts()
    assert "卡号无效，请检查后重新输入。" in errors and "请输入 1 至 12 之间的有效期月份。" in errors
    assert page.locator("#exp_month").input_value() == "13", "what was typed stays, but never the number"
    assert page.locator("#card_number").input_value() == ""
    shot(page, "card-errors-zh-CN")
    pay_by_card(page, DECLINED)
    page.wait_for_url(order["next_action"]["url"])  # by way of the payment service's return
    assert page.locator(".declined .error").inner_text() == "您的银行卡被发卡行拒绝。"
    assert page.locator(".declined").inner_text().endswith("请重试：第 2 次，共 3 次机会。")
    shot(page, "card-declined-zh-CN")
    now = frontend.order(who, order["order_id"])
    assert now["status"] == "awaiting_payment" and now["timeline"][-1]["event"] == "payment_attempt_failed"
    pay_by_card(page, "4242 4242 4242 4242")
    page.wait_for_url("**/return")
    assert page.locator("h1").inner_text() == "已收到付款"
    shot(page, "card-returned-zh-CN")
    frontend.wait_status(who, order["order_id"], "completed", timeout=20)


def test_an_english_speaking_customer_reads_english(frontend: Frontend, page: Page) -> None:
    who = frontend.register("DE")
    order = frontend.top_up(who, 5000)
    page.goto(order["next_action"]["url"])
    assert page.locator("h1").inner_text() == "Pay by card" and page.locator(".amount").inner_text() == "€50.00"
    pay_by_card(page, "4242 4242 4242 4242")
    page.wait_for_url("**/return")
    assert page.locator("h1").inner_text() == "Payment received"
    shot(page, "card-returned-en")
    frontend.wait_status(who, order["order_id"], "completed")
