"""Errors at the HTTP edge: RFC 9457 `application/problem+json`, with a machine `code`.

Domain code raises its own exceptions; each service maps them to a `Problem` in one place.
Everything a client can get wrong (bad JSON, a failed schema, a wrong method) answers in the
same shape, so a frontend handles errors with one code path. The `code` never changes with
the language; `title` and `detail` are in the caller's: the `Accept-Language` it sends, else
the signed-in customer's own language, else English (`Content-Language` says which).
"""

from __future__ import annotations

import re
from typing import Any

import structlog
from flask import Flask, Response, g, has_request_context, json, request
from werkzeug.exceptions import HTTPException

from shared.db import database_unavailable
from shared.i18n import DEFAULT_LANGUAGE, SHARED_LOCALE, Catalog, Text, negotiate, render

log = structlog.get_logger(__name__)

CONTENT_TYPE = "application/problem+json"
#: what a 503 asks the client to wait: a dropped connection is usually back at once
RETRY_AFTER_SECONDS = 1
CATALOG = Catalog(SHARED_LOCALE)
_ = CATALOG.text


class Problem(Exception):
    def __init__(self, status: int, code: str, title: Text | str, detail: Text | str | None = None,
                 **extra: Any) -> None:
        super().__init__(str(detail or title))
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.extra = extra


def request_language() -> str:
    """The language to answer this request in: what the caller asks for, else what the
    signed-in customer chose (views put it in `g.language`), else English."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    return negotiate(request.headers.get("Accept-Language")) or g.get("language") or DEFAULT_LANGUAGE


def problem_response(
    status: int, code: str, title: Text | str, detail: Text | str | None = None,
    headers: dict[str, str] | None = None, **extra: Any,
) -> Response:
    language = request_language()
    body: dict[str, Any] = {"type": f"https://topup.example/problems/{code}", "title": render(title, language),
                            "status": status, "code": code}
    if detail:
        body["detail"] = render(detail, language)
    body.update(localized(extra, language))
    # JSON is UTF-8 by definition (RFC 8259): no charset parameter, Chinese sent as is.
    response = Response(json.dumps(body, ensure_ascii=False).encode(), status=status, content_type=CONTENT_TYPE)
    response.headers["Content-Language"] = language
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def localized(value: Any, language: str) -> Any:
    """Texts anywhere in a problem's extra members (e.g. per-field errors), in `language`.
    A plain string may be one of marshmallow's own messages: those are translated too."""
    if isinstance(value, Text):
        return value.render(language)
    if isinstance(value, str):
        return validation_message(value).render(language)
    if isinstance(value, dict):
        return {k: localized(v, language) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [localized(v, language) for v in value]
    return value


#: marshmallow's messages that carry values, as our own Texts (its fixed messages are
#: message ids of the shared catalog as they are)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^Must be one of: (?P<choices>.*)\.$"), "Must be one of: {choices}."),
    (re.compile(r"^Length must be between (?P<min>\d+) and (?P<max>\d+)\.$"),
     "Length must be between {min} and {max}."),
    (re.compile(r"^Shorter than minimum length (?P<min>\d+)\.$"), "Shorter than minimum length {min}."),
    (re.compile(r"^Longer than maximum length (?P<max>\d+)\.$"), "Longer than maximum length {max}."),
    (re.compile(r"^Must be greater than or equal to (?P<min>-?\d+) and less than or equal to (?P<max>-?\d+)\.$"),
     "Must be greater than or equal to {min} and less than or equal to {max}."),
    (re.compile(r"^Must be greater than or equal to (?P<min>-?\d+)\.$"), "Must be greater than or equal to {min}."),
    (re.compile(r"^Must be less than or equal to (?P<max>-?\d+)\.$"), "Must be less than or equal to {max}."),
)


def validation_message(message: str) -> Text:
    for pattern, template in _PATTERNS:
        if match := pattern.match(message):
            return CATALOG.text(template, **match.groupdict())
    return CATALOG.text(message)


def marshmallow_messages() -> list[Text]:
    """marshmallow's fixed messages that reach clients, listed so that `make translations`
    extracts them into the shared catalog."""
    return [
        _("Missing data for required field."), _("Unknown field."), _("Field may not be null."),
        _("Invalid input type."), _("Not a valid integer."), _("Not a valid string."),
        _("Not a valid boolean."), _("Not a valid email address."), _("Not a valid URL."),
        _("Not a valid datetime."), _("Not a valid number."), _("Not a valid mapping type."),
        _("Not a valid list."), _("Invalid value."), _("String does not match expected pattern."),
        _("ISO 3166-1 alpha-2"), _("Must be one of: {choices}."), _("Length must be between {min} and {max}."),
        _("Shorter than minimum length {min}."), _("Longer than maximum length {max}."),
        _("Must be greater than or equal to {min} and less than or equal to {max}."),
        _("Must be greater than or equal to {min}."), _("Must be less than or equal to {max}."),
    ]


TITLES: dict[int, tuple[str, Text]] = {
    400: ("bad_request", _("Bad request.")),
    401: ("unauthorized", _("Authentication required.")),
    403: ("forbidden", _("Not allowed.")),
    404: ("not_found", _("Not found.")),
    405: ("method_not_allowed", _("This method is not allowed here.")),
    409: ("conflict", _("Conflict.")),
    413: ("payload_too_large", _("The request is too large.")),
    415: ("unsupported_media_type", _("Unsupported media type.")),
    422: ("validation_failed", _("The request is not valid.")),
    429: ("too_many_requests", _("Too many requests.")),
    503: ("service_unavailable", _("The service is briefly unavailable.")),
}
HTTP_ERROR = ("http_error", _("The request could not be served."))


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
        # The headers Werkzeug's own answer would carry (405: Allow, which RFC 9110 requires;
        # 429/503: Retry-After), but not its text/html Content-Type.
        headers = {name: value for name, value in exc.get_headers() if name.lower() != "content-type"}
        headers.update(data.get("headers") or {})
        if messages is not None:
            # webargs nests errors by location ("json", "headers"); flatten the common case.
            errors = messages.get("json", messages) if isinstance(messages, dict) else messages
            return problem_response(422, "validation_failed", _("The request is not valid."),
                                    _("One or more fields are invalid."), headers=headers, errors=errors)
        code, title = TITLES.get(status, HTTP_ERROR)
        return problem_response(status, code, title, headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if database_unavailable(exc):
            # Nothing half-written: a transaction is committed whole or not at all. If the
            # connection dropped at the commit itself, it may have committed: a write with an
            # Idempotency-Key is answered the same when repeated, and the others (a quote, a
            # registration) are refused or harmless when repeated.
            log.warning("database_unavailable", error=type(exc).__name__, method=request.method, path=request.path)
            return problem_response(503, "service_unavailable", _("The service is briefly unavailable."),
                                    _("The database was briefly out of reach; please try again in a moment."),
                                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        log.exception("unhandled_error", error=repr(exc))
        return problem_response(500, "internal_error", _("Something went wrong on our side."),
                                _("Nothing was changed twice; please try again in a moment."))
