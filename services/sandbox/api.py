"""The sandbox gateways' API: what the merchant (our payment service) calls, shaped after
real providers' APIs.

- `POST /sandbox/api/checkouts`: open a checkout for a payment (Stripe's checkout
  session, PayPal's order, Alipay's precreate, WeChat Pay's native order); its `url` is
  where the customer pays;
- `GET /sandbox/api/payments/<id>`: retrieve a checkout (Stripe's retrieve, Alipay's
  trade.query); `GET /sandbox/api/payments?reference=<payment id>`: the same by the
  merchant's payment id (both Alipay and WeChat Pay query by out_trade_no);
- `POST /sandbox/api/payments/<id>/refunds`: refund it in full, `{"refund_reference": ...}`
  (Alipay's out_request_no, WeChat Pay's out_refund_no); `GET /sandbox/api/refunds/<ref>`:
  how that refund stands;
- `POST /sandbox/api/payments/<id>/cancel`: close an unpaid checkout (`cancelled: false`
  when it was paid);
- `GET /sandbox/api/merchant`: what the merchant trusts about each provider (ids, public
  keys, certificates: what a dashboard shows);
- `GET /sandbox/api/settlements/<provider>/<day>`: a provider's settlement report of a UTC
  day, in its own format.

Authenticated like Stripe's API: `Authorization: Bearer <secret key>` (shared/config.py
`sandbox_api_key`). Every POST carries an `Idempotency-Key` (Stripe's header; PayPal's
`PayPal-Request-Id`): the first successful answer under a key is kept with the work it did,
in one transaction, and the same key again gets that answer without the work being done
twice; the same key with other parameters is refused (422 `idempotency_key_reused`). A
checkout is also unique by the merchant's payment id (as out_trade_no is), so two creates
racing with one key open one checkout. Refusals (4xx) are not kept: asking again may be
answered otherwise once things change. Answers are JSON, errors problem+json.

The merchant's calls meet the faults SANDBOX_FAULTS asks for (faults.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from typing import Any

import structlog
from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.payment.domain.errors import GatewayRefused
from services.sandbox import bank, settlement
from services.sandbox.faults import Fault
from services.sandbox.gateway import Sandbox
from services.sandbox.models import SandboxRequestRow, SandboxSessionRow
from services.sandbox.notifiers import METHOD_PROVIDERS
from services.sandbox.texts import _
from shared.clock import utcnow
from shared.db import unit_of_work
from shared.money import Money
from shared.problems import Problem
from shared.service import ServiceContext

log = structlog.get_logger(__name__)

Answer = tuple[dict[str, Any], int]


def authenticate(key: str) -> None:
    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), key.encode()):
        raise Problem(401, "invalid_api_key", _("Sandbox API key required."),
                      _("Send Authorization: Bearer <sandbox secret key>."))


def idempotency_key() -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key or len(key) > 128:
        raise Problem(400, "idempotency_key_required", _("An Idempotency-Key header is required."),
                      _("Send the same key (at most 128 characters) when you repeat a request."))
    return key


def body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Problem(400, "invalid_request", _("The request body is not a JSON object."))
    return data


def no_payment(reference: str) -> Problem:
    return Problem(404, "no_such_payment", _("No such payment."),
                   _("There is no sandbox payment {session_id}.", session_id=reference))


def refused(exc: GatewayRefused) -> Problem:
    return Problem(402, exc.code, _("The provider refused."), str(exc))


def once(session: Session, operation: str, key: str, asked: dict[str, Any], work: Callable[[], Answer]) -> Answer:
    """The answer to a request under an idempotency key: the kept one, or `work`'s, kept with it."""
    fingerprint = hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()
    kept = session.get(SandboxRequestRow, (key, operation))
    if kept is not None:
        if kept.fingerprint != fingerprint:
            raise Problem(422, "idempotency_key_reused", _("This Idempotency-Key was used for another request."),
                          _("Use a new key for a new request."))
        return json.loads(kept.body), kept.status
    answer, status = work()
    session.add(SandboxRequestRow(key=key, operation=operation, fingerprint=fingerprint, status=status,
                                  body=json.dumps(answer)))
    return answer, status


