"""Each service does what its OpenAPI document says, and says what it does: schemathesis runs
every check it has (a 500, an undocumented status, content type, header or code, a body that
breaks its schema, valid data refused, invalid data accepted, a 405 without Allow, ...)
against each service's /openapi.json, served over real HTTP, on SQLite and on PostgreSQL.

Generation is derandomized (the same cases every run) and small enough for CI; any finding
fails the test with the request that caused it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from types import ModuleType
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from flask import Flask
from schemathesis.engine import Status, events, from_schema

from deploy.infra import free_port
from services.notify import app as notify_app
from services.notify import handlers as notify_handlers
from services.order import app as order_app
from services.order import receipts
from services.order.schemas import RECEIPT_EXAMPLE
from services.payment import app as payment_app
from services.payment import store as payments
from services.wallet import app as wallet_app
from services.wallet import handlers as wallet_handlers
from services.wallet import spending
from shared.clock import utcnow
from shared.config import DEV_SECRETS, SANDBOX, Settings
from shared.contracts import load_payload
from shared.db import unit_of_work
from shared.messaging.envelope import Envelope
from shared.money import Money
from shared.problems import Problem
from shared.service import ServiceContext
from shared.web import IDEMPOTENCY_KEY_HEADER, idempotency_key
from tests.helpers import SandboxServer, ServedApp

APPS: dict[str, ModuleType] = {"order": order_app, "payment": payment_app, "wallet": wallet_app,
                               "notify": notify_app}

#: Refusals of data the schema cannot call invalid: business rules that depend on who asks
#: and on the state of things (422 amount_out_of_range for this customer's country, 410
#: quote_expired). That valid data is never refused for its *shape* is checked by
#: `shape_accepted` below, which reads the problem's code.
POSITIVE_DATA_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "410", "422", "429", "5xx"]
SHAPE_CODES = frozenset({"validation_failed", "malformed_json", "bad_request", "idempotency_key_required",
                         "payload_too_large"})

#: the password operations get a customer of their own: a change they make ends the
#: caller's token, which the other operations' customer must keep
PASSWORD_PATHS = re.compile(r"^/v1/auth/password")

#: how often a path or query parameter names something that exists (else it is generated)
KNOWN_SHARE = 0.5

CONFIG: dict[str, Any] = {
    "seed": 20240601,
    "workers": 1,
    "max-failures": 50,
    "suppress-health-check": ["too_slow", "data_too_large", "large_base_example"],
    "cache": {"enabled": False},
    "generation": {
        "mode": "all",  # valid and invalid data
        "max-examples": 60,
        "deterministic": True,  # Hypothesis' derandomize: the same cases on every run
        "database": "none",
        # Every text refuses a NUL character (PostgreSQL cannot store one): 400
        # malformed_json or bad_request, documented on every operation and in each API's
        # description rather than as a pattern on every string of every schema.
        "allow-x00": False,
    },
    "checks": {"enabled": True, "positive_data_acceptance": {"expected-statuses": POSITIVE_DATA_STATUSES}},
    "operations": [
        # A gateway's notification is valid only with its signature, which no generator can
        # make: unsigned ones are refused (400 invalid_signature, or 401 for WeChat Pay), as
        # documented; signed ones are tested in test_payment*.py.
        {"include-path": "/v1/webhooks/{gateway_name}",
         "checks": {"positive_data_acceptance": {"expected-statuses": [*POSITIVE_DATA_STATUSES, "400"]}}},
        # A receipt exists only once its top-up has completed (404 receipt_not_found until then,
        # documented): an order just placed has none, which is no missing resource.
        {"include-path-regex": r"^/v1/orders/\{order_id\}/receipt",
         "checks": {"ensure_resource_availability": {"enabled": False}}},
        # A reset token is valid only as emailed, which no generator can make: a token the
        # schema calls valid is refused as unknown (400 reset_token_invalid, documented).
        {"include-path": "/v1/auth/password-reset/confirm",
         "checks": {"positive_data_acceptance": {"expected-statuses": [*POSITIVE_DATA_STATUSES, "400"]}}},
    ],
}


@schemathesis.check
def shape_accepted(ctx: schemathesis.CheckContext, response: schemathesis.Response,
                   case: schemathesis.Case) -> bool | None:
    """Data the schema calls valid is never refused for its shape (only for a rule)."""
    if case.meta is None or not case.meta.generation.mode.is_positive or response.status_code < 400:
        return None
    if "problem+json" not in (response.headers.get("content-type") or [""])[0]:
        return None
    code = json.loads(response.content or b"{}").get("code")
    if code in SHAPE_CODES:
        raise AssertionError(f"valid data refused as {response.status_code} {code}: "
                             f"{response.content[:300]!r}")
    return None


@dataclass
class World:
    """What exists before the run: who may call what, and ids that name real things (so
    that fuzzing reaches past 404), by parameter (`path.order_id`)."""

    service: str
    customer_token: str | None = None
    known: dict[str, list[str]] = field(default_factory=dict)
    #: the token of the customer whose password the password operations may change
    password_token: str | None = None

    def token(self, path: str) -> str | None:
        if self.service == "order":
            if path.startswith("/v1/operator"):
                return DEV_SECRETS["OPERATOR_TOKEN"]
            return self.password_token if PASSWORD_PATHS.match(path) else self.customer_token
        if self.service == "wallet" and (path.endswith("/debits") or path.endswith("/reversal")):
            return DEV_SECRETS["PLATFORM_TOKEN"]
        return DEV_SECRETS["OPERATOR_TOKEN"]

    def config(self) -> dict[str, Any]:
        return {**CONFIG,
                "dictionaries": {name: {"values": values} for name, values in self.known.items()},
                "parameters": {name: {"dictionary": name, "probability": KNOWN_SHARE} for name in self.known}}


def received(message_type: str, payload: dict[str, Any]) -> Envelope:
    """A message as a handler gets it: sent through its contract and read back."""
    return Envelope.from_json(Envelope.new(message_type, payload).to_json())


def order_world(app: Flask, ctx: ServiceContext) -> World:
    """A signed-in customer with an order, and its receipt (3 copies an hour, then 429)."""
    client = app.test_client()
    who = {"email": "schemathesis@example.com", "password": "correct horse battery", "country": "DE"}
    registered = client.post("/v1/auth/register", json=who)
    assert registered.status_code == 201, registered.data
    login = client.post("/v1/auth/login", json={"email": who["email"], "password": who["password"]})
    assert login.status_code == 200, login.data
    bearer = {"Authorization": f"Bearer {login.get_json()['access_token']}"}
    quote = client.post("/v1/quotes", json={"amount": 10000, "currency": "EUR", "method": "card"}, headers=bearer)
    order = client.post("/v1/orders", json={"quote_id": quote.get_json()["quote_id"]},
                        headers={**bearer, "Idempotency-Key": "seed"})
    assert order.status_code == 201, order.data
    order_id = order.get_json()["order_id"]
    customer_id = registered.get_json()["customer_id"]
    with unit_of_work(ctx.sessions) as session:
        receipts.keep(session, load_payload("receipt.issued", {
            **RECEIPT_EXAMPLE, "order_id": order_id, "customer_id": customer_id}))
    other = {**who, "email": "schemathesis-passwords@example.com"}
    assert client.post("/v1/auth/register", json=other).status_code == 201
    password_login = client.post("/v1/auth/login", json={"email": other["email"], "password": other["password"]})
    return World("order", login.get_json()["access_token"],
                 {"path.order_id": [order_id], "query.customer_id": [customer_id]},
                 password_token=password_login.get_json()["access_token"])


def wallet_world(app: Flask, ctx: ServiceContext) -> World:
    """An account with money on it, and a debit of it."""
    customer_id, now = "cus_schemathesis", utcnow()
    with unit_of_work(ctx.sessions) as session:
        wallet_handlers.open_account(session, received("customer.registered", {
            "customer_id": customer_id, "email": "li@example.com", "country": "DE", "currency": "EUR",
            "language": "en", "time_zone": "Europe/Berlin"}))
    with unit_of_work(ctx.sessions) as session:
        wallet_handlers.credit(session, received("wallet.credit", {
            "order_id": "ord_schemathesis", "customer_id": customer_id, "amount": 100000, "charge_amount": 100000,
            "currency": "EUR", "valid_until": now + timedelta(days=30)}), rules=wallet_app.rules_of(ctx.settings))
    with unit_of_work(ctx.sessions) as session:
        debit, _ = spending.debit(session, spending.DebitRequest(
            customer_id, "seed", "seed", Money(2500, "EUR"), "plan-eu-5gb", "Europe 5 GB"), now)
        debit_id = debit.id
    return World("wallet", known={"path.customer_id": [customer_id], "path.debit_id": [debit_id]})


def payment_world(app: Flask, ctx: ServiceContext) -> World:
    """A payment, as its payment.create opened it."""
    with unit_of_work(ctx.sessions) as session:
        row = payments.new_payment({"order_id": "ord_schemathesis", "customer_id": "cus_schemathesis",
                                    "amount": 9000, "currency": "EUR", "method": "card"},
                                   payments.new_payment_id("ord_schemathesis"), 3, utcnow())
        payments.insert_payment(session, row)
        payment_id = row.id
    return World("payment", known={"path.payment_id": [payment_id], "query.order_id": ["ord_schemathesis"]})


def notify_world(app: Flask, ctx: ServiceContext) -> World:
    """A completed top-up's receipt, and its email."""
    completed = received("order.completed", {
        "order_id": "ord_schemathesis", "customer_id": "cus_schemathesis", "email": "ana@example.com",
        "credit_amount": 10000, "charge_amount": 9000, "currency": "EUR", "method": "card", "card_brand": "visa",
        "card_last4": "4242", "completed_at": utcnow(), "balance_after": 10000, "language": "en",
        "time_zone": "Europe/Berlin", "promotion": None, "promotion_name": None, "valid_until": None})
    with unit_of_work(ctx.sessions) as session:
        notify_handlers.send_receipt(session, completed, rules=notify_app.rules_of(ctx.settings))
    return World("notify", known={"path.order_id": ["ord_schemathesis"]})


