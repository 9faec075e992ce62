"""The payment service: talks to the payment gateways for the order saga.

Listens to: payment.create, payment.refund, payment.cancel.
Publishes: payment.created / attempt_failed / captured / failed / refunded / refund_failed.
HTTP: gateway webhooks under /v1/webhooks/<gateway>, the way back from the payment pages
(/v1/payments/<id>/return), the operator API under /v1/payments and /v1/reconciliations.
Worker: the consumers and outbox relay, the refund loop (retries refunds the gateway
refused) and the query loop (asks about payments whose webhook never came).
The gateways are reached over HTTP only (gateways.py; with SANDBOX_ENABLED, the sandbox
gateways' own service, services/sandbox).

`gateways` may be passed in, as tests do to put a misbehaving gateway in place, and to the
worker `options` (the payment service's own settings); by default both come from the settings.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from services.payment import api, reconciliation, returns, webhooks
from services.payment.consumers import payment_handlers
from services.payment.domain.refund import RefundPolicy, RefundStatus
from services.payment.gateways import Gateways
from services.payment.models import InboxMessage, OutboxMessage, RefundRow
from services.payment.reconcile import PaymentQueries
from services.payment.refunds import RefundRunner
from services.payment.settings import CheckoutTerms, PaymentSettings
from shared import metrics
from shared.bodies import allow_larger_body
from shared.config import Settings
from shared.messaging.worker import Worker, messaging_loops
from shared.readiness import install_readiness
from shared.service import ServiceContext
from shared.web import allow_browsers, create_base_app

NAME = "payment"
MIGRATIONS = Path(__file__).parent / "migrations"
REFUNDS: metrics.Gauge = ("topup_refunds", "Refunds not yet settled, by status (pending: being tried; "
                          "failed: every try failed, an operator settles it)", ("status",))
REFUNDS_UNFINISHED = (select(RefundRow.status, func.count()).where(RefundRow.status != RefundStatus.SUCCEEDED.value)
                      .group_by(RefundRow.status))


def start(settings: Settings | None = None) -> ServiceContext:
    return ServiceContext.start(NAME, settings or Settings.from_env(), MIGRATIONS)


def create_app(settings: Settings | None = None, ctx: ServiceContext | None = None,
               gateways: Gateways | None = None) -> Flask:
    ctx = ctx or start(settings)
    gateways = gateways or Gateways.from_settings(ctx.settings)
    app, smorest = create_base_app(NAME, "topup payment", "Payments at the gateways, and the gateways' webhooks.",
                                   max_body_bytes=ctx.settings.max_body_bytes)
    smorest.register_blueprint(api.build_blueprint(ctx, gateways))
    smorest.register_blueprint(webhooks.build_blueprint(ctx, gateways))
    smorest.register_blueprint(returns.build_blueprint(ctx, gateways))
    smorest.register_blueprint(reconciliation.build_blueprint(ctx, gateways.sandbox))
    allow_larger_body(app, "webhooks.receive", ctx.settings.webhook_max_body_bytes)
    allow_browsers(app, ctx.settings.cors_allowed_origins)  # the operator console's origin
    app.extensions["topup"] = ctx
    install_readiness(app, ctx)
    return app


def create_worker(settings: Settings | None = None, ctx: ServiceContext | None = None,
                  options: PaymentSettings | None = None, gateways: Gateways | None = None) -> Worker:
    ctx = ctx or start(settings)
    options = options or PaymentSettings.from_settings(ctx.settings)
    gateways = gateways or Gateways.from_settings(ctx.settings)
    policy = RefundPolicy(options.refund_max_attempts, ctx.settings.retry_base_seconds)
    terms = CheckoutTerms(options.payment_attempts, ctx.settings.payment_public_url)
    loops = messaging_loops(NAME, ctx.settings, ctx.sessions, OutboxMessage, InboxMessage,
                            payment_handlers(gateways, terms))
    loops.append(RefundRunner(ctx.sessions, gateways, policy, ctx.settings.poll_seconds(NAME)).loop())
    loops.append(PaymentQueries(ctx.sessions, gateways, options).loop(ctx.settings.poll_seconds(NAME)))
    ctx.report_state([*metrics.outbox_state(OutboxMessage), (REFUNDS, REFUNDS_UNFINISHED)])
    return Worker(NAME, loops, ctx.settings.database_url(NAME), on_exit=ctx.stop,
                  metrics_port=ctx.settings.metrics_port)
