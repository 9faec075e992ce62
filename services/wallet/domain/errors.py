"""Why the wallet refuses something; each error's `code` travels in messages and APIs."""


class WalletError(Exception):
    code = "wallet_error"


class AccountFrozen(WalletError):
    """The brief: only an account in good standing can be topped up."""

    code = "account_frozen"


class BalanceCapExceeded(WalletError):
    code = "balance_cap_exceeded"


class CurrencyNotSupported(WalletError):
    code = "currency_mismatch"


class UnbalancedEntry(WalletError):
    code = "unbalanced_entry"