WORLDS: dict[str, Callable[[Flask, ServiceContext], World]] = {
    "order": order_world, "payment": payment_world, "wallet": wallet_world, "notify": notify_world}


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest) -> Settings:
    fixture = "sqlite_settings" if request.param == "sqlite" else "pg_settings"
    value: Settings = request.getfixturevalue(fixture)
    return value


@pytest.fixture(params=list(APPS))
def served(request: pytest.FixtureRequest, settings: Settings) -> Iterator[tuple[ServedApp, World]]:
    module = APPS[request.param]
    port = free_port()
    sandbox: SandboxServer | None = None
    if request.param == "payment":  # the sandbox beside it, whose API gives the settlement reports
        here = f"http://127.0.0.1:{port}"
        settings = settings.with_changes(payment_public_url=here, sandbox_webhook_url=f"{here}/v1/webhooks/sandbox",
                                         ports={**settings.ports, SANDBOX: free_port()})
        sandbox = SandboxServer(settings)
    ctx = module.start(settings)
    app = module.create_app(ctx=ctx)
    world = WORLDS[request.param](app, ctx)
    server = ServedApp(app, port=port)
    yield server, world
    server.stop()
    ctx.stop()  # its threads too (the order watch's listener, once a request waited)
    if sandbox is not None:
        sandbox.close()


