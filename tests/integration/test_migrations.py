"""Upgrading a database that holds data, on PostgreSQL and on SQLite: nothing is lost, what
is new is filled in, and what the upgrade leaves to announce is announced once.

Each service's database is built at the revision before the balance's life (credit lots,
numbered receipts, profiles), filled with rows as that code wrote them, then migrated to
the newest revision by the same call every process makes at start."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from deploy.infra import Databases
from services.notify import handlers as notify_handlers
from services.notify.domain.receipt import Merchant
from services.notify.handlers import NotifyRules
from services.order.backfill import Backfill
from shared.db import make_engine, migrate, normalize_url, session_factory, unit_of_work
from shared.messaging.envelope import Envelope

ROOT = Path(__file__).resolve().parents[2]
BEFORE = {"order": "5d0e7c1f9a42", "wallet": "331c735c2920", "notify": "49aa55f0e2dd"}
THEN = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)

ROWS: dict[str, list[str]] = {
    "order": [
        "INSERT INTO customers (id, email, password_hash, country, currency, created_at) VALUES "
        "('cus_1', 'li@example.com', 'x', 'CN', 'CNY', :then), ('cus_2', 'ana@example.com', 'x', 'DE', 'EUR', :then)",
        "INSERT INTO quotes (id, customer_id, credit_minor, charge_minor, currency, method, promotion, validity_days, "
        "expires_at, created_at) VALUES ('quo_1', 'cus_1', 20000, 20000, 'CNY', 'alipay', NULL, 365, :then, :then)",
        "INSERT INTO orders (id, customer_id, quote_id, status, credit_minor, charge_minor, currency, method, "
        "promotion, validity_days, payment_id, balance_after_minor, needs_operator, payment_deadline, created_at, "
        "updated_at) VALUES ('ord_1', 'cus_1', 'quo_1', 'completed', 20000, 20000, 'CNY', 'alipay', NULL, 365, "
        "'pay_1', 20000, false, :then, :then, :then)",
        "INSERT INTO balances (customer_id, amount_minor, currency, status, version) VALUES "
        "('cus_1', 20000, 'CNY', 'active', 2)",
        "INSERT INTO idempotency_keys (customer_id, key, request_hash, order_id, created_at) VALUES "
        "('cus_1', 'checkout-1', 'cafe', 'ord_1', :then)",
    ],
    "wallet": [
        "INSERT INTO accounts (customer_id, currency, status, frozen_reason, balance_minor, version, opened_at, "
        "updated_at) VALUES ('cus_1', 'CNY', 'active', NULL, 20000, 2, :then, :then)",
        "INSERT INTO journal_entries (id, kind, order_id, customer_id, balance_after_minor, created_at) VALUES "
        "('je_1', 'topup', 'ord_1', 'cus_1', 20000, :then)",
        "INSERT INTO postings (entry_id, account, amount_minor, currency) VALUES "
        "('je_1', 'customer:cus_1', 20000, 'CNY'), ('je_1', 'clearing:CNY', -20000, 'CNY')",
    ],
    "notify": [
        "INSERT INTO receipts (id, order_id, kind, customer_id, email, subject, text_body, html_body, status, "
        "attempts, next_attempt_at, last_error, created_at, sent_at) VALUES ('rcp_1', 'ord_1', 'receipt', 'cus_1', "
        "'li@example.com', 'Your top-up receipt (ord_1)', 'text', 'html', 'sent', 1, :then, NULL, :then, :then)",
    ],
}


@pytest.fixture(params=["postgresql", "sqlite"])
def urls(request: pytest.FixtureRequest, pg_server: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {service: f"sqlite:///{tmp_path}/{service}.db" for service in BEFORE}
        return
    databases = Databases(pg_server)
    yield {service: databases.create(service) for service in BEFORE}
    databases.drop_all()


def upgraded(urls: dict[str, str]) -> dict[str, sa.Engine]:
    """Each database at its old revision, with rows, then migrated as a process starting does."""
    engines = {}
    for service, revision in BEFORE.items():
        config = Config()
        config.set_main_option("script_location", str(ROOT / "services" / service / "migrations"))
        config.set_main_option("sqlalchemy.url", normalize_url(urls[service]))
        command.upgrade(config, revision)
        engine = make_engine(urls[service])
        with engine.begin() as conn:
            for statement in ROWS[service]:
                conn.execute(sa.text(statement), {"then": THEN})
        migrate(urls[service], ROOT / "services" / service / "migrations")
        engines[service] = engine
    return engines


def rows(engine: sa.Engine, query: str) -> list[Any]:
    with engine.begin() as conn:
        return list(conn.execute(sa.text(query)))


def test_an_upgrade_keeps_every_row_and_fills_in_what_is_new(urls: dict[str, str]) -> None:
    engines = upgraded(urls)
    wallet, order, notify = engines["wallet"], engines["order"], engines["notify"]
    [(lot_customer, remaining)] = rows(wallet, "SELECT customer_id, remaining_minor FROM credit_lots")
    assert (lot_customer, remaining) == ("cus_1", 20000), "the balance became one credit"
    assert rows(wallet, "SELECT reference FROM journal_entries") == [("ord_1",)]
    assert sorted(rows(order, "SELECT id, language, announced_version, profile_version FROM customers")) == [
        ("cus_1", "zh-CN", 0, 1), ("cus_2", "en", 0, 1)]
    assert rows(order, "SELECT announce_again FROM orders") in ([(True,)], [(1,)])
    assert rows(order, "SELECT idempotency_key, request_hash FROM orders") == [("checkout-1", "cafe")], \
        "the order's key moved onto its row"
    assert rows(notify, "SELECT kind, reference, order_id, status FROM emails") == [
        ("receipt", "ord_1", "ord_1", "sent")]
    assert rows(notify, "SELECT count(*) FROM receipts") == [(0,)]
    for engine in engines.values():
        engine.dispose()


def test_what_the_upgrade_leaves_to_announce_is_announced_once_and_numbered_without_a_second_email(
        urls: dict[str, str]) -> None:
    engines = upgraded(urls)
    order_sessions = session_factory(engines["order"])
    backfill = Backfill(order_sessions)
    assert backfill.round() == 3 and backfill.round() == 0, "two profiles and a completion, once"
    with order_sessions() as session:
        bodies = [Envelope.from_json(body) for (body,) in session.execute(
            sa.text("SELECT body FROM outbox ORDER BY id"))]
    assert sorted(m.type for m in bodies) == ["customer.updated", "customer.updated", "order.completed"]
    completed = next(m for m in bodies if m.type == "order.completed")
    assert completed.payload["language"] == "zh-CN" and completed.payload["time_zone"] == "Asia/Shanghai"

    notify_sessions = session_factory(engines["notify"])
    rules = NotifyRules(Merchant("topup"))
    with unit_of_work(notify_sessions) as session:
        notify_handlers.send_receipt(session, completed, rules)
    assert rows(engines["notify"], "SELECT count(*) FROM emails") == [(1,)], "not emailed again"
    [(number, email_id)] = rows(engines["notify"], "SELECT number, email_id FROM receipts")
    assert number.startswith("R-") and email_id == "rcp_1"
    for engine in engines.values():
        engine.dispose()


def test_the_credit_an_upgrade_makes_lasts_a_year(urls: dict[str, str]) -> None:
    engines = upgraded(urls)
    [(expires_at,)] = rows(engines["wallet"], "SELECT expires_at FROM credit_lots")
    moment = expires_at if isinstance(expires_at, datetime) else datetime.fromisoformat(expires_at)
    assert moment.replace(tzinfo=UTC) - datetime.now(UTC) > timedelta(days=364)
    for engine in engines.values():
        engine.dispose()


def test_a_downgrade_gives_the_orders_keys_back_their_own_table(urls: dict[str, str]) -> None:
    engines = upgraded(urls)
    config = Config()
    config.set_main_option("script_location", str(ROOT / "services" / "order" / "migrations"))
    config.set_main_option("sqlalchemy.url", normalize_url(urls["order"]))
    command.downgrade(config, "3c384c02f7c6")  # before the keys moved onto the orders
    assert rows(engines["order"], "SELECT customer_id, key, request_hash, order_id FROM idempotency_keys") == [
        ("cus_1", "checkout-1", "cafe", "ord_1")]
    for engine in engines.values():
        engine.dispose()
