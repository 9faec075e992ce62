"""The wallet against real PostgreSQL and RabbitMQ: accounts, credits, refusals, operators."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from services.wallet import app as wallet_app
from services.wallet.models import AccountRow, OutboxMessage, PostingRow
from shared.config import Settings
from shared.messaging.envelope import Envelope
from shared.messaging.worker import declare_topology
from shared.service import ServiceContext
from tests.helpers import publish_raw, wait_for

AUTH = {"Authorization": "Bearer dev-operator-token"}


@pytest.fixture
def wallet(pg_settings: Settings) -> Iterator[ServiceContext]:
    ctx = wallet_app.start(pg_settings)
    declare_topology(pg_settings)
    worker = wallet_app.create_worker(ctx=ctx)
    worker.start()
    yield ctx
    worker.stop()
    ctx.engine.dispose()


def sent(ctx: ServiceContext, message_type: str) -> list[Envelope]:
    with ctx.sessions() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.type == message_type).order_by(OutboxMessage.id))
        return [Envelope.from_json(r.body) for r in rows]


def register(settings: Settings, customer_id: str = "cus_1") -> None:
    publish_raw(settings.amqp_url, settings.amqp_namespace, Envelope.new(
        "customer.registered",
        {"customer_id": customer_id, "email": "a@example.com", "country": "DE", "currency": "EUR"}))


def credit(settings: Settings, order_id: str, amount: int, charge: int | None = None,
           customer_id: str = "cus_1") -> Envelope:
    msg = Envelope.new("wallet.credit", {
        "order_id": order_id, "customer_id": customer_id, "amount": amount,
        "charge_amount": amount if charge is None else charge, "currency": "EUR", "validity_days": 365},
        correlation_id=order_id)
    publish_raw(settings.amqp_url, settings.amqp_namespace, msg)
    return msg


def test_registration_opens_an_account(wallet: ServiceContext, pg_settings: Settings) -> None:
    register(pg_settings)
    wait_for(lambda: sent(wallet, "wallet.account_updated"), what="account opened")
    client = wallet_app.create_app(ctx=wallet).test_client()
    body = client.get("/v1/accounts/cus_1", headers=AUTH).get_json()
    assert body["balance"] == {"amount": 0, "currency": "EUR"}
    assert body["status"] == "active"


def test_a_credit_is_booked_once_even_when_delivered_twice(wallet: ServiceContext, pg_settings: Settings) -> None:
    register(pg_settings)
    msg = credit(pg_settings, "ord_1", 1000, charge=900)
    publish_raw(pg_settings.amqp_url, pg_settings.amqp_namespace, msg)  # redelivery, same id
    credit(pg_settings, "ord_1", 1000, charge=900)  # a new command for the same order
    wait_for(lambda: len(sent(wallet, "wallet.credited")) >= 2, what="credited twice answered")
    with wallet.sessions() as s:
        account = s.get(AccountRow, "cus_1")
        assert account is not None and account.balance_minor == 1000
        total = s.scalar(select(func.sum(PostingRow.amount_minor)))
        assert total == 0, "every journal entry balances"
    answers = sent(wallet, "wallet.credited")
    assert {a.payload["entry_id"] for a in answers} == {answers[0].payload["entry_id"]}


def test_frozen_account_refuses_authorization_and_credit(wallet: ServiceContext, pg_settings: Settings) -> None:
    register(pg_settings)
    wait_for(lambda: sent(wallet, "wallet.account_updated"))
    client = wallet_app.create_app(ctx=wallet).test_client()
    assert client.post("/v1/accounts/cus_1/freeze", json={"reason": "overdue_payment"}, headers=AUTH).status_code == 200
    publish_raw(pg_settings.amqp_url, pg_settings.amqp_namespace, Envelope.new(
        "wallet.authorize_credit", {"order_id": "ord_2", "customer_id": "cus_1", "amount": 500, "currency": "EUR"}))
    credit(pg_settings, "ord_3", 500)
    refused = wait_for(lambda: sent(wallet, "wallet.credit_refused"))
    failed = wait_for(lambda: sent(wallet, "wallet.credit_failed"))
    assert refused[0].payload["reason"] == "account_frozen"
    assert failed[0].payload["reason"] == "account_frozen"
    assert client.get("/v1/accounts/cus_1", headers=AUTH).get_json()["balance"]["amount"] == 0


def test_operator_api_requires_the_token(wallet: ServiceContext) -> None:
    client = wallet_app.create_app(ctx=wallet).test_client()
    response = client.get("/v1/accounts/cus_1")
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert client.get("/v1/accounts/nobody", headers=AUTH).get_json()["code"] == "account_not_found"
