"""What a customer does through the API: register, log in, ask for a quote, place an order.

Each function runs in the caller's unit of work; the messages it causes go to the outbox in
that same transaction.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.order import auth
from services.order.commands import messages_for
from services.order.domain import catalog as catalog_rules
from services.order.domain.catalog import Catalog
from services.order.domain.errors import (
    AccountFrozen,
    EmailTaken,
    IdempotencyKeyReused,
    OrderNotFound,
    QuoteNotFound,
    WeakPassword,
)
from services.order.domain.quotes import check_quote_usable, make_quote
from services.order.domain.saga import START, Event
from services.order.handlers import record
from services.order.models import Balance, Customer, IdempotencyKey, Order, OutboxMessage, Quote
from shared.config import Settings
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import put
from shared.money import Money


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass(frozen=True)
class OrderRules:
    catalog: Catalog
    quote_ttl: timedelta
    payment_timeout: timedelta
    validity_days: int

    @classmethod
    def from_settings(cls, settings: Settings, methods: tuple[str, ...]) -> OrderRules:
        return cls(
            catalog=Catalog(methods=methods),
            quote_ttl=timedelta(seconds=settings.quote_ttl_seconds),
            payment_timeout=timedelta(seconds=settings.order_payment_timeout_seconds),
            validity_days=settings.credit_validity_days,
        )


def register(session: Session, email: str, password: str, country: str) -> Customer:
    if len(password) < 8:
        raise WeakPassword("a password has at least 8 characters")
    rule = catalog_rules.rule_for(country)
    email = email.strip().lower()
    if session.scalar(select(func.count()).select_from(Customer).where(Customer.email == email)):
        raise EmailTaken("an account with this email already exists")
    customer = Customer(id=new_id("cus"), email=email, password_hash=auth.hash_password(password),
                        country=country.upper(), currency=rule.currency)
    session.add(customer)
    session.flush()
    put(session, OutboxMessage, Envelope.new("customer.registered", {
        "customer_id": customer.id, "email": customer.email, "country": customer.country,
        "currency": customer.currency}))
    return customer


def login(session: Session, email: str, password: str) -> Customer:
    customer = session.scalars(select(Customer).where(Customer.email == email.strip().lower())).one_or_none()
    auth.verify_password(customer.password_hash if customer else None, password)
    assert customer is not None
    return customer


def balance_of(session: Session, customer: Customer) -> Balance:
    """The balance as the wallet last announced it; a new account has not spoken yet."""
    row = session.get(Balance, customer.id)
    return row or Balance(customer_id=customer.id, amount_minor=0, currency=customer.currency,
                          status="active", version=0)


def _refuse_if_frozen(session: Session, customer: Customer) -> None:
    if balance_of(session, customer).status == "frozen":
        raise AccountFrozen("this account is frozen and cannot be topped up; please contact support")


def create_quote(session: Session, rules: OrderRules, customer: Customer, amount: int, currency: str,
                 method: str, now: datetime) -> Quote:
    _refuse_if_frozen(session, customer)
    terms = make_quote(rules.catalog, customer.country, Money(amount, currency), method, now=now,
                       ttl=rules.quote_ttl, validity_days=rules.validity_days)
    quote = Quote(id=new_id("quo"), customer_id=customer.id, credit_minor=terms.credit.amount_minor,
                  charge_minor=terms.charge.amount_minor, currency=currency, method=method,
                  promotion=terms.promotion, validity_days=terms.validity_days, expires_at=terms.expires_at)
    session.add(quote)
    return quote


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def replay(session: Session, customer: Customer, key: str, body_hash: str) -> Order | None:
    """The order an Idempotency-Key already produced, if any (refused if the body differs)."""
    row = session.scalars(select(IdempotencyKey).where(
        IdempotencyKey.customer_id == customer.id, IdempotencyKey.key == key)).one_or_none()
    if row is None:
        return None
    if row.request_hash != body_hash:
        raise IdempotencyKeyReused("this Idempotency-Key was used with a different request")
    return session.get(Order, row.order_id)


def place_order(session: Session, rules: OrderRules, customer: Customer, quote_id: str, key: str,
                body_hash: str, now: datetime) -> tuple[Order, bool]:
    """Confirm a quote as an order and start the saga; (order, created)."""
    if (existing := replay(session, customer, key, body_hash)) is not None:
        return existing, False
    quote = session.scalars(select(Quote).where(Quote.id == quote_id, Quote.customer_id == customer.id)
                            .with_for_update()).one_or_none()
    if quote is None:
        raise QuoteNotFound(f"no quote {quote_id} for this customer")
    used_by = session.scalar(select(Order.id).where(Order.quote_id == quote.id))
    check_quote_usable(quote.expires_at, used_by, now)
    _refuse_if_frozen(session, customer)
    order = Order(
        id=new_id("ord"), customer_id=customer.id, quote_id=quote.id, status=START.to.value,
        credit_minor=quote.credit_minor, charge_minor=quote.charge_minor, currency=quote.currency,
        method=quote.method, promotion=quote.promotion, validity_days=quote.validity_days,
        payment_deadline=now + rules.payment_timeout, created_at=now, updated_at=now,
    )
    session.add(order)
    session.flush()
    session.add(IdempotencyKey(customer_id=customer.id, key=key, request_hash=body_hash, order_id=order.id))
    session.flush()
    record(session, order, Event.PLACED)
    put(session, OutboxMessage, *messages_for(session, order, START.actions, None))
    session.flush()
    session.refresh(order, ["timeline"])
    return order, True


def get_order(session: Session, customer_id: str, order_id: str) -> Order:
    order = session.get(Order, order_id)
    if order is None or order.customer_id != customer_id:
        # Another customer's order is indistinguishable from a missing one.
        raise OrderNotFound(f"no order {order_id}")
    return order


def list_orders(session: Session, customer_id: str, limit: int, cursor: str | None) -> tuple[list[Order], str | None]:
    """Newest first, keyset-paginated on (created_at, id) so pages never skip or repeat."""
    query = select(Order).where(Order.customer_id == customer_id)
    if cursor:
        anchor = get_order(session, customer_id, cursor)
        query = query.where((Order.created_at < anchor.created_at)
                            | ((Order.created_at == anchor.created_at) & (Order.id < anchor.id)))
    rows = list(session.scalars(query.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more else None)

