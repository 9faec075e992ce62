"""The public API frontends call: HTTP <-> ordering functions, marshmallow in and out."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from contextlib import nullcontext
from functools import wraps
from typing import Any, TypeVar

from flask import Response, g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy.exc import IntegrityError

from services.order import auth, ordering, schemas
from services.order.domain.catalog import rule_for
from services.order.domain.promotions import CAMPAIGNS
from services.order.models import Customer
from services.order.ordering import OrderRules
from services.order.watch import MAX_WAIT_SECONDS, RECHECK_SECONDS, OrderWatch, preferred_wait
from shared.clock import utcnow
from shared.db import unit_of_work
from shared.problems import Problem
from shared.service import ServiceContext

F = TypeVar("F", bound=Callable[..., Any])
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


def etag(body: Any) -> str:
    """A strong ETag of a JSON body: equal exactly when the bodies are."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return '"' + hashlib.sha256(canonical.encode()).hexdigest()[:32] + '"'


def customer_required(ctx: ServiceContext) -> Callable[[F], F]:
    tokens = auth.VerifiedTokens(ctx.settings.jwt_secret)

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            customer_id = None
            if scheme.lower() == "bearer":
                customer_id = tokens.customer(token)
            if customer_id is None:
                raise Problem(401, "unauthorized", "Authentication required.",
                              "Send Authorization: Bearer <access_token> from /v1/auth/login.")
            g.customer_id = customer_id
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def me(session: Any) -> Customer:
    customer = session.get(Customer, g.customer_id)
    if customer is None:
        raise Problem(401, "unauthorized", "Authentication required.", "The account no longer exists.")
    return customer


