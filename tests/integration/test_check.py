"""The money check on real PostgreSQL: a history written by the running system checks out
clean; each deliberate corruption of it is reported in words, on the right order.

The system runs once per module (RabbitMQ + PostgreSQL, a database per service, and the
sandbox gateways' own): one approved top-up (receipt emailed), one declined card, one order
left to expire. Every test then checks its own copy of our four databases (CREATE DATABASE
... TEMPLATE), corrupts it with SQL, and reads what the check says.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from deploy.check import Check, run_checks
from deploy.checks.snapshot import reading
from deploy.infra import Databases, delete_namespace, free_port, new_namespace
from deploy.local import LocalSystem
from services.notify.models import EmailRow, ReceiptRow
from services.order.models import Customer, Order, Quote
from services.payment.models import PaymentRow
from services.wallet.models import AccountRow, CreditLotRow, JournalEntryRow, PostingRow
from shared.clock import utcnow
from shared.config import SANDBOX, SERVICES, Settings
from shared.db import make_engine
from tests.e2e.frontend import APPROVED, Frontend
from tests.helpers import wait_for


def with_ports(settings: Settings) -> Settings:
    """The whole system and its sandbox gateways on free ports, quick to retry (as
    tests/e2e/conftest.py builds it)."""
    ports = {name: free_port() for name in (*SERVICES, SANDBOX)}
    payment = f"http://127.0.0.1:{ports['payment']}"
    return settings.with_changes(ports=ports, payment_public_url=payment, sandbox_enabled=True,
                                 sandbox_webhook_url=f"{payment}/v1/webhooks/sandbox", retry_base_seconds=0.1,
                                 retry_max_attempts=3, outbox_poll_seconds=0.02)


def sql(settings: Settings, service: str, statement: str, **params: Any) -> list[Any]:
    engine = make_engine(settings.database_url(service), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


@dataclass(frozen=True)
class History:
    """What the system left behind: the ids a support agent would be asked about."""

    settings: Settings
    email: str
    customer_id: str
    completed: str
    declined: str
    expired: str


def live_history(settings: Settings) -> History:
    """Run the system on `settings`: an approved top-up of 100.00 EUR (charged 90.00, receipt
    emailed), a declined card, and an order whose deadline passed (expired by the worker)."""
    system = LocalSystem(settings).start()
    try:
        frontend = Frontend(system)
        who = frontend.register()
        approved = frontend.top_up(who, 10000)
        assert frontend.pay(approved).status_code == 200
        frontend.wait_status(who, approved["order_id"], "completed")
        wait_for(lambda: "receipt_sent" in [s["event"] for s in frontend.order(who, approved["order_id"])["timeline"]],
                 what="the receipt emailed")
        declined = frontend.top_up(who, 2000)
        frontend.pay_declined(declined)
        frontend.wait_status(who, declined["order_id"], "failed")
        late = frontend.top_up(who, 3000)
        sql(system.settings, "order", "UPDATE orders SET payment_deadline = :t WHERE id = :id",
            t=utcnow() - timedelta(hours=1), id=late["order_id"])
        frontend.wait_status(who, late["order_id"], "expired")
        wait_for(lambda: sql(system.settings, "payment", "SELECT 1 FROM payments WHERE order_id = :id AND "
                             "status = 'cancelled'", id=late["order_id"]), what="the payment cancelled")
    finally:
        system.stop()
    return History(settings, who["email"], who["customer_id"], approved["order_id"], declined["order_id"],
                   late["order_id"])


@pytest.fixture(scope="module")
def history(pg_server: str, amqp_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    templates = Databases(pg_server)
    settings = with_ports(Settings(database_urls={n: templates.create(n) for n in (*SERVICES, SANDBOX)},
                                   amqp_url=amqp_url, amqp_namespace=new_namespace(),
                                   var_dir=str(tmp_path_factory.mktemp("check"))))
    try:
        yield live_history(settings)
    finally:
        delete_namespace(amqp_url, settings.amqp_namespace)
        templates.drop_all()


@pytest.fixture
def copy(history: History, databases: Databases) -> Settings:
    """This test's own copy of the four databases our services wrote (the check reads only ours)."""
    urls = {}
    with psycopg.connect(databases.server_url, autocommit=True) as admin:
        for service in SERVICES:
            template = history.settings.database_url(service).rsplit("/", 1)[-1]
            name = f"t_{service}_{uuid.uuid4().hex[:10]}"
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            databases.created.append(name)
            urls[service] = databases.server_url.rsplit("/", 1)[0] + f"/{name}"
    return Settings(database_urls=urls)


