"""The doors to an account, on both backends: logins, registrations and password resets are
throttled per account (in the order database, shared by every process) and per client
address; a reset token is single-use and short-lived; changing or resetting the password
ends every earlier access token; CORS only for the configured origins."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from services.order import app as order_app
from services.order import auth, customer_api, password_api, passwords
from services.order.models import OutboxMessage, PasswordReset
from services.order.signin import SignIn
from shared.clock import utcnow
from shared.config import Settings
from shared.db import unit_of_work
from shared.messaging.envelope import Envelope
from shared.service import ServiceContext

PASSWORD = "correct horse"


class Clock:
    """The views' clock, moved by the test (throttle waits are minutes long)."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest) -> Settings:
    value: Settings = request.getfixturevalue("sqlite_settings" if request.param == "sqlite" else "pg_settings")
    return value


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(customer_api, "utcnow", clock)
    monkeypatch.setattr(password_api, "utcnow", clock)
    return clock


@pytest.fixture
def ctx(settings: Settings) -> Iterator[ServiceContext]:
    ctx = order_app.start(settings)
    yield ctx
    ctx.engine.dispose()


@pytest.fixture
def client(ctx: ServiceContext) -> FlaskClient:
    return order_app.create_app(ctx=ctx).test_client()


@pytest.fixture
def argon2_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every argon2 verification the service runs (the real one, counted)."""
    calls: list[str] = []
    matches = auth.password_matches

    def counted(password_hash: str | None, password: str) -> bool:
        calls.append(password)
        return matches(password_hash, password)

    monkeypatch.setattr(auth, "password_matches", counted)
    return calls


def register(client: FlaskClient, email: str = "li.wei@example.com") -> dict[str, Any]:
    response = client.post("/v1/auth/register", json={"email": email, "password": PASSWORD, "country": "CN"})
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def login(client: FlaskClient, email: str = "li.wei@example.com", password: str = PASSWORD, **environ: str) -> Any:
    return client.post("/v1/auth/login", json={"email": email, "password": password}, environ_base=environ)


def bearer(response: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def retry_after(response: Any) -> int:
    assert response.status_code == 429, (response.status_code, response.get_json())
    assert response.get_json()["code"] == "too_many_attempts"
    return int(response.headers["Retry-After"])


# -- the account's throttle --------------------------------------------------------------------
def test_failed_logins_make_the_account_wait_longer_each_time_without_checking_passwords(
        ctx: ServiceContext, client: FlaskClient, clock: Clock, argon2_checks: list[str]) -> None:
    register(client)
    for _ in range(5):
        assert login(client, password="wrong guess").status_code == 401
    assert retry_after(login(client, password="wrong guess")) == 30, "the sixth failure makes it wait"
    checks = len(argon2_checks)
    for password in ("wrong guess", PASSWORD):
        assert 0 < retry_after(login(client, password=password)) <= 30, "even the right password waits"
    assert len(argon2_checks) == checks, "no argon2 work while throttled"

    other = order_app.create_app(ctx=ctx).test_client()  # another web process: same database, same wait
    assert retry_after(login(other, password=PASSWORD)) > 0

    clock.advance(31)
    assert retry_after(login(client, password="wrong guess")) == 60, "the wait doubles"
    clock.advance(61)
    assert login(client).status_code == 200, "after the wait the right password works"
    assert login(client, password="wrong guess").status_code == 401, "and the count starts again"


def test_guesses_sent_at_once_are_counted_before_any_is_checked(
        ctx: ServiceContext, client: FlaskClient, clock: Clock, argon2_checks: list[str]) -> None:
    register(client)
    app = order_app.create_app(ctx=ctx)
    guesses = [f"guess {i}" for i in range(15)] + [PASSWORD]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda password: login(app.test_client(), password=password), guesses))
    assert len(argon2_checks) <= 6, "only the allowance (and the one that starts the wait) is checked"
    assert sum(answer.status_code == 429 for answer in answers) >= len(guesses) - 6


def test_an_unknown_email_is_throttled_the_same(client: FlaskClient, clock: Clock) -> None:
    for _ in range(5):
        response = login(client, email="nobody@example.com", password="wrong guess")
        assert response.status_code == 401 and response.get_json()["code"] == "invalid_credentials"
    assert retry_after(login(client, email="nobody@example.com", password="wrong guess")) == 30


def test_registering_a_taken_email_again_and_again_is_throttled(client: FlaskClient, clock: Clock) -> None:
    register(client)
    for _ in range(5):
        again = client.post("/v1/auth/register", json={"email": "li.wei@example.com", "password": PASSWORD,
                                                       "country": "CN"})
        assert again.status_code == 409
    assert retry_after(client.post("/v1/auth/register", json={"email": "li.wei@example.com", "password": PASSWORD,
                                                              "country": "CN"})) == 30


def test_stale_counts_and_finished_resets_are_purged(ctx: ServiceContext, client: FlaskClient, clock: Clock) -> None:
    register(client)
    for email in ("li.wei@example.com", "nobody@example.com"):
        login(client, email=email, password="wrong guess")
        client.post("/v1/auth/password-reset", json={"email": email})
    reset_messages(ctx, clock)  # the worker issues the account's token
    doors = SignIn.with_policy(ctx.sessions, 5)

    def purged(after: timedelta) -> tuple[int, int]:
        with unit_of_work(ctx.sessions) as session:
            now = clock.now + after
            return passwords.purge(session, now), doors.throttle.purge(session, now)

    assert purged(timedelta(minutes=1)) == (0, 0), "nothing is stale yet"
    assert purged(timedelta(hours=2)) == (0, 4), "quiet counts go (two logins, two resets)"
    assert purged(timedelta(days=8)) == (2, 0), "finished requests go after a week (one for nobody, one expired)"


# -- the client address's limit ------------------------------------------------------------------
def test_one_address_trying_many_accounts_is_limited(ctx: ServiceContext, clock: Clock) -> None:
    client = order_app.create_app(ctx=ctx.__class__(ctx.name, ctx.settings.with_changes(
        auth_rate_limit="4 per minute"), ctx.engine, ctx.sessions)).test_client()
    register(client)  # a registration counts: one of four
    for _ in range(3):
        assert login(client).status_code == 200, "successful logins do not count"
    for i in range(3):
        assert login(client, email=f"guess{i}@example.com", password="x").status_code == 401
    limited = login(client, email="guess9@example.com", password="x")
    assert 0 < retry_after(limited) <= 60
    assert "network" in limited.get_json()["detail"]
    assert retry_after(login(client)) > 0, "now the address waits, whatever it tries"
    assert login(client, REMOTE_ADDR="198.51.100.7").status_code == 200, "another address does not"


def test_the_address_limit_is_shared_through_redis(ctx: ServiceContext, clock: Clock) -> None:
    redis = pytest.importorskip("redis")
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    shared = ctx.settings.with_changes(auth_rate_limit="2 per minute", ratelimit_storage_uri="redis://127.0.0.1:6379")
    first, second = (order_app.create_app(ctx=ServiceContext(ctx.name, shared, ctx.engine, ctx.sessions)).test_client()
                     for _ in range(2))
    assert login(first, email="a@example.com", password="x").status_code == 401
    assert login(second, email="b@example.com", password="x").status_code == 401
    assert retry_after(login(first, email="c@example.com", password="x")) > 0, "the second process's try counted"


def test_the_address_limit_holds_in_the_process_while_its_storage_is_out_of_reach(
        ctx: ServiceContext, clock: Clock) -> None:
    unreachable = ctx.settings.with_changes(auth_rate_limit="2 per minute", ratelimit_storage_uri="redis://127.0.0.1:1")
    client = order_app.create_app(ctx=ServiceContext(ctx.name, unreachable, ctx.engine, ctx.sessions)).test_client()
    assert [login(client, email=f"g{i}@example.com", password="x").status_code for i in range(3)] == [401, 401, 429]


# -- password reset ----------------------------------------------------------------------------
def reset_messages(ctx: ServiceContext, clock: Clock) -> list[dict[str, Any]]:
    """What the order worker's round issues for the recorded requests (run here by hand)."""
    with unit_of_work(ctx.sessions) as session:
        passwords.issue_tokens(session, clock.now)
    with ctx.sessions() as session:
        rows = session.query(OutboxMessage).where(OutboxMessage.type == "customer.password_reset_requested").all()
        return [Envelope.from_json(row.body).payload for row in rows]


