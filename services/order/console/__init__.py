"""The operator console: the support desk in a browser, served by the order service at
`/operator/`. Plain HTML and one ES module, like the storefront, calling only the operator
API of the order service (same origin) with the operator's token: search a customer by email
or a top-up by id, read one top-up across the services, see the top-ups waiting for an
operator, and act (cancel, resend the receipt, retry the refund) with a reason, after a
confirmation. The payment and wallet services' operator actions are named with their call.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Response, jsonify

from services.order.storefront import send, static_pages
from shared.config import Settings

STATIC = Path(__file__).parent / "static"


def build_blueprint(settings: Settings) -> Blueprint:
    services = {service: settings.console_url(service) for service in ("payment", "wallet")}
    pages = static_pages("console", STATIC, connect=tuple(origin(url) for url in services.values()))

    @pages.get("/operator/")
    def page() -> Response:
        return send(STATIC, "index.html")

    @pages.get("/operator/config.json")
    def config() -> Response:
        """Where the page reaches the payment and wallet operator APIs (their CORS must allow
        this origin: CORS_ALLOWED_ORIGINS)."""
        return jsonify(services)

    @pages.get("/operator/<path:name>")
    def asset(name: str) -> Response:
        return send(STATIC, name)

    return pages


def origin(url: str) -> str:
    """`scheme://host[:port]` of a URL: what a Content-Security-Policy names."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
