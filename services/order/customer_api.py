"""The public API of the customer's account: register, log in, their profile, their
balance and its statement."""

from __future__ import annotations

from typing import Any

from flask import g, request

from services.order import auth, balances, customers, schemas
from services.order.customers import Profile, ThresholdOutOfRange
from services.order.domain.errors import EmailTaken, InvalidCredentials, UnsupportedCountry, WeakPassword
from services.order.limits import AddressLimits
from services.order.signin import SignIn
from services.order.throttles import TooManyAttempts
from services.order.web import BEARER, customer_required, me
from shared.clock import utcnow
from shared.db import unit_of_work
from shared.i18n import negotiate, render
from shared.openapi import JSON_BODY, SIGNED_IN, VALIDATION_FAILED, Blueprint, problems, refusal
from shared.problems import request_language
from shared.service import ServiceContext

REGISTER_EXAMPLE = {"email": "li.wei@example.com", "password": "correct horse battery", "country": "CN"}
CUSTOMER_EXAMPLE = {"customer_id": "cus_6ed4c1", "email": "li.wei@example.com", "country": "CN", "currency": "CNY",
                    "language": "zh-CN"}
TOKEN_EXAMPLE = {"access_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjdXNfNmVkNGMxIn0.c2lnbmF0dXJl",
                 "token_type": "Bearer", "expires_in": 3600}
PROFILE_EXAMPLE = {**CUSTOMER_EXAMPLE, "time_zone": "Asia/Shanghai", "low_balance_threshold": 4000,
                   "reminders": True}
BALANCE_EXAMPLE = {"amount": 50000, "currency": "CNY", "status": "active", "frozen_reason": None,
                   "low_balance_threshold": 4000,
                   "expiring": [{"amount": 50000, "expires_at": "2027-11-29T08:00:00+00:00"}]}
STATEMENT_EXAMPLE = {"entries": [{"entry_id": "je_2", "kind": "debit", "amount": -46500, "balance_after": 3500,
                                  "currency": "CNY", "occurred_at": "2026-11-29T09:00:00+00:00", "order_id": None,
                                  "reference": "dbt_d3ff", "description": "日本 7 天 5GB 流量套餐"}],
                     "next_cursor": "v1"}
TOO_MANY_ATTEMPTS = refusal(TooManyAttempts, retry_after=True,
                            note="Too many failures for this account, or tries from this network; wait Retry-After.")


def profile_view(profile: Profile) -> dict[str, Any]:
    customer = profile.customer
    return {"id": customer.id, "email": customer.email, "country": customer.country, "currency": customer.currency,
            "language": customer.language, "time_zone": profile.time_zone,
            "low_balance_threshold": profile.low_balance_threshold.amount_minor, "reminders": customer.reminders}