def test_a_reset_token_sets_a_new_password_once_and_ends_earlier_tokens(
        ctx: ServiceContext, client: FlaskClient, clock: Clock) -> None:
    customer = register(client)
    old_token = bearer(login(client))
    assert client.get("/v1/me", headers=old_token).status_code == 200

    for email in ("li.wei@example.com", "nobody@example.com"):
        response = client.post("/v1/auth/password-reset", json={"email": email})
        assert response.status_code == 202 and response.data == b"", "the same answer either way"
    with ctx.sessions() as session:
        recorded = session.execute(select(PasswordReset.customer_id, PasswordReset.token_hash)).all()
    assert sorted(recorded, key=str) == sorted([(customer["customer_id"], None), (None, None)], key=str), \
        "both recorded alike; no token issued yet"
    [message] = reset_messages(ctx, clock)
    assert reset_messages(ctx, clock) == [message], "issued once"
    assert message["customer_id"] == customer["customer_id"] and message["language"] == "zh-CN"
    assert message["expires_at"] - clock.now == timedelta(minutes=15)
    token = message["token"]

    weak = client.post("/v1/auth/password-reset/confirm", json={"token": token, "password": "short"})
    assert weak.status_code == 422
    done = client.post("/v1/auth/password-reset/confirm", json={"token": token, "password": "new battery staple"})
    assert done.status_code == 204, done.get_json()
    assert client.get("/v1/me", headers=old_token).status_code == 401, "the earlier token has ended"
    assert login(client).status_code == 401
    assert client.get("/v1/me", headers=bearer(login(client, password="new battery staple"))).status_code == 200

    again = client.post("/v1/auth/password-reset/confirm", json={"token": token, "password": "another one here"})
    assert again.status_code == 400 and again.get_json()["code"] == "reset_token_invalid", "single use"
    forged = client.post("/v1/auth/password-reset/confirm", json={"token": "x" * 43, "password": "another one here"})
    assert forged.status_code == 400