def run_schemathesis(url: str, world: World) -> list[str]:
    """Every finding, written so that it can be reproduced."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json",
                                           config=schemathesis.Config.from_dict(world.config()))

    @schema.auth(refresh_interval=None)  # no cache: each operation its own token (world.token)
    class Bearer:
        def get(self, case: schemathesis.Case, ctx: schemathesis.AuthContext) -> str | None:
            return world.token(case.operation.path)

        def set(self, case: schemathesis.Case, token: str | None, ctx: schemathesis.AuthContext) -> None:
            if token:
                case.headers["Authorization"] = f"Bearer {token}"

    findings: list[str] = []
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished) and event.status == Status.FAILURE:
            findings.extend(describe(event))
        elif isinstance(event, events.NonFatalError):
            findings.append(f"{event.label}: error {event.info.title}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            findings.append(f"schemathesis failed: {event.exception!r}")
    return findings


def describe(event: events.ScenarioFinished) -> Iterator[str]:
    for case_id, checks in event.recorder.checks.items():
        for check in checks:
            if check.status != Status.FAILURE or check.failure_info is None:
                continue
            failure = check.failure_info.failure
            interaction = event.recorder.interactions.get(case_id)
            answer = interaction.response if interaction else None
            body = answer.content[:300] if answer is not None and answer.content else b""
            yield (f"[{event.phase.value}] {event.label or 'stateful'} {check.name}: {failure.title}\n"
                   f"  {failure.message}\n  {check.failure_info.code_sample}\n"
                   f"  -> {answer.status_code if answer else '?'} {body!r}")


def test_each_service_answers_as_its_openapi_document_says(served: tuple[ServedApp, World]) -> None:
    server, world = served
    findings = run_schemathesis(server.url, world)
    assert not findings, f"{len(findings)} findings on {world.service}:\n\n" + "\n\n".join(findings)


# -- the documents themselves --------------------------------------------------------------
METHODS = ("get", "put", "post", "patch", "delete")
PROBLEM = "application/problem+json"
#: a gateway is answered the way its protocol expects (services/payment/webhooks.py)
GATEWAY_ANSWERS = {"POST /v1/webhooks/{gateway_name}"}


def json_schema(value: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema: `nullable` is `null` as one more type."""
    if isinstance(value, list):
        return [json_schema(item) for item in value]
    if not isinstance(value, dict):
        return value
    converted = {key: json_schema(item) for key, item in value.items() if key not in ("nullable", "example")}
    return {"anyOf": [converted, {"type": "null"}]} if value.get("nullable") else converted


