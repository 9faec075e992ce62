"""Why the wallet refuses something; each error's `code` travels in messages and APIs."""


class WalletError(Exception):
    code = "wallet_error"


class AccountFrozen(WalletError):
    """The brief: only an account in good standing can be topped up (or spend)."""

    code = "account_frozen"


class BalanceCapExceeded(WalletError):
    code = "balance_cap_exceeded"


class CurrencyNotSupported(WalletError):
    code = "currency_mismatch"


class InsufficientFunds(WalletError):
    """The credits still valid do not cover the debit: nothing is debited."""

    code = "insufficient_funds"


class UnbalancedEntry(WalletError):
    code = "unbalanced_entry"
