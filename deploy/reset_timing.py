"""Does a password-reset answer tell who is registered by how long it takes?

    python -m deploy.reset_timing [--n 400]

Times `POST /v1/auth/password-reset` for emails with an account and emails without,
interleaved, against the order service alone on PostgreSQL (the local server, or
testcontainers), and prints both medians and their ratio. A timing, so it is printed, never
asserted: run it against the old and the new code back to back.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import uuid

import structlog

from deploy.infra import Databases, postgres_server
from services.order import app as order_app
from shared.config import SERVICES, Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=400, help="requests of each kind")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    with postgres_server() as server:
        dbs = Databases(server)
        try:
            settings = Settings(database_urls={name: dbs.create(name) for name in SERVICES},
                                amqp_url="amqp://unused", allow_dev_secrets=True,
                                login_failures_allowed=10**9, auth_rate_limit="1000000000 per minute")
            ctx = order_app.start(settings)
            client = order_app.create_app(ctx=ctx).test_client()
            known = [f"known-{i}-{uuid.uuid4().hex[:6]}@example.com" for i in range(20)]
            for email in known:
                client.post("/v1/auth/register", json={"email": email, "password": "correct horse", "country": "DE"})
            times: dict[str, list[float]] = {"with an account": [], "without": []}
            for i in range(args.n):
                kinds = ("with an account", "without") if i % 2 else ("without", "with an account")
                for kind in kinds:
                    email = known[i % len(known)] if kind == "with an account" else f"nobody-{i}@example.com"
                    start = time.perf_counter()
                    answer = client.post("/v1/auth/password-reset", json={"email": email})
                    times[kind].append(time.perf_counter() - start)
                    assert answer.status_code == 202, answer.data
            warm = args.n // 10
            medians = {kind: statistics.median(values[warm:]) for kind, values in times.items()}
            for kind, median in medians.items():
                print(f"  {kind:<16} median {median * 1000:.2f} ms over {args.n - warm} requests")
            print(f"  ratio            {medians['with an account'] / medians['without']:.3f}")
            ctx.engine.dispose()
        finally:
            dbs.drop_all()


if __name__ == "__main__":
    main()
