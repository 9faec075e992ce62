"""The doorbell on real PostgreSQL: a loop that polls rarely still runs at once when another
process commits work for it, and never for work that was rolled back."""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from services.wallet import app as wallet_app
from services.wallet.models import OutboxMessage
from shared.config import SANDBOX, SERVICES, Settings
from shared.loops import PollLoop
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import put
from shared.messaging.worker import Worker
from shared.service import ServiceContext
from tests.helpers import wait_for


@pytest.fixture
def ctx(pg_settings: Settings) -> Iterator[ServiceContext]:
    context = wallet_app.start(pg_settings)
    yield context
    context.engine.dispose()


def queue_message(ctx: ServiceContext, commit: bool = True) -> None:
    """What a web process does: write an outbox row (and commit it, or not)."""
    message = Envelope.new("wallet.account_updated", {"customer_id": "cus_1", "status": "active",
                                                      "balance": 0, "currency": "EUR", "version": 1})
    with ctx.sessions() as session, session.begin():
        put(session, OutboxMessage, message)
        if not commit:
            session.rollback()


def watched_worker(ctx: ServiceContext, url: str | None) -> tuple[Worker, list[float]]:
    """A worker whose one loop polls only every minute and notes when it ran."""
    rounds: list[float] = []

    def work() -> int:
        rounds.append(time.monotonic())
        return 0

    worker = Worker("wallet", [PollLoop("watched", work, idle_seconds=60, wakes_on="outbox")], url)
    worker.start()
    wait_for(lambda: len(rounds) >= 2, what="the first round and the doorbell's catch-up ring")
    return worker, rounds


def test_a_commit_in_another_process_wakes_the_loop_at_once(ctx: ServiceContext) -> None:
    worker, rounds = watched_worker(ctx, ctx.settings.database_url("wallet"))
    try:
        before = len(rounds)
        queue_message(ctx, commit=False)
        time.sleep(0.5)
        assert len(rounds) == before, "a rolled-back insert rings nothing"
        committed_at = time.monotonic()
        queue_message(ctx)
        wait_for(lambda: len(rounds) > before, timeout=5, what="the loop woken by the commit")
        assert rounds[before] - committed_at < 1.0
    finally:
        worker.stop()


def test_a_worker_stops_at_once_though_its_loops_poll_rarely(ctx: ServiceContext) -> None:
    worker, _ = watched_worker(ctx, ctx.settings.database_url("wallet"))
    started = time.monotonic()
    worker.stop()
    assert time.monotonic() - started < 2 and not any(t.is_alive() for t in worker.threads)


def test_only_postgresql_and_loops_that_wait_for_rows_get_a_doorbell(ctx: ServiceContext) -> None:
    url = ctx.settings.database_url("wallet")
    waits_for_rows = PollLoop("watched", lambda: 0, 60, wakes_on="outbox")
    assert Worker("wallet", [waits_for_rows], url).doorbell() is not None
    assert Worker("wallet", [waits_for_rows], "sqlite:///x.db").doorbell() is None
    assert Worker("wallet", [PollLoop("watched", lambda: 0, 60)], url).doorbell() is None


@pytest.mark.parametrize("service", [*SERVICES, SANDBOX])
def test_every_loop_that_waits_for_rows_has_its_doorbell(pg_settings: Settings, service: str) -> None:
    """Each loop of a service's worker that waits for another process's rows (`wakes_on`)
    finds a trigger ringing for that table in the service's own database: without it the
    loop would only poll (the sandbox's webhook sender, once it had its own database, did)."""
    module = importlib.import_module(f"services.{service}.app")
    context = module.start(pg_settings)
    worker = module.create_worker(ctx=context)
    try:
        tables = {loop.wakes_on for loop in worker.loops if getattr(loop, "wakes_on", None)}
        with context.engine.connect() as conn:
            triggers = set(conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars())
        if service == SANDBOX:
            assert tables == {"sandbox_webhook_deliveries"}
        assert {f"{table}_doorbell" for table in tables} <= triggers
    finally:
        context.stop()