def build_blueprints(ctx: ServiceContext, limits: AddressLimits, doors: SignIn) -> list[Blueprint]:
    customer_only = customer_required(ctx)
    accounts = Blueprint("auth", __name__, url_prefix="/v1/auth", description="Register and log in")
    mine = Blueprint("me", __name__, url_prefix="/v1", description="The customer's profile, balance and statement")

    @accounts.route("/register", methods=["POST"])
    @limits.every_try()
    @accounts.arguments(schemas.RegisterIn, example=REGISTER_EXAMPLE)
    @accounts.response(201, schemas.CustomerOut, example=CUSTOMER_EXAMPLE)
    @problems(*JSON_BODY, EmailTaken, UnsupportedCountry, WeakPassword, TOO_MANY_ATTEMPTS)
    def register(body: dict[str, Any]) -> Any:
        """Register a customer.

        The password is kept as an argon2 hash. `language`: as sent, else from
        Accept-Language, else the country's. Throttled per client address and per email."""
        language = body["language"] or negotiate(request.headers.get("Accept-Language"))
        return doors.register(body["email"], body["password"], body["country"], language, utcnow())

    @accounts.route("/login", methods=["POST"])
    @limits.failed_tries()
    @accounts.arguments(schemas.LoginIn, example={"email": REGISTER_EXAMPLE["email"],
                                                  "password": REGISTER_EXAMPLE["password"]})
    @accounts.response(200, schemas.TokenOut, example=TOKEN_EXAMPLE)
    @problems(*JSON_BODY, InvalidCredentials, TOO_MANY_ATTEMPTS)
    def login(body: dict[str, Any]) -> dict[str, Any]:
        """Log in: a short-lived access token.

        After a few failures on one account, or many from one address, 429
        too_many_attempts with a Retry-After that grows; no password is checked meanwhile."""
        who = doors.log_in(body["email"], body["password"], utcnow())
        token = auth.issue_token(who.customer_id, ctx.settings.jwt_secret, ctx.settings.jwt_ttl_seconds, utcnow(),
                                 who.language, who.credentials_version)
        return {"access_token": token, "token_type": "Bearer", "expires_in": ctx.settings.jwt_ttl_seconds}

    @mine.route("/me")
    @customer_only
    @mine.response(200, schemas.ProfileOut, example=PROFILE_EXAMPLE)
    @mine.doc(security=BEARER)
    @problems(SIGNED_IN)
    def get_me() -> dict[str, Any]:
        """The customer's profile, with the defaults filled in."""
        with ctx.sessions() as session:
            return profile_view(Profile(me(session)))

    @mine.route("/me", methods=["PATCH"])
    @customer_only
    @mine.arguments(schemas.ProfilePatch, required=False, example={"language": "zh-CN", "reminders": False})
    @mine.response(200, schemas.ProfileOut, example={**PROFILE_EXAMPLE, "language": "zh-CN", "reminders": False})
    @mine.doc(security=BEARER)
    @problems(*JSON_BODY, SIGNED_IN, ThresholdOutOfRange)
    def patch_me(body: dict[str, Any]) -> dict[str, Any]:
        """Change the profile: only the fields sent change.

        The language, the low-balance threshold (null: the currency's default) or whether
        reminders are sent; a change is announced to the wallet and the notify service."""
        with unit_of_work(ctx.sessions) as session:
            customer = customers.update_profile(session, me(session), body)
            g.language = customer.language
            return profile_view(Profile(customer))

    @mine.route("/balance")
    @customer_only
    @mine.response(200, schemas.BalanceOut, example=BALANCE_EXAMPLE)
    @mine.doc(security=BEARER)
    @problems(SIGNED_IN)
    def balance() -> dict[str, Any]:
        """The balance, its credits and when each expires.

        As the wallet last announced it: the credits soonest-expiring first, and, when
        frozen, why."""
        with ctx.sessions() as session:
            customer = me(session)
            row = balances.balance_of(session, customer)
        frozen = None
        if row.status == "frozen":
            code = row.frozen_reason or "other"
            frozen = {"code": code if code in balances.FROZEN_BECAUSE else "other",
                      "message": balances.frozen_because(code).render(request_language())}
        return {"amount": row.amount_minor, "currency": row.currency, "status": row.status, "frozen_reason": frozen,
                "low_balance_threshold": Profile(customer).low_balance_threshold.amount_minor,
                "expiring": balances.expiring(row, utcnow())}

    @mine.route("/balance/entries")
    @customer_only
    @mine.arguments(schemas.StatementArgs, location="query")
    @mine.response(200, schemas.StatementOut, example=STATEMENT_EXAMPLE)
    @mine.doc(security=BEARER)
    @problems(SIGNED_IN, VALIDATION_FAILED)
    def entries(args: dict[str, Any]) -> dict[str, Any]:
        """The statement, newest first.

        Every change of the balance up to the one the balance shows; `next_cursor` pages on."""
        with ctx.sessions() as session:
            page = balances.statement(session, g.customer_id, args["limit"], args["cursor"])
        language = request_language()
        return {"entries": [{"entry_id": c.entry_id, "kind": c.kind, "amount": c.amount_minor,
                             "balance_after": c.balance_minor, "currency": c.currency, "occurred_at": c.occurred_at,
                             "order_id": c.order_id, "reference": c.reference,
                             "description": render(balances.describe(c), language)}
                            for c in page.entries],
                "next_cursor": page.next_cursor}

    return [accounts, mine]
