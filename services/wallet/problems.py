"""The wallet's refusals as problem+json, in the caller's language: one table, one place."""

from __future__ import annotations

from flask import Flask, Response

from services.wallet.domain.errors import WalletError
from services.wallet.texts import _
from shared.i18n import Text
from shared.problems import problem_response

REFUSALS: dict[str, tuple[int, Text, Text]] = {
    "account_frozen": (403, _("This account is frozen."),
                       _("A frozen account can neither be topped up nor spend its balance; the customer should "
                         "contact support.")),
    "insufficient_funds": (409, _("Not enough money on the balance."),
                           _("The credits still valid on this balance do not cover the amount; nothing was "
                             "debited.")),
    "currency_mismatch": (422, _("Wrong currency."),
                          _("The amount must be in the currency the account holds.")),
    "balance_cap_exceeded": (422, _("The balance would exceed its limit."),
                             _("This account cannot hold that much; nothing was changed.")),
    "idempotency_key_reused": (422, _("Idempotency-Key reused."),
                               _("This Idempotency-Key was already used with a different request.")),
    "account_not_found": (404, _("No such account."), _("There is no wallet account for this customer.")),
    "debit_not_found": (404, _("No such debit."), _("There is no debit with this id on this account.")),
}
GENERIC = (422, _("The wallet refused the request."), _("Nothing was changed."))


def install(app: Flask) -> None:
    @app.errorhandler(WalletError)
    def _refused(exc: WalletError) -> Response:
        status, title, detail = REFUSALS.get(exc.code, GENERIC)
        return problem_response(status, exc.code, title, detail)
