"""What a customer does through the API to top up: ask for a quote, place an order, look
at their orders.

Each function runs in the caller's unit of work; the messages it causes go to the outbox in
that same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from services.order.balances import BALANCE_COLUMNS, BALANCE_PREFIX, FROZEN_BECAUSE, balance_of, frozen_because
from services.order.campaigns import load_campaigns
from services.order.commands import messages_for
from services.order.customers import new_id
from services.order.domain.catalog import Catalog
from services.order.domain.errors import (
    AccountFrozen,
    IdempotencyKeyReused,
    OrderNotCancellable,
    OrderNotFound,
    QuoteNotFound,
)
from services.order.domain.promotions import Campaign
from services.order.domain.quotes import check_balance_room, check_quote_usable, make_quote
from services.order.domain.returns import check_return_url
from services.order.domain.saga import CANCELLABLE, START, Event, Status
from services.order.handlers import advance
from services.order.models import Balance, Customer, Order, OutboxMessage, Quote, TimelineEntry
from services.order.texts import _
from shared.config import Settings
from shared.currencies import max_balance
from shared.db import insert_into
from shared.i18n import LANGUAGES
from shared.messaging.outbox import put
from shared.money import Money


@dataclass(frozen=True)
class OrderRules:
    catalog: Catalog
    quote_ttl: timedelta
    payment_timeout: timedelta
    credit_validity: timedelta
    campaigns: tuple[Campaign, ...] = ()
    return_origins: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings, methods: tuple[str, ...]) -> OrderRules:
        """Read once at start: a bad promotions file stops the service here."""
        return cls(
            catalog=Catalog(methods=methods),
            quote_ttl=timedelta(seconds=settings.quote_ttl_seconds),
            payment_timeout=timedelta(seconds=settings.order_payment_timeout_seconds),
            credit_validity=settings.credit_validity,
            campaigns=load_campaigns(settings.promotions_file),
            return_origins=settings.allowed_return_origins,
        )


def _refuse_if_frozen(session: Session, customer: Any) -> Money:
    """The balance as last announced, unless the account is frozen: then the customer is
    told so, and why, in their words."""
    balance = balance_of(session, customer)
    if balance.status == "frozen":
        if balance.frozen_reason in FROZEN_BECAUSE:
            raise AccountFrozen(_("This account is frozen and cannot be topped up: {reason} Please contact support.",
                                  reason=frozen_because(balance.frozen_reason)))
        raise AccountFrozen(_("This account is frozen and cannot be topped up. Please contact support to learn why."))
    return Money(balance.amount_minor, balance.currency)


def create_quote(session: Session, rules: OrderRules, customer: Any, amount: int, currency: str,
                 method: str, now: datetime, promo_code: str | None = None) -> Any:
    """A quote, written and answered as plain values (one INSERT, no ORM: every top-up asks one)."""
    balance = _refuse_if_frozen(session, customer)
    terms = make_quote(rules.catalog, customer.country, Money(amount, currency), method, now=now,
                       ttl=rules.quote_ttl, validity=rules.credit_validity, campaigns=rules.campaigns,
                       balance=balance if balance.currency == currency else None, promo_code=promo_code)
    quote = {"id": new_id("quo"), "customer_id": customer.id, "credit_minor": terms.credit.amount_minor,
             "charge_minor": terms.charge.amount_minor, "currency": currency, "method": method,
             "promotion": terms.promotion.code if terms.promotion else None,
             "promotion_names": names(terms.promotion, currency), "validity_days": terms.validity_days,
             "valid_until": terms.valid_until, "expires_at": terms.expires_at, "created_at": now}
    session.execute(insert_into(QUOTES), quote)
    return SimpleNamespace(**quote)


def names(campaign: Campaign | None, currency: str) -> dict[str, str] | None:
    return {language: campaign.named(language, currency) for language in LANGUAGES} if campaign else None


def replay(session: Session, customer: Any, key: str, body_hash: str) -> Order | None:
    """The order an Idempotency-Key already produced, if any (refused if the body differs)."""
    order = session.scalars(select(Order).where(Order.customer_id == customer.id,
                                                Order.idempotency_key == key)).one_or_none()
    if order is not None and order.request_hash != body_hash:
        raise IdempotencyKeyReused(_("This Idempotency-Key was used with a different request."))
    return order


ORDERS, TIMELINE, QUOTES = Order.__table__, TimelineEntry.__table__, Quote.__table__
#: the order an Idempotency-Key already placed, beside the quote's own
KEYED = ORDERS.alias("keyed")
CUSTOMERS, BALANCES = Customer.__table__, Balance.__table__
#: what placing an order needs of the customer (the token check's column among them)
PLACING_CUSTOMER = ("id", "email", "country", "currency", "language", "credentials_version")
CUSTOMER_PREFIX = "c_"
#: the quote, locked, the order it became if any, what an Idempotency-Key did before, and
#: the customer with their announced balance (for the token check and the rules): one read
QUOTE_TO_PLACE = (
    select(QUOTES, ORDERS.c.id.label("used_by"), KEYED.c.request_hash.label("earlier_hash"),
           KEYED.c.id.label("earlier_order"),
           *(CUSTOMERS.c[name].label(f"{CUSTOMER_PREFIX}{name}") for name in PLACING_CUSTOMER),
           *(BALANCES.c[name].label(f"{BALANCE_PREFIX}{name}") for name in BALANCE_COLUMNS))
    .select_from(QUOTES.join(CUSTOMERS, CUSTOMERS.c.id == QUOTES.c.customer_id)
                 .outerjoin(BALANCES, BALANCES.c.customer_id == QUOTES.c.customer_id)
                 .outerjoin(ORDERS, ORDERS.c.quote_id == QUOTES.c.id)
                 .outerjoin(KEYED, (KEYED.c.customer_id == bindparam("customer_id"))
                            & (KEYED.c.idempotency_key == bindparam("key"))))
    .where(QUOTES.c.id == bindparam("quote_id"), QUOTES.c.customer_id == bindparam("customer_id"))
    .with_for_update(of=QUOTES))


def _placing_customer(found: Any) -> SimpleNamespace:
    """The customer's part of QUOTE_TO_PLACE's row, named as the token check's row is."""
    return SimpleNamespace(**{name: getattr(found, f"{CUSTOMER_PREFIX}{name}") for name in PLACING_CUSTOMER},
                           **{f"{BALANCE_PREFIX}{name}": getattr(found, f"{BALANCE_PREFIX}{name}")
                              for name in BALANCE_COLUMNS})


