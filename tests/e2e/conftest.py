"""The whole system, started once per backend for the end-to-end tests.

`system` is parametrized: the same scenarios run on real RabbitMQ + PostgreSQL (a database
per service) and on the embedded default (SQLite files + kombu's in-memory transport).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from deploy.check import run_checks
from deploy.infra import Databases, delete_namespace, free_port, new_namespace
from deploy.local import LocalSystem
from shared.config import SANDBOX, SERVICES, Settings
from tests.e2e.browser import chromium
from tests.e2e.frontend import Frontend


def _settings(backend: str, tmp: Path, pg_server: str, amqp_url: str, dbs: Databases,
              overrides: dict[str, object]) -> Settings:
    ports = {name: free_port() for name in (*SERVICES, SANDBOX)}
    payment = f"http://127.0.0.1:{ports['payment']}"
    common = dict(
        ports=ports, payment_public_url=payment, sandbox_webhook_url=f"{payment}/v1/webhooks/sandbox",
        sandbox_enabled=True, retry_base_seconds=0.1, retry_max_attempts=3, outbox_poll_seconds=0.02,
        var_dir=str(tmp), amqp_namespace=new_namespace(),
        # every test's customers register from 127.0.0.1, within the module's one system
        auth_rate_limit="100000 per minute",
    )
    common.update(overrides)
    if backend == "postgres+rabbitmq":
        return Settings(database_urls={n: dbs.create(n) for n in (*SERVICES, SANDBOX)}, amqp_url=amqp_url, **common)  # type: ignore[arg-type]
    return Settings(database_urls={n: f"sqlite:///{tmp}/{n}.db" for n in (*SERVICES, SANDBOX)}, amqp_url="memory://",
                    **common)  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=["postgres+rabbitmq", "embedded"])
def system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pg_server: str,
           amqp_url: str) -> Iterator[LocalSystem]:
    dbs = Databases(pg_server)
    # A module may tune the system (short deadlines...) and skip the final money check
    # when its scenarios deliberately leave an order waiting for an operator.
    overrides = getattr(request.module, "SYSTEM_OVERRIDES", {})
    settings = _settings(request.param, tmp_path_factory.mktemp(request.param.replace("+", "_")), pg_server,
                         amqp_url, dbs, overrides)
    running = LocalSystem(settings).start()
    yield running
    # After every scenario of the module: money is conserved across the four databases.
    report = run_checks(running.settings) if getattr(request.module, "CHECK_AT_END", True) else None
    running.stop()
    left_open = dbs.left_open() if request.param == "postgres+rabbitmq" else {}
    if request.param == "postgres+rabbitmq":
        delete_namespace(amqp_url, settings.amqp_namespace)
    dbs.drop_all()
    assert report is None or report.ok, report.render()
    assert left_open == {}, "a stopped system leaves no connection open to its databases"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """A real Chromium for a module's page tests (tests/e2e/browser.py)."""
    with chromium() as running:
        yield running


@pytest.fixture
def frontend(system: LocalSystem) -> Frontend:
    return Frontend(system)
