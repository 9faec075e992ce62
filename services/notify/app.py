"""The notify service: issues receipts and emails customers what they must know, in their
language: receipts (and copies), reversal notices, low-balance and expiry reminders, and
expiries; and the password-reset link.

Listens to: customer.registered / customer.updated (recipients), order.completed
(send_receipt), receipt.resend, customer.password_reset_requested (send_password_reset),
order.reversed, wallet.balance_low, wallet.credit_expiring, wallet.credit_expired.
Publishes: receipt.issued (the numbered receipt, with its email's first outcome), receipt.sent (any
other email about an order left).
HTTP: the operator API under /v1/receipts.
Worker: the consumers, the outbox relay and the mailer (SMTP_HOST, SMTP_PORT, SMTP_FROM).
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from services.notify import store
from services.notify.api import build_blueprint
from services.notify.consumers import notify_handlers
from services.notify.domain.receipt import Merchant
from services.notify.handlers import NotifyRules
from services.notify.mailer import Mailer
from services.notify.models import EmailRow, InboxMessage, OutboxMessage
from shared import metrics
from shared.config import Settings
from shared.messaging.worker import Worker, messaging_loops
from shared.readiness import install_readiness
from shared.service import ServiceContext
from shared.web import create_base_app

NAME = "notify"
MIGRATIONS = Path(__file__).parent / "migrations"
EMAILS_UNSENT: metrics.Gauge = ("topup_emails_unsent", "Emails owed to customers and not sent yet, by kind "
                                "(receipt, copy, reversal, low_balance, ...)", ("kind",))
EMAILS_FAILING: metrics.Gauge = ("topup_emails_failing", "Unsent emails whose sending already failed at least "
                                 "once (waiting for another try), by kind", ("kind",))
UNSENT = EmailRow.status.in_((store.PENDING, store.SENDING))
UNSENT_BY_KIND = select(EmailRow.kind, func.count()).where(UNSENT).group_by(EmailRow.kind)
FAILING_BY_KIND = (select(EmailRow.kind, func.count()).where(UNSENT, EmailRow.attempts > 0)
                   .group_by(EmailRow.kind))


def start(settings: Settings | None = None) -> ServiceContext:
    return ServiceContext.start(NAME, settings or Settings.from_env(), MIGRATIONS)


def rules_of(settings: Settings) -> NotifyRules:
    merchant = Merchant(settings.merchant_name, settings.merchant_address, settings.merchant_tax_id)
    return NotifyRules(merchant, settings.topup_url, settings.password_reset_url, mailer_runs=bool(settings.smtp_host))


def create_app(settings: Settings | None = None, ctx: ServiceContext | None = None) -> Flask:
    ctx = ctx or start(settings)
    app, api = create_base_app(NAME, "topup notify", "Receipts and reversal notices, emailed to customers.",
                               max_body_bytes=ctx.settings.max_body_bytes)
    api.register_blueprint(build_blueprint(ctx))
    app.extensions["topup"] = ctx
    install_readiness(app, ctx)
    return app


def create_worker(settings: Settings | None = None, ctx: ServiceContext | None = None) -> Worker:
    ctx = ctx or start(settings)
    loops = messaging_loops(NAME, ctx.settings, ctx.sessions, OutboxMessage, InboxMessage,
                            notify_handlers(rules_of(ctx.settings)))
    mailer = Mailer.from_settings(ctx.settings, ctx.sessions)
    ctx.report_state([*metrics.outbox_state(OutboxMessage), (EMAILS_UNSENT, UNSENT_BY_KIND),
                      (EMAILS_FAILING, FAILING_BY_KIND)])
    return Worker(NAME, [*loops, mailer.loop(ctx.settings.poll_seconds(NAME))], ctx.settings.database_url(NAME),
                  on_exit=ctx.stop, metrics_port=ctx.settings.metrics_port)
