"""`/readyz` beside `/healthz`: whether this process can do its work now, for a load balancer
or Kubernetes' readiness probe (take it out of rotation, do not restart it). `/healthz` says
only that it is alive.

Ready means: its database answers, its migrations are applied (the schema is the one this
code expects: a process started before a migration Job finished must not serve), and its
broker accepts a connection. Each check says ok or why not; 503 when any fails.

A database migrated past this code, to a revision it does not know, is a newer release's
migration while this release still serves (a rolling update): ready, and said so. That
holds because a release's migrations only add what the release before can live beside
(expand, then contract a release later: deploy/SCALING.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, Response, jsonify

from shared.messaging.broker import close_quietly, connect
from shared.service import ServiceContext


def migration_heads(migrations_dir: Path) -> set[str]:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    return set(ScriptDirectory.from_config(config).get_heads())


def known_revisions(migrations_dir: Path) -> set[str]:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    return {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}


def migrations_check(current: set[str], expected: set[str], known: set[str]) -> str:
    """"ok" at this code's head, or past it at revisions a newer release made; else why not."""
    if current == expected:
        return "ok"
    if current and not current & known:
        return "ok"  # ahead: a newer release's migrations, which this release lives beside
    return f"at {sorted(current) or 'none'}, this code expects {sorted(expected)}"


def install_readiness(app: Flask, ctx: ServiceContext) -> None:
    expected = migration_heads(ctx.migrations) if ctx.migrations else set()
    known = known_revisions(ctx.migrations) if ctx.migrations else set()

    @app.get("/readyz")
    def readyz() -> Response:
        checks: dict[str, str] = {}
        try:
            with ctx.engine.connect() as conn:
                current = set(MigrationContext.configure(conn).get_current_heads())
            checks["database"] = "ok"
            checks["migrations"] = migrations_check(current, expected, known)
        except Exception as exc:  # noqa: BLE001 - a probe says why, it does not fail
            checks["database"] = checks["migrations"] = f"unreachable: {type(exc).__name__}"
        if ctx.messaging:  # the sandbox gateways never talk to the broker
            checks["broker"] = _broker(ctx)
        ready = all(value == "ok" for value in checks.values())
        response = jsonify({"status": "ready" if ready else "not_ready", "service": ctx.name, "checks": checks})
        response.status_code = 200 if ready else 503
        return response


def _broker(ctx: ServiceContext) -> str:
    connection: Any = connect(ctx.settings.amqp_url, ctx.settings.amqp_heartbeat)
    try:
        connection.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:  # noqa: BLE001
        return f"unreachable: {type(exc).__name__}"
    finally:
        close_quietly(connection)
