"""The parts of shared/metrics.py and shared/tracing.py that need no running system: counting
only what committed, reading state when scraped, a failing reader that does not fail the
scrape, and the trace context an envelope carries and a log line names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from prometheus_client import CollectorRegistry, Counter, generate_latest
from sqlalchemy import func, select, text

from services.wallet.models import OutboxMessage
from shared import metrics, tracing
from shared.db import make_engine, migrate, session_factory, unit_of_work
from shared.logging import add_trace_ids
from shared.messaging.envelope import Envelope

ROOT = Path(__file__).resolve().parents[2]
RESEND = {"order_id": "ord_1", "customer_id": "cus_1", "resend_id": "rs_1", "email": "li@example.com"}


def test_a_count_waits_for_its_commit_and_a_rollback_forgets_it(tmp_path: Path) -> None:
    counter = Counter("t_committed", "test", registry=CollectorRegistry())
    sessions = session_factory(make_engine(f"sqlite:///{tmp_path}/t.db"))
    try:
        with unit_of_work(sessions) as session:
            session.execute(text("SELECT 1"))
            metrics.after_commit(session, counter.inc)
            assert counter._value.get() == 0, "not before the commit"
            raise RuntimeError("the transaction fails")
    except RuntimeError:
        pass
    assert counter._value.get() == 0, "a rolled-back transaction counts nothing"
    with unit_of_work(sessions) as session:
        session.execute(text("SELECT 1"))
        metrics.after_commit(session, counter.inc)
    assert counter._value.get() == 1
    with unit_of_work(sessions) as session:
        session.execute(text("SELECT 1"))
    assert counter._value.get() == 1, "the next transaction does not count it again"


def test_a_savepoint_neither_counts_early_nor_forgets_what_was_counted_before_it(tmp_path: Path) -> None:
    counter = Counter("t_savepoints", "test", registry=CollectorRegistry())
    sessions = session_factory(make_engine(f"sqlite:///{tmp_path}/t.db"))
    with sessions() as session, session.begin():
        session.execute(text("SELECT 1"))
        metrics.after_commit(session, counter.inc)  # kept
        with session.begin_nested():
            metrics.after_commit(session, counter.inc)  # released with its savepoint: kept
        assert counter._value.get() == 0, "a released savepoint commits nothing yet"
        nested = session.begin_nested()
        metrics.after_commit(session, counter.inc)  # rolled back with its savepoint
        nested.rollback()
    assert counter._value.get() == 2
    with sessions() as session:
        session.begin()
        metrics.after_commit(session, counter.inc)
        with session.begin_nested():
            metrics.after_commit(session, counter.inc)
        session.rollback()
    assert counter._value.get() == 2, "the transaction rolled back: nothing it counted counts"


def test_state_is_read_from_the_database_when_scraped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/wallet.db"
    migrate(url, ROOT / "services" / "wallet" / "migrations")
    sessions = session_factory(make_engine(url))
    registry = CollectorRegistry()
    collector = metrics.StateCollector()
    registry.register(collector)
    collector.watch("wallet", metrics.read_state(sessions, metrics.outbox_state(OutboxMessage)))
    assert 'topup_outbox_waiting{service="wallet"} 0.0' in generate_latest(registry).decode()
    ten_seconds_ago = datetime.now(UTC) - timedelta(seconds=10)
    with unit_of_work(sessions) as session:
        session.add(OutboxMessage(message_id="m1", type="wallet.credited", correlation_id=None, body="{}",
                                  created_at=ten_seconds_ago))
    exposed = generate_latest(registry).decode()
    assert 'topup_outbox_waiting{service="wallet"} 1.0' in exposed
    [age] = [line for line in exposed.splitlines() if line.startswith("topup_outbox_oldest_age_seconds{")]
    assert 9 < float(age.rsplit(" ", 1)[1]) < 60


def test_a_reader_that_fails_is_counted_and_the_others_still_report(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    collector = metrics.StateCollector()
    registry.register(collector)
    gauge: metrics.Gauge = ("t_gauge", "test", ())

    def broken() -> dict[metrics.Gauge, metrics.Samples]:
        raise ConnectionError("the database is away")

    collector.watch("order", broken)
    forget = collector.watch("notify", lambda: {gauge: [((), 7.0)]})
    exposed = generate_latest(registry).decode()
    assert 't_gauge{service="notify"} 7.0' in exposed
    assert 'topup_state_read_errors_total{service="order"} 1.0' in exposed
    forget()
    assert 't_gauge{service="notify"}' not in generate_latest(registry).decode()


def test_outbox_age_is_zero_when_nothing_waits(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/wallet.db"
    migrate(url, ROOT / "services" / "wallet" / "migrations")
    sessions = session_factory(make_engine(url))
    with sessions() as session:
        assert session.execute(select(func.count()).select_from(OutboxMessage)).scalar() == 0
    read = metrics.read_state(sessions, metrics.outbox_state(OutboxMessage))
    assert read()[metrics.OUTBOX_AGE] == [((), 0.0)]


def test_a_message_made_in_a_span_carries_its_trace_and_its_consumer_continues_it() -> None:
    assert tracing.headers() == {}, "outside any span: nothing to carry"
    with tracing.tracer("order").start_as_current_span("POST /v1/orders"):
        placed_in = tracing.trace_ids()
        sent = Envelope.new("receipt.resend", RESEND)
    assert placed_in is not None
    received = Envelope.from_json(sent.to_json())
    assert received.headers["traceparent"].split("-")[1] == placed_in[0]
    with tracing.consuming("wallet", "topup.wallet.update_customer", received.type, received.message_id,
                           received.headers, "ord_1"):
        ids = tracing.trace_ids()
        line = add_trace_ids(None, "info", structlog.contextvars.merge_contextvars(None, "info", {"event": "x"}))
    assert ids is not None and ids[0] == placed_in[0], "the consumer continues the trace"
    assert (line["trace_id"], line["order_id"]) == (placed_in[0], "ord_1"), "the log line names both"
    assert "order_id" not in structlog.contextvars.get_contextvars(), "the order is unbound after the message"


def test_whatever_a_received_envelope_carries_in_its_headers_it_is_read() -> None:
    body = Envelope.new("receipt.resend", RESEND).to_json()
    for headers in ('"nonsense"', "[1, 2]", '{"traceparent": 7, "x": "' + "y" * 1000 + '"}', '{"traceparent": "zz"}'):
        envelope = Envelope.from_json(body[:-1] + f', "headers": {headers}}}')
        assert all(isinstance(v, str) and len(v) <= 256 for v in envelope.headers.values())
        with tracing.consuming("notify", "q", envelope.type, envelope.message_id, envelope.headers, None):
            assert tracing.trace_ids() is not None, "a bad traceparent starts a trace of its own"
