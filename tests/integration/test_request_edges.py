"""What any client may send, answered without a 500: deep or broken JSON, bodies too large,
NUL characters; and a dropped database connection, answered with a retry or a 503."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services.order import app as order_app
from services.payment import app as payment_app
from services.sandbox import app as sandbox_app
from services.wallet import app as wallet_app
from shared.config import Settings
from shared.db import database_unavailable, make_engine, normalize_url
from shared.web import repeatable

DEEP_ARRAY = "[" * 1000 + "]" * 1000
DEEP_OBJECT = '{"a":' * 1000 + "1" + "}" * 1000
SHALLOW_BUT_TOO_DEEP = '{"email":' + "[" * 40 + "]" * 40 + "}"


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest) -> Settings:
    fixture = "sqlite_settings" if request.param == "sqlite" else "pg_settings"
    value: Settings = request.getfixturevalue(fixture)
    return value


@pytest.fixture
def order(settings: Settings) -> Iterator[FlaskClient]:
    ctx = order_app.start(settings)
    yield order_app.create_app(ctx=ctx).test_client()
    ctx.engine.dispose()


def signed_in(client: FlaskClient, email: str = "lena@example.com") -> dict[str, str]:
    client.post("/v1/auth/register", json={"email": email, "password": "correct horse", "country": "DE"})
    token = client.post("/v1/auth/login", json={"email": email, "password": "correct horse"}).get_json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def problem(response: Any) -> dict[str, Any]:
    assert response.content_type == "application/problem+json", (response.status_code, response.data[:200])
    body: dict[str, Any] = response.get_json()
    return body


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT, SHALLOW_BUT_TOO_DEEP, "{", '{"a": 1}}', "\ufeff{}",
                                  '{"email": "a\\u0000@example.com", "password": "x"}'],
                         ids=["deep-array", "deep-object", "too-deep", "unclosed", "trailing", "bom", "nul"])
def test_json_that_cannot_be_read_is_400_malformed_json(order: FlaskClient, body: str) -> None:
    who = signed_in(order)
    for path, headers in (("/v1/auth/login", {}), ("/v1/quotes", who)):
        response = order.post(path, data=body, content_type="application/json", headers=headers)
        assert response.status_code == 400, (path, response.data[:200])
        assert problem(response)["code"] == "malformed_json"
    not_utf8 = order.post("/v1/auth/login", data=b'{"email": "\xff"}', content_type="application/json")
    assert not_utf8.status_code == 400 and problem(not_utf8)["code"] == "malformed_json"


def test_the_answer_is_in_the_callers_language(order: FlaskClient) -> None:
    response = order.post("/v1/auth/login", data=DEEP_ARRAY, content_type="application/json",
                          headers={"Accept-Language": "zh-CN"})
    body = problem(response)
    assert body["code"] == "malformed_json" and any("\u4e00" <= ch <= "\u9fff" for ch in body["title"])


def test_a_body_over_the_limit_is_413_before_it_is_read(settings: Settings) -> None:
    ctx = order_app.start(settings.with_changes(max_body_bytes=1024))
    client = order_app.create_app(ctx=ctx).test_client()
    big = {"email": "a@example.com", "password": "x" * 2000}
    response = client.post("/v1/auth/login", json=big)
    assert response.status_code == 413 and problem(response)["code"] == "payload_too_large"
    form = client.post("/v1/auth/login", data={"a": "x" * 2000})
    assert form.status_code == 413
    assert client.post("/v1/auth/login", json={"email": "a@example.com", "password": "x"}).status_code == 401
    ctx.engine.dispose()


def test_the_default_limit_is_64_kib(order: FlaskClient) -> None:
    response = order.post("/v1/auth/login", json={"email": "a@example.com", "password": "x" * (65 * 1024)})
    assert response.status_code == 413


@pytest.fixture
def payment(settings: Settings) -> Iterator[Flask]:
    ctx = payment_app.start(settings.with_changes(max_body_bytes=8 * 1024, webhook_max_body_bytes=256 * 1024))
    yield payment_app.create_app(ctx=ctx)
    ctx.engine.dispose()


def test_webhooks_may_be_larger_than_other_requests(payment: Flask) -> None:
    client = payment.test_client()
    event = b'{"padding": "' + b"x" * (100 * 1024) + b'"}'
    webhook = client.post("/v1/webhooks/sandbox", data=event, content_type="application/json")
    assert webhook.status_code == 400 and problem(webhook)["code"] != "payload_too_large", "read, then refused unsigned"
    too_big = client.post("/v1/webhooks/sandbox", data=b"x" * (300 * 1024), content_type="application/json")
    assert too_big.status_code == 413


@pytest.fixture
def sandbox(settings: Settings) -> Iterator[Flask]:
    """The sandbox gateways' own app (their card page is on their origin, not the payment service's)."""
    ctx = sandbox_app.start(settings.with_changes(max_body_bytes=8 * 1024))
    yield sandbox_app.create_app(ctx=ctx)
    ctx.engine.dispose()


def test_the_sandbox_card_page_refuses_deep_json_and_bodies_over_the_limit(sandbox: Flask) -> None:
    client = sandbox.test_client()
    unknown = client.post("/sandbox/checkout/chk_unknown", json={"card_number": "4242424242424242"})
    assert unknown.status_code == 404 and problem(unknown)["code"] == "checkout_not_found", "the card page is here"
    page = client.post("/sandbox/checkout/chk_unknown", data=DEEP_OBJECT, content_type="application/json")
    assert page.status_code == 400 and problem(page)["code"] == "malformed_json"
    assert client.post("/sandbox/checkout/chk_unknown", data=b"x" * (9 * 1024),  # MAX_BODY_BYTES, 8 KiB here
                       content_type="application/x-www-form-urlencoded").status_code == 413


def test_a_nul_in_the_address_is_400(order: FlaskClient) -> None:
    who = signed_in(order)
    for path in ("/v1/orders/ord_%00x", "/v1/balance/entries?cursor=a%00b"):
        response = order.get(path, headers=who)
        assert response.status_code == 400 and problem(response)["code"] == "bad_request", path


# -- the database drops its connections ------------------------------------------------------
def terminate_connections(database_url: str) -> int:
    """What a failover or a restarted PostgreSQL does to every connection of the service."""
    url = normalize_url(database_url).replace("postgresql+psycopg://", "postgresql://")
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchall()
    return len(rows)


def test_a_dropped_connection_is_retried_where_safe_and_else_a_503(pg_settings: Settings) -> None:
    ctx = order_app.start(pg_settings)
    client = order_app.create_app(ctx=ctx).test_client()
    who = signed_in(client)
    assert client.get("/v1/me", headers=who).status_code == 200  # the pool now holds a connection

    assert terminate_connections(pg_settings.database_url("order")) >= 1
    read = client.get("/v1/me", headers=who)
    assert read.status_code == 200, read.data[:300]

    terminate_connections(pg_settings.database_url("order"))
    write = client.post("/v1/quotes", headers={**who, "Idempotency-Key": "ignored-by-quotes"},
                        json={"amount": 5000, "currency": "EUR", "method": "card"})
    assert write.status_code == 503, write.data[:300]
    assert problem(write)["code"] == "service_unavailable" and write.headers["Retry-After"] == "1"
    assert "Traceback" not in write.get_data(as_text=True)
    again = client.post("/v1/quotes", headers=who, json={"amount": 5000, "currency": "EUR", "method": "card"})
    assert again.status_code == 201

    terminate_connections(pg_settings.database_url("order"))
    keyed = client.post("/v1/orders", headers={**who, "Idempotency-Key": "after-a-failover"},
                        json={"quote_id": again.get_json()["quote_id"]})
    assert keyed.status_code == 201, "a write with an Idempotency-Key is safe to try again, and is"
    ctx.engine.dispose()



def test_only_writes_that_take_an_idempotency_key_are_tried_again(sqlite_settings: Settings) -> None:
    wallet = wallet_app.create_app(sqlite_settings)
    order = order_app.create_app(sqlite_settings)
    for app, method, path, again in ((wallet, "POST", "/v1/accounts/cus_1/debits", True),
                                     (wallet, "POST", "/v1/accounts/cus_1/debits/dbt_1/reversal", False),
                                     (order, "POST", "/v1/orders", True), (order, "POST", "/v1/quotes", False),
                                     (order, "GET", "/v1/orders", True)):
        with app.test_request_context(path, method=method, headers={"Idempotency-Key": "k"}):
            assert repeatable() is again, (method, path)


def test_a_mistaken_statement_is_a_bug_not_the_database_being_away(tmp_path: Path, pg_settings: Settings) -> None:
    sqlite = make_engine(f"sqlite:///{tmp_path}/x.db")
    postgres = make_engine(pg_settings.database_url("order"))
    for engine in (sqlite, postgres):
        with pytest.raises(DBAPIError) as raised, engine.connect() as conn:
            conn.execute(text("SELECT * FROM no_such_table"))
        assert not database_unavailable(raised.value), engine.dialect.name
    with postgres.connect() as conn:
        terminate_connections(pg_settings.database_url("order"))
        with pytest.raises(DBAPIError) as raised:
            conn.execute(text("SELECT 1"))
    assert database_unavailable(raised.value)
    sqlite.dispose()
    postgres.dispose()
