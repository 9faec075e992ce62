"""The wallet service: one account per customer, its credits with their expiry, and the
double-entry ledger.

Listens to: customer.registered / customer.updated (reminder preferences), wallet.credit,
and wallet.authorize_credit (still answered for orders placed when the saga asked first).
Publishes: wallet.credit_authorized / credit_refused / credited / credit_failed /
account_updated, and wallet.balance_low / credit_expiring / credit_expired for the emails.
HTTP: the eSIM platform's debits and their reversals (Bearer PLATFORM_TOKEN) and the
operator API, both under /v1/accounts.
Worker: the consumers, the outbox relay, and the credits' sweep (expiries, reminders).
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from services.wallet import problems
from services.wallet.api import build_blueprint
from services.wallet.consumers import wallet_handlers
from services.wallet.credits import CreditRules, CreditSweeper
from services.wallet.models import InboxMessage, OutboxMessage
from services.wallet.platform_api import build_platform_blueprint
from shared import metrics
from shared.config import Settings
from shared.messaging.worker import Worker, messaging_loops
from shared.readiness import install_readiness
from shared.service import ServiceContext
from shared.web import allow_browsers, create_base_app

NAME = "wallet"
MIGRATIONS = Path(__file__).parent / "migrations"


def start(settings: Settings | None = None) -> ServiceContext:
    return ServiceContext.start(NAME, settings or Settings.from_env(), MIGRATIONS)


def rules_of(settings: Settings) -> CreditRules:
    return CreditRules(reminder_before=settings.expiry_reminder_before, default_validity=settings.credit_validity)


def create_app(settings: Settings | None = None, ctx: ServiceContext | None = None) -> Flask:
    ctx = ctx or start(settings)
    app, api = create_base_app(NAME, "topup wallet", "Customer accounts, their credits and the double-entry ledger.",
                               max_body_bytes=ctx.settings.max_body_bytes)
    api.register_blueprint(build_platform_blueprint(ctx))
    api.register_blueprint(build_blueprint(ctx, rules_of(ctx.settings)))
    problems.install(app)
    allow_browsers(app, ctx.settings.cors_allowed_origins)  # the operator console's origin
    app.extensions["topup"] = ctx
    install_readiness(app, ctx)
    return app


def create_worker(settings: Settings | None = None, ctx: ServiceContext | None = None) -> Worker:
    ctx = ctx or start(settings)
    handlers = wallet_handlers(rules_of(ctx.settings))
    loops = messaging_loops(NAME, ctx.settings, ctx.sessions, OutboxMessage, InboxMessage, handlers)
    sweeper = CreditSweeper(ctx.sessions).loop(idle_seconds=1.0)  # expiry to the second is enough
    ctx.report_state(metrics.outbox_state(OutboxMessage))
    return Worker(NAME, [*loops, sweeper], ctx.settings.database_url(NAME), on_exit=ctx.stop,
                  metrics_port=ctx.settings.metrics_port)