def lines(report: Any, check: Check, order_id: str) -> list[str]:
    return [p.message for p in report.by_check(check) if p.order_id == order_id]


def test_a_real_history_checks_out_clean(copy: Settings, history: History) -> None:
    report = run_checks(copy)
    assert report.ok, report.render()
    assert report.exit_code == 0
    assert report.verdict() == "OK: 3 orders, 3 payments, 1 journal entry checked; money is conserved."
    assert report.counts.accounts == 1 and report.counts.receipts == 1
    assert report.render().count(": ok") == len(Check)


def test_a_deleted_receipt_is_reported(copy: Settings, history: History) -> None:
    sql(copy, "notify", "DELETE FROM emails WHERE order_id = :id", id=history.completed)
    assert run_checks(copy).ok, "within its deadline plus grace, the receipt may still be on its way"
    report = run_checks(copy, now=utcnow() + timedelta(hours=1))
    assert lines(report, Check.COMPLETED, history.completed) == [
        f"Order {history.completed} (customer {history.email}) is completed, but no receipt was recorded: "
        "the customer was not emailed one."]
    assert report.exit_code == 1 and report.verdict() == "PROBLEMS: 1 found in 3 orders."


def test_a_receipt_never_numbered_is_reported(copy: Settings, history: History) -> None:
    sql(copy, "notify", "DELETE FROM receipts WHERE order_id = :id", id=history.completed)
    report = run_checks(copy, now=utcnow() + timedelta(hours=1))
    assert lines(report, Check.COMPLETED, history.completed) == [
        f"Order {history.completed} (customer {history.email}) is completed and its receipt was emailed, but no "
        "numbered receipt was issued: the customer cannot fetch it."]


def test_an_unbalanced_posting_is_reported(copy: Settings, history: History) -> None:
    sql(copy, "wallet", "INSERT INTO postings (entry_id, account, amount_minor, currency) "
        "SELECT id, 'promotions:EUR', 1, 'EUR' FROM journal_entries WHERE order_id = :id", id=history.completed)
    report = run_checks(copy)
    [line] = lines(report, Check.LEDGER, history.completed)
    assert line.endswith(f"(topup, order {history.completed}, customer {history.email}) does not balance: "
                         "its postings add up to 0.01 EUR instead of zero.")
    assert report.exit_code == 1


def test_a_changed_cached_balance_is_reported(copy: Settings, history: History) -> None:
    sql(copy, "wallet", "UPDATE accounts SET balance_minor = balance_minor + 500 WHERE customer_id = :c",
        c=history.customer_id)
    report = run_checks(copy)
    assert [p.message for p in report.by_check(Check.LEDGER)] == [
        f"Account of customer {history.email}: its credits hold 100.00 EUR, but its balance is 105.00 EUR.",
        f"Account of customer {history.email}: the cached balance is 105.00 EUR, but its postings add up to "
        "100.00 EUR."]
    assert report.problems[0].customer_id == history.customer_id and report.exit_code == 1


