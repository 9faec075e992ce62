"""What every service's Flask app has: OpenAPI at /openapi.json, problem+json errors,
a health check, and operator authentication for the operator APIs."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any, TypeVar

import structlog
from flask import Flask, Response, current_app, g, request
from flask_cors import CORS
from flask_smorest import Api

from shared import metrics, tracing
from shared.bodies import install_body_checks
from shared.db import database_unavailable
from shared.openapi import ABOUT_ERRORS, DocumentedApi
from shared.problems import CATALOG, Problem, install_problem_handlers, request_language

_ = CATALOG.text
log = structlog.get_logger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ServiceApp(Flask):
    """A service's Flask app: a request that meets a dropped database connection is tried
    once more where repeating it is safe (SQLAlchemy has discarded the pool's dead
    connections by then): a read, or a write whose view takes an Idempotency-Key and so
    answers it the same however often it comes, whether or not the first try had
    committed. Any other write answers 503 with Retry-After (shared/problems.py)."""

    def dispatch_request(self) -> Any:
        try:
            return super().dispatch_request()
        except Exception as exc:
            if not database_unavailable(exc) or not repeatable():
                raise
            log.warning("database_retry", error=type(exc).__name__, method=request.method, path=request.path)
            return super().dispatch_request()


def repeatable() -> bool:
    """A read, or a write whose view takes an Idempotency-Key (`takes_idempotency_key`):
    only such a view answers a repeat the same; a key sent to any other is ignored by it."""
    if request.method in SAFE_METHODS:
        return True
    view = current_app.view_functions.get(request.endpoint or "")
    handler = getattr(getattr(view, "view_class", None), request.method.lower(), view)  # a MethodView's
    return bool(getattr(handler, KEYED, False))


KEYED = "_topup_takes_idempotency_key"


def takes_idempotency_key(view: F) -> F:
    """Mark a write that answers a repeat of its Idempotency-Key the same (it calls
    `idempotency_key`): the one kind of write that may be tried again after a dropped
    connection. Put it right above the `def`: the decorators above copy the mark."""
    setattr(view, KEYED, True)
    return view


def create_base_app(service: str, title: str, description: str, max_body_bytes: int = 64 * 1024) -> tuple[Flask, Api]:
    app = ServiceApp(f"topup.{service}")
    app.config.update(
        API_TITLE=title,
        API_VERSION="1.0.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": f"{description}\n\n{ABOUT_ERRORS}"},
            "components": {
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer"},
                }
            },
        },
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Chinese as it is: JSON is UTF-8
    api = DocumentedApi(app)
    install_problem_handlers(app)
    install_body_checks(app, max_body_bytes)

    @app.after_request
    def _language(response: Response) -> Response:
        """Answers depend on the caller's language (shared/problems.py: request_language)."""
        response.vary.add("Accept-Language")
        if "Content-Language" not in response.headers:
            response.headers["Content-Language"] = request_language()
        return response

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    observe_requests(app, service)

    return app, api


HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_requests(app: Flask, service: str) -> None:
    """Every request in a span of the trace (shared/tracing.py), and every answer counted by
    route (the declared rule, never the path a client sent, so no client can grow the
    series) and status, and timed; `/metrics` answers them (shared/metrics.py)."""

    def route() -> str:
        return request.url_rule.rule if request.url_rule is not None else "unmatched"

    def method() -> str:  # any token a client sends would be a new series
        return request.method if request.method in HTTP_METHODS else "OTHER"

    @app.before_request
    def _started() -> None:
        g.topup_started = time.perf_counter()
        g.topup_labels = (service, method(), route())  # once per request, for the span and the counts
        order_id = (request.view_args or {}).get("order_id")
        traceparent = request.headers.get("traceparent")
        g.topup_span = tracing.RequestSpan(service, g.topup_labels[1], g.topup_labels[2],
                                           {"traceparent": traceparent} if traceparent else {},
                                           order_id if isinstance(order_id, str) else None)

    @app.after_request
    def _counted(response: Response) -> Response:
        labels = g.get("topup_labels") or (service, method(), route())  # refused before _started ran
        metrics.HTTP_REQUESTS.labels(*labels, str(response.status_code)).inc()
        started = g.get("topup_started")
        if started is not None:
            metrics.HTTP_LATENCY.labels(*labels).observe(time.perf_counter() - started)
        g.topup_status = response.status_code
        return response

    @app.teardown_request
    def _ended(_exc: BaseException | None) -> None:
        span = g.pop("topup_span", None)
        if span is not None:
            span.end(g.get("topup_status", 500 if _exc is not None else None))

    @app.get("/metrics")
    def _metrics() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, content_type=content_type)


