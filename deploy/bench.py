"""`make bench`: top-ups through the deployed system, on RabbitMQ + PostgreSQL.

Starts every service's gunicorn web and worker as separate processes (deploy/processes.py),
registers a pool of customers, measures the idle system, then drives N top-ups through the
public API and the sandbox payment pages, with a mix of methods and endings, either
closed-loop at a concurrency (saturation) or open-loop at an offered rate. It prints
completed top-ups per second, the latency from "order placed" to "completed" (from the
order's own timeline, so client polling does not blur it), the verdict of the
money-conservation check, and per completed top-up (deploy/bench_result.py): SQL statements
counted in every process (shared/sqlcount.py), database commits, RabbitMQ messages, frontend
requests by status and route, and the CPU every process used (ours, PostgreSQL, RabbitMQ,
the load generator), against `make floor` if it was run.

    python -m deploy.bench --n 500 --concurrency 20              # saturation
    python -m deploy.bench --n 400 --rate 8 --concurrency 100    # 8 top-ups/s offered
    python -m deploy.bench --n 200 --drop-connections 2          # under database failovers
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, func, select, text

from deploy.bench_client import ENDINGS, Customer, Driver, describe
from deploy.bench_result import PROVIDER, BenchResult, render
from deploy.check import run_checks
from deploy.infra import Databases, delete_namespace, free_port, new_namespace, postgres_server, rabbitmq_server
from deploy.processes import SERVERS, ProcessSystem, cpu_by_command, fresh_secrets, machine_cpu, own_cpu
from services.notify.sink import MailSink
from services.order.models import Order, TimelineEntry
from shared.config import SERVICES, Settings
from shared.db import normalize_url
from shared.sqlcount import ENV as SQL_COUNT_ENV
from shared.sqlcount import read_counts

TERMINAL = ("completed", "failed", "expired", "refunded", "cancelled")


#: their CPU, shown with PostgreSQL's and RabbitMQ's: the provider's servers, not ours
PROVIDER_CPU = "sandbox gateways"

def deployed_env(urls: dict[str, str], ports: dict[str, int], amqp_url: str, namespace: str, smtp_port: int,
                 **extra: str) -> dict[str, str]:
    """The environment of the deployed shape for a load run (bench, chaos): these databases,
    this broker and a local SMTP sink, fresh secrets, quiet logs, and the per-address limit on
    registration and login lifted (every simulated customer comes from 127.0.0.1)."""
    env = {f"{name.upper()}_DATABASE_URL": url for name, url in urls.items()}
    env.update({f"{name.upper()}_PORT": str(port) for name, port in ports.items()})
    env.update(AMQP_URL=amqp_url, AMQP_NAMESPACE=namespace, SANDBOX_ENABLED="true", LOG_LEVEL="WARNING",
               PAYMENT_PUBLIC_URL=f"http://127.0.0.1:{ports['payment']}", SMTP_HOST="127.0.0.1",
               SMTP_PORT=str(smtp_port), AUTH_RATE_LIMIT="100000 per minute")
    env.update(fresh_secrets())
    env.update(extra)
    return env


def commits_by_service(pg_urls: dict[str, str]) -> collections.Counter[str]:
    """PostgreSQL's commit counter of each service's database (transactions that only read
    count too: each is a BEGIN ... COMMIT)."""
    counts: collections.Counter[str] = collections.Counter()
    for service, url in pg_urls.items():
        name = url.rsplit("/", 1)[-1]
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (name,)).fetchone()
            counts[service] = int(row[0]) if row else 0
    return counts


def outbox_messages(pg_urls: dict[str, str]) -> collections.Counter[str]:
    """Outbox rows written so far, by message type, over the four databases."""
    counts: collections.Counter[str] = collections.Counter()
    for url in pg_urls.values():
        engine = create_engine(normalize_url(url))
        with engine.connect() as conn:
            counts.update({kind: int(n) for kind, n in conn.execute(
                text("SELECT type, count(*) FROM outbox GROUP BY type"))})
        engine.dispose()
    return counts


def latencies(order_url: str, order_ids: list[str]) -> tuple[list[float], dict[str, int], float]:
    """Placed -> completed per completed order (seconds), endings, and the completion span."""
    engine = create_engine(normalize_url(order_url))
    with engine.connect() as conn:
        done = conn.execute(
            select(Order.id, Order.created_at, func.max(TimelineEntry.occurred_at))
            .join(TimelineEntry, TimelineEntry.order_id == Order.id)
            .where(Order.id.in_(order_ids), Order.status == "completed", TimelineEntry.event == "credited")
            .group_by(Order.id, Order.created_at)).all()
        endings = dict(conn.execute(select(Order.status, func.count()).where(Order.id.in_(order_ids))
                                    .group_by(Order.status)).all())
    engine.dispose()
    values = [(finished - placed).total_seconds() for _, placed, finished in done]
    span = (max(f for *_, f in done) - min(p for _, p, _ in done)).total_seconds() if done else 0.0
    return values, endings, span


def wait_terminal(order_url: str, order_ids: list[str], timeout: float) -> None:
    engine = create_engine(normalize_url(order_url))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            left = conn.execute(select(func.count()).select_from(Order)
                                .where(Order.id.in_(order_ids), Order.status.not_in(TERMINAL))).scalar_one()
        if not left:
            break
        time.sleep(0.2)
    engine.dispose()


class ConnectionDropper:
    """What a database failover does, again and again: every `every` seconds, terminate
    every connection of the four databases (web, workers, doorbells alike)."""

    def __init__(self, pg_urls: dict[str, str], every: float) -> None:
        self.pg_urls, self.every = pg_urls, every
        self.stop = threading.Event()
        self.terminated = 0
        self.thread = threading.Thread(target=self._run, name="connection-dropper", daemon=True)

    def _run(self) -> None:
        names = [url.rsplit("/", 1)[-1] for url in self.pg_urls.values()]
        admin = next(iter(self.pg_urls.values())).rsplit("/", 1)[0] + "/postgres"
        while not self.stop.wait(self.every):
            with psycopg.connect(admin, autocommit=True) as conn:
                rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE datname = ANY(%s) AND pid <> pg_backend_pid()", (names,)).fetchall()
            self.terminated += len(rows)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] * 1000


def run(args: argparse.Namespace) -> BenchResult:
    """Start the deployed system, drive the top-ups, print what they cost and return it."""
    with postgres_server() as pg, rabbitmq_server() as amqp, tempfile.TemporaryDirectory() as tmp:
        dbs = Databases(pg)
        urls = {name: dbs.create(name) for name in SERVICES}
        # the sandbox gateways, the provider's side, on their own processes and database (a
        # commit before issue 13 ignores both and runs them inside the payment service)
        provider = {PROVIDER: dbs.create(PROVIDER)}
        ports = {name: free_port() for name in (*SERVICES, PROVIDER)}
        namespace = new_namespace()
        sink = MailSink(Path(tmp) / "mail")
        sink.start()
        counts_dir = Path(tmp) / "sql-counts"
        env = deployed_env({**urls, **provider}, ports, amqp, namespace, sink.port, PAYMENT_QUERY_AFTER="5",
                           WEB_THREADS=str(args.web_threads), **{SQL_COUNT_ENV: str(counts_dir)})
        system = ProcessSystem(env, ports, web_workers=args.web_workers, log_dir=Path(tmp) / "logs").start()
        try:
            result = measure(args, system, urls, counts_dir)
        finally:
            system.stop()
            sink.stop()
            delete_namespace(amqp, namespace)
            dbs.drop_all()
    return result


def customers(driver: Driver, wanted: int) -> list[Customer]:
    """Register the pool; a registration refused is counted and left out (all refused: stop)."""
    pool = []
    for _ in range(wanted):
        try:
            pool.append(driver.customer())
        except Exception as exc:  # noqa: BLE001 - counted like a top-up's trouble
            driver.errors[f"registering: {describe(exc)}"] += 1
    if not pool:
        raise SystemExit(f"no customer could be registered: {dict(driver.errors)}")
    return pool


def measure(args: argparse.Namespace, system: ProcessSystem, urls: dict[str, str], counts_dir: Path) -> BenchResult:
    driver = Driver(system.url("order"), args.poll, long_poll=not args.no_wait)
    pool = customers(driver, max(1, min(args.concurrency, 50)))
    mix = [e for e, share in args.mix.items() for _ in range(share)]
    time.sleep(1)  # let registrations settle so the wallet has opened every account
    if args.idle:
        idle(system, urls, counts_dir, args.idle)
    driver.errors.clear()
    statements_before = read_counts(counts_dir, current_at=time.time())
    commits_before, messages_before, cpu_before = commits_by_service(urls), outbox_messages(urls), system.cpu_seconds()
    statuses_before, routes_before, unanswered_before = (driver.statuses.copy(), driver.routes.copy(),
                                                         driver.unanswered.copy())
    others_before, client_before, machine_before = cpu_by_command(*SERVERS), own_cpu(), machine_cpu()
    started = time.monotonic()
    order_ids: list[str | None] = []
    dropper = ConnectionDropper(urls, args.drop_connections) if args.drop_connections else None
    if dropper:
        dropper.thread.start()

    def one(i: int) -> None:
        order_ids.append(driver.top_up(pool[i % len(pool)], mix[i % len(mix)]))

    with ThreadPoolExecutor(max_workers=args.concurrency) as threads:
        if args.rate:
            for i in range(args.n):
                threads.submit(one, i)
                time.sleep(max(0.0, started + (i + 1) / args.rate - time.monotonic()))
        else:
            list(threads.map(one, range(args.n)))
    if dropper:
        dropper.stop.set()
        dropper.thread.join()
    placed = [o for o in order_ids if o]
    wait_terminal(urls["order"], placed, timeout=args.settle)
    elapsed, machine_after = time.monotonic() - started, machine_cpu()
    time.sleep(1)  # receipts and their acknowledgements
    statements = read_counts(counts_dir, current_at=time.time()) - statements_before
    pg_commits = commits_by_service(urls) - commits_before
    values, endings, span = latencies(urls["order"], placed)
    cpu = {name: used - cpu_before.get(name, 0.0) for name, used in system.cpu_seconds().items()}
    others = {SERVERS[name]: used - others_before[name] for name, used in cpu_by_command(*SERVERS).items()}
    others[PROVIDER_CPU] = sum(cpu.pop(name) for name in list(cpu) if name.startswith(f"{PROVIDER}-"))
    others["load generator and mail sink"] = own_cpu() - client_before
    busy, total = (after - before for after, before in zip(machine_after, machine_before, strict=True))
    checked = run_checks(Settings(database_urls=urls))
    result = BenchResult(
        placed=len(placed), endings=endings, statements=statements,
        pg_commits_by_service=pg_commits,
        messages_by_type=outbox_messages(urls) - messages_before, statuses=driver.statuses - statuses_before,
        routes=driver.routes - routes_before, unanswered=driver.unanswered - unanswered_before,
        client_errors=driver.errors.copy(), cpu_ours=cpu, cpu_others=others, latencies=values,
        completion_span=span, elapsed=elapsed, machine_busy=busy / max(total, 1e-9),
        dropped_connections=dropper.terminated if dropper else None, verdict=checked.verdict(),
        problems=[problem.message for problem in checked.problems])
    print(headline(args, result))
    print(render(result, args.statements))
    return result


def headline(args: argparse.Namespace, r: BenchResult) -> str:
    load = f"rate {args.rate}/s offered" if args.rate else f"concurrency {args.concurrency}"
    lines = [f"\ntopup bench: {r.placed} top-ups placed ({sum(r.client_errors.values())} given up), {load}, "
             f"web workers {args.web_workers}x{args.web_threads} threads per service",
             f"  endings            {dict(sorted(r.endings.items()))}"]
    lines += [f"    given up {n}x: {reason[:200]}" for reason, n in r.client_errors.most_common(5)]
    if r.dropped_connections is not None:
        lines.append(f"  dropped            {r.dropped_connections} database connections, "
                     f"every {args.drop_connections} s")
    server_errors = {status: n for status, n in sorted(r.statuses.items()) if status >= 500}
    lines.append(f"  server errors      {server_errors or 'none'} (HTTP answers of 500 and above; a 503 is "
                 "asked again after its Retry-After)")
    if r.latencies:
        v = r.latencies
        lines.append(f"  completed/s        {len(v) / max(r.completion_span, 1e-9):.1f} (completions over "
                     f"{r.completion_span:.1f} s; run took {r.elapsed:.1f} s)")
        lines.append(f"  placed->completed  p50 {pct(v, .50):.0f} ms  p95 {pct(v, .95):.0f} ms  "
                     f"p99 {pct(v, .99):.0f} ms  max {max(v) * 1000:.0f} ms  mean {statistics.mean(v) * 1000:.0f} ms")
    lines.append(f"  machine            {100 * r.machine_busy:.0f}% of {os.cpu_count()} cores busy "
                 "from first order to last ending")
    lines.append(f"  invariant check    {r.verdict}")
    lines += [f"    - {problem}" for problem in r.problems[:5]]
    return "\n".join(lines)


def idle(system: ProcessSystem, urls: dict[str, str], counts_dir: Path, seconds: float) -> None:
    """What the system costs doing nothing: background loops, heartbeats."""
    statements_before = read_counts(counts_dir, current_at=time.time())
    cpu_before, servers_before = system.cpu_seconds(), cpu_by_command(*SERVERS)
    time.sleep(seconds)
    ours = sum(system.cpu_seconds().values()) - sum(cpu_before.values())
    servers = sum(cpu_by_command(*SERVERS).values()) - sum(servers_before.values())
    counted = read_counts(counts_dir, current_at=time.time()) - statements_before
    statements = counted.total()
    print(f"\nidle for {seconds:.0f} s: {counted.every_commit() / seconds:.1f} commits/s, "
          f"{statements / seconds:.1f} SQL statements/s, {100 * ours / seconds:.1f}% of a core in our processes, "
          f"{100 * servers / seconds:.1f}% in PostgreSQL and RabbitMQ")
    for (process, statement), n in counted.statements.most_common(8):
        print(f"  {n / seconds:5.1f}/s  {process:15} {statement[:110]}")


def parse_mix(text_: str) -> dict[str, int]:
    mix = {}
    for part in text_.split(","):
        name, _, weight = part.partition(":")
        if name not in ENDINGS:
            raise argparse.ArgumentTypeError(f"unknown ending {name!r}; choose from {', '.join(ENDINGS)}")
        mix[name] = int(weight or 1)
    return mix


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=40)
    parser.add_argument("--rate", type=float, default=0.0, help="offered top-ups per second (open loop)")
    parser.add_argument("--mix", type=parse_mix, default=parse_mix(
        "card_approved:5,card_declined:1,paypal_approved:1,paypal_cancelled:1,alipay_approved:1,wechat_pay_approved:1"))
    parser.add_argument("--idle", type=float, default=5.0, help="seconds to measure the idle system first (0: skip)")
    parser.add_argument("--poll", type=float, default=0.25, help="seconds between a frontend's polls of its order")
    parser.add_argument("--no-wait", action="store_true", help="frontends poll only, never ask to wait for a change")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=16, help="half of them may wait on an order")
    parser.add_argument("--drop-connections", type=float, default=0.0, metavar="SECONDS",
                        help="terminate every database connection this often during the run (0: never)")
    parser.add_argument("--settle", type=float, default=120.0, metavar="SECONDS",
                        help="at most this long for every order placed to end after the last one")
    parser.add_argument("--statements", type=int, default=10, metavar="N",
                        help="show the N most frequent SQL statements (0: none)")
    return parser


def main(argv: list[str] | None = None) -> None:
    run(parser().parse_args(argv))


if __name__ == "__main__":
    main()
