"""The wallet service: one account per customer and the double-entry ledger.

Listens to: customer.registered, wallet.authorize_credit, wallet.credit.
Publishes: wallet.credit_authorized / credit_refused / credited / credit_failed / account_updated.
HTTP: the operator API under /v1/accounts.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from services.wallet.api import build_blueprint
from services.wallet.consumers import wallet_handlers
from services.wallet.handlers import WalletRules
from services.wallet.models import InboxMessage, OutboxMessage
from shared.config import Settings
from shared.messaging.worker import Worker, messaging_loops
from shared.service import ServiceContext
from shared.web import create_base_app

NAME = "wallet"
MIGRATIONS = Path(__file__).parent / "migrations"


def start(settings: Settings | None = None) -> ServiceContext:
    return ServiceContext.start(NAME, settings or Settings.from_env(), MIGRATIONS)


def create_app(settings: Settings | None = None, ctx: ServiceContext | None = None) -> Flask:
    ctx = ctx or start(settings)
    app, api = create_base_app(NAME, "topup wallet", "Customer accounts and the double-entry ledger.")
    api.register_blueprint(build_blueprint(ctx))
    app.extensions["topup"] = ctx
    return app


def create_worker(settings: Settings | None = None, ctx: ServiceContext | None = None) -> Worker:
    ctx = ctx or start(settings)
    rules = WalletRules(ctx.settings.wallet_balance_cap_major)
    loops = messaging_loops(NAME, ctx.settings, ctx.sessions, OutboxMessage, InboxMessage, wallet_handlers(rules))
    return Worker(NAME, loops, ctx.settings.database_url(NAME))
