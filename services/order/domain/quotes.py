"""The order confirmation of the brief: what will be credited, what will be charged, for how
long the credit is valid, and by which method, shown before the customer commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.order.domain.catalog import Catalog
from services.order.domain.errors import QuoteAlreadyUsed, QuoteExpired
from services.order.domain.promotions import price
from shared.money import Money


@dataclass(frozen=True)
class QuoteTerms:
    credit: Money
    charge: Money
    promotion: str | None
    method: str
    validity_days: int
    expires_at: datetime


def make_quote(catalog: Catalog, country: str, credit: Money, method: str, *, now: datetime,
               ttl: timedelta, validity_days: int) -> QuoteTerms:
    catalog.check(country, credit, method)
    pricing = price(credit)
    return QuoteTerms(credit=pricing.credit, charge=pricing.charge, promotion=pricing.promotion,
                      method=method, validity_days=validity_days, expires_at=now + ttl)


def check_quote_usable(expires_at: datetime, used_by: str | None, now: datetime) -> None:
    if used_by is not None:
        raise QuoteAlreadyUsed(f"this quote was already confirmed as order {used_by}")
    if now >= expires_at:
        raise QuoteExpired("the quote has expired; ask for a new one")
