"""The sandbox gateway's checkout page: `/sandbox/checkout/<session_id>`.

Browsers get an HTML form and, on errors, the form again with a message per field (422);
API clients (JSON body, or Accept: application/json) get JSON and problem+json. The card
number and CVC are checked, used to decide, and dropped: they are never stored, logged or
echoed back into the page.
"""

from __future__ import annotations

from typing import Any

import structlog
from flask import Blueprint, Response, jsonify, render_template, request

from services.payment.domain.cards import validate_card
from services.payment.domain.errors import InvalidCardDetails
from services.payment.sandbox import bank
from services.payment.sandbox.gateway import Sandbox
from services.payment.sandbox.models import SandboxSessionRow
from shared.clock import utcnow
from shared.db import unit_of_work
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
    return Problem(404, "checkout_not_found", "No such checkout.", f"No sandbox checkout {session_id}.")


def closed(row: SandboxSessionRow) -> Problem:
    if row.status == bank.SessionStatus.CANCELLED:
        return Problem(409, "checkout_cancelled", "This checkout was cancelled.",
                       "The merchant cancelled this payment; nothing was charged.")
    return Problem(409, "checkout_completed", "This checkout is already completed.",
                   f"The payment was already {row.status}; it cannot be paid twice.")


def page(template: str, row: SandboxSessionRow, status: int = 200, **context: Any) -> Response:
    html = render_template(template, amount=Money(row.amount, row.currency).format(), session_id=row.id,
                           status=row.status, card_brand=row.card_brand, card_last4=row.card_last4,
                           failure_code=row.failure_code, **context)
    return Response(html, status=status, content_type="text/html; charset=utf-8")


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
    def pay(session_id: str) -> Response:
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
                    raise Problem(422, exc.code, "The card details are not valid.",
                                  "Correct the fields listed in `errors`.", errors=exc.errors) from None
                values = {name: form.get(name) or "" for name in ECHOED}
                return page("sandbox/checkout.html", row, 422, errors=exc.errors, values=values)
            bank.complete(session, row, card, sandbox.notifiers.for_method("card"), utcnow())
            log.info("sandbox_checkout_completed", session_id=row.id, status=row.status,
                     card_brand=row.card_brand, card_last4=row.card_last4, failure_code=row.failure_code)
        if wants_json():
            return jsonify({"status": row.status, "session_id": row.id, "failure_code": row.failure_code})
        return page("sandbox/result.html", row)

    return blp
