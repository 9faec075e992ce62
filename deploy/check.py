"""Operators' money check: is every cent the gateways took accounted for in the wallet?

    make check                                  # the embedded default (SQLite under var/)
    ORDER_DATABASE_URL=postgresql://... PAYMENT_DATABASE_URL=... WALLET_DATABASE_URL=... \\
    NOTIFY_DATABASE_URL=... python -m deploy.check [--grace-seconds 900]

An audit across the four services' databases, the one tool allowed to read them all, and
only to read. For every order it compares what the gateway captured and refunded with what
the wallet booked, checks that a completed top-up has one credit and one receipt, that a
refunded or failed one kept no money, that nothing is stuck past its payment deadline (plus
a grace period) or waiting for an operator, and that the ledger balances. It prints one line
per problem in plain words, and exits 0 when money is conserved, 1 when it found problems,
2 when it could not read a database.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta

from deploy.checks.audit import audit
from deploy.checks.report import Check, Problem, Report
from deploy.checks.snapshot import CheckError, load
from shared.clock import utcnow
from shared.config import Settings
from shared.messaging.parking import parked_counts

__all__ = ["DEFAULT_GRACE", "Check", "CheckError", "Problem", "Report", "main", "run_checks"]

# An order's deadline is ORDER_PAYMENT_TIMEOUT (15 min) after it was placed; the saga then
# needs a little more to expire it, refund late money, email the receipt.
DEFAULT_GRACE = timedelta(minutes=15)


def run_checks(settings: Settings, now: datetime | None = None, grace: timedelta = DEFAULT_GRACE) -> Report:
    """Read the four databases named in `settings` and check that money is conserved.

    `now` is the moment deadlines are judged against (the clock by default); `grace` is how
    long past an order's payment deadline the system may still be finishing it by itself.
    Raises CheckError when a database cannot be read.
    """
    return audit(load(settings), now or utcnow(), grace)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.check",
        description="Check across the order, payment, wallet and notify databases that every amount captured "
                    "is credited or refunded. Databases from ORDER_/PAYMENT_/WALLET_/NOTIFY_DATABASE_URL.",
        epilog="Exit status: 0 money is conserved, 1 problems found, 2 a database could not be read.",
    )
    parser.add_argument("--grace-seconds", type=int, default=int(DEFAULT_GRACE.total_seconds()), metavar="N",
                        help="how long past its payment deadline an order may still be settling "
                             "(default: %(default)s)")
    args = parser.parse_args(argv)
    if args.grace_seconds < 0:
        parser.error("--grace-seconds must not be negative")
    try:
        report = run_checks(Settings.from_env(), grace=timedelta(seconds=args.grace_seconds))
    except CheckError as exc:
        print(f"check failed: {exc}", file=sys.stderr)
        return 2
    *lines, verdict = report.render().splitlines()
    print("\n".join([*lines, parked_line(Settings.from_env()), verdict]))  # the verdict stays the last line
    return report.exit_code


def parked_line(settings: Settings) -> str:
    """How many messages wait in the parking queues, per queue (deploy/parked.py replays them):
    each is a step of some top-up that did not happen. Said beside the money check, not part
    of its verdict: the books can balance while a credit waits there."""
    if settings.amqp_url.startswith("memory://"):
        return "parked messages: not looked at (AMQP_URL is not set: the embedded run keeps them in its process)"
    try:
        counts = parked_counts(settings)
    except Exception as exc:  # noqa: BLE001 - the money check stands on its own
        return f"parked messages: the broker could not be asked ({type(exc).__name__})"
    if not counts:
        return "parked messages: none"
    listed = ", ".join(f"{queue} {n}" for queue, n in sorted(counts.items()))
    return f"parked messages: {sum(counts.values())} ({listed}); see them with `make parked`"


if __name__ == "__main__":
    sys.exit(main())