def allow_browsers(app: Flask, origins: tuple[str, ...]) -> None:
    """CORS for the browsers' origins (CORS_ALLOWED_ORIGINS: the frontends', for the order API;
    the operator console's, for the payment and wallet operator APIs it calls): their
    preflights are answered; any other origin gets no CORS headers, so a browser keeps its
    pages out. Tokens travel in the Authorization header, never in cookies: no credentials."""
    if not origins:
        return
    CORS(app, resources={r"/v1/*": {"origins": list(origins)}}, supports_credentials=False, max_age=600,
         allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Accept-Language", "If-None-Match",
                        "Prefer", "traceparent"],
         expose_headers=["Retry-After", "Content-Language", "ETag", "Location", "Preference-Applied",
                         "Idempotent-Replayed"],
         methods=["GET", "POST", "PATCH", "OPTIONS"])


def require_bearer(get_token: Callable[[], str], setting: str) -> Callable[[F], F]:
    """Guard an endpoint with `Authorization: Bearer <the secret in setting>`."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            scheme, _sep, token = header.partition(" ")
            expected = get_token()
            # An empty secret is no secret: nobody gets in with an empty token.
            valid = bool(expected) and hmac.compare_digest(token.encode(), expected.encode())
            if scheme.lower() != "bearer" or not valid:
                raise Problem(401, "unauthorized", _("Authentication required."),
                              _("Send Authorization: Bearer <{setting}>.", setting=setting))
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def require_operator(get_operators: Callable[[], Mapping[str, str]]) -> Callable[[F], F]:
    """Guard an operator endpoint with `Authorization: Bearer <a token of OPERATOR_TOKENS, or
    OPERATOR_TOKEN>`. The operator's name is `g.operator` for the view to record, and on
    every log line of the request."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
            name = operator_of(get_operators(), token) if scheme.lower() == "bearer" else None
            if name is None:
                raise Problem(401, "unauthorized", _("Authentication required."),
                              _("Send Authorization: Bearer <{setting}>.", setting="OPERATOR_TOKEN"))
            g.operator = name
            structlog.contextvars.bind_contextvars(operator=name)
            try:
                return view(*args, **kwargs)
            finally:
                structlog.contextvars.unbind_contextvars("operator")

        return wrapper  # type: ignore[return-value]

    return decorator


def operator_of(operators: Mapping[str, str], token: str) -> str | None:
    """The operator whose token this is, compared in constant time with every one (an empty
    token is no token)."""
    found = None
    for name, expected in operators.items():
        if expected and hmac.compare_digest(token.encode(), expected.encode()):
            found = name
    return found


IDEMPOTENCY_KEY_MAX = 255

#: How the OpenAPI documents describe the header that makes a POST safe to repeat: exactly
#: what `idempotency_key` accepts (the pattern: not blank, `\S` being what `str.strip` keeps).
IDEMPOTENCY_KEY_HEADER: dict[str, Any] = {
    "in": "header", "name": "Idempotency-Key", "required": True,
    "description": "a key unique to this request, e.g. a UUID: the same key and body again answer the same "
                   "result (`Idempotent-Replayed: true`); the same key with another body is refused (422 "
                   "`idempotency_key_reused`). Surrounding whitespace is ignored.",
    "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX, "pattern": "\\S",
               "example": "5f0c1a52-8e43-4c1e-9a57-3c2d0e1b7a99"},
}


#: How the OpenAPI documents describe the header of an answer to a request made before.
REPLAYED_HEADER: dict[str, Any] = {"Idempotent-Replayed": {
    "description": "`true` when this answers a request made before (the same Idempotency-Key, or the same reversal)",
    "schema": {"type": "string", "enum": ["true"]}}}


def replayed(was: bool) -> dict[str, str]:
    """The headers of an answer: `Idempotent-Replayed: true` when it repeats an earlier one."""
    return {"Idempotent-Replayed": "true"} if was else {}


def idempotency_key() -> str:
    """The request's `Idempotency-Key` (as Stripe's): required, not blank, at most 255
    characters as sent (surrounding whitespace is not part of the key)."""
    sent = request.headers.get("Idempotency-Key", "")
    key = sent.strip()
    if not key or len(sent) > IDEMPOTENCY_KEY_MAX:
        raise Problem(400, "idempotency_key_required", _("Idempotency-Key required."),
                      _("Send a unique Idempotency-Key header (at most 255 characters) with each new request."))
    return key


def request_hash(body: Any) -> str:
    """What a repeated key is compared with: the same key with another body is refused."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