def place_order(session: Session, rules: OrderRules, customer_id: str, signed_in: Callable[[Any], Any],
                quote_id: str, key: str, body_hash: str, now: datetime,
                return_url: str | None = None) -> tuple[Any, bool]:
    """Confirm a quote as an order and start the saga; (order, created). Plain statements
    (every top-up places one): the order is answered as the values it was written with.

    The customer is read with the quote, and `signed_in` makes the token check on that row
    (or on a row of its own reading, given None, when there is no such quote) before
    anything else is looked at: it answers the signed-in customer or refuses."""
    found = session.execute(QUOTE_TO_PLACE, {"quote_id": quote_id, "customer_id": customer_id, "key": key}
                            ).one_or_none()
    customer = signed_in(_placing_customer(found) if found is not None else None)
    if found is None:
        if (existing := replay(session, customer, key, body_hash)) is not None:
            return existing, False
        raise QuoteNotFound(_("There is no quote {quote_id} for this customer.", quote_id=quote_id))
    quote = found
    if quote.earlier_order is not None:
        if quote.earlier_hash != body_hash:
            raise IdempotencyKeyReused(_("This Idempotency-Key was used with a different request."))
        return session.get_one(Order, quote.earlier_order), False
    if return_url is not None:
        check_return_url(return_url, rules.return_origins)
    check_quote_usable(quote.expires_at, quote.used_by, now)
    # Again now, not only at the quote: the account may have been frozen or filled since.
    balance = _refuse_if_frozen(session, customer)
    if balance.currency == quote.currency:
        check_balance_room(balance, Money(quote.credit_minor, quote.currency), max_balance(quote.currency))
    values = {
        "id": new_id("ord"), "customer_id": customer.id, "quote_id": quote.id, "status": START.to.value,
        "credit_minor": quote.credit_minor, "charge_minor": quote.charge_minor, "currency": quote.currency,
        "method": quote.method, "promotion": quote.promotion, "promotion_names": quote.promotion_names,
        "validity_days": quote.validity_days, "valid_until": quote.valid_until or now + rules.credit_validity,
        "payment_deadline": now + rules.payment_timeout, "return_url": return_url, "needs_operator": False,
        "announce_again": False, "idempotency_key": key, "request_hash": body_hash, "created_at": now,
        "updated_at": now,
    }
    placed = {"order_id": values["id"], "event": Event.PLACED.value, "status": values["status"], "reason": None,
              "occurred_at": now}
    session.execute(insert_into(ORDERS), values)
    session.execute(insert_into(TIMELINE), placed)
    order = SimpleNamespace(**{**dict.fromkeys(ORDERS.c.keys()), **values,
                               "timeline": [SimpleNamespace(**placed)]})
    put(session, OutboxMessage, *messages_for(session, order, START.actions, None, customer=customer))
    return order, True


