"""The sandbox gateways: the provider on the other side of the wire, run beside our services
when SANDBOX_ENABLED (on by default for `make run`), on SANDBOX_PORT (8005), with its own
database (SANDBOX_DATABASE_URL; on the embedded default var/sandbox.db).

HTTP: the pages customers pay on (card form; PayPal approval; Alipay and WeChat Pay QR
codes), under /sandbox; the merchant's API under /sandbox/api (api.py).
Worker: the webhook sender (delivery.py), which posts each provider's notifications to
SANDBOX_WEBHOOK_URL and beside it.

It is not one of our services: no broker, no outbox, no operator API. The payment service
reaches it only over HTTP, as it would a real provider (services/payment/connectors/).
SANDBOX_FAULTS makes it misbehave on purpose (faults.py).
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from services.sandbox import api, checkout, wallets
from services.sandbox.delivery import WebhookSender
from services.sandbox.gateway import Sandbox
from services.sandbox.keys import SandboxKeys
from shared.config import SANDBOX, Settings
from shared.messaging.worker import Worker
from shared.readiness import install_readiness
from shared.service import ServiceContext
from shared.web import create_base_app

NAME = SANDBOX
MIGRATIONS = Path(__file__).parent / "migrations"


def start(settings: Settings | None = None) -> ServiceContext:
    return ServiceContext.start(NAME, settings or Settings.from_env(), MIGRATIONS, messaging=False)


def sandbox_of(ctx: ServiceContext) -> Sandbox:
    """This deployment's sandbox, with its keys (made at the first start, keys.py)."""
    return Sandbox.start(ctx.settings, SandboxKeys.ensure(ctx.sessions))


def create_app(settings: Settings | None = None, ctx: ServiceContext | None = None,
               sandbox: Sandbox | None = None) -> Flask:
    ctx = ctx or start(settings)
    sandbox = sandbox or sandbox_of(ctx)
    app, _smorest = create_base_app(NAME, "topup sandbox gateways",
                                    "The simulated providers' pages and API (not one of our services).",
                                    max_body_bytes=ctx.settings.max_body_bytes)
    app.register_blueprint(checkout.build_blueprint(ctx, sandbox))
    app.register_blueprint(wallets.build_blueprint(ctx, sandbox))
    app.register_blueprint(api.build_blueprint(ctx, sandbox))
    app.extensions["topup"] = ctx
    app.extensions["sandbox"] = sandbox  # what it is, and the faults it has met (tests read them)
    install_readiness(app, ctx)
    return app


def create_worker(settings: Settings | None = None, ctx: ServiceContext | None = None,
                  sandbox: Sandbox | None = None) -> Worker:
    ctx = ctx or start(settings)
    sandbox = sandbox or sandbox_of(ctx)
    sender = WebhookSender(ctx.sessions, sandbox.notifiers, ctx.settings.poll_seconds(NAME), sandbox.faults)
    return Worker(NAME, [sender.loop()], ctx.settings.database_url(NAME), on_exit=ctx.stop,
                  metrics_port=ctx.settings.metrics_port)

