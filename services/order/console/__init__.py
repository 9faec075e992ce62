"""The operator console: the support desk in a browser, served by the order service at
`/operator/`. Plain HTML and one ES module, like the storefront, calling only the operator
API of the order service (same origin) with the operator's token: search a customer by email
or a top-up by id, read one top-up across the services, see the top-ups waiting for an
operator, and act (cancel, resend the receipt, retry the refund) with a reason, after a
confirmation. The payment and wallet services' operator actions are named with their call.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response

from services.order.storefront import send, static_pages

STATIC = Path(__file__).parent / "static"


def build_blueprint() -> Blueprint:
    pages = static_pages("console", STATIC)

    @pages.get("/operator/")
    def page() -> Response:
        return send(STATIC, "index.html")

    @pages.get("/operator/<path:name>")
    def asset(name: str) -> Response:
        return send(STATIC, name)

    return pages
