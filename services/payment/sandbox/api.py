"""The sandbox gateways' API: `GET /sandbox/api/payments/<session_id>`, what a real
gateway's "retrieve a payment" is (Stripe's checkout sessions, PayPal's orders, Alipay's
alipay.trade.query, WeChat Pay's query by out_trade_no). The payment worker asks it about
payments whose webhook never came.

Authenticated like Stripe's API: `Authorization: Bearer <secret key>`. The sandbox's key is
derived from WEBHOOK_SECRET (an HMAC of a fixed label), so every process of one deployment
agrees on it without storing or configuring anything more, and the webhook secret itself
never travels in a header. Answers are JSON, errors problem+json.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, Response, request

from services.payment.sandbox import bank, settlement
from services.payment.sandbox.notifiers import METHOD_PROVIDERS
from services.payment.texts import _
from shared.problems import Problem
from shared.service import ServiceContext

KEY_LABEL = b"topup sandbox api key v1"


def api_key(webhook_secret: str) -> str:
    return "sk_sandbox_" + hmac.new(webhook_secret.encode(), KEY_LABEL, hashlib.sha256).hexdigest()[:40]


def authenticate(webhook_secret: str) -> None:
    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), api_key(webhook_secret).encode()):
        raise Problem(401, "invalid_api_key", _("Sandbox API key required."),
                      _("Send Authorization: Bearer <sandbox secret key>."))


def build_blueprint(ctx: ServiceContext) -> Blueprint:
    blp = Blueprint("sandbox_api", __name__, url_prefix="/sandbox/api")

    @blp.get("/payments/<session_id>")
    def retrieve(session_id: str) -> dict[str, Any]:
        authenticate(ctx.settings.webhook_secret)
        with ctx.sessions() as session:
            row = bank.get_session(session, session_id)
            if row is None:
                raise Problem(404, "no_such_payment", _("No such payment."),
                              _("There is no sandbox payment {session_id}.", session_id=session_id))
            return bank.describe(row)

    @blp.get("/settlements/<provider>/<day>")
    def settlement_report(provider: str, day: str) -> Response:
        """A provider's settlement report of a day (UTC), in that provider's own format."""
        authenticate(ctx.settings.webhook_secret)
        methods = [method for method, named in METHOD_PROVIDERS.items() if named == provider]
        try:
            start = datetime.combine(date.fromisoformat(day), time.min, tzinfo=UTC)
        except ValueError:
            raise Problem(404, "no_such_report", _("No such report."), _("The day is YYYY-MM-DD.")) from None
        if not methods:
            raise Problem(404, "no_such_report", _("No such report."), _("There is no such provider."))
        with ctx.sessions() as session:
            entries = bank.settled_between(session, methods, start, start + timedelta(days=1))
        body = settlement.report(provider, start.date(), entries, account=f"sandbox-{provider}")
        charset = "gbk" if provider == "alipay" else "utf-8"
        return Response(body, content_type=f"text/csv; charset={charset}",
                        headers={"Content-Disposition": f'attachment; filename="{provider}-{day}.csv"'})

    return blp
