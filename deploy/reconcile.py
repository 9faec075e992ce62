"""`make reconcile` (`python -m deploy.reconcile [--day YYYY-MM-DD] [provider ...]`): each
provider's settlement report of a day against our payments, through the payment service's
operator API (`GET /v1/reconciliations/<provider>/<day>`, services/payment/reconciliation.py),
every difference in words. Yesterday (UTC) by default, every provider unless named. Exit
status 1 when a day is not clean, 2 when a report could not be had.

It reaches the payment service at PAYMENT_URL (else http://HOST:PAYMENT_PORT, as `make run`
serves it) with the operator token (OPERATOR_TOKEN, or the first of OPERATOR_TOKENS).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, date, datetime, timedelta

import requests

from shared.config import Settings

PROVIDERS = ("sandbox", "paypal", "alipay", "wechat_pay")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make reconcile", description=__doc__.split("\n\n")[0])
    parser.add_argument("providers", nargs="*", metavar="provider", help=f"of {', '.join(PROVIDERS)}")
    parser.add_argument("--day", type=date.fromisoformat, default=datetime.now(UTC).date() - timedelta(days=1))
    args = parser.parse_args(argv)
    if unknown := [name for name in args.providers if name not in PROVIDERS]:
        parser.error(f"no provider {', '.join(unknown)}")
    settings = Settings.from_env()
    url = os.environ.get("PAYMENT_URL") or f"http://{settings.host}:{settings.ports['payment']}"
    token = settings.operator_token or next(iter(dict(settings.operator_tokens).values()), "")
    worst = 0
    for provider in args.providers or PROVIDERS:
        answer = requests.get(f"{url}/v1/reconciliations/{provider}/{args.day.isoformat()}", timeout=60,
                              headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"})
        if answer.status_code != 200:
            print(f"{provider} {args.day}: {answer.json().get('detail', answer.text) if answer.content else ''} "
                  f"(HTTP {answer.status_code})")
            worst = 2
            continue
        done = answer.json()
        print(done["summary"])
        for difference in done["differences"]:
            print(f"  - {difference['words']}")
        worst = max(worst, 0 if done["clean"] else 1)
    return worst


if __name__ == "__main__":
    sys.exit(main())
