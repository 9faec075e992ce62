"""The order service serves the reference storefront: the page at / and at /return (where the
payment pages send the customer back), its modules and style as what they are, under a
Content-Security-Policy that allows no inline script; nothing of it in the OpenAPI document."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from services.order import app as order_app
from shared.config import Settings


@pytest.fixture
def client(sqlite_settings: Settings) -> Iterator[FlaskClient]:
    ctx = order_app.start(sqlite_settings)
    yield order_app.create_app(ctx=ctx).test_client()
    ctx.engine.dispose()


def test_the_page_is_served_at_the_root_and_where_the_payment_pages_send_customers_back(client: FlaskClient) -> None:
    home = client.get("/")
    back = client.get("/return?order_id=ord_5b7e2c")
    assert home.status_code == back.status_code == 200
    assert home.mimetype == "text/html" and home.mimetype_params.get("charset") == "utf-8"
    assert home.get_data() == back.get_data()
    csp = home.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert home.headers["X-Content-Type-Options"] == "nosniff"
    assert home.headers["Cache-Control"] == "no-cache" and home.headers.get("ETag")
    page = home.get_data(as_text=True)
    inline = [body for body in re.findall(r"<script[^>]*>(.*?)</script>", page, re.S) if body.strip()]
    assert not inline and "style=" not in page, "nothing inline: the CSP would block it"
    assert '<script type="module" src="/storefront/app.js"></script>' in page


@pytest.mark.parametrize(("name", "mimetype"), [
    ("app.js", "text/javascript"), ("api.js", "text/javascript"), ("i18n.js", "text/javascript"),
    ("style.css", "text/css"), ("icon.svg", "image/svg+xml"),
])
def test_each_asset_is_served_as_what_it_is_and_revalidated(client: FlaskClient, name: str, mimetype: str) -> None:
    asset = client.get(f"/storefront/{name}")
    assert asset.status_code == 200 and asset.mimetype == mimetype
    assert asset.headers["Cache-Control"] == "no-cache" and "Content-Security-Policy" in asset.headers
    again = client.get(f"/storefront/{name}", headers={"If-None-Match": asset.headers["ETag"]})
    assert again.status_code == 304, "unchanged: the browser keeps its copy"


def test_every_module_the_page_imports_is_there(client: FlaskClient) -> None:
    seen, waiting = set(), ["app.js"]
    while waiting:
        name = waiting.pop()
        seen.add(name)
        source = client.get(f"/storefront/{name}").get_data(as_text=True)
        waiting += [m for m in re.findall(r"from '\./([\w-]+\.js)'", source) if m not in seen]
    assert {"app.js", "api.js", "i18n.js", "dom.js", "account.js", "home.js", "topup.js", "order.js"} <= seen


@pytest.mark.parametrize("path", ["/storefront/nothing.js", "/storefront/../app.py", "/storefront/__init__.py",
                                  "/storefront/", "/return/more"])
def test_nothing_else_is_served(client: FlaskClient, path: str) -> None:
    missing = client.get(path)
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"


def test_the_storefront_stays_out_of_the_openapi_document(client: FlaskClient) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]
    assert all(path.startswith("/v1/") for path in paths), sorted(paths)