#: an order and its timeline in one plain statement (the read every frontend repeats)
ORDER_WITH_TIMELINE = (
    select(ORDERS, TIMELINE.c.id.label("t_id"), TIMELINE.c.event.label("t_event"),
           TIMELINE.c.status.label("t_status"), TIMELINE.c.reason.label("t_reason"),
           TIMELINE.c.occurred_at.label("t_occurred_at"))
    .select_from(ORDERS.outerjoin(TIMELINE, TIMELINE.c.order_id == ORDERS.c.id))
    .where(ORDERS.c.id == bindparam("order_id"), ORDERS.c.customer_id == bindparam("customer_id"))
    .order_by(TIMELINE.c.id))


def read_order(session: Session, customer_id: str, order_id: str) -> SimpleNamespace:
    """The customer's order as plain values (the attributes OrderOut reads), with its
    timeline: one statement, no ORM objects."""
    rows = session.execute(ORDER_WITH_TIMELINE, {"order_id": order_id, "customer_id": customer_id}).all()
    if not rows:
        raise OrderNotFound(_("There is no order {order_id}.", order_id=order_id))
    order = {key: value for key, value in rows[0]._mapping.items() if not key.startswith("t_")}
    timeline = [SimpleNamespace(event=r.t_event, status=r.t_status, reason=r.t_reason, occurred_at=r.t_occurred_at)
                for r in rows if r.t_id is not None]
    return SimpleNamespace(**order, timeline=timeline)


def get_order(session: Session, customer_id: str, order_id: str) -> Order:
    order = session.get(Order, order_id)
    if order is None or order.customer_id != customer_id:
        # Another customer's order is indistinguishable from a missing one.
        raise OrderNotFound(_("There is no order {order_id}.", order_id=order_id))
    return order


def cancel_order(session: Session, customer_id: str | None, order_id: str, operator: str | None = None,
                 note: str | None = None) -> Order:
    """The customer (or, `customer_id` None, an operator, with why) backs out of an order not
    yet paid: it is cancelled and its gateway payment cancelled (a capture that races this is
    refunded). Again on a cancelled order: the same answer. Once paid, refused."""
    order = session.scalars(select(Order).where(Order.id == order_id).with_for_update()).one_or_none()
    if order is None or (customer_id is not None and order.customer_id != customer_id):
        raise OrderNotFound(_("There is no order {order_id}.", order_id=order_id))
    if order.status == Status.CANCELLED:
        return order
    if Status(order.status) not in CANCELLABLE:
        raise OrderNotCancellable(_("Order {order_id} has been paid or has ended: only an order not yet paid "
                                    "can be cancelled.", order_id=order_id))
    advance(session, order_id, Event.CANCEL_REQUESTED,
            reason="cancelled_by_customer" if operator is None else "cancelled_by_operator",
            operator=operator, note=note)
    session.refresh(order)  # advance wrote plain statements: read the order and its timeline again
    return order


def list_orders(session: Session, customer_id: str, limit: int, cursor: str | None) -> tuple[list[Order], str | None]:
    """The customer's orders, newest first, a page at a time."""
    anchor = get_order(session, customer_id, cursor) if cursor else None
    return newest_page(session, select(Order).where(Order.customer_id == customer_id), limit, anchor)


def newest_page(session: Session, query: Any, limit: int, after: Order | None) -> tuple[list[Order], str | None]:
    """One page of `query`'s orders, newest first after the order `after` (the cursor):
    keyset-paginated on (created_at, id), which never change, so pages never skip or repeat.
    (the page, the next page's cursor or None)."""
    if after is not None:
        query = query.where((Order.created_at < after.created_at)
                            | ((Order.created_at == after.created_at) & (Order.id < after.id)))
    rows = list(session.scalars(query.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit + 1)))
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)

