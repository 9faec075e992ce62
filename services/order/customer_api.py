"""The public API of the customer's account: register, log in, their profile, their
balance and its statement."""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask_smorest import Blueprint

from services.order import auth, balances, customers, schemas
from services.order.customers import Profile
from services.order.limits import AddressLimits
from services.order.signin import SignIn
from services.order.web import BEARER, customer_required, me
from shared.clock import utcnow
from shared.db import unit_of_work
from shared.i18n import negotiate, render
from shared.problems import request_language
from shared.service import ServiceContext


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
    @accounts.arguments(schemas.RegisterIn)
    @accounts.response(201, schemas.CustomerOut)
    def register(body: dict[str, Any]) -> Any:
        """Throttled per client address and per email (429 too_many_attempts)."""
        language = body["language"] or negotiate(request.headers.get("Accept-Language"))
        return doors.register(body["email"], body["password"], body["country"], language, utcnow())

    @accounts.route("/login", methods=["POST"])
    @limits.failed_tries()
    @accounts.arguments(schemas.LoginIn)
    @accounts.response(200, schemas.TokenOut)
    def login(body: dict[str, Any]) -> dict[str, Any]:
        """After a few failures on one account, or many from one address, 429
        too_many_attempts with a Retry-After that grows; no password is checked meanwhile."""
        who = doors.log_in(body["email"], body["password"], utcnow())
        token = auth.issue_token(who.customer_id, ctx.settings.jwt_secret, ctx.settings.jwt_ttl_seconds, utcnow(),
                                 who.language, who.credentials_version)
        return {"access_token": token, "token_type": "Bearer", "expires_in": ctx.settings.jwt_ttl_seconds}

    @mine.route("/me")
    @customer_only
    @mine.response(200, schemas.ProfileOut)
    @mine.doc(security=BEARER)
    def get_me() -> dict[str, Any]:
        with ctx.sessions() as session:
            return profile_view(Profile(me(session)))

    @mine.route("/me", methods=["PATCH"])
    @customer_only
    @mine.arguments(schemas.ProfilePatch)
    @mine.response(200, schemas.ProfileOut)
    @mine.doc(security=BEARER)
    def patch_me(body: dict[str, Any]) -> dict[str, Any]:
        """Change the language, the low-balance threshold (null: the currency's default) or
        whether reminders are sent; only the fields sent change."""
        with unit_of_work(ctx.sessions) as session:
            customer = customers.update_profile(session, me(session), body)
            g.language = customer.language
            return profile_view(Profile(customer))

    @mine.route("/balance")
    @customer_only
    @mine.response(200, schemas.BalanceOut)
    @mine.doc(security=BEARER)
    def balance() -> dict[str, Any]:
        """The balance as the wallet last announced it, the credits on it with when each
        expires (soonest first), and, when frozen, why."""
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
    @mine.response(200, schemas.StatementOut)
    @mine.doc(security=BEARER)
    def entries(args: dict[str, Any]) -> dict[str, Any]:
        """The statement, newest first: every change of the balance up to the one it shows."""
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
