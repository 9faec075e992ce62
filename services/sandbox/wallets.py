"""The sandbox wallets' pages, where the customer is sent by `redirect_url`: PayPal's
approval page (`/sandbox/paypal/checkoutnow?token=<order id>`, as PayPal's own is) and the
Alipay and WeChat Pay pages with their QR code (`/sandbox/<alipay|wechat_pay>/qr/<id>`).

A POST with `decision=approve`, `decline` or `cancel` (form or JSON) is what the customer
does there: approving in PayPal, or scanning the code and confirming (or not) in the app.
A decline with tries left keeps the page open (bank.py); after any decision the browser
goes to the merchant's return address, as from the card page.
The outcome is then notified the way that provider notifies it (notifiers.py), or not at
all where the provider would not (then only asking finds out). Browsers get HTML, API
clients (JSON body, or Accept: application/json) JSON and problem+json.

Also here: the sandbox PayPal's certificate, at the PAYPAL-CERT-URL its webhooks name.
"""

from __future__ import annotations

from typing import Any

import structlog
from cryptography.hazmat.primitives import serialization
from flask import Blueprint, Response, request
from werkzeug.wrappers import Response as WerkzeugResponse

from services.sandbox import bank, qr
from services.sandbox.checkout import closed, decided, not_found, page, wants_json
from services.sandbox.gateway import Sandbox
from services.sandbox.texts import _
from shared.clock import utcnow
from shared.db import unit_of_work
from shared.i18n import Text
from shared.problems import Problem
from shared.service import ServiceContext

PROVIDERS: dict[str, Text] = {"paypal": _("PayPal"), "alipay": _("Alipay"), "wechat_pay": _("WeChat Pay")}
QR_PROVIDERS = frozenset({"alipay", "wechat_pay"})

log = structlog.get_logger(__name__)


def submitted_decision() -> str | None:
    if request.is_json:
        data = request.get_json(silent=True)
        value = data.get("decision") if isinstance(data, dict) else None
        return value if isinstance(value, str) else None
    return request.form.get("decision")


def build_blueprint(ctx: ServiceContext, sandbox: Sandbox) -> Blueprint:
    blp = Blueprint("sandbox_wallets", __name__, url_prefix="/sandbox", template_folder="templates")

    def wallet_page(method: str, row: Any, status: int = 200, error: Text | None = None) -> Response:
        url = sandbox.page_url(method, row.id)
        shows_qr = method in QR_PROVIDERS  # what it encodes: this page, so a phone that scans it can pay
        return page("sandbox/wallet.html", row, status, provider=PROVIDERS[method], qr=shows_qr,
                    qr_svg=qr.svg(url) if shows_qr else None, qr_payload=url, action=url, error=error)

    def show(method: str, session_id: str) -> Response:
        with ctx.sessions() as session:
            row = bank.get_session(session, session_id)
            if row is None or row.method != method:
                raise not_found(session_id)
            if row.status != bank.SessionStatus.OPEN:
                return page("sandbox/result.html", row)
            return wallet_page(method, row)

    def decide(method: str, session_id: str) -> WerkzeugResponse:
        raw = submitted_decision()
        with unit_of_work(ctx.sessions) as session:
            row = bank.get_session(session, session_id, lock=True)
            if row is None or row.method != method:
                raise not_found(session_id)
            if row.status != bank.SessionStatus.OPEN:
                raise closed(row)
            if raw not in set(bank.Decision):
                if wants_json():
                    raise Problem(422, "invalid_decision", _("Choose approve, decline or cancel."),
                                  _("`decision` must be one of: {choices}.", choices=", ".join(bank.Decision)))
                return wallet_page(method, row, 422, error=_("Choose approve, decline or cancel."))
            decision = bank.Decision(raw)
            bank.finish(session, row, bank.DECISION_FAILURES[decision], sandbox.notifiers.for_method(method), utcnow())
            log.info("sandbox_wallet_completed", session_id=row.id, method=method, decision=decision.value,
                     status=row.status)
        return decided(row, lambda: wallet_page(method, row))

    @blp.route("/paypal/checkoutnow", methods=["GET", "POST"])
    def paypal_page() -> WerkzeugResponse:
        token = request.args.get("token", "")
        return show("paypal", token) if request.method == "GET" else decide("paypal", token)

    @blp.route("/<any(alipay, wechat_pay):method>/qr/<session_id>", methods=["GET", "POST"])
    def qr_page(method: str, session_id: str) -> WerkzeugResponse:
        return show(method, session_id) if request.method == "GET" else decide(method, session_id)

    @blp.get("/paypal/v1/notifications/certs/<cert_id>")
    def paypal_certificate(cert_id: str) -> Response:
        if cert_id != sandbox.keys.paypal_cert_id:
            raise Problem(404, "certificate_not_found", _("No such certificate."))
        pem = sandbox.keys.paypal_cert.public_bytes(serialization.Encoding.PEM)
        return Response(pem, content_type="application/x-pem-file")

    return blp
