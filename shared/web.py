"""What every service's Flask app has: OpenAPI at /openapi.json, problem+json errors,
a health check, and operator authentication for the operator APIs."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, request
from flask_smorest import Api

from shared.problems import Problem, install_problem_handlers

F = TypeVar("F", bound=Callable[..., Any])


def create_base_app(service: str, title: str, description: str) -> tuple[Flask, Api]:
    app = Flask(f"topup.{service}")
    app.config.update(
        API_TITLE=title,
        API_VERSION="1.0.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": description},
            "components": {
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer"},
                }
            },
        },
    )
    api = Api(app)
    install_problem_handlers(app)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    return app, api


def require_operator(get_token: Callable[[], str]) -> Callable[[F], F]:
    """Guard an operator endpoint with `Authorization: Bearer <OPERATOR_TOKEN>`."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), get_token().encode()):
                raise Problem(401, "unauthorized", "Operator authentication required.",
                              "Send Authorization: Bearer <OPERATOR_TOKEN>.")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator
