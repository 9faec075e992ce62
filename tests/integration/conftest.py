"""Fixtures of the integration tests: one service at a time on real PostgreSQL and RabbitMQ."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploy.infra import Databases
from services.order import app as order_app
from shared.config import Settings
from shared.messaging.worker import declare_topology
from tests.integration.order_saga import Saga


@pytest.fixture
def saga(request: pytest.FixtureRequest, pg_settings: Settings, databases: Databases) -> Iterator[Saga]:
    """The order service, web and worker, with a short payment deadline (2 s; a test marked
    `payment_deadline(seconds)` sets its own). Stopped, it leaves no connection open (the
    order watch's listener included)."""
    marker = request.node.get_closest_marker("payment_deadline")
    settings = pg_settings.with_changes(order_payment_timeout_seconds=marker.args[0] if marker else 2)
    ctx = order_app.start(settings)
    declare_topology(settings)
    worker = order_app.create_worker(ctx=ctx)
    worker.start()
    yield Saga(ctx, order_app.create_app(ctx=ctx).test_client())
    worker.stop()
    ctx.stop()
    assert databases.left_open() == {}, "a stopped service leaves no connection open"
