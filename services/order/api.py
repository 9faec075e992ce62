"""The public API frontends call to top up: options, quotes, orders and their receipts."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from contextlib import ExitStack, nullcontext
from typing import Any

from flask import Response, g, request
from flask.views import MethodView
from sqlalchemy.exc import IntegrityError

from services.order import ordering, receipts, schemas
from services.order.domain.catalog import rule_for
from services.order.domain.errors import (
    AccountFrozen,
    AmountOutOfRange,
    BalanceCapExceeded,
    CurrencyNotAllowed,
    IdempotencyKeyReused,
    MethodNotAvailable,
    OrderNotCancellable,
    OrderNotFound,
    PromoCodeInvalid,
    PromoCodeNotApplicable,
    QuoteAlreadyUsed,
    QuoteExpired,
    QuoteNotFound,
    ReceiptNotFound,
    ReturnUrlNotAllowed,
    TooManyResends,
)
from services.order.domain.promotions import offered
from services.order.domain.saga import TERMINAL, Status
from services.order.ordering import OrderRules
from services.order.watch import MAX_WAIT_SECONDS, RECHECK_SECONDS, Changes, OrderWatch, preferred_wait
from services.order.web import BEARER, customer_required, etag, me, signed_in, signed_in_as
from shared.clock import utcnow
from shared.db import unit_of_work
from shared.durations import format_duration
from shared.openapi import IDEMPOTENCY_KEY, JSON_BODY, SIGNED_IN, VALIDATION_FAILED, Blueprint, problems, refusal
from shared.problems import request_language
from shared.service import ServiceContext
from shared.web import IDEMPOTENCY_KEY_HEADER, REPLAYED_HEADER, idempotency_key, request_hash, takes_idempotency_key

#: the longest a placing request waits for its payment page (Prefer: wait=N)
MAX_PLACE_WAIT_SECONDS = 5
PLACE_PREFER = {"in": "header", "name": "Prefer", "schema": {"type": "string", "example": "wait=5"},
                "description": "answer once the order has its `next_action` (the payment page) or has ended, "
                               f"waiting at most this many seconds (at most {MAX_PLACE_WAIT_SECONDS}; see "
                               "Preference-Applied): no first poll needed"}
ORDER_HEADERS = {
    "ETag": {"description": "the order as it is now: send it back in If-None-Match", "required": True,
             "schema": {"type": "string"}},
    "Preference-Applied": {"description": "`wait=N` when the answer waited (Prefer: wait=N honoured)",
                           "schema": {"type": "string", "pattern": "^wait=[0-9]+$"}},
}


def answer(body: dict[str, Any], status: int, headers: dict[str, str]) -> Response:
    """An order already serialized (for its ETag), answered as it is, not dumped a second time."""
    return Response(json.dumps(body, separators=(",", ":"), ensure_ascii=False), status=status, headers=headers,
                    content_type="application/json")


def build_blueprint(ctx: ServiceContext, rules: OrderRules) -> Blueprint:
    customer_only = customer_required(ctx)
    customer_places = customer_required(ctx, view_reads_customer=True)  # read with the quote: place_order
    watch = OrderWatch(ctx.settings.database_url("order"), ctx.settings.web_threads // 2, ctx.spawn)
    order_out = schemas.OrderOut()
    topups = Blueprint("topups", __name__, url_prefix="/v1", description="Quotes, orders and receipts")

    @topups.route("/topup-options")
    @customer_only
    @topups.response(200, schemas.OptionsOut, example=schemas.OPTIONS_EXAMPLE)
    @topups.doc(security=BEARER)
    @problems(SIGNED_IN)
    def topup_options() -> dict[str, Any]:
        """What this customer may top up, and the promotions they get without a code.

        The rules of the customer's country (its currency, presets and limits for one top-up),
        the largest balance the currency allows, and how long a credit bought now is valid."""
        with ctx.sessions() as session:
            customer = me(session)
        rule, now, language = rule_for(customer.country), utcnow(), request_language()
        return {
            "country": customer.country, "currency": rule.currency,
            "preset_amounts": [m.amount_minor for m in rule.presets()],
            "min_amount": rule.minimum.amount_minor, "max_amount": rule.maximum.amount_minor,
            "max_balance": rule.max_balance.amount_minor, "methods": list(rules.catalog.methods),
            "validity": format_duration(rules.credit_validity), "validity_days": rules.credit_validity.days,
            "valid_until": now + rules.credit_validity,
            "promotions": [{"code": c.code, "name": c.named(language, rule.currency),
                            "description": c.described(language, rule.currency)}
                           for c in offered(rules.campaigns, rule.currency, now)],
        }

    @topups.route("/quotes", methods=["POST"])
    @customer_only
    @topups.arguments(schemas.QuoteIn, example=schemas.QUOTE_IN_EXAMPLE)
    @topups.response(201, schemas.QuoteOut, example=schemas.QUOTE_EXAMPLE)
    @topups.doc(security=BEARER)
    @problems(*JSON_BODY, SIGNED_IN, AccountFrozen, AmountOutOfRange, CurrencyNotAllowed, MethodNotAvailable,
              BalanceCapExceeded, PromoCodeInvalid, PromoCodeNotApplicable)
    def create_quote(body: dict[str, Any]) -> Any:
        """Quote a top-up: what will be credited and charged, and until when, before paying.

        The best promotion the customer qualifies for applies (campaigns do not stack)."""
        with unit_of_work(ctx.sessions) as session:
            return ordering.create_quote(session, rules, signed_in(), body["amount"], body["currency"],
                                         body["method"], utcnow(), body["promo_code"])

    @topups.route("/orders")
    class Orders(MethodView):
        @customer_places
        @topups.arguments(schemas.OrderIn, example={"quote_id": "quo_4e1f7a",
                                                    "return_url": "https://shop.example/topup/done"})
        @topups.response(201, schemas.OrderOut, example=schemas.PLACED_ORDER_EXAMPLE,
                         headers={**REPLAYED_HEADER, **ORDER_HEADERS})
        @topups.doc(security=BEARER, parameters=[IDEMPOTENCY_KEY_HEADER, PLACE_PREFER])
        @problems(*JSON_BODY, SIGNED_IN, IDEMPOTENCY_KEY, IdempotencyKeyReused, QuoteNotFound, QuoteExpired,
                  QuoteAlreadyUsed, AccountFrozen, BalanceCapExceeded, ReturnUrlNotAllowed)
        @takes_idempotency_key
        def post(self, body: dict[str, Any]) -> Any:
            """Confirm a quote as an order: the top-up starts.

            With `Prefer: wait=N` the answer comes once `next_action` says where to pay (or
            the order ended); else follow it with GET /v1/orders/{order_id}."""
            key, body_hash = idempotency_key(), request_hash(body)
            wait = min(preferred_wait(request.headers.get("Prefer")), MAX_PLACE_WAIT_SECONDS)
            with ExitStack() as watches:
                for attempt in range(2):
                    changed = None
                    try:
                        with unit_of_work(ctx.sessions) as session:
                            order, created = ordering.place_order(
                                session, rules, g.customer_id, functools.partial(signed_in_as, session),
                                body["quote_id"], key, body_hash, utcnow(), body["return_url"])
                            if wait and created:  # watched from before the commit: see placed()
                                changed = watches.enter_context(watch.watching(order.id))
                        break
                    except IntegrityError:
                        # A concurrent request with the same key (or quote) won the race; replay it.
                        if attempt:
                            raise
                if created:
                    body, tag, waited = placed(order.id, order_out.dump(order), wait, changed)
                else:
                    body, tag, waited = settled(order.id, order_out.dump(order), wait, has_next_action)
            headers = {"ETag": tag, **({"Preference-Applied": f"wait={wait}"} if waited else {}),
                       **({} if created else {"Idempotent-Replayed": "true"})}
            return answer(body, 201, headers)

        @customer_only
        @topups.arguments(schemas.OrderListArgs, location="query")
        @topups.response(200, schemas.OrderListOut, example={"orders": [schemas.ORDER_EXAMPLE], "next_cursor": None})
        @topups.doc(security=BEARER)
        @problems(SIGNED_IN, VALIDATION_FAILED, refusal(OrderNotFound, note="The cursor names no order of yours."))
        def get(self, args: dict[str, Any]) -> dict[str, Any]:
            """The customer's orders, newest first, a page at a time."""
            with ctx.sessions() as session:
                orders, cursor = ordering.list_orders(session, g.customer_id, args["limit"], args["cursor"])
                return {"orders": orders, "next_cursor": cursor}


    def read_body(order_id: str) -> tuple[dict[str, Any], str]:
        """The order as it is answered, serialized once (its ETag is of these bytes' content)."""
        with ctx.sessions() as session:
            body = order_out.dump(ordering.read_order(session, g.customer_id, order_id))
        return body, etag(body)

    def has_next_action(body: dict[str, Any]) -> bool:
        return body["next_action"] is not None or Status(body["status"]) in TERMINAL

    def placed(order_id: str, body: dict[str, Any], wait: int,
               changed: Changes | None) -> tuple[dict[str, Any], str, bool]:
        """`settled` for an order this request has just placed, watched since before its
        commit: the body as written is current, and the first announcement is the placing's
        own, so the order is read only once something else changed it (once, typically:
        when its payment page is known), or when a wait runs out unwoken."""
        # the placing's own announcement, unless this watch started the listener (which may
        # have missed it): then the first announcement is read as news, at the cost of a read
        accounted = 1 if changed is not None and changed.listening else 0
        deadline = time.monotonic() + wait
        while changed is not None and not has_next_action(body) and (left := deadline - time.monotonic()) > 0:
            changed.clear()
            if changed.count <= accounted and changed.wait(min(left, RECHECK_SECONDS)) \
                    and changed.count <= accounted:
                continue  # woken by its own announcement only
            accounted = changed.count
            body = read_body(order_id)[0]
        return body, etag(body), changed is not None

    def settled(order_id: str, body: dict[str, Any], wait: int,
                done: Callable[[dict[str, Any]], bool]) -> tuple[dict[str, Any], str, bool]:
        """The order's body once `done` says so, waiting at most `wait` seconds for its
        changes; (body, ETag, whether it could wait)."""
        if not wait or done(body):
            return body, etag(body), False
        with watch.watching(order_id) as changed:
            body, tag = read_body(order_id)  # after entering: no change slips between read and wait
            deadline = time.monotonic() + wait
            while changed is not None and not done(body) and (left := deadline - time.monotonic()) > 0:
                changed.wait(min(left, RECHECK_SECONDS))
                changed.clear()
                body, tag = read_body(order_id)
        return body, tag, changed is not None

    @topups.route("/orders/<order_id>")
    @customer_only
    @topups.response(200, schemas.OrderOut, example=schemas.ORDER_EXAMPLE, headers=ORDER_HEADERS)
    @topups.alt_response(304, description="Not modified: still as the If-None-Match ETag says",
                         headers=ORDER_HEADERS)
    @problems(SIGNED_IN, OrderNotFound)
    @topups.doc(security=BEARER, parameters=[
        {"in": "header", "name": "If-None-Match", "schema": {"type": "string"},
         "description": "the ETag of the order as last seen"},
        {"in": "header", "name": "Prefer", "schema": {"type": "string", "example": "wait=10"},
         "description": "with If-None-Match: answer when the order changes, or 304 after this many "
                        f"seconds (at most {MAX_WAIT_SECONDS}; see Preference-Applied)"}])
    def get_order(order_id: str) -> Any:
        """An order: where the top-up stands, what the customer must do next, and its timeline.

        With If-None-Match and Prefer: wait=N the answer waits for a change (long polling)."""
        seen, wait = request.headers.get("If-None-Match"), preferred_wait(request.headers.get("Prefer"))
        with watch.watching(order_id) if seen and wait else nullcontext() as changed:
            body, tag = read_body(order_id)
            deadline = time.monotonic() + wait
            while changed is not None and tag == seen and (left := deadline - time.monotonic()) > 0:
                changed.wait(min(left, RECHECK_SECONDS))
                changed.clear()  # read again; a change from now on sets it again
                body, tag = read_body(order_id)
        headers = {"ETag": tag, **({"Preference-Applied": f"wait={wait}"} if changed is not None else {})}
        if tag == seen:
            return Response(status=304, headers=headers)
        return answer(body, 200, headers)

    @topups.route("/orders/<order_id>/cancel", methods=["POST"])
    @customer_only
    @topups.response(202, schemas.OrderOut, example={**schemas.ORDER_EXAMPLE, "status": "cancelled",
                                                     "next_action": None})
    @topups.doc(security=BEARER)
    @problems(SIGNED_IN, OrderNotFound, refusal(OrderNotCancellable, note="It has been paid, or has ended."))
    def cancel_order(order_id: str) -> Any:
        """Back out of an order not yet paid.

        A `pending` or `awaiting_payment` order becomes `cancelled` and its payment at the
        gateway is cancelled; a payment captured in the same moment is refunded. Asking again
        answers the same; once paid, 409 `order_not_cancellable`."""
        with unit_of_work(ctx.sessions) as session:
            order = ordering.cancel_order(session, g.customer_id, order_id)
            return order, 202

    @topups.route("/orders/<order_id>/receipt")
    @customer_only
    @topups.response(200, schemas.ReceiptOut, example=schemas.RECEIPT_EXAMPLE)
    @topups.doc(security=BEARER)
    @problems(SIGNED_IN, refusal(ReceiptNotFound, note="Not issued yet (until the top-up completes), or not yours."))
    def get_receipt(order_id: str) -> Any:
        """The receipt of a completed top-up: 404 `receipt_not_found` until it is issued."""
        with ctx.sessions() as session:
            return receipts.document(receipts.receipt_of(session, g.customer_id, order_id))

    @topups.route("/orders/<order_id>/receipt/resend", methods=["POST"])
    @customer_only
    @topups.response(202, schemas.ReceiptOut, example=schemas.RECEIPT_EXAMPLE)
    @topups.doc(security=BEARER)
    @problems(SIGNED_IN, ReceiptNotFound, refusal(
        TooManyResends, note=f"{receipts.RESENDS_PER_HOUR} copies of this receipt in the last hour.",
        retry_after=True, members={"retry_after": 1200}))
    def resend_receipt(order_id: str) -> Any:
        """Email the same receipt (same number) again, to the customer's email now.

        At most 3 times an hour per order, then 429 with Retry-After."""
        with unit_of_work(ctx.sessions) as session:
            return receipts.document(receipts.resend(session, me(session), order_id, utcnow()))

    return topups
