"""What the OpenAPI documents say an operation answers when it refuses: the truth.

Every refusal is RFC 9457 `application/problem+json` (shared/problems.py), so each
operation's error responses point at one `Problem` schema, narrowed to the `code`s that
operation can really answer, with an example of each. A view says its refusals in one
line, beside its request and response examples (its docstring's first paragraph is the
operation's summary, the rest its description):

    @blp.route("/orders", methods=["POST"])
    @blp.arguments(OrderIn, example={"quote_id": "quo_3f2a"})
    @blp.response(201, OrderOut, example=ORDER_EXAMPLE)
    @problems(*JSON_BODY, SIGNED_IN, IDEMPOTENCY_KEY, QuoteNotFound, QuoteExpired)
    def place_order(body): ...

A refusal is one of the constants below, a domain error class (anything with `status`,
`code` and `title` class attributes, as services/order/domain/errors.py has), or
`refusal(status, code, title)` for a `Problem` raised in place. Every operation may also
answer 400 `bad_request` (a NUL character in its address, shared/bodies.py) and 503
`service_unavailable` with `Retry-After` (its database was briefly out of reach,
shared/problems.py): `problems` adds both, so no view has to remember them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol, TypeVar

import flask_smorest
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from marshmallow import RAISE, Schema, fields
from webargs.flaskparser import FlaskParser

from shared.bodies import MAX_DEPTH
from shared.i18n import DEFAULT_LANGUAGE, Text, render
from shared.problems import CATALOG, CONTENT_TYPE, TITLES

_ = CATALOG.text
F = TypeVar("F", bound=Callable[..., Any])

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
#: what every API's description says once, for all its operations
ABOUT_ERRORS = (
    "Errors are RFC 9457 `application/problem+json` (the `Problem` schema) with a stable machine `code`; each "
    "operation lists the codes it can answer. `title` and `detail` are in the caller's language "
    "(`Accept-Language`, `Content-Language` says which). No text in a request (its address, query or body) may "
    "contain a NUL character (U+0000): 400 `bad_request` or `malformed_json`. A method a path does not take: 405 "
    "`method_not_allowed`, with `Allow`. Any operation may answer 503 "
    "`service_unavailable` with `Retry-After` when its database is briefly out of reach; repeat the request "
    "(a write with the same `Idempotency-Key` where it takes one: it is answered the same).")
TYPE_PREFIX = "https://topup.example/problems/"


class ProblemSchema(Schema):
    """An RFC 9457 problem, as shared/problems.py problem_response writes it."""

    type = fields.String(required=True, metadata={"format": "uri", "example": f"{TYPE_PREFIX}validation_failed",
                                                  "description": f"{TYPE_PREFIX}<code>"})
    title = fields.String(required=True, metadata={"description": "what went wrong, in the caller's language"})
    status = fields.Integer(required=True, metadata={"description": "the HTTP status, repeated"})
    code = fields.String(required=True, metadata={
        "description": "stable and machine-readable: never changes with the language; each operation lists its own"})
    detail = fields.String(metadata={"description": "what to do about it, in the caller's language"})
    errors = fields.Dict(metadata={
        "description": "422 `validation_failed` only: each invalid field (or parameter location, e.g. `query`) "
                       "with its messages, in the caller's language",
        "example": {"amount": ["Must be greater than or equal to 1."]}})
    retry_after = fields.Integer(metadata={"description": "some 429s: seconds to wait, as in Retry-After"})


class Refuses(Protocol):
    """A domain error class: its status, its stable code and its title."""

    @property
    def status(self) -> int: ...

    @property
    def code(self) -> str: ...

    @property
    def title(self) -> Text | str: ...


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    title: Text | str
    #: when it happens, in a few words, for the reader of the document
    note: str = ""
    #: the answer carries a Retry-After header (seconds)
    retry_after: bool = False
    #: members beyond the standard ones, with example values (e.g. `errors`)
    members: Mapping[str, Any] = field(default_factory=dict)

    @property
    def english_title(self) -> str:
        return render(self.title, DEFAULT_LANGUAGE) or ""

    def line(self) -> str:
        return f"- `{self.code}`: {self.english_title}" + (f" {self.note}" if self.note else "")

    def example(self) -> dict[str, Any]:
        return {"type": TYPE_PREFIX + self.code, "title": self.english_title, "status": self.status,
                "code": self.code, **({"detail": self.note} if self.note else {}), **self.members}


def refusal(kind: Refuses | int, code: str = "", title: Text | str = "", *, note: str = "",
            retry_after: bool = False, members: Mapping[str, Any] | None = None) -> Refusal:
    """A refusal from a domain error class (`refusal(QuoteExpired, note=...)`), or written
    out (`refusal(404, "payment_not_found", _("No such payment."))`)."""
    if isinstance(kind, int):
        return Refusal(kind, code, title, note, retry_after, members or {})
    return Refusal(kind.status, kind.code, kind.title, note, retry_after, members or {})


def _titled(status: int) -> Text:
    return TITLES[status][1]


BAD_ADDRESS = Refusal(400, "bad_request", _titled(400), "The path or the query string holds a NUL character.")
MALFORMED_JSON = Refusal(400, "malformed_json", _("The request body cannot be read."),
                         f"The body is not JSON, not UTF-8, nests deeper than {MAX_DEPTH} levels or holds a NUL "
                         "character.")
PAYLOAD_TOO_LARGE = Refusal(413, "payload_too_large", _titled(413),
                            "The body is larger than the service reads (MAX_BODY_BYTES).")
VALIDATION_FAILED = Refusal(422, "validation_failed", _titled(422),
                            "A field or parameter is missing or invalid: `errors` says which and why.",
                            members={"errors": {"amount": ["Must be greater than or equal to 1."]}})
SIGNED_IN = Refusal(401, "unauthorized", _titled(401),
                    "No valid `Authorization: Bearer <access_token>`, or its account no longer exists.")


class QueryArgs(Schema):
    """A query string's parameters: one the endpoint does not know is refused (422), not
    ignored. A misspelt filter (`emial=`, a filter the endpoint does not have) would
    otherwise answer as if it were not there: every order instead of the ones asked for.
    (webargs ignores unknown query parameters by default; our Blueprint lets the schema say.)"""

    class Meta:
        unknown = RAISE


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    """flask-smorest's Blueprint, whose arguments follow their schema's `unknown` in every
    location (QueryArgs: refused), where webargs would drop unknown query parameters."""

    ARGUMENTS_PARSER = FlaskParser(unknown=None)


def token_required(setting: str) -> Refusal:
    """What shared/web.py require_bearer answers without `Authorization: Bearer <setting>`."""
    return Refusal(401, "unauthorized", _titled(401), f"No valid `Authorization: Bearer <{setting}>`.")


OPERATOR = token_required("OPERATOR_TOKEN")
IDEMPOTENCY_KEY = Refusal(400, "idempotency_key_required", _("Idempotency-Key required."),
                          "The Idempotency-Key header is missing, blank or longer than 255 characters.")
SERVICE_UNAVAILABLE = Refusal(503, "service_unavailable", _titled(503),
                              "The database was briefly out of reach: try again after Retry-After seconds "
                              "(a write with the same Idempotency-Key).", retry_after=True)

#: what an operation with a JSON body may answer about the body itself
JSON_BODY = (MALFORMED_JSON, PAYLOAD_TOO_LARGE, VALIDATION_FAILED)
#: what every operation may answer (added by `problems`)
ALWAYS = (BAD_ADDRESS, SERVICE_UNAVAILABLE)

RETRY_AFTER = {"description": "seconds to wait before trying again", "required": True,
               "schema": {"type": "integer", "minimum": 0}, "example": 1}


def problem_responses(refusals: Iterable[Refuses | Refusal]) -> dict[int, dict[str, Any]]:
    """The OpenAPI `responses` of these refusals (and ALWAYS): one per status, its codes an
    enum, an example of each, and Retry-After where every code of that status sends it."""
    by_status: dict[int, dict[str, Refusal]] = {}
    for item in (*refusals, *ALWAYS):
        one = item if isinstance(item, Refusal) else refusal(item)
        by_status.setdefault(one.status, {}).setdefault(one.code, one)
    responses: dict[int, dict[str, Any]] = {}
    for status, by_code in sorted(by_status.items()):
        shown = list(by_code.values())
        narrowed = {"type": "object", "properties": {"status": {"type": "integer", "enum": [status]},
                                                     "code": {"type": "string", "enum": list(by_code)}}}
        response: dict[str, Any] = {
            "description": "\n".join(r.line() for r in shown),
            "content": {CONTENT_TYPE: {
                "schema": {"allOf": [PROBLEM_REF, narrowed]},
                "examples": {r.code: {"summary": r.english_title, "value": r.example()} for r in shown}}},
        }
        if all(r.retry_after for r in shown):
            response["headers"] = {"Retry-After": RETRY_AFTER}
        responses[status] = response
    return responses


def problems(*refusals: Refuses | Refusal) -> Callable[[F], F]:
    """Document a view's refusals (see the module's docstring)."""
    return Blueprint.doc(responses=problem_responses(refusals))  # type: ignore[no-any-return]


class DocumentedApi(Api):  # type: ignore[misc]
    """flask-smorest's Api, with every error documented as what it is: problem+json.

    No catch-all `default` response (each operation lists its own, with `problems`), and the
    responses flask-smorest refers to on its own (422 for a view's `arguments`) describe a
    Problem too."""

    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_responses(self) -> None:
        """Called once, as the spec is made: the Problem schema and, lazily (only those
        referred to appear), a problem+json response per error status."""
        self.spec.components.schema("Problem", schema=ProblemSchema)
        for status in HTTPStatus:
            if status >= 400:
                response: dict[str, Any] = {"description": status.phrase, "schema": PROBLEM_REF}
                prepare_response(response, self.spec, CONTENT_TYPE)
                self.spec.components.response(status.name, response, lazy=True)
