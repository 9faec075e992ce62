"""The way back from the payment page: `GET /v1/payments/<payment_id>/return`.

Every checkout we open is told to send the customer's browser here after each decision
(settings.CheckoutTerms). Waiting for the gateway's notification would leave the customer
looking at `awaiting_payment` for as long as it takes (Alipay and WeChat Pay say nothing of
a failed payment; only asking finds out). So we ask at once, with the reconciliation loop's
own question, and apply the answer through the notification's path: a notification that
arrives as well changes nothing twice. Then:

| the payment | the browser goes to |
|---|---|
| still open (a declined try, more allowed; or the gateway could not say) | back to the payment page |
| ended, with the order's `return_url` | `return_url?order_id=...` (303) |
| ended, without | our result page, in the customer's language |
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Response, redirect, render_template
from werkzeug.wrappers import Response as WerkzeugResponse

from services.payment import store
from services.payment.domain.payment import PaymentStatus
from services.payment.gateways import Gateways
from services.payment.reconcile import settle_by_query
from services.payment.store import PaymentRecord
from services.payment.texts import CATALOG, _
from shared.i18n import Text, format_money, localize
from shared.money import Money
from shared.openapi import Blueprint, problems, refusal
from shared.problems import Problem
from shared.service import ServiceContext

NOT_FOUND = refusal(404, "payment_not_found", _("No such payment."))

HEADINGS: dict[PaymentStatus, Text] = {
    PaymentStatus.CAPTURED: _("Payment received"),
    PaymentStatus.REFUNDED: _("Payment received and refunded"),
    PaymentStatus.FAILED: _("Payment not completed"),
    PaymentStatus.CANCELLED: _("Payment cancelled"),
    PaymentStatus.CREATED: _("Payment in progress"),
}
NEXT: dict[PaymentStatus, Text] = {
    PaymentStatus.CAPTURED: _("Your balance is being topped up; the receipt follows by email."),
    PaymentStatus.REFUNDED: _("The money has gone back to you."),
    PaymentStatus.FAILED: _("Nothing was charged. You can start a new top-up."),
    PaymentStatus.CANCELLED: _("Nothing was charged."),
    PaymentStatus.CREATED: _("We are waiting for the payment provider's answer; this can take a minute."),
}
#: why a payment did not complete, in the customer's words (the machine reason otherwise)
REASONS: dict[str, Text] = {
    "card_declined": _("The card was declined by its issuer."),
    "insufficient_funds": _("There was not enough money on the card."),
    "card_not_supported": _("The card is not supported here."),
    "payment_declined": _("The payment was declined."),
    "cancelled_by_customer": _("You cancelled the payment."),
    "cancelled_by_operator": _("Our support team cancelled this top-up."),
    "payment_timeout": _("The time to pay ran out."),
    "method_unavailable": _("This payment method is not available at the moment."),
    "gateway_unavailable": _("The payment provider could not be reached. Nothing was charged; please try again."),
}

RETURN_EXAMPLE = "https://shop.example/topup/done?order_id=ord_5b7e"


def with_order_id(url: str, order_id: str) -> str:
    """`url` with `order_id` in its query (replacing one already there), fragment kept."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "order_id"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("order_id", order_id)])))


def result_page(row: PaymentRecord) -> Response:
    language, status = row.language, PaymentStatus(row.status)

    def say(message: str, **values: Any) -> str:
        return CATALOG.text(message, **values).render(language)

    reason = row.failure_reason if status in (PaymentStatus.FAILED, PaymentStatus.CANCELLED) else None
    html = render_template("payment/returned.html", _=say, lang=language, status=status.value,
                           heading=localize(HEADINGS[status], language), next=localize(NEXT[status], language),
                           amount=format_money(Money(row.amount_minor, row.currency), language),
                           reason=localize(REASONS[reason], language) if reason in REASONS else reason,
                           order_id=row.order_id)
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Content-Language"] = language
    response.headers["Cache-Control"] = "no-store"
    return response


def build_blueprint(ctx: ServiceContext, gateways: Gateways) -> Blueprint:
    blp = Blueprint("returns", __name__, url_prefix="/v1/payments", template_folder="templates",
                    description="Where payment pages send the customer back")

    def load(payment_id: str) -> PaymentRecord:
        with ctx.sessions() as session:
            row = store.get_payment(session, payment_id)
        if row is None:
            raise Problem(404, NOT_FOUND.code, NOT_FOUND.title,
                          _("There is no payment {payment_id}.", payment_id=payment_id))
        return row

    @blp.get("/<payment_id>/return")
    @blp.doc(responses={
        303: {"description": "Back to the payment page while it takes another try; else to the order's "
                             "`return_url` with `order_id` added",
              "headers": {"Location": {"schema": {"type": "string", "format": "uri"},
                                       "example": RETURN_EXAMPLE}}},
        200: {"description": "The result page, in the customer's language (no `return_url`)",
              "content": {"text/html": {"schema": {"type": "string"},
                                        "example": "<!doctype html><html lang=\"en\">…<h1>Payment received</h1>…"}}}})
    @problems(NOT_FOUND)
    def come_back(payment_id: str) -> WerkzeugResponse:
        """The customer is back from the payment page: the gateway is asked at once how the
        payment stands, and the answer settles it as its notification would."""
        row = load(payment_id)
        if row.status == PaymentStatus.CREATED and row.gateway:
            applied = settle_by_query(ctx.sessions, gateways, store.to_payment(row), row.gateway)
            if applied is not None:  # as the answer left it; read again only if it was not looked at
                row = applied.payment or load(payment_id)
        if row.status == PaymentStatus.CREATED and row.redirect_url:
            return redirect(row.redirect_url, 303)
        if row.return_url:
            return redirect(with_order_id(row.return_url, row.order_id), 303)
        return result_page(row)

    return blp