def test_a_reset_token_expires_15_minutes_after_it_was_issued(
        ctx: ServiceContext, client: FlaskClient, clock: Clock) -> None:
    register(client)
    client.post("/v1/auth/password-reset", json={"email": "li.wei@example.com"})
    [message] = reset_messages(ctx, clock)
    clock.advance(15 * 60 + 1)
    late = client.post("/v1/auth/password-reset/confirm", json={"token": message["token"], "password": "new one 123"})
    assert late.status_code == 400 and late.get_json()["code"] == "reset_token_invalid"
    assert "过期" in client.post("/v1/auth/password-reset/confirm", json={"token": message["token"],
                                                                        "password": "new one 123"},
                               headers={"Accept-Language": "zh-CN"}).get_json()["detail"]


def test_reset_requests_are_throttled_per_email(client: FlaskClient, clock: Clock) -> None:
    register(client)
    for _ in range(5):
        assert client.post("/v1/auth/password-reset", json={"email": "li.wei@example.com"}).status_code == 202
    assert retry_after(client.post("/v1/auth/password-reset", json={"email": "li.wei@example.com"})) > 0
    assert client.post("/v1/auth/password-reset", json={"email": "other@example.com"}).status_code == 202


# -- password change ---------------------------------------------------------------------------
def test_changing_the_password_ends_every_earlier_token(client: FlaskClient, clock: Clock) -> None:
    register(client)
    first, second = bearer(login(client)), bearer(login(client))
    quote = client.post("/v1/quotes", headers=first, json={"amount": 5000, "currency": "CNY", "method": "card"})
    quote_id = quote.get_json()["quote_id"]
    wrong = client.post("/v1/auth/password", headers=first,
                        json={"current_password": "not it", "password": "new battery staple"})
    assert wrong.status_code == 403 and wrong.get_json()["code"] == "wrong_password"
    assert client.get("/v1/me", headers=first).status_code == 200, "a refused change changes nothing"

    changed = client.post("/v1/auth/password", headers=first,
                          json={"current_password": PASSWORD, "password": "new battery staple"})
    assert changed.status_code == 204
    for token in (first, second):
        response = client.get("/v1/me", headers={**token, "Accept-Language": "zh-CN"})
        assert response.status_code == 401 and response.get_json()["code"] == "unauthorized"
        assert "密码" in response.get_json()["detail"], "says why: the password changed"
    # Placing an order checks the token on the customer row it reads with the quote: the
    # same refusal, for a quote of theirs or none, and nothing placed.
    for placing in (quote_id, "quo_none"):
        refused = client.post("/v1/orders", headers={**first, "Idempotency-Key": placing}, json={"quote_id": placing})
        assert refused.status_code == 401 and refused.get_json()["code"] == "unauthorized", refused.get_json()
    fresh = bearer(login(client, password="new battery staple"))
    assert client.get("/v1/me", headers=fresh).status_code == 200
    assert client.get("/v1/orders", headers=fresh).get_json()["orders"] == []
    placed = client.post("/v1/orders", headers={**fresh, "Idempotency-Key": quote_id}, json={"quote_id": quote_id})
    assert placed.status_code == 201, placed.get_json()


