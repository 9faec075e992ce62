"""`/readyz` (shared/readiness.py): ready when the database answers at the migrations this
code expects and the broker takes a connection; 503 naming what is not, on both backends."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from deploy.infra import free_port
from services.wallet import app as wallet_app
from shared.config import Settings
from shared.db import normalize_url
from shared.readiness import migration_heads


def test_a_service_is_ready_on_postgresql_and_rabbitmq_and_says_what_is_missing(pg_settings: Settings) -> None:
    ctx = wallet_app.start(pg_settings)
    try:
        client = wallet_app.create_app(ctx=ctx).test_client()
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.get_json()
        assert ready.get_json() == {"status": "ready", "service": "wallet",
                                    "checks": {"database": "ok", "migrations": "ok", "broker": "ok"}}
        assert client.get("/healthz").status_code == 200

        config = Config()
        config.set_main_option("script_location", str(ctx.migrations))
        config.set_main_option("sqlalchemy.url", normalize_url(pg_settings.database_url("wallet")))
        command.downgrade(config, "-1")  # as if this code started before its migration ran
        behind = client.get("/readyz")
        assert behind.status_code == 503 and behind.get_json()["checks"]["migrations"].startswith("at ")
        command.upgrade(config, "head")
        with ctx.engine.begin() as conn:  # as if a newer release's migration Job had run
            conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfacecafe'"))
        ahead = client.get("/readyz")
        assert ahead.status_code == 200, "the release before serves on during a rolling update"
        with ctx.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :head"),
                         {"head": next(iter(migration_heads(ctx.migrations)))})

        away = wallet_app.create_app(ctx=ctx.__class__(
            ctx.name, pg_settings.with_changes(amqp_url=f"amqp://guest:guest@127.0.0.1:{free_port()}//"),
            ctx.engine, ctx.sessions, migrations=ctx.migrations)).test_client().get("/readyz")
        assert away.status_code == 503 and away.get_json()["checks"]["broker"].startswith("unreachable")
        assert away.get_json()["checks"]["database"] == "ok"
    finally:
        ctx.stop()


def test_the_embedded_run_is_ready(sqlite_settings: Settings) -> None:
    ctx = wallet_app.start(sqlite_settings)
    try:
        ready = wallet_app.create_app(ctx=ctx).test_client().get("/readyz")
        assert ready.status_code == 200 and ready.get_json()["checks"]["broker"] == "ok"
    finally:
        ctx.stop()
