"""The reference storefront: static pages the order service serves at `/`.

It is the example frontend teams copy: plain HTML, CSS and a few ES modules, no build step,
calling only the public API (same origin, so no CORS). `/` and `/return` (where the payment
pages send the customer back) serve the same page; the script reads the address. Registered
with Flask, not flask-smorest, so it stays out of the OpenAPI document.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, send_from_directory

STATIC = Path(__file__).parent / "static"
#: what each kind of file is served as (a module script must come as JavaScript; text is UTF-8)
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
#: no inline script or style, nothing from elsewhere; the payment page is reached by navigation
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'{connect}; "
       "form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'")


def build_blueprint() -> Blueprint:
    pages = static_pages("storefront", STATIC)

    @pages.get("/")
    @pages.get("/return")
    def page() -> Response:
        return send(STATIC, "index.html")

    @pages.get("/storefront/<path:name>")
    def asset(name: str) -> Response:
        return send(STATIC, name)

    return pages


def static_pages(name: str, folder: Path, connect: tuple[str, ...] = ()) -> Blueprint:
    """A blueprint of plain files (the storefront's, the operator console's) under one policy;
    `connect`: the other origins its scripts may call (the console's payment and wallet APIs)."""
    pages = Blueprint(name, __name__)
    policy = CSP.format(connect="".join(f" {origin}" for origin in connect))

    @pages.after_request
    def _headers(response: Response) -> Response:
        # The files change without a build step (no hashed names): the browser keeps them but
        # asks each time, and gets 304 while they are unchanged (ETag, Last-Modified).
        response.headers["Cache-Control"] = "no-cache"
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    return pages


def send(folder: Path, name: str) -> Response:
    kind = TYPES.get(Path(name).suffix)
    if kind is None:
        abort(404)
    # send_from_directory refuses any name that leaves the folder (404)
    return send_from_directory(folder, name, mimetype=kind, max_age=None, conditional=True)
