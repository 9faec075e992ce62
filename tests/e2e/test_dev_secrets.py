"""A deployed service refuses the public development secrets: each service's gunicorn and
worker, on RabbitMQ and PostgreSQL, exits at once naming them, unless ALLOW_DEV_SECRETS=true;
real secrets start it. The sandbox gateways' gunicorn and worker, deployed beside them as
docker-compose runs them, likewise (their API key and webhook signatures come from
WEBHOOK_SECRET). So does a gunicorn or worker started on the embedded default (SQLite, no
broker): only `make run`, which sets the flag, starts with them (issue 8: a forged token read
another customer's data, a forged webhook credited an unpaid order)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from deploy.infra import Databases, free_port
from shared.config import DEV_SECRETS, SANDBOX, SERVICES
from tests.e2e.spawn import gunicorn, health, spawned, worker
from tests.helpers import wait_for

KINDS = ("web", "worker")
#: what is deployed with its own gunicorn and worker: our four services and the sandbox gateways
DEPLOYED = (*SERVICES, SANDBOX)


def _env(tmp_path: Path, **variables: str) -> dict[str, str]:
    """This machine's environment without anything that would choose the backend or a secret."""
    chosen = {"AMQP_URL", "ALLOW_DEV_SECRETS", "SANDBOX_ENABLED", *DEV_SECRETS}
    env = {k: v for k, v in os.environ.items() if k not in chosen and not k.endswith("_DATABASE_URL")}
    return {**env, "VAR_DIR": str(tmp_path / "var"), "LOG_FORMAT": "json", "LOG_LEVEL": "INFO", **variables}


def _deployed(tmp_path: Path, databases: Databases, amqp_url: str, namespace: str, service: str,
              **variables: str) -> dict[str, str]:
    return _env(tmp_path, AMQP_URL=amqp_url, AMQP_NAMESPACE=namespace,
                **{f"{service.upper()}_DATABASE_URL": databases.create(service)}, **variables)


def _argv(service: str, kind: str, port: int) -> list[str]:
    return gunicorn(f"services.{service}.wsgi:app", port) if kind == "web" else worker(service)


def _started(kind: str, port: int, log: Path) -> bool:
    if kind == "web":
        return health(port) is not None
    return "worker_started" in log.read_text(errors="replace")


def _starts(kind: str, service: str, env: Mapping[str, str], log: Path) -> str:
    """Start it, see it serve (web) or run its loops (worker), stop it; its output."""
    port = free_port()
    with spawned(_argv(service, kind, port), env, log) as process:
        wait_for(lambda: process.poll() is not None or _started(kind, port, log), timeout=60,
                 what=f"{service} {kind} to start")
        assert process.poll() is None, log.read_text(errors="replace")
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log.read_text(errors="replace")
    return log.read_text(errors="replace")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("service", DEPLOYED)
def test_a_deployed_service_refuses_to_start_with_the_development_secrets(
        service: str, kind: str, tmp_path: Path, databases: Databases, amqp_url: str, namespace: str) -> None:
    env = _deployed(tmp_path, databases, amqp_url, namespace, service)
    log = tmp_path / "out.log"
    with spawned(_argv(service, kind, free_port()), env, log) as process:
        try:
            code = process.wait(30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{service} {kind} started with the development secrets:\n{log.read_text(errors='replace')}")
    output = log.read_text(errors="replace")
    assert code != 0, output
    assert "refusing to start" in output
    for name in DEV_SECRETS:
        assert f"{name} (the development default)" in output
    assert not any(value in output for value in DEV_SECRETS.values()), "a secret's value printed"


def test_a_placeholder_or_an_empty_secret_is_refused_and_a_real_one_is_not_printed(
        tmp_path: Path, databases: Databases, amqp_url: str, namespace: str) -> None:
    real = secrets.token_urlsafe(32)
    env = _deployed(tmp_path, databases, amqp_url, namespace, "order", JWT_SECRET=real,
                    OPERATOR_TOKEN="change-me-operator", WEBHOOK_SECRET="", PLATFORM_TOKEN=secrets.token_urlsafe(32))
    log = tmp_path / "out.log"
    with spawned(worker("order"), env, log) as process:
        assert process.wait(30) != 0
    output = log.read_text(errors="replace")
    assert "OPERATOR_TOKEN (a change-me placeholder), WEBHOOK_SECRET (empty)." in output
    assert "JWT_SECRET" not in output and "PLATFORM_TOKEN" not in output
    assert real not in output


@pytest.mark.parametrize("kind", KINDS)
def test_allow_dev_secrets_starts_a_deployed_service_and_says_so(
        kind: str, tmp_path: Path, databases: Databases, amqp_url: str, namespace: str) -> None:
    env = _deployed(tmp_path, databases, amqp_url, namespace, "order", ALLOW_DEV_SECRETS="true")
    output = _starts(kind, "order", env, tmp_path / "out.log")
    assert "public_secrets_allowed" in output and "ALLOW_DEV_SECRETS=true" in output


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("service", ["order", "payment", SANDBOX])
def test_real_secrets_start_a_deployed_service(
        service: str, kind: str, tmp_path: Path, databases: Databases, amqp_url: str, namespace: str) -> None:
    # payment with its sandbox on, and the sandbox gateways themselves, as docker-compose runs them
    env = _deployed(tmp_path, databases, amqp_url, namespace, service, SANDBOX_ENABLED="true",
                    **{name: secrets.token_urlsafe(32) for name in DEV_SECRETS})
    output = _starts(kind, service, env, tmp_path / "out.log")
    assert "public_secrets_allowed" not in output


@pytest.mark.parametrize("kind", KINDS)
def test_on_the_embedded_default_too_only_the_flag_starts_it(kind: str, tmp_path: Path) -> None:
    log = tmp_path / "refused.log"
    with spawned(_argv("order", kind, free_port()), _env(tmp_path), log) as process:
        assert process.wait(30) != 0, "a gunicorn without its environment would serve SQLite on every interface"
    assert "JWT_SECRET (the development default)" in log.read_text(errors="replace")
    _starts(kind, "order", _env(tmp_path, ALLOW_DEV_SECRETS="true"), tmp_path / "out.log")
