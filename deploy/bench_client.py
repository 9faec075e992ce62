"""The bench's load generator: what frontends and customers do, as fast as they can, over
real HTTP. It counts every answer by status and by route, and never stops at a bad one: a
top-up that meets an error is recorded as a client error, and the others go on."""

from __future__ import annotations

import collections
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import requests

try:  # the sandbox's own table of test cards: one place for them
    from services.sandbox.bank import TEST_CARDS
except ImportError:  # a commit from before issue 13, measured by the A/B (deploy/ab.sh) with this file
    from services.payment.sandbox.bank import TEST_CARDS  # type: ignore[import-not-found,no-redef]


def sandbox_card(outcome: str | None) -> dict[str, str]:
    """The card page's form for the sandbox's first test card with this outcome."""
    number = next(card for card, code in TEST_CARDS.items() if code == outcome)
    return {"card_number": number, "exp_month": "12", "exp_year": "2031", "cvc": "123"}


# method, what the customer submits on the gateway's page, expected ending. A declined card
# leaves the order open for another try (issue 9), so that customer gives up and cancels it in
# the storefront; without that the order would wait for its payment deadline.
ENDINGS: dict[str, tuple[str, dict[str, str], str]] = {
    "card_approved": ("card", sandbox_card(None), "completed"),
    "card_declined": ("card", sandbox_card("card_declined"), "cancelled"),
    "paypal_approved": ("paypal", {"decision": "approve"}, "completed"),
    "paypal_cancelled": ("paypal", {"decision": "cancel"}, "failed"),
    "alipay_approved": ("alipay", {"decision": "approve"}, "completed"),
    "wechat_pay_approved": ("wechat_pay", {"decision": "approve"}, "completed"),
}
#: answers a well-behaved frontend asks again after their Retry-After (with the same key)
RETRIED = (429, 503)
#: a path segment that names one thing (a UUID, a prefixed id, a number), not a route
_ID = re.compile(r"(?<=/)(?=[^/]*\d)[A-Za-z0-9_-]{6,}(?=/|$)|(?<=/)\d+(?=/|$)")


class Refused(Exception):
    """An answer the frontend cannot go on from: its status, problem code and route."""


@dataclass
class Customer:
    headers: dict[str, str]
    currency: str


def route(response: requests.Response) -> str:
    """'GET /v1/orders/{id}': the request's method and path with its ids left out."""
    request = response.request
    path = (request.path_url or "").split("?", 1)[0]
    return f"{request.method} {_ID.sub('{id}', path)}"


def refused(response: requests.Response) -> Refused:
    try:
        body = response.json()
        code = body.get("code", "") if isinstance(body, dict) else ""
    except ValueError:
        code = response.headers.get("Content-Type", "no body").split(";")[0]
    return Refused(f"{response.status_code} {code} on {route(response)}".replace("  ", " "))


def json_of(response: requests.Response, *ok: int) -> dict[str, Any]:
    """The answer's JSON object, or Refused if its status is not one of `ok` or it is none."""
    if response.status_code not in ok:
        raise refused(response)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise Refused(f"{response.status_code} without a JSON object on {route(response)}")
    return body