def test_a_refunded_payment_on_a_completed_order_is_reported(copy: Settings, history: History) -> None:
    sql(copy, "payment", "UPDATE payments SET status = 'refunded' WHERE order_id = :id", id=history.completed)
    report = run_checks(copy)
    assert lines(report, Check.MONEY, history.completed) == [
        f"Order {history.completed} (customer {history.email}): the payment of 90.00 EUR was refunded, but the "
        "wallet still records 90.00 EUR received from the gateway for it (a credit of 100.00 EUR)."]
    assert report.exit_code == 1


def test_an_order_awaiting_payment_an_hour_past_its_deadline_is_reported(copy: Settings, history: History) -> None:
    sql(copy, "order", "UPDATE orders SET status = 'awaiting_payment', payment_deadline = :t WHERE id = :id",
        t=utcnow() - timedelta(hours=1), id=history.declined)
    report = run_checks(copy)
    [line] = lines(report, Check.STUCK, history.declined)
    assert line.startswith(f"Order {history.declined} (customer {history.email}) is still awaiting payment 1 h "
                           "after its payment deadline (")
    assert line.endswith("UTC); nothing was captured.")
    assert run_checks(copy, grace=timedelta(hours=2)).ok, "within the grace it may still be settling"


def test_money_captured_on_an_expired_order_must_be_refunded(copy: Settings, history: History) -> None:
    sql(copy, "payment", "UPDATE payments SET status = 'captured' WHERE order_id = :id", id=history.expired)
    report = run_checks(copy)
    assert lines(report, Check.REFUNDS, history.expired) == [
        f"Order {history.expired} (customer {history.email}) expired, but 30.00 EUR was captured and never refunded."]
    assert report.exit_code == 1


def test_an_order_flagged_for_an_operator_is_reported(copy: Settings, history: History) -> None:
    sql(copy, "order", "UPDATE orders SET needs_operator = true WHERE id = :id", id=history.expired)
    report = run_checks(copy)
    assert lines(report, Check.STUCK, history.expired) == [
        f"Order {history.expired} (customer {history.email}) needs an operator: the refund of 30.00 EUR failed; "
        "the order is expired (reason on record: payment_timeout)."]
    assert report.exit_code == 1, "even though nothing else is wrong"
    assert [p.order_id for p in report.problems] == [history.expired]


def test_the_check_only_reads(copy: Settings) -> None:
    with reading(copy, "notify") as conn, pytest.raises(DBAPIError, match="read-only"):
        conn.execute(text("DELETE FROM receipts"))
    assert sql(copy, "notify", "SELECT count(*) FROM receipts") == [(1,)]


def test_a_check_run_while_top_ups_are_under_way_raises_no_false_alarm(pg_settings: Settings) -> None:
    """Databases are read one after the other while the saga moves on: what an order does
    between two reads (its credit, its receipt) must not look like lost money."""
    system = LocalSystem(with_ports(pg_settings)).start()
    reports: list[Any] = []
    try:
        frontend = Frontend(system)

        def top_up(i: int) -> None:
            who = frontend.register()
            order = frontend.top_up(who, 1000 + 500 * i)
            if i % 4 == 0:
                frontend.pay_declined(order)
            else:
                frontend.pay(order, APPROVED)
            frontend.wait_status(who, order["order_id"], "completed", "failed", timeout=30)

        with ThreadPoolExecutor(max_workers=6) as pool:
            futures = [pool.submit(top_up, i) for i in range(12)]
            while not all(f.done() for f in futures):
                reports.append(run_checks(system.settings))
            for future in futures:
                future.result()
        reports.append(run_checks(system.settings))
    finally:
        system.stop()
    assert len(reports) > 3 and [r.render() for r in reports if not r.ok] == []
    assert reports[-1].verdict() == "OK: 12 orders, 12 payments, 9 journal entries checked; money is conserved."


