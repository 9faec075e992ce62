"""The order service: customers, quotes, orders, and the saga that carries each top-up.

Listens to: the wallet's and the payment service's answers, account updates (the balance and
its statement), receipt.issued and receipt.sent.
Publishes: customer.registered / customer.updated, the saga's commands, order.completed /
order.reversed, receipt.resend, customer.password_reset_requested.
HTTP: the public API under /v1 (auth and passwords, profile, top-up options, quotes, orders,
receipts, balance, statement), the operator API under /v1/operator, and the reference storefront
at / (storefront/: static pages that call only the public API).
Worker: the consumers, the outbox relay, the payment deadlines, the password-reset tokens, the
purge of stale throttle counts and finished reset requests, and the upgrade's backfill.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response
from sqlalchemy import func, select

from services.order import api, customer_api, password_api, passwords
from services.order.backfill import Backfill
from services.order.console import build_blueprint as build_console
from services.order.consumers import order_handlers
from services.order.domain.errors import OrderError
from services.order.handlers import expire_overdue
from services.order.limits import AddressLimits
from services.order.models import InboxMessage, Order, OutboxMessage, PasswordReset
from services.order.operator_api import build_operator_blueprint
from services.order.ordering import OrderRules
from services.order.signin import SignIn
from services.order.storefront import build_blueprint as build_storefront
from shared import metrics
from shared.clock import utcnow
from shared.config import Settings
from shared.db import unit_of_work
from shared.loops import PollLoop
from shared.messaging.worker import Worker, messaging_loops
from shared.problems import problem_response
from shared.readiness import install_readiness
from shared.service import ServiceContext
from shared.web import allow_browsers, create_base_app

NAME = "order"
MIGRATIONS = Path(__file__).parent / "migrations"
NEEDS_OPERATOR: metrics.Gauge = ("topup_orders_needing_operator", "Orders waiting for an operator "
                                 "(a refund the gateway refused, money that came late)", ())
WAITING_FOR_AN_OPERATOR = select(func.count()).select_from(Order).where(Order.needs_operator.is_(True))
# The methods offered; the payment service fails a payment whose method has no gateway.
METHODS = ("card", "paypal", "alipay", "wechat_pay")
#: how often the worker drops stale throttle counts and finished reset requests
PURGE_EVERY_SECONDS = 600.0


def start(settings: Settings | None = None) -> ServiceContext:
    return ServiceContext.start(NAME, settings or Settings.from_env(), MIGRATIONS)


def create_app(settings: Settings | None = None, ctx: ServiceContext | None = None) -> Flask:
    ctx = ctx or start(settings)
    app, smorest = create_base_app(NAME, "topup order API",
                                   "Register, quote, order and follow a balance top-up; the balance and its statement.",
                                   max_body_bytes=ctx.settings.max_body_bytes)
    limits = AddressLimits(ctx.settings)
    doors = SignIn.with_policy(ctx.sessions, ctx.settings.login_failures_allowed)
    for blueprint in customer_api.build_blueprints(ctx, limits, doors):
        smorest.register_blueprint(blueprint)
    smorest.register_blueprint(password_api.build_blueprint(ctx, limits, doors))
    smorest.register_blueprint(api.build_blueprint(ctx, OrderRules.from_settings(ctx.settings, METHODS)))
    smorest.register_blueprint(build_operator_blueprint(ctx))
    app.register_blueprint(build_storefront())  # the example frontend at /, outside the OpenAPI document
    app.register_blueprint(build_console(ctx.settings))  # the operator console at /operator/, likewise

    @app.errorhandler(OrderError)
    def _refused(exc: OrderError) -> Response:
        return problem_response(exc.status, exc.code, exc.title, exc.detail, headers=exc.headers, **exc.extra)

    limits.install(app)
    allow_browsers(app, ctx.settings.cors_allowed_origins)
    app.extensions["topup"] = ctx
    install_readiness(app, ctx)
    return app


def create_worker(settings: Settings | None = None, ctx: ServiceContext | None = None) -> Worker:
    ctx = ctx or start(settings)
    loops = messaging_loops(NAME, ctx.settings, ctx.sessions, OutboxMessage, InboxMessage, order_handlers())

    def expire() -> int:
        with unit_of_work(ctx.sessions) as session:
            return expire_overdue(session, utcnow())

    def issue_reset_tokens() -> int:
        with unit_of_work(ctx.sessions) as session:
            return passwords.issue_tokens(session, utcnow())

    def purge_account_records() -> int:
        with unit_of_work(ctx.sessions) as session:
            now = utcnow()
            return passwords.purge(session, now) + doors.throttle.purge(session, now)

    doors = SignIn.with_policy(ctx.sessions, ctx.settings.login_failures_allowed)
    deadlines = PollLoop("order.deadlines", expire, idle_seconds=1.0)
    resets = PollLoop("order.password_resets", issue_reset_tokens, idle_seconds=ctx.settings.poll_seconds(NAME),
                      wakes_on=PasswordReset.__tablename__)
    purge = PollLoop("order.account_records", purge_account_records, idle_seconds=PURGE_EVERY_SECONDS)
    ctx.report_state([*metrics.outbox_state(OutboxMessage), (NEEDS_OPERATOR, WAITING_FOR_AN_OPERATOR)])
    return Worker(NAME, [*loops, deadlines, resets, purge, Backfill(ctx.sessions).loop()],
                  ctx.settings.database_url(NAME), on_exit=ctx.stop, metrics_port=ctx.settings.metrics_port)
