"""Where the customer's browser goes back after the payment page.

A `return_url` is where we send a customer who has just paid, with the order's id: an open
redirect would let anyone dress a phishing page as the end of a real payment. So only
origins the operator names (RETURN_URL_ORIGINS) are accepted, compared exactly (scheme,
host and port), and only http(s) addresses without credentials in them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from services.order.domain.errors import ReturnUrlNotAllowed
from services.order.texts import _


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of an absolute http(s) address, lower-cased; None otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def check_return_url(url: str, allowed_origins: tuple[str, ...]) -> str:
    """The address itself when its origin is allowed; ReturnUrlNotAllowed otherwise."""
    origin = origin_of(url)
    allowed = {origin_of(o) for o in allowed_origins}
    if origin is None or origin not in allowed:
        raise ReturnUrlNotAllowed(_("The return_url must be an address on one of this shop's own sites; "
                                    "{url} is not.", url=url[:200]))
    return url
