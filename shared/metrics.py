"""Prometheus metrics: what an operator graphs and is woken by (deploy/grafana/, deploy/prometheus/).

Every process counts with prometheus_client. A web process answers `/metrics`; under gunicorn
the counts of all its worker processes add up (multiprocess mode: deploy/gunicorn.conf.py
points PROMETHEUS_MULTIPROC_DIR at a fresh folder). A worker process answers on
METRICS_PORT. The embedded run (`make run`, every service in one process) answers `/metrics`
on each service's port with the same, whole, process's numbers.

Two kinds:
- **events**, counted where they happen, and only once their transaction committed
  (`after_commit`): a rolled-back top-up ending is no ending;
- **state** (outbox rows waiting and the oldest one's age, refunds pending or failed, orders
  needing an operator, emails waiting or failed), read from the service's own database when
  scraped, by its worker (`watch_state`): a gauge kept in memory would be wrong after any
  restart and in every other replica.

Names carry the `topup_` prefix; labels are bounded sets (routes as declared, not paths;
queues; message types; methods; endings), so a client cannot grow the series.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from shared.committed import AfterCommit

log = structlog.get_logger(__name__)

#: seconds, from a few milliseconds (an API answer) to a minute (a slow poll)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: seconds from placed to ended: the saga's own pace, the customer's on the payment page, the
#: deadline of an unpaid order (ORDER_PAYMENT_TIMEOUT, 15 min by default)
TOPUP_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)

HTTP_REQUESTS = Counter("topup_http_requests_total", "HTTP requests answered, by route and status",
                        ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram("topup_http_request_duration_seconds", "Time to answer an HTTP request, by route",
                         ["service", "method", "route"], buckets=LATENCY_BUCKETS)
TOPUPS = Counter("topup_topups_total", "Top-ups that ended, by payment method and ending "
                 "(completed, failed, cancelled, expired, refunded)", ["method", "ending"])
TOPUP_SECONDS = Histogram("topup_placed_to_ending_seconds", "Time from an order placed to its ending",
                          ["ending"], buckets=TOPUP_BUCKETS)
CONSUMED = Counter("topup_messages_consumed_total", "Messages consumed, by queue and outcome "
                   "(handled; duplicate: seen before, changed nothing)", ["queue", "outcome"])
PUBLISHED = Counter("topup_messages_published_total", "Messages published, by publishing service and type",
                    ["service", "type"])
RETRIED = Counter("topup_messages_retried_total", "Messages whose handler failed and that wait for another try",
                  ["queue"])
PARKED = Counter("topup_messages_parked_total", "Messages parked (every try failed, or unreadable)", ["queue"])
DEBITS = Counter("topup_wallet_debits_total", "The eSIM platform's debits of a balance, by outcome",
                 ["outcome"])
EXPIRIES = Counter("topup_wallet_credit_expiries_total", "Credits that reached their end with money left")
REMINDERS = Counter("topup_wallet_reminders_total", "Reminders the wallet asked to be sent, by kind "
                    "(balance_low, credit_expiring, credit_expired)", ["kind"])
EMAILS = Counter("topup_emails_total", "Emails to customers, by kind and outcome (sent, failed: to be tried again)",
                 ["kind", "outcome"])


# -- counting once the transaction committed ----------------------------------------------
_COUNTS = AfterCommit("topup.metrics.counts")
event.listen(Session, "after_transaction_create", _COUNTS.began)
event.listen(Session, "after_soft_rollback", _COUNTS.rolled_back)


def after_commit(session: Session, count: Callable[[], None]) -> None:
    """Count when `session`'s transaction commits; forget it if it (or the savepoint it was
    counted in) rolls back."""
    _COUNTS.add(session, count)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    for count in _COUNTS.take(session) or ():
        try:
            count()
        except Exception:
            log.exception("metric_count_failed")


# -- state, read when scraped ---------------------------------------------------------------
#: (name, help, labels): a state gauge a service reports
Gauge = tuple[str, str, tuple[str, ...]]
#: its samples: label values -> value
Samples = Iterable[tuple[tuple[str, ...], float]]


class StateCollector(Collector):
    """The services' state gauges, read from their databases when Prometheus scrapes. One
    per process; each service's worker adds its readers (`watch_state`) and takes them away
    when it stops. A reader that fails (the database is away) reports nothing for that
    scrape and `topup_state_read_errors_total` says so: a scrape never fails for it."""

    def __init__(self) -> None:
        self._readers: dict[str, Callable[[], dict[Gauge, Samples]]] = {}
        self._lock = threading.Lock()
        self.errors = Counter("topup_state_read_errors_total", "Scrapes whose read of a service's state failed",
                              ["service"], registry=None)

    def watch(self, service: str, read: Callable[[], dict[Gauge, Samples]]) -> Callable[[], None]:
        with self._lock:
            self._readers[service] = read

        def forget() -> None:
            with self._lock:
                if self._readers.get(service) is read:
                    del self._readers[service]

        return forget

    def collect(self) -> Iterator[Any]:
        with self._lock:
            readers = dict(self._readers)
        families: dict[str, GaugeMetricFamily] = {}
        for service, read in sorted(readers.items()):
            try:
                gauges = read()
            except Exception:  # noqa: BLE001 - a scrape reports what it can
                self.errors.labels(service).inc()
                continue
            for (name, help_text, labels), samples in gauges.items():
                family = families.setdefault(name, GaugeMetricFamily(name, help_text, labels=["service", *labels]))
                for values, value in samples:
                    family.add_metric([service, *values], value)
        yield from families.values()
        yield from self.errors.collect()


def read_state(sessions: Callable[[], Session],
               queries: Iterable[tuple[Gauge, Any]]) -> Callable[[], dict[Gauge, Samples]]:
    """A reader for `watch_state`: each gauge's statement answers rows of (its labels' values...,
    the value); a value that is a moment becomes its age in seconds (none: 0)."""
    queries = list(queries)

    def read() -> dict[Gauge, Samples]:
        now = datetime.now(UTC)
        with sessions() as session:
            return {gauge: [(tuple(str(v) for v in row[:-1]), _number(row[-1], now))
                            for row in session.execute(statement)]
                    for gauge, statement in queries}

    return read


def _number(value: Any, now: datetime) -> float:
    if value is None:
        return 0.0
    if isinstance(value, datetime):
        return max(0.0, (now - value).total_seconds())
    return float(value)


OUTBOX_WAITING: Gauge = ("topup_outbox_waiting", "Outbox rows not yet published (the relay sends what nobody did)", ())
OUTBOX_AGE: Gauge = ("topup_outbox_oldest_age_seconds", "Age of the oldest outbox row not yet published (0: none)", ())


def outbox_state(outbox: Any) -> list[tuple[Gauge, Any]]:
    """The outbox's gauges for `read_state` (`outbox`: the service's OutboxMessage model)."""
    waiting = outbox.published_at.is_(None)
    return [(OUTBOX_WAITING, select(func.count()).select_from(outbox).where(waiting)),
            (OUTBOX_AGE, select(func.min(outbox.created_at)).where(waiting))]


STATE = StateCollector()
REGISTRY.register(STATE)


def watch_state(service: str, read: Callable[[], dict[Gauge, Samples]]) -> Callable[[], None]:
    """Report `read()`'s gauges, labelled with `service`, at every scrape of this process
    (its worker's METRICS_PORT, or /metrics in the embedded run); returns how to stop."""
    return STATE.watch(service, read)


# -- exposition ----------------------------------------------------------------------------
def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition() -> tuple[bytes, str]:
    """This process's metrics, or, under gunicorn, every web worker's added up (the state
    gauges are the worker's: a web process has none)."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def serve(port: int, host: str = "0.0.0.0") -> Any:
    """A worker's metrics endpoint (METRICS_PORT); the server runs on a daemon thread."""
    server, _thread = start_http_server(port, addr=host, registry=REGISTRY)
    return server


def process_died(pid: int) -> None:
    """gunicorn's child_exit: a dead worker's live gauges leave the sum (counters stay)."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)
