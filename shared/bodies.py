"""What a request may carry: a bounded body, and JSON that parses into something shallow.

Checked once, before any view or argument parser sees the request, so that no input can
reach code that would fail on it in an unforeseen way (a body nested 1,000 deep made
Python's JSON decoder raise `RecursionError`, and every JSON endpoint answered 500):

- a body larger than the limit answers 413 `payload_too_large` (Werkzeug refuses to read
  past `MAX_CONTENT_LENGTH`; a view that needs more, such as a gateway's webhook, says so
  with `larger_body`);
- a JSON body (by its content type) that does not parse, is not UTF-8, nests deeper than
  `MAX_DEPTH` or holds a NUL character answers 400 `malformed_json`; no JSON our clients
  send nests more than a few levels, and PostgreSQL cannot store a NUL in text;
- a NUL in the path or the query string answers 400 `bad_request` for the same reason.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge

from shared.problems import CATALOG, Problem

_ = CATALOG.text

MAX_DEPTH = 32
_LIMITS = "TOPUP_BODY_LIMITS"


def allow_larger_body(app: Flask, endpoint: str, max_body_bytes: int) -> None:
    """Let one endpoint read bodies up to `max_body_bytes` instead of the service's limit."""
    app.config.setdefault(_LIMITS, {})[endpoint] = max_body_bytes


def install_body_checks(app: Flask, max_body_bytes: int) -> None:
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    limits: dict[str, int] = app.config.setdefault(_LIMITS, {})

    @app.before_request
    def _check_body() -> None:
        if "\x00" in request.path or b"\x00" in request.query_string or b"%00" in request.query_string:
            raise Problem(400, "bad_request", _("Bad request."),
                          _("The address may not contain a NUL character."))
        limit = limits.get(request.endpoint or "")
        if limit is not None:
            request.max_content_length = limit
        if request.content_length is not None and request.content_length > (request.max_content_length or 0):
            raise RequestEntityTooLarge()
        if request.is_json and (request.content_length or request.headers.get("Transfer-Encoding")):
            check_json(request.get_data(cache=True))


def check_json(body: bytes) -> None:
    """Refuse a JSON body that does not parse, nests too deep or holds a NUL character."""
    try:
        value = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        detail = _("The body nests too deep.") if isinstance(exc, RecursionError) else _("The body is not valid JSON.")
        raise Problem(400, "malformed_json", _("The request body cannot be read."), detail) from None
    problem = _shape_problem(value)
    if problem is not None:
        raise Problem(400, "malformed_json", _("The request body cannot be read."), problem)


def _shape_problem(value: Any) -> Any:
    """Walk the parsed body without recursion: too deep, or a NUL in any string?"""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > MAX_DEPTH:
                return _("The body nests deeper than {depth} levels.", depth=MAX_DEPTH)
            stack.extend((k, depth) for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            if depth > MAX_DEPTH:
                return _("The body nests deeper than {depth} levels.", depth=MAX_DEPTH)
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str) and "\x00" in item:
            return _("Text in the body may not contain a NUL character.")
    return None