class Document:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.components = json_schema(doc.get("components", {}))

    def operations(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for path, item in self.doc["paths"].items():
            for method in METHODS:
                if method in item:
                    yield f"{method.upper()} {path}", item[method]

    def wrong_examples(self, content: dict[str, Any]) -> Iterator[str]:
        """Examples (and every named example) that their own schema refuses."""
        schema = content.get("schema")
        values = [content["example"]] if "example" in content else []
        values += [named["value"] for named in content.get("examples", {}).values()]
        if schema is None:
            return
        validator = jsonschema_rs.validator_for({"allOf": [json_schema(schema)], "components": self.components})
        for value in values:
            for error in validator.iter_errors(value):
                yield f"{error.message} at {list(error.instance_path)}"


def codes(response: dict[str, Any]) -> set[str]:
    schema = response.get("content", {}).get(PROBLEM, {}).get("schema", {})
    narrowed = [part.get("properties", {}).get("code", {}) for part in schema.get("allOf", [])]
    return {code for code_schema in narrowed for code in code_schema.get("enum", [])}


def what_is_missing(name: str, op: dict[str, Any], document: Document) -> Iterator[str]:
    responses = {int(status): response for status, response in op["responses"].items()}
    if not op.get("summary"):
        yield "a summary"
    body = op.get("requestBody", {}).get("content", {})
    for media, content in body.items():
        if media == "application/json" and "example" not in content and "examples" not in content:
            yield "a request example"
        yield from (f"a request example its schema accepts: {wrong}" for wrong in document.wrong_examples(content))
    answers = [content for status, response in responses.items() if status < 300
               for content in response.get("content", {}).values()]
    if answers and not any("example" in content or "examples" in content for content in answers):
        yield "a response example"
    wanted = {(400, "bad_request"), (503, "service_unavailable")}
    if body:
        wanted |= {(400, "malformed_json"), (413, "payload_too_large")}
    if op.get("security"):
        wanted.add((401, "unauthorized"))
    yield from (f"{status} `{code}`" for status, code in sorted(wanted) if code not in codes(responses.get(status, {})))
    if "Retry-After" not in responses.get(503, {}).get("headers", {}):
        yield "Retry-After on 503"
    for status, response in responses.items():
        if status >= 400 and PROBLEM not in response.get("content", {}) and name not in GATEWAY_ANSWERS:
            yield f"{status} as {PROBLEM}"
        for media, content in response.get("content", {}).items():
            yield from (f"{status} {media} examples its schema accepts: {wrong}"
                        for wrong in document.wrong_examples(content))


@pytest.mark.parametrize("service", list(APPS))
def test_each_operation_has_a_summary_examples_and_every_problem_it_can_answer(
        service: str, sqlite_settings: Settings) -> None:
    ctx = APPS[service].start(sqlite_settings)
    document = Document(APPS[service].create_app(ctx=ctx).test_client().get("/openapi.json").get_json())
    ctx.engine.dispose()
    missing = [f"{name} lacks {what}" for name, op in document.operations()
               for what in what_is_missing(name, op, document)]
    assert not missing, "\n".join(missing)


def test_a_method_not_allowed_says_which_are_in_allow(sqlite_settings: Settings) -> None:
    ctx = order_app.start(sqlite_settings)
    client = order_app.create_app(ctx=ctx).test_client()
    answer = client.delete("/v1/orders")
    ctx.engine.dispose()
    assert answer.status_code == 405
    assert answer.content_type == PROBLEM and answer.get_json()["code"] == "method_not_allowed"
    assert {"GET", "POST"} <= {method.strip() for method in answer.headers["Allow"].split(",")}


@pytest.mark.parametrize("sent", ["k", "  k  ", "5f0c1a52-8e43-4c1e-9a57-3c2d0e1b7a99", "x" * 255, "x" * 256,
                                  " " + "x" * 254, " " + "x" * 255, "", " ", "\t \t", "\u00a0"])
def test_the_documented_idempotency_key_is_the_one_accepted(sent: str) -> None:
    documented = jsonschema_rs.validator_for(IDEMPOTENCY_KEY_HEADER["schema"]).is_valid(sent)
    with Flask(__name__).test_request_context(headers={"Idempotency-Key": sent}):
        try:
            accepted = bool(idempotency_key())
        except Problem as refused:
            assert refused.code == "idempotency_key_required"
            accepted = False
    assert accepted == documented
