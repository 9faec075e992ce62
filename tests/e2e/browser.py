"""A real Chromium for the tests of pages (Debian's chromium, driven by Playwright).

Playwright cannot download its own browser here, so it drives the system's. Without one the
browser tests are skipped, said plainly, except where `TOPUP_BROWSER_REQUIRED` is set (CI,
.ci/run), where they fail: CI installs chromium and fonts-noto-cjk first.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


#: Draws two characters on a canvas in the page's default font and says whether they look
#: different: without a font for them, both are the same empty box (tofu).
_DISTINCT = """([a, b]) => { const draw = ch => { const c = document.createElement('canvas'); c.width = c.height = 40;
  const x = c.getContext('2d'); x.font = '32px sans-serif'; x.fillText(ch, 2, 34);
  return Array.from(x.getImageData(0, 0, 40, 40).data).join(); };
  return draw(a) !== draw(b); }"""


def draws_as_characters(page: Page, a: str, b: str) -> bool:
    """True when the browser has a font for both characters (they are drawn differently)."""
    return bool(page.evaluate(_DISTINCT, [a, b]))


@contextmanager
def chromium() -> Iterator[Browser]:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("TOPUP_BROWSER_REQUIRED"):
            pytest.fail("chromium is not installed (apt-get install chromium fonts-noto-cjk)")
        pytest.skip("chromium is not installed: apt-get install chromium fonts-noto-cjk")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def pay_by_card(page: Page, number: str) -> None:
    """Type a card with a future expiry on the sandbox's card page and pay."""
    page.fill("#card_number", number)
    page.fill("#exp_month", "12")
    page.fill("#exp_year", "2031")
    page.fill("#cvc", "123")
    page.click("button[type=submit]")
