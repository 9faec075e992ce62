"""`make bench`: how long a customer waits between "card accepted" and "balance credited".

Drives N approved card top-ups, one after another, through the public API and the sandbox
page of a running system (started here, in one process, on the chosen backend) and prints
the latency from the card form's POST to the order reading `completed`.

    python -m deploy.bench --backend embedded --n 30
    python -m deploy.bench --backend postgres --n 30   # local RabbitMQ + PostgreSQL
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from deploy.local import LocalSystem
from shared.config import SERVICES, Settings
from tests.e2e.frontend import Frontend
from tests.helpers import free_port
from tests.infra import Databases, delete_namespace, new_namespace, postgres_server, rabbitmq_server


def settings_for(backend: str, var: Path, dbs: Databases | None, amqp_url: str) -> Settings:
    ports = {name: free_port() for name in SERVICES}
    payment = f"http://127.0.0.1:{ports['payment']}"
    urls = ({n: dbs.create(n) for n in SERVICES} if dbs else {n: f"sqlite:///{var}/{n}.db" for n in SERVICES})
    return Settings(database_urls=urls, amqp_url=amqp_url, amqp_namespace=new_namespace(), ports=ports,
                    payment_public_url=payment, sandbox_webhook_url=f"{payment}/v1/webhooks/sandbox",
                    var_dir=str(var))


def measure(system: LocalSystem, n: int) -> list[float]:
    frontend = Frontend(system)
    who = frontend.register()
    latencies = []
    for _ in range(n):
        order = frontend.top_up(who, 2000)
        started = time.perf_counter()
        frontend.pay(order)
        frontend.wait_status(who, order["order_id"], "completed")
        latencies.append(time.perf_counter() - started)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["embedded", "postgres"], default="embedded")
    parser.add_argument("--n", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend == "embedded":
            system = LocalSystem(settings_for("embedded", Path(tmp), None, "memory://")).start()
            latencies = measure(system, args.n)
            system.stop()
        else:
            with postgres_server() as pg, rabbitmq_server() as amqp:
                dbs = Databases(pg)
                system = LocalSystem(settings_for("postgres", Path(tmp), dbs, amqp)).start()
                try:
                    latencies = measure(system, args.n)
                finally:
                    system.stop()
                    delete_namespace(amqp, system.settings.amqp_namespace)
                    dbs.drop_all()
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[max(0, round(0.95 * len(ms)) - 1)]
    print(f"backend={args.backend} n={len(ms)} card accepted -> completed: p50={statistics.median(ms):.0f} ms  "
          f"p95={p95:.0f} ms  max={ms[-1]:.0f} ms  mean={statistics.mean(ms):.0f} ms")


if __name__ == "__main__":
    main()
