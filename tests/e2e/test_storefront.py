"""The reference storefront (services/order/storefront/) as a customer uses it on a phone, in a
real Chromium, on both backends: registering and the balance; a card top-up whose first card
is declined, paid with the next and back with its receipt; an Alipay top-up cancelled on the
provider's page; a top-up cancelled in the storefront; the pages in Chinese, the payment page
too. Every page is saved as var/screenshots/storefront-<name>.png."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from deploy.local import LocalSystem
from tests.e2e.browser import draws_as_characters, pay_by_card

SCREENSHOTS = Path("var/screenshots")
PHONE = {"width": 390, "height": 844}
RETURNED = re.compile(r"/return\?order_id=ord_\w+$")
#: how long the saga may take to end an order, or the receipt to be issued (milliseconds)
SAGA = 20_000
APPROVED, DECLINED = "4242 4242 4242 4242", "4000 0000 0000 0002"


@pytest.fixture
def page(browser: Browser, system: LocalSystem) -> Iterator[Page]:
    """A phone-sized tab of its own (its own sessionStorage), opened on the order service."""
    context = browser.new_context(viewport=PHONE, locale="en-US", base_url=system.url("order"))
    opened = context.new_page()
    script_errors: list[str] = []
    opened.on("pageerror", lambda error: script_errors.append(str(error)))
    opened.on("console", lambda message: script_errors.append(message.text)
              if message.type == "error" and "Content Security Policy" in message.text else None)
    yield opened
    context.close()
    assert not script_errors, f"no script error, nothing the CSP refused: {script_errors}"


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"storefront-{name}.png"), full_page=True)


def register(page: Page, country: str = "DE", shots: bool = False) -> None:
    page.goto("/")
    expect(page.locator("h1")).to_have_text("Log in")
    if shots:
        shot(page, "sign-in")
    page.click("#switch")
    page.fill("#email", f"shopper-{uuid.uuid4().hex[:8]}@example.com")
    page.fill("#password", "correct horse")
    page.select_option("#country", country)
    if shots:
        shot(page, "register")
    page.click("form button[type=submit]")
    expect(page.locator("#balance")).to_be_visible()


def choose(page: Page, amount_minor: int, method: str) -> None:
    """Pick a preset amount and a method, and go on to the confirmation."""
    page.locator(f"label.tile:has(input[name=amount][value='{amount_minor}'])").click()
    page.locator(f"label.tile:has(input[name=method][value={method}])").click()
    page.click("#continue")
    expect(page.locator("#pay")).to_be_enabled()


def to_payment_page(page: Page) -> None:
    order_service = page.url.split("/", 3)[:3]
    page.click("#pay")
    page.wait_for_url(lambda url: url.split("/", 3)[:3] != order_service, timeout=SAGA)


def test_a_card_top_up_declined_once_then_paid_comes_back_completed_with_its_receipt(page: Page) -> None:
    register(page, shots=True)
    expect(page.locator("#balance")).to_have_text("€0.00")
    shot(page, "home-new")
    choose(page, 2000, "card")
    expect(page.locator("#credit_amount")).to_have_text("€20.00")
    expect(page.locator("#charge_amount")).to_have_text("€20.00")
    expect(page.locator("#method")).to_have_text("Card")
    expect(page.locator("#valid_until")).not_to_be_empty()
    shot(page, "confirm")
    to_payment_page(page)
    pay_by_card(page, DECLINED)
    expect(page.locator("[role=alert]")).to_contain_text("declined")
    shot(page, "card-declined")
    pay_by_card(page, APPROVED)
    page.wait_for_url(RETURNED, timeout=SAGA)
    status = page.locator("#status")
    expect(status).to_have_attribute("data-status", "completed", timeout=SAGA)
    expect(status).to_have_text("Top-up complete")
    expect(page.locator(".timeline li[data-event=payment_attempt_failed]")).to_contain_text(
        "Your card was declined by its issuer.")
    expect(page.locator("#receipt_number")).to_have_text(re.compile(r"^R-\d{4}-\d{6}$"), timeout=SAGA + 10_000)
    expect(page.locator("#receipt tfoot")).to_contain_text("€20.00")
    shot(page, "completed")
    page.click("a.back")
    expect(page.locator("#balance")).to_have_text("€20.00")
    expect(page.locator("#expiring")).to_contain_text("€20.00")
    expect(page.locator("#statement .entry[data-kind=topup]")).to_contain_text("+€20.00")
    expect(page.locator(".orders .status.completed")).to_have_text("Completed")
    shot(page, "home")


def test_an_alipay_top_up_cancelled_on_the_providers_page_comes_back_failed_at_once(page: Page) -> None:
    register(page, "CN")
    choose(page, 10000, "alipay")
    expect(page.locator("#method")).to_have_text("Alipay")
    to_payment_page(page)
    cancelled_at = time.monotonic()
    page.click("button[value=cancel]")
    page.wait_for_url(RETURNED, timeout=SAGA)
    expect(page.locator("#status")).to_have_attribute("data-status", "failed", timeout=5_000)
    assert time.monotonic() - cancelled_at < 5, "failed at once, not at the next query of the gateway"
    expect(page.locator("p.reason")).to_have_text("You cancelled the payment.")
    expect(page.locator("#cancel")).to_have_count(0)
    shot(page, "alipay-cancelled")


def test_a_customer_cancels_in_the_storefront_before_paying(page: Page) -> None:
    register(page)
    choose(page, 1000, "card")
    to_payment_page(page)
    page.go_back()  # changed their mind on the payment page: back to the order, not yet paid
    expect(page).to_have_url(RETURNED)
    status = page.locator("#status")
    expect(status).to_have_attribute("data-status", "awaiting_payment")
    expect(page.locator("#continue_payment")).to_be_visible()
    shot(page, "awaiting-payment")
    page.click("#cancel")
    expect(status).to_have_attribute("data-status", "cancelled")
    expect(status).to_have_text("Top-up cancelled")
    expect(page.locator("p.reason")).to_have_text("You cancelled the payment.")
    expect(page.locator("#cancel")).to_have_count(0)
    shot(page, "cancelled")
    page.click("a.back")
    expect(page.locator(".orders .status.cancelled")).to_have_text("Cancelled")
    expect(page.locator("#balance")).to_have_text("€0.00")


def test_a_customer_who_switches_to_chinese_reads_the_storefront_and_the_payment_page_in_chinese(page: Page) -> None:
    register(page, "CN")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.click("nav.languages button[lang=zh-CN]")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator(".balance h1")).to_have_text("余额")
    expect(page.locator("#balance")).to_have_text("¥0.00")
    assert draws_as_characters(page, "余", "额"), "Chinese would show as boxes: install fonts-noto-cjk"
    assert page.evaluate("async () => (await import('/storefront/i18n.js')).missingWords()") == []
    shot(page, "home-zh-CN")
    page.reload()  # the profile now says zh-CN
    expect(page.locator("#continue")).to_have_text("继续")
    page.fill("#other_amount", "1")
    page.click("#continue")
    expect(page.locator("form .alert")).to_have_text("中国的单笔充值金额须在 ¥20.00 至 ¥3,000.00 之间。")
    choose(page, 50000, "alipay")
    expect(page.locator("#promotion")).to_have_text("满¥500.00减¥50.00")
    expect(page.locator("#charge_amount")).to_have_text("¥450.00")
    expect(page.locator("#method")).to_have_text("支付宝")
    expect(page.locator("#pay")).to_have_text("支付 ¥450.00")
    shot(page, "confirm-zh-CN")
    to_payment_page(page)
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1")).to_have_text("使用支付宝付款")
    shot(page, "alipay-page-zh-CN")
    page.click("button[value=approve]")
    page.wait_for_url(RETURNED, timeout=SAGA)
    expect(page.locator("#status")).to_have_attribute("data-status", "completed", timeout=SAGA)
    expect(page.locator("#status")).to_have_text("充值成功")
    expect(page.locator("#receipt")).to_contain_text("余额充值", timeout=SAGA + 10_000)
    shot(page, "completed-zh-CN")
