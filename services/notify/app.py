"""The notify service: emails customers their receipts and reversal notices.

Listens to: order.completed (send_receipt), order.reversed (send_reversal_notice).
Publishes: receipt.sent, once the mail server has accepted a receipt.
HTTP: the operator API under /v1/receipts.
Worker: the consumers, the outbox relay and the mailer (SMTP_HOST, SMTP_PORT, SMTP_FROM).
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from services.notify.api import build_blueprint
from services.notify.consumers import notify_handlers
from services.notify.mailer import Mailer
from services.notify.models import InboxMessage, OutboxMessage
from shared.config import Settings
from shared.messaging.worker import Worker, messaging_loops
from shared.service import ServiceContext
from shared.web import create_base_app

NAME = "notify"
MIGRATIONS = Path(__file__).parent / "migrations"


def start(settings: Settings | None = None) -> ServiceContext:
    return ServiceContext.start(NAME, settings or Settings.from_env(), MIGRATIONS)


def create_app(settings: Settings | None = None, ctx: ServiceContext | None = None) -> Flask:
    ctx = ctx or start(settings)
    app, api = create_base_app(NAME, "topup notify", "Receipts and reversal notices, emailed to customers.")
    api.register_blueprint(build_blueprint(ctx))
    app.extensions["topup"] = ctx
    return app


def create_worker(settings: Settings | None = None, ctx: ServiceContext | None = None) -> Worker:
    ctx = ctx or start(settings)
    loops = messaging_loops(NAME, ctx.settings, ctx.sessions, OutboxMessage, InboxMessage, notify_handlers())
    mailer = Mailer.from_settings(ctx.settings, ctx.sessions)
    return Worker(NAME, [*loops, mailer.loop(ctx.settings.poll_seconds(NAME))], ctx.settings.database_url(NAME))
