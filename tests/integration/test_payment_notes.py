"""Noting a gateway's notification and locking its payment (store.note_and_lock): the path
every webhook and every answer to our question takes, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from services.payment import app as payment_app
from services.payment import store
from services.payment.domain.gateway import GatewayEvent, GatewayEventKind
from shared.config import Settings
from shared.db import unit_of_work
from shared.money import Money
from shared.service import ServiceContext

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["postgresql", "sqlite"])
def ctx(request: pytest.FixtureRequest) -> Iterator[ServiceContext]:
    settings: Settings = request.getfixturevalue("pg_settings" if request.param == "postgresql" else "sqlite_settings")
    ctx = payment_app.start(settings)
    yield ctx
    ctx.stop()


def captured(payment_id: str, event_id: str = "evt_1") -> GatewayEvent:
    return GatewayEvent(event_id, GatewayEventKind.PAYMENT_SUCCEEDED, payment_id, "cs_1", Money(1250, "EUR"), NOW)


def a_payment(ctx: ServiceContext) -> str:
    row = store.new_payment({"order_id": "ord_1", "customer_id": "cus_1", "amount": 1250, "currency": "EUR",
                             "method": "card"}, store.new_payment_id("ord_1"), 3, NOW)
    with unit_of_work(ctx.sessions) as session:
        store.insert_payment(session, row)
    return row.id


def statements(ctx: ServiceContext, run: Any) -> tuple[Any, list[str]]:
    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's explicit BEGIN IMMEDIATE
            seen.append(statement)

    event.listen(ctx.engine, "before_cursor_execute", listen)
    try:
        return run(), seen
    finally:
        event.remove(ctx.engine, "before_cursor_execute", listen)


def test_a_notification_is_noted_once_and_its_payment_locked(ctx: ServiceContext) -> None:
    payment_id = a_payment(ctx)

    def note(notice: GatewayEvent) -> tuple[bool, store.PaymentRecord | None]:
        with unit_of_work(ctx.sessions) as session:
            return store.note_and_lock(session, "sandbox", notice, b'{"id": "evt_1"}')

    (fresh, row), said = statements(ctx, lambda: note(captured(payment_id)))
    assert fresh and row is not None and (row.id, row.status) == (payment_id, "created")
    assert len(said) == (1 if ctx.engine.dialect.name == "postgresql" else 2), said
    assert note(captured(payment_id)) == (False, None), "a redelivery is not new"
    assert note(captured("pay_nobody", "evt_2")) == (True, None), "noted, and no payment to lock"
    with ctx.sessions() as session:
        assert store.get_payment(session, payment_id) == row, "noting changed nothing of the payment"