def build_blueprint(ctx: ServiceContext, sandbox: Sandbox) -> Blueprint:
    blp = Blueprint("sandbox_api", __name__, url_prefix="/sandbox/api")
    key = ctx.settings.sandbox_api_key

    def faulted(operation: str, call: Callable[[], Answer]) -> Response:
        """The merchant's call, meeting the fault SANDBOX_FAULTS draws for it: an error before
        any work, a slow answer, or (timeout) the work done and committed, then no answer in time."""
        authenticate(key)
        fault = sandbox.faults.api_fault(operation)
        if fault is Fault.ERROR:
            log.info("sandbox_fault", fault=fault.value, operation=operation)
            raise Problem(503, "sandbox_fault", _("The provider is unavailable; try again."))
        if fault is Fault.SLOW:
            time.sleep(sandbox.faults.lag)
        answer, status = call()
        if fault is Fault.TIMEOUT:
            log.info("sandbox_fault", fault=fault.value, operation=operation)
            time.sleep(sandbox.faults.hang)
        response = jsonify(answer)
        response.status_code = status
        return response

    def described(row: SandboxSessionRow) -> dict[str, Any]:
        return bank.describe(row, sandbox.page_url(row.method, row.id))

    @blp.post("/checkouts")
    def create() -> Response:
        def work() -> Answer:
            asked, idem = body(), idempotency_key()
            try:
                amount = Money(int(asked["amount"]), str(asked["currency"]))
                reference, method = str(asked["payment_reference"]), str(asked["method"])
            except (KeyError, TypeError, ValueError):
                raise Problem(400, "invalid_request", _("A checkout needs payment_reference, amount, currency "
                                                        "and method.")) from None
            if method not in METHOD_PROVIDERS or amount.amount_minor <= 0:
                raise Problem(402, "method_unavailable", _("The provider does not take this payment."))
            try:
                with unit_of_work(ctx.sessions) as session:
                    def open_it() -> Answer:
                        existing = bank.find_by_reference(session, reference)
                        if existing is not None:  # one checkout per payment, whatever the key
                            return described(existing), 200
                        row = bank.open_session(
                            session, reference, amount, method, utcnow(), str(asked.get("locale") or "en"),
                            attempts_allowed=int(asked.get("attempts_allowed") or 1),
                            return_url=asked.get("return_url"))
                        return described(row), 201
                    return once(session, "create", idem, asked, open_it)
            except IntegrityError:  # the same payment opened at the same moment by another call
                with ctx.sessions() as session:
                    row = bank.find_by_reference(session, reference)
                    if row is None:
                        raise
                    return described(row), 200
        return faulted("create", work)

    def shown(lookup: Callable[[Session], SandboxSessionRow | None], named: str) -> Response:
        def work() -> Answer:
            with ctx.sessions() as session:
                row = lookup(session)
                if row is None:
                    raise no_payment(named)
                return described(row), 200
        return faulted("retrieve", work)

    @blp.get("/payments/<session_id>")
    def retrieve(session_id: str) -> Response:
        return shown(lambda session: bank.get_session(session, session_id), session_id)

    @blp.get("/payments")
    def find() -> Response:
        reference = request.args.get("reference", "")
        return shown(lambda session: bank.find_by_reference(session, reference), reference)

    @blp.post("/payments/<session_id>/refunds")
    def refund(session_id: str) -> Response:
        def work() -> Answer:
            asked, idem = body(), idempotency_key()
            reference = asked.get("refund_reference")
            if not isinstance(reference, str) or not 0 < len(reference) <= 64:
                raise Problem(400, "invalid_request", _("A refund needs its refund_reference."))
            with unit_of_work(ctx.sessions) as session:
                row = bank.get_session(session, session_id, lock=True)  # two refunds of it take turns
                if row is None:
                    raise no_payment(session_id)

                def refund_it() -> Answer:
                    bank.refund(session, row, reference, sandbox.notifiers.for_method(row.method), utcnow())
                    return refund_of(row), 200
                try:
                    return once(session, "refund", idem, {**asked, "payment": session_id}, refund_it)
                except GatewayRefused as exc:
                    raise refused(exc) from None
        return faulted("refund", work)

    @blp.get("/refunds/<refund_reference>")
    def refund_status(refund_reference: str) -> Response:
        def work() -> Answer:
            with ctx.sessions() as session:
                row = session.scalars(select(SandboxSessionRow).where(
                    SandboxSessionRow.refund_reference == refund_reference)).first()
                if row is None:
                    raise Problem(404, "no_such_refund", _("No such refund."))
                return refund_of(row), 200
        return faulted("retrieve", work)

    @blp.post("/payments/<session_id>/cancel")
    def cancel(session_id: str) -> Response:
        def work() -> Answer:
            idem = idempotency_key()
            with unit_of_work(ctx.sessions) as session:
                row = bank.get_session(session, session_id, lock=True)  # a payment and our cancel take turns
                if row is None:
                    raise no_payment(session_id)

                def cancel_it() -> Answer:
                    return {"cancelled": bank.cancel(row), **described(row)}, 200
                return once(session, "cancel", idem, {"payment": session_id}, cancel_it)
        return faulted("cancel", work)

    @blp.get("/merchant")
    def merchant() -> dict[str, Any]:
        authenticate(key)
        return sandbox.merchant()

    @blp.get("/settlements/<provider>/<day>")
    def settlement_report(provider: str, day: str) -> Response:
        """A provider's settlement report of a day (UTC), in that provider's own format."""
        authenticate(key)
        methods = [method for method, named in METHOD_PROVIDERS.items() if named == provider]
        try:
            start = datetime.combine(date.fromisoformat(day), day_time.min, tzinfo=UTC)
        except ValueError:
            raise Problem(404, "no_such_report", _("No such report."), _("The day is YYYY-MM-DD.")) from None
        if not methods:
            raise Problem(404, "no_such_report", _("No such report."), _("There is no such provider."))
        with ctx.sessions() as session:
            entries = bank.settled_between(session, methods, start, start + timedelta(days=1))
        report = settlement.report(provider, start.date(), entries, account=f"sandbox-{provider}")
        charset = "gbk" if provider == "alipay" else "utf-8"
        return Response(report, content_type=f"text/csv; charset={charset}",
                        headers={"Content-Disposition": f'attachment; filename="{provider}-{day}.csv"'})

    return blp


def refund_of(row: SandboxSessionRow) -> dict[str, Any]:
    return {"object": "refund", "refund_reference": row.refund_reference, "payment": row.id,
            "payment_reference": row.payment_reference, "amount": row.amount, "currency": row.currency,
            "status": "succeeded" if row.refunded else "none",
            "refunded_at": row.refunded_at.isoformat() if row.refunded_at else None}
