"""The sandbox gateway's checkout page: `/sandbox/checkout/<session_id>`.

Browsers get an HTML form and, on errors, the form again with a message per field (422);
API clients (JSON body, or Accept: application/json) get JSON and problem+json. The card
number and CVC are checked, used to decide, and dropped: they are never stored, logged or
echoed back into the page.

After a decision the browser goes to the merchant's return address (303): the merchant asks
how the payment stands and sends a customer whose card was declined, with tries left, back
here, where the form says why and takes another card.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from flask import Blueprint, Response, jsonify, redirect, render_template, request
from werkzeug.wrappers import Response as WerkzeugResponse

from services.payment.domain.cards import validate_card
from services.payment.domain.errors import InvalidCardDetails
from services.sandbox import bank
from services.sandbox.gateway import Sandbox
from services.sandbox.models import SandboxSessionRow
from services.sandbox.texts import CATALOG, _
from shared.clock import utcnow
from shared.db import unit_of_work
from shared.i18n import Text, format_money, localize
from shared.money import Money
from shared.problems import Problem
from shared.service import ServiceContext

FIELDS = ("card_number", "exp_month", "exp_year", "cvc")
ECHOED = ("exp_month", "exp_year")  # never the number or the CVC

log = structlog.get_logger(__name__)


def wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best_match(["text/html", "application/json"]) == (
        "application/json")


def submitted() -> dict[str, Any]:
    if not request.is_json:
        return {name: request.form.get(name) for name in FIELDS}
    data = request.get_json(silent=True)
    return {name: data.get(name) for name in FIELDS} if isinstance(data, dict) else {}


def not_found(session_id: str) -> Problem:
    return Problem(404, "checkout_not_found", _("No such checkout."),
                   _("There is no sandbox checkout {session_id}.", session_id=session_id))


def closed(row: SandboxSessionRow) -> Problem:
    if row.status == bank.SessionStatus.CANCELLED:
        return Problem(409, "checkout_cancelled", _("This checkout was cancelled."),
                       _("The merchant cancelled this payment; nothing was charged."))
    return Problem(409, "checkout_completed", _("This checkout is already completed."),
                   _("This payment has already ended; it cannot be paid twice."))


#: The heading of the result page and the reason shown, in the customer's words.
REASONS: dict[str, Text] = {
    "card_declined": _("Your card was declined by its issuer."),
    "insufficient_funds": _("There is not enough money on this card."),
    "card_not_supported": _("This card is not supported here."),
    "payment_declined": _("The payment was declined."),
    "cancelled_by_customer": _("You cancelled the payment."),
}


def heading(row: SandboxSessionRow) -> Text:
    if row.status == bank.SessionStatus.APPROVED:
        return _("Payment approved")
    if row.failure_code == "cancelled_by_customer":
        return _("Payment cancelled")
    if row.status == bank.SessionStatus.DECLINED:
        return _("Payment declined")
    if row.status == bank.SessionStatus.CANCELLED:
        return _("Checkout cancelled")
    return _("Checkout open")


def page(template: str, row: SandboxSessionRow, status: int = 200, **context: Any) -> Response:
    """A sandbox page in the language the merchant asked for when it opened the checkout
    (as Stripe's `locale`), with its amount written for that language."""
    language = row.locale

    def say(message: str, **values: Any) -> str:
        return CATALOG.text(message, **values).render(language)

    card = None
    if row.card_last4:
        card = _("{brand} ending in {last4}", brand=(row.card_brand or "").title(), last4=row.card_last4)
    reason = (REASONS.get(row.failure_code) or row.failure_code) if row.failure_code else None
    errors = {name: localize(message, language) for name, message in (context.pop("errors", None) or {}).items()}
    retry = None
    if row.status == bank.SessionStatus.OPEN and row.failed_attempts:
        retry = _("Try again: attempt {next} of {allowed}.", next=row.failed_attempts + 1, allowed=row.attempts_allowed)
    amount = format_money(Money(row.amount, row.currency), language)
    html = render_template(template, _=say, lang=language, amount=amount, session_id=row.id, status=row.status,
                           heading=localize(heading(row), language),
                           card_label=localize(card, language) if card else None,
                           reason=localize(reason, language) if reason else None, errors=errors,
                           retry=localize(retry, language) if retry else None, return_url=row.return_url,
                           **{name: localize(value, language) if isinstance(value, Text) else value
                              for name, value in context.items()})
    response = Response(html, status=status, content_type="text/html; charset=utf-8")
    response.headers["Content-Language"] = language
    return response


def build_blueprint(ctx: ServiceContext, sandbox: Sandbox) -> Blueprint:
    blp = Blueprint("sandbox", __name__, url_prefix="/sandbox", template_folder="templates")

    @blp.get("/checkout/<session_id>")
    def show(session_id: str) -> Response:
        with ctx.sessions() as session:
            row = bank.get_session(session, session_id)
            if row is None or row.method != "card":
                raise not_found(session_id)
            if row.status != bank.SessionStatus.OPEN:
                return page("sandbox/result.html", row)
            return page("sandbox/checkout.html", row, errors={}, values={})

    @blp.post("/checkout/<session_id>")
    def pay(session_id: str) -> WerkzeugResponse:
        form = submitted()
        with unit_of_work(ctx.sessions) as session:
            row = bank.get_session(session, session_id, lock=True)
            if row is None or row.method != "card":
                raise not_found(session_id)
            if row.status != bank.SessionStatus.OPEN:
                raise closed(row)
            try:
                card = validate_card(form.get("card_number"), form.get("exp_month"), form.get("exp_year"),
                                     form.get("cvc"), utcnow().date())
            except InvalidCardDetails as exc:
                if wants_json():
                    raise Problem(422, exc.code, _("The card details are not valid."),
                                  _("Correct the fields listed in `errors`."), errors=exc.errors) from None
                values = {name: form.get(name) or "" for name in ECHOED}
                return page("sandbox/checkout.html", row, 422, errors=exc.errors, values=values)
            bank.complete(session, row, card, sandbox.notifiers.for_method("card"), utcnow())
            log.info("sandbox_checkout_completed", session_id=row.id, status=row.status,
                     card_brand=row.card_brand, card_last4=row.card_last4, failure_code=row.failure_code)
        return decided(row, lambda: page("sandbox/checkout.html", row, errors={}, values={}))

    return blp


def decided(row: SandboxSessionRow, again: Callable[[], Response]) -> WerkzeugResponse:
    """What a decision answers: JSON for API clients; a browser goes to the merchant's return
    address, or (none given) sees the outcome here, or the page `again` for another try."""
    if wants_json():
        return jsonify({"status": row.status, "session_id": row.id, "failure_code": row.failure_code,
                        "attempts_failed": row.failed_attempts, "attempts_allowed": row.attempts_allowed,
                        "return_url": row.return_url})
    if row.return_url:
        return redirect(row.return_url, 303)
    if row.status == bank.SessionStatus.OPEN:
        return again()
    return page("sandbox/result.html", row)
