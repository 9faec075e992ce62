"""The operator console (services/order/console/) as support uses it, in a real Chromium, on
both backends: a wrong token refused; a customer found by email with their top-ups; one
top-up read across the services; a pending one cancelled for the customer with a reason,
after a confirmation; the list of top-ups waiting for an operator. Screenshots are saved as
var/screenshots/console-<name>.png."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from deploy.local import LocalSystem
from tests.e2e.frontend import LOST_NOTIFICATION, Frontend

SCREENSHOTS = Path("var/screenshots")


@pytest.fixture
def page(browser: Browser, system: LocalSystem) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=system.url("order"))
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error"
              and "Content Security Policy" in message.text else None)
    yield opened
    context.close()
    assert not errors, f"no script error, nothing the CSP refused: {errors}"


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"console-{name}.png"), full_page=True)


def sign_in(page: Page, token: str) -> None:
    page.goto("/operator/")
    page.fill("#token", token)
    page.click("button[type=submit]")


def confirming(page: Page) -> list[str]:
    """Accept every confirmation the page asks from now on; what it asked, in order."""
    asked: list[str] = []

    def confirm(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", confirm)
    return asked


def find(page: Page, text: str) -> None:
    page.fill("#search", text)
    page.click("#search + button")


def test_support_finds_a_customer_reads_a_top_up_and_cancels_it_with_a_reason(page: Page, frontend: Frontend) -> None:
    who = frontend.register()
    paid = frontend.top_up(who, 2500)
    frontend.pay(paid)
    frontend.wait_status(who, paid["order_id"], "completed")
    pending = frontend.top_up(who, 1200)

    sign_in(page, "not-a-token")
    expect(page.locator(".alert")).to_have_text("That is not an operator's token.")
    sign_in(page, frontend.system.settings.operator_token)
    expect(page.locator("#waiting h2")).to_have_text("Waiting for an operator")
    expect(page.locator("#parked h2")).to_have_text("Parked messages: 0")

    find(page, who["email"])
    expect(page.locator("#customer h2").first).to_have_text(who["email"])
    expect(page.locator("#customer")).to_contain_text("€25.00")
    expect(page.locator("#customer table tr")).to_have_count(3)  # a header, two top-ups
    shot(page, "customer")

    page.click(f"text={paid['order_id']}")
    expect(page.locator("#status")).to_have_text("completed")
    expect(page.locator("#order")).to_contain_text("visa ···· 4242")
    expect(page.locator("#timeline")).to_contain_text("credited")
    shot(page, "top-up")

    page.click("text=← Search")
    find(page, pending["order_id"])
    expect(page.locator("#status")).to_have_text("awaiting_payment")
    page.click("text=Cancel the top-up")
    expect(page.locator("#actions .alert")).to_have_text("Say why first.")
    page.fill("#reason", "asked by phone: wrong amount")
    asked = confirming(page)
    page.click("text=Cancel the top-up")
    expect(page.locator("#status")).to_have_text("cancelled")
    assert asked == [f"Cancel {pending['order_id']} for the customer?"]
    last = page.locator("#timeline tr").last
    expect(last).to_contain_text("cancel_requested")
    expect(last).to_contain_text("operator")
    expect(last).to_contain_text("asked by phone: wrong amount")
    expect(page.locator(".done")).to_have_text("Cancel the top-up: done.")
    shot(page, "cancelled")
    assert frontend.order(who, pending["order_id"])["status"] == "cancelled"


def test_support_adjusts_a_balance_and_asks_the_gateway_from_the_console(page: Page, frontend: Frontend) -> None:
    """The payment and wallet services' actions, called from the browser (their CORS allows
    the console's origin on this run)."""
    who = frontend.register()
    paid = frontend.top_up(who, 2000)
    frontend.pay(paid)
    frontend.wait_status(who, paid["order_id"], "completed")
    silent = frontend.top_up(who, 1500)
    frontend.pay(silent, LOST_NOTIFICATION, come_back=False)  # paid; the gateway's notice never comes

    sign_in(page, frontend.system.settings.operator_token)
    find(page, who["email"])
    expect(page.locator("#customer h2").first).to_have_text(who["email"])
    page.fill("#adjust-amount", "500")
    page.fill("#adjust-reason", "goodwill: the plan failed for a day")
    asked = confirming(page)
    page.click("#adjust button")
    expect(page.locator("#adjust .done")).to_have_text("Adjusted: the balance is €25.00.")
    assert asked == [f"Adjust {who['email']}'s balance by €5.00?"]

    page.click(f"text={silent['order_id']}")
    expect(page.locator("#status")).to_have_text("awaiting_payment")
    page.fill("#sync-reason", "the customer says they paid")
    page.click("text=Ask the gateway now")
    expect(page.locator(".done")).to_have_text("The gateway's answer was applied.")
    expect(page.locator("#status")).to_have_text(re.compile("paid|completed"))
    shot(page, "synced")
    frontend.wait_status(who, silent["order_id"], "completed")
    page.click("text=← Search")
    find(page, silent["order_id"])
    synced = page.locator("#timeline tr", has_text="payment_synced")
    expect(synced).to_contain_text("the customer says they paid")
    expect(synced).to_contain_text("operator")
