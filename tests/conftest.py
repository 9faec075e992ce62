"""Fixtures: real PostgreSQL and RabbitMQ (see deploy/infra.py), fresh per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploy.infra import Databases, delete_namespace, new_namespace, postgres_server, rabbitmq_server
from shared.config import SANDBOX, SERVICES, Settings


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    with rabbitmq_server() as url:
        yield url


@pytest.fixture
def databases(pg_server: str) -> Iterator[Databases]:
    dbs = Databases(pg_server)
    yield dbs
    dbs.drop_all()


@pytest.fixture
def namespace(amqp_url: str) -> Iterator[str]:
    ns = new_namespace()
    yield ns
    delete_namespace(amqp_url, ns)


@pytest.fixture
def pg_settings(databases: Databases, amqp_url: str, namespace: str, tmp_path: object) -> Settings:
    """Settings for the whole system on real PostgreSQL (a database per service) and RabbitMQ."""
    return Settings(
        database_urls={name: databases.create(name) for name in (*SERVICES, SANDBOX)},
        amqp_url=amqp_url,
        amqp_namespace=namespace,
        sandbox_enabled=True,
        retry_base_seconds=0.1,
        retry_max_attempts=3,
        outbox_poll_seconds=0.02,
        var_dir=str(tmp_path),
        # Not the embedded run, yet a test's own system: the public development secrets are
        # what the tests sign with, so they are allowed deliberately (deployed, refused).
        allow_dev_secrets=True,
    )


@pytest.fixture
def sqlite_settings(tmp_path: object) -> Settings:
    """Settings for the embedded default: SQLite files and kombu's in-memory transport."""
    return Settings(
        database_urls={name: f"sqlite:///{tmp_path}/{name}.db" for name in (*SERVICES, SANDBOX)},
        amqp_url="memory://",
        allow_dev_secrets=True,
        amqp_namespace=new_namespace(),
        sandbox_enabled=True,
        retry_base_seconds=0.1,
        retry_max_attempts=3,
        outbox_poll_seconds=0.02,
        var_dir=str(tmp_path),
    )
