"""The way back after paying: which return addresses an order accepts, and how the order id
is added to the one the customer is sent to."""

from __future__ import annotations

import pytest

from services.order.domain.errors import ReturnUrlNotAllowed
from services.order.domain.returns import check_return_url, origin_of
from services.payment.returns import with_order_id

SHOP = ("https://shop.example", "http://127.0.0.1:8001")


@pytest.mark.parametrize(("url", "origin"), [
    ("https://shop.example/done", "https://shop.example"),
    ("HTTPS://Shop.Example:443/done?x=1", "https://shop.example"),
    ("http://127.0.0.1:8001/return", "http://127.0.0.1:8001"),
    ("http://[::1]:8001/return", "http://[::1]:8001"),
    ("ftp://shop.example/done", None),
    ("javascript:alert(1)", None),
    ("//shop.example/done", None),
    ("https://user:pw@shop.example/done", None),
    ("http://shop.example:99999/", None),
])
def test_the_origin_of_an_address(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin


@pytest.mark.parametrize("url", ["https://shop.example/done", "https://shop.example:443/a?b=c#d",
                                 "http://127.0.0.1:8001/return"])
def test_an_address_on_the_shops_own_origins_is_taken_as_it_is(url: str) -> None:
    assert check_return_url(url, SHOP) == url


@pytest.mark.parametrize("url", ["https://shop.example.evil.example/done", "http://shop.example/done",
                                 "https://shop.example:8443/done", "http://localhost:8001/return", "/return"])
def test_any_other_address_is_refused(url: str) -> None:
    with pytest.raises(ReturnUrlNotAllowed):
        check_return_url(url, SHOP)


@pytest.mark.parametrize(("url", "sent_to"), [
    ("https://shop.example/done", "https://shop.example/done?order_id=ord_1"),
    ("https://shop.example/done?from=pay#top", "https://shop.example/done?from=pay&order_id=ord_1#top"),
    ("https://shop.example/done?order_id=forged&x=", "https://shop.example/done?x=&order_id=ord_1"),
])
def test_the_order_id_joins_the_query_and_nothing_else_changes(url: str, sent_to: str) -> None:
    assert with_order_id(url, "ord_1") == sent_to
