"""What the order API's views share: who the customer is, and in which language to answer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from services.order import auth
from services.order.balances import BALANCE_COLUMNS, BALANCE_PREFIX
from services.order.models import Balance, Customer
from services.order.texts import _
from shared.problems import Problem
from shared.service import ServiceContext

F = TypeVar("F", bound=Callable[..., Any])
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


def customer_required(ctx: ServiceContext, view_reads_customer: bool = False) -> Callable[[F], F]:
    """Require a valid access token issued since the customer's password last changed.

    The signature is checked in memory (auth.VerifiedTokens); whether the password changed
    since is one primary-key read of the customer's credentials version per request, so that
    a change or reset ends every earlier token at once, on every replica. A view that reads
    the customer's row in a statement of its own (placing an order) makes that check itself,
    `view_reads_customer`, with `signed_in_as` on the row it read, before it does anything."""
    tokens = auth.VerifiedTokens(ctx.settings.jwt_secret)

    def current(holder: auth.Holder) -> bool:
        """Read the customer's row (one statement) and check the token against it; the row is
        kept for the view (`signed_in`), so that it is not read twice."""
        with ctx.engine.connect() as conn:
            row = conn.execute(CUSTOMER_ROW, {"customer_id": holder.customer_id}).one_or_none()
        g.customer_row = row
        return row is not None and row.credentials_version == holder.credentials_version

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
            holder = tokens.holder(token) if scheme.lower() == "bearer" else None
            if holder is None:
                raise Problem(401, "unauthorized", _("Authentication required."),
                              _("Send Authorization: Bearer <access_token> from /v1/auth/login."))
            g.token_credentials_version = holder.credentials_version
            if not view_reads_customer and not current(holder):
                raise sign_in_ended()
            g.customer_id = holder.customer_id
            if holder.language:
                g.language = holder.language
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


CUSTOMERS, BALANCES = Customer.__table__, Balance.__table__
#: the customer and the balance last announced for them (`balances.balance_of` reads it from
#: here): quoting and placing an order need both, and this read is made for every request
CUSTOMER_ROW = (select(CUSTOMERS, *(column.label(f"{BALANCE_PREFIX}{column.name}") for column in BALANCES.c
                                    if column.name in BALANCE_COLUMNS))
                .select_from(CUSTOMERS.outerjoin(BALANCES, BALANCES.c.customer_id == CUSTOMERS.c.id))
                .where(CUSTOMERS.c.id == bindparam("customer_id")))


def sign_in_ended() -> Problem:
    return Problem(401, "unauthorized", _("Authentication required."),
                   _("This sign-in has ended: the password was changed or reset. Log in again."))


def signed_in_as(session: Session, row: Any | None) -> Any:
    """The token check of a `view_reads_customer` view, on the customer's row as its own
    statement read it (or, given None, as read here): the signed-in customer, or a refusal."""
    if row is None:
        row = session.execute(CUSTOMER_ROW, {"customer_id": g.customer_id}).one_or_none()
    if row is None or row.credentials_version != g.token_credentials_version:
        raise sign_in_ended()
    g.customer_row = row
    g.language = row.language
    return row


def signed_in() -> Any:
    """The signed-in customer's row as read for this request's token check (plain values:
    id, country, currency, language, email...), for views that only read it; from now on
    errors are in their language unless the request asks for another."""
    row = g.customer_row
    g.language = row.language
    return row


def me(session: Session) -> Customer:
    """The signed-in customer; from now on, errors are in their language unless the request
    asks for another (shared/problems.py: request_language)."""
    customer = session.get(Customer, g.customer_id)
    if customer is None:
        raise Problem(401, "unauthorized", _("Authentication required."), _("The account no longer exists."))
    g.language = customer.language
    return customer


def etag(body: Any) -> str:
    """A strong ETag of a JSON body: equal exactly when the bodies are."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return '"' + hashlib.sha256(canonical.encode()).hexdigest()[:32] + '"'
