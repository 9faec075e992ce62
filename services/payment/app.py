"""The payment service: talks to the payment gateways for the order saga.

Listens to: payment.create, payment.refund, payment.cancel.
Publishes: payment.created / captured / failed / refunded.
HTTP: gateway webhooks under /v1/webhooks, the operator API under /v1/payments and, when
SANDBOX_ENABLED, the sandbox card gateway's checkout pages under /sandbox (its webhook
sender runs in the worker).
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from services.payment import api, webhooks
from services.payment.consumers import payment_handlers
from services.payment.gateways import Gateways
from services.payment.models import InboxMessage, OutboxMessage
from services.payment.sandbox import checkout
from services.payment.sandbox.delivery import WebhookSender
from shared.config import Settings
from shared.messaging.worker import Worker, messaging_loops
from shared.service import ServiceContext
from shared.web import create_base_app

NAME = "payment"
MIGRATIONS = Path(__file__).parent / "migrations"


def start(settings: Settings | None = None) -> ServiceContext:
    return ServiceContext.start(NAME, settings or Settings.from_env(), MIGRATIONS)


def create_app(settings: Settings | None = None, ctx: ServiceContext | None = None) -> Flask:
    ctx = ctx or start(settings)
    app, smorest = create_base_app(NAME, "topup payment", "Payments at the gateways, and the gateways' webhooks.")
    smorest.register_blueprint(api.build_blueprint(ctx))
    smorest.register_blueprint(webhooks.build_blueprint(ctx, Gateways.from_settings(ctx.settings)))
    if ctx.settings.sandbox_enabled:
        app.register_blueprint(checkout.build_blueprint(ctx))
    app.extensions["topup"] = ctx
    return app


def create_worker(settings: Settings | None = None, ctx: ServiceContext | None = None) -> Worker:
    ctx = ctx or start(settings)
    handlers = payment_handlers(Gateways.from_settings(ctx.settings))
    loops = messaging_loops(NAME, ctx.settings, ctx.sessions, OutboxMessage, InboxMessage, handlers)
    if ctx.settings.sandbox_enabled:
        loops.append(WebhookSender(ctx.sessions, ctx.settings).loop())
    return Worker(NAME, loops)
