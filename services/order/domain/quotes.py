"""The order confirmation of the brief: what will be credited, what will be charged, until
when the credit is valid, and by which method, shown before the customer commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.order.domain.catalog import Catalog
from services.order.domain.errors import BalanceCapExceeded, QuoteAlreadyUsed, QuoteExpired
from services.order.domain.promotions import Campaign, price
from services.order.texts import _
from shared.money import Money


@dataclass(frozen=True)
class QuoteTerms:
    credit: Money
    charge: Money
    promotion: Campaign | None
    method: str
    validity: timedelta
    valid_until: datetime
    expires_at: datetime

    @property
    def validity_days(self) -> int:
        return self.validity.days


def make_quote(catalog: Catalog, country: str, credit: Money, method: str, *, now: datetime, ttl: timedelta,
               validity: timedelta, campaigns: tuple[Campaign, ...] = (), balance: Money | None = None,
               promo_code: str | None = None) -> QuoteTerms:
    """The terms, or the reason there are none. `balance` is the customer's balance as last
    announced: a top-up that would take it over its currency's cap is refused now, before
    the customer pays, rather than reversed after."""
    rule = catalog.check(country, credit, method)
    if balance is not None:
        check_balance_room(balance, credit, rule.max_balance)
    pricing = price(credit, campaigns, now, promo_code)
    return QuoteTerms(credit=pricing.credit, charge=pricing.charge, promotion=pricing.promotion, method=method,
                      validity=validity, valid_until=now + validity, expires_at=now + ttl)


def check_balance_room(balance: Money, credit: Money, cap: Money) -> None:
    """A top-up may not take the balance over its currency's cap (the wallet's rule, checked
    here from the last announced balance so that nobody pays for a credit it would refuse)."""
    if balance + credit > cap:
        raise BalanceCapExceeded(_("A balance in {currency} can hold at most {cap}; this top-up would take it to "
                                   "{total}.", currency=cap.currency, cap=cap, total=balance + credit))


def check_quote_usable(expires_at: datetime, used_by: str | None, now: datetime) -> None:
    if used_by is not None:
        raise QuoteAlreadyUsed(_("This quote was already confirmed as order {order_id}.", order_id=used_by))
    if now >= expires_at:
        raise QuoteExpired(_("The quote has expired; ask for a new one."))