def test_tens_of_thousands_of_orders_are_checked_in_seconds(pg_settings: Settings, tmp_path: Path) -> None:
    import importlib

    for service in SERVICES:  # each service's own migrations
        importlib.import_module(f"services.{service}.app").start(pg_settings).engine.dispose()
    seed(pg_settings, orders=20_000, customers=2_000)
    started = time.perf_counter()
    report = run_checks(pg_settings)
    elapsed = time.perf_counter() - started
    assert report.ok, report.render()[:2000]
    assert report.verdict() == "OK: 20,000 orders, 20,000 payments, 20,000 journal entries checked; money is conserved."
    assert elapsed < 15, f"{elapsed:.1f}s"
    print(f"\nrun_checks over 20,000 orders on PostgreSQL: {elapsed:.2f}s")


def seed(settings: Settings, orders: int, customers: int) -> None:
    """Completed top-ups of 100.00 EUR charged 90.00, written as the services would write them."""
    now, long_ago = utcnow(), utcnow() - timedelta(days=1)
    cust = [f"cus_{i}" for i in range(customers)]
    rows: dict[str, list[tuple[Any, list[dict[str, Any]]]]] = {service: [] for service in SERVICES}
    rows["order"] += [
        (Customer, [dict(id=c, email=f"{c}@example.com", password_hash="x", country="DE", currency="EUR")
                    for c in cust]),
        (Quote, [dict(id=f"quo_{i}", customer_id=cust[i % customers], credit_minor=10000, charge_minor=9000,
                      currency="EUR", method="card", validity_days=365, expires_at=now) for i in range(orders)]),
        (Order, [dict(id=f"ord_{i}", customer_id=cust[i % customers], quote_id=f"quo_{i}", status="completed",
                      credit_minor=10000, charge_minor=9000, currency="EUR", method="card", validity_days=365,
                      payment_id=f"pay_{i}", payment_deadline=long_ago, created_at=long_ago)
                 for i in range(orders)])]
    rows["payment"] += [(PaymentRow, [dict(id=f"pay_{i}", order_id=f"ord_{i}", customer_id=cust[i % customers],
                                           amount_minor=9000, currency="EUR", method="card", status="captured",
                                           created_at=long_ago) for i in range(orders)])]
    legs = (("customer:{c}", 10000), ("clearing:EUR", -9000), ("promotions:EUR", -1000))
    per = {c: orders // customers + (i < orders % customers) for i, c in enumerate(cust)}
    rows["wallet"] += [
        (AccountRow, [dict(customer_id=c, currency="EUR", balance_minor=10000 * per[c]) for c in cust]),
        (JournalEntryRow, [dict(id=f"je_{i}", kind="topup", order_id=f"ord_{i}", customer_id=cust[i % customers],
                                balance_after_minor=0) for i in range(orders)]),
        (PostingRow, [dict(entry_id=f"je_{i}", account=a.format(c=cust[i % customers]), amount_minor=m,
                           currency="EUR") for i in range(orders) for a, m in legs]),
        (CreditLotRow, [dict(id=f"lot_{i}", customer_id=cust[i % customers], entry_id=f"je_{i}", order_id=f"ord_{i}",
                             currency="EUR", amount_minor=10000, remaining_minor=10000,
                             expires_at=now + timedelta(days=365)) for i in range(orders)])]
    rows["notify"] += [
        (EmailRow, [dict(id=f"eml_{i}", order_id=f"ord_{i}", kind="receipt", reference=f"ord_{i}",
                         customer_id=cust[i % customers], email="x@example.com", subject="s", text_body="t",
                         html_body="h", status="sent") for i in range(orders)]),
        (ReceiptRow, [dict(order_id=f"ord_{i}", number=f"R-2026-{i:06d}", customer_id=cust[i % customers],
                           language="en", issued_at=long_ago, document={}, email_id=f"eml_{i}")
                      for i in range(orders)])]
    for service, tables in rows.items():
        engine = make_engine(settings.database_url(service), poolclass=NullPool)
        with engine.begin() as conn:
            for model, values in tables:
                conn.execute(insert(model), values)
        engine.dispose()