def test_guessing_the_current_password_is_throttled_like_a_login(client: FlaskClient, clock: Clock) -> None:
    register(client)
    token = bearer(login(client))
    for _ in range(5):
        assert client.post("/v1/auth/password", headers=token,
                           json={"current_password": "guess", "password": "new battery staple"}).status_code == 403
    assert retry_after(client.post("/v1/auth/password", headers=token,
                                   json={"current_password": "guess", "password": "new battery staple"})) == 30
    assert retry_after(client.post("/v1/auth/password", headers=token,
                                   json={"current_password": PASSWORD, "password": "new battery staple"})) > 0
    assert retry_after(login(client)) > 0, "the same account throttle"


# -- browsers ----------------------------------------------------------------------------------
def test_cors_answers_only_the_configured_origins(ctx: ServiceContext) -> None:
    allowed = ServiceContext(ctx.name, ctx.settings.with_changes(cors_allowed_origins=("https://shop.example",)),
                             ctx.engine, ctx.sessions)
    client = order_app.create_app(ctx=allowed).test_client()
    preflight = client.options("/v1/quotes", headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key, prefer, if-none-match"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    allowed_headers = preflight.headers["Access-Control-Allow-Headers"].lower()
    assert all(name in allowed_headers for name in ("idempotency-key", "prefer", "if-none-match")), "long polls too"
    answer = client.get("/v1/topup-options?country=DE", headers={"Origin": "https://shop.example"})
    assert answer.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    exposed = answer.headers["Access-Control-Expose-Headers"]
    assert all(name in exposed for name in ("Retry-After", "ETag", "Preference-Applied", "Idempotent-Replayed"))

    for origin_client, origin in ((client, "https://evil.example"),
                                  (order_app.create_app(ctx=ctx).test_client(), "https://shop.example")):
        other = origin_client.options("/v1/quotes", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        assert "Access-Control-Allow-Origin" not in other.headers
