"""Per-client-address limits on the doors an attacker knocks at: login, registration,
password reset and change. Flask-Limiter counts; where it counts is `RATELIMIT_STORAGE_URI`
(memory:// per process for the embedded run; redis://... so that every web process and
replica share one count). The account's own throttle lives in the order database
(services/order/throttles.py); this one stops one address trying many accounts.

Logins and password changes count only when they fail, so a hotel's or an airport's many
travellers behind one address are not locked out by each other's successes; registrations
and resets count every time. All share one budget per address (`AUTH_RATE_LIMIT`, several
windows: once the minute's is spent, the hour's and the day's make the wait grow).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import structlog
from flask import Flask, Response
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from services.order.texts import _
from shared.config import Settings
from shared.problems import problem_response

log = structlog.get_logger(__name__)
SCOPE = "auth"


def _failed(response: Response) -> bool:
    return response.status_code >= 400


class AddressLimits:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # If the shared storage (Redis) is out of reach, count in this process meanwhile
        # rather than not at all, and never fail the request for it.
        self.limiter = Limiter(get_remote_address, storage_uri=settings.ratelimit_storage_uri,
                               strategy="fixed-window", swallow_errors=True, in_memory_fallback_enabled=True,
                               headers_enabled=False, key_prefix=f"{settings.amqp_namespace}:order")

    def every_try(self) -> Callable[[Any], Any]:
        """Count every request (registration, password reset)."""
        return self.limiter.shared_limit(self.settings.auth_rate_limit, scope=SCOPE)

    def failed_tries(self) -> Callable[[Any], Any]:
        """Count only refused requests (login, password change)."""
        return self.limiter.shared_limit(self.settings.auth_rate_limit, scope=SCOPE, deduct_when=_failed)

    def install(self, app: Flask) -> None:
        if not self.settings.embedded and self.settings.ratelimit_storage_uri.startswith("memory"):
            log.warning("address_limits_per_process",
                        hint="RATELIMIT_STORAGE_URI=redis://... shares them across web processes and replicas")
        if self.settings.proxy_hops:
            # The client's address as the trusted proxies in front saw it (X-Forwarded-For).
            app.wsgi_app = ProxyFix(app.wsgi_app, x_for=self.settings.proxy_hops,  # type: ignore[method-assign]
                                    x_proto=self.settings.proxy_hops)
        self.limiter.init_app(app)

        @app.errorhandler(RateLimitExceeded)
        def _too_many(exc: RateLimitExceeded) -> Response:
            current = self.limiter.current_limit
            # reset_at is rounded up a whole second by flask-limiter: never promise more than the window.
            wait = (min(current.limit.get_expiry(), max(1, math.ceil(current.reset_at - time.time())))
                    if current else 60)
            return problem_response(429, "too_many_attempts", _("Too many attempts."),
                                    _("Too many attempts from this network. Try again in {seconds} seconds.",
                                      seconds=wait), headers={"Retry-After": str(wait)})