def build_blueprints(ctx: ServiceContext, rules: OrderRules) -> list[Blueprint]:
    customer_only = customer_required(ctx)
    accounts = Blueprint("auth", __name__, url_prefix="/v1/auth", description="Register and log in")
    topups = Blueprint("topups", __name__, url_prefix="/v1", description="Quotes, orders and the balance")

    @accounts.route("/register", methods=["POST"])
    @accounts.arguments(schemas.RegisterIn)
    @accounts.response(201, schemas.CustomerOut)
    def register(body: dict[str, Any]) -> Customer:
        try:
            with unit_of_work(ctx.sessions) as session:
                return ordering.register(session, body["email"], body["password"], body["country"])
        except IntegrityError:
            raise Problem(409, "email_taken", "Email taken.", "an account with this email already exists") from None

    @accounts.route("/login", methods=["POST"])
    @accounts.arguments(schemas.LoginIn)
    @accounts.response(200, schemas.TokenOut)
    def login(body: dict[str, Any]) -> dict[str, Any]:
        with ctx.sessions() as session:
            customer = ordering.login(session, body["email"], body["password"])
        token = auth.issue_token(customer.id, ctx.settings.jwt_secret, ctx.settings.jwt_ttl_seconds, utcnow())
        return {"access_token": token, "token_type": "Bearer", "expires_in": ctx.settings.jwt_ttl_seconds}

    @topups.route("/topup-options")
    @topups.response(200, schemas.OptionsOut)
    @topups.doc(security=BEARER)
    @customer_only
    def topup_options() -> dict[str, Any]:
        with ctx.sessions() as session:
            customer = me(session)
        rule = rule_for(customer.country)
        return {
            "country": customer.country, "currency": rule.currency,
            "preset_amounts": [m.amount_minor for m in rule.presets()],
            "min_amount": rule.minimum.amount_minor, "max_amount": rule.maximum.amount_minor,
            "methods": list(rules.catalog.methods), "validity_days": rules.validity_days,
            "promotions": [{"code": c.code, "description": (c.__doc__ or "").strip().split("\n")[0]}
                           for c in CAMPAIGNS if rule.currency in getattr(c, "currencies", ())],
        }

    @topups.route("/quotes", methods=["POST"])
    @topups.arguments(schemas.QuoteIn)
    @topups.response(201, schemas.QuoteOut)
    @topups.doc(security=BEARER)
    @customer_only
    def create_quote(body: dict[str, Any]) -> Any:
        with unit_of_work(ctx.sessions) as session:
            return ordering.create_quote(session, rules, me(session), body["amount"], body["currency"],
                                         body["method"], utcnow())

    @topups.route("/orders")
    class Orders(MethodView):
        decorators = [customer_only]

        @topups.arguments(schemas.OrderIn)
        @topups.response(201, schemas.OrderOut)
        @topups.doc(security=BEARER, parameters=[{"in": "header", "name": "Idempotency-Key", "required": True,
                                                  "schema": {"type": "string", "maxLength": 255}}])
        def post(self, body: dict[str, Any]) -> Any:
            key = request.headers.get("Idempotency-Key", "").strip()
            if not key or len(key) > 255:
                raise Problem(400, "idempotency_key_required", "Idempotency-Key required.",
                              "Send a unique Idempotency-Key header (at most 255 characters) with each new order.")
            body_hash = ordering.request_hash(body)
            for attempt in range(2):
                try:
                    with unit_of_work(ctx.sessions) as session:
                        order, created = ordering.place_order(session, rules, me(session), body["quote_id"],
                                                              key, body_hash, utcnow())
                    break
                except IntegrityError:
                    # A concurrent request with the same key (or quote) won the race; replay it.
                    if attempt:
                        raise
            headers = {} if created else {"Idempotent-Replayed": "true"}
            return order, 201, headers

        @topups.arguments(schemas.OrderListArgs, location="query")
        @topups.response(200, schemas.OrderListOut)
        @topups.doc(security=BEARER)
        def get(self, args: dict[str, Any]) -> dict[str, Any]:
            with ctx.sessions() as session:
                orders, cursor = ordering.list_orders(session, g.customer_id, args["limit"], args["cursor"])
                return {"orders": orders, "next_cursor": cursor}

    watch = OrderWatch(ctx.settings.database_url("order"), max_waiting=ctx.settings.web_threads // 2)
    order_out = schemas.OrderOut()

    def read(order_id: str) -> tuple[Any, str]:
        with ctx.sessions() as session:
            order = ordering.get_order(session, g.customer_id, order_id)
        return order, etag(order_out.dump(order))

    @topups.route("/orders/<order_id>")
    @topups.response(200, schemas.OrderOut)
    @topups.alt_response(304, description="Not modified: still as the If-None-Match ETag says")
    @topups.doc(security=BEARER, parameters=[
        {"in": "header", "name": "If-None-Match", "schema": {"type": "string"},
         "description": "the ETag of the order as last seen"},
        {"in": "header", "name": "Prefer", "schema": {"type": "string", "example": "wait=10"},
         "description": "with If-None-Match: answer when the order changes, or 304 after this many "
                        f"seconds (at most {MAX_WAIT_SECONDS}; see Preference-Applied)"}])
    @customer_only
    def get_order(order_id: str) -> Any:
        seen, wait = request.headers.get("If-None-Match"), preferred_wait(request.headers.get("Prefer"))
        with watch.watching(order_id) if seen and wait else nullcontext() as changed:
            order, tag = read(order_id)
            deadline = time.monotonic() + wait
            while changed is not None and tag == seen and (left := deadline - time.monotonic()) > 0:
                changed.wait(min(left, RECHECK_SECONDS))
                changed.clear()  # read again; a change from now on sets it again
                order, tag = read(order_id)
        headers = {"ETag": tag, **({"Preference-Applied": f"wait={wait}"} if changed is not None else {})}
        if tag == seen:
            return Response(status=304, headers=headers)
        return order, 200, headers

    @topups.route("/balance")
    @topups.response(200, schemas.BalanceOut)
    @topups.doc(security=BEARER)
    @customer_only
    def balance() -> Any:
        with ctx.sessions() as session:
            return ordering.balance_of(session, me(session))

    return [accounts, topups]

