import pytest

from services.wallet.domain.errors import (
    AccountFrozen,
    BalanceCapExceeded,
    CurrencyNotSupported,
    InsufficientFunds,
    UnbalancedEntry,
)
from services.wallet.domain.ledger import (
    Account,
    AccountStatus,
    EntryKind,
    JournalEntry,
    Posting,
    customer_account,
    debit_entry,
    debit_reversal_entry,
    expiry_entry,
    topup_entry,
)
from shared.money import Money

EUR = "EUR"


def account(balance: int = 0, status: AccountStatus = AccountStatus.ACTIVE) -> Account:
    return Account("cus_1", EUR, status, Money(balance, EUR))


def test_a_topup_entry_balances_with_the_promotion_paying_the_difference() -> None:
    entry = topup_entry(account(), "ord_1", credit=Money(10000, EUR), charge=Money(9000, EUR))
    assert entry.amount_for(customer_account("cus_1")) == 10000
    assert sum(p.amount.amount_minor for p in entry.postings) == 0
    assert {p.account for p in entry.postings} == {"customer:cus_1", "clearing:EUR", "promotions:EUR"}


def test_a_topup_without_promotion_has_two_postings() -> None:
    entry = topup_entry(account(), "ord_1", credit=Money(500, EUR), charge=Money(500, EUR))
    assert len(entry.postings) == 2


def test_an_unbalanced_entry_cannot_exist() -> None:
    with pytest.raises(UnbalancedEntry):
        JournalEntry(EntryKind.TOPUP, "ord_1",
                     (Posting("customer:x", Money(1, EUR)), Posting("clearing:EUR", Money(0, EUR))))


def test_frozen_account_refuses_credit() -> None:
    with pytest.raises(AccountFrozen):
        account(status=AccountStatus.FROZEN).check_can_receive(Money(100, EUR), Money(10**9, EUR))


def test_balance_cap_is_enforced() -> None:
    account(900).check_can_receive(Money(100, EUR), Money(1000, EUR))
    with pytest.raises(BalanceCapExceeded):
        account(901).check_can_receive(Money(100, EUR), Money(1000, EUR))


def test_credit_in_another_currency_is_refused() -> None:
    with pytest.raises(CurrencyNotSupported):
        account().check_can_receive(Money(100, "USD"), Money(1000, "USD"))


def test_a_debit_and_its_reversal_move_money_between_the_customer_and_sales() -> None:
    debit = debit_entry(account(), "dbt_1", Money(700, EUR), "Japan 7 days")
    assert debit.amount_for(customer_account("cus_1")) == -700
    assert {p.account for p in debit.postings} == {"customer:cus_1", "sales:EUR"}
    back = debit_reversal_entry(account(), "dbt_1", Money(700, EUR), "Japan 7 days")
    assert back.amount_for(customer_account("cus_1")) == 700 and back.reference == "dbt_1"


def test_an_expiry_leaves_the_balance_for_the_expired_credit_account() -> None:
    entry = expiry_entry(account(), "lot_1", Money(250, EUR))
    assert entry.amount_for(customer_account("cus_1")) == -250
    assert entry.amount_for("expired:EUR") == 250 and entry.order_id is None and entry.reference == "lot_1"


def test_spending_needs_an_active_account_the_right_currency_and_enough_valid_credit() -> None:
    account(1000).check_can_spend(Money(1000, EUR), Money(1000, EUR))
    with pytest.raises(InsufficientFunds):
        account(1000).check_can_spend(Money(1000, EUR), Money(999, EUR))
    with pytest.raises(AccountFrozen):
        account(1000, AccountStatus.FROZEN).check_can_spend(Money(1, EUR), Money(1000, EUR))
    with pytest.raises(CurrencyNotSupported):
        account(1000).check_can_spend(Money(1, "USD"), Money(1000, EUR))
