"""Calling a provider's API when its answer may never come.

A call that times out, whose connection drops, or that is answered 5xx may have been done by
the provider all the same: its outcome is unknown, never assumed to be a failure. So every
call that changes something carries an idempotency key the provider honours, and an
operation is `settled` this way: call; if the outcome is unknown, ask the provider how it
ended (its query API); if it says the work is done, that is the answer; else call again
with the same key. After GATEWAY_ATTEMPTS calls it is left for later (GatewayTimeout): the
message is delivered again, the refund loop tries again, each with the same key.

GATEWAY_TIMEOUT bounds each call. The pause between two calls doubles from `pause`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
import structlog

from services.payment.domain.errors import GatewayError, GatewayRefused, GatewayTimeout

log = structlog.get_logger(__name__)

T = TypeVar("T")


class OutcomeUnknown(GatewayTimeout):
    """The provider may or may not have done what was asked."""


@dataclass(frozen=True)
class Reply:
    status: int
    data: dict[str, Any]


class ProviderApi:
    """One provider's API: its address, our secret key, and how patient we are."""

    def __init__(self, base_url: str, secret_key: str, timeout: float, attempts: int, pause: float = 0.5) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret_key = secret_key
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.pause = pause
        self._local = threading.local()

    def _http(self) -> requests.Session:
        """This thread's connection, kept open between calls. `trust_env` off: the provider
        is reached directly, and looking up proxies and ~/.netrc took a quarter of a call."""
        http: requests.Session | None = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = requests.Session()
            http.trust_env = False
        return http

    def _send(self, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> requests.Response:
        """One request with our key; OutcomeUnknown when no answer came."""
        try:
            return self._http().request(method, f"{self.base_url}{path}", timeout=self.timeout,
                                        headers={"Authorization": f"Bearer {self.secret_key}", **headers}, **kwargs)
        except requests.RequestException as exc:
            raise OutcomeUnknown(f"{method} {path}: {type(exc).__name__}") from exc

    def call(self, method: str, path: str, *, json: dict[str, Any] | None = None,
             idempotency_key: str | None = None) -> Reply:
        """One call: its reply when the provider answered (2xx or 4xx), else OutcomeUnknown."""
        headers = {"Accept": "application/json"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        response = self._send(method, path, headers, json=json)
        if response.status_code >= 500:
            raise OutcomeUnknown(f"{method} {path}: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            data = {}
        return Reply(response.status_code, data if isinstance(data, dict) else {})

    def download(self, path: str) -> bytes:
        """A file the provider gives (a settlement report), as it gives it."""
        response = self._send("GET", path, {})
        if response.status_code != 200:
            raise GatewayError(f"GET {path}: HTTP {response.status_code}")
        return response.content

    def settle(self, what: str, attempt: Callable[[], T], ask: Callable[[], T | None]) -> T:
        """`attempt`'s answer, or when its outcome is unknown `ask`'s (None: not done, so
        attempt again with the same key), at most `attempts` calls; else GatewayTimeout."""
        last: GatewayError | None = None
        for number in range(1, self.attempts + 1):
            try:
                return attempt()
            except OutcomeUnknown as exc:
                last = exc
                log.warning("gateway_outcome_unknown", operation=what, attempt=number, error=str(exc))
            try:
                known = ask()
            except OutcomeUnknown as exc:
                known, last = None, exc
            if known is not None:
                log.info("gateway_outcome_found", operation=what, attempt=number)
                return known
            if number < self.attempts:
                time.sleep(self.pause * 2 ** (number - 1))
        raise GatewayTimeout(f"{what}: no answer after {self.attempts} calls ({last})")


def refusal(reply: Reply, what: str) -> GatewayRefused:
    """A 4xx answer: the provider said no, with its own reason."""
    code = str(reply.data.get("code") or "gateway_refused")
    return GatewayRefused(f"{what}: HTTP {reply.status} {reply.data.get('detail') or code}", code)
