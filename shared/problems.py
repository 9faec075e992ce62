"""Errors at the HTTP edge: RFC 9457 `application/problem+json`, with a machine `code`.

Domain code raises its own exceptions; each service maps them to a `Problem` in one place.
Everything a client can get wrong (bad JSON, a failed schema, a wrong method) answers in the
same shape, so a frontend handles errors with one code path.
"""

from __future__ import annotations

from typing import Any

import structlog
from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException

log = structlog.get_logger(__name__)

CONTENT_TYPE = "application/problem+json"


class Problem(Exception):
    def __init__(self, status: int, code: str, title: str, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or title)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.extra = extra


def problem_response(
    status: int, code: str, title: str, detail: str | None = None, headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {"type": f"https://topup.example/problems/{code}", "title": title,
                            "status": status, "code": code}
    if detail:
        body["detail"] = detail
    body.update(extra)
    response = Response(json.dumps(body), status=status, content_type=CONTENT_TYPE)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _code_for(status: int) -> str:
    return {
        400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
        405: "method_not_allowed", 409: "conflict", 415: "unsupported_media_type",
        422: "validation_failed", 429: "too_many_requests",
    }.get(status, "http_error")


def install_problem_handlers(app: Flask) -> None:
    """Register after flask-smorest's Api, so that these handlers replace its JSON errors."""

    @app.errorhandler(Problem)
    def _problem(exc: Problem) -> Response:
        return problem_response(exc.status, exc.code, exc.title, exc.detail, **exc.extra)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        data = getattr(exc, "data", None) or {}
        messages = data.get("messages")
        headers = dict(data.get("headers") or {})
        if messages is not None:
            # webargs nests errors by location ("json", "headers"); flatten the common case.
            errors = messages.get("json", messages) if isinstance(messages, dict) else messages
            return problem_response(422, "validation_failed", "The request is not valid.",
                                    "One or more fields are invalid.", headers=headers, errors=errors)
        return problem_response(status, _code_for(status), exc.name, exc.description, headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled_error", error=repr(exc))
        return problem_response(500, "internal_error", "Internal Server Error",
                                "Something went wrong on our side; nothing was changed twice.")