class Driver:
    def __init__(self, order_url: str, poll_seconds: float, long_poll: bool, unanswered_tries: int = 1) -> None:
        self.order_url = order_url
        self.poll_seconds = poll_seconds
        self.long_poll = long_poll
        #: how often a request that is safe to repeat is sent when no answer comes (a process
        #: restarting refuses connections for a moment): the chaos run's frontends try again
        self.unanswered_tries = unanswered_tries
        self.local = threading.local()
        self.lock = threading.Lock()
        #: every answer, by status and by route; requests that got none, by exception
        self.statuses: collections.Counter[int] = collections.Counter()
        self.routes: collections.Counter[str] = collections.Counter()
        self.unanswered: collections.Counter[str] = collections.Counter()
        #: why top-ups (or registrations) were given up, by reason
        self.errors: collections.Counter[str] = collections.Counter()

    @property
    def http(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            self.local.session.hooks["response"].append(self._count)
        return self.local.session  # type: ignore[no-any-return]

    def _count(self, response: requests.Response, *_: object, **__: object) -> None:
        # a hook that returned something would replace the response; a redirect followed
        # is an answer of its own, as in a browser
        with self.lock:
            self.statuses[response.status_code] += 1
            self.routes[route(response)] += 1

    def requests_made(self) -> int:
        with self.lock:
            return sum(self.statuses.values())

    def send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """As a well-behaved frontend: a 503 or 429 is asked again after its Retry-After (a
        few times), with the same Idempotency-Key, which makes a repeated write safe. With
        `unanswered_tries`, a request that got no answer is sent again after a moment if it
        is safe to repeat: a read, a write with an Idempotency-Key, a quote (one more quote
        is harmless)."""
        tries = self.unanswered_tries if _repeatable(method, url, kwargs) else 1
        answered = unanswered = 0
        while True:
            try:
                response = self.http.request(method, url, **kwargs)
            except requests.ConnectionError as exc:
                with self.lock:
                    self.unanswered[type(exc).__name__] += 1
                unanswered += 1
                if unanswered >= tries:
                    raise
                time.sleep(min(2.0, 0.2 * unanswered))
                continue
            except requests.RequestException as exc:
                with self.lock:
                    self.unanswered[type(exc).__name__] += 1
                raise
            answered += 1
            if response.status_code not in RETRIED or answered >= 5:
                return response
            time.sleep(retry_after(response))

    def customer(self) -> Customer:
        email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
        created = json_of(self.send("POST", f"{self.order_url}/v1/auth/register", json={
            "email": email, "password": "bench password", "country": "DE"}), 200, 201)
        login = json_of(self.send("POST", f"{self.order_url}/v1/auth/login",
                                  json={"email": email, "password": "bench password"}), 200)
        return Customer({"Authorization": f"Bearer {login['access_token']}"}, str(created["currency"]))

    def top_up(self, who: Customer, ending: str) -> str | None:
        """The order's id once the customer has decided on the gateway's page; None if the
        top-up was given up, its reason counted in `errors`."""
        method, form, _ = ENDINGS[ending]
        try:
            quote = json_of(self.send("POST", f"{self.order_url}/v1/quotes", headers=who.headers, json={
                "amount": random.choice([1000, 2000, 5000, 10000]), "currency": who.currency, "method": method}),
                201, 200)
            # The answer waits for the payment page where the server agrees: no first poll.
            waits = {"Prefer": "wait=5"} if self.long_poll else {}
            placed = json_of(self.send("POST", f"{self.order_url}/v1/orders", json={"quote_id": quote["quote_id"]},
                                       headers={**who.headers, "Idempotency-Key": uuid.uuid4().hex, **waits}),
                             201, 200, 202)
            order_id = str(placed["order_id"])
            action = placed.get("next_action")
            url = str(action["url"]) if action else self._wait_for_redirect(who, order_id)
            paid = self.send("POST", url, data=form)
            if paid.status_code >= 400:
                raise refused(paid)
            if ENDINGS[ending][2] == "cancelled":
                json_of(self.send("POST", f"{self.order_url}/v1/orders/{order_id}/cancel", headers=who.headers),
                        202, 200)
            return order_id
        except Exception as exc:  # noqa: BLE001 - a load generator counts what went wrong and goes on
            with self.lock:
                self.errors[describe(exc)] += 1
            return None

    def _wait_for_redirect(self, who: Customer, order_id: str, timeout: float = 30) -> str:
        """Ask for the order until it says where to pay: each ask waits on the server for a
        change (If-None-Match + Prefer: wait) where the server agrees, else the frontend
        sleeps its poll interval between asks. An answer of 500 and above is asked again
        (the order may still get there); any other refusal ends the top-up."""
        deadline = time.monotonic() + timeout
        headers = who.headers
        while time.monotonic() < deadline:
            response = self.send("GET", f"{self.order_url}/v1/orders/{order_id}", headers=headers)
            if response.status_code == 200 and (action := json_of(response, 200).get("next_action")):
                return str(action["url"])
            if 400 <= response.status_code < 500:
                raise refused(response)
            if self.long_poll and "ETag" in response.headers:
                headers = {**who.headers, "If-None-Match": response.headers["ETag"], "Prefer": "wait=10"}
            if "Preference-Applied" not in response.headers:
                time.sleep(self.poll_seconds)  # a frontend polls; faster would only load the order service
        raise TimeoutError(f"the order never asked for payment within {timeout:.0f} s")


def _repeatable(method: str, url: str, kwargs: dict[str, Any]) -> bool:
    return method == "GET" or "Idempotency-Key" in (kwargs.get("headers") or {}) or url.endswith("/v1/quotes")


def retry_after(response: requests.Response) -> float:
    """Retry-After in seconds (an HTTP date, or none, counts as 1 s), at most 10."""
    try:
        return min(10.0, max(0.0, float(response.headers.get("Retry-After", "1"))))
    except ValueError:
        return 1.0


def describe(exc: Exception) -> str:
    """A reason to count: the same for every top-up that met the same trouble."""
    if isinstance(exc, Refused | TimeoutError):
        return str(exc)
    request = getattr(exc, "request", None)
    if isinstance(exc, requests.RequestException) and request is not None:
        return f"{type(exc).__name__} on {request.method} {_ID.sub('{id}', request.path_url.split('?', 1)[0])}"
    return f"{type(exc).__name__}: {str(exc)[:160]}"
