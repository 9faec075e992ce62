"""Check 5: the wallet's ledger on its own. Pure functions, no I/O.

Every journal entry's postings sum to zero per currency (double entry), and every
account's cached `balance_minor` is the sum of the postings on `customer:<id>`: the cache
is what the wallet answers with, the postings are the truth. The credits on a balance (its
lots) add up to it, none holds less than nothing, and none still holds money long after it
expired (the wallet's sweep books every expiry within seconds).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from deploy.checks.report import Check, Problem, amounts, duration, money
from deploy.checks.snapshot import Account, Entry, Lot, Posting
from services.wallet.domain.ledger import customer_account

CUSTOMER = "customer:"


def entries_balance(entries: list[Entry], postings_by_entry: dict[str, list[Posting]],
                    who: Callable[[str], str]) -> Iterator[Problem]:
    for entry in entries:
        postings = postings_by_entry.get(entry.id, [])
        what = f"Journal entry {entry.id} ({entry.kind}, order {entry.order_id}, customer {who(entry.customer_id)})"
        if len(postings) < 2:
            yield Problem(Check.LEDGER, f"{what} has {len(postings)} posting(s): money always moves between "
                                        "at least two accounts.", entry.order_id, entry.customer_id)
            continue
        sums: dict[str, int] = defaultdict(int)
        for posting in postings:
            sums[posting.currency] += posting.amount_minor
        if any(sums.values()):
            currency = postings[0].currency
            yield Problem(Check.LEDGER, f"{what} does not balance: its postings add up to {amounts(sums, currency)} "
                                        "instead of zero.", entry.order_id, entry.customer_id)


def balances_match_postings(accounts: list[Account], postings: list[Posting],
                            who: Callable[[str], str]) -> Iterator[Problem]:
    posted: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for posting in postings:
        if posting.account.startswith(CUSTOMER):
            posted[posting.account][posting.currency] += posting.amount_minor
    for account in accounts:
        sums = {c: v for c, v in posted.pop(customer_account(account.customer_id), {}).items() if v}
        cached = {account.currency: account.balance_minor} if account.balance_minor else {}
        if sums != cached:
            yield Problem(Check.LEDGER, f"Account of customer {who(account.customer_id)}: the cached balance is "
                                        f"{amounts(cached, account.currency)}, but its postings add up to "
                                        f"{amounts(sums, account.currency)}.", None, account.customer_id)
    for name, sums in sorted(posted.items()):
        customer_id = name.removeprefix(CUSTOMER)
        if any(sums.values()):
            yield Problem(Check.LEDGER, f"Postings on the account of customer {who(customer_id)} add up to "
                                        f"{amounts(sums, next(iter(sums)))}, but the wallet has no such account.",
                          None, customer_id)


def credits_match_balances(accounts: list[Account], lots: list[Lot], now: datetime, grace: timedelta,
                           who: Callable[[str], str]) -> Iterator[Problem]:
    held: dict[str, int] = defaultdict(int)
    for lot in lots:
        held[lot.customer_id] += lot.remaining_minor
        if lot.remaining_minor < 0:
            yield Problem(Check.LEDGER, f"Credit {lot.id} of customer {who(lot.customer_id)} holds "
                                        f"{money(lot.remaining_minor, lot.currency)}: less than nothing.",
                          None, lot.customer_id)
        elif lot.remaining_minor and now > lot.expires_at + grace:
            yield Problem(Check.LEDGER, f"Credit {lot.id} of customer {who(lot.customer_id)} expired "
                                        f"{duration(now - lot.expires_at)} ago ({lot.expires_at:%Y-%m-%d %H:%M} UTC) "
                                        f"but still holds {money(lot.remaining_minor, lot.currency)}: its expiry "
                                        "was never booked.", None, lot.customer_id)
    for account in accounts:
        if held.get(account.customer_id, 0) != account.balance_minor:
            yield Problem(Check.LEDGER, f"Account of customer {who(account.customer_id)}: its credits hold "
                                        f"{money(held.get(account.customer_id, 0), account.currency)}, but its "
                                        f"balance is {money(account.balance_minor, account.currency)}.",
                          None, account.customer_id)
